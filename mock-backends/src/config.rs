//! What a backend instance is and how it behaves.
//!
//! [`Config`] is fixed for the life of an instance (name, store, seed, limits).
//! [`Behaviour`] is what the admin API switches at runtime (`GET/PUT
//! /admin/behaviour`) and what `ninefold backend --config FILE` reads as TOML: the
//! JSON and the TOML have the same shape. Durations are human strings
//! (`"25ms"`, see [`crate::duration`]). Every field has a default, so `{}` is a
//! well-behaved backend with no added latency and no errors.
//!
//! [`Behaviour::compile`] validates everything at once and lists every problem
//! with its field path; only a compiled behaviour is ever served.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};

use crate::duration::Dur;
use crate::latency::{LatencyModel, Sampler};

/// The fixed identity and resources of one instance.
#[derive(Debug, Clone)]
pub struct Config {
    /// Sent in `X-Backend-Instance` on every response.
    pub instance: String,
    /// Where items and orders live; shared by every instance of a pool.
    pub store: StoreSpec,
    /// Seed of this instance's RNG (latency draws, error injection).
    pub seed: u64,
    /// The initial behaviour.
    pub behaviour: Behaviour,
    /// Largest request body accepted; beyond it, 413.
    pub max_body_bytes: usize,
    /// Largest number of connections served at once; more wait in the accept queue.
    pub max_connections: usize,
    /// How `GET /items/{id}` reads (see [`ItemReads`]).
    pub item_reads: ItemReads,
    /// How long a graceful shutdown waits for open connections before closing them.
    pub drain_timeout: Duration,
}

impl Config {
    /// A config with defaults for everything but the name and the store.
    pub fn new(instance: impl Into<String>, store: StoreSpec) -> Self {
        Self {
            instance: instance.into(),
            store,
            seed: 0,
            behaviour: Behaviour::default(),
            max_body_bytes: 64 * 1024,
            max_connections: 10_000,
            item_reads: ItemReads::default(),
            drain_timeout: Duration::from_secs(5),
        }
    }
}

/// The shared store of a pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreSpec {
    /// A SQLite file in WAL mode: shared by processes on one host.
    Sqlite(PathBuf),
    /// A Redis server (`redis://host:port/db`): shared across hosts.
    Redis(String),
}

impl StoreSpec {
    /// `redis://…` or `rediss://…` is Redis; anything else is a SQLite file path.
    pub fn parse(text: &str) -> Self {
        if text.starts_with("redis://")
            || text.starts_with("rediss://")
            || text.starts_with("redis+unix://")
        {
            Self::Redis(text.to_owned())
        } else {
            Self::Sqlite(PathBuf::from(text))
        }
    }
}

/// How `GET /items/{id}` finds out whether an item was overwritten or deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ItemReads {
    /// From an in-memory view of every overwritten item: this instance's own
    /// writes are visible at once; other instances' writes within `refresh`
    /// (a background task pulls changes from the store by sequence number).
    /// The fast path: no store round trip per read.
    View {
        /// How often changes made by other instances are pulled.
        refresh: Duration,
    },
    /// Every read asks the store: linearizable across instances, slower.
    Store,
}

impl Default for ItemReads {
    fn default() -> Self {
        Self::View {
            refresh: Duration::from_millis(20),
        }
    }
}

/// Everything about an instance that can change while it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Behaviour {
    /// Added before every API response (`/items`, `/orders`; not `/health` or `/ready`).
    pub latency: LatencyModel,
    /// Injected failures on API routes.
    pub errors: ErrorModel,
    /// `GET /health` answers 503 while this is true.
    pub health_failing: bool,
    /// Bytes of filler added to each synthetic item (the `payload` field).
    pub payload_bytes: usize,
    /// Send API response bodies slowly, in chunks.
    pub slow_body: Option<SlowBody>,
    /// Behave like a serverless function: cold starts and a concurrency limit.
    pub serverless: Option<Serverless>,
}

