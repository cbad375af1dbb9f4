//! `ninefold toxiproxy`: the fault proxy alone, speaking Toxiproxy's HTTP API
//! (a drop-in for `toxiproxy-server`, with a `--seed` that really seeds).

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args as ClapArgs;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::faults::proxy::ProxyOptions;
use crate::faults::wire::{self, ProxyInput, ToxicInput};
use crate::faults::{FaultProxyConfig, FaultProxyHandle, ProxySpec, api};
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
    /// JSON file with proxies to create at start: the array `POST /populate` takes; each entry
    /// may also hold a `toxics` array of `POST /proxies/{p}/toxics` bodies (our extension:
    /// the reference ignores them, Toxiproxy issue #447).
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
    let config = match &args.config {
        Some(path) => read_config(path)?,
        None => Vec::new(),
    };
    let runtime = tokio::runtime::Runtime::new().context("starting the tokio runtime")?;
    runtime.block_on(serve(args, config))
}

/// One entry of `--config`: a proxy and, as an extension, its toxics.
#[derive(Debug, Deserialize)]
struct ConfigEntry {
    #[serde(flatten)]
    proxy: ProxyInput,
    #[serde(default)]
    toxics: Vec<ToxicInput>,
}

type Config = Vec<(ProxySpec, Vec<ToxicInput>)>;

fn read_config(path: &PathBuf) -> anyhow::Result<Config> {
    let text = std::fs::read(path)
        .map_err(|e| CliError::BadInput(format!("--config {}: {e}", path.display())))?;
    let entries: Vec<ConfigEntry> = wire::decode_body(&text).map_err(|e| {
        CliError::BadInput(format!(
            "--config {}: expected a JSON array of {{\"name\", \"listen\", \"upstream\", \"enabled\"?, \"toxics\"?}}: {e}",
            path.display()
        ))
    })?;
    Ok(entries
        .into_iter()
        .map(|e| {
            let spec = ProxySpec {
                name: e.proxy.name,
                listen: e.proxy.listen,
                upstream: e.proxy.upstream,
                enabled: e.proxy.enabled.unwrap_or(true),
            };
            (spec, e.toxics)
        })
        .collect())
}

/// Create the proxies and toxics of `--config`. As the reference, problems
/// are reported and the server still starts.
async fn apply_config(proxy: &FaultProxyHandle, config: Config) {
    let (specs, toxics): (Vec<ProxySpec>, Vec<Vec<ToxicInput>>) = config.into_iter().unzip();
    let names: Vec<String> = specs.iter().map(|s| s.name.clone()).collect();
    match proxy.populate(specs).await {
        Ok(created) => eprintln!("toxiproxy: {} proxies from --config", created.len()),
        Err(e) => {
            eprintln!(
                "toxiproxy: --config: {e} ({} created before it)",
                e.created.len()
            );
            return;
        }
    }
    for (name, list) in names.iter().zip(toxics) {
        for input in list {
            let added = match crate::faults::api::new_toxic(input) {
                Ok(new) => proxy.add_toxic_raw(name, new).await,
                Err(e) => Err(e),
            };
            if let Err(e) = added {
                eprintln!("toxiproxy: --config: proxy {name}: toxic: {e}");
            }
        }
    }
}

async fn serve(args: Args, config: Config) -> anyhow::Result<ExitStatus> {
    let seed = args.seed.unwrap_or_else(rand::random);
    let addr = format!("{}:{}", args.host, args.port);
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .map_err(|e| CliError::BadInput(format!("cannot listen on {addr}: {e}")))?;
    let bound: SocketAddr = listener.local_addr()?;
    let proxy = FaultProxyHandle::new(FaultProxyConfig {
        seed,
        options: ProxyOptions {
            refuse_when_upstream_down: args.refuse_when_upstream_down,
        },
    });
    if !config.is_empty() {
        apply_config(&proxy, config).await;
    }
    eprintln!("toxiproxy: API on http://{bound}, seed {seed}");
    ReadyLine::new("toxiproxy", bound).announce()?;
    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(wait_for_signal(shutdown.clone()));
    let result = api::serve(listener, proxy, shutdown.clone()).await;
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
