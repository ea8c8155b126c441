//! Integration tests of the detectors on real photos (the dlib example images with their
//! annotated face boxes) and on degenerate images.
mod common;

use std::path::Path;

use common::{dlib_photos, evaluate, MODELS};
use facealign_detect::geometry::iou_xywh;
use facealign_detect::{open, open_lazy, DEFAULT_DETECTOR, DETECTORS};

#[test]
fn dlib_boxes_parse() {
    let test = dlib_photos("testing_with_face_landmarks.xml");
    let train = dlib_photos("training_with_face_landmarks.xml");
    // `grep -c "<box"`: 25 boxes in 5 test images, 18 in 4 training images.
    assert_eq!(
        (
            test.len(),
            test.iter().map(|p| p.boxes.len()).sum::<usize>()
        ),
        (5, 25)
    );
    assert_eq!(
        (
            train.len(),
            train.iter().map(|p| p.boxes.len()).sum::<usize>()
        ),
        (4, 18)
    );
    // First box: top='181' left='274' width='52' height='53' → x = 273.5, y = 180.5.
    let b = test[0].boxes[0];
    assert_eq!((b.x, b.y, b.w, b.h), (273.5, 180.5, 52.0, 53.0));
    assert!(test[0].path.ends_with("2008_002470.jpg"));
}

