//! `ninefold attack URL`: a quick run without a scenario, like vegeta or oha.
//!
//! With `--rate` it is open loop at that rate (latency from the intended
//! instant); without, closed loop as fast as the connections allow.

use std::num::{NonZeroU32, NonZeroU64, NonZeroUsize};
use std::time::{Duration, Instant};

use http::{HeaderName, HeaderValue, Method, Uri};
use serde::Serialize;
use tokio_util::sync::CancellationToken;

mod judge;
mod stream;
mod text;

use judge::judge;

use super::CliError;
use crate::ExitStatus;
use crate::metrics::{OutcomeCounts, Percentiles, Recording};
use crate::scenario::ClientTls;
use crate::scenario::human::parse_duration;
use crate::scenario::template::Template;
use crate::scenario::{Arrivals, Executor, HttpProtocol, RequestTemplate, TokenKind, TrafficPhase};
use crate::summary::breakdown::ClassBreakdown;
use crate::traffic::{Target, TrafficOptions, TrafficPlan, run_traffic};

/// Arguments of `ninefold attack`.
#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:\n  \
    ninefold attack http://127.0.0.1:8080/items/1 --rate 1000 --duration 30s\n  \
    ninefold attack http://127.0.0.1:8080/orders --method POST --body '{\"sku\": {rand:1..50}}' \\\n      \
    --header 'Content-Type: application/json' --rate 200 --json\n  \
    ninefold attack http://127.0.0.1:8080/ -c 50 -d 10s        # closed loop, flat out\n  \
    ninefold attack http://127.0.0.1:8080/ -c 50 -n 100000     # closed loop, 100k requests\n\n\
    ninefold attack http://127.0.0.1:8080/health -n 200 --max-error-rate 1%   # CI smoke gate\n  \
    ninefold attack https://api.internal:8443/ --ca-file ca.pem -d 10s    # TLS, a private CA\n  \
    ninefold attack https://api.internal/ --cert me.pem --key me.key      # mutual TLS\n  \
    ninefold attack https://api.example.com/ --resolve-every 5s -d 5m     # follow a DNS failover\n  \
    ninefold attack http://127.0.0.1:8080/ -d 1m --metrics-listen 127.0.0.1:9464  # /metrics live\n\n\
    https:// trusts the system's roots plus --ca-file; --insecure verifies no certificate\n\
    (the summary says so). Connection set-up (TCP connect, TLS handshake) is timed apart.\n\n\
    Path, headers and body take template variables: {seq}, {rand:A..B}, {uuid}.\n\n\
    Exit status: 0 the target answered and at most --max-error-rate of the requests\n\
    failed · 1 more failed than that (any status outside 2xx/3xx, timeouts, connection\n\
    errors) · 2 bad flags · 3 no answer at all (the target could not be reached; no\n\
    latency is printed, since none was measured) · 5 the generator could not keep the\n\
    schedule (drops, or rate well below target).")]
