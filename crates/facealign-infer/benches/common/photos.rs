//! The one-face photos of the end-to-end benchmark (issue 17: "≤ 10 ms per 500×375 photo with
//! one face"): five bundled fixture photos with one face each (two 300VW frames, two 300W
//! images, one AFLW image: faces of 70-250 px in the result), each cut to a 4:3 region around its
//! face (hand-picked from the fixtures' annotations) and resized to 500×375, JPEG quality 90.
//! Shared by `benches/end_to_end.rs` and `examples/bench_photos.rs`.
use std::path::PathBuf;

use image::{imageops, ImageEncoder, RgbImage};

/// Fixture photos (relative to `../shared/data/fixtures/mmpose`) and the 4:3 region
/// (x, y, w, h in pixels) cut from each.
pub const FRAMES: [(&str, [u32; 4]); 5] = [
    ("300vw/001/imgs/000006.jpg", [320, 0, 960, 720]),
    ("300w/indoor_029.png", [0, 100, 960, 720]),
    ("aflw/image22568.jpg", [0, 100, 853, 640]),
    ("300vw/001/imgs/000009.jpg", [320, 0, 960, 720]),
    ("300w/indoor_020.png", [0, 200, 726, 544]),
];

pub fn fixture_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fixtures/mmpose"
    ))
}

/// A fixture photo's region resized to 500×375.
pub fn photo((file, [x, y, w, h]): (&str, [u32; 4])) -> RgbImage {
    let path = fixture_dir().join(file);
    let img = image::open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    let cut = imageops::crop_imm(&img, x, y, w, h).to_image();
    assert_eq!(
        cut.dimensions(),
        (w, h),
        "{file}: the region lies inside the photo"
    );
    imageops::resize(&cut, 500, 375, imageops::FilterType::Triangle)
}
/// JPEG bytes (quality 90) of an image.
pub fn jpeg(img: &RgbImage) -> Vec<u8> {
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 90)
        .write_image(
            img,
            img.width(),
            img.height(),
            image::ExtendedColorType::Rgb8,
        )
        .expect("JPEG encodes");
    out
}
