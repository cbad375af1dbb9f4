//! A request class's `check` and `extract`, and a flow phase's variables: every
//! `{NAME}` a step writes must be extracted by an earlier step of its flow.

use std::collections::BTreeMap;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::*;
use crate::scenario::raw::{RawCheck, RawPhase};
use crate::scenario::template::{BUILT_IN_VARIABLES, Template, is_flow_variable_name};

/// A JSONPath expression, parsed (RFC 9535); `None` and a problem at `path` when it does not.
fn json_path(cx: &mut Checker<'_>, path: &Path, text: &str, at_key: bool) -> Option<JsonPathExpr> {
    match serde_json_path::JsonPath::parse(text) {
        Ok(parsed) => Some(JsonPathExpr {
            text: text.to_owned(),
            path: parsed,
        }),
        Err(e) => {
            let message = format!(
                "`{text}` is not a JSONPath expression (RFC 9535, e.g. `$.id`, `$.items[0].sku`): {e}"
            );
            if at_key {
                cx.err_key(path, message);
            } else {
                cx.err(path, message);
            }
            None
        }
    }
}

/// `check = { status, body_contains, json }` at `path`.
pub(super) fn check(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: Option<&RawCheck>,
) -> Option<ResponseCheck> {
    let raw = raw?;
    let status = raw
        .status
        .iter()
        .flatten()
        .enumerate()
        .map(|(i, s)| cx.status(&path.key("status").index(i), *s))
        .collect();
    if raw.status.as_ref().is_some_and(Vec::is_empty) {
        cx.err(
            &path.key("status"),
            "lists no status: every answer would fail the check",
        );
    }
    let mut json = Vec::new();
    for (text, want) in raw.json.iter().flatten() {
        let at = path.key("json").key(text);
        let Some(expr) = json_path(cx, &at, text, true) else {
            continue;
        };
        let want = match want {
            serde_json::Value::String(s) if s == "exists" => JsonExpect::Exists,
            v @ (serde_json::Value::String(_)
            | serde_json::Value::Number(_)
            | serde_json::Value::Bool(_)) => JsonExpect::Equals(v.clone()),
            other => {
                cx.err(
                    &at,
                    format!("`{other}`: accepted \"exists\", a string, a number or a boolean"),
                );
                continue;
            }
        };
        json.push((expr, want));
    }
    if raw.status.is_none() && raw.body_contains.is_none() && raw.json.is_none() {
        cx.err(
            path,
            "checks nothing: give `status`, `body_contains` or `json`",
        );
    }
    Some(ResponseCheck {
        status,
        body_contains: raw.body_contains.clone(),
        json,
    })
}

/// `extract = { NAME = "$.path" }` of step `step`; `names` holds every name the
/// flow's earlier steps extract (with their step), and gets this step's.
pub(super) fn extract(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: Option<&BTreeMap<String, String>>,
    flow: bool,
    step: usize,
    names: &mut Vec<(String, usize)>,
) -> Vec<Extraction> {
    let Some(raw) = raw else {
        return Vec::new();
    };
    if !flow {
        cx.err_key(
            path,
            "values pass only between the steps of a flow: set `flow = true` on the phase",
        );
        return Vec::new();
    }
    let mut out = Vec::new();
    for (name, text) in raw {
        let at = path.key(name);
        if !is_flow_variable_name(name) {
            cx.err_key(
                &at,
                format!("`{name}` is not a variable name (a lowercase letter, then lowercase letters, digits, `_`)"),
            );
            continue;
        }
        if BUILT_IN_VARIABLES.contains(&name.as_str()) {
            cx.err_key(
                &at,
                format!("`{{{name}}}` is a built-in variable; give the value another name"),
            );
            continue;
        }
        if let Some((_, other)) = names.iter().find(|(n, _)| n == name) {
            cx.err_key(
                &at,
                format!("`{name}` is already extracted by requests[{other}]; give each value its own name"),
            );
            continue;
        }
        let Some(expr) = json_path(cx, &at, text, false) else {
            continue;
        };
        out.push(Extraction {
            name: name.clone(),
            slot: names.len(),
            path: expr,
        });
        names.push((name.clone(), step));
    }
    out
}

/// Bind every `{NAME}` of the phase's request classes to its slot, or say why it
/// has none: outside a flow no class may write one; in a flow it must be
/// extracted by an earlier step.
pub(super) fn bind_variables(
    cx: &mut Checker<'_>,
    path: &Path,
    p: &RawPhase,
    requests: &mut [RequestTemplate],
) {
    let flow = p.flow.unwrap_or(false);
    let names: Vec<(String, usize, usize)> = requests
        .iter()
        .enumerate()
        .flat_map(|(step, r)| {
            r.extract
                .iter()
                .map(move |e| (e.name.clone(), step, e.slot))
        })
        .collect();
    for (step, r) in requests.iter_mut().enumerate() {
        let at = path.key("requests").index(step);
        let slot_of = |name: &str| {
            names
                .iter()
                .find(|(n, s, _)| n == name && *s < step)
                .map(|(_, _, slot)| *slot)
        };
        let mut templates: Vec<(Path, &mut Template)> = vec![(at.key("path"), &mut r.path)];
        let raw_headers = p.requests.get(step).and_then(|raw| raw.headers.as_ref());
        for (name, t) in &mut r.headers {
            // The key as written (a header name is kept lowercase).
            let key = raw_headers
                .and_then(|h| h.keys().find(|k| k.eq_ignore_ascii_case(name.as_str())))
                .map_or(name.as_str(), String::as_str);
            templates.push((at.key("headers").key(key), t));
        }
        if let Some(b) = &mut r.body {
            templates.push((at.key("body"), b));
        }
        for (tpath, t) in templates {
            for name in t.bind_flow_variables(&slot_of) {
                let message = unbound(&name, flow, step, &names);
                cx.err(&tpath, message);
            }
        }
    }
}

/// Why `{name}` of step `step` has no value.
fn unbound(name: &str, flow: bool, step: usize, names: &[(String, usize, usize)]) -> String {
    let builtins = [
        "seq",
        "rand:A..B",
        "uuid",
        "tenant",
        "tenant.api_key",
        "env:NAME",
    ];
    if !flow {
        let hint = did_you_mean(name, BUILT_IN_VARIABLES).unwrap_or_default();
        return format!(
            "unknown variable `{{{name}}}`{hint}; known: {{{}}} (write `{{{{` for a literal brace); \
             a value taken from an earlier answer needs `flow = true` on the phase and `extract` on an earlier step",
            builtins.join("}, {")
        );
    }
    if let Some((_, later, _)) = names.iter().find(|(n, s, _)| n == name && *s >= step) {
        return format!(
            "`{{{name}}}` is extracted by requests[{later}], which is not before this step: \
             a step sees only the values of the steps before it"
        );
    }
    let earlier = names
        .iter()
        .filter(|(_, s, _)| *s < step)
        .map(|(n, _, _)| n.as_str());
    let hint = did_you_mean(name, earlier.chain(BUILT_IN_VARIABLES)).unwrap_or_default();
    format!(
        "no earlier step of the flow extracts `{name}`{hint}; give an earlier step \
         `extract = {{ {name} = \"$.id\" }}`"
    )
}

#[cfg(test)]
#[path = "flow_tests.rs"]
mod tests;
