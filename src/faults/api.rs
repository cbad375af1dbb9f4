//! The Toxiproxy 2.12 HTTP API over a [`FaultProxyHandle`], with axum: every
//! endpoint, status, error text and field order of Toxiproxy 2.12.0 (docs/faults.md),
//! so existing Toxiproxy clients work unchanged.
//!
//! Layer list (outermost first): `guard` (request id on every response,
//! `Mozilla/` user agents → 403, HEAD → 405/404 as gorilla/mux answers) →
//! router (unknown path → 404 `404 page not found`, wrong method → 405 empty)
//! → handlers. Handlers check in the reference's order (proxy, body, stream,
//! type, name, attributes) so that the first error reported is the same.
//!
//! Error answers are the reference's: `text/plain; charset=utf-8` with
//! `X-Content-Type-Options: nosniff` (Go's `http.Error` overrides the JSON
//! content type the reference sets first), the body Toxiproxy's JSON object.
//!
//! Deliberate differences (all listed in docs/faults.md): a body over
//! [`BODY_LIMIT`] is a 413 (the reference has no limit), a proxy name with a
//! `/` is refused, and there is no `/metrics` route (404, as the reference
//! without `-proxy-metrics`).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::faults::error::FaultProxyError;
use crate::faults::handle::{FaultProxyHandle, ProxySpec};
use crate::faults::proxy::{NewToxic, Stream};
use crate::faults::wire::{
    self, Attributes, ErrorBody, PopulateBody, ProxyInput, ProxyPatch, ToxicInput, ToxicUpdateInput,
};

/// The largest request body the API reads (a larger one is a 413 JSON error,
/// refused on its `Content-Length` before the body is read when it has one).
pub const BODY_LIMIT: usize = 2 * 1024 * 1024;

/// The header every response carries.
pub const REQUEST_ID_HEADER: &str = "x-toxiproxy-request-id";

/// How long in-flight API requests get to finish after shutdown is asked.
const API_DRAIN: Duration = Duration::from_secs(5);

/// Serve the Toxiproxy HTTP API for `proxy` on an already bound `listener`
/// until `shutdown` fires; then stop accepting, give in-flight requests a
/// moment, and stop every proxy.
pub async fn serve(
    listener: TcpListener,
    proxy: FaultProxyHandle,
    shutdown: CancellationToken,
) -> std::io::Result<()> {
    let serve = axum::serve(listener, app(proxy.clone()))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned());
    let serve = std::future::IntoFuture::into_future(serve);
    tokio::pin!(serve);
    let result = tokio::select! {
        r = &mut serve => r,
        () = async { shutdown.cancelled().await; tokio::time::sleep(API_DRAIN).await } => Ok(()),
    };
    proxy.shutdown().await;
    result
}

/// The API router (testable without a socket with `tower::ServiceExt::oneshot`).
pub fn app(proxy: FaultProxyHandle) -> Router {
    Router::new()
        .route("/version", get(version))
        .route("/reset", post(reset))
        .route("/populate", post(populate))
        .route("/proxies", get(proxy_index).post(proxy_create))
        .route(
            "/proxies/{proxy}",
            get(proxy_show)
                .post(proxy_update)
                .patch(proxy_update)
                .delete(proxy_delete),
        )
        .route(
            "/proxies/{proxy}/toxics",
            get(toxic_index).post(toxic_create),
        )
        .route(
            "/proxies/{proxy}/toxics/{toxic}",
            get(toxic_show)
                .post(toxic_update)
                .patch(toxic_update)
                .delete(toxic_delete),
        )
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .layer(middleware::from_fn(guard))
        .with_state(proxy)
}

type ApiResult = Result<Response, FaultProxyError>;

impl IntoResponse for FaultProxyError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut body = serde_json::to_vec(&ErrorBody {
            error: self.to_string(),
            status,
        })
        .unwrap_or_default();
        body.push(b'\n'); // Go's http.Error uses Fprintln.
        let mut resp = raw(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            "text/plain; charset=utf-8",
            body,
        );
        resp.headers_mut().insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        resp
    }
}

/// The body, or 413 when it is over [`BODY_LIMIT`] (400 if it broke off).
fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, FaultProxyError> {
    body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            FaultProxyError::BodyTooLarge
        } else {
            bad_body(e.body_text())
        }
    })
}

/// Whether the head announces a body over [`BODY_LIMIT`].
fn announced_too_large(req: &Request) -> bool {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > BODY_LIMIT as u64)
}

fn raw(status: StatusCode, content_type: &'static str, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    resp
}

fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_vec(value) {
        Ok(body) => raw(status, "application/json", body),
        Err(e) => FaultProxyError::Listen(e.to_string()).into_response(),
    }
}

