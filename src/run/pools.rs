//! The gateways' pools as the run goes: every [`POLL_INTERVAL`] each managed
//! gateway's admin `/metrics` is read on the run's runtime (never on the
//! traffic's threads), and each change of an instance's state is told as a
//! [`Happening`] and kept for `results.json` (`pools`).
//!
//! Two per-instance gauges of the reference gateway tell the states apart
//! (docs/gateway.md): `gateway_upstream_ejected` (1 while a passive ejection
//! is in force) and `gateway_upstream_healthy` (1 when healthy and not
//! ejected). A poll only sees the state at the moment the gateway rendered
//! it, so a change is known to have happened between the previous answered
//! poll's send and this poll's answer: `since_s` and `at_s`. A poll that
//! fails (no answer within [`POLL_TIMEOUT`], not the metrics text) is skipped
//! and counted; the next answered poll's interval reaches back over it.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::watch::{EventSink, HappeningKind, RunEvent};
use crate::results::{PoolChange, PoolEvent, PoolWatch};

/// How often each gateway's pools are read.
pub const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How long one poll may take before it counts as failed.
pub const POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// What there is to watch: the gateways' admin listeners, and the instance
/// name behind each address the gateways dial (the instances' links).
#[derive(Debug, Default, Clone)]
pub(super) struct Watched {
    pub gateways: Vec<(String, SocketAddr)>,
    pub instances: HashMap<String, String>,
    /// Where the exporters read each instance's ejected state (when they run).
    pub gauges: Option<PoolGauges>,
}

impl Watched {
    /// This, with the exporters' gauges.
    pub fn with_gauges(&self, gauges: Option<PoolGauges>) -> Self {
        Self {
            gauges,
            ..self.clone()
        }
    }
}

/// One instance's ejected state in one gateway's pool, as its last answered
/// poll saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceEjected {
    pub gateway: String,
    pub upstream: String,
    pub instance: String,
    pub ejected: bool,
}

/// The latest ejected state of every instance, shared by the poller with the
/// exporters (`ninefold_instance_ejected`). The lock is held only to copy.
#[derive(Debug, Clone, Default)]
pub struct PoolGauges(Arc<Mutex<BTreeMap<GaugeKey, bool>>>);

/// (gateway, upstream, instance).
type GaugeKey = (String, String, String);

impl PoolGauges {
    fn set(&self, gateway: &str, upstream: &str, instance: &str, ejected: bool) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.insert((gateway.into(), upstream.into(), instance.into()), ejected);
    }

    /// Every instance seen so far, by gateway, pool and instance.
    pub fn read(&self) -> Vec<InstanceEjected> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        m.into_iter()
            .map(|((gateway, upstream, instance), ejected)| InstanceEjected {
                gateway,
                upstream,
                instance,
                ejected,
            })
            .collect()
    }
}

/// An instance's two gauges in one poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Gauges {
    /// `gateway_upstream_healthy`: healthy and not ejected.
    pub healthy: bool,
    /// `gateway_upstream_ejected`: a passive ejection is in force.
    pub ejected: bool,
}

/// What the polls so far say of an instance. Every instance starts up: not
/// ejected, not failing its checks. While it is ejected the gateway's health
/// checks cannot be told apart, so `unhealthy` keeps its last known value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Known {
    pub ejected: bool,
    pub unhealthy: bool,
}

impl Known {
    /// What is known after `change` (a watcher of the events keeps this).
    pub fn apply(&mut self, change: PoolChange) {
        match change {
            PoolChange::Ejected => self.ejected = true,
            PoolChange::Readmitted => self.ejected = false,
            PoolChange::Unhealthy => self.unhealthy = true,
            PoolChange::Healthy => self.unhealthy = false,
        }
    }
}

/// One instance's changes from what was known to what a poll saw, in the
/// order they are told (a readmission before the checks' state it shows).
pub fn changes(before: Known, now: Gauges) -> (Known, Vec<PoolChange>) {
    let mut out = Vec::new();
    let mut k = before;
    if now.ejected {
        if !before.ejected {
            out.push(PoolChange::Ejected);
        }
        k.ejected = true;
        return (k, out);
    }
    if before.ejected {
        out.push(PoolChange::Readmitted);
    }
    k.ejected = false;
    let unhealthy = !now.healthy;
    if unhealthy != before.unhealthy {
        out.push(if unhealthy {
            PoolChange::Unhealthy
        } else {
            PoolChange::Healthy
        });
    }
    k.unhealthy = unhealthy;
    (k, out)
}

/// Key of an instance in a gateway: (upstream, address it dials).
type Key = (String, String);

/// Every change a poll shows against `known` (updated), in the poll's order.
pub fn transitions(
    known: &mut BTreeMap<Key, Known>,
    polled: &BTreeMap<Key, Gauges>,
) -> Vec<(Key, PoolChange)> {
    let mut out = Vec::new();
    for (key, g) in polled {
        let before = known.get(key).copied().unwrap_or_default();
        let (after, seen) = changes(before, *g);
        known.insert(key.clone(), after);
        out.extend(seen.into_iter().map(|c| (key.clone(), c)));
    }
    out
}

