//! Carry out a [`RunPlan`]: bring the topology up behind fault-proxy links,
//! drive traffic while the fault timeline plays, read the store back, tear
//! everything down and leave the raw results in the run folder. A scenario
//! that shares state through `store = "redis"` gets a managed Redis first.

use std::collections::HashMap;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::driver::Driver;
use super::links::Links;
use super::plan::RunPlan;
use crate::faults::timeline::{self, FaultEvent, Instance};
use crate::faults::{FaultProxy, FaultProxyConfig, ToxiproxyClient};
use crate::metrics::Recording;
use crate::scenario::model::{
    FaultProxy as FaultProxyChoice, GatewayTarget, LatencyModel, Scenario, StoreSpec, Upstream,
};
use crate::scenario::raw::RawGatewayFile;
use crate::scenario::unparse;
use crate::topology::child::ReadySignal;
use crate::topology::supervisor::{LifecycleEvent, SlotSpec, Supervisor};
use crate::traffic::{Shard, Target, TrafficOptions, TrafficPlan, run_traffic};

/// How long a child may take to print its ready line.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

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
}

/// A store read back after the run, for the integrity check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreReadback {
    pub pool: String,
    /// `None` when the store could not be read (then integrity is unknown).
    pub orders: Option<Vec<mock_backends::ExportedOrder>>,
    pub error: Option<String>,
}

/// Everything a run measured: the input to analysis and reports.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResults {
    pub scenario: String,
    pub seed: u64,
    pub started_at: String,
    /// Stopped early (Ctrl-C): what was measured, marked partial.
    pub partial: bool,
    pub recording: Recording,
    pub faults: Vec<FaultEvent>,
    pub lifecycle: Vec<LifecycleEvent>,
    pub stores: Vec<StoreReadback>,
    /// Counters scraped from every gateway instance's `/metrics` at the end
    /// (summed over instances), e.g. `gateway_cache_hits_total`.
    #[serde(default)]
    pub gateway_counters: std::collections::BTreeMap<String, f64>,
    /// `--time-scale`: every time in the scenario was multiplied by this
    /// (1.0 = as written). Reports say when a run was scaled.
    #[serde(default = "one")]
    pub time_scale: f64,
    /// Which share of the load this process generated (`--shard I/N`);
    /// `None` for a whole run and for a merge of shards.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shard: Option<Shard>,
    /// Requests with a hostile token that reached a managed backend anyway
    /// (counted by the backends themselves); `None` when that cannot be known
    /// exactly (a backend ended during the run, or did not answer).
    #[serde(default)]
    pub hostile_backend_requests: Option<u64>,
    /// CPU cores of the machine that ran the load (`None` in results written
    /// before this was recorded: then the re-rendering machine's count).
    #[serde(default)]
    pub host_cores: Option<u32>,
}

fn one() -> f64 {
    1.0
}

