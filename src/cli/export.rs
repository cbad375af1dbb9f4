//! The flags of `ninefold run` and `ninefold attack` that stream their
//! metrics (docs/streaming.md).

use std::net::SocketAddr;
use std::time::Duration;

use crate::run::export::ExportOptions;

/// Metrics streamed while the run (or attack) goes.
#[derive(Debug, Clone, clap::Args)]
pub struct ExportArgs {
    /// Push the metrics (series named ninefold_*, labelled with the run)
    /// to a Prometheus remote-write receiver every second and once more when
    /// the traffic ends, e.g. http://127.0.0.1:9090/api/v1/write. A failed push
    /// is retried and reported as a warning; it never changes the verdict.
    #[arg(long, value_name = "URL", value_parser = url)]
    pub prometheus_rw: Option<reqwest::Url>,
    /// Serve the same series at http://ADDR/metrics (Prometheus text format)
    /// while the run goes, e.g. 127.0.0.1:9464 (port 0 picks a free one; the
    /// address is printed).
    #[arg(long, value_name = "ADDR")]
    pub metrics_listen: Option<SocketAddr>,
    /// After the run, keep /metrics up until one scrape has read the final
    /// counts, at most DUR (default: stop with the run).
    #[arg(long, value_name = "DUR", default_value = "0s", value_parser = duration, requires = "metrics_listen")]
    pub metrics_linger: Duration,
}

fn url(text: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(text).map_err(|e| format!("{text}: {e}"))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(format!("{text}: an http:// or https:// URL is needed"));
    }
    Ok(u)
}

fn duration(text: &str) -> Result<Duration, String> {
    crate::scenario::human::parse_duration(text)
}

impl ExportArgs {
    /// What the run's exporters do.
    pub fn options(&self) -> ExportOptions {
        ExportOptions {
            remote_write: self.prometheus_rw.clone(),
            listen: self.metrics_listen,
            linger: self.metrics_linger,
        }
    }
}
