//! BlazeFace front-camera (short-range) model (Bazarevsky et al., "BlazeFace: Sub-millisecond
//! Neural Face Detection on Mobile GPUs", CVPR-W 2019; Google MediaPipe), the ONNX
//! `blazeface_front_128.onnx` packaging (tf2onnx of PINTO0309's model, as in the STM32 model
//! zoo; Apache-2.0): input 1×128×128×3 RGB in [−1, 1], outputs 512×16 + 512×1 (stride 8,
//! 16×16 cells × 2 anchors) and 384×16 + 384×1 (stride 16, 8×8 cells × 6 anchors).
//!
//! Anchors and decoding follow MediaPipe's `SsdAnchorsCalculator` and
//! `TensorsToDetectionsCalculator` with the options of
//! `face_detection_short_range_common.pbtxt` (also hollance/BlazeFace-PyTorch): anchor
//! centres ((x + 0.5)/n, (y + 0.5)/n), fixed size 1; centre = raw/128 + anchor, size =
//! raw/128, keypoints = raw/128 + anchor (all in input units 0–1); score =
//! sigmoid(clamp(raw, ±100)); threshold 0.75 and NMS IoU 0.3 as hollance/BlazeFace-PyTorch.
//!
//! The export pads channels with `ConstantOfShape` nodes that have no fill value; tract 0.23
//! fills those with f64 instead of the ONNX default f32, so the loader sets the default
//! explicitly (`onnx::default_fill_f32`).
//!
//! Deviations: plain greedy NMS instead of MediaPipe's weighted NMS (box averaging); the
//! letterbox pads right/bottom (MediaPipe centres the image). The front model is meant for
//! large, near faces (selfie range): small faces in group photos are mostly missed.
use std::path::Path;

use crate::geometry::InputMap;
use crate::onnx::{to_tensor, OnnxModel, Output};
use crate::{nms_detections, Detection, FaceDetector, Result, Thresholds};
use facealign_core::Error;

/// The ONNX file name in the models directory.
pub const MODEL_FILE: &str = "blazeface_front_128.onnx";

const SIDE: u32 = 128;
const SCALE: f32 = 128.0;

/// BlazeFace's default thresholds (MediaPipe's front-camera graph).
pub const THRESHOLDS: Thresholds = Thresholds::new(0.75, 0.3);

/// Anchor centres (normalised 0–1) for a `cells × cells` grid with `per_cell` anchors per
/// cell, cell-major (all anchors of a cell are consecutive), as MediaPipe orders them.
pub(crate) fn anchors(cells: usize, per_cell: usize) -> Vec<[f32; 2]> {
    let mut out = Vec::with_capacity(cells * cells * per_cell);
    for y in 0..cells {
        for x in 0..cells {
            let c = [
                (x as f32 + 0.5) / cells as f32,
                (y as f32 + 0.5) / cells as f32,
            ];
            out.extend(std::iter::repeat_n(c, per_cell));
        }
    }
    out
}

/// Decode `n` anchors: `reg` n×16, `cls` n logits. Returns (corners, score, 6 keypoints) in
/// normalised input units for scores ≥ `threshold`.
pub(crate) fn decode(
    reg: &[f32],
    cls: &[f32],
    anchors: &[[f32; 2]],
    threshold: f32,
) -> Vec<([f32; 4], f32, Vec<[f32; 2]>)> {
    let mut out = Vec::new();
    for (i, a) in anchors.iter().enumerate() {
        let score = 1.0 / (1.0 + (-cls[i].clamp(-100.0, 100.0)).exp());
        if score.is_nan() || score < threshold {
            continue;
        }
        let r = &reg[16 * i..16 * i + 16];
        let (cx, cy) = (r[0] / SCALE + a[0], r[1] / SCALE + a[1]);
        let (w, h) = (r[2] / SCALE, r[3] / SCALE);
        let kps = (0..6)
            .map(|k| [r[4 + 2 * k] / SCALE + a[0], r[5 + 2 * k] / SCALE + a[1]])
            .collect();
        out.push((
            [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
            score,
            kps,
        ));
    }
    out
}

/// The BlazeFace detector.
pub struct BlazeFace {
    model: OnnxModel,
    config: Thresholds,
    anchors8: Vec<[f32; 2]>,
    anchors16: Vec<[f32; 2]>,
}

impl BlazeFace {
    /// Load the model at `path`.
    pub fn new(path: &Path, config: Thresholds) -> Result<BlazeFace> {
        let model = OnnxModel::load(path, &[1, SIDE as usize, SIDE as usize, 3])?;
        Ok(BlazeFace {
            model,
            config,
            anchors8: anchors(16, 2),
            anchors16: anchors(8, 6),
        })
    }

    /// The (regressors, classificators) output pair with `n` anchors.
    fn pair<'a>(&self, outs: &'a [Output], n: usize) -> Result<(&'a [f32], &'a [f32])> {
        let reg = outs.iter().find(|o| o.data.len() == 16 * n);
        let cls = outs.iter().find(|o| o.data.len() == n);
        match (reg, cls) {
            (Some(r), Some(c)) => Ok((&r.data, &c.data)),
            _ => Err(Error::parse(
                self.model.path(),
                "onnx outputs",
                format!(
                    "expected {n}×16 and {n}×1 outputs, got shapes {:?}",
                    outs.iter().map(|o| o.shape.clone()).collect::<Vec<_>>()
                ),
            )),
        }
    }
}

