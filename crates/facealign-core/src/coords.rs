//! Every coordinate space of facealign, and the named maps between them.
//!
//! | space | what | range |
//! |---|---|---|
//! | **image_px** | 0-based pixels of the source photo, pixel centres at integers | the image |
//! | **crop_px** | 0-based pixels of the S×S model input | `−0.5 … S − 0.5` (pixel edges) |
//! | **crop_u** | model units (SPEC Decision 1): `u = x / S − 0.5` | `−0.5 … 0.5` |
//! | **heatmap cell** | 0-based cell index of a w×w heatmap; cell j's centre is crop_px `(j + 0.5)·S/w − 0.5` | `−0.5 … w − 0.5` |
//! | **heatmap grid** | STAR's `[−1, 1]` grid: cell j ↦ `2j/(w − 1) − 1` | `−1 … 1` at the centres of the end cells |
//!
//! image_px ↔ crop_px is a 2-D similarity per face (`geometry::Affine2`, from the crop); the
//! other maps are the same for x and y, so each is an [`Affine1`] (`y = scale·x + offset`) that
//! scalar code applies with [`Affine1::apply`], tensor code as `x * scale + offset`, and the
//! ONNX graph as a Mul and an Add: one formula for every runtime.

/// A landmark position `[x, y]` (its space is said where it is used).
pub type Point = [f32; 2];

/// An axis-aligned box in image_px: top-left corner and size.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BoxXywh {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
}

/// The smallest side, in pixels, of a face box a user gives (`predict --box`, the Python
/// package's `predict_boxes`): a box below one pixel holds no face, and its crop would magnify
/// less than a pixel to the whole network input.
pub const MIN_USER_BOX_SIDE: f32 = 1.0;

impl BoxXywh {
    /// A face box given by a user as `[x, y, w, h]` in image_px: four finite numbers within
    /// ±[`crate::data::MAX_COORD`], sides at least [`MIN_USER_BOX_SIDE`]. Otherwise the rule, to
    /// follow the caller's name of the value in an error.
    pub fn from_user(v: &[f64]) -> std::result::Result<BoxXywh, String> {
        let max = f64::from(crate::data::MAX_COORD);
        let min_side = f64::from(MIN_USER_BOX_SIDE);
        match v {
            [x, y, w, h]
                if v.iter().all(|t| t.is_finite() && t.abs() <= max)
                    && *w >= min_side
                    && *h >= min_side =>
            {
                Ok(BoxXywh {
                    x: *x as f32,
                    y: *y as f32,
                    w: *w as f32,
                    h: *h as f32,
                })
            }
            _ => Err(format!(
                "expected four finite numbers x, y, w, h (|v| ≤ {max}) with w, h ≥ {min_side} pixel"
            )),
        }
    }

    /// The tight box around the finite `points` (None when there is none).
    pub fn around(points: &[Point]) -> Option<BoxXywh> {
        let mut it = points
            .iter()
            .filter(|p| p[0].is_finite() && p[1].is_finite());
        let first = it.next()?;
        let (mut x0, mut y0, mut x1, mut y1) = (first[0], first[1], first[0], first[1]);
        for p in it {
            x0 = x0.min(p[0]);
            y0 = y0.min(p[1]);
            x1 = x1.max(p[0]);
            y1 = y1.max(p[1]);
        }
        Some(BoxXywh {
            x: x0,
            y: y0,
            w: x1 - x0,
            h: y1 - y0,
        })
    }
    /// Centre of the box.
    pub fn center(&self) -> Point {
        [self.x + self.w / 2.0, self.y + self.h / 2.0]
    }
}

impl BoxXywh {
    /// `[x, y, w, h]`.
    pub fn to_array(&self) -> [f32; 4] {
        [self.x, self.y, self.w, self.h]
    }
    /// From `[x, y, w, h]`.
    pub fn from_array([x, y, w, h]: [f32; 4]) -> BoxXywh {
        BoxXywh { x, y, w, h }
    }
}

/// Serde of a [`BoxXywh`] as the array `[x, y, w, h]` (the JSON of `facealign predict`):
/// `#[serde(with = "facealign_core::coords::xywh_array")]`.
pub mod xywh_array {
    use super::BoxXywh;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(b: &BoxXywh, s: S) -> Result<S::Ok, S::Error> {
        b.to_array().serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<BoxXywh, D::Error> {
        <[f32; 4]>::deserialize(d).map(BoxXywh::from_array)
    }
}

/// A 1-D affine map `y = scale·x + offset` between two coordinate spaces.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine1 {
    pub scale: f64,
    pub offset: f64,
}

impl Affine1 {
    /// `scale·x + offset`.
    pub fn apply(&self, x: f64) -> f64 {
        self.scale * x + self.offset
    }
    /// The inverse map (`scale` must be non-zero: every map here has a positive scale).
    pub fn inverse(&self) -> Affine1 {
        Affine1 {
            scale: 1.0 / self.scale,
            offset: -self.offset / self.scale,
        }
    }
    /// `next ∘ self`: first this map, then `next`.
    pub fn then(&self, next: Affine1) -> Affine1 {
        Affine1 {
            scale: next.scale * self.scale,
            offset: next.scale * self.offset + next.offset,
        }
    }
}

