//! The dashboard's thread: take the terminal, redraw at most
//! [`MAX_FPS`] times a second from the latest snapshot, and only when
//! something changed (a new snapshot, an event, a key, a resize: the feed
//! publishes a snapshot every 250 ms, so most ticks draw nothing), read keys,
//! give the terminal back on every way out (the end of the run, `q`, Ctrl-C, a panic).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossterm::event::{self, Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
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
    // A frame is drawn only when something changed (`dirty`: a snapshot, an
    // event, a key, a resize), so nothing is drawn between the feed's snapshots.
    let (mut drawn, mut dirty): (Option<Arc<LiveSnapshot>>, bool) = (None, true);
    while !done.load(Ordering::Relaxed) {
        while let Ok(e) = events.try_recv() {
            state.apply(e);
            dirty = true;
        }
        let snap = feed.borrow().clone();
        // A line another part of the run wrote to the terminal (a
        // replacement's ready line) is painted over by a full redraw.
        let full = last_clear.elapsed() >= FULL_REDRAW_EVERY;
        dirty |= full || !same(&snap, &drawn);
        if dirty && last_draw.is_none_or(|t| t.elapsed() >= frame_every) {
            if full {
                let _ = terminal.clear();
                last_clear = Instant::now();
            }
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
            drawn = snap;
            dirty = false;
        }
        // Waiting for a key is the loop's only pause: until the next frame may
        // be drawn when one is due, else one frame (a new snapshot shows within it).
        let since = last_draw.map_or(frame_every, |t| t.elapsed());
        let wait = if dirty {
            frame_every.saturating_sub(since)
        } else {
            frame_every
        };
        if event::poll(wait).unwrap_or(false) {
            match event::read() {
                Ok(Event::Key(k)) if is_stop(&k) && !stopping => {
                    stopping = true;
                    stop.cancel();
                    dirty = true;
                }
                Ok(Event::Resize(..)) => dirty = true,
                _ => {}
            }
        }
    }
    stopping
}

/// `q`, or Ctrl-C (raw mode makes it a key).
fn is_stop(k: &KeyEvent) -> bool {
    let ctrl_c = k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
    k.kind == KeyEventKind::Press && (k.code == KeyCode::Char('q') || ctrl_c)
}

/// Whether two readings of the feed are the same snapshot.
fn same(a: &Option<Arc<LiveSnapshot>>, b: &Option<Arc<LiveSnapshot>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => Arc::ptr_eq(a, b),
        (None, None) => true,
        _ => false,
    }
}
