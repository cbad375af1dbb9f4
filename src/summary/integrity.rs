//! Data integrity: the acknowledged writes of the ledger against the stores
//! read back after the run (lost writes, duplicate effects), or why they could
//! not be compared: then every figure is `None`, never a 0 nobody counted.

use std::collections::{HashMap, HashSet};

use crate::results::RunResults;
use crate::scenario::model::Scenario;
use crate::summary::IntegritySummary;

/// Why the store cannot be compared with the acknowledged writes, if it cannot.
fn integrity_unmeasured(s: &Scenario, r: &RunResults) -> Option<String> {
    use crate::scenario::model::{GatewayTarget, Instances};
    if let Some(pool) = s
        .upstreams
        .iter()
        .find(|(_, u)| matches!(u.instances, Instances::Targets(_)))
        .map(|(p, _)| p)
    {
        return Some(format!(
            "the backends of pool {pool} are external (targets), so ninefold cannot read their store"
        ));
    }
    if let Some(pool) = s
        .upstreams
        .iter()
        .find(|(_, u)| matches!(u.instances, Instances::Command { .. }))
        .map(|(p, _)| p)
    {
        return Some(format!(
            "pool {pool} runs your command, whose store is its own: ninefold cannot read it back"
        ));
    }
    if let Some(st) = r.stores.iter().find(|st| st.orders.is_none()) {
        return Some(format!(
            "the store of pool {} could not be read back ({})",
            st.pool,
            st.error.as_deref().unwrap_or("no reason given")
        ));
    }
    if r.stores.is_empty() {
        return Some(if s.upstreams.is_empty() {
            "ninefold started no backend, so there is no store it can read".to_string()
        } else {
            "the store was not read back (the run stopped before the read-back)".to_string()
        });
    }
    let stored = r
        .stores
        .iter()
        .flat_map(|st| st.orders.iter().flatten())
        .count();
    if let GatewayTarget::External { .. } = &s.gateway.target
        && stored == 0
        && !r.recording.ledger.is_empty()
    {
        return Some(
            "the gateway is external ([gateway] url) and none of its acknowledged writes reached the backends ninefold started, so their store is not the one written to"
                .to_string(),
        );
    }
    None
}

pub(crate) fn integrity(s: &Scenario, r: &RunResults) -> IntegritySummary {
    let acked: Vec<&crate::metrics::AckedWrite> = r.recording.ledger.iter().collect();
    let not_measured = integrity_unmeasured(s, r);
    let checked = not_measured.is_none();
    let stored: HashSet<&str> = r
        .stores
        .iter()
        .flat_map(|s| s.orders.iter().flatten())
        .map(|o| o.order_id.as_str())
        .collect();
    // No acknowledged write: none could be lost, and none was shown kept.
    let lost = (checked && !acked.is_empty()).then(|| {
        acked
            .iter()
            .filter(|w| w.order_id.as_deref().is_some_and(|id| !stored.contains(id)))
            .count() as u64
    });
    // One key applied more than once, or one logical request acknowledged with two orders.
    // A key applied n times has n orders that each say `applied = n`: count the key once,
    // as n − 1 extra effects (summing over orders would say n·(n − 1)).
    let mut applied: HashMap<(&str, Option<&str>, &str), u64> = HashMap::new();
    for s in &r.stores {
        for o in s.orders.iter().flatten() {
            if let Some(key) = o.idempotency_key.as_deref() {
                applied.insert((s.pool.as_str(), o.tenant.as_deref(), key), o.applied);
            }
        }
    }
    let applied_twice: u64 = applied.values().map(|n| n.saturating_sub(1)).sum();
    let mut ids_by_key: HashMap<&str, HashSet<&str>> = HashMap::new();
    for w in acked.iter().filter(|w| !w.key.is_empty()) {
        if let Some(id) = w.order_id.as_deref() {
            ids_by_key.entry(w.key.as_str()).or_default().insert(id);
        }
    }
    // Unkeyed orders in the store that no acknowledged unkeyed write names.
    let acked_unkeyed: HashSet<&str> = acked
        .iter()
        .filter(|w| w.key.is_empty())
        .filter_map(|w| w.order_id.as_deref())
        .collect();
    let unkeyed_duplicates = r
        .stores
        .iter()
        .flat_map(|s| s.orders.iter().flatten())
        .filter(|o| o.idempotency_key.is_none() && !acked_unkeyed.contains(o.order_id.as_str()))
        .count() as u64;
    let two_orders: u64 = ids_by_key
        .values()
        .map(|ids| ids.len().saturating_sub(1) as u64)
        .sum();
    IntegritySummary {
        checked,
        acknowledged_writes: acked.len() as u64,
        lost,
        duplicates: checked.then_some(applied_twice.max(two_orders)),
        unkeyed_duplicates: checked.then_some(unkeyed_duplicates),
        not_measured,
        through_api: r
            .api_readback
            .as_ref()
            .map(super::integrity_api::api_integrity),
    }
}
