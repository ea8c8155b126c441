//! Helpers shared by the CLI test modules.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod data;

/// The repository root (the binary runs from there so `../shared` resolves as in the README).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("the repository root should exist")
}

/// Run `facealign ARGS` from the repository root.
pub fn facealign(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_facealign"))
        .args(args)
        .current_dir(repo_root())
        .output()
        .expect("the facealign binary should start")
}

/// Run and require success; returns stdout.
pub fn ok(args: &[&str]) -> String {
    let out = facealign(args);
    assert!(
        out.status.success(),
        "facealign {args:?} failed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("stdout should be UTF-8")
}

/// Run and require failure; returns stderr.
pub fn fails(args: &[&str]) -> String {
    let out = facealign(args);
    assert!(!out.status.success(), "facealign {args:?} should have failed");
    String::from_utf8(out.stderr).expect("stderr should be UTF-8")
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir should be creatable")
}
