//! ninefold: does this API setup really keep its availability and latency
//! promises when things break?
//!
//! The library holds every stage of a run (the scenario format is docs/scenario-reference.md):
//! `scenario` (model, parsing, validation) → `topology` (child processes) →
//! `traffic` (load engine) + `faults` (timeline, fault proxy) → `metrics`
//! (recorder) → `results` (the raw results model, `results.json`) → `summary`
//! (the summary model and its builder: SLO figures, failover, integrity,
//! compare) → `report` (renders the summary into the files people and CI read).
//! `analysis` holds the pure statistics the summary uses (availability bounds,
//! Beta quantiles, significance tests, SLO judgement) and `format` the number
//! and duration formatting both summary and report share. `run` wires the
//! stages together and `cli` sits on top. No module imports from a stage that
//! consumes its output.
//! `main.rs` only parses flags and maps a [`cli::Outcome`] to an exit code.

pub mod analysis;
pub mod cli;
pub mod exit;
pub mod faults;
pub mod format;
pub mod metrics;
pub mod report;
pub mod results;
pub mod run;
pub mod scenario;
pub mod summary;
pub mod topology;
pub mod traffic;

pub use exit::ExitStatus;
