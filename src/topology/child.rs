//! One supervised child process: spawned in its own process group, tied to the
//! harness's life, ready when it prints its ready line, logged to a file, and
//! watched so that a death nobody asked for is an event rather than a hang.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{Signal, kill, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;
use tokio::sync::watch;

use super::probe::{LinePattern, PROBE_EVERY, http_ready};
use super::ready::ReadyLine;

/// The environment variable a child reads to tie its life to the harness.
pub const PARENT_PID_ENV: &str = "NINEFOLD_PARENT_PID";

/// What to start.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Unique name in the run (`api-0`, `gateway-1`).
    pub name: String,
    /// Program; default the running `ninefold` binary.
    pub program: Option<PathBuf>,
    pub args: Vec<OsString>,
    /// stdout (after the ready line) and stderr are appended here.
    pub log: PathBuf,
    /// How long to wait for the ready line.
    pub ready_timeout: Duration,
    /// How it says it is ready.
    pub ready: ReadySignal,
    /// Variables set on top of the harness's environment.
    pub env: Vec<(OsString, OsString)>,
    /// Working directory (default: the harness's).
    pub cwd: Option<PathBuf>,
}

/// How a child says it is ready.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ReadySignal {
    /// ninefold's JSON ready line (every `ninefold` role).
    #[default]
    Line,
    /// A program of someone else's (redis-server): ready once a line of its
    /// stdout contains `text` (case-insensitive); it then serves on `addr`,
    /// which the harness chose, as `role`.
    LogText {
        text: String,
        role: String,
        addr: std::net::SocketAddr,
    },
    /// A program of someone else's: ready once a line of its stdout matches
    /// `pattern`; it then serves on `addr`, which the harness chose, as `role`.
    Pattern {
        pattern: LinePattern,
        role: String,
        addr: std::net::SocketAddr,
    },
    /// A program of someone else's: ready once `GET path` on `addr` (which the
    /// harness chose) answers 2xx or 3xx.
    Http {
        path: String,
        role: String,
        addr: std::net::SocketAddr,
    },
}

impl ReadySignal {
    /// The ready line this stdout line amounts to, if any.
    pub fn detect(&self, line: &str) -> Option<ReadyLine> {
        match self {
            ReadySignal::Line => ReadyLine::parse(line),
            ReadySignal::LogText { text, role, addr } => line
                .to_ascii_lowercase()
                .contains(&text.to_ascii_lowercase())
                .then(|| ReadyLine::new(role, *addr)),
            ReadySignal::Pattern {
                pattern,
                role,
                addr,
            } => pattern.matches(line).then(|| ReadyLine::new(role, *addr)),
            ReadySignal::Http { .. } => None,
        }
    }
}

/// Why a child could not be started or reached.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("{name}: cannot start {program}: {source}")]
    Spawn {
        name: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: cannot open its log {path}: {source}")]
    Log {
        name: String,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{name}: {what} within {timeout:?}; see {log}")]
    NotReady {
        name: String,
        /// What did not happen: `no ready line`, `GET /health did not answer 2xx or 3xx (…)`.
        what: String,
        timeout: Duration,
        log: PathBuf,
    },
    #[error("{name}: exited before it was ready ({status}); see {log}")]
    DiedEarly {
        name: String,
        status: String,
        log: PathBuf,
    },
    #[error("{name}: cannot signal pid {pid}: {source}")]
    Signal {
        name: String,
        pid: i32,
        #[source]
        source: nix::Error,
    },
}

/// How a child ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// e.g. `exit code 0` or `killed by SIGKILL`.
    pub status: String,
    pub success: bool,
}

/// A running child.
#[derive(Debug)]
pub struct RunningChild {
    pub name: String,
    pub pid: i32,
    pub ready: ReadyLine,
    exited: watch::Receiver<Option<Exit>>,
}

