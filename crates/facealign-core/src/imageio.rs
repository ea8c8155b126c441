//! The one place image files are read: format sniffed from the bytes, truncation detected.
//!
//! - The format comes from the file's first bytes (`image::guess_format`), never its extension, so
//!   a PNG named `.jpg` reads the same everywhere (`data inspect`, `eval`, `predict`, training).
//! - Formats: JPEG, PNG, WebP, TIFF, PNM, BMP ([`IMAGE_EXTENSIONS`] lists their file names).
//! - A truncated file is an error, not a half-grey image: the JPEG decoder fills missing data
//!   without complaint, so a JPEG's marker segments are walked from SOI (each segment skipped by its
//!   length, each scan's entropy-coded data up to the next marker) and must reach the end-of-image
//!   marker `FF D9`. Bytes after EOI (padding, camera trailers) are ignored. A PNG's chunks are
//!   walked the same way up to `IEND`; a WebP must be as long as its RIFF header says. TIFF, PNM and
//!   BMP decoders report short pixel data themselves.
//! - [`image_dimensions`] reads the file and runs the same checks but decodes only the header
//!   (JPEG, PNG, WebP); a file whose compressed data is complete but corrupt is only caught by
//!   [`decode_rgb`].
//!
//! - Photos for prediction are decoded upright ([`decode_rgb_upright`]): a camera's EXIF
//!   orientation (a phone photo stored sideways with a tag saying so) is applied, as image viewers
//!   and OpenCV's `imread` do. Datasets are read as stored ([`decode_rgb`]): their annotations
//!   are on the stored pixels.
//!
//! Errors are [`Error::Image`] naming the file.
use std::io::Cursor;
use std::path::Path;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, RgbImage};

use crate::error::{Error, Result};

/// Formats this build decodes (the workspace enables these `image` features).
const SUPPORTED: [ImageFormat; 6] = [
    ImageFormat::Jpeg,
    ImageFormat::Png,
    ImageFormat::WebP,
    ImageFormat::Tiff,
    ImageFormat::Pnm,
    ImageFormat::Bmp,
];

/// What the bytes of a supported image may be, in messages.
const SUPPORTED_NAMES: &str = "JPEG, PNG, WebP, TIFF, PNM or BMP";

/// File extensions of the supported formats (lower case), for finding images in folders and beside
/// annotation files. The format itself is always read from the bytes.
pub const IMAGE_EXTENSIONS: [&str; 10] = [
    "jpg", "jpeg", "png", "webp", "tif", "tiff", "ppm", "pgm", "pnm", "bmp",
];

fn image_error(path: &Path, message: impl Into<String>) -> Error {
    Error::Image {
        path: path.to_path_buf(),
        message: message.into(),
    }
}

/// Decode the image at `path` as RGB8 (format sniffed from the bytes; truncation is an error).
pub fn decode_rgb(path: &Path) -> Result<RgbImage> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
    decode_rgb_bytes(&bytes, path)
}

/// [`decode_rgb`] on bytes already in memory; `path` names them in errors.
pub fn decode_rgb_bytes(bytes: &[u8], path: &Path) -> Result<RgbImage> {
    let format = checked_format(bytes, path)?;
    let img = image::load_from_memory_with_format(bytes, format)
        .map_err(|e| image_error(path, format!("{} decoding failed: {e}", name(format))))?;
    Ok(img.to_rgb8())
}

/// Decode the image at `path` as RGB8 the way it is meant to be seen: its EXIF orientation (if any)
/// applied. Returns the image and the EXIF orientation value applied (1 = none; 2-8 the EXIF
/// transforms). An unreadable or missing orientation counts as 1.
pub fn decode_rgb_upright(path: &Path) -> Result<(RgbImage, u8)> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
    decode_rgb_upright_bytes(&bytes, path)
}

