//! One module per subcommand: each turns parsed flags into library calls and prints results.
pub mod bench;
pub mod data;
pub mod eval;
pub mod model;
pub mod predict;
pub mod shape;

use std::path::Path;

use facealign::draw::{overlay, save_png_atomic, DrawOptions};
use facealign::{BoxXywh, Point, Scheme};

/// Draw `points` (coloured by group) and optionally `reference` points and a box on `img`, and
/// save the PNG atomically.
pub fn save_overlay(
    path: &Path,
    img: &image::RgbImage,
    scheme: &Scheme,
    points: &[Point],
    reference: Option<&[Point]>,
    bbox: Option<&BoxXywh>,
) -> anyhow::Result<()> {
    let out = overlay(
        img,
        scheme,
        points,
        reference,
        bbox,
        &DrawOptions::default(),
    )?;
    save_png_atomic(&out, path)?;
    Ok(())
}
