//! `--client hyper`: the same traffic sent through an independent HTTP stack,
//! hyper-util's pooled legacy client (`HttpConnector`, HTTP/1.1, keep-alive), so
//! that any figure the own client ([`super::client`]) measures can be cross-checked.
//!
//! The worker does not know which client it drives: its connection tasks hold a
//! [`Link`], either one of the own client's connections or a handle on the phase's
//! hyper pool. The request is the one the worker renders for the own client (same
//! seed, same bytes: [`super::request::PreparedClass::build`]), read back with
//! httparse into an `http::Request`; hyper frames it, sends it, and reads the answer
//! (interim answers, chunked bodies, keep-alive, all hyper's own); only the received
//! head's headers are handed to the worker as an [`Answer`], for the few headers the
//! recorder reads.
//!
//! The differences from the own client, all small and all on the slower side:
//! - hyper connects inside the request: a connect is part of the service time (the
//!   own client connects before its send instant), and the timeout covers it.
//! - The pool holds at most the phase's connections idle; the worker's connection
//!   tasks bound the requests in flight to that number, so the connections in use too
//!   (hyper may finish a connect it raced against an idle connection: it is kept
//!   idle, or closed beyond the cap).
//! - Target round robin is per connection task, moving on at a connect error as the
//!   own client does. A hostname is resolved again on `[client] resolve_every` through
//!   the worker's [`Targets`], as the own client's connects do: once due, the next
//!   request goes to the addresses it has then (hyper's pool keys connections by
//!   address, so they are new connections; the old ones idle out).
//! - `https://`: hyper-rustls with the own client's rustls config (same roots, client
//!   certificate, `insecure`, SNI); connection set-up is not timed apart.

use std::cell::Cell;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::{HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_rustls::{FixedServerNameResolver, HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};

use super::client::{Answer, Conn, Target, Targets};
use crate::metrics::ClientFailure;

/// The largest body kept for the worker, as the own client keeps (a longer one is
/// read and dropped).
const MAX_KEPT_BODY: usize = 1024 * 1024;
/// Request headers a rendered request may have (it has a handful).
const MAX_REQUEST_HEADERS: usize = 64;

/// Which HTTP client sends the load.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ClientKind {
    /// ninefold's own HTTP/1.1 client (the fast one).
    #[default]
    Ninefold,
    /// hyper-util's pooled client: an independent HTTP stack, to cross-check figures.
    Hyper,
}

impl ClientKind {
    /// The name results and the terminal use.
    pub fn name(self) -> &'static str {
        match self {
            ClientKind::Ninefold => "ninefold",
            ClientKind::Hyper => "hyper",
        }
    }
}

type Pool = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// One worker's hyper pools, one per phase (each capped at the phase's share of
/// connections), and the round-robin cursor its connection tasks start from.
pub(crate) struct HyperPools {
    pools: Vec<Option<Pool>>,
    /// The `Host` every request carries (every target of a run comes from one URL).
    host: HeaderValue,
    next: Cell<usize>,
}

impl HyperPools {
    /// `phases`: per phase, the worker's connections and the request timeout
    /// (`None`: the worker runs no connection for the phase).
    pub fn new(
        phases: impl IntoIterator<Item = Option<(usize, Duration)>>,
        targets: &[Target],
        worker: usize,
    ) -> Self {
        HyperPools {
            pools: phases
                .into_iter()
                .map(|p| p.map(|(conns, timeout)| pool(conns, timeout, targets.first())))
                .collect(),
            host: targets
                .first()
                .map_or(HeaderValue::from_static("localhost"), |t| t.host.clone()),
            next: Cell::new(worker),
        }
    }

    /// A connection task's link for phase `p`.
    pub fn link(&self, p: usize) -> Link {
        let Some(Some(pool)) = self.pools.get(p) else {
            return Link::Own(None);
        };
        let start = self.next.get();
        self.next.set(start.wrapping_add(1));
        Link::Hyper(Box::new(HyperConn {
            pool: pool.clone(),
            target: start,
            host: self.host.clone(),
            request: Vec::with_capacity(512),
        }))
    }
}