/// Start `spec`'s process in its own group, stderr to its log; the log file is
/// returned for its stdout to be copied to.
fn start(spec: &ChildSpec) -> Result<(tokio::process::Child, std::fs::File), ChildError> {
    let program = match &spec.program {
        Some(p) => p.clone(),
        None => std::env::current_exe().map_err(|source| ChildError::Spawn {
            name: spec.name.clone(),
            program: "ninefold".into(),
            source,
        })?,
    };
    let log_file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log)
        .map_err(|source| ChildError::Log {
            name: spec.name.clone(),
            path: spec.log.clone(),
            source,
        })?;
    let stderr = log_file.try_clone().map_err(|source| ChildError::Log {
        name: spec.name.clone(),
        path: spec.log.clone(),
        source,
    })?;
    let mut cmd = Command::new(&program);
    if let Some(dir) = &spec.cwd {
        cmd.current_dir(dir);
    }
    cmd.args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(stderr)
        // Its own group: a Ctrl-C at the terminal reaches the harness only,
        // which then tears children down in order.
        .process_group(0)
        .kill_on_drop(true);
    let child = cmd.spawn().map_err(|source| ChildError::Spawn {
        name: spec.name.clone(),
        program: match &spec.cwd {
            Some(dir) => format!("{} in {}", program.display(), dir.display()),
            None => program.display().to_string(),
        },
        source,
    })?;
    Ok((child, log_file))
}

type OutLines = tokio::io::Lines<BufReader<tokio::process::ChildStdout>>;

/// Copy the rest of a child's stdout to its log, in the background.
fn copy_rest(lines: Option<OutLines>, mut log: tokio::fs::File) {
    tokio::spawn(async move {
        if let Some(mut lines) = lines {
            while let Ok(Some(line)) = lines.next_line().await {
                let _ = log.write_all(line.as_bytes()).await;
                let _ = log.write_all(b"\n").await;
            }
        }
        let _ = log.flush().await;
    });
}

/// Read (and log) stdout lines until one is the ready line; `None` at the end of stdout.
async fn read_until_ready(
    ready: &ReadySignal,
    lines: &mut Option<OutLines>,
    log: &mut tokio::fs::File,
) -> Option<ReadyLine> {
    let lines = lines.as_mut()?;
    while let Ok(Some(line)) = lines.next_line().await {
        let _ = log.write_all(line.as_bytes()).await;
        let _ = log.write_all(b"\n").await;
        if let Some(ready) = ready.detect(&line) {
            return Some(ready);
        }
    }
    None
}

/// Wait until `GET path` on `addr` answers 2xx or 3xx, the child exits, or the time is up.
async fn wait_http(
    child: &mut tokio::process::Child,
    pid: i32,
    spec: &ChildSpec,
    path: &str,
    addr: std::net::SocketAddr,
) -> Result<(), ChildError> {
    let mut last = String::from("never asked");
    let probe = async {
        loop {
            match http_ready(addr, path).await {
                Ok(()) => return,
                Err(e) => last = e,
            }
            tokio::time::sleep(PROBE_EVERY).await;
        }
    };
    let outcome = tokio::time::timeout(spec.ready_timeout, async {
        tokio::select! {
            () = probe => None,
            status = child.wait() => Some(status),
        }
    })
    .await;
    match outcome {
        Ok(None) => Ok(()),
        Ok(Some(status)) => Err(ChildError::DiedEarly {
            name: spec.name.clone(),
            status: status.map_or_else(|e| format!("wait failed: {e}"), describe),
            log: spec.log.clone(),
        }),
        Err(_) => {
            kill_group(child, pid);
            let _ = child.wait().await;
            Err(ChildError::NotReady {
                name: spec.name.clone(),
                what: format!("GET {path} on {addr} did not answer 2xx or 3xx (last: {last})"),
                timeout: spec.ready_timeout,
                log: spec.log.clone(),
            })
        }
    }
}

/// What a child that never said it was ready failed to do, for the error.
fn not_ready_what(ready: &ReadySignal) -> String {
    match ready {
        ReadySignal::Line => "no ready line".into(),
        ReadySignal::LogText { text, .. } => format!("no line of its output said `{text}`"),
        ReadySignal::Pattern { pattern, .. } => {
            format!("no line of its stdout matched `{}`", pattern.as_str())
        }
        ReadySignal::Http { path, addr, .. } => format!("GET {path} on {addr} did not answer"),
    }
}

