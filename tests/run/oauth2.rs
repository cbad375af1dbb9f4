//! OAuth2 client credentials end to end through `ninefold run` on 127.0.0.1,
//! against a token endpoint in the test: tokens fetched once, shared by the
//! workers and renewed before they expire; a failing endpoint counted as
//! `auth_fetch_failed`, and nothing sent without a token.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::IntoResponse;

use crate::credentials::{BETA_KEY, Server, assert_nowhere, dir, header, ninefold, serve, summary};

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
