//! Integration tests of facealign-infer on the shipped models (no libtorch: the agreement with the
//! tch models is tested in `crates/facealign-train/tests/it/tract_agrees.rs`).
use std::path::{Path, PathBuf};

use facealign_infer::net::max_abs_diff;
use facealign_infer::{export_onnx, BatchPlans, TractNet, TractOptions};
use tract_onnx::prelude::*;

fn repo() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

fn shipped(name: &str) -> PathBuf {
    repo().join("models").join(format!("{name}.safetensors"))
}

/// A deterministic pseudo-random image batch in [0, 1].
fn pseudo_images(n: usize, s: usize) -> Vec<f32> {
    let mut x = 12_345u32;
    (0..n * 3 * s * s)
        .map(|_| {
            x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            (x >> 8) as f32 / (1u32 << 24) as f32
        })
        .collect()
}

#[test]
fn onnx_round_trip_matches_the_in_memory_net() {
    let dir = tempfile::tempdir().unwrap();
    let model = shipped("mtfl-mnv2-l2");
    let out = dir.path().join("m.onnx");
    let bytes = export_onnx(&model, &out).unwrap();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), bytes);
    let net = TractNet::from_model_file(&model, TractOptions::default()).unwrap();
    let s = net.input_size();
    let x = pseudo_images(2, s);
    let ours = net.run(&x, 2).unwrap();
    // Loaded back by tract's own ONNX reader, not through TractNet.
    let plan = tract_onnx::onnx()
        .model_for_path(&out)
        .unwrap()
        .with_input_fact(0, f32::fact([2, 3, s, s]).into())
        .unwrap()
        .into_optimized()
        .unwrap()
        .into_runnable()
        .unwrap();
    let input = Tensor::from_shape(&[2, 3, s, s], &x).unwrap();
    let got = plan.run(tvec!(input.into_tvalue())).unwrap();
    let got: Vec<f32> = got[0]
        .to_plain_array_view::<f32>()
        .unwrap()
        .iter()
        .copied()
        .collect();
    let d = max_abs_diff(&ours, &got);
    assert!(d <= 1e-6, "round trip differs by {d}");
    // And through TractNet's ONNX loader, symbolic batch.
    let opts = TractOptions {
        threads: 1,
        batch_plans: BatchPlans::Symbolic,
        ..TractOptions::default()
    };
    let back = TractNet::from_onnx_file(&out, opts).unwrap();
    assert_eq!((back.input_size(), back.n_points()), (64, 5));
    let d = max_abs_diff(&ours, &back.run(&x, 2).unwrap());
    assert!(d <= 1e-6, "TractNet on the ONNX file differs by {d}");
}

#[test]
fn batch_plans_threads_and_batch_sizes_agree() {
    let model = shipped("mtfl-mnv2-l2");
    let base = TractNet::from_model_file(&model, TractOptions::default()).unwrap();
    let s = base.input_size();
    let x = pseudo_images(3, s);
    let all = base.run(&x, 3).unwrap();
    // Each crop alone gives its row of the batch.
    for k in 0..3 {
        let one = base.run(&x[k * 3 * s * s..(k + 1) * 3 * s * s], 1).unwrap();
        let d = max_abs_diff(&one, &all[k * 10..(k + 1) * 10]);
        assert!(d <= 1e-5, "crop {k} alone differs by {d}");
    }
    // The default splits a batch of 3 across the global pool's threads (2 + 1 crops on 2 cores):
    // the same as one batch-3 plan, and as tract's own threads.
    for (threads, batch_plans, split_crops) in [
        (1, BatchPlans::PerSize, false),
        (2, BatchPlans::PerSize, true),
        (1, BatchPlans::Symbolic, true),
        (2, BatchPlans::Symbolic, false),
    ] {
        let net = TractNet::from_model_file(
            &model,
            TractOptions {
                threads,
                batch_plans,
                split_crops,
            },
        )
        .unwrap();
        assert_eq!(net.threads(), threads);
        let d = max_abs_diff(&all, &net.run(&x, 3).unwrap());
        assert!(
            d <= 1e-5,
            "{threads} threads {batch_plans:?} split {split_crops} differ by {d}"
        );
    }
}

