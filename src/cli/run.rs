//! `ninefold run FILE`: the whole experiment, end to end.

use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::cli::signals::Signals;
use crate::run::plan::RunPlan;
use crate::run::runner::RunOptions;
use crate::run::{NoOutcome, Options, RunOutcome, scale};
use crate::scenario::load::{LoadError, load_file};
use crate::scenario::scale::check_time_scale;

/// Bring up the topology, drive traffic while faults happen, judge the SLOs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold run scenarios/quickstart.toml\n  ninefold run scenarios/failover.toml --seed 7 --out /tmp/failover\n  ninefold run scenarios/failover.toml --dry-run   # print processes, links and the fault timeline\n  ninefold run scenarios/failover.toml --time-scale 0.2   # the same experiment in 12 s instead of 60 s\n\nExit codes: 0 all SLOs met, 1 an SLO failed, 2 bad input, 3 the run broke,\n4 inconclusive, 5 invalid (the generator fell behind), 6 interrupted (SIGINT or\nSIGTERM: what was measured is written, the verdict withheld; a second signal\naborts at once)."
)]
pub struct Args {
    /// The scenario file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Results folder (default reports/<name>-<UTC timestamp>/).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Seed for every random choice (overrides the scenario's).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the plan and exit without running anything.
    #[arg(long)]
    pub dry_run: bool,
    /// Load-generator threads (default: one per core).
    #[arg(long)]
    pub workers: Option<std::num::NonZeroUsize>,
    /// Generate shard I of N of the load (0-based: 0/2 and 1/2 are the two
    /// halves): 1/N of every phase's rate and users, its own sequence numbers
    /// and idempotency keys. Only shard 0 plays the faults. Merge the folders
    /// with `ninefold merge`. Shards should share one system under test
    /// (`[gateway] url`).
    #[arg(
        long,
        value_name = "I/N",
        env = "NINEFOLD_SHARD",
        conflicts_with = "shards"
    )]
    pub shard: Option<crate::traffic::Shard>,
    /// Run as one of N shards, the index taken from JOB_COMPLETION_INDEX
    /// (set by a Kubernetes Indexed Job).
    #[arg(long, value_name = "N")]
    pub shards: Option<u32>,
    /// Multiply every time in the scenario (run length, phases, faults,
    /// restart delays, health intervals, TTLs, quota periods) by F, e.g. 0.1
    /// for a ten-times-faster CI smoke run; rates are not scaled. 0 < F ≤ 100.
    #[arg(long, value_name = "F", default_value_t = 1.0)]
    pub time_scale: f64,
    /// The HTTP client that sends the load: `ninefold` (its own, fast HTTP/1.1
    /// client) or `hyper` (hyper-util's pooled client, an independent HTTP stack
    /// to cross-check figures with; more CPU per request).
    #[arg(long, value_enum, default_value_t = crate::traffic::ClientKind::Ninefold)]
    pub client: crate::traffic::ClientKind,
}

/// Run the scenario.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let loaded = match load_file(&args.file) {
        Ok(l) => l,
        Err(LoadError::Invalid(d)) => return Err(CliError::BadInput(d.to_string()).into()),
        Err(e) => return Err(CliError::BadInput(e.to_string()).into()),
    };
    // As `validate` prints them: a valid file, but something in it cannot matter.
    for w in &loaded.warnings.0 {
        eprintln!("{w}");
    }
    let shard = crate::traffic::shard::from_args(
        args.shard,
        args.shards,
        std::env::var("JOB_COMPLETION_INDEX").ok().as_deref(),
    )
    .map_err(|e| CliError::BadInput(e.to_string()))?;
    let time_scale =
        check_time_scale(args.time_scale).map_err(|e| CliError::BadInput(e.to_string()))?;
    if args.dry_run {
        let plan = RunPlan::new(scale(loaded.scenario, time_scale), args.seed, args.out);
        return dry_run(&plan, time_scale);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let options = Options {
        seed: args.seed,
        out: args.out,
        time_scale,
        runner: RunOptions {
            progress: true,
            workers: args.workers,
            shard,
            client: args.client,
            program: None,
        },
        stop: stop.clone(),
    };
    let signals = {
        let _runtime = runtime.enter();
        Signals::new().context("listening for SIGINT and SIGTERM")?
    };
    let outcome = runtime.block_on(async {
        tokio::spawn(signals.watch(stop, abort.clone()));
        tokio::select! {
            r = crate::run::run(loaded, options) => Some(r),
            () = abort.cancelled() => None,
        }
    });
    let Some(outcome) = outcome else {
        // Children die with their handles (kill_on_drop) and with us (PDEATHSIG).
        runtime.shutdown_background();
        return Ok(ExitStatus::Interrupted);
    };
    let outcome = match outcome {
        Ok(o) => o,
        Err(NoOutcome::Output(e)) => return Err(e),
        Err(e @ NoOutcome::TimeScale(_)) => return Err(CliError::BadInput(e.to_string()).into()),
    };
    report(&outcome, shard)
}

/// `--dry-run`: print the plan (and the time scale it is under).
fn dry_run(plan: &RunPlan, time_scale: f64) -> anyhow::Result<ExitStatus> {
    if time_scale != 1.0 {
        super::print_out(&format!(
            "time scale {time_scale}: every time below is the scenario's × {time_scale} (rates unchanged)\n"
        ))?;
    }
    super::print_out(&plan.to_string())?;
    Ok(ExitStatus::Pass)
}

/// After the run: the terminal summary, where the results are, and the exit status.
fn report(outcome: &RunOutcome, shard: crate::traffic::Shard) -> anyhow::Result<ExitStatus> {
    let summary = match &outcome.summary {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ninefold: the run broke: {e}");
            return Ok(ExitStatus::RunBroke);
        }
    };
    super::print_summary(summary)?;
    eprintln!("ninefold: results in {}", outcome.dir.display());
    if !shard.is_whole() {
        eprintln!(
            "ninefold: shard {shard} written; judge the run with `ninefold merge` over all {} shard folders",
            shard.count
        );
    }
    Ok(outcome.status)
}
