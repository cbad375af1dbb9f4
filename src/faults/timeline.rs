//! The fault timeline: `[[faults]]` resolved to instances and expanded into
//! steps on the run clock, then played against a [`FaultDriver`].
//!
//! Resolution happens once, before the run: `zone:c` becomes every instance in
//! zone c (gateway instances included), a pool becomes its instances, and chaos
//! becomes seeded kills of random instances. Playing sleeps until absolute
//! instants (no drift) and records every step that was applied or reverted, with
//! its time on the run clock, as a [`FaultEvent`].

use std::future::Future;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::scenario::model::{FaultAction, FaultTarget, Scenario};

/// One instance a fault can act on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Instance {
    Backend {
        pool: String,
        index: usize,
    },
    Gateway {
        index: usize,
    },
    /// A link the scenario declares (external mode).
    Link {
        name: String,
    },
    /// The Redis server ninefold started (`store = "redis"`).
    Redis,
}

impl Instance {
    /// The name used for processes, links, logs and reports: `api-0`, `gateway-1`.
    pub fn name(&self) -> String {
        match self {
            Instance::Backend { pool, index } => format!("{pool}-{index}"),
            Instance::Gateway { index } => format!("gateway-{index}"),
            Instance::Link { name } => name.clone(),
            Instance::Redis => "redis".to_owned(),
        }
    }
}

/// Whether a step applies a fault or takes it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Apply,
    Revert,
}

/// One thing to do at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub at: Duration,
    /// Index into the scenario's `[[faults]]`.
    pub fault: usize,
    pub phase: Phase,
    /// For chaos: the kill it expands to.
    pub action: FaultAction,
    pub targets: Vec<Instance>,
}

/// What happened, for the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultEvent {
    pub fault: usize,
    pub action: String,
    pub phase: Phase,
    pub targets: Vec<String>,
    /// When the step was meant to happen, on the run clock.
    pub planned_s: f64,
    /// When it did.
    pub at_s: f64,
    /// Empty when it worked.
    pub error: Option<String>,
}

/// Carries out steps: signals processes, edits links, calls admin APIs.
pub trait FaultDriver: Sync {
    /// Apply or revert `action` (of `[[faults]]` entry `fault`) on `target`.
    fn act(
        &self,
        fault: usize,
        action: &FaultAction,
        phase: Phase,
        target: &Instance,
    ) -> impl Future<Output = Result<(), String>> + Send;
}

/// Every instance of the topology, with its zone.
pub fn instances(s: &Scenario) -> Vec<(Instance, Option<String>)> {
    let mut out = Vec::new();
    if s.gateway.target.is_started() {
        let zones = s.gateway.target.zones();
        for index in 0..s.gateway.target.started_instances() {
            let zone = (!zones.is_empty()).then(|| zones[index % zones.len()].clone());
            out.push((Instance::Gateway { index }, zone));
        }
    }
    for (name, u) in &s.upstreams {
        for index in 0..u.instances.count() {
            out.push((
                Instance::Backend {
                    pool: name.clone(),
                    index,
                },
                u.zone_of(index).map(str::to_owned),
            ));
        }
    }
    for l in &s.links {
        out.push((
            Instance::Link {
                name: l.name.clone(),
            },
            None,
        ));
    }
    out
}

fn resolve(s: &Scenario, target: &FaultTarget) -> Vec<Instance> {
    match target {
        FaultTarget::Instance { pool, index } => vec![Instance::Backend {
            pool: pool.clone(),
            index: *index,
        }],
        FaultTarget::Gateway(index) => vec![Instance::Gateway { index: *index }],
        FaultTarget::Link(name) => vec![Instance::Link { name: name.clone() }],
        FaultTarget::Redis => vec![Instance::Redis],
        FaultTarget::Pool(pool) => {
            let n = s.upstreams.get(pool).map_or(0, |u| u.instances.count());
            (0..n)
                .map(|index| Instance::Backend {
                    pool: pool.clone(),
                    index,
                })
                .collect()
        }
        FaultTarget::Zone(zone) => instances(s)
            .into_iter()
            .filter(|(_, z)| z.as_deref() == Some(zone.as_str()))
            .map(|(i, _)| i)
            .collect(),
    }
}

