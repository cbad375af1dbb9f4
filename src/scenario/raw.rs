//! The raw layer: the scenario file exactly as written, with serde and
//! `deny_unknown_fields`. Durations and shares stay human strings here;
//! [`super::validate`] turns them into domain types and collects every problem.
//! These structs also give the JSON Schema (`ninefold schema`) and the TOML
//! a validated scenario serializes back to.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A human duration such as `"250ms"`, `"1.5s"`, `"2m"`.
pub type HumanDuration = String;

/// A scenario file.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Short name; names the run folder.
    pub name: String,
    /// What the experiment proves, in a sentence or two.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Length of the run, e.g. `"60s"`.
    pub duration: HumanDuration,
    /// Random seed; default: random, printed and recorded in the results.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Confidence for availability bounds, in (0, 1); default 0.95.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gateway: Option<RawGateway>,
    /// Upstream pools by name.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<RawTenant>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub traffic: Vec<RawPhase>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub faults: Vec<RawFault>,
    /// Drive a real Toxiproxy server instead of the embedded fault proxy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxiproxy: Option<RawToxiproxy>,
    /// Links for external mode: `listen` forwards to `upstream` through the fault proxy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<RawLink>,
    /// SLOs: `"METRIC{filters}" = "OP VALUE"`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slo: BTreeMap<String, String>,
}

/// The `[gateway]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    /// Reference-gateway processes (default 1); excludes `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Zones assigned round-robin to the gateway instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    /// An external gateway to test instead of the bundled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Overall request timeout inside the gateway (default "2s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_timeout: Option<HumanDuration>,
    /// Largest request body accepted, in bytes (default 1 MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_body_bytes: Option<u64>,
    /// `"reject"` (403, default) or `"default"` (use `default_plan`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unknown_tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_plan: Option<RawPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<RawAuth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<RawCache>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RawRateLimit>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<RawRoute>,
    /// API keys the reference gateway accepts in `x-api-key` (as AWS usage plans do):
    /// with any, a request without a known key is refused with 403.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_keys: Vec<RawApiKey>,
}

/// One `[[gateway.api_keys]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawApiKey {
    /// The key: text or `{env:NAME}`.
    pub key: String,
    /// The `[[tenants]]` id whose plan the key's requests count against.
    pub tenant: String,
}

/// The `[gateway.auth]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawAuth {
    /// HS256, HS384, HS512, RS256, PS256, ES256 or EdDSA.
    pub algorithm: String,
    /// Shared secret (HS*).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// PEM public key (asymmetric algorithms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// JWKS document; the token's `kid` selects the key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_file: Option<String>,
    /// PEM private key the harness signs tokens with (asymmetric algorithms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_key_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<String>,
    /// The claim naming the tenant (default "tenant_id").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant_claim: Option<String>,
    /// Clock-skew allowance for exp/nbf (default "5s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub leeway: Option<HumanDuration>,
    /// Forward `Authorization` upstream (default false: stripped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forward_authorization: Option<bool>,
}

/// The `[gateway.cache]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCache {
    pub ttl: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_entries: Option<u64>,
    /// Request headers that split cache entries.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vary: Option<Vec<String>>,
}

/// The `[gateway.rate_limit]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRateLimit {
    /// `"local"` (default), `"redis"` (ninefold starts one) or `"redis://HOST:PORT"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// Admit when the shared store is unreachable (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fail_open: Option<bool>,
}

/// A retry policy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRetry {
    /// Total attempts including the first.
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub per_try_timeout: Option<HumanDuration>,
    /// Retries as a share of requests (default "20%").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget: Option<String>,
}

/// One `[[gateway.routes]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRoute {
    /// Path prefix.
    pub path: String,
    /// An upstream pool name.
    pub upstream: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub methods: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RawRetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strip_prefix: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rewrite: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    /// A plan replacing the tenant's own on this route.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan: Option<RawPlan>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
}

/// Active health check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawHealth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_after: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub healthy_after: Option<u32>,
}

/// Passive outlier ejection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOutlier {
    pub consecutive_failures: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ejection: Option<HumanDuration>,
    /// Most of the pool that may be ejected at once (default "50%").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ejected: Option<String>,
}

/// Replacement of killed instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    pub after: HumanDuration,
}

/// Latency model: `{ median, p99 }` (lognormal), `{ fixed }` or `{ min, max }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLatency {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub median: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<HumanDuration>,
}

/// Error injection.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawErrors {
    /// Share of requests, 0.0–1.0.
    pub rate: f64,
    /// Status answered (default 500).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
}

