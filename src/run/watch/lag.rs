//! The generator's health told as it happens: requests dropped at the in-flight cap,
//! and the open-loop generator falling behind its schedule and catching up again,
//! judged from each live snapshot's dispatch lag (the largest since the snapshot before,
//! [`crate::traffic::live::LiveNow::dispatch_lag_us`]) by a rule with hysteresis, so
//! one late wake-up on a busy machine is not an event and a lag that hovers at the
//! threshold does not flap. Used by `run`'s watcher and by `attack`.

use std::sync::Arc;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{EventSink, HappeningKind};
use crate::traffic::live::LiveSnapshot;

/// A snapshot's dispatch lag above this counts towards falling behind: far above the
/// generator's own precision (a median under 1 µs, bench/load/README.md) and above the
/// few milliseconds a busy machine's scheduler may cost one wake-up.
pub const BEHIND_ABOVE_US: u64 = 10_000;
/// … in this many snapshots with dispatches in a row (three 250 ms intervals).
pub const BEHIND_FOR: u32 = 3;
/// Back under this the generator counts towards having caught up …
pub const CAUGHT_UP_BELOW_US: u64 = 5_000;
/// … in this many snapshots with dispatches in a row (2 s).
pub const CAUGHT_UP_FOR: u32 = 8;

/// A change of the generator's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LagChange {
    /// Behind: the lag of the snapshot that decided it, µs.
    FellBehind { lag_us: u64 },
    /// Caught up: the largest lag while behind, µs.
    CaughtUp { worst_us: u64 },
}

/// The hysteresis rule over successive snapshots' dispatch lag.
#[derive(Debug, Default, Clone)]
pub struct LagRule {
    behind: bool,
    /// Snapshots in a row on the far side of the current state's threshold.
    streak: u32,
    /// The largest lag since the streak towards falling behind began.
    worst_us: u64,
}

impl LagRule {
    /// One snapshot's dispatch lag (`None`: nothing dispatched in its interval, which
    /// neither counts nor breaks a streak); the change it makes, if any.
    pub fn observe(&mut self, lag_us: Option<u64>) -> Option<LagChange> {
        let lag = lag_us?;
        if self.behind {
            self.worst_us = self.worst_us.max(lag);
            self.streak = if lag < CAUGHT_UP_BELOW_US {
                self.streak + 1
            } else {
                0
            };
            if self.streak >= CAUGHT_UP_FOR {
                let worst_us = std::mem::take(&mut self.worst_us);
                *self = LagRule::default();
                return Some(LagChange::CaughtUp { worst_us });
            }
        } else if lag > BEHIND_ABOVE_US {
            self.streak += 1;
            self.worst_us = self.worst_us.max(lag);
            if self.streak >= BEHIND_FOR {
                self.behind = true;
                self.streak = 0;
                return Some(LagChange::FellBehind { lag_us: lag });
            }
        } else {
            self.streak = 0;
            self.worst_us = 0;
        }
        None
    }
}

/// What the generator's events remember between snapshots.
#[derive(Debug, Default)]
pub struct GeneratorEvents {
    dropped: u64,
    lag: LagRule,
}

impl GeneratorEvents {
    /// Tell what `snap` shows of the generator: a rise in dropped requests, and a
    /// change of its lag state.
    pub fn observe(&mut self, snap: &LiveSnapshot, sink: &EventSink) {
        let at_s = snap.now.elapsed.as_secs_f64();
        let dropped = snap.now.dropped;
        if dropped > self.dropped {
            sink.happened(
                at_s,
                HappeningKind::Dropped,
                format!(
                    "the generator fell behind: {dropped} request(s) dropped at the in-flight cap so far (the run will be invalid)"
                ),
            );
            self.dropped = dropped;
        }
        match self.lag.observe(snap.now.dispatch_lag_us) {
            Some(LagChange::FellBehind { lag_us }) => sink.happened(
                at_s,
                HappeningKind::FellBehind,
                format!(
                    "the generator is behind its schedule: arrivals dispatched {} late (over {} in {BEHIND_FOR} snapshots in a row); latency still counts from the intended instants",
                    ms(lag_us),
                    ms(BEHIND_ABOVE_US)
                ),
            ),
            Some(LagChange::CaughtUp { worst_us }) => sink.happened(
                at_s,
                HappeningKind::CaughtUp,
                format!(
                    "the generator caught up: dispatch lag under {} for {CAUGHT_UP_FOR} snapshots in a row (at worst {} late while behind)",
                    ms(CAUGHT_UP_BELOW_US),
                    ms(worst_us)
                ),
            ),
            None => {}
        }
    }
}

