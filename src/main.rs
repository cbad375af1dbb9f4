//! The `ninefold` binary: parse flags, call the library, map the result to an
//! exit code. Nothing else lives here.

use std::process::ExitCode;

use clap::Parser;
use ninefold::ExitStatus;
use ninefold::cli::Cli;

/// mimalloc rather than glibc malloc: the load engine and the gateway allocate a few
/// small objects per request, and glibc's malloc/free were ~12% of their instructions.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
