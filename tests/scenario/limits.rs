//! Issue 18, case 11: `validate` knows every limit `run` enforces. Before,
//! `instances = 65` passed validate and failed at run time (the gateway balances
//! over at most 64), and `rate = 1e12` passed and hung the run.
//!
//! Each limit is checked twice: `validate` refuses one past it with a located
//! message naming the limit (and accepts the limit itself), and the component
//! that enforces it at run time accepts the limit and refuses one past it, so a
//! limit changed there fails here.

use std::net::SocketAddr;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use ninefold::scenario::load::parse_str;
use ninefold::scenario::validate::limits::*;
use reference_gateway as gw;

const BASE: &str = r#"name = "t"
duration = "10s"

[[gateway.routes]]
path = "/"
upstream = "api"

[upstreams.api]
instances = 2

[[tenants]]
id = "acme"
plan = { rate = 10 }

[[traffic]]
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/items/1" }]
"#;

/// The diagnostics of `text`, one per line, or "" when it validates.
fn problems(text: &str) -> String {
    match parse_str("t.toml", text, Path::new(".")) {
        Ok(_) => String::new(),
        Err(d) => d.to_string(),
    }
}

fn with(from: &str, to: &str) -> String {
    assert!(BASE.contains(from), "{from}");
    BASE.replacen(from, to, 1)
}

#[track_caller]
fn refused(text: &str, want: &str) {
    let got = problems(text);
    assert!(got.contains(want), "want {want}\n got {got}");
}

#[track_caller]
fn accepted(text: &str) {
    assert_eq!(problems(text), "", "{text}");
}

#[test]
fn instances_65_is_refused_by_validate_as_by_the_gateway() {
    accepted(&with("instances = 2", "instances = 64"));
    refused(
        &with("instances = 2", "instances = 65"),
        "t.toml:9:13: upstreams.api.instances: 65 instances; the bundled gateway balances over at most 64 per pool",
    );
    // The gateway itself: 64 targets are fine, 65 are refused.
    let config = |n: usize| {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let upstreams = [("api".to_owned(), gw::UpstreamConfig::new(vec![addr; n]))].into();
        gw::Config::new(upstreams, vec![gw::RouteConfig::new("/", "api")]).validate()
    };
    assert!(config(MAX_POOL_INSTANCES).is_ok());
    let err = config(MAX_POOL_INSTANCES + 1).unwrap_err().to_string();
    assert!(err.contains("at most 64 instances"), "{err}");
}

#[test]
fn a_rate_no_generator_can_keep_is_refused_with_the_limit() {
    accepted(&with("rate = 5", "rate = 1e7"));
    refused(
        &with("rate = 5", "rate = 1e12"),
        "t.toml:17:8: traffic[0].rate: 1000000000000 req/s is more than any load generator can keep; the limit is 1e7 req/s per phase",
    );
    let ramp = with(
        "executor = \"constant-arrival-rate\"\nrate = 5",
        "executor = \"ramping-arrival-rate\"\nstart_rate = 2e7\nstages = [{ duration = \"5s\", target = 3e7 }]",
    );
    let got = problems(&ramp);
    assert!(
        got.contains("traffic[0].start_rate: 20000000 req/s"),
        "{got}"
    );
    assert!(
        got.contains("traffic[0].stages[0].target: 30000000 req/s"),
        "{got}"
    );
}

#[test]
fn plan_rates_above_the_gateways_limit_are_refused() {
    accepted(&with("rate = 10 }", "rate = 1e9 }"));
    refused(
        &with("rate = 10 }", "rate = 2e9 }"),
        "tenants[0].plan.rate: 2000000000 req/s; the bundled gateway accepts plan rates up to 1e9 req/s",
    );
    let config = |rate: f64| {
        let addr: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let upstreams = [("api".to_owned(), gw::UpstreamConfig::new(vec![addr]))].into();
        let mut c = gw::Config::new(upstreams, vec![gw::RouteConfig::new("/", "api")]);
        c.tenants = vec![gw::TenantConfig {
            id: "acme".into(),
            plan: gw::Plan {
                rate,
                burst: std::num::NonZeroU32::MIN,
                quota: None,
            },
        }];
        c.validate()
    };
    assert!(config(MAX_PLAN_RATE).is_ok());
    assert!(config(MAX_PLAN_RATE * 1.000_001).is_err());
}

#[test]
fn static_tokens_longer_than_the_gateway_reads_are_refused() {
    assert_eq!(MAX_TOKEN_BYTES, gw::jwt::MAX_TOKEN_BYTES);
    let token = |n: usize| {
        with(
            "plan = { rate = 10 }",
            &format!("plan = {{ rate = 10 }}\ntoken = \"{}\"", "a".repeat(n)),
        )
    };
    accepted(&token(MAX_TOKEN_BYTES));
    refused(
        &token(MAX_TOKEN_BYTES + 1),
        "tenants[0].token: 8193 bytes; the bundled gateway refuses tokens longer than 8192 bytes (401)",
    );
}

#[test]
fn mock_backend_limits_are_refused_by_validate_as_by_the_backend() {
    // Durations: up to 168 h.
    accepted(&with(
        "instances = 2",
        "instances = 2\nlatency = { fixed = \"168h\" }",
    ));
    refused(
        &with(
            "instances = 2",
            "instances = 2\nlatency = { fixed = \"169h\" }",
        ),
        "upstreams.api.latency.fixed: 169h; the mock backends accept durations up to 7d",
    );
    assert!(mock_backends::Dur::from_str("168h").is_ok());
    assert!(mock_backends::Dur::from_str("169h").is_err());
    assert_eq!(MAX_MOCK_DURATION, Duration::from_secs(168 * 3600));
    // A lognormal needs p99 > median.
    refused(
        &with(
            "instances = 2",
            "instances = 2\nlatency = { median = \"5ms\", p99 = \"5ms\" }",
        ),
        "upstreams.api.latency.p99: must be longer than the median",
    );
    let ms5 = Duration::from_millis(5);
    let lognormal = |p99| mock_backends::Behaviour {
        latency: mock_backends::LatencyModel::lognormal(ms5, p99),
        ..Default::default()
    };
    assert!(lognormal(ms5).compile().is_err());
    assert!(lognormal(ms5 * 2).compile().is_ok());
    // Error statuses 400–599.
    accepted(&with(
        "instances = 2",
        "instances = 2\nerrors = { rate = 0.1, status = 400 }",
    ));
    refused(
        &with(
            "instances = 2",
            "instances = 2\nerrors = { rate = 0.1, status = 302 }",
        ),
        "upstreams.api.errors.status: 302; the mock backends inject error statuses 400–599 only",
    );
    let errors = |status| mock_backends::Behaviour {
        errors: mock_backends::ErrorModel::status(0.1, status),
        ..Default::default()
    };
    assert!(errors(400).compile().is_ok());
    assert!(errors(399).compile().is_err());
    // Payloads up to 16 MiB.
    let max = MAX_PAYLOAD_BYTES;
    accepted(&with(
        "instances = 2",
        &format!("instances = 2\npayload_bytes = {max}"),
    ));
    refused(
        &with(
            "instances = 2",
            &format!("instances = 2\npayload_bytes = {}", max + 1),
        ),
        "upstreams.api.payload_bytes: 16777217 bytes; the mock backends serve payloads up to 16777216 bytes",
    );
    let payload = |n: u32| mock_backends::Behaviour {
        payload_bytes: n as usize,
        ..Default::default()
    };
    assert!(payload(max).compile().is_ok());
    assert!(payload(max + 1).compile().is_err());
}
