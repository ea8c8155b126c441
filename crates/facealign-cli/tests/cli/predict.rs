//! `facealign predict`: faces on real photos, JSON, overlays, a broken image in a folder.
use super::{fails, ok, tempdir, tiny_model, with_model, PHOTO, PHOTO_FACE_BOX};

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
    let e = fails(&with_model("predict", &model, &["/no/such/photo.jpg"]));
    assert!(e.contains("/no/such/photo.jpg"), "{e}");
}
