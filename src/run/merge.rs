//! `ninefold merge`: the shards of one run put back together, exactly.
//!
//! Each shard (`ninefold run --shard I/N`) leaves a run folder whose
//! `results.json` holds its raw measurements: HDR histograms in their
//! compressed V2 encoding, counters, per-second series and the ledger of
//! acknowledged writes. Merging adds them up with [`Recording::merge`], which
//! is lossless, so the merged folder is judged on every request of the run:
//!
//! ```text
//!  shard-0/results.json ─┐  checks: same scenario text, seed, time scale;
//!  shard-1/results.json ─┼─ every index 0..N once ─► Recording::merge ─► write_run_folder
//!  …                     ─┘  faults + lifecycle from shard 0 (it drove them)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::metrics::{MergeError, Recording};
use crate::results::{RunResults, StoreReadback};
use crate::run::outputs::{RESULTS_JSON, SCENARIO_TOML};
use crate::traffic::Shard;

/// One shard's folder, read.
#[derive(Debug, Clone)]
pub struct ShardFolder {
    pub dir: PathBuf,
    pub results: RunResults,
    /// The scenario as the shard ran it (`scenario.toml`).
    pub scenario_toml: String,
}

/// Why a set of folders is not one complete run (exit 2) or does not merge.
#[derive(Debug, thiserror::Error)]
pub enum MergeProblem {
    #[error("{}: cannot read {file}: {source}", dir.display())]
    Read {
        dir: PathBuf,
        file: &'static str,
        source: std::io::Error,
    },
    #[error("{}: {RESULTS_JSON} is not ninefold results: {source}", dir.display())]
    Garbage {
        dir: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: not a shard (its results have no shard index; was it run with --shard I/N?)", dir.display())]
    NotAShard { dir: PathBuf },
    #[error("nothing to merge: give the shard folders")]
    Empty,
    #[error(
        "{} is shard {} but {} is shard {}: shards of one run have the same count",
        first.display(), first_shard, dir.display(), shard
    )]
    CountMismatch {
        first: PathBuf,
        first_shard: Shard,
        dir: PathBuf,
        shard: Shard,
    },
    #[error("shard {shard} appears twice: {} and {}", a.display(), b.display())]
    Duplicate {
        shard: Shard,
        a: PathBuf,
        b: PathBuf,
    },
    #[error("incomplete run: shard(s) {missing} of {count} missing (have {have})")]
    Missing {
        missing: String,
        count: u32,
        have: String,
    },
    #[error(
        "{} and {} are not shards of the same run: {what} differ ({a} vs {b})",
        first.display(), dir.display()
    )]
    Different {
        first: PathBuf,
        dir: PathBuf,
        what: &'static str,
        a: String,
        b: String,
    },
    #[error("{}: its recording does not merge: {source}", dir.display())]
    Recording { dir: PathBuf, source: MergeError },
}

/// Read `dir/results.json` and `dir/scenario.toml`.
pub fn read_folder(dir: &Path) -> Result<ShardFolder, MergeProblem> {
    let read = |file: &'static str| {
        std::fs::read_to_string(dir.join(file)).map_err(|source| MergeProblem::Read {
            dir: dir.to_owned(),
            file,
            source,
        })
    };
    let json = read(RESULTS_JSON)?;
    let results: RunResults =
        serde_json::from_str(&json).map_err(|source| MergeProblem::Garbage {
            dir: dir.to_owned(),
            source,
        })?;
    Ok(ShardFolder {
        dir: dir.to_owned(),
        results,
        scenario_toml: read(SCENARIO_TOML)?,
    })
}

