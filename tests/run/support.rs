//! Helpers the `ninefold run` tests share: a fresh folder per test, and the
//! binary run on a scenario file, waited for or in the background.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_ninefold");

/// A fresh, empty folder `ninefold-{tag}-{pid}-{name}` under the temp dir: the
/// tag keeps one module's folders apart from another's in this one process.
pub fn dir(tag: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// `ninefold run <scenario> --out <out>` started in the background: stdout
/// dropped, stderr piped (its progress lines say when traffic flows).
pub fn spawn_run(scenario: &Path, out: &Path) -> Child {
    Command::new(BIN)
        .args([
            "run",
            scenario.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Writes `text` to `d/s.toml` and runs it into a fresh `d/run`, which it
/// returns with the run's stderr and exit code.
pub fn run_code(d: &Path, text: &str) -> (PathBuf, String, Option<i32>) {
    let file = d.join("s.toml");
    std::fs::write(&file, text).unwrap();
    let out = d.join("run");
    let _ = std::fs::remove_dir_all(&out);
    let o = Command::new(BIN)
        .arg("run")
        .arg(&file)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr).into_owned();
    (out, stderr, o.status.code())
}

/// [`run_code`] for a run that must itself work: exit 0, or 1 for a missed SLO.
pub fn run_in(d: &Path, text: &str) -> (PathBuf, String) {
    let (out, stderr, code) = run_code(d, text);
    assert!(
        matches!(code, Some(0 | 1)),
        "the run itself must work: {code:?}\n{stderr}"
    );
    (out, stderr)
}

/// A JSON file the run wrote.
pub fn read_json(path: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}
