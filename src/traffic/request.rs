//! Request classes prepared for the hot path: static parts rendered once,
//! variables filled in per request into a reused buffer.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderName, HeaderValue, Method};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

use crate::scenario::template::{Template, Vars};
use crate::scenario::{RequestTemplate, Tenant, TokenKind};

/// The header that carries a logical request's idempotency key.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Marks a request with a hostile token. The gateway must refuse it, so no
/// backend may ever see this header; the mock backends count the ones that do
/// (`mock_backends::X_NINEFOLD_HOSTILE`, the same name).
pub static HOSTILE_MARK: HeaderName = HeaderName::from_static("x-ninefold-hostile");

/// The independent random streams of one request. Each is a generator of its own,
/// seeded from (run seed, phase, sequence number, stream) alone, so request `k` of a
/// phase is the same whichever worker or shard sends it, in whatever order, and a
/// retry renders the very request it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Which class and which tenant.
    Pick = 1,
    /// The idempotency key.
    Key = 2,
    /// Template variables (`{rand:A..B}`, `{uuid}`): path, then headers, then body.
    Render = 3,
}

/// The generator of `stream` for request `seq` of phase `phase` under `seed`.
pub fn request_rng(seed: u64, phase: usize, seq: u64, stream: Stream) -> SmallRng {
    // SplitMix64 over the inputs in turn. Each step is a bijection of the state, so
    // two requests that differ in one input only never share a seed, and its
    // avalanche makes neighbouring sequence numbers' streams unrelated.
    let mut x = splitmix(seed ^ 0x6E69_6E65_666F_6C64); // "ninefold"
    x = splitmix(x ^ phase as u64);
    x = splitmix(x ^ seq);
    x = splitmix(x ^ stream as u64);
    SmallRng::seed_from_u64(x)
}

/// One SplitMix64 step (Steele, Lea & Flood 2014).
fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The idempotency key of request `seq` of phase `phase`: a v4 UUID drawn from its
/// own stream, so a run with the same seed sends the same keys.
pub fn idempotency_key(seed: u64, phase: usize, seq: u64) -> HeaderValue {
    let bytes: [u8; 16] = request_rng(seed, phase, seq, Stream::Key).random();
    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
    HeaderValue::try_from(id.hyphenated().to_string())
        .unwrap_or(HeaderValue::from_static("invalid"))
}

/// Why a rendered request is not valid HTTP.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// `path` is the template as written: the rendering may hold a secret.
    #[error("path `{path}` does not render to a valid request target")]
    Path { path: String },
    #[error("rendered header {name} is not a valid header value")]
    Header { name: HeaderName },
}

/// A request class ready to send: the parts that never change rendered once, as
/// wire bytes.
#[derive(Debug, Clone)]
pub struct PreparedClass {
    pub method: Method,
    path: Template,
    /// `METHOD SP` (and the whole request line when the path is static).
    line_start: Vec<u8>,
    static_path: bool,
    /// `name: value\r\n` for every static header.
    static_headers: Vec<u8>,
    static_names: Vec<HeaderName>,
    /// The class writes `Authorization` itself (no token is added then).
    sets_authorization: bool,
    /// The other headers, in declaration order.
    dynamic_headers: Vec<(HeaderName, Dynamic)>,
    /// Per tenant (by index in the plan's tenants), what depends on the tenant
    /// only, rendered once; empty until [`PreparedClass::with_tenants`].
    tenants: Vec<TenantParts>,
    body: Option<Template>,
    static_body: Bytes,
    /// Whether `Content-Length` is sent even for an empty body (methods that carry one).
    length_always: bool,
    pub idempotency_key: bool,
    /// Correct statuses, resolved: the class's, else the phase's, else 401 for
    /// hostile tokens (empty = any 2xx/3xx).
    pub expect: Vec<u16>,
    pub token: TokenKind,
}

/// A class header that is not the same for every request.
#[derive(Debug, Clone)]
struct Dynamic {
    template: Template,
    /// Its slot in [`TenantParts::class_headers`] when it depends on the tenant only.
    per_tenant: Option<usize>,
}

