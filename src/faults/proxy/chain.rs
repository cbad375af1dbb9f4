//! A toxic chain (Toxiproxy's `ToxicLink`): one direction of one connection,
//! stages joined by bounded channels, starting with a hidden no-op stage, and
//! the live edits the API makes to it. Every edit interrupts only the stages
//! it must rewire; an interrupted stage forwards what it holds, and the
//! chunks queued in a removed stage's input are passed on in order, so no
//! byte is dropped (except when a `timeout` toxic is removed: that closes the
//! connection, as in the reference).
//!
//! ```text
//!  reader ─► c0 ─► [0: noop] ─► c1 ─► [1: toxic] ─► c2 ─► … ─► cN ─► writer
//!  add:    interrupt the last stage, give it a new output, append the new stage
//!  update: interrupt stage i, restart it with the new attributes (re-rolls toxicity)
//!  remove: interrupt stage i, interrupt i−1 while draining c(i) into i's output,
//!          then restart i−1 writing straight to i's output
//! ```

use std::sync::Arc;
use std::sync::atomic::Ordering;

use rand::rngs::StdRng;
use rand::{Rng, RngCore, SeedableRng};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::ToxicRecord;
use super::conn::ConnShared;
use super::stage::{Chunk, PipeEnd, StageCtx, StageIo, StageState};
use crate::faults::toxics::Toxic;

/// Capacity of the channels into the head stage and into the socket writer.
const HEAD_BUFFER: usize = 32;

enum StageExit {
    /// Stopped on request; here are its channels.
    Interrupted(StageIo),
    /// Ended for good (EOF, closed by its toxic, killed).
    Finished,
}

struct Slot {
    /// `None` for the hidden head.
    record: Option<Arc<ToxicRecord>>,
    state: Arc<StageState>,
    interrupt: CancellationToken,
    join: JoinHandle<StageExit>,
}

/// The toxic stages of one direction of one connection (Toxiproxy's
/// `ToxicLink`) and the seeded random stream they draw from.
pub(crate) struct ToxicChain {
    slots: Vec<Slot>,
    rng: StdRng,
    conn: Arc<ConnShared>,
    dead: bool,
}

impl ToxicChain {
    /// Build and start the chain for `toxics`; returns the chain, the sender the
    /// socket reader feeds and the receiver the socket writer drains.
    pub(crate) fn start(
        toxics: &[Arc<ToxicRecord>],
        seed: u64,
        conn: Arc<ConnShared>,
    ) -> (ToxicChain, mpsc::Sender<Chunk>, mpsc::Receiver<Chunk>) {
        let mut chain = ToxicChain {
            slots: Vec::with_capacity(toxics.len() + 1),
            rng: StdRng::seed_from_u64(seed),
            conn,
            dead: false,
        };
        let (head_tx, mut input) = mpsc::channel(HEAD_BUFFER);
        let records: Vec<Option<Arc<ToxicRecord>>> = std::iter::once(None)
            .chain(toxics.iter().cloned().map(Some))
            .collect();
        for (i, record) in records.iter().enumerate() {
            // A channel's capacity is chosen by the stage that reads it; the
            // writer's is small (the socket buffer is the real buffer).
            let cap = records
                .get(i + 1)
                .and_then(Option::as_ref)
                .map_or(HEAD_BUFFER, |r| r.toxic.buffer_size());
            let (tx, rx) = mpsc::channel(cap);
            let slot = chain.spawn(record.clone(), Arc::default(), input, tx);
            chain.slots.push(slot);
            input = rx;
        }
        (chain, head_tx, input)
    }

    /// Start one stage, rolling its toxicity on the chain's stream.
    fn spawn(
        &mut self,
        record: Option<Arc<ToxicRecord>>,
        state: Arc<StageState>,
        input: mpsc::Receiver<Chunk>,
        output: mpsc::Sender<Chunk>,
    ) -> Slot {
        let active = record
            .as_ref()
            .is_some_and(|r| self.rng.random::<f32>() < r.toxicity);
        let toxic = match (&record, active) {
            (Some(r), true) => r.toxic.clone(),
            _ => Toxic::Noop,
        };
        let mut ctx = StageCtx {
            rng: StdRng::seed_from_u64(self.rng.next_u64()),
            state: Arc::clone(&state),
        };
        let interrupt = CancellationToken::new();
        let mut io = StageIo {
            input,
            output,
            interrupt: interrupt.clone(),
        };
        let conn = Arc::clone(&self.conn);
        let join = tokio::spawn(async move {
            let end = tokio::select! {
                () = conn.kill.cancelled() => PipeEnd::Closed,
                end = toxic.pipe(&mut io, &mut ctx) => end,
            };
            match end {
                PipeEnd::Interrupted => StageExit::Interrupted(io),
                PipeEnd::Closed => StageExit::Finished,
                PipeEnd::Reset => {
                    // Before `io` drops: the writer reads the flag once it sees the close.
                    conn.reset.store(true, Ordering::SeqCst);
                    StageExit::Finished
                }
            }
        });
        Slot {
            record,
            state,
            interrupt,
            join,
        }
    }

