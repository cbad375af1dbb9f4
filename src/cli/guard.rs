//! `ninefold guard -- PROGRAM ARGS…` (hidden): what ninefold starts a program of
//! yours under during a run, so that it dies with the run and its exit is told
//! as it happened. The work is [`crate::topology::guard`].

use std::ffi::OsString;

/// `ninefold guard -- PROGRAM ARGS…`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The program and its arguments.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub command: Vec<OsString>,
}

/// Run the program; the exit code to leave with (a program killed by a signal
/// kills the guard by the same signal instead).
pub fn run(args: &Args) -> u8 {
    crate::topology::guard::run(&args.command)
}
