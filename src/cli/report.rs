//! `ninefold report RUN_DIR`: re-render a run folder's reports from its saved
//! results, without running anything.

use std::path::PathBuf;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::run::outputs::{read_run_folder, write_run_folder};

/// Re-render report.html, summary.json, junit.xml, summary.md, histograms.hlog and series.csv.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Reads RUN_DIR/results.json and RUN_DIR/scenario.toml and writes every report\nagain, byte for byte what the run wrote (useful after upgrading ninefold, or when\na report was deleted).\n\nExample:\n  ninefold report reports/failover-20261126T080000Z\n\nExit codes: 0 re-rendered, 2 not a readable run folder."
)]
pub struct Args {
    /// The run folder (as written by `ninefold run`).
    #[arg(value_name = "RUN_DIR")]
    pub dir: PathBuf,
}

/// Re-render the folder's reports.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let folder = read_run_folder(&args.dir).map_err(|e| CliError::BadInput(e.to_string()))?;
    let summary = write_run_folder(
        &args.dir,
        &folder.scenario,
        &folder.scenario_toml,
        &folder.results,
        folder.broken,
    )?;
    super::print_out(&format!(
        "{} {}: re-rendered {}\n",
        summary.verdict.label(),
        summary.scenario,
        args.dir.join(crate::report::html::REPORT_HTML).display()
    ))?;
    Ok(ExitStatus::Pass)
}
