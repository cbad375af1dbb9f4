//! The refactor guard: a run recorded once (`scenarios/failover.toml`,
//! `--time-scale 0.1`, seed 7, by the ninefold of commit bbe9824) is
//! re-rendered with `ninefold report`, and every file it writes must be byte
//! for byte what that run wrote. Moving code around must not move a number,
//! a word or a chart point; a change that means to alter an output updates
//! the fixture in the same commit and says why.

use std::path::Path;
use std::process::Command;

const FIXTURE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/golden-run");
const OUTPUTS: [&str; 6] = [
    "summary.json",
    "summary.md",
    "junit.xml",
    "report.html",
    "histograms.hlog",
    // Added with series.csv (docs/streaming.md), rendered from the fixture's
    // results.json by `ninefold report`: the other five files are unchanged.
    "series.csv",
];

#[test]
fn a_recorded_run_re_renders_byte_for_byte() {
    let dir = std::env::temp_dir().join(format!("ninefold-golden-run-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for file in ["results.json", "scenario.toml"] {
        std::fs::copy(Path::new(FIXTURE).join(file), dir.join(file)).expect("copy fixture");
    }
    let out = Command::new(env!("CARGO_BIN_EXE_ninefold"))
        .arg("report")
        .arg(&dir)
        .output()
        .expect("run ninefold report");
    assert!(
        out.status.success(),
        "ninefold report failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut differ = Vec::new();
    for file in OUTPUTS {
        let want = std::fs::read(Path::new(FIXTURE).join(file)).expect("fixture output");
        let got = std::fs::read(dir.join(file)).expect("re-rendered output");
        if want != got {
            differ.push(file);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        differ.is_empty(),
        "re-rendered outputs differ from the recorded run: {differ:?}"
    );
}