#[test]
fn bad_inputs_are_errors() {
    let model = shipped("mtfl-mnv2-l2");
    let net = TractNet::from_model_file(&model, TractOptions::default()).unwrap();
    assert!(net.run(&[0.0; 10], 1).is_err());
    assert!(net.run(&[], 0).is_err());
    let err = TractNet::from_model_file(&model, TractOptions::with_threads(0)).unwrap_err();
    assert!(err.to_string().contains("threads"), "{err}");
    let err = TractNet::from_model_file(Path::new("nope.safetensors"), TractOptions::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.safetensors"), "{err}");
}

#[test]
fn net_is_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<TractNet>();
}

/// A safetensors file with one tensor and the given metadata.
fn tiny_file(dir: &Path, name: &str, meta: &[(&str, &str)]) -> PathBuf {
    use safetensors::tensor::{Dtype, TensorView};
    let bytes = vec![0u8; 4 * 4];
    let view = TensorView::new(Dtype::F32, vec![2, 2], &bytes).unwrap();
    let meta: std::collections::HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
        .collect();
    let data = safetensors::tensor::serialize([("head.weight", view)], Some(meta)).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, data).unwrap();
    path
}

#[test]
fn bad_model_files_are_named_errors() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("noconfig.safetensors", vec![], "facealign.config"),
        (
            "resnet.safetensors",
            vec![("facealign.config", "[model]\narch = \"resnet\"\n")],
            "resnet",
        ),
        (
            "size.safetensors",
            vec![("facealign.config", "[data]\ninput_size = 7\n")],
            "data.input_size",
        ),
        (
            "broken.safetensors",
            vec![("facealign.config", "[model\n")],
            "TOML",
        ),
        // A MobileNetV2 config whose weights lack the backbone.
        (
            "headonly.safetensors",
            vec![("facealign.config", "[data]\ninput_size = 64\n")],
            "features.0.0.weight",
        ),
    ];
    for (name, meta, want) in cases {
        let path = tiny_file(dir.path(), name, &meta);
        let err = TractNet::from_model_file(&path, TractOptions::default())
            .unwrap_err()
            .to_string();
        assert!(err.contains(name) && err.contains(want), "{name}: {err}");
        let err = export_onnx(&path, &dir.path().join("x.onnx"))
            .unwrap_err()
            .to_string();
        assert!(err.contains(name), "{name}: {err}");
    }
    assert!(!dir.path().join("x.onnx").exists());
}

#[test]
fn checkpoint_with_extra_tensors_is_rejected() {
    // Every tensor must belong to the network: an unknown one means config and weights disagree.
    let dir = tempfile::tempdir().unwrap();
    let src = facealign_infer::Weights::read(&shipped("mtfl-mnv2-l2")).unwrap();
    let mut meta: std::collections::HashMap<String, String> = src
        .metadata()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    meta.insert("facealign.scheme".into(), "five".into());
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = src
        .tensors()
        .iter()
        .map(|(k, t)| {
            let b = t.data.iter().flat_map(|x| x.to_le_bytes()).collect();
            (k.clone(), t.shape.clone(), b)
        })
        .chain(std::iter::once((
            "extra.weight".to_string(),
            vec![1],
            vec![0u8; 4],
        )))
        .collect();
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = bytes
        .iter()
        .map(|(k, s, b)| {
            let v =
                safetensors::tensor::TensorView::new(safetensors::tensor::Dtype::F32, s.clone(), b)
                    .unwrap();
            (k.clone(), v)
        })
        .collect();
    let path = dir.path().join("extra.safetensors");
    std::fs::write(
        &path,
        safetensors::tensor::serialize(views, Some(meta)).unwrap(),
    )
    .unwrap();
    let err = TractNet::from_model_file(&path, TractOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("extra.weight") && err.contains("extra.safetensors"),
        "{err}"
    );
}

