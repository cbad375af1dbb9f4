//! The service API: items, orders, health and readiness.
//!
//! | route | does |
//! | --- | --- |
//! | `GET /items/{id}` | the stored item, else a deterministic synthetic one; 404 once deleted |
//! | `PUT /items/{id}` | store a JSON body (200) |
//! | `DELETE /items/{id}` | delete (204, also when already gone) |
//! | `POST /orders` | create an order (201); `Idempotency-Key` replays or refuses (422) |
//! | `GET /orders/{id}` | the order's creation response, or 404 |
//! | `GET /health` | liveness; 503 while `health_failing` |
//! | `GET /ready` | 200 when the store answers and the instance is not draining |
//!
//! API routes (items, orders) pass through [`InstanceState::gate`] first: serverless
//! admission, the latency draw and error injection, in that order.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, PathRejection};
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::config::{Compiled, Config, ErrorMode, ItemReads};
use crate::reply;
use crate::serverless::{Environments, Lease};
use crate::store::{NewOrder, OrderOutcome, Store, StoreError, StoredItem};
use crate::view::ItemView;

/// Longest item id and idempotency key accepted.
const MAX_ID_LEN: usize = 256;

/// State shared by every request of one instance.
pub struct InstanceState {
    /// The instance name.
    pub instance: String,
    /// Its header value, built once.
    pub instance_header: HeaderValue,
    /// The shared store.
    pub store: Store,
    /// The in-memory item view, unless reads go to the store.
    pub view: Option<Arc<ItemView>>,
    /// How reads are served.
    pub item_reads: ItemReads,
    behaviour: RwLock<Arc<Compiled>>,
    rng: Mutex<StdRng>,
    envs: Arc<Environments>,
    draining: AtomicBool,
    /// Requests that carried the hostile mark (see [`crate::headers::X_NINEFOLD_HOSTILE`]).
    pub hostile_requests: Arc<AtomicU64>,
}

