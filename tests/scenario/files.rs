//! The bundled scenarios, the schema and the starter file stay valid.

use std::path::{Path, PathBuf};

use ninefold::scenario::load::{load_file, parse_str};
use ninefold::scenario::unparse::{redact, to_raw};
use proptest::prelude::*;

fn scenario_files() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "toml"))
        .collect();
    files.sort();
    files
}

#[test]
fn every_bundled_scenario_validates() {
    let files = scenario_files();
    assert!(files.len() >= 2, "{files:?}");
    for f in files {
        if let Err(e) = load_file(&f) {
            panic!("{} does not validate:\n{e}", f.display());
        }
    }
}

#[test]
fn bundled_scenarios_round_trip_through_toml() {
    for f in scenario_files() {
        let loaded = load_file(&f).unwrap();
        let text = toml::to_string(&to_raw(&loaded.scenario)).unwrap();
        let again = parse_str("round-trip.toml", &text, f.parent().unwrap()).unwrap_or_else(|e| {
            panic!(
                "{}: written form does not validate:\n{e}\n{text}",
                f.display()
            )
        });
        assert_eq!(again.scenario, loaded.scenario, "{}", f.display());
    }
}

#[test]
fn checked_in_schema_is_current_and_valid() {
    let generated = ninefold::cli::schema::schema_json(false);
    let checked_in = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/schema.json"),
    )
    .unwrap();
    assert_eq!(
        generated.trim(),
        checked_in.trim(),
        "scenarios/schema.json is stale: run `cargo run -- schema > scenarios/schema.json`"
    );
    let schema: serde_json::Value = serde_json::from_str(&generated).unwrap();
    let validator = jsonschema::validator_for(&schema).expect("a valid JSON Schema");
    for f in scenario_files() {
        let text = std::fs::read_to_string(&f).unwrap();
        let doc: serde_json::Value =
            serde_json::to_value(toml::from_str::<toml::Table>(&text).unwrap()).unwrap();
        let errors: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{}: {errors:?}", f.display());
    }
    // And the schema rejects what validation rejects structurally.
    let bad = serde_json::json!({"name": "x", "duration": "1s", "durration": "2s"});
    assert!(!validator.is_valid(&bad));
}

