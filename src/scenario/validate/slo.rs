//! `[slo]`.

use std::collections::BTreeMap;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::slo::*;

pub(super) fn slos(
    cx: &mut Checker<'_>,
    raw: &BTreeMap<String, String>,
    tenants: &[Tenant],
    gateway: &Gateway,
    phases: &[TrafficPhase],
    faults: &[Fault],
) -> Vec<Slo> {
    let mut out = Vec::new();
    for (key, value) in raw {
        let path = Path::root().key("slo").key(key);
        let (name, pairs) = match split_selector(key) {
            Ok(v) => v,
            Err(e) => {
                cx.err_key(&path, e);
                continue;
            }
        };
        let metric = match Metric::parse(name) {
            Ok(m) => m,
            Err(e) => {
                cx.err_key(&path, e);
                continue;
            }
        };
        let filters = filters(cx, &path, pairs, tenants, gateway, phases, faults);
        if metric.is_failover() && faults.is_empty() {
            cx.err_key(
                &path,
                "a failover metric needs at least one `[[faults]]` entry",
            );
        }
        match Objective::parse(value, metric.unit()) {
            Ok(objective) => out.push(Slo {
                name: key.clone(),
                metric,
                filters,
                objective,
            }),
            Err(e) => cx.err(&path, e),
        }
    }
    out
}

/// The `{name=value, …}` filters of one SLO key, each checked against what the
/// scenario declares.
fn filters(
    cx: &mut Checker<'_>,
    path: &Path,
    pairs: Vec<(&str, &str)>,
    tenants: &[Tenant],
    gateway: &Gateway,
    phases: &[TrafficPhase],
    faults: &[Fault],
) -> Filters {
    let mut filters = Filters::default();
    for (k, v) in pairs {
        match k {
            "tenant" => {
                if !tenants.iter().any(|t| t.id == v) {
                    let hint =
                        did_you_mean(v, tenants.iter().map(|t| t.id.as_str())).unwrap_or_default();
                    cx.err_key(path, format!("filter tenant={v}: no such tenant{hint}"));
                }
                filters.tenant = Some(v.to_owned());
            }
            "route" => {
                let known_route = gateway.routes.iter().any(|r| r.path == v)
                    || phases
                        .iter()
                        .flat_map(|p| &p.requests)
                        .any(|r| r.path.to_string() == v || r.path.to_string().starts_with(v));
                if !known_route {
                    cx.err_key(
                        path,
                        format!("filter route={v}: no gateway route or request path matches it"),
                    );
                }
                filters.route = Some(v.to_owned());
            }
            "phase" => {
                if !phases.iter().any(|p| p.name == v) {
                    let hint =
                        did_you_mean(v, phases.iter().map(|p| p.name.as_str())).unwrap_or_default();
                    cx.err_key(
                        path,
                        format!("filter phase={v}: no such traffic phase{hint}"),
                    );
                }
                filters.phase = Some(v.to_owned());
            }
            "window" => match parse_window(v) {
                Ok(w) => {
                    if let Window::Fault(n) | Window::Recovery(n) = w
                        && n >= faults.len()
                    {
                        {
                            cx.err_key(path, format!("filter window={v}: the scenario has {} fault(s), numbered from 0", faults.len()));
                        }
                    }
                    filters.window = w;
                }
                Err(e) => cx.err_key(path, e),
            },
            other => {
                let hint = did_you_mean(other, FILTER_NAMES.iter().copied()).unwrap_or_default();
                cx.err_key(
                    path,
                    format!(
                        "unknown filter `{other}`{hint}; accepted: {}",
                        FILTER_NAMES.join(", ")
                    ),
                );
            }
        }
    }
    filters
}
