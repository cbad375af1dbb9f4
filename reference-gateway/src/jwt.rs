//! JWT verification keys and rules, built from [`AuthConfig`] on start and on every reload
//! (so a rotated key file or JWKS takes effect with SIGHUP).
//!
//! The algorithm is pinned per key: a token whose header names another algorithm is
//! refused before any signature check, which stops `alg: none` and the HS/RS confusion
//! (an HS256 token "signed" with the RSA public key). `exp`, `nbf` and `iat` (not in the
//! future) are checked with the configured leeway, and `iss`/`aud` are required when
//! configured. Refused too, although validly signed: a `crit` header (RFC 7515 §4.1.11:
//! no extension is understood here), an `iss` or `sub` that is not a string, and a claim
//! name that appears twice.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use hashbrown::HashTable;
use hashbrown::hash_table::Entry;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Map, Value};

use crate::config::{AuthConfig, KeySource};
use crate::error::Error;

/// Longest token we look at; anything longer is refused unparsed.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;

/// A power of two: a hash's top bits pick the shard.
const CACHE_SHARDS: usize = 16;
const CACHE_SHARD_ENTRIES: usize = 4096;

/// Tokens that passed full verification under this verifier, so a client that sends the
/// same token again costs one hash lookup instead of a signature check and two JSON
/// parses (Envoy's jwt_authn keeps such a cache too). Only time-dependent rules (`exp`,
/// `nbf`) are re-checked on a hit; everything else depends only on the token and on this
/// verifier's keys, and a reload builds a new verifier with an empty cache. A shard that
/// fills up is simply cleared: a miss only costs a verification.
///
/// Keys hash with foldhash rather than SipHash (which cost ~1,000 instructions per request
/// over a 150-byte token): only tokens that passed verification are ever inserted, so a
/// client cannot fill a shard with colliding keys. One hash picks the shard (its top bits)
/// and the slot in it, hence `HashTable` rather than a `HashMap` hashing again.
type CacheShard = RwLock<HashTable<(Box<[u8]>, Arc<Verified>)>>;

struct TokenCache {
    shards: Box<[CacheShard]>,
    hasher: foldhash::fast::RandomState,
}

impl TokenCache {
    fn new() -> Self {
        Self {
            shards: (0..CACHE_SHARDS)
                .map(|_| RwLock::new(HashTable::new()))
                .collect(),
            hasher: Default::default(),
        }
    }

    fn shard(&self, token: &[u8]) -> (u64, &CacheShard) {
        let hash = self.hasher.hash_one(token);
        let shard = (hash >> (64 - CACHE_SHARDS.trailing_zeros())) as usize;
        (hash, &self.shards[shard])
    }

    fn get(&self, token: &[u8]) -> Option<Arc<Verified>> {
        let (hash, shard) = self.shard(token);
        let table = shard.read().unwrap_or_else(|p| p.into_inner());
        table
            .find(hash, |(t, _)| **t == *token)
            .map(|(_, v)| v.clone())
    }

    fn insert(&self, token: &[u8], v: Arc<Verified>) {
        let (hash, shard) = self.shard(token);
        let mut table = shard.write().unwrap_or_else(|p| p.into_inner());
        if table.len() >= CACHE_SHARD_ENTRIES {
            table.clear();
        }
        let hasher = |(t, _): &(Box<[u8]>, Arc<Verified>)| self.hasher.hash_one(&**t);
        match table.entry(hash, |(t, _)| **t == *token, hasher) {
            Entry::Occupied(mut e) => e.get_mut().1 = v,
            Entry::Vacant(e) => {
                e.insert((token.into(), v));
            }
        }
    }
}

struct Key {
    key: DecodingKey,
    validation: Validation,
}

/// Verifies bearer tokens for one configuration.
pub struct Verifier {
    /// A single key (secret or PEM), or keys by `kid` (JWKS).
    single: Option<Key>,
    by_kid: HashMap<String, Key>,
    tenant_claim: String,
    scope_claim: String,
    leeway: u64,
    cache: TokenCache,
}

/// What a valid token says.
pub struct Verified {
    /// Value of the tenant claim.
    pub tenant: String,
    /// All claims (scopes are read from here on demand).
    pub claims: Map<String, Value>,
    exp: Option<u64>,
    nbf: Option<u64>,
}

