//! `command` instances: a program of the user's (`scenarios/commands/service.py`,
//! a small idempotent HTTP service in Python) started, killed, terminated and
//! replaced by `ninefold run` as its mock backends are; readiness by HTTP path
//! and by a stdout line; the clear errors of a command that never becomes ready,
//! exits at once, or is not there; and no process of it outlives the run.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::support::{
    self, Running, alive, ninefold, read_json, ready_pid, reap, run_code, run_in,
};

fn dir(name: &str) -> PathBuf {
    support::dir("commands", name)
}

/// The example service the scenarios run.
pub fn service() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/commands/service.py")
}

/// Whether `python3` is on PATH (every test here needs it; each says so when it is not).
pub fn have_python() -> bool {
    let found = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: python3 is not on PATH, and these tests run a Python service");
    }
    found
}

/// A scenario of `duration` with pool `api` of `instances` copies of the service
/// (`extra` arguments and `keys` added), behind the reference gateway; `tail` adds
/// faults. Every started service appends its pid to `pids`.
fn scenario(
    pids: &Path,
    duration: &str,
    instances: u32,
    extra: &str,
    keys: &str,
    tail: &str,
) -> String {
    format!(
        r#"
name = "commands"
duration = "{duration}"
seed = 5

[gateway]
instances = 1

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]
retry = {{ attempts = 3, per_try_timeout = "500ms" }}

[upstreams.api]
instances = {instances}
command = ["python3", "{service}", "--port", "{{port}}", "--instance", "{{instance}}", "--pid-file", "{pids}"{extra}]
health = {{ path = "/health", interval = "200ms", timeout = "150ms", unhealthy_after = 1, healthy_after = 1 }}
{keys}

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
requests = [{{ path = "/items/{{rand:1..100}}" }}]
{tail}
"#,
        service = service().display(),
        pids = pids.display(),
    )
}

/// The pids in the service's pid file.
fn pids_in(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

fn lifecycle(results: &serde_json::Value) -> Vec<serde_json::Value> {
    results["lifecycle"].as_array().unwrap().clone()
}

fn event<'a>(l: &'a [serde_json::Value], instance: &str, kind: &str) -> &'a serde_json::Value {
    l.iter()
        .find(|e| e["instance"] == instance && e["event"] == kind)
        .unwrap_or_else(|| panic!("no {kind} of {instance} in {l:#?}"))
}

// Long: one run and every figure of the kill, replacement and recovery it must show.
#[test]
fn a_command_killed_by_a_fault_is_replaced_ready_by_http_and_serves_again() {
    if !have_python() {
        return;
    }
    let d = dir("kill");
    let pids = d.join("pids");
    let text = scenario(
        &pids,
        "8s",
        2,
        "",
        "ready = { http = \"/health\" }\nrestart = { after = \"1s\" }",
        "[[faults]]\nat = \"2s\"\naction = \"kill\"\ntarget = \"api[0]\"\n",
    );
    let (out, stderr) = run_in(&d, &text);
    let results = read_json(&out.join("results.json"));
    let kill = &results["faults"][0];
    assert_eq!(kill["action"], "kill");
    assert!(kill["error"].is_null(), "{kill}\n{stderr}");
    let at = kill["at_s"].as_f64().unwrap();
    let l = lifecycle(&results);
    // Killed by ninefold (an expected exit, by SIGKILL), replaced ≥ 1 s later.
    let exited = event(&l, "api-0", "exited");
    assert_eq!(exited["detail"], "killed by SIGKILL", "{exited}");
    let replaced = event(&l, "api-0", "replaced")["at_s"].as_f64().unwrap();
    assert!(
        replaced >= at + 1.0 - 0.1,
        "replaced at {replaced}, killed at {at}"
    );
    assert!(
        !l.iter().any(|e| e["event"] == "died_unexpectedly"),
        "{l:#?}"
    );
    // The service names itself: api-0 served before the kill and after its replacement.
    let served = |from: f64, to: f64| support::served(&results, "api-0", from, to);
    assert!(served(0.0, at.floor()) > 0, "api-0 served before the kill");
    assert!(
        served(replaced.ceil(), 8.0) > 0,
        "api-0 served after its replacement"
    );
    let summary = read_json(&out.join("summary.json"));
    let fault = &summary["faults"][0];
    assert!(
        // Measured (at the series' one-second resolution, so 0 is a value), not null.
        fault["reintegration_s"]
            .as_f64()
            .is_some_and(|s| (0.0..=3.0).contains(&s)),
        "the replacement's first answer is measured: {fault}"
    );
    assert!(
        ["recovered", "no_errors"].contains(&fault["recovery"].as_str().unwrap()),
        "{fault}"
    );
    // Its store is the service's own: integrity is not measured, and says why.
    let integrity = &summary["integrity"];
    assert_eq!(integrity["checked"], false, "{integrity}");
    assert!(integrity["lost"].is_null());
    assert!(
        integrity["not_measured"]
            .as_str()
            .unwrap()
            .contains("pool api runs your command"),
        "{integrity}"
    );
    // Three services ran (two, and the replacement); none outlives the run.
    let ran = pids_in(&pids);
    assert_eq!(ran.len(), 3, "{ran:?}");
    let left: Vec<i32> = ran.into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
    assert!(out.join("logs/api-0.log").is_file());
}

