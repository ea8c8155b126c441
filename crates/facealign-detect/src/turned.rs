//! Searching a photo for faces at any quarter turn (issue 13, roll at inference): the detectors
//! find upright faces, and a face lying on its side (an infant on a mat, a phone held sideways)
//! is often missed or boxed badly. [`detect_turned`] runs a detector on the photo and on its
//! three exact quarter turns (lossless pixel permutations, no resampling), maps every box back
//! to the photo and keeps the best of overlapping boxes; each face remembers the turn in which
//! it was found, so that its landmarks can be placed in that view, where it is upright, and
//! mapped back ([`from_view`]).
use crate::geometry::{corners, iou};
use crate::{BoxXywh, Detection, FaceDetector, Result};

/// Boxes of two views overlapping by more than this IoU are one face (the better score wins).
pub const TURNED_NMS_IOU: f32 = 0.3;

/// A face found by [`detect_turned`].
#[derive(Debug, Clone, PartialEq)]
pub struct TurnedDetection {
    /// The detection, box and keypoints mapped back to the photo (image_px).
    pub detection: Detection,
    /// The view it was found in: the photo turned clockwise by `quarter` × 90°.
    pub quarter: u8,
    /// The box in that view (image_px of [`turn`]`(photo, quarter)`).
    pub view_box: BoxXywh,
    /// The same face as found in other views (their boxes overlap this one's by more than
    /// [`TURNED_NMS_IOU`]), best score first: `(quarter, view_box)`, at most one per view. A
    /// detector often scores a face as high on its side as upright, so the view is best chosen
    /// by the landmarks (`facealign_infer`'s predictor does).
    pub alternatives: Vec<(u8, BoxXywh)>,
    /// Whether the face came from a search of every quarter turn ([`detect_turned`]: true), so
    /// that its view may still be chosen.
    pub searched: bool,
}

/// `img` turned clockwise by `quarter` × 90° (`quarter` taken modulo 4).
pub fn turn(img: &image::RgbImage, quarter: u8) -> image::RgbImage {
    match quarter % 4 {
        0 => img.clone(),
        1 => image::imageops::rotate90(img),
        2 => image::imageops::rotate180(img),
        _ => image::imageops::rotate270(img),
    }
}

/// A point of the view [`turn`]`(photo, quarter)` in the photo's image_px, the photo being
/// `width` × `height` (pixel centres map to pixel centres).
pub fn from_view(p: [f32; 2], quarter: u8, width: u32, height: u32) -> [f32; 2] {
    let (w, h) = (width as f32 - 1.0, height as f32 - 1.0);
    let [u, v] = p;
    match quarter % 4 {
        0 => [u, v],
        // rotate90 puts photo pixel (x, y) at (h - y, x).
        1 => [v, h - u],
        // rotate180: (x, y) at (w - x, h - y).
        2 => [w - u, h - v],
        // rotate270: (x, y) at (y, w - x).
        _ => [w - v, u],
    }
}

/// A point of the photo (`width` × `height`) in the view [`turn`]`(photo, quarter)`.
pub fn to_view(p: [f32; 2], quarter: u8, width: u32, height: u32) -> [f32; 2] {
    let back = (4 - quarter % 4) % 4;
    if quarter % 2 == 1 {
        from_view(p, back, height, width)
    } else {
        from_view(p, back, width, height)
    }
}

/// A box of the photo (`width` × `height`) in the view [`turn`]`(photo, quarter)`.
pub fn box_to_view(b: &BoxXywh, quarter: u8, width: u32, height: u32) -> BoxXywh {
    let (vw, vh) = if quarter % 2 == 1 {
        (height, width)
    } else {
        (width, height)
    };
    box_from_view(b, (4 - quarter % 4) % 4, vw, vh)
}

