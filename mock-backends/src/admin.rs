//! The admin API, served on its own listener (bound to 127.0.0.1 by the CLI):
//!
//! | route | does |
//! | --- | --- |
//! | `GET /admin/behaviour` | the behaviour in force, as JSON |
//! | `PUT /admin/behaviour` | replace it (400 listing every problem); the next request sees it |
//! | `GET /admin/orders` | `{"instance":…,"orders":[…]}`: every stored order, for integrity checks |
//! | `GET /admin/items` | `{"instance":…,"items":[…]}`: every overwritten or deleted item |
//! | `GET /admin/stats` | `{"instance":…,"hostile_requests":N}`: requests marked hostile that reached this instance |

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::response::Response;
use axum::routing::get;
use http::StatusCode;

use crate::api::{InstanceState, method_not_allowed, not_found};
use crate::config::Behaviour;
use crate::reply;

/// The admin router of one instance.
pub fn router(state: Arc<InstanceState>) -> Router {
    Router::new()
        .route("/admin/behaviour", get(get_behaviour).put(put_behaviour))
        .route("/admin/orders", get(orders))
        .route("/admin/items", get(items))
        .route("/admin/stats", get(stats))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
}

fn to_json(value: &impl serde::Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(v) => reply::json(StatusCode::OK, v),
        Err(e) => reply::error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "serialize",
            e.to_string(),
        ),
    }
}

/// What `GET /admin/stats` answers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Stats {
    pub instance: String,
    /// Requests marked [`crate::headers::X_NINEFOLD_HOSTILE`] that reached this
    /// instance since it started: a gateway that refuses them keeps this at 0.
    pub hostile_requests: u64,
}

async fn stats(State(s): State<Arc<InstanceState>>) -> Response {
    to_json(&Stats {
        instance: s.instance.clone(),
        hostile_requests: s
            .hostile_requests
            .load(std::sync::atomic::Ordering::Relaxed),
    })
}

async fn get_behaviour(State(s): State<Arc<InstanceState>>) -> Response {
    to_json(&s.behaviour().source)
}

async fn put_behaviour(
    State(s): State<Arc<InstanceState>>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return reply::error(e.status(), "bad_body", e.body_text()),
    };
    let behaviour: Behaviour = match serde_json::from_slice(&body) {
        Ok(b) => b,
        Err(e) => {
            return reply::error(
                StatusCode::BAD_REQUEST,
                "bad_json",
                format!("not a behaviour: {e}"),
            );
        }
    };
    match behaviour.compile() {
        Ok(compiled) => {
            tracing::info!(instance = %s.instance, ?behaviour, "behaviour changed");
            s.set_behaviour(compiled);
            to_json(&behaviour)
        }
        Err(e) => {
            let body = serde_json::json!({
                "error": { "status": 400, "code": "invalid_behaviour", "message": e.to_string(), "problems": e.problems }
            });
            reply::json(StatusCode::BAD_REQUEST, body.to_string())
        }
    }
}

async fn orders(State(s): State<Arc<InstanceState>>) -> Response {
    match s.store.export_orders().await {
        Ok(orders) => to_json(&serde_json::json!({ "instance": s.instance, "orders": orders })),
        Err(e) => reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}

async fn items(State(s): State<Arc<InstanceState>>) -> Response {
    match s.store.export_items().await {
        Ok(items) => to_json(&serde_json::json!({ "instance": s.instance, "items": items })),
        Err(e) => reply::error(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        ),
    }
}
