//! Building responses: JSON errors, JSON bodies, slow bodies, the
//! connection-abort marker.
//!
//! Every error a client can get from a backend is a JSON body
//! `{"error":{"status":404,"code":"not_found","message":"…"}}`, so the harness
//! and people reading captures never meet an empty or HTML error.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderValue, StatusCode, header};

/// Put in a response's extensions to ask the server to close the connection
/// instead of sending the response (the "abrupt close" error mode).
#[derive(Debug, Clone, Copy)]
pub struct AbortConnection;

/// `application/json`, shared.
pub const JSON: HeaderValue = HeaderValue::from_static("application/json");

/// A JSON response with `status` and a body that is already JSON.
pub fn json(status: StatusCode, body: impl Into<Body>) -> Response {
    let mut resp = Response::new(body.into());
    *resp.status_mut() = status;
    resp.headers_mut().insert(header::CONTENT_TYPE, JSON);
    resp
}

/// The JSON error body for `status`, with a machine code and a human message.
pub fn error_body(status: StatusCode, code: &str, message: &str) -> Bytes {
    let value = serde_json::json!({
        "error": { "status": status.as_u16(), "code": code, "message": message }
    });
    Bytes::from(value.to_string())
}

/// A JSON error response.
pub fn error(status: StatusCode, code: &str, message: impl AsRef<str>) -> Response {
    json(status, error_body(status, code, message.as_ref()))
}

/// A response the server turns into a closed connection.
pub fn abort() -> Response {
    let mut resp = error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "connection_closed",
        "injected connection close",
    );
    resp.extensions_mut().insert(AbortConnection);
    resp
}

/// A body sent `chunk` bytes at a time, `interval` apart; `hold` (e.g. a
/// serverless lease) lives until the last chunk is sent.
pub fn slow_body<H: Send + 'static>(
    bytes: Bytes,
    chunk: usize,
    interval: Duration,
    hold: H,
) -> Body {
    let chunk = chunk.max(1);
    let stream = futures::stream::unfold(
        (bytes, true, hold),
        move |(mut rest, first, hold)| async move {
            if rest.is_empty() {
                return None;
            }
            if !first {
                tokio::time::sleep(interval).await;
            }
            let piece = rest.split_to(chunk.min(rest.len()));
            Some((Ok::<_, Infallible>(piece), (rest, false, hold)))
        },
    );
    Body::from_stream(stream)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    #[test]
    fn error_bodies_are_json_with_status_code_and_message() {
        let body = error_body(StatusCode::NOT_FOUND, "not_found", "no \"route\"");
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["status"], 404);
        assert_eq!(v["error"]["code"], "not_found");
        assert_eq!(v["error"]["message"], "no \"route\"");
    }

    #[tokio::test(start_paused = true)]
    async fn slow_body_sends_every_byte_in_chunks_with_pauses() {
        let start = tokio::time::Instant::now();
        let body = slow_body(
            Bytes::from_static(b"abcdefghij"),
            3,
            Duration::from_millis(100),
            (),
        );
        let mut body = std::pin::pin!(body);
        let mut chunks = Vec::new();
        while let Some(frame) = body.frame().await {
            chunks.push(frame.unwrap().into_data().unwrap());
        }
        assert_eq!(chunks, [&b"abc"[..], b"def", b"ghi", b"j"]);
        assert_eq!(start.elapsed(), Duration::from_millis(300));
    }
}
