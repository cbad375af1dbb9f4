//! OAuth2 client credentials (RFC 6749 §4.4): each tenant with `oauth2` gets its
//! access token from its token endpoint, and its requests carry it as
//! `Authorization: Bearer` (RFC 6750).
//!
//! One token per tenant, shared by every worker thread. A token is renewed before
//! it expires (`expires_in` less `min(60 s, expires_in / 2)`), in the background
//! while the old one is still good, so no request waits for a renewal. Only when
//! a tenant has no valid token do its requests wait: one of them fetches, the
//! others wait for its answer. No lock is held across the fetch: the state is a
//! `std` mutex taken for a few instructions, and waiters sleep on a `watch`.
//!
//! When the fetch fails, the requests waiting for it, and those of the next
//! [`RETRY_AFTER`], are not sent: their outcome is `auth_fetch_failed`, counted
//! apart from what the system under test answered.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine as _;
use http::HeaderValue;

use crate::scenario::{OAuth2, Tenant};

/// After a failed fetch, how long the tenant's requests fail at once before the
/// next fetch is tried (so a down token endpoint is not hammered at the request rate).
pub const RETRY_AFTER: Duration = Duration::from_secs(1);
/// The lifetime assumed when the endpoint gives no `expires_in` (RFC 6749 §5.1 only
/// recommends it).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(300);
/// Longest wait for the token endpoint.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// The token was not fetched: the request is not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AuthFetchFailed;

/// The OAuth2 tokens of every tenant (by tenant index; `None`: no `oauth2`).
pub struct OAuthTokens {
    grants: Vec<Option<Grant>>,
    client: reqwest::Client,
}

impl std::fmt::Debug for OAuthTokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthTokens")
            .field("tenants", &self.grants.iter().flatten().count())
            .finish_non_exhaustive()
    }
}

struct Grant {
    tenant: String,
    token_url: String,
    /// `Authorization: Basic` of the client id and secret (RFC 6749 §2.3.1).
    basic: HeaderValue,
    /// `grant_type=client_credentials[&scope=…]`.
    form: String,
    state: Mutex<State>,
    /// Bumped whenever a fetch ends (well or not).
    changed: tokio::sync::watch::Sender<u64>,
    /// Fetches started, for the logs.
    fetches: AtomicU64,
}

#[derive(Default)]
struct State {
    token: Option<Issued>,
    fetching: bool,
    /// Until when requests fail at once after a failed fetch.
    failed_until: Option<Instant>,
}

#[derive(Clone)]
struct Issued {
    header: HeaderValue,
    renew_at: Instant,
    expires_at: Instant,
}

/// What a request of the tenant does now.
enum Step {
    /// The token, and whether this request starts its renewal.
    Use(HeaderValue, bool),
    Fail,
    Fetch,
    Wait(tokio::sync::watch::Receiver<u64>),
}

impl OAuthTokens {
    /// The grants of `tenants`; `None` when no tenant uses OAuth2.
    pub fn new(tenants: &[Tenant]) -> Option<Arc<Self>> {
        if tenants.iter().all(|t| t.credentials.oauth2.is_none()) {
            return None;
        }
        // The shared TLS settings of the run (`[client] tls`) plug in here, once
        // there are some: `reqwest::ClientBuilder::use_preconfigured_tls`.
        let client = reqwest::Client::builder()
            .timeout(FETCH_TIMEOUT)
            // Connections are not pooled: a fetch is rare, and the worker runtime
            // that opened a pooled connection may have ended before the next one.
            .pool_max_idle_per_host(0)
            .build()
            .unwrap_or_default();
        let grants = tenants
            .iter()
            .map(|t| t.credentials.oauth2.as_ref().map(|o| Grant::new(&t.id, o)))
            .collect();
        Some(Arc::new(OAuthTokens { grants, client }))
    }

    /// Whether tenant `tenant` gets its tokens here.
    pub fn covers(&self, tenant: usize) -> bool {
        self.grants.get(tenant).is_some_and(Option::is_some)
    }

    /// The `Authorization` value for a request of tenant `tenant` sent now (starting
    /// the token's renewal in the background when it is due).
    pub async fn header(self: &Arc<Self>, tenant: usize) -> Result<HeaderValue, AuthFetchFailed> {
        let Some(Some(grant)) = self.grants.get(tenant) else {
            return Err(AuthFetchFailed);
        };
        loop {
            match grant.step(Instant::now()) {
                Step::Use(h, renew) => {
                    if renew {
                        self.renew(tenant);
                    }
                    return Ok(h);
                }
                Step::Fail => return Err(AuthFetchFailed),
                Step::Fetch => {
                    // Boxed: an HTTP client's future, far larger than the rest, lives
                    // inside every request's future otherwise; a fetch is rare.
                    let outcome = Box::pin(FetchGuard::new(grant).run(&self.client)).await;
                    return outcome.map(|t| t.header).map_err(|()| AuthFetchFailed);
                }
                Step::Wait(mut rx) => {
                    // The fetcher's guard always bumps the counter, even when dropped.
                    if rx.changed().await.is_err() {
                        return Err(AuthFetchFailed);
                    }
                }
            }
        }
    }

