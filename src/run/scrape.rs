//! What `ninefold run` reads from the running system after the traffic: the
//! gateways' Prometheus counters and the backends' own count of hostile
//! requests.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use crate::topology::supervisor::Supervisor;

/// Requests marked hostile that reached a backend, summed over the managed
/// backends' `GET /admin/stats`. `None` when it cannot be known exactly: no
/// managed backend, one ended during the run (its count ended with it), or
/// one did not answer.
pub(crate) async fn hostile_backend_requests(
    http: &reqwest::Client,
    admin: &Mutex<HashMap<String, SocketAddr>>,
    supervisor: &Supervisor,
) -> Option<u64> {
    let admins: Vec<(String, SocketAddr)> = admin
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(n, a)| (n.clone(), *a))
        .collect();
    let ended = supervisor.events().into_iter().any(|e| {
        e.event != crate::topology::supervisor::Lifecycle::Ready
            && admins.iter().any(|(n, _)| *n == e.instance)
    });
    if admins.is_empty() || ended {
        return None;
    }
    let mut total = 0;
    for (_, a) in admins {
        let resp = http
            .get(format!("http://{a}/admin/stats"))
            .send()
            .await
            .ok()?;
        let stats: mock_backends::admin::Stats = resp.json().await.ok()?;
        total += stats.hostile_requests;
    }
    Some(total)
}

/// Sum the Prometheus counters (`*_total`, no labels) of every gateway admin listener.
pub(crate) async fn scrape_counters(
    http: &reqwest::Client,
    admins: &[SocketAddr],
) -> std::collections::BTreeMap<String, f64> {
    let mut out = std::collections::BTreeMap::new();
    for a in admins {
        let Ok(resp) = http.get(format!("http://{a}/metrics")).send().await else {
            continue;
        };
        let Ok(text) = resp.text().await else {
            continue;
        };
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name, value)) = line.split_once(' ') else {
                continue;
            };
            if name.ends_with("_total")
                && !name.contains('{')
                && let Ok(v) = value.trim().parse::<f64>()
            {
                *out.entry(name.to_owned()).or_insert(0.0) += v;
            }
        }
    }
    out
}
