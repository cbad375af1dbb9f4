//! Carry out a [`RunPlan`]: bring the topology up behind fault-proxy links,
//! drive traffic while the fault timeline plays, read the acknowledged writes
//! back through the API (classes that declare `integrity`) and the store, tear
//! everything down and leave the raw results in the run folder. A scenario
//! that shares state through `store = "redis"` gets a managed Redis first.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::bringup::{self, Bringup, Gateways};
use super::driver::Driver;
use super::links::Links;
use super::plan::RunPlan;
use super::watch::Watch;
use crate::faults::timeline::{self, FaultEvent};
use crate::faults::{FaultProxyConfig, FaultProxyHandle, ToxiproxyClient};
use crate::metrics::Recording;
use crate::results::{RunResults, StoreReadback};
use crate::scenario::model::{FaultProxy as FaultProxyChoice, Scenario};
use crate::scenario::raw::{RawGatewayFile, RawTenant};
use crate::scenario::unparse;
use crate::topology::supervisor::Supervisor;
use crate::traffic::{Shard, TrafficOptions, TrafficPlan, run_traffic};

/// Why a run broke (exit 3), as opposed to an SLO failing.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("cannot create the run folder {path}: {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot start {0}")]
    Start(String),
    #[error("fault proxy: {0}")]
    Links(String),
    #[error("traffic: {0}")]
    Traffic(#[from] crate::traffic::TrafficError),
    #[error(transparent)]
    Redis(#[from] super::redis::RedisError),
    /// The shards could not start together (exit 7, or 6 if interrupted).
    #[error(transparent)]
    NoSharedStart(#[from] super::start::StartError),
}

/// Options of `ninefold run` that are not in the scenario.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Show the live progress line.
    pub progress: bool,
    /// Load-generator worker threads (default: one per core).
    pub workers: Option<std::num::NonZeroUsize>,
    /// This process's share of the load (`--shard I/N`); only shard 0 plays
    /// the fault timeline.
    pub shard: Shard,
    /// Which HTTP client sends the load (`--client`).
    pub client: crate::traffic::ClientKind,
    /// The `ninefold` binary the backends and gateways run (`None`: this
    /// executable; a test that runs in process names the built binary).
    pub program: Option<PathBuf>,
    /// Shards: where and when the schedule starts (`--start-at`, `--barrier`);
    /// `None` starts as soon as the topology is up.
    pub start: Option<super::start::StartGate>,
    /// The run id the shards were given (recorded in a shard's results).
    pub run_id: Option<String>,
    /// Publish the live feed here (the dashboard, the exporters, the abort
    /// rule subscribe to it before the run).
    pub live: Option<crate::traffic::live::LiveWatch>,
    /// Tell the run's events here as they happen (the dashboard's panel, or
    /// plain lines on stderr): see [`super::watch`].
    pub events: Option<super::watch::EventSink>,
    /// Keep each instance's ejected state here for the exporters
    /// (`ninefold_instance_ejected`), when the gateways' pools are polled.
    pub pool_gauges: Option<super::pools::PoolGauges>,
}

/// Run `plan`. `stop` ends the traffic early (Ctrl-C); teardown still happens.
pub async fn execute(
    plan: &RunPlan,
    options: &RunOptions,
    stop: CancellationToken,
) -> Result<RunResults, RunError> {
    let dir = &plan.out_dir;
    create_dir(dir.join("logs"))?;
    let s = &plan.scenario;
    let links = Arc::new(match &s.fault_proxy {
        FaultProxyChoice::Embedded => Links::Embedded(FaultProxyHandle::new(FaultProxyConfig {
            seed: plan.seed,
            ..Default::default()
        })),
        FaultProxyChoice::External(url) => Links::External {
            client: ToxiproxyClient::new(url).map_err(|e| RunError::Links(e.to_string()))?,
            created: Mutex::new(Vec::new()),
        },
    });
    let supervisor = Supervisor::new();
    let admin = Mutex::new(HashMap::new());
    let result = run_inner(plan, options, stop, &links, &supervisor, &admin).await;
    // Stores are read back while a managed Redis still runs.
    let stores = match &result {
        Ok(inner) => read_back(s, dir, inner.redis_url.as_deref()).await,
        Err(_) => Vec::new(),
    };
    // Teardown happens whatever went wrong above.
    supervisor.shutdown(Duration::from_secs(5)).await;
    links.close().await;
    let Inner {
        recording,
        faults,
        partial,
        aborted,
        gateway_counters,
        hostile_backend_requests,
        schedule_started,
        api_readback,
        pools,
        ..
    } = result?;
    Ok(RunResults {
        scenario: s.name.clone(),
        seed: plan.seed,
        started_at: humantime::format_rfc3339_seconds(plan.started_at).to_string(),
        partial,
        recording,
        faults,
        lifecycle: supervisor.events(),
        stores,
        api_readback,
        gateway_counters,
        time_scale: 1.0,
        shard: (!options.shard.is_whole()).then(|| crate::traffic::ShardRun {
            shard: options.shard,
            started_at: Some(super::start::rfc3339_ms(schedule_started)),
            run_id: options.run_id.clone(),
        }),
        hostile_backend_requests,
        aborted,
        pools,
        host_cores: std::thread::available_parallelism()
            .ok()
            .map(|n| n.get() as u32),
    })
}

/// What the run measured before teardown.
struct Inner {
    recording: Recording,
    faults: Vec<FaultEvent>,
    partial: bool,
    /// The SLO abort rule stopped the traffic.
    aborted: Option<crate::results::Aborted>,
    gateway_counters: std::collections::BTreeMap<String, f64>,
    /// The managed Redis, when the scenario asked for one.
    redis_url: Option<String>,
    hostile_backend_requests: Option<u64>,
    /// The wall-clock instant the schedule began.
    schedule_started: std::time::SystemTime,
    api_readback: Option<crate::traffic::readback::ApiReadback>,
    /// The pools watched during the run.
    pools: Option<crate::results::PoolWatch>,
}

/// The path of an external gateway's URL, which prefixes every request path.
fn base_path(s: &Scenario) -> String {
    match &s.gateway.target {
        crate::scenario::model::GatewayTarget::External { url } => {
            crate::traffic::url::base_path(url).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// Bring the topology up, then drive traffic and faults on one clock.
async fn run_inner(
    plan: &RunPlan,
    options: &RunOptions,
    stop: CancellationToken,
    links: &Arc<Links>,
    supervisor: &Supervisor,
    admin: &Mutex<HashMap<String, SocketAddr>>,
) -> Result<Inner, RunError> {
    let config_dir = plan.out_dir.join("config");
    create_dir(config_dir.clone())?;
    bringup::follow_replacements(supervisor, links);
    // 0. Redis, when the scenario shares limits or a store through one it did not name.
    let redis_url = bringup::start_redis(plan, supervisor).await?;
    let up = Bringup {
        plan,
        options,
        supervisor,
        links,
        admin,
        config_dir,
        redis_url,
    };
    // 1. Backends, all at once; each behind its link.
    let backends = up.start_backends().await?;
    // 2. Gateways, configured with the backends' links as targets.
    let gateways = up.start_gateways(&backends).await?;
    // 3. Traffic and faults on one clock.
    drive(&up, stop, gateways).await
}

/// Traffic and the fault timeline on one clock; then the counters only the
/// gateways and backends know.
async fn drive(
    up: &Bringup<'_>,
    stop: CancellationToken,
    gateways: Gateways,
) -> Result<Inner, RunError> {
    let (plan, options, supervisor) = (up.plan, up.options, up.supervisor);
    let s = &plan.scenario;
    // Shards meet here, with their topology up, before their first request.
    if let Some(gate) = &options.start {
        gate.wait(&stop).await?;
    }
    let run_start = tokio::time::Instant::now();
    let schedule_started = std::time::SystemTime::now();
    supervisor.set_run_start(run_start);
    let traffic_plan = TrafficPlan::from_scenario(s, plan.seed, run_start.into_std());
    let readback = (traffic_plan.clone(), gateways.targets.clone(), base_path(s));
    let live = super::watch::live_feed(options.live.as_ref(), options.events.is_some(), s);
    let traffic_options = traffic_options(options, s, live.clone());
    // The abort rule stops the traffic without the run being interrupted.
    let traffic_stop = stop.child_token();
    let traffic_done = CancellationToken::new();
    let faults_cancel = CancellationToken::new();
    let driver = Driver::new(s, supervisor, up.links, up.admin);
    let steps = fault_steps(plan, options);
    let sink = options.events.as_ref();
    super::watch::started(sink, s, steps);
    let faults = timeline::play_observed(steps, &driver, run_start, &faults_cancel, |e| {
        super::watch::fault_happened(sink, e)
    });
    let watcher = live.as_ref().map(|w| Watch {
        scenario: s,
        supervisor,
        sink: options.events.clone(),
        live: w.subscribe(),
        stop_traffic: traffic_stop.clone(),
        done: traffic_done.clone(),
        http: driver.http.clone(),
        admin: up.admin,
    });
    let watching = Watch::run_some(watcher);
    // Who is ejected, as it happens, when anything watches the run.
    let watched = live
        .as_ref()
        .map(|_| gateways.pools.with_gauges(options.pool_gauges.clone()));
    let pools = super::pools::watch(&driver.http, watched, run_start, sink, traffic_done.clone());
    let traffic = async {
        let r = run_traffic(
            traffic_plan,
            gateways.targets,
            traffic_options,
            traffic_stop.clone(),
        )
        .await;
        faults_cancel.cancel();
        traffic_done.cancel();
        r
    };
    let (recording, events, aborted, pools) = tokio::join!(traffic, faults, watching, pools);
    let recording = recording?;
    let api_readback = api_read_back(&stop, readback, &recording).await;
    let (gateway_counters, hostile_backend_requests) =
        scrape_after(up, &driver.http, &gateways.admins).await;
    Ok(Inner {
        recording,
        api_readback,
        faults: events,
        partial: stop.is_cancelled(),
        // An interruption wins: its verdict is withheld whatever fired before.
        aborted: aborted.filter(|_| !stop.is_cancelled()),
        gateway_counters,
        redis_url: up.redis_url.clone(),
        hostile_backend_requests,
        schedule_started,
        pools,
    })
}

/// How this process's share of the traffic runs.
fn traffic_options(
    options: &RunOptions,
    s: &Scenario,
    live: Option<crate::traffic::live::LiveWatch>,
) -> TrafficOptions {
    TrafficOptions {
        workers: options.workers,
        progress: options.progress,
        shard: options.shard,
        client: options.client,
        protocol: s.client.protocol,
        live,
        live_judged_tenants: super::count_abort::judged_tenants(s),
        ..TrafficOptions::default()
    }
}

/// The fault timeline this process plays. A fault is one event in the system
/// under test: shard 0 plays the timeline, the other shards only send their
/// share of the load.
fn fault_steps<'a>(plan: &'a RunPlan, options: &RunOptions) -> &'a [timeline::Step] {
    if options.shard.drives_faults() {
        &plan.steps
    } else {
        &[]
    }
}

/// The faults have ended (their reverts ran when the timeline stopped): what the
/// service acknowledged is read back now, through its API, before teardown.
/// `readback` is the run's traffic plan, its targets and its base path.
async fn api_read_back(
    stop: &CancellationToken,
    readback: (TrafficPlan, Vec<crate::traffic::Target>, String),
    recording: &Recording,
) -> Option<crate::traffic::readback::ApiReadback> {
    if stop.is_cancelled() {
        return None;
    }
    let (plan, targets, base) = readback;
    crate::traffic::readback::read_back(&plan, &base, targets, &recording.ledger).await
}

/// The counters only the gateways and backends know, read after the traffic.
async fn scrape_after(
    up: &Bringup<'_>,
    http: &reqwest::Client,
    admins: &[SocketAddr],
) -> (std::collections::BTreeMap<String, f64>, Option<u64>) {
    let counters = super::scrape::scrape_counters(http, admins).await;
    let hostile = super::scrape::hostile_backend_requests(http, up.admin, up.supervisor).await;
    (counters, hostile)
}

/// Create a folder of the run.
fn create_dir(path: PathBuf) -> Result<(), RunError> {
    std::fs::create_dir_all(&path).map_err(|source| RunError::Folder { path, source })
}

/// The gateway's configuration file: the scenario's sections, pools as targets (the links).
pub(super) fn write_gateway_config(
    dir: &Path,
    s: &Scenario,
    links: &HashMap<String, SocketAddr>,
    redis: Option<&str>,
) -> Result<PathBuf, RunError> {
    let raw = unparse::to_raw(s);
    let mut gateway = raw.gateway.unwrap_or_default();
    // `store = "redis"`: every instance shares the Redis ninefold started.
    if let (Some(url), Some(rl)) = (redis, gateway.rate_limit.as_mut())
        && rl.store.as_deref() == Some("redis")
    {
        rl.store = Some(url.to_owned());
    }
    gateway.instances = None;
    gateway.zones = None;
    let upstreams = raw
        .upstreams
        .into_iter()
        .map(|(name, mut u)| {
            let count = s.upstreams[&name].instances.count();
            u.targets = Some(
                (0..count)
                    .map(|i| {
                        links
                            .get(&format!("{name}-{i}"))
                            .map_or_else(String::new, ToString::to_string)
                    })
                    .collect(),
            );
            u.instances = None;
            // A `command` is the harness's business: the gateway balances over its links.
            u.command = None;
            u.env = None;
            u.cwd = None;
            u.ready = None;
            u.restart = None;
            u.latency = None;
            u.errors = None;
            u.store = None;
            u.serverless = None;
            u.payload_bytes = None;
            (name, u)
        })
        .collect();
    let file = RawGatewayFile {
        gateway,
        upstreams,
        // The gateway needs the tenants' plans only, not what their clients send.
        tenants: raw
            .tenants
            .into_iter()
            .map(|t| RawTenant {
                id: t.id,
                plan: t.plan,
                ..RawTenant::default()
            })
            .collect(),
    };
    let path = dir.join("gateway.toml");
    let text = toml::to_string(&file).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| RunError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// Read every managed pool's store back.
async fn read_back(s: &Scenario, dir: &Path, redis: Option<&str>) -> Vec<StoreReadback> {
    let mut out = Vec::new();
    for (name, u) in &s.upstreams {
        if !matches!(u.instances, crate::scenario::model::Instances::Managed(_)) {
            continue;
        }
        let spec = mock_backends::StoreSpec::parse(&bringup::store_arg(u, dir, redis));
        let (orders, error) = match mock_backends::export_orders(&spec).await {
            Ok(o) => (Some(o), None),
            Err(e) => (None, Some(e.to_string())),
        };
        out.push(StoreReadback {
            pool: name.clone(),
            orders,
            error,
        });
    }
    out
}
