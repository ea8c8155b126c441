//! Affine transforms, face crops and the warp that produces model inputs.
//!
//! Three coordinate spaces, named in every function:
//! - **image_px**: 0-based pixels of the source image (x right, y down, pixel centres at integers);
//! - **crop_px**: pixels of the S×S model input, same conventions;
//! - **crop_u**: model units (SPEC Decision 1), `u = x_crop / S − 0.5`, same for y, no sign flip.
//!
//! A crop is an [`Affine2`] `crop_from_image` (image_px → crop_px). [`warp_rgb`] fills output
//! pixel (i, j) by bilinear sampling of the source at `image_from_crop(i, j)`, so a landmark
//! mapped with `crop_from_image` lands exactly where its pixel went.
//!
//! Crop protocol (SPEC Decision 8): a square of side `max(w, h) · enlarge` centred on the centre
//! of the landmark extents; the square's outer pixel *edges* map to the crop's edges
//! (`−0.5` and `S − 0.5` in crop_px), so the box centre lands on crop_px `(S − 1) / 2`.
use image::RgbImage;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sample::{BoxXywh, ImageSource, Point, Sample};

/// A 2-D affine map `p ↦ M·p + t`, stored as the 2×3 matrix `[[a, b, tx], [c, d, ty]]` in f64.
///
/// Composition follows matrix order: `(A * B).apply(p) == A.apply(B.apply(p))` (B first).
/// Name variables by their spaces, e.g. `crop_from_image`, `image_from_crop`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Affine2 {
    /// Row-major `[[a, b, tx], [c, d, ty]]`.
    pub m: [[f64; 3]; 2],
}

impl Default for Affine2 {
    fn default() -> Self {
        Affine2::IDENTITY
    }
}

impl Affine2 {
    /// The identity map.
    pub const IDENTITY: Affine2 = Affine2 {
        m: [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
    };

    /// From the 2×3 matrix rows.
    pub fn from_rows(m: [[f64; 3]; 2]) -> Affine2 {
        Affine2 { m }
    }

    /// A translation by `(tx, ty)`.
    pub fn translation(tx: f64, ty: f64) -> Affine2 {
        Affine2 {
            m: [[1.0, 0.0, tx], [0.0, 1.0, ty]],
        }
    }

    /// An isotropic scaling about the origin.
    pub fn scaling(s: f64) -> Affine2 {
        Affine2 {
            m: [[s, 0.0, 0.0], [0.0, s, 0.0]],
        }
    }

    /// A rotation about the origin by `radians`; with y pointing down a positive angle turns
    /// the x axis towards the y axis (clockwise on screen).
    pub fn rotation(radians: f64) -> Affine2 {
        let (s, c) = radians.sin_cos();
        Affine2 {
            m: [[c, -s, 0.0], [s, c, 0.0]],
        }
    }

    /// The similarity `p ↦ scale · R(radians) · p + (tx, ty)`.
    pub fn similarity(scale: f64, radians: f64, tx: f64, ty: f64) -> Affine2 {
        let (s, c) = radians.sin_cos();
        Affine2 {
            m: [[scale * c, -scale * s, tx], [scale * s, scale * c, ty]],
        }
    }

    /// The horizontal mirror of an S-wide pixel grid: `x ↦ S − 1 − x` (pixel centres at integers).
    pub fn mirror_x(size: u32) -> Affine2 {
        Affine2 {
            m: [[-1.0, 0.0, f64::from(size) - 1.0], [0.0, 1.0, 0.0]],
        }
    }

    /// `self ∘ other`: apply `other` first, then `self`.
    pub fn compose(&self, other: &Affine2) -> Affine2 {
        let a = &self.m;
        let b = &other.m;
        let mut m = [[0.0; 3]; 2];
        for r in 0..2 {
            m[r][0] = a[r][0] * b[0][0] + a[r][1] * b[1][0];
            m[r][1] = a[r][0] * b[0][1] + a[r][1] * b[1][1];
            m[r][2] = a[r][0] * b[0][2] + a[r][1] * b[1][2] + a[r][2];
        }
        Affine2 { m }
    }

    /// `other ∘ self`: apply `self` first, then `other`.
    pub fn then(&self, other: &Affine2) -> Affine2 {
        other.compose(self)
    }

    /// Determinant of the linear part.
    pub fn det(&self) -> f64 {
        self.m[0][0] * self.m[1][1] - self.m[0][1] * self.m[1][0]
    }

    /// The inverse map, or `None` when the linear part is singular or not finite.
    pub fn inverse(&self) -> Option<Affine2> {
        let det = self.det();
        if !det.is_finite() || det.abs() < 1e-12 {
            return None;
        }
        let [[a, b, tx], [c, d, ty]] = self.m;
        let (ia, ib, ic, id) = (d / det, -b / det, -c / det, a / det);
        Some(Affine2 {
            m: [
                [ia, ib, -(ia * tx + ib * ty)],
                [ic, id, -(ic * tx + id * ty)],
            ],
        })
    }

    /// Map a point (f64).
    pub fn apply_f64(&self, x: f64, y: f64) -> (f64, f64) {
        let m = &self.m;
        (
            m[0][0] * x + m[0][1] * y + m[0][2],
            m[1][0] * x + m[1][1] * y + m[1][2],
        )
    }

    /// Map a point.
    pub fn apply(&self, p: Point) -> Point {
        let (x, y) = self.apply_f64(f64::from(p[0]), f64::from(p[1]));
        [x as f32, y as f32]
    }

    /// Map every point.
    pub fn apply_all(&self, points: &[Point]) -> Vec<Point> {
        points.iter().map(|&p| self.apply(p)).collect()
    }

    /// Mean scale of the linear part, `sqrt(|det|)` (the scale of a similarity).
    pub fn scale(&self) -> f64 {
        self.det().abs().sqrt()
    }

    /// The matrix as row-major f32 `[a, b, tx, c, d, ty]` (for tensors and files).
    pub fn to_f32_array(&self) -> [f32; 6] {
        let m = &self.m;
        [m[0][0], m[0][1], m[0][2], m[1][0], m[1][1], m[1][2]].map(|v| v as f32)
    }
}

impl std::ops::Mul for Affine2 {
    type Output = Affine2;
    /// `A * B` applies B first, then A.
    fn mul(self, rhs: Affine2) -> Affine2 {
        self.compose(&rhs)
    }
}

/// Size and margin of a square face crop.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CropSpec {
    /// Side S of the model input in pixels.
    pub size: u32,
    /// Box side = `max(w, h) · enlarge` (SPEC Decision 8: 1.25).
    pub enlarge: f32,
}