fn pool(connections: usize, timeout: Duration, target: Option<&Target>) -> Pool {
    let mut http = HttpConnector::new();
    http.set_nodelay(true);
    http.set_connect_timeout(Some(timeout));
    // `https://` request URIs reach the TLS layer; `http://` ones pass through.
    http.enforce_http(false);
    // Every target of a run comes from one URL: one scheme, one server name.
    let connector = match target.and_then(|t| t.tls.as_ref()) {
        Some(tls) => HttpsConnectorBuilder::new()
            .with_tls_config({
                // hyper-rustls sets ALPN itself (`enable_http1`: http/1.1).
                let mut config = (**tls.connector.config()).clone();
                config.alpn_protocols.clear();
                config
            })
            .https_or_http()
            .with_server_name_resolver(FixedServerNameResolver::new(tls.server_name.clone()))
            .enable_http1()
            .wrap_connector(http),
        None => HttpsConnectorBuilder::new()
            .with_tls_config(plain_only_config())
            .https_or_http()
            .enable_http1()
            .wrap_connector(http),
    };
    Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(connections.max(1))
        .pool_timer(TokioTimer::new())
        .build(connector)
}

/// A config that is never used for a handshake (plain targets send `http://` URIs).
fn plain_only_config() -> rustls::ClientConfig {
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map(|b| {
        b.with_root_certificates(rustls::RootCertStore::empty())
            .with_no_client_auth()
    })
    .expect("the provider's defaults are consistent")
}

/// What a connection task sends with: one of the own client's connections (opened
/// when needed), or the hyper pool.
pub(crate) enum Link {
    Own(Option<Conn>),
    /// Boxed: the hyper pool handle (with its TLS connector) is larger than a connection.
    Hyper(Box<HyperConn>),
    /// A stream task of an HTTP/2 phase ([`super::http2`]).
    H2(super::http2::H2Stream),
}

impl Link {
    /// Make the link ready to send: the own client reuses its connection while it is
    /// usable and connects otherwise. The failure (`Connect`, `Tls`) when it could not
    /// connect; else whether nothing was awaited (no connect came between the
    /// caller's clock reading and now).
    pub async fn ready(
        &mut self,
        targets: &Targets,
        timeout: Duration,
    ) -> Result<bool, ClientFailure> {
        match self {
            Link::Own(conn) => {
                if conn.as_mut().is_some_and(Conn::is_usable) {
                    return Ok(true);
                }
                *conn = None;
                // Boxed: the connect's future (TCP, then a TLS handshake) is larger than
                // an exchange's and runs once per connection, not per request.
                *conn = Some(Box::pin(targets.connect(timeout)).await?);
                Ok(false)
            }
            Link::Hyper(_) => Ok(true),
            Link::H2(s) => Box::pin(s.ready(targets, timeout)).await,
        }
    }

    /// The buffer the request is rendered into, and the `Host` it goes to (`None`
    /// without a connection).
    pub fn request_buf(&mut self) -> Option<(&mut Vec<u8>, &HeaderValue)> {
        match self {
            Link::Own(conn) => conn.as_mut().map(Conn::request_buf),
            Link::Hyper(h) => Some((&mut h.request, &h.host)),
            Link::H2(s) => Some(s.request_buf()),
        }
    }

    /// Send the rendered request (sent at `sent`) and read the whole answer, as
    /// [`Conn::exchange_from`] does; a failed own connection is dropped.
    pub async fn exchange_from(
        &mut self,
        targets: &Targets,
        sent: Instant,
        head_request: bool,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        match self {
            Link::Own(conn) => {
                let Some(c) = conn.as_mut() else {
                    return Err(ClientFailure::Connect);
                };
                let result = c
                    .exchange_from(sent, head_request, keep_body, timeout)
                    .await;
                if result.is_err() {
                    // A timed-out or broken HTTP/1 connection cannot carry another request.
                    *conn = None;
                }
                result
            }
            // Boxed: their futures (hyper's client, the HTTP/2 client's) are larger than
            // the own connection's, and a future the size of the largest branch was
            // copied and dropped on every request of the own client too.
            Link::Hyper(h) => Box::pin(h.exchange_from(targets, sent, keep_body, timeout)).await,
            Link::H2(s) => Box::pin(s.exchange_from(targets, sent, keep_body, timeout)).await,
        }
    }

    /// The holder is about to wait for something else (see [`Conn::idle`]).
    pub fn idle(&mut self) {
        match self {
            Link::Own(Some(c)) => c.idle(),
            Link::H2(s) => s.idle(),
            _ => {}
        }
    }
}

