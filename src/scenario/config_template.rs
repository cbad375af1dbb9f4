//! The placeholders of a `command`, its `env` and a gateway's `config` template
//! (docs/your-processes.md): `{port}`, `{instance}`, `{dir}`, `{config}`, and in a
//! template the pools' link addresses, `{upstreams.POOL.addr}` (also `.host`,
//! `.port`, `.name`): a line that names them is written once per instance of the
//! pool. `{{` is a literal `{`; a `{` not followed by a name and `}` is itself, so
//! nginx, HAProxy and Envoy configuration needs no escaping but for `${var}`.

use std::collections::BTreeMap;
use std::net::SocketAddr;

/// A piece of a line: text, or a placeholder's name.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// Split `line` into text and `{name}` placeholders (`{{` is a literal `{`).
fn pieces(line: &str) -> Vec<Piece<'_>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            out.push(Piece::Text(&rest[..=open]));
            rest = &rest[open + 2..];
            continue;
        }
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if is_name(&after[..close]) => {
                out.push(Piece::Text(&rest[..open]));
                out.push(Piece::Var(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push(Piece::Text(&rest[..=open]));
                rest = after;
            }
        }
    }
    out.push(Piece::Text(rest));
    out
}

/// What an instance placeholder of a pool names.
const POOL_FIELDS: [&str; 4] = ["addr", "host", "port", "name"];

/// `upstreams.POOL.FIELD` → (POOL, FIELD).
fn pool_var(name: &str) -> Option<(&str, &str)> {
    let rest = name.strip_prefix("upstreams.")?;
    rest.rsplit_once('.')
}

/// Problems of a one-line value (an argument, an env value): unknown placeholders.
pub fn check_value(text: &str, known: &[&str]) -> Vec<String> {
    pieces(text)
        .into_iter()
        .filter_map(|p| match p {
            Piece::Var(v) if !known.contains(&v) => Some(unknown(v, known)),
            _ => None,
        })
        .collect()
}

fn unknown(v: &str, known: &[&str]) -> String {
    let hint = super::diagnostics::did_you_mean(v, known.iter().copied()).unwrap_or_default();
    let list: Vec<String> = known.iter().map(|k| format!("{{{k}}}")).collect();
    format!(
        "unknown placeholder `{{{v}}}`{hint}; known: {} (write `{{{{` for a literal `{{`)",
        list.join(", ")
    )
}

/// Render a one-line value; placeholders `vars` lacks stay as written (checked before).
pub fn render_value(text: &str, vars: &BTreeMap<&str, String>) -> String {
    pieces(text)
        .into_iter()
        .map(|p| match p {
            Piece::Text(t) => t.to_owned(),
            Piece::Var(v) => vars.get(v).cloned().unwrap_or_else(|| format!("{{{v}}}")),
        })
        .collect()
}

/// Problems of a template, each with its line number: unknown placeholders and
/// pools, and a line that names the instances of two pools.
pub fn check_template(text: &str, known: &[&str], pools: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let mut line_pools = Vec::new();
        for p in pieces(line) {
            let Piece::Var(v) = p else { continue };
            if known.contains(&v) {
                continue;
            }
            match pool_var(v) {
                Some((pool, field)) if pools.contains(&pool) && POOL_FIELDS.contains(&field) => {
                    if !line_pools.contains(&pool) {
                        line_pools.push(pool);
                    }
                }
                Some((pool, field)) if pools.contains(&pool) => out.push(format!(
                    "line {}: `{{{v}}}`: an instance of pool `{pool}` has no `{field}`; accepted: {}",
                    n + 1,
                    POOL_FIELDS.join(", ")
                )),
                Some((pool, _)) => {
                    let hint = super::diagnostics::did_you_mean(pool, pools.iter().copied())
                        .unwrap_or_default();
                    out.push(format!(
                        "line {}: `{{{v}}}`: no pool `{pool}`{hint}",
                        n + 1
                    ))
                }
                None => {
                    let mut all: Vec<&str> = known.to_vec();
                    all.push("upstreams.POOL.addr");
                    out.push(format!("line {}: {}", n + 1, unknown(v, &all)));
                }
            }
        }
        if line_pools.len() > 1 {
            out.push(format!(
                "line {}: names the instances of pools {}; a line is repeated for the instances of one pool",
                n + 1,
                line_pools.join(" and ")
            ));
        }
    }
    out
}

