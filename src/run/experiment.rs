//! A whole run as a library call: a loaded scenario in, a judged run folder
//! out. `ninefold run` calls [`run`] and adds only its flags, the signals and
//! the terminal summary; a test can call it in process.
//!
//! ```text
//!  Loaded ─► scale ─► RunPlan ─► runner::execute ─► outputs::write_run_folder ─► RunOutcome
//! ```

use std::path::PathBuf;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

use super::outputs::write_run_folder;
use super::plan::RunPlan;
use super::runner::{RunError, RunOptions, execute};
use super::start::StartError;
use crate::ExitStatus;
use crate::analysis::slo::RunVerdict;
use crate::scenario::load::Loaded;
use crate::scenario::model::Scenario;
use crate::scenario::scale::{TimeScaleError, check_time_scale};
use crate::summary::Summary;
use crate::traffic::Shard;

/// How to run a scenario: what `ninefold run` takes besides the file.
#[derive(Debug, Clone)]
pub struct Options {
    /// Seed for every random choice (overrides the scenario's; else a random one).
    pub seed: Option<u64>,
    /// The results folder (default `reports/<name>-<UTC timestamp>/`).
    pub out: Option<PathBuf>,
    /// `--time-scale`: every time in the scenario is multiplied by it (1.0: as written).
    pub time_scale: f64,
    /// The load engine's and the children's options.
    pub runner: RunOptions,
    /// Metrics streamed while the run goes (`--prometheus-rw`, `--metrics-listen`).
    pub export: super::export::ExportOptions,
    /// Cancelled: the traffic stops early, what was measured is written,
    /// marked partial, and the verdict withheld. Dropping the future of
    /// [`run`] instead aborts at once.
    pub stop: CancellationToken,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            seed: None,
            out: None,
            time_scale: 1.0,
            runner: RunOptions::default(),
            export: super::export::ExportOptions::default(),
            stop: CancellationToken::new(),
        }
    }
}

/// What a run gives its caller.
#[derive(Debug)]
pub struct RunOutcome {
    /// The results folder.
    pub dir: PathBuf,
    /// The seed the run used.
    pub seed: u64,
    /// The judged summary (also in the folder), or why the run broke before
    /// anything was measured (then nothing was written).
    pub summary: Result<Summary, RunError>,
    /// The exit status `ninefold run` ends with.
    pub status: ExitStatus,
    /// What the metrics exporters did, when one was on.
    pub export: Option<super::export::ExportReport>,
}

