//! The admin listener: `/metrics` (Prometheus text), `/healthz` (the process is alive) and
//! `/readyz` (not draining, and every upstream has an available instance).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::GatewayState;

/// The admin router.
pub fn router(state: Arc<GatewayState>) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .with_state(state)
}

async fn metrics(State(s): State<Arc<GatewayState>>) -> impl IntoResponse {
    let snap = s.current.load();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        s.metrics.render(&snap.pools),
    )
}

async fn readyz(State(s): State<Arc<GatewayState>>) -> impl IntoResponse {
    if s.draining.load(Ordering::Relaxed) {
        return (StatusCode::SERVICE_UNAVAILABLE, "draining\n".to_string());
    }
    let snap = s.current.load();
    let empty: Vec<&str> = snap
        .pools
        .iter()
        .filter(|(_, p)| p.available_mask() == 0)
        .map(|(n, _)| n.as_str())
        .collect();
    if empty.is_empty() {
        (StatusCode::OK, "ready\n".to_string())
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("no available instance in: {}\n", empty.join(", ")),
        )
    }
}
