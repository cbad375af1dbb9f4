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

/// One `[[gateway.api_keys]]` entry: a key the reference gateway accepts in
/// `x-api-key`, and the tenant whose plan it counts against.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiKey {
    /// Text or `{env:NAME}`.
    pub key: Template,
    pub tenant: String,
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
        let mut out = secrets_of(&self.tenants, &self.traffic, self.gateway.auth.as_ref());
        out.extend(self.gateway.api_keys.iter().map(|k| k.key.render_static()));
        out.sort();
        out.dedup();
        out
    }
}

/// Every value the tenants, phases and JWT settings read from the environment,
/// every tenant's `api_key`, `token` and OAuth2 secret, and the JWT secret: what
/// no output may show.
pub fn secrets_of(
    tenants: &[super::Tenant],
    phases: &[super::TrafficPhase],
    auth: Option<&super::Auth>,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tenants {
        out.extend(t.token.clone());
        if let Some(k) = &t.credentials.api_key {
            out.push(k.render_static());
        }
        if let Some(o) = &t.credentials.oauth2 {
            out.push(o.client_secret.render_static());
        }
    }
    let mut add = |t: &Template| out.extend(t.secrets().map(str::to_owned));
    for t in tenants {
        let c = &t.credentials;
        c.api_key.iter().for_each(&mut add);
        c.headers.iter().for_each(|(_, v)| add(v));
        if let Some(o) = &c.oauth2 {
            add(&o.client_id);
            add(&o.client_secret);
        }
    }
    for r in phases.iter().flat_map(|p| &p.requests) {
        add(&r.path);
        r.headers.iter().for_each(|(_, v)| add(v));
        r.body.iter().for_each(&mut add);
    }
    if let Some(super::Auth {
        key: super::KeySource::Secret(s),
        ..
    }) = auth
    {
        out.push(s.render_static());
    }
    out.retain(|s| !s.is_empty());
    out.sort();
    out.dedup();
    out
}

/// `text` with every secret of `secrets` replaced by `<redacted>`; when `cut`
/// (the text is the start of something longer), a secret's start at its very
/// end goes too.
pub fn redact_text(text: &str, secrets: &[String], cut: bool) -> String {
    let mut out = text.to_owned();
    for s in secrets {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), "<redacted>");
        }
        if cut {
            // The longest proper prefix of the secret the text ends with (at least 3 bytes).
            let tail = (3..s.len())
                .rev()
                .filter(|&n| s.is_char_boundary(n))
                .find(|&n| out.ends_with(&s[..n]));
            if let Some(n) = tail {
                out.truncate(out.len() - n);
                out.push_str("<redacted>");
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_hidden_even_cut_short() {
        let secrets = vec!["s3cr3t-value".to_owned()];
        assert_eq!(
            redact_text("key=s3cr3t-value;", &secrets, false),
            "key=<redacted>;"
        );
        assert_eq!(
            redact_text("key=s3cr3t-v", &secrets, true),
            "key=<redacted>"
        );
        assert_eq!(redact_text("key=s3", &secrets, true), "key=s3");
        assert_eq!(redact_text("key=s3cr3t-v", &secrets, false), "key=s3cr3t-v");
    }
}
