//! Request rendering tests: the wire bytes of prepared classes, parsed back, for
//! static and dynamic parts, tenants and their credentials, and refused renderings.

use std::num::NonZeroU32;

use rand::SeedableRng;

use super::*;
use crate::scenario::Tenant;

fn class(method: Method, path: &str, body: Option<&str>) -> RequestTemplate {
    RequestTemplate {
        check: None,
        extract: Vec::new(),
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
        integrity: None,
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
        &[],
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
            &[],
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
    let auths = |c: &PreparedClass, i: usize, out: &mut Vec<u8>, rng: &mut rand::rngs::SmallRng| {
        c.build(
            out,
            &mut String::new(),
            rng,
            0,
            Some((i, &tenants[i].id)),
            &host,
            Some(&token),
            None,
            &[],
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
            &[],
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
            &[],
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
            &[],
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
    let mut build = |t: &RequestTemplate| parse(&render(&PreparedClass::new(t, &[]), &mut rng)).2;
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
