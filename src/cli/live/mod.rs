//! Watching `run` and `attack` while they go: the live terminal dashboard
//! (ratatui, when stdout is a terminal and `--no-tui` is not given) or the
//! run's events as plain lines on stderr (pipes, CI). docs/live.md.
//!
//! Both read the run's live feed and events channel from their own OS thread,
//! so neither the generator's workers nor the run's runtime ever wait on the
//! terminal: the feed is a watch (the latest snapshot, a slow reader skips)
//! and the events channel is bounded and never blocks its senders.

mod dashboard;
mod panels;
mod state;

use std::io::IsTerminal;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::run::watch::{EventSink, RunEvent, events_channel};
use crate::traffic::live::LiveWatch;

/// What the command watches with, and the thread that watches.
pub(crate) struct Watching {
    /// Give this to the run (`RunOptions::live`, `TrafficOptions::live`).
    pub live: LiveWatch,
    /// Give this to the run (`RunOptions::events`); `None` once handed out.
    pub events: Option<EventSink>,
    /// Whether the dashboard draws (else plain lines).
    pub tui: bool,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<bool>>,
}

/// Whether the dashboard should draw: stdout and stdin are a terminal that is
/// not `dumb`, and `--no-tui` was not given.
pub(crate) fn wants_tui(no_tui: bool) -> bool {
    !no_tui
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal()
        && std::env::var("TERM").map_or(true, |t| t != "dumb")
}

impl Watching {
    /// Start watching. `stop` is the run's own stop (what SIGINT cancels):
    /// the dashboard's `q` cancels it too. `title` heads the dashboard.
    /// `run` waits for the run's `Started` event before it takes the terminal.
    pub(crate) fn start(
        tui: bool,
        stop: CancellationToken,
        title: String,
        wait_for_start: bool,
    ) -> Watching {
        Self::start_on(LiveWatch::new(), tui, stop, title, wait_for_start)
    }

    /// [`Watching::start`] reading `live` (one the caller's exporters read too).
    fn start_on(
        live: LiveWatch,
        tui: bool,
        stop: CancellationToken,
        title: String,
        wait_for_start: bool,
    ) -> Watching {
        let (sink, rx) = events_channel();
        let done = Arc::new(AtomicBool::new(false));
        let thread = if tui {
            let (feed, done) = (live.subscribe(), Arc::clone(&done));
            std::thread::Builder::new()
                .name("dashboard".into())
                .spawn(move || dashboard::run(title, feed, rx, stop, done, wait_for_start))
                .ok()
        } else {
            std::thread::Builder::new()
                .name("events".into())
                .spawn(move || {
                    plain(rx);
                    false
                })
                .ok()
        };
        Watching {
            live,
            events: Some(sink),
            tui: tui && thread.is_some(),
            done,
            thread,
        }
    }

    /// Stop watching: the dashboard restores the terminal before this
    /// returns; the plain printer prints what is left (its senders are gone
    /// once the run has returned). Whether the user stopped the run with `q`.
    pub(crate) fn finish(mut self) -> bool {
        self.stop_thread()
    }

    fn stop_thread(&mut self) -> bool {
        self.done.store(true, Ordering::Relaxed);
        self.events = None;
        self.thread
            .take()
            .is_some_and(|t| t.join().unwrap_or(false))
    }
}

impl Drop for Watching {
    // Every way out of the command (an error, a second signal) restores the
    // terminal: the dashboard thread leaves it only after its own restore.
    fn drop(&mut self) {
        self.stop_thread();
    }
}

impl Watching {
    /// `attack`: tell the generator's events (drops, falling behind and catching up)
    /// from the live feed until the traffic's last snapshot or `done`; on the caller's
    /// runtime. Await it before [`Watching::finish`]: it holds an events sender.
    pub(crate) fn tell_generator(&self, done: &CancellationToken) -> Option<JoinHandle<()>> {
        let sink = self.events.clone()?;
        Some(tokio::spawn(crate::run::watch::lag::tell_generator(
            self.live.subscribe(),
            sink,
            done.clone(),
        )))
    }
}

/// `attack`'s watcher of `live`: the dashboard on a terminal unless `plain`.
pub(crate) fn for_attack(
    url: &str,
    plain: bool,
    stop: &CancellationToken,
    live: LiveWatch,
) -> Watching {
    Watching::start_on(
        live,
        wants_tui(plain),
        stop.clone(),
        format!("attack {url}"),
        false,
    )
}

/// Plain mode: each event a line on stderr, until every sender is gone.
fn plain(mut rx: mpsc::Receiver<RunEvent>) {
    while let Some(e) = rx.blocking_recv() {
        if let RunEvent::Happened(h) = e {
            eprintln!("ninefold: {}", h.line());
        }
    }
}
