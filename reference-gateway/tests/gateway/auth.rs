//! JWT: hostile tokens are refused with 401 and never reach the upstream; scopes → 403;
//! JWKS keys selected by `kid` and rotated by reload.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reference_gateway::{AuthConfig, KeySource, UnknownTenant};
use serde_json::{Value, json};

use crate::support::*;

const ISS: &str = "https://auth.test";
const AUD: &str = "orders-api";

fn rs256(private: &str, claims: &Value) -> String {
    let pem = std::fs::read(key_path(private)).unwrap();
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        claims,
        &EncodingKey::from_rsa_pem(&pem).unwrap(),
    )
    .unwrap()
}

fn good_claims() -> Value {
    json!({ "tenant_id": "acme", "iss": ISS, "aud": AUD, "exp": now() + 300, "scope": "items:read" })
}

fn with(mut v: Value, key: &str, value: Value) -> Value {
    v[key] = value;
    v
}

fn without(mut v: Value, key: &str) -> Value {
    v.as_object_mut().unwrap().remove(key);
    v
}

// Long: a table of hostile tokens, each sent and its 401 checked, then the upstream's count.
#[tokio::test]
async fn hostile_tokens_get_401_and_never_reach_the_upstream() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig {
        algorithm: Algorithm::RS256,
        key: KeySource::PemFile(key_path("rsa_public.pem")),
        issuer: Some(ISS.into()),
        audience: Some(AUD.into()),
        tenant_claim: "tenant_id".into(),
        scope_claim: "scope".into(),
        leeway: Duration::from_secs(5),
    });
    cfg.rate_limit.unknown_tenant = UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let good = rs256("rsa_private.pem", &good_claims());
    let public_pem = std::fs::read(key_path("rsa_public.pem")).unwrap();
    let hs_with_public_key = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &good_claims(),
        &EncodingKey::from_secret(&public_pem),
    )
    .unwrap();
    let alg_none = format!(
        "{}.{}.",
        B64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        B64.encode(good_claims().to_string())
    );
    let parts: Vec<&str> = good.split('.').collect();
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        B64.encode(with(good_claims(), "tenant_id", json!("evil")).to_string()),
        parts[2]
    );
    let auth = |t: &str| vec![("authorization".to_string(), format!("Bearer {t}"))];
    type Case<'a> = (&'a str, Vec<(String, String)>, &'a str);
    let cases: Vec<Case> = vec![
        ("no Authorization header", vec![], ""),
        ("alg none", auth(&alg_none), ""),
        (
            "HS256 signed with the RSA public key",
            auth(&hs_with_public_key),
            "",
        ),
        (
            "signed with another key",
            auth(&rs256("other_private.pem", &good_claims())),
            "",
        ),
        (
            "expired beyond leeway",
            auth(&rs256(
                "rsa_private.pem",
                &with(good_claims(), "exp", json!(now() - 60)),
            )),
            "",
        ),
        (
            "nbf in the future",
            auth(&rs256(
                "rsa_private.pem",
                &with(good_claims(), "nbf", json!(now() + 60)),
            )),
            "",
        ),
        (
            "wrong issuer",
            auth(&rs256(
                "rsa_private.pem",
                &with(good_claims(), "iss", json!("https://evil")),
            )),
            "",
        ),
        (
            "wrong audience",
            auth(&rs256(
                "rsa_private.pem",
                &with(good_claims(), "aud", json!("other-api")),
            )),
            "",
        ),
        (
            "missing tenant claim",
            auth(&rs256(
                "rsa_private.pem",
                &without(good_claims(), "tenant_id"),
            )),
            "",
        ),
        (
            "missing exp",
            auth(&rs256("rsa_private.pem", &without(good_claims(), "exp"))),
            "",
        ),
        (
            "bad base64",
            auth("eyJhbGciOiJSUzI1NiJ9.!!!notbase64!!!.c2ln"),
            "",
        ),
        ("truncated", auth(&good[..good.len() - 12]), ""),
        ("signature stripped", auth(&unsigned), ""),
        ("payload tampered", auth(&tampered), ""),
        (
            "empty bearer",
            vec![("authorization".into(), "Bearer ".into())],
            "",
        ),
        (
            "Basic scheme",
            vec![("authorization".into(), "Basic YWxpY2U6c2VjcmV0".into())],
            "",
        ),
        (
            "token in the query string only",
            vec![],
            "?access_token=GOOD",
        ),
        (
            "two Authorization headers",
            [auth(&good), auth(&good)].concat(),
            "",
        ),
        (
            "oversized token",
            auth(&format!("{good}{}", "A".repeat(9000))),
            "",
        ),
        ("not a JWT at all", auth("hello"), ""),
    ];
    assert!(cases.len() >= 15);
    for (name, headers, query) in &cases {
        let mut rb = c.get(format!(
            "{}/items/1{}",
            gw.url,
            query.replace("GOOD", &good)
        ));
        for (k, v) in headers {
            rb = rb.header(k, v);
        }
        let resp = rb.send().await.unwrap();
        assert_eq!(resp.status(), 401, "{name}");
        assert_eq!(
            resp.headers()["www-authenticate"],
            "Bearer error=\"invalid_token\"",
            "{name}"
        );
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["error"], "invalid_token", "{name}");
    }
    assert_eq!(
        up.calls(),
        0,
        "a refused token must never reach the upstream"
    );

    // The same gateway admits the good token, and a token expired within the leeway.
    let resp = c
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(&good)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let in_leeway = rs256(
        "rsa_private.pem",
        &with(good_claims(), "exp", json!(now() - 2)),
    );
    let resp = c
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(&in_leeway)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.calls(), 2);
}