pub struct Args {
    /// The URL to send requests to (http://host:port/path or https://host:port/path).
    pub url: String,
    /// Requests per second (open loop). Without it: closed loop, as fast as the connections allow.
    #[arg(long, short = 'r')]
    pub rate: Option<f64>,
    /// Connections (and, closed loop, concurrent users).
    #[arg(long, short = 'c', default_value_t = 50)]
    pub connections: u32,
    /// How long to send, e.g. 10s, 1m [default: 10s, or as long as --requests takes].
    #[arg(long, short = 'd')]
    pub duration: Option<String>,
    /// Stop after this many requests (or at --duration, whichever comes first), like `oha -n`.
    #[arg(long, short = 'n')]
    pub requests: Option<NonZeroU64>,
    /// A request header, 'Name: value' (repeatable).
    #[arg(long = "header", short = 'H')]
    pub headers: Vec<String>,
    /// The request method.
    #[arg(long, short = 'm', default_value = "GET")]
    pub method: String,
    /// The request body.
    #[arg(long, short = 'b')]
    pub body: Option<String>,
    /// Per-request timeout.
    #[arg(long, default_value = "5s")]
    pub timeout: String,
    /// Poisson arrivals instead of evenly spaced ones (with --rate).
    #[arg(long)]
    pub poisson: bool,
    /// Worker threads (default: one per available core).
    #[arg(long)]
    pub workers: Option<NonZeroUsize>,
    /// Requests waiting or in flight beyond which new ones are dropped (and counted).
    #[arg(long)]
    pub max_in_flight: Option<NonZeroU32>,
    /// Seed for template variables and Poisson arrivals.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The largest share of requests that may fail (any status outside 2xx/3xx, a
    /// timeout, a connection error) for exit 0: `1%` or `0.01`; beyond it, exit 1.
    #[arg(long, default_value = "0", value_name = "RATE")]
    pub max_error_rate: String,
    /// Print one JSON object instead of a human summary.
    #[arg(long)]
    pub json: bool,
    /// No live dashboard even on a terminal (the plain progress line).
    #[arg(long)]
    pub no_tui: bool,
    /// The HTTP client that sends the load: `ninefold` (its own, fast HTTP/1.1
    /// client) or `hyper` (hyper-util's pooled client, an independent HTTP stack
    /// to cross-check figures with; more CPU per request).
    #[arg(long, value_enum, default_value_t = crate::traffic::ClientKind::Ninefold)]
    pub client: crate::traffic::ClientKind,
    /// Speak HTTP/2: h2c (prior knowledge) to an http:// URL, ALPN h2 over TLS to an
    /// https:// one (a server that does not agree is refused). --connections are
    /// HTTP/2 connections, each carrying up to --h2-streams requests at once; closed
    /// loop, connections × streams users.
    #[arg(long, conflicts_with = "client")]
    pub h2: bool,
    /// With --h2: the most streams open at once per connection (never above the
    /// server's SETTINGS_MAX_CONCURRENT_STREAMS).
    #[arg(long, value_name = "N", default_value_t = crate::scenario::DEFAULT_MAX_STREAMS, requires = "h2")]
    pub h2_streams: u32,
    /// HOST:PORT:CONNECT-HOST:CONNECT-PORT, as curl's --connect-to: connect there
    /// for a URL of HOST:PORT (the Host header and TLS server name stay the URL's).
    /// Repeatable; the first that applies wins.
    #[arg(long = "connect-to", value_name = "HOST:PORT:CHOST:CPORT")]
    pub connect_to: Vec<String>,
    /// How often a hostname in the URL (after --connect-to) is resolved again while
    /// the attack runs, as `[client] resolve_every`: new connections then go round
    /// robin over every address it has (a DNS failover shows). `0s`: resolved once.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub resolve_every: String,
    /// PEM certificates to trust for https:// besides the system's roots (a private CA).
    #[arg(long, value_name = "FILE")]
    pub ca_file: Option<std::path::PathBuf>,
    /// PEM client certificate chain for mutual TLS (with --key).
    #[arg(long, value_name = "FILE", requires = "key")]
    pub cert: Option<std::path::PathBuf>,
    /// PEM private key of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub key: Option<std::path::PathBuf>,
    /// Do not verify the server's TLS certificate (loudly noted in the output).
    #[arg(long, conflicts_with = "ca_file")]
    pub insecure: bool,
    #[command(flatten)]
    pub stream: stream::StreamArgs,
}

