//! Credentials as real APIs take them, end to end through `ninefold run` on
//! 127.0.0.1: API keys in any header (`x-api-key` as AWS usage plans take it,
//! `apikey` as Kong does) rendered from `[[tenants]] api_key`; `{env:NAME}`
//! values, refused at validation when unset and found in no file of the run
//! folder; the reference gateway's `[[gateway.api_keys]]`. The helpers here
//! (a run of the binary, a test server, the secret search) serve `oauth2` too.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};

const ACME_KEY: &str = "acme-Zq81-secret-key-value";
pub(crate) const BETA_KEY: &str = "beta-Kp27-secret-key-value";

pub(crate) fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-creds-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ninefold ARGS` with `env` set (and the test's other variables unset).
pub(crate) fn ninefold(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ninefold"));
    c.args(args);
    for var in [
        "NF_TEST_ACME_KEY",
        "NF_TEST_BETA_KEY",
        "NF_TEST_CLIENT_SECRET",
    ] {
        c.env_remove(var);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// Every file under `root`, recursively.
fn files(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// No file of `run`, and neither output stream, holds any of `secrets`.
pub(crate) fn assert_nowhere(run: &Path, outputs: &[&Output], secrets: &[&str]) {
    let all = files(run);
    assert!(all.len() >= 5, "a run folder: {all:?}");
    for s in secrets {
        for f in &all {
            let bytes = std::fs::read(f).unwrap();
            assert!(
                !bytes.windows(s.len()).any(|w| w == s.as_bytes()),
                "the secret is in {}",
                f.display()
            );
        }
        for o in outputs {
            for stream in [&o.stdout, &o.stderr] {
                assert!(
                    !String::from_utf8_lossy(stream).contains(s),
                    "the secret is in the output"
                );
            }
        }
    }
}

/// A test server on 127.0.0.1:0, served on a runtime of its own until dropped.
pub(crate) struct Server {
    pub(crate) addr: std::net::SocketAddr,
    _rt: tokio::runtime::Runtime,
}

pub(crate) fn serve(app: axum::Router) -> Server {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, _rt: rt }
}

/// What the API saw: (path, x-api-key, apikey) of every request.
type Seen = Arc<Mutex<Vec<(String, Option<String>, Option<String>)>>>;

pub(crate) fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// An API that records what it saw in `seen` and echoes the key it got in a
/// 500's body: the run keeps example bodies of bad answers, and must not keep
/// the key with them.
fn echoing_api(seen: Seen) -> axum::Router {
    axum::Router::new()
        .fallback(
            |State(seen): State<Seen>, uri: Uri, h: HeaderMap| async move {
                let key = header(&h, "x-api-key");
                seen.lock().unwrap().push((
                    uri.path().to_owned(),
                    key.clone(),
                    header(&h, "apikey"),
                ));
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!(
                        "{{\"error\":\"boom\",\"your_key\":\"{}\"}}",
                        key.unwrap_or_default()
                    ),
                )
            },
        )
        .with_state(seen)
}

/// Two tenants whose keys come from the environment, sent in `x-api-key` by
/// the class and (acme only) in Kong's `apikey` by the tenant, to the API at `addr`.
fn keys_scenario(addr: std::net::SocketAddr) -> String {
    format!(
        r#"
name = "keys"
duration = "2s"
seed = 5

[gateway]
url = "http://{addr}"

[[tenants]]
id = "acme"
plan = {{ rate = 100 }}
api_key = "{{env:NF_TEST_ACME_KEY}}"
headers = {{ apikey = "{{tenant.api_key}}" }}

[[tenants]]
id = "beta"
plan = {{ rate = 100 }}
api_key = "{{env:NF_TEST_BETA_KEY}}"

[[traffic]]
executor = "constant-arrival-rate"
rate = 20
connections = 2
requests = [{{ path = "/t/{{tenant}}/{{seq}}", headers = {{ "x-api-key" = "{{tenant.api_key}}" }} }}]
"#
    )
}

#[test]
fn api_keys_from_the_environment_reach_the_api_in_any_header_and_stay_out_of_every_output() {
    let seen: Seen = Arc::default();
    let server = serve(echoing_api(seen.clone()));
    let d = dir("keys");
    let file = d.join("keys.toml");
    std::fs::write(&file, keys_scenario(server.addr)).unwrap();
    let env = [
        ("NF_TEST_ACME_KEY", ACME_KEY),
        ("NF_TEST_BETA_KEY", BETA_KEY),
    ];
    let file_arg = file.to_str().unwrap();
    let dry = ninefold(&["run", file_arg, "--dry-run"], &env);
    assert_eq!(
        dry.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&dry.stderr)
    );
    let validate = ninefold(&["validate", file_arg], &env);
    assert_eq!(validate.status.code(), Some(0));
    let out = d.join("run");
    let run = ninefold(&["run", file_arg, "--out", out.to_str().unwrap()], &env);
    // Every answer is a 500; whatever the verdict, the run itself worked.
    assert!(
        !matches!(run.status.code(), Some(2 | 3) | None),
        "{:?}\n{}",
        run.status.code(),
        String::from_utf8_lossy(&run.stderr)
    );
    let seen = seen.lock().unwrap().clone();
    // 20 req/s, uniform, for 2 s: 40 requests, each tenant drawn at least once.
    assert_eq!(seen.len(), 40, "{seen:?}");
    let mut by_tenant = BTreeMap::new();
    for (path, x_api_key, apikey) in &seen {
        let tenant = path.split('/').nth(2).unwrap();
        let (key, kong) = match tenant {
            "acme" => (ACME_KEY, Some(ACME_KEY.to_owned())),
            "beta" => (BETA_KEY, None),
            other => panic!("tenant {other}"),
        };
        assert_eq!(x_api_key.as_deref(), Some(key), "{path}");
        assert_eq!(apikey, &kong, "only acme declares the Kong header: {path}");
        *by_tenant.entry(tenant).or_insert(0) += 1;
    }
    assert_eq!(by_tenant.len(), 2, "{by_tenant:?}");
    let results = std::fs::read_to_string(out.join("results.json")).unwrap();
    assert!(
        results.contains("<redacted>"),
        "the echoed key is kept as <redacted>"
    );
    let scenario = std::fs::read_to_string(out.join("scenario.toml")).unwrap();
    assert!(scenario.contains("{env:NF_TEST_ACME_KEY}"), "{scenario}");
    // The folder re-renders without the secrets: `{env:NAME}` is not asked for again.
    let before = std::fs::read(out.join("summary.json")).unwrap();
    let report = ninefold(&["report", out.to_str().unwrap()], &[]);
    assert_eq!(
        report.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&report.stderr)
    );
    assert_eq!(
        std::fs::read(out.join("summary.json")).unwrap(),
        before,
        "byte for byte"
    );
    assert_nowhere(
        &out,
        &[&dry, &validate, &run, &report],
        &[ACME_KEY, BETA_KEY],
    );
}

#[test]
fn an_unset_variable_is_refused_at_validation_by_name_and_place() {
    let d = dir("unset");
    let file = d.join("unset.toml");
    let text = r#"name = "unset"
duration = "1s"

[gateway]
url = "http://127.0.0.1:9"

[[tenants]]
id = "acme"
plan = { rate = 10 }
api_key = "{env:NF_TEST_ACME_KEY}"

[[traffic]]
executor = "constant-arrival-rate"
rate = 1
requests = [{ path = "/x", headers = { authorization = "Bearer {env:NF_TEST_CLIENT_SECRET}" } }]
"#;
    std::fs::write(&file, text).unwrap();
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).unwrap() + 1;
    for args in [&["validate"][..], &["run"]] {
        let mut all = args.to_vec();
        all.push(file.to_str().unwrap());
        let o = ninefold(&all, &[]);
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {stderr}");
        let at = |line: usize| format!("{}:{line}:", file.display());
        assert!(
            stderr.contains(&at(line_of("api_key")))
                && stderr.contains(
                    "tenants[0].api_key: environment variable `NF_TEST_ACME_KEY` is not set"
                ),
            "{stderr}"
        );
        assert!(
            stderr.contains(&at(line_of("requests ="))) && stderr.contains(
                "traffic[0].requests[0].headers.authorization: environment variable `NF_TEST_CLIENT_SECRET` is not set"
            ),
            "{stderr}"
        );
    }
}

pub(crate) fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

/// The reference gateway with an API key per tenant (from the environment),
/// each tenant throttled by its own plan, for `secs` seconds of 40 req/s.
fn gateway_keys_scenario(secs: u32) -> String {
    format!(
        r#"
name = "gw-keys"
duration = "{secs}s"
seed = 3

[gateway]
instances = 1

[[gateway.api_keys]]
key = "{{env:NF_TEST_ACME_KEY}}"
tenant = "acme"

[[gateway.api_keys]]
key = "{{env:NF_TEST_BETA_KEY}}"
tenant = "beta"

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1

[[tenants]]
id = "acme"
plan = {{ rate = 8, burst = 8 }}
api_key = "{{env:NF_TEST_ACME_KEY}}"

[[tenants]]
id = "beta"
plan = {{ rate = 4, burst = 4 }}
api_key = "{{env:NF_TEST_BETA_KEY}}"

[[traffic]]
executor = "constant-arrival-rate"
rate = 40
connections = 4
requests = [{{ path = "/items/{{rand:1..50}}", headers = {{ "x-api-key" = "{{tenant.api_key}}" }} }}]
expect = [200, 429]
"#
    )
}

#[test]
fn the_reference_gateway_takes_api_keys_and_throttles_each_by_its_plan() {
    let d = dir("gateway");
    let file = d.join("gw.toml");
    let secs = 3;
    std::fs::write(&file, gateway_keys_scenario(secs)).unwrap();
    let out = d.join("run");
    let run = ninefold(
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("NF_TEST_ACME_KEY", ACME_KEY),
            ("NF_TEST_BETA_KEY", BETA_KEY),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    // Every request was admitted or throttled (no 403: every key was known) …
    assert_eq!(
        s["outcomes"]["ok"].as_u64().unwrap() + s["outcomes"]["rejected"].as_u64().unwrap(),
        40 * secs as u64,
        "{}",
        s["outcomes"]
    );
    // … each tenant by its own plan: at most burst + rate × T, and the plan bites.
    for (id, rate, burst) in [("acme", 8.0, 8.0), ("beta", 4.0, 4.0)] {
        let t = s["tenants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["id"] == id)
            .unwrap();
        let (offered, admitted) = (
            t["offered"].as_u64().unwrap(),
            t["admitted"].as_u64().unwrap(),
        );
        assert!(
            admitted as f64 <= burst + rate * f64::from(secs) + 1.0,
            "{id}: {t}"
        );
        assert!(admitted < offered, "{id}'s plan must bite: {t}");
        assert_eq!(t["wrongful_throttles"], 0, "{id}: {t}");
        assert_eq!(t["over_admitted"], 0, "{id}: {t}");
    }
    assert_nowhere(&out, &[&run], &[ACME_KEY, BETA_KEY]);
}

#[test]
fn attack_reads_header_values_from_the_environment_and_refuses_unset_ones() {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .fallback(
            |State(seen): State<Seen>, uri: Uri, h: HeaderMap| async move {
                seen.lock()
                    .unwrap()
                    .push((uri.path().to_owned(), header(&h, "x-api-key"), None));
                StatusCode::OK
            },
        )
        .with_state(seen.clone());
    let server = serve(app);
    let url = format!("http://{}/items/1", server.addr);
    let args = [
        "attack",
        &url,
        "-n",
        "5",
        "-c",
        "1",
        "-H",
        "x-api-key: {env:NF_TEST_ACME_KEY}",
    ];
    let unset = ninefold(&args, &[]);
    assert_eq!(unset.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&unset.stderr)
            .contains("environment variable `NF_TEST_ACME_KEY` is not set"),
        "{}",
        String::from_utf8_lossy(&unset.stderr)
    );
    assert!(seen.lock().unwrap().is_empty(), "nothing sent");
    let set = ninefold(&args, &[("NF_TEST_ACME_KEY", ACME_KEY)]);
    assert_eq!(
        set.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let seen = seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 5);
    assert!(
        seen.iter().all(|(_, k, _)| k.as_deref() == Some(ACME_KEY)),
        "{seen:?}"
    );
    for stream in [&set.stdout, &set.stderr] {
        assert!(!String::from_utf8_lossy(stream).contains(ACME_KEY));
    }
}
