//! Problems found in a scenario file, each located as `FILE:LINE:COL`.
//!
//! Validation names a problem by its *path* in the document
//! (`traffic[2].rate`); the path is resolved to a byte span through the spanned
//! TOML tree, so the raw serde structs stay free of span bookkeeping.

use std::fmt;
use std::ops::Range;

use toml::de::{DeTable, DeValue};

// A path into the document (`traffic[2].rate`) and the "did you mean" hint are shared
// with the gateway's own configuration checks, which report at paths too.
pub use reference_gateway::config::check::{Path, Seg, did_you_mean};

/// Where in the text a diagnostic points: a path to resolve, or a known span.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locus {
    Path(Path),
    /// The key itself (for unknown keys), not its value.
    KeyOf(Path),
    Span(Range<usize>),
    Nowhere,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub locus: Locus,
    pub message: String,
}

/// A problem resolved to a line and column (1-based), ready to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// All problems of one file. Displays one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Located>);

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

/// Resolve diagnostics against the text they came from, sorted by position.
pub fn locate(
    file: &str,
    text: &str,
    doc: Option<&DeTable<'_>>,
    diags: Vec<Diagnostic>,
) -> Diagnostics {
    let mut out: Vec<(usize, Located)> = diags
        .into_iter()
        .map(|d| {
            let offset = match &d.locus {
                Locus::Span(r) => Some(r.start),
                Locus::Path(p) => doc.and_then(|doc| span_of(doc, p, false)).map(|r| r.start),
                Locus::KeyOf(p) => doc.and_then(|doc| span_of(doc, p, true)).map(|r| r.start),
                Locus::Nowhere => None,
            }
            .unwrap_or(0)
            .min(text.len());
            let (line, col) = line_col(text, offset);
            (
                offset,
                Located {
                    file: file.to_owned(),
                    line,
                    col,
                    message: d.message,
                },
            )
        })
        .collect();
    out.sort_by_key(|(o, _)| *o);
    out.dedup_by(|a, b| a.1 == b.1);
    Diagnostics(out.into_iter().map(|(_, l)| l).collect())
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let mut offset = offset.min(text.len());
    while !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = &text[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    (line, col)
}

/// The span of the value at `path` (or of its key, when `key` is set). Falls
/// back to the nearest ancestor that exists, so a missing key points at its table.
pub fn span_of(doc: &DeTable<'_>, path: &Path, key: bool) -> Option<Range<usize>> {
    let mut best: Option<Range<usize>> = None;
    let mut table = Some(doc);
    let mut value: Option<&DeValue<'_>> = None;
    for (i, seg) in path.0.iter().enumerate() {
        let last = i + 1 == path.0.len();
        match seg {
            Seg::Key(k) => {
                let t = match (table, value) {
                    (Some(t), None) => t,
                    (_, Some(v)) => v.as_table()?,
                    _ => return best,
                };
                let Some((kspan, v)) = t.iter().find(|(kk, _)| kk.get_ref().as_ref() == k.as_str())
                else {
                    return best;
                };
                best = Some(if last && key { kspan.span() } else { v.span() });
                value = Some(v.get_ref());
                table = None;
            }
            Seg::Index(n) => {
                let Some(arr) = value.and_then(|v| v.as_array()) else {
                    return best;
                };
                let Some(item) = arr.get(*n) else {
                    return best;
                };
                best = Some(item.span());
                value = Some(item.get_ref());
            }
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_the_style_guide() {
        let p = Path::root().key("traffic").index(2).key("rate");
        assert_eq!(p.to_string(), "traffic[2].rate");
        let p = Path::root().key("slo").key("latency.p99");
        assert_eq!(p.to_string(), "slo.\"latency.p99\"");
    }

    #[test]
    fn spans_resolve_through_arrays_of_tables() {
        let text = "name = \"x\"\n\n[[traffic]]\nrate = 1\n\n[[traffic]]\nname = \"b\"\nrate = 0\n";
        let doc = DeTable::parse(text).unwrap();
        let p = Path::root().key("traffic").index(1).key("rate");
        let span = span_of(doc.get_ref(), &p, false).unwrap();
        assert_eq!(line_col(text, span.start), (8, 8));
        let span = span_of(doc.get_ref(), &p, true).unwrap();
        assert_eq!(line_col(text, span.start), (8, 1));
        // A missing key points at the nearest ancestor.
        let p = Path::root().key("traffic").index(1).key("executor");
        assert!(span_of(doc.get_ref(), &p, false).is_some());
    }

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("durration", ["name", "duration", "seed"]).as_deref(),
            Some("; did you mean `duration`?")
        );
        assert_eq!(did_you_mean("zzz", ["name", "duration"]), None);
    }
}