/// Serverless behaviour.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServerless {
    pub cold_start: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idle_after: Option<HumanDuration>,
    pub concurrency: u32,
    /// 429 or 503 (default 429).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub over_limit_status: Option<u16>,
}

/// One `[upstreams.NAME]` pool.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    /// Mock backends started by ninefold; excludes `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Instances someone else runs, as `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    /// round-robin | least-request | random | hash:<header>
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub balance: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<RawHealth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outlier: Option<RawOutlier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<RawRestart>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<RawLatency>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errors: Option<RawErrors>,
    /// `"sqlite"` (default), `"sqlite:PATH"`, `"redis"` or `"redis://HOST:PORT"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<RawServerless>,
    /// Size of an item's response body in bytes (default 256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_bytes: Option<u32>,
}

/// A quota.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawQuota {
    pub limit: u64,
    /// `"day"`, `"week"`, `"month"` or a duration such as `"10s"`.
    pub period: String,
}

/// A usage plan.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPlan {
    /// Requests per second (bucket refill).
    pub rate: f64,
    /// Bucket size (default: the rate, rounded up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quota: Option<RawQuota>,
}

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawTenant {
    pub id: String,
    pub plan: RawPlan,
    /// A static bearer token instead of a minted JWT.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// The tenant's API key, what `{tenant.api_key}` renders: text or `{env:NAME}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
    /// Headers on every request of this tenant (templates; a request class's header of the same name wins).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    /// OAuth2 client credentials: requests carry the token the endpoint issues.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oauth2: Option<RawOAuth2>,
}

/// OAuth2 client-credentials grant (RFC 6749 §4.4) of a tenant.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawOAuth2 {
    /// The token endpoint (`http://` or `https://`).
    pub token_url: String,
    /// Text or `{env:NAME}`.
    pub client_id: String,
    /// Text or `{env:NAME}` (write `{env:NAME}`: a secret does not belong in the file).
    pub client_secret: String,
    /// Space-separated scopes to ask for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
}

/// A ramp stage.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawStage {
    pub duration: HumanDuration,
    /// Target rate (req/s) or VUs at the end of the stage.
    pub target: f64,
}

/// A weighted request class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawRequest {
    /// Default GET.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// Path template, e.g. `/items/{rand:1..1000}`.
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub headers: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<u16>>,
    /// valid (default) | expired | bad-signature | alg-none | wrong-audience | missing | garbage
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

/// One `[[traffic]]` phase.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawPhase {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Offset from the start of the run (default "0s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<HumanDuration>,
    /// Default: until the end of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// constant-arrival-rate | ramping-arrival-rate | constant-vus | ramping-vus
    pub executor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_vus: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<RawStage>>,
    /// uniform (default) | poisson
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub think_time: Option<HumanDuration>,
    /// Tenant id → weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenants: Option<BTreeMap<String, f64>>,
    pub requests: Vec<RawRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Vec<u16>>,
    /// Client timeout per request (default "5s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Connection cap (default 64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connections: Option<u32>,
    /// In-flight cap; beyond it requests are dropped and counted (default 10000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_in_flight: Option<u32>,
    /// Client retries of a failed request, same idempotency key (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// One `[[faults]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    pub at: HumanDuration,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<HumanDuration>,
    /// kill | terminate | stop | resume | restart | down | latency | bandwidth | slow_close |
    /// timeout | reset_peer | slicer | limit_data | loss | error_rate | fail_health | chaos
    pub action: String,
    /// `api[1]`, `api`, `gateway[0]`, `zone:c` or `link:NAME`.
    pub target: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jitter: Option<HumanDuration>,
    /// bandwidth: KB/s; error_rate and loss: a share 0.0–1.0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_variation: Option<u64>,
    /// upstream | downstream (default) | both
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// Share of connections affected (default 1.0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toxicity: Option<f32>,
    /// chaos: mean time between kills.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<HumanDuration>,
}

/// The `[toxiproxy]` table.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawToxiproxy {
    /// e.g. `"http://127.0.0.1:8474"`.
    pub url: String,
}

/// One `[[links]]` entry.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawLink {
    pub name: String,
    /// `127.0.0.1:PORT` the link listens on.
    pub listen: String,
    /// `host:port` it forwards to.
    pub upstream: String,
}

/// A gateway configuration file (`ninefold gateway --config FILE`): the same
/// `[gateway]`, `[upstreams]` (with `targets`) and `[[tenants]]` sections as a scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGatewayFile {
    #[serde(default)]
    pub gateway: RawGateway,
    #[serde(default)]
    pub upstreams: BTreeMap<String, RawUpstream>,
    #[serde(default)]
    pub tenants: Vec<RawTenant>,
}