/// Render a template: `vars` for the plain placeholders; a line naming a pool's
/// instances is written once per (name, link address) of `pools[POOL]`, in order.
pub fn render_template(
    text: &str,
    vars: &BTreeMap<&str, String>,
    pools: &BTreeMap<String, Vec<(String, SocketAddr)>>,
) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let ps = pieces(line);
        let pool = ps.iter().find_map(|p| match p {
            Piece::Var(v) => pool_var(v).filter(|(pool, _)| pools.contains_key(*pool)),
            Piece::Text(_) => None,
        });
        let Some((pool, _)) = pool else {
            out.push_str(&render_value(line, vars));
            continue;
        };
        for (name, addr) in &pools[pool] {
            for p in &ps {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Var(v) => match pool_var(v) {
                        Some((_, "addr")) => out.push_str(&addr.to_string()),
                        Some((_, "host")) => out.push_str(&addr.ip().to_string()),
                        Some((_, "port")) => out.push_str(&addr.port().to_string()),
                        Some((_, "name")) => out.push_str(name),
                        _ => out.push_str(&vars.get(v).cloned().unwrap_or_default()),
                    },
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const NGINX: &str = "upstream api {\n    server {upstreams.api.addr} max_fails=1;\n}\nserver { listen 127.0.0.1:{port}; set $x ${{x}; }\n";

    fn vars() -> BTreeMap<&'static str, String> {
        BTreeMap::from([("port", "8080".to_owned()), ("dir", "/run/g".to_owned())])
    }

    #[test]
    fn a_pool_line_is_written_once_per_instance_and_braces_of_the_config_stay() {
        let pools = BTreeMap::from([(
            "api".to_owned(),
            vec![
                ("api-0".to_owned(), "127.0.0.1:4001".parse().unwrap()),
                ("api-1".to_owned(), "127.0.0.1:4002".parse().unwrap()),
            ],
        )]);
        let text = render_template(NGINX, &vars(), &pools);
        assert_eq!(
            text,
            "upstream api {\n    server 127.0.0.1:4001 max_fails=1;\n    server 127.0.0.1:4002 max_fails=1;\n}\nserver { listen 127.0.0.1:8080; set $x ${x}; }\n"
        );
        let haproxy =
            "  server {upstreams.api.name} {upstreams.api.host}:{upstreams.api.port} check\n";
        assert_eq!(
            render_template(haproxy, &vars(), &pools),
            "  server api-0 127.0.0.1:4001 check\n  server api-1 127.0.0.1:4002 check\n"
        );
    }

    #[test]
    fn unknown_placeholders_and_pools_are_named_with_their_line() {
        assert!(check_template(NGINX, &["port", "dir"], &["api"]).is_empty());
        let bad = "a {prot}\nb {upstreams.apu.addr}\nc {upstreams.api.adr}\nd {upstreams.api.addr} {upstreams.web.addr}\n";
        let problems = check_template(bad, &["port", "dir"], &["api", "web"]);
        assert_eq!(problems.len(), 4, "{problems:?}");
        assert!(
            problems[0].starts_with("line 1: unknown placeholder `{prot}`; did you mean `port`?"),
            "{}",
            problems[0]
        );
        assert!(
            problems[1].contains("line 2: `{upstreams.apu.addr}`: no pool `apu`"),
            "{}",
            problems[1]
        );
        assert!(problems[2].contains("has no `adr`"), "{}", problems[2]);
        assert!(problems[3].contains("pools api and web"), "{}", problems[3]);
    }

    #[test]
    fn values_render_their_placeholders() {
        assert!(check_value("--port={port}", &["port"]).is_empty());
        assert_eq!(check_value("{dri}", &["dir"]).len(), 1);
        assert_eq!(
            render_value("--port={port} {{x}", &vars()),
            "--port=8080 {x}"
        );
    }
}
