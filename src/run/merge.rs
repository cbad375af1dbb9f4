//! `ninefold merge`: the shards of one run put back together, exactly.
//!
//! Each shard (`ninefold run --shard I/N`) leaves a run folder whose
//! `results.json` holds its raw measurements: HDR histograms in their
//! compressed V2 encoding, counters, per-second series and the ledger of
//! acknowledged writes. Merging adds them up with [`Recording::merge`], which
//! is lossless, so the merged folder is judged on every request of the run:
//!
//! ```text
//!  shard-0/results.json ─┐  checks: same scenario text, seed, run id, time scale;
//!  shard-1/results.json ─┼─ every index 0..N once; schedules began within
//!                         │  MAX_START_SKEW ─► Recording::merge ─► write_run_folder
//!  …                     ─┘  faults + lifecycle from shard 0 (it drove them)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::metrics::{MergeError, Recording};
use crate::results::{RunResults, StoreReadback};
use crate::run::outputs::{RESULTS_JSON, SCENARIO_TOML};
use crate::run::start::MAX_START_SKEW;
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
    #[error(
        "the shards did not start together: {} began its schedule at {first_at}, {} at {last_at}, {spread_ms} ms apart; the limit is {} ms (a tenth of the per-second series' 1 s bin) for their per-second series to line up. Start the shards with --barrier DIR or --start-at TIME",
        first.display(), last.display(), MAX_START_SKEW.as_millis()
    )]
    StartedApart {
        spread_ms: u128,
        first: PathBuf,
        first_at: String,
        last: PathBuf,
        last_at: String,
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
                .as_ref()
                .map(|r| r.shard)
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
    parts.sort_by_key(|p| p.results.shard.as_ref().map_or(0, |s| s.shard.index));
    started_together(&parts)?;
    Ok(parts)
}

/// When a shard's schedule began, if its results say (older ones do not).
fn schedule_start(p: &ShardFolder) -> Option<(SystemTime, &str)> {
    let text = p.results.shard.as_ref()?.started_at.as_deref()?;
    Some((humantime::parse_rfc3339(text).ok()?, text))
}

/// The shards began their schedules within [`MAX_START_SKEW`] of each other,
/// so their per-second series line up. Shards whose results predate the
/// record of start instants are not checked ([`unchecked_starts`] says so).
fn started_together(parts: &[ShardFolder]) -> Result<(), MergeProblem> {
    let starts: Vec<_> = parts
        .iter()
        .filter_map(|p| schedule_start(p).map(|s| (s, p)))
        .collect();
    let (Some(first), Some(last)) = (
        starts.iter().min_by_key(|((t, _), _)| *t),
        starts.iter().max_by_key(|((t, _), _)| *t),
    ) else {
        return Ok(());
    };
    let spread = last.0.0.duration_since(first.0.0).unwrap_or_default();
    if spread > MAX_START_SKEW {
        return Err(MergeProblem::StartedApart {
            spread_ms: spread.as_millis(),
            first: first.1.dir.clone(),
            first_at: first.0.1.to_owned(),
            last: last.1.dir.clone(),
            last_at: last.0.1.to_owned(),
        });
    }
    Ok(())
}

/// The folders whose results do not record when their schedule began
/// (written by an older ninefold): their alignment is not checked.
pub fn unchecked_starts(parts: &[ShardFolder]) -> Vec<&Path> {
    parts
        .iter()
        .filter(|p| schedule_start(p).is_none())
        .map(|p| p.dir.as_path())
        .collect()
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
    let run_id = |r: &RunResults| r.shard.as_ref().and_then(|s| s.run_id.clone());
    if let (Some(x), Some(y)) = (run_id(a), run_id(b))
        && x != y
    {
        return Err(differ("run ids", x, y));
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
/// and process lifecycle come from shard 0, which drove the fault timeline,
/// and so do the pool events (those of shard 0's own gateways);
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
        // A shard that stopped on an SLO's abort rule stopped the merged run's
        // evidence there too: the earliest abort is the one to report.
        if let Some(a) = r.aborted
            && out.aborted.as_ref().is_none_or(|o| a.at_ms < o.at_ms)
        {
            out.aborted = Some(a);
        }
        out.started_at = out.started_at.min(r.started_at);
        for (name, v) in r.gateway_counters {
            *out.gateway_counters.entry(name).or_insert(0.0) += v;
        }
        merge_stores(&mut out.stores, r.stores);
        // Each shard read back the writes it made: the whole run's are all of them.
        match (&mut out.api_readback, r.api_readback) {
            (Some(a), Some(b)) => a.merge(b),
            (None, Some(b)) => out.api_readback = Some(b),
            _ => {}
        }
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
                api_readback: None,
                time_scale: 1.0,
                shard: shard.map(|(i, n)| Shard::new(i, n).unwrap().into()),
                hostile_backend_requests: Some(1),
                host_cores: Some(2),
                aborted: None,
                pools: None,
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

    fn started(mut f: ShardFolder, at: &str) -> ShardFolder {
        if let Some(s) = f.results.shard.as_mut() {
            s.started_at = Some(at.into());
        }
        f
    }

    #[test]
    fn shards_that_began_apart_are_refused_with_the_difference() {
        let a = started(folder("a", Some((0, 2)), 7), "2026-12-04T21:00:00.000Z");
        let near = started(folder("b", Some((1, 2)), 7), "2026-12-04T21:00:00.100Z");
        assert!(
            check_complete(vec![a.clone(), near]).is_ok(),
            "100 ms is within"
        );
        let far = started(folder("b", Some((1, 2)), 7), "2026-12-04T21:00:00.350Z");
        let text = check_complete(vec![far, a.clone()])
            .unwrap_err()
            .to_string();
        assert!(
            text.contains("a began its schedule at 2026-12-04T21:00:00.000Z, b at 2026-12-04T21:00:00.350Z, 350 ms apart; the limit is 100 ms"),
            "{text}"
        );
        // Results that do not record it are merged, and named as unchecked.
        let old = folder("b", Some((1, 2)), 7);
        let parts = check_complete(vec![a, old]).unwrap();
        assert_eq!(unchecked_starts(&parts), [Path::new("b")]);
    }

    #[test]
    fn shards_of_different_run_ids_are_refused() {
        let with = |f: ShardFolder, id: &str| {
            let mut f = f;
            if let Some(s) = f.results.shard.as_mut() {
                s.run_id = Some(id.into());
            }
            f
        };
        let text = check_complete(vec![
            with(folder("a", Some((0, 2)), 7), "r1"),
            with(folder("b", Some((1, 2)), 7), "r2"),
        ])
        .unwrap_err()
        .to_string();
        assert!(text.contains("run ids differ (r1 vs r2)"), "{text}");
    }
}
