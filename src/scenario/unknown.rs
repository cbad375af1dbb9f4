//! Unknown keys, found in a pass of their own so they never hide other problems.
//!
//! serde's `deny_unknown_fields` stops a section's parse at its first unknown
//! key, so a typo would hide every other problem of the file. Instead the
//! spanned document is walked against the JSON Schema of the raw structs (the
//! same schema `ninefold schema` prints, so the known key sets cannot drift from
//! the structs): each unknown key is reported at its own position and removed
//! from a copy of the document, and that copy is then parsed and validated as
//! usual, so the other problems are reported in the same run.

use serde_json::Value;
use toml::de::{DeTable, DeValue};

use super::diagnostics::{Diagnostic, Locus, Path, did_you_mean};

/// Report and remove every key of `doc` that `schema` (a schemars root schema
/// with `$defs`) does not accept.
pub fn strip_unknown_keys(doc: &mut DeTable<'_>, schema: &Value, diags: &mut Vec<Diagnostic>) {
    let defs = schema.get("$defs").unwrap_or(&Value::Null);
    walk_table(doc, schema, defs, &Path::root(), diags);
}

/// The JSON Schema of scenario files.
pub fn scenario_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(super::raw::RawScenario)).unwrap_or_default()
}

/// The JSON Schema of gateway configuration files.
pub fn gateway_file_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(super::raw::RawGatewayFile)).unwrap_or_default()
}

/// Follow `$ref`s and pick the branch of an `anyOf` (an `Option`) that fits a table
/// (`want_table`) or an array.
fn resolve<'s>(mut schema: &'s Value, defs: &'s Value, want_table: bool) -> &'s Value {
    for _ in 0..16 {
        if let Some(name) = schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            match defs.get(name) {
                Some(s) => schema = s,
                None => return schema,
            }
        } else if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(Value::as_array)
        {
            let fits = |b: &&Value| {
                let b = resolve(b, defs, want_table);
                if want_table {
                    b.get("properties").is_some() || b.get("additionalProperties").is_some()
                } else {
                    b.get("items").is_some()
                }
            };
            match branches.iter().find(fits) {
                Some(b) => schema = b,
                None => return schema,
            }
        } else {
            return schema;
        }
    }
    schema
}

fn walk_value(
    value: &mut DeValue<'_>,
    schema: &Value,
    defs: &Value,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    match value {
        DeValue::Table(t) => walk_table(t, schema, defs, path, diags),
        DeValue::Array(items) => {
            let schema = resolve(schema, defs, false);
            let Some(item_schema) = schema.get("items") else {
                return;
            };
            for (i, item) in items.iter_mut().enumerate() {
                walk_value(item.get_mut(), item_schema, defs, &path.index(i), diags);
            }
        }
        _ => {}
    }
}

fn walk_table(
    table: &mut DeTable<'_>,
    schema: &Value,
    defs: &Value,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) {
    let schema = resolve(schema, defs, true);
    let props = schema.get("properties").and_then(Value::as_object);
    let additional = schema.get("additionalProperties");
    let closed = additional == Some(&Value::Bool(false));
    if props.is_none() && !additional.is_some_and(Value::is_object) {
        return;
    }
    let mut unknown = Vec::new();
    for (key, child) in table.iter_mut() {
        let name = key.get_ref().as_ref();
        let child_path = path.key(name);
        if let Some(s) = props.and_then(|p| p.get(name)) {
            walk_value(child.get_mut(), s, defs, &child_path, diags);
        } else if let Some(s) = additional.filter(|a| a.is_object()) {
            walk_value(child.get_mut(), s, defs, &child_path, diags);
        } else if closed {
            unknown.push(name.to_owned());
            let known: Vec<&str> = props
                .map(|p| p.keys().map(String::as_str).collect())
                .unwrap_or_default();
            diags.push(Diagnostic {
                locus: Locus::Span(key.span()),
                message: unknown_key_message(name, path, &known),
            });
        }
    }
    if !unknown.is_empty() {
        for (k, v) in std::mem::take(table) {
            if !unknown.iter().any(|u| u == k.get_ref().as_ref()) {
                table.insert(k, v);
            }
        }
    }
}

/// `unknown key `x` in [section]; did you mean `y`? expected one of: …`.
fn unknown_key_message(key: &str, section: &Path, known: &[&str]) -> String {
    let place = if section.0.is_empty() {
        "at the top level".to_owned()
    } else {
        format!("in [{section}]")
    };
    let hint = match did_you_mean(key, known.iter().copied()) {
        Some(hint) => format!("{hint} Expected one of"),
        None => "; expected one of".to_owned(),
    };
    format!("unknown key `{key}` {place}{hint}: {}", known.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(text: &str) -> Vec<String> {
        let doc = DeTable::parse(text).unwrap();
        let mut doc = doc.into_inner();
        let mut diags = Vec::new();
        strip_unknown_keys(&mut doc, &scenario_schema(), &mut diags);
        diags.into_iter().map(|d| d.message).collect()
    }

    #[test]
    fn unknown_keys_are_found_at_every_depth() {
        let text = "name = \"x\"\nduration = \"1s\"\nbogus = 1\n[gateway]\ninstancez = 1\n\
            [gateway.auth]\nalgorithm = \"HS256\"\nsecrte = \"s\"\n[[gateway.routes]]\npath = \"/\"\n\
            upstream = \"api\"\nretry = { attempts = 2, budgte = \"1%\" }\n[upstreams.api]\n\
            instances = 1\nlatency = { fixd = \"1ms\" }\n[[traffic]]\nrequests = [{ path = \"/\", colour = 1 }]\n\
            tenants = { anyone = 1 }\nstages = [{ duration = \"1s\", target = 1, x = 2 }]\n[slo]\nanything = \"< 1s\"\n";
        let msgs = unknown(text);
        let mut keys: Vec<&str> = msgs
            .iter()
            .map(|m| m.split('`').nth(1).unwrap_or_default())
            .collect();
        keys.sort_unstable();
        assert_eq!(
            keys,
            [
                "bogus",
                "budgte",
                "colour",
                "fixd",
                "instancez",
                "secrte",
                "x"
            ],
            "{msgs:#?}"
        );
        let find = |k: &str| msgs.iter().find(|m| m.contains(k)).unwrap();
        assert!(
            find("`instancez`").starts_with(
                "unknown key `instancez` in [gateway]; did you mean `instances`? Expected one of: api_keys, auth, cache,"
            ),
            "{msgs:#?}"
        );
        assert!(find("`colour`").contains("in [traffic[0].requests[0]]; expected one of: body,"));
        assert!(find("`bogus`").contains("at the top level; expected one of: client, confidence,"));
    }

    #[test]
    fn a_clean_file_has_no_unknown_keys() {
        let text = "name = \"x\"\nduration = \"1s\"\n[upstreams.a]\ninstances = 1\n[slo]\navailability = \">= 99%\"\n";
        assert!(unknown(text).is_empty());
    }
}