/// Why [`run`] has no outcome to give.
#[derive(Debug, thiserror::Error)]
pub enum NoOutcome {
    #[error(transparent)]
    TimeScale(#[from] TimeScaleError),
    /// A shard without a seed all shards share (bad input: refused before
    /// anything starts, never a merge refused after the traffic).
    #[error(
        "shard {0}: the scenario has no `seed` and no run id was given, so each shard would draw its own seed and `ninefold merge` would refuse them after the traffic; give every shard the same --run-id ID (or NINEFOLD_RUN_ID; in a Kubernetes Indexed Job the Job's name is taken), or --seed N, or set `seed` in the scenario"
    )]
    NoSharedSeed(Shard),
    /// A metrics exporter could not start (bad input: nothing ran).
    #[error(transparent)]
    Export(#[from] super::export::ExportError),
    /// The run folder could not be written.
    #[error(transparent)]
    Output(#[from] anyhow::Error),
}

/// `scenario` with every time multiplied by `time_scale` (as it is at 1.0).
pub fn scale(scenario: Scenario, time_scale: f64) -> Scenario {
    if time_scale == 1.0 {
        scenario
    } else {
        scenario.scaled(time_scale)
    }
}

/// The seed every process of a run agrees on: `--seed`, else the scenario's,
/// else one derived from the run id (`None`: a random seed, which only a
/// whole run may use).
pub fn shared_seed(seed: Option<u64>, scenario: &Scenario, run_id: Option<&str>) -> Option<u64> {
    seed.or(scenario.seed)
        .or_else(|| run_id.map(crate::traffic::shard::seed_from_run_id))
}

/// Run `scenario`: bring the topology up, drive traffic while the faults
/// happen, tear down, write the run folder and judge the SLOs.
pub async fn run(scenario: Loaded, mut options: Options) -> Result<RunOutcome, NoOutcome> {
    let time_scale = check_time_scale(options.time_scale)?;
    let Loaded { raw, scenario, .. } = scenario;
    let seed = shared_seed(options.seed, &scenario, options.runner.run_id.as_deref());
    let shard = options.runner.shard;
    if seed.is_none() && !shard.is_whole() {
        return Err(NoOutcome::NoSharedSeed(shard));
    }
    let plan = RunPlan::new(scale(scenario, time_scale), seed, options.out.take());
    say_what_runs(&plan, time_scale, &options.runner);
    let exporter = start_export(&plan, &mut options).await?;
    let executed = execute(&plan, &options.runner, options.stop).await;
    let mut results = match executed {
        Ok(r) => r,
        Err(e) => {
            let export = finish_export(exporter, &options.export).await;
            let status = match &e {
                RunError::NoSharedStart(StartError::Interrupted) => ExitStatus::Interrupted,
                RunError::NoSharedStart(_) => ExitStatus::NoSharedStart,
                _ => ExitStatus::RunBroke,
            };
            return Ok(RunOutcome {
                dir: plan.out_dir,
                seed: plan.seed,
                summary: Err(e),
                status,
                export,
            });
        }
    };
    results.time_scale = time_scale;
    // The folder keeps the scenario as run: scaled, it is no longer the file as written.
    let mut raw = if time_scale == 1.0 {
        raw
    } else {
        crate::scenario::unparse::to_raw(&plan.scenario)
    };
    crate::scenario::unparse::redact(&mut raw);
    let scenario_toml = toml::to_string(&raw).context("writing the scenario back as TOML")?;
    let summary = write_run_folder(
        &plan.out_dir,
        &plan.scenario,
        &scenario_toml,
        &results,
        false,
    )?;
    let export = finish_export(exporter, &options.export).await;
    Ok(RunOutcome {
        export,
        status: status(&summary, options.runner.shard),
        dir: plan.out_dir,
        seed: plan.seed,
        summary: Ok(summary),
    })
}

/// The exporters `options.export` asks for, reading the run's live feed
/// (set up here when nobody else asked for one).
async fn start_export(
    plan: &RunPlan,
    options: &mut Options,
) -> Result<Option<super::export::Exporter>, NoOutcome> {
    if !options.export.is_on() {
        return Ok(None);
    }
    let live = options
        .runner
        .live
        .get_or_insert_with(crate::traffic::live::LiveWatch::new)
        .clone();
    let r = &options.runner;
    let labels = super::export::run_labels(plan, r.run_id.as_deref(), r.shard);
    let faults = super::export::fault_windows(plan);
    let pools = options.runner.pool_gauges.get_or_insert_default().clone();
    let exporter = super::export::start(&options.export, &live, labels, faults, pools).await?;
    if let Some(addr) = exporter.addr {
        eprintln!("ninefold: metrics at http://{addr}/metrics");
    }
    if let Some(url) = &options.export.remote_write {
        eprintln!("ninefold: Prometheus remote-write to {url}, every second");
    }
    Ok(Some(exporter))
}

/// The exporters' last push and linger; their warnings on stderr.
async fn finish_export(
    exporter: Option<super::export::Exporter>,
    options: &super::export::ExportOptions,
) -> Option<super::export::ExportReport> {
    let report = exporter?.finish(options.linger).await;
    for w in report.warnings() {
        eprintln!("ninefold: {w}");
    }
    Some(report)
}

/// A shard saw 1/N of the load: its verdict is not the run's. It succeeds once
/// its results are written (so a Kubernetes Job does not retry it);
/// `ninefold merge` judges the whole and exits with the verdict.
fn status(summary: &Summary, shard: Shard) -> ExitStatus {
    if shard.is_whole() {
        summary.verdict.exit_status()
    } else if summary.verdict == RunVerdict::Interrupted {
        ExitStatus::Interrupted
    } else {
        ExitStatus::Pass
    }
}

/// The stderr lines before a run: what runs, for how long, where its results go.
fn say_what_runs(plan: &RunPlan, time_scale: f64, options: &RunOptions) {
    eprintln!(
        "ninefold: running {} for {}{} (seed {}), results in {}",
        plan.scenario.name,
        crate::scenario::human::format_duration(plan.scenario.duration),
        if time_scale == 1.0 {
            String::new()
        } else {
            format!(" (time scale {time_scale})")
        },
        plan.seed,
        plan.out_dir.display()
    );
    if options.client != crate::traffic::ClientKind::Ninefold {
        eprintln!(
            "ninefold: sending with the {} HTTP client (--client {}), not ninefold's own: a cross-check",
            options.client.name(),
            options.client.name()
        );
    }
    let shard = options.shard;
    if !shard.is_whole() {
        eprintln!(
            "ninefold: shard {shard}: 1/{} of the load{}",
            shard.count,
            if shard.drives_faults() {
                ", and the fault timeline"
            } else {
                "; shard 0 plays the faults"
            }
        );
        if let Some(id) = &options.run_id {
            eprintln!("ninefold: run id {id}");
        }
        if let Some(gate) = &options.start {
            if let Some(b) = &gate.barrier {
                eprintln!(
                    "ninefold: once up, waiting at the start barrier {} for all {} shards (timeout {})",
                    b.dir.display(),
                    shard.count,
                    crate::scenario::human::format_duration(b.timeout)
                );
            }
            if let Some(at) = gate.at {
                eprintln!(
                    "ninefold: the schedule starts at {}",
                    super::start::rfc3339_ms(at)
                );
            }
        }
    }
}
