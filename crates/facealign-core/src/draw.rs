//! Landmark overlays: points coloured by semantic group, an optional second set (e.g. ground
//! truth under a prediction) and an optional box; PNGs are saved with `fsio::write_atomic`.
use std::path::Path;

use image::{Rgb, RgbImage};
use imageproc::drawing::{
    draw_filled_circle_mut, draw_hollow_circle_mut, draw_hollow_rect_mut, draw_line_segment_mut,
};
use imageproc::rect::Rect;

use crate::error::{Error, Result};
use crate::sample::{BoxXywh, Point};
use crate::scheme::Scheme;

/// Colours of the semantic groups, in `Scheme::groups` order (cycled when there are more).
pub const PALETTE: [[u8; 3]; 10] = [
    [230, 25, 75],   // red
    [60, 180, 75],   // green
    [255, 225, 25],  // yellow
    [0, 130, 200],   // blue
    [245, 130, 48],  // orange
    [145, 30, 180],  // purple
    [70, 240, 240],  // cyan
    [240, 50, 230],  // magenta
    [210, 245, 60],  // lime
    [250, 190, 212], // pink
];

/// Drawing options.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DrawOptions {
    /// Point radius in pixels; `None` = about 1/150 of the shorter image side (at least 1).
    pub radius: Option<u32>,
    /// Colour of the second (reference) set, drawn as hollow circles.
    pub reference_color: [u8; 3],
    /// Join each reference point to its primary point with a line.
    pub error_lines: bool,
    /// Colour of the box.
    pub box_color: [u8; 3],
}

impl Default for DrawOptions {
    fn default() -> Self {
        DrawOptions {
            radius: None,
            reference_color: [255, 255, 255],
            error_lines: true,
            box_color: [255, 0, 0],
        }
    }
}

fn finite(p: Point) -> bool {
    p[0].is_finite() && p[1].is_finite()
}

fn ipt(p: Point) -> (i32, i32) {
    (p[0].round() as i32, p[1].round() as i32)
}

/// `p` is finite and within `margin` pixels of the `w`×`h` canvas: a mark of radius below `margin`
/// centred further out cannot touch a pixel, so it is skipped (imageproc walks every pixel of a
/// mark, visible or not, and overflows i32 near `i32::MAX`: a coordinate of 1e10 used to hang).
fn near_canvas(p: Point, w: u32, h: u32, margin: f32) -> bool {
    finite(p)
        && p[0] >= -margin
        && p[1] >= -margin
        && p[0] <= w as f32 + margin
        && p[1] <= h as f32 + margin
}

/// The part of the segment `a`–`b` (finite) inside the canvas plus a 1-pixel border
/// (Liang–Barsky), or `None` when it misses it. Segments already inside are returned unchanged.
fn clip_segment(a: Point, b: Point, w: u32, h: u32) -> Option<(Point, Point)> {
    if near_canvas(a, w, h, 1.0) && near_canvas(b, w, h, 1.0) {
        return Some((a, b));
    }
    let (lo, hi) = ([-1.0f64, -1.0], [f64::from(w) + 1.0, f64::from(h) + 1.0]);
    let (x0, y0) = (f64::from(a[0]), f64::from(a[1]));
    let (dx, dy) = (f64::from(b[0]) - x0, f64::from(b[1]) - y0);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, x0 - lo[0]),
        (dx, hi[0] - x0),
        (-dy, y0 - lo[1]),
        (dy, hi[1] - y0),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else if p < 0.0 {
            t0 = t0.max(q / p);
        } else {
            t1 = t1.min(q / p);
        }
        if t0 > t1 {
            return None;
        }
    }
    let at = |t: f64| [(x0 + t * dx) as f32, (y0 + t * dy) as f32];
    Some((at(t0), at(t1)))
}

/// The box's pixel rectangle (edges at `round(x)` .. `round(x) + round(w) - 1`), with edges beyond
/// the canvas moved to just outside it (where they stay invisible), or `None` when it misses the
/// canvas.
fn box_rect(b: &BoxXywh, w: u32, h: u32) -> Option<Rect> {
    if !(b.w >= 1.0
        && b.h >= 1.0
        && b.x.is_finite()
        && b.y.is_finite()
        && b.w.is_finite()
        && b.h.is_finite())
    {
        return None;
    }
    let (left, top) = (f64::from(b.x).round(), f64::from(b.y).round());
    let right = left + f64::from(b.w).round() - 1.0;
    let bottom = top + f64::from(b.h).round() - 1.0;
    let (l, t) = (left.max(-1.0), top.max(-1.0));
    let (r, btm) = (right.min(f64::from(w)), bottom.min(f64::from(h)));
    if l > r || t > btm {
        return None;
    }
    Some(Rect::at(l as i32, t as i32).of_size((r - l + 1.0) as u32, (btm - t + 1.0) as u32))
}

