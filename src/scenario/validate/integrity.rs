//! `integrity = { … }` of a request class: the JSONPaths parse, the read-back
//! paths name what they need (`{id}` / `{key}`), and the class is a write the
//! ledger keeps (a POST, or a class that sends an idempotency key).

use std::sync::Arc;

use http::Method;

use super::Checker;
use crate::scenario::diagnostics::{Path, did_you_mean};
use crate::scenario::model::{
    DEFAULT_READBACK_CONCURRENCY, DEFAULT_READBACK_RETRIES, DEFAULT_READBACK_TIMEOUT,
    IntegritySpec, JsonField, ListSpec,
};
use crate::scenario::raw::RawIntegrity;

/// The placeholders a read-back path may hold.
const PLACEHOLDERS: [&str; 2] = ["id", "key"];

/// The class's `integrity` at `path` (of a class sending `method`, with an
/// idempotency key or not), or `None` after reporting what is wrong.
pub(super) fn integrity(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: &RawIntegrity,
    method: &Method,
    keyed: bool,
) -> Option<Arc<IntegritySpec>> {
    let before = cx.diags.len();
    if *method != Method::POST && !keyed {
        cx.err(
            path,
            format!(
                "integrity reads back acknowledged writes, and a {method} without `idempotency_key = true` is not one: make the class a POST or give it an idempotency key"
            ),
        );
    }
    let id = json_field(cx, &path.key("id"), raw.id.as_deref());
    let compare = raw
        .compare
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| json_field(cx, &path.key("compare").index(i), Some(p)))
        .collect();
    let body_at = json_field(cx, &path.key("body_at"), raw.body_at.as_deref());
    let read = raw.read.as_deref().map(|r| {
        read_path(cx, &path.key("read"), r);
        r.to_owned()
    });
    let list = raw.list.as_deref().map(|l| list(cx, path, raw, l, keyed));
    if raw.list.is_none() {
        for (key, set) in [("records", &raw.records), ("key_at", &raw.key_at)] {
            if set.is_some() {
                cx.err_key(
                    &path.key(key),
                    format!("`{key}` describes a list answer: it needs `list`"),
                );
            }
        }
    }
    if read.is_none() && list.is_none() {
        cx.err(
            path,
            "integrity needs `read` (a path with `{id}` that reads one record back) or `list` (a path that lists records, with `{key}` for one idempotency key), or both",
        );
    }
    let spec = IntegritySpec {
        id,
        read,
        list,
        compare,
        body_at,
        concurrency: cx
            .nonzero(
                &path.key("concurrency"),
                raw.concurrency,
                DEFAULT_READBACK_CONCURRENCY,
            )
            .get(),
        timeout: cx.duration(
            &path.key("timeout"),
            raw.timeout.as_deref(),
            DEFAULT_READBACK_TIMEOUT,
            false,
        ),
        retries: raw.retries.unwrap_or(DEFAULT_READBACK_RETRIES),
    };
    (cx.diags.len() == before).then(|| Arc::new(spec))
}

/// `list` and the keys that describe its answer.
fn list(cx: &mut Checker<'_>, path: &Path, raw: &RawIntegrity, l: &str, keyed: bool) -> ListSpec {
    let at = path.key("list");
    placeholders(cx, &at, l);
    let spec = ListSpec {
        path: l.to_owned(),
        records: json_field(cx, &path.key("records"), raw.records.as_deref()),
        key_at: json_field(cx, &path.key("key_at"), raw.key_at.as_deref()),
    };
    if !spec.per_key() && spec.key_at.is_none() {
        cx.err(
            &at,
            format!(
                "`{l}` has no `{{key}}`, so it lists every record: say with `key_at` (e.g. \"$.idempotency_key\") which key each record holds, or put `{{key}}` in the path"
            ),
        );
    }
    if !keyed {
        cx.err(
            &at,
            "a list finds the records of an idempotency key, and this class sends none: set `idempotency_key = true`, or read back by id only (`read`)",
        );
    }
    spec
}

/// `read` must start with `/` and name the record by `{id}` (it may add `{key}`).
fn read_path(cx: &mut Checker<'_>, at: &Path, r: &str) {
    placeholders(cx, at, r);
    if !r.contains("{id}") {
        cx.err(
            at,
            format!(
                "`{r}` does not say which record to read: put `{{id}}` where the id of the acknowledged write goes, e.g. \"/orders/{{id}}\""
            ),
        );
    }
}

