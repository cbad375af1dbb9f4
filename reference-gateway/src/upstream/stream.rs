//! An upstream connection: plain TCP or TLS over it (`[upstreams.NAME] tls`). An enum so
//! that the plain path keeps its direct socket writes and readiness checks.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

use ninefold_http1 as h1;

/// How a pool's connections speak TLS: the connector and the name its instances are
/// verified against.
#[derive(Clone)]
pub struct TlsDial {
    pub connector: tokio_rustls::TlsConnector,
    pub name: ServerName<'static>,
}

impl TlsDial {
    /// From `tls`, for an instance at `addr` (SNI: `server_name`, else the address).
    pub fn new(
        tls: &crate::tls::UpstreamTls,
        addr: std::net::SocketAddr,
    ) -> Result<Self, crate::tls::TlsFileError> {
        let config = crate::tls::client_config(&tls.verify)?;
        let name = match &tls.server_name {
            Some(n) => ServerName::try_from(n.clone()).map_err(|e| crate::tls::TlsFileError {
                key: "server_name",
                path: n.clone(),
                message: e.to_string(),
            })?,
            None => ServerName::IpAddress(addr.ip().into()),
        };
        Ok(TlsDial {
            connector: tokio_rustls::TlsConnector::from(Arc::<rustls::ClientConfig>::clone(
                &config,
            )),
            name,
        })
    }
}

/// One upstream connection.
pub enum UpStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl UpStream {
    /// Over `tcp`, after a TLS handshake when `dial` says so.
    pub async fn open(tcp: TcpStream, dial: Option<&TlsDial>) -> std::io::Result<Self> {
        match dial {
            None => Ok(UpStream::Plain(tcp)),
            Some(d) => {
                let s = d.connector.connect(d.name.clone(), tcp).await?;
                Ok(UpStream::Tls(Box::new(s)))
            }
        }
    }

    /// Waits until the socket below shows readable (a test's way to see a close arrive).
    #[cfg(test)]
    pub async fn readable(&self) -> std::io::Result<()> {
        match self {
            UpStream::Plain(s) => s.readable().await,
            UpStream::Tls(s) => s.get_ref().0.readable().await,
        }
    }

    /// Bytes of the first write that reached the connection without waiting (plain: a
    /// `try_write`; TLS: none, the whole request goes through [`Self::send`]).
    #[inline]
    pub fn try_write(&self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            UpStream::Plain(s) => s.try_write(buf),
            UpStream::Tls(_) => Ok(0),
        }
    }

    /// Writes all of `buf` (TLS: then flushes).
    #[inline]
    pub async fn send(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            UpStream::Plain(s) => h1::send(s, buf, None).await,
            UpStream::Tls(s) => {
                s.write_all(buf).await?;
                s.flush().await
            }
        }
    }

    /// Whether an idle connection shows nothing to read: readable means closed, garbage,
    /// or (TLS) a close_notify; `read` takes what a plain socket had.
    #[inline]
    pub fn idle_and_open(&mut self, read: &mut bytes::BytesMut) -> bool {
        let tcp = match self {
            UpStream::Plain(s) => s,
            UpStream::Tls(s) => s.get_ref().0,
        };
        let mut cx = Context::from_waker(Waker::noop());
        match tcp.poll_read_ready(&mut cx) {
            Poll::Pending => true,
            Poll::Ready(Err(_)) => false,
            Poll::Ready(Ok(())) => match self {
                UpStream::Plain(s) => matches!(
                    s.try_read_buf(read),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
                ),
                // Records that are not data (a session ticket) leave it pending: open.
                UpStream::Tls(s) => {
                    let mut byte = [0u8; 1];
                    let mut rb = ReadBuf::new(&mut byte);
                    matches!(
                        Pin::new(s.as_mut()).poll_read(&mut cx, &mut rb),
                        Poll::Pending
                    )
                }
            },
        }
    }
}

impl AsyncRead for UpStream {
    #[inline]
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            UpStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}