#[test]
fn a_command_ready_by_its_stdout_line_drains_on_terminate_and_comes_back() {
    if !have_python() {
        return;
    }
    let d = dir("line");
    let pids = d.join("pids");
    let text = scenario(
        &pids,
        "6s",
        2,
        "",
        "ready = { line = 'listening on 127\\.0\\.0\\.1:\\d+' }",
        "[[faults]]\nat = \"2s\"\nduration = \"1s\"\naction = \"terminate\"\ntarget = \"api[1]\"\n",
    );
    let (out, stderr) = run_in(&d, &text);
    let results = read_json(&out.join("results.json"));
    let faults = results["faults"].as_array().unwrap();
    assert!(
        faults.iter().all(|f| f["error"].is_null()),
        "{faults:#?}\n{stderr}"
    );
    let l = lifecycle(&results);
    // SIGTERM: the service drained and exited 0 itself; the revert started it again.
    assert_eq!(
        event(&l, "api-1", "exited")["detail"],
        "exit code 0",
        "{l:#?}"
    );
    event(&l, "api-1", "replaced");
    let log = std::fs::read_to_string(out.join("logs/api-1.log")).unwrap();
    assert_eq!(log.matches("listening on 127.0.0.1:").count(), 2, "{log}");
    let left: Vec<i32> = pids_in(&pids).into_iter().filter(|p| alive(*p)).collect();
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}

#[test]
fn a_command_that_never_becomes_ready_breaks_the_run_with_the_reason_and_leaves_nothing() {
    if !have_python() {
        return;
    }
    let d = dir("never");
    let pids = d.join("pids");
    let text = scenario(
        &pids,
        "5s",
        1,
        ", \"--mode\", \"never-ready\"",
        "ready = { http = \"/health\", timeout = \"2s\" }",
        "",
    );
    let (_, stderr, code) = run_code(&d, &text);
    assert_eq!(
        code,
        Some(3),
        "a child that will not start breaks the run (exit 3):\n{stderr}"
    );
    assert!(
        stderr.contains("api-0: GET /health on 127.0.0.1:")
            && stderr.contains("did not answer 2xx or 3xx (last: status 503) within 2s"),
        "{stderr}"
    );
    assert!(
        stderr.contains("logs/api-0.log"),
        "the log is named: {stderr}"
    );
    let ran = pids_in(&pids);
    assert_eq!(ran.len(), 1, "{ran:?}");
    assert!(!alive(ran[0]), "the never-ready service was left running");
}

#[test]
fn a_command_that_exits_at_once_is_reported_with_its_exit_code() {
    if !have_python() {
        return;
    }
    let d = dir("exits");
    let text = scenario(
        &d.join("pids"),
        "5s",
        1,
        ", \"--mode\", \"exit\"",
        "ready = { line = 'listening' }",
        "",
    );
    let (_, stderr, code) = run_code(&d, &text);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(
        stderr.contains("api-0: exited before it was ready (exit code 3)"),
        "{stderr}"
    );
    let log = std::fs::read_to_string(d.join("run/logs/api-0.log")).unwrap();
    assert!(
        log.contains("exiting at once, as asked"),
        "its stderr is in its log: {log}"
    );
}

#[test]
fn a_missing_program_breaks_the_run_naming_it_and_a_bad_cwd_is_bad_input() {
    let d = dir("missing");
    let text = r#"
name = "missing"
duration = "2s"
[upstreams.api]
command = ["./no-such-api", "--port", "{port}"]
ready = { http = "/health" }
[[traffic]]
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/" }]
"#;
    let (_, stderr, code) = run_code(&d, text);
    assert_eq!(code, Some(3), "{stderr}");
    let expected = format!("api-0: `{}/./no-such-api` does not exist", d.display());
    assert!(stderr.contains(&expected), "{expected}\n{stderr}");
    // A `cwd` that is not a folder, an unknown placeholder, no `ready`: bad input, all at once.
    let bad = text
        .replace("\"{port}\"]", "\"{prot}\"]\ncwd = \"nowhere\"")
        .replace("ready = { http = \"/health\" }\n", "");
    std::fs::write(d.join("bad.toml"), bad).unwrap();
    let file = d.join("bad.toml");
    let o = ninefold(
        &["validate", file.to_str().unwrap()],
        Duration::from_secs(30),
    );
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{stderr}");
    for needle in [
        "nowhere` is not a folder",
        "unknown placeholder `{prot}`; did you mean `port`?",
        "must say how ninefold knows it is ready",
    ] {
        assert!(stderr.contains(needle), "{needle}:\n{stderr}");
    }
}

