//! Carries out fault steps on a live topology: signals through the supervisor,
//! toxics and cuts through the links, error modes through backends' admin APIs.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::Duration;

use nix::sys::signal::Signal;

use super::links::{Links, proxy_stream, toxic_name, toxic_of};
use crate::faults::ToxicSpec;
use crate::faults::timeline::{FaultDriver, Instance, Phase};
use crate::scenario::model::{FaultAction, Scenario};
use crate::topology::supervisor::Supervisor;

/// How long a graceful `terminate` may take before it counts as failed.
const DRAIN: Duration = Duration::from_secs(15);

/// The driver of one run.
pub struct Driver<'a> {
    pub scenario: &'a Scenario,
    pub supervisor: &'a Supervisor,
    pub links: &'a Links,
    /// Admin listener of each backend instance, by name.
    pub admin: &'a Mutex<HashMap<String, SocketAddr>>,
    pub http: reqwest::Client,
    /// Behaviour to restore, by (fault, instance).
    saved: Mutex<HashMap<(usize, String), serde_json::Value>>,
}

impl<'a> Driver<'a> {
    pub fn new(
        scenario: &'a Scenario,
        supervisor: &'a Supervisor,
        links: &'a Links,
        admin: &'a Mutex<HashMap<String, SocketAddr>>,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default();
        Self {
            scenario,
            supervisor,
            links,
            admin,
            http,
            saved: Mutex::new(HashMap::new()),
        }
    }

    async fn process(&self, action: &FaultAction, phase: Phase, name: &str) -> Result<(), String> {
        let sup = self.supervisor;
        match (action, phase) {
            (FaultAction::Kill, Phase::Apply) => {
                sup.kill_and_wait(name, Signal::SIGKILL, Duration::from_secs(10))
                    .await
            }
            (FaultAction::Terminate, Phase::Apply) => {
                sup.kill_and_wait(name, Signal::SIGTERM, DRAIN).await
            }
            // A kill or terminate with a duration: start it again (unless the pool already replaced it).
            (FaultAction::Kill | FaultAction::Terminate, Phase::Revert) => {
                match sup.restart_now(name).await {
                    Err(e) if e.ends_with("still running") => Ok(()),
                    other => other,
                }
            }
            (FaultAction::Stop, Phase::Apply) => sup.signal(name, Signal::SIGSTOP),
            (FaultAction::Stop, Phase::Revert) | (FaultAction::Resume, _) => {
                sup.signal(name, Signal::SIGCONT)
            }
            (FaultAction::Restart, _) => {
                if sup.child(name).is_some() {
                    sup.kill_and_wait(name, Signal::SIGKILL, Duration::from_secs(10))
                        .await?;
                }
                match sup.restart_now(name).await {
                    Err(e) if e.ends_with("still running") => Ok(()),
                    other => other,
                }
            }
            _ => Ok(()),
        }
    }

    async fn network(
        &self,
        fault: usize,
        action: &FaultAction,
        phase: Phase,
        link: &str,
    ) -> Result<(), String> {
        if *action == FaultAction::Down {
            return self.links.set_enabled(link, phase == Phase::Revert).await;
        }
        let Some(toxic) = toxic_of(action) else {
            return Ok(());
        };
        let f = &self.scenario.faults[fault];
        for stream in &f.streams {
            let name = toxic_name(fault, *stream);
            match phase {
                Phase::Apply => {
                    let spec = ToxicSpec::new(toxic.clone(), proxy_stream(*stream))
                        .named(name)
                        .with_toxicity(f.toxicity);
                    self.links.add_toxic(link, spec).await?;
                }
                Phase::Revert => self.links.remove_toxic(link, &name).await?,
            }
        }
        Ok(())
    }

    async fn admin(
        &self,
        fault: usize,
        action: &FaultAction,
        phase: Phase,
        name: &str,
    ) -> Result<(), String> {
        let addr = self
            .admin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(name)
            .copied()
            .ok_or_else(|| format!("{name} has no admin API"))?;
        let url = format!("http://{addr}/admin/behaviour");
        let key = (fault, name.to_owned());
        let next = match phase {
            Phase::Apply => {
                let current: serde_json::Value = self
                    .http
                    .get(&url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| e.to_string())?
                    .json()
                    .await
                    .map_err(|e| e.to_string())?;
                let mut next = current.clone();
                match action {
                    FaultAction::ErrorRate { rate, status } => {
                        next["errors"] =
                            serde_json::json!({ "rate": rate, "status": status, "mode": "status" });
                    }
                    FaultAction::FailHealth => {
                        next["health_failing"] = serde_json::Value::Bool(true)
                    }
                    _ => return Ok(()),
                }
                self.saved
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .insert(key, current);
                next
            }
            Phase::Revert => match self
                .saved
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&key)
            {
                Some(saved) => saved,
                None => return Ok(()),
            },
        };
        self.http
            .put(&url)
            .json(&next)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map(drop)
            .map_err(|e| e.to_string())
    }
}

impl FaultDriver for Driver<'_> {
    async fn act(
        &self,
        fault: usize,
        action: &FaultAction,
        phase: Phase,
        target: &Instance,
    ) -> Result<(), String> {
        let name = target.name();
        if action.is_process() {
            self.process(action, phase, &name).await
        } else if action.is_network() {
            self.network(fault, action, phase, &name).await
        } else {
            self.admin(fault, action, phase, &name).await
        }
    }
}
