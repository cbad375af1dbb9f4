//! `ninefold validate FILE...`: check scenario files without running them.

use std::path::PathBuf;

use crate::ExitStatus;
use crate::scenario::load::{LoadError, load_file};

/// Check scenario files; print every problem with its FILE:LINE:COL.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Examples:\n  ninefold validate scenarios/*.toml\n  ninefold validate --quiet my-scenario.toml && echo ok"
)]
pub struct Args {
    /// Scenario files to check.
    #[arg(required = true, value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Print nothing for valid files but their warnings.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Exit 0 when every file is valid (warnings included), 2 otherwise.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let mut status = ExitStatus::Pass;
    for file in &args.files {
        match load_file(file) {
            Ok(loaded) => {
                // Warnings do not change the exit status: the file is valid.
                for w in &loaded.warnings.0 {
                    eprintln!("{w}");
                }
                if !args.quiet {
                    let s = &loaded.scenario;
                    super::print_out(&format!(
                        "{}: ok ({}, {}, {} phase(s), {} fault(s), {} SLO(s))\n",
                        file.display(),
                        s.name,
                        crate::scenario::human::format_duration(s.duration),
                        s.traffic.len(),
                        s.faults.len(),
                        s.slos.len()
                    ))?;
                }
            }
            Err(LoadError::Invalid(diags)) => {
                eprintln!("{diags}");
                eprintln!("{}: {} problem(s)", file.display(), diags.0.len());
                status = ExitStatus::BadInput;
            }
            Err(e @ LoadError::Io { .. }) => {
                eprintln!("{e}");
                status = ExitStatus::BadInput;
            }
        }
    }
    Ok(status)
}
