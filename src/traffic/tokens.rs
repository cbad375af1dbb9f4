//! Credentials: JWTs minted with the gateway's key, the way an identity
//! provider would issue them, plus the hostile kinds a gateway must refuse.
//!
//! Minting is slow next to a request (RS256 signs in ~1 ms), so each worker
//! keeps a [`TokenCache`] and re-mints a token only when it nears expiry.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use http::HeaderValue;
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::scenario::{Auth, JwtAlgorithm, KeySource, Tenant, TokenKind};

/// How long a minted token is valid.
const LIFETIME: Duration = Duration::from_secs(300);
/// Re-mint this long before expiry, so no request carries a token about to lapse.
const RENEW_BEFORE: Duration = Duration::from_secs(60);
/// The audience of [`TokenKind::WrongAudience`] tokens.
pub const WRONG_AUDIENCE: &str = "ninefold-wrong-audience";

/// Why tokens cannot be minted.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("cannot read signing key {path}: {source}")]
    ReadKey {
        path: String,
        source: std::io::Error,
    },
    #[error("signing key {path} is not a usable {algorithm:?} private key: {source}")]
    BadKey {
        path: String,
        algorithm: JwtAlgorithm,
        source: jsonwebtoken::errors::Error,
    },
    #[error(
        "gateway.auth uses {0:?}, which needs `signing_key_file` (a PEM private key) for ninefold to mint tokens"
    )]
    NoSigningKey(JwtAlgorithm),
    #[error("cannot sign a token: {0}")]
    Sign(#[from] jsonwebtoken::errors::Error),
}

/// Signs tokens as the scenario's identity provider.
pub struct Minter {
    key: EncodingKey,
    /// A key the gateway does not trust, for [`TokenKind::BadSignature`] with HMAC.
    wrong_key: EncodingKey,
    algorithm: Algorithm,
    kid: Option<String>,
    issuer: Option<String>,
    audience: Option<String>,
    tenant_claim: String,
    leeway: Duration,
    /// The `scope` claim (space-separated), `None` when no route asks for one.
    scope: Option<String>,
}

impl std::fmt::Debug for Minter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Minter")
            .field("algorithm", &self.algorithm)
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

fn algorithm(a: JwtAlgorithm) -> Algorithm {
    match a {
        JwtAlgorithm::HS256 => Algorithm::HS256,
        JwtAlgorithm::HS384 => Algorithm::HS384,
        JwtAlgorithm::HS512 => Algorithm::HS512,
        JwtAlgorithm::RS256 => Algorithm::RS256,
        JwtAlgorithm::PS256 => Algorithm::PS256,
        JwtAlgorithm::ES256 => Algorithm::ES256,
        JwtAlgorithm::EdDSA => Algorithm::EdDSA,
    }
}

impl Minter {
    /// A minter for the gateway's `auth` settings.
    pub fn new(auth: &Auth) -> Result<Self, TokenError> {
        let alg = algorithm(auth.algorithm);
        let key = match (&auth.key, &auth.signing_key_file) {
            (KeySource::Secret(secret), _) if auth.algorithm.is_hmac() => {
                EncodingKey::from_secret(secret.render_static().as_bytes())
            }
            (_, Some(path)) => {
                let pem = std::fs::read(path).map_err(|source| TokenError::ReadKey {
                    path: path.display().to_string(),
                    source,
                })?;
                let parsed = match auth.algorithm {
                    JwtAlgorithm::RS256 | JwtAlgorithm::PS256 => EncodingKey::from_rsa_pem(&pem),
                    JwtAlgorithm::ES256 => EncodingKey::from_ec_pem(&pem),
                    JwtAlgorithm::EdDSA => EncodingKey::from_ed_pem(&pem),
                    _ => Ok(EncodingKey::from_secret(&pem)),
                };
                parsed.map_err(|source| TokenError::BadKey {
                    path: path.display().to_string(),
                    algorithm: auth.algorithm,
                    source,
                })?
            }
            _ => return Err(TokenError::NoSigningKey(auth.algorithm)),
        };
        // A JWKS picks its key by `kid`: use the first key's, if the file says.
        let kid = match &auth.key {
            KeySource::JwksFile(path) => std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .and_then(|v| v["keys"][0]["kid"].as_str().map(str::to_owned)),
            _ => None,
        };
        Ok(Minter {
            key,
            wrong_key: EncodingKey::from_secret(b"ninefold-not-the-gateway-key"),
            algorithm: alg,
            kid,
            issuer: auth.issuer.clone(),
            audience: auth.audience.clone(),
            tenant_claim: auth.tenant_claim.clone(),
            leeway: auth.leeway,
            scope: (!auth.scopes.is_empty()).then(|| auth.scopes.join(" ")),
        })
    }