#[tokio::test]
async fn missing_scope_is_403() {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig::hmac(Algorithm::HS256, SECRET));
    cfg.rate_limit.unknown_tenant = UnknownTenant::Unlimited;
    cfg.routes[0].scopes = vec!["items:write".into()];
    let gw = spawn_gateway(cfg).await;
    let c = client();
    let resp = c
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(tenant_token("acme"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 403);
    assert_eq!(
        resp.headers()["www-authenticate"],
        "Bearer error=\"insufficient_scope\""
    );
    let t =
        hs256(json!({ "tenant_id": "acme", "exp": now() + 60, "scope": "items:read items:write" }));
    let resp = c
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(t)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(up.calls(), 1);
}

fn oct(kid: &str, secret: &[u8]) -> Value {
    json!({ "kty": "oct", "kid": kid, "alg": "HS256", "k": B64.encode(secret) })
}

fn kid_token(kid: &str, secret: &[u8]) -> String {
    let mut h = Header::new(Algorithm::HS256);
    h.kid = Some(kid.into());
    jsonwebtoken::encode(
        &h,
        &json!({ "tenant_id": "acme", "exp": now() + 60 }),
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

// Long: one key-rotation story: two keys, a reload, and the tokens each accepts before and after.
#[tokio::test]
async fn jwks_selects_by_kid_and_reload_rotates_keys() {
    let up = spawn_upstream("a").await;
    let dir = std::env::temp_dir().join(format!("rg-jwks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let jwks = dir.join("jwks.json");
    std::fs::write(
        &jwks,
        json!({ "keys": [oct("k1", b"first-secret"), oct("k2", b"second-secret")] }).to_string(),
    )
    .unwrap();
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig {
        key: KeySource::JwksFile(jwks.clone()),
        ..AuthConfig::hmac(Algorithm::HS256, b"unused".to_vec())
    });
    cfg.rate_limit.unknown_tenant = UnknownTenant::Unlimited;
    let gw = spawn_gateway(cfg.clone()).await;
    let c = client();
    let get = |t: String| c.get(format!("{}/items/1", gw.url)).bearer_auth(t).send();
    assert_eq!(
        get(kid_token("k1", b"first-secret"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(kid_token("k2", b"second-secret"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        get(kid_token("k2", b"first-secret"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get(kid_token("k9", b"first-secret"))
            .await
            .unwrap()
            .status(),
        401
    );

    // Rotate: k1 retired. The reload re-reads the file.
    std::fs::write(
        &jwks,
        json!({ "keys": [oct("k2", b"second-secret")] }).to_string(),
    )
    .unwrap();
    gw.gateway.handle().reload(cfg.clone()).unwrap();
    assert_eq!(
        get(kid_token("k1", b"first-secret"))
            .await
            .unwrap()
            .status(),
        401
    );
    assert_eq!(
        get(kid_token("k2", b"second-secret"))
            .await
            .unwrap()
            .status(),
        200
    );

    // A broken key file is refused and the old keys keep serving.
    std::fs::write(&jwks, "{ not json").unwrap();
    let err = gw.gateway.handle().reload(cfg).unwrap_err().to_string();
    assert!(err.contains("jwks.json"), "{err}");
    assert_eq!(
        get(kid_token("k2", b"second-secret"))
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(up.calls(), 4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A claims object serialized entry by entry as given, a name twice if it is given twice
/// (serde_json writes a map's entries as they come; a `Value` could not hold both).
struct RawClaims(Vec<(&'static str, Value)>);

impl serde::Serialize for RawClaims {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

/// A validly signed HS256 token (the test secret) with this header and these claims.
fn hs256_with(header: &Header, claims: &impl serde::Serialize) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(SECRET)).unwrap()
}

/// A gateway checking HS256 tokens (leeway 5 s) with issuer `ISS`, over a counting upstream.
async fn hs256_gateway() -> (Upstream, Gw) {
    let up = spawn_upstream("a").await;
    let mut cfg = config(&[up.addr]);
    cfg.auth = Some(AuthConfig {
        issuer: Some(ISS.into()),
        ..AuthConfig::hmac(Algorithm::HS256, SECRET)
    });
    cfg.rate_limit.unknown_tenant = UnknownTenant::Unlimited;
    (up, spawn_gateway(cfg).await)
}

async fn status_with(gw: &Gw, token: &str) -> u16 {
    client()
        .get(format!("{}/items/1", gw.url))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn hs_claims() -> Vec<(&'static str, Value)> {
    vec![
        ("tenant_id", json!("acme")),
        ("iss", json!(ISS)),
        ("exp", json!(now() + 300)),
    ]
}

#[tokio::test]
async fn a_crit_header_the_gateway_does_not_understand_is_401() {
    let (up, gw) = hs256_gateway().await;
    let claims = RawClaims(hs_claims());
    let plain = Header::new(Algorithm::HS256);
    assert_eq!(status_with(&gw, &hs256_with(&plain, &claims)).await, 200);
    // RFC 7515 §4.1.11: an extension named in `crit` that the recipient does not
    // understand makes the token invalid, however well signed.
    for crit in [vec!["exp"], vec!["http://example.invalid/ext"], vec!["b64"]] {
        let mut header = plain.clone();
        header.crit = Some(crit.iter().map(|s| s.to_string()).collect());
        header.extras.insert(crit[0].to_string(), json!(false));
        assert_eq!(
            status_with(&gw, &hs256_with(&header, &claims)).await,
            401,
            "{crit:?}"
        );
    }
    assert_eq!(
        up.calls(),
        1,
        "only the token without crit reached the upstream"
    );
}

#[tokio::test]
async fn an_iss_given_as_an_array_is_401() {
    let (up, gw) = hs256_gateway().await;
    let with_iss = |iss: Value| {
        let mut claims = hs_claims();
        claims[1].1 = iss;
        hs256_with(&Header::new(Algorithm::HS256), &RawClaims(claims))
    };
    assert_eq!(status_with(&gw, &with_iss(json!(ISS))).await, 200);
    // RFC 7519 §4.1.1: `iss` is a StringOrURI, one string; an array holding the
    // configured issuer is not that issuer.
    for iss in [
        json!([ISS]),
        json!([ISS, "https://evil"]),
        json!({ "iss": ISS }),
    ] {
        assert_eq!(status_with(&gw, &with_iss(iss.clone())).await, 401, "{iss}");
    }
    // `sub` likewise (RFC 7519 §4.1.2).
    let mut claims = hs_claims();
    claims.push(("sub", json!(["alice"])));
    let token = hs256_with(&Header::new(Algorithm::HS256), &RawClaims(claims));
    assert_eq!(status_with(&gw, &token).await, 401, "sub as an array");
    assert_eq!(up.calls(), 1);
}

#[tokio::test]
async fn a_duplicated_tenant_claim_is_401() {
    let (up, gw) = hs256_gateway().await;
    let header = Header::new(Algorithm::HS256);
    // Which tenant would it be? The first for one JSON reader, the last for another.
    let mut claims = hs_claims();
    claims.push(("tenant_id", json!("evil")));
    let token = hs256_with(&header, &RawClaims(claims));
    let payload = token.split('.').nth(1).unwrap();
    let text = String::from_utf8(B64.decode(payload).unwrap()).unwrap();
    assert_eq!(text.matches("\"tenant_id\"").count(), 2, "{text}");
    assert_eq!(status_with(&gw, &token).await, 401);
    // The same name spelt with an escape is the same name.
    let escaped = format!(
        r#"{{"tenant_id":"acme","iss":"{ISS}","exp":{},"tenant\u005fid":"evil"}}"#,
        now() + 300
    );
    let signed = format!(
        "{}.{}",
        B64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        B64.encode(escaped)
    );
    let sig = jsonwebtoken::crypto::sign(
        signed.as_bytes(),
        &EncodingKey::from_secret(SECRET),
        Algorithm::HS256,
    )
    .unwrap();
    let token = format!("{signed}.{sig}");
    assert_eq!(status_with(&gw, &token).await, 401, "escaped");
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn duplicated_iss_sub_nbf_iat_claims_are_401() {
    let (up, gw) = hs256_gateway().await;
    let header = Header::new(Algorithm::HS256);
    let t = now();
    for (name, first, second) in [
        ("iss", json!(ISS), json!("https://evil")),
        ("iss", json!(ISS), json!(ISS)),
        ("sub", json!("alice"), json!("bob")),
        ("nbf", json!(t - 10), json!(t + 3600)),
        ("iat", json!(t - 10), json!(t - 20)),
        ("exp", json!(t + 300), json!(t + 600)),
        ("scope", json!("items:read"), json!("items:write")),
    ] {
        let mut claims: Vec<_> = hs_claims()
            .into_iter()
            .filter(|(n, _)| *n != name)
            .collect();
        claims.push((name, first));
        claims.push((name, second));
        let token = hs256_with(&header, &RawClaims(claims));
        assert_eq!(status_with(&gw, &token).await, 401, "{name} twice");
    }
    assert_eq!(up.calls(), 0);
}

#[tokio::test]
async fn an_iat_in_the_future_beyond_the_leeway_is_401() {
    let (up, gw) = hs256_gateway().await;
    let with_iat = |iat: Value| {
        let mut claims = hs_claims();
        claims.push(("iat", iat));
        hs256_with(&Header::new(Algorithm::HS256), &RawClaims(claims))
    };
    let t = now();
    // In the past, and within the 5 s leeway ahead (a clock a little fast).
    assert_eq!(status_with(&gw, &with_iat(json!(t - 60))).await, 200);
    assert_eq!(status_with(&gw, &with_iat(json!(t + 1))).await, 200);
    // RFC 7519 §4.1.6: `iat` is when the token was issued; RFC 8725 §3.10 / JWT BCP:
    // one issued an hour from now is not believed.
    for iat in [
        json!(t + 3600),
        json!((t + 3600) as f64 + 0.5),
        json!("yesterday"),
    ] {
        assert_eq!(status_with(&gw, &with_iat(iat.clone())).await, 401, "{iat}");
    }
    assert_eq!(up.calls(), 2);
}
