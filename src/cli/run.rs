//! `ninefold run FILE`: the whole experiment, end to end.

use std::path::{Path, PathBuf};

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::cli::signals::Signals;
use crate::run::plan::RunPlan;
use crate::run::runner::RunOptions;
use crate::run::start::{Barrier, StartGate, parse_start_at};
use crate::run::{NoOutcome, Options, RunOutcome, scale};
use crate::scenario::load::{LoadError, Loaded, load_file};
use crate::scenario::scale::check_time_scale;

/// Bring up the topology, drive traffic while faults happen, judge the SLOs.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold run scenarios/quickstart.toml\n  ninefold run scenarios/failover.toml --seed 7 --out /tmp/failover\n  ninefold run scenarios/failover.toml --dry-run   # print processes, links and the fault timeline\n  ninefold run scenarios/failover.toml --time-scale 0.2   # the same experiment in 12 s instead of 60 s\n\nExit codes: 0 all SLOs met, 1 an SLO failed, 2 bad input, 3 the run broke,\n4 inconclusive, 5 invalid (the generator fell behind), 6 interrupted (SIGINT or\nSIGTERM: what was measured is written, the verdict withheld; a second signal\naborts at once), 7 the shards could not start together (--barrier timed out,\nor the shared start instant passed before this shard was ready; no traffic sent).\n\nShards of one run (docs/kubernetes.md):\n  ninefold run s.toml --shard 0/2 --run-id r1 --barrier r/barrier --out r/shard-0 &\n  ninefold run s.toml --shard 1/2 --run-id r1 --barrier r/barrier --out r/shard-1; wait\n  ninefold merge r/shard-0 r/shard-1 --out r/merged"
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
    /// (`[gateway] url`), one seed (`seed`, --seed or the same --run-id) and
    /// one start (--barrier or --start-at).
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
    /// The id of the run this shard belongs to, the same for every shard: a
    /// scenario without `seed` takes its seed from it (FNV-1a of the id), so
    /// the shards draw the same requests. Default in a Kubernetes Indexed Job:
    /// the Job's name. A shard without a seed or a run id refuses to start.
    #[arg(long, value_name = "ID", env = "NINEFOLD_RUN_ID")]
    pub run_id: Option<String>,
    /// Shards: begin the schedule at this instant (RFC 3339 UTC, e.g.
    /// 2026-12-04T21:30:00Z), once the topology is up. Refused if already
    /// past (by more than 100 ms) or more than 1 h ahead.
    #[arg(long, value_name = "TIME")]
    pub start_at: Option<String>,
    /// Shards: meet in DIR (on the shared results volume) before the first
    /// request: each shard writes DIR/ready-I-of-N.json and waits for all N;
    /// all start at the last ready time + --barrier-margin.
    #[arg(long, value_name = "DIR")]
    pub barrier: Option<PathBuf>,
    /// How long a shard waits at the barrier for the others (then exit 7).
    #[arg(long, value_name = "DUR", default_value = "5m", value_parser = duration)]
    pub barrier_timeout: std::time::Duration,
    /// Added to the last shard's ready time to give the shared start: time
    /// for every shard to see the last ready file.
    #[arg(long, value_name = "DUR", default_value = "2s", value_parser = duration)]
    pub barrier_margin: std::time::Duration,
    #[command(flatten)]
    pub export: super::export::ExportArgs,
    /// No live dashboard even on a terminal: the plain progress lines and the
    /// run's events on stderr, as for a pipe or CI (docs/live.md).
    #[arg(long)]
    pub no_tui: bool,
}

fn duration(text: &str) -> Result<std::time::Duration, String> {
    crate::scenario::human::parse_duration(text)
}