fn validation(cfg: &AuthConfig, alg: Algorithm) -> Validation {
    let mut v = Validation::new(alg);
    v.leeway = cfg.leeway.as_secs();
    v.validate_exp = true;
    v.validate_nbf = true;
    let mut required = vec!["exp"];
    if let Some(iss) = &cfg.issuer {
        v.set_issuer(&[iss]);
        required.push("iss");
    }
    if let Some(aud) = &cfg.audience {
        v.set_audience(&[aud]);
        required.push("aud");
    } else {
        v.validate_aud = false;
    }
    v.set_required_spec_claims(&required);
    v
}

/// A claims set in which no name appears twice. RFC 7519 §4 lets a parser keep the last
/// of duplicate names, but two readers of one token (this gateway, the upstream) could
/// then see different tenants or issuers, so a duplicate refuses the token (RFC 8725
/// §3.1's advice, and what jsonwebtoken already did for `exp`, `nbf`, `sub`, `iss` and
/// `aud`, which it reads into a struct).
struct UniqueClaims(Map<String, Value>);

impl<'de> serde::Deserialize<'de> for UniqueClaims {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Claims;
        impl<'de> serde::de::Visitor<'de> for Claims {
            type Value = Map<String, Value>;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a JSON object of claims")
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut a: A,
            ) -> Result<Self::Value, A::Error> {
                let mut claims = Map::new();
                // Names are compared unescaped: `"tenant\u005fid"` is `"tenant_id"`.
                while let Some(name) = a.next_key::<String>()? {
                    let value: Value = a.next_value()?;
                    if claims.contains_key(&name) {
                        return Err(serde::de::Error::custom(format!(
                            "duplicate claim {name:?}"
                        )));
                    }
                    claims.insert(name, value);
                }
                Ok(claims)
            }
        }
        d.deserialize_map(Claims).map(UniqueClaims)
    }
}

/// What jsonwebtoken leaves unchecked of the registered claims (RFC 7519 §4.1): `iss`
/// and `sub` are strings (jsonwebtoken takes an array of issuers, and any `sub` when
/// none is configured), and `iat` is a NumericDate not later than now plus the leeway.
fn check_registered(claims: &Map<String, Value>, leeway: u64) -> Result<(), String> {
    for name in ["iss", "sub"] {
        if claims.get(name).is_some_and(|v| !v.is_string()) {
            return Err(format!("claim {name:?} is not a string"));
        }
    }
    match claims.get("iat") {
        None => Ok(()),
        Some(Value::Number(iat)) => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // A float NumericDate compares as one (precision past 2^53 s is moot).
            let iat = iat.as_f64().unwrap_or(f64::INFINITY);
            if iat > (now + leeway) as f64 {
                Err(format!("issued in the future (iat {iat}, now {now})"))
            } else {
                Ok(())
            }
        }
        Some(_) => Err("claim \"iat\" is not a NumericDate".into()),
    }
}

fn key_error(path: &str, e: impl std::fmt::Display) -> Error {
    Error::Key {
        path: path.to_string(),
        message: e.to_string(),
    }
}

fn pem_key(alg: Algorithm, pem: &[u8], path: &str) -> Result<DecodingKey, Error> {
    use Algorithm::*;
    let k = match alg {
        RS256 | RS384 | RS512 | PS256 | PS384 | PS512 => DecodingKey::from_rsa_pem(pem),
        ES256 | ES384 => DecodingKey::from_ec_pem(pem),
        EdDSA => DecodingKey::from_ed_pem(pem),
        HS256 | HS384 | HS512 => {
            return Err(key_error(
                path,
                "an HMAC algorithm needs a secret, not a PEM key",
            ));
        }
        other => {
            return Err(key_error(
                path,
                format!("algorithm {other:?} is not supported"),
            ));
        }
    };
    k.map_err(|e| key_error(path, e))
}

