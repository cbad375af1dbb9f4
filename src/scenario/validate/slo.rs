//! `[slo]`.

use std::collections::BTreeMap;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::raw::RawSlo;
use crate::scenario::slo::*;

pub(super) fn slos(
    cx: &mut Checker<'_>,
    raw: &BTreeMap<String, RawSlo>,
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
        let value_path = match value {
            RawSlo::Objective(_) => path.clone(),
            RawSlo::Table(_) => path.key("objective"),
        };
        match Objective::parse(value.objective(), metric.unit()) {
            Ok(objective) => {
                if value.abort()
                    && let Err(why) = abortable(metric, &objective, &filters)
                {
                    cx.err(&path.key("abort"), why);
                }
                out.push(Slo {
                    name: key.clone(),
                    metric,
                    filters,
                    objective,
                    abort: value.abort(),
                })
            }
            Err(e) => cx.err(&value_path, e),
        }
    }
    out
}

/// Whether `abort = true` can be honoured for this SLO: the live feed must
/// measure its figure while the run goes, and the rule must be one that
/// "cannot pass any more" can be proven for (docs/live.md).
fn abortable(metric: Metric, objective: &Objective, filters: &Filters) -> Result<(), String> {
    let count = match metric {
        Metric::Availability => return abortable_availability(objective, filters),
        Metric::ThrottleOverAdmitted | Metric::AuthHostileBackendRequests => metric,
        Metric::ThrottleWrongful => {
            return Err(format!(
                "`abort = true` is not supported for `{metric}`: a 429 that looks wrongful over the attempts seen so far can be justified by an attempt still in flight (sent before it, answered later), so the count so far is not a lower bound of the final one"
            ));
        }
        Metric::IntegrityLostWrites
        | Metric::IntegrityDuplicates
        | Metric::IntegrityMismatched
        | Metric::IntegrityUnkeyedDuplicates => {
            return Err(format!(
                "`abort = true` is not supported for `{metric}`: it is known only from the read-back after the traffic, so the run cannot know early that it cannot pass"
            ));
        }
        _ => {
            return Err(format!(
                "`abort = true` is supported for `availability`, `throttle.over_admitted` and `auth.hostile_backend_requests` only: `{metric}` is not measured exactly while the run goes (its figure is known after the traffic, or later traffic can still move it either way), so the run cannot know early that it cannot pass"
            ));
        }
    };
    if !matches!(objective.op, Op::Le | Op::Lt) {
        return Err(format!(
            "`abort = true` on the count `{count}` needs a ceiling (`<=` or `<`), not `{objective}`: a count can only grow, so only a ceiling can be exceeded early"
        ));
    }
    let per_tenant = metric == Metric::ThrottleOverAdmitted;
    if filters.window != Window::All
        || filters.route.is_some()
        || filters.phase.is_some()
        || (!per_tenant && filters.tenant.is_some())
    {
        let allowed = if per_tenant {
            "per tenant over the whole run: only a `tenant` filter"
        } else {
            "over the whole run: no filter"
        };
        return Err(format!(
            "`abort = true` on `{count}` with a filter: its figure is measured {allowed} can go with `abort`"
        ));
    }
    Ok(())
}

fn abortable_availability(objective: &Objective, filters: &Filters) -> Result<(), String> {
    if !matches!(objective.op, Op::Ge | Op::Gt) {
        return Err(format!(
            "`abort = true` needs an availability floor (`>=` or `>`), not `{objective}`"
        ));
    }
    if filters.window != Window::All {
        return Err(format!(
            "`abort = true` with window={}: the live feed keeps totals by phase, tenant and route, not by fault window; drop the window filter or the abort",
            filters.window
        ));
    }
    Ok(())
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
