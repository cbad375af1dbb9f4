//! Route table: longest path prefix on segment boundaries, then method. Resolution is
//! shared (auth, limiter and cache need the route before the route layer rewrites it).

use std::sync::Arc;

use http::Method;

use crate::config::{Rewrite, RouteConfig};
use crate::upstream::pool::Pool;

/// Why no route was chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMiss {
    /// No prefix matches → 404.
    NotFound,
    /// A prefix matches but not the method → 405.
    MethodNotAllowed,
}

/// A compiled route.
pub struct Route {
    /// Name for logs and metrics: the configured path.
    pub name: Arc<str>,
    /// The configuration entry.
    pub config: RouteConfig,
    /// Comma-separated allowed methods (for `Allow`).
    pub allow: String,
    /// The pool requests go to.
    pub pool: Arc<Pool>,
    /// Key suffix for route plan overrides (`\0` + path), built once.
    pub plan_key: String,
}

/// The route table, longest prefix first.
pub struct Router {
    /// Routes sorted by prefix length, descending.
    pub routes: Vec<Route>,
}

impl Router {
    /// Sorts the routes so that the first match is the longest prefix.
    pub fn new(mut routes: Vec<Route>) -> Self {
        routes.sort_by_key(|r| std::cmp::Reverse(r.config.path.len()));
        Self { routes }
    }

    /// The index of the route for this method and path.
    pub fn resolve(&self, method: &Method, path: &str) -> Result<usize, RouteMiss> {
        let mut path_matched = false;
        for (i, r) in self.routes.iter().enumerate() {
            if !prefix_matches(&r.config.path, path) {
                continue;
            }
            if r.config.methods.is_empty() || r.config.methods.contains(method) {
                return Ok(i);
            }
            path_matched = true;
        }
        Err(if path_matched {
            RouteMiss::MethodNotAllowed
        } else {
            RouteMiss::NotFound
        })
    }
}

/// `/items` matches `/items`, `/items/`, `/items/7`, not `/itemsx`; `/` matches everything.
pub fn prefix_matches(prefix: &str, path: &str) -> bool {
    let p = prefix.trim_end_matches('/');
    match path.strip_prefix(p) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

/// The upstream path for `path` under this route's rewrite rule.
pub fn rewrite_path(route: &RouteConfig, path: &str) -> Option<String> {
    let p = route.path.trim_end_matches('/');
    match &route.rewrite {
        Rewrite::Keep => None,
        Rewrite::StripPrefix => {
            let rest = path.strip_prefix(p).unwrap_or(path);
            Some(if rest.is_empty() {
                "/".into()
            } else {
                rest.into()
            })
        }
        Rewrite::ReplacePrefix(new) => {
            let rest = path.strip_prefix(p).unwrap_or(path);
            let new = new.trim_end_matches('/');
            Some(if new.is_empty() && rest.is_empty() {
                "/".into()
            } else {
                format!("{new}{rest}")
            })
        }
    }
}

/// `path` with percent-encoded dots decoded and dot segments removed (RFC 3986 §5.2.4),
/// or `None` when it is already normal (the common case, found without allocating).
/// Refused: an encoded slash or backslash (`%2F`, `%5C`: a backend that decodes them
/// would see other segments than the route did) and a `..` that climbs above the root
/// (nginx answers both 400).
pub fn normalize_path(path: &str) -> Result<Option<String>, &'static str> {
    let bytes = path.as_bytes();
    let has_percent = bytes.contains(&b'%');
    if !has_percent && !has_dot_segment(path) {
        return Ok(None);
    }
    let mut decoded = Vec::with_capacity(path.len());
    if has_percent {
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let code = [
                    bytes[i + 1].to_ascii_lowercase(),
                    bytes[i + 2].to_ascii_lowercase(),
                ];
                match &code {
                    b"2e" => {
                        decoded.push(b'.');
                        i += 3;
                        continue;
                    }
                    b"2f" => return Err("encoded slash in the path"),
                    b"5c" => return Err("encoded backslash in the path"),
                    _ => {}
                }
            }
            decoded.push(bytes[i]);
            i += 1;
        }
    } else {
        decoded.extend_from_slice(bytes);
    }
    // Only ASCII `%2e` became `.`: what was UTF-8 still is.
    let decoded = String::from_utf8(decoded).map_err(|_| "invalid path")?;
    let mut out: Vec<&str> = Vec::new();
    let mut segments = decoded
        .strip_prefix('/')
        .unwrap_or(&decoded)
        .split('/')
        .peekable();
    let mut trailing = false;
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        match seg {
            "." => trailing = last,
            ".." => {
                if out.pop().is_none() {
                    return Err("path climbs above the root");
                }
                trailing = last;
            }
            s => {
                out.push(s);
                trailing = false;
            }
        }
    }
    let mut normal = String::with_capacity(decoded.len());
    for seg in &out {
        normal.push('/');
        normal.push_str(seg);
    }
    if trailing || normal.is_empty() {
        normal.push('/');
    }
    Ok((normal != path).then_some(normal))
}

/// Whether a segment of `path` is `.` or `..`.
fn has_dot_segment(path: &str) -> bool {
    path.contains("/.") && path.split('/').any(|s| s == "." || s == "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes_match_on_segment_boundaries() {
        assert!(prefix_matches("/items", "/items"));
        assert!(prefix_matches("/items", "/items/7"));
        assert!(prefix_matches("/items/", "/items/7"));
        assert!(!prefix_matches("/items", "/itemsx"));
        assert!(prefix_matches("/", "/anything"));
    }

    #[test]
    fn paths_are_normalized_by_rfc_3986_5_2_4() {
        let n = |p: &str| normalize_path(p).map(|o| o.unwrap_or_else(|| p.to_string()));
        // RFC 3986 §5.2.4's own examples, absolute.
        assert_eq!(n("/a/b/c/./../../g").unwrap(), "/a/g");
        assert_eq!(n("/mid/content=5/../6").unwrap(), "/mid/6");
        for (path, want) in [
            ("/items/../admin/secret", "/admin/secret"),
            ("/items/%2e%2e/admin", "/admin"),
            ("/items/%2E%2E/admin", "/admin"),
            ("/items/.%2E/admin", "/admin"),
            ("/items/%2e/7", "/items/7"),
            ("/items/.", "/items/"),
            ("/items/..", "/"),
            ("/.", "/"),
            ("/a//b", "/a//b"),
            ("/a/.b/..c/...", "/a/.b/..c/..."),
            ("/a/%41%2e", "/a/%41."),
            ("/é/../x", "/x"),
        ] {
            assert_eq!(n(path).unwrap(), want, "{path}");
        }
        // Already normal: nothing allocated.
        assert_eq!(normalize_path("/items/7").unwrap(), None);
        assert_eq!(normalize_path("/.well-known/x").unwrap(), None);
        for bad in [
            "/a/%2fb",
            "/a/%2F",
            "/a/%5c..",
            "/..",
            "/a/../..",
            "/%2e%2e/x",
        ] {
            assert!(normalize_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rewrites() {
        let mut r = RouteConfig::new("/items", "api");
        assert_eq!(rewrite_path(&r, "/items/7"), None);
        r.rewrite = Rewrite::StripPrefix;
        assert_eq!(rewrite_path(&r, "/items/7").as_deref(), Some("/7"));
        assert_eq!(rewrite_path(&r, "/items").as_deref(), Some("/"));
        r.rewrite = Rewrite::ReplacePrefix("/v2/things".into());
        assert_eq!(
            rewrite_path(&r, "/items/7").as_deref(),
            Some("/v2/things/7")
        );
    }
}
