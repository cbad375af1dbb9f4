//! Case 2 of issue 18: an interrupted `ninefold run` (SIGINT from a person,
//! SIGTERM from a cancelled CI job) writes what it measured, withholds the
//! verdict and exits 6, never 0. A small topology on loopback; the signal goes
//! once the first progress line shows traffic flowing, and a watchdog bounds
//! the wait.

use std::path::PathBuf;
use std::time::Duration;

use nix::sys::signal::Signal;

use crate::support;

/// One gateway, one backend, an SLO this healthy topology would meet: a run
/// left to finish would pass, so a pass after the signal would be the bug.
const SMALL: &str = r#"
name = "interrupted"
duration = "60s"
seed = 3

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
requests = [{ path = "/items/{rand:1..100}" }]

[slo]
availability = ">= 50%"
"#;

fn dir(name: &str) -> PathBuf {
    support::dir("interrupted", name)
}

/// Start the run, wait for traffic, send `signal`, and return the exit code,
/// the results folder and the stderr after the signal.
fn interrupt(name: &str, signal: Signal) -> (Option<i32>, PathBuf, String) {
    let d = dir(name);
    let scenario = d.join("small.toml");
    std::fs::write(&scenario, SMALL).unwrap();
    let out = d.join("run");
    let harness = support::Running::start(&scenario, &out, &[]);
    // Readiness: the first progress line says traffic is flowing.
    let ready = harness.line(Duration::from_secs(60), |line| {
        line.contains("achieved").then_some(())
    });
    assert!(ready.is_some(), "the run never reported progress");
    harness.signal(signal);
    // Watchdog: a run that ignores the signal is killed after 60 s (and fails).
    let (code, stderr) = harness.finish(Duration::from_secs(60));
    (code, out, stderr)
}

fn assert_withheld(code: Option<i32>, out: &std::path::Path, stderr: &str) {
    assert_eq!(code, Some(6), "an interrupted run exits 6\n{stderr}");
    let summary: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("summary.json"))
            .unwrap_or_else(|e| panic!("summary.json: {e}\n{stderr}")),
    )
    .unwrap();
    assert_eq!(summary["verdict"], "interrupted", "{summary}");
    assert_eq!(summary["exit_code"], 6);
    assert_eq!(summary["partial"], true);
    // What was measured is kept: requests, and the files beside the summary.
    assert!(
        summary["requests"]["sent"].as_u64().unwrap() > 0,
        "{summary}"
    );
    assert!(summary["duration_s"].as_f64().unwrap() < 55.0, "{summary}");
    for file in ["results.json", "summary.md", "junit.xml", "report.html"] {
        assert!(out.join(file).is_file(), "missing {file}");
    }
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    assert!(md.contains("INTERRUPTED"), "{md}");
    assert!(md.contains("verdict is withheld"), "{md}");
    let junit = std::fs::read_to_string(out.join("junit.xml")).unwrap();
    assert!(junit.contains("RunInterrupted"), "{junit}");
    // Kept when an assertion fails, to read; removed when all hold.
    if let Some(d) = out.parent() {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn an_interrupted_run_exits_6_with_its_verdict_withheld_on_sigint() {
    let (code, out, stderr) = interrupt("sigint", Signal::SIGINT);
    assert!(stderr.contains("interrupted (SIGINT)"), "{stderr}");
    assert_withheld(code, &out, &stderr);
}

#[test]
fn an_interrupted_run_exits_6_with_its_verdict_withheld_on_sigterm() {
    let (code, out, stderr) = interrupt("sigterm", Signal::SIGTERM);
    assert!(stderr.contains("interrupted (SIGTERM)"), "{stderr}");
    assert_withheld(code, &out, &stderr);
}
