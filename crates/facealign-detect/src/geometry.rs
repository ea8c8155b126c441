//! Box geometry shared by the detectors: IoU, hard NMS and the map between a detector's
//! input tensor frame and image_px.
//!
//! Spaces:
//! - **input_edge**: continuous coordinates in the detector's input tensor, where pixel `i`
//!   covers `[i, i + 1)` (what the networks regress; also what `image::imageops::resize`
//!   samples with: output pixel `i` takes the source point `(i + 0.5) / s`).
//! - **image_px**: 0-based pixel coordinates of the source image with pixel centres at
//!   integers (the facealign convention), so pixel `i` covers `[i − 0.5, i + 0.5)`.
use facealign_core::BoxXywh;

/// Corners `[x0, y0, x1, y1]` of a box.
pub type Corners = [f32; 4];

/// Intersection over union of two corner boxes; 0 when either is empty.
pub fn iou(a: &Corners, b: &Corners) -> f32 {
    let iw = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let ih = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let inter = iw * ih;
    let area_a = (a[2] - a[0]).max(0.0) * (a[3] - a[1]).max(0.0);
    let area_b = (b[2] - b[0]).max(0.0) * (b[3] - b[1]).max(0.0);
    let union = area_a + area_b - inter;
    if union <= 0.0 {
        0.0
    } else {
        inter / union
    }
}

/// IoU of two `BoxXywh`.
pub fn iou_xywh(a: &BoxXywh, b: &BoxXywh) -> f32 {
    iou(&corners(a), &corners(b))
}

/// `BoxXywh` to corners.
pub fn corners(b: &BoxXywh) -> Corners {
    [b.x, b.y, b.x + b.w, b.y + b.h]
}

/// Greedy hard NMS: indices of the kept boxes, highest score first. A box is dropped when
/// its IoU with an already kept box is **above** `iou_threshold` (as OpenCV `NMSBoxes` and
/// UltraFace's `hard_nms`). NaN scores sort last.
pub fn nms(boxes: &[Corners], scores: &[f32], iou_threshold: f32) -> Vec<usize> {
    let mut order: Vec<usize> = (0..boxes.len().min(scores.len())).collect();
    order.sort_by(|&i, &j| {
        scores[j]
            .partial_cmp(&scores[i])
            .unwrap_or(std::cmp::Ordering::Equal)
    });
    let mut keep: Vec<usize> = Vec::new();
    for i in order {
        if keep
            .iter()
            .all(|&k| iou(&boxes[k], &boxes[i]) <= iou_threshold)
        {
            keep.push(i);
        }
    }
    keep
}

/// An axis-aligned map from the source image to a detector input: the image is scaled by
/// `(sx, sy)` and placed at `(pad_x, pad_y)` in the input tensor (a plain resize has
/// `pad = 0`; a letterbox has `sx = sy`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputMap {
    pub sx: f32,
    pub sy: f32,
    pub pad_x: f32,
    pub pad_y: f32,
}

impl InputMap {
    /// Plain resize of a `w × h` image to `in_w × in_h` (aspect not kept).
    pub fn resize(w: u32, h: u32, in_w: u32, in_h: u32) -> InputMap {
        InputMap {
            sx: in_w as f32 / w.max(1) as f32,
            sy: in_h as f32 / h.max(1) as f32,
            pad_x: 0.0,
            pad_y: 0.0,
        }
    }

    /// Letterbox: the largest uniform scale that fits `w × h` inside `in_w × in_h`, image at
    /// the top-left corner, padding right and bottom. Returns the map and the scaled size
    /// (at least 1 × 1).
    pub fn letterbox(w: u32, h: u32, in_w: u32, in_h: u32) -> (InputMap, u32, u32) {
        let s = (in_w as f32 / w.max(1) as f32).min(in_h as f32 / h.max(1) as f32);
        let rw = ((w as f32 * s).round() as u32).clamp(1, in_w);
        let rh = ((h as f32 * s).round() as u32).clamp(1, in_h);
        // The effective scale of each axis after rounding the resized size.
        let map = InputMap {
            sx: rw as f32 / w.max(1) as f32,
            sy: rh as f32 / h.max(1) as f32,
            pad_x: 0.0,
            pad_y: 0.0,
        };
        (map, rw, rh)
    }

    /// A point in input_edge coordinates to image_px.
    pub fn image_from_input(&self, p: [f32; 2]) -> [f32; 2] {
        [
            (p[0] - self.pad_x) / self.sx - 0.5,
            (p[1] - self.pad_y) / self.sy - 0.5,
        ]
    }

    /// A point in image_px to input_edge coordinates (inverse of `image_from_input`).
    pub fn input_from_image(&self, p: [f32; 2]) -> [f32; 2] {
        [
            (p[0] + 0.5) * self.sx + self.pad_x,
            (p[1] + 0.5) * self.sy + self.pad_y,
        ]
    }

