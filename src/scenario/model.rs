//! The validated scenario: domain types that cannot hold an invalid value.
//!
//! Built only by [`super::validate`] from the raw serde layer ([`super::raw`]).
//! Every later stage (topology, traffic, faults, analysis, report) reads these
//! types and never re-checks them: a `Duration` is a duration, a rate is
//! positive, a fault target names an instance that exists.

use std::collections::BTreeMap;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::PathBuf;
use std::time::Duration;

use http::Method;

use super::slo::Slo;
use super::template::Template;

mod check;
mod client;
mod credentials;
mod faults;
mod integrity;
pub use check::*;
pub use client::*;
pub use credentials::*;
pub use faults::*;
pub use integrity::*;

/// The gateway's own validated types, embedded as they are: a usage plan (token bucket
/// plus quota), a route, its retry policy and path rewrite, the policy for tenants
/// without a plan, the balancing policy, an active health check, passive outlier ejection.
pub use reference_gateway::config::{
    Balance, HealthConfig, OutlierConfig, Plan, Quota, QuotaPeriod, RetryConfig, Rewrite,
    RouteConfig, UnknownTenant,
};

/// One experiment: what to bring up, what traffic to send, what to break, what to promise.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    /// Length of the run on the run clock; phases and faults fall inside it.
    pub duration: Duration,
    /// `None` = pick one at random; the run records the one it used.
    pub seed: Option<u64>,
    /// Confidence for availability bounds, in (0, 1).
    pub confidence: f64,
    pub gateway: Gateway,
    /// Upstream pools by name, in name order.
    pub upstreams: BTreeMap<String, Upstream>,
    pub tenants: Vec<Tenant>,
    pub traffic: Vec<TrafficPhase>,
    pub faults: Vec<Fault>,
    pub fault_proxy: FaultProxy,
    /// Links the scenario declares itself (external mode), by name.
    pub links: Vec<Link>,
    pub slos: Vec<Slo>,
    /// How ninefold connects to the URLs it is given (`[client]`).
    pub client: Client,
}

/// Where the traffic goes: the bundled reference gateway or a user's own.
#[derive(Debug, Clone, PartialEq)]
pub enum GatewayTarget {
    /// `instances` reference-gateway processes started by ninefold.
    Bundled {
        instances: NonZeroU32,
        /// Zones assigned round-robin to the instances (may be empty).
        zones: Vec<String>,
    },
    /// An external gateway; nothing is started for it.
    External { url: String },
    /// The user's own gateway program (`[gateway] command`), `instances` of it
    /// started by ninefold in place of the reference gateway.
    Command {
        instances: NonZeroU32,
        zones: Vec<String>,
        command: ProcessCommand,
        /// The configuration template rendered per instance (`config`).
        config: Option<PathBuf>,
    },
}

impl GatewayTarget {
    /// Whether ninefold starts the gateway's processes (the reference gateway or a `command`).
    pub fn is_started(&self) -> bool {
        !matches!(self, GatewayTarget::External { .. })
    }

    /// The zones of the gateway instances ninefold starts.
    pub fn zones(&self) -> &[String] {
        match self {
            GatewayTarget::Bundled { zones, .. } | GatewayTarget::Command { zones, .. } => zones,
            GatewayTarget::External { .. } => &[],
        }
    }

    /// How many gateway instances ninefold starts.
    pub fn started_instances(&self) -> usize {
        match self {
            GatewayTarget::Bundled { instances, .. } | GatewayTarget::Command { instances, .. } => {
                instances.get() as usize
            }
            GatewayTarget::External { .. } => 0,
        }
    }
}

/// A program of the user's that ninefold starts, supervises and faults as it does
/// its own roles (`command`, with `env`, `cwd`, `ready`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessCommand {
    /// Program and arguments as written; placeholders are rendered per instance.
    pub argv: Vec<String>,
    /// Variables set for it (values rendered like the arguments).
    pub env: Vec<(String, String)>,
    /// Its working directory, absolute (default: the scenario's folder).
    pub cwd: PathBuf,
    pub ready: CommandReady,
    /// How long it may take to be ready, each time it starts.
    pub ready_timeout: Duration,
}

/// How a program of the user's says it is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CommandReady {
    /// `GET PATH` on its port answers 2xx or 3xx.
    Http(String),
    /// A line of its stdout matches this (validated) regular expression.
    Line(String),
}

