//! Request templates: text with variables, parsed once at validation so the
//! load engine only fills in values.
//!
//! Variables: `{seq}` (the request's sequence number in its phase), `{rand:A..B}`
//! (uniform integer in A..=B), `{uuid}` (random v4), `{tenant}` (the tenant id,
//! also `{tenant.id}`), `{tenant.api_key}` (the tenant's `api_key`) and `{env:NAME}`
//! (the environment variable `NAME`, read once at validation by
//! [`Template::resolve_env`]; its value is a secret: [`fmt::Display`] writes
//! `{env:NAME}` back and `Debug` hides it). A request class of a flow may also
//! use `{NAME}`, a value an earlier step of its flow extracted from its answer
//! ([`Template::parse_request`], then [`Template::bind_flow_variables`]).
//! The random ones draw from the generator [`Vars::rng`] the load engine seeds per
//! request from (seed, phase, sequence number), in template order (path, headers,
//! body), so a seed fixes every rendered request.
//! A `{` that does not open a variable name (`{"sku": 1}`) is literal text, so
//! JSON bodies need no escaping; `{{` is always a literal `{`.

use std::fmt::{self, Write as _};

use rand::Rng;

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Literal(String),
    Seq,
    Rand {
        lo: u64,
        hi: u64,
    },
    Uuid,
    Tenant,
    /// `{tenant.api_key}`.
    TenantApiKey,
    /// `{env:NAME}`: `value` is `None` until [`Template::resolve_env`] reads it.
    Env {
        name: String,
        value: Option<SecretValue>,
    },
    /// `{NAME}`: a flow variable, the value an earlier step extracted; `slot` is its
    /// index in [`Vars::flow`], set by [`Template::bind_flow_variables`].
    FlowVar {
        name: String,
        slot: usize,
    },
}

/// The value of an environment variable: compared and rendered, never shown.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(pub String);

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Template {
    parts: Vec<Part>,
}

/// Why a template does not parse; `offset` is a byte offset into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

/// The values a template is rendered with.
pub struct Vars<'a, R: Rng> {
    pub seq: u64,
    pub tenant: &'a str,
    /// The tenant's `api_key` (`""` for none).
    pub api_key: &'a str,
    /// The flow's variables by slot (empty outside flows; `None`: not extracted).
    pub flow: &'a [Option<String>],
    pub rng: &'a mut R,
}

impl Template {
    /// Parse `text`.
    pub fn parse(text: &str) -> Result<Self, TemplateError> {
        Self::parse_with(text, false)
    }

    /// Parse the template of a request class, where `{NAME}` (a lowercase name that
    /// is no built-in variable) is a flow variable, bound later by
    /// [`Template::bind_flow_variables`].
    pub fn parse_request(text: &str) -> Result<Self, TemplateError> {
        Self::parse_with(text, true)
    }