#[test]
fn search_turned_finds_a_face_on_its_side_where_it_finds_it_upright() {
    // The dlib photos and the same photos turned 90° clockwise (exact pixel permutations): the
    // turned search looks at the same four views of both, so it must find the same faces and
    // place the same landmarks, turned. Without the search, the upright detector finds fewer
    // faces on the turned photos.
    use facealign_infer::detect::turned::{to_view, turn};
    use facealign_infer::model_file::{Locations, ModelFile};
    use facealign_infer::Predictor;
    let loc = Locations::at(&repo());
    let path = shipped("adult68");
    let predictor = |search_turned: bool| {
        let net = TractNet::from_model_file(&path, TractOptions::with_threads(1)).unwrap();
        let mut p = Predictor::new(
            ModelFile::open(&path).unwrap(),
            Box::new(net),
            "ultraface-rfb",
            &loc,
        )
        .unwrap();
        p.refine = facealign_infer::Refine::photo_default(p.model.crop.size);
        p.search_turned = search_turned;
        p
    };
    let dir = repo().join("../shared/data/fixtures/dlib");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jpg"))
        .collect();
    photos.sort();
    assert!(photos.len() >= 5, "{}", dir.display());
    let (mut plain, mut search) = (predictor(false), predictor(true));
    let (mut upright_n, mut on_side_n, mut searched_n) = (0, 0, 0);
    for photo in &photos {
        let img = image::open(photo).unwrap().to_rgb8();
        let (w, h) = img.dimensions();
        let sideways = turn(&img, 1);
        upright_n += plain.predict(&img).unwrap().len();
        on_side_n += plain.predict(&sideways).unwrap().len();
        let a = search.predict(&img).unwrap();
        let b = search.predict(&sideways).unwrap();
        assert_eq!(a.len(), b.len(), "{}", photo.display());
        searched_n += b.len();
        for (fa, fb) in a.iter().zip(&b) {
            for (p, q) in fa.landmarks.iter().zip(&fb.landmarks) {
                let t = to_view(*p, 1, w, h);
                assert!(
                    (t[0] - q[0]).abs() < 1e-3 && (t[1] - q[1]).abs() < 1e-3,
                    "{}: {t:?} {q:?}",
                    photo.display()
                );
            }
        }
    }
    assert!(
        on_side_n < upright_n && searched_n >= upright_n,
        "faces: upright {upright_n}, on their side {on_side_n}, searched {searched_n}"
    );
}

#[test]
fn a_fallback_detector_searches_where_the_first_found_nothing() {
    // An infant in profile (InfAnFace ads-19251_Still070) that UltraFace misses and YuNet finds,
    // and a dlib photo both find faces in. `ultraface-rfb,yunet` gives YuNet's face on the first,
    // its box in UltraFace's terms (the same crop, so the same landmarks as YuNet alone), and
    // UltraFace's faces on the second (YuNet never runs).
    use facealign_infer::model_file::{Locations, ModelFile};
    use facealign_infer::Predictor;
    let loc = Locations::at(&repo());
    let path = shipped("infant68-heatmap-lite");
    let predictor = |detector: &str| {
        let net = TractNet::from_model_file(&path, TractOptions::with_threads(1)).unwrap();
        let mut p = Predictor::new(
            ModelFile::open(&path).unwrap(),
            Box::new(net),
            detector,
            &loc,
        )
        .unwrap();
        p.refine = facealign_infer::Refine::photo_default(p.model.crop.size);
        p
    };
    let (mut rfb, mut yunet, mut both) = (
        predictor("ultraface-rfb"),
        predictor("yunet"),
        predictor("ultraface-rfb, yunet"),
    );
    assert_eq!(both.detector_name, "ultraface-rfb,yunet");
    assert!(both.calibrated(), "the shipped model has both calibrations");
    let infant = repo().join("../shared/data/infanface/train/ads-19251_Still070.jpg");
    let img = image::open(&infant).unwrap().to_rgb8();
    assert_eq!(rfb.predict(&img).unwrap().len(), 0);
    let alone = yunet.predict(&img).unwrap();
    let fell_back = both.predict(&img).unwrap();
    assert_eq!((alone.len(), fell_back.len()), (1, 1));
    assert_eq!(fell_back[0].detector.as_deref(), Some("yunet"));
    assert_eq!(alone[0].detector, None, "the first (only) detector's face");
    let want = rfb
        .calibration
        .equivalent_box(&alone[0].bbox, &yunet.calibration);
    assert_eq!(fell_back[0].bbox, want);
    assert_eq!(fell_back[0].score, alone[0].score);
    for (p, q) in fell_back[0].landmarks.iter().zip(&alone[0].landmarks) {
        assert!(
            (p[0] - q[0]).abs() < 1e-2 && (p[1] - q[1]).abs() < 1e-2,
            "{p:?} {q:?}"
        );
    }
    let photo = repo().join("../shared/data/fixtures/dlib/2008_001322.jpg");
    let img = image::open(&photo).unwrap().to_rgb8();
    let first = rfb.predict(&img).unwrap();
    assert!(!first.is_empty());
    assert_eq!(both.predict(&img).unwrap(), first);
    for bad in ["ultraface-rfb,", "yunet,yunet", "ultraface-rfb,nope"] {
        let net = TractNet::from_model_file(&path, TractOptions::with_threads(1)).unwrap();
        let err = Predictor::new(ModelFile::open(&path).unwrap(), Box::new(net), bad, &loc)
            .err()
            .unwrap_or_else(|| panic!("{bad} should be refused"))
            .to_string();
        assert!(err.contains("detector"), "{bad}: {err}");
    }
}

