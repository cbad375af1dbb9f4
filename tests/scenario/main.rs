//! Scenario files: broken ones rejected with a located message, the bundled ones and
//! the schema valid, the scenario library complete, and every limit `run` enforces
//! known to `validate`. One test binary (each module was once its own).

mod commands;
mod errors;
mod files;
mod library;
mod limits;
mod slo_abort;
