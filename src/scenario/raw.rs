//! The raw layer: the scenario file exactly as written, with serde and
//! `deny_unknown_fields`. Durations and shares stay human strings here;
//! [`super::validate`] turns them into domain types and collects every problem.
//! These structs also give the JSON Schema (`ninefold schema`) and the TOML
//! a validated scenario serializes back to.

use std::collections::BTreeMap;

pub use reference_gateway::config::raw::{
    HumanDuration, RawApiKey, RawAuth, RawCache, RawGateway, RawHealth, RawOutlier, RawPlan,
    RawQuota, RawRateLimit, RawReady, RawRetry, RawRoute,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

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
    /// SLOs: `"METRIC{filters}" = "OP VALUE"`, or a table
    /// `{ objective = "OP VALUE", abort = true }` to stop the run as soon as
    /// the SLO cannot pass any more.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub slo: BTreeMap<String, RawSlo>,
    /// How ninefold connects to the URLs it is given: TLS and the HTTP version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<RawClient>,
}

/// One `[slo]` value: the objective alone, or a table with options.
#[derive(Debug, Clone, PartialEq, Serialize, JsonSchema)]
#[serde(untagged)]
pub enum RawSlo {
    /// `"OP VALUE"`, e.g. `">= 99.9%"`, `"< 150ms"`.
    Objective(String),
    /// `{ objective = "OP VALUE", abort = true }`.
    Table(RawSloTable),
}

impl RawSlo {
    /// The objective text, whichever form it was written in.
    pub fn objective(&self) -> &str {
        match self {
            RawSlo::Objective(o) => o,
            RawSlo::Table(t) => &t.objective,
        }
    }

    /// Whether the run stops when this SLO cannot pass any more.
    pub fn abort(&self) -> bool {
        matches!(self, RawSlo::Table(t) if t.abort == Some(true))
    }
}

// By hand rather than serde's untagged derive, so a mistake inside the table
// gets the table's own message (an unknown key and what is accepted), not
// "did not match any variant".
impl<'de> Deserialize<'de> for RawSlo {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = RawSlo;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(
                    "an objective such as \">= 99.9%\", or a table { objective = \">= 99.9%\", abort = true }",
                )
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawSlo, E> {
                Ok(RawSlo::Objective(v.to_owned()))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawSlo, A::Error> {
                RawSloTable::deserialize(serde::de::value::MapAccessDeserializer::new(map))
                    .map(RawSlo::Table)
            }
        }
        d.deserialize_any(Visit)
    }
}

/// The table form of an `[slo]` value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawSloTable {
    /// `"OP VALUE"`, e.g. `">= 99.9%"`.
    pub objective: String,
    /// Stop the run (exit 1) as soon as this SLO cannot pass any more: for
    /// availability when the upper confidence bound falls below the target;
    /// for `throttle.over_admitted` and `auth.hostile_backend_requests` when
    /// the count so far is over the ceiling (docs/live.md). Default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort: Option<bool>,
}

/// The `[client]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClient {
    /// TLS for `https://` URLs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawClientTls>,
    /// `"h1"` (HTTP/1.1, default) or `"h2"` (HTTP/2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// HOST:PORT:CONNECT-HOST:CONNECT-PORT entries, as curl's --connect-to: connect
    /// there for a URL of HOST:PORT; the Host header and TLS server name stay the URL's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connect_to: Option<Vec<String>>,
    /// How often a URL's hostname is resolved again, connections then going to the
    /// new addresses (default "30s"; "0s": resolved once, at the start).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolve_every: Option<String>,
}

