//! One tenant's plan across two gateway processes, end to end through
//! `ninefold run`: with `store = "redis"` ninefold starts redis-server and
//! both instances share one bucket, so together they admit what one perfect
//! gateway would; with `store = "local"` each keeps its own and together they
//! admit about twice the plan; with Redis killed and `fail_open = false` the
//! gateways refuse what they cannot meter (502 `limiter_unavailable`). Short
//! runs on 127.0.0.1 at rates a busy 2-core machine sustains in a debug build.
//! Needs redis-server (apt-get install redis-server).

use std::path::{Path, PathBuf};

use crate::support;

fn dir(name: &str) -> PathBuf {
    support::dir("limits", name)
}

/// Plan 20 req/s, burst 10; the tenant sends 60 req/s (3x) for 4 s over two
/// gateway instances, round-robin.
fn scenario(store: &str, fail_open: bool, faults: &str) -> String {
    format!(
        r#"
name = "limits"
duration = "4s"
seed = 3

[gateway]
instances = 2

[gateway.auth]
algorithm = "HS256"
secret = "limits-secret"
issuer = "https://auth.example"
audience = "api"
tenant_claim = "tenant_id"

[gateway.rate_limit]
store = "{store}"
fail_open = {fail_open}

[[gateway.routes]]
path = "/items"
upstream = "api"
methods = ["GET"]

[upstreams.api]
instances = 1

[[tenants]]
id = "acme"
plan = {{ rate = 20, burst = 10 }}

[[traffic]]
executor = "constant-arrival-rate"
rate = 60
tenants = {{ acme = 1.0 }}
requests = [{{ path = "/items/{{rand:1..50}}" }}]
expect = [200, 429]
{faults}
"#
    )
}

fn run(d: &Path, text: &str) -> (serde_json::Value, String) {
    let (out, stderr) = support::run_in(d, text);
    (support::read_json(&out.join("results.json")), stderr)
}

fn tally(r: &serde_json::Value, field: &str) -> u64 {
    r["recording"]["tenants"]["acme"][field].as_u64().unwrap()
}

#[test]
fn two_gateways_share_one_plan_through_the_redis_ninefold_starts() {
    let d = dir("redis");
    let (r, stderr) = run(&d, &scenario("redis", true, ""));
    let (admitted, model) = (tally(&r, "admitted"), tally(&r, "model_admitted"));
    // A perfect gateway admits 10 + 20/s x 4 s = 90 of 240; timing at the two
    // instances' edges may move a few.
    assert!((80..=100).contains(&model), "model admitted {model}");
    assert!(
        admitted.abs_diff(model) <= 6,
        "shared limits admit what one gateway would: {admitted} vs {model}"
    );
    assert_eq!(
        r["gateway_counters"]["gateway_limiter_unavailable_total"],
        0.0
    );
    // Redis was supervised like any child: logged, and gone after the run.
    let log = std::fs::read_to_string(d.join("run/logs/redis.log")).unwrap();
    assert!(log.to_lowercase().contains("ready to accept connections"));
    let pid = stderr
        .lines()
        .find_map(|l| l.strip_prefix("ninefold: redis ready on "))
        .and_then(|l| l.split("(pid ").nth(1))
        .and_then(|p| p.trim_end_matches(')').parse::<u32>().ok())
        .unwrap_or_else(|| panic!("no redis line in {stderr}"));
    assert!(
        !Path::new(&format!("/proc/{pid}")).exists(),
        "redis-server {pid} outlived the run"
    );
}

#[test]
fn two_local_limiters_admit_about_twice_the_plan() {
    let d = dir("local");
    let (r, _) = run(&d, &scenario("local", true, ""));
    let (admitted, model) = (tally(&r, "admitted"), tally(&r, "model_admitted"));
    // Each instance sees 30 req/s and admits its own 10 + 20/s x 4 s.
    assert!(
        admitted as f64 >= 1.6 * model as f64,
        "per-instance buckets over-admit: {admitted} vs {model}"
    );
}

#[test]
fn a_killed_redis_with_fail_closed_refuses_what_it_cannot_meter() {
    let d = dir("closed");
    let kill = "\n[[faults]]\nat = \"1s\"\naction = \"kill\"\ntarget = \"redis\"\n";
    let (r, _) = run(&d, &scenario("redis", false, kill));
    let unavailable = r["gateway_counters"]["gateway_limiter_unavailable_total"]
        .as_f64()
        .unwrap();
    assert!(
        unavailable > 10.0,
        "checks that found Redis gone: {unavailable}"
    );
    let keys = r["recording"]["keys"].as_array().unwrap();
    let bad_gateway: u64 = keys
        .iter()
        .filter_map(|k| k["statuses"]["502"].as_u64())
        .sum();
    assert!(
        bad_gateway as f64 >= unavailable * 0.9,
        "fail closed answers 502: {bad_gateway} for {unavailable} failed checks"
    );
    assert_eq!(r["faults"][0]["targets"][0], "redis");
    assert!(r["faults"][0]["error"].is_null(), "{}", r["faults"][0]);
}
