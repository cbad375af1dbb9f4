//! One proxied connection: dial the upstream, split both sockets, run the two
//! toxic chains (upstream = client→server, downstream = server→client) with a
//! reader and a writer each, and close like the reference: when a chain's
//! writer sees its input end, it closes its socket and the whole connection
//! winds down (no half-close is propagated). A `reset_peer` toxic that fired makes both
//! sockets close with `SO_LINGER = 0`, i.e. with an RST.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::chain::ToxicChain;
use super::seed::chain_seed;
use super::stage::Chunk;
use super::{Proxy, Stream};

/// One socket read at most (as the reference's 32 KiB buffer).
const READ_SIZE: usize = 32 * 1024;
/// Dialling the upstream gives up after this (the reference has only the OS timeout).
const DIAL_TIMEOUT: Duration = Duration::from_secs(10);
/// Once one side closed, buffered data gets this long to drain before a hard close.
const CLOSE_GRACE: Duration = Duration::from_secs(10);

/// What the tasks of one connection share.
#[derive(Debug, Default)]
pub(crate) struct ConnShared {
    /// Hard stop: every task returns at once (proxy disabled or deleted).
    pub kill: CancellationToken,
    /// Soft stop: a writer finished; readers stop, chains drain.
    pub closing: CancellationToken,
    /// A `reset_peer` toxic fired: close both sockets with an RST.
    pub reset: AtomicBool,
}

/// The registry entry of a live connection: its two editable chains.
pub(crate) struct ConnEntry {
    pub shared: Arc<ConnShared>,
    pub upstream: ToxicChain,
    pub downstream: ToxicChain,
}

impl ConnEntry {
    /// The chain carrying `stream`.
    pub(crate) fn chain(&mut self, stream: Stream) -> &mut ToxicChain {
        match stream {
            Stream::Upstream => &mut self.upstream,
            Stream::Downstream => &mut self.downstream,
        }
    }
}

/// Serve one accepted client until either side closes or `kill` fires.
pub(crate) async fn serve(
    client: TcpStream,
    proxy: Arc<Proxy>,
    id: u64,
    kill: CancellationToken,
    upstream: Arc<str>,
) {
    let dialled = tokio::select! {
        () = kill.cancelled() => return,
        r = tokio::time::timeout(DIAL_TIMEOUT, TcpStream::connect(&*upstream)) => r,
    };
    let server = match dialled {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::warn!(proxy = %proxy.name, %upstream, error = %e, "upstream dial failed; closing client");
            return refuse(client, &proxy);
        }
        Err(_) => {
            tracing::warn!(proxy = %proxy.name, %upstream, "upstream dial timed out; closing client");
            return refuse(client, &proxy);
        }
    };
    // Go's TCP connections default to TCP_NODELAY; latency figures depend on it.
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let shared = Arc::new(ConnShared {
        kill,
        ..ConnShared::default()
    });
    let Some(((up_tx, up_rx), (down_tx, down_rx))) = proxy.register(id, &shared).await else {
        return;
    };
    let (client_r, client_w) = client.into_split();
    let (server_r, server_w) = server.into_split();
    let all = async {
        tokio::join!(
            read_loop(client_r, up_tx, &shared),
            write_loop(server_w, up_rx, &shared),
            read_loop(server_r, down_tx, &shared),
            write_loop(client_w, down_rx, &shared),
        )
    };
    tokio::pin!(all);
    tokio::select! {
        _ = &mut all => {}
        () = async { shared.closing.cancelled().await; tokio::time::sleep(CLOSE_GRACE).await } => {
            shared.kill.cancel();
            all.await;
        }
    }
    // Stages still waiting (e.g. a timeout toxic on an idle chain) end now.
    shared.kill.cancel();
    proxy.deregister(id).await;
}

/// The upstream is unreachable: close the client (reference behaviour, the
/// client sees EOF) or reset it (`refuse_when_upstream_down`).
fn refuse(client: TcpStream, proxy: &Proxy) {
    if proxy.options.refuse_when_upstream_down {
        let _ = client.set_zero_linger();
    }
    drop(client);
}

/// The seeds and channels of both chains of connection `id`.
pub(crate) fn start_chains(
    proxy_seed: u64,
    id: u64,
    shared: &Arc<ConnShared>,
    up_toxics: &[Arc<super::ToxicRecord>],
    down_toxics: &[Arc<super::ToxicRecord>],
) -> (ConnEntry, ChainEnds, ChainEnds) {
    let (upstream, up_tx, up_rx) = ToxicChain::start(
        up_toxics,
        chain_seed(proxy_seed, id, Stream::Upstream),
        Arc::clone(shared),
    );
    let (downstream, down_tx, down_rx) = ToxicChain::start(
        down_toxics,
        chain_seed(proxy_seed, id, Stream::Downstream),
        Arc::clone(shared),
    );
    let entry = ConnEntry {
        shared: Arc::clone(shared),
        upstream,
        downstream,
    };
    (entry, (up_tx, up_rx), (down_tx, down_rx))
}

/// The reader's sender and the writer's receiver of one chain.
pub(crate) type ChainEnds = (mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>);

async fn read_loop(mut src: OwnedReadHalf, tx: mpsc::Sender<Chunk>, shared: &ConnShared) {
    let mut buf = BytesMut::with_capacity(READ_SIZE);
    loop {
        buf.reserve(READ_SIZE);
        let mut limited = (&mut src).take(READ_SIZE as u64);
        let read = tokio::select! {
            biased;
            () = shared.kill.cancelled() => return,
            () = shared.closing.cancelled() => return,
            r = limited.read_buf(&mut buf) => r,
        };
        match read {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let chunk = Chunk {
            data: buf.split().freeze(),
            received_at: Instant::now(),
        };
        let sent = tokio::select! {
            biased;
            () = shared.kill.cancelled() => return,
            () = shared.closing.cancelled() => return,
            r = tx.send(chunk) => r,
        };
        if sent.is_err() {
            return;
        }
    }
}

async fn write_loop(mut dst: OwnedWriteHalf, mut rx: mpsc::Receiver<Chunk>, shared: &ConnShared) {
    loop {
        let next = tokio::select! {
            biased;
            () = shared.kill.cancelled() => break,
            c = rx.recv() => c,
        };
        let Some(chunk) = next else { break };
        let written = tokio::select! {
            biased;
            () = shared.kill.cancelled() => break,
            r = dst.write_all(&chunk.data) => r,
        };
        if written.is_err() {
            break;
        }
    }
    if shared.reset.load(Ordering::SeqCst) {
        // Linger 0 and no FIN: the close (when the read half drops too) sends an RST.
        let _ = dst.as_ref().set_zero_linger();
        dst.forget();
    } else {
        drop(dst);
    }
    shared.closing.cancel();
}
