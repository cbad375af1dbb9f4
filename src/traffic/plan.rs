//! The load plan: the scenario's traffic resolved into what workers execute,
//! shared read-only by every worker thread ([`LoadPlan`]).

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metrics::{BucketModel, Layout, PhaseLayout};
use crate::scenario::{
    Arrivals, Auth, DEFAULT_MAX_STREAMS, Executor, HttpProtocol, Scenario, Stage, Tenant,
    TrafficPhase,
};

use super::TrafficError;
use super::client::Target;
use super::hyper_client::ClientKind;
use super::request::{PreparedClass, Stream, request_rng};
use super::schedule::{RateProfile, max_vus, pick};
use super::shard::Shard;
use super::tokens::Minter;

/// What the load engine needs from a scenario.
#[derive(Debug, Clone)]
pub struct TrafficPlan {
    pub phases: Vec<TrafficPhase>,
    pub tenants: Vec<Tenant>,
    /// The gateway's auth settings, to mint tokens with; `None` = send none.
    pub auth: Option<Auth>,
    /// Seeds arrivals, tenant/class draws and template variables.
    pub seed: u64,
    /// When the run clock reads zero: phase starts are offsets from it.
    pub run_start: Instant,
}

impl TrafficPlan {
    /// The traffic part of `scenario`, with the seed the run uses.
    pub fn from_scenario(scenario: &Scenario, seed: u64, run_start: Instant) -> Self {
        TrafficPlan {
            phases: super::url::with_base_path(scenario.traffic.clone(), external_url(scenario)),
            tenants: scenario.tenants.clone(),
            auth: scenario.gateway.auth.clone(),
            seed,
            run_start,
        }
    }

    /// When the last phase ends, on the run clock.
    pub fn end(&self) -> Duration {
        self.phases
            .iter()
            .map(TrafficPhase::end)
            .max()
            .unwrap_or_default()
    }
}

/// The `[gateway] url` of a gateway ninefold does not start.
fn external_url(scenario: &Scenario) -> Option<&str> {
    match &scenario.gateway.target {
        crate::scenario::model::GatewayTarget::External { url } => Some(url),
        crate::scenario::model::GatewayTarget::Bundled { .. }
        | crate::scenario::model::GatewayTarget::Command { .. } => None,
    }
}

/// Knobs of the engine itself (not of the scenario).
#[derive(Debug, Clone)]
pub struct TrafficOptions {
    /// Worker threads (each a current-thread runtime); `None` = one per core.
    pub workers: Option<NonZeroUsize>,
    /// Show a progress line on stderr (live on a terminal, every 5 s otherwise).
    pub progress: bool,
    /// How far the gateway's clock may differ from our send instant before a
    /// throttle disagreement counts against it.
    pub throttle_tolerance: Duration,
    /// Stop each phase after this many requests (all workers together), or at
    /// its end, whichever comes first (`attack --requests`, like `oha -n`).
    pub max_requests: Option<NonZeroU64>,
    /// This process's share of the load (default: the whole run).
    pub shard: Shard,
    /// Which HTTP client sends the load (`--client`; default: ninefold's own).
    pub client: ClientKind,
    /// The HTTP version to speak (`[client] protocol`; default HTTP/1.1).
    pub protocol: crate::scenario::HttpProtocol,
    /// Publish what the run has measured so far here, a few times a second
    /// (the dashboard, the exporters and the abort rule read it).
    pub live: Option<super::live::LiveWatch>,
    /// Tenants whose over-admissions the live feed judges while the run goes
    /// (those an abort SLO on `throttle.over_admitted` selects).
    pub live_judged_tenants: Vec<String>,
}

impl Default for TrafficOptions {
    fn default() -> Self {
        TrafficOptions {
            workers: None,
            progress: false,
            throttle_tolerance: Duration::from_millis(10),
            max_requests: None,
            shard: Shard::default(),
            client: ClientKind::default(),
            protocol: crate::scenario::HttpProtocol::default(),
            live: None,
            live_judged_tenants: Vec::new(),
        }
    }
}