/// A box of the view [`turn`]`(photo, quarter)` in the photo's image_px.
pub fn box_from_view(b: &BoxXywh, quarter: u8, width: u32, height: u32) -> BoxXywh {
    let a = from_view([b.x, b.y], quarter, width, height);
    let c = from_view([b.x + b.w, b.y + b.h], quarter, width, height);
    BoxXywh {
        x: a[0].min(c[0]),
        y: a[1].min(c[1]),
        w: (a[0] - c[0]).abs(),
        h: (a[1] - c[1]).abs(),
    }
}

/// The faces of `img` in any of its four quarter turns, best score first: the detector runs on
/// each view, boxes are mapped back to `img`, and of boxes overlapping by more than
/// [`TURNED_NMS_IOU`] the higher-scored is kept (an upright face is usually found best in the
/// view where it is upright). Four times the detector's work.
pub fn detect_turned(
    detector: &mut dyn FaceDetector,
    img: &image::RgbImage,
) -> Result<Vec<TurnedDetection>> {
    let (w, h) = img.dimensions();
    let mut all = Vec::new();
    for quarter in 0..4u8 {
        let view = turn(img, quarter);
        for d in detector.detect(&view)? {
            let detection = Detection {
                bbox: box_from_view(&d.bbox, quarter, w, h),
                score: d.score,
                keypoints: d.keypoints.as_ref().map(|k| {
                    k.iter()
                        .map(|&p| from_view(p, quarter, w, h))
                        .collect::<Vec<_>>()
                }),
            };
            all.push(TurnedDetection {
                detection,
                quarter,
                view_box: d.bbox,
                alternatives: Vec::new(),
                searched: true,
            });
        }
    }
    // Highest score first; ties keep the upright view first (a stable sort).
    all.sort_by(|a, b| b.detection.score.total_cmp(&a.detection.score));
    let mut kept: Vec<TurnedDetection> = Vec::new();
    for t in all {
        let c = corners(&t.detection.bbox);
        match kept
            .iter_mut()
            .find(|k| iou(&corners(&k.detection.bbox), &c) > TURNED_NMS_IOU)
        {
            Some(k) => {
                if k.quarter != t.quarter && k.alternatives.iter().all(|a| a.0 != t.quarter) {
                    k.alternatives.push((t.quarter, t.view_box));
                }
            }
            None => kept.push(t),
        }
    }
    Ok(kept)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_view_inverts_each_turn_pixel_for_pixel() {
        // A 5 × 3 image with distinct pixels: every pixel of every view maps back to the
        // photo pixel it came from.
        let img = image::RgbImage::from_fn(5, 3, |x, y| image::Rgb([x as u8, y as u8, 7]));
        for q in 0..4u8 {
            let view = turn(&img, q);
            assert_eq!(
                view.dimensions(),
                if q % 2 == 1 { (3, 5) } else { (5, 3) },
                "{q}"
            );
            for (u, v, p) in view.enumerate_pixels() {
                let [x, y] = from_view([u as f32, v as f32], q, 5, 3);
                assert_eq!(
                    [x, y],
                    [p[0] as f32, p[1] as f32],
                    "quarter {q} at ({u}, {v})"
                );
                assert_eq!(
                    to_view([x, y], q, 5, 3),
                    [u as f32, v as f32],
                    "quarter {q}"
                );
            }
        }
    }

    #[test]
    fn box_from_view_maps_corners() {
        // Photo 10 × 6; a box in the clockwise view (6 × 10): x 1..3, y 2..6.
        let b = BoxXywh {
            x: 1.0,
            y: 2.0,
            w: 2.0,
            h: 4.0,
        };
        // (u, v) -> (v, 5 - u): corners (2, 4) and (6, 2).
        let got = box_from_view(&b, 1, 10, 6);
        assert_eq!(
            got,
            BoxXywh {
                x: 2.0,
                y: 2.0,
                w: 4.0,
                h: 2.0
            }
        );
        assert_eq!(box_from_view(&b, 0, 10, 6), b);
        for q in 0..4 {
            assert_eq!(
                box_to_view(&box_from_view(&b, q, 10, 6), q, 10, 6),
                b,
                "{q}"
            );
        }
    }
}
