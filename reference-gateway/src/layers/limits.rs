//! Request hardening: header count and size (431), body size (413, checked against
//! `Content-Length` first, then while reading), and buffering of the body so that
//! retries can replay it. From here inward the stack sees `Request<Bytes>`.

use std::task::{Context, Poll};

use bytes::Bytes;
use futures::future::BoxFuture;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use tower::{Layer, Service, ServiceExt};

use crate::body::{Request, Response};
use crate::context::Ctx;
use crate::error::{BoxError, GatewayError};
use crate::layers::{ctx_of, fail, take};

/// Adds [`Limits`].
#[derive(Clone, Default)]
pub struct LimitsLayer;

impl<S> Layer<S> for LimitsLayer {
    type Service = Limits<S>;
    fn layer(&self, inner: S) -> Limits<S> {
        Limits { inner }
    }
}

/// See the module doc.
#[derive(Clone)]
pub struct Limits<S> {
    inner: S,
}

impl<S, B> Service<http::Request<B>> for Limits<S>
where
    S: Service<Request, Response = Response, Error = BoxError> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    type Response = Response;
    type Error = BoxError;
    type Future = BoxFuture<'static, Result<Response, BoxError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let inner = take(&mut self.inner);
        Box::pin(async move {
            let ctx = ctx_of(&req)?;
            let req = buffer(&ctx, req).await?;
            inner.oneshot(req).await
        })
    }
}

/// Checks the head against the limits and buffers the body (413 past the limit).
pub(crate) async fn buffer<B>(ctx: &Ctx, req: http::Request<B>) -> Result<Request, BoxError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let limits = &ctx.snap.config.server;
    let headers = req.headers();
    if headers.len() > limits.max_headers.get() {
        return Err(fail(GatewayError::HeadersTooLarge {
            what: format!("{} headers, at most {}", headers.len(), limits.max_headers),
        }));
    }
    let head: usize = req.uri().path_and_query().map_or(0, |p| p.as_str().len())
        + headers
            .iter()
            .map(|(n, v)| n.as_str().len() + v.len() + 4)
            .sum::<usize>();
    if head > limits.max_header_bytes.get() {
        return Err(fail(GatewayError::HeadersTooLarge {
            what: format!(
                "{head} bytes of headers, at most {}",
                limits.max_header_bytes
            ),
        }));
    }
    let max = limits.max_body_bytes.get();
    let declared = headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(fail(GatewayError::PayloadTooLarge { limit: max }));
    }
    let (parts, body) = req.into_parts();
    let bytes = if body.is_end_stream() {
        Bytes::new()
    } else {
        match Limited::new(body, max).collect().await {
            Ok(c) => c.to_bytes(),
            Err(e) if e.is::<LengthLimitError>() || announced_too_large(&*e) => {
                return Err(fail(GatewayError::PayloadTooLarge { limit: max }));
            }
            Err(e) => return Err(fail(GatewayError::BadBody(e.to_string()))),
        }
    };
    Ok(http::Request::from_parts(parts, bytes))
}

/// Whether the body failed because its chunks announced more than the limit (the
/// connection's decoder refuses such a chunk on its size line, before its data).
fn announced_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<crate::h1::H1Error>())
        .is_some_and(|h| matches!(h, crate::h1::H1Error::BodyTooLarge(_)))
}
