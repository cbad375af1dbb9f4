//! One shared start instant for the shards of a run, so that their schedules
//! (and their per-second series) line up when `ninefold merge` adds them.
//!
//! A shard brings its topology up, then waits at the gate before its first
//! request:
//!
//! ```text
//!  --start-at T           sleep until T (refused if T has passed by more than MAX_START_SKEW)
//!  --barrier DIR          write DIR/ready-I-of-N.json, wait until all N are there;
//!                         start = max(ready times) + margin: every shard reads the
//!                         same files, so every shard computes the same instant
//!  both                   start = the later of the two
//! ```
//!
//! The instant the schedule then actually began is recorded in the shard's
//! results, and merge refuses shards that began more than [`MAX_START_SKEW`]
//! apart. The clocks of the machines must agree (NTP), as any wall-clock
//! schedule needs.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::traffic::Shard;

/// How far apart the shards of one run may begin their schedules: a tenth of
/// the 1-second bin of the per-second series, so each shard's second `k`
/// overlaps the others' second `k` by at least 90%. A shard that would start
/// later than this after the agreed instant refuses to start (exit 7), and
/// `ninefold merge` refuses shards that began further apart.
pub const MAX_START_SKEW: Duration = Duration::from_millis(100);

/// How far ahead `--start-at` may be: it lines shards up, it is not a
/// scheduler (a CronJob is), and a typo in the date should not hang a Job.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(3600);

/// How often a waiting shard looks at the barrier folder again.
const BARRIER_POLL: Duration = Duration::from_millis(50);

/// Where and how the shards meet before they start.
#[derive(Debug, Clone, PartialEq)]
pub struct Barrier {
    /// A folder every shard can write and read (the shared results volume).
    pub dir: PathBuf,
    /// How long a shard waits for the others before it gives up (exit 7).
    pub timeout: Duration,
    /// Added to the last shard's ready time: long enough for every shard to
    /// see the last ready file (polling, a network file system's caches).
    pub margin: Duration,
}

/// The start of a shard's schedule: at an instant, after a barrier, or both.
#[derive(Debug, Clone, PartialEq)]
pub struct StartGate {
    pub shard: Shard,
    /// Identifies the run in the ready files, so that a ready file of another
    /// run left in the folder does not count (the run id, or the seed).
    pub run: String,
    pub at: Option<SystemTime>,
    pub barrier: Option<Barrier>,
}

/// Why a shard does not start (exit 7, or 6 when interrupted while waiting).
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(
        "start barrier {}: timed out after {} waiting for the other shards: shard(s) {have} of {count} ready, shard(s) {missing} missing; no traffic was sent",
        dir.display(), crate::scenario::human::format_duration(*timeout)
    )]
    BarrierTimeout {
        dir: PathBuf,
        timeout: Duration,
        count: u32,
        have: String,
        missing: String,
    },
    #[error(
        "the shared start instant {at} passed {late_ms} ms before this shard was ready (the limit is {} ms, a tenth of the per-second series' bin); no traffic was sent",
        MAX_START_SKEW.as_millis()
    )]
    Missed { at: String, late_ms: u128 },
    #[error("start barrier {}: {source}", dir.display())]
    Io {
        dir: PathBuf,
        source: std::io::Error,
    },
    #[error("interrupted while waiting to start; no traffic was sent")]
    Interrupted,
}

/// Why a `--start-at` value is refused (bad input, exit 2).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StartAtError {
    #[error("--start-at `{0}`: expected an RFC 3339 UTC time, e.g. 2026-12-04T21:30:00Z")]
    Syntax(String),
    #[error(
        "--start-at {at} is {ago_ms} ms in the past (the tolerance is {} ms): give a time a little ahead, e.g. `date -u -d '+1 min' +%FT%TZ`",
        MAX_START_SKEW.as_millis()
    )]
    Past { at: String, ago_ms: u128 },
    #[error(
        "--start-at {at} is {} ahead; at most {} (it lines shards up, it does not schedule runs)",
        crate::scenario::human::format_duration(*ahead),
        crate::scenario::human::format_duration(MAX_START_AHEAD)
    )]
    TooFar { at: String, ahead: Duration },
}