/// What `--json` prints.
#[derive(Debug, Serialize)]
pub struct AttackSummary {
    pub url: String,
    pub method: String,
    /// `open` (with --rate) or `closed`.
    pub mode: &'static str,
    pub target_rate: Option<f64>,
    pub connections: u32,
    /// `h2` with --h2 (absent for HTTP/1.1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<&'static str>,
    /// With --h2: the stream cap per connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub h2_streams: Option<u32>,
    /// The HTTP client that sent the load: `ninefold` (its own) or `hyper`
    /// (`--client hyper`, a cross-check).
    pub client: &'static str,
    /// Requests the run asked for, dropped ones included.
    pub requests: u64,
    /// Requests that got an HTTP answer (any status).
    pub answered: u64,
    pub duration_s: f64,
    /// Requests sent per second over `duration_s`.
    pub rps: f64,
    pub outcomes: OutcomeCounts,
    pub statuses: std::collections::BTreeMap<u16, u64>,
    /// Outcomes by status, with an example body of each error status (the
    /// same shape as `breakdown` in a run's summary.json).
    pub breakdown: Vec<ClassBreakdown>,
    /// Share of the requests sent whose outcome is bad (`null` when none was sent).
    pub error_rate: Option<f64>,
    /// `--max-error-rate`, as a fraction.
    pub max_error_rate: f64,
    /// From the intended send instant (coordinated-omission free); `null` when
    /// nothing answered.
    pub latency_ms: Option<Percentiles>,
    /// From the actual send; `null` when nothing answered.
    pub service_time_ms: Option<Percentiles>,
    /// How late the generator itself was for its own schedule (open loop; `null`
    /// otherwise, or when nothing was dispatched).
    pub dispatch_lag_ms: Option<Percentiles>,
    pub dropped: u64,
    /// False when the generator could not keep the schedule (exit 5).
    pub kept_schedule: bool,
    /// `pass` (0), `errors` (1: above --max-error-rate), `unreachable` (3: no
    /// answer at all), `interrupted` (6: stopped by SIGINT/SIGTERM, verdict
    /// withheld) or `invalid` (5: the generator fell behind).
    pub verdict: &'static str,
    pub problems: Vec<String>,
    /// Connection set-up times of the connections opened (absent with
    /// `--client hyper`, which does not time them apart).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connection_setup_ms: Option<SetupSummary>,
    /// `--insecure`: the server's certificate was not verified (absent otherwise).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tls_insecure: bool,
}

/// Connection set-up, milliseconds.
#[derive(Debug, Serialize)]
pub struct SetupSummary {
    pub tcp_connect: Percentiles,
    /// Absent without TLS.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tls_handshake: Option<Percentiles>,
}

impl SetupSummary {
    fn of(c: &crate::metrics::recording::ConnectionSetup) -> Self {
        SetupSummary {
            tcp_connect: c.tcp_connect.summary_ms(),
            tls_handshake: c
                .tls_handshake
                .as_ref()
                .map(crate::metrics::Hist::summary_ms),
        }
    }
}

/// `--duration` when neither it nor `--requests` is given.
const DEFAULT_DURATION: Duration = Duration::from_secs(10);
/// The longest run `--requests` alone may ask for.
const MAX_DURATION: Duration = Duration::from_secs(24 * 3600);

fn bad(msg: impl Into<String>) -> anyhow::Error {
    CliError::BadInput(msg.into()).into()
}

struct Request {
    uri: Uri,
    method: Method,
    headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    tls: ClientTls,
    connect_to: Vec<crate::scenario::ConnectTo>,
}

