//! The connection over a byte stream: a [`Client`] handle its stream tasks share
//! (single-threaded, `Rc`), and the [`Driver`] future that reads and writes.
//!
//! The driver reads everything the socket has, hands it to the connection, then
//! writes everything queued (acknowledgements, window updates, and every request the
//! stream tasks opened since its last turn) in one write: tasks woken by answers in
//! one read open their next requests before the driver runs again, so a turn costs
//! one read and one write for all of them. No lock is held across I/O: the state is a
//! `RefCell` borrowed between awaits only.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::conn::Conn;
use crate::{Config, OpenError, Response, StreamError};

/// How much is read at a time (a few answers' worth per syscall).
const READ_CHUNK: usize = 64 * 1024;

struct Shared {
    conn: Conn,
    /// The driver's waker, taken when something is queued for it to write.
    driver: Option<Waker>,
}

impl Shared {
    fn wake_driver(&mut self) {
        if !self.conn.out.is_empty()
            && let Some(w) = self.driver.take()
        {
            w.wake();
        }
    }
}

/// A handle on one HTTP/2 connection, shared by the tasks sending on it.
#[derive(Clone)]
pub struct Client {
    shared: Rc<RefCell<Shared>>,
}

/// Drives one connection: poll it (spawn it) until it ends.
pub struct Driver<T> {
    io: T,
    shared: Rc<RefCell<Shared>>,
    read: BytesMut,
    write: Vec<u8>,
    written: usize,
    flush: bool,
}

/// The client's side of the handshake over `io` (TCP for h2c with prior knowledge,
/// TLS after ALPN `h2`): the preface and SETTINGS, then one PING round trip, so that
/// the server's SETTINGS (which precede its PING answer) are known from the first
/// request on. The caller bounds it in time.
pub async fn handshake<T>(io: T, cfg: Config) -> Result<(Client, Driver<T>), StreamError>
where
    T: AsyncRead + AsyncWrite + Unpin,
{
    let shared = Rc::new(RefCell::new(Shared {
        conn: Conn::new(cfg),
        driver: None,
    }));
    let mut driver = Driver {
        io,
        shared: Rc::clone(&shared),
        read: BytesMut::with_capacity(READ_CHUNK),
        write: Vec::with_capacity(16 * 1024),
        written: 0,
        flush: false,
    };
    std::future::poll_fn(|cx| {
        let done = Pin::new(&mut driver).poll(cx);
        let s = shared.borrow();
        if let Some(e) = s.conn.closed {
            return Poll::Ready(Err(e));
        }
        match done {
            Poll::Ready(_) => Poll::Ready(Err(StreamError::Closed)),
            Poll::Pending if s.conn.ready => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    })
    .await?;
    Ok((Client { shared }, driver))
}

impl Client {
    /// The server's SETTINGS_MAX_CONCURRENT_STREAMS (`usize::MAX` when it set none).
    pub fn max_concurrent(&self) -> usize {
        self.shared.borrow().conn.peer.max_concurrent as usize
    }

    /// New streams may be opened (no GOAWAY received, connection not over).
    pub fn is_open(&self) -> bool {
        self.shared.borrow().conn.is_open()
    }

    /// Send a request: HEADERS now (or, past the server's stream limit, when a stream
    /// closes), its body as flow control allows. `keep`: keep the answer's body (it
    /// is kept anyway for a status of 400 or more), up to the configured size.
    #[allow(clippy::too_many_arguments)]
    pub fn send<'a>(
        &self,
        method: &[u8],
        scheme: &[u8],
        authority: &[u8],
        path: &[u8],
        fields: impl IntoIterator<Item = (&'a [u8], &'a [u8])>,
        body: Bytes,
        keep: bool,
    ) -> Result<ResponseFuture, OpenError> {
        let mut s = self.shared.borrow_mut();
        let id = s
            .conn
            .open(method, scheme, authority, path, fields, body, keep)?;
        s.wake_driver();
        Ok(ResponseFuture {
            shared: Rc::clone(&self.shared),
            id,
            done: false,
        })
    }
}

/// The answer to one request; dropping it before it is ready cancels the stream
/// (RST_STREAM CANCEL).
pub struct ResponseFuture {
    shared: Rc<RefCell<Shared>>,
    id: u32,
    done: bool,
}

impl ResponseFuture {
    /// The stream's id.
    pub fn stream_id(&self) -> u32 {
        self.id
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response, StreamError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let r = self.shared.borrow_mut().conn.poll(self.id, cx);
        if r.is_ready() {
            self.done = true;
        }
        r
    }
}

impl Drop for ResponseFuture {
    fn drop(&mut self) {
        if !self.done {
            let mut s = self.shared.borrow_mut();
            s.conn.cancel(self.id);
            s.wake_driver();
        }
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Driver<T> {
    /// Read all the socket has; `Ready` when the connection ended (or failed).
    fn poll_read_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.read.capacity() - self.read.len() < READ_CHUNK / 4 {
                self.read.reserve(READ_CHUNK);
            }
            match tokio_util::io::poll_read_buf(Pin::new(&mut self.io), cx, &mut self.read) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(0)) => {
                    self.shared.borrow_mut().conn.ended();
                    return Poll::Ready(Ok(()));
                }
                Poll::Ready(Ok(_)) => {
                    let mut s = self.shared.borrow_mut();
                    s.conn.recv(&mut self.read);
                    if s.conn.closed.is_some() {
                        return Poll::Ready(Ok(()));
                    }
                }
                Poll::Ready(Err(e)) => {
                    self.shared.borrow_mut().conn.ended();
                    return Poll::Ready(Err(e));
                }
            }
        }
    }

    /// Write what is queued; `Ready(Ok)` when all of it is written and flushed.
    fn poll_write_all(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.written == self.write.len() {
                self.write.clear();
                self.written = 0;
                let mut s = self.shared.borrow_mut();
                if s.conn.out.is_empty() {
                    break;
                }
                std::mem::swap(&mut s.conn.out, &mut self.write);
            }
            match Pin::new(&mut self.io).poll_write(cx, &self.write[self.written..]) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => {
                    self.written += n;
                    self.flush = true;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        if self.flush {
            std::task::ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.flush = false;
        }
        Poll::Ready(Ok(()))
    }
}

impl<T: AsyncRead + AsyncWrite + Unpin> Future for Driver<T> {
    /// `Err` when the byte stream failed; `Ok` when the connection ended otherwise
    /// (the server closed it, or a connection error was sent).
    type Output = io::Result<()>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            let read = this.poll_read_all(cx);
            if let Poll::Ready(Err(e)) = read {
                return Poll::Ready(Err(e));
            }
            let wrote = match this.poll_write_all(cx) {
                Poll::Ready(Err(e)) => {
                    this.shared.borrow_mut().conn.ended();
                    return Poll::Ready(Err(e));
                }
                w => w,
            };
            if read.is_ready() {
                // Ended (what was queued, a GOAWAY of ours, written when it could be).
                return Poll::Ready(Ok(()));
            }
            let mut s = this.shared.borrow_mut();
            if wrote.is_ready() && !s.conn.out.is_empty() {
                continue;
            }
            match &s.driver {
                Some(w) if w.will_wake(cx.waker()) => {}
                _ => s.driver = Some(cx.waker().clone()),
            }
            return Poll::Pending;
        }
    }
}
