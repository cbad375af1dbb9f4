//! Raw → domain: every semantic check, every problem collected with its path.
//!
//! One file per section. Each check pushes a [`Diagnostic`] naming the path
//! (`traffic[2].rate`) and saying what would be accepted; validation goes on
//! after a problem so the user sees them all at once.

mod backend;
pub mod client;
mod command;
mod credentials;
mod faults;
mod flow;
mod gateway;
mod integrity;
pub mod limits;
pub mod reach;
mod slo;
mod traffic;
mod upstream;

use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use reference_gateway::config::check::{Check, Problem};

use super::diagnostics::{Diagnostic, Locus, Path};
use super::model::{FaultProxy, Scenario};
use super::raw::{RawGatewayFile, RawScenario, RawToxiproxy};

/// The validation pass in progress: collects every problem (a [`Diagnostic`] at its path)
/// while raw values become domain values, so all are reported at once.
pub(crate) struct Checker<'a> {
    pub diags: Vec<Diagnostic>,
    /// Folder of the file, to resolve relative paths (key files).
    pub base_dir: &'a FsPath,
    /// Reads `{env:NAME}` values (the process environment outside tests).
    pub env: &'a dyn Fn(&str) -> Option<String>,
}

/// The process environment, as `{env:NAME}` reads it.
pub fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

impl<'a> Checker<'a> {
    pub fn new(base_dir: &'a FsPath) -> Self {
        Self {
            diags: Vec::new(),
            base_dir,
            env: &process_env,
        }
    }

    // The shared checks are the gateway's ([`Check`]); these name them on the checker
    // so every section calls them the same way.

    /// Report a problem at `path`.
    pub fn err(&mut self, path: &Path, message: impl Into<String>) {
        Check::err(self, path, message)
    }

    /// Report a problem at the key of `path` (for keys that must not be there).
    pub fn err_key(&mut self, path: &Path, message: impl Into<String>) {
        Check::err_key(self, path, message)
    }

    /// A duration, or `default` when absent; must be > 0 unless `allow_zero`.
    pub fn duration(
        &mut self,
        path: &Path,
        text: Option<&str>,
        default: Duration,
        allow_zero: bool,
    ) -> Duration {
        Check::duration(self, path, text, default, allow_zero)
    }

    /// A required duration > 0.
    pub fn required_duration(&mut self, path: &Path, text: &str) -> Duration {
        Check::required_duration(self, path, text)
    }

    /// A share given as a number in [0, 1].
    pub fn unit_interval(&mut self, path: &Path, value: f64) -> f64 {
        if (0.0..=1.0).contains(&value) {
            value
        } else {
            self.err(path, format!("must be between 0.0 and 1.0, got {value}"));
            value.clamp(0.0, 1.0)
        }
    }

    /// A count ≥ 1.
    pub fn nonzero(&mut self, path: &Path, value: Option<u32>, default: u32) -> NonZeroU32 {
        Check::nonzero(self, path, value, default)
    }

    /// A count ≥ 1 (64-bit).
    pub fn nonzero64(&mut self, path: &Path, value: u64) -> NonZeroU64 {
        Check::nonzero64(self, path, value)
    }

    /// A positive, finite number.
    pub fn positive(&mut self, path: &Path, value: f64) -> f64 {
        Check::positive(self, path, value)
    }

    /// An HTTP status code.
    pub fn status(&mut self, path: &Path, value: u16) -> u16 {
        if (100..=599).contains(&value) {
            value
        } else {
            self.err(path, format!("`{value}` is not an HTTP status (100–599)"));
            500
        }
    }

    /// A file path relative to the scenario's folder, which must exist.
    pub fn existing_file(&mut self, path: &Path, text: &str) -> PathBuf {
        Check::existing_file(self, path, text)
    }
}

/// The gateway's checks report here: each problem becomes a diagnostic at its path.
impl Check for Checker<'_> {
    fn report(&mut self, problem: Problem) {
        self.diags.push(Diagnostic {
            locus: if problem.at_key {
                Locus::KeyOf(problem.path)
            } else {
                Locus::Path(problem.path)
            },
            message: problem.message,
        });
    }

    fn base_dir(&self) -> &FsPath {
        self.base_dir
    }
}

/// Validate a whole scenario. `base_dir` resolves relative file paths.
pub fn scenario(raw: &RawScenario, base_dir: &FsPath) -> Result<Scenario, Vec<Diagnostic>> {
    scenario_with_env(raw, base_dir, &process_env)
}

