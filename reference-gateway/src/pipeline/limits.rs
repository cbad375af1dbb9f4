//! Request hardening: header count and size (431), body size (413, checked against
//! `Content-Length` on the head, then while reading), and buffering of the body so that
//! retries can replay it. The pipeline checks the head first and reads the body only
//! after auth, the usage plan and routing admitted the head. From the body on, the
//! steps see `Request<Bytes>`.

use std::sync::atomic::{AtomicU64, Ordering};

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;

use crate::body::Request;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::pipeline::fail;

/// The head's limits: header count and size (431), a declared `Content-Length` above the
/// body limit (413). Reads nothing of the body.
pub(crate) fn check_head<B>(ctx: &RequestContext, req: &http::Request<B>) -> Result<(), BoxError> {
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
    Ok(())
}

/// Request body bytes held in memory, counted in a gauge (`gateway_request_body_buffered_bytes`)
/// until this drops.
pub(crate) struct Held<'a> {
    gauge: &'a AtomicU64,
    bytes: u64,
}

impl<'a> Held<'a> {
    pub(crate) fn new(gauge: &'a AtomicU64) -> Self {
        Self { gauge, bytes: 0 }
    }

    fn add(&mut self, n: usize) {
        self.bytes += n as u64;
        self.gauge.fetch_add(n as u64, Ordering::Relaxed);
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.gauge.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// Buffers the body so that retries can replay it (413 past the limit), counting what it
/// holds in `held`. Called only once the head was admitted (authenticated, within its
/// plan, routed): a refused request's body is never read.
pub(crate) async fn read_body<B>(
    ctx: &RequestContext,
    req: http::Request<B>,
    held: &mut Held<'_>,
) -> Result<Request, BoxError>
where
    B: hyper::body::Body<Data = Bytes>,
    B::Error: Into<BoxError>,
{
    let max = ctx.snap.config.server.max_body_bytes.get();
    let (parts, body) = req.into_parts();
    if body.is_end_stream() {
        return Ok(http::Request::from_parts(parts, Bytes::new()));
    }
    let mut body = std::pin::pin!(body);
    // Most bodies arrive as one frame: kept as is, without a copy (or an allocation here).
    let mut first: Option<Bytes> = None;
    let mut rest: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| {
            let e: BoxError = e.into();
            // A chunk announced past the body limit (or trailers beyond it) is 413.
            if announced_too_large(&*e) {
                fail(GatewayError::PayloadTooLarge { limit: max })
            } else {
                fail(GatewayError::BadBody(e.to_string()))
            }
        })?;
        // Trailers are not forwarded.
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if data.len() > max - total {
            return Err(fail(GatewayError::PayloadTooLarge { limit: max }));
        }
        total += data.len();
        held.add(data.len());
        if first.is_none() {
            first = Some(data);
        } else {
            rest.push(data);
        }
    }
    let bytes = match first {
        None => Bytes::new(),
        Some(b) if rest.is_empty() => b,
        Some(b) => {
            let mut all = BytesMut::with_capacity(total);
            all.extend_from_slice(&b);
            for c in &rest {
                all.extend_from_slice(c);
            }
            all.freeze()
        }
    };
    Ok(http::Request::from_parts(parts, bytes))
}

/// Whether the body failed because its chunks announced more than the limit (the
/// connection's decoder refuses such a chunk on its size line, before its data).
fn announced_too_large(e: &(dyn std::error::Error + 'static)) -> bool {
    e.downcast_ref::<std::io::Error>()
        .and_then(|io| io.get_ref())
        .and_then(|inner| inner.downcast_ref::<ninefold_http1::H1Error>())
        .is_some_and(|h| matches!(h, ninefold_http1::H1Error::BodyTooLarge(_)))
}
