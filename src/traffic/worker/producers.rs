//! The producers of a phase's jobs: the open-loop producer, which dispatches at the
//! schedule's absolute instants (never from the previous response), and closed-loop
//! virtual users, each sending its next request after the last answer and its think
//! time.

use super::*;

/// A producer behind its schedule yields (and checks for the stop and the phase's
/// end) after this many arrivals dispatched back to back: rare enough to cost
/// nothing at any rate a generator can keep, often enough that a hopeless rate
/// stops on time (at ~1 µs an arrival, every ~64 µs).
const CATCH_UP_BATCH: u32 = 64;

impl Worker {
    pub(super) async fn open_producer(
        &self,
        p: usize,
        queue: &Queue,
        mut generator: ArrivalGen,
        stop: &CancellationToken,
    ) {
        let phase = self.phase(p);
        let Load::Open { profile, .. } = &phase.load else {
            return;
        };
        let start = self.plan.run_start + phase.start;
        let end = start + phase.duration;
        // Arrivals dispatched back to back because the schedule is behind.
        let mut behind = 0u32;
        // The last stretch before each arrival on the kernel's timer, not yielding.
        let precise = super::clock::PreciseTimer::new();
        while let Some((seq, offset)) = generator.next(profile) {
            // Sequence numbers are global (workers stride), so this stops the
            // phase after exactly `max_requests` over all workers.
            if seq >= self.plan.max_requests {
                break;
            }
            let intended = start + offset;
            let now = Instant::now();
            if now < intended {
                behind = 0;
                if !wait_until(intended, stop, precise.as_ref()).await {
                    break;
                }
            } else {
                // Behind schedule, `wait_until` would return at once without
                // awaiting: at an absurd rate the loop would never yield, so the
                // connections would never send and neither cancellation (an abort
                // of this task) nor the phase's end would ever be seen. Every
                // CATCH_UP_BATCH late arrivals: stop at the end, else yield.
                behind += 1;
                if behind >= CATCH_UP_BATCH {
                    behind = 0;
                    if stop.is_cancelled() {
                        break;
                    }
                    if now >= end {
                        // The arrivals still due were never sent: the lag of the
                        // first of them says how far behind the generator was.
                        let lag = now.saturating_duration_since(intended).as_micros() as u64;
                        self.recorder.borrow_mut().dispatch_lag(p, lag);
                        self.live.dispatched(lag);
                        break;
                    }
                    tokio::task::yield_now().await;
                }
            }
            let now = Instant::now();
            let lag = now.saturating_duration_since(intended).as_micros() as u64;
            self.recorder.borrow_mut().dispatch_lag(p, lag);
            self.live.dispatched(lag);
            if let Some(job) = self.admit(p, queue, intended, seq, now, None) {
                self.enqueue(queue, job);
            }
        }
    }

    /// One closed-loop user. With `direct`, it owns a connection and sends on it
    /// itself (no queue hand-off); otherwise it queues for the phase's connections.
    pub(super) async fn virtual_user(
        &self,
        p: usize,
        queue: &Queue,
        vu: u32,
        direct: bool,
        stop: &CancellationToken,
    ) {
        let phase = self.phase(p);
        let Load::Closed {
            start_vus,
            stages,
            think,
        } = &phase.load
        else {
            return;
        };
        let start = self.plan.run_start + phase.start;
        let end = start + phase.duration;
        if !wait_until(start, stop, None).await {
            return;
        }
        let done = Rc::new(Notify::new());
        let mut conn = self.link(p);
        // One cancellation waiter for the whole loop, not one registered and removed
        // per request. A user sending itself does not wait on it: the worker aborts
        // this task when the token is cancelled (see `run`).
        let cancelled = stop.cancelled();
        tokio::pin!(cancelled);
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            // A constant number of users needs no clock arithmetic.
            let wanted = if stages.is_empty() {
                *start_vus
            } else {
                vus_at(*start_vus, stages, (now - start).as_secs_f64())
            };
            let pause = if wanted <= vu {
                VU_IDLE_POLL
            } else {
                let seq = queue.next_seq.get();
                if seq >= self.plan.max_requests {
                    break;
                }
                queue.next_seq.set(seq + phase.stride() as u64);
                if direct {
                    if let Some(job) = self.admit(p, queue, now, seq, now, None) {
                        // `now` was read just now, nothing awaited since: it can serve
                        // as the send instant too.
                        self.execute(p, &mut conn, job, Some(now)).await;
                        self.release(queue);
                    }
                } else if let Some(job) =
                    self.admit(p, queue, now, seq, now, Some(Rc::clone(&done)))
                {
                    self.enqueue(queue, job);
                    tokio::select! {
                        biased;
                        () = &mut cancelled => break,
                        () = done.notified() => {}
                    }
                }
                *think
            };
            // A plain timer sleep (~1 ms long): a late think enters no figure, and a
            // spin per user per think (`clock::wait_until`) would cost a core.
            if !pause.is_zero() {
                conn.idle();
                tokio::select! {
                    biased;
                    () = &mut cancelled => break,
                    () = tokio::time::sleep(pause) => {}
                }
            }
        }
    }
}
