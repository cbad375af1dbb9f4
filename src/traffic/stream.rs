//! The connection's byte stream: plain TCP or TLS over TCP.
//!
//! An enum rather than a type parameter so that [`super::client::Conn`] and every
//! holder of one (the worker, the hyper link) stay one type; the plain path costs one
//! predictable branch per read or write and keeps its own write (`try_write` first,
//! no `poll_write` round trip), and its readiness probe.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A connection's stream.
#[derive(Debug)]
pub enum Stream {
    Plain(TcpStream),
    /// Boxed: rustls's connection state is ~1 KiB, the plain stream a few words.
    Tls(Box<TlsStream<TcpStream>>),
}

impl Stream {
    /// Write what of `buf` the socket takes now, without a future (plain TCP: one
    /// readiness check, then the `write`); how much that was. TLS writes nothing here:
    /// its records are written by [`Stream::send`].
    #[inline]
    pub fn try_send(&mut self, buf: &[u8]) -> io::Result<usize> {
        let Stream::Plain(s) = self else {
            return Ok(0);
        };
        let mut sent = 0;
        while sent < buf.len() {
            match s.try_write(&buf[sent..]) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        Ok(sent)
    }

    /// Write all of `buf` (and, over TLS, flush the records it became).
    pub async fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => ninefold_http1::send(s, buf, None).await,
            Stream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    /// Probe an idle connection without waiting: `false` when the peer closed it,
    /// sent bytes nobody asked for, or it failed. Plain bytes read land in `read`
    /// (which the caller then finds non-empty).
    pub fn probe_idle(&mut self, read: &mut BytesMut) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self {
            Stream::Plain(s) => match s.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                Poll::Ready(Ok(())) => match s.try_read_buf(read) {
                    Err(e) => e.kind() == io::ErrorKind::WouldBlock,
                    // The end of the connection, bytes nobody asked for.
                    Ok(_) => false,
                },
            },
            // TLS records may arrive unasked (TLS 1.3 session tickets): the TLS layer
            // reads and consumes them; only plaintext or the end is a problem.
            Stream::Tls(s) => {
                let mut byte = [0u8; 1];
                let mut buf = ReadBuf::new(&mut byte);
                Pin::new(s.as_mut())
                    .poll_read(&mut cx, &mut buf)
                    .is_pending()
            }
        }
    }
}

#[cfg(test)]
impl Stream {
    /// Wait until the socket is readable (tests: the peer's close has arrived).
    pub async fn readable(&self) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.readable().await,
            Stream::Tls(s) => s.get_ref().0.readable().await,
        }
    }
}

impl AsyncRead for Stream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
