//! Hostnames resolved again while traffic runs (`[client] resolve_every`), so that a
//! DNS failover (records changed to other addresses) is followed the way a client
//! honouring short TTLs follows it, and can be measured: each worker resolves the
//! host again at its next connect once `every` has passed since it last did, and
//! its new connections then go round robin over every A/AAAA record it got.
//! Connections already open stay where they are, as a keep-alive client's do.
//! A failed or empty lookup keeps the addresses it had (said once on stderr).

use std::cell::Cell;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::time::Instant;

use super::client::{Target, Targets};

/// What to resolve again, and how often.
pub struct Resolve {
    pub host: String,
    pub port: u16,
    pub every: Duration,
    /// The addresses a unit test's lookup answers (instead of the system's resolver).
    #[cfg(test)]
    pub(crate) fake: Option<std::sync::Arc<std::sync::Mutex<Vec<SocketAddr>>>>,
}

impl Resolve {
    pub fn new(host: String, port: u16, every: Duration) -> Self {
        Resolve {
            host,
            port,
            every,
            #[cfg(test)]
            fake: None,
        }
    }

    async fn lookup(&self) -> std::io::Result<Vec<SocketAddr>> {
        #[cfg(test)]
        if let Some(fake) = &self.fake {
            return Ok(fake.lock().unwrap_or_else(|e| e.into_inner()).clone());
        }
        Ok(tokio::net::lookup_host((self.host.as_str(), self.port))
            .await?
            .collect())
    }
}

impl std::fmt::Debug for Resolve {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolve")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("every", &self.every)
            .finish()
    }
}

impl PartialEq for Resolve {
    fn eq(&self, other: &Self) -> bool {
        (&self.host, self.port, self.every) == (&other.host, other.port, other.every)
    }
}

impl Eq for Resolve {}

/// A worker's schedule of lookups.
#[derive(Debug)]
pub(crate) struct Resolving {
    spec: std::sync::Arc<Resolve>,
    due: Cell<Instant>,
}

impl Resolving {
    pub fn new(spec: std::sync::Arc<Resolve>) -> Self {
        let due = Instant::now() + spec.every;
        Resolving {
            spec,
            due: Cell::new(due),
        }
    }

    /// When a lookup is due, the addresses it gave if they differ from `current`.
    pub async fn refresh(&self, current: &[SocketAddr]) -> Option<Vec<SocketAddr>> {
        let now = Instant::now();
        if now < self.due.get() {
            return None;
        }
        // Set before the lookup: concurrent connects of the worker do not look up too.
        self.due.set(now + self.spec.every);
        match tokio::time::timeout(self.spec.every, self.spec.lookup()).await {
            Ok(Ok(addrs)) if !addrs.is_empty() => (addrs != current).then_some(addrs),
            Ok(Ok(_)) => {
                note(&self.spec.host, "no address");
                None
            }
            Ok(Err(e)) => {
                note(&self.spec.host, &e.to_string());
                None
            }
            Err(_) => {
                note(&self.spec.host, "the lookup timed out");
                None
            }
        }
    }

    /// Make the next lookup due now (tests).
    #[cfg(test)]
    pub fn expire(&self) {
        self.due.set(Instant::now());
    }
}

impl Targets {
    /// Resolve the hostname again when it is due: new connections go to the
    /// addresses it has now (the first target's `Host`, TLS and schedule kept).
    pub(super) async fn refresh(&self) {
        let Some(resolving) = &self.resolving else {
            return;
        };
        let current: Vec<SocketAddr> = self.list.borrow().iter().map(|t| t.addr).collect();
        if let Some(addrs) = resolving.refresh(&current).await {
            let mut list = self.list.borrow_mut();
            let model = list[0].clone();
            *list = addrs
                .into_iter()
                .map(|addr| Target {
                    addr,
                    ..model.clone()
                })
                .collect();
        }
    }

    /// Make the next lookup due now (tests).
    #[cfg(test)]
    pub(crate) fn expire_resolution(&self) {
        if let Some(r) = &self.resolving {
            r.expire();
        }
    }
}

#[cold]
fn note(host: &str, why: &str) {
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        eprintln!(
            "ninefold: resolving `{host}` again failed ({why}); its previous addresses are kept"
        );
    }
}