impl RunningChild {
    /// Start `spec` and wait until it is ready (its ready line, or what `spec.ready` says).
    pub async fn spawn(spec: &ChildSpec) -> Result<Self, ChildError> {
        let (mut child, log_file) = start(spec)?;
        let pid = child.id().map_or(0, |p| p as i32);
        let (tx, exited) = watch::channel(None);
        let mut log = tokio::fs::File::from_std(log_file);
        let mut lines = child.stdout.take().map(|s| BufReader::new(s).lines());
        let ready = if let ReadySignal::Http { path, role, addr } = &spec.ready {
            // Its output is copied from the start; readiness is asked over HTTP.
            copy_rest(lines, log);
            wait_http(&mut child, pid, spec, path, *addr).await?;
            ReadyLine::new(role, *addr)
        } else {
            let wait_ready = read_until_ready(&spec.ready, &mut lines, &mut log);
            match tokio::time::timeout(spec.ready_timeout, wait_ready).await {
                Ok(Some(ready)) => {
                    copy_rest(lines, log);
                    ready
                }
                Ok(None) => return Err(died_early(child, pid, spec).await),
                Err(_) => {
                    kill_group(&mut child, pid);
                    let _ = child.wait().await;
                    return Err(ChildError::NotReady {
                        name: spec.name.clone(),
                        what: not_ready_what(&spec.ready),
                        timeout: spec.ready_timeout,
                        log: spec.log.clone(),
                    });
                }
            }
        };
        // Publish how it ends.
        tokio::spawn(async move {
            let exit = match child.wait().await {
                Ok(s) => Exit {
                    status: describe(s),
                    success: s.success(),
                },
                Err(e) => Exit {
                    status: format!("wait failed: {e}"),
                    success: false,
                },
            };
            let _ = tx.send(Some(exit));
        });
        Ok(Self {
            name: spec.name.clone(),
            pid,
            ready,
            exited,
        })
    }

    /// Send a signal to the child's whole process group.
    pub fn signal(&self, signal: Signal) -> Result<(), ChildError> {
        if self.exit().is_some() {
            return Ok(());
        }
        killpg(Pid::from_raw(self.pid), signal)
            .or_else(|_| kill(Pid::from_raw(self.pid), signal))
            .map_err(|source| ChildError::Signal {
                name: self.name.clone(),
                pid: self.pid,
                source,
            })
    }

    /// How it ended, if it has.
    pub fn exit(&self) -> Option<Exit> {
        self.exited.borrow().clone()
    }

    /// A receiver that changes once, when the child exits.
    pub fn exit_watch(&self) -> watch::Receiver<Option<Exit>> {
        self.exited.clone()
    }

    /// Wait until it exits, at most `timeout`.
    pub async fn wait(&self, timeout: Duration) -> Option<Exit> {
        let mut rx = self.exited.clone();
        let done = rx.wait_for(Option::is_some);
        match tokio::time::timeout(timeout, done).await {
            Ok(Ok(v)) => v.clone(),
            _ => None,
        }
    }

    /// SIGTERM, then SIGKILL after `grace`; waits for the exit.
    pub async fn shutdown(&self, grace: Duration) -> Option<Exit> {
        let _ = self.signal(Signal::SIGCONT); // a stopped child cannot handle SIGTERM
        let _ = self.signal(Signal::SIGTERM);
        if let Some(exit) = self.wait(grace).await {
            return Some(exit);
        }
        let _ = self.signal(Signal::SIGKILL);
        self.wait(Duration::from_secs(5)).await
    }
}

/// SIGKILL to the child's whole group (a guard's program and its children too).
fn kill_group(child: &mut tokio::process::Child, pid: i32) {
    if pid > 0 {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
    let _ = child.start_kill();
}

/// Its stdout closed before it was ready: how it ended (killed if it did not).
async fn died_early(mut child: tokio::process::Child, pid: i32, spec: &ChildSpec) -> ChildError {
    let status = match tokio::time::timeout(Duration::from_secs(5), child.wait()).await {
        Ok(Ok(s)) => describe(s),
        _ => "still running, stdout closed".into(),
    };
    kill_group(&mut child, pid);
    ChildError::DiedEarly {
        name: spec.name.clone(),
        status,
        log: spec.log.clone(),
    }
}

fn describe(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(sig)) => match Signal::try_from(sig) {
            Ok(s) => format!("killed by {s}"),
            Err(_) => format!("killed by signal {sig}"),
        },
        _ => status.to_string(),
    }
}

/// Called first thing by every child role (`backend`, `gateway`, `toxiproxy`)
/// started by a harness: die when the harness dies, even by SIGKILL.
pub fn die_with_parent() {
    let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return;
    };
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGKILL);
    }
    // The harness may have died before the line above took effect.
    if nix::unistd::getppid().as_raw() != parent {
        let _ = nix::sys::signal::raise(Signal::SIGKILL);
    }
}
