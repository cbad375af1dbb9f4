//! Helpers the `ninefold run` tests share: a fresh folder per test; the binary
//! run on a scenario file, waited for with a deadline or in the background
//! (read line by line, killed on drop); the processes a run started, found by
//! its `ready (pid N)` lines and accounted for; what an instance served.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// A fresh, empty folder `ninefold-{tag}-{pid}-{name}` under the temp dir: the
/// tag keeps one module's folders apart from another's in this one process.
pub fn dir(tag: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// How long a run the tests wait for may take before it is killed as hung
/// (generous: the longest is a minute of traffic on a busy 2-core machine).
pub const RUN_BOUND: Duration = Duration::from_secs(180);

/// `ninefold ARGS` with stdout and stderr captured, killed (and the test
/// failed) if it outlives `bound`.
pub fn ninefold(args: &[&str], bound: Duration) -> Output {
    let child = Command::new(BIN)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = Pid::from_raw(child.id() as i32);
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(bound) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = kill(pid, Signal::SIGKILL);
            panic!("ninefold {args:?} did not finish within {bound:?}: it hangs");
        }
    }
}

/// Writes `text` to `d/s.toml` and runs it into a fresh `d/run` (at most
/// [`RUN_BOUND`]), which it returns with the run's stderr and exit code.
pub fn run_code(d: &Path, text: &str) -> (PathBuf, String, Option<i32>) {
    let file = d.join("s.toml");
    std::fs::write(&file, text).unwrap();
    let out = d.join("run");
    let _ = std::fs::remove_dir_all(&out);
    let args = [
        "run",
        file.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ];
    let o = ninefold(&args, RUN_BOUND);
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (out, stderr, o.status.code())
}

/// [`run_code`] for a run that must itself work: exit 0, or 1 for a missed SLO.
pub fn run_in(d: &Path, text: &str) -> (PathBuf, String) {
    let (out, stderr, code) = run_code(d, text);
    assert!(
        matches!(code, Some(0 | 1)),
        "the run itself must work: {code:?}\n{stderr}"
    );
    (out, stderr)
}

/// `ninefold run <scenario> --out <out> EXTRA` in the background, stdout
/// dropped; its stderr lines are read as they come (so it never blocks on a
/// full pipe) and waited on with deadlines. Killed and reaped if dropped
/// before it ended (a failed assertion leaves nothing running).
pub struct Running {
    child: Option<Child>,
    pid: Pid,
    lines: Receiver<String>,
}

impl Running {
    pub fn start(scenario: &Path, out: &Path, extra: &[&str]) -> Running {
        let mut child = Command::new(BIN)
            .arg("run")
            .arg(scenario)
            .arg("--out")
            .arg(out)
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let pid = Pid::from_raw(child.id() as i32);
        Running {
            child: Some(child),
            pid,
            lines,
        }
    }

    /// Reads stderr lines (each one given to `seen`) until `seen` returns a
    /// value; `None` when stderr ends or `deadline` passes first.
    pub fn line<T>(
        &self,
        deadline: Duration,
        mut seen: impl FnMut(&str) -> Option<T>,
    ) -> Option<T> {
        let end = Instant::now() + deadline;
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            if let Some(v) = seen(&line) {
                return Some(v);
            }
        }
        None
    }

    /// The pids of the run's `ready (pid N)` lines, read until `n` children
    /// are up (or stderr ends, or 60 s of bring-up pass).
    pub fn ready_pids(&self, n: usize) -> Vec<i32> {
        let mut pids = Vec::new();
        self.line(Duration::from_secs(60), |line| {
            pids.extend(ready_pid(line));
            (pids.len() == n).then_some(())
        });
        pids
    }

    /// Sends `signal` to the run.
    pub fn signal(&self, signal: Signal) {
        kill(self.pid, signal).unwrap();
    }

    /// SIGKILLs the run (no cleanup code of it runs) and reaps it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Waits for the run to end, at most `bound` (then it is killed and the
    /// test fails); its exit code and the stderr lines not read yet.
    pub fn finish(mut self, bound: Duration) -> (Option<i32>, String) {
        let mut child = self.child.take().expect("the run is still there");
        let end = Instant::now() + bound;
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::spawn(move || {
            let _ = tx.send(child.wait());
        });
        let Ok(status) = rx.recv_timeout(bound) else {
            let _ = kill(self.pid, Signal::SIGKILL);
            panic!("the run did not end within {bound:?}");
        };
        let code = status.unwrap().code();
        let mut rest = Vec::new();
        while let Ok(line) = self
            .lines
            .recv_timeout(end.saturating_duration_since(Instant::now()))
        {
            rest.push(line);
        }
        (code, rest.join("\n"))
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The pid in a `… ready (pid N)` line of a run's stderr.
pub fn ready_pid(line: &str) -> Option<i32> {
    line.split("(pid ")
        .nth(1)?
        .trim_end_matches(')')
        .parse()
        .ok()
}

/// Whether `pid` runs: a zombie has exited; only a running (or stopped) process counts.
pub fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !stat
            .rsplit_once(") ")
            .is_some_and(|(_, rest)| rest.starts_with('Z')),
        Err(_) => false,
    }
}

/// Waits until every pid in `pids` has been reaped by this process (a
/// subreaper: a SIGKILLed harness's orphans are its children), at most
/// `deadline`; the pids still alive then, each SIGKILLed so none outlives the test.
pub fn reap(pids: &[i32], deadline: Duration) -> Vec<i32> {
    let (tx, rx) = std::sync::mpsc::channel();
    for &pid in pids {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let _ = nix::sys::wait::waitpid(Pid::from_raw(pid), None);
            let _ = tx.send(pid);
        });
    }
    let end = Instant::now() + deadline;
    let mut gone = 0;
    while gone < pids.len()
        && rx
            .recv_timeout(end.saturating_duration_since(Instant::now()))
            .is_ok()
    {
        gone += 1;
    }
    let left: Vec<i32> = pids.iter().copied().filter(|p| alive(*p)).collect();
    for p in &left {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    left
}

/// Requests `instance` answered in the whole seconds of results.json's
/// recording that lie within `from..to` on the run clock.
pub fn served(results: &serde_json::Value, instance: &str, from: f64, to: f64) -> u64 {
    results["recording"]["seconds"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| {
            let t = s["second"].as_f64().unwrap();
            t >= from && t + 1.0 <= to
        })
        .map(|s| s["instances"][instance].as_u64().unwrap_or(0))
        .sum()
}

/// A JSON file the run wrote.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