impl InstanceState {
    /// Assemble the state of one instance around an open store.
    pub fn new(
        config: &Config,
        compiled: Compiled,
        store: Store,
        view: Option<Arc<ItemView>>,
    ) -> Self {
        Self {
            instance: config.instance.clone(),
            // Validated by the caller; a name that is no header value falls back to "invalid".
            instance_header: HeaderValue::from_str(&config.instance)
                .unwrap_or_else(|_| HeaderValue::from_static("invalid")),
            store,
            view,
            item_reads: config.item_reads,
            behaviour: RwLock::new(Arc::new(compiled)),
            rng: Mutex::new(StdRng::seed_from_u64(config.seed)),
            envs: Arc::new(Environments::default()),
            draining: AtomicBool::new(false),
            hostile_requests: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The behaviour in force now.
    pub fn behaviour(&self) -> Arc<Compiled> {
        Arc::clone(&self.behaviour.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Switch behaviour; the next request sees it.
    pub fn set_behaviour(&self, compiled: Compiled) {
        *self.behaviour.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(compiled);
    }

    /// Mark the instance as draining: `/ready` answers 503 from now on.
    pub fn start_draining(&self) {
        self.draining.store(true, Ordering::Release);
    }

    /// Admission, latency, injected errors. `Err` is the response to send instead.
    async fn gate(&self) -> Result<Gate, Response> {
        let b = self.behaviour();
        let mut lease = None;
        let mut delay = Duration::ZERO;
        let cold = if let Some(sl) = &b.source.serverless {
            let Some(l) = self.envs.acquire(sl.concurrency, sl.keep_warm.get()) else {
                let status = StatusCode::from_u16(sl.over_limit_status)
                    .unwrap_or(StatusCode::TOO_MANY_REQUESTS);
                return Err(reply::error(
                    status,
                    "concurrency_limit",
                    "every execution environment is busy",
                ));
            };
            let cold = l.cold;
            lease = Some(l);
            cold
        } else {
            false
        };
        let mut fail = false;
        // Skip the RNG lock entirely on the plain fast path.
        if cold || !b.latency.is_zero() || b.error_rate > 0.0 {
            let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
            delay += b.latency.sample(&mut *rng);
            if cold && let Some(cs) = &b.cold_start {
                delay += cs.sample(&mut *rng);
            }
            fail = b.error_rate > 0.0 && rng.random_bool(b.error_rate);
        }
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if fail {
            return Err(match b.source.errors.mode {
                ErrorMode::Status => reply::error(b.error_status, "injected", "injected failure"),
                ErrorMode::Close => reply::abort(),
            });
        }
        Ok(Gate {
            lease,
            behaviour: b,
        })
    }
}

/// A request that passed the gate: holds its serverless lease and the behaviour it saw.
struct Gate {
    lease: Option<Lease>,
    behaviour: Arc<Compiled>,
}

impl Gate {
    /// The final response: a JSON body, sent slowly if so configured.
    fn finish(self, status: StatusCode, body: Bytes) -> Response {
        match &self.behaviour.source.slow_body {
            Some(slow) if !body.is_empty() => {
                let body =
                    reply::slow_body(body, slow.chunk_bytes, slow.interval.get(), self.lease);
                reply::json(status, body)
            }
            _ => reply::json(status, body),
        }
    }

    fn error(self, status: StatusCode, code: &str, message: impl AsRef<str>) -> Response {
        self.finish(status, reply::error_body(status, code, message.as_ref()))
    }
}

/// The API router of one instance (no admin routes).
pub fn router(state: Arc<InstanceState>, max_body_bytes: usize) -> Router {
    Router::new()
        .route(
            "/items/{id}",
            get(get_item).put(put_item).delete(delete_item),
        )
        .route("/orders", axum::routing::post(post_order))
        .route("/orders/{id}", get(get_order))
        .route("/health", get(health))
        .route("/ready", get(ready))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state)
}

/// Unknown route: 404 JSON.
pub async fn not_found() -> Response {
    reply::error(StatusCode::NOT_FOUND, "not_found", "no such route")
}

/// Known route, wrong method: 405 JSON.
pub async fn method_not_allowed() -> Response {
    reply::error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "method not allowed on this route",
    )
}

fn store_unavailable(e: &StoreError) -> (StatusCode, &'static str, String) {
    tracing::warn!(error = %e, "store unavailable");
    (
        StatusCode::SERVICE_UNAVAILABLE,
        "store_unavailable",
        e.to_string(),
    )
}

// A handler step's natural error is the response to send; it exists only on the error path.
#[allow(clippy::result_large_err)]
fn check_id(id: Result<Path<String>, PathRejection>) -> Result<String, Response> {
    match id {
        Ok(Path(id)) if !id.is_empty() && id.len() <= MAX_ID_LEN => Ok(id),
        Ok(_) => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "bad_id",
            format!("id must be 1..={MAX_ID_LEN} bytes"),
        )),
        Err(e) => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "bad_path",
            e.body_text(),
        )),
    }
}

// A handler step's natural error is the response to send; it exists only on the error path.
#[allow(clippy::result_large_err)]
fn check_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, Response> {
    body.map_err(|e| {
        let status = e.status();
        let code = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "body_too_large"
        } else {
            "bad_body"
        };
        reply::error(status, code, e.body_text())
    })
}

