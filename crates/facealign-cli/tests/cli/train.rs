//! `facealign train` from the command line: run directory contents, overrides, bad configs.
use super::{fails, ok, tempdir, tiny_model};

#[test]
fn a_short_run_writes_its_run_directory() {
    let model = tiny_model();
    let run = model.parent().unwrap();
    for f in [
        "config.toml",
        "metrics.csv",
        "curves.png",
        "best.safetensors",
        "last.safetensors",
    ] {
        assert!(run.join(f).exists(), "{f} missing in {}", run.display());
    }
    // The saved config carries the --set overrides.
    let cfg = std::fs::read_to_string(run.join("config.toml")).unwrap();
    assert!(cfg.contains("input_size = 64"), "{cfg}");
    assert_eq!(
        std::fs::read_to_string(run.join("metrics.csv"))
            .unwrap()
            .lines()
            .count(),
        4
    );
}

#[test]
fn unknown_keys_and_bad_values_are_named() {
    let dir = tempdir();
    let bad = dir.path().join("bad.toml");
    let base =
        std::fs::read_to_string(super::repo_root().join("configs/infanface/mnv2_l2.toml")).unwrap();
    std::fs::write(
        &bad,
        base.replace("batch_size = 16", "batch_size = 16\nbatch_sise = 3"),
    )
    .unwrap();
    let e = fails(&["train", bad.to_str().unwrap()]);
    assert!(e.contains("batch_sise") && e.contains("bad.toml"), "{e}");
    let e = fails(&[
        "train",
        "configs/infanface/mnv2_l2.toml",
        "--set",
        "optim.lr=-1",
    ]);
    assert!(e.contains("optim.lr"), "{e}");
    let e = fails(&[
        "train",
        "configs/infanface/mnv2_l2.toml",
        "--set",
        "loss.kind=nope",
    ]);
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn shape_fit_prints_components_per_share() {
    let dir = tempdir();
    let out = dir.path().join("shape.json");
    let text = ok(&[
        "shape",
        "fit",
        "pts:../shared/data/infanface/train",
        "--out",
        out.to_str().unwrap(),
        "--size",
        "128",
    ]);
    // Measured on the 210 InfAnFace faces: 3, 3, 4, 5, 8 components for 80..98 %.
    assert!(
        text.contains("| 80 % | 3 |") && text.contains("| 98 % | 8 |"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    assert_eq!(v["scheme"], "ibug68");
}
