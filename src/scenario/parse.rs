//! Text → raw structs, collecting as many problems as possible in one pass.
//!
//! serde stops at its first error, so the document is parsed once into toml's
//! spanned tree and each top-level section, and each element of an array of
//! tables, is deserialized on its own: a typo in `[[traffic]]` 1 and another in
//! `[[faults]]` 3 are both reported. Spans stay absolute because every piece
//! comes from the same tree.

use serde::de::DeserializeOwned;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::diagnostics::{Diagnostic, Locus, Path, did_you_mean};
use super::raw::{RawGatewayFile, RawScenario};

/// Which kind of file is being read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Scenario,
    /// `ninefold gateway --config FILE`.
    GatewayConfig,
}

const SCENARIO_KEYS: &[&str] = &[
    "name",
    "description",
    "duration",
    "seed",
    "confidence",
    "gateway",
    "upstreams",
    "tenants",
    "traffic",
    "faults",
    "toxiproxy",
    "links",
    "slo",
    "client",
];
const GATEWAY_FILE_KEYS: &[&str] = &["gateway", "upstreams", "tenants"];

/// The spanned document, or the syntax error that prevented it.
pub fn parse_document(text: &str) -> Result<Spanned<DeTable<'_>>, Diagnostic> {
    DeTable::parse(text).map_err(|e| Diagnostic {
        locus: e.span().map_or(Locus::Nowhere, Locus::Span),
        message: format!("TOML syntax error: {}", first_line(e.message())),
    })
}

/// Deserialize a scenario from its spanned document.
pub fn raw_scenario(doc: &DeTable<'_>, diags: &mut Vec<Diagnostic>) -> Option<RawScenario> {
    let before = diags.len();
    let mut raw = RawScenario::default();
    let mut have_name = false;
    let mut have_duration = false;
    for (key, value) in doc.iter() {
        let name = key.get_ref().as_ref();
        let path = Path::root().key(name);
        match name {
            "name" => have_name |= set(&mut raw.name, value, diags),
            "description" => set_opt(&mut raw.description, value, diags),
            "duration" => have_duration |= set(&mut raw.duration, value, diags),
            "seed" => set_opt(&mut raw.seed, value, diags),
            "confidence" => set_opt(&mut raw.confidence, value, diags),
            "gateway" => set_opt(&mut raw.gateway, value, diags),
            "upstreams" => raw.upstreams = each_entry(value, &path, diags),
            "tenants" => raw.tenants = each_element(value, &path, diags),
            "traffic" => raw.traffic = each_element(value, &path, diags),
            "faults" => raw.faults = each_element(value, &path, diags),
            "toxiproxy" => set_opt(&mut raw.toxiproxy, value, diags),
            "links" => raw.links = each_element(value, &path, diags),
            "slo" => raw.slo = each_entry(value, &path, diags),
            "client" => set_opt(&mut raw.client, value, diags),
            other => diags.push(unknown_key(other, &path, SCENARIO_KEYS)),
        }
    }
    for (present, key, example) in [
        (have_name, "name", "name = \"checkout-failover\""),
        (have_duration, "duration", "duration = \"60s\""),
    ] {
        if !present && diags.len() == before {
            diags.push(Diagnostic {
                locus: Locus::Span(0..0),
                message: format!(
                    "missing required key `{key}` at the top of the file (e.g. `{example}`)"
                ),
            });
        }
    }
    (diags.len() == before).then_some(raw)
}

/// Deserialize a gateway configuration file from its spanned document.
pub fn raw_gateway_file(doc: &DeTable<'_>, diags: &mut Vec<Diagnostic>) -> Option<RawGatewayFile> {
    let before = diags.len();
    let mut raw = RawGatewayFile::default();
    for (key, value) in doc.iter() {
        let name = key.get_ref().as_ref();
        let path = Path::root().key(name);
        match name {
            "gateway" => set(&mut raw.gateway, value, diags),
            "upstreams" => {
                raw.upstreams = each_entry(value, &path, diags);
                true
            }
            "tenants" => {
                raw.tenants = each_element(value, &path, diags);
                true
            }
            other => {
                diags.push(unknown_key(other, &path, GATEWAY_FILE_KEYS));
                false
            }
        };
    }
    (diags.len() == before).then_some(raw)
}

fn unknown_key(key: &str, path: &Path, known: &[&str]) -> Diagnostic {
    let hint = did_you_mean(key, known.iter().copied()).unwrap_or_default();
    Diagnostic {
        locus: Locus::KeyOf(path.clone()),
        message: format!(
            "unknown key `{key}`{hint} (accepted here: {})",
            known.join(", ")
        ),
    }
}

