//! `facealign train` from the command line: run directory contents, overrides, bad configs.
use std::path::Path;

use super::{fails, ok, tempdir, tiny_model};

#[test]
fn a_short_run_writes_its_run_directory() {
    let model = tiny_model();
    let run = model.parent().unwrap();
    // Every file of a run but the shape model (an L2 run fits none).
    for f in facealign::train::RUN_FILES
        .into_iter()
        .filter(|&f| f != "shape.json")
    {
        assert!(run.join(f).exists(), "{f} missing in {}", run.display());
    }
    assert!(!run.join("shape.json").exists());
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

/// Issue 14, item 7: a second Ctrl-C in the first epoch crashed with SIGSEGV (exit handlers tore
/// libtorch down under the training thread). It must end the process at once with code 130.
#[test]
fn a_second_ctrl_c_in_the_first_epoch_exits_130_at_once() {
    use std::process::{Command, Stdio};
    let dir = tempdir();
    let run = dir.path().join("run");
    // Slow steps (224 px, batch 9): the second Ctrl-C lands while the first still waits.
    let child = Command::new(env!("CARGO_BIN_EXE_facealign"))
        .args(fixture_train("224", "50", &run, &[]))
        .current_dir(super::repo_root())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Set-up (data, PCA, ImageNet weights) takes well under this; then it is in epoch 1.
    std::thread::sleep(std::time::Duration::from_millis(3000));
    let pid = child.id().to_string();
    let int = || {
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .expect("kill should run")
    };
    int();
    std::thread::sleep(std::time::Duration::from_millis(100));
    int();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(130),
        "status {:?} (a signal means a crash); stderr: {stderr}",
        out.status
    );
    assert!(stderr.contains("second Ctrl-C"), "{stderr}");
}

/// Issue 14, item 8: `--out` of an existing run is refused without `--force`; a run folder being
/// trained is locked; a config that fails its checks leaves no folder behind.
#[test]
fn run_folders_are_not_overwritten_or_shared() {
    let model = tiny_model();
    let run = model.parent().unwrap();
    let short = |out: &str, extra: &[&str]| fixture_train("32", "1", Path::new(out), extra);
    let before = std::fs::read(run.join("last.safetensors")).unwrap();
    let e = fails(&as_refs(&short(run.to_str().unwrap(), &[])));
    assert!(
        e.contains("already holds a run") && e.contains("--force"),
        "{e}"
    );
    assert_eq!(std::fs::read(run.join("last.safetensors")).unwrap(), before);

    let dir = tempdir();
    let other = dir.path().join("other");
    ok(&as_refs(&short(other.to_str().unwrap(), &[])));
    ok(&as_refs(&short(other.to_str().unwrap(), &["--force"])));
    assert!(
        !other.join(".lock").exists(),
        "the lock is released at the end"
    );

    // A live process (this test) holds the lock: --resume is refused and names the pid.
    std::fs::write(other.join(".lock"), format!("{}\n", std::process::id())).unwrap();
    let e = fails(&["train", "--resume", other.to_str().unwrap(), "--quiet"]);
    assert!(
        e.contains("being trained by another process")
            && e.contains(&std::process::id().to_string()),
        "{e}"
    );
    // A stale lock (no such process) is taken over.
    std::fs::write(other.join(".lock"), "999999999\n").unwrap();
    ok(&["train", "--resume", other.to_str().unwrap(), "--quiet"]);

    // A config whose data cannot be read leaves no run folder.
    let bad = dir.path().join("bad");
    let mut args = short(bad.to_str().unwrap(), &[]);
    args[3] = "data.train=pts:/nonexistent/faces".into();
    fails(&as_refs(&args));
    assert!(!bad.exists(), "a failed config left {}", bad.display());
}

/// `init_from` fine-tunes from every weight of a trained model: the first epoch (learning rate
/// still warming up from ~0) validates where the source model ended; a scheme mismatch and a
/// conflicting `head_init` are named errors.
#[test]
fn init_from_fine_tunes_a_trained_model() {
    let model = tiny_model();
    let last_val = |run: &std::path::Path, row: usize| -> f64 {
        let csv = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
        let line = csv.lines().nth(row).unwrap().to_string();
        line.split(',').nth(3).unwrap().parse().unwrap()
    };
    // `model` is the source run's best epoch.
    let source_val = (1..=3)
        .map(|row| last_val(model.parent().unwrap(), row))
        .fold(f64::INFINITY, f64::min);
    let dir = tempdir();
    let out = dir.path().join("ft");
    let from = format!("init_from={}", model.display());
    let args = |extra: &[&str]| {
        let mut a = vec!["--set", "init=random", "--set", &from];
        a.extend_from_slice(extra);
        fixture_train("64", "1", &out, &a)
    };
    let e = fails(&as_refs(&args(&[])));
    assert!(e.contains("init_from") && e.contains("head_init"), "{e}");
    ok(&as_refs(&args(&["--set", "head_init=default"])));
    let first = last_val(&out, 1);
    assert!(
        (first - source_val).abs() < 0.1 * source_val,
        "fine-tune epoch 1 {first} % vs source {source_val} %"
    );
    // A 5-point run cannot start from a 68-point model.
    let e = fails(&[
        "train",
        "configs/mtfl/mnv2_l2.toml",
        "--set",
        "init=random",
        "--set",
        "head_init=default",
        "--set",
        &from,
        "--max-samples",
        "16",
        "--epochs",
        "1",
        "--out",
        dir.path().join("five").to_str().unwrap(),
    ]);
    assert!(e.contains("init_from") && e.contains("ibug68"), "{e}");
}

fn as_refs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `train` of the InfAnFace preset on the 9 committed 300W-layout fixture faces (training and
/// validation), batch 9, at `size` px for `epochs`, quiet, into `out`, then `extra`. Argument 3 is
/// the `data.train=` value.
fn fixture_train(size: &str, epochs: &str, out: &Path, extra: &[&str]) -> Vec<String> {
    let data = format!("300w:{}", super::fixture_300w());
    let mut args: Vec<String> = [
        "train",
        "configs/infanface/mnv2_l2.toml",
        "--set",
        &format!("data.train={data}"),
        "--set",
        &format!("data.val={data}"),
        "--set",
        &format!("data.input_size={size}"),
        "--set",
        "batch_size=9",
        "--epochs",
        epochs,
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}