#[test]
fn best_detectors_recall_on_dlib_photos() {
    let mut photos = dlib_photos("testing_with_face_landmarks.xml");
    photos.extend(dlib_photos("training_with_face_landmarks.xml"));
    assert_eq!(DEFAULT_DETECTOR, DETECTORS[0]);
    for name in [DEFAULT_DETECTOR, "yunet", "yunet-320"] {
        let mut det = open(name, Path::new(MODELS)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let s = evaluate(det.as_mut(), &photos, 0.3);
        eprintln!("{name}: {s:?}");
        assert!(
            s.recall() >= 0.8,
            "{name} recall {} < 0.8 ({s:?})",
            s.recall()
        );
        // Matched boxes overlap well beyond the threshold on average.
        assert!(s.mean_iou() >= 0.5, "{name}: {s:?}");
    }
}

/// Keypoints land on the annotated eyes: YuNet's and BlazeFace's keypoint 0 is the subject's
/// right eye (image left), iBUG points 36–41; keypoint 1 the left eye, points 42–47. Checks
/// the input→image_px map of points, not only boxes. Errors in inter-ocular distances.
#[test]
fn keypoints_match_annotated_eyes() {
    let mut photos = dlib_photos("testing_with_face_landmarks.xml");
    photos.extend(dlib_photos("training_with_face_landmarks.xml"));
    let mean = |pts: &[[f32; 2]]| {
        let n = pts.len() as f32;
        [
            pts.iter().map(|p| p[0]).sum::<f32>() / n,
            pts.iter().map(|p| p[1]).sum::<f32>() / n,
        ]
    };
    for name in ["yunet", "yunet-320", "blazeface"] {
        let mut det = open(name, Path::new(MODELS)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut errors = Vec::new();
        for p in &photos {
            let dets = det
                .detect(&common::load(&p.path))
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            for (b, lm) in p.boxes.iter().zip(&p.landmarks) {
                let Some(d) = dets.iter().find(|d| iou_xywh(b, &d.bbox) >= 0.3) else {
                    continue;
                };
                let k = d.keypoints.as_ref().expect("keypoints");
                let (right, left) = (mean(&lm[36..42]), mean(&lm[42..48]));
                let iod = ((right[0] - left[0]).powi(2) + (right[1] - left[1]).powi(2)).sqrt();
                for (kp, eye) in [(k[0], right), (k[1], left)] {
                    let err = ((kp[0] - eye[0]).powi(2) + (kp[1] - eye[1]).powi(2)).sqrt();
                    errors.push(err / iod);
                }
            }
        }
        // Measured: median ≈ 0.08 (YuNet) and 0.10 (BlazeFace) of the inter-ocular distance,
        // worst 0.48 (a turned face); swapped eyes would give ≈ 1.
        errors.sort_by(f32::total_cmp);
        assert!(
            errors.len() >= 10,
            "{name}: only {} eyes checked",
            errors.len()
        );
        let (median, worst) = (errors[errors.len() / 2], errors[errors.len() - 1]);
        assert!(
            median < 0.15 && worst < 0.75,
            "{name}: median {median}, worst {worst} (× iod)"
        );
    }
}

#[test]
fn a_lazily_opened_detector_finds_what_the_opened_one_finds() {
    // open_lazy builds the network on the first search: same name, same boxes and scores.
    let photos = dlib_photos("testing_with_face_landmarks.xml");
    let img = common::load(&photos[0].path);
    for name in ["yunet-320", "ultraface-rfb"] {
        let mut eager = open(name, Path::new(MODELS)).unwrap();
        let mut lazy = open_lazy(name, Path::new(MODELS)).unwrap();
        assert_eq!(lazy.name(), name);
        let (a, b) = (eager.detect(&img).unwrap(), lazy.detect(&img).unwrap());
        assert!(!a.is_empty(), "{name}");
        assert_eq!(a.len(), b.len(), "{name}");
        for (x, y) in a.iter().zip(&b) {
            assert_eq!((x.bbox, x.score), (y.bbox, y.score), "{name}");
        }
        // A second search reuses the network built by the first.
        assert_eq!(lazy.detect(&img).unwrap().len(), b.len());
    }
    // The name and the model file are checked at once, not at the first search.
    let tmp = std::env::temp_dir().join(format!("facealign-lazy-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).unwrap();
    let err = open_lazy("yunet-320", &tmp)
        .err()
        .expect("no model file")
        .to_string();
    assert!(err.contains("face_detection_yunet.onnx"), "{err}");
    let err = open_lazy("no-such", Path::new(MODELS))
        .err()
        .expect("unknown")
        .to_string();
    assert!(err.contains("unknown detector `no-such`"), "{err}");
    std::fs::remove_dir_all(&tmp).ok();
}

#[test]
fn every_detector_runs_on_a_photo_and_boxes_are_sane() {
    let photos = dlib_photos("testing_with_face_landmarks.xml");
    // 2008_002470.jpg: one 52 px face plus others (500×332).
    let img = common::load(&photos[0].path);
    for name in DETECTORS {
        let mut det = open(name, Path::new(MODELS)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(det.name(), *name);
        let dets = det.detect(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
        for d in &dets {
            let b = d.bbox;
            assert!(
                b.x.is_finite() && b.y.is_finite() && b.w > 0.0 && b.h > 0.0,
                "{name}: {d:?}"
            );
            // Box centres lie in the image.
            let c = b.center();
            assert!(
                (0.0..500.0).contains(&c[0]) && (0.0..332.0).contains(&c[1]),
                "{name}: {d:?}"
            );
            if let Some(k) = &d.keypoints {
                // Keypoints lie inside the box enlarged by half its size on each side.
                for p in k {
                    assert!(
                        p[0] > b.x - b.w / 2.0 && p[0] < b.x + 1.5 * b.w,
                        "{name}: {d:?}"
                    );
                    assert!(
                        p[1] > b.y - b.h / 2.0 && p[1] < b.y + 1.5 * b.h,
                        "{name}: {d:?}"
                    );
                }
            }
        }
        // Scores are sorted, highest first.
        assert!(dets.windows(2).all(|w| w[0].score >= w[1].score), "{name}");
    }
}

#[test]
fn blank_and_tiny_images_give_no_faces_and_no_panic() {
    let blank_grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    let blank_black = image::RgbImage::new(200, 300);
    for name in DETECTORS {
        let mut det = open(name, Path::new(MODELS)).unwrap_or_else(|e| panic!("{name}: {e}"));
        for img in [&blank_grey, &blank_black] {
            let dets = det.detect(img).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert!(dets.is_empty(), "{name} found {dets:?} in a blank image");
        }
        for (w, h) in [(8, 8), (1, 1), (0, 0), (1, 64)] {
            let r = det.detect(&image::RgbImage::new(w, h));
            assert!(r.is_ok(), "{name} on {w}×{h}: {r:?}");
        }
    }
}

#[test]
fn prepared_inputs_give_the_same_faces_as_detect() {
    // The pipeline of `predict` prepares a detector's input on its loading thread: the faces
    // must be exactly those of `detect`, and an input prepared from another image is redone.
    let photos = dlib_photos("testing_with_face_landmarks.xml");
    let img = common::load(&photos[0].path);
    let other = common::load(&photos[1].path);
    assert_ne!(img.dimensions(), other.dimensions());
    for name in DETECTORS {
        let mut det = open(name, Path::new(MODELS)).unwrap_or_else(|e| panic!("{name}: {e}"));
        let split = name.starts_with("ultraface");
        assert_eq!(det.preprocess().is_some(), split, "{name}");
        let Some(pre) = det.preprocess() else {
            continue;
        };
        let want = det.detect(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(!want.is_empty(), "{name}");
        let got = det.detect_prepared(&img, pre.prepare(&img)).unwrap();
        assert_eq!(got, want, "{name}");
        let redone = det.detect_prepared(&img, pre.prepare(&other)).unwrap();
        assert_eq!(redone, want, "{name}: an input of another image is redone");
        let empty = image::RgbImage::new(0, 0);
        assert!(det
            .detect_prepared(&empty, pre.prepare(&empty))
            .unwrap()
            .is_empty());
    }
}
