//! Reports: the renderings of the summary ([`crate::summary::Summary`]).
//!
//! ```text
//!  Summary ──► summary.json   (serde; schema at schemas/summary.schema.json)
//!          ├─► junit.xml      (junit::render)
//!          ├─► summary.md     (markdown::render, for $GITHUB_STEP_SUMMARY)
//!          ├─► terminal       (terminal::render)
//!          └─► compare        (compare::render, of a summary::compare::Comparison)
//! ```
//!
//! Renderers read nothing but the model, so every file says the same thing;
//! they compute nothing (the summary did) and import only `summary`,
//! `results`, `metrics`, `scenario` and `format`, never `run` or `cli`.
//! `report.html` ([`html`]) also draws the per-second series of the results;
//! it and `histograms.hlog` are written by `run::outputs::write_run_folder`.

pub mod compare;
pub mod flows;
pub mod hlog;
pub mod html;
pub mod integrity;
pub mod junit;
pub mod markdown;
pub mod series_csv;
pub mod terminal;

use std::io;
use std::path::Path;

use crate::summary::Summary;

/// File names in the run folder.
pub const SUMMARY_JSON: &str = "summary.json";
pub const JUNIT_XML: &str = "junit.xml";
pub const SUMMARY_MD: &str = "summary.md";

/// Write `summary.json`, `junit.xml` and `summary.md` into `dir` (created if
/// missing). Each file is written beside its final name and renamed into
/// place, so a reader never sees half a file.
pub fn write_all(dir: &Path, summary: &Summary) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let json = summary.to_json().map_err(io::Error::other)?;
    write_atomic(&dir.join(SUMMARY_JSON), &json)?;
    write_atomic(&dir.join(JUNIT_XML), &junit::render(summary))?;
    write_atomic(&dir.join(SUMMARY_MD), &markdown::render(summary))?;
    Ok(())
}

/// Write `contents` beside `path` and rename it into place.
pub(crate) fn write_atomic(path: &Path, contents: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    std::fs::write(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod says_integrity_tests;
#[cfg(test)]
mod says_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_the_three_files() {
        let dir = std::env::temp_dir().join(format!("ninefold-report-{}", uuid::Uuid::new_v4()));
        let summary = crate::summary::tests::example();
        write_all(&dir.join("run"), &summary).unwrap();
        let json = std::fs::read_to_string(dir.join("run").join(SUMMARY_JSON)).unwrap();
        let back: Summary = serde_json::from_str(&json).unwrap();
        assert_eq!(back, summary);
        let xml = std::fs::read_to_string(dir.join("run").join(JUNIT_XML)).unwrap();
        assert!(roxmltree::Document::parse(&xml).is_ok());
        let md = std::fs::read_to_string(dir.join("run").join(SUMMARY_MD)).unwrap();
        assert!(md.starts_with("## ❌ FAIL"));
        let leftovers = std::fs::read_dir(dir.join("run")).unwrap().count();
        assert_eq!(leftovers, 3, "no temporary files left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
