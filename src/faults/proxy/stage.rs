//! One stage of a chain: what a toxic sees. A stage reads [`Chunk`]s from its
//! input channel and writes them to its output channel, both bounded, until
//! its input ends, it decides to close the chain, or the chain's controller
//! interrupts it to rewire the chain (it then forwards what it holds first:
//! an interrupted stage never drops data).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::Duration;

use bytes::Bytes;
use rand::rngs::StdRng;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::faults::toxics::timer;

/// How early the timer thread wakes [`StageIo::sleep_until_precise`]; the
/// rest is spun (so at most this long per due chunk). Covers the thread's own
/// lateness (the kernel's 50 µs timer slack, a VM's vCPU waking from idle) and
/// the time a woken task takes to be polled.
pub const SPIN_MARGIN: Duration = Duration::from_micros(1000);

/// On paused time, how early the tokio sleep ends before [`finish_paused`]
/// moves the clock: more than the timer's rounding (under 2 ms).
const PAUSED_MARGIN: Duration = Duration::from_millis(2);

/// Whether tokio's clock is paused (a test): it did not move across a yield
/// while the real clock did. On the real clock, two equal readings would make
/// a reading in between equal too, so this is never true outside a test.
async fn clock_is_paused() -> bool {
    let before = Instant::now();
    tokio::task::yield_now().await;
    let real = std::time::Instant::now();
    Instant::now() == before && real != before.into_std()
}

/// `at + after`, or a year from `at` when that is past what an `Instant` holds.
pub fn deadline(at: Instant, after: Duration) -> Instant {
    at.checked_add(after)
        .or_else(|| at.checked_add(Duration::from_secs(365 * 86_400)))
        .unwrap_or(at)
}

/// The end of [`StageIo::sleep_until_precise`] on paused time: move the
/// paused clock to the deadline itself (a sleep would land on the timer's
/// next millisecond tick, as on the real clock). Only unit tests pause
/// time with the ability to move it; elsewhere this is a plain sleep.
#[cfg(test)]
async fn finish_paused(deadline: Instant) {
    tokio::time::advance(deadline.saturating_duration_since(Instant::now())).await;
}

#[cfg(not(test))]
async fn finish_paused(deadline: Instant) {
    tokio::time::sleep_until(deadline).await;
}

/// A piece of the byte stream (about one socket read) and when it arrived.
/// Latency toxics advance `received_at` so stacked latencies add up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// The bytes.
    pub data: Bytes,
    /// When the proxy read them (or when an earlier latency toxic released them).
    pub received_at: Instant,
}

impl Chunk {
    /// A chunk that arrived now.
    pub fn now(data: impl Into<Bytes>) -> Self {
        Self {
            data: data.into(),
            received_at: Instant::now(),
        }
    }
}

/// The channels and interrupt signal of a running stage.
#[derive(Debug)]
pub struct StageIo {
    /// Chunks from the previous stage (or the socket reader).
    pub input: mpsc::Receiver<Chunk>,
    /// Chunks to the next stage (or the socket writer).
    pub output: mpsc::Sender<Chunk>,
    /// Cancelled when the controller wants the stage to stop and hand back its channels.
    pub interrupt: CancellationToken,
}

/// What [`StageIo::recv`] saw.
#[derive(Debug)]
pub enum Recv {
    /// The next chunk.
    Chunk(Chunk),
    /// The input ended: the source closed or an earlier stage closed the chain.
    Eof,
    /// The controller asked the stage to stop.
    Interrupted,
}

/// Why a stage's toxic returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PipeEnd {
    /// Interrupted: the channels are handed back to the controller, nothing held.
    Interrupted,
    /// The chain is closed from here on (input EOF passed on, or the toxic closed it).
    Closed,
    /// As `Closed`, and both sockets of the connection are reset (RST).
    Reset,
}

/// Per-stage state that survives restarts of the same toxic on a chain
/// (`limit_data` counts bytes across updates, as the reference does).
#[derive(Debug, Default)]
pub struct StageState {
    /// Bytes this toxic has let through on this chain.
    pub bytes_sent: AtomicU64,
}

/// Everything a toxic needs besides its channels.
#[derive(Debug)]
pub struct StageCtx {
    /// This stage's own random stream, derived from the chain's seeded stream.
    pub rng: StdRng,
    /// State kept across restarts of this toxic on this chain.
    pub state: Arc<StageState>,
}

impl StageIo {
    /// The next chunk, unless the stage is interrupted first.
    pub async fn recv(&mut self) -> Recv {
        tokio::select! {
            biased;
            () = self.interrupt.cancelled() => Recv::Interrupted,
            chunk = self.input.recv() => chunk.map_or(Recv::Eof, Recv::Chunk),
        }
    }