/// What one tenant's requests of a class carry that depends on the tenant only.
#[derive(Debug, Clone, Default)]
struct TenantParts {
    /// `name: value\r\n` of each per-tenant class header, by slot.
    class_headers: Vec<Vec<u8>>,
    /// `name: value\r\n` of the tenant's own headers that render once.
    own_headers: Vec<u8>,
    /// The tenant's own headers with per-request variables.
    own_dynamic: Vec<(HeaderName, Template)>,
    /// What `{tenant.api_key}` renders.
    api_key: String,
    /// The tenant's own headers set `Authorization` (and the class does not).
    authorization: bool,
}

impl PreparedClass {
    /// Render, once per tenant of `tenants` (the plan's, by index), what depends on
    /// the tenant only: the class's `{tenant}` / `{tenant.api_key}` headers and the
    /// tenant's own headers (a class header of the same name wins). A request of
    /// tenant `i` then copies bytes instead of rendering.
    pub fn with_tenants(mut self, tenants: &[Tenant]) -> Self {
        let mut rng = SmallRng::seed_from_u64(0);
        self.tenants = tenants
            .iter()
            .map(|t| {
                let api_key = t
                    .credentials
                    .api_key
                    .as_ref()
                    .map(Template::render_static)
                    .unwrap_or_default();
                let mut vars = Vars {
                    seq: 0,
                    tenant: &t.id,
                    api_key: &api_key,
                    rng: &mut rng,
                };
                let mut class_headers = Vec::new();
                for (name, d) in &self.dynamic_headers {
                    if d.per_tenant.is_some() {
                        let mut line = Vec::new();
                        put_header(
                            &mut line,
                            name.as_str(),
                            d.template.render(&mut vars).as_bytes(),
                        );
                        class_headers.push(line);
                    }
                }
                let mut own_headers = Vec::new();
                let mut own_dynamic = Vec::new();
                for (name, v) in &t.credentials.headers {
                    if self.sets_header(name) {
                        continue;
                    }
                    if v.is_per_tenant() {
                        put_header(
                            &mut own_headers,
                            name.as_str(),
                            v.render(&mut vars).as_bytes(),
                        );
                    } else {
                        own_dynamic.push((name.clone(), v.clone()));
                    }
                }
                let authorization = !self.sets_authorization
                    && t.credentials
                        .headers
                        .iter()
                        .any(|(n, _)| n == AUTHORIZATION);
                TenantParts {
                    class_headers,
                    own_headers,
                    own_dynamic,
                    api_key,
                    authorization,
                }
            })
            .collect();
        self
    }

    /// Whether the class itself sets header `name`.
    fn sets_header(&self, name: &HeaderName) -> bool {
        self.dynamic_headers.iter().any(|(n, _)| n == name)
            || self.static_names.iter().any(|n| n == name)
    }