/// Run the scenario.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let loaded = load(&args.file)?;
    let shard = crate::traffic::shard::from_args(
        args.shard,
        args.shards,
        std::env::var("JOB_COMPLETION_INDEX").ok().as_deref(),
    )
    .map_err(|e| CliError::BadInput(e.to_string()))?;
    let time_scale =
        check_time_scale(args.time_scale).map_err(|e| CliError::BadInput(e.to_string()))?;
    let run_id = run_id(args.run_id.clone(), shard);
    let seed = crate::run::experiment::shared_seed(args.seed, &loaded.scenario, run_id.as_deref());
    let start = start_gate(&args, shard, run_id.as_deref(), seed)?;
    if args.dry_run {
        let plan = RunPlan::new(scale(loaded.scenario, time_scale), seed, args.out);
        return dry_run(&plan, time_scale);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    let stop = CancellationToken::new();
    let abort = CancellationToken::new();
    let mut watching = super::live::Watching::start(
        super::live::wants_tui(args.no_tui),
        stop.clone(),
        args.file.display().to_string(),
        true,
    );
    let options = Options {
        seed: args.seed,
        out: args.out,
        time_scale,
        runner: RunOptions {
            progress: !watching.tui,
            workers: args.workers,
            shard,
            client: args.client,
            program: None,
            start,
            run_id,
            live: Some(watching.live.clone()),
            events: watching.events.take(),
            // Made by the exporters when they run.
            pool_gauges: None,
        },
        export: args.export.options(),
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
    let by_key = watching.finish();
    let Some(outcome) = outcome else {
        // Children die with their handles (kill_on_drop) and with us (PDEATHSIG).
        runtime.shutdown_background();
        return Ok(ExitStatus::Interrupted);
    };
    if by_key {
        eprintln!(
            "ninefold: stopped from the dashboard: what was measured is written; the verdict is withheld (exit 6)"
        );
    }
    let outcome = match outcome {
        Ok(o) => o,
        Err(NoOutcome::Output(e)) => return Err(e),
        Err(e @ (NoOutcome::TimeScale(_) | NoOutcome::NoSharedSeed(_) | NoOutcome::Export(_))) => {
            return Err(CliError::BadInput(e.to_string()).into());
        }
    };
    report(&outcome, shard)
}

/// Load and validate the scenario file, printing its warnings.
fn load(file: &Path) -> anyhow::Result<Loaded> {
    let loaded = match load_file(file) {
        Ok(l) => l,
        Err(LoadError::Invalid(d)) => return Err(CliError::BadInput(d.to_string()).into()),
        Err(e) => return Err(CliError::BadInput(e.to_string()).into()),
    };
    // As `validate` prints them: a valid file, but something in it cannot matter.
    for w in &loaded.warnings.0 {
        eprintln!("{w}");
    }
    Ok(loaded)
}

/// The run's id: `--run-id`, else (for a shard of an indexed Job) the Job's name.
fn run_id(given: Option<String>, shard: crate::traffic::Shard) -> Option<String> {
    // An empty id (a downward-API label that is not there) is no id.
    let given = given.filter(|id| !id.trim().is_empty());
    given.or_else(|| {
        (!shard.is_whole())
            .then(|| {
                crate::traffic::shard::indexed_job_name(
                    std::env::var("HOSTNAME").ok().as_deref(),
                    std::env::var("JOB_COMPLETION_INDEX").ok().as_deref(),
                )
            })
            .flatten()
    })
}

/// The start gate of a shard (`--start-at`, `--barrier`), checked before
/// anything starts: a shard without a shared seed, a gate without a shard,
/// or a start instant already past is bad input (exit 2).
fn start_gate(
    args: &Args,
    shard: crate::traffic::Shard,
    run_id: Option<&str>,
    seed: Option<u64>,
) -> anyhow::Result<Option<StartGate>> {
    let bad = |m: String| anyhow::Error::from(CliError::BadInput(m));
    if shard.is_whole() {
        if args.start_at.is_some() || args.barrier.is_some() {
            return Err(bad(
                "--start-at and --barrier line up the shards of a run: give --shard I/N or --shards N too".into(),
            ));
        }
        return Ok(None);
    }
    let Some(seed) = seed else {
        return Err(bad(crate::run::NoOutcome::NoSharedSeed(shard).to_string()));
    };
    let at = match &args.start_at {
        Some(text) => Some(
            parse_start_at(text, std::time::SystemTime::now()).map_err(|e| bad(e.to_string()))?,
        ),
        None => None,
    };
    let barrier = args.barrier.as_ref().map(|dir| Barrier {
        dir: dir.clone(),
        timeout: args.barrier_timeout,
        margin: args.barrier_margin,
    });
    if at.is_none() && barrier.is_none() {
        return Ok(None);
    }
    Ok(Some(StartGate {
        shard,
        run: run_id.map_or_else(|| format!("seed {seed}"), str::to_owned),
        at,
        barrier,
    }))
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
        Err(e @ crate::run::runner::RunError::NoSharedStart(_)) => {
            eprintln!("ninefold: shard {shard} did not start: {e}");
            return Ok(outcome.status);
        }
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
