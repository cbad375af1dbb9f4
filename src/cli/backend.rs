//! `ninefold backend`: run one mock backend instance (the `mock-backends`
//! crate) until SIGTERM or SIGINT, then drain and exit.
//!
//! It binds both listeners, opens the store, and only then prints the ready
//! line, so a parent that sees the line can send requests at once; a store it
//! cannot use is reported as bad input (exit 2) before any line is printed.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, ValueEnum};
use mock_backends::{Backend, Behaviour, Config, Dur, ItemReads, StoreSpec};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::topology::ready::ReadyLine;

/// Flags of `ninefold backend`.
#[derive(Debug, Clone, Parser)]
pub struct Args {
    /// Address of the API (`:0` lets the OS pick a port; the ready line says which).
    #[arg(long, default_value = "127.0.0.1:0")]
    pub listen: SocketAddr,
    /// Address of the admin API; must be a loopback address.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub admin_listen: SocketAddr,
    /// Instance name, sent in `X-Backend-Instance` on every response.
    #[arg(long, default_value = "backend-0")]
    pub instance: String,
    /// Shared store: a SQLite file path (created if missing), or `redis://host:port/db`.
    #[arg(long)]
    pub store: String,
    /// Initial behaviour, a TOML file with the same fields as `GET /admin/behaviour`.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Seed of this instance's RNG (latency draws, error injection); random if omitted.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Largest request body in bytes; larger ones get 413.
    #[arg(long, default_value_t = 64 * 1024)]
    pub max_body: usize,
    /// How `GET /items/{id}` reads: from an in-memory view refreshed from the store, or from the store each time.
    #[arg(long, value_enum, default_value_t = ItemReadMode::View)]
    pub item_reads: ItemReadMode,
    /// With `--item-reads view`: how often other instances' item writes are pulled (e.g. `20ms`).
    #[arg(long, default_value = "20ms")]
    pub item_refresh: Dur,
    /// Runtime worker threads (default: the CPUs this process may run on).
    #[arg(long)]
    pub threads: Option<usize>,
    /// How long a graceful shutdown waits for open requests (e.g. `5s`).
    #[arg(long, default_value = "5s")]
    pub drain_timeout: Dur,
}

/// `--item-reads`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ItemReadMode {
    /// In-memory view: fast; other instances' writes visible within `--item-refresh`.
    View,
    /// Ask the store on every read: consistent across instances, slower.
    Store,
}

/// The `--help` example.
pub const EXAMPLE: &str = "\
Examples:
  # One instance on an OS-picked port over a SQLite store, 4 ms median / 25 ms p99:
  ninefold backend --instance api-0 --store /tmp/api.db --config slow.toml
  # where slow.toml holds:
  #   latency = { model = \"lognormal\", median = \"4ms\", p99 = \"25ms\" }
  #   errors = { rate = 0.01, status = 503 }

  # When it accepts connections it prints one JSON line on stdout:
  # {\"event\":\"ready\",\"role\":\"backend\",\"instance\":\"api-0\",\"addr\":…,\"admin\":…}
  # Change behaviour while it runs:
  curl -X PUT http://ADMIN/admin/behaviour -d '{\"health_failing\":true}'";

impl Args {
    /// Turn flags (and the config file) into a library config; every failure is bad input.
    pub fn to_config(&self) -> Result<Config, CliError> {
        if !self.admin_listen.ip().is_loopback() {
            return Err(CliError::BadInput(format!(
                "--admin-listen {}: the admin API must listen on a loopback address (127.0.0.1 or ::1)",
                self.admin_listen
            )));
        }
        if self.store.trim().is_empty() {
            return Err(CliError::BadInput(
                "--store: give a SQLite file path or a redis:// URL".to_owned(),
            ));
        }
        let behaviour = match &self.config {
            None => Behaviour::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path)
                    .map_err(|e| CliError::BadInput(format!("--config {}: {e}", path.display())))?;
                Behaviour::from_toml(&text)
                    .map_err(|e| CliError::BadInput(format!("--config {}: {e}", path.display())))?
            }
        };
        if let Err(e) = behaviour.compile() {
            let where_ = self
                .config
                .as_ref()
                .map_or_else(String::new, |p| format!("--config {}: ", p.display()));
            return Err(CliError::BadInput(format!("{where_}{e}")));
        }
        if self.item_refresh.get() < Duration::from_millis(1) {
            return Err(CliError::BadInput(
                "--item-refresh: must be at least 1ms".to_owned(),
            ));
        }
        if self.threads == Some(0) {
            return Err(CliError::BadInput(
                "--threads: must be at least 1".to_owned(),
            ));
        }
        let mut config = Config::new(self.instance.clone(), StoreSpec::parse(&self.store));
        config.behaviour = behaviour;
        config.seed = self.seed.unwrap_or_else(rand::random);
        config.max_body_bytes = self.max_body;
        config.drain_timeout = self.drain_timeout.get();
        config.item_reads = match self.item_reads {
            ItemReadMode::View => ItemReads::View {
                refresh: self.item_refresh.get(),
            },
            ItemReadMode::Store => ItemReads::Store,
        };
        Ok(config)
    }
}

