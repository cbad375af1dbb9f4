//! Metrics streamed during a run: `--prometheus-rw` into a real Prometheus
//! (its remote-write receiver, queried back with PromQL), `--metrics-listen`
//! scraped during and after the run, and `series.csv`; every count must equal
//! what the run's summary.json says. Skipped, saying so, without prometheus.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::streaming_support::{Prometheus, free_port, get, pause};
use crate::support::{self, Running};

/// Two tenants (one throttled), a latency fault, 4 s at 80 req/s.
const SCENARIO: &str = r#"
name = "streaming"
duration = "4s"
seed = 5

[gateway]
instances = 1
request_timeout = "2s"

[gateway.auth]
algorithm = "HS256"
secret = "streaming-secret"
issuer = "https://auth.example"
audience = "streaming-api"
tenant_claim = "tenant_id"

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]

[upstreams.api]
instances = 2
balance = "round-robin"

[[tenants]]
id = "acme"
plan = { rate = 300, burst = 300 }

[[tenants]]
id = "globex"
plan = { rate = 10, burst = 5 }

[[traffic]]
name = "steady"
executor = "constant-arrival-rate"
rate = 80
tenants = { acme = 0.6, globex = 0.4 }
requests = [{ method = "GET", path = "/items/{rand:1..100}" }]

[[faults]]
at = "1s"
duration = "2s"
action = "latency"
target = "api[0]"
latency = "50ms"

[slo]
availability = ">= 50%"
"#;

/// `ninefold run` of [`SCENARIO`] with `extra` flags, in the background.
fn spawn(d: &Path, extra: &[&str]) -> (Running, PathBuf) {
    let file = d.join("s.toml");
    std::fs::write(&file, SCENARIO).unwrap();
    let out = d.join("run");
    (Running::start(&file, &out, extra), out)
}

/// How long a streaming run may take before it is killed as hung.
const BOUND: Duration = Duration::from_secs(120);

/// summary.json's counts: by outcome, and each tenant's offered and admitted.
struct Counts {
    outcomes: Vec<(String, u64)>,
    tenants: Vec<(String, u64, u64)>,
}

fn counts(out: &Path) -> Counts {
    let s = support::read_json(&out.join("summary.json"));
    let outcomes = s["outcomes"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.as_u64().unwrap()))
        .collect();
    let tenants = s["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["id"].as_str().unwrap().to_owned(),
                t["offered"].as_u64().unwrap(),
                t["admitted"].as_u64().unwrap(),
            )
        })
        .collect();
    Counts { outcomes, tenants }
}

// Long: one run pushed into a real Prometheus, then each family of counts queried back and compared.
#[test]
fn remote_write_into_prometheus_equals_the_summary() {
    let d = support::dir("streaming", "rw");
    let Some(prom) = Prometheus::start(&d) else {
        eprintln!("skipped: prometheus is not installed (Debian: apt-get install prometheus)");
        return;
    };
    let url = format!("http://{}/api/v1/write", prom.addr);
    let (run, out) = spawn(&d, &["--prometheus-rw", &url, "--run-id", "rw-test"]);
    let (code, stderr) = run.finish(BOUND);
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}\n{stderr}");
    assert!(
        !stderr.contains("remote-write:"),
        "a push failed:\n{stderr}"
    );
    let want = counts(&out);
    let run = "run=\"rw-test\"";
    let one = |q: &str| -> f64 {
        let r = prom.query(q);
        assert_eq!(r.len(), 1, "{q}: {r:?}");
        r[0].1
    };
    assert_eq!(one(&format!("ninefold_finished{{{run}}}")), 1.0);
    // About one push a second (4 s of traffic, then the final one), not one
    // per live snapshot (4 a second): a generous band for a busy machine.
    let pushes = one(&format!("count_over_time(ninefold_finished{{{run}}}[10m])"));
    assert!((2.0..=8.0).contains(&pushes), "{pushes} pushes");
    let total: u64 = want.outcomes.iter().map(|(_, n)| n).sum();
    assert!(total > 100, "the run sent {total}");
    assert_eq!(
        one(&format!("sum(ninefold_requests_total{{{run}}})")),
        total as f64
    );
    for (outcome, n) in &want.outcomes {
        let got = prom.query(&format!(
            "sum(ninefold_requests_total{{{run},outcome=\"{outcome}\"}})"
        ));
        let got = got.first().map_or(0.0, |r| r.1);
        assert_eq!(got, *n as f64, "outcome {outcome}");
    }
    assert_eq!(want.tenants.len(), 2);
    for (tenant, offered, admitted) in &want.tenants {
        let q = |name: &str| one(&format!("{name}{{{run},tenant=\"{tenant}\"}}"));
        assert_eq!(
            q("ninefold_throttle_offered_total"),
            *offered as f64,
            "{tenant}"
        );
        assert_eq!(
            q("ninefold_throttle_admitted_total"),
            *admitted as f64,
            "{tenant}"
        );
        assert_eq!(
            q("ninefold_throttle_refused_total"),
            (offered - admitted) as f64,
            "{tenant}"
        );
        // Requests by tenant: every outcome of every key of that tenant.
        assert_eq!(
            one(&format!(
                "sum(ninefold_requests_total{{{run},tenant=\"{tenant}\"}})"
            )),
            *offered as f64,
            "{tenant}: every answered request of a tenant with a plan is offered"
        );
    }
    assert!(
        want.tenants.iter().any(|(_, o, a)| a < o),
        "globex is throttled"
    );
    // The histogram's +Inf bucket counts every answered request.
    let answered: u64 = want
        .outcomes
        .iter()
        .filter(|(o, _)| o != "dropped" && o != "auth_fetch_failed")
        .map(|(_, n)| n)
        .sum();
    let inf = one(&format!(
        "sum(ninefold_latency_seconds_bucket{{{run},le=\"+Inf\"}})"
    ));
    assert!(inf <= answered as f64 && inf > 0.0, "{inf} vs {answered}");
    // The fault was active at some sample and is not at the end.
    assert_eq!(
        one(&format!(
            "max_over_time(ninefold_fault_active{{{run},fault=\"fault:0\",action=\"latency\"}}[10m])"
        )),
        1.0
    );
    assert_eq!(one(&format!("ninefold_fault_active{{{run}}}")), 0.0);
    // Every query of the Grafana dashboard is PromQL this Prometheus accepts,
    // with data for this run.
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/grafana/ninefold.json"),
        )
        .unwrap(),
    )
    .unwrap();
    for panel in dashboard["panels"].as_array().unwrap() {
        for t in panel["targets"].as_array().unwrap() {
            let expr = t["expr"]
                .as_str()
                .unwrap()
                .replace("$run", "rw-test")
                .replace("$__rate_interval", "10m");
            let got = prom.query(&expr);
            assert!(!got.is_empty(), "{}: {expr} has no data", panel["title"]);
        }
    }
}