    fn parse_with(text: &str, flow_vars: bool) -> Result<Self, TemplateError> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut rest = text;
        let mut offset = 0;
        while let Some(open) = rest.find('{') {
            literal.push_str(&rest[..open]);
            let after = &rest[open + 1..];
            if let Some(stripped) = after.strip_prefix('{') {
                literal.push('{');
                offset += open + 2;
                rest = stripped;
                continue;
            }
            let starts_name = after.starts_with(|c: char| c.is_ascii_lowercase());
            let close = after.find('}');
            match (starts_name, close) {
                (true, Some(close)) if is_variable_body(&after[..close]) => {
                    let var = parse_variable(&after[..close], offset + open, flow_vars)?;
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(var);
                    offset += open + 1 + close + 1;
                    rest = &after[close + 1..];
                }
                _ => {
                    literal.push('{');
                    offset += open + 1;
                    rest = after;
                }
            }
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// The parsed pieces.
    pub fn parts(&self) -> &[Part] {
        &self.parts
    }

    /// The same template after the literal `prefix` (a URL's base path).
    pub fn prefixed(&self, prefix: &str) -> Template {
        let mut parts = Vec::with_capacity(self.parts.len() + 1);
        match self.parts.first() {
            Some(Part::Literal(first)) => {
                parts.push(Part::Literal(format!("{prefix}{first}")));
                parts.extend_from_slice(&self.parts[1..]);
            }
            _ => {
                parts.push(Part::Literal(prefix.to_owned()));
                parts.extend_from_slice(&self.parts);
            }
        }
        Template { parts }
    }

    /// True when the template has no per-request variables (it can be rendered
    /// once): literal text and environment values only.
    pub fn is_static(&self) -> bool {
        self.parts
            .iter()
            .all(|p| matches!(p, Part::Literal(_) | Part::Env { .. }))
    }

    /// True when the rendering depends on the tenant at most (no `{seq}`,
    /// `{rand}`, `{uuid}`): it can be rendered once per tenant.
    pub fn is_per_tenant(&self) -> bool {
        self.parts.iter().all(|p| {
            !matches!(
                p,
                Part::Seq | Part::Rand { .. } | Part::Uuid | Part::FlowVar { .. }
            )
        })
    }

    /// The flow variables the template reads, in order.
    pub fn flow_variables(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::FlowVar { name, .. } => Some(name.as_str()),
            _ => None,
        })
    }

    /// The slots of the flow variables the template reads (after binding).
    pub fn flow_slots(&self) -> impl Iterator<Item = usize> + '_ {
        self.parts.iter().filter_map(|p| match p {
            Part::FlowVar { slot, .. } => Some(*slot),
            _ => None,
        })
    }

    /// Give every flow variable its slot through `slot_of`; the names it knows
    /// no slot for, in order (each once).
    pub fn bind_flow_variables(&mut self, slot_of: &dyn Fn(&str) -> Option<usize>) -> Vec<String> {
        let mut unknown: Vec<String> = Vec::new();
        for part in &mut self.parts {
            if let Part::FlowVar { name, slot } = part {
                match slot_of(name) {
                    Some(s) => *slot = s,
                    None if !unknown.contains(name) => unknown.push(name.clone()),
                    None => {}
                }
            }
        }
        unknown
    }

    /// Whether the template reads `{tenant.api_key}`.
    pub fn uses_api_key(&self) -> bool {
        self.parts.iter().any(|p| matches!(p, Part::TenantApiKey))
    }

    /// Read every `{env:NAME}` through `lookup`; the names that are not set, in order.
    pub fn resolve_env(&mut self, lookup: &dyn Fn(&str) -> Option<String>) -> Vec<String> {
        let mut unset = Vec::new();
        for part in &mut self.parts {
            if let Part::Env { name, value } = part {
                match lookup(name) {
                    Some(v) => *value = Some(SecretValue(v)),
                    None => unset.push(name.clone()),
                }
            }
        }
        unset
    }

    /// The values of the template's `{env:NAME}` variables (what outputs must hide).
    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.parts.iter().filter_map(|p| match p {
            Part::Env {
                value: Some(SecretValue(v)),
                ..
            } => Some(v.as_str()),
            _ => None,
        })
    }

    /// The rendering of a static template (see [`Template::is_static`]).
    pub fn render_static(&self) -> String {
        // Static templates draw nothing; any generator will do.
        let mut rng = <rand::rngs::SmallRng as rand::SeedableRng>::seed_from_u64(0);
        self.render(&mut Vars {
            seq: 0,
            tenant: "",
            api_key: "",
            flow: &[],
            rng: &mut rng,
        })
    }

    /// Append the rendered text to `out`.
    pub fn render_into<R: Rng>(&self, vars: &mut Vars<'_, R>, out: &mut String) {
        for part in &self.parts {
            match part {
                Part::Literal(s) => out.push_str(s),
                Part::Seq => {
                    let _ = write!(out, "{}", vars.seq);
                }
                Part::Rand { lo, hi } => {
                    let _ = write!(out, "{}", vars.rng.random_range(*lo..=*hi));
                }
                Part::Uuid => {
                    let bytes: [u8; 16] = vars.rng.random();
                    let id = uuid::Builder::from_random_bytes(bytes).into_uuid();
                    let _ = write!(out, "{id}");
                }
                Part::Tenant => out.push_str(vars.tenant),
                Part::TenantApiKey => out.push_str(vars.api_key),
                Part::Env { value, .. } => {
                    if let Some(SecretValue(v)) = value {
                        out.push_str(v);
                    }
                }
                Part::FlowVar { slot, .. } => {
                    if let Some(Some(v)) = vars.flow.get(*slot) {
                        out.push_str(v);
                    }
                }
            }
        }
    }

    /// Render into a new string.
    pub fn render<R: Rng>(&self, vars: &mut Vars<'_, R>) -> String {
        let mut out = String::new();
        self.render_into(vars, &mut out);
        out
    }
}

/// A variable body is a lowercase name with optional `:args`, no spaces or quotes.
fn is_variable_body(body: &str) -> bool {
    !body.is_empty()
        && body
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | ':' | '.' | '-'))
}

/// Names the template language itself gives meaning to: no flow variable may take one.
pub const BUILT_IN_VARIABLES: [&str; 5] = ["seq", "rand", "uuid", "tenant", "env"];

/// A name `extract` may give a value (and `{NAME}` read): a lowercase letter, then
/// lowercase letters, digits and `_`.
pub fn is_flow_variable_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