/// Run one backend instance until SIGTERM/SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let config = args.to_config()?;
    init_logging();
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        rt.worker_threads(n);
    }
    let rt = rt
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(args, config))
}

async fn serve(args: Args, config: Config) -> anyhow::Result<ExitStatus> {
    let bind = |addr: SocketAddr, flag: &'static str| async move {
        TcpListener::bind(addr)
            .await
            .map_err(|e| CliError::BadInput(format!("{flag} {addr}: cannot listen: {e}")))
    };
    let listener = bind(args.listen, "--listen").await?;
    let admin = bind(args.admin_listen, "--admin-listen").await?;
    let instance = config.instance.clone();
    let seed = config.seed;
    let backend = Backend::open(config)
        .await
        .map_err(|e| CliError::BadInput(format!("backend {instance}: {e}")))?;
    let mut ready = ReadyLine::new("backend", listener.local_addr()?);
    ready.instance = Some(instance.clone());
    ready.admin = Some(admin.local_addr()?);
    ready
        .announce()
        .context("cannot write the ready line to stdout")?;
    tracing::info!(%instance, seed, addr = %ready.addr, "backend ready");

    let shutdown = CancellationToken::new();
    let signals = tokio::spawn(cancel_on_signal(shutdown.clone()));
    backend.serve(listener, Some(admin), shutdown.clone()).await;
    signals.abort();
    tracing::info!(%instance, "backend stopped");
    Ok(ExitStatus::Pass)
}

/// Cancel `token` on the first SIGTERM or SIGINT.
async fn cancel_on_signal(token: CancellationToken) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop the backend with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("signal received: draining");
    token.cancel();
}

/// Logs go to stderr (stdout carries the ready line); `RUST_LOG` filters, default `warn`.
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    // A second init (e.g. in tests) is harmless: keep the first subscriber.
    let _ = tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(filter)
        .try_init();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Args {
        let mut full = vec!["backend"];
        full.extend_from_slice(args);
        Args::try_parse_from(full).unwrap()
    }

    #[test]
    fn flags_become_a_config() {
        let a = parse(&[
            "--store",
            "redis://127.0.0.1:1/0",
            "--instance",
            "api-2",
            "--seed",
            "9",
        ]);
        let c = a.to_config().unwrap();
        assert_eq!(c.instance, "api-2");
        assert_eq!(c.seed, 9);
        assert_eq!(c.store, StoreSpec::Redis("redis://127.0.0.1:1/0".into()));
        assert_eq!(
            c.item_reads,
            ItemReads::View {
                refresh: Duration::from_millis(20)
            }
        );
    }

    #[test]
    fn bad_flags_are_bad_input() {
        let public_admin = parse(&["--store", "x.db", "--admin-listen", "0.0.0.0:0"]);
        assert!(
            matches!(public_admin.to_config(), Err(CliError::BadInput(m)) if m.contains("loopback"))
        );
        let missing = parse(&["--store", "x.db", "--config", "/nonexistent/behaviour.toml"]);
        assert!(
            matches!(missing.to_config(), Err(CliError::BadInput(m)) if m.contains("behaviour.toml"))
        );
        assert!(
            Args::try_parse_from(["backend", "--store", "x", "--item-refresh", "soon"]).is_err()
        );
    }
}