impl Default for CropSpec {
    fn default() -> Self {
        CropSpec {
            size: 224,
            enlarge: 1.25,
        }
    }
}

impl CropSpec {
    /// A spec with the default enlargement 1.25.
    pub fn new(size: u32) -> CropSpec {
        CropSpec {
            size,
            enlarge: 1.25,
        }
    }

    /// Check the values.
    pub fn validate(&self) -> Result<()> {
        if self.size == 0 || self.size > 4096 {
            return Err(Error::invalid(
                "crop size",
                format!("{} (must be 1..=4096)", self.size),
            ));
        }
        if !(self.enlarge.is_finite() && self.enlarge > 0.0) {
            return Err(Error::invalid(
                "crop enlarge",
                format!("{} (must be > 0)", self.enlarge),
            ));
        }
        Ok(())
    }
}

/// Maps a face box from some source (a detector, a dataset) to the landmark-extent box:
/// the centre moves by `(dx · w, dy · h)` and the side `max(w, h)` is multiplied by `scale`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BoxCalibration {
    pub dx: f32,
    pub dy: f32,
    pub scale: f32,
}

impl Default for BoxCalibration {
    fn default() -> Self {
        BoxCalibration::IDENTITY
    }
}

impl BoxCalibration {
    /// No change.
    pub const IDENTITY: BoxCalibration = BoxCalibration {
        dx: 0.0,
        dy: 0.0,
        scale: 1.0,
    };

    /// Fit from pairs `(source box, landmark-extent box)` by averaging the relative centre offsets
    /// and side ratios. Pairs with an empty source box are skipped; no usable pair is an error.
    pub fn fit(pairs: &[(BoxXywh, BoxXywh)]) -> Result<BoxCalibration> {
        let (mut dx, mut dy, mut sc, mut n) = (0.0f64, 0.0f64, 0.0f64, 0usize);
        for (src, target) in pairs {
            let side = src.w.max(src.h);
            if !(src.w > 0.0 && src.h > 0.0 && side.is_finite()) {
                continue;
            }
            let (cs, ct) = (src.center(), target.center());
            dx += f64::from((ct[0] - cs[0]) / src.w);
            dy += f64::from((ct[1] - cs[1]) / src.h);
            sc += f64::from(target.w.max(target.h) / side);
            n += 1;
        }
        if n == 0 {
            return Err(Error::invalid(
                "box calibration",
                "no pair with a non-empty source box",
            ));
        }
        let n = n as f64;
        Ok(BoxCalibration {
            dx: (dx / n) as f32,
            dy: (dy / n) as f32,
            scale: (sc / n) as f32,
        })
    }

    /// The square box that, calibrated by `self`, gives the crop [`crop_from_box`] makes of `b`
    /// calibrated by `other`: a box of another source (another detector) in this source's
    /// terms. Side `max(w, h) · other.scale / self.scale`; centre `b`'s centre `+ (other.dx · w,
    /// other.dy · h) − (self.dx, self.dy) · side`.
    pub fn equivalent_box(&self, b: &BoxXywh, other: &BoxCalibration) -> BoxXywh {
        let side = b.w.max(b.h) * other.scale / self.scale;
        let c = b.center();
        let cx = c[0] + other.dx * b.w - self.dx * side;
        let cy = c[1] + other.dy * b.h - self.dy * side;
        BoxXywh {
            x: cx - side / 2.0,
            y: cy - side / 2.0,
            w: side,
            h: side,
        }
    }
}