    /// A compact JWT of `kind` for `tenant`, issued at `now` (Unix seconds).
    pub fn mint(&self, tenant: &str, kind: TokenKind, now: u64) -> Result<String, TokenError> {
        let mut claims = serde_json::Map::new();
        claims.insert("sub".into(), tenant.into());
        claims.insert(self.tenant_claim.clone(), tenant.into());
        if let Some(scope) = &self.scope {
            // The gateway's default scope claim (RFC 8693 `scope`, space-separated).
            claims.insert("scope".into(), scope.clone().into());
        }
        if let Some(iss) = &self.issuer {
            claims.insert("iss".into(), iss.clone().into());
        }
        let aud = match kind {
            TokenKind::WrongAudience => Some(WRONG_AUDIENCE.to_owned()),
            _ => self.audience.clone(),
        };
        if let Some(aud) = aud {
            claims.insert("aud".into(), aud.into());
        }
        let (iat, exp) = match kind {
            // Expired by an hour beyond any leeway the gateway allows.
            TokenKind::Expired => {
                let exp = now.saturating_sub(3600 + self.leeway.as_secs());
                (exp.saturating_sub(LIFETIME.as_secs()), exp)
            }
            _ => (now, now + LIFETIME.as_secs()),
        };
        claims.insert("iat".into(), iat.into());
        claims.insert("nbf".into(), iat.into());
        claims.insert("exp".into(), exp.into());
        let claims = serde_json::Value::Object(claims);
        let mut header = Header::new(self.algorithm);
        header.kid = self.kid.clone();
        match kind {
            TokenKind::AlgNone => {
                let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
                let head = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
                let body = b64.encode(claims.to_string());
                Ok(format!("{head}.{body}."))
            }
            TokenKind::BadSignature
                if self.algorithm.family() == jsonwebtoken::AlgorithmFamily::Hmac =>
            {
                Ok(jsonwebtoken::encode(&header, &claims, &self.wrong_key)?)
            }
            TokenKind::BadSignature => {
                // Asymmetric: a real signature over other content is a wrong signature here.
                let token = jsonwebtoken::encode(&header, &claims, &self.key)?;
                Ok(tamper(&token))
            }
            _ => Ok(jsonwebtoken::encode(&header, &claims, &self.key)?),
        }
    }
}

