//! The live dashboard in a real terminal (docs/live.md): `ninefold run` in a
//! tmux pane draws its panels, the fault countdown moves, and `q` stops the
//! run cleanly with the interrupted exit code (6), results written. Skipped,
//! saying so, where tmux is not installed.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support;

const SCENARIO: &str = r#"
name = "dashboard"
duration = "60s"
seed = 4

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 2

[[traffic]]
executor = "constant-arrival-rate"
rate = 20
requests = [{ path = "/items/{rand:1..100}" }]

[[faults]]
at = "40s"
action = "kill"
target = "api[1]"

[slo]
availability = { objective = ">= 50%", abort = true }
"latency.p99" = "< 5s"
"#;

/// One tmux server of this test's own (its own socket), killed on drop with
/// everything it runs.
struct Tmux {
    socket: String,
}

impl Tmux {
    fn cmd(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap()
    }

    fn screen(&self) -> String {
        String::from_utf8_lossy(&self.cmd(&["capture-pane", "-p", "-t", "t"]).stdout).into_owned()
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.cmd(&["kill-server"]);
    }
}

/// Polls `check` until it gives a value, at most `deadline`. The pause between
/// looks is the poll interval of a wait on the pane's content: tmux gives no
/// event to wait on.
fn wait_for<T>(deadline: Duration, check: impl FnMut() -> Option<T>) -> Option<T> {
    support::wait_for(deadline, Duration::from_millis(200), check)
}

/// The countdown `#0 kill api-1 in 12.3s` on the screen, in seconds.
fn countdown(screen: &str) -> Option<f64> {
    let at = screen.find("#0 kill api-1 in ")? + "#0 kill api-1 in ".len();
    let rest = &screen[at..];
    rest[..rest.find('s')?].parse().ok()
}

#[test]
fn the_dashboard_draws_its_panels_counts_down_and_q_stops_the_run() {
    if Command::new("tmux").arg("-V").output().is_err() {
        eprintln!(
            "SKIPPED: tmux is not installed, so the dashboard cannot be tested in a terminal"
        );
        return;
    }
    let d = support::dir("dashboard", "q");
    let file = d.join("s.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let out = d.join("run");
    let rc = d.join("rc");
    let tmux = Tmux {
        socket: format!("ninefold-test-{}", std::process::id()),
    };
    let shell = format!(
        "{} run {} --out {}; echo $? > {}; sleep 60",
        env!("CARGO_BIN_EXE_ninefold"),
        file.display(),
        out.display(),
        rc.display()
    );
    let started = tmux.cmd(&[
        "new-session",
        "-d",
        "-s",
        "t",
        "-x",
        "150",
        "-y",
        "45",
        &shell,
    ]);
    assert!(started.status.success(), "{started:?}");

    // The panels, once the traffic flows (bring-up takes a few seconds).
    let first = wait_for(Duration::from_secs(60), || {
        // Instances show once a first second is complete.
        let s = tmux.screen();
        countdown(&s)
            .filter(|_| s.contains("api-0: up"))
            .map(|c| (s, c))
    })
    .unwrap_or_else(|| panic!("no countdown on the screen:\n{}", tmux.screen()));
    for section in [
        "ninefold · ",
        "target 20 req/s",
        "per second",
        "lat p50",
        "svc p50",
        "SLOs so far",
        "availability [abort] >= 50%",
        "latency.p99 < 5s",
        "tenants",
        "api-0: up",
        "events (run clock)",
        "q: stop the run",
    ] {
        assert!(first.0.contains(section), "no `{section}` in\n{}", first.0);
    }
    // The countdown moves (the feed publishes every 250 ms, the screen at
    // most 10 times a second).
    let later = wait_for(Duration::from_secs(30), || {
        countdown(&tmux.screen()).filter(|c| *c <= first.1 - 1.0)
    });
    assert!(
        later.is_some(),
        "the countdown stayed at {}:\n{}",
        first.1,
        tmux.screen()
    );

    // `q`: the run stops, writes what it measured, exits 6; the terminal is
    // given back (the summary is printed on the normal screen).
    tmux.cmd(&["send-keys", "-t", "t", "q"]);
    let code = wait_for(Duration::from_secs(60), || {
        std::fs::read_to_string(&rc)
            .ok()
            .filter(|t| t.ends_with('\n'))
    })
    .unwrap_or_else(|| panic!("the run did not end after q:\n{}", tmux.screen()));
    assert_eq!(code.trim(), "6", "{}", tmux.screen());
    let screen = tmux.screen();
    assert!(screen.contains("stopped from the dashboard"), "{screen}");
    assert!(
        !screen.contains("SLOs so far"),
        "the dashboard left the screen: {screen}"
    );
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    let results: serde_json::Value = serde_json::from_str(&results).unwrap();
    assert_eq!(results["partial"], true);
    assert!(Path::new(&out.join("summary.json")).exists());
}
