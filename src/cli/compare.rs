//! `ninefold compare BASE_DIR NEW_DIR`: a new run against a baseline, each
//! difference tested against run-to-run noise; exit 1 on a regression so CI
//! can gate on a baseline.

use std::path::{Path, PathBuf};

use anyhow::Context;

use crate::ExitStatus;
use crate::cli::CliError;
use crate::run::outputs::{RunFolder, read_run_folder};
use crate::summary::Summary;
use crate::summary::compare::{Comparison, RunView, compare};

/// `compare.md`: the comparison for people (and `$GITHUB_STEP_SUMMARY`).
pub const COMPARE_MD: &str = "compare.md";
/// `compare.json`: the comparison for programs.
pub const COMPARE_JSON: &str = "compare.json";

/// Compare a run against a baseline run.
#[derive(Debug, clap::Args)]
#[command(
    after_help = "Latency percentiles, availability, throttle accuracy and failover times side by\nside. Latency is tested with a Mann–Whitney U test over the per-second percentiles\nof both runs, availability with a two-proportion z-test; failover times count only\nbeyond the 1 s resolution. A difference is a regression when it is significant\n(p < 0.01), in the bad direction and larger than --threshold.\n\nWrites compare.md and compare.json into NEW_DIR (or --out).\n\nExamples:\n  ninefold compare reports/baseline reports/candidate\n  ninefold compare base new --threshold 5% --out /tmp/cmp\n\nExit codes: 0 no significant regression, 1 a regression beyond the threshold,\n2 bad input (not a run folder, bad threshold: a bare number above 1 such as\n`10` is refused; write `10%` or `0.1`)."
)]
pub struct Args {
    /// The baseline run folder.
    #[arg(value_name = "BASE_DIR")]
    pub base: PathBuf,
    /// The run folder to judge against the baseline.
    #[arg(value_name = "NEW_DIR")]
    pub new: PathBuf,
    /// Relative worsening a significant difference must exceed to fail: `10%` or `0.1`
    /// (a bare number above 1, such as `10`, is refused as ambiguous).
    #[arg(long, default_value = "10%", value_name = "PERCENT")]
    pub threshold: String,
    /// Where to write compare.md and compare.json (default: NEW_DIR).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// Compare, print, write, and exit 1 on a regression.
pub fn run(args: Args) -> anyhow::Result<ExitStatus> {
    let threshold = parse_threshold(&args.threshold).map_err(CliError::BadInput)?;
    let base = load(&args.base)?;
    let new = load(&args.new)?;
    if base.1.scenario != new.1.scenario {
        eprintln!(
            "ninefold: warning: comparing different scenarios ({} against {}): differences may be by design",
            base.1.scenario, new.1.scenario
        );
    }
    let c = compare(
        RunView {
            summary: &base.1,
            results: &base.0.results,
        },
        RunView {
            summary: &new.1,
            results: &new.0.results,
        },
        threshold,
    );
    let md = crate::report::compare::markdown(&c);
    let out = args.out.as_deref().unwrap_or(&args.new);
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    std::fs::write(out.join(COMPARE_MD), &md)
        .with_context(|| format!("writing {}", out.join(COMPARE_MD).display()))?;
    let json = serde_json::to_string_pretty(&c).context("serializing the comparison")?;
    std::fs::write(out.join(COMPARE_JSON), json + "\n")
        .with_context(|| format!("writing {}", out.join(COMPARE_JSON).display()))?;
    // Written first: a closed stdout (`| head`) must not cost the files.
    crate::cli::print_out(&md)?;
    eprintln!("ninefold: comparison in {}", out.join(COMPARE_MD).display());
    Ok(verdict(&c))
}

/// Exit 1 when any row regressed.
pub fn verdict(c: &Comparison) -> ExitStatus {
    if c.regressions > 0 {
        ExitStatus::SloFailed
    } else {
        ExitStatus::Pass
    }
}

fn load(dir: &Path) -> anyhow::Result<(RunFolder, Summary)> {
    let folder = read_run_folder(dir).map_err(|e| CliError::BadInput(e.to_string()))?;
    let summary = crate::summary::summarize(
        &folder.scenario,
        &folder.results,
        folder.results.time_scale,
        folder.broken,
    );
    Ok((folder, summary))
}

/// `10%` → 0.1, `0.1` → 0.1; negative or non-numbers are refused, and so is a bare
/// number above 1 (`10` would be 1000%: the user almost surely meant `10%`).
fn parse_threshold(text: &str) -> Result<f64, String> {
    crate::cli::parse_fraction("--threshold", text, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_read_as_fractions() {
        assert_eq!(parse_threshold("10%"), Ok(0.1));
        assert_eq!(parse_threshold("0.25"), Ok(0.25));
        assert!(parse_threshold("-5%").is_err());
        assert!(parse_threshold("lots").unwrap_err().contains("--threshold"));
    }

    #[test]
    fn compare_threshold_10_is_refused_not_read_as_1000_percent() {
        let err = parse_threshold("10").unwrap_err();
        assert!(err.contains("`10%`") && err.contains("0.1"), "{err}");
        assert!(parse_threshold("1.5").is_err());
        // Explicit percentages above 100% and bare fractions up to 1 stay allowed.
        assert_eq!(parse_threshold("150%"), Ok(1.5));
        assert_eq!(parse_threshold("1"), Ok(1.0));
        assert_eq!(parse_threshold("0"), Ok(0.0));
    }
}