/// The `[gateway]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Gateway {
    pub target: GatewayTarget,
    /// Overall request timeout inside the gateway (→ 504).
    pub request_timeout: Duration,
    pub auth: Option<Auth>,
    pub cache: Option<Cache>,
    pub rate_limit: RateLimit,
    pub routes: Vec<Route>,
    /// What the gateway does with a token whose tenant has no declared plan.
    pub unknown_tenant: UnknownTenant,
    /// Largest request body the gateway accepts (→ 413).
    pub max_body_bytes: u64,
    /// `[[gateway.api_keys]]`: with any, the gateway asks every request for one.
    pub api_keys: Vec<ApiKey>,
    /// `[gateway.tls]`: the bundled gateway's listener speaks TLS.
    pub tls: Option<reference_gateway::tls::ServerTls>,
}

/// JWT algorithms the gateway accepts (pinned per key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum JwtAlgorithm {
    HS256,
    HS384,
    HS512,
    RS256,
    PS256,
    ES256,
    EdDSA,
}

impl JwtAlgorithm {
    /// Whether the key is a shared secret (HMAC) rather than a key pair.
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HS256 | Self::HS384 | Self::HS512)
    }
}

/// Where the verification key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Shared secret (HS*): text or `{env:NAME}`, resolved at validation.
    Secret(Template),
    /// A PEM public key (RS/PS/ES/EdDSA).
    KeyFile(PathBuf),
    /// A JWKS document; the token's `kid` selects the key.
    JwksFile(PathBuf),
}

/// The `[gateway.auth]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Auth {
    pub algorithm: JwtAlgorithm,
    pub key: KeySource,
    /// Private key the harness signs tokens with, for asymmetric algorithms
    /// (HS* signs with the secret).
    pub signing_key_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    /// The claim that names the tenant (the usage key).
    pub tenant_claim: String,
    /// Clock-skew allowance for `exp` and `nbf`.
    pub leeway: Duration,
    /// Forward `Authorization` to the upstream (stripped by default).
    pub forward_authorization: bool,
    /// Scopes granted in the tokens the harness mints (`scope` claim): every
    /// scope a route requires, so valid traffic reaches every route. Derived
    /// from the routes, not a key of its own.
    pub scopes: Vec<String>,
}

/// The `[gateway.cache]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Cache {
    pub ttl: Duration,
    pub max_entries: NonZeroU64,
    /// Request headers that split cache entries.
    pub vary: Vec<String>,
}

/// Where tenant limiter state lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LimiterStore {
    /// Exact, per gateway instance.
    Local,
    /// Shared through Redis; `None` = ninefold starts one.
    Redis(Option<String>),
}

/// The `[gateway.rate_limit]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimit {
    pub store: LimiterStore,
    /// When the shared store is unreachable: admit (true) or refuse (false).
    pub fail_open: bool,
}

/// One `[[gateway.routes]]` entry: the gateway's route, plus what only the scenario
/// keeps of it (reads of the route's fields go through to [`RouteConfig`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub config: RouteConfig,
    /// The route's `retry.budget` (0.2 = 20%); the gateway keeps one budget, the
    /// largest of its routes'.
    pub retry_budget: Option<f64>,
    /// `strip_prefix = true` as written next to a `rewrite` (which wins), kept so the
    /// scenario written back says what the user wrote.
    pub strip_prefix_with_rewrite: bool,
}

impl std::ops::Deref for Route {
    type Target = RouteConfig;
    fn deref(&self) -> &RouteConfig {
        &self.config
    }
}

impl std::ops::DerefMut for Route {
    fn deref_mut(&mut self) -> &mut RouteConfig {
        &mut self.config
    }
}

/// How a pool's instances come to exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instances {
    /// Mock backends started by ninefold.
    Managed(NonZeroU32),
    /// Addresses of instances someone else runs (`host:port`).
    Targets(Vec<String>),
    /// The user's own program (`command`), `count` instances started by ninefold.
    Command {
        count: NonZeroU32,
        command: ProcessCommand,
    },
}

impl Instances {
    /// How many instances the pool has.
    pub fn count(&self) -> usize {
        match self {
            Instances::Managed(n) | Instances::Command { count: n, .. } => n.get() as usize,
            Instances::Targets(t) => t.len(),
        }
    }

    /// Whether ninefold starts (and can signal and replace) the instances.
    pub fn is_started(&self) -> bool {
        !matches!(self, Instances::Targets(_))
    }

    /// The key that sizes the pool, for messages: `instances` or `targets`.
    pub fn key(&self) -> &'static str {
        match self {
            Instances::Managed(_) | Instances::Command { .. } => "instances",
            Instances::Targets(_) => "targets",
        }
    }
}