/// A connection task's handle on its phase's hyper pool.
pub(crate) struct HyperConn {
    pool: Pool,
    /// The `Host` of the run's targets.
    host: HeaderValue,
    /// The target requests go to until a connect to it fails (an index into the
    /// worker's current list, taken modulo its length: the list changes on re-resolve).
    target: usize,
    request: Vec<u8>,
}

/// A rendered request read back: what `http::Request` needs.
struct Parsed {
    method: http::Method,
    path: String,
    headers: Vec<(http::HeaderName, HeaderValue)>,
    body: Bytes,
}

impl HyperConn {
    async fn exchange_from(
        &mut self,
        targets: &Targets,
        sent: Instant,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        let deadline = tokio::time::Instant::from_std(sent) + timeout;
        let parsed = parse_request(&self.request).ok_or(ClientFailure::Io)?;
        // The hostname's addresses now (resolved again once due, as the own client's
        // connects do); within the deadline, like hyper's own connect.
        if tokio::time::timeout_at(deadline, targets.refresh())
            .await
            .is_err()
        {
            return Err(ClientFailure::Timeout);
        }
        let n = targets.list.borrow().len();
        // Past a connect error, on to the next target, as the own client does.
        for _ in 0..n {
            let target = {
                let list = targets.list.borrow();
                list[self.target % list.len()].clone()
            };
            let request = to_request(&parsed, &target)?;
            match tokio::time::timeout_at(deadline, send(&self.pool, request, keep_body)).await {
                Err(_) => return Err(ClientFailure::Timeout),
                Ok(Err(ClientFailure::Connect)) => {
                    self.target = self.target.wrapping_add(1);
                }
                Ok(result) => return result,
            }
        }
        Err(ClientFailure::Connect)
    }
}

fn parse_request(bytes: &[u8]) -> Option<Parsed> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let httparse::Status::Complete(len) = req.parse(bytes).ok()? else {
        return None;
    };
    Some(Parsed {
        method: http::Method::from_bytes(req.method?.as_bytes()).ok()?,
        path: req.path?.to_owned(),
        headers: req
            .headers
            .iter()
            .map(|h| {
                Some((
                    http::HeaderName::from_bytes(h.name.as_bytes()).ok()?,
                    HeaderValue::from_bytes(h.value).ok()?,
                ))
            })
            .collect::<Option<_>>()?,
        body: Bytes::copy_from_slice(&bytes[len..]),
    })
}

fn to_request(p: &Parsed, target: &Target) -> Result<Request<Full<Bytes>>, ClientFailure> {
    let mut builder = Request::builder()
        .method(p.method.clone())
        .uri(format!(
            "{}://{}{}",
            if target.tls.is_some() {
                "https"
            } else {
                "http"
            },
            target.addr,
            p.path
        ))
        .version(http::Version::HTTP_11);
    for (name, value) in &p.headers {
        // The `Host` of the target it goes to (virtual hosting), as rendered for it.
        let value = if name == http::header::HOST {
            &target.host
        } else {
            value
        };
        builder = builder.header(name, value);
    }
    builder
        .body(Full::new(p.body.clone()))
        .map_err(|_| ClientFailure::Io)
}

/// One request through the pool, the body read to its end (kept when asked or when
/// the status is an error, as the own client keeps it).
async fn send(
    pool: &Pool,
    request: Request<Full<Bytes>>,
    keep_body: bool,
) -> Result<Answer, ClientFailure> {
    let response = pool.request(request).await.map_err(|e| {
        if is_tls(&e) {
            ClientFailure::Tls
        } else if e.is_connect() {
            ClientFailure::Connect
        } else {
            ClientFailure::Io
        }
    })?;
    let (parts, mut body) = response.into_parts();
    let mut kept = (keep_body || parts.status.as_u16() >= 400).then(BytesMut::new);
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ClientFailure::Io)?;
        if let (Ok(data), Some(b)) = (frame.into_data(), kept.as_mut()) {
            if b.len() + data.len() > MAX_KEPT_BODY {
                kept = None;
            } else {
                b.extend_from_slice(&data);
            }
        }
    }
    Answer::from_head(&render_head(&parts), kept.map(BytesMut::freeze))
}

