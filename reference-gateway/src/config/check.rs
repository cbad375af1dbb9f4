//! Located problems: where in the configuration a value is wrong, and the checks
//! every section shares (durations, shares, counts, files).
//!
//! A check names a problem by its *path* in the document (`gateway.routes[1].upstream`)
//! and goes on with a default, so one pass reports every problem. [`Check`] is the
//! sink: [`Problems`] collects them here; the `ninefold` crate's scenario checker
//! implements it too and turns each problem into a diagnostic at `FILE:LINE:COL`.

use std::fmt;
use std::num::{NonZeroU32, NonZeroU64};
use std::path::{Path as FsPath, PathBuf};
use std::time::Duration;

use super::human::{parse_duration, parse_share};

/// One step of a path into the document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// A path into the document, e.g. `traffic[2].rate`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Path(pub Vec<Seg>);

impl Path {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path extended by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut p = self.0.clone();
        p.push(Seg::Key(key.to_owned()));
        Self(p)
    }

    /// This path extended by an array index.
    pub fn index(&self, i: usize) -> Self {
        let mut p = self.0.clone();
        p.push(Seg::Index(i));
        Self(p)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.0.iter().enumerate() {
            match seg {
                Seg::Key(k) => {
                    let plain = !k.is_empty()
                        && k.chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
                    match (i, plain) {
                        (0, true) => f.write_str(k)?,
                        (_, true) => write!(f, ".{k}")?,
                        (0, false) => write!(f, "{k:?}")?,
                        (_, false) => write!(f, ".{k:?}")?,
                    }
                }
                Seg::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// `"; did you mean `x`?"` when a known name is close enough to `given`.
pub fn did_you_mean<'a>(given: &str, known: impl IntoIterator<Item = &'a str>) -> Option<String> {
    known
        .into_iter()
        .map(|k| (strsim::damerau_levenshtein(given, k), k))
        .filter(|(d, k)| *d <= 2.max(k.len() / 3) && *d < k.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| format!("; did you mean `{k}`?"))
}

/// One problem: its path, whether it is the key itself that must go, and the
/// message (already prefixed with the path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub path: Path,
    pub at_key: bool,
    pub message: String,
}

/// Where checks report. Implementors say where a problem goes and which folder
/// relative file names are read from; the checks themselves are provided.
pub trait Check {
    /// Record one problem.
    fn report(&mut self, problem: Problem);

    /// Folder of the file, to resolve relative paths (key files).
    fn base_dir(&self) -> &FsPath;

    /// Report a problem at `path`.
    fn err(&mut self, path: &Path, message: impl Into<String>)
    where
        Self: Sized,
    {
        let message = message.into();
        let message = if path.0.is_empty() {
            message
        } else {
            format!("{path}: {message}")
        };
        self.report(Problem {
            path: path.clone(),
            at_key: false,
            message,
        });
    }

    /// Report a problem at the key of `path` (for keys that must not be there).
    fn err_key(&mut self, path: &Path, message: impl Into<String>)
    where
        Self: Sized,
    {
        self.report(Problem {
            path: path.clone(),
            at_key: true,
            message: format!("{path}: {}", message.into()),
        });
    }

    /// A duration, or `default` when absent; must be > 0 unless `allow_zero`.
    fn duration(
        &mut self,
        path: &Path,
        text: Option<&str>,
        default: Duration,
        allow_zero: bool,
    ) -> Duration
    where
        Self: Sized,
    {
        let Some(text) = text else { return default };
        match parse_duration(text) {
            Ok(d) if d.is_zero() && !allow_zero => {
                self.err(path, format!("must be longer than 0, got `{text}`"));
                default
            }
            Ok(d) => d,
            Err(e) => {
                self.err(path, e);
                default
            }
        }
    }

    /// A required duration > 0.
    fn required_duration(&mut self, path: &Path, text: &str) -> Duration
    where
        Self: Sized,
    {
        self.duration(path, Some(text), Duration::from_secs(1), false)
    }

    /// A share written as `"20%"` or `0.2`.
    fn share(&mut self, path: &Path, text: Option<&str>, default: f64) -> f64
    where
        Self: Sized,
    {
        let Some(text) = text else { return default };
        parse_share(text).unwrap_or_else(|e| {
            self.err(path, e);
            default
        })
    }

    /// A count ≥ 1.
    fn nonzero(&mut self, path: &Path, value: Option<u32>, default: u32) -> NonZeroU32
    where
        Self: Sized,
    {
        let v = value.unwrap_or(default);
        NonZeroU32::new(v).unwrap_or_else(|| {
            self.err(path, "must be at least 1, got 0");
            NonZeroU32::MIN
        })
    }

    /// A count ≥ 1 (64-bit).
    fn nonzero64(&mut self, path: &Path, value: u64) -> NonZeroU64
    where
        Self: Sized,
    {
        NonZeroU64::new(value).unwrap_or_else(|| {
            self.err(path, "must be at least 1, got 0");
            NonZeroU64::MIN
        })
    }

    /// A positive, finite number.
    fn positive(&mut self, path: &Path, value: f64) -> f64
    where
        Self: Sized,
    {
        if value.is_finite() && value > 0.0 {
            value
        } else {
            self.err(path, format!("must be > 0, got {value}"));
            1.0
        }
    }

    /// A file path relative to the configuration's folder, which must exist.
    fn existing_file(&mut self, path: &Path, text: &str) -> PathBuf
    where
        Self: Sized,
    {
        let p = self.base_dir().join(text);
        if !p.is_file() {
            self.err(path, format!("no such file `{}`", p.display()));
        }
        p
    }
}

/// A [`Check`] that keeps the problems in a list.
#[derive(Debug, Default)]
pub struct Problems {
    pub problems: Vec<Problem>,
    pub base_dir: PathBuf,
}

impl Check for Problems {
    fn report(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn base_dir(&self) -> &FsPath {
        &self.base_dir
    }
}
