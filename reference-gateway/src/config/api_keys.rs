//! `[[gateway.api_keys]]`: API keys as AWS API Gateway usage plans take them. A
//! request's `x-api-key` header names its tenant, whose plan throttles it; with
//! keys configured, a request without a known key is refused with 403.

use super::{Problems, TenantConfig};

/// One API key and the tenant (usage plan) it belongs to.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeyConfig {
    /// The key, as clients send it in `x-api-key`.
    pub key: String,
    /// The `[[tenants]]` id whose plan the key's requests count against.
    pub tenant: String,
}

impl std::fmt::Debug for ApiKeyConfig {
    /// The key is a secret: never in a log line or a panic message.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeyConfig")
            .field("key", &"<redacted>")
            .field("tenant", &self.tenant)
            .finish()
    }
}

/// Check `keys` against the declared `tenants`: each key non-empty, sendable as a
/// header value and declared once, each tenant declared.
pub(super) fn check(keys: &[ApiKeyConfig], tenants: &[TenantConfig], p: &mut Problems) {
    let mut seen = std::collections::HashSet::new();
    for (i, k) in keys.iter().enumerate() {
        let at = format!("gateway.api_keys[{i}]");
        p.check(
            !k.key.is_empty() && http::HeaderValue::from_str(&k.key).is_ok(),
            format!("{at}.key"),
            "must be a non-empty header value (visible ASCII)",
        );
        p.check(
            seen.insert(k.key.as_str()),
            format!("{at}.key"),
            "the same key is declared twice",
        );
        p.check(
            tenants.iter().any(|t| t.id == k.tenant),
            format!("{at}.tenant"),
            format!("no tenant {:?} in [[tenants]]", k.tenant),
        );
    }
}
