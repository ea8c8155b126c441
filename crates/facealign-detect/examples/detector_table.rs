//! Compare every detector on the dlib example photos (test and training XML) and on the
//! InfAnFace training crops (infant faces, box = 68-landmark extent): faces found /
//! annotated (recall at IoU ≥ 0.3), mean IoU of the found faces, unmatched detections and
//! milliseconds per image (debug builds are slow; compare detectors with each other only).
//!
//! Run from the repository root with `../shared` beside it:
//! `cargo run -p facealign-detect --example detector_table`
#[path = "../tests/common/mod.rs"]
mod common;

use std::path::Path;

use facealign_detect::{open, DETECTORS};

fn main() {
    let splits = [
        ("test", "testing_with_face_landmarks.xml"),
        ("train", "training_with_face_landmarks.xml"),
    ];
    println!("| detector | photos | found / annotated | recall | mean IoU | unmatched dets | ms / image |");
    println!("|---|---|---|---|---|---|---|");
    for name in DETECTORS {
        let mut det = match open(name, Path::new(common::MODELS)) {
            Ok(d) => d,
            Err(e) => {
                println!("| {name} | cannot open: {e} |||||");
                continue;
            }
        };
        // Warm-up so the first call's allocations are not timed.
        let _ = det.detect(&image::RgbImage::new(64, 64));
        let mut sets: Vec<(&str, Vec<common::Photo>)> = splits
            .iter()
            .map(|(split, xml)| (*split, common::dlib_photos(xml)))
            .collect();
        let infant = Path::new(common::DLIB).join("../../infanface/train");
        if infant.is_dir() {
            sets.push(("infanface", common::pts_photos(&infant, usize::MAX)));
        }
        for (split, photos) in &sets {
            let s = common::evaluate(det.as_mut(), photos, 0.3);
            println!(
                "| {name} | {split} ({}) | {} / {} | {:.2} | {:.2} | {} | {:.0} |",
                s.images,
                s.found,
                s.annotated,
                s.recall(),
                s.mean_iou(),
                s.unmatched,
                s.millis / s.images.max(1) as f64
            );
        }
    }
}
