//! Reading into and writing from a connection's buffers.

use bytes::BytesMut;

/// Read granularity of a message's buffer (client and server side alike).
pub const READ_CHUNK: usize = 16 * 1024;

/// Reads more of a message into `buf`, growing it by [`READ_CHUNK`] when less than a
/// quarter of that is free.
pub fn poll_fill<R>(
    io: &mut R,
    buf: &mut BytesMut,
    cx: &mut std::task::Context<'_>,
) -> std::task::Poll<std::io::Result<usize>>
where
    R: tokio::io::AsyncRead + Unpin,
{
    if buf.capacity() - buf.len() < READ_CHUNK / 4 {
        buf.reserve(READ_CHUNK);
    }
    tokio_util::io::poll_read_buf(std::pin::Pin::new(io), cx, buf)
}

/// Writes all of `buf`: at once while the socket has room (one readiness check, then the
/// `write`; no future, no cooperative-budget check), else when it is writable again, each
/// wait bounded by `wait_limit` when there is one (`TimedOut` past it).
pub async fn send(
    stream: &tokio::net::TcpStream,
    mut buf: &[u8],
    wait_limit: Option<std::time::Duration>,
) -> std::io::Result<()> {
    while !buf.is_empty() {
        match stream.try_write(buf) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => buf = &buf[n..],
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => match wait_limit {
                None => stream.writable().await?,
                Some(limit) => match tokio::time::timeout(limit, stream.writable()).await {
                    Ok(r) => r?,
                    Err(_) => return Err(std::io::ErrorKind::TimedOut.into()),
                },
            },
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
