//! What a tenant presents besides a minted JWT: an API key, headers of its own,
//! OAuth2 client credentials. Secret values come from `{env:NAME}` templates,
//! resolved at validation; they render into requests and nowhere else.

use super::super::template::Template;
use super::Scenario;

/// A tenant's own credentials (`[[tenants]] api_key`, `headers`, `oauth2`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Credentials {
    /// What `{tenant.api_key}` renders: literal text and `{env:NAME}` only.
    pub api_key: Option<Template>,
    /// Headers every request of the tenant carries (a class's header of the same
    /// name wins).
    pub headers: Vec<(http::HeaderName, Template)>,
    /// OAuth2 client credentials: the tenant's requests carry the token the
    /// endpoint issues (`Authorization: Bearer`), instead of a minted JWT.
    pub oauth2: Option<OAuth2>,
}

/// OAuth2 client-credentials grant (RFC 6749 §4.4).
#[derive(Debug, Clone, PartialEq)]
pub struct OAuth2 {
    /// The token endpoint, `http://` or `https://`.
    pub token_url: String,
    /// Literal text and `{env:NAME}` only.
    pub client_id: Template,
    pub client_secret: Template,
    /// Space-separated scopes to ask for.
    pub scope: Option<String>,
}

impl Scenario {
    /// Every value read from the environment: what no output may show.
    pub fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut add = |t: &Template| out.extend(t.secrets().map(str::to_owned));
        for t in &self.tenants {
            let c = &t.credentials;
            c.api_key.iter().for_each(&mut add);
            c.headers.iter().for_each(|(_, v)| add(v));
            if let Some(o) = &c.oauth2 {
                add(&o.client_id);
                add(&o.client_secret);
            }
        }
        for r in self.traffic.iter().flat_map(|p| &p.requests) {
            add(&r.path);
            r.headers.iter().for_each(|(_, v)| add(v));
            r.body.iter().for_each(&mut add);
        }
        out.retain(|s| !s.is_empty());
        out.sort();
        out.dedup();
        out
    }
}

/// `text` with every secret of `secrets` replaced by `<redacted>`.
pub fn redact_text(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
    }
    out
}