#[test]
fn shipped_default_models_are_calibrated_for_the_default_detectors() {
    // Every model `predict` may pick by default (models/defaults.toml; aflw19 is calibrated for
    // no detector: they do not find faces filling a 120-px AFLW crop) and every infant model
    // crops the boxes of each detector of the default list by its own fit: a detector without one
    // would crop its boxes with another detector's geometry (scripts/ship_models.sh fits them).
    use facealign_infer::model_file::{default_model_in, ModelFile};
    let names = [
        "adult68",
        "adult68-fast",
        "adult68-heatmap",
        "adult68-heatmap-lite",
        "adult5",
        "infant68",
        "infant68-heatmap",
        "infant68-heatmap-lite",
    ];
    for scheme in facealign_core::SchemeId::ALL {
        let path = match default_model_in(&repo().join("models"), scheme) {
            Ok(path) => path,
            // Schemes without a shipped default (COFW, WFLW) have no entry.
            Err(e) if e.to_string().contains("no default model for the") => continue,
            Err(e) => panic!("{}: {e}", scheme.name()),
        };
        let name = path.file_stem().unwrap().to_str().unwrap();
        assert!(
            name == "aflw19" || names.contains(&name),
            "defaults.toml names {name} for {}",
            scheme.name()
        );
    }
    for name in names {
        let m = ModelFile::open(&shipped(name)).unwrap();
        for det in facealign_infer::DEFAULT_DETECTORS.split(',') {
            let c = m.calibration(det).unwrap();
            assert!(c.is_some(), "{name} has no calibration for {det}");
        }
    }
}

