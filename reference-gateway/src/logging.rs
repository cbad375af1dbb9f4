//! Where the gateway's logs go, written so that no request waits for them. Every line
//! (the JSON access log, tracing target `access`, and warnings) goes through a bounded
//! queue to a writer thread ([`tracing_appender::non_blocking()`], lossy): a worker thread
//! only pushes the formatted line. When the reader of the log (a pipe to a busy
//! collector, a full disk) falls behind and the queue is full, the line is dropped and
//! counted (`gateway_log_lines_dropped_total` in `/metrics`), and the request goes on.
//! A log written synchronously from the workers froze the whole gateway when nobody read
//! its stderr: every worker blocked in `write`, and nothing was accepted.

use std::fs::OpenOptions;
use std::path::PathBuf;
use std::str::FromStr;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::filter::{FilterExt, Targets, filter_fn};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, fmt};

use crate::error::Error;

/// The tracing target of access-log lines (the trace step writes them; [`init`] may send
/// them elsewhere than the other lines).
pub const ACCESS_TARGET: &str = "access";

/// Lines a log's queue holds before new ones are dropped (about 5 MiB of access-log lines;
/// at 100,000 requests a second, 160 ms of a stalled reader).
pub const BUFFERED_LINES: usize = 16_384;

/// Where the access log goes (`--access-log off|stderr|FILE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AccessLog {
    /// No access log (warnings still go to stderr).
    Off,
    /// Access log and warnings on stderr.
    Stderr,
    /// Access log appended to this file; warnings on stderr.
    File(PathBuf),
}

impl AccessLog {
    /// Whether access-log lines are written at all ([`crate::Config::access_log`]).
    pub fn enabled(&self) -> bool {
        *self != AccessLog::Off
    }
}

impl FromStr for AccessLog {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "off" => Ok(AccessLog::Off),
            "stderr" => Ok(AccessLog::Stderr),
            "" => Err("give off, stderr or a file path".into()),
            path => Ok(AccessLog::File(PathBuf::from(path))),
        }
    }
}

/// The drop counters of the installed writers (set once, by [`init`]).
static COUNTERS: OnceLock<Vec<ErrorCounter>> = OnceLock::new();

/// Log lines dropped because a writer's queue was full, over all writers; `None` when
/// [`init`] installed no writer in this process (nothing was counted).
pub fn dropped_lines() -> Option<u64> {
    COUNTERS
        .get()
        .map(|cs| cs.iter().map(|c| c.dropped_lines() as u64).sum())
}

/// Keeps the writer threads; dropping it flushes what is queued (waiting at most about a
/// second for a stalled reader).
#[must_use = "dropping the guard stops the log writers"]
pub struct LogGuard {
    _guards: Vec<WorkerGuard>,
}

fn writer<W: std::io::Write + Send + 'static>(
    w: W,
    name: &str,
) -> (
    tracing_appender::non_blocking::NonBlocking,
    WorkerGuard,
    ErrorCounter,
) {
    let (nb, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name(name)
        .finish(w);
    let counter = nb.error_counter();
    (nb, guard, counter)
}

/// Installs the process's JSON log subscriber: the level filter from `RUST_LOG`, else
/// `default_filter`; the access log to `access`. When a subscriber is already installed
/// (tests), nothing changes and no drops are counted.
pub fn init(access: &AccessLog, default_filter: &str) -> Result<LogGuard, Error> {
    let env = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter));
    let (stderr, stderr_guard, stderr_drops) = writer(std::io::stderr(), "log-stderr");
    let mut guards = vec![stderr_guard];
    let mut counters = vec![stderr_drops];
    let installed = match access {
        AccessLog::Off | AccessLog::Stderr => tracing_subscriber::registry()
            .with(fmt::layer().json().with_writer(stderr).with_filter(env))
            .try_init(),
        AccessLog::File(path) => {
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|source| Error::Io {
                    context: "opening the access log",
                    source: std::io::Error::new(
                        source.kind(),
                        format!("{}: {source}", path.display()),
                    ),
                })?;
            let (file, file_guard, file_drops) = writer(file, "log-access");
            guards.push(file_guard);
            counters.push(file_drops);
            let not_access = filter_fn(|m| m.target() != ACCESS_TARGET);
            let access_only = Targets::new().with_target(ACCESS_TARGET, tracing::Level::INFO);
            tracing_subscriber::registry()
                .with(
                    fmt::layer()
                        .json()
                        .with_writer(stderr)
                        .with_filter(env.and(not_access)),
                )
                .with(
                    fmt::layer()
                        .json()
                        .with_writer(file)
                        .with_filter(access_only),
                )
                .try_init()
        }
    };
    if installed.is_ok() {
        let _ = COUNTERS.set(counters);
    }
    Ok(LogGuard { _guards: guards })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_log_destinations_parse() {
        assert_eq!("off".parse::<AccessLog>(), Ok(AccessLog::Off));
        assert_eq!("stderr".parse::<AccessLog>(), Ok(AccessLog::Stderr));
        assert_eq!(
            "/var/log/gw.log".parse::<AccessLog>(),
            Ok(AccessLog::File("/var/log/gw.log".into()))
        );
        assert!("".parse::<AccessLog>().is_err());
        assert!(!AccessLog::Off.enabled());
    }
}
