//! Helpers: counting upstreams that can be killed, hung upstreams, a gateway on `:0`,
//! token minting. Everything stops when dropped.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use http::{HeaderMap, StatusCode};
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use reference_gateway::{Config, Gateway, RouteConfig, UpstreamConfig};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

/// What an upstream saw.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

/// A counting upstream; `kill` stops it abruptly (listener and connections closed).
pub struct Upstream {
    pub addr: SocketAddr,
    pub calls: Arc<AtomicUsize>,
    pub status: Arc<AtomicU16>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    task: Option<JoinHandle<()>>,
}

impl Upstream {
    pub fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> Seen {
        self.seen
            .lock()
            .unwrap()
            .last()
            .cloned()
            .expect("no request seen")
    }

    pub async fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
            let _ = t.await;
        }
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

/// Serves `router` on a listener; aborting the returned task closes every connection.
fn serve(listener: TcpListener, router: Router) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            tokio::select! {
                r = listener.accept() => {
                    let Ok((s, _)) = r else { return };
                    let svc = TowerToHyperService::new(router.clone());
                    conns.spawn(async move {
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(s), svc).await;
                    });
                }
                Some(_) = conns.join_next(), if !conns.is_empty() => {}
            }
        }
    })
}

pub async fn spawn_upstream(name: &'static str) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let status = Arc::new(AtomicU16::new(200));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (c, st, se) = (calls.clone(), status.clone(), seen.clone());
    let router = Router::new().fallback(move |req: Request| {
        let (c, st, se) = (c.clone(), st.clone(), se.clone());
        async move {
            let path = req
                .uri()
                .path_and_query()
                .map_or("/".to_string(), |p| p.to_string());
            if path == "/health" {
                return (StatusCode::OK, "up").into_response();
            }
            c.fetch_add(1, Ordering::SeqCst);
            let (parts, body) = req.into_parts();
            let body = axum::body::to_bytes(body, 1 << 20)
                .await
                .unwrap_or_default();
            se.lock().unwrap().push(Seen {
                method: parts.method.to_string(),
                path: path.clone(),
                headers: parts.headers.clone(),
                body: body.to_vec(),
            });
            let status = StatusCode::from_u16(st.load(Ordering::SeqCst)).unwrap();
            let mut resp: Response = (status, format!("{name} {path}")).into_response();
            let h = resp.headers_mut();
            h.insert("x-backend-instance", name.parse().unwrap());
            h.insert("x-internal", "secret".parse().unwrap());
            if path.starts_with("/items/nostore") {
                h.insert("cache-control", "no-store".parse().unwrap());
            }
            if path.starts_with("/items/private") {
                h.insert("cache-control", "private, max-age=60".parse().unwrap());
            }
            resp
        }
    });
    Upstream {
        addr,
        calls,
        status,
        seen,
        task: Some(serve(listener, router)),
    }
}

/// Accepts connections and never answers (a SIGSTOPped process, seen from outside).
pub struct Hung {
    pub addr: SocketAddr,
    /// How many connections it has accepted.
    pub accepted: tokio::sync::watch::Receiver<usize>,
    task: JoinHandle<()>,
}

impl Drop for Hung {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub async fn spawn_hung() -> Hung {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (count, accepted) = tokio::sync::watch::channel(0);
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
            count.send_replace(held.len());
        }
    });
    Hung {
        addr,
        accepted,
        task,
    }
}

/// A free port with nothing listening.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

/// A gateway serving on `:0`; stops when dropped.
pub struct Gw {
    pub url: String,
    pub admin: String,
    pub gateway: Gateway,
    shutdown: CancellationToken,
}

impl Gw {
    /// The data-plane address.
    pub fn addr(&self) -> SocketAddr {
        self.url.trim_start_matches("http://").parse().unwrap()
    }

    /// Starts the graceful drain (SIGTERM's path).
    pub fn stop(&self) {
        self.shutdown.cancel();
    }
}

impl Drop for Gw {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_gateway(config: Config) -> Gw {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let admin_url = format!("http://{}", admin.local_addr().unwrap());
    let shutdown = CancellationToken::new();
    let gateway = Gateway::new(config, shutdown.clone()).expect("valid config");
    tokio::spawn(gateway.clone().serve(listener, admin));
    Gw {
        url,
        admin: admin_url,
        gateway,
        shutdown,
    }
}

/// One upstream `api` over `targets` and one route `/items` (any method).
pub fn config(targets: &[SocketAddr]) -> Config {
    Config {
        access_log: false,
        ..Config::new(
            BTreeMap::from([("api".to_string(), UpstreamConfig::new(targets.to_vec()))]),
            vec![RouteConfig::new("/items", "api")],
        )
    }
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

pub const SECRET: &[u8] = b"test-secret-0123456789";

pub fn hs256(claims: serde_json::Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET),
    )
    .unwrap()
}

pub fn tenant_token(tenant: &str) -> String {
    hs256(serde_json::json!({ "tenant_id": tenant, "exp": now() + 600, "scope": "items:read" }))
}

pub fn key_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/keys")
        .join(name)
}
