//! Helpers shared by the unit tests.
use std::path::PathBuf;

/// A path under the shared data folder: `$FACEALIGN_SHARED/rel` when that variable is set (worktrees
/// outside the repository's usual place), else `<repo>/../shared/rel`.
pub(crate) fn shared(rel: &str) -> PathBuf {
    let root = std::env::var_os("FACEALIGN_SHARED")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")));
    root.join(rel)
}

/// A committed fixture of this crate: `tests/fixtures/rel`.
pub(crate) fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures")).join(rel)
}
