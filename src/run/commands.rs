//! The slots of programs of the user's (`command`): a pool's instances or the
//! gateway's, each on a port ninefold picked (kept across restarts, as a host
//! keeps its address), started under `ninefold guard`, logged to
//! `logs/NAME.log`; a gateway's `config` template rendered per instance into
//! `config/NAME/` with the pools' link addresses (docs/your-processes.md).

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::runner::RunError;
use crate::scenario::config_template::{render_template, render_value};
use crate::scenario::model::{CommandReady, ProcessCommand, Scenario};
use crate::topology::child::ReadySignal;
use crate::topology::guard;
use crate::topology::probe::LinePattern;
use crate::topology::supervisor::SlotSpec;

/// One instance of a program of the user's, before it starts.
pub(super) struct CommandSlot<'a> {
    /// `api-0`, `gateway-1`.
    pub name: String,
    /// `backend` or `gateway`, for the ready line and the messages.
    pub role: &'a str,
    pub command: &'a ProcessCommand,
    pub replace_after: Option<Duration>,
    /// The `ninefold` binary the guard runs (`None`: this executable).
    pub program: Option<PathBuf>,
    pub out_dir: &'a Path,
}

/// A loopback port free right now: the instance's for the whole run.
fn free_port() -> Result<SocketAddr, RunError> {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| RunError::Start(format!("cannot pick a port: {e}")))
}

impl CommandSlot<'_> {
    /// Its slot; `config` (template, rendered file name) for a gateway's template,
    /// `pools` the link addresses it is rendered with.
    pub fn spec(
        &self,
        config: Option<&Path>,
        pools: &BTreeMap<String, Vec<(String, SocketAddr)>>,
    ) -> Result<SlotSpec, RunError> {
        let addr = free_port()?;
        let out_dir = std::path::absolute(self.out_dir).unwrap_or_else(|_| self.out_dir.into());
        let dir = out_dir.join("config").join(&self.name);
        std::fs::create_dir_all(&dir).map_err(|source| RunError::Write {
            path: dir.clone(),
            source,
        })?;
        let mut vars: BTreeMap<&str, String> = BTreeMap::from([
            ("port", addr.port().to_string()),
            ("instance", self.name.clone()),
            ("dir", dir.display().to_string()),
        ]);
        if let Some(template) = config {
            let rendered = render_config(template, &dir, &vars, pools)?;
            vars.insert("config", rendered.display().to_string());
        }
        let c = self.command;
        let argv: Vec<String> = c.argv.iter().map(|a| render_value(a, &vars)).collect();
        let env: Vec<(OsString, OsString)> = c
            .env
            .iter()
            .map(|(k, v)| (k.into(), render_value(v, &vars).into()))
            .collect();
        // PATH, then where Debian keeps daemons (nginx), which a user's PATH may lack.
        let mut path_var = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .or_else(|| std::env::var_os("PATH"))
            .unwrap_or_default();
        path_var.push(":/usr/local/sbin:/usr/sbin:/sbin");
        let first = argv.first().map(String::as_str).unwrap_or_default();
        let resolved = guard::resolve_program(first, &c.cwd, Some(&path_var))
            .map_err(|e| RunError::Start(format!("{}: {e}", self.name)))?;
        let args = guard::args(&resolved, argv.get(1..).unwrap_or_default());
        Ok(SlotSpec {
            log: self.out_dir.join("logs").join(format!("{}.log", self.name)),
            name: self.name.clone(),
            args: Arc::new(move || args.clone()),
            program: self.program.clone(),
            ready_timeout: c.ready_timeout,
            replace_after: self.replace_after,
            ready: ready_signal(&c.ready, self.role, addr)?,
            env,
            cwd: Some(c.cwd.clone()),
        })
    }
}

fn ready_signal(
    ready: &CommandReady,
    role: &str,
    addr: SocketAddr,
) -> Result<ReadySignal, RunError> {
    Ok(match ready {
        CommandReady::Http(path) => ReadySignal::Http {
            path: path.clone(),
            role: role.to_owned(),
            addr,
        },
        CommandReady::Line(pattern) => ReadySignal::Pattern {
            // Checked when the scenario was validated.
            pattern: LinePattern::new(pattern).map_err(RunError::Start)?,
            role: role.to_owned(),
            addr,
        },
    })
}

/// Render `template` into `dir`, named as the template without a `.tmpl` ending.
fn render_config(
    template: &Path,
    dir: &Path,
    vars: &BTreeMap<&str, String>,
    pools: &BTreeMap<String, Vec<(String, SocketAddr)>>,
) -> Result<PathBuf, RunError> {
    let text = std::fs::read_to_string(template).map_err(|e| {
        RunError::Start(format!("the gateway's config {}: {e}", template.display()))
    })?;
    let file_name = template
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".tmpl").to_owned())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "gateway.conf".into());
    let path = dir.join(file_name);
    std::fs::write(&path, render_template(&text, vars, pools)).map_err(|source| {
        RunError::Write {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// Each pool's instances as the gateway reaches them: (name, link address), in index order.
pub(super) fn pool_links(
    s: &Scenario,
    links: &HashMap<String, SocketAddr>,
) -> BTreeMap<String, Vec<(String, SocketAddr)>> {
    s.upstreams
        .iter()
        .map(|(pool, u)| {
            let instances = (0..u.instances.count())
                .filter_map(|i| {
                    let name = format!("{pool}-{i}");
                    links.get(&name).map(|a| (name, *a))
                })
                .collect();
            (pool.clone(), instances)
        })
        .collect()
}