/// One scraped sample: name, labels, value.
pub(crate) type Scraped = (String, Vec<(String, String)>, f64);

/// The scrape endpoint's address, from the line `run` and `attack` print.
pub(crate) fn metrics_addr(line: &str) -> Option<SocketAddr> {
    line.strip_prefix("ninefold: metrics at http://")
        .and_then(|r| r.strip_suffix("/metrics"))
        .map(|a| a.parse().unwrap())
}

/// Scrape `/metrics` until it says the traffic finished (a deadline of 120 s):
/// whether a scrape before that saw counts growing, and the final scrape.
pub(crate) fn scrape_until_finished(addr: SocketAddr) -> (bool, Vec<Scraped>) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut during = false;
    while Instant::now() < deadline {
        if let Some((200, body)) = get(addr, "/metrics") {
            let s = parse_exposition(&body);
            let finished = sum_of(&s, "ninefold_finished", &[]);
            if finished == 0.0 && sum_of(&s, "ninefold_requests_total", &[]) > 0.0 {
                during = true;
            }
            if finished == 1.0 {
                return (during, s);
            }
        }
        // Polling the endpoint while the traffic goes: the pause between two scrapes.
        pause(Duration::from_millis(200));
    }
    panic!("no scrape read the final counts in 120 s");
}

/// The exposition text's samples.
pub(crate) fn parse_exposition(text: &str) -> Vec<Scraped> {
    let mut out = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name_end = line.find(['{', ' ']).unwrap();
        let name = line[..name_end].to_owned();
        let mut labels = Vec::new();
        let mut rest = &line[name_end..];
        if let Some(r) = rest.strip_prefix('{') {
            let mut chars = r.char_indices();
            let (mut key, mut val, mut in_val, mut esc) =
                (String::new(), String::new(), false, false);
            let mut end = 0;
            while let Some((i, c)) = chars.next() {
                match (in_val, esc, c) {
                    (false, _, '}') => {
                        end = i + 1;
                        break;
                    }
                    (false, _, '=') => {
                        chars.next(); // the opening quote
                        in_val = true;
                    }
                    (false, _, ',') => {}
                    (false, _, c) => key.push(c),
                    (true, true, c) => {
                        val.push(if c == 'n' { '\n' } else { c });
                        esc = false;
                    }
                    (true, false, '\\') => esc = true,
                    (true, false, '"') => {
                        labels.push((std::mem::take(&mut key), std::mem::take(&mut val)));
                        in_val = false;
                    }
                    (true, false, c) => val.push(c),
                }
            }
            rest = &r[end..];
        }
        let value = rest.trim();
        let value = if value == "+Inf" {
            f64::INFINITY
        } else {
            value.parse().unwrap()
        };
        out.push((name, labels, value));
    }
    out
}

pub(crate) fn sum_of(samples: &[Scraped], name: &str, with: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .filter(|(n, l, _)| {
            n == name
                && with
                    .iter()
                    .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, _, v)| v)
        .sum()
}