/// Draw on `img` (all points in its pixel space): the optional `bbox`, the optional `reference`
/// set (hollow circles in `opts.reference_color`, joined to `points` when `error_lines`), then
/// `points` as filled circles coloured by the scheme's groups. Non-finite points, and marks that
/// cannot reach the canvas, are skipped; lines and boxes are clipped to it first, so absurd
/// coordinates cost nothing. Errors if a point set does not have the scheme's number of points.
pub fn draw_landmarks(
    img: &mut RgbImage,
    scheme: &Scheme,
    points: &[Point],
    reference: Option<&[Point]>,
    bbox: Option<&BoxXywh>,
    opts: &DrawOptions,
) -> Result<()> {
    let m = scheme.n_points();
    for (what, n) in [
        ("points", Some(points.len())),
        ("reference points", reference.map(<[Point]>::len)),
    ] {
        if let Some(n) = n.filter(|&n| n != m) {
            return Err(Error::invalid(
                format!("overlay {what}"),
                format!("{n} points for the {} scheme ({m})", scheme.name()),
            ));
        }
    }
    let (w, h) = img.dimensions();
    let r = opts
        .radius
        .unwrap_or_else(|| (w.min(h) / 150).max(1))
        .min(w.max(h).saturating_add(2)) as i32;
    // Radius of the largest mark (hollow reference circle r + 1) plus a pixel.
    let margin = (r + 3) as f32;
    if let Some(rect) = bbox.and_then(|b| box_rect(b, w, h)) {
        draw_hollow_rect_mut(img, rect, Rgb(opts.box_color));
    }
    if let Some(reference) = reference {
        for (q, p) in reference.iter().zip(points) {
            if !finite(*q) {
                continue;
            }
            if opts.error_lines && finite(*p) {
                if let Some((a, b)) = clip_segment(*q, *p, w, h) {
                    draw_line_segment_mut(
                        img,
                        (a[0], a[1]),
                        (b[0], b[1]),
                        Rgb(opts.reference_color),
                    );
                }
            }
            if near_canvas(*q, w, h, margin) {
                draw_hollow_circle_mut(img, ipt(*q), r + 1, Rgb(opts.reference_color));
            }
        }
    }
    let group_of = scheme.group_of();
    for (i, p) in points.iter().enumerate() {
        if near_canvas(*p, w, h, margin) {
            let color = PALETTE[group_of[i] % PALETTE.len()];
            draw_filled_circle_mut(img, ipt(*p), r, Rgb(color));
        }
    }
    Ok(())
}

/// A copy of `img` with the overlay drawn (see [`draw_landmarks`]).
pub fn overlay(
    img: &RgbImage,
    scheme: &Scheme,
    points: &[Point],
    reference: Option<&[Point]>,
    bbox: Option<&BoxXywh>,
    opts: &DrawOptions,
) -> Result<RgbImage> {
    let mut out = img.clone();
    draw_landmarks(&mut out, scheme, points, reference, bbox, opts)?;
    Ok(out)
}

