//! `ninefold gateway --config FILE`: run the reference gateway alone, from a
//! file with the same `[gateway]`, `[upstreams]` (with `targets`) and
//! `[[tenants]]` sections as a scenario. SIGHUP reloads the file without
//! dropping requests; a bad file is refused with its location and the old
//! configuration keeps serving. SIGTERM drains.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

use anyhow::Context;
use reference_gateway as gw;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::scenario::load::load_gateway_file;
use crate::scenario::model as m;
use crate::scenario::validate::GatewayFile;
use crate::topology::ready::ReadyLine;

/// Run the reference gateway from a configuration file.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold gateway --config gateway.toml --listen 127.0.0.1:8080\n  # gateway.toml:\n  #   [gateway.auth]\n  #   algorithm = \"HS256\"\n  #   secret = \"dev-secret\"\n  #   [[gateway.routes]]\n  #   path = \"/items\"\n  #   upstream = \"api\"\n  #   [upstreams.api]\n  #   targets = [\"127.0.0.1:9001\", \"127.0.0.1:9002\"]\n  #   [[tenants]]\n  #   id = \"acme\"\n  #   plan = { rate = 100, burst = 200 }\n  kill -HUP <pid>   # reload gateway.toml\n\nWhen it accepts connections it prints one JSON line on stdout:\n  {\"event\":\"ready\",\"role\":\"gateway\",\"addr\":\"127.0.0.1:PORT\",\"admin\":\"127.0.0.1:PORT\"}"
)]
pub struct Args {
    /// Configuration file (TOML; `ninefold schema --gateway` describes it).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// Where clients connect (`:0` lets the OS pick).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Admin listener: /metrics, /healthz, /readyz.
    #[arg(long, default_value = "127.0.0.1:0")]
    pub admin_listen: SocketAddr,
    /// Runtime worker threads (default: one per core).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Where the JSON access log goes: `off`, `stderr`, or a file (appended to). Lines go
    /// through a bounded queue to a writer thread; when the reader falls behind, lines are
    /// dropped and counted in /metrics (`gateway_log_lines_dropped_total`), never waited for.
    #[arg(long, value_name = "off|stderr|FILE", default_value = "stderr")]
    pub access_log: gw::logging::AccessLog,
}

/// Map a validated gateway file onto the gateway's configuration.
pub fn to_config(file: &GatewayFile) -> Result<gw::Config, String> {
    let g = &file.gateway;
    let upstreams = file
        .upstreams
        .iter()
        .map(|(name, u)| Ok((name.clone(), upstream_config(name, u)?)))
        .collect::<Result<_, String>>()?;
    let routes = g.routes.iter().map(|r| r.config.clone()).collect();
    let mut config = gw::Config::new(upstreams, routes);
    config.request_timeout = g.request_timeout;
    config.server.tls = g.tls.clone();
    if let Some(n) = usize::try_from(g.max_body_bytes)
        .ok()
        .and_then(std::num::NonZeroUsize::new)
    {
        config.server.max_body_bytes = n;
    }
    if let Some(a) = &g.auth {
        config.auth = Some(auth_config(a));
        config.transform.keep_authorization = a.forward_authorization;
    }
    if let Some(c) = &g.cache {
        config.cache.ttl = c.ttl;
        config.cache.max_entries = c.max_entries;
        config.cache.vary = c
            .vary
            .iter()
            .map(|h| {
                http::HeaderName::from_bytes(h.as_bytes())
                    .map_err(|_| format!("gateway.cache.vary: bad header `{h}`"))
            })
            .collect::<Result<_, _>>()?;
    }
    config.rate_limit.store = match &g.rate_limit.store {
        m::LimiterStore::Local => gw::RateLimitStoreConfig::Local,
        m::LimiterStore::Redis(Some(url)) => gw::RateLimitStoreConfig::Redis { url: url.clone() },
        m::LimiterStore::Redis(None) => {
            return Err("gateway.rate_limit.store: \"redis\" without a URL only works under `ninefold run`; give \"redis://HOST:PORT\"".into());
        }
    };
    config.rate_limit.fail_open = g.rate_limit.fail_open;
    config.rate_limit.unknown_tenant = g.unknown_tenant.clone();
    if let Some(budget) = g
        .routes
        .iter()
        .filter_map(|r| r.retry_budget)
        .reduce(f64::max)
    {
        config.retry_budget.ratio = budget;
    }
    config.tenants = file
        .tenants
        .iter()
        .map(|t| gw::TenantConfig {
            id: t.id.clone(),
            plan: t.plan,
        })
        .collect();
    config.api_keys = g
        .api_keys
        .iter()
        .map(|k| gw::ApiKeyConfig {
            key: k.key.render_static(),
            tenant: k.tenant.clone(),
        })
        .collect();
    config.validate().map_err(|e| e.to_string())?;
    Ok(config)
}