/// `[client] tls = { … }`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawClientTls {
    /// PEM file of certificates to trust besides the system's roots (a private CA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// PEM client certificate chain for mutual TLS; needs `key_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<String>,
    /// PEM private key of `cert_file` (PKCS#8, PKCS#1 or SEC1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_file: Option<String>,
    /// Skip verifying the server's certificate (default false); noted in every output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
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
    /// Instances started by ninefold (mock backends, or `command`); excludes `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Instances someone else runs, as `host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Your own service instead of the mock backend, started by ninefold per instance:
    /// program and arguments, e.g. `["./my-api", "--port", "{port}"]` (`{port}`: the port
    /// ninefold chose for the instance; `{instance}`: its name, e.g. `api-0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// Environment variables for `command` (values may use `{port}` and `{instance}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<BTreeMap<String, String>>,
    /// Working directory of `command`, relative to the scenario (default: the scenario's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// How `command` says it is ready: `{ http = "/health" }` or `{ line = "REGEX" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<RawReady>,
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
    /// The gateway speaks TLS to these `targets`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<reference_gateway::config::raw::RawUpstreamTls>,
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
    /// Read every acknowledged write of this class back through the API after the
    /// traffic and the faults have ended: lost writes, duplicate effects and
    /// mismatched content, on any system (not only on stores ninefold started).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<RawIntegrity>,
    /// What an answer must also show to count as `ok` (else `check_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check: Option<RawCheck>,
    /// Flow phases: `NAME = "$.json.path"` takes a value out of the answer's JSON
    /// body for the later steps of the same flow, which write it as `{NAME}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extract: Option<BTreeMap<String, String>>,
}

/// `integrity = { … }` of a write's request class: how to find, after the run,
/// what the service kept of each write it acknowledged.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawIntegrity {
    /// JSONPath (RFC 9535) of the new record's id in the acknowledged answer's
    /// JSON body, e.g. `"$.id"`. Default: `id` or `order_id` of the body, else the
    /// last segment of `Location`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Path that reads one record back, with `{id}` (and optionally `{key}`), e.g.
    /// `"/orders/{id}"`: 200 = kept, 404 or 410 = lost.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read: Option<String>,
    /// Path that lists records, e.g. `"/orders?idempotency_key={key}"`: with `{key}`
    /// the records of one idempotency key; without, every record (then `key_at`
    /// says which key each record holds). Finds duplicates: a key with two records.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// JSONPath of the records in a list answer (default `"$[*]"`: the answer is an array).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<String>,
    /// JSONPath of the idempotency key inside a record, e.g. `"$.idempotency_key"`;
    /// needed when `list` has no `{key}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_at: Option<String>,
    /// JSONPaths of fields of the sent body that the stored record must hold
    /// unchanged, e.g. `["$.sku", "$.qty"]`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compare: Option<Vec<String>>,
    /// JSONPath of the sent body inside a read-back record, when the record wraps
    /// it (e.g. `"$.order"`); default `"$"`: the `compare` paths apply to the record itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_at: Option<String>,
    /// Read-backs in flight at once (default 8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<u32>,
    /// Timeout of one read-back request (default "5s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
    /// Tries again after a transport error, a 5xx or a 429 (default 3); a read-back
    /// still failing then is "not read", never "lost".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
}

/// `check = { … }` of a request class: conditions on an answer whose status is
/// otherwise correct; one that fails makes the request `check_failed`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawCheck {
    /// The status must be one of these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Vec<u16>>,
    /// The body must contain this text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body_contains: Option<String>,
    /// `"$.json.path" = "exists"` (it selects something) or `= VALUE` (everything it
    /// selects equals VALUE), over the body parsed as JSON (RFC 9535 JSONPath).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<BTreeMap<String, serde_json::Value>>,
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
    /// h1 | h2: the HTTP version of the phase's connections (default: HTTP/1.1).
    /// h2 is h2c (prior knowledge) on http:// URLs and ALPN h2 over TLS.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// HTTP/2: the most streams open at once per connection (default 100, never above
    /// the server's SETTINGS_MAX_CONCURRENT_STREAMS).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_streams: Option<u32>,
    /// Send `requests` in order as one flow per arrival (arrival-rate executors) or
    /// per iteration (VU executors), a step when the one before it has answered
    /// (default false: one request drawn by weight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flow: Option<bool>,
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
