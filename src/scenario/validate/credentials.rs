//! `{env:NAME}` values and the credentials of `[[tenants]]` (`api_key`,
//! `headers`, `oauth2`).

use super::Checker;
use super::traffic::{header_templates, template};
use crate::scenario::diagnostics::Path;
use crate::scenario::model::*;
use crate::scenario::raw::RawTenant;
use crate::scenario::template::Template;

/// Read the `{env:NAME}` values of `t` (at `path`); an unset variable is refused by name.
pub(super) fn resolve_env(cx: &mut Checker<'_>, path: &Path, t: &mut Template) {
    for name in t.resolve_env(cx.env) {
        cx.err(
            path,
            format!(
                "environment variable `{name}` is not set (read by `{{env:{name}}}`); \
                 export it before running ninefold"
            ),
        );
    }
}

/// A template that must render the same for every request: text and `{env:NAME}`.
pub(super) fn constant(cx: &mut Checker<'_>, path: &Path, text: &str) -> Template {
    let t = template(cx, path, text);
    if !t.is_static() {
        cx.err(
            path,
            format!("`{text}` may hold only text and `{{env:NAME}}`, no per-request variables"),
        );
    }
    t
}

/// The credentials of tenant `raw` at `path`.
pub(super) fn tenant(cx: &mut Checker<'_>, path: &Path, raw: &RawTenant) -> Credentials {
    let api_key = raw
        .api_key
        .as_deref()
        .map(|k| constant(cx, &path.key("api_key"), k));
    if api_key
        .as_ref()
        .is_some_and(|k| k.render_static().is_empty())
    {
        cx.err(&path.key("api_key"), "must not be empty");
    }
    let headers = header_templates(cx, path, raw.headers.as_ref());
    if api_key.is_none() {
        for (name, v) in &headers {
            if v.uses_api_key() {
                cx.err(
                    &path.key("headers").key(name.as_str()),
                    "uses `{tenant.api_key}` but this tenant has no `api_key`",
                );
            }
        }
    }
    let oauth2 = raw.oauth2.as_ref().map(|o| {
        let op = path.key("oauth2");
        if !(o.token_url.starts_with("http://") || o.token_url.starts_with("https://")) {
            cx.err(
                &op.key("token_url"),
                format!(
                    "`{}` must be an http:// or https:// URL of the token endpoint",
                    o.token_url
                ),
            );
        }
        if raw.token.is_some() {
            cx.err(
                &op,
                "a tenant sends either a static `token` or OAuth2 tokens, not both",
            );
        }
        OAuth2 {
            token_url: o.token_url.clone(),
            client_id: constant(cx, &op.key("client_id"), &o.client_id),
            client_secret: constant(cx, &op.key("client_secret"), &o.client_secret),
            scope: o.scope.clone().filter(|s| !s.trim().is_empty()),
        }
    });
    Credentials {
        api_key,
        headers,
        oauth2,
    }
}

/// `[[gateway.api_keys]]`: keys of declared tenants, each once, for the bundled gateway.
pub(super) fn api_keys(
    cx: &mut Checker<'_>,
    raw: &[crate::scenario::raw::RawApiKey],
    tenants: &[Tenant],
    gateway: &Gateway,
) -> Vec<ApiKey> {
    let root = Path::root().key("gateway").key("api_keys");
    if !raw.is_empty() && matches!(gateway.target, GatewayTarget::External { .. }) {
        cx.err(
            &root,
            "API keys configure the bundled gateway; an external one (`url`) has its own",
        );
    }
    let mut seen = std::collections::HashSet::new();
    raw.iter()
        .enumerate()
        .map(|(i, k)| {
            let path = root.index(i);
            let key = constant(cx, &path.key("key"), &k.key);
            let value = key.render_static();
            if value.is_empty() || http::HeaderValue::from_str(&value).is_err() {
                cx.err(
                    &path.key("key"),
                    "must be a non-empty header value (visible ASCII)",
                );
            } else if !seen.insert(value) {
                cx.err(&path.key("key"), "the same key is declared twice");
            }
            if !tenants.iter().any(|t| t.id == k.tenant) {
                let hint = crate::scenario::diagnostics::did_you_mean(
                    &k.tenant,
                    tenants.iter().map(|t| t.id.as_str()),
                )
                .unwrap_or_default();
                cx.err(
                    &path.key("tenant"),
                    format!(
                        "no tenant `{}`{hint}; declare it in `[[tenants]]`",
                        k.tenant
                    ),
                );
            }
            ApiKey {
                key,
                tenant: k.tenant.clone(),
            }
        })
        .collect()
}

