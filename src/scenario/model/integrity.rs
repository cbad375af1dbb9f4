//! `integrity = { … }` of a request class, validated: how the acknowledged
//! writes of the class are read back through the service's own API after the
//! run (the JSONPaths parsed, the path templates checked), and the small pure
//! helpers both the load engine and the read-back use on JSON bodies.

use std::time::Duration;

use serde_json::Value;
use serde_json_path::JsonPath;

/// Read-backs in flight at once when the class sets no `concurrency`.
pub const DEFAULT_READBACK_CONCURRENCY: u32 = 8;
/// Timeout of one read-back request when the class sets none.
pub const DEFAULT_READBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// Tries again after a transport error, a 5xx or a 429 when the class sets no `retries`.
pub const DEFAULT_READBACK_RETRIES: u32 = 3;

/// A parsed JSONPath with its text as written (reports and the TOML written back use it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonField {
    pub text: String,
    pub path: JsonPath,
}

impl JsonField {
    /// Parse `text` (RFC 9535); the error says what is wrong where.
    pub fn parse(text: &str) -> Result<Self, String> {
        JsonPath::parse(text)
            .map(|path| JsonField {
                text: text.to_owned(),
                path,
            })
            .map_err(|e| e.to_string())
    }

    /// The first value the path selects in `v`.
    pub fn first<'v>(&self, v: &'v Value) -> Option<&'v Value> {
        self.path.query(v).first()
    }
}

/// A write class's read-back declaration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntegritySpec {
    /// The id of the new record in the acknowledged answer; `None`: `id` or
    /// `order_id` of the JSON body, else the last segment of `Location`.
    pub id: Option<JsonField>,
    /// The per-record read-back path, with `{id}` / `{key}` still in it.
    pub read: Option<String>,
    pub list: Option<ListSpec>,
    /// Fields of the sent body the stored record must hold unchanged.
    pub compare: Vec<JsonField>,
    /// Where the sent body sits in a record (`None`: the record itself).
    pub body_at: Option<JsonField>,
    pub concurrency: u32,
    pub timeout: Duration,
    pub retries: u32,
}

/// The list endpoint of a read-back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListSpec {
    /// The path, with `{key}` in it (the records of one key) or not (every record).
    pub path: String,
    /// The records in a list answer (`None`: `$[*]`, the answer is an array).
    pub records: Option<JsonField>,
    /// The idempotency key inside a record (required when `path` has no `{key}`).
    pub key_at: Option<JsonField>,
}

impl ListSpec {
    /// Whether one request lists the records of one key (else: every record).
    pub fn per_key(&self) -> bool {
        self.path.contains("{key}")
    }
}

impl IntegritySpec {
    /// The values of the sent body at the `compare` paths, by path as written (a
    /// path the body does not have is absent). `None` when the body is not JSON.
    pub fn sent_fields(&self, body: &[u8]) -> Option<std::collections::BTreeMap<String, Value>> {
        let v: Value = serde_json::from_slice(body).ok()?;
        Some(fields(&self.compare, &v))
    }

    /// The id the acknowledged answer `body` gives the new record, at `id` (or the
    /// default keys when there is no `id` path).
    pub fn id_in(&self, body: &Value) -> Option<String> {
        match &self.id {
            Some(path) => path.first(body).and_then(scalar_text),
            None => ["id", "order_id"]
                .iter()
                .find_map(|k| scalar_text(&body[*k])),
        }
    }

    /// The values of a read-back `record` at the `compare` paths, under `body_at`.
    pub fn stored_fields(&self, record: &Value) -> std::collections::BTreeMap<String, Value> {
        let body = match &self.body_at {
            Some(p) => p.first(record).cloned().unwrap_or(Value::Null),
            None => record.clone(),
        };
        fields(&self.compare, &body)
    }
}

/// `paths` (by their text) → the first value each selects in `v`.
fn fields(paths: &[JsonField], v: &Value) -> std::collections::BTreeMap<String, Value> {
    paths
        .iter()
        .filter_map(|p| Some((p.text.clone(), p.first(v)?.clone())))
        .collect()
}

/// A string as itself, a number as its decimal text; anything else has no id text.
pub fn scalar_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `template` with `{id}` and `{key}` replaced by `id` and `key`, each
/// percent-encoded (everything but RFC 3986's unreserved characters), so an id
/// cannot change the path it is put in.
pub fn fill_path(template: &str, id: &str, key: &str) -> String {
    template
        .replace("{id}", &percent_encode(id))
        .replace("{key}", &percent_encode(key))
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(compare: &[&str], body_at: Option<&str>) -> IntegritySpec {
        IntegritySpec {
            id: Some(JsonField::parse("$.data.id").unwrap()),
            read: Some("/orders/{id}".into()),
            list: None,
            compare: compare
                .iter()
                .map(|p| JsonField::parse(p).unwrap())
                .collect(),
            body_at: body_at.map(|p| JsonField::parse(p).unwrap()),
            concurrency: 1,
            timeout: DEFAULT_READBACK_TIMEOUT,
            retries: 0,
        }
    }

    #[test]
    fn ids_come_from_the_declared_path_as_text() {
        let s = spec(&[], None);
        assert_eq!(
            s.id_in(&serde_json::json!({"data": {"id": 42}})).as_deref(),
            Some("42")
        );
        assert_eq!(s.id_in(&serde_json::json!({"id": "top"})), None);
        let default = IntegritySpec { id: None, ..s };
        assert_eq!(
            default
                .id_in(&serde_json::json!({"order_id": "o-7"}))
                .as_deref(),
            Some("o-7")
        );
        assert_eq!(default.id_in(&serde_json::json!({"id": [1]})), None);
    }

    #[test]
    fn sent_and_stored_fields_are_taken_at_the_same_paths() {
        let s = spec(&["$.sku", "$.qty", "$.missing"], Some("$.order"));
        let sent = s.sent_fields(br#"{"sku": "a-1", "qty": 3}"#).unwrap();
        assert_eq!(sent.len(), 2, "an absent path is absent: {sent:?}");
        assert_eq!(sent["$.sku"], serde_json::json!("a-1"));
        let stored =
            s.stored_fields(&serde_json::json!({"id": "x", "order": {"sku": "a-1", "qty": 4}}));
        assert_eq!(stored["$.qty"], serde_json::json!(4));
        assert_eq!(s.sent_fields(b"not json"), None);
    }

    #[test]
    fn ids_and_keys_cannot_escape_their_place_in_the_path() {
        assert_eq!(
            fill_path("/orders/{id}?k={key}", "../admin x", "a&b=c"),
            "/orders/..%2Fadmin%20x?k=a%26b%3Dc"
        );
    }
}