impl FaceDetector for BlazeFace {
    fn name(&self) -> &str {
        "blazeface"
    }

    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        if img.width() == 0 || img.height() == 0 {
            return Ok(Vec::new());
        }
        let (map, rw, rh) = InputMap::letterbox(img.width(), img.height(), SIDE, SIDE);
        let input = to_tensor(img, rw, rh, SIDE, SIDE, false, [-1.0; 3], |p| {
            [
                p[0] as f32 / 127.5 - 1.0,
                p[1] as f32 / 127.5 - 1.0,
                p[2] as f32 / 127.5 - 1.0,
            ]
        });
        let outs = self.model.run(input)?;
        let mut dets = Vec::new();
        for anchors in [&self.anchors8, &self.anchors16] {
            let (reg, cls) = self.pair(&outs, anchors.len())?;
            for (c, score, kps) in decode(reg, cls, anchors, self.config.score_threshold) {
                let s = SIDE as f32;
                dets.push(Detection {
                    bbox: map.box_image_from_input(&[c[0] * s, c[1] * s, c[2] * s, c[3] * s]),
                    score,
                    keypoints: Some(
                        kps.iter()
                            .map(|p| map.image_from_input([p[0] * s, p[1] * s]))
                            .collect(),
                    ),
                });
            }
        }
        Ok(nms_detections(dets, self.config.nms_iou))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchor_grid_matches_mediapipe_counts() {
        // 16·16·2 = 512 and 8·8·6 = 384: 896 anchors in all.
        let (a8, a16) = (anchors(16, 2), anchors(8, 6));
        assert_eq!((a8.len(), a16.len()), (512, 384));
        // First cell centre (0.5/16, 0.5/16) = 0.03125; anchor 2 is cell (x = 1, y = 0):
        // (1.5/16, 0.5/16) = (0.09375, 0.03125); the last of a16 is cell (7, 7): 7.5/8 = 0.9375.
        assert_eq!(a8[0], [0.03125, 0.03125]);
        assert_eq!(a8[1], a8[0]);
        assert_eq!(a8[2], [0.09375, 0.03125]);
        assert_eq!(a16[383], [0.9375, 0.9375]);
    }

    #[test]
    fn decode_hand_computed() {
        // One anchor at (0.5, 0.25); raw box (12.8, −6.4, 25.6, 51.2)/128 = (0.1, −0.05, 0.2, 0.4):
        // centre (0.6, 0.2), size 0.2 × 0.4 → corners [0.5, 0.0, 0.7, 0.4].
        // Logit 0 → score 0.5; keypoint 0 raw (0, 12.8) → (0.5, 0.35).
        let mut reg = vec![0.0; 16];
        reg[..4].copy_from_slice(&[12.8, -6.4, 25.6, 51.2]);
        reg[5] = 12.8;
        let out = decode(&reg, &[0.0], &[[0.5, 0.25]], 0.5);
        assert_eq!(out.len(), 1);
        let (c, s, k) = &out[0];
        for (got, want) in c.iter().zip([0.5, 0.0, 0.7, 0.4]) {
            assert!((got - want).abs() < 1e-6, "{c:?}");
        }
        assert!((s - 0.5).abs() < 1e-6);
        assert!((k[0][0] - 0.5).abs() < 1e-6 && (k[0][1] - 0.35).abs() < 1e-6);
        // A large negative logit is clamped, scores ≈ 0, below threshold.
        assert!(decode(&reg, &[-1e9], &[[0.5, 0.25]], 0.5).is_empty());
    }
}