/// Parse `--start-at` and check it against `now`.
pub fn parse_start_at(text: &str, now: SystemTime) -> Result<SystemTime, StartAtError> {
    let at =
        humantime::parse_rfc3339(text.trim()).map_err(|_| StartAtError::Syntax(text.to_owned()))?;
    check_start_at(at, now)?;
    Ok(at)
}

/// `at` is neither past (beyond the tolerance) nor too far ahead of `now`.
pub fn check_start_at(at: SystemTime, now: SystemTime) -> Result<(), StartAtError> {
    let shown = || rfc3339_ms(at);
    match now.duration_since(at) {
        Ok(ago) if ago > MAX_START_SKEW => Err(StartAtError::Past {
            at: shown(),
            ago_ms: ago.as_millis(),
        }),
        Ok(_) => Ok(()),
        Err(e) if e.duration() > MAX_START_AHEAD => Err(StartAtError::TooFar {
            at: shown(),
            ahead: e.duration(),
        }),
        Err(_) => Ok(()),
    }
}

/// `t` as RFC 3339 UTC with milliseconds (how results record start instants).
pub fn rfc3339_ms(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

/// What a shard writes into the barrier folder when it is ready to send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ready {
    pub run: String,
    pub index: u32,
    pub count: u32,
    /// Milliseconds since the Unix epoch.
    pub ready_ms: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

/// The ready file of shard `index` of `count`.
pub fn ready_file(dir: &Path, shard: Shard) -> PathBuf {
    dir.join(format!("ready-{}-of-{}.json", shard.index, shard.count))
}

/// The instant every shard agrees on, once all of `ready` are there: the last
/// ready time plus `margin`. `ready` holds what the shards wrote (any order);
/// files of another run or shard count, and files older than `window` before
/// `own` (left from an earlier run), do not count. `Err` lists what is missing.
pub fn agreed_start(
    ready: &[Ready],
    own: &Ready,
    window: Duration,
    margin: Duration,
) -> Result<SystemTime, (String, String)> {
    let oldest = own.ready_ms.saturating_sub(window.as_millis() as u64);
    let mut last = vec![None; own.count as usize];
    for r in ready {
        if r.run == own.run && r.count == own.count && r.index < r.count && r.ready_ms >= oldest {
            last[r.index as usize] = Some(r.ready_ms);
        }
    }
    let list = |want: bool| {
        last.iter()
            .enumerate()
            .filter(|(_, t)| t.is_some() == want)
            .map(|(i, _)| i.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    };
    match last.iter().copied().collect::<Option<Vec<u64>>>() {
        Some(times) => Ok(from_unix_ms(times.into_iter().max().unwrap_or(0)) + margin),
        None => Err((list(true), list(false))),
    }
}

impl StartGate {
    /// Wait at the gate; `Ok` is the agreed start instant, reached (within
    /// [`MAX_START_SKEW`]). Cancelling `stop` gives up.
    pub async fn wait(&self, stop: &CancellationToken) -> Result<SystemTime, StartError> {
        let mut at = self.at;
        if let Some(b) = &self.barrier {
            let met = self.meet(b, stop).await?;
            at = Some(at.map_or(met, |a| a.max(met)));
        }
        let Some(at) = at else {
            return Ok(SystemTime::now());
        };
        let now = SystemTime::now();
        match at.duration_since(now) {
            Ok(ahead) => {
                tokio::select! {
                    () = tokio::time::sleep(ahead) => {}
                    () = stop.cancelled() => return Err(StartError::Interrupted),
                }
            }
            Err(e) if e.duration() > MAX_START_SKEW => {
                return Err(StartError::Missed {
                    at: rfc3339_ms(at),
                    late_ms: e.duration().as_millis(),
                });
            }
            Err(_) => {}
        }
        Ok(at)
    }

    /// Write this shard's ready file, then wait for all of them.
    async fn meet(&self, b: &Barrier, stop: &CancellationToken) -> Result<SystemTime, StartError> {
        let io = |source| StartError::Io {
            dir: b.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&b.dir).map_err(io)?;
        let own = Ready {
            run: self.run.clone(),
            index: self.shard.index,
            count: self.shard.count,
            ready_ms: unix_ms(SystemTime::now()),
        };
        // Written whole, then renamed: a reader never sees half a file.
        let path = ready_file(&b.dir, self.shard);
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_string(&own).unwrap_or_default();
        std::fs::write(&tmp, text).map_err(io)?;
        std::fs::rename(&tmp, &path).map_err(io)?;
        let deadline = tokio::time::Instant::now() + b.timeout;
        loop {
            let ready = self.read_all(&b.dir);
            match agreed_start(&ready, &own, b.timeout, b.margin) {
                Ok(at) => return Ok(at),
                Err((have, missing)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(StartError::BarrierTimeout {
                            dir: b.dir.clone(),
                            timeout: b.timeout,
                            count: self.shard.count,
                            have: if have.is_empty() { "none".into() } else { have },
                            missing,
                        });
                    }
                }
            }
            tokio::select! {
                () = tokio::time::sleep(BARRIER_POLL) => {}
                () = stop.cancelled() => return Err(StartError::Interrupted),
            }
        }
    }

    /// Every readable ready file of this shard count (by name, so a network
    /// file system's directory cache does not hide one).
    fn read_all(&self, dir: &Path) -> Vec<Ready> {
        (0..self.shard.count)
            .filter_map(|index| {
                let shard = Shard {
                    index,
                    count: self.shard.count,
                };
                let text = std::fs::read_to_string(ready_file(dir, shard)).ok()?;
                serde_json::from_str(&text).ok()
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ready(run: &str, index: u32, count: u32, ready_ms: u64) -> Ready {
        Ready {
            run: run.into(),
            index,
            count,
            ready_ms,
        }
    }

    #[test]
    fn every_shard_agrees_on_the_last_ready_time_plus_the_margin() {
        let files = [ready("r", 1, 2, 10_400), ready("r", 0, 2, 10_000)];
        let margin = Duration::from_millis(500);
        let window = Duration::from_secs(60);
        // Whichever shard computes it, from the same files: the same instant.
        for own in &files {
            assert_eq!(
                agreed_start(&files, own, window, margin),
                Ok(from_unix_ms(10_900))
            );
        }
    }

    #[test]
    fn other_runs_counts_and_stale_files_do_not_count() {
        let own = ready("r", 0, 3, 100_000);
        let window = Duration::from_secs(10);
        let files = [
            own.clone(),
            ready("other", 1, 3, 100_100),
            ready("r", 2, 4, 100_100),
            ready("r", 2, 3, 80_000),
        ];
        assert_eq!(
            agreed_start(&files, &own, window, Duration::ZERO),
            Err(("0".into(), "1, 2".into()))
        );
    }

    #[test]
    fn start_at_is_refused_when_past_or_too_far_ahead() {
        let now = humantime::parse_rfc3339("2026-12-04T21:00:00Z").unwrap();
        assert!(parse_start_at("2026-12-04T21:00:30Z", now).is_ok());
        assert!(parse_start_at("2026-12-04T20:59:59.950Z", now).is_ok());
        let past = parse_start_at("2026-12-04T20:59:58Z", now)
            .unwrap_err()
            .to_string();
        assert!(past.contains("2000 ms in the past"), "{past}");
        let far = parse_start_at("2026-12-05T21:00:00Z", now)
            .unwrap_err()
            .to_string();
        assert!(far.contains("at most 1h"), "{far}");
        assert!(matches!(
            parse_start_at("2026-12-04 21:00:30+01:00", now),
            Err(StartAtError::Syntax(_))
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn a_missing_shard_times_out_at_the_barrier() {
        let dir = std::env::temp_dir().join(format!("ninefold-barrier-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let gate = StartGate {
            shard: Shard::new(0, 2).unwrap(),
            run: "r".into(),
            at: None,
            barrier: Some(Barrier {
                dir: dir.clone(),
                timeout: Duration::from_secs(2),
                margin: Duration::from_millis(100),
            }),
        };
        let err = gate.wait(&CancellationToken::new()).await.unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("shard(s) 0 of 2 ready, shard(s) 1 missing"),
            "{text}"
        );
        assert!(ready_file(&dir, gate.shard).exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