fn parse_request(args: &Args) -> anyhow::Result<Request> {
    let (scheme, authority, uri) =
        crate::traffic::url::parse(&args.url).map_err(|e| bad(e.to_string()))?;
    HeaderValue::try_from(authority.as_str())
        .map_err(|_| bad(format!("`{authority}` is not a valid Host")))?;
    let tls = ClientTls {
        ca_file: args.ca_file.clone(),
        cert_file: args.cert.clone(),
        key_file: args.key.clone(),
        insecure: args.insecure,
    };
    let flag = |key: &str| match key {
        "ca_file" => "--ca-file",
        "cert_file" => "--cert",
        _ => "--key",
    };
    if let Some((key, message)) = crate::traffic::tls::check(&tls).into_iter().next() {
        return Err(bad(format!("{}: {message}", flag(key))));
    }
    if scheme == crate::traffic::url::Scheme::Http && !tls.is_default() {
        return Err(bad(format!(
            "--ca-file, --cert, --key and --insecure are for https:// URLs; `{}` is plain http://",
            args.url
        )));
    }
    let method = Method::from_bytes(args.method.as_bytes())
        .map_err(|_| bad(format!("`{}` is not an HTTP method", args.method)))?;
    let mut headers = Vec::new();
    for h in &args.headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| bad(format!("header `{h}` must look like 'Name: value'")))?;
        let name = HeaderName::try_from(name.trim())
            .map_err(|_| bad(format!("`{}` is not a header name", name.trim())))?;
        let value = Template::parse(value.trim()).map_err(|e| bad(format!("header `{h}`: {e}")))?;
        headers.push((name, from_env(value, &format!("header `{h}`"))?));
    }
    let body = args
        .body
        .as_deref()
        .map(Template::parse)
        .transpose()
        .map_err(|e| bad(format!("--body: {e}")))?
        .map(|b| from_env(b, "--body"))
        .transpose()?;
    let connect_to = args
        .connect_to
        .iter()
        .map(|c| {
            crate::scenario::ConnectTo::parse(c).map_err(|e| bad(format!("--connect-to: {e}")))
        })
        .collect::<Result<_, _>>()?;
    Ok(Request {
        uri,
        method,
        headers,
        body,
        tls,
        connect_to,
    })
}

/// How long the attack runs: `--duration`, or long enough for `--requests`.
fn duration(args: &Args) -> anyhow::Result<Duration> {
    Ok(match (&args.duration, args.requests) {
        (Some(d), _) => parse_duration(d).map_err(|e| bad(format!("--duration: {e}")))?,
        (None, None) => DEFAULT_DURATION,
        // Bounded by the request count: open loop needs n / rate seconds, a closed
        // loop as long as the target takes (capped).
        (None, Some(n)) => match args.rate {
            Some(rate) if rate.is_finite() && rate > 0.0 => {
                Duration::from_secs_f64((n.get() as f64 / rate).min(MAX_DURATION.as_secs_f64()))
                    + Duration::from_secs(1)
            }
            _ => MAX_DURATION,
        },
    })
}

/// Open loop at `--rate`, or `users` closed-loop users.
fn executor(args: &Args, users: NonZeroU32) -> anyhow::Result<Executor> {
    Ok(match args.rate {
        Some(rate) if !(rate.is_finite() && rate > 0.0) => {
            return Err(bad(format!("--rate must be a positive number, got {rate}")));
        }
        Some(rate) => Executor::ConstantArrivalRate {
            rate,
            arrivals: if args.poisson {
                Arrivals::Poisson
            } else {
                Arrivals::Uniform
            },
        },
        None => Executor::ConstantVus {
            vus: users,
            think_time: Duration::ZERO,
        },
    })
}

