//! The progress line on stderr: live (indicatif) on a terminal, one plain
//! line every 5 s otherwise, so CI logs stay readable.

use std::io::IsTerminal as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use super::plan::{Load, LoadPlan};
use super::worker::LiveCounters;

/// Report until `stop` fires. With `take_lag` the line takes the workers' dispatch
/// lag itself (its largest since the last line), else it shows the live feed's last take.
pub(crate) async fn report(
    plan: Arc<LoadPlan>,
    live: Vec<Arc<LiveCounters>>,
    total: Duration,
    take_lag: bool,
    stop: CancellationToken,
) {
    let terminal = std::io::stderr().is_terminal();
    let every = if terminal {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(5)
    };
    let bar = terminal.then(|| {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut last = (Instant::now(), 0u64);
    let mut ticker = tokio::time::interval(every);
    ticker.tick().await;
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let sum = |f: fn(&LiveCounters) -> u64| live.iter().map(|l| f(l)).sum::<u64>();
        let answered = sum(|l| l.answered.load(Ordering::Relaxed));
        let rate = (answered - last.1) as f64 / now.duration_since(last.0).as_secs_f64().max(1e-3);
        last = (now, answered);
        let elapsed = now.saturating_duration_since(plan.run_start);
        let lag = live
            .iter()
            .filter_map(|l| {
                if take_lag {
                    l.take_dispatch_lag()
                } else {
                    l.last_dispatch_lag()
                }
            })
            .max();
        let line = format!(
            "{:>5.1}s/{:.0}s  target {:>7.0}/s  achieved {:>7.0}/s  lag {:>8}  in-flight {:>5}  p99(1s) {:>8.2}ms  errors {}  drops {}",
            elapsed.as_secs_f64(),
            total.as_secs_f64(),
            target_rate(&plan, elapsed),
            rate,
            lag.map_or_else(
                || "—".to_owned(),
                |us| format!("{:.2}ms", us as f64 / 1000.0)
            ),
            sum(|l| l.in_flight.load(Ordering::Relaxed)),
            live.iter()
                .map(|l| l.p99_us.load(Ordering::Relaxed))
                .max()
                .unwrap_or(0) as f64
                / 1000.0,
            sum(|l| l.bad.load(Ordering::Relaxed)),
            sum(|l| l.dropped.load(Ordering::Relaxed)),
        );
        match &bar {
            Some(bar) => {
                bar.set_message(line);
                bar.tick();
            }
            None => eprintln!("{line}"),
        }
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
}

/// The open-loop rate the schedule asks of this process at `elapsed` (its
/// shard's share).
pub(crate) fn target_rate(plan: &LoadPlan, elapsed: Duration) -> f64 {
    let share = 1.0 / f64::from(plan.shard.count.max(1));
    share
        * plan
            .phases
            .iter()
            .filter_map(|p| match &p.load {
                Load::Open { profile, .. } if elapsed >= p.start => {
                    Some(profile.rate_at((elapsed - p.start).as_secs_f64()))
                }
                _ => None,
            })
            .sum::<f64>()
}
