//! The binary and the processes it runs, as real processes: exit codes at the
//! edges (`attack`, `compare`, a closed stdout, a signal), the generator's lag told
//! as it happens (`attack` at a rate it cannot keep), `ninefold backend`,
//! `ninefold gateway`, and the supervision of child processes (`topology::child`).
//! One test binary (each module was once its own).

mod support;

mod backend;
mod dashboard;
mod exit_edges;
mod gateway_process;
mod generator_lag;
mod topology;