    /// Prepare `t`, a class of a phase whose `expect` is `phase_expect`.
    pub fn new(t: &RequestTemplate, phase_expect: &[u16]) -> Self {
        let expect = if !t.expect.is_empty() {
            t.expect.clone()
        } else if !phase_expect.is_empty() {
            phase_expect.to_vec()
        } else if t.token.is_hostile() {
            vec![401]
        } else {
            Vec::new()
        };
        let render_static = Template::render_static;
        let mut line_start = Vec::with_capacity(64);
        line_start.extend_from_slice(t.method.as_str().as_bytes());
        line_start.push(b' ');
        let static_path = t.path.is_static() && {
            let path = render_static(&t.path);
            valid_target(&path) && {
                line_start.extend_from_slice(path.as_bytes());
                line_start.extend_from_slice(b" HTTP/1.1\r\n");
                true
            }
        };
        let mut static_headers = Vec::new();
        let mut has_content_type = false;
        let mut dynamic_headers = Vec::new();
        let mut static_names = Vec::new();
        let mut slots = 0;
        for (name, value) in &t.headers {
            match value
                .is_static()
                .then(|| HeaderValue::try_from(render_static(value)).ok())
                .flatten()
            {
                Some(v) => {
                    has_content_type |= name == CONTENT_TYPE;
                    put_header(&mut static_headers, name.as_str(), v.as_bytes());
                    static_names.push(name.clone());
                }
                None => {
                    let per_tenant = (value.is_per_tenant() && !value.is_static()).then(|| {
                        slots += 1;
                        slots - 1
                    });
                    dynamic_headers.push((
                        name.clone(),
                        Dynamic {
                            template: value.clone(),
                            per_tenant,
                        },
                    ))
                }
            }
        }
        let static_body = match &t.body {
            Some(b) if b.is_static() => Bytes::from(render_static(b)),
            _ => Bytes::new(),
        };
        if t.body.is_some() && !has_content_type {
            let json = t.body.as_ref().is_some_and(|b| {
                let text = b.to_string();
                let trimmed = text.trim_start();
                trimmed.starts_with('{') || trimmed.starts_with('[')
            });
            let ct = if json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            };
            put_header(&mut static_headers, CONTENT_TYPE.as_str(), ct.as_bytes());
        }
        if t.token.is_hostile() {
            put_header(&mut static_headers, HOSTILE_MARK.as_str(), b"1");
        }
        PreparedClass {
            method: t.method.clone(),
            path: t.path.clone(),
            line_start,
            static_path,
            static_headers,
            sets_authorization: t.headers.iter().any(|(n, _)| n == AUTHORIZATION),
            static_names,
            dynamic_headers,
            tenants: Vec::new(),
            body: t.body.clone().filter(|b| !b.is_static()),
            static_body,
            length_always: matches!(t.method, Method::POST | Method::PUT | Method::PATCH),
            idempotency_key: t.idempotency_key,
            expect,
            token: t.token,
        }
    }

    /// Render one request, whole, into `out` (cleared first). `scratch` is a buffer
    /// reused across requests. `tenant` is the tenant's id and its index in the
    /// tenants given to [`PreparedClass::with_tenants`] (`None`: anonymous).
    #[allow(clippy::too_many_arguments)]
    pub fn build<R: Rng>(
        &self,
        out: &mut Vec<u8>,
        scratch: &mut String,
        rng: &mut R,
        seq: u64,
        tenant: Option<(usize, &str)>,
        host: &HeaderValue,
        authorization: Option<&HeaderValue>,
        idempotency_key: Option<&HeaderValue>,
    ) -> Result<(), BuildError> {
        let parts = tenant.and_then(|(i, _)| self.tenants.get(i));
        let api_key = parts.map_or("", |p| p.api_key.as_str());
        let tenant = tenant.map_or("", |(_, id)| id);
        out.clear();
        out.extend_from_slice(&self.line_start);
        if !self.static_path {
            scratch.clear();
            self.path.render_into(
                &mut Vars {
                    seq,
                    tenant,
                    api_key,
                    rng: &mut *rng,
                },
                scratch,
            );
            if !valid_target(scratch) {
                return Err(BuildError::Path {
                    path: self.path.to_string(),
                });
            }
            out.extend_from_slice(scratch.as_bytes());
            out.extend_from_slice(b" HTTP/1.1\r\n");
        }
        put_header(out, HOST.as_str(), host.as_bytes());
        out.extend_from_slice(&self.static_headers);
        for (name, d) in &self.dynamic_headers {
            if let (Some(slot), Some(p)) = (d.per_tenant, parts) {
                out.extend_from_slice(&p.class_headers[slot]);
                continue;
            }
            render_header(
                out,
                scratch,
                name,
                &d.template,
                &mut Vars {
                    seq,
                    tenant,
                    api_key,
                    rng: &mut *rng,
                },
            )?;
        }
        if let Some(p) = parts {
            out.extend_from_slice(&p.own_headers);
            for (name, tpl) in &p.own_dynamic {
                render_header(
                    out,
                    scratch,
                    name,
                    tpl,
                    &mut Vars {
                        seq,
                        tenant,
                        api_key,
                        rng: &mut *rng,
                    },
                )?;
            }
        }
        // An `Authorization` the class or the tenant writes itself replaces the token.
        if let Some(auth) = authorization
            && !self.sets_authorization
            && !parts.is_some_and(|p| p.authorization)
        {
            put_header(out, AUTHORIZATION.as_str(), auth.as_bytes());
        }
        if let Some(key) = idempotency_key {
            put_header(out, IDEMPOTENCY_KEY.as_str(), key.as_bytes());
        }
        let body: &[u8] = match &self.body {
            Some(tpl) => {
                scratch.clear();
                tpl.render_into(
                    &mut Vars {
                        seq,
                        tenant,
                        api_key,
                        rng: &mut *rng,
                    },
                    scratch,
                );
                scratch.as_bytes()
            }
            None => &self.static_body,
        };
        if !body.is_empty() || self.length_always {
            out.extend_from_slice(b"content-length: ");
            out.extend_from_slice(ninefold_http1::decimal(body.len() as u64, &mut [0; 20]));
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        Ok(())
    }
}

