//! Reading scenario and gateway files from disk or text.

use std::path::{Path, PathBuf};

use super::diagnostics::{Diagnostic, Diagnostics, Locus, locate};
use super::model::Scenario;
use super::parse::{parse_document, raw_gateway_file, raw_scenario};
use super::raw::RawScenario;
use super::unknown::{gateway_file_schema, scenario_schema, strip_unknown_keys};
use super::validate::{self, GatewayFile};

/// A scenario as written and as validated.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub raw: RawScenario,
    pub scenario: Scenario,
    /// What is valid but probably not meant (e.g. instances no request passes
    /// through), each message starting with `warning: `.
    pub warnings: Diagnostics,
}

/// Why a file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Invalid(Diagnostics),
}

/// Read and validate a scenario file.
pub fn load_file(path: &Path) -> Result<Loaded, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let label = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    let text = utf8(&label, &bytes).map_err(LoadError::Invalid)?;
    parse_str(&label, text, base).map_err(LoadError::Invalid)
}

/// Validate scenario text; `label` names it in messages, `base_dir` resolves relative paths.
pub fn parse_str(label: &str, text: &str, base_dir: &Path) -> Result<Loaded, Diagnostics> {
    parse_str_with_env(label, text, base_dir, &validate::process_env)
}

/// The environment of a recorded run's `scenario.toml` (re-rendering reports,
/// merging shards): its `{env:NAME}` values are not needed, nor asked for, and
/// read as `<redacted>`, which is what its outputs show of them anyway.
pub fn recorded_env(_name: &str) -> Option<String> {
    Some("<redacted>".to_owned())
}

/// [`parse_str`], reading `{env:NAME}` through `env`.
pub fn parse_str_with_env(
    label: &str,
    text: &str,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Loaded, Diagnostics> {
    let doc = match parse_document(text) {
        Ok(doc) => doc,
        Err(d) => return Err(locate(label, text, None, vec![d])),
    };
    // Unknown keys first, in a pass of their own: removed from a copy of the
    // document, they are reported together with every other problem.
    let mut diags = Vec::new();
    let mut known = doc.get_ref().clone();
    strip_unknown_keys(&mut known, &scenario_schema(), &mut diags);
    let Some(raw) = raw_scenario(&known, &mut diags) else {
        return Err(locate(label, text, Some(doc.get_ref()), diags));
    };
    match validate::scenario_with_env(&raw, base_dir, env) {
        Ok(scenario) if diags.is_empty() => {
            let warnings = validate::reach::warnings(&scenario);
            let warnings = locate(label, text, Some(doc.get_ref()), warnings);
            Ok(Loaded {
                raw,
                scenario,
                warnings,
            })
        }
        Ok(_) => Err(locate(label, text, Some(doc.get_ref()), diags)),
        Err(more) => {
            diags.extend(more);
            Err(locate(label, text, Some(doc.get_ref()), diags))
        }
    }
}

/// Read and validate a gateway configuration file (`ninefold gateway --config`).
pub fn load_gateway_file(path: &Path) -> Result<GatewayFile, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_owned(),
        source,
    })?;
    let label = path.display().to_string();
    let base = path.parent().unwrap_or(Path::new("."));
    let text = utf8(&label, &bytes).map_err(LoadError::Invalid)?;
    let doc = parse_document(text)
        .map_err(|d| LoadError::Invalid(locate(&label, text, None, vec![d])))?;
    let mut diags = Vec::new();
    let mut known = doc.get_ref().clone();
    strip_unknown_keys(&mut known, &gateway_file_schema(), &mut diags);
    let Some(raw) = raw_gateway_file(&known, &mut diags) else {
        return Err(LoadError::Invalid(locate(
            &label,
            text,
            Some(doc.get_ref()),
            diags,
        )));
    };
    match validate::gateway_file(&raw, base) {
        Ok(file) if diags.is_empty() => Ok(file),
        Ok(_) => Err(LoadError::Invalid(locate(
            &label,
            text,
            Some(doc.get_ref()),
            diags,
        ))),
        Err(more) => {
            diags.extend(more);
            Err(LoadError::Invalid(locate(
                &label,
                text,
                Some(doc.get_ref()),
                diags,
            )))
        }
    }
}

/// The text of a file that must be UTF-8, or a located complaint about the first bad byte.
fn utf8<'a>(label: &str, bytes: &'a [u8]) -> Result<&'a str, Diagnostics> {
    std::str::from_utf8(bytes).map_err(|e| {
        let good = e.valid_up_to();
        let text = std::str::from_utf8(&bytes[..good]).unwrap_or_default();
        locate(
            label,
            text,
            None,
            vec![Diagnostic {
                locus: Locus::Span(good..good),
                message: format!(
                    "not a UTF-8 text file (invalid byte 0x{:02x}); a scenario is TOML text",
                    bytes[good]
                ),
            }],
        )
    })
}