// Long: one run scraped during and after, then its series.csv, each compared with the summary.
#[test]
fn the_scrape_endpoint_and_series_csv_equal_the_summary() {
    let d = support::dir("streaming", "scrape");
    let (run, out) = spawn(
        &d,
        &["--metrics-listen", "127.0.0.1:0", "--metrics-linger", "60s"],
    );
    // Readiness: the line that names the endpoint's address.
    let addr: SocketAddr = run
        .line(BOUND, metrics_addr)
        .expect("the run names its metrics address");
    let (during, last) = scrape_until_finished(addr);
    assert!(during, "a scrape during the run saw counts growing");
    let (code, stderr) = run.finish(BOUND);
    assert!(matches!(code, Some(0 | 1)), "exit {code:?}\n{stderr}");
    let want = counts(&out);
    for (outcome, n) in &want.outcomes {
        assert_eq!(
            sum_of(&last, "ninefold_requests_total", &[("outcome", outcome)]),
            *n as f64,
            "outcome {outcome}"
        );
    }
    for (tenant, offered, admitted) in &want.tenants {
        let t = [("tenant", tenant.as_str())];
        assert_eq!(
            sum_of(&last, "ninefold_throttle_offered_total", &t),
            *offered as f64
        );
        assert_eq!(
            sum_of(&last, "ninefold_throttle_admitted_total", &t),
            *admitted as f64
        );
        assert_eq!(
            sum_of(&last, "ninefold_requests_total", &t),
            *offered as f64
        );
    }
    // Each instance's ejected gauge: what results.json's pool events leave it in.
    let results = support::read_json(&out.join("results.json"));
    let events = results["pools"]["events"].as_array().unwrap();
    for instance in ["api-0", "api-1"] {
        let ejected = events
            .iter()
            .rev()
            .filter(|e| e["instance"] == instance && e["gateway"] == "gateway-0")
            .find(|e| e["event"] == "ejected" || e["event"] == "readmitted")
            .is_some_and(|e| e["event"] == "ejected");
        let with = [("instance", instance), ("upstream", "api")];
        let seen: Vec<f64> = last
            .iter()
            .filter(|(n, l, _)| {
                n == "ninefold_instance_ejected"
                    && with
                        .iter()
                        .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
            })
            .map(|(_, _, v)| *v)
            .collect();
        assert_eq!(
            seen,
            [f64::from(u8::from(ejected))],
            "{instance}: {events:?}"
        );
    }
    // series.csv: the documented header, and its rows summed equal the summary.
    let csv = std::fs::read_to_string(out.join("series.csv")).unwrap();
    let mut rows = csv.lines();
    let header: Vec<&str> = rows.next().unwrap().split(',').collect();
    let mut documented = vec!["second", "phase", "requests"];
    documented.extend([
        "ok",
        "rejected",
        "unexpected_status",
        "check_failed",
        "server_error",
        "timeout",
        "connect_error",
        "tls_error",
        "io_error",
        "dropped",
        "h2_reset",
        "h2_goaway",
        "auth_fetch_failed",
    ]);
    documented.extend(["answered", "p50_us", "p99_us", "max_us", "in_flight_max"]);
    assert_eq!(header, documented);
    let rows: Vec<Vec<&str>> = rows.map(|r| r.split(',').collect()).collect();
    assert!(rows.len() >= 3, "{csv}");
    let col = |name: &str| header.iter().position(|c| *c == name).unwrap();
    let total = |name: &str| -> u64 {
        rows.iter()
            .map(|r| r[col(name)].parse::<u64>().unwrap())
            .sum()
    };
    let all: u64 = want.outcomes.iter().map(|(_, n)| n).sum();
    assert_eq!(total("requests"), all);
    for (outcome, n) in &want.outcomes {
        assert_eq!(total(outcome), *n, "series.csv {outcome}");
    }
    // One phase: each row is that phase's, by name.
    assert!(rows.iter().all(|r| r[col("phase")] == "steady"));
}

#[test]
fn a_receiver_that_is_down_is_a_warning_and_bad_flags_are_bad_input() {
    let d = support::dir("streaming", "down");
    // Nobody listens on a port released a moment ago.
    let url = format!("http://127.0.0.1:{}/api/v1/write", free_port());
    let (run, out) = spawn(&d, &["--prometheus-rw", &url]);
    let (code, stderr) = run.finish(BOUND);
    // The verdict is the run's own (availability >= 50% holds): 0, not broken.
    assert_eq!(code, Some(0), "{stderr}");
    assert!(
        stderr.contains("warning: Prometheus remote-write: 0 pushes accepted"),
        "{stderr}"
    );
    assert!(out.join("summary.json").is_file());
    // A listen address already taken, and a URL that is not http(s): exit 2,
    // saying which flag, before anything starts.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    for (flags, says) in [
        (vec!["--metrics-listen", addr.as_str()], "--metrics-listen"),
        (vec!["--prometheus-rw", "ftp://x/y"], "http:// or https://"),
        (
            vec!["--metrics-listen", "not-an-address"],
            "--metrics-listen",
        ),
        (vec!["--metrics-linger", "5s"], "--metrics-listen"),
    ] {
        let (run, _) = spawn(&d, &flags);
        let (code, stderr) = run.finish(BOUND);
        assert_eq!(code, Some(2), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
    }
}