fn phase(args: &Args, req: &Request) -> anyhow::Result<TrafficPhase> {
    let duration = duration(args)?;
    let timeout = parse_duration(&args.timeout).map_err(|e| bad(format!("--timeout: {e}")))?;
    if duration.is_zero() || timeout.is_zero() {
        return Err(bad("--duration and --timeout must be longer than zero"));
    }
    let connections =
        NonZeroU32::new(args.connections).ok_or_else(|| bad("--connections must be at least 1"))?;
    let streams =
        NonZeroU32::new(args.h2_streams).ok_or_else(|| bad("--h2-streams must be at least 1"))?;
    // HTTP/2: every stream of every connection has its user.
    let users = if args.h2 {
        connections.saturating_mul(streams)
    } else {
        connections
    };
    let executor = executor(args, users)?;
    // Default cap: all that could legitimately be outstanding within one timeout.
    let cap = args.max_in_flight.map_or_else(
        || {
            let outstanding = args.rate.unwrap_or(0.0) * timeout.as_secs_f64();
            (outstanding.ceil() as u32)
                .saturating_add(users.get())
                .max(1000)
        },
        NonZeroU32::get,
    );
    let path = req.uri.path_and_query().map_or("/", |p| p.as_str());
    Ok(TrafficPhase {
        flow: false,
        name: "attack".into(),
        start: Duration::ZERO,
        duration,
        executor,
        tenants: Vec::new(),
        requests: vec![RequestTemplate {
            check: None,
            extract: Vec::new(),
            method: req.method.clone(),
            path: from_env(
                Template::parse(path).map_err(|e| bad(format!("URL path: {e}")))?,
                "URL path",
            )?,
            headers: req.headers.clone(),
            body: req.body.clone(),
            idempotency_key: false,
            weight: NonZeroU32::MIN,
            expect: Vec::new(),
            token: TokenKind::Valid,
            integrity: None,
        }],
        expect: Vec::new(),
        timeout,
        connections,
        max_in_flight: NonZeroU32::new(cap).unwrap_or(NonZeroU32::MIN),
        client_retries: 0,
        protocol: args.h2.then_some(HttpProtocol::H2),
        max_streams: args.h2.then_some(streams),
    })
}

/// The HTTP version `--h2` asks for.
fn protocol(args: &Args) -> HttpProtocol {
    if args.h2 {
        HttpProtocol::H2
    } else {
        HttpProtocol::H1
    }
}

/// Run `ninefold attack`.
// Long: the attack's sequence in one place: flags to a plan, the live readers, the run, the verdict.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let req = parse_request(&args)?;
    let phase = phase(&args, &req)?;
    let max_error_rate = super::parse_fraction("--max-error-rate", &args.max_error_rate, Some(1.0))
        .map_err(CliError::BadInput)?;
    let resolve_every =
        parse_duration(&args.resolve_every).map_err(|e| bad(format!("--resolve-every: {e}")))?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let targets: Vec<Target> = runtime
        .block_on(crate::traffic::url::targets_via(
            &args.url,
            &req.tls,
            protocol(&args),
            &req.connect_to,
            resolve_every,
        ))
        .map_err(|e| bad(e.to_string()))?;
    if args.insecure {
        eprintln!(
            "ninefold attack: WARNING: --insecure: the server's TLS certificate is NOT verified; anyone on the path could answer in its place"
        );
    }
    let shutdown = CancellationToken::new();
    let abort = CancellationToken::new();
    let signals = {
        let _runtime = runtime.enter();
        super::signals::Signals::new()?
    };
    // The exporters start (and name their address) before the dashboard takes the terminal.
    let live = crate::traffic::live::LiveWatch::new();
    let exporter = runtime.block_on(stream::start(&args.stream, &live))?;
    let plain = args.json || args.no_tui;
    let watching = super::live::for_attack(&args.url, plain, &shutdown, live);
    let recording = runtime.block_on(async {
        let signal = tokio::spawn(signals.watch(shutdown.clone(), abort.clone()));
        let traffic_done = CancellationToken::new();
        let told = watching.tell_generator(&traffic_done);
        let plan = TrafficPlan {
            phases: vec![phase],
            tenants: Vec::new(),
            auth: None,
            seed: args.seed,
            run_start: Instant::now() + Duration::from_millis(50),
        };
        let options = TrafficOptions {
            workers: args.workers,
            progress: !args.json && !watching.tui,
            max_requests: args.requests,
            client: args.client,
            // The live feed for the dashboard, the events and the exporters;
            // `--json` alone keeps to the recording (its figures carry the lag)
            // and prints no event.
            live: (!args.json || args.stream.is_on()).then(|| watching.live.clone()),
            ..TrafficOptions::default()
        };
        let result = tokio::select! {
            r = run_traffic(plan, targets, options, shutdown.clone()) => Some(r),
            () = abort.cancelled() => None,
        };
        signal.abort();
        traffic_done.cancel();
        if let Some(told) = told {
            let _ = told.await;
        }
        result.transpose()
    });
    watching.finish();
    // The last push and the linger, the dashboard gone (its warnings stay
    // readable); an aborted attack stops at once.
    if !matches!(recording, Ok(None)) {
        runtime.block_on(stream::finish(exporter, &args.stream.export.options()));
    }
    let Some(recording) = recording? else {
        return Ok(ExitStatus::Interrupted);
    };
    let interrupted = shutdown.is_cancelled();
    let summary = summarize(&args, &req, &recording, max_error_rate, interrupted)?;
    if args.json {
        super::print_out(&(serde_json::to_string_pretty(&summary)? + "\n"))?;
    } else {
        super::print_out(&text::human(&summary))?;
    }
    if summary.verdict == "unreachable" {
        eprintln!(
            "ninefold attack: the target could not be reached: no answer from {} to any of {} requests ({})",
            summary.url,
            summary.requests,
            text::outcome_list(&summary.outcomes)
        );
    }
    Ok(match summary.verdict {
        "unreachable" => ExitStatus::RunBroke,
        "interrupted" => ExitStatus::Interrupted,
        "errors" => ExitStatus::SloFailed,
        "invalid" => ExitStatus::Invalid,
        _ => ExitStatus::Pass,
    })
}

