//! Shared helpers for the library integration tests.
use std::path::PathBuf;

mod smoke;
mod tract_agrees;
mod train;

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repo root exists")
}

/// The 300W-layout fixture of the core crate (9 real faces, 68 points).
pub fn fixture_300w() -> String {
    format!(
        "300w:{}",
        repo()
            .join("crates/facealign-core/tests/fixtures/300w")
            .display()
    )
}