/// Go's `http.Error` for plain-text answers (404 page, 403 user agent).
fn plain_error(status: StatusCode, text: &'static str) -> Response {
    let mut resp = raw(status, "text/plain; charset=utf-8", format!("{text}\n"));
    resp.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    resp
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

fn bad_body(e: impl ToString) -> FaultProxyError {
    FaultProxyError::BadRequestBody(e.to_string())
}

async fn not_found() -> Response {
    plain_error(StatusCode::NOT_FOUND, "404 page not found")
}

/// Whether a path is one of the routes (for HEAD, which gorilla/mux answers 405 on them).
fn known_path(path: &str) -> bool {
    let segments: Vec<&str> = path.strip_prefix('/').unwrap_or("").split('/').collect();
    let named = |s: &str| !s.is_empty();
    match segments.as_slice() {
        ["version" | "reset" | "populate" | "proxies"] => true,
        ["proxies", p] => named(p),
        ["proxies", p, "toxics"] => named(p),
        ["proxies", p, "toxics", t] => named(p) && named(t),
        _ => false,
    }
}

async fn guard(req: Request, next: Next) -> Response {
    let browser = req
        .headers()
        .get(header::USER_AGENT)
        .is_some_and(|ua| ua.as_bytes().starts_with(b"Mozilla/"));
    let mut resp = if browser {
        plain_error(StatusCode::FORBIDDEN, "User agent not allowed")
    } else if announced_too_large(&req) {
        FaultProxyError::BodyTooLarge.into_response()
    } else if req.method() == Method::HEAD {
        if known_path(req.uri().path()) {
            StatusCode::METHOD_NOT_ALLOWED.into_response()
        } else {
            not_found().await
        }
    } else {
        let (method, path) = (req.method().clone(), req.uri().path().to_owned());
        let resp = next.run(req).await;
        tracing::debug!(%method, %path, status = resp.status().as_u16(), "api request");
        resp
    };
    if let Ok(id) = HeaderValue::from_str(&request_id()) {
        resp.headers_mut().insert(REQUEST_ID_HEADER, id);
    }
    resp
}

/// A 20-character id in the shape of the `xid` ids the reference sends:
/// 4 bytes of time, 5 random per-process bytes, a 3-byte counter, base32hex.
fn request_id() -> String {
    static PROCESS: OnceLock<[u8; 5]> = OnceLock::new();
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let process = PROCESS.get_or_init(rand::random);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let count = COUNTER.fetch_add(1, Ordering::Relaxed);
    let mut bytes = [0u8; 12];
    bytes[..4].copy_from_slice(&u32::try_from(secs & 0xFFFF_FFFF).unwrap_or(0).to_be_bytes());
    bytes[4..9].copy_from_slice(process);
    bytes[9..].copy_from_slice(&count.to_be_bytes()[1..]);
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghijklmnopqrstuv";
    let bits = bytes
        .iter()
        .fold(0u128, |acc, &b| (acc << 8) | u128::from(b))
        << 4;
    (0..20)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect()
}

async fn version() -> Response {
    raw(
        StatusCode::OK,
        "application/json;charset=utf-8",
        wire::VERSION_BODY,
    )
}

async fn reset(State(fp): State<FaultProxyHandle>) -> ApiResult {
    fp.reset().await?;
    Ok(no_content())
}

async fn proxy_index(State(fp): State<FaultProxyHandle>) -> Response {
    json(StatusCode::OK, &fp.proxies().await)
}

fn spec_from(input: ProxyInput) -> ProxySpec {
    ProxySpec {
        name: input.name,
        listen: input.listen,
        upstream: input.upstream,
        enabled: input.enabled.unwrap_or(true),
    }
}

async fn proxy_create(
    State(fp): State<FaultProxyHandle>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let body = read_body(body)?;
    let input: ProxyInput = wire::decode_body(&body).map_err(bad_body)?;
    let proxy = fp.create_proxy(spec_from(input)).await?;
    Ok(json(StatusCode::CREATED, &proxy))
}

async fn populate(
    State(fp): State<FaultProxyHandle>,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // Every answer here is the `{error?, status?, proxies}` object, errors included.
    let failed = |error: FaultProxyError, created: Vec<wire::WireProxy>| {
        let status = error.status();
        json(
            StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            &PopulateBody {
                error: Some(error.to_string()),
                status: Some(status),
                proxies: (!created.is_empty()).then_some(created),
            },
        )
    };
    let body = match read_body(body) {
        Ok(b) => b,
        Err(e) => return failed(e, Vec::new()),
    };
    let inputs: Vec<ProxyInput> = match wire::decode_body(&body) {
        Ok(v) => v,
        Err(e) => return failed(bad_body(e), Vec::new()),
    };
    match fp
        .populate(inputs.into_iter().map(spec_from).collect())
        .await
    {
        Ok(created) => json(
            StatusCode::CREATED,
            &PopulateBody {
                error: None,
                status: None,
                proxies: (!created.is_empty()).then_some(created),
            },
        ),
        Err(e) => failed(e.error, e.created),
    }
}

async fn proxy_show(State(fp): State<FaultProxyHandle>, Path(name): Path<String>) -> ApiResult {
    Ok(json(StatusCode::OK, &fp.proxy(&name).await?))
}

async fn proxy_update(
    State(fp): State<FaultProxyHandle>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    fp.get(&name).await?;
    let body = read_body(body)?;
    let patch: ProxyPatch = wire::decode_body(&body).map_err(bad_body)?;
    let proxy = fp
        .update_proxy(&name, patch.listen, patch.upstream, patch.enabled)
        .await?;
    Ok(json(StatusCode::OK, &proxy))
}

async fn proxy_delete(State(fp): State<FaultProxyHandle>, Path(name): Path<String>) -> ApiResult {
    fp.delete_proxy(&name).await?;
    Ok(no_content())
}

async fn toxic_index(State(fp): State<FaultProxyHandle>, Path(name): Path<String>) -> ApiResult {
    Ok(json(StatusCode::OK, &fp.toxics(&name).await?))
}

async fn toxic_create(
    State(fp): State<FaultProxyHandle>,
    Path(proxy): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    fp.get(&proxy).await?;
    let body = read_body(body)?;
    let input: ToxicInput = wire::decode_body(&body).map_err(bad_body)?;
    let new = new_toxic(input)?;
    // 200, not 201: the reference answers a toxic creation with OK.
    Ok(json(StatusCode::OK, &fp.add_toxic_raw(&proxy, new).await?))
}

/// Check a toxic creation in the reference's order (stream, then type); an
/// attribute error is kept for after the name check, where the reference
/// reports it. Also used for the toxics of `ninefold toxiproxy --config`.
pub(crate) fn new_toxic(input: ToxicInput) -> Result<NewToxic, FaultProxyError> {
    let stream_label = input.stream.unwrap_or_else(|| "downstream".to_owned());
    let stream = Stream::parse(&stream_label).ok_or(FaultProxyError::InvalidStream)?;
    let kind = input.kind.unwrap_or_default();
    let attributes = Attributes::decode(&kind, input.attributes.as_ref())
        .ok_or(FaultProxyError::InvalidToxicType)?
        .map_err(bad_body);
    let name = input
        .name
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("{kind}_{stream_label}"));
    Ok(NewToxic {
        name,
        stream,
        stream_label,
        toxicity: input.toxicity.unwrap_or(1.0),
        attributes,
    })
}