    /// Input_edge corners to an image_px box. A box's edges move like points: the edge at
    /// input `x0` is the image_px position `image_from_input(x0)` (edges sit half a pixel off
    /// the pixel centres).
    pub fn box_image_from_input(&self, c: &Corners) -> BoxXywh {
        let p0 = self.image_from_input([c[0], c[1]]);
        let p1 = self.image_from_input([c[2], c[3]]);
        BoxXywh {
            x: p0[0],
            y: p0[1],
            w: p1[0] - p0[0],
            h: p1[1] - p0[1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn iou_hand_computed() {
        // [0,0,2,2] and [1,1,3,3]: intersection 1×1 = 1, union 4 + 4 − 1 = 7.
        assert!((iou(&[0.0, 0.0, 2.0, 2.0], &[1.0, 1.0, 3.0, 3.0]) - 1.0 / 7.0).abs() < 1e-6);
        // Disjoint boxes.
        assert_eq!(iou(&[0.0, 0.0, 1.0, 1.0], &[2.0, 2.0, 3.0, 3.0]), 0.0);
        // Identical boxes.
        assert!((iou(&[1.0, 2.0, 4.0, 6.0], &[1.0, 2.0, 4.0, 6.0]) - 1.0).abs() < 1e-6);
        // Empty boxes give 0, not NaN.
        assert_eq!(iou(&[0.0, 0.0, 0.0, 0.0], &[0.0, 0.0, 0.0, 0.0]), 0.0);
    }

    #[test]
    fn nms_keeps_best_of_overlapping() {
        // Box 2 is box 0 shifted by 0.1: intersection 1.9 × 2 = 3.8, IoU 3.8 / (4 + 4 − 3.8)
        // = 0.905. Box 3 is disjoint from all.
        let boxes = [
            [0.0, 0.0, 2.0, 2.0],
            [1.0, 1.0, 3.0, 3.0],
            [0.1, 0.0, 2.1, 2.0],
            [5.0, 5.0, 6.0, 6.0],
        ];
        let scores = [0.8, 0.7, 0.9, 0.1];
        // Threshold 0.3: 2 (0.9) kept; 0 dropped (IoU 0.905 with 2); 1: IoU with 2 is
        // 1.1·1/(4+4−1.1) = 1.1/6.9 = 0.159 ≤ 0.3 kept; 3 disjoint kept.
        assert_eq!(nms(&boxes, &scores, 0.3), vec![2, 1, 3]);
        // Threshold 0.1: box 1 (0.159 > 0.1) is dropped too.
        assert_eq!(nms(&boxes, &scores, 0.1), vec![2, 3]);
        assert!(nms(&[], &[], 0.3).is_empty());
    }

    #[test]
    fn letterbox_hand_computed() {
        // 500×250 into 640×640: s = min(1.28, 2.56) = 1.28 → 640×320, padding at the bottom.
        let (m, rw, rh) = InputMap::letterbox(500, 250, 640, 640);
        assert_eq!((rw, rh), (640, 320));
        assert!((m.sx - 1.28).abs() < 1e-6 && (m.sy - 1.28).abs() < 1e-6);
        // Input edge 0 is image_px −0.5; input edge 640 is image_px 500 − 0.5 = 499.5.
        let p = m.image_from_input([640.0, 0.0]);
        assert!((p[0] - 499.5).abs() < 1e-4 && (p[1] + 0.5).abs() < 1e-6);
    }

    #[test]
    fn resize_box_maps_back() {
        // 640×480 → 320×240 halves both axes. Input box [10, 20, 30, 60] → edges ×2 =
        // [20, 40, 60, 120] → image_px x = 19.5, y = 39.5, w = 40, h = 80.
        let m = InputMap::resize(640, 480, 320, 240);
        let b = m.box_image_from_input(&[10.0, 20.0, 30.0, 60.0]);
        assert!((b.x - 19.5).abs() < 1e-5 && (b.y - 39.5).abs() < 1e-5);
        assert!((b.w - 40.0).abs() < 1e-5 && (b.h - 80.0).abs() < 1e-5);
    }

    proptest! {
        #[test]
        fn input_map_round_trip(w in 1u32..3000, h in 1u32..3000, x in -10.0f32..3000.0, y in -10.0f32..3000.0) {
            for m in [InputMap::resize(w, h, 320, 240), InputMap::letterbox(w, h, 640, 640).0] {
                let q = m.image_from_input(m.input_from_image([x, y]));
                prop_assert!((q[0] - x).abs() < 1e-2 * (1.0 + x.abs() / 100.0));
                prop_assert!((q[1] - y).abs() < 1e-2 * (1.0 + y.abs() / 100.0));
            }
        }

        #[test]
        fn iou_symmetric_and_bounded(a in prop::array::uniform4(0.0f32..100.0), b in prop::array::uniform4(0.0f32..100.0)) {
            let a = [a[0].min(a[2]), a[1].min(a[3]), a[0].max(a[2]), a[1].max(a[3])];
            let b = [b[0].min(b[2]), b[1].min(b[3]), b[0].max(b[2]), b[1].max(b[3])];
            let (ab, ba) = (iou(&a, &b), iou(&b, &a));
            prop_assert!((ab - ba).abs() < 1e-6);
            prop_assert!((0.0..=1.0 + 1e-6).contains(&ab));
        }

        #[test]
        fn nms_output_has_no_overlap_above_threshold(
            raw in prop::collection::vec((0.0f32..50.0, 0.0f32..50.0, 1.0f32..30.0, 0.0f32..1.0), 0..30),
            thr in 0.1f32..0.9,
        ) {
            let boxes: Vec<Corners> = raw.iter().map(|r| [r.0, r.1, r.0 + r.2, r.1 + r.2]).collect();
            let scores: Vec<f32> = raw.iter().map(|r| r.3).collect();
            let keep = nms(&boxes, &scores, thr);
            for (i, &a) in keep.iter().enumerate() {
                for &b in &keep[i + 1..] {
                    prop_assert!(iou(&boxes[a], &boxes[b]) <= thr);
                    prop_assert!(scores[a] >= scores[b]);
                }
            }
            // The best box always survives.
            if let Some(best) = (0..scores.len()).max_by(|&i, &j| scores[i].partial_cmp(&scores[j]).unwrap()) {
                prop_assert!(keep.iter().any(|&k| scores[k] == scores[best]));
            }
        }
    }
}