/// Flip the last byte of the signature so it no longer verifies.
fn tamper(token: &str) -> String {
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let Some((signed, sig)) = token.rsplit_once('.') else {
        return token.to_owned();
    };
    let mut bytes = b64.decode(sig).unwrap_or_default();
    if let Some(last) = bytes.last_mut() {
        *last ^= 0x5a;
    } else {
        bytes.push(0);
    }
    format!("{signed}.{}", b64.encode(bytes))
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

const KINDS: usize = 7;

fn kind_index(kind: TokenKind) -> usize {
    match kind {
        TokenKind::Valid => 0,
        TokenKind::Expired => 1,
        TokenKind::BadSignature => 2,
        TokenKind::AlgNone => 3,
        TokenKind::WrongAudience => 4,
        TokenKind::Missing => 5,
        TokenKind::Garbage => 6,
    }
}

/// A worker's `Authorization` header values, minted once and renewed before expiry.
#[derive(Debug)]
pub struct TokenCache {
    minter: Option<Arc<Minter>>,
    /// Static bearer tokens by tenant index.
    statics: Vec<Option<HeaderValue>>,
    tenant_ids: Vec<String>,
    /// `[tenant slot * KINDS + kind]`; slot 0 = anonymous.
    entries: Vec<Option<(HeaderValue, Instant)>>,
}

impl TokenCache {
    /// A cache for `tenants`; `minter` is `None` when the gateway has no auth.
    pub fn new(minter: Option<Arc<Minter>>, tenants: &[Tenant]) -> Self {
        TokenCache {
            minter,
            statics: tenants
                .iter()
                .map(|t| {
                    t.token
                        .as_ref()
                        .and_then(|tok| HeaderValue::try_from(format!("Bearer {tok}")).ok())
                })
                .collect(),
            tenant_ids: tenants.iter().map(|t| t.id.clone()).collect(),
            entries: vec![None; (tenants.len() + 1) * KINDS],
        }
    }

    /// The `Authorization` value for a request of `kind` as `tenant` at `now`.
    pub fn header(
        &mut self,
        tenant: Option<usize>,
        kind: TokenKind,
        now: Instant,
    ) -> Result<Option<HeaderValue>, TokenError> {
        match kind {
            TokenKind::Missing => return Ok(None),
            TokenKind::Garbage => return Ok(Some(HeaderValue::from_static("Bearer not.a-jwt"))),
            TokenKind::Valid => {
                if let Some(value) = tenant.and_then(|t| self.statics[t].clone()) {
                    return Ok(Some(value));
                }
                if self.minter.is_none() || tenant.is_none() {
                    return Ok(None);
                }
            }
            _ => {}
        }
        let slot = tenant.map_or(0, |t| t + 1) * KINDS + kind_index(kind);
        if let Some((value, renew_at)) = &self.entries[slot]
            && now < *renew_at
        {
            return Ok(Some(value.clone()));
        }
        let id = tenant.map_or("anonymous", |t| self.tenant_ids[t].as_str());
        let token = match &self.minter {
            Some(m) => m.mint(id, kind, unix_now())?,
            // No auth configured: a hostile class still gets a token-shaped value.
            None => format!("{}.e30.", "eyJhbGciOiJub25lIn0"),
        };
        let value = HeaderValue::try_from(format!("Bearer {token}"))
            .unwrap_or(HeaderValue::from_static("Bearer invalid"));
        self.entries[slot] = Some((value.clone(), now + LIFETIME - RENEW_BEFORE));
        Ok(Some(value))
    }
}

#[cfg(test)]
mod tests {
    use std::num::NonZeroU32;

    use jsonwebtoken::{DecodingKey, Validation, decode};

    use super::*;
    use crate::scenario::Plan;

    fn auth() -> Auth {
        Auth {
            algorithm: JwtAlgorithm::HS256,
            key: KeySource::Secret(
                crate::scenario::template::Template::parse("dev-secret").unwrap(),
            ),
            signing_key_file: None,
            issuer: Some("https://auth.example".into()),
            audience: Some("orders-api".into()),
            tenant_claim: "tenant_id".into(),
            leeway: Duration::from_secs(30),
            forward_authorization: false,
            scopes: vec!["orders:read".into(), "orders:write".into()],
        }
    }

    fn validation() -> Validation {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&["https://auth.example"]);
        v.set_audience(&["orders-api"]);
        v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        v.leeway = 30;
        v.validate_nbf = true;
        v
    }

    fn key() -> DecodingKey {
        DecodingKey::from_secret(b"dev-secret")
    }

    #[test]
    fn minted_tokens_verify_with_the_gateway_key() {
        let minter = Minter::new(&auth()).unwrap();
        let token = minter.mint("acme", TokenKind::Valid, unix_now()).unwrap();
        let data = decode::<serde_json::Value>(&token, &key(), &validation()).unwrap();
        assert_eq!(data.claims["tenant_id"], "acme");
        assert_eq!(data.claims["sub"], "acme");
        assert_eq!(data.claims["scope"], "orders:read orders:write");
        let exp = data.claims["exp"].as_u64().unwrap();
        assert!(exp > unix_now() + 200, "lives for minutes");
    }

    #[test]
    fn hostile_tokens_do_not_verify() {
        let minter = Minter::new(&auth()).unwrap();
        for kind in [
            TokenKind::Expired,
            TokenKind::BadSignature,
            TokenKind::AlgNone,
            TokenKind::WrongAudience,
        ] {
            let token = minter.mint("acme", kind, unix_now()).unwrap();
            let err = decode::<serde_json::Value>(&token, &key(), &validation());
            assert!(err.is_err(), "{kind:?} verified: {token}");
        }
        // The tamper keeps the token well-formed.
        let t = tamper("a.b.c2ln");
        assert_eq!(t.split('.').count(), 3);
        assert_ne!(t, "a.b.c2ln");
    }

    #[test]
    fn cache_reuses_static_and_minted_tokens() {
        let tenants = vec![
            Tenant {
                id: "acme".into(),
                plan: Plan {
                    rate: 1.0,
                    burst: NonZeroU32::new(1).unwrap(),
                    quota: None,
                },
                token: None,
                credentials: Default::default(),
            },
            Tenant {
                id: "legacy".into(),
                plan: Plan {
                    rate: 1.0,
                    burst: NonZeroU32::new(1).unwrap(),
                    quota: None,
                },
                token: Some("abc".into()),
                credentials: Default::default(),
            },
        ];
        let minter = Arc::new(Minter::new(&auth()).unwrap());
        let mut cache = TokenCache::new(Some(minter), &tenants);
        let now = Instant::now();
        let a = cache
            .header(Some(0), TokenKind::Valid, now)
            .unwrap()
            .unwrap();
        let b = cache
            .header(Some(0), TokenKind::Valid, now)
            .unwrap()
            .unwrap();
        assert_eq!(a, b, "cached");
        let later = cache
            .header(Some(0), TokenKind::Valid, now + Duration::from_secs(250))
            .unwrap()
            .unwrap();
        let token = later.to_str().unwrap().strip_prefix("Bearer ").unwrap();
        assert!(
            decode::<serde_json::Value>(token, &key(), &validation()).is_ok(),
            "renewed"
        );
        assert_eq!(
            cache
                .header(Some(1), TokenKind::Valid, now)
                .unwrap()
                .unwrap(),
            "Bearer abc"
        );
        assert_eq!(
            cache.header(Some(0), TokenKind::Missing, now).unwrap(),
            None
        );
        let mut no_auth = TokenCache::new(None, &tenants);
        assert_eq!(
            no_auth.header(Some(0), TokenKind::Valid, now).unwrap(),
            None
        );
    }

    #[test]
    fn asymmetric_without_a_private_key_is_refused() {
        let mut a = auth();
        a.algorithm = JwtAlgorithm::RS256;
        a.key = KeySource::KeyFile("/nonexistent.pem".into());
        assert!(matches!(Minter::new(&a), Err(TokenError::NoSigningKey(_))));
    }
}
