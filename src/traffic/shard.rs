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

/// A shard's part of one run, as its results record it: which shard, the
/// run id it was started with, and the wall-clock instant its schedule began
/// (so that `ninefold merge` can check the shards' per-second series line up).
/// Serialized flat: `{"index": 0, "count": 2, "started_at": "…", "run_id": "…"}`;
/// results written before the last two were recorded have only the first two.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShardRun {
    #[serde(flatten)]
    pub shard: Shard,
    /// When this shard's schedule began: RFC 3339 UTC with milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    /// The run id all shards of the run were given (`--run-id`,
    /// `NINEFOLD_RUN_ID`, or the Indexed Job's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
}

impl From<Shard> for ShardRun {
    fn from(shard: Shard) -> Self {
        ShardRun {
            shard,
            started_at: None,
            run_id: None,
        }
    }
}

/// The seed of a run that has a run id and no seed of its own: FNV-1a (64
/// bit) of the id's bytes, so every shard given the same id draws the same
/// requests, on any machine and with any ninefold build.
pub fn seed_from_run_id(run_id: &str) -> u64 {
    run_id.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The name of the Kubernetes Job this pod belongs to, when it is a pod of an
/// Indexed Job: Kubernetes sets such a pod's hostname to `<job name>-<index>`
/// (and `JOB_COMPLETION_INDEX` to the index), so the name is the hostname
/// without the `-<index>` suffix. `None` when either is unset or they do not
/// fit that pattern.
pub fn indexed_job_name(hostname: Option<&str>, job_index: Option<&str>) -> Option<String> {
    let index = job_index?.trim();
    if index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let name = hostname?.trim().strip_suffix(index)?.strip_suffix('-')?;
    (!name.is_empty()).then(|| name.to_owned())
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

    #[test]
    fn a_run_id_gives_one_fixed_seed() {
        // FNV-1a 64 reference values: the empty string is the offset basis,
        // "a" is 0xaf63dc4c8601ec8c (the published test vector).
        assert_eq!(seed_from_run_id(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(seed_from_run_id("a"), 0xaf63_dc4c_8601_ec8c);
        assert_ne!(
            seed_from_run_id("ninefold-shards"),
            seed_from_run_id("ninefold-shards2")
        );
    }

    #[test]
    fn the_job_name_is_the_indexed_pod_hostname_without_its_index() {
        let name = |h, i| indexed_job_name(h, i);
        assert_eq!(
            name(Some("ninefold-shards-3"), Some("3")).as_deref(),
            Some("ninefold-shards")
        );
        assert_eq!(name(Some("ninefold-shards-13"), Some("3")), None);
        assert_eq!(name(Some("laptop"), Some("0")), None);
        assert_eq!(name(Some("-0"), Some("0")), None);
        assert_eq!(name(None, Some("0")), None);
        assert_eq!(name(Some("job-0"), None), None);
        assert_eq!(name(Some("job-x"), Some("x")), None);
    }

    #[test]
    fn a_shard_run_serializes_flat_and_reads_old_results() {
        let mut run = ShardRun::from(Shard::new(1, 2).unwrap());
        assert_eq!(
            serde_json::to_string(&run).unwrap(),
            r#"{"index":1,"count":2}"#
        );
        run.started_at = Some("2026-12-04T21:00:00.250Z".into());
        let text = serde_json::to_string(&run).unwrap();
        assert_eq!(
            text,
            r#"{"index":1,"count":2,"started_at":"2026-12-04T21:00:00.250Z"}"#
        );
        assert_eq!(serde_json::from_str::<ShardRun>(&text).unwrap(), run);
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
