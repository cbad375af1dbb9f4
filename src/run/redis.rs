//! The Redis server `ninefold run` starts when a scenario asks for
//! `store = "redis"` without a URL (gateway limits shared across instances,
//! or a backend pool's store): Debian's `redis-server` on a free loopback
//! port, a supervised child like every other (log in `logs/redis.log`,
//! ready when it says "Ready to accept connections", torn down at the end, and
//! a fault target named `redis`).

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::scenario::model::{GatewayTarget, Instances, LimiterStore, Scenario, StoreSpec};
use crate::topology::child::{ChildError, ReadySignal};
use crate::topology::supervisor::{SlotSpec, Supervisor};

/// The process (and fault target) name of the managed Redis.
pub const REDIS: &str = "redis";

/// Why the managed Redis could not start.
#[derive(Debug, thiserror::Error)]
pub enum RedisError {
    #[error("redis-server not found: apt-get install redis-server")]
    NotFound,
    #[error("cannot find a free loopback port for redis-server: {0}")]
    Port(std::io::Error),
    #[error("redis-server would not start: {0}")]
    Start(#[from] ChildError),
}

/// Whether `s` needs a Redis that ninefold starts.
pub fn needed(s: &Scenario) -> bool {
    let gateway = matches!(s.gateway.target, GatewayTarget::Bundled { .. })
        && s.gateway.rate_limit.store == LimiterStore::Redis(None);
    let pools = s
        .upstreams
        .values()
        .any(|u| matches!(u.instances, Instances::Managed(_)) && u.store == StoreSpec::Redis(None));
    gateway || pools
}

/// `redis-server` on `PATH`, or Debian's `/usr/bin/redis-server`.
pub fn find_program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join("redis-server"))
            .find(|p| p.is_file())
    });
    on_path.or_else(|| {
        let debian = PathBuf::from("/usr/bin/redis-server");
        debian.is_file().then_some(debian)
    })
}

/// Start the managed Redis under `supervisor`; returns its `redis://` URL.
///
/// The port is one the OS just gave us and we released; another process may
/// take it in between, so a start that fails is tried again on a new port.
pub async fn start(
    supervisor: &Supervisor,
    logs: &Path,
    ready_timeout: Duration,
) -> Result<String, RedisError> {
    let program = find_program().ok_or(RedisError::NotFound)?;
    let mut last = None;
    for _ in 0..3 {
        let addr = free_port().map_err(RedisError::Port)?;
        let args = args(addr, logs);
        let spec = SlotSpec {
            name: REDIS.into(),
            args: Arc::new(move || args.clone()),
            program: Some(program.clone()),
            log: logs.join("redis.log"),
            ready_timeout,
            replace_after: None,
            ready: ReadySignal::LogText {
                text: "ready to accept connections".into(),
                role: REDIS.into(),
                addr,
            },
            env: Vec::new(),
            cwd: None,
        };
        match supervisor.start(spec).await {
            Ok(ready) => return Ok(format!("redis://{}", ready.addr)),
            Err(e @ ChildError::DiedEarly { .. }) => last = Some(e),
            Err(e) => return Err(e.into()),
        }
    }
    Err(last.map_or(RedisError::NotFound, RedisError::Start))
}

/// A throwaway server: loopback only, no persistence, logs on stdout (which
/// the supervisor copies to `logs/redis.log`).
fn args(addr: SocketAddr, logs: &Path) -> Vec<OsString> {
    vec![
        "--port".into(),
        addr.port().to_string().into(),
        "--bind".into(),
        addr.ip().to_string().into(),
        "--save".into(),
        "".into(),
        "--appendonly".into(),
        "no".into(),
        "--dir".into(),
        logs.as_os_str().to_owned(),
        "--logfile".into(),
        "".into(),
        "--daemonize".into(),
        "no".into(),
    ]
}

fn free_port() -> std::io::Result<SocketAddr> {
    std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_is_needed_only_for_redis_without_a_url() {
        let parse = |text: &str| {
            crate::scenario::load::parse_str("t.toml", text, Path::new("."))
                .unwrap()
                .scenario
        };
        let base = r#"
name = "r"
duration = "1s"
[gateway]
instances = 2
[[gateway.routes]]
path = "/items"
upstream = "api"
[upstreams.api]
instances = 1
[[traffic]]
executor = "constant-arrival-rate"
rate = 1
requests = [{ path = "/items/1" }]
"#;
        assert!(!needed(&parse(base)));
        let shared = format!("{base}\n[gateway.rate_limit]\nstore = \"redis\"\n");
        assert!(needed(&parse(&shared)));
        let given = format!("{base}\n[gateway.rate_limit]\nstore = \"redis://127.0.0.1:1\"\n");
        assert!(!needed(&parse(&given)));
    }
}
