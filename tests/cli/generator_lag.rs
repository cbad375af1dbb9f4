//! The generator's lag told as it happens (docs/live.md, "The generator's lag"): an
//! `attack` at a rate no generator can keep says, at a run-clock time, that it fell
//! behind its schedule; one at a modest rate says nothing of the kind. Plain mode:
//! stderr is a pipe, so the events are lines on it.
//!
//! Each attack is bounded by `-d` (the producer stops at the phase's end however far
//! behind it is) and its answers by `--timeout`; the server answers at once.

use crate::exit_edges::{ninefold, server, text};

const BEHIND: &str = "the generator is behind its schedule";
const CAUGHT_UP: &str = "the generator caught up";

/// The run-clock time of an event line: `ninefold: [    0.751s] …`.
fn at_s(line: &str) -> f64 {
    let inner = line
        .split_once('[')
        .and_then(|(_, rest)| rest.split_once("s]"))
        .map(|(t, _)| t.trim())
        .unwrap_or_else(|| panic!("no run-clock time in `{line}`"));
    inner.parse().unwrap_or_else(|e| panic!("{e}: `{line}`"))
}

#[test]
fn an_attack_at_a_rate_no_generator_can_keep_says_it_fell_behind() {
    let port = server(|_| (200, "{}"));
    let url = format!("http://127.0.0.1:{port}/items/1");
    // 50 million a second from one worker: it dispatches back to back, so its lag grows
    // by most of a second every second, past 10 ms within the first snapshots.
    let out = ninefold(&[
        "attack",
        &url,
        "-r",
        "50000000",
        "-d",
        "2s",
        "-c",
        "2",
        "--workers",
        "1",
        "--max-in-flight",
        "100",
        "--timeout",
        "2s",
        "--no-tui",
    ]);
    let stderr = text(&out.stderr);
    // Requests were dropped at the in-flight cap: invalid, and said so too.
    assert_eq!(out.status.code(), Some(5), "{stderr}");
    assert!(
        stderr.contains("request(s) dropped at the in-flight cap"),
        "{stderr}"
    );
    let line = stderr
        .lines()
        .find(|l| l.contains(BEHIND))
        .unwrap_or_else(|| panic!("no `{BEHIND}` in\n{stderr}"));
    assert!(line.starts_with("ninefold: ["), "{line}");
    // On the run clock, within the traffic (2 s) and its last snapshot (generous).
    let t = at_s(line);
    assert!((0.0..10.0).contains(&t), "{line}");
    // It never caught up: the rate was hopeless to the end.
    assert!(!stderr.contains(CAUGHT_UP), "{stderr}");
}

#[test]
fn an_attack_at_a_modest_rate_says_nothing_of_falling_behind() {
    let port = server(|_| (200, "{}"));
    let url = format!("http://127.0.0.1:{port}/items/1");
    let out = ninefold(&[
        "attack", &url, "-r", "50", "-d", "2s", "-c", "2", "--no-tui",
    ]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains(BEHIND), "{stderr}");
    assert!(!stderr.contains("dropped"), "{stderr}");
    // It sent at the rate, so the silence is not for want of traffic.
    assert!(
        text(&out.stdout).contains("answered 100"),
        "{}",
        text(&out.stdout)
    );
}
