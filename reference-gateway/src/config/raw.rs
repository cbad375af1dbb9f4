//! The gateway's configuration as written: the `[gateway]` section and its tables
//! (`auth`, `cache`, `rate_limit`, `routes`), the gateway keys of an `[upstreams.NAME]`
//! pool (`health`, `outlier`) and the usage plans of `[[tenants]]`, with serde and
//! `deny_unknown_fields`. Durations and shares stay human strings here. The `ninefold`
//! crate embeds these structs in its scenario and gateway-file formats (their JSON
//! Schema comes from them) and checks them into the types of [`crate::config`].

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A human duration such as `"250ms"`, `"1.5s"`, `"2m"`.
pub type HumanDuration = String;

/// The `[gateway]` section.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawGateway {
    // `instances`, `zones` and `url` say how ninefold deploys the gateway (how many
    // processes, in which zones, or an external one instead); the gateway never reads them.
    /// Reference-gateway processes (default 1); excludes `url`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instances: Option<u32>,
    /// Zones assigned round-robin to the gateway instances.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<String>>,
    /// An external gateway to test instead of the bundled one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    // `command`, `config`, `ready`, `env` and `cwd`: a gateway of the user's own that
    // ninefold starts instead of the reference gateway; the gateway never reads them.
    /// Your own gateway, started by ninefold instead of the reference one: program and
    /// arguments, e.g. `["nginx", "-p", "{dir}", "-c", "{config}"]` (`{port}`: the port
    /// it must listen on; `{config}`: the rendered `config`; `{dir}`: its folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    /// A configuration template for `command`, relative to the scenario: rendered per
    /// instance into the run folder with `{port}`, `{dir}` and the pools' link addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<String>,
    /// How `command` says it is ready: `{ http = "/health" }` or `{ line = "REGEX" }`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready: Option<RawReady>,
    /// Environment variables for `command` (values may use `{port}`, `{dir}`, `{config}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub env: Option<std::collections::BTreeMap<String, String>>,
    /// Working directory of `command`, relative to the scenario (default: the scenario's folder).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
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
    /// The gateway's listener speaks TLS (HTTPS) with this certificate and key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RawServerTls>,
}

/// How a program ninefold starts says it is ready: exactly one of the two keys.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawReady {
    /// Ready once `GET PATH` on its port answers 2xx or 3xx, e.g. `"/health"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<String>,
    /// Ready once a line of its stdout matches this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<String>,
    /// How long it may take to be ready, each time it starts (default "30s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<HumanDuration>,
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

/// `[upstreams.NAME] tls = { … }`: the gateway speaks TLS to the pool's instances.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawUpstreamTls {
    /// The CA certificates (PEM) the instances' certificates are verified against
    /// (default: the system's trust store).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<String>,
    /// Verify no certificate (a test upstream). Excludes `ca_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure: Option<bool>,
    /// The name sent as SNI and verified (default: the targets' host name, else none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_name: Option<String>,
}

/// The `[gateway.tls]` section: PEM files, relative to the configuration's folder.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RawServerTls {
    /// The certificate chain (PEM), leaf first.
    pub cert_file: String,
    /// The leaf's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key_file: String,
    /// Mutual TLS: the CA certificates (PEM) client certificates must be signed by; a
    /// client without a valid one is refused at the handshake.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_ca_file: Option<String>,
    /// With `client_ca_file`: `"required"` (default: a client without a certificate is
    /// refused) or `"optional"` (served; a certificate it does send must be valid).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_auth: Option<String>,
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