impl Verifier {
    /// Loads the keys (reading files now) and prepares the validation rules.
    pub fn new(cfg: &AuthConfig) -> Result<Self, Error> {
        let mut single = None;
        let mut by_kid = HashMap::new();
        match &cfg.key {
            KeySource::Secret(s) => {
                single = Some(Key {
                    key: DecodingKey::from_secret(s),
                    validation: validation(cfg, cfg.algorithm),
                });
            }
            KeySource::PemFile(p) => {
                let path = p.display().to_string();
                let pem = std::fs::read(p).map_err(|e| key_error(&path, e))?;
                single = Some(Key {
                    key: pem_key(cfg.algorithm, &pem, &path)?,
                    validation: validation(cfg, cfg.algorithm),
                });
            }
            KeySource::JwksFile(p) => {
                let path = p.display().to_string();
                let text = std::fs::read(p).map_err(|e| key_error(&path, e))?;
                let set: JwkSet = serde_json::from_slice(&text).map_err(|e| key_error(&path, e))?;
                for (i, jwk) in set.keys.iter().enumerate() {
                    // The key's own `alg` wins; a key without one gets the configured algorithm.
                    let alg = match jwk.common.key_algorithm {
                        Some(ka) => Algorithm::try_from(ka)
                            .map_err(|e| key_error(&path, format!("keys[{i}].alg: {e}")))?,
                        None => cfg.algorithm,
                    };
                    let key = DecodingKey::from_jwk(jwk)
                        .map_err(|e| key_error(&path, format!("keys[{i}]: {e}")))?;
                    let kid = jwk.common.key_id.clone().unwrap_or_default();
                    by_kid.insert(
                        kid,
                        Key {
                            key,
                            validation: validation(cfg, alg),
                        },
                    );
                }
                if by_kid.is_empty() {
                    return Err(key_error(&path, "the JWK set has no keys"));
                }
            }
        }
        Ok(Self {
            single,
            by_kid,
            tenant_claim: cfg.tenant_claim.clone(),
            scope_claim: cfg.scope_claim.clone(),
            leeway: cfg.leeway.as_secs(),
            cache: TokenCache::new(),
        })
    }

    /// Verifies a token; the error is a reason for the log (the client only sees 401). A
    /// token seen before is found by its bytes; only a new one is read as text.
    pub fn verify(&self, token: &[u8]) -> Result<Arc<Verified>, String> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(format!("token longer than {MAX_TOKEN_BYTES} bytes"));
        }
        if let Some(v) = self.cache.get(token) {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            // The same rules jsonwebtoken applies: expired when exp < now − leeway,
            // premature when nbf > now + leeway.
            if v.exp
                .is_some_and(|exp| exp >= now.saturating_sub(self.leeway))
                && v.nbf.is_none_or(|nbf| nbf <= now + self.leeway)
            {
                return Ok(v);
            }
        }
        let text = std::str::from_utf8(token).map_err(|_| "token is not UTF-8".to_string())?;
        let v = Arc::new(self.verify_uncached(text)?);
        // Only integer `exp`/`nbf` can be re-checked here; other tokens are never cached.
        let plain_nbf = v.nbf.is_some() || !v.claims.contains_key("nbf");
        if v.exp.is_some() && plain_nbf {
            self.cache.insert(token, v.clone());
        }
        Ok(v)
    }

    fn verify_uncached(&self, token: &str) -> Result<Verified, String> {
        let key = match &self.single {
            Some(k) => k,
            None => {
                let header = jsonwebtoken::decode_header(token).map_err(|e| e.to_string())?;
                match header.kid.as_deref() {
                    Some(kid) => self
                        .by_kid
                        .get(kid)
                        .ok_or_else(|| format!("unknown kid {kid:?}"))?,
                    None if self.by_kid.len() == 1 => {
                        self.by_kid.values().next().ok_or("no key")?
                    }
                    None => return Err("token has no kid and the JWK set has several keys".into()),
                }
            }
        };
        let data = jsonwebtoken::decode::<UniqueClaims>(token, &key.key, &key.validation)
            .map_err(|e| e.to_string())?;
        // RFC 7515 §4.1.11: a recipient refuses a token naming in `crit` an extension it
        // does not understand; this verifier understands none.
        if let Some(crit) = &data.header.crit {
            return Err(format!("crit header parameters {crit:?} not understood"));
        }
        let claims = data.claims.0;
        check_registered(&claims, self.leeway)?;
        let tenant = match claims.get(&self.tenant_claim) {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => return Err(format!("missing tenant claim {:?}", self.tenant_claim)),
        };
        let num = |k: &str| claims.get(k).and_then(|v| v.as_u64());
        Ok(Verified {
            tenant,
            exp: num("exp"),
            nbf: num("nbf"),
            claims,
        })
    }

    /// The first required scope the claims do not grant.
    pub fn missing_scope<'a>(
        &self,
        claims: &Map<String, Value>,
        required: &'a [String],
    ) -> Option<&'a str> {
        let granted = claims.get(&self.scope_claim);
        required
            .iter()
            .find(|want| match granted {
                Some(Value::String(s)) => !s.split_ascii_whitespace().any(|g| g == want.as_str()),
                Some(Value::Array(a)) => !a.iter().any(|g| g.as_str() == Some(want.as_str())),
                _ => true,
            })
            .map(|s| s.as_str())
    }
}
