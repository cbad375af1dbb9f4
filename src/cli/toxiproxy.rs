//! `ninefold toxiproxy`: the fault proxy alone, speaking Toxiproxy's HTTP API
//! (a drop-in for `toxiproxy-server`, with a `--seed` that really seeds).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::faults::proxy::ProxyOptions;
use crate::faults::server::{self, FaultProxy, FaultProxyConfig, ProxySpec};
use crate::faults::wire::{self, ProxyInput};
use crate::topology::ready::ReadyLine;

/// Flags of `ninefold toxiproxy`.
#[derive(Debug, Clone, ClapArgs)]
pub struct Args {
    /// Host (address) the HTTP API binds to.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port of the HTTP API (Toxiproxy's default).
    #[arg(long, default_value_t = 8474)]
    pub port: u16,
    /// JSON file with proxies to create at start: the array `POST /populate` takes.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of every random choice (toxicity rolls, jitter, slicer, loss); default: random, printed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// When a proxy cannot reach its upstream, reset the client (RST) instead of closing it.
    #[arg(long)]
    pub refuse_when_upstream_down: bool,
}

/// Run the server until SIGINT or SIGTERM.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let specs = match &args.config {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(serve(args, specs))
}

fn read_config(path: &PathBuf) -> anyhow::Result<Vec<ProxySpec>> {
    let text = std::fs::read(path)
        .map_err(|e| CliError::BadInput(format!("--config {}: {e}", path.display())))?;
    let inputs: Vec<ProxyInput> = wire::decode_body(&text).map_err(|e| {
        CliError::BadInput(format!(
            "--config {}: expected a JSON array of {{\"name\", \"listen\", \"upstream\", \"enabled\"?}}: {e}",
            path.display()
        ))
    })?;
    Ok(inputs
        .into_iter()
        .map(|i| ProxySpec {
            name: i.name,
            listen: i.listen,
            upstream: i.upstream,
            enabled: i.enabled.unwrap_or(true),
        })
        .collect())
}

async fn serve(args: Args, specs: Vec<ProxySpec>) -> anyhow::Result<ExitStatus> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| CliError::BadInput(format!("cannot listen on {addr}: {e}")))?;
    let bound: SocketAddr = listener.local_addr()?;
    let proxy = FaultProxy::new(FaultProxyConfig {
        seed,
        options: ProxyOptions {
            refuse_when_upstream_down: args.refuse_when_upstream_down,
        },
    });
    if !specs.is_empty() {
        // As the reference: a bad config is logged, the server still starts.
        match proxy.populate(specs).await {
            Ok(created) => eprintln!("toxiproxy: {} proxies from --config", created.len()),
            Err(e) => eprintln!(
                "toxiproxy: --config: {e} ({} created before it)",
                e.created.len()
            ),
        }
    }
    eprintln!("toxiproxy: API on http://{bound}, seed {seed}");
    ReadyLine::new("toxiproxy", bound).announce()?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    let result = server::run(listener, proxy, shutdown.clone()).await;
    shutdown.cancel();
    signals.abort();
    result.context("serving the toxiproxy API")?;
    Ok(ExitStatus::Pass)
}

/// Cancel `shutdown` on SIGINT or SIGTERM.
async fn wait_for_signal(shutdown: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        // Without signal handlers we can still be stopped by a kill; do not exit early.
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
        () = shutdown.cancelled() => {}
    }
    shutdown.cancel();
}