/// The synthetic item for `id`: the same bytes for the same id and payload size, on every instance.
pub fn synthetic_item(id: &str, payload: &[u8]) -> Bytes {
    let h = fnv1a(id.as_bytes());
    let mut out = Vec::with_capacity(96 + 2 * id.len() + payload.len());
    let quoted = serde_json::to_string(id).unwrap_or_else(|_| "\"\"".to_owned());
    out.extend_from_slice(b"{\"id\":");
    out.extend_from_slice(quoted.as_bytes());
    out.extend_from_slice(b",\"name\":\"item ");
    out.extend_from_slice(&quoted.as_bytes()[1..quoted.len() - 1]);
    out.extend_from_slice(b"\",\"price_cents\":");
    out.extend_from_slice((100 + h % 99_900).to_string().as_bytes());
    out.extend_from_slice(b",\"stock\":");
    out.extend_from_slice(((h >> 20) % 1000).to_string().as_bytes());
    if !payload.is_empty() {
        out.extend_from_slice(b",\"payload\":\"");
        out.extend_from_slice(payload);
        out.push(b'"');
    }
    out.push(b'}');
    Bytes::from(out)
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

async fn get_item(
    State(s): State<Arc<InstanceState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match check_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let gate = match s.gate().await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let stored = match (&s.view, s.item_reads) {
        (Some(view), ItemReads::View { .. }) => Ok(view.get(&id)),
        _ => s.store.get_item(&id).await,
    };
    match stored {
        Ok(StoredItem::Untouched) => {
            let body = synthetic_item(&id, &gate.behaviour.payload);
            gate.finish(StatusCode::OK, body)
        }
        Ok(StoredItem::Body(b)) => gate.finish(StatusCode::OK, b),
        Ok(StoredItem::Deleted) => gate.error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("item {id:?} was deleted"),
        ),
        Err(e) => {
            let (st, code, msg) = store_unavailable(&e);
            gate.error(st, code, msg)
        }
    }
}

async fn write_item(s: &InstanceState, id: String, body: Option<Bytes>) -> Result<(), StoreError> {
    let seq = s.store.write_item(&id, body.clone()).await?;
    if let Some(view) = &s.view {
        view.apply(crate::store::ItemChange { id, body, seq });
    }
    Ok(())
}

async fn put_item(
    State(s): State<Arc<InstanceState>>,
    id: Result<Path<String>, PathRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let (id, body) = match (check_id(id), check_body(body)) {
        (Ok(id), Ok(body)) => (id, body),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&body) {
        return reply::error(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("body is not JSON: {e}"),
        );
    }
    let gate = match s.gate().await {
        Ok(g) => g,
        Err(r) => return r,
    };
    match write_item(&s, id, Some(body.clone())).await {
        Ok(()) => gate.finish(StatusCode::OK, body),
        Err(e) => {
            let (st, code, msg) = store_unavailable(&e);
            gate.error(st, code, msg)
        }
    }
}

async fn delete_item(
    State(s): State<Arc<InstanceState>>,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let id = match check_id(id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let gate = match s.gate().await {
        Ok(g) => g,
        Err(r) => return r,
    };
    match write_item(&s, id, None).await {
        Ok(()) => {
            let mut resp = gate.finish(StatusCode::NO_CONTENT, Bytes::new());
            resp.headers_mut().remove(header::CONTENT_TYPE);
            resp
        }
        Err(e) => {
            let (st, code, msg) = store_unavailable(&e);
            gate.error(st, code, msg)
        }
    }
}

// A handler step's natural error is the response to send; it exists only on the error path.
#[allow(clippy::result_large_err)]
fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Result<Option<&'a str>, Response> {
    match headers.get(name) {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(s) if !s.is_empty() && s.len() <= MAX_ID_LEN => Ok(Some(s)),
            _ => Err(reply::error(
                StatusCode::BAD_REQUEST,
                "bad_header",
                format!("{name} must be 1..={MAX_ID_LEN} visible ASCII characters"),
            )),
        },
    }
}

