//! The HTTP/1.1 client on the hot path: one `hyper::client::conn::http1`
//! connection per connection task, owned by its worker (no pool, no lock),
//! TCP_NODELAY, targets taken round-robin and skipped on connect errors the way
//! a client behind DNS round robin moves to the next address.

use std::cell::Cell;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};

use crate::metrics::ClientFailure;

/// One address traffic can go to (a gateway instance, or its link).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub addr: SocketAddr,
    /// The `Host` header sent to it.
    pub host: HeaderValue,
}

impl Target {
    /// A target whose `Host` is its own address.
    pub fn new(addr: SocketAddr) -> Self {
        let host = HeaderValue::try_from(addr.to_string())
            .unwrap_or(HeaderValue::from_static("localhost"));
        Target { addr, host }
    }

    /// A target reached at `addr` but named `host` (virtual hosting).
    pub fn with_host(addr: SocketAddr, host: HeaderValue) -> Self {
        Target { addr, host }
    }
}

/// Round-robin over targets, one cursor per worker.
#[derive(Debug)]
pub struct Targets {
    list: Vec<Target>,
    next: Cell<usize>,
}

impl Targets {
    /// Start the round robin at `offset` so workers spread out.
    pub fn new(list: Vec<Target>, offset: usize) -> Self {
        let start = if list.is_empty() {
            0
        } else {
            offset % list.len()
        };
        Targets {
            list,
            next: Cell::new(start),
        }
    }

    /// Open a connection to the next target, moving on past connect errors;
    /// `ConnectError` only when every target refused (or timed out).
    pub async fn connect(&self, timeout: Duration) -> Result<Conn, ClientFailure> {
        for _ in 0..self.list.len() {
            let i = self.next.get();
            self.next.set((i + 1) % self.list.len());
            let target = &self.list[i];
            match tokio::time::timeout(timeout, open(target.addr)).await {
                Ok(Ok(send)) => {
                    return Ok(Conn {
                        send,
                        host: target.host.clone(),
                        timer: Box::pin(tokio::time::sleep(timeout)),
                    });
                }
                Ok(Err(e)) => tracing::debug!(target = %target.addr, error = %e, "connect failed"),
                Err(_) => tracing::debug!(target = %target.addr, "connect timed out"),
            }
        }
        Err(ClientFailure::Connect)
    }
}

async fn open(addr: SocketAddr) -> std::io::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr).await?;
    // Small requests must leave at once, not wait for Nagle.
    stream.set_nodelay(true)?;
    let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    // The connection's I/O is driven by its own local task; it ends when the
    // `SendRequest` is dropped or the peer closes.
    tokio::task::spawn_local(async move {
        if let Err(e) = conn.await {
            tracing::trace!(error = %e, "connection ended");
        }
    });
    Ok(send)
}

/// An open connection.
#[derive(Debug)]
pub struct Conn {
    send: SendRequest<Full<Bytes>>,
    /// `Host` of the target it is connected to.
    pub host: HeaderValue,
    /// The request timeout's timer, one per connection: re-armed only when it fires
    /// before the current request's deadline (at most once per timeout), where a
    /// `tokio::time::timeout` per request would register and remove a timer entry each time.
    timer: Pin<Box<Sleep>>,
}

/// An answer, with the body read (kept only when asked for).
#[derive(Debug)]
pub struct Answer {
    pub response: Response<()>,
    pub body: Option<Bytes>,
}

impl Conn {
    /// Whether the connection can still carry a request.
    pub fn is_usable(&self) -> bool {
        !self.send.is_closed()
    }

    /// Send `req` and read the whole answer (the body only drained unless `keep_body`),
    /// or give up with `Timeout` once `timeout` has passed.
    /// A failure leaves the connection unusable; drop it.
    pub async fn exchange(
        &mut self,
        req: Request<Full<Bytes>>,
        keep_body: bool,
        timeout: Duration,
    ) -> Result<Answer, ClientFailure> {
        let deadline = Instant::now() + timeout;
        let timer = &mut self.timer;
        let mut exchange = std::pin::pin!(exchange(&mut self.send, req, keep_body));
        std::future::poll_fn(|cx| {
            if let Poll::Ready(r) = exchange.as_mut().poll(cx) {
                return Poll::Ready(r);
            }
            // The timer never runs past this request's deadline: it was last armed for
            // an earlier request's deadline (or this one's), so when it fires early it
            // is moved on to this deadline, and when it fires at it, time is up.
            while timer.as_mut().poll(cx).is_ready() {
                if Instant::now() >= deadline {
                    return Poll::Ready(Err(ClientFailure::Timeout));
                }
                timer.as_mut().reset(deadline);
            }
            Poll::Pending
        })
        .await
    }
}

async fn exchange(
    send: &mut SendRequest<Full<Bytes>>,
    req: Request<Full<Bytes>>,
    keep_body: bool,
) -> Result<Answer, ClientFailure> {
    send.ready().await.map_err(|_| ClientFailure::Io)?;
    let response: Response<Incoming> = send
        .send_request(req)
        .await
        .map_err(|_| ClientFailure::Io)?;
    let (parts, mut body) = response.into_parts();
    let body = if keep_body {
        Some(
            body.collect()
                .await
                .map_err(|_| ClientFailure::Io)?
                .to_bytes(),
        )
    } else {
        // Drain without copying: the answer is complete only when its body is.
        while let Some(frame) = body.frame().await {
            frame.map_err(|_| ClientFailure::Io)?;
        }
        None
    };
    Ok(Answer {
        response: Response::from_parts(parts, ()),
        body,
    })
}
