//! Request classes prepared for the hot path: static parts rendered once,
//! variables filled in per request into a reused buffer.

use bytes::Bytes;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use rand::Rng;

use crate::scenario::template::{Template, Vars};
use crate::scenario::{RequestTemplate, TokenKind};

/// The header that carries a logical request's idempotency key.
pub static IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");

/// Marks a request with a hostile token. The gateway must refuse it, so no
/// backend may ever see this header; the mock backends count the ones that do
/// (`mock_backends::X_NINEFOLD_HOSTILE`, the same name).
pub static HOSTILE_MARK: HeaderName = HeaderName::from_static("x-ninefold-hostile");

/// Why a rendered request is not valid HTTP.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("rendered path `{path}` is not a valid request target")]
    Path { path: String },
    #[error("rendered header {name} is not a valid header value")]
    Header { name: HeaderName },
}

/// A request class ready to send.
#[derive(Debug, Clone)]
pub struct PreparedClass {
    pub method: Method,
    path: Template,
    static_uri: Option<Uri>,
    static_headers: HeaderMap,
    dynamic_headers: Vec<(HeaderName, Template)>,
    body: Option<Template>,
    static_body: Bytes,
    pub idempotency_key: bool,
    /// Correct statuses, resolved: the class's, else the phase's, else 401 for
    /// hostile tokens (empty = any 2xx/3xx).
    pub expect: Vec<u16>,
    pub token: TokenKind,
}

impl PreparedClass {
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
        let render_static = |tpl: &Template| {
            // Static templates draw nothing; any RNG will do.
            let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0);
            tpl.render(&mut Vars {
                seq: 0,
                tenant: "",
                rng: &mut rng,
            })
        };
        let static_uri = t
            .path
            .is_static()
            .then(|| Uri::try_from(render_static(&t.path)).ok())
            .flatten();
        let mut static_headers = HeaderMap::new();
        let mut dynamic_headers = Vec::new();
        for (name, value) in &t.headers {
            match value
                .is_static()
                .then(|| HeaderValue::try_from(render_static(value)).ok())
                .flatten()
            {
                Some(v) => {
                    static_headers.append(name.clone(), v);
                }
                None => dynamic_headers.push((name.clone(), value.clone())),
            }
        }
        let static_body = match &t.body {
            Some(b) if b.is_static() => Bytes::from(render_static(b)),
            _ => Bytes::new(),
        };
        if t.body.is_some() && !static_headers.contains_key(CONTENT_TYPE) {
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
            static_headers.insert(CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        if t.token.is_hostile() {
            static_headers.insert(HOSTILE_MARK.clone(), HeaderValue::from_static("1"));
        }
        PreparedClass {
            method: t.method.clone(),
            path: t.path.clone(),
            static_uri,
            static_headers,
            dynamic_headers,
            body: t.body.clone().filter(|b| !b.is_static()),
            static_body,
            idempotency_key: t.idempotency_key,
            expect,
            token: t.token,
        }
    }

    /// Build one request. `buf` is a scratch buffer reused across requests.
    #[allow(clippy::too_many_arguments)]
    pub fn build<R: Rng>(
        &self,
        buf: &mut String,
        rng: &mut R,
        seq: u64,
        tenant: &str,
        host: &HeaderValue,
        authorization: Option<HeaderValue>,
        idempotency_key: Option<&HeaderValue>,
    ) -> Result<Request<Full<Bytes>>, BuildError> {
        let uri = match &self.static_uri {
            Some(uri) => uri.clone(),
            None => {
                buf.clear();
                self.path.render_into(
                    &mut Vars {
                        seq,
                        tenant,
                        rng: &mut *rng,
                    },
                    buf,
                );
                Uri::try_from(buf.as_str()).map_err(|_| BuildError::Path { path: buf.clone() })?
            }
        };
        let mut headers = self.static_headers.clone();
        for (name, tpl) in &self.dynamic_headers {
            buf.clear();
            tpl.render_into(
                &mut Vars {
                    seq,
                    tenant,
                    rng: &mut *rng,
                },
                buf,
            );
            let value = HeaderValue::try_from(buf.as_str())
                .map_err(|_| BuildError::Header { name: name.clone() })?;
            headers.append(name.clone(), value);
        }
        headers.insert(HOST, host.clone());
        if let Some(auth) = authorization {
            headers.insert(AUTHORIZATION, auth);
        }
        if let Some(key) = idempotency_key {
            headers.insert(IDEMPOTENCY_KEY.clone(), key.clone());
        }
        let body = match &self.body {
            Some(tpl) => {
                let mut text = String::with_capacity(64);
                tpl.render_into(
                    &mut Vars {
                        seq,
                        tenant,
                        rng: &mut *rng,
                    },
                    &mut text,
                );
                Bytes::from(text)
            }
            None => self.static_body.clone(),
        };
        let mut req = Request::new(Full::new(body));
        *req.method_mut() = self.method.clone();
        *req.uri_mut() = uri;
        *req.headers_mut() = headers;
        Ok(req)
    }
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
        let req = c
            .build(
                &mut String::new(),
                &mut rng,
                7,
                "acme",
                &host,
                None,
                Some(&key),
            )
            .unwrap();
        assert_eq!(req.uri(), "/t/acme/7");
        assert_eq!(req.headers()["x-seq"], "7");
        assert_eq!(req.headers()["x-static"], "s");
        assert_eq!(req.headers()[HOST], "127.0.0.1:1");
        assert_eq!(req.headers()["idempotency-key"], "k-1");
        assert_eq!(req.headers()[CONTENT_TYPE], "application/json");
        let body = req.into_body();
        let bytes = futures::executor::block_on(http_body_util::BodyExt::collect(body))
            .unwrap()
            .to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert!((1..=5).contains(&v["sku"].as_u64().unwrap()));
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
        let static_path = PreparedClass::new(&t, &[]);
        assert!(static_path.static_uri.is_some());
    }

    #[test]
    fn only_hostile_requests_carry_the_hostile_mark() {
        let host = HeaderValue::from_static("127.0.0.1:1");
        let mut rng = rand::rngs::SmallRng::seed_from_u64(1);
        let mut t = class(Method::GET, "/items/1", None);
        let mut build = |t: &RequestTemplate| {
            PreparedClass::new(t, &[])
                .build(&mut String::new(), &mut rng, 0, "", &host, None, None)
                .unwrap()
        };
        assert!(!build(&t).headers().contains_key(&HOSTILE_MARK));
        for kind in [TokenKind::Expired, TokenKind::AlgNone, TokenKind::Missing] {
            t.token = kind;
            assert_eq!(build(&t).headers()[&HOSTILE_MARK], "1", "{kind:?}");
        }
    }
}