/// The crop whose square (side `side` in image_px, centre `center`) fills the S×S model input.
///
/// `x_crop = (S / side) · (x − cx) + (S − 1) / 2`: the square's edges `cx ± side/2` go to the
/// crop's pixel edges −0.5 and S − 0.5.
pub fn crop_from_square(center: [f64; 2], side: f64, size: u32) -> Result<Affine2> {
    if !(side.is_finite() && side > 0.0 && center[0].is_finite() && center[1].is_finite()) {
        return Err(Error::invalid(
            "crop box",
            format!("centre {center:?}, side {side} (side must be > 0)"),
        ));
    }
    let s = f64::from(size);
    let k = s / side;
    let half = (s - 1.0) / 2.0;
    Ok(Affine2 {
        m: [
            [k, 0.0, half - k * center[0]],
            [0.0, k, half - k * center[1]],
        ],
    })
}

/// The crop around landmarks (image_px): square of side `max(w, h) · enlarge` centred on the
/// landmark-extent centre. Non-finite points are ignored; no finite point, or all points equal,
/// is an error.
pub fn crop_from_landmarks(points: &[Point], spec: &CropSpec) -> Result<Affine2> {
    let finite: Vec<Point> = points
        .iter()
        .copied()
        .filter(|p| p[0].is_finite() && p[1].is_finite())
        .collect();
    let bbox = BoxXywh::around(&finite)
        .ok_or_else(|| Error::invalid("landmarks", "no finite landmark to crop around"))?;
    crop_from_box(&bbox, spec, &BoxCalibration::IDENTITY)
}

/// The crop around a (predicted) shape, **aligned with its eye line**: the image is turned by
/// `−roll` about the origin so the eyes are level, and the square of side `max(w, h) · enlarge`
/// around the turned landmarks' extents fills the crop. This is the training crop of an upright
/// face, so a face tilted in the photo is presented to the model as it was trained (issue 13,
/// roll at inference). Non-finite points are ignored.
pub fn crop_aligned_to_shape(points: &[Point], roll: f64, spec: &CropSpec) -> Result<Affine2> {
    spec.validate()?;
    AlignedSquare::around(points, roll)?.crop(spec)
}

/// The square a refinement pass crops around a shape ([`crop_aligned_to_shape`]), kept apart
/// from the crop protocol: the extents' centre and side `max(w, h)` of the shape turned by
/// `−roll` (image_px turned about the origin), before the protocol's `enlarge`. A training face
/// may carry one (`Sample::crop_square`, from a first model's prediction) so that a cascade's
/// second model learns on the crops it will see.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlignedSquare {
    /// Centre of the turned shape's extents (in the turned frame).
    pub center: [f64; 2],
    /// `max(w, h)` of the turned shape's extents.
    pub side: f64,
    /// The eye-line angle the image is turned back by (radians).
    pub roll: f64,
}

impl AlignedSquare {
    /// The square around `points` (non-finite ones ignored) turned by `−roll`.
    pub fn around(points: &[Point], roll: f64) -> Result<AlignedSquare> {
        if !roll.is_finite() {
            return Err(Error::invalid("roll", format!("{roll} is not finite")));
        }
        let level = Affine2::rotation(-roll);
        let turned: Vec<Point> = points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite())
            .map(|&p| level.apply(p))
            .collect();
        let bbox = BoxXywh::around(&turned)
            .ok_or_else(|| Error::invalid("landmarks", "no finite landmark to crop around"))?;
        let c = bbox.center();
        Ok(AlignedSquare {
            center: [f64::from(c[0]), f64::from(c[1])],
            side: f64::from(bbox.w.max(bbox.h)),
            roll,
        })
    }

    /// image_px → crop_px of `spec` (side × `spec.enlarge`, aligned with the eye line).
    pub fn crop(&self, spec: &CropSpec) -> Result<Affine2> {
        Ok(Affine2::rotation(-self.roll).then(&crop_from_square(
            self.center,
            self.side * f64::from(spec.enlarge),
            spec.size,
        )?))
    }
}