    /// Renew tenant `tenant`'s token in the background (its `fetching` is set).
    fn renew(self: &Arc<Self>, tenant: usize) {
        let this = Arc::clone(self);
        tokio::spawn(async move {
            if let Some(Some(grant)) = this.grants.get(tenant) {
                let guard = FetchGuard { grant, done: false };
                let _ = guard.run(&this.client).await;
            }
        });
    }
}

impl Grant {
    fn new(tenant: &str, o: &OAuth2) -> Self {
        let id = o.client_id.render_static();
        let secret = o.client_secret.render_static();
        // RFC 6749 §2.3.1: the id and secret are form-encoded, then Basic-encoded.
        let credentials = format!("{}:{}", form_encode(&id), form_encode(&secret));
        let basic = base64::engine::general_purpose::STANDARD.encode(credentials);
        let mut basic = HeaderValue::try_from(format!("Basic {basic}"))
            .unwrap_or(HeaderValue::from_static("Basic invalid"));
        basic.set_sensitive(true);
        let mut form = "grant_type=client_credentials".to_owned();
        if let Some(scope) = &o.scope {
            form.push_str("&scope=");
            form.push_str(&form_encode(scope));
        }
        Grant {
            tenant: tenant.to_owned(),
            token_url: o.token_url.clone(),
            basic,
            form,
            state: Mutex::new(State::default()),
            changed: tokio::sync::watch::Sender::new(0),
            fetches: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn step(&self, now: Instant) -> Step {
        let mut st = self.lock();
        if let Some(t) = &st.token
            && now < t.expires_at
        {
            let renew = now >= t.renew_at && !st.fetching;
            let header = t.header.clone();
            st.fetching |= renew;
            return Step::Use(header, renew);
        }
        if st.failed_until.is_some_and(|until| now < until) {
            return Step::Fail;
        }
        if st.fetching {
            // Subscribed under the lock: the fetch's end cannot slip by unseen.
            return Step::Wait(self.changed.subscribe());
        }
        st.fetching = true;
        Step::Fetch
    }

    async fn fetch(&self, client: &reqwest::Client) -> Result<Issued, String> {
        let n = self.fetches.fetch_add(1, Ordering::Relaxed) + 1;
        let asked = Instant::now();
        let response = client
            .post(&self.token_url)
            .header(http::header::AUTHORIZATION, self.basic.clone())
            .header(
                http::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .header(http::header::ACCEPT, "application/json")
            .body(self.form.clone())
            .send()
            .await
            .map_err(|e| format!("cannot reach the token endpoint: {e}"))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| format!("cannot read the token endpoint's answer: {e}"))?;
        if !status.is_success() {
            // RFC 6749 §5.2: `{"error": "invalid_client", …}`; the code says why.
            let code = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_default();
            return Err(format!("the token endpoint answered {status} {code}"));
        }
        let token: TokenResponse = serde_json::from_slice(&body)
            .map_err(|e| format!("the token endpoint's answer is not a token response: {e}"))?;
        if !token.token_type.eq_ignore_ascii_case("bearer") {
            return Err(format!(
                "the token endpoint issued a `{}` token; ninefold sends Bearer tokens",
                token.token_type
            ));
        }
        let mut header = HeaderValue::try_from(format!("Bearer {}", token.access_token))
            .map_err(|_| "the access token is not a valid header value".to_owned())?;
        header.set_sensitive(true);
        let lifetime = token
            .expires_in
            .map_or(DEFAULT_LIFETIME, Duration::from_secs);
        tracing::debug!(tenant = %self.tenant, fetch = n, lifetime_s = lifetime.as_secs(), "OAuth2 token issued");
        Ok(Issued {
            header,
            // Counted from the ask: the endpoint's clock started no later.
            renew_at: asked + lifetime - renew_lead(lifetime),
            expires_at: asked + lifetime,
        })
    }
}

/// How long before expiry a token is renewed.
pub fn renew_lead(lifetime: Duration) -> Duration {
    (lifetime / 2).min(Duration::from_secs(60))
}

/// A fetch in progress: whatever becomes of it (done, failed, dropped with its
/// task), `fetching` is cleared and waiters are woken.
struct FetchGuard<'a> {
    grant: &'a Grant,
    done: bool,
}

impl<'a> FetchGuard<'a> {
    fn new(grant: &'a Grant) -> Self {
        FetchGuard { grant, done: false }
    }

