//! What a run will do, decided before anything starts: the seed, the run
//! folder, the processes, the links and the fault timeline. `--dry-run` prints
//! it; the runner carries it out.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use crate::faults::timeline::{self, Instance, Phase, Step};
use crate::scenario::human::format_duration;
use crate::scenario::model::{GatewayTarget, Instances, Scenario};

/// One child process to start.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessPlan {
    pub instance: Instance,
    pub zone: Option<String>,
    /// Reached through a fault-proxy link of the same name.
    pub linked: bool,
}

/// A run, planned.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: Scenario,
    pub seed: u64,
    pub out_dir: PathBuf,
    pub started_at: SystemTime,
    pub processes: Vec<ProcessPlan>,
    /// Instances someone else runs (`targets`), reached through links too.
    pub external_targets: Vec<(Instance, String)>,
    pub steps: Vec<Step>,
}

/// `reports/<name>-<UTC timestamp>` under `root`.
pub fn default_out_dir(root: &Path, name: &str, at: SystemTime) -> PathBuf {
    let stamp: String = humantime::format_rfc3339_seconds(at)
        .to_string()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect();
    root.join(format!("{name}-{stamp}"))
}

impl RunPlan {
    /// Plan `scenario`; `seed` overrides the scenario's, which overrides a random one.
    pub fn new(scenario: Scenario, seed: Option<u64>, out_dir: Option<PathBuf>) -> Self {
        let seed = seed.or(scenario.seed).unwrap_or_else(rand::random);
        let started_at = SystemTime::now();
        let out_dir = out_dir
            .unwrap_or_else(|| default_out_dir(Path::new("reports"), &scenario.name, started_at));
        let mut processes = Vec::new();
        let mut external_targets = Vec::new();
        for (instance, zone) in timeline::instances(&scenario) {
            match &instance {
                Instance::Backend { pool, index } => match &scenario.upstreams[pool].instances {
                    Instances::Managed(_) | Instances::Command { .. } => {
                        processes.push(ProcessPlan {
                            instance,
                            zone,
                            linked: true,
                        })
                    }
                    Instances::Targets(t) => {
                        let addr = t[*index].clone();
                        external_targets.push((instance, addr));
                    }
                },
                Instance::Gateway { .. } => processes.push(ProcessPlan {
                    instance,
                    zone,
                    linked: true,
                }),
                // Links are not processes; a managed Redis is started apart.
                Instance::Link { .. } | Instance::Redis => {}
            }
        }
        let steps = timeline::plan(&scenario, seed);
        Self {
            scenario,
            seed,
            out_dir,
            started_at,
            processes,
            external_targets,
            steps,
        }
    }
}

impl fmt::Display for RunPlan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.scenario;
        writeln!(f, "scenario  {} ({})", s.name, format_duration(s.duration))?;
        writeln!(f, "seed      {}", self.seed)?;
        writeln!(f, "results   {}", self.out_dir.display())?;
        writeln!(
            f,
            "\nprocesses (each on 127.0.0.1, ports picked by the OS, reached through a fault-proxy link of its name)"
        )?;
        for p in &self.processes {
            let role = match &p.instance {
                Instance::Gateway { .. } => match &s.gateway.target {
                    GatewayTarget::Command { command, .. } => command_line(command),
                    _ => "ninefold gateway".into(),
                },
                Instance::Backend { pool, .. } => match &s.upstreams[pool].instances {
                    Instances::Command { command, .. } => command_line(command),
                    _ => "ninefold backend".into(),
                },
                _ => "ninefold backend".into(),
            };
            let zone = p
                .zone
                .as_deref()
                .map(|z| format!("  zone {z}"))
                .unwrap_or_default();
            writeln!(f, "  {:<14} {role}{zone}", p.instance.name())?;
        }
        if super::redis::needed(s) {
            writeln!(
                f,
                "  {:<14} redis-server (store = \"redis\"; shared by the gateways and pools that ask)",
                super::redis::REDIS
            )?;
        }
        for (i, addr) in &self.external_targets {
            writeln!(f, "  {:<14} external target {addr} (link only)", i.name())?;
        }
        match &s.gateway.target {
            GatewayTarget::External { url } => writeln!(f, "  traffic → external gateway {url}")?,
            GatewayTarget::Bundled { .. } | GatewayTarget::Command { .. } => {
                writeln!(f, "  traffic → the gateway links, round-robin")?
            }
        }
        for l in &s.links {
            writeln!(f, "  link {:<9} {} → {}", l.name, l.listen, l.upstream)?;
        }
        writeln!(f, "\ntraffic")?;
        for p in &s.traffic {
            writeln!(
                f,
                "  {:<16} {} → {}  {}",
                p.name,
                format_duration(p.start),
                format_duration(p.end()),
                p.executor
            )?;
        }
        writeln!(f, "\nfault timeline")?;
        if self.steps.is_empty() {
            writeln!(f, "  (no faults)")?;
        }
        for step in &self.steps {
            let targets: Vec<String> = step.targets.iter().map(Instance::name).collect();
            let what = match step.phase {
                Phase::Apply => "apply ",
                Phase::Revert => "revert",
            };
            writeln!(
                f,
                "  {:>8}  {what} faults[{}] {} on {}",
                format_duration(step.at),
                step.fault,
                step.action.name(),
                targets.join(", ")
            )?;
        }
        Ok(())
    }
}

/// `command` as a person reads it: the program and its arguments, placeholders as written.
fn command_line(c: &crate::scenario::model::ProcessCommand) -> String {
    format!("command: {}", c.argv.join(" "))
}