/// The face of `sample` seen in a photo turned by `degrees` (clockwise on screen): a square view
/// of side `3 · max(w, h)` of its labelled-landmark box, centred on the box and rotated about its
/// centre, as an in-memory image of `size` px with the landmarks (and box) moved with it. Used to
/// measure what a tilted face costs (`eval --rotate`); the view keeps the face whole at any angle.
/// `size: None` keeps the source resolution (side in source pixels, at least 32).
pub fn rotated_view(sample: &Sample, degrees: f64, size: Option<u32>) -> Result<Sample> {
    let bbox = BoxXywh::around(&sample.landmarks).ok_or_else(|| {
        Error::invalid(
            format!("sample `{}`", sample.id),
            "has no labelled landmark",
        )
    })?;
    let c = bbox.center();
    let (cx, cy) = (f64::from(c[0]), f64::from(c[1]));
    let side = 3.0 * f64::from(bbox.w.max(bbox.h));
    let size = size.unwrap_or((side.round() as u32).clamp(32, 4096));
    let turn = Affine2::translation(cx, cy)
        .compose(&Affine2::rotation(degrees.to_radians()))
        .compose(&Affine2::translation(-cx, -cy));
    let view_from_image = turn.then(&crop_from_square([cx, cy], side, size)?);
    let img = sample.image.load_rgb()?;
    let out = warp_rgb(&img, &view_from_image, size)?;
    let mut s = sample.clone();
    s.id = format!("{}@rot{degrees}", sample.id);
    s.image = ImageSource::InMemory {
        // One view per face: the name says which (images are grouped by name, e.g. to run a
        // detector once per photo).
        name: format!(
            "{} (face {} turned {degrees}°)",
            sample.image.display_name(),
            sample.id
        ),
        image: std::sync::Arc::new(out),
    };
    s.landmarks = view_from_image.apply_all(&sample.landmarks);
    s.bbox = None;
    Ok(s)
}

/// The crop for a face box (image_px), after calibration: centre `box centre + (dx·w, dy·h)`,
/// side `max(w, h) · scale · enlarge`. With the identity calibration and the tight landmark box
/// this equals [`crop_from_landmarks`].
pub fn crop_from_box(bbox: &BoxXywh, spec: &CropSpec, calib: &BoxCalibration) -> Result<Affine2> {
    spec.validate()?;
    let c = bbox.center();
    let cx = f64::from(c[0]) + f64::from(calib.dx) * f64::from(bbox.w);
    let cy = f64::from(c[1]) + f64::from(calib.dy) * f64::from(bbox.h);
    let side = f64::from(bbox.w.max(bbox.h)) * f64::from(calib.scale) * f64::from(spec.enlarge);
    crop_from_square([cx, cy], side, spec.size)
}

/// crop_px → crop_u for one coordinate: `u = x / S − 0.5` (the inverse of
/// [`crate::coords::crop_u_to_crop_px`], in f32).
pub fn crop_px_to_u(x: f32, size: u32) -> f32 {
    x / size as f32 - 0.5
}

/// crop_u → crop_px for one coordinate: `x = (u + 0.5) · S` ([`crate::coords::crop_u_to_crop_px`]
/// in f32).
pub fn crop_u_to_px(u: f32, size: u32) -> f32 {
    (u + 0.5) * size as f32
}

/// Landmarks image_px → crop_u.
pub fn landmarks_to_crop_u(
    points_image_px: &[Point],
    crop_from_image: &Affine2,
    size: u32,
) -> Vec<Point> {
    points_image_px
        .iter()
        .map(|&p| crop_from_image.apply(p).map(|v| crop_px_to_u(v, size)))
        .collect()
}

/// Landmarks crop_u → image_px (e.g. predictions back to the photo). Errors if the crop is singular.
pub fn crop_u_to_image_px(
    points_crop_u: &[Point],
    crop_from_image: &Affine2,
    size: u32,
) -> Result<Vec<Point>> {
    let image_from_crop = crop_from_image.inverse().ok_or_else(|| {
        Error::invalid(
            "crop transform",
            format!("{:?} is singular", crop_from_image.m),
        )
    })?;
    Ok(points_crop_u
        .iter()
        .map(|&u| image_from_crop.apply(u.map(|v| crop_u_to_px(v, size))))
        .collect())
}

