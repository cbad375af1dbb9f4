//! `ninefold schema`: the JSON Schema of the scenario format, for editors.

use crate::ExitStatus;
use crate::scenario::raw::{RawGatewayFile, RawScenario};

/// Print the JSON Schema of scenario files (or of gateway configuration files).
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold schema > scenario.schema.json\n  # then, first line of a scenario, for taplo / VS Code \"Even Better TOML\":\n  #:schema ./scenario.schema.json"
)]
pub struct Args {
    /// The schema of `ninefold gateway --config` files instead.
    #[arg(long)]
    pub gateway: bool,
}

/// The schema as pretty JSON.
pub fn schema_json(gateway: bool) -> String {
    let schema = if gateway {
        schemars::schema_for!(RawGatewayFile)
    } else {
        schemars::schema_for!(RawScenario)
    };
    serde_json::to_string_pretty(&schema)
        .unwrap_or_else(|_| unreachable!("a schema always serializes"))
}

/// Print the schema.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    super::print_out(&(schema_json(args.gateway) + "\n"))?;
    Ok(ExitStatus::Pass)
}
