//! `facealign model summary|export` and `facealign bench`.
use super::{fails, ok, tempdir, tiny_model, PHOTO, PHOTO_FACE_BOX};

#[test]
fn summary_counts_match_the_published_numbers() {
    // ASMNet with 68 points and pose: 1,412,435 trainable parameters (+27,072 BN statistics =
    // 1.44 M as Keras counts, the paper's 1.43 M); 256.5 M MACs = 0.51 GFLOPs at 224.
    let text = ok(&[
        "model", "summary", "asmnet", "--size", "224", "--points", "68",
    ]);
    assert!(text.contains("total params 1412435"), "{text}");
    let e = fails(&["model", "summary", "resnet9000"]);
    assert!(e.contains("resnet9000"), "{e}");
    // Issue 15: the spellings people type are aliases of mobilenet_v2 (the same table: 2,398,088
    // parameters, 55.2 M multiply-adds at 96 px and 68 points).
    let canonical = ok(&["model", "summary", "mobilenet_v2", "--size", "96"]);
    for alias in ["mobilenetv2", "mobilenet-v2"] {
        assert_eq!(
            ok(&["model", "summary", alias, "--size", "96"]),
            canonical,
            "{alias}"
        );
    }
    // Session 12: `--width` (MobileNetV2's multiplier). At 0.25 every block's channels round up
    // to multiples of 8 and the last 1×1 convolution keeps 1,280 channels (Keras' rule for widths
    // below 1): 412,328 parameters, 6.8 M multiply-adds at 96 px, an eighth of width 1's 55.2 M.
    let quarter = ok(&[
        "model",
        "summary",
        "mobilenetv2",
        "--size",
        "96",
        "--width",
        "0.25",
    ]);
    assert!(
        quarter.contains("total params 412328, mult-adds 6.8 M at 96×96"),
        "{quarter}"
    );
    assert!(
        canonical.contains("mult-adds 55.2 M at 96×96"),
        "{canonical}"
    );
    let e = fails(&["model", "summary", "asmnet", "--width", "0.5"]);
    assert!(e.contains("--width") && e.contains("mobilenet_v2"), "{e}");
    let e = fails(&["model", "summary", "mobilenet_v2", "--width=-1"]);
    assert!(e.contains("width"), "{e}");
    // Session 14: `--decoder separable` (the heatmap model's light decoder) takes 130.8 − 63.3
    // = 67.5 M multiply-adds off the dense decoder at 96 px (76.97 M − 9.52 M, counted by hand in
    // the model's unit test).
    let dense = ok(&["model", "summary", "heatmap", "--size", "96"]);
    assert!(dense.contains("mult-adds 130.8 M at 96×96"), "{dense}");
    let light = ok(&[
        "model",
        "summary",
        "heatmap",
        "--size",
        "96",
        "--decoder",
        "separable",
    ]);
    assert!(light.contains("mult-adds 63.3 M at 96×96"), "{light}");
    let e = fails(&["model", "summary", "heatmap", "--decoder", "sparse"]);
    assert!(e.contains("separable"), "{e}");
    let e = fails(&["model", "summary", "asmnet", "--decoder", "dense"]);
    assert!(e.contains("heatmap only"), "{e}");
}

#[test]
fn export_halves_the_file_and_keeps_predictions() {
    let model = tiny_model();
    let dir = tempdir();
    let out = dir.path().join("small.safetensors");
    ok(&[
        "model",
        "export",
        model.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    let (big, small) = (
        std::fs::metadata(&model).unwrap().len(),
        std::fs::metadata(&out).unwrap().len(),
    );
    // best.safetensors holds f32 weights only (no optimiser state); f16 halves the tensor bytes,
    // the header and metadata stay: a little over half.
    assert!(
        (small as f64) < 0.55 * big as f64 && (small as f64) > 0.45 * big as f64,
        "{small} vs {big}"
    );
    // The full and the f16 model on the same face: the same landmarks within half a pixel.
    for (m, json) in [(&model, "a.json"), (&out, "b.json")] {
        let json = dir.path().join(json);
        let args = [
            PHOTO,
            "--box",
            PHOTO_FACE_BOX,
            "--json",
            json.to_str().unwrap(),
        ];
        let text = ok(&super::with_model("predict", m, &args));
        assert!(text.contains("1 face(s)"), "{text}");
    }
    let pts = |f: &str| -> Vec<f64> {
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.path().join(f)).unwrap()).unwrap();
        v["images"][0]["faces"][0]["landmarks"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|p| [p[0].as_f64().unwrap(), p[1].as_f64().unwrap()])
            .collect()
    };
    let worst = pts("a.json")
        .iter()
        .zip(pts("b.json"))
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f64::max);
    assert!(worst < 0.5, "f16 export moved a landmark by {worst} px");
}

#[test]
fn bench_json_reports_the_flags_it_ran_with() {
    let text = ok(&[
        "bench",
        "--size",
        "32",
        "--batch",
        "2",
        "--steps",
        "2",
        "--warmup",
        "1",
        "--threads",
        "1",
        "--points",
        "5",
        "--no-data",
        "--json",
    ]);
    let v: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    // The flags reach the report; the timings are real (the keys: the bench's own test). No
    // data: no data-pipeline rate.
    let flags = (&v["size"], &v["batch"], &v["threads"], &v["points"]);
    assert_eq!(flags, (&32.into(), &2.into(), &1.into(), &5.into()), "{v}");
    assert!(
        v["train_img_per_s"].as_f64().is_some_and(|t| t > 0.0),
        "{v}"
    );
    assert!(v["infer_ms_b1"].as_f64().is_some_and(|t| t > 0.0), "{v}");
    assert!(v.get("crops_per_s").is_none(), "{v}");
}