/// Every class that renders `{tenant.api_key}` is drawn only for tenants that have one.
pub(super) fn check_phases(cx: &mut Checker<'_>, tenants: &[Tenant], phases: &[TrafficPhase]) {
    for (i, p) in phases.iter().enumerate() {
        for (j, r) in p.requests.iter().enumerate() {
            let uses = r.path.uses_api_key()
                || r.headers.iter().any(|(_, v)| v.uses_api_key())
                || r.body.as_ref().is_some_and(Template::uses_api_key);
            if !uses {
                continue;
            }
            let path = Path::root()
                .key("traffic")
                .index(i)
                .key("requests")
                .index(j);
            if p.tenants.is_empty() {
                cx.err(
                    &path,
                    "uses `{tenant.api_key}` but the phase sends no tenant's requests; declare `[[tenants]]` with `api_key`",
                );
            }
            for (id, _) in &p.tenants {
                if tenants
                    .iter()
                    .any(|t| &t.id == id && t.credentials.api_key.is_none())
                {
                    cx.err(
                        &path,
                        format!("uses `{{tenant.api_key}}` but tenant `{id}` has no `api_key`"),
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path as FsPath;

    use crate::scenario::raw::RawScenario;

    /// The problems of `body` (after a minimal head) with `env` as the environment.
    fn problems(body: &str, env: &[(&str, &str)]) -> Vec<String> {
        let text = format!(
            "name = \"c\"\nduration = \"1s\"\n[upstreams.api]\ninstances = 1\n{body}\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{{ path = \"/x\", headers = {{ \"x-api-key\" = \"{{tenant.api_key}}\" }} }}]\n"
        );
        let raw: RawScenario = toml::from_str(&text).unwrap();
        let lookup = |name: &str| {
            env.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        };
        match super::super::scenario_with_env(&raw, FsPath::new("."), &lookup) {
            Ok(_) => Vec::new(),
            Err(d) => d.into_iter().map(|d| d.message).collect(),
        }
    }

    #[test]
    fn credentials_are_checked_where_they_are_written() {
        let tenant =
            |extra: &str| format!("[[tenants]]\nid = \"acme\"\nplan = {{ rate = 10 }}\n{extra}\n");
        assert_eq!(
            problems(&tenant("api_key = \"{env:K}\""), &[("K", "v")]),
            Vec::<String>::new()
        );
        let cases = [
            (
                tenant("api_key = \"{env:K}\""),
                "tenants[0].api_key: environment variable `K` is not set",
            ),
            (
                tenant(""),
                "traffic[0].requests[0]: uses `{tenant.api_key}` but tenant `acme` has no `api_key`",
            ),
            (
                tenant("api_key = \"k-{seq}\""),
                "tenants[0].api_key: `k-{seq}` may hold only text and `{env:NAME}`",
            ),
            (
                tenant(
                    "api_key = \"k\"\noauth2 = { token_url = \"ftp://x\", client_id = \"i\", client_secret = \"{env:S}\" }",
                ),
                "tenants[0].oauth2.token_url: `ftp://x` must be an http:// or https:// URL",
            ),
            (
                tenant(
                    "api_key = \"k\"\noauth2 = { token_url = \"http://x\", client_id = \"i\", client_secret = \"{env:S}\" }",
                ),
                "tenants[0].oauth2.client_secret: environment variable `S` is not set",
            ),
            (
                format!(
                    "{}[[gateway.api_keys]]\nkey = \"k\"\ntenant = \"acmee\"\n",
                    tenant("api_key = \"k\"")
                ),
                "gateway.api_keys[0].tenant: no tenant `acmee`; did you mean `acme`?",
            ),
            (
                format!(
                    "{}[[gateway.api_keys]]\nkey = \"k\"\ntenant = \"acme\"\n[[gateway.api_keys]]\nkey = \"k\"\ntenant = \"acme\"\n",
                    tenant("api_key = \"k\"")
                ),
                "gateway.api_keys[1].key: the same key is declared twice",
            ),
        ];
        for (body, want) in cases {
            let got = problems(&body, &[]);
            assert!(
                got.iter().any(|p| p.starts_with(want)),
                "{body}\nwant {want}\ngot {got:#?}"
            );
        }
    }
}