/// Injected failures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ErrorModel {
    /// Share of API requests that fail, in `[0, 1]`.
    pub rate: f64,
    /// The status of an injected failure (400..=599), when `mode` is `status`.
    pub status: u16,
    /// How a failure shows itself.
    pub mode: ErrorMode,
}

impl Default for ErrorModel {
    fn default() -> Self {
        Self {
            rate: 0.0,
            status: 500,
            mode: ErrorMode::Status,
        }
    }
}

impl ErrorModel {
    /// `rate` of requests answered with `status` (the scenario's `errors = { rate, status }`).
    pub fn status(rate: f64, status: u16) -> Self {
        Self {
            rate,
            status,
            mode: ErrorMode::Status,
        }
    }
}

/// How an injected failure shows itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorMode {
    /// A JSON error body with the configured status.
    Status,
    /// The connection is closed without a response.
    Close,
}

/// Slow response bodies: `chunk_bytes` at a time, `interval` apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowBody {
    /// Bytes per chunk (> 0).
    pub chunk_bytes: usize,
    /// Pause before each chunk after the first.
    pub interval: Dur,
}

/// A serverless function's life: `concurrency` execution environments, each
/// cold on its first request and again after `keep_warm` without one.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serverless {
    /// Extra latency of a cold start.
    pub cold_start: LatencyModel,
    /// How long an idle environment stays warm.
    pub keep_warm: Dur,
    /// Requests served at once (> 0); beyond it the request is refused.
    pub concurrency: usize,
    /// Status of a refused request: 429 (Lambda's throttle) or 503.
    #[serde(default = "default_over_limit")]
    pub over_limit_status: u16,
}

const fn default_over_limit() -> u16 {
    429
}

/// A behaviour that failed validation; `problems` lists every one with its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid behaviour: {}", problems.join("; "))]
pub struct BehaviourError {
    /// `field.path: what is wrong`.
    pub problems: Vec<String>,
}

/// A validated [`Behaviour`] with its samplers built and its filler precomputed.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// The behaviour as given (what `GET /admin/behaviour` shows).
    pub source: Behaviour,
    /// Draws the added latency.
    pub latency: Sampler,
    /// Draws a cold start, when serverless.
    pub cold_start: Option<Sampler>,
    /// The error rate as a probability.
    pub error_rate: f64,
    /// The injected status.
    pub error_status: http::StatusCode,
    /// The filler for item payloads, `payload_bytes` long.
    pub payload: Bytes,
}

impl Behaviour {
    /// Validate and prepare for serving; every problem is reported at once.
    pub fn compile(&self) -> Result<Compiled, BehaviourError> {
        let mut problems = Vec::new();
        let latency = self
            .latency
            .sampler()
            .map_err(|e| problems.push(format!("latency: {e}")))
            .ok();
        if !(0.0..=1.0).contains(&self.errors.rate) {
            problems.push(format!(
                "errors.rate: must be within 0..=1, got {}",
                self.errors.rate
            ));
        }
        let error_status = http::StatusCode::from_u16(self.errors.status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error());
        if error_status.is_none() {
            problems.push(format!(
                "errors.status: must be 400..=599, got {}",
                self.errors.status
            ));
        }
        if self.payload_bytes > 16 * 1024 * 1024 {
            problems.push(format!(
                "payload_bytes: at most 16 MiB, got {}",
                self.payload_bytes
            ));
        }
        if let Some(slow) = &self.slow_body
            && slow.chunk_bytes == 0
        {
            problems.push("slow_body.chunk_bytes: must be > 0".to_owned());
        }
        let mut cold_start = None;
        if let Some(sl) = &self.serverless {
            match sl.cold_start.sampler() {
                Ok(s) => cold_start = Some(s),
                Err(e) => problems.push(format!("serverless.cold_start: {e}")),
            }
            if sl.concurrency == 0 {
                problems.push("serverless.concurrency: must be > 0".to_owned());
            }
            if !matches!(sl.over_limit_status, 429 | 503) {
                problems.push(format!(
                    "serverless.over_limit_status: must be 429 or 503, got {}",
                    sl.over_limit_status
                ));
            }
        }
        match (latency, error_status) {
            (Some(latency), Some(error_status)) if problems.is_empty() => Ok(Compiled {
                source: self.clone(),
                latency,
                cold_start,
                error_rate: self.errors.rate,
                error_status,
                payload: filler(self.payload_bytes),
            }),
            _ => Err(BehaviourError { problems }),
        }
    }