#[test]
fn starter_scenario_validates() {
    for name in ["my-scenario", "checkout.v2"] {
        let text = ninefold::cli::init::starter(name);
        let loaded =
            parse_str("starter.toml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(loaded.scenario.name, name);
    }
}

/// Issue 18, case 9: with `[gateway] url` the old starter still started mock
/// backends and killed one, a fault on something no request passed through.
/// Each mode now has its own starter, valid and without warnings.
#[test]
fn init_writes_a_consistent_starter_for_each_mode() {
    use ninefold::scenario::{FaultAction, FaultTarget, GatewayTarget, Instances};
    // Bundled: the gateway in front of mock backends; the kill hits a routed pool.
    let text = ninefold::cli::init::starter("bundled");
    let loaded = parse_str("bundled.toml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let s = &loaded.scenario;
    assert!(matches!(s.gateway.target, GatewayTarget::Bundled { .. }));
    assert!(matches!(s.faults[0].action, FaultAction::Kill));
    let FaultTarget::Instance { pool, .. } = &s.faults[0].target else {
        panic!("{:?}", s.faults[0].target)
    };
    assert!(s.gateway.routes.iter().any(|r| &r.upstream == pool));

    // External: nothing started, nothing killed, SLOs on the clients' answers.
    let text = ninefold::cli::init::external_starter("ext", "http://127.0.0.1:8080");
    let loaded = parse_str("ext.toml", &text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    let s = &loaded.scenario;
    assert_eq!(
        s.gateway.target,
        GatewayTarget::External {
            url: "http://127.0.0.1:8080".into()
        }
    );
    assert!(
        s.upstreams
            .values()
            .all(|u| !matches!(u.instances, Instances::Managed(_))),
        "no mock backends: {:?}",
        s.upstreams.keys()
    );
    assert!(s.faults.is_empty(), "{:?}", s.faults);
    let metrics: Vec<String> = loaded.raw.slo.keys().cloned().collect();
    assert_eq!(metrics, ["availability", "latency.p99"]);

    // Its commented fault example, uncommented, is valid too and targets a link.
    let mut on = false;
    let uncommented: String = text
        .lines()
        .map(|l| {
            on |= l.starts_with("# [[links]]");
            let line = if on {
                l.strip_prefix("# ").unwrap_or(l)
            } else {
                l
            };
            on &= !l.starts_with("# latency");
            format!("{line}\n")
        })
        .collect();
    let loaded = parse_str("ext-fault.toml", &uncommented, Path::new("."))
        .unwrap_or_else(|e| panic!("{e}\n{uncommented}"));
    assert!(loaded.warnings.0.is_empty(), "{}", loaded.warnings);
    assert_eq!(loaded.scenario.faults.len(), 1);
    assert!(matches!(
        loaded.scenario.faults[0].target,
        FaultTarget::Link(_)
    ));
}

#[test]
fn redaction_hides_secrets() {
    let loaded =
        load_file(&Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/failover.toml")).unwrap();
    let mut raw = to_raw(&loaded.scenario);
    redact(&mut raw);
    let text = toml::to_string(&raw).unwrap();
    assert!(!text.contains("dev-secret"), "{text}");
    assert!(text.contains("<redacted>"));
}

fn failover_text() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/failover.toml"))
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let text = String::from_utf8_lossy(&bytes);
        let _ = parse_str("fuzz.toml", &text, Path::new("."));
    }

    #[test]
    fn mutated_scenarios_never_panic(
        cut in 0usize..4000,
        len in 0usize..40,
        insert in "[ -~\\n]{0,12}",
    ) {
        let text = failover_text();
        let mut start = cut.min(text.len());
        while !text.is_char_boundary(start) { start -= 1; }
        let mut end = (start + len).min(text.len());
        while !text.is_char_boundary(end) { end -= 1; }
        let mutated = format!("{}{}{}", &text[..start], insert, &text[end..]);
        match parse_str("mutated.toml", &mutated, Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios").as_path()) {
            Ok(_) => {}
            Err(diags) => {
                // Every problem is located inside the file.
                let lines = mutated.lines().count().max(1) + 1;
                for d in diags.0 {
                    prop_assert!(d.line >= 1 && d.line <= lines, "{d}");
                    prop_assert!(!d.message.is_empty());
                }
            }
        }
    }

    #[test]
    fn generated_scenarios_round_trip(
        rate in 1u32..5000,
        instances in 1u32..6,
        duration_s in 5u64..600,
        burst in 1u32..1000,
        median_ms in 1u64..50,
        extra_ms in 1u64..200, // the mock backends need p99 > median
        kill_at_pct in 0u64..100,
        poisson in any::<bool>(),
    ) {
        let kill_at = duration_s * kill_at_pct / 100;
        let text = format!(
            "name = \"gen\"\nduration = \"{duration_s}s\"\n\
             [upstreams.api]\ninstances = {instances}\nlatency = {{ median = \"{median_ms}ms\", p99 = \"{}ms\" }}\n\
             [[tenants]]\nid = \"t\"\nplan = {{ rate = {rate}, burst = {burst} }}\n\
             [[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = {rate}\narrivals = \"{}\"\n\
             requests = [{{ path = \"/items/{{rand:1..{rate}}}\", weight = 3 }}, {{ method = \"POST\", path = \"/orders\", body = '{{\"n\": {{seq}}}}', idempotency_key = true }}]\n\
             [[faults]]\nat = \"{kill_at}s\"\naction = \"kill\"\ntarget = \"api[{}]\"\n\
             [slo]\navailability = \">= 99.5%\"\n\"latency.p999\" = \"< 1500ms\"\n",
            median_ms + extra_ms,
            if poisson { "poisson" } else { "uniform" },
            instances - 1,
        );
        let first = parse_str("gen.toml", &text, Path::new(".")).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let written = toml::to_string(&to_raw(&first.scenario)).unwrap();
        let second = parse_str("gen2.toml", &written, Path::new(".")).map_err(|e| TestCaseError::fail(format!("{e}\n{written}")))?;
        prop_assert_eq!(second.scenario, first.scenario);
    }
}

#[test]
fn minted_tokens_grant_every_scope_a_route_requires() {
    let text = r#"name = "scoped"
duration = "5s"

[gateway.auth]
algorithm = "HS256"
secret = "s"

[[gateway.routes]]
path = "/orders"
upstream = "api"
scopes = ["orders:write", "orders:read"]

[[gateway.routes]]
path = "/items"
upstream = "api"
scopes = ["orders:read"]

[upstreams.api]
instances = 1

[[tenants]]
id = "acme"
plan = { rate = 10 }

[[traffic]]
executor = "constant-arrival-rate"
rate = 5
requests = [{ path = "/items/1" }]
"#;
    let loaded = parse_str("scoped.toml", text, Path::new(".")).unwrap_or_else(|e| panic!("{e}"));
    let auth = loaded.scenario.gateway.auth.expect("auth");
    assert_eq!(auth.scopes, ["orders:read", "orders:write"]);
}

/// `ninefold init NAME --external URL` (the issue's spelling) is `--url URL`.
#[test]
fn init_external_is_the_url_option() {
    let dir = std::env::temp_dir().join(format!("ninefold-init-external-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out_file = dir.join("staging.toml");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .args([
            "init",
            "staging",
            "--external",
            "https://api.example.com",
            "--force",
            "-o",
        ])
        .arg(&out_file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = std::fs::read_to_string(&out_file).unwrap();
    assert_eq!(
        text,
        ninefold::cli::init::external_starter("staging", "https://api.example.com")
    );
}