/// The two per-instance gauges of a metrics text; an instance lacking either
/// is left out (nothing can be said of it).
pub fn parse_gauges(text: &str) -> BTreeMap<Key, Gauges> {
    let mut healthy = BTreeMap::new();
    let mut ejected = BTreeMap::new();
    for line in text.lines() {
        let (map, rest) = if let Some(r) = line.strip_prefix("gateway_upstream_healthy{") {
            (&mut healthy, r)
        } else if let Some(r) = line.strip_prefix("gateway_upstream_ejected{") {
            (&mut ejected, r)
        } else {
            continue;
        };
        let Some((labels, value)) = rest.rsplit_once("} ") else {
            continue;
        };
        let labels = parse_labels(labels);
        let (Some(u), Some(i)) = (labels.get("upstream"), labels.get("instance")) else {
            continue;
        };
        let on = match value.trim() {
            "1" => true,
            "0" => false,
            _ => continue,
        };
        map.insert((u.clone(), i.clone()), on);
    }
    healthy
        .into_iter()
        .filter_map(|(k, h)| {
            let e = *ejected.get(&k)?;
            Some((
                k,
                Gauges {
                    healthy: h,
                    ejected: e,
                },
            ))
        })
        .collect()
}

/// `a="x",b="y\"z"` → {a: x, b: y"z}.
fn parse_labels(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut rest = s;
    while let Some((name, after)) = rest.split_once("=\"") {
        let mut value = String::new();
        let mut chars = after.char_indices();
        let mut end = after.len();
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => value.push('\n'),
                    Some((_, c)) => value.push(c),
                    None => {}
                },
                '"' => {
                    end = i + 1;
                    break;
                }
                c => value.push(c),
            }
        }
        out.insert(name.trim_start_matches(',').to_owned(), value);
        rest = &after[end..];
    }
    out
}

/// One poll: when it was sent and answered (run clock) and what it saw.
async fn poll(
    http: &reqwest::Client,
    admin: SocketAddr,
    run_start: Instant,
) -> Option<(f64, f64, BTreeMap<Key, Gauges>)> {
    let sent = run_start.elapsed().as_secs_f64();
    let resp = http
        .get(format!("http://{admin}/metrics"))
        .timeout(POLL_TIMEOUT)
        .send()
        .await
        .ok()?;
    if !resp.status().is_success() {
        return None;
    }
    let text = resp.text().await.ok()?;
    let got = run_start.elapsed().as_secs_f64();
    let gauges = parse_gauges(&text);
    (!gauges.is_empty()).then_some((sent, got, gauges))
}

/// One gateway's watch: what is known and since when.
struct Gateway {
    name: String,
    admin: SocketAddr,
    known: BTreeMap<Key, Known>,
    /// When the last answered poll was sent (the run clock's zero at first).
    since_s: f64,
}

/// Poll every gateway until `done`; `None` when there is nothing to watch
/// (`watched` is `None` when nothing watches the run).
pub(super) async fn watch(
    http: &reqwest::Client,
    watched: Option<Watched>,
    run_start: Instant,
    sink: Option<&EventSink>,
    done: CancellationToken,
) -> Option<PoolWatch> {
    let watched = watched.filter(|w| !w.gateways.is_empty())?;
    let mut gateways: Vec<Gateway> = watched
        .gateways
        .iter()
        .map(|(name, admin)| Gateway {
            name: name.clone(),
            admin: *admin,
            known: BTreeMap::new(),
            since_s: 0.0,
        })
        .collect();
    let mut out = PoolWatch {
        interval_ms: POLL_INTERVAL.as_millis() as u64,
        ..PoolWatch::default()
    };
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = done.cancelled() => break,
            _ = ticks.tick() => {}
        }
        let polls = gateways.iter().map(|g| poll(http, g.admin, run_start));
        let answers = futures::future::join_all(polls).await;
        for (g, answer) in gateways.iter_mut().zip(answers) {
            let Some((sent, got, gauges)) = answer else {
                out.failed_polls += 1;
                continue;
            };
            out.polls += 1;
            if let Some(shared) = &watched.gauges {
                for ((upstream, addr), now) in &gauges {
                    let name = watched.instances.get(addr).unwrap_or(addr);
                    shared.set(&g.name, upstream, name, now.ejected);
                }
            }
            for ((upstream, addr), change) in transitions(&mut g.known, &gauges) {
                let e = PoolEvent {
                    at_s: got,
                    since_s: g.since_s,
                    gateway: g.name.clone(),
                    upstream,
                    instance: watched.instances.get(&addr).cloned().unwrap_or(addr),
                    event: change,
                };
                if let Some(sink) = sink {
                    sink.happened(e.at_s, HappeningKind::Pool(e.event), text(&e));
                    sink.send(RunEvent::Pool(e.clone()));
                }
                out.events.push(e);
            }
            g.since_s = sent;
        }
    }
    Some(out)
}

/// The line people read: `instance api-1 ejected by gateway-0 (pool api), between 2.250s and 2.503s`.
pub fn text(e: &PoolEvent) -> String {
    let what = match e.event {
        PoolChange::Ejected => "ejected by",
        PoolChange::Readmitted => "readmitted by",
        PoolChange::Unhealthy => "failing the health checks of",
        PoolChange::Healthy => "passing the health checks of",
    };
    format!(
        "instance {} {what} {} (pool {}), between {:.3}s and {:.3}s",
        e.instance, e.gateway, e.upstream, e.since_s, e.at_s
    )
}

#[cfg(test)]
#[path = "pools_tests.rs"]
mod tests;
