//! Metrics streamed while a run goes: Prometheus remote-write
//! (`--prometheus-rw URL`, once a second and once more when the traffic has
//! ended) and a scrape endpoint (`--metrics-listen ADDR`), both read from the
//! live feed ([`crate::traffic::live::LiveWatch`]), never from the hot path.
//!
//! The exporter is a task of the run's runtime that reads the watch; a slow or
//! absent receiver costs it retries (counted, reported as a warning at the
//! end), never the traffic, and never changes a verdict. docs/streaming.md
//! describes the series.

pub mod remote_write;
pub mod scrape;
pub mod series;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use self::remote_write::{PushStats, Pusher};
use self::series::{FaultWindow, RunLabels};
use super::plan::RunPlan;
use super::pools::PoolGauges;
use crate::faults::timeline::Phase;
use crate::scenario::model::FaultAction;
use crate::traffic::live::{LiveSnapshot, LiveWatch};

/// Where the run's metrics go (all off by default).
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Remote-write receiver (`--prometheus-rw`), e.g. `http://prometheus:9090/api/v1/write`.
    pub remote_write: Option<reqwest::Url>,
    /// Serve `GET /metrics` here (`--metrics-listen`); port 0 picks one.
    pub listen: Option<SocketAddr>,
    /// After the run, keep `/metrics` up until one scrape has read the final
    /// counts, at most this long (`--metrics-linger`).
    pub linger: Duration,
}

impl ExportOptions {
    pub fn is_on(&self) -> bool {
        self.remote_write.is_some() || self.listen.is_some()
    }
}

/// Why the exporter cannot start (bad input: nothing ran).
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("--metrics-listen {addr}: cannot listen: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// How often a push is sent.
pub const PUSH_EVERY: Duration = Duration::from_secs(1);

/// How long the last push may be retried after the traffic ends.
pub const FINAL_DEADLINE: Duration = Duration::from_secs(10);

/// What the exporters did, for the lines after the run.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExportReport {
    pub remote_write: Option<PushStats>,
    /// Scrapes served, when the endpoint was on.
    pub scrapes: Option<u64>,
}

impl ExportReport {
    /// A warning per failure to deliver: never a changed verdict.
    pub fn warnings(&self) -> Vec<String> {
        let Some(s) = &self.remote_write else {
            return Vec::new();
        };
        if s.failed_attempts == 0 && s.dropped == 0 && s.unsent == 0 {
            return Vec::new();
        }
        vec![format!(
            "warning: Prometheus remote-write: {} pushes accepted, {} attempts failed, {} pushes dropped, {} never sent{} (the run's results are unaffected)",
            s.sent,
            s.failed_attempts,
            s.dropped,
            s.unsent,
            s.last_error
                .as_ref()
                .map(|e| format!("; last error: {e}"))
                .unwrap_or_default()
        )]
    }
}

/// The running exporters of one run.
#[derive(Debug)]
pub struct Exporter {
    /// The scrape endpoint's address, when it is on.
    pub addr: Option<SocketAddr>,
    scrape: Option<scrape::ScrapeServer>,
    push: Option<tokio::task::JoinHandle<PushStats>>,
    stop: CancellationToken,
}

/// Start what `options` asks for, reading `live`.
pub async fn start(
    options: &ExportOptions,
    live: &LiveWatch,
    run: RunLabels,
    faults: Vec<FaultWindow>,
    pools: PoolGauges,
) -> Result<Exporter, ExportError> {
    let scrape = match options.listen {
        Some(addr) => {
            let listen = |source| ExportError::Listen { addr, source };
            let listener = tokio::net::TcpListener::bind(addr).await.map_err(listen)?;
            let context = (run.clone(), faults.clone(), pools.clone());
            let server = scrape::serve(listener, live.subscribe(), context).map_err(listen)?;
            Some(server)
        }
        None => None,
    };
    let stop = CancellationToken::new();
    let push = options.remote_write.clone().map(|url| {
        tokio::spawn(push_loop(
            Pusher::new(url),
            live.subscribe(),
            (run, faults, pools),
            stop.clone(),
        ))
    });
    Ok(Exporter {
        addr: scrape.as_ref().map(|s| s.addr),
        scrape,
        push,
        stop,
    })
}