/// Whether the TLS layer failed somewhere under `e` (a handshake, an alert).
fn is_tls(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    for _ in 0..16 {
        let Some(c) = cause else { break };
        if c.is::<rustls::Error>() {
            return true;
        }
        // An `io::Error`'s `source` skips the error it wraps: look at that one.
        cause = match c
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => c.source(),
        };
    }
    false
}

/// The answer's head as text, for [`Answer`]'s header lookups (the framing was hyper's).
fn render_head(parts: &http::response::Parts) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(parts.status.as_str().as_bytes());
    head.extend_from_slice(b" \r\n");
    for (name, value) in &parts.headers {
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"\r\n");
    head
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    #[test]
    fn a_rendered_request_reads_back_whole() {
        let raw =
            b"POST /orders?x=1 HTTP/1.1\r\nhost: a:1\r\ncontent-length: 2\r\nx-seq: 7\r\n\r\n{}";
        let p = parse_request(raw).unwrap();
        let target = Target::with_host(
            "127.0.0.1:9".parse().unwrap(),
            HeaderValue::from_static("b:2"),
        );
        let r = to_request(&p, &target).unwrap();
        assert_eq!(r.method(), http::Method::POST);
        assert_eq!(r.uri(), "http://127.0.0.1:9/orders?x=1");
        assert_eq!(r.headers()["host"], "b:2");
        assert_eq!(r.headers()["x-seq"], "7");
        assert_eq!(p.body.as_ref(), b"{}");
    }

    #[test]
    fn an_answer_keeps_the_headers_the_recorder_reads() {
        let response = http::Response::builder()
            .status(429)
            .header("x-backend-instance", "b-1")
            .header("retry-after", "2")
            .body(())
            .unwrap();
        let (parts, ()) = response.into_parts();
        let a = Answer::from_head(&render_head(&parts), None).unwrap();
        assert_eq!(a.status, 429);
        assert_eq!(a.instance(), Some(&b"b-1"[..]));
        assert_eq!(a.header_str("retry-after"), Some("2"));
    }

    /// A keep-alive server answering every request with `X-Backend-Instance: name`.
    async fn named(name: &'static str) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 1024];
                    while let Ok(n) = s.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                            buf.drain(..end + 4);
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nx-backend-instance: {name}\r\ncontent-length: 0\r\n\r\n"
                            );
                            if s.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        (addr, task)
    }

    /// `[client] resolve_every` with `--client hyper`: the hostname is resolved again
    /// once due and the next request goes to its new address; a failed lookup keeps
    /// the old one (the resolver seam of the own client's test).
    #[tokio::test]
    async fn hyper_requests_follow_the_hostname_to_its_new_address_once_due() {
        use super::super::resolve::Resolve;
        let (a, task_a) = named("a").await;
        let (b, task_b) = named("b").await;
        let answers = Arc::new(std::sync::Mutex::new(vec![a]));
        let mut resolve = Resolve::new("api.test".into(), a.port(), Duration::from_secs(30));
        resolve.fake = Some(Arc::clone(&answers));
        let host = HeaderValue::from_static("api.test");
        let targets = Targets::new(
            vec![Target::with_host(a, host).with_resolve(Arc::new(resolve))],
            0,
        );
        let timeout = Duration::from_secs(10);
        let pools = HyperPools::new([Some((1, timeout))], &targets.list.borrow(), 0);
        let mut link = pools.link(0);
        let mut ask = async || -> String {
            let (buf, host) = link.request_buf().unwrap();
            assert_eq!(host, "api.test");
            buf.clear();
            buf.extend_from_slice(b"GET / HTTP/1.1\r\nhost: api.test\r\n\r\n");
            let answer = link
                .exchange_from(&targets, Instant::now(), false, false, timeout)
                .await
                .unwrap();
            assert_eq!(answer.status, 200);
            String::from_utf8(answer.instance().unwrap().to_vec()).unwrap()
        };
        assert_eq!(ask().await, "a");
        // The records change; the lookup is not due yet: still `a`.
        *answers.lock().unwrap() = vec![b];
        assert_eq!(ask().await, "a");
        targets.expire_resolution();
        assert_eq!(ask().await, "b");
        // A lookup that finds nothing keeps the address it had.
        answers.lock().unwrap().clear();
        targets.expire_resolution();
        assert_eq!(ask().await, "b");
        task_a.abort();
        task_b.abort();
    }
}
