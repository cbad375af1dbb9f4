//! `command`, `env`, `cwd`, `ready` (of a pool or of `[gateway]`) and the gateway's
//! `config` template: a program of the user's that ninefold starts in place of its
//! mock backend or reference gateway (docs/your-processes.md).

use std::collections::BTreeMap;

use super::Checker;
use crate::scenario::config_template::{check_template, check_value};
use crate::scenario::diagnostics::Path;
use crate::scenario::model::{CommandReady, ProcessCommand};
use crate::scenario::raw::RawReady;

/// How long a `command` may take to be ready when `ready.timeout` is not given.
pub const DEFAULT_READY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The keys of a program, as written.
pub(super) struct RawCommand<'a> {
    pub command: &'a [String],
    pub env: Option<&'a BTreeMap<String, String>>,
    pub cwd: Option<&'a str>,
    pub ready: Option<&'a RawReady>,
}

/// A program of the user's; `known` are the placeholders its arguments and env may use.
pub(super) fn command(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: &RawCommand<'_>,
    known: &[&str],
) -> ProcessCommand {
    let cp = path.key("command");
    match raw.command.first() {
        None => cx.err(
            &cp,
            "must name the program to run, e.g. [\"./my-api\", \"--port\", \"{port}\"]",
        ),
        Some(p) if p.trim().is_empty() => cx.err(&cp.index(0), "the program must not be empty"),
        Some(_) => {}
    }
    for (i, arg) in raw.command.iter().enumerate() {
        for problem in check_value(arg, known) {
            cx.err(&cp.index(i), problem);
        }
    }
    let mut env = Vec::new();
    for (name, value) in raw.env.into_iter().flatten() {
        let ep = path.key("env").key(name);
        if name.is_empty() || name.contains(['=', '\0']) {
            cx.err_key(&ep, format!("`{name}` is not an environment variable name"));
        }
        for problem in check_value(value, known) {
            cx.err(&ep, problem);
        }
        env.push((name.clone(), value.clone()));
    }
    let cwd = cwd(cx, &path.key("cwd"), raw.cwd);
    let ready = ready(cx, path, raw.ready);
    let ready_timeout = cx.duration(
        &path.key("ready").key("timeout"),
        raw.ready.and_then(|r| r.timeout.as_deref()),
        DEFAULT_READY_TIMEOUT,
        false,
    );
    ProcessCommand {
        argv: raw.command.to_vec(),
        env,
        cwd,
        ready,
        ready_timeout,
    }
}

/// `cwd`, relative to the scenario's folder (default: that folder), made absolute.
fn cwd(cx: &mut Checker<'_>, path: &Path, raw: Option<&str>) -> std::path::PathBuf {
    let dir = cx.base_dir.join(raw.unwrap_or(""));
    let dir = std::path::absolute(&dir).unwrap_or(dir);
    if raw.is_some() && !dir.is_dir() {
        cx.err(
            path,
            format!(
                "`{}` is not a folder (a relative `cwd` is from the scenario's folder)",
                dir.display()
            ),
        );
    }
    dir
}

/// `ready = { http = "/PATH" }` or `ready = { line = "REGEX" }`: exactly one.
fn ready(cx: &mut Checker<'_>, path: &Path, raw: Option<&RawReady>) -> CommandReady {
    let rp = path.key("ready");
    let hint = "give `ready = { http = \"/health\" }` (ready once GET /health on its port answers 2xx or 3xx) or `ready = { line = \"REGEX\" }` (once a line of its stdout matches)";
    match raw.map(|r| (&r.http, &r.line)) {
        Some((Some(http), None)) => {
            if !http.starts_with('/') || http.contains([' ', '\r', '\n']) {
                cx.err(
                    &rp.key("http"),
                    format!("`{http}` is not a request path such as \"/health\""),
                );
            }
            CommandReady::Http(http.clone())
        }
        Some((None, Some(line))) => {
            if let Err(e) = regex::Regex::new(line) {
                cx.err(&rp.key("line"), format!("not a regular expression: {e}"));
            }
            CommandReady::Line(line.clone())
        }
        Some((Some(_), Some(_))) => {
            cx.err(
                &rp,
                format!("give one of `http` and `line`, not both; {hint}"),
            );
            CommandReady::Http("/".into())
        }
        Some((None, None)) | None => {
            cx.err(
                &rp,
                format!("a `command` must say how ninefold knows it is ready: {hint}"),
            );
            CommandReady::Http("/".into())
        }
    }
}

/// Keys that belong to a `command` but were given without one.
pub(super) fn stray_keys(cx: &mut Checker<'_>, path: &Path, raw: &RawCommand<'_>, config: bool) {
    let stray = [
        ("env", raw.env.is_some()),
        ("cwd", raw.cwd.is_some()),
        ("ready", raw.ready.is_some()),
        ("config", config),
    ];
    for (key, given) in stray {
        if given {
            cx.err_key(
                &path.key(key),
                format!("`{key}` belongs to a `command` ninefold starts; add `command = [...]` or remove `{key}`"),
            );
        }
    }
}

/// The gateway's `config` template: an existing file whose placeholders are known.
pub(super) fn config_template(
    cx: &mut Checker<'_>,
    path: &Path,
    raw: &str,
    pools: &[&str],
) -> std::path::PathBuf {
    let file = cx.existing_file(path, raw);
    if let Ok(text) = std::fs::read_to_string(&file) {
        for problem in check_template(&text, &["port", "dir", "instance"], pools) {
            cx.err(path, format!("{}: {problem}", file.display()));
        }
    } else if file.is_file() {
        cx.err(path, format!("{} is not UTF-8 text", file.display()));
    }
    std::path::absolute(&file).unwrap_or(file)
}
