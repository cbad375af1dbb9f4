//! The `ninefold` binary: parse flags, call the library, map the result to an
//! exit code. Nothing else lives here.
//!
//! A closed stdout (`ninefold schema | head`) ends the command quietly with exit
//! code 141, what a shell reports for a tool killed by SIGPIPE (128 + 13), like
//! `yes | head` under `set -o pipefail`: not 0, because output that was cut short
//! may have carried a failing verdict, and not a panic. Rust ignores SIGPIPE, so
//! the write fails with `BrokenPipe` instead: every command writes its stdout
//! through [`ninefold::cli::print_out`], which returns that error to here.

use std::process::ExitCode;

use clap::Parser;
use ninefold::ExitStatus;
use ninefold::cli::{CLOSED_PIPE_EXIT, Cli, is_closed_pipe};

/// mimalloc rather than glibc malloc: the load engine and the gateway allocate a few
/// small objects per request, and glibc's malloc/free were ~12% of their instructions.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The guard of a program of yours ends as its program ended (docs/your-processes.md).
    if let ninefold::cli::Commands::Guard(args) = &cli.command {
        return ExitCode::from(ninefold::cli::guard::run(args));
    }
    match ninefold::cli::dispatch(cli) {
        Ok(status) => status.into(),
        Err(err) if is_closed_pipe(&err) => ExitCode::from(CLOSED_PIPE_EXIT),
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
