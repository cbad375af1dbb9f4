//! `ninefold run` end to end with real child processes (the first test in
//! process, through the library's `run::run`): a kill and a
//! replacement seen in the recording, the fault on time, the result files
//! valid, a missed SLO gating with exit 1, and no orphan when the harness is
//! SIGKILLed. Short runs on loopback, bounded in time.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::support::{self, Running, alive, ready_pid, reap};

fn dir(name: &str) -> PathBuf {
    support::dir("e2e", name)
}

const KILL_AND_REPLACE: &str = r#"
name = "e2e-kill"
description = "Three backends, api[1] killed at 3 s and replaced 2 s later; one SLO missed on purpose."
duration = "12s"
seed = 11

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]
retry = { attempts = 3, per_try_timeout = "500ms" }

[upstreams.api]
instances = 3
balance = "round-robin"
health = { interval = "200ms", timeout = "100ms", unhealthy_after = 1, healthy_after = 1 }
restart = { after = "2s" }

[[traffic]]
executor = "constant-arrival-rate"
rate = 60
requests = [{ path = "/items/{rand:1..100}" }]

[[faults]]
at = "3s"
action = "kill"
target = "api[1]"

[slo]
availability = ">= 90%"
"latency.p99" = "< 1us"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

// Long: one end-to-end run and every figure it must report, checked in the order of the summary.
#[test]
fn kill_and_replacement_are_measured_and_a_missed_slo_gates() {
    let d = dir("kill");
    let scenario = write(&d, "kill.toml", KILL_AND_REPLACE);
    let out = d.join("run");
    // In process, through the library's `run` (its children are the built
    // binary): the exit code is the outcome's status.
    let loaded = ninefold::scenario::load::load_file(&scenario).unwrap();
    let options = ninefold::run::Options {
        out: Some(out.clone()),
        runner: ninefold::run::runner::RunOptions {
            program: Some(env!("CARGO_BIN_EXE_ninefold").into()),
            ..Default::default()
        },
        ..Default::default()
    };
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let outcome = runtime
        .block_on(ninefold::run::run(loaded, options))
        .unwrap();
    assert_eq!(outcome.dir, out);
    let summary = outcome
        .summary
        .as_ref()
        .unwrap_or_else(|e| panic!("the run broke: {e}"));
    assert_eq!(
        outcome.status,
        ninefold::ExitStatus::SloFailed,
        "a missed SLO exits 1"
    );
    assert_eq!(outcome.status.code(), 1);
    let failed: Vec<&str> = summary
        .slos
        .iter()
        .filter(|s| serde_json::to_value(s.verdict).unwrap() == "fail")
        .map(|s| s.name.as_str())
        .collect();
    assert_eq!(failed, ["latency.p99"], "the failed SLO is named");

    let results: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
    // The fault happened at its time on the run clock, within 100 ms.
    let kill = &results["faults"][0];
    assert_eq!(kill["action"], "kill");
    let at = kill["at_s"].as_f64().unwrap();
    assert!((at - 3.0).abs() < 0.1, "kill at {at}");
    assert!(kill["error"].is_null(), "{kill}");
    // The supervisor saw it exit (asked for) and replaced it after ~2 s.
    let lifecycle = results["lifecycle"].as_array().unwrap();
    let replaced = lifecycle
        .iter()
        .find(|e| e["instance"] == "api-1" && e["event"] == "replaced")
        .unwrap_or_else(|| panic!("no replacement in {lifecycle:?}"));
    let replaced_at = replaced["at_s"].as_f64().unwrap();
    assert!(replaced_at >= at + 2.0 - 0.1, "replaced at {replaced_at}");
    assert!(
        !lifecycle.iter().any(|e| e["event"] == "died_unexpectedly"),
        "{lifecycle:?}"
    );
    // Per second: api-1 serves before the kill, nothing while dead, and again after the replacement.
    let served = |from: f64, to: f64| support::served(&results, "api-1", from, to);
    assert!(served(0.0, 3.0) > 0, "api-1 served before the kill");
    assert_eq!(
        served(at.ceil(), replaced_at.floor()),
        0,
        "api-1 served while dead"
    );
    assert!(
        served(replaced_at.ceil(), 12.0) > 0,
        "api-1 served after its replacement"
    );

    // summary.json validates against the checked-in schema.
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("schemas/summary.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&summary)
        .map(|e| e.to_string())
        .collect();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(summary["verdict"], "fail");
    assert_eq!(summary["exit_code"], 1);
    assert_eq!(summary["faults"][0]["target"], "api-1");
    // junit.xml parses and has one testcase per SLO, the missed one failing.
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    let doc = roxmltree::Document::parse(&junit).unwrap();
    let cases: Vec<_> = doc
        .descendants()
        .filter(|n| n.has_tag_name("testcase"))
        .collect();
    assert_eq!(cases.len(), 2, "{junit}");
    let failed: Vec<_> = cases
        .iter()
        .filter(|c| c.children().any(|n| n.has_tag_name("failure")))
        .map(|c| c.attribute("name").unwrap_or_default().to_owned())
        .collect();
    assert_eq!(failed, vec!["latency.p99".to_owned()]);
    for file in [
        "summary.md",
        "histograms.hlog",
        "series.csv",
        "scenario.toml",
        "logs/gateway-0.log",
        "logs/api-1.log",
    ] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
}

#[test]
fn a_sigkilled_harness_leaves_no_child_alive() {
    let d = dir("orphans");
    let text = KILL_AND_REPLACE
        .replace("duration = \"12s\"", "duration = \"60s\"")
        .replace("[[faults]]\nat = \"3s\"", "[[faults]]\nat = \"50s\"");
    let scenario = write(&d, "long.toml", &text);
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut harness = Running::start(&scenario, &d.join("run"), &[]);
    // Read the "ready (pid N)" lines until the four children are up.
    let pids = harness.ready_pids(4);
    assert_eq!(pids.len(), 4, "children announced: {pids:?}");
    assert!(pids.iter().all(|p| alive(*p)));
    harness.kill(); // SIGKILL: no cleanup code runs in the harness
    // As a subreaper this test inherits the harness's children when it dies,
    // so waitpid tells us when each one is gone: no polling.
    let left = reap(&pids, Duration::from_secs(20));
    assert!(left.is_empty(), "orphans left behind: {left:?}");
}

#[test]
fn ctrl_c_tears_down_and_keeps_what_was_measured_marked_partial() {
    let d = dir("interrupt");
    let text = KILL_AND_REPLACE
        .replace("duration = \"12s\"", "duration = \"60s\"")
        .replace("[[faults]]\nat = \"3s\"", "[[faults]]\nat = \"50s\"");
    let scenario = write(&d, "long.toml", &text);
    let out = d.join("run");
    let harness = Running::start(&scenario, &out, &[]);
    // Wait for the first progress line: traffic is flowing.
    let mut pids = Vec::new();
    let flowing = harness.line(Duration::from_secs(60), |line| {
        pids.extend(ready_pid(line));
        line.contains("achieved").then_some(())
    });
    assert!(flowing.is_some(), "no progress line; children: {pids:?}");
    assert_eq!(pids.len(), 4, "{pids:?}");
    harness.signal(nix::sys::signal::Signal::SIGINT);
    let (code, stderr) = harness.finish(Duration::from_secs(60));
    assert_eq!(
        code,
        Some(6),
        "exited normally with the interrupted code, not 0 and not by a signal: {stderr}"
    );
    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["partial"], true);
    assert_eq!(summary["verdict"], "interrupted");
    assert!(summary["requests"]["sent"].as_u64().unwrap() > 0);
    assert!(summary["duration_s"].as_f64().unwrap() < 50.0);
    assert!(
        pids.iter().all(|p| !alive(*p)),
        "children torn down: {pids:?}"
    );
}
