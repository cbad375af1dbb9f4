//! `attack --prometheus-rw URL`, `--metrics-listen ADDR`, `--metrics-linger DUR`:
//! the exporters of `ninefold run` (`crate::run::export`: the same series, the
//! same encoder, the same queue and endpoint) reading the attack's live feed.
//!
//! The attack has no scenario: the series carry `scenario="attack"`, `run` the
//! `--run-id` or `attack-<UTC time>`, `phase="attack"`, `class="0"` and
//! `request` the method and the URL's path; there is no fault and no tenant
//! (docs/streaming.md, "ninefold attack").

use std::time::SystemTime;

use crate::cli::CliError;
use crate::cli::export::ExportArgs;
use crate::run::export::{self, ExportOptions, Exporter, series::RunLabels};
use crate::traffic::live::LiveWatch;

/// The streaming flags of `attack`.
#[derive(Debug, Clone, clap::Args)]
pub struct StreamArgs {
    #[command(flatten)]
    pub export: ExportArgs,
    /// The `run` label of the streamed series (default: `attack-` and the UTC
    /// start time, e.g. attack-20261207T013000Z), so two attacks never mix.
    #[arg(long, value_name = "ID")]
    pub run_id: Option<String>,
}

impl StreamArgs {
    /// Whether an exporter is on (the attack then publishes its live feed).
    pub fn is_on(&self) -> bool {
        self.export.options().is_on()
    }
}

/// The series' labels of an attack started `at`.
pub fn labels(run_id: Option<&str>, at: SystemTime) -> RunLabels {
    let run = run_id
        .map(str::trim)
        .filter(|id| !id.is_empty())
        .map_or_else(|| stamped(at), str::to_owned);
    RunLabels {
        run,
        scenario: "attack".into(),
        shard: None,
    }
}

/// `attack-<UTC time>`, as a run folder is named after its scenario and time.
fn stamped(at: SystemTime) -> String {
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect();
    format!("attack-{stamp}")
}

/// The exporters the flags ask for, reading `live`, started before any
/// traffic: an address that cannot be bound is bad input (exit 2). The same
/// stderr lines as `run` (a test reads the address from the first).
pub async fn start(args: &StreamArgs, live: &LiveWatch) -> Result<Option<Exporter>, CliError> {
    let options = args.export.options();
    if !options.is_on() {
        return Ok(None);
    }
    let labels = labels(args.run_id.as_deref(), SystemTime::now());
    // No gateway of its own to poll: the ejected gauge stays empty.
    let exporter = export::start(&options, live, labels, Vec::new(), Default::default())
        .await
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    if let Some(addr) = exporter.addr {
        eprintln!("ninefold: metrics at http://{addr}/metrics");
    }
    if let Some(url) = &options.remote_write {
        eprintln!("ninefold: Prometheus remote-write to {url}, every second");
    }
    Ok(Some(exporter))
}

/// After the traffic: the last push, the endpoint's linger, the exporters'
/// warnings on stderr (a failed push never changes the verdict). An aborted
/// attack (a second signal) skips this: it stops at once.
pub async fn finish(exporter: Option<Exporter>, options: &ExportOptions) {
    let Some(exporter) = exporter else {
        return;
    };
    for w in exporter.finish(options.linger).await.warnings() {
        eprintln!("ninefold: {w}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_run_label_is_the_id_else_attack_and_the_utc_second() {
        // 2026-12-07T01:30:00Z, computed by hand: 20794 days after 1970-01-01, plus 5400 s.
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(20_794 * 86_400 + 5_400);
        assert_eq!(labels(None, at).run, "attack-20261207T013000Z");
        assert_eq!(labels(Some("  "), at).run, "attack-20261207T013000Z");
        let l = labels(Some("smoke-7"), at);
        assert_eq!(l.run, "smoke-7");
        assert_eq!(l.scenario, "attack");
        assert_eq!(l.shard, None);
    }
}