/// The steps of a scenario, in time order. `seed` drives chaos.
pub fn plan(s: &Scenario, seed: u64) -> Vec<Step> {
    let mut steps = Vec::new();
    for (i, f) in s.faults.iter().enumerate() {
        let targets = resolve(s, &f.target);
        if let FaultAction::Chaos { every, jitter } = f.action {
            // Seeded per fault so adding a fault does not reshuffle the others.
            let mut rng =
                StdRng::seed_from_u64(seed ^ (0x9E37_79B9_7F4A_7C15u64.wrapping_mul(i as u64 + 1)));
            let end = f
                .duration
                .map_or(s.duration, |d| (f.at + d).min(s.duration));
            let mut t = f.at;
            loop {
                let j = jitter.as_secs_f64();
                let gap = (every.as_secs_f64()
                    + if j > 0.0 {
                        rng.random_range(-j..=j)
                    } else {
                        0.0
                    })
                .max(0.001);
                t += Duration::from_secs_f64(gap);
                if t >= end || targets.is_empty() {
                    break;
                }
                let victim = targets[rng.random_range(0..targets.len())].clone();
                steps.push(Step {
                    at: t,
                    fault: i,
                    phase: Phase::Apply,
                    action: FaultAction::Kill,
                    targets: vec![victim],
                });
            }
            continue;
        }
        steps.push(Step {
            at: f.at,
            fault: i,
            phase: Phase::Apply,
            action: f.action.clone(),
            targets: targets.clone(),
        });
        if let Some(d) = f.duration {
            steps.push(Step {
                at: f.at + d,
                fault: i,
                phase: Phase::Revert,
                action: f.action.clone(),
                targets,
            });
        }
    }
    // Stable: at equal times, file order (an apply before a later fault's revert).
    steps.sort_by_key(|s| s.at);
    steps
}

/// Play `steps` from `start` (the run clock's zero) until done or cancelled.
/// Reverts still pending at cancellation are carried out at once, so a run
/// never leaves a fault behind.
pub async fn play<D: FaultDriver>(
    steps: &[Step],
    driver: &D,
    start: Instant,
    cancel: &CancellationToken,
) -> Vec<FaultEvent> {
    play_observed(steps, driver, start, cancel, |_| {}).await
}

