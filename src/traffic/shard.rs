//! Which share of the load this process generates when a run is split over
//! several load generators (`ninefold run --shard I/N`, or one pod of a
//! Kubernetes Indexed Job).
//!
//! Shards are numbered from 0, like Kubernetes' `JOB_COMPLETION_INDEX`, so
//! `--shard 0/2` and `--shard 1/2` are the two halves of a run. Shard `I` of
//! `N` owns every request whose sequence number is `I + k·N`: its workers
//! interleave the schedule exactly as the workers of one process do, so the
//! union of the shards' schedules is the whole run's schedule, request for
//! request (see [`Shard::global_worker`]).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Shard `index` of `count` (0 ≤ index < count).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Default for Shard {
    /// The whole run in one process.
    fn default() -> Self {
        Shard { index: 0, count: 1 }
    }
}

/// Why a shard specification is not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShardError {
    #[error("shard `{0}`: expected I/N with 0 <= I < N (shards count from 0), e.g. 0/4")]
    Syntax(String),
    #[error("shard {index}/{count}: the index must be below the count (shards count from 0)")]
    OutOfRange { index: u32, count: u32 },
    #[error(
        "--shards N takes the shard index from JOB_COMPLETION_INDEX (set by a Kubernetes Indexed Job), which is not set; use --shard I/N"
    )]
    NoJobIndex,
}

impl Shard {
    /// Shard `index` of `count`, checked.
    pub fn new(index: u32, count: u32) -> Result<Self, ShardError> {
        if count == 0 || index >= count {
            return Err(ShardError::OutOfRange { index, count });
        }
        Ok(Shard { index, count })
    }

    /// Whether this is the only shard (a plain run).
    pub fn is_whole(&self) -> bool {
        self.count == 1
    }

    /// Only shard 0 plays the fault timeline: a fault is one event in the
    /// system under test, not one per load generator.
    pub fn drives_faults(&self) -> bool {
        self.index == 0
    }

    /// This shard's part of `total` indivisible things (connections, in-flight
    /// slots, quota): `total / N`, the remainder going to the lowest indices.
    pub fn share(&self, total: u64) -> u64 {
        let n = u64::from(self.count);
        total / n + u64::from(u64::from(self.index) < total % n)
    }

    /// The run-wide number of a local worker: `I + N·local`. With a stride of
    /// `N · workers_here`, worker `local` of shard `I` owns sequence numbers
    /// `I + N·local + N·workers_here·k`, so the shards partition the run's
    /// sequence numbers whatever worker count each shard picked.
    pub fn global_worker(&self, local: usize) -> usize {
        self.index as usize + self.count as usize * local
    }

    /// The sequence stride of a shard whose phase uses `workers_here` workers.
    pub fn stride(&self, workers_here: usize) -> usize {
        self.count as usize * workers_here.max(1)
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

impl FromStr for Shard {
    type Err = ShardError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let syntax = || ShardError::Syntax(s.to_owned());
        let (i, n) = s.trim().split_once('/').ok_or_else(syntax)?;
        let index = i.trim().parse().map_err(|_| syntax())?;
        let count = n.trim().parse().map_err(|_| syntax())?;
        Shard::new(index, count)
    }
}

/// The shard of a `ninefold run`: `--shard I/N` as given, or `--shards N`
/// with the index from `job_index` (Kubernetes' `JOB_COMPLETION_INDEX`), or
/// the whole run.
pub fn from_args(
    shard: Option<Shard>,
    shards: Option<u32>,
    job_index: Option<&str>,
) -> Result<Shard, ShardError> {
    match (shard, shards) {
        (Some(s), _) => Ok(s),
        (None, Some(count)) => {
            let text = job_index.ok_or(ShardError::NoJobIndex)?;
            let index = text
                .trim()
                .parse()
                .map_err(|_| ShardError::Syntax(format!("JOB_COMPLETION_INDEX={text}")))?;
            Shard::new(index, count)
        }
        (None, None) => Ok(Shard::default()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_zero_based_index_over_count() {
        assert_eq!("1/4".parse::<Shard>(), Ok(Shard { index: 1, count: 4 }));
        assert_eq!(" 0 / 1 ".parse::<Shard>(), Ok(Shard::default()));
        assert_eq!(
            "4/4".parse::<Shard>(),
            Err(ShardError::OutOfRange { index: 4, count: 4 })
        );
        assert!(matches!(
            "0/0".parse::<Shard>(),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(matches!("1".parse::<Shard>(), Err(ShardError::Syntax(_))));
        assert!(matches!(
            "-1/2".parse::<Shard>(),
            Err(ShardError::Syntax(_))
        ));
        assert_eq!(Shard { index: 2, count: 3 }.to_string(), "2/3");
    }

    #[test]
    fn shards_from_flags_or_the_job_index() {
        let s = |i, n| Shard::new(i, n).unwrap();
        assert_eq!(from_args(None, None, Some("3")), Ok(Shard::default()));
        assert_eq!(from_args(Some(s(1, 2)), None, None), Ok(s(1, 2)));
        assert_eq!(from_args(None, Some(4), Some("3")), Ok(s(3, 4)));
        assert_eq!(from_args(None, Some(4), None), Err(ShardError::NoJobIndex));
        assert!(matches!(
            from_args(None, Some(4), Some("4")),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(matches!(
            from_args(None, Some(4), Some("x")),
            Err(ShardError::Syntax(_))
        ));
    }

    proptest! {
        /// Shares of a total add up to it, whatever the count.
        #[test]
        fn shares_add_up(total in 0u64..10_000, count in 1u32..64) {
            let sum: u64 = (0..count).map(|i| Shard::new(i, count).unwrap().share(total)).sum();
            prop_assert_eq!(sum, total);
        }

        /// Every sequence number below a bound is owned by exactly one worker of
        /// exactly one shard, whatever worker count each shard chose.
        #[test]
        fn shards_partition_sequence_numbers(
            workers in proptest::collection::vec(1usize..5, 1..5),
        ) {
            let count = workers.len() as u32;
            let limit = 500usize;
            let mut owners = vec![0u32; limit];
            for (i, &w) in workers.iter().enumerate() {
                let shard = Shard::new(i as u32, count).unwrap();
                for local in 0..w {
                    let first = shard.global_worker(local);
                    for seq in (first..limit).step_by(shard.stride(w)) {
                        owners[seq] += 1;
                    }
                }
            }
            prop_assert!(owners.iter().all(|&n| n == 1), "{:?}", owners);
        }
    }
}