/// Check that `parts` are every shard of one run, once each, and return them
/// in shard order.
pub fn check_complete(mut parts: Vec<ShardFolder>) -> Result<Vec<ShardFolder>, MergeProblem> {
    let mut shards = Vec::with_capacity(parts.len());
    for p in &parts {
        shards.push(
            p.results
                .shard
                .ok_or_else(|| MergeProblem::NotAShard { dir: p.dir.clone() })?,
        );
    }
    let (first, first_shard) = match (parts.first(), shards.first()) {
        (Some(p), Some(s)) => (p, *s),
        _ => return Err(MergeProblem::Empty),
    };
    for (p, s) in parts.iter().zip(&shards).skip(1) {
        if s.count != first_shard.count {
            return Err(MergeProblem::CountMismatch {
                first: first.dir.clone(),
                first_shard,
                dir: p.dir.clone(),
                shard: *s,
            });
        }
        same_run(first, p)?;
    }
    let mut seen: BTreeMap<u32, PathBuf> = BTreeMap::new();
    for (p, s) in parts.iter().zip(&shards) {
        if let Some(a) = seen.insert(s.index, p.dir.clone()) {
            return Err(MergeProblem::Duplicate {
                shard: *s,
                a,
                b: p.dir.clone(),
            });
        }
    }
    let count = first_shard.count;
    let missing: Vec<String> = (0..count)
        .filter(|i| !seen.contains_key(i))
        .map(|i| i.to_string())
        .collect();
    if !missing.is_empty() {
        return Err(MergeProblem::Missing {
            missing: missing.join(", "),
            count,
            have: seen
                .keys()
                .map(u32::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    parts.sort_by_key(|p| p.results.shard.map_or(0, |s| s.index));
    Ok(parts)
}

/// Shard folder `p` comes from the same run as `first`: the same scenario name,
/// file, seed and time scale.
fn same_run(first: &ShardFolder, p: &ShardFolder) -> Result<(), MergeProblem> {
    let differ = |what: &'static str, a: String, b: String| MergeProblem::Different {
        first: first.dir.clone(),
        dir: p.dir.clone(),
        what,
        a,
        b,
    };
    let (a, b) = (&first.results, &p.results);
    if a.scenario != b.scenario {
        return Err(differ(
            "scenario names",
            a.scenario.clone(),
            b.scenario.clone(),
        ));
    }
    if a.seed != b.seed {
        return Err(differ("seeds", a.seed.to_string(), b.seed.to_string()));
    }
    if a.time_scale != b.time_scale {
        return Err(differ(
            "time scales",
            a.time_scale.to_string(),
            b.time_scale.to_string(),
        ));
    }
    if first.scenario_toml != p.scenario_toml {
        return Err(differ(
            "scenario files",
            "scenario.toml".into(),
            "another scenario.toml".into(),
        ));
    }
    Ok(())
}

/// Merge complete, ordered shards (from [`check_complete`]) into the results
/// of the whole run.
///
/// Recordings merge exactly (histograms, counters, series, ledger); faults
/// and process lifecycle come from shard 0, which drove the fault timeline;
/// gateway counters are summed (each shard scraped its own gateways); store
/// read-backs are concatenated (shards that share one system under test
/// through `[gateway] url` have none; shards that each brought up their own
/// topology have disjoint stores).
pub fn merge(parts: Vec<ShardFolder>) -> Result<RunResults, MergeProblem> {
    let mut iter = parts.into_iter();
    let first = iter.next().ok_or(MergeProblem::Empty)?;
    let mut out = first.results;
    out.shard = None;
    let mut recording = Recording::default();
    recording
        .merge(std::mem::take(&mut out.recording))
        .map_err(|source| MergeProblem::Recording {
            dir: first.dir.clone(),
            source,
        })?;
    for part in iter {
        let r = part.results;
        recording
            .merge(r.recording)
            .map_err(|source| MergeProblem::Recording {
                dir: part.dir.clone(),
                source,
            })?;
        out.partial |= r.partial;
        out.started_at = out.started_at.min(r.started_at);
        for (name, v) in r.gateway_counters {
            *out.gateway_counters.entry(name).or_insert(0.0) += v;
        }
        merge_stores(&mut out.stores, r.stores);
        // Known only when every shard knew it.
        out.hostile_backend_requests = out
            .hostile_backend_requests
            .zip(r.hostile_backend_requests)
            .map(|(a, b)| a + b);
    }
    // Per-phase and per-key order follows shard 0's, then anything new.
    out.recording = recording;
    Ok(out)
}

fn merge_stores(into: &mut Vec<StoreReadback>, from: Vec<StoreReadback>) {
    for s in from {
        match into.iter_mut().find(|t| t.pool == s.pool) {
            Some(t) => {
                match (&mut t.orders, s.orders) {
                    (Some(a), Some(b)) => a.extend(b),
                    (a, None) => *a = None,
                    (None, Some(_)) => {}
                }
                if t.error.is_none() {
                    t.error = s.error;
                }
            }
            None => into.push(s),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(dir: &str, shard: Option<(u32, u32)>, seed: u64) -> ShardFolder {
        ShardFolder {
            dir: PathBuf::from(dir),
            results: RunResults {
                scenario: "s".into(),
                seed,
                started_at: format!("2026-01-01T00:00:0{}Z", shard.map_or(0, |s| s.0)),
                partial: false,
                recording: Recording {
                    format: crate::metrics::recording::FORMAT,
                    ..Recording::default()
                },
                faults: Vec::new(),
                lifecycle: Vec::new(),
                stores: Vec::new(),
                gateway_counters: BTreeMap::from([("x_total".to_string(), 2.0)]),
                time_scale: 1.0,
                shard: shard.map(|(i, n)| Shard::new(i, n).unwrap()),
                hostile_backend_requests: Some(1),
                host_cores: Some(2),
            },
            scenario_toml: "name = \"s\"".into(),
        }
    }

    #[test]
    fn a_complete_set_merges_in_shard_order() {
        let parts = check_complete(vec![
            folder("b", Some((1, 2)), 7),
            folder("a", Some((0, 2)), 7),
        ])
        .unwrap();
        assert_eq!(parts[0].dir, PathBuf::from("a"));
        let merged = merge(parts).unwrap();
        assert_eq!(merged.shard, None);
        assert_eq!(merged.gateway_counters["x_total"], 4.0);
        assert_eq!(merged.started_at, "2026-01-01T00:00:00Z");
    }

    /// Case 2 of issue 18: one interrupted shard makes the whole run partial,
    /// so the merged verdict is withheld too.
    #[test]
    fn a_merged_run_with_an_interrupted_shard_is_withheld() {
        let mut b = folder("b", Some((1, 2)), 7);
        b.results.partial = true;
        let parts = check_complete(vec![folder("a", Some((0, 2)), 7), b]).unwrap();
        let merged = merge(parts).unwrap();
        assert!(merged.partial);
        let text = "name = \"s\"\nduration = \"1s\"\n[gateway]\nurl = \"http://127.0.0.1:9\"\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{ path = \"/\" }]\n";
        let s = crate::scenario::load::parse_str("s.toml", text, Path::new("."))
            .unwrap()
            .scenario;
        let summary = crate::summary::summarize(&s, &merged, 1.0, false);
        assert_eq!(
            (summary.verdict, summary.exit_code),
            (crate::analysis::RunVerdict::Interrupted, 6)
        );
    }

    #[test]
    fn incomplete_or_mixed_sets_are_refused_with_the_reason() {
        let err = |parts| check_complete(parts).unwrap_err().to_string();
        let missing = err(vec![
            folder("a", Some((0, 3)), 7),
            folder("c", Some((2, 3)), 7),
        ]);
        assert!(missing.contains("shard(s) 1 of 3 missing"), "{missing}");
        let dup = err(vec![
            folder("a", Some((0, 2)), 7),
            folder("b", Some((0, 2)), 7),
        ]);
        assert!(dup.contains("shard 0/2 appears twice"), "{dup}");
        let seed = err(vec![
            folder("a", Some((0, 2)), 7),
            folder("b", Some((1, 2)), 8),
        ]);
        assert!(seed.contains("seeds differ"), "{seed}");
        let count = err(vec![
            folder("a", Some((0, 2)), 7),
            folder("b", Some((1, 3)), 7),
        ]);
        assert!(count.contains("same count"), "{count}");
        let whole = err(vec![folder("a", None, 7)]);
        assert!(whole.contains("not a shard"), "{whole}");
        assert!(err(Vec::new()).contains("nothing to merge"));
        let mut other = folder("b", Some((1, 2)), 7);
        other.scenario_toml.push_str("\nduration = \"1s\"");
        let text = err(vec![folder("a", Some((0, 2)), 7), other]);
        assert!(text.contains("scenario files differ"), "{text}");
    }
}