async fn post_order(
    State(s): State<Arc<InstanceState>>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match check_body(body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (key, tenant) = match (
        header_str(&headers, "idempotency-key"),
        header_str(&headers, "x-tenant-id"),
    ) {
        (Ok(k), Ok(t)) => (k.map(str::to_owned), t.map(str::to_owned)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let order = match order_object(&body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let gate = match s.gate().await {
        Ok(g) => g,
        Err(r) => return r,
    };
    let order_id = uuid::Uuid::new_v4().to_string();
    let created_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let response = serde_json::json!({
        "id": order_id,
        "status": "created",
        "tenant": tenant,
        "idempotency_key": key,
        "order": order,
        "instance": s.instance,
        "created_ms": created_ms,
    });
    let response = Bytes::from(response.to_string());
    let new = NewOrder {
        order_id: order_id.clone(),
        tenant,
        key,
        request: body,
        response: response.clone(),
        instance: s.instance.clone(),
        created_ms,
    };
    let outcome = s.store.create_order(new).await;
    created(gate, outcome, &order_id, response)
}

/// The body of `POST /orders` as a JSON object, else the 400 to send.
// A handler step's natural error is the response to send; it exists only on the error path.
#[allow(clippy::result_large_err)]
fn order_object(body: &[u8]) -> Result<serde_json::Value, Response> {
    match serde_json::from_slice(body) {
        Ok(v @ serde_json::Value::Object(_)) => Ok(v),
        Ok(_) => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "bad_json",
            "an order must be a JSON object",
        )),
        Err(e) => Err(reply::error(
            StatusCode::BAD_REQUEST,
            "bad_json",
            format!("body is not JSON: {e}"),
        )),
    }
}

/// The answer to `POST /orders` once the store has decided; `response` is the
/// body of a new order.
fn created(
    gate: Gate,
    outcome: Result<OrderOutcome, StoreError>,
    order_id: &str,
    response: Bytes,
) -> Response {
    match outcome {
        Ok(OrderOutcome::Created) => {
            let mut resp = gate.finish(StatusCode::CREATED, response);
            if let Ok(loc) = HeaderValue::from_str(&format!("/orders/{order_id}")) {
                resp.headers_mut().insert(header::LOCATION, loc);
            }
            resp
        }
        Ok(OrderOutcome::Replayed(first)) => {
            let mut resp = gate.finish(StatusCode::CREATED, first);
            resp.headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            resp
        }
        Ok(OrderOutcome::KeyReused) => gate.error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency_key_reused",
            "this Idempotency-Key was used with a different body",
        ),
        Err(e) => {
            let (st, code, msg) = store_unavailable(&e);
            gate.error(st, code, msg)
        }
    }
}

async fn get_order(
    State(s): State<Arc<InstanceState>>,
    headers: HeaderMap,
    id: Result<Path<String>, PathRejection>,
) -> Response {
    let (id, tenant) = match (check_id(id), header_str(&headers, "x-tenant-id")) {
        (Ok(id), Ok(t)) => (id, t.map(str::to_owned)),
        (Err(r), _) | (_, Err(r)) => return r,
    };
    let gate = match s.gate().await {
        Ok(g) => g,
        Err(r) => return r,
    };
    match s.store.get_order(&id).await {
        // An order is visible to the tenant that made it, or to callers naming no tenant.
        Ok(Some((owner, body))) if tenant.is_none() || owner == tenant => {
            gate.finish(StatusCode::OK, body)
        }
        Ok(_) => gate.error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no order {id:?}"),
        ),
        Err(e) => {
            let (st, code, msg) = store_unavailable(&e);
            gate.error(st, code, msg)
        }
    }
}

async fn health(State(s): State<Arc<InstanceState>>) -> Response {
    if s.behaviour().source.health_failing {
        reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "unhealthy",
            "health check told to fail",
        )
    } else {
        reply::json(StatusCode::OK, Bytes::from_static(br#"{"status":"ok"}"#))
    }
}

async fn ready(State(s): State<Arc<InstanceState>>) -> Response {
    if s.draining.load(Ordering::Acquire) {
        return reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "draining",
            "instance is shutting down",
        );
    }
    match tokio::time::timeout(Duration::from_secs(2), s.store.ping()).await {
        Ok(Ok(())) => reply::json(StatusCode::OK, Bytes::from_static(br#"{"status":"ready"}"#)),
        Ok(Err(e)) => reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
        Err(_) => reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            "store ping timed out",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn synthetic_items_are_deterministic_json() {
        let a = synthetic_item("42", b"");
        assert_eq!(a, synthetic_item("42", b""));
        assert_ne!(a, synthetic_item("43", b""));
        let v: serde_json::Value = serde_json::from_slice(&a).unwrap();
        assert_eq!(v["id"], "42");
        assert_eq!(v["name"], "item 42");
        let odd: serde_json::Value =
            serde_json::from_slice(&synthetic_item("a\"b\\c", b"xyz")).unwrap();
        assert_eq!(odd["id"], "a\"b\\c");
        assert_eq!(odd["payload"], "xyz");
    }
}