/// A pool of listed `targets`, each resolved to one address.
fn upstream_config(name: &str, u: &m::Upstream) -> Result<gw::UpstreamConfig, String> {
    let m::Instances::Targets(targets) = &u.instances else {
        return Err(format!(
            "upstreams.{name}: a gateway configuration lists `targets`"
        ));
    };
    let mut addrs = Vec::new();
    for t in targets {
        let addr = t
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| format!("upstreams.{name}.targets: cannot resolve `{t}`"))?;
        addrs.push(addr);
    }
    let mut cfg = gw::UpstreamConfig::new(addrs);
    cfg.zones = u.zones.clone();
    cfg.balance = u.balance.clone();
    cfg.health = Some(u.health.clone());
    cfg.outlier = u.outlier.clone();
    cfg.tls = u.tls.clone();
    Ok(cfg)
}

fn auth_config(a: &m::Auth) -> gw::AuthConfig {
    let algorithm = match a.algorithm {
        m::JwtAlgorithm::HS256 => gw::Algorithm::HS256,
        m::JwtAlgorithm::HS384 => gw::Algorithm::HS384,
        m::JwtAlgorithm::HS512 => gw::Algorithm::HS512,
        m::JwtAlgorithm::RS256 => gw::Algorithm::RS256,
        m::JwtAlgorithm::PS256 => gw::Algorithm::PS256,
        m::JwtAlgorithm::ES256 => gw::Algorithm::ES256,
        m::JwtAlgorithm::EdDSA => gw::Algorithm::EdDSA,
    };
    let mut auth = gw::AuthConfig::hmac(algorithm, Vec::new());
    auth.key = match &a.key {
        m::KeySource::Secret(s) => gw::KeySource::Secret(s.render_static().into_bytes()),
        m::KeySource::KeyFile(p) => gw::KeySource::PemFile(p.clone()),
        m::KeySource::JwksFile(p) => gw::KeySource::JwksFile(p.clone()),
    };
    auth.issuer = a.issuer.clone();
    auth.audience = a.audience.clone();
    auth.tenant_claim = a.tenant_claim.clone();
    auth.leeway = a.leeway;
    auth
}

/// Read, validate and map the file; the message names every problem.
pub fn load(path: &Path) -> Result<gw::Config, String> {
    let file = load_gateway_file(path).map_err(|e| e.to_string())?;
    to_config(&file).map_err(|e| format!("{}: {e}", path.display()))
}

/// Run the gateway until SIGTERM/SIGINT.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut config = load(&args.config).map_err(CliError::BadInput)?;
    config.access_log = args.access_log.enabled();
    // JSON access log (tracing target `access`) and warnings, through bounded non-blocking
    // writers: a stalled stderr reader drops lines, it never blocks a request.
    let _logs = gw::logging::init(&args.access_log, "info")
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.threads {
        builder.worker_threads(n.max(1));
    }
    let runtime = builder
        .enable_all()
        .build()
        .context("starting the runtime")?;
    runtime.block_on(serve(args, config))
}

async fn serve(args: Args, config: gw::Config) -> anyhow::Result<ExitStatus> {
    let listener = TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::BadInput(format!("cannot listen on {}: {e}", args.listen)))?;
    let admin = TcpListener::bind(args.admin_listen)
        .await
        .map_err(|e| CliError::BadInput(format!("cannot listen on {}: {e}", args.admin_listen)))?;
    let shutdown = CancellationToken::new();
    let gateway = gw::Gateway::start(config, shutdown.clone())
        .await
        .map_err(|e| CliError::BadInput(e.to_string()))?;
    let handle = gateway.handle();
    let mut ready = ReadyLine::new("gateway", listener.local_addr()?);
    ready.admin = Some(admin.local_addr()?);
    let serving = tokio::spawn(gateway.serve(listener, admin));
    ready.announce().context("printing the ready line")?;

    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hup = signal(SignalKind::hangup())?;
    loop {
        tokio::select! {
            _ = term.recv() => break,
            _ = int.recv() => break,
            _ = hup.recv() => match load(&args.config).and_then(|mut c| {
                c.access_log = args.access_log.enabled();
                handle.reload(c).map_err(|e| e.to_string())
            }) {
                // Through the log writer: a stalled stderr must not block a worker here either.
                Ok(()) => tracing::info!("ninefold gateway: reloaded {}", args.config.display()),
                Err(e) => tracing::warn!("ninefold gateway: reload refused, the previous configuration keeps serving:\n{e}"),
            },
        }
    }
    shutdown.cancel();
    match serving.await {
        Ok(Ok(())) => Ok(ExitStatus::Pass),
        Ok(Err(e)) => Err(anyhow::anyhow!(e).context("the gateway stopped with an error")),
        Err(e) => Err(anyhow::anyhow!("the gateway task failed: {e}")),
    }
}