/// Response-latency model of a mock backend.
#[derive(Debug, Clone, PartialEq)]
pub enum LatencyModel {
    /// No added latency.
    None,
    Fixed(Duration),
    Uniform {
        min: Duration,
        max: Duration,
    },
    /// Lognormal fitted to a median and a p99 (p99 ≥ median).
    LogNormal {
        median: Duration,
        p99: Duration,
    },
}

/// Error-injection model of a mock backend.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorModel {
    /// Share of requests answered with `status`, in [0, 1].
    pub rate: f64,
    pub status: u16,
}

/// The pool's shared store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// SQLite file; `None` = a file in the run folder.
    Sqlite(Option<PathBuf>),
    /// `redis://…`; `None` = ninefold starts one.
    Redis(Option<String>),
}

/// Serverless behaviour (the seed's Lambda pattern).
#[derive(Debug, Clone, PartialEq)]
pub struct Serverless {
    pub cold_start: Duration,
    pub idle_after: Duration,
    pub concurrency: NonZeroU32,
    /// Status beyond the concurrency limit (429 or 503).
    pub over_limit_status: u16,
}

/// One `[upstreams.NAME]` pool.
#[derive(Debug, Clone, PartialEq)]
pub struct Upstream {
    pub name: String,
    pub instances: Instances,
    /// Zones assigned round-robin: instance i is in `zones[i % len]`.
    pub zones: Vec<String>,
    pub balance: Balance,
    pub health: HealthConfig,
    pub outlier: Option<OutlierConfig>,
    /// Replace a killed instance after this launch delay.
    pub restart_after: Option<Duration>,
    pub latency: LatencyModel,
    pub errors: ErrorModel,
    pub store: StoreSpec,
    pub serverless: Option<Serverless>,
    /// Response payload size of `GET /items/{id}`, in bytes.
    pub payload_bytes: u32,
    /// `tls = { … }`: the gateway speaks TLS to the `targets`.
    pub tls: Option<reference_gateway::tls::UpstreamTls>,
}

impl Upstream {
    /// The zone of instance `index`, if the pool declares zones.
    pub fn zone_of(&self, index: usize) -> Option<&str> {
        (!self.zones.is_empty()).then(|| self.zones[index % self.zones.len()].as_str())
    }
}

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Tenant {
    pub id: String,
    pub plan: Plan,
    /// A static bearer token to send instead of a minted JWT.
    pub token: Option<String>,
    /// API key, own headers, OAuth2.
    pub credentials: Credentials,
}

/// How arrivals are spaced in an arrival-rate executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Arrivals {
    /// Evenly spaced.
    #[default]
    Uniform,
    /// Exponential gaps from the seeded RNG.
    Poisson,
}

/// One stage of a ramping executor: reach `target` linearly over `duration`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stage {
    pub duration: Duration,
    /// Requests per second (arrival rate) or virtual users (VUs), ≥ 0.
    pub target: f64,
}

/// How a phase generates load.
#[derive(Debug, Clone, PartialEq)]
pub enum Executor {
    /// Open loop, fixed rate (req/s > 0).
    ConstantArrivalRate { rate: f64, arrivals: Arrivals },
    /// Open loop, rate ramped through stages from `start_rate`.
    RampingArrivalRate {
        start_rate: f64,
        stages: Vec<Stage>,
        arrivals: Arrivals,
    },
    /// Closed loop: `vus` users each send, wait for the answer, think, repeat.
    ConstantVus {
        vus: NonZeroU32,
        think_time: Duration,
    },
    /// Closed loop, users ramped through stages from `start_vus`.
    RampingVus {
        start_vus: u32,
        stages: Vec<Stage>,
        think_time: Duration,
    },
}

/// Which credentials a request class carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TokenKind {
    /// A valid token for the drawn tenant.
    #[default]
    Valid,
    /// A token whose `exp` is in the past beyond any leeway.
    Expired,
    /// A token signed with the wrong key.
    BadSignature,
    /// A token with `alg: none`.
    AlgNone,
    /// A token for the wrong audience.
    WrongAudience,
    /// No `Authorization` header.
    Missing,
    /// `Authorization: Bearer` followed by garbage.
    Garbage,
}

impl TokenKind {
    /// Hostile kinds the gateway must answer with 401.
    pub fn is_hostile(self) -> bool {
        self != TokenKind::Valid
    }
}

