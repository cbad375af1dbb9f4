//! Runs the reference gateway from flags, for benchmarks until the lead wires
//! `ninefold gateway --config FILE`. Prints
//! `{"event":"ready","role":"gateway","addr":…,"admin":…}` when it accepts connections,
//! and, with `--jwt-secret`, a `{"event":"token","token":…}` line with a valid HS256 token
//! for tenant `bench`.
//!
//! ```text
//! cargo run --release -p reference-gateway --example bench_gateway -- \
//!     --upstream 127.0.0.1:9001 --upstream 127.0.0.1:9002 \
//!     [--jwt-secret s3cret --plan-rate 1000000 --plan-burst 1000000] [--balance least-request]
//! ```

// println! is right here: a bench tool: its ready/token lines on stdout are read by its script.
#![allow(clippy::disallowed_macros)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Parser;
use reference_gateway::{
    Algorithm, AuthConfig, Balance, Config, Gateway, Plan, RouteConfig, TenantConfig,
    UpstreamConfig,
};
use tokio_util::sync::CancellationToken;

/// The same allocator as the `ninefold` binary, so this measures what ships.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
struct Args {
    /// Data-plane address.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// Admin address.
    #[arg(long, default_value = "127.0.0.1:0")]
    admin: SocketAddr,
    /// Upstream instance (repeat).
    #[arg(long, required = true)]
    upstream: Vec<SocketAddr>,
    /// Enable HS256 JWT auth with this secret.
    #[arg(long)]
    jwt_secret: Option<String>,
    /// Plan rate for tenant `bench` (requests/s).
    #[arg(long, default_value_t = 1e9)]
    plan_rate: f64,
    /// Plan burst for tenant `bench`.
    #[arg(long, default_value_t = 1_000_000)]
    plan_burst: u32,
    /// round-robin | least-request | random.
    #[arg(long, default_value = "round-robin")]
    balance: String,
    /// Worker threads (1 = current-thread runtime, like one nginx worker).
    #[arg(long, default_value_t = 1)]
    threads: usize,
    /// Write one JSON access-log line per request to stderr (the gateway's own
    /// non-blocking writer, as `ninefold gateway --access-log stderr`).
    #[arg(long)]
    access_log: bool,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // The same non-blocking, lossy writer as `ninefold gateway`, so "logs on" measures it.
    let _log = if args.access_log {
        Some(reference_gateway::logging::init(
            &reference_gateway::logging::AccessLog::Stderr,
            "info",
        )?)
    } else {
        None
    };
    let rt = if args.threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(args.threads)
            .enable_all()
            .build()?
    };
    rt.block_on(run(args))
}

async fn run(args: Args) -> anyhow::Result<()> {
    let mut upstream = UpstreamConfig::new(args.upstream.clone());
    upstream.balance = match args.balance.as_str() {
        "round-robin" => Balance::RoundRobin,
        "least-request" => Balance::LeastRequest,
        "random" => Balance::Random,
        other => anyhow::bail!("--balance: unknown {other:?}"),
    };
    let mut config = Config::new(
        BTreeMap::from([("api".to_string(), upstream)]),
        vec![RouteConfig::new("/", "api")],
    );
    config.access_log = args.access_log;
    let mut token = None;
    if let Some(secret) = &args.jwt_secret {
        config.auth = Some(AuthConfig::hmac(Algorithm::HS256, secret.as_bytes()));
        config.tenants.push(TenantConfig {
            id: "bench".into(),
            plan: Plan {
                rate: args.plan_rate,
                burst: NonZeroU32::new(args.plan_burst).unwrap_or(NonZeroU32::MIN),
                quota: None,
            },
        });
        let exp = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() + 86_400;
        token = Some(jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &serde_json::json!({ "tenant_id": "bench", "exp": exp }),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
        )?);
    }
    let listener = tokio::net::TcpListener::bind(args.listen).await?;
    let admin = tokio::net::TcpListener::bind(args.admin).await?;
    let shutdown = CancellationToken::new();
    let gw = Gateway::new(config, shutdown.clone())?;
    println!(
        "{}",
        serde_json::json!({"event": "ready", "role": "gateway",
            "addr": listener.local_addr()?.to_string(), "admin": admin.local_addr()?.to_string()})
    );
    if let Some(t) = token {
        println!("{}", serde_json::json!({"event": "token", "token": t}));
    }
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            let _ = tokio::signal::ctrl_c().await;
            shutdown.cancel();
        }
    });
    #[cfg(unix)]
    tokio::spawn({
        let shutdown = shutdown.clone();
        async move {
            if let Ok(mut term) =
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            {
                term.recv().await;
                shutdown.cancel();
            }
        }
    });
    gw.serve(listener, admin).await?;
    Ok(())
}
