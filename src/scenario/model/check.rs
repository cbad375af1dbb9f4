//! What a request class checks in its answers and takes out of them for the
//! later steps of a flow: [`ResponseCheck`] and [`Extraction`], their JSONPath
//! expressions (RFC 9535) parsed once, at validation.

use serde_json_path::JsonPath;

/// A parsed JSONPath expression with the text it was written as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPathExpr {
    /// As written in the scenario (`$.id`).
    pub text: String,
    pub path: JsonPath,
}

/// What a JSONPath expression in `check.json` must select.
#[derive(Debug, Clone, PartialEq)]
pub enum JsonExpect {
    /// `"exists"`: at least one node.
    Exists,
    /// At least one node, and every node selected equals this value (numbers
    /// compare as numbers: `1` equals `1.0`).
    Equals(serde_json::Value),
}

/// `check = { … }` of a request class: every condition must hold of an answer
/// whose outcome is otherwise `ok`, or the request is `check_failed`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ResponseCheck {
    /// The status must be one of these (empty: not checked).
    pub status: Vec<u16>,
    /// The body must contain this text.
    pub body_contains: Option<String>,
    /// JSONPath expressions over the body (parsed as JSON), in the order written.
    pub json: Vec<(JsonPathExpr, JsonExpect)>,
}

impl ResponseCheck {
    /// Whether evaluating the check reads the body.
    pub fn reads_body(&self) -> bool {
        self.body_contains.is_some() || !self.json.is_empty()
    }
}

/// `extract = { NAME = "$.path" }`: one value taken from an answer's JSON body
/// for the later steps of the same flow (`{NAME}` in their templates).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Extraction {
    pub name: String,
    /// The flow variable's slot: its index among every name the flow's steps extract.
    pub slot: usize,
    pub path: JsonPathExpr,
}
