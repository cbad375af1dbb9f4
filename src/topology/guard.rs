//! The guard a program of someone else's runs under: `ninefold guard -- PROGRAM
//! ARGS…`. A foreign program does not read `NINEFOLD_PARENT_PID`, and its own
//! children (nginx's workers) would outlive a parent-death signal set on it
//! alone; so ninefold starts the guard (the same binary, like every role), the
//! guard starts the program in its own process group, and:
//!
//! - when ninefold dies, even by SIGKILL, the kernel tells the guard
//!   (`PR_SET_PDEATHSIG`), and the guard kills the whole group, itself included;
//! - a signal ninefold sends to the group (a fault, the teardown) reaches the
//!   program and its children; the guard outlives a SIGTERM, SIGINT or SIGHUP
//!   so that a graceful drain is waited for, and dies with SIGKILL;
//! - when the program ends, the guard ends the same way: its exit code, or by
//!   the signal that killed it, so the run's lifecycle events say what happened.
//!
//! Programs that leave the process group (`setsid`, a daemon's double fork) are
//! beyond it: run them in the foreground (nginx: `daemon off;`).

use std::ffi::{OsStr, OsString};
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR2};

use super::child::PARENT_PID_ENV;

/// The subcommand ninefold starts a foreign program with.
pub const SUBCOMMAND: &str = "guard";

/// The exit code of a guard whose program could not be started (as a shell's).
pub const CANNOT_START: u8 = 127;

/// `guard -- PROGRAM ARGS…`: the arguments of the guard of `program`.
pub fn args(program: &Path, args: &[String]) -> Vec<OsString> {
    let mut out: Vec<OsString> = vec![SUBCOMMAND.into(), "--".into(), program.into()];
    out.extend(args.iter().map(OsString::from));
    out
}

/// Where `program` is: with a `/`, relative to `cwd`; otherwise the first
/// executable of that name on `path` (a `PATH` value). The error says where it looked.
pub fn resolve_program(program: &str, cwd: &Path, path: Option<&OsStr>) -> Result<PathBuf, String> {
    use std::os::unix::fs::PermissionsExt;
    let executable = |p: &Path| {
        p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.is_empty() {
        return Err("the command is empty: give the program first".into());
    }
    if program.contains('/') {
        let p = cwd.join(program);
        return if executable(&p) {
            Ok(p)
        } else if p.exists() {
            Err(format!("`{}` is not an executable file", p.display()))
        } else {
            Err(format!("`{}` does not exist", p.display()))
        };
    }
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    dirs.iter()
        .map(|d| cwd.join(d).join(program))
        .find(|p| executable(p))
        .ok_or_else(|| {
            let looked: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
            format!(
                "`{program}` is not on PATH (looked in {})",
                looked.join(":")
            )
        })
}

/// Run the guard: start `argv` and end as it ends. The exit code to leave with
/// when the program exited; when a signal killed it, the guard dies by that
/// signal and does not return.
pub fn run(argv: &[OsString]) -> u8 {
    let Some((program, rest)) = argv.split_first() else {
        eprintln!("ninefold guard: give the program to run after `--`");
        return crate::exit::ExitStatus::BadInput.code();
    };
    // Handlers first, so a signal from here on is ours to decide on; exec resets
    // them to the defaults for the program.
    let mut signals = match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR2])
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("ninefold guard: cannot watch signals: {e}");
            return CANNOT_START;
        }
    };
    if !tie_to_parent() {
        return CANNOT_START;
    }
    // A ninefold role run as the program (`ninefold gateway` as "your
    // gateway") ties its life to its parent by this variable: that is the
    // guard now, which is itself tied to the harness.
    let spawned = std::process::Command::new(program)
        .args(rest)
        .env(PARENT_PID_ENV, std::process::id().to_string())
        .spawn();
    let mut child = match spawned {
        Ok(c) => c,
        Err(e) => {
            eprintln!(
                "ninefold guard: cannot start {}: {e}",
                Path::new(program).display()
            );
            return CANNOT_START;
        }
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == SIGUSR2 {
                // The harness is gone: the whole group goes with it.
                let _ = kill(Pid::from_raw(0), Signal::SIGKILL);
            }
            // SIGTERM, SIGINT, SIGHUP went to the whole group: the program decides;
            // the guard waits for it.
        }
    });
    match child.wait() {
        Ok(status) => match (status.code(), status.signal()) {
            (Some(code), _) => u8::try_from(code).unwrap_or(1),
            (None, Some(sig)) => {
                let _ = signal_hook::low_level::emulate_default_handler(sig);
                128u8.saturating_add(u8::try_from(sig).unwrap_or(0))
            }
            _ => 1,
        },
        Err(e) => {
            eprintln!("ninefold guard: lost its program: {e}");
            1
        }
    }
}

/// SIGUSR2 when the harness dies; false when it already has.
fn tie_to_parent() -> bool {
    let Some(parent) = std::env::var(PARENT_PID_ENV)
        .ok()
        .and_then(|p| p.parse::<i32>().ok())
    else {
        return true; // started by hand: nobody to die with
    };
    #[cfg(target_os = "linux")]
    {
        let _ = nix::sys::prctl::set_pdeathsig(Signal::SIGUSR2);
    }
    // The harness may have died before the line above took effect.
    nix::unistd::getppid().as_raw() == parent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_program_is_found_relative_to_cwd_or_on_path_and_a_missing_one_is_named() {
        let sh = resolve_program("sh", Path::new("/"), Some(OsStr::new("/nonexistent:/bin")));
        assert_eq!(sh, Ok(PathBuf::from("/bin/sh")));
        let rel = resolve_program("./sh", Path::new("/bin"), None);
        assert_eq!(rel, Ok(PathBuf::from("/bin/./sh")));
        let missing = resolve_program(
            "no-such-program-9f",
            Path::new("/"),
            Some(OsStr::new("/bin:/usr/bin")),
        );
        assert_eq!(
            missing,
            Err("`no-such-program-9f` is not on PATH (looked in /bin:/usr/bin)".into())
        );
        let gone = resolve_program("./my-api", Path::new("/nonexistent"), None);
        assert_eq!(gone, Err("`/nonexistent/./my-api` does not exist".into()));
        let plain = std::env::temp_dir().join(format!("ninefold-guard-{}.txt", std::process::id()));
        std::fs::write(&plain, "not a program").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&plain, std::fs::Permissions::from_mode(0o644)).unwrap();
        let not_exec = resolve_program(plain.to_str().unwrap(), Path::new("/"), None);
        let _ = std::fs::remove_file(&plain);
        assert!(not_exec.unwrap_err().contains("not an executable file"));
        assert!(resolve_program("", Path::new("/"), None).is_err());
    }
}