/// Save as PNG with [`crate::fsio::write_atomic`] (atomic for a regular file; symlinks followed,
/// devices and FIFOs written in place). Errors name `path`.
pub fn save_png_atomic(img: &RgbImage, path: &Path) -> Result<()> {
    let mut bytes = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut bytes),
        image::ImageFormat::Png,
    )
    .map_err(|e| Error::Image {
        path: path.to_path_buf(),
        message: format!("cannot encode PNG: {e}"),
    })?;
    crate::fsio::write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::SchemeId;

    #[test]
    fn colours_follow_groups_and_reference_is_drawn() {
        // Five scheme groups: eyes (0, 1), nose (2), mouth (3, 4) → palette 0, 1, 2.
        let scheme = Scheme::get(SchemeId::Five);
        let pts = [
            [10.0, 10.0],
            [30.0, 10.0],
            [20.0, 20.0],
            [12.0, 30.0],
            [28.0, 30.0],
        ];
        let reference = [
            [10.0, 40.0],
            [30.0, 10.0],
            [20.0, 20.0],
            [12.0, 30.0],
            [f32::NAN, 0.0],
        ];
        let opts = DrawOptions {
            radius: Some(2),
            error_lines: false,
            ..DrawOptions::default()
        };
        let img = RgbImage::new(48, 48);
        let bbox = BoxXywh {
            x: 2.0,
            y: 2.0,
            w: 44.0,
            h: 44.0,
        };
        let out = overlay(&img, &scheme, &pts, Some(&reference), Some(&bbox), &opts).unwrap();
        assert_eq!(out.get_pixel(10, 10).0, PALETTE[0]);
        assert_eq!(out.get_pixel(31, 11).0, PALETTE[0]); // within radius 2 of (30, 10)
        assert_eq!(out.get_pixel(20, 20).0, PALETTE[1]);
        assert_eq!(out.get_pixel(28, 30).0, PALETTE[2]);
        // Hollow reference circle of radius 3 around (10, 40): (13, 40) on it, centre empty.
        assert_eq!(out.get_pixel(13, 40).0, [255, 255, 255]);
        assert_eq!(out.get_pixel(10, 40).0, [0, 0, 0]);
        // Box edge at x = 2.
        assert_eq!(out.get_pixel(2, 25).0, [255, 0, 0]);
        assert!(overlay(&img, &scheme, &pts[..4], None, None, &opts).is_err());
    }

    #[test]
    fn absurd_coordinates_are_skipped_or_clipped() {
        // A coordinate of 1e10 (a corrupt .pts) used to hang `data inspect --draw`: imageproc
        // walked a line of billions of pixels (and overflowed i32 near i32::MAX).
        let scheme = Scheme::get(SchemeId::Five);
        let far = [
            [1e10, 5.0],
            [-1e30, -1e30],
            [5.0, f32::MAX],
            [2_147_483_000.0, 2_147_483_000.0],
            [20.0, 20.0],
        ];
        let reference = [
            [10.0, 10.0],
            [10.0, 30.0],
            [30.0, 10.0],
            [-3e38, 3e38],
            [20.0, 1e12],
        ];
        let opts = DrawOptions {
            radius: Some(1),
            ..DrawOptions::default()
        };
        let bbox = BoxXywh {
            x: -1e10,
            y: 4.0,
            w: 1e12,
            h: 1e9,
        };
        let img = RgbImage::new(40, 40);
        let out = overlay(&img, &scheme, &far, Some(&reference), Some(&bbox), &opts)
            .expect("drawing absurd coordinates should return");
        // The in-canvas point is drawn; the box's top edge (y = 4) crosses the whole canvas, its
        // other edges are far outside.
        assert_eq!(out.get_pixel(20, 20).0, PALETTE[2]);
        assert_eq!(out.get_pixel(0, 4).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(39, 4).0, [255, 0, 0]);
        assert_eq!(out.get_pixel(39, 20).0, [0, 0, 0]);
        // Error line from (10, 10) to (1e10, 5): its visible part runs right along y ≈ 10.
        assert_eq!(out.get_pixel(35, 10).0, [255, 255, 255]);
        // Error line from (20, 1e12) to (20, 20): visible below the point.
        assert_eq!(out.get_pixel(20, 35).0, [255, 255, 255]);
        // A huge radius is bounded by the canvas size.
        let big = DrawOptions {
            radius: Some(u32::MAX),
            ..DrawOptions::default()
        };
        overlay(&img, &scheme, &far, None, None, &big).expect("huge radius");
    }

    #[test]
    fn save_is_atomic_and_readable() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("o.png");
        let img = RgbImage::from_fn(5, 4, |x, y| Rgb([x as u8 * 40, y as u8 * 50, 7]));
        save_png_atomic(&img, &path).unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp file left"
        );
        assert_eq!(image::open(&path).unwrap().to_rgb8(), img);
        // The error names the user's path, not a temporary file.
        let e = save_png_atomic(&img, &dir.path().join("missing/o.png"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("missing/o.png:") && !e.contains(".o.png.tmp"),
            "{e}"
        );
    }
}
