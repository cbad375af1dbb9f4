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
