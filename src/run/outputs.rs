//! The files of a run folder, written from what a run measured.
//!
//! One function writes them all, so `ninefold run`, `ninefold report` (re-render)
//! and `ninefold merge` (shards) produce the same set of files from the same data:
//!
//! ```text
//!  RunResults ─► results.json      (everything measured; the input to re-rendering)
//!  scenario   ─► scenario.toml     (as run, secrets redacted)
//!  recording  ─► histograms.hlog   (HdrHistogram log, for HdrHistogram's own tools)
//!  recording  ─► series.csv        (the per-second series, one row a second)
//!  Summary    ─► summary.json, junit.xml, summary.md  (report::write_all)
//!  Summary + RunResults + scenario ─► report.html     (report::html::render)
//! ```

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::analysis::slo::RunVerdict;
use crate::results::RunResults;
use crate::scenario::model::Scenario;
use crate::summary::Summary;

/// `results.json`: the serialized [`RunResults`].
pub const RESULTS_JSON: &str = "results.json";
/// `scenario.toml`: the scenario as run, secrets redacted.
pub const SCENARIO_TOML: &str = "scenario.toml";
/// `histograms.hlog`: per-second latency histograms.
pub const HISTOGRAMS_HLOG: &str = "histograms.hlog";

/// Write every file of the run folder `dir` and return the judged summary.
///
/// `scenario_toml` is the scenario text to keep beside the results; the caller
/// redacts it. `broken` marks a run whose topology failed part-way.
pub fn write_run_folder(
    dir: &Path,
    scenario: &Scenario,
    scenario_toml: &str,
    results: &RunResults,
    broken: bool,
) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("writing {}", dir.join(name).display()))
    };
    write(
        RESULTS_JSON,
        &serde_json::to_string(results).context("serializing results")?,
    )?;
    write(SCENARIO_TOML, scenario_toml)?;
    write(
        HISTOGRAMS_HLOG,
        &crate::report::hlog::render(&results.recording),
    )?;
    write(
        crate::report::series_csv::SERIES_CSV,
        &crate::report::series_csv::render(&results.recording),
    )?;
    let summary = crate::summary::summarize(scenario, results, results.time_scale, broken);
    crate::report::write_all(dir, &summary)
        .with_context(|| format!("writing reports to {}", dir.display()))?;
    let html = crate::report::html::render(&summary, scenario, scenario_toml, results);
    let path = dir.join(crate::report::html::REPORT_HTML);
    crate::report::write_atomic(&path, &html)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(summary)
}

/// A run folder read back: what [`write_run_folder`] needs to write it again.
#[derive(Debug, Clone)]
pub struct RunFolder {
    /// The scenario as run (parsed from the redacted `scenario.toml`).
    pub scenario: Scenario,
    /// `scenario.toml` as it is in the folder.
    pub scenario_toml: String,
    pub results: RunResults,
    /// The folder's `summary.json` says the run broke (kept on re-render).
    pub broken: bool,
}

/// Why a folder cannot be read as a run folder. Every message names the path.
#[derive(Debug, thiserror::Error)]
pub enum RunFolderError {
    #[error("{}: no such folder", .0.display())]
    NoFolder(PathBuf),
    #[error("{}: missing: is {} a ninefold run folder?", .path.display(), .dir.display())]
    Missing { path: PathBuf, dir: PathBuf },
    #[error("{}: cannot read: {source}", .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}: not the results of a ninefold run: {source}", .path.display())]
    Results {
        path: PathBuf,
        source: serde_json::Error,
    },
    #[error("{}: the scenario as run does not load any more:\n{diagnostics}", .path.display())]
    Scenario { path: PathBuf, diagnostics: String },
}

