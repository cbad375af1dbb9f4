//! A request class's `check` and `extract` applied to an answer: run only for the
//! classes that have them, on answers whose outcome is otherwise `ok`. The body
//! is parsed as JSON once, and only when a JSONPath needs it.

use std::fmt::Write as _;

use crate::scenario::{Extraction, JsonExpect, JsonPathExpr, ResponseCheck};

/// Longest piece of a value or of the expected text quoted in a reason.
const QUOTE_CHARS: usize = 80;

/// Apply `check` and `extract` to an answer with `status` and `body` (`None`: the
/// body was not kept, as over the client's limit). Extracted values go into
/// `values` by slot, as text (a string as it is, anything else as JSON).
/// `Err` says why the answer fails: the first condition that does not hold.
pub fn evaluate(
    check: Option<&ResponseCheck>,
    extract: &[Extraction],
    status: u16,
    body: Option<&[u8]>,
    values: &mut [Option<String>],
) -> Result<(), String> {
    let mut json: Option<serde_json::Value> = None;
    if let Some(c) = check {
        if !c.status.is_empty() && !c.status.contains(&status) {
            return Err(format!(
                "status {status} is not one the check accepts ({})",
                list(&c.status)
            ));
        }
        if let Some(needle) = &c.body_contains {
            let body = body.ok_or_else(not_kept)?;
            if !contains(body, needle.as_bytes()) {
                return Err(format!("the body does not contain {}", quote(needle)));
            }
        }
        for (path, want) in &c.json {
            let doc = parsed(&mut json, body)?;
            json_holds(doc, path, want)?;
        }
    }
    for e in extract {
        let doc = parsed(&mut json, body)?;
        let node = e.path.path.query(doc).first();
        let text = match node {
            None => {
                return Err(format!(
                    "extract `{}`: `{}` selects nothing",
                    e.name, e.path.text
                ));
            }
            Some(serde_json::Value::Null) => {
                return Err(format!("extract `{}`: `{}` is null", e.name, e.path.text));
            }
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if let Some(slot) = values.get_mut(e.slot) {
            *slot = Some(text);
        }
    }
    Ok(())
}

fn not_kept() -> String {
    "the body was not kept (empty, a HEAD answer, or over the client's 1 MiB limit): the check cannot hold".into()
}

/// The body as JSON, parsed on first use.
fn parsed<'a>(
    json: &'a mut Option<serde_json::Value>,
    body: Option<&[u8]>,
) -> Result<&'a serde_json::Value, String> {
    if json.is_none() {
        let body = body.ok_or_else(not_kept)?;
        let value =
            serde_json::from_slice(body).map_err(|e| format!("the body is not JSON ({e})"))?;
        *json = Some(value);
    }
    Ok(json.get_or_insert(serde_json::Value::Null))
}

/// Whether `path` selects what `want` says, in `doc`.
fn json_holds(
    doc: &serde_json::Value,
    path: &JsonPathExpr,
    want: &JsonExpect,
) -> Result<(), String> {
    let nodes = path.path.query(doc).all();
    if nodes.is_empty() {
        return Err(format!("`{}` selects nothing", path.text));
    }
    if let JsonExpect::Equals(expected) = want
        && let Some(wrong) = nodes.iter().find(|n| !same(n, expected))
    {
        return Err(format!(
            "`{}` is {}, expected {}",
            path.text,
            quote(&wrong.to_string()),
            quote(&expected.to_string())
        ));
    }
    Ok(())
}

/// JSON equality, numbers compared by value (`1` equals `1.0`).
fn same(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    match (a, b) {
        (serde_json::Value::Number(x), serde_json::Value::Number(y)) => {
            x == y || x.as_f64().zip(y.as_f64()).is_some_and(|(x, y)| x == y)
        }
        _ => a == b,
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// `text` in backquotes, cut at [`QUOTE_CHARS`] characters.
fn quote(text: &str) -> String {
    let mut out = String::from("`");
    let mut chars = text.chars();
    out.extend(chars.by_ref().take(QUOTE_CHARS));
    if chars.next().is_some() {
        out.push('…');
    }
    out.push('`');
    out
}

fn list(statuses: &[u16]) -> String {
    let mut out = String::new();
    for (i, s) in statuses.iter().enumerate() {
        let _ = write!(out, "{}{s}", if i > 0 { ", " } else { "" });
    }
    out
}

#[cfg(test)]
#[path = "check_tests.rs"]
mod tests;
