//! The command line: one file per subcommand, each with its `Args` and a
//! `run(args) -> Result<ExitStatus>`. `main.rs` parses, calls [`dispatch`] and
//! maps the result to an exit code.

pub mod backend;

use clap::{Parser, Subcommand};

pub mod attack;
pub mod compare;
pub mod export;
pub mod report;
pub mod toxiproxy;

use crate::ExitStatus;

pub mod gateway;
pub mod guard;
pub mod init;
mod live;
pub mod merge;
pub mod run;
pub mod schema;
mod signals;
pub mod validate;

/// An error that knows which exit code it deserves. Anything else that reaches
/// `main` is treated as "the run itself broke" (exit 3).
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user gave us something we cannot use (exit 2). The message is complete.
    #[error("{0}")]
    BadInput(String),
}

impl CliError {
    /// The exit status this error maps to.
    pub fn status(&self) -> ExitStatus {
        match self {
            CliError::BadInput(_) => ExitStatus::BadInput,
        }
    }
}

/// The exit code of a command whose stdout was closed before it finished writing
/// (128 + SIGPIPE, as a shell reports a tool killed by the signal).
pub const CLOSED_PIPE_EXIT: u8 = 141;

/// Write `text` to stdout, whole, and flush: a closed pipe comes back as an error
/// ([`is_closed_pipe`]), never as a panic.
pub fn print_out(text: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Print the summary to stdout, coloured if stdout is a terminal; a closed
/// stdout is an error for the caller (`main` exits quietly), not a panic.
pub fn print_summary(summary: &crate::summary::Summary) -> std::io::Result<()> {
    use crate::report::terminal::{Style, render};
    print_out(&render(summary, Style::detect()))
}

/// Whether `err` is (or was caused by) writing to a closed pipe.
pub fn is_closed_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// A relative amount given on the command line: `10%` or `0.1` → 0.1. A bare number
/// above 1 is refused as ambiguous (`10` reads as 1000%, which nobody means); so are
/// negative amounts, and, with `max`, amounts above it.
pub(crate) fn parse_fraction(flag: &str, text: &str, max: Option<f64>) -> Result<f64, String> {
    let (v, percent) = crate::scenario::human::parse_number_or_percent(text)
        .map_err(|e| format!("{flag}: {e}"))?;
    if !percent && v > 1.0 {
        return Err(format!(
            "{flag}: `{text}` is ambiguous: write a percentage (`{text}%`) or a fraction ({})",
            v / 100.0
        ));
    }
    let f = if percent { v / 100.0 } else { v };
    if f < 0.0 {
        return Err(format!("{flag}: `{text}` must not be negative"));
    }
    if let Some(max) = max
        && f > max
    {
        return Err(format!("{flag}: `{text}` is above {}%", max * 100.0));
    }
    Ok(f)
}

/// ninefold: does this API setup keep its availability and latency promises when things break?
#[derive(Debug, Parser)]
#[command(name = "ninefold", version, about, long_about = None, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Commands,
}

/// Every subcommand. One is added only when it works.
#[derive(Debug, Subcommand)]
pub enum Commands {
    /// Run the reference API gateway alone, from a configuration file.
    Gateway(gateway::Args),
    /// Run a scenario: topology, traffic and faults, then the verdict.
    Run(run::Args),
    /// Check scenario files and print every problem with FILE:LINE:COL.
    Validate(validate::Args),
    /// Print the JSON Schema of the scenario format (for editors).
    Schema(schema::Args),
    /// Write a commented starter scenario.
    Init(init::Args),
    /// Re-render a run folder's reports (report.html, summary.json, …) from its results.
    Report(report::Args),
    /// Compare a run against a baseline run; exit 1 on a significant regression.
    Compare(compare::Args),
    /// Run one mock backend instance: items, idempotent orders, health, an admin API
    /// to switch its latency/error behaviour, over a shared SQLite or Redis store.
    #[command(after_help = backend::EXAMPLE)]
    Backend(backend::Args),
    /// Send HTTP load at one URL without a scenario (like vegeta or oha).
    Attack(attack::Args),
    /// Merge the shards of a run (`run --shard I/N`) exactly and judge the SLOs on the whole.
    Merge(merge::Args),
    /// Run the fault proxy alone: a Toxiproxy-compatible server (HTTP API on --port).
    #[command(
        after_help = "Example:\n  ninefold toxiproxy --port 8474 --seed 7\n  curl -s -XPOST localhost:8474/proxies -d '{\"name\":\"api\",\"listen\":\"127.0.0.1:26379\",\"upstream\":\"127.0.0.1:6379\"}'"
    )]
    Toxiproxy(toxiproxy::Args),
    /// Run a program of yours the way `ninefold run` does: in its own process
    /// group, dying with its parent (the harness), ending as the program ends.
    #[command(hide = true)]
    Guard(guard::Args),
}

/// Run the subcommand the user asked for.
pub fn dispatch(cli: Cli) -> anyhow::Result<ExitStatus> {
    // Roles a harness starts as children die with it, even when it is SIGKILLed.
    if matches!(
        cli.command,
        Commands::Backend(_) | Commands::Gateway(_) | Commands::Toxiproxy(_)
    ) {
        crate::topology::child::die_with_parent();
    }
    match cli.command {
        Commands::Gateway(args) => gateway::run(args),
        Commands::Run(args) => run::run(args),
        Commands::Validate(args) => validate::run(args),
        Commands::Schema(args) => schema::run(args),
        Commands::Init(args) => init::run(args),
        Commands::Report(args) => report::run(args),
        Commands::Compare(args) => compare::run(args),
        Commands::Backend(args) => backend::run(args),
        Commands::Attack(args) => attack::run(args),
        Commands::Toxiproxy(args) => toxiproxy::run(args),
        Commands::Merge(args) => merge::run(args),
        // `main` runs the guard itself (its exit code is its program's); here, for a
        // caller of the library, 0 or "the run broke".
        Commands::Guard(args) => Ok(match guard::run(&args) {
            0 => ExitStatus::Pass,
            _ => ExitStatus::RunBroke,
        }),
    }
}
