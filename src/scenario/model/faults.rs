//! Fault-related parts of the validated scenario: `[[faults]]`, `[[links]]`
//! and where the fault proxy runs.

use std::net::SocketAddr;
use std::time::Duration;

/// Which direction of a link a toxic acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Stream {
    /// Client → server bytes.
    Upstream,
    /// Server → client bytes.
    #[default]
    Downstream,
}

/// What a fault does.
#[derive(Debug, Clone, PartialEq)]
pub enum FaultAction {
    /// SIGKILL.
    Kill,
    /// SIGTERM: graceful drain.
    Terminate,
    /// SIGSTOP: alive but hung (reverted by SIGCONT after `duration`).
    Stop,
    /// SIGCONT.
    Resume,
    /// Kill and start again at once.
    Restart,
    /// Disable every matching link: connection refused.
    Down,
    Latency {
        latency: Duration,
        jitter: Duration,
    },
    /// KB/s (1 KB = 1000 bytes), as Toxiproxy.
    Bandwidth {
        rate_kbps: u64,
    },
    SlowClose {
        delay: Duration,
    },
    /// Swallow data, close after `timeout` (zero = hold forever).
    Timeout {
        timeout: Duration,
    },
    ResetPeer {
        timeout: Duration,
    },
    Slicer {
        average_size: u64,
        size_variation: u64,
        delay: Duration,
    },
    LimitData {
        bytes: u64,
    },
    /// Drop chunks with this probability.
    Loss {
        rate: f64,
    },
    /// Backend admin API: answer this share with `status`.
    ErrorRate {
        rate: f64,
        status: u16,
    },
    /// Backend admin API: fail health checks.
    FailHealth,
    /// Seeded random kills of the pool's instances.
    Chaos {
        every: Duration,
        jitter: Duration,
    },
}

impl FaultAction {
    /// The name used in scenario files and reports.
    pub fn name(&self) -> &'static str {
        match self {
            FaultAction::Kill => "kill",
            FaultAction::Terminate => "terminate",
            FaultAction::Stop => "stop",
            FaultAction::Resume => "resume",
            FaultAction::Restart => "restart",
            FaultAction::Down => "down",
            FaultAction::Latency { .. } => "latency",
            FaultAction::Bandwidth { .. } => "bandwidth",
            FaultAction::SlowClose { .. } => "slow_close",
            FaultAction::Timeout { .. } => "timeout",
            FaultAction::ResetPeer { .. } => "reset_peer",
            FaultAction::Slicer { .. } => "slicer",
            FaultAction::LimitData { .. } => "limit_data",
            FaultAction::Loss { .. } => "loss",
            FaultAction::ErrorRate { .. } => "error_rate",
            FaultAction::FailHealth => "fail_health",
            FaultAction::Chaos { .. } => "chaos",
        }
    }

    /// Whether the action acts on a link of the fault proxy.
    pub fn is_network(&self) -> bool {
        matches!(
            self,
            FaultAction::Down
                | FaultAction::Latency { .. }
                | FaultAction::Bandwidth { .. }
                | FaultAction::SlowClose { .. }
                | FaultAction::Timeout { .. }
                | FaultAction::ResetPeer { .. }
                | FaultAction::Slicer { .. }
                | FaultAction::LimitData { .. }
                | FaultAction::Loss { .. }
        )
    }

    /// Whether the action acts on a process.
    pub fn is_process(&self) -> bool {
        matches!(
            self,
            FaultAction::Kill
                | FaultAction::Terminate
                | FaultAction::Stop
                | FaultAction::Resume
                | FaultAction::Restart
                | FaultAction::Chaos { .. }
        )
    }
}

/// What a fault acts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaultTarget {
    /// `api[1]`: one instance of an upstream pool.
    Instance { pool: String, index: usize },
    /// `api`: every instance of a pool (or a random one, for chaos).
    Pool(String),
    /// `gateway[0]`: one gateway instance.
    Gateway(usize),
    /// `zone:c`: every instance in a zone, gateway instances included.
    Zone(String),
    /// `link:NAME`: a link the scenario declares (external mode).
    Link(String),
    /// `redis`: the Redis server ninefold starts for `store = "redis"`
    /// (process faults only: kill, terminate, stop, restart).
    Redis,
}

impl std::fmt::Display for FaultTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FaultTarget::Instance { pool, index } => write!(f, "{pool}[{index}]"),
            FaultTarget::Pool(pool) => f.write_str(pool),
            FaultTarget::Gateway(i) => write!(f, "gateway[{i}]"),
            FaultTarget::Zone(z) => write!(f, "zone:{z}"),
            FaultTarget::Link(l) => write!(f, "link:{l}"),
            FaultTarget::Redis => f.write_str("redis"),
        }
    }
}

/// One `[[faults]]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    pub at: Duration,
    /// Reverts by itself after this long.
    pub duration: Option<Duration>,
    pub action: FaultAction,
    pub target: FaultTarget,
    /// For toxics: which direction(s).
    pub streams: Vec<Stream>,
    /// For toxics: share of connections affected, in [0, 1].
    pub toxicity: f32,
}

/// The `[faults]` settings table (the `[[faults]]` array holds events).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum FaultProxy {
    /// ninefold's own Toxiproxy-compatible proxy, in process.
    #[default]
    Embedded,
    /// A Toxiproxy server at this URL.
    External(String),
}

/// A link the scenario declares (external mode): `listen` forwards to `upstream`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub listen: SocketAddr,
    pub upstream: String,
}