fn parse_variable(body: &str, offset: usize, flow_vars: bool) -> Result<Part, TemplateError> {
    let err = |message: String| TemplateError { offset, message };
    let (name, args) = match body.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (body, None),
    };
    match (name, args) {
        ("seq", None) => Ok(Part::Seq),
        ("uuid", None) => Ok(Part::Uuid),
        ("tenant" | "tenant.id", None) => Ok(Part::Tenant),
        ("tenant.api_key", None) => Ok(Part::TenantApiKey),
        ("env", Some(var)) => {
            let valid = var.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
                && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
            if valid {
                Ok(Part::Env {
                    name: var.to_owned(),
                    value: None,
                })
            } else {
                Err(err(format!(
                    "`{{env:{var}}}`: `{var}` is not an environment variable name (letters, digits, `_`)"
                )))
            }
        }
        ("env", None) => Err(err(
            "`{env}` needs a variable name like `{env:API_KEY}`".to_owned()
        )),
        ("rand", Some(range)) => {
            let (lo, hi) = range.split_once("..").ok_or_else(|| {
                err(format!(
                    "`{{rand:{range}}}` needs a range like `{{rand:1..1000}}`"
                ))
            })?;
            let parse = |s: &str| {
                s.parse::<u64>().map_err(|_| {
                    err(format!(
                        "`{{rand:{range}}}`: `{s}` is not a non-negative integer"
                    ))
                })
            };
            let (lo, hi) = (parse(lo)?, parse(hi)?);
            if lo > hi {
                return Err(err(format!(
                    "`{{rand:{range}}}`: the range is empty ({lo} > {hi})"
                )));
            }
            Ok(Part::Rand { lo, hi })
        }
        ("rand", None) => Err(err(
            "`{rand}` needs a range like `{rand:1..1000}`".to_owned()
        )),
        (known @ ("seq" | "uuid" | "tenant" | "tenant.id" | "tenant.api_key"), Some(_)) => {
            Err(err(format!("`{{{known}}}` takes no arguments")))
        }
        (other, _) if other.starts_with("tenant.") => Err(err(format!(
            "unknown tenant field `{{{other}}}`; known: {{tenant.id}}, {{tenant.api_key}}"
        ))),
        (other, None) if flow_vars && is_flow_variable_name(other) => Ok(Part::FlowVar {
            name: other.to_owned(),
            slot: 0,
        }),
        (other, _) => Err(err(format!(
            "unknown variable `{{{other}}}`; known: {{seq}}, {{rand:A..B}}, {{uuid}}, {{tenant}}, {{tenant.api_key}}, {{env:NAME}} (write `{{{{` for a literal brace)"
        ))),
    }
}

