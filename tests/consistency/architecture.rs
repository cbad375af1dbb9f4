//! The architecture, checked: docs/architecture.md's stage diagram is what the
//! imports say, and the house limits on file and function length hold.
//!
//! Each top-level module of the main crate has a stage; a module may use
//! `crate::` paths only of stages below its own (or of itself). The stages are
//! the ones docs/architecture.md draws; a change that needs an upward import
//! moves the code instead.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// Stage of each top-level module of `src/` (lower = closer to the input).
/// Modules of one stage do not import each other, except where `SIBLINGS` says.
const STAGES: &[(&str, u8)] = &[
    ("exit", 0),
    ("scenario", 0),
    ("format", 1),
    ("metrics", 2),
    ("analysis", 3),
    ("topology", 3),
    ("traffic", 3),
    ("faults", 3),
    ("results", 4),
    ("summary", 5),
    ("report", 6),
    ("run", 7),
    ("cli", 8),
];

/// Same-stage imports that are part of the design (importer, imported).
const SIBLINGS: &[(&str, &str)] = &[];

/// Files longer than this want splitting.
const MAX_FILE_LINES: usize = 600;
/// Functions longer than this need a `Long:` comment above them saying why.
const MAX_FN_LINES: usize = 80;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn stage(module: &str) -> Option<u8> {
    STAGES
        .iter()
        .find(|(name, _)| *name == module)
        .map(|(_, s)| *s)
}

/// The top-level module a file of `src/` belongs to (`None` for lib.rs/main.rs).
fn module_of(file: &Path) -> Option<String> {
    let rel = file.strip_prefix(Path::new(ROOT).join("src")).ok()?;
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    (name != "lib" && name != "main").then(|| name.to_string())
}

/// Every `crate::NAME` a line of code names (comments skipped).
fn crate_refs(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut refs = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            refs.push(name);
        }
        rest = after;
    }
    // `use crate::{a, b::c}` groups.
    if let Some(at) = code.find("crate::{") {
        let group = &code[at + "crate::{".len()..];
        for part in group.split([',', '}']) {
            let name: String = part
                .trim()
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                refs.push(name);
            }
        }
    }
    refs
}

#[test]
fn no_module_imports_from_a_stage_above_it() {
    let mut files = Vec::new();
    rust_files(&Path::new(ROOT).join("src"), &mut files);
    files.sort();
    assert!(!files.is_empty(), "no sources found under {ROOT}/src");
    let mut upward = Vec::new();
    let mut unknown = BTreeMap::new();
    for file in &files {
        let Some(module) = module_of(file) else {
            continue;
        };
        let Some(own) = stage(&module) else {
            unknown.insert(module.clone(), file.display().to_string());
            continue;
        };
        let text = std::fs::read_to_string(file).expect("read source");
        for (n, line) in text.lines().enumerate() {
            for used in crate_refs(line) {
                if used == module || used == "ExitStatus" {
                    continue;
                }
                let Some(theirs) = stage(&used) else {
                    continue;
                };
                let sibling_ok = SIBLINGS.contains(&(module.as_str(), used.as_str()));
                if theirs > own || (theirs == own && !sibling_ok) {
                    upward.push(format!(
                        "{}:{}: `{module}` (stage {own}) uses `crate::{used}` (stage {theirs})",
                        file.strip_prefix(ROOT).unwrap_or(file).display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "top-level modules with no stage in this test (add them, and to docs/architecture.md): {unknown:?}"
    );
    assert!(
        upward.is_empty(),
        "imports against the stage order of docs/architecture.md:\n{}",
        upward.join("\n")
    );
}

#[test]
fn the_stage_checker_sees_an_upward_import() {
    // The checker itself: a report import from analysis is caught, a
    // downward one is not, and comments do not count.
    assert_eq!(crate_refs("use crate::report::summary::X;"), ["report"]);
    assert_eq!(
        crate_refs("use crate::{metrics::A, scenario};"),
        ["metrics", "scenario"]
    );
    assert!(crate_refs("// see crate::run::runner").is_empty());
    assert!(stage("report") > stage("analysis"));
}

/// Files and functions over the house limits, for every crate of the workspace,
/// tests and examples included.
fn over_limits() -> (Vec<String>, Vec<String>) {
    let mut files = Vec::new();
    for dir in [
        "src",
        "reference-gateway/src",
        "mock-backends/src",
        "http1/src",
        "http2/src",
    ] {
        rust_files(&Path::new(ROOT).join(dir), &mut files);
    }
    files.sort();
    let mut long_files = Vec::new();
    let mut long_fns = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("read source");
        let lines: Vec<&str> = text.lines().collect();
        let rel = file
            .strip_prefix(ROOT)
            .unwrap_or(file)
            .display()
            .to_string();
        if lines.len() > MAX_FILE_LINES {
            long_files.push(format!("{rel}: {} lines", lines.len()));
        }
        long_fns.extend(
            long_functions(&lines)
                .into_iter()
                .map(|(line, len)| format!("{rel}:{line}: {len} lines")),
        );
    }
    (long_files, long_fns)
}

/// `(first line, length)` of each function longer than the limit whose
/// comment block does not say `Long:` why. rustfmt'd code: a function ends
/// at the first `}` line with the indentation of its `fn` line.
fn long_functions(lines: &[&str]) -> Vec<(usize, usize)> {
    let mut found = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        let is_fn = [
            "fn ",
            "pub fn ",
            "async fn ",
            "pub async fn ",
            "pub(crate) fn ",
            "pub(crate) async fn ",
            "pub(super) fn ",
            "pub(super) async fn ",
            "const fn ",
            "pub const fn ",
            "unsafe fn ",
        ]
        .iter()
        .any(|p| trimmed.starts_with(p));
        if !is_fn || trimmed.ends_with(';') {
            continue;
        }
        let close = " ".repeat(indent) + "}";
        let Some(len) = lines[i..].iter().position(|l| *l == close) else {
            continue;
        };
        if len < MAX_FN_LINES {
            continue;
        }
        let says_why = lines[..i]
            .iter()
            .rev()
            .map(|l| l.trim_start())
            .take_while(|l| l.starts_with("//") || l.starts_with("#["))
            .any(|l| l.contains("Long:"));
        if !says_why {
            found.push((i + 1, len + 1));
        }
    }
    found
}

#[test]
fn no_file_over_600_lines_and_no_unexplained_function_over_80() {
    let (long_files, long_fns) = over_limits();
    assert!(
        long_files.is_empty() && long_fns.is_empty(),
        "over the house limits (split by concern, or say `Long:` why above the function):\nfiles:\n{}\nfunctions:\n{}",
        long_files.join("\n"),
        long_fns.join("\n")
    );
}

#[test]
fn the_length_checker_counts_a_long_function_and_honours_long_comments() {
    let body = vec!["    let x = 1;"; 85];
    let mut plain = vec!["fn f() {"];
    plain.extend(&body);
    plain.push("}");
    assert_eq!(long_functions(&plain), [(1, 87)]);
    let mut explained = vec![
        "// Long: one state machine, read top to bottom.",
        "fn f() {",
    ];
    explained.extend(&body);
    explained.push("}");
    assert!(long_functions(&explained).is_empty());
}
