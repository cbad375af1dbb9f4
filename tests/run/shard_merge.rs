//! `ninefold run --shard I/N` and `ninefold merge`, end to end: one mock
//! backend started by the test is the shared system under test (`[gateway]
//! url`); a whole run and a 2-shard run at the same total rate send exactly
//! the same number of requests; the merged folder has the same files as a
//! single run, its histograms are exactly the merge of the shards', write keys
//! stay unique across shards, and incomplete or mixed sets are refused with
//! exit 2. Short open-loop runs on 127.0.0.1, bounded in time.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use ninefold::metrics::Recording;

use crate::support;

const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

fn dir(name: &str) -> PathBuf {
    support::dir("shard", name)
}

/// A mock backend on 127.0.0.1:0, killed on drop.
struct Target {
    child: Child,
    addr: String,
}

impl Drop for Target {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_target(d: &Path) -> Target {
    let mut child = Command::new(BIN)
        .args(["backend", "--instance", "target-0", "--store"])
        .arg(d.join("store.sqlite"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Its ready line is the first line on stdout; it exits (EOF) if it fails.
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("no ready line from the backend ({e}): {line:?}"));
    Target {
        child,
        addr: ready["addr"].as_str().unwrap().to_owned(),
    }
}

fn scenario(addr: &str) -> String {
    format!(
        r#"
name = "shards"
description = "Reads and idempotent writes at 150 req/s for 2 s against one backend."
duration = "2s"
seed = 5

[gateway]
url = "http://{addr}"

[[traffic]]
name = "mixed"
executor = "constant-arrival-rate"
rate = 150
connections = 4
requests = [
  {{ method = "GET", path = "/items/{{seq}}", weight = 3 }},
  {{ method = "POST", path = "/orders", body = '{{"sku": {{seq}}, "qty": 1}}', idempotency_key = true, weight = 1 }},
]

[slo]
availability = ">= 90%"
"#
    )
}

fn ninefold(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().unwrap()
}

fn results(d: &Path) -> (serde_json::Value, Recording) {
    let text = std::fs::read_to_string(d.join("results.json")).unwrap();
    let value: serde_json::Value = serde_json::from_str(&text).unwrap();
    let recording = serde_json::from_value(value["recording"].clone()).unwrap();
    (value, recording)
}

fn top_level_files(d: &Path) -> BTreeSet<String> {
    std::fs::read_dir(d)
        .unwrap()
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\n{}\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

#[test]
fn two_shards_merged_equal_one_run_at_the_same_total_rate() {
    let d = dir("equal");
    let target = spawn_target(&d);
    let file = d.join("s.toml");
    std::fs::write(&file, scenario(&target.addr)).unwrap();
    let file = file.to_str().unwrap();
    let out = |name: &str| d.join(name).to_str().unwrap().to_owned();

    let single = ninefold(&["run", file, "--out", &out("single"), "--workers", "2"]);
    assert_eq!(single.status.code(), Some(0), "{}", show(&single));

    // The two shards run at once, as the pods of an Indexed Job would.
    let shards: Vec<Child> = (0..2)
        .map(|i| {
            Command::new(BIN)
                .args(["run", file, "--shard", &format!("{i}/2"), "--out"])
                .arg(out(&format!("shard-{i}")))
                .args(["--workers", "1"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for s in shards {
        let o = s.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    }
    let merged = ninefold(&[
        "merge",
        &out("shard-0"),
        &out("shard-1"),
        "--out",
        &out("merged"),
    ]);
    assert_eq!(merged.status.code(), Some(0), "{}", show(&merged));

    // The same files as a single run's folder.
    assert_eq!(
        top_level_files(&d.join("merged")),
        top_level_files(&d.join("single"))
    );

    let (_, whole) = results(&d.join("single"));
    let (s0_json, s0) = results(&d.join("shard-0"));
    let (_, s1) = results(&d.join("shard-1"));
    let (m_json, m) = results(&d.join("merged"));
    assert_eq!(
        s0_json["shard"],
        serde_json::json!({"index": 0, "count": 2})
    );
    assert!(m_json.get("shard").is_none(), "a merge is the whole run");

    // Identical request counts: the shards' schedules partition the run's.
    let scheduled = |r: &Recording| r.phases.iter().map(|p| p.scheduled).sum::<u64>();
    assert_eq!(scheduled(&whole), 300, "150 req/s for 2 s");
    assert_eq!(scheduled(&m), scheduled(&whole));
    assert_eq!(m.outcomes().total(), whole.outcomes().total());
    assert!(
        scheduled(&s0).abs_diff(scheduled(&s1)) <= 1,
        "each shard sends half: {} vs {}",
        scheduled(&s0),
        scheduled(&s1)
    );
    // Same split between the request classes (the draw is per sequence number's stream,
    // so only the totals are exact; each class sees traffic in both).
    assert_eq!(m.keys.len(), whole.keys.len());

    // The merged histograms are exactly the shards' put together: nothing
    // re-bucketed, nothing lost (latency of every answered request).
    let mut direct = s0.latency().unwrap();
    direct.merge(&s1.latency().unwrap()).unwrap();
    let merged_latency = m.latency().unwrap();
    assert_eq!(merged_latency, direct);
    assert_eq!(
        merged_latency.0.len(),
        s0.latency().unwrap().0.len() + s1.latency().unwrap().0.len()
    );

    // Idempotency keys are disjoint across shards, and every acknowledged write is kept.
    let keys: BTreeSet<&str> = m.ledger.iter().map(|w| w.key.as_str()).collect();
    assert_eq!(keys.len(), m.ledger.len(), "a key reused across shards");
    assert_eq!(m.ledger.len(), s0.ledger.len() + s1.ledger.len());
    assert!(!m.ledger.is_empty(), "writes were acknowledged");
    drop(target);
}

#[test]
fn incomplete_duplicate_mixed_and_garbage_sets_are_refused() {
    let d = dir("refuse");
    let target = spawn_target(&d);
    let text = scenario(&target.addr).replace("duration = \"2s\"", "duration = \"1s\"");
    let file = d.join("s.toml");
    std::fs::write(&file, &text).unwrap();
    let other = d.join("other.toml");
    std::fs::write(&other, text.replace("seed = 5", "seed = 6")).unwrap();
    let out = |name: &str| d.join(name).to_str().unwrap().to_owned();
    for (f, shard, name) in [
        (&file, "0/2", "a0"),
        (&other, "1/2", "b1"),
        (&file, "0/3", "c0"),
    ] {
        let o = ninefold(&[
            "run",
            f.to_str().unwrap(),
            "--shard",
            shard,
            "--out",
            &out(name),
            "--workers",
            "1",
        ]);
        assert_eq!(o.status.code(), Some(0), "{}", show(&o));
    }
    let garbage = d.join("garbage");
    std::fs::create_dir_all(&garbage).unwrap();
    std::fs::write(garbage.join("results.json"), "{not json").unwrap();
    std::fs::write(garbage.join("scenario.toml"), "").unwrap();

    let refused = |args: &[&str], wanted: &str| {
        let o = ninefold(args);
        assert_eq!(o.status.code(), Some(2), "{}", show(&o));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains(wanted), "wanted {wanted:?} in {err}");
    };
    let merged = out("merged");
    refused(
        &["merge", &out("a0"), "--out", &merged],
        "shard(s) 1 of 2 missing",
    );
    refused(
        &["merge", &out("a0"), &out("a0"), "--out", &merged],
        "appears twice",
    );
    refused(
        &["merge", &out("a0"), &out("b1"), "--out", &merged],
        "not shards of the same run",
    );
    refused(
        &["merge", &out("a0"), &out("c0"), "--out", &merged],
        "same count",
    );
    refused(
        &[
            "merge",
            &out("a0"),
            garbage.to_str().unwrap(),
            "--out",
            &merged,
        ],
        "is not ninefold results",
    );
    refused(
        &["merge", &out("a0"), &out("nowhere"), "--out", &merged],
        "cannot read results.json",
    );
    // `--shards N` without a Job index is bad input too.
    let o = Command::new(BIN)
        .args(["run", file.to_str().unwrap(), "--shards", "2", "--dry-run"])
        .env_remove("JOB_COMPLETION_INDEX")
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2), "{}", show(&o));
    assert!(!Path::new(&merged).join("summary.json").exists());
    drop(target);
}
