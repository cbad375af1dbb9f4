//! `ninefold init [NAME]`: write a commented starter scenario that validates.

use std::path::PathBuf;

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::CliError;

const STARTER: &str = include_str!("starter.toml");

/// Write a starter scenario to NAME.toml (or --output).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold init checkout\n  ninefold validate checkout.toml && ninefold run checkout.toml"
)]
pub struct Args {
    /// Scenario name (letters, digits, - _ .).
    #[arg(default_value = "my-scenario")]
    pub name: String,
    /// Where to write it (default NAME.toml).
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Overwrite an existing file.
    #[arg(long)]
    pub force: bool,
}

/// The starter text for `name`.
pub fn starter(name: &str) -> String {
    STARTER.replace("{{name}}", name)
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
    std::fs::write(&out, starter(&args.name))
        .with_context(|| format!("writing {}", out.display()))?;
    println!("wrote {}; next: ninefold validate {0}", out.display());
    Ok(ExitStatus::Pass)
}