impl Exporter {
    /// After the run: the last push (the final counts), then the scrape
    /// endpoint's linger, then stop. Bounded in time.
    pub async fn finish(self, linger: Duration) -> ExportReport {
        self.stop.cancel();
        // The task's own deadline plus one more POST's timeout and a margin.
        let bound = FINAL_DEADLINE + remote_write::TIMEOUT * 2;
        let remote_write = match self.push {
            Some(task) => Some(
                tokio::time::timeout(bound, task)
                    .await
                    .ok()
                    .and_then(Result::ok)
                    .unwrap_or_else(|| PushStats {
                        unsent: 1,
                        last_error: Some("the final push did not end in time".into()),
                        ..PushStats::default()
                    }),
            ),
            None => None,
        };
        let scrapes = match self.scrape {
            Some(s) => Some(s.stop(linger).await),
            None => None,
        };
        ExportReport {
            remote_write,
            scrapes,
        }
    }
}

/// Ms since the Unix epoch of the snapshot's instant on the run's wall clock.
fn timestamp_ms(wall_start: SystemTime, s: &LiveSnapshot) -> i64 {
    (wall_start + s.now.elapsed)
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Push the latest snapshot once a second, each snapshot once (a series
/// never gets two samples at one timestamp); the finished one as soon as it
/// is published; at `stop`, whatever was not pushed yet, retried until
/// [`FINAL_DEADLINE`].
async fn push_loop(
    mut pusher: Pusher,
    mut live: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    (run, faults, pools): (RunLabels, Vec<FaultWindow>, PoolGauges),
    stop: CancellationToken,
) -> PushStats {
    let mut ticker = tokio::time::interval(PUSH_EVERY);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut wall_start = None;
    let mut pushed: Option<Duration> = None;
    let mut open = true;
    loop {
        let finishing = tokio::select! {
            () = stop.cancelled() => true,
            changed = live.changed(), if open => {
                open = changed.is_ok();
                // Only the finished snapshot is pushed at once; the others wait for the tick.
                if !live.borrow().as_ref().is_some_and(|s| s.finished) {
                    continue;
                }
                true
            }
            _ = ticker.tick() => false,
        };
        let latest = live.borrow_and_update().clone();
        if let Some(s) = latest.filter(|s| pushed.is_none_or(|p| s.now.elapsed > p)) {
            let start = *wall_start.get_or_insert_with(|| {
                SystemTime::now() - Instant::now().saturating_duration_since(s.run_start)
            });
            let families = series::families(&s, &run, &faults, &pools.read());
            let body = remote_write::encode(&remote_write::write_request(
                &families,
                timestamp_ms(start, &s),
            ));
            pushed = Some(s.now.elapsed);
            pusher.push(body).await;
        }
        if finishing {
            break;
        }
    }
    let deadline = tokio::time::Instant::now() + FINAL_DEADLINE;
    while !pusher.flush().await && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    pusher.close()
}

/// The run's labels: the run id, else the run folder's name.
pub fn run_labels(plan: &RunPlan, run_id: Option<&str>, shard: crate::traffic::Shard) -> RunLabels {
    let folder = plan
        .out_dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| plan.scenario.name.clone());
    RunLabels {
        run: run_id.map_or(folder, str::to_owned),
        scenario: plan.scenario.name.clone(),
        shard: (!shard.is_whole()).then(|| shard.to_string()),
    }
}

/// The scenario's faults as windows on the run clock: `[at, at + duration)`;
/// `chaos` without a duration to the end of the run; an instant fault (no
/// duration: `kill`, `restart`, …) for the one second after its instant.
pub fn fault_windows(plan: &RunPlan) -> Vec<FaultWindow> {
    let s = &plan.scenario;
    s.faults
        .iter()
        .enumerate()
        .map(|(i, f)| {
            let mut targets: Vec<String> = Vec::new();
            for step in plan.steps.iter().filter(|st| st.fault == i) {
                if step.phase != Phase::Apply {
                    continue;
                }
                for t in &step.targets {
                    let name = t.name();
                    if !targets.contains(&name) {
                        targets.push(name);
                    }
                }
            }
            let until = match (f.duration, &f.action) {
                (Some(d), _) => f.at + d,
                (None, FaultAction::Chaos { .. }) => s.duration.max(f.at),
                (None, _) => f.at + Duration::from_secs(1),
            };
            FaultWindow {
                fault: crate::scenario::slo::Window::Fault(i).to_string(),
                action: f.action.name().to_owned(),
                target: targets.join(","),
                from: f.at,
                until,
            }
        })
        .collect()
}