/// Render header `name` from `tpl` and append it, checked.
fn render_header<R: Rng>(
    out: &mut Vec<u8>,
    scratch: &mut String,
    name: &HeaderName,
    tpl: &Template,
    vars: &mut Vars<'_, R>,
) -> Result<(), BuildError> {
    scratch.clear();
    tpl.render_into(vars, scratch);
    if !scratch.bytes().all(valid_value_byte) {
        return Err(BuildError::Header { name: name.clone() });
    }
    put_header(out, name.as_str(), scratch.as_bytes());
    Ok(())
}

/// `name: value\r\n`.
fn put_header(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// A request target that can go on the wire: visible ASCII, no spaces.
fn valid_target(path: &str) -> bool {
    !path.is_empty() && path.bytes().all(|b| b.is_ascii_graphic())
}

/// A byte a header value may hold (as `http::HeaderValue` accepts them): no CR, LF, NUL.
fn valid_value_byte(b: u8) -> bool {
    b == b'\t' || (b >= 0x20 && b != 0x7f)
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use rand::SeedableRng;

    use super::*;

    fn class(method: Method, path: &str, body: Option<&str>) -> RequestTemplate {
        RequestTemplate {
            method,
            path: Template::parse(path).unwrap(),
            headers: vec![
                (
                    HeaderName::from_static("x-static"),
                    Template::parse("s").unwrap(),
                ),
                (
                    HeaderName::from_static("x-seq"),
                    Template::parse("{seq}").unwrap(),
                ),
            ],
            body: body.map(|b| Template::parse(b).unwrap()),
            idempotency_key: body.is_some(),
            weight: NonZeroU32::new(1).unwrap(),
            expect: vec![],
            token: TokenKind::Valid,
        }
    }

    /// A rendered request, parsed back: (method, path, headers in order, body).
    fn parse(wire: &[u8]) -> (String, String, Vec<(String, String)>, Vec<u8>) {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut req = httparse::Request::new(&mut headers);
        let len = match req.parse(wire).unwrap() {
            httparse::Status::Complete(len) => len,
            httparse::Status::Partial => panic!("incomplete request: {wire:?}"),
        };
        assert_eq!(req.version, Some(1));
        let headers = req
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_owned(),
                    String::from_utf8(h.value.to_vec()).unwrap(),
                )
            })
            .collect();
        (
            req.method.unwrap().to_owned(),
            req.path.unwrap().to_owned(),
            headers,
            wire[len..].to_vec(),
        )
    }

    /// `c` rendered for request 0: no tenant, token or key.
    fn render(c: &PreparedClass, rng: &mut rand::rngs::SmallRng) -> Vec<u8> {
        let mut out = Vec::new();
        let host = HeaderValue::from_static("127.0.0.1:1");
        c.build(
            &mut out,
            &mut String::new(),
            rng,
            0,
            None,
            &host,
            None,
            None,
        )
        .unwrap();
        out
    }

    fn get<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn tenant_with_key(id: &str, key: &str, headers: &[(&'static str, &str)]) -> Tenant {
        Tenant {
            id: id.into(),
            plan: crate::scenario::Plan {
                rate: 1.0,
                burst: NonZeroU32::new(1).unwrap(),
                quota: None,
            },
            token: None,
            credentials: crate::scenario::Credentials {
                api_key: Some(Template::parse(key).unwrap()),
                headers: headers
                    .iter()
                    .map(|(n, v)| (HeaderName::from_static(n), Template::parse(v).unwrap()))
                    .collect(),
                oauth2: None,
            },
        }
    }

    /// Regression: tokens used to go only into `Authorization: Bearer`, so AWS usage
    /// plans (`x-api-key`) and Kong (`apikey`) could not be driven.
    #[test]
    fn api_keys_go_in_any_header_aws_and_kong_style() {
        let mut t = class(Method::GET, "/t/{tenant}", None);
        t.headers.push((
            HeaderName::from_static("x-api-key"),
            Template::parse("{tenant.api_key}").unwrap(),
        ));
        let tenants = [
            tenant_with_key("acme", "acme-key-1", &[("apikey", "{tenant.api_key}")]),
            tenant_with_key(
                "beta",
                "beta-key-2",
                &[("x-static", "tenant loses"), ("x-plan", "gold-{tenant}")],
            ),
        ];
        let c = PreparedClass::new(&t, &[]).with_tenants(&tenants);
        let host = HeaderValue::from_static("127.0.0.1:1");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut out = Vec::new();
        for (i, tenant) in tenants.iter().enumerate() {
            c.build(
                &mut out,
                &mut String::new(),
                &mut rng,
                3,
                Some((i, &tenant.id)),
                &host,
                None,
                None,
            )
            .unwrap();
            let (_, path, headers, _) = parse(&out);
            assert_eq!(path, format!("/t/{}", tenant.id));
            let key = format!("{}-key-{}", tenant.id, i + 1);
            assert_eq!(get(&headers, "x-api-key"), Some(key.as_str()));
            assert_eq!(get(&headers, "x-seq"), Some("3"));
            assert_eq!(get(&headers, "authorization"), None);
            if i == 0 {
                assert_eq!(get(&headers, "apikey"), Some(key.as_str()));
            } else {
                // The class's own header wins over the tenant's of the same name.
                assert_eq!(get(&headers, "x-static"), Some("s"));
                assert_eq!(headers.iter().filter(|(n, _)| n == "x-static").count(), 1);
                assert_eq!(get(&headers, "x-plan"), Some("gold-beta"));
            }
        }
    }

    #[test]
    fn an_authorization_header_written_by_the_class_or_tenant_replaces_the_token() {
        let token = HeaderValue::from_static("Bearer minted");
        let host = HeaderValue::from_static("h");
        let tenants = [
            tenant_with_key("own", "k", &[("authorization", "ApiKey {tenant.api_key}")]),
            tenant_with_key("plain", "k", &[]),
        ];
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut out = Vec::new();
        let auths =
            |c: &PreparedClass, i: usize, out: &mut Vec<u8>, rng: &mut rand::rngs::SmallRng| {
                c.build(
                    out,
                    &mut String::new(),
                    rng,
                    0,
                    Some((i, &tenants[i].id)),
                    &host,
                    Some(&token),
                    None,
                )
                .unwrap();
                let (_, _, headers, _) = parse(out);
                headers
                    .into_iter()
                    .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
                    .map(|(_, v)| v)
                    .collect::<Vec<_>>()
            };
        let plain = PreparedClass::new(&class(Method::GET, "/", None), &[]).with_tenants(&tenants);
        assert_eq!(auths(&plain, 0, &mut out, &mut rng), ["ApiKey k"]);
        assert_eq!(auths(&plain, 1, &mut out, &mut rng), ["Bearer minted"]);
        let mut own = class(Method::GET, "/", None);
        own.headers
            .push((AUTHORIZATION, Template::parse("Basic abc").unwrap()));
        let own = PreparedClass::new(&own, &[]).with_tenants(&tenants);
        assert_eq!(auths(&own, 0, &mut out, &mut rng), ["Basic abc"]);
        assert_eq!(auths(&own, 1, &mut out, &mut rng), ["Basic abc"]);
    }

    #[test]
    fn builds_static_and_dynamic_parts() {
        let c = PreparedClass::new(
            &class(
                Method::POST,
                "/t/{tenant}/{seq}",
                Some(r#"{"sku": {rand:1..5}}"#),
            ),
            &[],
        );
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let host = HeaderValue::from_static("127.0.0.1:1");
        let key = HeaderValue::from_static("k-1");
        let auth = HeaderValue::from_static("Bearer t");
        let mut out = Vec::new();
        // Twice into the same buffer: the second rendering replaces the first.
        for seq in [6, 7] {
            c.build(
                &mut out,
                &mut String::new(),
                &mut rng,
                seq,
                Some((0, "acme")),
                &host,
                Some(&auth),
                Some(&key),
            )
            .unwrap();
        }
        let (method, path, headers, body) = parse(&out);
        assert_eq!((method.as_str(), path.as_str()), ("POST", "/t/acme/7"));
        assert_eq!(get(&headers, "x-seq"), Some("7"));
        assert_eq!(get(&headers, "x-static"), Some("s"));
        assert_eq!(get(&headers, "host"), Some("127.0.0.1:1"));
        assert_eq!(get(&headers, "idempotency-key"), Some("k-1"));
        assert_eq!(get(&headers, "authorization"), Some("Bearer t"));
        assert_eq!(get(&headers, "content-type"), Some("application/json"));
        assert_eq!(
            get(&headers, "content-length"),
            Some(body.len().to_string().as_str())
        );
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!((1..=5).contains(&v["sku"].as_u64().unwrap()));
    }

    #[test]
    fn bodiless_requests_send_a_length_only_where_the_method_carries_a_body() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        for (method, length) in [
            (Method::GET, None),
            (Method::DELETE, None),
            (Method::POST, Some("0")),
            (Method::PUT, Some("0")),
        ] {
            let c = PreparedClass::new(&class(method.clone(), "/x", None), &[]);
            let (m, path, headers, body) = parse(&render(&c, &mut rng));
            assert_eq!((m.as_str(), path.as_str()), (method.as_str(), "/x"));
            assert_eq!(get(&headers, "content-length"), length, "{method}");
            assert!(body.is_empty());
        }
    }

    #[test]
    fn invalid_renderings_are_refused_not_sent() {
        let host = HeaderValue::from_static("h");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut t = class(Method::GET, "/a b/{seq}", None);
        let mut out = Vec::new();
        let err = PreparedClass::new(&t, &[])
            .build(
                &mut out,
                &mut String::new(),
                &mut rng,
                1,
                None,
                &host,
                None,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, BuildError::Path { .. }), "{err}");
        t.path = Template::parse("/ok").unwrap();
        t.headers = vec![(
            HeaderName::from_static("x-tenant"),
            Template::parse("{tenant}").unwrap(),
        )];
        let err = PreparedClass::new(&t, &[])
            .build(
                &mut out,
                &mut String::new(),
                &mut rng,
                1,
                Some((0, "evil\r\nx-injected: 1")),
                &host,
                None,
                None,
            )
            .unwrap_err();
        assert!(matches!(err, BuildError::Header { .. }), "{err}");
    }

    #[test]
    fn expectations_resolve_in_order() {
        let mut t = class(Method::GET, "/items/1", None);
        assert!(PreparedClass::new(&t, &[]).expect.is_empty());
        assert_eq!(PreparedClass::new(&t, &[200, 429]).expect, [200, 429]);
        t.token = TokenKind::Expired;
        assert_eq!(PreparedClass::new(&t, &[]).expect, [401]);
        t.expect = vec![403];
        assert_eq!(PreparedClass::new(&t, &[200]).expect, [403]);
        assert!(PreparedClass::new(&t, &[]).static_path);
    }

    #[test]
    fn only_hostile_requests_carry_the_hostile_mark() {
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut t = class(Method::GET, "/items/1", None);
        let mut build =
            |t: &RequestTemplate| parse(&render(&PreparedClass::new(t, &[]), &mut rng)).2;
        assert_eq!(get(&build(&t), HOSTILE_MARK.as_str()), None);
        for kind in [TokenKind::Expired, TokenKind::AlgNone, TokenKind::Missing] {
            t.token = kind;
            assert_eq!(
                get(&build(&t), HOSTILE_MARK.as_str()),
                Some("1"),
                "{kind:?}"
            );
        }
    }
}
