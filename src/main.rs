//! The `ninefold` binary: parse flags, call the library, map the result to an
//! exit code. Nothing else lives here.
//!
//! A closed stdout (`ninefold schema | head`) ends the command quietly with exit
//! code 141, what a shell reports for a tool killed by SIGPIPE (128 + 13), like
//! `yes | head` under `set -o pipefail`: not 0, because output that was cut short
//! may have carried a failing verdict, and not a panic. Rust ignores SIGPIPE, so
//! the write fails with `BrokenPipe` instead: commands that write through
//! [`ninefold::cli::print_out`] return that error, and any `println!` left panics
//! with it, which the panic hook below turns into the same quiet exit.

use std::process::ExitCode;

use clap::Parser;
use ninefold::ExitStatus;
use ninefold::cli::{CLOSED_PIPE_EXIT, Cli, is_closed_pipe};

/// mimalloc rather than glibc malloc: the load engine and the gateway allocate a few
/// small objects per request, and glibc's malloc/free were ~12% of their instructions.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    quiet_on_closed_pipe();
    let cli = Cli::parse();
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

/// `println!` panics when stdout is a closed pipe: exit quietly instead (any other
/// panic still reports as usual).
fn quiet_on_closed_pipe() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or_default();
        // EPIPE's text may be translated (strerror); its number is 32 on Linux and macOS.
        let closed_pipe = message.contains("Broken pipe") || message.contains("(os error 32)");
        if message.starts_with("failed printing to stdout") && closed_pipe {
            #[allow(clippy::disallowed_methods)] // main maps outcomes to exit codes
            std::process::exit(i32::from(CLOSED_PIPE_EXIT));
        }
        default(info);
    }));
}
