//! Process supervision for a run: children, readiness (a ready line, a
//! pattern, an HTTP probe), the guard of a foreign program, ports.

pub mod child;
pub mod guard;
pub mod probe;
pub mod ready;
pub mod supervisor;