async fn toxic_show(
    State(fp): State<FaultProxyHandle>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    Ok(json(StatusCode::OK, &fp.toxic(&proxy, &toxic).await?))
}

async fn toxic_update(
    State(fp): State<FaultProxyHandle>,
    Path((proxy, toxic)): Path<(String, String)>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult {
    let target = fp.get(&proxy).await?;
    let body = read_body(body)?;
    let updated = target
        .update_toxic(&toxic, |attrs, toxicity| {
            let input: ToxicUpdateInput = wire::decode_body(&body).map_err(bad_body)?;
            let attributes = match &input.attributes {
                Some(patch) => attrs.merge(patch).map_err(bad_body)?,
                None => *attrs,
            };
            Ok((attributes, input.toxicity.unwrap_or(toxicity)))
        })
        .await?;
    Ok(json(StatusCode::OK, &updated))
}

async fn toxic_delete(
    State(fp): State<FaultProxyHandle>,
    Path((proxy, toxic)): Path<(String, String)>,
) -> ApiResult {
    fp.remove_toxic(&proxy, &toxic).await?;
    Ok(no_content())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_look_like_xids_and_differ() {
        let a = request_id();
        let b = request_id();
        assert_eq!(a.len(), 20);
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'v').contains(&c))
        );
        assert_ne!(a, b);
    }

    #[test]
    fn known_paths_match_the_routes() {
        for p in [
            "/version",
            "/reset",
            "/populate",
            "/proxies",
            "/proxies/a",
            "/proxies/a/toxics",
            "/proxies/a/toxics/b",
        ] {
            assert!(known_path(p), "{p}");
        }
        for p in [
            "/",
            "/proxies/",
            "/proxies/a/",
            "/metrics",
            "/proxies/a/toxics/b/c",
            "/versions",
        ] {
            assert!(!known_path(p), "{p}");
        }
    }
}
