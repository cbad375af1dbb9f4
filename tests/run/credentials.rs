//! Credentials as real APIs take them, end to end through `ninefold run` on
//! 127.0.0.1: API keys in any header (`x-api-key` as AWS usage plans take it,
//! `apikey` as Kong does) rendered from `[[tenants]] api_key`; `{env:NAME}`
//! values, refused at validation when unset and found in no file of the run
//! folder; OAuth2 client credentials against a token endpoint in the test
//! (tokens renewed before they expire, a failing endpoint counted as
//! `auth_fetch_failed`); the reference gateway's `[[gateway.api_keys]]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

const ACME_KEY: &str = "acme-Zq81-secret-key-value";
const BETA_KEY: &str = "beta-Kp27-secret-key-value";

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-creds-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ninefold ARGS` with `env` set (and the test's other variables unset).
fn ninefold(args: &[&str], env: &[(&str, &str)]) -> Output {
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
fn assert_nowhere(run: &Path, outputs: &[&Output], secrets: &[&str]) {
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
struct Server {
    addr: std::net::SocketAddr,
    _rt: tokio::runtime::Runtime,
}

fn serve(app: axum::Router) -> Server {
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

fn header(h: &HeaderMap, name: &str) -> Option<String> {
    h.get(name).map(|v| v.to_str().unwrap().to_owned())
}

#[test]
fn api_keys_from_the_environment_reach_the_api_in_any_header_and_stay_out_of_every_output() {
    let seen: Seen = Arc::default();
    // An API that echoes the key it got in a 500's body: the run keeps example
    // bodies of bad answers, and must not keep the key with them.
    let app = axum::Router::new()
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
        .with_state(seen.clone());
    let server = serve(app);
    let d = dir("keys");
    let file = d.join("keys.toml");
    std::fs::write(
        &file,
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
"#,
            addr = server.addr
        ),
    )
    .unwrap();
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

/// The token endpoint's state: tokens issued (value → when), calls, and whether it fails.
#[derive(Clone, Default)]
struct Issuer {
    issued: Arc<Mutex<BTreeMap<String, Instant>>>,
    calls: Arc<Mutex<u32>>,
    failing: bool,
}

const LIFETIME: Duration = Duration::from_secs(2);

async fn token_endpoint(State(i): State<Issuer>, h: HeaderMap, body: String) -> impl IntoResponse {
    let n = {
        let mut c = i.calls.lock().unwrap();
        *c += 1;
        *c
    };
    if i.failing {
        return (StatusCode::SERVICE_UNAVAILABLE, "down".to_owned()).into_response();
    }
    // RFC 6749 §2.3.1 and §4.4.2: Basic client authentication, a client-credentials form.
    let basic = base64_of("client-1:s3cret%2Fvalue");
    if header(&h, "authorization") != Some(format!("Basic {basic}"))
        || !body.starts_with("grant_type=client_credentials")
        || !body.contains("scope=orders%3Aread")
    {
        return (
            StatusCode::UNAUTHORIZED,
            r#"{"error":"invalid_client"}"#.to_owned(),
        )
            .into_response();
    }
    let token = format!("tok-{n}");
    i.issued
        .lock()
        .unwrap()
        .insert(token.clone(), Instant::now());
    (
        [("content-type", "application/json")],
        format!(
            r#"{{"access_token":"{token}","token_type":"Bearer","expires_in":{}}}"#,
            LIFETIME.as_secs()
        ),
    )
        .into_response()
}

fn base64_of(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

/// An API that admits a request only with a token the endpoint issued and that has not
/// expired; counts (admitted, refused) by tenant path.
type Tally = Arc<Mutex<BTreeMap<String, (u32, u32)>>>;

fn oauth_world(failing: bool) -> (Server, Server, Issuer, Tally) {
    let issuer = Issuer {
        failing,
        ..Issuer::default()
    };
    let tokens = serve(
        axum::Router::new()
            .route("/oauth/token", axum::routing::post(token_endpoint))
            .with_state(issuer.clone()),
    );
    let tally: Tally = Arc::default();
    let (i, t) = (issuer.clone(), tally.clone());
    let api = serve(axum::Router::new().fallback(move |uri: Uri, h: HeaderMap| {
        let (i, t) = (i.clone(), t.clone());
        async move {
            let tenant = uri.path().split('/').nth(2).unwrap_or_default().to_owned();
            let bearer = header(&h, "authorization")
                .and_then(|v| v.strip_prefix("Bearer ").map(str::to_owned));
            let valid = match (&bearer, tenant.as_str()) {
                (Some(b), "acme") => i
                    .issued
                    .lock()
                    .unwrap()
                    .get(b)
                    .is_some_and(|at| at.elapsed() < LIFETIME),
                (None, "beta") => header(&h, "x-api-key").as_deref() == Some(BETA_KEY),
                _ => false,
            };
            let mut t = t.lock().unwrap();
            let e = t.entry(tenant).or_default();
            if valid {
                e.0 += 1;
                StatusCode::OK
            } else {
                e.1 += 1;
                StatusCode::UNAUTHORIZED
            }
        }
    }));
    (tokens, api, issuer, tally)
}

fn oauth_scenario(api: &Server, tokens: &Server, secs: u32) -> String {
    format!(
        r#"
name = "oauth"
duration = "{secs}s"
seed = 9

[gateway]
url = "http://{api}"

[[tenants]]
id = "acme"
plan = {{ rate = 100 }}
oauth2 = {{ token_url = "http://{tokens}/oauth/token", client_id = "client-1", client_secret = "{{env:NF_TEST_CLIENT_SECRET}}", scope = "orders:read" }}

[[tenants]]
id = "beta"
plan = {{ rate = 100 }}
api_key = "{{env:NF_TEST_BETA_KEY}}"
headers = {{ "x-api-key" = "{{tenant.api_key}}" }}

[[traffic]]
executor = "constant-arrival-rate"
rate = 20
connections = 4
requests = [{{ path = "/t/{{tenant}}" }}]
"#,
        api = api.addr,
        tokens = tokens.addr
    )
}

fn summary(out: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap()
}

#[test]
fn oauth2_tokens_are_fetched_shared_and_renewed_before_they_expire() {
    let (tokens, api, issuer, tally) = oauth_world(false);
    let d = dir("oauth");
    let file = d.join("oauth.toml");
    let secs = 5;
    let text = oauth_scenario(&api, &tokens, secs);
    std::fs::write(&file, text).unwrap();
    let out = d.join("run");
    let secret = "s3cret/value";
    let run = ninefold(
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("NF_TEST_CLIENT_SECRET", secret),
            ("NF_TEST_BETA_KEY", BETA_KEY),
        ],
    );
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(0), "{stderr}");
    let tally = tally.lock().unwrap().clone();
    let (acme_ok, acme_refused) = tally["acme"];
    assert_eq!(
        acme_refused, 0,
        "no request carried an expired or unknown token"
    );
    assert_eq!(tally["beta"].1, 0);
    assert_eq!(
        acme_ok + tally["beta"].0,
        20 * secs,
        "every request went out"
    );
    // One token at the start, then one per renewal: a token of 2 s is renewed
    // 1 s after it was asked for (its lifetime less min(60 s, half of it)), so
    // over 5 s of traffic the endpoint is asked 5 times (0, 1, 2, 3, 4 s), each
    // renewal a little late (the next request after the due instant).
    let calls = *issuer.calls.lock().unwrap();
    assert!((4..=6).contains(&calls), "{calls} token requests");
    let s = summary(&out);
    assert_eq!(s["outcomes"]["ok"], 20 * secs, "{}", s["outcomes"]);
    assert!(
        s["outcomes"].get("auth_fetch_failed").is_none(),
        "absent while never seen"
    );
    assert_nowhere(&out, &[&run], &[secret, BETA_KEY]);
}

#[test]
fn a_failing_token_endpoint_is_counted_as_auth_fetch_failed_and_nothing_is_sent() {
    let (tokens, api, issuer, tally) = oauth_world(true);
    let d = dir("oauth-down");
    let file = d.join("down.toml");
    let secs = 3;
    std::fs::write(&file, oauth_scenario(&api, &tokens, secs)).unwrap();
    let out = d.join("run");
    let run = ninefold(
        &[
            "run",
            file.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ],
        &[
            ("NF_TEST_CLIENT_SECRET", "x-secret-x"),
            ("NF_TEST_BETA_KEY", BETA_KEY),
        ],
    );
    // Requests never sent make the run invalid (5): the tool's credentials failed,
    // not the system under test (which would be a FAIL, 1).
    assert_eq!(
        run.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let tally = tally.lock().unwrap().clone();
    assert!(
        !tally.contains_key("acme"),
        "no acme request reached the API: {tally:?}"
    );
    let beta = tally["beta"];
    assert_eq!(beta.1, 0);
    let s = summary(&out);
    // 20 req/s, uniform, for 3 s = 60 requests: what the API did not see of them is acme's.
    assert_eq!(
        s["outcomes"]["auth_fetch_failed"],
        20 * secs - beta.0,
        "{}",
        s["outcomes"]
    );
    assert_eq!(s["outcomes"]["ok"], beta.0);
    assert_eq!(s["requests"]["failed"], 0, "nothing is blamed on the API");
    // After a failure the endpoint is left alone for 1 s: about one ask a second.
    let calls = *issuer.calls.lock().unwrap();
    assert!((2..=5).contains(&calls), "{calls} token requests");
    assert!(
        s["warnings"].to_string().contains("auth_fetch_failed"),
        "{}",
        s["warnings"]
    );
}

#[test]
fn the_reference_gateway_takes_api_keys_and_throttles_each_by_its_plan() {
    let d = dir("gateway");
    let file = d.join("gw.toml");
    let secs = 3;
    std::fs::write(
        &file,
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
        ),
    )
    .unwrap();
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
