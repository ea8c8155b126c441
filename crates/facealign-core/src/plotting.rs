//! Plot plumbing shared by the shape-model and metrics plots: the bundled font and PNG encoding.
//!
//! The font is DejaVu Sans (Bitstream Vera licence, `assets/DejaVuSans-LICENSE.txt`), compiled
//! into the binary and registered with plotters' `ab_glyph` backend as `sans-serif`, so plots
//! render the same on machines without system fonts.
use std::io::Cursor;
use std::sync::OnceLock;

use plotters::style::FontStyle;

use crate::error::{Error, Result};

static DEJAVU_SANS: &[u8] = include_bytes!("../assets/DejaVuSans.ttf");
static FONT_OK: OnceLock<bool> = OnceLock::new();

/// Register the bundled font once per process.
pub fn ensure_font() -> Result<()> {
    let ok = *FONT_OK.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, DEJAVU_SANS).is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "bundled font",
            "assets/DejaVuSans.ttf could not be parsed",
        ))
    }
}

/// Encode an RGB8 buffer (`w*h*3` bytes, row-major) as PNG bytes.
pub(crate) fn png_bytes(buf: Vec<u8>, w: u32, h: u32) -> Result<Vec<u8>> {
    let img = image::RgbImage::from_raw(w, h, buf).ok_or_else(|| {
        Error::invalid(
            "plot buffer",
            format!("buffer does not hold {w}x{h} RGB pixels"),
        )
    })?;
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::invalid("plot", format!("PNG encoding failed: {e}")))?;
    Ok(out.into_inner())
}

/// Turn a plotters drawing error into a core error naming the output file.
pub(crate) fn draw_err(path: &std::path::Path, e: impl std::fmt::Display) -> Error {
    Error::invalid("plot", format!("{}: drawing failed: {e}", path.display()))
}
