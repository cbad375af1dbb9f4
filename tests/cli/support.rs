//! Helpers the process tests share: a fresh folder per test, and a bounded
//! wait on something no event announces (a terminal's screen, a file).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A fresh, empty folder `ninefold-{tag}-{pid}-{name}` under the temp dir: the
/// tag keeps one module's folders apart from another's in this one process.
pub fn dir(tag: &str, name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ninefold-{tag}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Polls `check` until it gives a value, at most `deadline`; `every` is the
/// pause between looks, for what gives no event to wait on (say what in the
/// caller).
pub fn wait_for<T>(
    deadline: Duration,
    every: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Option<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let end = Instant::now() + deadline;
    while Instant::now() < end {
        if let Some(v) = check() {
            return Some(v);
        }
        // The poll interval (bounded by `end`): the caller's thing gives no event.
        rt.block_on(async { tokio::time::sleep(every).await });
    }
    None
}
