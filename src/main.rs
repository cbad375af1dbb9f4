//! The `ninefold` binary: parse flags, call the library, map the result to an
//! exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use ninefold::ExitStatus;
use ninefold::cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match ninefold::cli::dispatch(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            // anyhow at the edge only: print the chain, never a backtrace.
            eprintln!("error: {err:#}");
            let status = err
                .downcast_ref::<ninefold::cli::CliError>()
                .map_or(ExitStatus::RunBroke, |e| e.status());
            status.into()
        }
    }
}
