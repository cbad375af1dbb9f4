//! The dashboard's thread: take the terminal, redraw at most
//! [`MAX_FPS`] times a second from the latest snapshot, read keys, give the
//! terminal back on every way out (the end of the run, `q`, Ctrl-C, a panic).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::state::State;
use crate::run::watch::RunEvent;
use crate::traffic::live::LiveSnapshot;

/// Redraws per second, at most.
pub(super) const MAX_FPS: u32 = 10;

/// How often the whole screen is redrawn, not only what changed.
const FULL_REDRAW_EVERY: Duration = Duration::from_secs(2);

/// Restores the terminal when dropped (normal end, error, unwinding).
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        ratatui::restore();
    }
}

/// Run the dashboard until `done` (the command finished watching). `q` or
/// Ctrl-C (raw mode turns Ctrl-C into a key, not a SIGINT) stops the run as
/// SIGINT does: `stop` is cancelled, the run writes what it measured, exit 6.
/// Whether that happened.
pub(super) fn run(
    title: String,
    feed: watch::Receiver<Option<Arc<LiveSnapshot>>>,
    mut events: mpsc::Receiver<RunEvent>,
    stop: CancellationToken,
    done: Arc<AtomicBool>,
    wait_for_start: bool,
) -> bool {
    let mut state = State::default();
    // `run` takes the terminal only once the traffic starts, so the bring-up
    // lines stay readable; every sender gone first: the run ended before.
    while wait_for_start && state.scenario.is_none() {
        match events.blocking_recv() {
            Some(e) => state.apply(e),
            None => return false,
        }
    }
    // `try_init` installs a panic hook that restores the terminal first.
    let Ok(mut terminal) = ratatui::try_init() else {
        ratatui::restore();
        return false;
    };
    let _restore = Restore;
    let frame_every = Duration::from_secs(1) / MAX_FPS;
    let mut last_draw: Option<Instant> = None;
    let mut stopping = false;
    let mut last_clear = Instant::now();
    while !done.load(Ordering::Relaxed) {
        while let Ok(e) = events.try_recv() {
            state.apply(e);
        }
        if last_draw.is_none_or(|t| t.elapsed() >= frame_every) {
            // A line another part of the run wrote to the terminal (a
            // replacement's ready line) is painted over by a full redraw.
            if last_clear.elapsed() >= FULL_REDRAW_EVERY {
                let _ = terminal.clear();
                last_clear = Instant::now();
            }
            let snap = feed.borrow().clone();
            let view = super::panels::View {
                title: &title,
                snap: snap.as_deref(),
                state: &state,
                stopping,
            };
            if terminal.draw(|f| view.render(f)).is_err() {
                break;
            }
            last_draw = Some(Instant::now());
        }
        // Waiting for a key is the loop's only pause (≤ one frame).
        let wait = frame_every.saturating_sub(last_draw.map_or(Duration::ZERO, |t| t.elapsed()));
        if event::poll(wait).unwrap_or(false)
            && let Ok(Event::Key(k)) = event::read()
            && k.kind == KeyEventKind::Press
        {
            let ctrl_c =
                k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
            if (k.code == KeyCode::Char('q') || ctrl_c) && !stopping {
                stopping = true;
                stop.cancel();
            }
        }
    }
    stopping
}