fn deserialize<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let owned = Spanned::new(value.span(), value.get_ref().clone());
    match T::deserialize(ValueDeserializer::from(owned)) {
        Ok(v) => Some(v),
        Err(e) => {
            diags.push(Diagnostic {
                locus: e
                    .span()
                    .or(Some(value.span()))
                    .map_or(Locus::Nowhere, Locus::Span),
                message: explain_serde(e.message()),
            });
            None
        }
    }
}

fn set<T: DeserializeOwned>(
    slot: &mut T,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) -> bool {
    deserialize(value, diags).map(|v| *slot = v).is_some()
}

fn set_opt<T: DeserializeOwned>(
    slot: &mut Option<T>,
    value: &Spanned<DeValue<'_>>,
    diags: &mut Vec<Diagnostic>,
) {
    *slot = deserialize(value, diags);
}

/// Each element of an array of tables on its own.
fn each_element<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> Vec<T> {
    let Some(array) = value.get_ref().as_array() else {
        diags.push(Diagnostic {
            locus: Locus::Path(path.clone()),
            message: format!(
                "`{path}` must be an array of tables (write `[[{path}]]` sections), found {}",
                value.get_ref().type_str()
            ),
        });
        return Vec::new();
    };
    array
        .iter()
        .filter_map(|item| deserialize(item, diags))
        .collect()
}

/// Each entry of a table on its own (named pools, SLOs).
fn each_entry<T: DeserializeOwned>(
    value: &Spanned<DeValue<'_>>,
    path: &Path,
    diags: &mut Vec<Diagnostic>,
) -> std::collections::BTreeMap<String, T> {
    let Some(table) = value.get_ref().as_table() else {
        diags.push(Diagnostic {
            locus: Locus::Path(path.clone()),
            message: format!(
                "`{path}` must be a table, found {}",
                value.get_ref().type_str()
            ),
        });
        return Default::default();
    };
    table
        .iter()
        .filter_map(|(k, v)| deserialize(v, diags).map(|t| (k.get_ref().to_string(), t)))
        .collect()
}

fn first_line(msg: &str) -> &str {
    msg.lines().next().unwrap_or(msg).trim()
}

/// Rewrite serde's messages into ours: say "key", suggest the closest name.
fn explain_serde(message: &str) -> String {
    let msg = first_line(message);
    if let Some((field, tail)) = msg
        .strip_prefix("unknown field `")
        .and_then(|r| r.split_once('`'))
    {
        {
            let known: Vec<&str> = tail.split('`').skip(1).step_by(2).collect();
            let hint = did_you_mean(field, known.iter().copied()).unwrap_or_default();
            let accepted = if known.is_empty() {
                String::new()
            } else {
                format!(" (accepted here: {})", known.join(", "))
            };
            return format!("unknown key `{field}`{hint}{accepted}");
        }
    }
    if let Some((field, _)) = msg
        .strip_prefix("missing field `")
        .and_then(|r| r.split_once('`'))
    {
        return format!("missing required key `{field}`");
    }
    if let Some(rest) = msg.strip_prefix("invalid type: ") {
        return format!("wrong type: found {rest}");
    }
    msg.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> (Option<RawScenario>, Vec<Diagnostic>) {
        let doc = parse_document(text).unwrap();
        let mut diags = Vec::new();
        let raw = raw_scenario(doc.get_ref(), &mut diags);
        (raw, diags)
    }

    #[test]
    fn problems_in_separate_sections_are_all_reported() {
        let text = "name = \"x\"\nduration = \"1s\"\nbogus = 1\n[[traffic]]\nexecutor = \"constant-vus\"\nrequests = []\nvuz = 2\n[[faults]]\nat = 5\naction = \"kill\"\ntarget = \"a\"\n";
        let (raw, diags) = run(text);
        assert!(raw.is_none());
        let msgs: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(diags.len(), 3, "{msgs:?}");
        assert!(msgs.iter().any(|m| m.contains("unknown key `bogus`")));
        assert!(
            msgs.iter()
                .any(|m| m.contains("unknown key `vuz`; did you mean `vus`?"))
        );
        assert!(msgs.iter().any(|m| m.contains("wrong type")));
    }

    #[test]
    fn spans_point_into_the_text() {
        let text = "name = \"x\"\nduration = \"1s\"\n[[traffic]]\nexecutor = \"constant-vus\"\nrequests = []\nvuz = 2\n";
        let (_, diags) = run(text);
        let Locus::Span(span) = &diags[0].locus else {
            panic!("{diags:?}")
        };
        assert_eq!(&text[span.clone()][..3], "vuz");
    }
}