/// How a phase makes load.
#[derive(Debug, Clone)]
pub(crate) enum Load {
    Open {
        profile: RateProfile,
        poisson: bool,
    },
    Closed {
        start_vus: u32,
        stages: Vec<Stage>,
        think: Duration,
    },
}

/// One phase, resolved.
#[derive(Debug)]
pub(crate) struct PhasePlan {
    pub name: String,
    pub start: Duration,
    pub duration: Duration,
    pub timeout: Duration,
    pub retries: u32,
    pub load: Load,
    pub classes: Vec<PreparedClass>,
    /// Cumulative class weights.
    pub class_weights: Vec<f64>,
    /// Global tenant indices and their cumulative weights (empty = anonymous).
    pub tenants: Vec<usize>,
    pub tenant_weights: Vec<f64>,
    pub connections: usize,
    pub max_in_flight: usize,
    /// Workers of this process that take part: min(workers, connections).
    pub workers: usize,
    /// HTTP/2: the stream cap per connection (`None`: HTTP/1.1).
    pub h2_streams: Option<usize>,
    /// This process's share of the run.
    pub shard: Shard,
    /// `flow = true`: a job is a flow, every class in order (see [`PhasePlan::steps`]).
    pub flow: bool,
    /// Flow phases: how many values the steps extract (the flow's variable slots).
    pub flow_slots: usize,
}

impl PhasePlan {
    /// The run-wide index of local worker `local` (its first sequence number).
    pub fn global_worker(&self, local: usize) -> usize {
        self.shard.global_worker(local)
    }

    /// Distance between one worker's consecutive sequence numbers (and VU ids).
    pub fn stride(&self) -> usize {
        self.shard.stride(self.workers)
    }

    /// The requests one job sends at most: a flow's steps, else one.
    pub fn steps(&self) -> usize {
        if self.flow { self.classes.len() } else { 1 }
    }

    /// The step number of class `class` in a job: itself in a flow, else 0.
    pub fn step_of(&self, class: usize) -> usize {
        if self.flow { class } else { 0 }
    }

    /// This worker's share of `total` (0 when it takes no part).
    pub fn share(&self, worker: usize, total: usize) -> usize {
        if worker >= self.workers {
            return 0;
        }
        total / self.workers + usize::from(worker < total % self.workers)
    }
}

/// The resolved load plan: everything the workers share (phases, tenants, the
/// throttle models, the targets, the engine options).
#[derive(Debug)]
pub(crate) struct LoadPlan {
    pub run_start: Instant,
    pub seed: u64,
    pub phases: Vec<PhasePlan>,
    pub tenants: Vec<Tenant>,
    pub layout: Arc<Layout>,
    /// The throttle model's bucket per tenant, fed in send order by every worker.
    pub models: Vec<Mutex<BucketModel>>,
    pub minter: Option<Arc<Minter>>,
    /// The OAuth2 tenants' tokens (`None`: no tenant uses OAuth2).
    pub oauth: Option<Arc<super::oauth::OAuthTokens>>,
    /// Values no recorded answer may show (see [`crate::scenario::secrets_of`]).
    pub secrets: Vec<String>,
    pub targets: Vec<Target>,
    pub workers: usize,
    /// This process's share of the run.
    pub shard: Shard,
    pub tolerance_s: f64,
    /// When workers give up on answers still outstanding.
    pub drain_deadline: Instant,
    /// Requests per phase after which it stops (`u64::MAX`: no limit).
    pub max_requests: u64,
    /// Which HTTP client sends the load.
    pub client: ClientKind,
    /// The live feed's sending end, when someone watches the run.
    pub live: Option<crate::metrics::live::LiveSender>,
}

