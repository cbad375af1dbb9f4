//! Warnings (not errors) about instances no request can pass through: a scenario
//! that starts them is valid, but a fault on them cannot explain anything the
//! clients saw, and a report that blamed it would mislead.
//!
//! Two ways an instance carries no traffic: `[gateway] url` is set (the external
//! gateway does not know the mock backends ninefold starts on ephemeral ports),
//! or no `[[gateway.routes]]` entry names its pool.

use std::collections::BTreeMap;

use crate::scenario::diagnostics::{Diagnostic, Locus, Path};
use crate::scenario::model::*;

/// Why a pool carries no traffic, by pool name.
pub fn unreachable_pools(s: &Scenario) -> BTreeMap<&str, String> {
    let mut out = BTreeMap::new();
    for (name, u) in &s.upstreams {
        match (&s.gateway.target, &u.instances) {
            (GatewayTarget::External { url }, Instances::Managed(_)) => {
                out.insert(
                    name.as_str(),
                    format!(
                        "`[gateway] url` is set: the gateway at {url} does not know the mock backends ninefold starts for `{name}`, so no request passes through them"
                    ),
                );
            }
            (GatewayTarget::Bundled { .. }, _)
                if !s.gateway.routes.iter().any(|r| &r.upstream == name) =>
            {
                out.insert(
                    name.as_str(),
                    format!(
                        "no `[[gateway.routes]]` entry names pool `{name}`, so no request reaches its instances"
                    ),
                );
            }
            _ => {}
        }
    }
    out
}

/// Every warning of a valid scenario.
pub fn warnings(s: &Scenario) -> Vec<Diagnostic> {
    let unreachable = unreachable_pools(s);
    let mut out = Vec::new();
    for (name, why) in &unreachable {
        let key = s.upstreams[*name].instances.key();
        let path = Path::root().key("upstreams").key(name);
        let path = if s.upstreams[*name].instances.count() > 0 {
            path.key(key)
        } else {
            path
        };
        out.push(warning(&path, why.clone()));
    }
    let tls_path = Path::root().key("client").key("tls");
    if s.client.tls.insecure {
        out.push(warning(
            &tls_path.key("insecure"),
            super::client::INSECURE_WARNING.to_owned(),
        ));
    }
    let https = s.gateway.tls.is_some()
        || matches!(&s.gateway.target, GatewayTarget::External { url } if url.starts_with("https://"));
    if !s.client.tls.is_default() && !https {
        out.push(warning(
            &tls_path,
            "TLS settings apply to https:// URLs (and a bundled gateway with `[gateway.tls]`), and no URL of this scenario is one: they are not used".to_owned(),
        ));
    }
    if s.gateway.tls.is_some() && s.client.tls.ca_file.is_none() && !s.client.tls.insecure {
        out.push(warning(
            &Path::root().key("gateway").key("tls"),
            "ninefold speaks https to this gateway and checks its certificate against the system's trust store: unless a CA there signed `cert_file`, every request is a tls_error; give `[client] tls = { ca_file = \"…\" }` with the CA that signed it (or the certificate itself when it is self-signed)".to_owned(),
        ));
    }
    for (i, f) in s.faults.iter().enumerate() {
        let pools: Vec<&str> = match &f.target {
            FaultTarget::Instance { pool, .. } | FaultTarget::Pool(pool) => vec![pool.as_str()],
            FaultTarget::Zone(zone) => {
                let gateway_in_zone = matches!(
                    &s.gateway.target,
                    GatewayTarget::Bundled { zones, .. } if zones.contains(zone)
                );
                let pools: Vec<&str> = s
                    .upstreams
                    .values()
                    .filter(|u| u.zones.contains(zone))
                    .map(|u| u.name.as_str())
                    .collect();
                if gateway_in_zone || pools.iter().any(|p| !unreachable.contains_key(p)) {
                    continue;
                }
                pools
            }
            FaultTarget::Gateway(_) | FaultTarget::Link(_) | FaultTarget::Redis => continue,
        };
        if let Some(why) = pools.iter().find_map(|p| unreachable.get(p)) {
            out.push(warning(
                &Path::root().key("faults").index(i).key("target"),
                format!(
                    "`{}` carries no traffic ({why}): this fault cannot affect the measured requests",
                    f.target
                ),
            ));
        }
    }
    out
}

fn warning(path: &Path, message: String) -> Diagnostic {
    Diagnostic {
        locus: Locus::Path(path.clone()),
        message: format!("warning: {path}: {message}"),
    }
}