/// [`decode_rgb_upright`] on bytes already in memory; `path` names them in errors.
pub fn decode_rgb_upright_bytes(bytes: &[u8], path: &Path) -> Result<(RgbImage, u8)> {
    let format = checked_format(bytes, path)?;
    let failed =
        |e: image::ImageError| image_error(path, format!("{} decoding failed: {e}", name(format)));
    let mut decoder = image::ImageReader::with_format(Cursor::new(bytes), format)
        .into_decoder()
        .map_err(failed)?;
    let orientation = decoder.orientation().unwrap_or(Orientation::NoTransforms);
    if !matches!(format, ImageFormat::Jpeg | ImageFormat::Png) {
        // These decoders allocate the whole pixel buffer from the header before reading any pixel:
        // hold them to the allocation limit `decode_rgb` gets from `ImageReader::decode`, so that a
        // forged header (100000x100000 in a 100-byte file) is an error, not an aborted process.
        let need = decoder.total_bytes();
        let limit = image::Limits::default().max_alloc.unwrap_or(u64::MAX);
        if need > limit {
            let (w, h) = decoder.dimensions();
            return Err(image_error(
                path,
                format!(
                    "{} header declares {w}x{h} pixels: {} MB decoded, above the decoder's limit \
                     of {} MB",
                    name(format),
                    need >> 20,
                    limit >> 20
                ),
            ));
        }
    }
    let mut img = DynamicImage::from_decoder(decoder).map_err(failed)?;
    img.apply_orientation(orientation);
    Ok((img.to_rgb8(), orientation.to_exif()))
}

/// Width and height of the image at `path` without decoding the pixels (format sniffed from the
/// bytes; a truncated file is an error, as in [`decode_rgb`]).
pub fn image_dimensions(path: &Path) -> Result<(u32, u32)> {
    let bytes = std::fs::read(path).map_err(|e| image_error(path, e.to_string()))?;
    image_dimensions_bytes(&bytes, path)
}

/// [`image_dimensions`] on bytes already in memory; `path` names them in errors.
pub fn image_dimensions_bytes(bytes: &[u8], path: &Path) -> Result<(u32, u32)> {
    let format = checked_format(bytes, path)?;
    match format {
        ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP => {
            image::ImageReader::with_format(Cursor::new(bytes), format)
                .into_dimensions()
                .map_err(|e| image_error(path, format!("{} header: {e}", name(format))))
        }
        // PNM and BMP are uncompressed: decoding is cheap and is what catches short pixel data.
        // TIFF's strips are found through offsets anywhere in the file: decoding checks them.
        _ => decode_rgb_bytes(bytes, path).map(|img| img.dimensions()),
    }
}

fn name(format: ImageFormat) -> &'static str {
    match format {
        ImageFormat::Jpeg => "JPEG",
        ImageFormat::Png => "PNG",
        ImageFormat::Pnm => "PNM",
        ImageFormat::Bmp => "BMP",
        ImageFormat::WebP => "WebP",
        ImageFormat::Tiff => "TIFF",
        _ => "image",
    }
}

/// The sniffed format, if supported and (for JPEG and PNG) structurally complete.
fn checked_format(bytes: &[u8], path: &Path) -> Result<ImageFormat> {
    let format = image::guess_format(bytes).map_err(|_| {
        image_error(
            path,
            if bytes.is_empty() {
                "the file is empty".to_string()
            } else {
                format!("unrecognised format: the bytes are not {SUPPORTED_NAMES}")
            },
        )
    })?;
    if !SUPPORTED.contains(&format) {
        return Err(image_error(
            path,
            format!(
                "{format:?} is not supported (the bytes must be {SUPPORTED_NAMES}, whatever the \
                 extension)"
            ),
        ));
    }
    let problem = match format {
        ImageFormat::Jpeg => jpeg_truncation(bytes),
        ImageFormat::Png => png_truncation(bytes),
        ImageFormat::WebP => webp_truncation(bytes),
        _ => None,
    };
    match problem {
        Some(why) => Err(image_error(
            path,
            format!("truncated {}: {why}", name(format)),
        )),
        None => Ok(format),
    }
}

/// Why a JPEG stream (starting with SOI `FF D8`) does not reach its end-of-image marker, or `None`
/// when it does. Walks the marker segments: standalone markers (RSTn, TEM), length-prefixed
/// segments, and after each SOS the entropy-coded data up to the next marker (`FF 00` stuffing and
/// RSTn belong to the data). Stray bytes between segments are skipped, as libjpeg does.
fn jpeg_truncation(b: &[u8]) -> Option<String> {
    const MISSING_EOI: &str = "the data ends before the end-of-image marker (FF D9)";
    let mut i = 2;
    loop {
        // Next marker: 0xFF, any fill 0xFFs, then the marker code.
        while i < b.len() && b[i] != 0xFF {
            i += 1;
        }
        while i < b.len() && b[i] == 0xFF {
            i += 1;
        }
        let Some(&m) = b.get(i) else {
            return Some(MISSING_EOI.into());
        };
        i += 1;
        match m {
            0xD9 => return None,
            // Standalone markers (and a stray `FF 00`): no length field.
            0x00 | 0x01 | 0xD0..=0xD8 => continue,
            _ => {}
        }
        let (Some(&hi), Some(&lo)) = (b.get(i), b.get(i + 1)) else {
            return Some(MISSING_EOI.into());
        };
        let len = usize::from(u16::from_be_bytes([hi, lo]));
        if len < 2 {
            return Some(format!(
                "marker FF {m:02X} at byte {} has a bad length {len}",
                i - 2
            ));
        }
        let start = i - 2;
        i += len;
        if i > b.len() {
            return Some(format!(
                "the data ends inside the FF {m:02X} segment at byte {start}"
            ));
        }
        if m == 0xDA {
            // Entropy-coded data: up to a 0xFF that starts a real marker.
            loop {
                match b[i..].iter().position(|&x| x == 0xFF) {
                    Some(k) => i += k,
                    None => return Some(MISSING_EOI.into()),
                }
                match b.get(i + 1) {
                    None => return Some(MISSING_EOI.into()),
                    Some(0x00 | 0xD0..=0xD7) => i += 2,
                    Some(0xFF) => i += 1,
                    Some(_) => break,
                }
            }
        }
    }
}

