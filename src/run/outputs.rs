//! The files of a run folder, written from what a run measured.
//!
//! One function writes them all, so `ninefold run`, `ninefold report` (re-render)
//! and `ninefold merge` (shards) produce the same set of files from the same data:
//!
//! ```text
//!  RunResults ─► results.json      (everything measured; the input to re-rendering)
//!  scenario   ─► scenario.toml     (as run, secrets redacted)
//!  recording  ─► histograms.hlog   (HdrHistogram log, for HdrHistogram's own tools)
//!  Summary    ─► summary.json, junit.xml, summary.md  (report::write_all)
//! ```

use std::path::Path;

use anyhow::Context;

use crate::report::Summary;
use crate::run::runner::RunResults;
use crate::scenario::model::Scenario;

/// `results.json`: the serialized [`RunResults`].
pub const RESULTS_JSON: &str = "results.json";
/// `scenario.toml`: the scenario as run, secrets redacted.
pub const SCENARIO_TOML: &str = "scenario.toml";
/// `histograms.hlog`: per-second latency histograms.
pub const HISTOGRAMS_HLOG: &str = "histograms.hlog";

/// Write every file of the run folder `dir` and return the judged summary.
///
/// `scenario_toml` is the scenario text to keep beside the results; the caller
/// redacts it. `broken` marks a run whose topology failed part-way.
pub fn write_run_folder(
    dir: &Path,
    scenario: &Scenario,
    scenario_toml: &str,
    results: &RunResults,
    broken: bool,
) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))
    };
    write(
        RESULTS_JSON,
        &serde_json::to_string(results).context("serializing results")?,
    )?;
    write(SCENARIO_TOML, scenario_toml)?;
    write(
        HISTOGRAMS_HLOG,
        &crate::report::hlog::render(&results.recording),
    )?;
    let summary =
        crate::analysis::summarize::summarize(scenario, results, results.time_scale, broken);
    crate::report::write_all(dir, &summary)
        .with_context(|| format!("writing reports to {}", dir.display()))?;
    Ok(summary)
}
