//! Issue 17: the detectors' resize, the image crate's Triangle filter against
//! `fast_image_resize`'s SIMD bilinear convolution (`facealign_detect::resize_bilinear`, what the
//! detectors call), on a bundled photo resized to 500×375 and then to UltraFace's 320×240; the two
//! run interleaved (200 rounds) and the medians are printed.
//! `cargo run --release -p facealign-detect --example resize_bench`
use std::time::Instant;

use facealign_detect::resize_bilinear;
use image::imageops;

fn main() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/data/fixtures/dlib/2008_001322.jpg"
    );
    let photo = match facealign_core::imageio::decode_rgb(path.as_ref()) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("resize_bench: {e}");
            std::process::exit(1);
        }
    };
    let img = imageops::resize(&photo, 500, 375, imageops::FilterType::Triangle);
    let (mut slow, mut fast) = (Vec::new(), Vec::new());
    for _ in 0..200 {
        let t = Instant::now();
        std::hint::black_box(imageops::resize(
            &img,
            320,
            240,
            imageops::FilterType::Triangle,
        ));
        slow.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        std::hint::black_box(resize_bilinear(&img, 320, 240));
        fast.push(t.elapsed().as_secs_f64() * 1e3);
    }
    slow.sort_by(f64::total_cmp);
    fast.sort_by(f64::total_cmp);
    let (a, b) = (slow[100], fast[100]);
    println!(
        "500x375 -> 320x240, median of 200: image Triangle {a:.3} ms, fast_image_resize Bilinear {b:.3} ms ({:.1}x)",
        a / b
    );
}