    /// Read a behaviour from TOML (the `--config FILE` format).
    pub fn from_toml(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    /// Write a behaviour as TOML, for a harness that hands it to
    /// `ninefold backend --config FILE`.
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string(self)
    }
}

/// Deterministic printable filler, safe inside a JSON string.
fn filler(len: usize) -> Bytes {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    Bytes::from(
        (0..len)
            .map(|i| ALPHABET[i % ALPHABET.len()])
            .collect::<Vec<u8>>(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_is_the_default_behaviour() {
        assert_eq!(Behaviour::from_toml("").unwrap(), Behaviour::default());
        assert_eq!(
            serde_json::from_str::<Behaviour>("{}").unwrap(),
            Behaviour::default()
        );
        let c = Behaviour::default().compile().unwrap();
        assert!(c.latency.is_zero());
        assert!(c.payload.is_empty());
    }

    #[test]
    fn toml_and_json_have_the_same_shape() {
        let text = r#"
            health_failing = true
            payload_bytes = 100
            latency = { model = "lognormal", median = "4ms", p99 = "25ms" }
            errors = { rate = 0.1, status = 503 }
            slow_body = { chunk_bytes = 16, interval = "5ms" }
            serverless = { cold_start = { model = "fixed", value = "300ms" }, keep_warm = "5m", concurrency = 10 }
        "#;
        let b = Behaviour::from_toml(text).unwrap();
        assert_eq!(b.errors, ErrorModel::status(0.1, 503));
        assert_eq!(b.serverless.as_ref().unwrap().over_limit_status, 429);
        let json = serde_json::to_string(&b).unwrap();
        assert_eq!(serde_json::from_str::<Behaviour>(&json).unwrap(), b);
        let c = b.compile().unwrap();
        assert_eq!(c.payload.len(), 100);
        assert_eq!(Behaviour::from_toml(&b.to_toml().unwrap()).unwrap(), b);
        let plain = Behaviour::default();
        assert_eq!(
            Behaviour::from_toml(&plain.to_toml().unwrap()).unwrap(),
            plain
        );
    }

    #[test]
    fn every_problem_is_listed_with_its_path() {
        let b = Behaviour {
            latency: LatencyModel::lognormal(Duration::from_millis(9), Duration::from_millis(3)),
            errors: ErrorModel::status(1.5, 200),
            slow_body: Some(SlowBody {
                chunk_bytes: 0,
                interval: Dur::ms(1),
            }),
            serverless: Some(Serverless {
                cold_start: LatencyModel::none(),
                keep_warm: Dur::ms(1),
                concurrency: 0,
                over_limit_status: 500,
            }),
            ..Behaviour::default()
        };
        let err = b.compile().unwrap_err();
        let paths: Vec<&str> = err
            .problems
            .iter()
            .map(|p| p.split(':').next().unwrap())
            .collect();
        assert_eq!(
            paths,
            [
                "latency",
                "errors.rate",
                "errors.status",
                "slow_body.chunk_bytes",
                "serverless.concurrency",
                "serverless.over_limit_status"
            ]
        );
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(Behaviour::from_toml("latncy = 3").is_err());
        assert!(serde_json::from_str::<Behaviour>(r#"{"errors":{"rat":0.5}}"#).is_err());
    }

    #[test]
    fn store_spec_tells_redis_from_a_path() {
        assert_eq!(
            StoreSpec::parse("redis://127.0.0.1:6379/0"),
            StoreSpec::Redis("redis://127.0.0.1:6379/0".into())
        );
        assert_eq!(
            StoreSpec::parse("/tmp/x.db"),
            StoreSpec::Sqlite("/tmp/x.db".into())
        );
    }
}
