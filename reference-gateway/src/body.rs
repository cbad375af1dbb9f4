//! The one response body type of the stack: a buffered body (errors, cache hits) or an
//! upstream's streamed body, passed through without copying.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Frame, SizeHint};

use crate::upstream::client::UpstreamBody;

/// Response body: buffered or streamed from the upstream.
#[derive(Debug)]
pub enum Body {
    /// A complete body (`None` once sent, or empty).
    Full(Option<Bytes>),
    /// An upstream's body, streamed.
    Upstream(UpstreamBody),
}

impl Body {
    /// An empty body.
    pub fn empty() -> Self {
        Body::Full(None)
    }

    /// A complete body.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let b = bytes.into();
        Body::Full(if b.is_empty() { None } else { Some(b) })
    }
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        match self.get_mut() {
            Body::Full(b) => Poll::Ready(b.take().map(|b| Ok(Frame::data(b)))),
            Body::Upstream(inc) => Pin::new(inc).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Full(b) => b.is_none(),
            Body::Upstream(inc) => inc.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Full(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Body::Full(None) => SizeHint::with_exact(0),
            Body::Upstream(inc) => inc.size_hint(),
        }
    }
}

/// Shorthand for the stack's responses.
pub type Response = http::Response<Body>;
/// Shorthand for the stack's requests once the body is buffered (retries replay it).
pub type Request = http::Request<Bytes>;