fn ms(us: u64) -> String {
    format!("{:.1} ms", us as f64 / 1000.0)
}

/// Follow the live feed and tell the generator's events until the traffic's last
/// snapshot, or until `done` (then the latest snapshot is looked at once more).
/// `attack`'s watcher: `run`'s does the same inside [`super::Watch::run`].
pub async fn tell_generator(
    mut live: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    sink: EventSink,
    done: CancellationToken,
) {
    let mut events = GeneratorEvents::default();
    loop {
        let last = tokio::select! {
            biased;
            r = live.changed() => r.is_err(),
            () = done.cancelled() => true,
        };
        let snap = live.borrow_and_update().clone();
        if let Some(snap) = snap {
            events.observe(&snap, &sink);
            if snap.finished {
                return;
            }
        }
        if last {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed a sequence of snapshot maxima (ms; `None`: nothing dispatched); the
    /// changes at their indices.
    fn run(seq: &[Option<f64>]) -> Vec<(usize, LagChange)> {
        let mut rule = LagRule::default();
        seq.iter()
            .enumerate()
            .filter_map(|(i, ms)| Some((i, rule.observe(ms.map(|m| (m * 1000.0) as u64))?)))
            .collect()
    }

    #[test]
    fn three_snapshots_over_10ms_fall_behind_and_eight_under_5ms_catch_up() {
        let behind = [Some(12.0), Some(30.0), Some(55.0)];
        let mut seq = vec![Some(0.05), Some(0.04)];
        seq.extend(behind);
        seq.extend([Some(80.0), Some(3.0)]);
        seq.extend([Some(1.0); 7]);
        // Behind at the third over 10 ms (index 4); 8 in a row under 5 ms: index 6
        // (3.0) starts the streak, 13 ends it; the worst while behind was 80 ms.
        assert_eq!(
            run(&seq),
            vec![
                (4, LagChange::FellBehind { lag_us: 55_000 }),
                (13, LagChange::CaughtUp { worst_us: 80_000 }),
            ]
        );
    }

    #[test]
    fn isolated_late_snapshots_are_no_event() {
        // Two over the threshold, then one under: the streak restarts.
        let seq = [
            Some(15.0),
            Some(15.0),
            Some(9.9),
            Some(40.0),
            Some(40.0),
            Some(10.0), // exactly 10 ms is not over it
            Some(11.0),
        ];
        assert_eq!(run(&seq), vec![]);
    }

    #[test]
    fn between_the_thresholds_the_state_holds_and_none_counts_for_nothing() {
        let mut seq = vec![Some(20.0), None, Some(20.0), None, Some(20.0)];
        // Behind at index 4 (the `None`s neither count nor break the streak).
        // Between 5 and 10 ms: still behind, and it breaks the catching-up streak.
        seq.extend([Some(4.0); 7]);
        seq.push(Some(7.0));
        seq.extend([Some(4.0); 7]);
        seq.push(None);
        seq.push(Some(5.0)); // exactly 5 ms is not under it
        seq.push(Some(0.5));
        assert_eq!(
            run(&seq),
            vec![(4, LagChange::FellBehind { lag_us: 20_000 })]
        );
        // After the breaker at 5.0 only one (0.5) has come: seven more catch up.
        let mut more = seq.clone();
        more.extend([Some(0.5); 7]);
        let changes = run(&more);
        assert_eq!(
            changes.last(),
            Some(&(more.len() - 1, LagChange::CaughtUp { worst_us: 20_000 }))
        );
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn behind_again_after_catching_up() {
        let mut seq = vec![Some(11.0); 3];
        seq.extend([Some(0.1); 8]);
        seq.extend([Some(11.0); 3]);
        assert_eq!(
            run(&seq),
            vec![
                (2, LagChange::FellBehind { lag_us: 11_000 }),
                (10, LagChange::CaughtUp { worst_us: 11_000 }),
                (13, LagChange::FellBehind { lag_us: 11_000 }),
            ]
        );
    }
}