    async fn run(mut self, client: &reqwest::Client) -> Result<Issued, ()> {
        let result = self.grant.fetch(client).await;
        let now = Instant::now();
        {
            let mut st = self.grant.lock();
            st.fetching = false;
            match &result {
                Ok(t) => {
                    st.token = Some(t.clone());
                    st.failed_until = None;
                }
                Err(e) => {
                    tracing::warn!(tenant = %self.grant.tenant, url = %self.grant.token_url, error = %e, "cannot fetch an OAuth2 token; the tenant's requests are not sent (auth_fetch_failed)");
                    // A token still good stays in use; without one, requests fail for a while.
                    if st.token.as_ref().is_none_or(|t| now >= t.expires_at) {
                        st.failed_until = Some(now + RETRY_AFTER);
                    }
                }
            }
        }
        self.done = true;
        self.grant.changed.send_modify(|n| *n += 1);
        result.map_err(|_| ())
    }
}

impl Drop for FetchGuard<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.grant.lock().fetching = false;
            self.grant.changed.send_modify(|n| *n += 1);
        }
    }
}

/// RFC 6749 §5.1.
#[derive(serde::Deserialize)]
struct TokenResponse {
    access_token: String,
    token_type: String,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// `application/x-www-form-urlencoded` (the WHATWG form encoding RFC 6749 Appendix B names).
fn form_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'*' | b'-' | b'.' | b'_' => {
                out.push(b as char);
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_follows_the_whatwg_rules() {
        assert_eq!(form_encode("a b+c/d:é"), "a+b%2Bc%2Fd%3A%C3%A9");
        assert_eq!(
            form_encode("orders:read orders:write"),
            "orders%3Aread+orders%3Awrite"
        );
    }

    /// A token endpoint on 127.0.0.1:0 that counts its calls and answers `status`.
    async fn endpoint(status: u16) -> (String, Arc<AtomicU64>) {
        let calls = Arc::new(AtomicU64::new(0));
        let c = calls.clone();
        let app = axum::Router::new().route(
            "/token",
            axum::routing::post(move || {
                let n = c.fetch_add(1, Ordering::SeqCst) + 1;
                async move {
                    let body = format!(
                        r#"{{"access_token":"t{n}","token_type":"bearer","expires_in":3600}}"#
                    );
                    (http::StatusCode::from_u16(status).unwrap(), body)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (format!("http://{addr}/token"), calls)
    }

    fn tenant(url: &str) -> Tenant {
        let t = |s: &str| crate::scenario::template::Template::parse(s).unwrap();
        Tenant {
            id: "acme".into(),
            plan: crate::scenario::Plan {
                rate: 1.0,
                burst: std::num::NonZeroU32::MIN,
                quota: None,
            },
            token: None,
            credentials: crate::scenario::Credentials {
                oauth2: Some(OAuth2 {
                    token_url: url.into(),
                    client_id: t("id"),
                    client_secret: t("secret"),
                    scope: None,
                }),
                ..Default::default()
            },
        }
    }

    #[tokio::test]
    async fn concurrent_requests_without_a_token_share_one_fetch() {
        let (url, calls) = endpoint(200).await;
        let tokens = OAuthTokens::new(&[tenant(&url)]).unwrap();
        // Polled together: the first fetches, the 19 others wait for its answer.
        let all = futures::future::join_all((0..20).map(|_| tokens.header(0))).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            all.iter().all(|h| h.as_ref().unwrap() == "Bearer t1"),
            "{all:?}"
        );
        // Cached: no second fetch for an hour's token.
        assert_eq!(tokens.header(0).await.unwrap(), "Bearer t1");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_fetch_fails_its_waiters_and_is_not_retried_at_once() {
        let (url, calls) = endpoint(503).await;
        let tokens = OAuthTokens::new(&[tenant(&url)]).unwrap();
        let all = futures::future::join_all((0..20).map(|_| tokens.header(0))).await;
        assert!(all.iter().all(|h| *h == Err(AuthFetchFailed)));
        assert_eq!(tokens.header(0).await, Err(AuthFetchFailed));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "within RETRY_AFTER: no new ask"
        );
    }

    #[test]
    fn renewal_comes_before_expiry() {
        assert_eq!(renew_lead(Duration::from_secs(2)), Duration::from_secs(1));
        assert_eq!(
            renew_lead(Duration::from_secs(3600)),
            Duration::from_secs(60)
        );
    }
}