/// [`scenario`], reading `{env:NAME}` through `env` instead of the process environment.
pub fn scenario_with_env(
    raw: &RawScenario,
    base_dir: &FsPath,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Scenario, Vec<Diagnostic>> {
    let mut cx = Checker::new(base_dir);
    cx.env = env;
    let root = Path::root();
    check_name(&mut cx, &raw.name);
    let duration = cx.required_duration(&root.key("duration"), &raw.duration);
    let confidence = confidence(&mut cx, raw.confidence);
    let raw_gateway = raw.gateway.clone().unwrap_or_default();
    let tenants = gateway::tenants(&mut cx, &raw.tenants);
    let upstreams = upstream::upstreams(&mut cx, &raw.upstreams, true);
    let mut gateway = gateway::gateway(&mut cx, &raw_gateway, &upstreams);
    gateway.api_keys = credentials::api_keys(&mut cx, &raw_gateway.api_keys, &tenants, &gateway);
    let links = faults::links(&mut cx, &raw.links);
    let traffic = traffic::phases(&mut cx, &raw.traffic, duration, &tenants, &gateway);
    let faults = faults::faults(&mut cx, &raw.faults, duration, &gateway, &upstreams, &links);
    limits::check(&mut cx, &gateway, &upstreams, &tenants, &traffic);
    let fault_proxy = fault_proxy(&mut cx, raw.toxiproxy.as_ref());
    let slos = slo::slos(&mut cx, &raw.slo, &tenants, &gateway, &traffic, &faults);
    let client = client::client(&mut cx, raw.client.as_ref());
    credentials::check_phases(&mut cx, &tenants, &traffic);
    if cx.diags.is_empty() {
        Ok(Scenario {
            name: raw.name.clone(),
            description: raw.description.clone().unwrap_or_default(),
            duration,
            seed: raw.seed,
            confidence,
            gateway,
            upstreams,
            tenants,
            traffic,
            faults,
            fault_proxy,
            links,
            slos,
            client,
        })
    } else {
        Err(cx.diags)
    }
}

/// The scenario's `name`: not empty, and only characters a folder name may hold.
fn check_name(cx: &mut Checker<'_>, name: &str) {
    let root = Path::root();
    if name.trim().is_empty() {
        cx.err(&root.key("name"), "name: must not be empty");
    } else if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        cx.err(
            &root.key("name"),
            format!(
                "name: `{name}` may use only letters, digits, `-`, `_` and `.` (it names the run folder)"
            ),
        );
    }
}

/// The confidence level of the SLO judgements (0.95 when not given).
fn confidence(cx: &mut Checker<'_>, confidence: Option<f64>) -> f64 {
    let root = Path::root();
    match confidence {
        None => 0.95,
        Some(c) if c > 0.0 && c < 1.0 => c,
        Some(c) => {
            cx.err(
                &root.key("confidence"),
                format!("must be strictly between 0 and 1 (e.g. 0.95), got {c}"),
            );
            0.95
        }
    }
}

/// Where faults are injected: the embedded proxy, or the Toxiproxy at `[toxiproxy] url`.
fn fault_proxy(cx: &mut Checker<'_>, toxiproxy: Option<&RawToxiproxy>) -> FaultProxy {
    let root = Path::root();
    match toxiproxy {
        None => FaultProxy::Embedded,
        Some(t) => {
            // Its client speaks plain HTTP only: https:// is refused, not downgraded.
            if !t.url.starts_with("http://") {
                cx.err(
                    &root.key("toxiproxy").key("url"),
                    format!(
                        "`{}` must be an http:// URL such as \"http://127.0.0.1:8474\" (the Toxiproxy API is spoken in plain HTTP)",
                        t.url
                    ),
                );
            }
            FaultProxy::External(t.url.trim_end_matches('/').to_owned())
        }
    }
}

/// What `ninefold gateway --config FILE` runs: the gateway, its pools, its tenants.
#[derive(Debug, Clone, PartialEq)]
pub struct GatewayFile {
    pub gateway: super::model::Gateway,
    pub upstreams: std::collections::BTreeMap<String, super::model::Upstream>,
    pub tenants: Vec<super::model::Tenant>,
}

/// Validate a gateway configuration file: pools must list `targets`.
pub fn gateway_file(
    raw: &RawGatewayFile,
    base_dir: &FsPath,
) -> Result<GatewayFile, Vec<Diagnostic>> {
    let mut cx = Checker::new(base_dir);
    let tenants = gateway::tenants(&mut cx, &raw.tenants);
    let upstreams = upstream::upstreams(&mut cx, &raw.upstreams, false);
    let mut gateway = gateway::gateway(&mut cx, &raw.gateway, &upstreams);
    gateway.api_keys = credentials::api_keys(&mut cx, &raw.gateway.api_keys, &tenants, &gateway);
    limits::check_gateway_file(&mut cx, &gateway, &upstreams, &tenants);
    if raw.gateway.url.is_some() {
        cx.err(
            &Path::root().key("gateway").key("url"),
            "a gateway configuration cannot point at another gateway; remove `url`",
        );
    }
    if raw.gateway.command.is_some() {
        cx.err_key(
            &Path::root().key("gateway").key("command"),
            "a gateway configuration is the reference gateway's: `command` (your own gateway) is for scenarios",
        );
    }
    if cx.diags.is_empty() {
        Ok(GatewayFile {
            gateway,
            upstreams,
            tenants,
        })
    } else {
        Err(cx.diags)
    }
}