    /// Whether the chain can no longer be edited (a stage ended).
    pub(crate) fn is_dead(&self) -> bool {
        self.dead
    }

    /// Mark the chain dead (an edit timed out; the connection is being killed).
    pub(crate) fn mark_dead(&mut self) {
        self.dead = true;
    }

    async fn interrupt(slot: Slot) -> Option<StageIo> {
        slot.interrupt.cancel();
        match slot.join.await {
            Ok(StageExit::Interrupted(io)) => Some(io),
            _ => None,
        }
    }

    /// Append a toxic at the end of the chain.
    pub(crate) async fn add(&mut self, record: Arc<ToxicRecord>) {
        if self.dead {
            return;
        }
        let Some(last) = self.slots.pop() else {
            self.dead = true;
            return;
        };
        let (last_record, last_state) = (last.record.clone(), Arc::clone(&last.state));
        let Some(io) = Self::interrupt(last).await else {
            self.dead = true;
            return;
        };
        let (tx, rx) = mpsc::channel(record.toxic.buffer_size());
        let restarted = self.spawn(last_record, last_state, io.input, tx);
        let added = self.spawn(Some(record), Arc::default(), rx, io.output);
        self.slots.push(restarted);
        self.slots.push(added);
    }

    /// Restart the toxic at chain index `index` (≥ 1) with new attributes.
    pub(crate) async fn update(&mut self, index: usize, record: Arc<ToxicRecord>) {
        if self.dead || index == 0 || index >= self.slots.len() {
            return;
        }
        let slot = self.slots.remove(index);
        let state = Arc::clone(&slot.state);
        let Some(io) = Self::interrupt(slot).await else {
            self.dead = true;
            return;
        };
        let restarted = self.spawn(Some(record), state, io.input, io.output);
        self.slots.insert(index, restarted);
    }

