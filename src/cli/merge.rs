//! `ninefold merge DIR... --out DIR`: the shards of a run (`ninefold run
//! --shard I/N`) merged exactly into one run folder, judged on the whole.

use std::path::PathBuf;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::run::merge::{MergeProblem, check_complete, merge, read_folder, unchecked_starts};
use crate::scenario::load::{parse_str_with_env, recorded_env};

/// Merge shard folders into one run folder and judge the SLOs on the whole.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold run s.toml --shard 0/2 --out r/shard-0 & ninefold run s.toml --shard 1/2 --out r/shard-1; wait\n  ninefold merge r/shard-0 r/shard-1 --out r/merged\n  ninefold merge /results/shard-* --out /results/merged   # a Kubernetes Indexed Job's shards\n\nEvery shard 0..N-1 must be given once, all from the same scenario file, seed\nand run id, their schedules begun within 100 ms of each other (--barrier or\n--start-at on `ninefold run`).\nExit codes: as `ninefold run` (0 all SLOs met, 1 an SLO failed, 2 bad input, …)."
)]
pub struct Args {
    /// The shard folders (each written by `ninefold run --shard I/N`).
    #[arg(value_name = "DIR", required = true)]
    pub dirs: Vec<PathBuf>,
    /// Where the merged run folder goes (same files as a single run).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// Merge and judge.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let bad = |e: MergeProblem| CliError::BadInput(format!("ninefold merge: {e}"));
    let mut parts = Vec::with_capacity(args.dirs.len());
    for dir in &args.dirs {
        parts.push(read_folder(dir).map_err(bad)?);
    }
    let parts = check_complete(parts).map_err(bad)?;
    for dir in unchecked_starts(&parts) {
        eprintln!(
            "ninefold merge: {}: its results do not record when its schedule began (an older ninefold): not checked that the shards started together",
            dir.display()
        );
    }
    let first = &parts[0];
    let label = first.dir.join(crate::run::outputs::SCENARIO_TOML);
    let loaded = parse_str_with_env(
        &label.display().to_string(),
        &first.scenario_toml,
        &first.dir,
        &recorded_env,
    )
    .map_err(|d| CliError::BadInput(d.to_string()))?;
    let scenario_toml = first.scenario_toml.clone();
    let count = parts.len();
    let results = merge(parts).map_err(bad)?;
    let summary = crate::run::outputs::write_run_folder(
        &args.out,
        &loaded.scenario,
        &scenario_toml,
        &results,
        false,
    )?;
    super::print_summary(&summary)?;
    eprintln!(
        "ninefold: {count} shards merged into {}",
        args.out.display()
    );
    Ok(summary.verdict.exit_status())
}
