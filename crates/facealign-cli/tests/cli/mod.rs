//! Helpers shared by the CLI test modules.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

// Every module but `data` and `runtime` trains a tiny model first: they need the `train` feature
// (the README's test command enables it).
mod data;
#[cfg(feature = "train")]
mod eval;
#[cfg(feature = "train")]
mod model;
mod predict;
mod runtime;
#[cfg(feature = "train")]
mod train;

/// The repository root (the binary runs from there so `../shared` resolves as in the README).
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root should exist")
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
    assert!(
        !out.status.success(),
        "facealign {args:?} should have failed"
    );
    String::from_utf8(out.stderr).expect("stderr should be UTF-8")
}

/// A photo with three faces (dlib's example set), relative to the repository root.
pub const PHOTO: &str = "../shared/data/fixtures/dlib/2008_001322.jpg";
/// One face of [`PHOTO`], as `--box` takes it.
#[cfg(feature = "train")]
pub const PHOTO_FACE_BOX: &str = "109,136,62,108";

/// The arguments `COMMAND --model MODEL REST…`.
#[cfg(feature = "train")]
pub fn with_model<'a>(command: &'a str, model: &'a Path, rest: &[&'a str]) -> Vec<&'a str> {
    let model = model.to_str().expect("test paths are UTF-8");
    [command, "--model", model]
        .into_iter()
        .chain(rest.iter().copied())
        .collect()
}

/// A fresh temporary directory.
pub fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().expect("a temp dir should be creatable")
}

/// A tiny 68-point model trained once per test run (64 px, 3 epochs on the 9 committed 300W-layout
/// fixture faces): enough to exercise eval and predict end to end.
#[cfg(feature = "train")]
pub fn tiny_model() -> PathBuf {
    static MODEL: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    MODEL
        .get_or_init(|| {
            let dir =
                std::env::temp_dir().join(format!("facealign-cli-tests-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            let run = dir.join("tiny");
            ok(&[
                "train",
                "configs/infanface/mnv2_l2.toml",
                "--set",
                &format!("data.train=300w:{}", fixture_300w()),
                "--set",
                &format!("data.val=300w:{}", fixture_300w()),
                "--set",
                "data.input_size=64",
                "--set",
                "batch_size=9",
                "--epochs",
                "3",
                "--out",
                run.to_str().unwrap(),
                "--quiet",
            ]);
            run.join("best.safetensors")
        })
        .clone()
}

/// The core crate's 300W-layout fixture folder.
#[cfg(feature = "train")]
pub fn fixture_300w() -> String {
    repo_root()
        .join("crates/facealign-core/tests/fixtures/300w")
        .display()
        .to_string()
}