/// Run `plan`. `stop` ends the traffic early (Ctrl-C); teardown still happens.
pub async fn execute(
    plan: &RunPlan,
    options: &RunOptions,
    stop: CancellationToken,
) -> Result<RunResults, RunError> {
    let dir = &plan.out_dir;
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).map_err(|source| RunError::Folder {
        path: logs.clone(),
        source,
    })?;
    let s = &plan.scenario;
    let links = Arc::new(match &s.fault_proxy {
        FaultProxyChoice::Embedded => Links::Embedded(FaultProxy::new(FaultProxyConfig {
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
        gateway_counters,
        hostile_backend_requests,
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
        gateway_counters,
        time_scale: 1.0,
        shard: (!options.shard.is_whole()).then_some(options.shard),
        hostile_backend_requests,
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
    gateway_counters: std::collections::BTreeMap<String, f64>,
    /// The managed Redis, when the scenario asked for one.
    redis_url: Option<String>,
    hostile_backend_requests: Option<u64>,
}

async fn run_inner(
    plan: &RunPlan,
    options: &RunOptions,
    stop: CancellationToken,
    links: &Arc<Links>,
    supervisor: &Supervisor,
    admin: &Mutex<HashMap<String, SocketAddr>>,
) -> Result<Inner, RunError> {
    let s = &plan.scenario;
    let dir = &plan.out_dir;
    let config_dir = dir.join("config");
    std::fs::create_dir_all(&config_dir).map_err(|source| RunError::Folder {
        path: config_dir.clone(),
        source,
    })?;

    // Links follow replaced instances to their new ports.
    let follow = Arc::clone(links);
    supervisor.on_replaced(Arc::new(move |name, ready| {
        let upstream = ready.addr.to_string();
        let links = Arc::clone(&follow);
        tokio::spawn(async move {
            let _ = links.set_upstream(&name, &upstream).await;
        });
    }));

    // 0. Redis, when the scenario shares limits or a store through one it did not name.
    let redis_url = if super::redis::needed(s) {
        let url = super::redis::start(supervisor, &dir.join("logs"), READY_TIMEOUT).await?;
        let pid = supervisor.child(super::redis::REDIS).map_or(0, |c| c.pid);
        eprintln!("ninefold: redis ready on {url} (pid {pid})");
        Some(url)
    } else {
        None
    };

    // 1. Backends, all at once; each behind its link.
    let mut link_addrs: HashMap<String, SocketAddr> = HashMap::new();
    let mut starts = Vec::new();
    for p in &plan.processes {
        if let Instance::Backend { pool, index } = &p.instance {
            let u = &s.upstreams[pool];
            let behaviour = write_behaviour(&config_dir, u)?;
            let store = store_arg(u, dir, redis_url.as_deref());
            let name = p.instance.name();
            let seed = plan.seed
                ^ (0xA076_1D64_78BD_642F_u64.wrapping_mul(*index as u64 + 1))
                ^ fxhash(pool);
            let args: Vec<OsString> = vec![
                "backend".into(),
                "--listen".into(),
                "127.0.0.1:0".into(),
                "--admin-listen".into(),
                "127.0.0.1:0".into(),
                "--instance".into(),
                name.clone().into(),
                "--store".into(),
                store.into(),
                "--config".into(),
                behaviour.into_os_string(),
                "--seed".into(),
                seed.to_string().into(),
            ];
            starts.push(supervisor.start(SlotSpec {
                name: name.clone(),
                args: Arc::new(move || args.clone()),
                program: None,
                log: dir.join("logs").join(format!("{name}.log")),
                ready_timeout: READY_TIMEOUT,
                replace_after: u.restart_after,
                ready: ReadySignal::Line,
            }));
        }
    }
    for ready in futures::future::join_all(starts).await {
        let ready = ready.map_err(|e| RunError::Start(e.to_string()))?;
        let name = ready.instance.clone().unwrap_or_default();
        announce(supervisor, &name, ready.addr);
        if let Some(a) = ready.admin {
            admin
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(name.clone(), a);
        }
        let addr = links
            .create(&name, &ready.addr.to_string())
            .await
            .map_err(RunError::Links)?;
        link_addrs.insert(name, addr);
    }
    for (instance, target) in &plan.external_targets {
        let addr = links
            .create(&instance.name(), target)
            .await
            .map_err(RunError::Links)?;
        link_addrs.insert(instance.name(), addr);
    }
    for l in &s.links {
        links
            .create_at(&l.name, l.listen, &l.upstream)
            .await
            .map_err(RunError::Links)?;
    }

    // 2. Gateways, configured with the backends' links as targets.
    let mut targets = Vec::new();
    let mut gateway_admins = Vec::new();
    match &s.gateway.target {
        GatewayTarget::Bundled { .. } => {
            let config = write_gateway_config(&config_dir, s, &link_addrs, redis_url.as_deref())?;
            let mut starts = Vec::new();
            let mut names = Vec::new();
            for p in &plan.processes {
                if let Instance::Gateway { .. } = p.instance {
                    let name = p.instance.name();
                    let args: Vec<OsString> = vec![
                        "gateway".into(),
                        "--config".into(),
                        config.clone().into_os_string(),
                        "--listen".into(),
                        "127.0.0.1:0".into(),
                        "--admin-listen".into(),
                        "127.0.0.1:0".into(),
                    ];
                    names.push(name.clone());
                    starts.push(supervisor.start(SlotSpec {
                        name: name.clone(),
                        args: Arc::new(move || args.clone()),
                        program: None,
                        log: dir.join("logs").join(format!("{name}.log")),
                        ready_timeout: READY_TIMEOUT,
                        replace_after: None,
                        ready: ReadySignal::Line,
                    }));
                }
            }
            for (name, ready) in names
                .into_iter()
                .zip(futures::future::join_all(starts).await)
            {
                let ready = ready.map_err(|e| RunError::Start(e.to_string()))?;
                announce(supervisor, &name, ready.addr);
                gateway_admins.extend(ready.admin);
                let addr = links
                    .create(&name, &ready.addr.to_string())
                    .await
                    .map_err(RunError::Links)?;
                targets.push(Target::new(addr));
            }
        }
        GatewayTarget::External { url } => targets.push(external_target(url, &s.client).await?),
    }

    // 3. Traffic and faults on one clock.
    let run_start = tokio::time::Instant::now();
    supervisor.set_run_start(run_start);
    let traffic_plan = TrafficPlan::from_scenario(s, plan.seed, run_start.into_std());
    let traffic_options = TrafficOptions {
        workers: options.workers,
        progress: options.progress,
        shard: options.shard,
        client: options.client,
        protocol: s.client.protocol,
        ..TrafficOptions::default()
    };
    let faults_cancel = CancellationToken::new();
    let driver = Driver::new(s, supervisor, links, admin);
    // A fault is one event in the system under test: shard 0 plays the
    // timeline, the other shards only send their share of the load.
    let steps: &[timeline::Step] = if options.shard.drives_faults() {
        &plan.steps
    } else {
        &[]
    };
    let faults = timeline::play(steps, &driver, run_start, &faults_cancel);
    let traffic = async {
        let r = run_traffic(traffic_plan, targets, traffic_options, stop.clone()).await;
        faults_cancel.cancel();
        r
    };
    let (recording, events) = tokio::join!(traffic, faults);
    let counters = super::scrape::scrape_counters(&driver.http, &gateway_admins).await;
    let hostile_backend_requests =
        super::scrape::hostile_backend_requests(&driver.http, admin, supervisor).await;
    Ok(Inner {
        recording: recording?,
        faults: events,
        partial: stop.is_cancelled(),
        gateway_counters: counters,
        redis_url,
        hostile_backend_requests,
    })
}

/// The backend's behaviour file for its pool.
fn write_behaviour(dir: &Path, u: &Upstream) -> Result<PathBuf, RunError> {
    use mock_backends::{Behaviour, ErrorModel, LatencyModel as M};
    let latency = match &u.latency {
        LatencyModel::None => M::fixed(Duration::ZERO),
        LatencyModel::Fixed(d) => M::fixed(*d),
        LatencyModel::Uniform { min, max } => M::uniform(*min, *max),
        LatencyModel::LogNormal { median, p99 } => M::lognormal(*median, *p99),
    };
    let behaviour = Behaviour {
        latency,
        errors: ErrorModel::status(u.errors.rate, u.errors.status),
        payload_bytes: u.payload_bytes as usize,
        serverless: u
            .serverless
            .as_ref()
            .map(|sl| mock_backends::config::Serverless {
                cold_start: M::fixed(sl.cold_start),
                keep_warm: mock_backends::Dur(sl.idle_after),
                concurrency: sl.concurrency.get() as usize,
                over_limit_status: sl.over_limit_status,
            }),
        ..Behaviour::default()
    };
    let path = dir.join(format!("backend-{}.toml", u.name));
    let text = toml::to_string(&behaviour).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| RunError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

/// The `--store` argument of a pool (`redis` is the managed Redis, if any).
fn store_arg(u: &Upstream, dir: &Path, redis: Option<&str>) -> String {
    match &u.store {
        StoreSpec::Sqlite(Some(p)) => p.display().to_string(),
        StoreSpec::Sqlite(None) => dir
            .join(format!("store-{}.sqlite", u.name))
            .display()
            .to_string(),
        StoreSpec::Redis(Some(url)) => url.clone(),
        // The Redis ninefold started (`redis::needed` made sure of one).
        StoreSpec::Redis(None) => redis.map_or_else(
            || {
                dir.join(format!("store-{}.sqlite", u.name))
                    .display()
                    .to_string()
            },
            str::to_owned,
        ),
    }
}

/// The gateway's configuration file: the scenario's sections, pools as targets (the links).
fn write_gateway_config(
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
        tenants: raw.tenants,
    };
    let path = dir.join("gateway.toml");
    let text = toml::to_string(&file).unwrap_or_default();
    std::fs::write(&path, text).map_err(|source| RunError::Write {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

async fn external_target(url: &str, client: &crate::scenario::Client) -> Result<Target, RunError> {
    // The first address, as before; TLS for https:// (crate::traffic::url).
    crate::traffic::url::targets(url, &client.tls, client.protocol)
        .await
        .map_err(|e| RunError::Start(e.to_string()))?
        .into_iter()
        .next()
        .ok_or_else(|| RunError::Start(format!("cannot resolve the gateway address in {url}")))
}

/// Read every managed pool's store back.
async fn read_back(s: &Scenario, dir: &Path, redis: Option<&str>) -> Vec<StoreReadback> {
    let mut out = Vec::new();
    for (name, u) in &s.upstreams {
        if !matches!(u.instances, crate::scenario::model::Instances::Managed(_)) {
            continue;
        }
        let spec = mock_backends::StoreSpec::parse(&store_arg(u, dir, redis));
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

/// One stderr line per started process, so a person (or a test) can find it.
fn announce(supervisor: &Supervisor, name: &str, addr: SocketAddr) {
    let pid = supervisor.child(name).map_or(0, |c| c.pid);
    eprintln!("ninefold: {name} ready on {addr} (pid {pid})");
}

fn fxhash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    })
}