impl fmt::Display for Template {
    /// The template as it would be written in a scenario (round-trips through [`Template::parse`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for part in &self.parts {
            match part {
                Part::Literal(s) => {
                    // Re-escape only braces that would otherwise open a variable.
                    for (i, c) in s.char_indices() {
                        if c == '{' {
                            let next = s[i + 1..].chars().next();
                            let would_open =
                                next.is_some_and(|n| n.is_ascii_lowercase() || n == '{');
                            f.write_str(if would_open { "{{" } else { "{" })?;
                        } else {
                            f.write_char(c)?;
                        }
                    }
                }
                Part::Seq => f.write_str("{seq}")?,
                Part::Rand { lo, hi } => write!(f, "{{rand:{lo}..{hi}}}")?,
                Part::Uuid => f.write_str("{uuid}")?,
                Part::Tenant => f.write_str("{tenant}")?,
                Part::TenantApiKey => f.write_str("{tenant.api_key}")?,
                Part::Env { name, .. } => write!(f, "{{env:{name}}}")?,
                Part::FlowVar { name, .. } => write!(f, "{{{name}}}")?,
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn json_braces_are_literal() {
        let t = Template::parse(r#"{"sku": {rand:1..50}, "qty": 1}"#).unwrap();
        assert_eq!(
            t.parts(),
            &[
                Part::Literal(r#"{"sku": "#.into()),
                Part::Rand { lo: 1, hi: 50 },
                Part::Literal(r#", "qty": 1}"#.into()),
            ]
        );
        let mut rng = StdRng::seed_from_u64(1);
        let mut vars = Vars {
            seq: 0,
            tenant: "acme",
            api_key: "",
            flow: &[],
            rng: &mut rng,
        };
        let out = t.render(&mut vars);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        let sku = v["sku"].as_u64().unwrap();
        assert!((1..=50).contains(&sku));
    }

    #[test]
    fn every_variable_renders() {
        let t = Template::parse("/t/{tenant}/{seq}/{uuid}/{{seq}").unwrap();
        let mut rng = StdRng::seed_from_u64(1);
        let mut vars = Vars {
            seq: 42,
            tenant: "acme",
            api_key: "",
            flow: &[],
            rng: &mut rng,
        };
        let out = t.render(&mut vars);
        let pieces: Vec<&str> = out.split('/').collect();
        assert_eq!(pieces[2], "acme");
        assert_eq!(pieces[3], "42");
        assert!(uuid::Uuid::parse_str(pieces[4]).is_ok(), "{out}");
        assert_eq!(pieces[5], "{seq}");
    }

    #[test]
    fn bad_variables_are_reported_with_offsets() {
        let cases = [
            ("/items/{rnd:1..5}", 7, "unknown variable `{rnd}`"),
            ("/x/{rand:5..1}", 3, "the range is empty"),
            ("/x/{rand:a..9}", 3, "`a` is not a non-negative integer"),
            ("{rand}", 0, "needs a range"),
            ("ab{seq:3}", 2, "takes no arguments"),
        ];
        for (text, offset, needle) in cases {
            let err = Template::parse(text).unwrap_err();
            assert_eq!(err.offset, offset, "{text}");
            assert!(err.message.contains(needle), "{text}: {}", err.message);
        }
    }

    #[test]
    fn env_values_render_but_never_show() {
        let mut t = Template::parse("key-{env:NF_A}-{tenant.api_key}-{env:NF_B}").unwrap();
        assert!(!t.is_static() && t.is_per_tenant() && t.uses_api_key());
        let unset = t.resolve_env(&|name| (name == "NF_A").then(|| "s3cr3t".to_owned()));
        assert_eq!(unset, ["NF_B"]);
        let mut rng = StdRng::seed_from_u64(1);
        let out = t.render(&mut Vars {
            seq: 0,
            tenant: "acme",
            api_key: "k1",
            flow: &[],
            rng: &mut rng,
        });
        assert_eq!(out, "key-s3cr3t-k1-");
        assert_eq!(t.to_string(), "key-{env:NF_A}-{tenant.api_key}-{env:NF_B}");
        assert!(!format!("{t:?}").contains("s3cr3t"));
        assert_eq!(t.secrets().collect::<Vec<_>>(), ["s3cr3t"]);
        let mut only_env = Template::parse("{env:NF_A}").unwrap();
        only_env.resolve_env(&|_| Some("v".into()));
        assert!(only_env.is_static());
        assert_eq!(only_env.render_static(), "v");
    }

    #[test]
    fn flow_variables_parse_only_in_request_templates_and_render_by_slot() {
        // Outside a request class, `{order_id}` is an unknown variable, as before.
        let err = Template::parse("/o/{order_id}").unwrap_err();
        assert!(
            err.message.contains("unknown variable `{order_id}`"),
            "{}",
            err.message
        );
        let mut t = Template::parse_request("/o/{order_id}/{seq}/{sku}/{order_id}").unwrap();
        assert!(!t.is_static() && !t.is_per_tenant());
        assert_eq!(
            t.flow_variables().collect::<Vec<_>>(),
            ["order_id", "sku", "order_id"]
        );
        let unknown = t.bind_flow_variables(&|name| (name == "order_id").then_some(1));
        assert_eq!(unknown, ["sku"]);
        let unknown = t.bind_flow_variables(&|name| match name {
            "order_id" => Some(1),
            "sku" => Some(0),
            _ => None,
        });
        assert!(unknown.is_empty());
        assert_eq!(t.flow_slots().collect::<Vec<_>>(), [1, 0, 1]);
        let mut rng = StdRng::seed_from_u64(1);
        let values = [Some("7".to_owned()), Some("o-9".to_owned())];
        let out = t.render(&mut Vars {
            seq: 3,
            tenant: "",
            api_key: "",
            flow: &values,
            rng: &mut rng,
        });
        assert_eq!(out, "/o/o-9/3/7/o-9");
        assert_eq!(t.to_string(), "/o/{order_id}/{seq}/{sku}/{order_id}");
        // Built-ins keep their meaning and their errors; arguments make no flow variable.
        assert!(Template::parse_request("/{rand}").is_err());
        assert!(Template::parse_request("/{order:1}").is_err());
        assert_eq!(
            Template::parse_request("/{seq}").unwrap().parts(),
            &[Part::Literal("/".into()), Part::Seq]
        );
        assert!(Template::parse_request(r#"{"a": 1}"#).unwrap().is_static());
    }

    #[test]
    fn display_round_trips() {
        for text in [
            "/items/{rand:1..1000}",
            r#"{"a": {seq}, "b": "{tenant}"}"#,
            "{{uuid}} is {uuid}",
            "{env:API_KEY}/{tenant.api_key}/{tenant.id}",
            "plain",
            "{",
            "}{",
        ] {
            let t = Template::parse(text).unwrap();
            assert_eq!(Template::parse(&t.to_string()).unwrap(), t, "{text}");
        }
    }
}