/// Judge and summarize a finished attack.
fn summarize(
    args: &Args,
    req: &Request,
    r: &Recording,
    max_error_rate: f64,
    interrupted: bool,
) -> anyhow::Result<AttackSummary> {
    let outcomes = r.outcomes();
    let mut statuses = std::collections::BTreeMap::new();
    for key in &r.keys {
        for (s, n) in &key.statuses {
            *statuses.entry(*s).or_insert(0) += n;
        }
    }
    let answered: u64 = statuses.values().sum();
    let measured = |h: crate::metrics::Hist| (!h.0.is_empty()).then(|| h.summary_ms());
    let lag = r
        .phases
        .first()
        .filter(|p| p.open_loop)
        .and_then(|p| (!p.dispatch_lag.0.is_empty()).then(|| p.dispatch_lag.summary_ms()));
    let duration_s = r.duration_s.max(1e-9);
    let rps = outcomes.sent() as f64 / duration_s;
    let (problems, error_rate, verdict) = judge(
        args,
        &outcomes,
        r.dropped(),
        rps,
        answered,
        max_error_rate,
        interrupted,
    );
    let kept_schedule = problems.is_empty();
    Ok(AttackSummary {
        url: args.url.clone(),
        method: req.method.to_string(),
        mode: if args.rate.is_some() {
            "open"
        } else {
            "closed"
        },
        target_rate: args.rate,
        connections: args.connections,
        protocol: args.h2.then_some("h2"),
        h2_streams: args.h2.then_some(args.h2_streams),
        client: args.client.name(),
        requests: outcomes.total(),
        answered,
        duration_s,
        rps,
        breakdown: crate::summary::breakdown::breakdown(r),
        outcomes,
        statuses,
        error_rate,
        max_error_rate,
        latency_ms: measured(r.latency()?),
        service_time_ms: measured(r.service()?),
        dispatch_lag_ms: lag,
        dropped: r.dropped(),
        kept_schedule,
        verdict,
        problems,
        connection_setup_ms: r.connection_setup.as_ref().map(SetupSummary::of),
        tls_insecure: r.tls_insecure,
    })
}

/// `t` with its `{env:NAME}` values read from the environment; an unset one is refused.
fn from_env(mut t: Template, what: &str) -> Result<Template, CliError> {
    let unset = t.resolve_env(&crate::scenario::validate::process_env);
    match unset.first() {
        None => Ok(t),
        Some(name) => Err(CliError::BadInput(format!(
            "{what}: environment variable `{name}` is not set (read by `{{env:{name}}}`)"
        ))),
    }
}
