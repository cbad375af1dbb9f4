//! API keys, as AWS API Gateway usage plans take them: with `[[gateway.api_keys]]`
//! configured, every request must carry a known key in `x-api-key` (any case, as
//! header names go); the key names the tenant whose plan throttles the request.
//! A missing, repeated or unknown key is refused on the head with 403
//! `{"message":"Forbidden"}`, the answer API Gateway gives, before any token is
//! looked at and before the body is read. A JWT, when `[gateway.auth]` is set too,
//! is still verified; the key's tenant is the one that counts (usage plans throttle
//! by key).

use std::collections::HashMap;
use std::sync::Arc;

use http::HeaderName;

use crate::config::ApiKeyConfig;
use crate::context::RequestContext;
use crate::error::{BoxError, GatewayError};
use crate::pipeline::fail;

/// The header the key comes in.
pub static X_API_KEY: HeaderName = HeaderName::from_static("x-api-key");

/// The configured keys, by their bytes.
#[derive(Debug, Default)]
pub struct ApiKeys(HashMap<Box<[u8]>, Arc<str>, foldhash::fast::RandomState>);

impl ApiKeys {
    /// The keys of `config`, each to its tenant's id.
    pub fn new(config: &[ApiKeyConfig]) -> Self {
        ApiKeys(
            config
                .iter()
                .map(|k| {
                    (
                        k.key.as_bytes().to_vec().into_boxed_slice(),
                        Arc::from(k.tenant.as_str()),
                    )
                })
                .collect(),
        )
    }

    /// Whether requests must carry a key.
    pub fn required(&self) -> bool {
        !self.0.is_empty()
    }
}

/// Puts the tenant of the request's `x-api-key` into the context, or refuses the
/// request (403). Does nothing when no key is configured.
pub(crate) fn identify<B>(ctx: &RequestContext, req: &http::Request<B>) -> Result<(), BoxError> {
    let keys = &ctx.snap.api_keys;
    if !keys.required() {
        return Ok(());
    }
    let mut values = req.headers().get_all(&X_API_KEY).iter();
    let tenant = match (values.next(), values.next()) {
        (Some(key), None) => keys.0.get(key.as_bytes()),
        _ => None,
    };
    let Some(tenant) = tenant else {
        return Err(fail(GatewayError::InvalidApiKey));
    };
    match ctx.snap.plans.get(&**tenant) {
        Some(p) => {
            if let Some(h) = &p.header {
                let _ = ctx.tenant_header.set(h.clone());
            }
            let _ = ctx.tenant.set(p.id.clone());
        }
        None => {
            let _ = ctx.tenant.set(tenant.clone());
        }
    }
    Ok(())
}

#[cfg(test)]
#[path = "api_key_tests.rs"]
mod tests;