/// [`play`], telling `seen` each event as it happens (the live events of a
/// run); `seen` must not block.
pub async fn play_observed<D: FaultDriver>(
    steps: &[Step],
    driver: &D,
    start: Instant,
    cancel: &CancellationToken,
    seen: impl Fn(&FaultEvent),
) -> Vec<FaultEvent> {
    let mut events = Vec::new();
    let mut cancelled = false;
    for step in steps {
        if !cancelled {
            tokio::select! {
                () = tokio::time::sleep_until(start + step.at) => {}
                () = cancel.cancelled() => cancelled = true,
            }
        }
        // After cancellation only reverts run, so nothing stays broken.
        if cancelled && step.phase == Phase::Apply {
            continue;
        }
        let mut errors = Vec::new();
        for target in &step.targets {
            if let Err(e) = driver
                .act(step.fault, &step.action, step.phase, target)
                .await
            {
                errors.push(format!("{}: {e}", target.name()));
            }
        }
        events.push(FaultEvent {
            fault: step.fault,
            action: step.action.name().to_owned(),
            phase: step.phase,
            targets: step.targets.iter().map(Instance::name).collect(),
            planned_s: step.at.as_secs_f64(),
            at_s: start.elapsed().as_secs_f64(),
            error: (!errors.is_empty()).then(|| errors.join("; ")),
        });
        if let Some(e) = events.last() {
            seen(e);
        }
    }
    events
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::load::parse_str;
    use std::sync::Mutex;

    fn scenario(extra: &str) -> Scenario {
        let text = format!(
            "name = \"t\"\nduration = \"60s\"\n[gateway]\ninstances = 2\nzones = [\"a\", \"b\"]\n\
             [upstreams.api]\ninstances = 3\nzones = [\"a\", \"b\", \"c\"]\n\
             [[traffic]]\nexecutor = \"constant-arrival-rate\"\nrate = 1\nrequests = [{{ path = \"/\" }}]\n{extra}"
        );
        parse_str("t.toml", &text, std::path::Path::new("."))
            .unwrap()
            .scenario
    }

    #[test]
    fn zones_include_gateway_instances() {
        let s = scenario(
            "[[faults]]\nat = \"5s\"\nduration = \"5s\"\naction = \"down\"\ntarget = \"zone:b\"\n",
        );
        let steps = plan(&s, 1);
        assert_eq!(steps.len(), 2);
        assert_eq!(
            steps[0].targets,
            vec![
                Instance::Gateway { index: 1 },
                Instance::Backend {
                    pool: "api".into(),
                    index: 1
                }
            ]
        );
        assert_eq!(
            (steps[1].at, steps[1].phase),
            (Duration::from_secs(10), Phase::Revert)
        );
    }

    #[test]
    fn chaos_is_seeded_and_bounded() {
        let s = scenario(
            "[[faults]]\nat = \"10s\"\nduration = \"40s\"\naction = \"chaos\"\ntarget = \"api\"\nevery = \"10s\"\njitter = \"2s\"\n",
        );
        let a = plan(&s, 42);
        assert_eq!(a, plan(&s, 42), "same seed, same kills");
        assert!((3..=5).contains(&a.len()), "{a:?}");
        for step in &a {
            assert!(step.at > Duration::from_secs(10) && step.at < Duration::from_secs(50));
            assert_eq!(step.action, FaultAction::Kill);
        }
        let victims = |steps: &[Step]| steps.iter().map(|s| s.targets.clone()).collect::<Vec<_>>();
        let differs = (0..20).any(|seed| victims(&plan(&s, seed)) != victims(&a));
        assert!(differs, "the seed must matter");
    }

    struct Recorder(Mutex<Vec<(String, Phase, Duration)>>, Instant);

    impl FaultDriver for Recorder {
        async fn act(
            &self,
            _fault: usize,
            action: &FaultAction,
            phase: Phase,
            target: &Instance,
        ) -> Result<(), String> {
            self.0.lock().unwrap().push((
                format!("{}:{}", action.name(), target.name()),
                phase,
                self.1.elapsed(),
            ));
            if target.name() == "api-2" {
                Err("refused".into())
            } else {
                Ok(())
            }
        }
    }

    #[tokio::test(start_paused = true)]
    async fn steps_play_at_their_times_and_reverts_survive_cancellation() {
        let s = scenario(
            "[[faults]]\nat = \"5s\"\naction = \"kill\"\ntarget = \"api[2]\"\n\
             [[faults]]\nat = \"20s\"\nduration = \"30s\"\naction = \"latency\"\nlatency = \"100ms\"\ntarget = \"api[0]\"\n",
        );
        let steps = plan(&s, 0);
        let start = Instant::now();
        let driver = Recorder(Mutex::new(Vec::new()), start);
        let cancel = CancellationToken::new();
        let c2 = cancel.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            c2.cancel();
        });
        let events = play(&steps, &driver, start, &cancel).await;
        let log = driver.0.lock().unwrap().clone();
        assert_eq!(
            log[0],
            ("kill:api-2".into(), Phase::Apply, Duration::from_secs(5))
        );
        assert_eq!(
            log[1],
            (
                "latency:api-0".into(),
                Phase::Apply,
                Duration::from_secs(20)
            )
        );
        // Cancelled at 30 s: the revert planned for 50 s happens at once.
        assert_eq!(
            log[2],
            (
                "latency:api-0".into(),
                Phase::Revert,
                Duration::from_secs(30)
            )
        );
        assert_eq!(events.len(), 3);
        assert_eq!(events[0].error.as_deref(), Some("api-2: refused"));
        assert!((events[1].at_s - 20.0).abs() < 1e-6);
    }
}