/// Warp `img` (image_px) into an S×S crop: output pixel (i, j) is the bilinear sample of `img` at
/// `image_from_crop(i, j)`; pixels outside the source count as 0 (black border).
pub fn warp_rgb(img: &RgbImage, crop_from_image: &Affine2, size: u32) -> Result<RgbImage> {
    let image_from_crop = crop_from_image.inverse().ok_or_else(|| {
        Error::invalid(
            "crop transform",
            format!("{:?} is singular", crop_from_image.m),
        )
    })?;
    let mut out = RgbImage::new(size, size);
    let (w, h) = (img.width() as i64, img.height() as i64);
    let src: &[u8] = img.as_raw();
    let stride = (w * 3) as usize;
    let m = image_from_crop.m;
    let dst: &mut [u8] = &mut out;
    for j in 0..size as usize {
        // Row start and per-column step (the map is affine, so samples move linearly along a row).
        let (mut sx, mut sy) = image_from_crop.apply_f64(0.0, j as f64);
        let (stx, sty) = (m[0][0], m[1][0]);
        let row = &mut dst[j * size as usize * 3..(j + 1) * size as usize * 3];
        for px in row.chunks_exact_mut(3) {
            let fx0 = sx.floor();
            let fy0 = sy.floor();
            let (x0, y0) = (fx0 as i64, fy0 as i64);
            let (fx, fy) = ((sx - fx0) as f32, (sy - fy0) as f32);
            if x0 >= 0 && y0 >= 0 && x0 + 1 < w && y0 + 1 < h {
                let o00 = y0 as usize * stride + x0 as usize * 3;
                let o10 = o00 + 3;
                let o01 = o00 + stride;
                let o11 = o01 + 3;
                let (w00, w10, w01, w11) = (
                    (1.0 - fx) * (1.0 - fy),
                    fx * (1.0 - fy),
                    (1.0 - fx) * fy,
                    fx * fy,
                );
                for c in 0..3 {
                    let v = w00 * f32::from(src[o00 + c])
                        + w10 * f32::from(src[o10 + c])
                        + w01 * f32::from(src[o01 + c])
                        + w11 * f32::from(src[o11 + c]);
                    px[c] = (v + 0.5).min(255.0) as u8;
                }
            } else if x0 >= -1 && y0 >= -1 && x0 < w && y0 < h {
                // Border: neighbours outside the image contribute 0.
                let mut acc = [0.0f32; 3];
                for (dx, dy, wt) in [
                    (0, 0, (1.0 - fx) * (1.0 - fy)),
                    (1, 0, fx * (1.0 - fy)),
                    (0, 1, (1.0 - fx) * fy),
                    (1, 1, fx * fy),
                ] {
                    let (x, y) = (x0 + dx, y0 + dy);
                    if x >= 0 && y >= 0 && x < w && y < h && wt > 0.0 {
                        let o = y as usize * stride + x as usize * 3;
                        for c in 0..3 {
                            acc[c] += wt * f32::from(src[o + c]);
                        }
                    }
                }
                for c in 0..3 {
                    px[c] = (acc[c] + 0.5).min(255.0) as u8;
                }
            }
            sx += stx;
            sy += sty;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: Point, b: Point, tol: f32) -> bool {
        (a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol
    }

    #[test]
    fn hand_computed_crop() {
        // Landmarks spanning x ∈ [100, 200], y ∈ [50, 130]: a 100×80 box centred at (150, 90).
        // side = max(100, 80) · 1.25 = 125; S = 125 ⇒ k = S / side = 1.
        // x_crop = 1·(x − 150) + (125 − 1)/2 = x − 88; y_crop = y − 28.
        let pts = [[100.0, 50.0], [200.0, 130.0], [150.0, 90.0], [120.0, 70.0]];
        let spec = CropSpec {
            size: 125,
            enlarge: 1.25,
        };
        let t = crop_from_landmarks(&pts, &spec).unwrap();
        assert!(close(t.apply([150.0, 90.0]), [62.0, 62.0], 1e-5));
        assert!(close(t.apply([100.0, 50.0]), [12.0, 22.0], 1e-5));
        assert!(close(t.apply([200.0, 130.0]), [112.0, 102.0], 1e-5));
        // The box edges cx ± 62.5 = 87.5 and 212.5 map to the crop pixel edges −0.5 and 124.5.
        assert!(close(t.apply([87.5, 27.5]), [-0.5, -0.5], 1e-5));
        assert!(close(t.apply([212.5, 152.5]), [124.5, 124.5], 1e-5));
        // crop_u of the centre: 62 / 125 − 0.5 = −0.004.
        let u = landmarks_to_crop_u(&[[150.0, 90.0]], &t, 125);
        assert!(close(u[0], [-0.004, -0.004], 1e-6));
        // Halving S to 62.5 would need k = 0.5: check S = 250 gives k = 2, centre at 124.5.
        let t2 = crop_from_landmarks(
            &pts,
            &CropSpec {
                size: 250,
                enlarge: 1.25,
            },
        )
        .unwrap();
        assert!(close(t2.apply([150.0, 90.0]), [124.5, 124.5], 1e-5));
        assert!(close(t2.apply([151.0, 90.0]), [126.5, 124.5], 1e-5));
    }

    /// A 40 × 20 box at (10, 30): centre (30, 40).
    fn box_40x20() -> BoxXywh {
        BoxXywh {
            x: 10.0,
            y: 30.0,
            w: 40.0,
            h: 20.0,
        }
    }

    #[test]
    fn box_calibration_moves_and_scales() {
        // Box 40×20 at (10, 30): centre (30, 40). dx = 0.25 ⇒ +10 px, dy = −0.5 ⇒ −10 px.
        // side = 40 · 1.5 · 1.0 = 60, S = 60 ⇒ k = 1, centre (40, 30) → (29.5, 29.5).
        let b = box_40x20();
        let c = BoxCalibration {
            dx: 0.25,
            dy: -0.5,
            scale: 1.5,
        };
        let t = crop_from_box(
            &b,
            &CropSpec {
                size: 60,
                enlarge: 1.0,
            },
            &c,
        )
        .unwrap();
        assert!(close(t.apply([40.0, 30.0]), [29.5, 29.5], 1e-5));
        assert!((t.scale() - 1.0).abs() < 1e-12);
        // fit recovers it from one pair: target box centred at (40, 30), side 60.
        let target = BoxXywh {
            x: 10.0,
            y: 0.0,
            w: 60.0,
            h: 60.0,
        };
        let f = BoxCalibration::fit(&[(b, target)]).unwrap();
        assert!(
            (f.dx - 0.25).abs() < 1e-6 && (f.dy + 0.5).abs() < 1e-6 && (f.scale - 1.5).abs() < 1e-6
        );
        assert!(BoxCalibration::fit(&[]).is_err());
    }

    #[test]
    fn equivalent_box_gives_the_other_sources_crop() {
        // A 40 × 20 box at (10, 30), centre (30, 40), from a source calibrated by `other`.
        let b = box_40x20();
        let other = BoxCalibration {
            dx: 0.1,
            dy: 0.25,
            scale: 1.2,
        };
        let this = BoxCalibration {
            dx: -0.05,
            dy: 0.1,
            scale: 0.8,
        };
        // By hand: side 40 · 1.2 / 0.8 = 60; centre (30 + 4 + 3, 40 + 5 − 6) = (37, 39).
        let e = this.equivalent_box(&b, &other);
        let want = [7.0, 9.0, 60.0, 60.0];
        for (got, want) in [e.x, e.y, e.w, e.h].into_iter().zip(want) {
            assert!((got - want).abs() < 1e-4, "{e:?}");
        }
        let spec = CropSpec::new(96);
        let (a, c) = (
            crop_from_box(&b, &spec, &other).unwrap(),
            crop_from_box(&e, &spec, &this).unwrap(),
        );
        for p in [[0.0, 0.0], [37.0, 39.0], [100.0, -20.0]] {
            assert!(close(a.apply(p), c.apply(p), 1e-3), "{p:?}");
        }
    }

    #[test]
    fn degenerate_inputs_are_errors() {
        let spec = CropSpec::new(64);
        assert!(crop_from_landmarks(&[], &spec).is_err());
        assert!(crop_from_landmarks(&[[3.0, 4.0], [3.0, 4.0]], &spec).is_err());
        assert!(crop_from_landmarks(&[[f32::NAN, 1.0]], &spec).is_err());
        assert!(crop_from_landmarks(
            &[[0.0, 0.0], [1.0, 1.0]],
            &CropSpec {
                size: 0,
                enlarge: 1.25
            }
        )
        .is_err());
        assert!(Affine2::scaling(0.0).inverse().is_none());
        assert!(warp_rgb(&RgbImage::new(4, 4), &Affine2::scaling(0.0), 4).is_err());
    }

    #[test]
    fn warp_identity_and_shift_are_exact() {
        // 4×3 image with distinct values; the identity warp reproduces it, the border is 0.
        let img = RgbImage::from_fn(4, 3, |x, y| image::Rgb([(10 * x + y) as u8, 100, 200]));
        let out = warp_rgb(&img, &Affine2::IDENTITY, 5).unwrap();
        for y in 0..5 {
            for x in 0..5 {
                let want = if x < 4 && y < 3 {
                    img.get_pixel(x, y).0
                } else {
                    [0, 0, 0]
                };
                assert_eq!(out.get_pixel(x, y).0, want, "({x}, {y})");
            }
        }
        // crop_from_image = translate(−0.5, 0): output (0, 0) samples image (0.5, 0):
        // (0 + 10)/2 = 5 for channel 0.
        let out = warp_rgb(&img, &Affine2::translation(-0.5, 0.0), 4).unwrap();
        assert_eq!(out.get_pixel(0, 0).0[0], 5);
        // Output (3, 0) samples (3.5, 0): 0.5·30 + 0.5·0 (outside) = 15.
        assert_eq!(out.get_pixel(3, 0).0[0], 15);
    }

    fn affine() -> impl Strategy<Value = Affine2> {
        (
            0.2f64..5.0,
            -3.2f64..3.2,
            -200.0f64..200.0,
            -200.0f64..200.0,
            any::<bool>(),
        )
            .prop_map(|(s, r, tx, ty, m)| {
                let a = Affine2::similarity(s, r, tx, ty);
                if m {
                    a * Affine2::mirror_x(17)
                } else {
                    a
                }
            })
    }

    fn mat_close(a: &Affine2, b: &Affine2, tol: f64) -> bool {
        (0..2)
            .all(|r| (0..3).all(|c| (a.m[r][c] - b.m[r][c]).abs() <= tol * (1.0 + b.m[r][c].abs())))
    }

    proptest! {
        #[test]
        fn compose_matches_sequential_application(a in affine(), b in affine(), x in -300.0f64..300.0, y in -300.0f64..300.0) {
            let (bx, by) = b.apply_f64(x, y);
            let (ex, ey) = a.apply_f64(bx, by);
            let (gx, gy) = (a * b).apply_f64(x, y);
            prop_assert!((ex - gx).abs() < 1e-9 * (1.0 + ex.abs()) && (ey - gy).abs() < 1e-9 * (1.0 + ey.abs()));
            prop_assert!(mat_close(&a.then(&b), &(b * a), 1e-12));
        }

        #[test]
        fn compose_is_associative_and_inverse_laws_hold(a in affine(), b in affine(), c in affine()) {
            prop_assert!(mat_close(&((a * b) * c), &(a * (b * c)), 1e-9));
            let ai = a.inverse().unwrap();
            prop_assert!(mat_close(&(a * ai), &Affine2::IDENTITY, 1e-9));
            prop_assert!(mat_close(&(ai * a), &Affine2::IDENTITY, 1e-9));
            let abi = (a * b).inverse().unwrap();
            prop_assert!(mat_close(&abi, &(b.inverse().unwrap() * ai), 1e-9));
        }

        #[test]
        fn crop_then_inverse_is_identity(
            pts in prop::collection::vec((0.0f32..2000.0, 0.0f32..2000.0), 2..20),
            size in 16u32..512,
            enlarge in 1.0f32..2.0,
        ) {
            let pts: Vec<Point> = pts.into_iter().map(|(x, y)| [x, y]).collect();
            let b = BoxXywh::around(&pts).unwrap();
            prop_assume!(b.w.max(b.h) > 1.0);
            let t = crop_from_landmarks(&pts, &CropSpec { size, enlarge }).unwrap();
            let u = landmarks_to_crop_u(&pts, &t, size);
            let back = crop_u_to_image_px(&u, &t, size).unwrap();
            // In f64 the round trip is exact to 1e-4 px; through f32 crop_u the tolerance grows
            // with the coordinate magnitude (f32 has ~7 significant digits).
            let ti = t.inverse().unwrap();
            for p in &pts {
                let (cx, cy) = t.apply_f64(f64::from(p[0]), f64::from(p[1]));
                let (x, y) = ti.apply_f64(cx, cy);
                prop_assert!((x - f64::from(p[0])).abs() < 1e-4 && (y - f64::from(p[1])).abs() < 1e-4);
            }
            for (p, q) in pts.iter().zip(&back) {
                prop_assert!(close(*p, *q, 1e-4 * (1.0 + p[0].abs().max(p[1].abs()) / 100.0)), "{p:?} vs {q:?}");
            }
            // With enlarge ≥ 1 every landmark is inside the crop's pixel area [−0.5, S − 0.5],
            // i.e. u ∈ [−0.5 − 0.5/S, 0.5 − 0.5/S].
            let (lo, hi) = (-0.5 - 0.5 / size as f32 - 1e-5, 0.5 - 0.5 / size as f32 + 1e-5);
            for q in &u {
                prop_assert!(q[0] >= lo && q[0] <= hi && q[1] >= lo && q[1] <= hi, "{q:?}");
            }
            // crop_from_box on the tight box with identity calibration is the same crop.
            let tb = crop_from_box(&b, &CropSpec { size, enlarge }, &BoxCalibration::IDENTITY).unwrap();
            prop_assert!(mat_close(&t, &tb, 1e-12));
        }

        #[test]
        fn mirror_is_an_involution(size in 1u32..300, x in -50.0f32..350.0, y in -50.0f32..350.0) {
            let f = Affine2::mirror_x(size);
            prop_assert!(mat_close(&(f * f), &Affine2::IDENTITY, 0.0));
            let p = f.apply([x, y]);
            prop_assert!((p[0] - (size as f32 - 1.0 - x)).abs() < 1e-3 && p[1] == y);
        }
    }

    #[test]
    fn an_aligned_square_keeps_the_shape_apart_from_the_crop_protocol() {
        // Extents x 30..70, y 40..80 at zero roll: centre (50, 60), side max(40, 40) = 40.
        let pts: Vec<Point> = vec![[30.0, 40.0], [70.0, 40.0], [50.0, 60.0], [50.0, 80.0]];
        let sq = AlignedSquare::around(&pts, 0.0).unwrap();
        assert_eq!((sq.center, sq.side, sq.roll), ([50.0, 60.0], 40.0, 0.0));
        // At 96 px and enlarge 1.25 the crop is 50 image px wide: scale 96 / 50, and the centre
        // lands on crop_px (96 − 1) / 2.
        let spec = CropSpec {
            size: 96,
            enlarge: 1.25,
        };
        let t = sq.crop(&spec).unwrap();
        assert!((t.m[0][0] - 96.0 / 50.0).abs() < 1e-12 && t.m[0][1].abs() < 1e-12);
        let c = t.apply([50.0, 60.0]);
        assert!(
            (c[0] - 47.5).abs() < 1e-4 && (c[1] - 47.5).abs() < 1e-4,
            "{c:?}"
        );
        // The same crop as crop_aligned_to_shape at any roll, bit for bit, and the side is
        // enlarged by the protocol it is cropped with, not the one it was found with.
        let roll = 0.3;
        let a = crop_aligned_to_shape(&pts, roll, &spec).unwrap();
        assert_eq!(
            AlignedSquare::around(&pts, roll)
                .unwrap()
                .crop(&spec)
                .unwrap(),
            a
        );
        let wide = sq
            .crop(&CropSpec {
                size: 96,
                enlarge: 2.0,
            })
            .unwrap();
        assert!((wide.m[0][0] - 96.0 / 80.0).abs() < 1e-12);
        // No finite point, or a non-finite roll, is an error.
        assert!(AlignedSquare::around(&[[f32::NAN, 1.0]], 0.0).is_err());
        assert!(AlignedSquare::around(&pts, f64::NAN).is_err());
    }

    #[test]
    fn aligned_crop_levels_the_eyes_and_equals_the_plain_crop_at_zero_roll() {
        let spec = CropSpec::new(64);
        let pts: Vec<Point> = vec![
            [30.0, 40.0],
            [70.0, 40.0],
            [50.0, 60.0],
            [35.0, 80.0],
            [65.0, 80.0],
        ];
        let plain = crop_from_landmarks(&pts, &spec).unwrap();
        let aligned = crop_aligned_to_shape(&pts, 0.0, &spec).unwrap();
        for (a, b) in plain.m.iter().flatten().zip(aligned.m.iter().flatten()) {
            assert!((a - b).abs() < 1e-9);
        }
        // The same face turned by 40° about (50, 60): the aligned crop of the turned shape with
        // its roll puts every point where the plain crop put the upright one.
        let turn = Affine2::translation(50.0, 60.0)
            .compose(&Affine2::rotation(40f64.to_radians()))
            .compose(&Affine2::translation(-50.0, -60.0));
        let tilted = turn.apply_all(&pts);
        let roll =
            f64::from(tilted[1][1] - tilted[0][1]).atan2(f64::from(tilted[1][0] - tilted[0][0]));
        assert!((roll - 40f64.to_radians()).abs() < 1e-5);
        let t = crop_aligned_to_shape(&tilted, roll, &spec).unwrap();
        for (p, q) in plain.apply_all(&pts).iter().zip(t.apply_all(&tilted)) {
            assert!(
                (p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3,
                "{p:?} {q:?}"
            );
        }
    }

    #[test]
    fn rotated_view_turns_the_face_and_keeps_pixels_under_their_landmarks() {
        use crate::scheme::{Scheme, SchemeId};
        // A bright dot at each landmark of a 5-point face on a dark 100×100 image.
        let pts: Vec<Point> = vec![
            [40.0, 40.0],
            [60.0, 40.0],
            [50.0, 52.0],
            [42.0, 62.0],
            [58.0, 62.0],
        ];
        let mut img = RgbImage::new(100, 100);
        for p in &pts {
            for dy in -1..=1 {
                for dx in -1..=1 {
                    img.put_pixel(
                        (p[0] as i32 + dx) as u32,
                        (p[1] as i32 + dy) as u32,
                        image::Rgb([255, 255, 255]),
                    );
                }
            }
        }
        let sample = Sample::new(
            "f",
            ImageSource::InMemory {
                name: "f".into(),
                image: std::sync::Arc::new(img),
            },
            pts.clone(),
        );
        let view = rotated_view(&sample, 30.0, None).unwrap();
        let sc = Scheme::get(SchemeId::Five);
        let roll = sc.roll(&view.landmarks).to_degrees();
        assert!((roll - 30.0).abs() < 1e-3, "{roll}");
        // Side 3 · max(w, h) = 3 · 22 = 66 px, and the landmarks still sit on their dots.
        let v = view.image.load_rgb().unwrap();
        assert_eq!(v.dimensions(), (66, 66));
        for p in &view.landmarks {
            let px = v.get_pixel(p[0].round() as u32, p[1].round() as u32);
            assert!(px.0[0] > 100, "dot lost at {p:?}");
        }
        // Two faces of one photo get views of their own, with names of their own (a detector
        // runs once per image name: one shared name once scored every face in the first view).
        let mut other = sample.clone();
        other.id = "g".into();
        other.landmarks = pts.iter().map(|p| [p[0] - 20.0, p[1] - 20.0]).collect();
        let second = rotated_view(&other, 30.0, None).unwrap();
        assert_ne!(view.image.display_name(), second.image.display_name());
        assert_eq!(view.image.display_name(), "f (face f turned 30°)");
    }
}
