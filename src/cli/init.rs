//! `ninefold init [NAME] [--url URL]`: write a commented starter scenario that validates.
//!
//! Two starters, one per mode, each consistent with itself: the bundled gateway
//! in front of mock backends, one of which is killed (the faults act on what the
//! requests pass through); or an external gateway (`--url`), where ninefold
//! starts nothing, so the starter has no mock backends, no kill, and only SLOs
//! that the clients' answers can judge.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::CliError;

const STARTER: &str = include_str!("starter.toml");
const STARTER_EXTERNAL: &str = include_str!("starter-external.toml");

/// Write a starter scenario to NAME.toml (or --output).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold init checkout                                  # bundled gateway + mock backends\n  ninefold init checkout --url http://127.0.0.1:8080      # your own gateway: nothing started\n  ninefold init staging --external https://api.staging.example.com/v1   # the same, over HTTPS\n  ninefold validate checkout.toml && ninefold run checkout.toml"
)]
pub struct Args {
    /// Scenario name (letters, digits, - _ .).
    #[arg(default_value = "my-scenario")]
    pub name: String,
    /// Test an external gateway at this http:// or https:// URL instead of the
    /// bundled one: the starter starts no mock backends and kills nothing.
    /// `--external URL` is the same option.
    #[arg(long, value_name = "URL", visible_alias = "external")]
    pub url: Option<String>,
    /// Where to write it (default NAME.toml).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// The bundled-gateway starter for `name`.
pub fn starter(name: &str) -> String {
    STARTER.replace("{{name}}", name)
}

/// The external-gateway starter for `name`, sending to `url`.
pub fn external_starter(name: &str, url: &str) -> String {
    STARTER_EXTERNAL
        .replace("{{name}}", name)
        .replace("{{url}}", url)
}

/// Write the starter.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    if args.name.is_empty()
        || !args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    {
        return Err(CliError::BadInput(format!(
            "scenario name `{}` may use only letters, digits, `-`, `_` and `.`",
            args.name
        ))
        .into());
    }
    let text = match &args.url {
        None => starter(&args.name),
        Some(url) => {
            if url.contains(['"', '\\', '\n']) || !url.starts_with("http") {
                return Err(CliError::BadInput(format!(
                    "--url `{url}` must be an http:// or https:// URL such as http://127.0.0.1:8080"
                ))
                .into());
            }
            external_starter(&args.name, url)
        }
    };
    // What init writes validates: a URL the scenario would refuse is refused here.
    if let Err(d) = crate::scenario::load::parse_str("starter", &text, Path::new(".")) {
        let problems: Vec<String> = d.0.iter().map(|l| l.message.clone()).collect();
        return Err(CliError::BadInput(problems.join("; ")).into());
    }
    let out = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("{}.toml", args.name)));
    if out.exists() && !args.force {
        return Err(CliError::BadInput(format!(
            "{} exists; pass --force to overwrite it",
            out.display()
        ))
        .into());
    }
    std::fs::write(&out, text).with_context(|| format!("writing {}", out.display()))?;
    super::print_out(&format!(
        "wrote {}; next: ninefold validate {0}\n",
        out.display()
    ))?;
    Ok(ExitStatus::Pass)
}
