//! How a program of someone else's says it is ready, when it cannot print
//! ninefold's ready line: a line of its stdout matching a pattern, or an HTTP
//! answer (any 2xx or 3xx) on a path of the port ninefold gave it.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A validated `ready = { line = "REGEX" }` pattern (RE2 syntax: no
/// backtracking, so no line can make matching hang). Equal when the patterns are.
#[derive(Debug, Clone)]
pub struct LinePattern(regex::Regex);

impl LinePattern {
    /// Compile `pattern`; the error says what is wrong with it.
    pub fn new(pattern: &str) -> Result<Self, String> {
        regex::Regex::new(pattern)
            .map(Self)
            .map_err(|e| e.to_string())
    }

    /// Whether `line` contains a match.
    pub fn matches(&self, line: &str) -> bool {
        self.0.is_match(line)
    }

    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }
}

impl PartialEq for LinePattern {
    fn eq(&self, other: &Self) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for LinePattern {}

/// How long one readiness request may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);
/// The pause between two readiness requests.
pub const PROBE_EVERY: Duration = Duration::from_millis(50);

/// One `GET path` to `addr`: `Ok` on a 2xx or 3xx status line, else what came back.
pub async fn http_ready(addr: SocketAddr, path: &str) -> Result<(), String> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect {addr}: {e}"))?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nUser-Agent: ninefold-ready\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|e| format!("send: {e}"))?;
        let mut head = [0u8; 64];
        let mut got = 0;
        while got < 12 {
            let n = stream
                .read(&mut head[got..])
                .await
                .map_err(|e| format!("read: {e}"))?;
            if n == 0 {
                break;
            }
            got += n;
        }
        status_of(&head[..got])
    };
    tokio::time::timeout(PROBE_TIMEOUT, attempt)
        .await
        .unwrap_or_else(|_| Err(format!("no answer within {PROBE_TIMEOUT:?}")))
}

/// `Ok` when `head` starts with an HTTP/1.x status line of 2xx or 3xx.
fn status_of(head: &[u8]) -> Result<(), String> {
    let text = String::from_utf8_lossy(head);
    let mut parts = text.split(' ');
    let version = parts.next().unwrap_or_default();
    let status = parts.next().and_then(|s| s.parse::<u16>().ok());
    match status {
        Some(s) if version.starts_with("HTTP/1.") && (200..400).contains(&s) => Ok(()),
        Some(s) if version.starts_with("HTTP/1.") => Err(format!("status {s}")),
        _ => Err(format!("not an HTTP/1.x answer: {text:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_2xx_and_3xx_status_lines_are_ready() {
        assert_eq!(status_of(b"HTTP/1.1 200 OK\r\n"), Ok(()));
        assert_eq!(status_of(b"HTTP/1.0 302 Found\r\n"), Ok(()));
        assert_eq!(
            status_of(b"HTTP/1.1 503 Unavailable"),
            Err("status 503".into())
        );
        assert!(status_of(b"SSH-2.0-OpenSSH").is_err());
        assert!(status_of(b"").is_err());
    }

    #[test]
    fn a_pattern_matches_anywhere_in_the_line_and_compares_by_its_text() {
        let p = LinePattern::new(r"listening on \d+").unwrap();
        assert!(p.matches("INFO listening on 8080 now"));
        assert!(!p.matches("listening on port"));
        assert_eq!(p, LinePattern::new(r"listening on \d+").unwrap());
        assert!(LinePattern::new("(unclosed").is_err());
    }

    #[tokio::test]
    async fn a_probe_of_a_closed_port_fails_quickly_with_the_reason() {
        // Bind then drop: the port is (almost surely) closed now.
        let addr = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let err = http_ready(addr, "/health").await.unwrap_err();
        assert!(err.starts_with("connect"), "{err}");
    }
}
