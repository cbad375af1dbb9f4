//! The one JSON line a server role prints on stdout once it accepts
//! connections. The harness and tests wait on it, never on a sleep.

use std::io::Write;
use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// `{"event":"ready","role":"backend","instance":"api-0","addr":"127.0.0.1:PORT","admin":"127.0.0.1:PORT"}`
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadyLine {
    /// Always `"ready"`.
    pub event: String,
    /// `backend`, `gateway` or `toxiproxy`.
    pub role: String,
    /// The instance name, for roles that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The address the role serves on.
    pub addr: SocketAddr,
    /// The admin listener, for roles that have one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admin: Option<SocketAddr>,
}

impl ReadyLine {
    /// A ready line for `role` serving on `addr`.
    pub fn new(role: &str, addr: SocketAddr) -> Self {
        Self {
            event: "ready".to_owned(),
            role: role.to_owned(),
            instance: None,
            addr,
            admin: None,
        }
    }

    /// Print the line on stdout and flush, so a parent reading a pipe sees it now.
    pub fn announce(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, self)?;
        out.write_all(b"\n")?;
        out.flush()
    }

    /// Parse one line of a child's stdout; `None` if it is not a ready line.
    pub fn parse(line: &str) -> Option<Self> {
        serde_json::from_str::<Self>(line.trim())
            .ok()
            .filter(|r| r.event == "ready")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_matches_the_documented_shape() {
        let mut line = ReadyLine::new("backend", "127.0.0.1:4000".parse().unwrap());
        line.instance = Some("api-0".into());
        line.admin = Some("127.0.0.1:4001".parse().unwrap());
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(
            text,
            r#"{"event":"ready","role":"backend","instance":"api-0","addr":"127.0.0.1:4000","admin":"127.0.0.1:4001"}"#
        );
        assert_eq!(ReadyLine::parse(&text), Some(line));
        assert_eq!(ReadyLine::parse(r#"{"event":"stopped","role":"x","addr":"127.0.0.1:1"}"#), None);
        assert_eq!(ReadyLine::parse("not json"), None);
    }
}