    /// Remove the toxic at chain index `index` (≥ 1).
    pub(crate) async fn remove(&mut self, index: usize) {
        if self.dead || index == 0 || index >= self.slots.len() {
            return;
        }
        let slot = self.slots.remove(index);
        let closes = slot
            .record
            .as_ref()
            .is_some_and(|r| r.toxic.closes_on_removal());
        let Some(mut removed) = Self::interrupt(slot).await else {
            self.dead = true;
            return;
        };
        if closes {
            // Dropping its channels closes the chain; the connection follows.
            drop(removed);
            self.dead = true;
            return;
        }
        let prev = self.slots.remove(index - 1);
        let (prev_record, prev_state) = (prev.record.clone(), Arc::clone(&prev.state));
        prev.interrupt.cancel();
        let mut prev_join = prev.join;
        // The previous stage may be blocked sending into the removed stage's
        // input: keep draining that input onwards until it has stopped.
        let exit = loop {
            tokio::select! {
                exit = &mut prev_join => break exit,
                chunk = removed.input.recv() => match chunk {
                    Some(c) => {
                        if removed.output.send(c).await.is_err() {
                            self.dead = true;
                        }
                    }
                    None => break (&mut prev_join).await,
                },
            }
        };
        let Ok(StageExit::Interrupted(prev_io)) = exit else {
            self.dead = true;
            return;
        };
        let StageIo {
            input: prev_input,
            output: prev_output,
            ..
        } = prev_io;
        drop(prev_output);
        while let Some(c) = removed.input.recv().await {
            if removed.output.send(c).await.is_err() {
                self.dead = true;
                return;
            }
        }
        if self.dead {
            return;
        }
        let restarted = self.spawn(prev_record, prev_state, prev_input, removed.output);
        self.slots.insert(index - 1, restarted);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::faults::proxy::Stream;
    use crate::faults::toxics::{Latency, Timeout};
    use crate::faults::wire::Attributes;
    use std::time::Duration;
    use tokio::time::Instant;

    fn record(name: &str, toxic: Toxic, toxicity: f32) -> Arc<ToxicRecord> {
        Arc::new(ToxicRecord {
            name: name.into(),
            stream: Stream::Downstream,
            stream_label: "downstream".into(),
            toxicity,
            attributes: Attributes::from(&toxic),
            toxic,
        })
    }

    fn latency(ms: u64) -> Toxic {
        Toxic::Latency(Latency {
            latency: Duration::from_millis(ms),
            jitter: Duration::ZERO,
        })
    }

    async fn collect(rx: &mut mpsc::Receiver<Chunk>, n: usize) -> Vec<u8> {
        let mut out = Vec::new();
        while out.len() < n {
            out.extend_from_slice(&rx.recv().await.expect("more data").data);
        }
        out
    }

    #[tokio::test(start_paused = true)]
    async fn removing_a_toxic_drops_no_buffered_data_and_keeps_order() {
        let conn = Arc::new(ConnShared::default());
        let slow = record("slow", latency(1000), 1.0);
        let (mut chain, tx, mut rx) = ToxicChain::start(&[Arc::clone(&slow)], 1, conn);
        // 100 chunks queue up behind the 1 s latency.
        for i in 0..100u8 {
            tx.send(Chunk::now(vec![i])).await.unwrap();
        }
        tokio::time::advance(Duration::from_millis(10)).await;
        // The writer keeps draining while the chain is edited, as the socket writer does.
        let reader = tokio::spawn(async move { collect(&mut rx, 256).await });
        let start = Instant::now();
        chain.remove(1).await;
        assert!(!chain.is_dead());
        for i in 100..=255u8 {
            tx.send(Chunk::now(vec![i])).await.unwrap();
        }
        let out = reader.await.unwrap();
        assert_eq!(out, (0..=255u8).collect::<Vec<_>>());
        assert!(
            start.elapsed() < Duration::from_millis(1000),
            "no latency left"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn add_and_update_apply_to_the_live_chain() {
        let conn = Arc::new(ConnShared::default());
        let (mut chain, tx, mut rx) = ToxicChain::start(&[], 1, conn);
        tx.send(Chunk::now(&b"a"[..])).await.unwrap();
        assert_eq!(collect(&mut rx, 1).await, b"a");
        chain.add(record("l", latency(100), 1.0)).await;
        let t = Instant::now();
        tx.send(Chunk::now(&b"b"[..])).await.unwrap();
        assert_eq!(collect(&mut rx, 1).await, b"b");
        assert_eq!(t.elapsed(), Duration::from_millis(100));
        chain.update(1, record("l", latency(300), 1.0)).await;
        let t = Instant::now();
        tx.send(Chunk::now(&b"c"[..])).await.unwrap();
        assert_eq!(collect(&mut rx, 1).await, b"c");
        assert_eq!(t.elapsed(), Duration::from_millis(300));
        // Toxicity 0: on the chain but never applied.
        chain.update(1, record("l", latency(300), 0.0)).await;
        let t = Instant::now();
        tx.send(Chunk::now(&b"d"[..])).await.unwrap();
        assert_eq!(collect(&mut rx, 1).await, b"d");
        assert_eq!(t.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn removing_timeout_closes_the_link() {
        let conn = Arc::new(ConnShared::default());
        let hold = record("t", Toxic::Timeout(Timeout { timeout: None }), 1.0);
        let (mut chain, tx, mut rx) = ToxicChain::start(&[hold], 1, conn);
        tx.send(Chunk::now(&b"swallowed"[..])).await.unwrap();
        chain.remove(1).await;
        assert!(chain.is_dead());
        assert!(rx.recv().await.is_none(), "closed");
    }

    #[tokio::test(start_paused = true)]
    async fn seeded_toxicity_is_deterministic_per_link() {
        // Which of 64 chains (seeds 0..64) get a toxicity-0.5 toxic.
        async fn pattern(base: u64) -> Vec<bool> {
            let mut out = Vec::new();
            for i in 0..64 {
                let conn = Arc::new(ConnShared::default());
                let r = record("l", latency(50), 0.5);
                let (_chain, tx, mut rx) = ToxicChain::start(&[r], base.wrapping_add(i), conn);
                let t = Instant::now();
                tx.send(Chunk::now(&b"x"[..])).await.unwrap();
                rx.recv().await.unwrap();
                out.push(t.elapsed() > Duration::ZERO);
            }
            out
        }
        let a = pattern(1000).await;
        assert_eq!(a, pattern(1000).await);
        assert_ne!(a, pattern(5000).await);
        let hits = a.iter().filter(|&&b| b).count();
        assert!((16..=48).contains(&hits), "{hits} of 64");
    }
}
