//! Bring a run's topology up: the managed Redis (when one is needed), the
//! backends and then the gateways, each started by the supervisor, announced on
//! stderr and put behind a fault-proxy link of its name.
//!
//! ```text
//!  redis? ─► backends (all at once) ─► links ─► gateways (targets: the links) ─► links
//! ```

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::links::Links;
use super::plan::RunPlan;
use super::runner::{RunError, RunOptions, write_gateway_config};
use crate::faults::timeline::Instance;
use crate::scenario::model::{
    GatewayTarget, Instances, LatencyModel, ProcessCommand, StoreSpec, Upstream,
};
use crate::topology::child::ReadySignal;
use crate::topology::ready::ReadyLine;
use crate::topology::supervisor::{SlotSpec, Supervisor};
use crate::traffic::Target;

/// How long a child may take to print its ready line.
pub(super) const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// What bringing the topology up works with.
pub(super) struct Bringup<'a> {
    pub plan: &'a RunPlan,
    pub options: &'a RunOptions,
    pub supervisor: &'a Supervisor,
    pub links: &'a Arc<Links>,
    /// Each managed backend's admin address, filled as they come up.
    pub admin: &'a Mutex<HashMap<String, SocketAddr>>,
    /// Where the children's configuration files go.
    pub config_dir: PathBuf,
    /// The managed Redis, when the scenario asked for one.
    pub redis_url: Option<String>,
}

/// Where traffic goes, and the gateways' admin listeners (for `/metrics`).
#[derive(Default)]
pub(super) struct Gateways {
    pub targets: Vec<Target>,
    pub admins: Vec<SocketAddr>,
    /// The gateways of ninefold's whose pools are watched during the run.
    pub pools: super::pools::Watched,
}

/// Links follow replaced instances to their new ports.
pub(super) fn follow_replacements(supervisor: &Supervisor, links: &Arc<Links>) {
    let follow = Arc::clone(links);
    supervisor.on_replaced(Arc::new(move |name, ready| {
        let upstream = ready.addr.to_string();
        let links = Arc::clone(&follow);
        tokio::spawn(async move {
            let _ = links.set_upstream(&name, &upstream).await;
        });
    }));
}

/// A Redis, when the scenario shares limits or a store through one it did not name.
pub(super) async fn start_redis(
    plan: &RunPlan,
    supervisor: &Supervisor,
) -> Result<Option<String>, RunError> {
    if !super::redis::needed(&plan.scenario) {
        return Ok(None);
    }
    let logs = plan.out_dir.join("logs");
    let url = super::redis::start(supervisor, &logs, READY_TIMEOUT).await?;
    let pid = supervisor.child(super::redis::REDIS).map_or(0, |c| c.pid);
    eprintln!("ninefold: redis ready on {url} (pid {pid})");
    Ok(Some(url))
}

