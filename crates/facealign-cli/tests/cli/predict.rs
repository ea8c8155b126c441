//! `facealign predict`: faces on real photos, JSON, overlays, a broken image in a folder, a phone
//! photo stored sideways. Tests with the tiny trained model need the `train` feature; the others
//! run the shipped default model.
#[cfg(feature = "train")]
use super::{fails, tiny_model, with_model, PHOTO, PHOTO_FACE_BOX};
use super::{ok, tempdir};

#[cfg(feature = "train")]
#[test]
fn a_broken_image_is_reported_and_skipped() {
    let model = tiny_model();
    let dir = tempdir();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    let src = super::repo_root().join("../shared/data/fixtures/dlib");
    std::fs::copy(src.join("2008_001322.jpg"), photos.join("a.jpg")).unwrap();
    std::fs::write(photos.join("b.jpg"), b"this is not a jpeg").unwrap();
    std::fs::copy(src.join("2009_004587.jpg"), photos.join("c.jpg")).unwrap();
    let json = dir.path().join("out.json");
    let draw = dir.path().join("draw");
    let text = ok(&with_model(
        "predict",
        &model,
        &[
            photos.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
            "--draw",
            draw.to_str().unwrap(),
        ],
    ));
    assert!(
        text.contains("3 image(s)") && text.contains("1 unreadable"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let images = v["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    assert!(images[1]["error"].is_string());
    // dlib's annotation of 2008_001322.jpg has 3 faces; the default detector finds all of them.
    let faces = images[0]["faces"].as_array().unwrap();
    assert_eq!(faces.len(), 3);
    assert_eq!(faces[0]["landmarks"].as_array().unwrap().len(), 68);
    assert_eq!(v["coordinates"], "image_px");
    assert_eq!(
        std::fs::read_dir(&draw).unwrap().count(),
        2,
        "overlays for the two readable images"
    );
}

#[cfg(feature = "train")]
#[test]
fn a_given_box_skips_detection_and_bad_boxes_are_errors() {
    let model = tiny_model();
    let text = ok(&with_model(
        "predict",
        &model,
        &[PHOTO, "--box", PHOTO_FACE_BOX],
    ));
    assert!(text.contains("1 face(s)"), "{text}");
    let e = fails(&with_model("predict", &model, &[PHOTO, "--box", "1,2,3"]));
    assert!(e.contains("--box"), "{e}");
    // A box under a pixel holds no face (it was accepted).
    let e = fails(&with_model(
        "predict",
        &model,
        &[PHOTO, "--box", "0,0,1e-30,1e-30"],
    ));
    assert!(
        e.contains("--box 0,0,1e-30,1e-30: expected four finite numbers x, y, w, h")
            && e.contains("with w, h ≥ 1 pixel"),
        "{e}"
    );
    let e = fails(&with_model("predict", &model, &["/no/such/photo.jpg"]));
    assert!(e.contains("/no/such/photo.jpg"), "{e}");
}

#[test]
fn a_phone_photo_stored_sideways_is_predicted_upright() {
    use image::ImageEncoder;
    // The photo as a phone stores it: pixels turned 90° anticlockwise, with EXIF orientation 6
    // ("turn 90° clockwise to show"). predict shows it upright first, so it finds the same faces
    // at the same points as in the upright photo (the same pixels: PNG is lossless).
    let src = super::repo_root().join("../shared/data/fixtures/dlib/2009_004587.jpg");
    let upright = image::open(&src).unwrap().to_rgb8();
    let stored = image::imageops::rotate270(&upright);
    let dir = tempdir();
    let (a, b) = (
        dir.path().join("upright.png"),
        dir.path().join("turned.png"),
    );
    upright.save(&a).unwrap();
    // A little-endian TIFF block with one tag: Orientation (0x0112, SHORT) = 6.
    let mut exif = b"II*\0".to_vec();
    for (v, n) in [
        (8u32, 4),
        (1, 2),
        (0x0112, 2),
        (3, 2),
        (1, 4),
        (6, 2),
        (0, 2),
        (0, 4),
    ] {
        exif.extend_from_slice(&v.to_le_bytes()[..n]);
    }
    let mut png = Vec::new();
    let mut enc = image::codecs::png::PngEncoder::new(&mut png);
    enc.set_exif_metadata(exif).unwrap();
    let (w, h) = stored.dimensions();
    enc.write_image(&stored, w, h, image::ExtendedColorType::Rgb8)
        .unwrap();
    std::fs::write(&b, png).unwrap();
    let json = dir.path().join("out.json");
    ok(&[
        "predict",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let (first, second) = (&v["images"][0], &v["images"][1]);
    assert_eq!(first["width"], upright.width());
    assert_eq!(second["width"], upright.width(), "reported upright");
    assert_eq!(second["exif_orientation"], 6);
    assert!(first.get("exif_orientation").is_none(), "{first}");
    assert_eq!(first["faces"].as_array().unwrap().len(), 2, "{first}");
    assert_eq!(first["faces"], second["faces"]);
}

#[test]
fn webp_and_tiff_photos_are_read_and_a_run_with_no_readable_image_fails() {
    // The same pixels as PNG, WebP and TIFF (all three lossless) in one folder: three images, the
    // same faces at the same points in each.
    let src = super::repo_root().join("../shared/data/fixtures/dlib/2009_004587.jpg");
    let img = image::open(&src).unwrap().to_rgb8();
    let dir = tempdir();
    let photos = dir.path().join("photos");
    std::fs::create_dir(&photos).unwrap();
    for name in ["a.png", "b.webp", "c.tif"] {
        img.save(photos.join(name)).unwrap();
    }
    let json = dir.path().join("out.json");
    let text = ok(&[
        "predict",
        photos.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        text.contains("3 image(s), 6 face(s), 0 unreadable"),
        "{text}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let faces: Vec<_> = (0..3).map(|i| &v["images"][i]["faces"]).collect();
    assert_eq!(faces[0].as_array().unwrap().len(), 2);
    assert_eq!((faces[0], faces[0]), (faces[1], faces[2]));
    // One GIF given by name (a 1x1 header: the format is read from the bytes and refused):
    // reported in the JSON, and the run fails (exit status 1).
    let gif = dir.path().join("face.gif");
    std::fs::write(&gif, b"GIF89a\x01\x00\x01\x00\x00\x00\x00;").unwrap();
    let e = super::fails(&[
        "predict",
        gif.to_str().unwrap(),
        "--json",
        json.to_str().unwrap(),
    ]);
    assert!(
        e.contains("face.gif: cannot read image: Gif is not supported")
            && e.contains("none of the 1 image(s) could be read"),
        "{e}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    assert!(v["images"][0]["error"].is_string(), "{v}");
}

#[test]
fn the_default_detectors_search_with_yunet_where_ultraface_finds_no_face() {
    // An infant in profile (InfAnFace ads-19251_Still070) that UltraFace misses and YuNet finds:
    // predict's default list finds it, and says which detectors searched; UltraFace alone finds
    // nothing. A model without a calibration for one detector of the list is named in the note.
    let photo = super::repo_root().join("../shared/data/infanface/train/ads-19251_Still070.jpg");
    let dir = tempdir();
    let json = dir.path().join("out.json");
    let faces = |model: &str, extra: &[&str]| {
        let mut args = vec![
            "predict",
            photo.to_str().unwrap(),
            "--model",
            model,
            "--json",
            json.to_str().unwrap(),
        ];
        args.extend_from_slice(extra);
        let out = super::facealign(&args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert!(out.status.success(), "{args:?}: {stderr}");
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
        let found = v["images"][0]["faces"].as_array().unwrap();
        let by: Vec<_> = found.iter().map(|f| f.get("detector").cloned()).collect();
        (v["detector"].as_str().unwrap().to_string(), by, stderr)
    };
    // The face names the detector of the list that found it.
    let yunet = Some(serde_json::json!("yunet-320"));
    let (detector, by, note) = faces("infant68-heatmap-lite", &[]);
    assert_eq!(
        (detector.as_str(), by),
        ("ultraface-rfb,yunet-320", vec![yunet.clone()])
    );
    assert!(!note.contains("no calibration"), "{note}");
    let (detector, by, _) = faces("infant68-heatmap-lite", &["--detector", "ultraface-rfb"]);
    assert_eq!((detector.as_str(), by.len()), ("ultraface-rfb", 0));
    // infanface-mnv2-l2 (the ACR study's model) is calibrated for UltraFace only.
    let (_, by, note) = faces("infanface-mnv2-l2", &[]);
    assert_eq!(by, vec![yunet]);
    assert!(
        note.contains("no calibration for detector yunet-320;"),
        "{note}"
    );
}