/// A copy of a shipped heatmap model with the head's weights 0 and its bias `bias` (so every
/// heatmap logit equals `bias`), written into `dir`.
fn constant_logit_heatmap_model(dir: &Path, src: &str, bias: f32) -> PathBuf {
    let bytes = std::fs::read(shipped(src)).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(&bytes).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let encode = |dtype: safetensors::Dtype, v: f32| -> Vec<u8> {
        match dtype {
            safetensors::Dtype::F32 => v.to_le_bytes().to_vec(),
            safetensors::Dtype::F16 => f16::from_f32(v).to_le_bytes().to_vec(),
            d => panic!("unexpected dtype {d:?}"),
        }
    };
    let mut owned: Vec<(String, safetensors::Dtype, Vec<usize>, Vec<u8>)> = Vec::new();
    for (name, t) in st.tensors() {
        let n: usize = t.shape().iter().product();
        let data = match name.as_str() {
            "head.weight" => encode(t.dtype(), 0.0).repeat(n),
            "head.bias" => encode(t.dtype(), bias).repeat(n),
            _ => t.data().to_vec(),
        };
        owned.push((name, t.dtype(), t.shape().to_vec(), data));
    }
    assert!(
        owned.iter().any(|t| t.0 == "head.bias"),
        "{src} has a head bias"
    );
    let views: Vec<(String, safetensors::tensor::TensorView<'_>)> = owned
        .iter()
        .map(|(n, d, s, b)| {
            (
                n.clone(),
                safetensors::tensor::TensorView::new(*d, s.clone(), b).unwrap(),
            )
        })
        .collect();
    let out = dir.join(format!("{src}-bias{bias}.safetensors"));
    let bytes = safetensors::serialize(views, meta.metadata().clone()).unwrap();
    std::fs::write(&out, bytes).unwrap();
    out
}

#[test]
fn heatmap_logits_past_exp_overflow_decode_like_any_others() {
    // Every logit equal: softplus maps every cell to the same value, the soft-argmax of a
    // uniform w×w map is the centre cell (w − 1)/2, i.e. u = ((w/2)·S/w − 0.5)/S − 0.5 = −0.5/S
    // for every point. At logit 200 ln(1 + e²⁰⁰) overflows f32: tract's own Softplus gave ∞,
    // then ∞/∞ = NaN landmarks (a sharp 5-point model reached such logits, session 25); the
    // graph's max(x, 0) + ln(1 + e^−|x|) gives 200.
    let dir = tempfile::tempdir().unwrap();
    for bias in [10.0f32, 200.0] {
        let path = constant_logit_heatmap_model(dir.path(), "aflw19", bias);
        let net = TractNet::from_model_file(&path, TractOptions::with_threads(1)).unwrap();
        let s = net.input_size();
        let out = net.run(&pseudo_images(2, s), 2).unwrap();
        assert_eq!(out.len(), 2 * 2 * net.n_points());
        let want = -0.5 / s as f32;
        for (k, v) in out.iter().enumerate() {
            assert!(
                (v - want).abs() < 1e-5,
                "logit {bias}: output {k} = {v}, want {want}"
            );
        }
    }
}

#[test]
fn a_predictor_loaded_in_parallel_equals_the_sequential_one() {
    // `Predictor::load_parallel` builds the network on a second thread while the detector is
    // built: same faces and landmarks as `Predictor::new`; the loader's error and a bad
    // detector list are reported as before.
    use facealign_infer::model_file::{Locations, ModelFile};
    use facealign_infer::{Error, Predictor};
    let loc = Locations::at(&repo());
    let path = shipped("adult68-heatmap-lite");
    let load = || -> Result<(ModelFile, Box<dyn facealign_infer::CropNet>), Error> {
        let net = TractNet::from_model_file(&path, TractOptions::with_threads(1))?;
        Ok((ModelFile::open(&path)?, Box::new(net)))
    };
    let dir = |n: &str| loc.detector_dir(n);
    let (model, net) = load().unwrap();
    let mut seq = Predictor::new(model, net, "ultraface-rfb,yunet-320", &loc).unwrap();
    let mut par = Predictor::load_parallel(load, "ultraface-rfb,yunet-320", dir, false).unwrap();
    assert_eq!(par.detector_name, seq.detector_name);
    assert_eq!(par.calibration, seq.calibration);
    let photo = repo().join("../shared/data/fixtures/dlib/2008_001322.jpg");
    let img = image::open(&photo).unwrap().to_rgb8();
    let want = seq.predict(&img).unwrap();
    assert!(!want.is_empty());
    assert_eq!(par.predict(&img).unwrap(), want);
    let missing = || -> Result<(ModelFile, Box<dyn facealign_infer::CropNet>), Error> {
        let p = repo().join("models/no-such-model.safetensors");
        let net = TractNet::from_model_file(&p, TractOptions::with_threads(1))?;
        Ok((ModelFile::open(&p)?, Box::new(net)))
    };
    let err = Predictor::load_parallel(missing, "ultraface-rfb", dir, false)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("no-such-model.safetensors"), "{err}");
    let err = Predictor::load_parallel(load, "yunet,yunet", dir, true)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("detector") && err.contains("yunet,yunet"),
        "{err}"
    );
}