/// Read a run folder written by [`write_run_folder`].
///
/// The scenario's relative paths (key files) resolve against the run folder
/// first and then the current directory, where `ninefold run` usually ran.
pub fn read_run_folder(dir: &Path) -> Result<RunFolder, RunFolderError> {
    if !dir.is_dir() {
        return Err(RunFolderError::NoFolder(dir.to_owned()));
    }
    let read = |name: &str| {
        let path = dir.join(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok((path, text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(RunFolderError::Missing {
                path,
                dir: dir.to_owned(),
            }),
            Err(source) => Err(RunFolderError::Read { path, source }),
        }
    };
    let (results_path, results_text) = read(RESULTS_JSON)?;
    let results: RunResults =
        serde_json::from_str(&results_text).map_err(|source| RunFolderError::Results {
            path: results_path,
            source,
        })?;
    let (scenario_path, scenario_toml) = read(SCENARIO_TOML)?;
    let label = scenario_path.display().to_string();
    use crate::scenario::load::{parse_str_with_env as parse, recorded_env as env};
    let parsed = parse(&label, &scenario_toml, dir, &env)
        .or_else(|first| parse(&label, &scenario_toml, Path::new("."), &env).map_err(|_| first));
    let scenario = parsed
        .map_err(|d| RunFolderError::Scenario {
            path: scenario_path,
            diagnostics: d.to_string(),
        })?
        .scenario;
    let broken = std::fs::read_to_string(dir.join(crate::report::SUMMARY_JSON))
        .ok()
        .and_then(|t| serde_json::from_str::<Summary>(&t).ok())
        .is_some_and(|s| s.verdict == RunVerdict::Broken);
    Ok(RunFolder {
        scenario,
        scenario_toml,
        results,
        broken,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secrets of every kind `redact` hides, in a scenario that must load again
    /// after redaction (that is what `ninefold report` parses).
    const WITH_SECRETS: &str = r#"
name = "secrets"
duration = "5s"

[gateway]
instances = 1

[gateway.auth]
algorithm = "HS256"
secret = "hs-secret-value"

[gateway.rate_limit]
store = "redis://user:rl-password@127.0.0.1:6379"

[[gateway.routes]]
path = "/items"
upstream = "api"

[upstreams.api]
instances = 1
store = "redis://:store-password@127.0.0.1:6379"

[[tenants]]
id = "acme"
plan = { rate = 10 }
token = "static-tenant-token"

[[traffic]]
executor = "constant-arrival-rate"
rate = 10
requests = [{ path = "/items/1", headers = { Authorization = "Bearer header-token", "X-Api-Key" = "api-key-value" } }]
"#;

    #[test]
    fn a_redacted_scenario_still_loads_and_hides_every_secret() {
        let base = Path::new(".");
        let mut raw = crate::scenario::load::parse_str("s.toml", WITH_SECRETS, base)
            .unwrap()
            .raw;
        crate::scenario::unparse::redact(&mut raw);
        let text = toml::to_string(&raw).unwrap();
        for secret in [
            "hs-secret-value",
            "rl-password",
            "store-password",
            "static-tenant-token",
            "header-token",
            "api-key-value",
        ] {
            assert!(!text.contains(secret), "{secret} leaked:\n{text}");
        }
        let again = crate::scenario::load::parse_str("redacted.toml", &text, base);
        assert!(
            again.is_ok(),
            "{}",
            again.err().map(|d| d.to_string()).unwrap_or_default()
        );
    }

    #[test]
    fn a_folder_that_is_not_a_run_folder_says_so() {
        let dir = std::env::temp_dir().join(format!("ninefold-outputs-{}", uuid::Uuid::new_v4()));
        assert!(matches!(
            read_run_folder(&dir),
            Err(RunFolderError::NoFolder(_))
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let err = read_run_folder(&dir).unwrap_err();
        assert!(err.to_string().contains("results.json: missing"), "{err}");
        std::fs::write(dir.join(RESULTS_JSON), "[]").unwrap();
        let err = read_run_folder(&dir).unwrap_err();
        assert!(matches!(err, RunFolderError::Results { .. }), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