impl LoadPlan {
    /// The class and tenant of request `seq` of phase `p`: a pure function of
    /// (seed, p, seq), whichever worker or shard draws it and whenever.
    pub fn pick(&self, p: usize, seq: u64) -> (usize, Option<usize>) {
        let phase = &self.phases[p];
        // A flow sends every class, from the first: only its tenant is drawn.
        let classes = if phase.flow {
            1
        } else {
            phase.class_weights.len()
        };
        if classes <= 1 && phase.tenants.len() <= 1 {
            // Nothing to draw (`pick` of one draws nothing either).
            return (0, phase.tenants.first().copied());
        }
        let mut rng = request_rng(self.seed, p, seq, Stream::Pick);
        let class = if phase.flow {
            0
        } else {
            pick(&phase.class_weights, &mut rng)
        };
        let tenant = (!phase.tenants.is_empty())
            .then(|| phase.tenants[pick(&phase.tenant_weights, &mut rng)]);
        (class, tenant)
    }
}

fn cumulative(weights: impl Iterator<Item = f64>) -> Vec<f64> {
    weights
        .scan(0.0, |acc, w| {
            *acc += w.max(0.0);
            Some(*acc)
        })
        .collect()
}

impl LoadPlan {
    pub fn new(
        plan: TrafficPlan,
        targets: Vec<Target>,
        options: &TrafficOptions,
    ) -> Result<Self, TrafficError> {
        if targets.is_empty() {
            return Err(TrafficError::NoTargets);
        }
        let workers = options
            .workers
            .or_else(|| std::thread::available_parallelism().ok())
            .map_or(1, NonZeroUsize::get);
        let needs_minter = plan.phases.iter().any(|p| {
            p.requests.iter().any(|r| {
                r.token.is_hostile()
                    || plan
                        .tenants
                        .iter()
                        .any(|t| t.token.is_none() && p.tenants.iter().any(|(id, _)| *id == t.id))
            })
        });
        let minter = match &plan.auth {
            Some(auth) if needs_minter => Some(Arc::new(Minter::new(auth)?)),
            _ => None,
        };
        let mut phases = Vec::with_capacity(plan.phases.len());
        let mut drain = Duration::ZERO;
        for phase in &plan.phases {
            phases.push(resolve(phase, &plan.tenants, workers, options)?);
            drain = drain.max(phase.end() + phase.timeout * (phase.client_retries + 1));
        }
        let layout = Arc::new(Layout {
            phases: phases
                .iter()
                .zip(&plan.phases)
                .map(|(p, raw)| PhaseLayout {
                    name: p.name.clone(),
                    open_loop: matches!(p.load, Load::Open { .. }),
                    classes: raw
                        .requests
                        .iter()
                        .map(|r| (r.method.to_string(), r.path.to_string()))
                        .collect(),
                    flow: p.flow,
                })
                .collect(),
            tenants: plan.tenants.iter().map(|t| t.id.clone()).collect(),
        });
        Ok(LoadPlan {
            run_start: plan.run_start,
            seed: plan.seed,
            models: plan
                .tenants
                .iter()
                .map(|t| {
                    Mutex::new(BucketModel::for_shard(
                        t.plan,
                        options.shard.index,
                        options.shard.count,
                    ))
                })
                .collect(),
            phases,
            oauth: super::oauth::OAuthTokens::new(&plan.tenants),
            secrets: crate::scenario::secrets_of(&plan.tenants, &plan.phases, plan.auth.as_ref()),
            tenants: plan.tenants,
            layout,
            minter,
            targets,
            workers,
            shard: options.shard,
            tolerance_s: options.throttle_tolerance.as_secs_f64(),
            drain_deadline: plan.run_start + drain + Duration::from_secs(1),
            max_requests: options.max_requests.map_or(u64::MAX, NonZeroU64::get),
            live: None,
            client: options.client,
        })
    }
}

/// The phase's executor as a schedule: open loop at a rate profile, or closed-loop users.
fn load(phase: &TrafficPhase) -> Load {
    match &phase.executor {
        Executor::ConstantArrivalRate { rate, arrivals } => Load::Open {
            profile: RateProfile::constant(*rate, phase.duration),
            poisson: *arrivals == Arrivals::Poisson,
        },
        Executor::RampingArrivalRate {
            start_rate,
            stages,
            arrivals,
        } => Load::Open {
            profile: RateProfile::ramp(*start_rate, stages, phase.duration),
            poisson: *arrivals == Arrivals::Poisson,
        },
        Executor::ConstantVus { vus, think_time } => Load::Closed {
            start_vus: vus.get(),
            stages: Vec::new(),
            think: *think_time,
        },
        Executor::RampingVus {
            start_vus,
            stages,
            think_time,
        } => Load::Closed {
            start_vus: *start_vus,
            stages: stages.clone(),
            think: *think_time,
        },
    }
}