    /// Pass a chunk on. `false` means the rest of the chain is gone.
    /// Deliberately not interruptible: a chunk in hand is always delivered.
    pub async fn send(&self, chunk: Chunk) -> bool {
        self.output.send(chunk).await.is_ok()
    }

    /// Sleep until `deadline`; `false` if interrupted first.
    pub async fn sleep_until(&self, deadline: Instant) -> bool {
        tokio::select! {
            biased;
            () = self.interrupt.cancelled() => false,
            () = tokio::time::sleep_until(deadline) => true,
        }
    }

    /// Sleep until `deadline` *exactly*: `false` if interrupted first.
    ///
    /// Tokio's timer works in whole milliseconds and rounds every deadline up
    /// (a 100 ms sleep takes ~101.4 ms), so a toxic that must add the number
    /// the user typed cannot use it: the wait goes to the toxics' own timer
    /// thread ([`timer`]), asked to wake us [`SPIN_MARGIN`] early, and that
    /// last stretch is finished by yielding in a loop on the clock (a
    /// woken task takes tens of microseconds to run again). On paused time
    /// (tests) a tokio sleep stands in for the timer thread and the last
    /// stretch is [`finish_paused`].
    ///
    /// [`timer`]: crate::faults::toxics::timer
    pub async fn sleep_until_precise(&self, deadline: Instant) -> bool {
        if deadline <= Instant::now() {
            return !self.interrupt.is_cancelled();
        }
        if clock_is_paused().await {
            if let Some(early) = deadline.checked_sub(PAUSED_MARGIN)
                && early > Instant::now()
                && !self.sleep_until(early).await
            {
                return false;
            }
            return self.finish_paused_or_interrupted(deadline).await;
        }
        if let Some(early) = deadline.checked_sub(SPIN_MARGIN)
            && early > Instant::now()
        {
            // As a duration from now, so the wait stays bounded by the toxic's
            // own time whatever the clock is.
            let at = std::time::Instant::now() + early.saturating_duration_since(Instant::now());
            tokio::select! {
                biased;
                () = self.interrupt.cancelled() => return false,
                () = timer::sleep_until(at) => {}
            }
        }
        let mut last = Instant::now();
        while last < deadline {
            if self.interrupt.is_cancelled() {
                return false;
            }
            tokio::task::yield_now().await;
            let real = std::time::Instant::now();
            let now = Instant::now();
            if now == last && real != last.into_std() {
                // Paused after all (the clock had moved across the first yield).
                return self.finish_paused_or_interrupted(deadline).await;
            }
            last = now;
        }
        true
    }

    async fn finish_paused_or_interrupted(&self, deadline: Instant) -> bool {
        tokio::select! {
            biased;
            () = self.interrupt.cancelled() => return false,
            () = finish_paused(deadline) => {}
        }
        !self.interrupt.is_cancelled()
    }

    /// Forward `chunk` (if any) and report an interruption: what an
    /// interrupted toxic does with what it holds.
    pub async fn flush_interrupted(&self, chunk: Option<Chunk>) -> PipeEnd {
        if let Some(c) = chunk
            && !self.send(c).await
        {
            return PipeEnd::Closed;
        }
        PipeEnd::Interrupted
    }
}

#[cfg(test)]
pub(crate) mod testing {
    //! Drive one toxic on channels, for stage-level tests on paused time.
    use super::*;
    use crate::faults::toxics::Toxic;
    use rand::SeedableRng;
    use tokio::task::JoinHandle;

    /// A running stage with its ends exposed.
    pub struct Harness {
        pub tx: Option<mpsc::Sender<Chunk>>,
        pub rx: mpsc::Receiver<Chunk>,
        pub interrupt: CancellationToken,
        pub task: JoinHandle<PipeEnd>,
    }

    /// Start `toxic` between two fresh channels.
    pub fn run(toxic: Toxic, seed: u64) -> Harness {
        let (tx, input) = mpsc::channel(1024);
        let (output, rx) = mpsc::channel(1024);
        let interrupt = CancellationToken::new();
        let mut io = StageIo {
            input,
            output,
            interrupt: interrupt.clone(),
        };
        let mut ctx = StageCtx {
            rng: StdRng::seed_from_u64(seed),
            state: Arc::default(),
        };
        let task = tokio::spawn(async move {
            // Dropping `io` here closes the output, as the chain does.
            toxic.pipe(&mut io, &mut ctx).await
        });
        Harness {
            tx: Some(tx),
            rx,
            interrupt,
            task,
        }
    }

    impl Harness {
        /// Send bytes stamped now.
        pub async fn push(&self, data: &'static [u8]) {
            self.tx
                .as_ref()
                .expect("input open")
                .send(Chunk::now(data))
                .await
                .expect("stage alive");
        }

        /// Close the input (EOF).
        pub fn close_input(&mut self) {
            self.tx = None;
        }
    }
}