/// Why a PNG stream does not reach its `IEND` chunk, or `None` when it does.
fn png_truncation(b: &[u8]) -> Option<String> {
    let mut i = 8; // signature
    loop {
        let (Some(len), Some(kind)) = (b.get(i..i + 4), b.get(i + 4..i + 8)) else {
            return Some("the data ends before the IEND chunk".into());
        };
        if kind == b"IEND" {
            return None;
        }
        let len = u32::from_be_bytes([len[0], len[1], len[2], len[3]]) as usize;
        let end = i.saturating_add(12).saturating_add(len);
        if end > b.len() {
            return Some(format!(
                "the data ends inside the {} chunk at byte {i}",
                String::from_utf8_lossy(kind)
            ));
        }
        i = end;
    }
}

/// Why a WebP stream is shorter than its RIFF header declares, or `None` when it is not (bytes
/// after the RIFF chunk are ignored, as after a JPEG's EOI).
fn webp_truncation(b: &[u8]) -> Option<String> {
    let size = b.get(4..8)?;
    let declared = u64::from(u32::from_le_bytes([size[0], size[1], size[2], size[3]])) + 8;
    (declared > b.len() as u64).then(|| {
        format!(
            "the RIFF header declares {declared} bytes, the file has {}",
            b.len()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A 48x40 image with texture, so the JPEG has real entropy-coded data.
    fn picture() -> RgbImage {
        RgbImage::from_fn(48, 40, |x, y| {
            Rgb([
                (x * 5) as u8,
                (y * 6) as u8,
                ((x * 31 + y * 17) % 251) as u8,
            ])
        })
    }

    fn encode(img: &RgbImage, format: ImageFormat) -> Vec<u8> {
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format)
            .expect("encoding should work");
        out
    }

    fn err(r: Result<impl std::fmt::Debug>) -> String {
        r.expect_err("should be an error").to_string()
    }

    #[test]
    fn a_pnm_header_declaring_huge_pixels_is_an_error_not_an_abort() {
        // 100000 x 100000 RGB would be 30 GB: the decoder used to allocate it and abort.
        let bytes = b"P6\n100000 100000\n255\n\x00\x00\x00";
        let e = decode_rgb_upright_bytes(bytes, Path::new("huge.ppm")).unwrap_err();
        assert!(
            matches!(&e, Error::Image { path, .. } if path == Path::new("huge.ppm")),
            "{e:?}"
        );
        assert_eq!(
            e.to_string(),
            "huge.ppm: cannot read image: PNM header declares 100000x100000 pixels: 28610 MB \
             decoded, above the decoder's limit of 512 MB"
        );
        assert!(decode_rgb_bytes(bytes, Path::new("huge.ppm")).is_err());
    }

    #[test]
    fn complete_files_decode_and_trailing_bytes_are_ignored() {
        let img = picture();
        for format in SUPPORTED {
            let bytes = encode(&img, format);
            let p = Path::new("x.img");
            assert_eq!(image_dimensions_bytes(&bytes, p).expect("dims"), (48, 40));
            let back = decode_rgb_bytes(&bytes, p).expect("decode");
            assert_eq!(back.dimensions(), (48, 40), "{format:?}");
        }
        // Padding and a trailer after EOI (cameras append data there) do not matter.
        let mut jpeg = encode(&img, ImageFormat::Jpeg);
        assert_eq!(&jpeg[jpeg.len() - 2..], [0xFF, 0xD9]);
        jpeg.extend_from_slice(&[0, 0, 0, 0xFF, 0xFF]);
        jpeg.extend_from_slice(b"trailer \xFF\xD8 data");
        assert!(jpeg_truncation(&jpeg).is_none());
        decode_rgb_bytes(&jpeg, Path::new("t.jpg")).expect("trailer is fine");
    }

    /// A little-endian TIFF (EXIF) block holding one tag: Orientation = `o`.
    fn exif_orientation(o: u16) -> Vec<u8> {
        let mut b = b"II*\0".to_vec();
        b.extend_from_slice(&8u32.to_le_bytes()); // first IFD at offset 8
        b.extend_from_slice(&1u16.to_le_bytes()); // one entry
        b.extend_from_slice(&0x0112u16.to_le_bytes()); // Orientation
        b.extend_from_slice(&3u16.to_le_bytes()); // SHORT
        b.extend_from_slice(&1u32.to_le_bytes()); // count
        b.extend_from_slice(&o.to_le_bytes());
        b.extend_from_slice(&[0, 0]); // value padding
        b.extend_from_slice(&0u32.to_le_bytes()); // no next IFD
        b
    }

    fn encode_with_exif(img: &RgbImage, format: ImageFormat, exif: Vec<u8>) -> Vec<u8> {
        use image::ImageEncoder;
        let mut out = Vec::new();
        let (w, h) = img.dimensions();
        match format {
            ImageFormat::Png => {
                let mut e = image::codecs::png::PngEncoder::new(&mut out);
                e.set_exif_metadata(exif).expect("PNG takes EXIF");
                e.write_image(img, w, h, image::ExtendedColorType::Rgb8)
            }
            _ => {
                let mut e = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 95);
                e.set_exif_metadata(exif).expect("JPEG takes EXIF");
                e.write_image(img, w, h, image::ExtendedColorType::Rgb8)
            }
        }
        .expect("encoding should work");
        out
    }

    #[test]
    fn photos_decode_upright_with_their_exif_orientation_and_datasets_as_stored() {
        let img = picture();
        let p = Path::new("phone.png");
        // Orientation 6: the camera stored the photo turned; shown turned 90° clockwise. Stored
        // pixel (x, y) of the W×H image is shown at (H − 1 − y, x) of the H×W one.
        let bytes = encode_with_exif(&img, ImageFormat::Png, exif_orientation(6));
        let (up, o) = decode_rgb_upright_bytes(&bytes, p).expect("decode");
        assert_eq!(o, 6);
        assert_eq!(up.dimensions(), (40, 48));
        for (x, y) in [(0, 0), (47, 0), (5, 39), (20, 13)] {
            assert_eq!(up.get_pixel(39 - y, x), img.get_pixel(x, y), "({x}, {y})");
        }
        // The dataset reader keeps the stored pixels (annotations are on them).
        assert_eq!(decode_rgb_bytes(&bytes, p).expect("decode"), img);
        // Orientation 3 (upside down) and 1 (as stored); no EXIF at all is 1.
        let (down, o) = decode_rgb_upright_bytes(
            &encode_with_exif(&img, ImageFormat::Png, exif_orientation(3)),
            p,
        )
        .expect("decode");
        assert_eq!((o, down.get_pixel(47, 39)), (3, img.get_pixel(0, 0)));
        let (same, o) = decode_rgb_upright_bytes(
            &encode_with_exif(&img, ImageFormat::Png, exif_orientation(1)),
            p,
        )
        .expect("decode");
        assert_eq!((o, &same), (1, &img));
        let (plain, o) =
            decode_rgb_upright_bytes(&encode(&img, ImageFormat::Png), p).expect("decode");
        assert_eq!((o, &plain), (1, &img));
        // A JPEG's APP1 EXIF segment is read too (and its marker walk still reaches EOI).
        let jpeg = encode_with_exif(&img, ImageFormat::Jpeg, exif_orientation(8));
        let (left, o) = decode_rgb_upright_bytes(&jpeg, Path::new("phone.jpg")).expect("decode");
        assert_eq!((o, left.dimensions()), (8, (40, 48)));
    }

    #[test]
    fn truncated_jpeg_is_unreadable_and_named() {
        let jpeg = encode(&picture(), ImageFormat::Jpeg);
        // Cut inside the scan data (the case that used to decode half grey), just before EOI, and
        // inside the header segments.
        for cut in [jpeg.len() / 2, jpeg.len() - 2, jpeg.len() - 1, 30, 3] {
            let p = Path::new("dir/cut.jpg");
            let e = err(decode_rgb_bytes(&jpeg[..cut], p));
            assert!(
                e.contains("dir/cut.jpg") && e.contains("truncated JPEG"),
                "cut {cut}: {e}"
            );
            let e = err(image_dimensions_bytes(&jpeg[..cut], p));
            assert!(e.contains("truncated JPEG"), "cut {cut}: {e}");
        }
    }

    #[test]
    fn truncated_png_pnm_bmp_are_unreadable() {
        for format in [ImageFormat::Png, ImageFormat::Pnm, ImageFormat::Bmp] {
            let bytes = encode(&picture(), format);
            let cut = &bytes[..bytes.len() * 2 / 3];
            let e = err(decode_rgb_bytes(cut, Path::new("cut.img")));
            assert!(e.contains("cut.img"), "{format:?}: {e}");
            let e = err(image_dimensions_bytes(cut, Path::new("cut.img")));
            assert!(e.contains("cut.img"), "{format:?}: {e}");
        }
    }

    #[test]
    fn webp_and_tiff_round_trip_and_truncated_ones_are_unreadable() {
        let img = picture();
        for format in [ImageFormat::WebP, ImageFormat::Tiff] {
            // Both encoders are lossless: the pixels come back exactly, upright or as stored.
            let bytes = encode(&img, format);
            let p = Path::new("x.img");
            assert_eq!(
                decode_rgb_bytes(&bytes, p).expect("decode"),
                img,
                "{format:?}"
            );
            let (up, o) = decode_rgb_upright_bytes(&bytes, p).expect("decode");
            assert_eq!((o, &up), (1, &img), "{format:?}");
            for cut in [bytes.len() - 1, bytes.len() * 2 / 3, 10] {
                let e = err(decode_rgb_bytes(&bytes[..cut], Path::new("cut.img")));
                assert!(e.contains("cut.img"), "{format:?} cut {cut}: {e}");
                let e = err(image_dimensions_bytes(&bytes[..cut], Path::new("cut.img")));
                assert!(e.contains("cut.img"), "{format:?} cut {cut}: {e}");
            }
        }
        // The WebP check names the sizes: RIFF's length field counts the bytes after its first 8.
        let webp = encode(&img, ImageFormat::WebP);
        let n = webp.len();
        assert_eq!(
            webp_truncation(&webp[..n - 5]),
            Some(format!(
                "the RIFF header declares {n} bytes, the file has {}",
                n - 5
            ))
        );
        assert_eq!(webp_truncation(&[webp.as_slice(), b"tail"].concat()), None);
    }

    #[test]
    fn a_webp_header_declaring_huge_pixels_is_an_error_not_an_abort() {
        // The lossless (VP8L) 48 x 40 picture with its header saying 16384 x 16384 (768 MB of RGB):
        // after RIFF, WEBP, the chunk name and length, the 0x2F signature and 14 + 14 bits of size.
        let mut b = encode(&picture(), ImageFormat::WebP);
        assert_eq!((&b[12..16], b[20]), (&b"VP8L"[..], 0x2F));
        let bits = u32::from_le_bytes([b[21], b[22], b[23], b[24]]) & !((1 << 28) - 1);
        b[21..25].copy_from_slice(&(bits | 16383 | (16383 << 14)).to_le_bytes());
        let e = err(decode_rgb_upright_bytes(&b, Path::new("huge.webp")));
        // (image-webp finds the sizes inconsistent before allocating; the limit would stop it next.)
        assert!(e.starts_with("huge.webp: cannot read image: WebP"), "{e}");
        assert!(decode_rgb_bytes(&b, Path::new("huge.webp")).is_err());
    }

    #[test]
    fn format_comes_from_the_bytes_not_the_extension() {
        let dir = tempfile::tempdir().expect("tempdir");
        let png_as_jpg = dir.path().join("really_png.jpg");
        std::fs::write(&png_as_jpg, encode(&picture(), ImageFormat::Png)).expect("write");
        assert_eq!(image_dimensions(&png_as_jpg).expect("dims"), (48, 40));
        assert_eq!(decode_rgb(&png_as_jpg).expect("decode"), picture());
        let text = dir.path().join("notes.png");
        std::fs::write(&text, "not an image").expect("write");
        let e = err(decode_rgb(&text));
        assert!(e.contains("notes.png") && e.contains("unrecognised"), "{e}");
        let e = err(image_dimensions(&dir.path().join("missing.jpg")));
        assert!(e.contains("missing.jpg"), "{e}");
        let empty = dir.path().join("empty.jpg");
        std::fs::write(&empty, "").expect("write");
        assert!(err(decode_rgb(&empty)).contains("empty"));
    }
}
