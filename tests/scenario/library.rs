//! The scenario library in `scenarios/`: every scenario the issue promises is
//! there, validates, says what it proves and how long it runs (and the time it
//! states is its real duration), and still validates when time-scaled for CI.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ninefold::scenario::load::{load_file, parse_str};
use ninefold::scenario::unparse::to_raw;

/// The library, as issue 9 lists it (plus what other work added next to it).
/// A scenario missing from the folder fails here; a new one must be listed.
const EXPECTED: &[&str] = &[
    "auth",
    "cache",
    "chaos",
    "failing-slo",
    "failover",
    "gateway-ha",
    "gateway-ha-redis-outage",
    "gateway-ha-throttling",
    "idempotency",
    "latency-injection",
    "nginx-failover",
    "quickstart",
    "quota",
    "rolling-restart",
    "serverless",
    "soak",
    "throttling",
];

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios")
}

fn present() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn the_library_is_complete_and_nothing_unlisted_hides_in_it() {
    let present = present();
    for name in EXPECTED {
        assert!(
            present.iter().any(|p| p == name),
            "scenarios/{name}.toml is missing"
        );
    }
    for name in &present {
        assert!(
            EXPECTED.contains(&name.as_str()),
            "scenarios/{name}.toml is not in this test's list: add it (and to the CI smoke run in tests/library_e2e.rs)"
        );
    }
}

/// `"Runs 40 s."`, `"Runs 2 min."`, `"Runs 10 min."` at the end of a description.
fn stated_length(description: &str) -> Option<Duration> {
    let tail = description.rsplit_once("Runs ")?.1.trim_end_matches('.');
    let (number, unit) = tail.split_once(' ')?;
    let n: u64 = number.parse().ok()?;
    match unit.trim() {
        "s" => Some(Duration::from_secs(n)),
        "min" => Some(Duration::from_secs(60 * n)),
        _ => None,
    }
}

#[test]
fn every_scenario_validates_and_says_what_it_proves_and_how_long_it_runs() {
    for name in present() {
        let path = dir().join(format!("{name}.toml"));
        let loaded = load_file(&path)
            .unwrap_or_else(|e| panic!("{} does not validate:\n{e}", path.display()));
        let s = &loaded.scenario;
        assert_eq!(s.name, name, "{name}: the name matches the file");
        assert!(
            s.description.len() > 80,
            "{name}: the description says what the scenario proves: {:?}",
            s.description
        );
        let stated = stated_length(&s.description).unwrap_or_else(|| {
            panic!(
                "{name}: the description ends with how long it runs (\"Runs 40 s.\"): {:?}",
                s.description
            )
        });
        assert_eq!(
            stated, s.duration,
            "{name}: the stated length is the real one"
        );
        assert!(!s.slos.is_empty(), "{name}: a scenario promises something");
    }
}

#[test]
fn every_scenario_still_validates_when_scaled_for_ci() {
    for name in present() {
        let path = dir().join(format!("{name}.toml"));
        let s = load_file(&path).unwrap().scenario;
        for f in [0.05, 0.25] {
            let scaled = s.scaled(f);
            let text = toml::to_string(&to_raw(&scaled)).unwrap();
            if let Err(e) = parse_str("scaled.toml", &text, &dir()) {
                panic!("{name} scaled by {f} does not validate:\n{e}\n{text}");
            }
        }
    }
}

#[test]
fn a_time_scale_out_of_range_is_bad_input() {
    for bad in ["0", "-1", "101", "nan"] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
            .args(["run", "--dry-run", &format!("--time-scale={bad}")])
            .arg(dir().join("quickstart.toml"))
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "--time-scale {bad}: {stderr}");
        assert!(stderr.contains("--time-scale"), "{stderr}");
    }
}

#[test]
fn a_dry_run_shows_scaled_times() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args(["run", "--dry-run", "--time-scale", "0.1"])
        .arg(dir().join("failover.toml"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("time scale 0.1"), "{stdout}");
    assert!(
        stdout.contains("scenario  failover (6s)"),
        "60 s × 0.1: {stdout}"
    );
    assert!(
        stdout.contains("2500ms  apply  faults[0] kill on api-1"),
        "the kill at 25 s moves to 2.5 s: {stdout}"
    );
}