/// A weighted request class.
#[derive(Debug, Clone, PartialEq)]
pub struct RequestTemplate {
    pub method: Method,
    pub path: Template,
    pub headers: Vec<(http::HeaderName, Template)>,
    pub body: Option<Template>,
    /// Give each logical request a fresh `Idempotency-Key`, kept across client retries.
    pub idempotency_key: bool,
    pub weight: NonZeroU32,
    /// Statuses that count as correct; empty = the phase's `expect`.
    pub expect: Vec<u16>,
    pub token: TokenKind,
    /// `integrity = { … }`: read the class's acknowledged writes back through the API.
    pub integrity: Option<std::sync::Arc<IntegritySpec>>,
    /// `check = { … }`: what an `ok` answer must also show, else `check_failed`.
    pub check: Option<ResponseCheck>,
    /// `extract = { … }`: values for the later steps of the flow (empty outside flows).
    pub extract: Vec<Extraction>,
}

/// The HTTP version a phase's connections speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HttpProtocol {
    /// HTTP/1.1, one request at a time per connection.
    #[default]
    H1,
    /// HTTP/2: h2c (prior knowledge) on `http://`, ALPN `h2` over TLS; many streams
    /// per connection.
    H2,
}

impl HttpProtocol {
    /// The name scenarios and results use.
    pub fn name(self) -> &'static str {
        match self {
            HttpProtocol::H1 => "h1",
            HttpProtocol::H2 => "h2",
        }
    }
}

/// Streams open at once per HTTP/2 connection when a phase sets no `max_streams`.
pub const DEFAULT_MAX_STREAMS: u32 = 100;

/// One `[[traffic]]` phase.
#[derive(Debug, Clone, PartialEq)]
pub struct TrafficPhase {
    pub name: String,
    /// Offset from the start of the run.
    pub start: Duration,
    pub duration: Duration,
    pub executor: Executor,
    /// Tenant id → weight (> 0); empty = no tenant (anonymous traffic).
    pub tenants: Vec<(String, f64)>,
    pub requests: Vec<RequestTemplate>,
    /// Statuses that count as correct for every class without its own
    /// `expect`; empty = any 2xx or 3xx.
    pub expect: Vec<u16>,
    /// Per-request client timeout.
    pub timeout: Duration,
    /// Connection cap of the phase's client.
    pub connections: NonZeroU32,
    /// In-flight cap (waiting + sent); beyond it a request is dropped and counted.
    pub max_in_flight: NonZeroU32,
    /// Client-side retries of a failed request (same idempotency key).
    pub client_retries: u32,
    /// The phase's own `protocol`; `None`: the scenario's default (HTTP/1.1).
    pub protocol: Option<HttpProtocol>,
    /// HTTP/2: the most streams open at once on one connection (never above what
    /// the server allows); `None`: [`DEFAULT_MAX_STREAMS`].
    pub max_streams: Option<NonZeroU32>,
    /// `flow = true`: each arrival (or VU iteration) sends every request class in
    /// order, a step when the one before it has answered, instead of one class drawn by weight.
    pub flow: bool,
}

impl TrafficPhase {
    /// Every flow variable of the phase, by slot (the names its steps extract, in order).
    pub fn flow_variables(&self) -> Vec<&str> {
        let mut names: Vec<(usize, &str)> = self
            .requests
            .iter()
            .flat_map(|r| r.extract.iter().map(|e| (e.slot, e.name.as_str())))
            .collect();
        names.sort_unstable();
        names.into_iter().map(|(_, n)| n).collect()
    }

    /// When the phase ends on the run clock.
    pub fn end(&self) -> Duration {
        self.start + self.duration
    }
}

impl std::fmt::Display for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let arrivals = |a: &Arrivals| {
            if *a == Arrivals::Poisson {
                ", poisson arrivals"
            } else {
                ""
            }
        };
        match self {
            Executor::ConstantArrivalRate { rate, arrivals: a } => {
                write!(f, "constant-arrival-rate {rate} req/s{}", arrivals(a))
            }
            Executor::RampingArrivalRate {
                start_rate,
                stages,
                arrivals: a,
            } => {
                write!(f, "ramping-arrival-rate from {start_rate} req/s")?;
                for s in stages {
                    write!(
                        f,
                        " → {} req/s over {}",
                        s.target,
                        super::human::format_duration(s.duration)
                    )?;
                }
                f.write_str(arrivals(a))
            }
            Executor::ConstantVus { vus, think_time } => {
                write!(
                    f,
                    "constant-vus {vus} VUs, think {}",
                    super::human::format_duration(*think_time)
                )
            }
            Executor::RampingVus {
                start_vus,
                stages,
                think_time,
            } => {
                write!(f, "ramping-vus from {start_vus}")?;
                for s in stages {
                    write!(
                        f,
                        " → {} over {}",
                        s.target,
                        super::human::format_duration(s.duration)
                    )?;
                }
                write!(f, ", think {}", super::human::format_duration(*think_time))
            }
        }
    }
}