// Long: start, find every process, SIGKILL the harness, then account for each one.
#[test]
fn a_sigkilled_harness_takes_its_commands_and_their_children_with_it() {
    if !have_python() {
        return;
    }
    let d = dir("orphans");
    let pids = d.join("pids");
    let text = scenario(&pids, "60s", 2, "", "ready = { http = \"/health\" }", "");
    let file = d.join("long.toml");
    std::fs::write(&file, text).unwrap();
    nix::sys::prctl::set_child_subreaper(true).unwrap();
    let mut harness = Running::start(&file, &d.join("run"), &[]);
    // The "ready (pid N)" lines: the two guards of the services, then the gateway.
    let guards = harness.ready_pids(3);
    let services = pids_in(&pids);
    assert_eq!(
        (guards.len(), services.len()),
        (3, 2),
        "{guards:?} {services:?}"
    );
    assert!(guards.iter().chain(&services).all(|p| alive(*p)));
    harness.kill(); // SIGKILL: no cleanup code runs in the harness
    // The guards are the harness's children, so now this test's: once one is
    // reaped, its group was killed and its service is this test's child too.
    let mut left = reap(&guards, Duration::from_secs(20));
    left.extend(reap(&services, Duration::from_secs(20)));
    assert!(left.is_empty(), "orphans left behind: {left:?}");
}

/// Whether nginx can be started as the scenario asks (on PATH or in /usr/sbin).
pub fn have_nginx() -> bool {
    let on_path = std::env::var_os("PATH").is_some_and(|p| {
        std::env::split_paths(&p)
            .chain(["/usr/local/sbin".into(), "/usr/sbin".into(), "/sbin".into()])
            .any(|d| d.join("nginx").is_file())
    });
    if !on_path {
        eprintln!("skipped: nginx is not installed (Debian: apt-get install nginx-light)");
    }
    on_path
}

/// Every live process whose process group is `pgid` (a guard's program and its children).
fn group_members(pgid: i32) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                // After the command name: state, ppid, pgrp.
                let fields: Vec<&str> = stat
                    .rsplit_once(") ")
                    .map(|(_, rest)| rest.split(' ').collect())
                    .unwrap_or_default();
                fields.first() != Some(&"Z") && fields.get(2) == Some(&pgid.to_string().as_str())
            })
        })
        .collect()
}

// Long: the shipped scenario end to end, then every process of it accounted for.
#[test]
fn nginx_in_front_of_command_instances_takes_the_same_faults() {
    if !have_python() || !have_nginx() {
        return;
    }
    let d = dir("nginx");
    let out = d.join("run");
    let scenario = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/nginx-failover.toml");
    let o = ninefold(
        &[
            "run",
            scenario.to_str().unwrap(),
            "--time-scale",
            "0.5",
            "--out",
            out.to_str().unwrap(),
        ],
        Duration::from_secs(120),
    );
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "the run works:\n{stderr}"
    );
    let results = read_json(&out.join("results.json"));
    let faults = results["faults"].as_array().unwrap();
    assert_eq!(faults.len(), 3, "kill, stop, its revert: {faults:#?}");
    assert!(faults.iter().all(|f| f["error"].is_null()), "{faults:#?}");
    assert_eq!(faults[1]["targets"][0], "gateway-0");
    let l = lifecycle(&results);
    event(&l, "gateway-0", "ready");
    assert_eq!(event(&l, "api-1", "exited")["detail"], "killed by SIGKILL");
    event(&l, "api-1", "replaced");
    // nginx rendered its configuration with the three links, and served through them.
    let conf = std::fs::read_to_string(out.join("config/gateway-0/nginx-failover.conf")).unwrap();
    assert_eq!(conf.matches("server 127.0.0.1:").count(), 3, "{conf}");
    let summary = read_json(&out.join("summary.json"));
    assert!(
        summary["requests"]["sent"].as_u64().unwrap() > 500,
        "{stderr}"
    );
    let instances = &results["recording"]["instances"];
    for i in 0..3 {
        assert!(
            instances[format!("api-{i}")].as_u64().unwrap_or(0) > 0,
            "api-{i} served through nginx: {instances}"
        );
    }
    // No process of any guard's group (nginx's master and worker, the services) is left.
    let guards: Vec<i32> = stderr.lines().filter_map(ready_pid).collect();
    assert_eq!(guards.len(), 4, "{stderr}");
    let left: Vec<i32> = guards.iter().flat_map(|g| group_members(*g)).collect();
    assert!(left.is_empty(), "processes outlived the run: {left:?}");
}
