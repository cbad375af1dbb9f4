//! Helpers the load-engine tests share: an HTTP/1 server on 127.0.0.1:0 that
//! answers with a test's handler, one request class with the defaults, and a
//! run of the engine bounded by a guard timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use ninefold::metrics::Recording;
use ninefold::scenario::template::Template;
use ninefold::scenario::{RequestTemplate, TokenKind};
use ninefold::traffic::{Target, TrafficOptions, TrafficPlan, run_traffic};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

pub type Reply = Response<Full<Bytes>>;

/// A server on 127.0.0.1:0; it stops (listener and connections) when dropped.
pub struct Server {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// Serve every request with `handler` on 127.0.0.1:0.
pub async fn serve<F, Fut>(handler: F) -> Server
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = CancellationToken::new();
    let s = stop.clone();
    tokio::spawn(async move {
        loop {
            let (stream, _) = tokio::select! {
                () = s.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(_) => continue,
                },
            };
            let (handler, s) = (handler.clone(), s.clone());
            tokio::spawn(async move {
                let service = service_fn(move |req| {
                    let fut = handler(req);
                    async move { Ok::<_, Infallible>(fut.await) }
                });
                let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    () = s.cancelled() => {}
                    _ = conn => {}
                }
            });
        }
    });
    Server { addr, stop }
}

/// One request class: `method path`, no headers, no body, weight 1, a valid token.
pub fn request(method: Method, path: &str) -> RequestTemplate {
    RequestTemplate {
        check: None,
        extract: Vec::new(),
        method,
        path: Template::parse(path).unwrap(),
        headers: Vec::new(),
        body: None,
        idempotency_key: false,
        weight: NonZeroU32::MIN,
        expect: Vec::new(),
        token: TokenKind::Valid,
        integrity: None,
    }
}

/// Runs `plan` to its end against `targets`. Bounded by the phases and their
/// drain deadline; the outer timeout only guards the test.
pub async fn run(plan: TrafficPlan, targets: Vec<Target>, options: TrafficOptions) -> Recording {
    tokio::time::timeout(
        Duration::from_secs(30),
        run_traffic(plan, targets, options, CancellationToken::new()),
    )
    .await
    .expect("traffic ends by itself")
    .unwrap()
}