impl Bringup<'_> {
    /// Start every managed backend at once, each behind its link; then the
    /// links to external targets and the scenario's `[[links]]`. The link
    /// address of every backend instance, by name.
    pub async fn start_backends(&self) -> Result<HashMap<String, SocketAddr>, RunError> {
        let s = &self.plan.scenario;
        let mut slots = Vec::new();
        for p in &self.plan.processes {
            let Instance::Backend { pool, index } = &p.instance else {
                continue;
            };
            let u = &s.upstreams[pool];
            if let Instances::Command { command, .. } = &u.instances {
                let slot =
                    self.command_slot(p.instance.name(), "backend", command, u.restart_after);
                slots.push(slot.spec(None, &BTreeMap::new())?);
                continue;
            }
            let behaviour = write_behaviour(&self.config_dir, u)?;
            let store = store_arg(u, &self.plan.out_dir, self.redis_url.as_deref());
            let name = p.instance.name();
            let seed = backend_seed(self.plan.seed, pool, *index);
            let args = backend_args(&name, store, behaviour, seed);
            slots.push(self.slot(name, args, u.restart_after));
        }
        let mut link_addrs = HashMap::new();
        for (name, ready, addr) in self.start_linked(slots).await? {
            if let Some(a) = ready.admin {
                self.admin
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(name.clone(), a);
            }
            link_addrs.insert(name, addr);
        }
        for (instance, target) in &self.plan.external_targets {
            let addr = self
                .links
                .create(&instance.name(), target)
                .await
                .map_err(RunError::Links)?;
            link_addrs.insert(instance.name(), addr);
        }
        for l in &s.links {
            self.links
                .create_at(&l.name, l.listen, &l.upstream)
                .await
                .map_err(RunError::Links)?;
        }
        Ok(link_addrs)
    }

    /// Start the bundled gateways, configured with the backends' links as
    /// targets, each behind its link; or resolve the external gateway.
    pub async fn start_gateways(
        &self,
        backends: &HashMap<String, SocketAddr>,
    ) -> Result<Gateways, RunError> {
        let s = &self.plan.scenario;
        match &s.gateway.target {
            GatewayTarget::External { url } => {
                return Ok(Gateways {
                    targets: external_targets(url, &s.client).await?,
                    ..Gateways::default()
                });
            }
            GatewayTarget::Command {
                command, config, ..
            } => {
                return self
                    .start_command_gateways(command, config.as_deref(), backends)
                    .await;
            }
            GatewayTarget::Bundled { .. } => {}
        }
        let config =
            write_gateway_config(&self.config_dir, s, backends, self.redis_url.as_deref())?;
        let slots = self
            .plan
            .processes
            .iter()
            .filter(|p| matches!(p.instance, Instance::Gateway { .. }))
            .map(|p| self.slot(p.instance.name(), gateway_args(&config), None))
            .collect();
        let mut gateways = Gateways::default();
        gateways.pools.instances = backends
            .iter()
            .map(|(name, link)| (link.to_string(), name.clone()))
            .collect();
        for (name, ready, addr) in self.start_linked(slots).await? {
            gateways.admins.extend(ready.admin);
            gateways
                .pools
                .gateways
                .extend(ready.admin.map(|a| (name, a)));
            if s.gateway.tls.is_some() {
                // `[gateway.tls]`: spoken to as https://ADDR with `[client] tls`.
                let url = format!("https://{addr}");
                gateways
                    .targets
                    .extend(external_targets(&url, &s.client).await?);
            } else {
                gateways.targets.push(Target::new(addr));
            }
        }
        Ok(gateways)
    }

    /// Start the user's gateway program, each instance with its `config` rendered
    /// with the pools' link addresses; traffic goes to each instance's link.
    async fn start_command_gateways(
        &self,
        command: &ProcessCommand,
        config: Option<&Path>,
        backends: &HashMap<String, SocketAddr>,
    ) -> Result<Gateways, RunError> {
        let pools = super::commands::pool_links(&self.plan.scenario, backends);
        let mut slots = Vec::new();
        for p in &self.plan.processes {
            if matches!(p.instance, Instance::Gateway { .. }) {
                let slot = self.command_slot(p.instance.name(), "gateway", command, None);
                slots.push(slot.spec(config, &pools)?);
            }
        }
        let mut gateways = Gateways::default();
        for (_, _, addr) in self.start_linked(slots).await? {
            gateways.targets.push(Target::new(addr));
        }
        Ok(gateways)
    }

    fn command_slot<'c>(
        &'c self,
        name: String,
        role: &'c str,
        command: &'c ProcessCommand,
        replace_after: Option<Duration>,
    ) -> super::commands::CommandSlot<'c> {
        super::commands::CommandSlot {
            name,
            role,
            command,
            replace_after,
            program: self.options.program.clone(),
            out_dir: &self.plan.out_dir,
        }
    }

    /// Start `slots` all at once; each, once ready, is announced and put
    /// behind a link of its name. Its name, ready line and link address, in order.
    async fn start_linked(
        &self,
        slots: Vec<SlotSpec>,
    ) -> Result<Vec<(String, ReadyLine, SocketAddr)>, RunError> {
        let names: Vec<String> = slots.iter().map(|slot| slot.name.clone()).collect();
        let starts = slots.into_iter().map(|slot| self.supervisor.start(slot));
        let mut started = Vec::with_capacity(names.len());
        for (name, ready) in names
            .into_iter()
            .zip(futures::future::join_all(starts).await)
        {
            let ready = ready.map_err(|e| RunError::Start(e.to_string()))?;
            announce(self.supervisor, &name, ready.addr);
            let addr = self
                .links
                .create(&name, &ready.addr.to_string())
                .await
                .map_err(RunError::Links)?;
            started.push((name, ready, addr));
        }
        Ok(started)
    }

    /// A child of the run: `ninefold ARGS`, logging to `logs/NAME.log`.
    fn slot(&self, name: String, args: Vec<OsString>, replace_after: Option<Duration>) -> SlotSpec {
        SlotSpec {
            log: self.plan.out_dir.join("logs").join(format!("{name}.log")),
            name,
            args: Arc::new(move || args.clone()),
            program: self.options.program.clone(),
            ready_timeout: READY_TIMEOUT,
            replace_after,
            ready: ReadySignal::Line,
            env: Vec::new(),
            cwd: None,
        }
    }
}

/// `ninefold backend …` for one instance.
fn backend_args(name: &str, store: String, behaviour: PathBuf, seed: u64) -> Vec<OsString> {
    vec![
        "backend".into(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "127.0.0.1:0".into(),
        "--instance".into(),
        name.into(),
        "--store".into(),
        store.into(),
        "--config".into(),
        behaviour.into_os_string(),
        "--seed".into(),
        seed.to_string().into(),
    ]
}

/// `ninefold gateway …` for one instance (every instance shares the config).
fn gateway_args(config: &Path) -> Vec<OsString> {
    vec![
        "gateway".into(),
        "--config".into(),
        config.as_os_str().to_owned(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--admin-listen".into(),
        "127.0.0.1:0".into(),
    ]
}

/// Backend `index` of `pool`'s own seed, derived from the run's.
fn backend_seed(seed: u64, pool: &str, index: usize) -> u64 {
    seed ^ (0xA076_1D64_78BD_642F_u64.wrapping_mul(index as u64 + 1)) ^ fxhash(pool)
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
pub(super) fn store_arg(u: &Upstream, dir: &Path, redis: Option<&str>) -> String {
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

/// The addresses (and `Host`, and TLS for `https://`) of a gateway someone else
/// runs: every address its host resolves to (after `[client] connect_to`), as
/// [`crate::traffic::url::targets_via`] resolves it; connections go round robin.
async fn external_targets(
    url: &str,
    client: &crate::scenario::Client,
) -> Result<Vec<Target>, RunError> {
    crate::traffic::url::targets_via(
        url,
        &client.tls,
        client.protocol,
        &client.connect_to,
        client.resolve_every,
    )
    .await
    .map_err(|e| RunError::Start(e.to_string()))
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
