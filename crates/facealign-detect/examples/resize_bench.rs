//! Issue 17: the detectors' resize, the image crate's Triangle filter against
//! `fast_image_resize`'s SIMD bilinear convolution (what `onnx::resize_bilinear` uses), on a
//! bundled photo resized to 500×375 and then to UltraFace's 320×240; the two run interleaved
//! (200 rounds) and the medians are printed.
//! `cargo run --release -p facealign-detect --example resize_bench`
use std::time::Instant;

use fast_image_resize::{images::Image, images::ImageRef, FilterType, PixelType};
use fast_image_resize::{ResizeAlg, ResizeOptions, Resizer};
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
    let opts = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear));
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
        let src = ImageRef::new(500, 375, img.as_raw(), PixelType::U8x3).expect("500x375 RGB");
        let mut dst = Image::new(320, 240, PixelType::U8x3);
        Resizer::new()
            .resize(&src, &mut dst, &opts)
            .expect("resize");
        std::hint::black_box(image::RgbImage::from_raw(320, 240, dst.into_vec()));
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