/// A read-back path starts with `/` and holds no `{…}` but `{id}` and `{key}`.
fn placeholders(cx: &mut Checker<'_>, at: &Path, text: &str) {
    if !text.starts_with('/') {
        cx.err(at, format!("`{text}` must start with `/`"));
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else {
            cx.err(at, format!("`{text}` has a `{{` that is never closed"));
            return;
        };
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            let hint = did_you_mean(name, PLACEHOLDERS.iter().copied()).unwrap_or_default();
            cx.err(
                at,
                format!(
                    "`{{{name}}}` is not a read-back placeholder{hint}; known: {{id}} (the id of the acknowledged write), {{key}} (its idempotency key)"
                ),
            );
        }
        rest = &after[close + 1..];
    }
}

/// A JSONPath (RFC 9535) at `at`, parsed now so a typo fails before the run.
fn json_field(cx: &mut Checker<'_>, at: &Path, text: Option<&str>) -> Option<JsonField> {
    let text = text?;
    match JsonField::parse(text) {
        Ok(f) => Some(f),
        Err(e) => {
            cx.err(
                at,
                format!("`{text}` is not a JSONPath (RFC 9535, e.g. \"$.id\"): {e}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    fn problems(integrity: &str, class_extra: &str) -> String {
        let text = format!(
            "name = \"t\"\nduration = \"1s\"\n[gateway]\nurl = \"http://127.0.0.1:9\"\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{{ method = \"POST\", path = \"/orders\", body = \"{{}}\"{class_extra}, integrity = {{ {integrity} }} }}]\n"
        );
        match crate::scenario::load::parse_str("t.toml", &text, std::path::Path::new(".")) {
            Ok(_) => String::new(),
            Err(d) => d.to_string(),
        }
    }

    #[test]
    fn a_good_declaration_validates_and_writes_back_the_same() {
        let decl = "id = \"$.id\", read = \"/orders/{id}\", list = \"/orders?k={key}\", compare = [\"$.sku\"], body_at = \"$.order\"";
        assert_eq!(problems(decl, ", idempotency_key = true"), "");
        let text = format!(
            "name = \"t\"\nduration = \"1s\"\n[gateway]\nurl = \"http://127.0.0.1:9\"\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{{ method = \"POST\", path = \"/o\", idempotency_key = true, integrity = {{ {decl} }} }}]\n"
        );
        let s = crate::scenario::load::parse_str("t.toml", &text, std::path::Path::new("."))
            .unwrap()
            .scenario;
        let spec = s.traffic[0].requests[0].integrity.clone().unwrap();
        assert_eq!(spec.compare[0].text, "$.sku");
        assert_eq!(spec.concurrency, super::DEFAULT_READBACK_CONCURRENCY);
        let back = crate::scenario::unparse::to_raw(&s);
        let raw = back.traffic[0].requests[0].integrity.as_ref().unwrap();
        assert_eq!(raw.id.as_deref(), Some("$.id"));
        assert_eq!(raw.list.as_deref(), Some("/orders?k={key}"));
        assert_eq!(raw.body_at.as_deref(), Some("$.order"));
    }

    #[test]
    fn every_problem_is_named_at_its_key() {
        let all = problems(
            "id = \"$.[\", read = \"orders/{od}\", compare = [\"$.ok\", \"nope\"], records = \"$[*]\"",
            "",
        );
        for expected in [
            "traffic[0].requests[0].integrity.id: `$.[` is not a JSONPath",
            "traffic[0].requests[0].integrity.read: `orders/{od}` must start with `/`",
            "`{od}` is not a read-back placeholder; did you mean `id`?",
            "does not say which record to read",
            "traffic[0].requests[0].integrity.compare[1]: `nope` is not a JSONPath",
            "`records` describes a list answer: it needs `list`",
        ] {
            assert!(all.contains(expected), "missing {expected:?} in:\n{all}");
        }
        let list = problems("list = \"/orders\"", "");
        assert!(
            list.contains("lists every record: say with `key_at`"),
            "{list}"
        );
        assert!(list.contains("set `idempotency_key = true`"), "{list}");
        let neither = problems("compare = [\"$.a\"]", "");
        assert!(neither.contains("integrity needs `read`"), "{neither}");
    }

    #[test]
    fn a_read_is_not_a_write() {
        let text = "name = \"t\"\nduration = \"1s\"\n[gateway]\nurl = \"http://127.0.0.1:9\"\n[[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{ path = \"/orders/1\", integrity = { read = \"/orders/{id}\" } }]\n";
        let e = crate::scenario::load::parse_str("t.toml", text, std::path::Path::new("."))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("a GET without `idempotency_key = true` is not one"),
            "{e}"
        );
    }
}