/// crop_u → crop_px of an S-px crop: `x = (u + 0.5)·S`.
pub fn crop_u_to_crop_px(size: f64) -> Affine1 {
    Affine1 {
        scale: size,
        offset: 0.5 * size,
    }
}

/// crop_px → heatmap cell of a w-cell map over an S-px crop: `j = (x + 0.5)·w/S − 0.5`.
pub fn crop_px_to_cell(size: f64, cells: f64) -> Affine1 {
    let k = cells / size;
    Affine1 {
        scale: k,
        offset: 0.5 * k - 0.5,
    }
}

/// heatmap cell → heatmap grid (STAR's `[−1, 1]`): `g = 2j/(w − 1) − 1`.
pub fn cell_to_grid(cells: f64) -> Affine1 {
    Affine1 {
        scale: 2.0 / (cells - 1.0),
        offset: -1.0,
    }
}

/// crop_u → heatmap cell.
pub fn crop_u_to_cell(size: f64, cells: f64) -> Affine1 {
    crop_u_to_crop_px(size).then(crop_px_to_cell(size, cells))
}

/// crop_u → heatmap grid.
pub fn crop_u_to_grid(size: f64, cells: f64) -> Affine1 {
    crop_u_to_cell(size, cells).then(cell_to_grid(cells))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    #[test]
    fn user_boxes_need_four_finite_numbers_and_a_pixel_a_side() {
        let b = BoxXywh::from_user(&[10.0, -5.0, 1.0, 40.5]).expect("a thin box is a box");
        assert_eq!(
            b,
            BoxXywh {
                x: 10.0,
                y: -5.0,
                w: 1.0,
                h: 40.5
            }
        );
        for bad in [
            vec![0.0, 0.0, 1e-30, 1e-30],
            vec![0.0, 0.0, 0.999, 5.0],
            vec![0.0, 0.0, 5.0, 0.0],
            vec![0.0, 0.0, -5.0, 5.0],
            vec![0.0, 0.0, f64::NAN, 5.0],
            vec![0.0, f64::INFINITY, 5.0, 5.0],
            vec![2e6, 0.0, 5.0, 5.0],
            vec![0.0, 0.0, 5.0],
            vec![0.0, 0.0, 5.0, 5.0, 1.0],
        ] {
            let e = BoxXywh::from_user(&bad).unwrap_err();
            assert_eq!(
                e, "expected four finite numbers x, y, w, h (|v| ≤ 1000000) with w, h ≥ 1 pixel",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn named_maps_hand_values() {
        // S = 128: u = x/S − 0.5, so u = −0.5 is crop_px 0 and u = 0 is crop_px 64.
        let m = crop_u_to_crop_px(128.0);
        assert!(close(m.apply(-0.5), 0.0) && close(m.apply(0.0), 64.0));
        // 32 cells over 128 px (4 px per cell): cell 0's centre is crop_px 1.5, cell 31's 125.5.
        let c = crop_px_to_cell(128.0, 32.0);
        assert!(close(c.apply(1.5), 0.0) && close(c.apply(125.5), 31.0));
        // The grid puts the end cells' centres at ±1.
        let g = cell_to_grid(32.0);
        assert!(close(g.apply(0.0), -1.0) && close(g.apply(31.0), 1.0));
        // Composite: cell 0's centre in crop_u (1.5/128 − 0.5) is grid −1.
        assert!(close(
            crop_u_to_grid(128.0, 32.0).apply(1.5 / 128.0 - 0.5),
            -1.0
        ));
    }

    #[test]
    fn inverse_and_then_round_trip() {
        let m = crop_u_to_grid(80.0, 20.0);
        for u in [-0.5, -0.13, 0.0, 0.21, 0.5] {
            assert!(close(m.inverse().apply(m.apply(u)), u));
        }
        let a = Affine1 {
            scale: 2.0,
            offset: 1.0,
        };
        let b = Affine1 {
            scale: -3.0,
            offset: 0.5,
        };
        assert!(close(a.then(b).apply(0.7), b.apply(a.apply(0.7))));
    }

    #[test]
    fn a_box_serialises_as_xywh_array_when_asked() {
        #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
        struct F {
            #[serde(rename = "box", with = "xywh_array")]
            b: BoxXywh,
        }
        let f = F {
            b: BoxXywh::from_array([1.0, 2.5, 3.0, 4.0]),
        };
        let text = serde_json::to_string(&f).unwrap();
        assert_eq!(text, r#"{"box":[1.0,2.5,3.0,4.0]}"#);
        assert_eq!(serde_json::from_str::<F>(&text).unwrap(), f);
        assert!(serde_json::from_str::<F>(r#"{"box":[1,2,3]}"#).is_err());
    }

    #[test]
    fn box_around_skips_non_finite_points() {
        let b = BoxXywh::around(&[[1.0, 2.0], [f32::NAN, 0.0], [5.0, -1.0]]).unwrap();
        assert_eq!(
            b,
            BoxXywh {
                x: 1.0,
                y: -1.0,
                w: 4.0,
                h: 3.0
            }
        );
        assert_eq!(b.center(), [3.0, 0.5]);
        assert!(BoxXywh::around(&[[f32::NAN, 1.0]]).is_none());
    }
}