/// The index in `tenants` of each tenant the phase names.
fn tenant_ids(phase: &TrafficPhase, tenants: &[Tenant]) -> Result<Vec<usize>, TrafficError> {
    let mut ids = Vec::with_capacity(phase.tenants.len());
    for (id, _) in &phase.tenants {
        let index = tenants.iter().position(|t| t.id == *id).ok_or_else(|| {
            TrafficError::UnknownTenant {
                phase: phase.name.clone(),
                tenant: id.clone(),
            }
        })?;
        ids.push(index);
    }
    Ok(ids)
}

fn resolve(
    phase: &TrafficPhase,
    tenants: &[Tenant],
    workers: usize,
    options: &TrafficOptions,
) -> Result<PhasePlan, TrafficError> {
    let shard = options.shard;
    let load = load(phase);
    if phase.requests.is_empty() {
        return Err(TrafficError::NoRequests(phase.name.clone()));
    }
    let tenant_ids = tenant_ids(phase, tenants)?;
    // A shard opens its share of the connections and of the in-flight cap
    // (at least one each, so that every shard takes part).
    let connections = shard.share(u64::from(phase.connections.get())).max(1) as usize;
    let mut max_in_flight = shard.share(u64::from(phase.max_in_flight.get())).max(1) as usize;
    if let Load::Closed {
        start_vus, stages, ..
    } = &load
    {
        // A closed loop never has more in flight than users: no drops by construction.
        max_in_flight = max_in_flight.max(max_vus(*start_vus, stages) as usize);
    }
    // The phase's own protocol, else the scenario's `[client] protocol`.
    let h2_streams = (phase.protocol.unwrap_or(options.protocol) == HttpProtocol::H2).then(|| {
        phase
            .max_streams
            .map_or(DEFAULT_MAX_STREAMS, NonZeroU32::get) as usize
    });
    Ok(PhasePlan {
        h2_streams,
        name: phase.name.clone(),
        start: phase.start,
        duration: phase.duration,
        timeout: phase.timeout,
        retries: phase.client_retries,
        load,
        classes: phase
            .requests
            .iter()
            .map(|r| PreparedClass::new(r, &phase.expect).with_tenants(tenants))
            .collect(),
        class_weights: cumulative(phase.requests.iter().map(|r| f64::from(r.weight.get()))),
        tenants: tenant_ids,
        tenant_weights: cumulative(phase.tenants.iter().map(|(_, w)| *w)),
        connections,
        max_in_flight,
        workers: workers.min(connections).max(1),
        shard,
        flow: phase.flow,
        flow_slots: phase.flow_variables().len(),
    })
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::num::NonZeroU32;

    use http::{HeaderName, HeaderValue, Method};

    use super::*;
    use crate::scenario::template::Template;
    use crate::scenario::{Plan, RequestTemplate, TokenKind};
    use crate::traffic::request::idempotency_key;

    fn class(method: Method, path: &str, body: Option<&str>, weight: u32) -> RequestTemplate {
        RequestTemplate {
            check: None,
            extract: Vec::new(),
            method,
            path: Template::parse(path).unwrap(),
            headers: vec![(
                HeaderName::from_static("x-trace"),
                Template::parse("{uuid}-{seq}").unwrap(),
            )],
            body: body.map(|b| Template::parse(b).unwrap()),
            idempotency_key: body.is_some(),
            weight: NonZeroU32::new(weight).unwrap(),
            expect: Vec::new(),
            token: TokenKind::Valid,
            integrity: None,
        }
    }

    fn phase(name: &str) -> TrafficPhase {
        TrafficPhase {
            flow: false,
            name: name.into(),
            start: Duration::ZERO,
            duration: Duration::from_secs(1),
            executor: Executor::ConstantArrivalRate {
                rate: 100.0,
                arrivals: Arrivals::Poisson,
            },
            tenants: vec![("a".into(), 1.0), ("b".into(), 2.0), ("c".into(), 0.5)],
            requests: vec![
                class(Method::GET, "/t/{tenant}/items/{rand:1..1000000}", None, 3),
                class(
                    Method::POST,
                    "/orders",
                    Some(r#"{"sku": {rand:1..99999}, "id": "{uuid}"}"#),
                    1,
                ),
            ],
            expect: Vec::new(),
            timeout: Duration::from_secs(1),
            connections: NonZeroU32::new(8).unwrap(),
            max_in_flight: NonZeroU32::new(100).unwrap(),
            client_retries: 0,
            protocol: None,
            max_streams: None,
        }
    }

    fn load_plan(seed: u64, workers: usize, shard: Shard) -> LoadPlan {
        let tenant = |id: &str| Tenant {
            id: id.into(),
            plan: Plan {
                rate: 10.0,
                burst: NonZeroU32::new(10).unwrap(),
                quota: None,
            },
            token: None,
            credentials: Default::default(),
        };
        let plan = TrafficPlan {
            phases: vec![phase("one"), phase("two")],
            tenants: vec![tenant("a"), tenant("b"), tenant("c")],
            auth: None,
            seed,
            run_start: Instant::now(),
        };
        let options = TrafficOptions {
            workers: NonZeroUsize::new(workers),
            shard,
            ..TrafficOptions::default()
        };
        let target = Target::new(SocketAddr::from(([127, 0, 0, 1], 9)));
        LoadPlan::new(plan, vec![target], &options).unwrap()
    }

    /// Request `seq` of phase `p`, rendered whole, as a worker renders it.
    fn render(s: &LoadPlan, p: usize, seq: u64) -> Vec<u8> {
        let (c, tenant) = s.pick(p, seq);
        let class = &s.phases[p].classes[c];
        let key = class
            .idempotency_key
            .then(|| idempotency_key(s.seed, p, seq));
        let mut rng = request_rng(s.seed, p, seq, Stream::Render);
        let mut out = Vec::new();
        class
            .build(
                &mut out,
                &mut String::new(),
                &mut rng,
                seq,
                tenant.map(|t| (t, s.tenants[t].id.as_str())),
                &HeaderValue::from_static("h"),
                None,
                key.as_ref(),
                &[],
            )
            .unwrap();
        out
    }

    #[test]
    fn request_k_renders_as_a_pure_function_of_seed_phase_and_k() {
        let whole = load_plan(18, 1, Shard::default());
        let expected: Vec<Vec<Vec<u8>>> = (0..2)
            .map(|p| (0..300).map(|k| render(&whole, p, k)).collect())
            .collect();
        // Other worker counts and shards, drawing in reverse and repeatedly (a
        // retry): the same bytes for every (phase, k).
        for (workers, shard) in [(4, Shard::default()), (3, Shard::new(1, 3).unwrap())] {
            let other = load_plan(18, workers, shard);
            for p in (0..2).rev() {
                for k in (0..300).rev() {
                    assert_eq!(render(&other, p, k), expected[p][k as usize], "{p}/{k}");
                    assert_eq!(render(&other, p, k), expected[p][k as usize], "{p}/{k}");
                }
            }
        }
        // The draws do vary: with k, with the phase and with the seed.
        let distinct = |v: &[Vec<u8>]| v.iter().collect::<std::collections::HashSet<_>>().len();
        assert_eq!(distinct(&expected[0]), 300);
        let classes: std::collections::HashSet<_> = (0..300).map(|k| whole.pick(0, k)).collect();
        assert_eq!(classes.len(), 6, "every class × tenant pair occurs");
        let reseeded = load_plan(19, 1, Shard::default());
        let differ = |a: &LoadPlan, pa: usize, b: &LoadPlan, pb: usize| {
            (0..300)
                .filter(|&k| render(a, pa, k) != render(b, pb, k))
                .count()
        };
        assert_eq!(differ(&whole, 0, &reseeded, 0), 300);
        assert!(differ(&whole, 0, &whole, 1) > 250);
    }
}
