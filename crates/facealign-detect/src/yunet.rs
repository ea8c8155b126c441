//! YuNet face detector (Wu, Peng, Yu, "YuNet: A Tiny Millisecond-level Face Detector",
//! Machine Intelligence Research 2023), the OpenCV Zoo ONNX export with the 2023 output
//! layout: per stride s ∈ {8, 16, 32} the outputs `cls_s`, `obj_s` (N×1), `bbox_s` (N×4) and
//! `kps_s` (N×10), N = (H/s)·(W/s), row-major over the feature grid.
//!
//! Decoding follows OpenCV's `FaceDetectorYN` (`modules/objdetect/src/face_detect.cpp`,
//! opencv/opencv 4.x): score = sqrt(clamp(cls)·clamp(obj)); centre = (cell + d)·s; size =
//! exp(d)·s; keypoints = (cell + d)·s; input is BGR 0–255 without normalisation, padded with
//! zeros on the right and bottom; greedy NMS at IoU 0.3, score threshold 0.9 (the OpenCV Zoo
//! demo defaults).
//!
//! Deviation: OpenCV feeds the image at its own size (padded to a multiple of 32); here the
//! image is letterboxed (scaled, aspect kept, padded right/bottom) to a fixed square
//! `input_size` (default 640) so one optimised tract plan serves every image. The score
//! threshold default is 0.6, lower than the demo's 0.9: a sweep on the dlib example photos
//! (43 faces) and the InfAnFace training crops (210) found 41/43 and 92/210 at 0.9, 43/43 and
//! 182/210 at 0.6 (4 and 11 unmatched boxes), 43/43 and 192/210 at 0.5 (8 and 25 unmatched).
use std::path::Path;

use crate::geometry::{Corners, InputMap};
use crate::onnx::{expect_len, to_tensor, OnnxModel};
use crate::{nms_detections, Detection, FaceDetector, Result};
use facealign_core::Error;

/// The ONNX file name in the models directory.
pub const MODEL_FILE: &str = "face_detection_yunet.onnx";

/// The detector's name at `input_size`: `yunet` at the default 640, `yunet-S` otherwise (the
/// name a model's calibration is keyed by: boxes differ a little with the input size).
pub fn name_for(input_size: u32) -> String {
    if input_size == Config::default().input_size {
        "yunet".to_string()
    } else {
        format!("yunet-{input_size}")
    }
}

const STRIDES: [usize; 3] = [8, 16, 32];

/// YuNet settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Side of the square network input (a multiple of 32).
    pub input_size: u32,
    pub score_threshold: f32,
    pub nms_iou: f32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            input_size: 640,
            score_threshold: 0.6,
            nms_iou: 0.3,
        }
    }
}

/// The YuNet detector.
pub struct YuNet {
    model: OnnxModel,
    config: Config,
    name: String,
    /// Output indices of cls, obj, bbox, kps per stride.
    outputs: [[usize; 4]; 3],
}

impl YuNet {
    /// Load the model at `path` with `config`.
    pub fn new(path: &Path, config: Config) -> Result<YuNet> {
        if config.input_size == 0 || !config.input_size.is_multiple_of(32) {
            return Err(Error::invalid(
                "yunet input_size",
                format!("{} is not a positive multiple of 32", config.input_size),
            ));
        }
        let s = config.input_size as usize;
        let model = OnnxModel::load(path, &[1, 3, s, s])?;
        let mut outputs = [[0usize; 4]; 3];
        for (k, stride) in STRIDES.iter().enumerate() {
            for (j, head) in ["cls", "obj", "bbox", "kps"].iter().enumerate() {
                outputs[k][j] = model.output_index(&format!("{head}_{stride}"))?;
            }
        }
        Ok(YuNet {
            model,
            config,
            name: name_for(config.input_size),
            outputs,
        })
    }
}

/// One decoded candidate in input_edge coordinates.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Candidate {
    pub corners: Corners,
    pub score: f32,
    pub keypoints: Vec<[f32; 2]>,
}

/// Decode one stride level (OpenCV `FaceDetectorYNImpl::postProcess`): cells whose score
/// reaches `threshold`.
pub(crate) fn decode_level(
    cls: &[f32],
    obj: &[f32],
    bbox: &[f32],
    kps: &[f32],
    rows: usize,
    cols: usize,
    stride: usize,
    threshold: f32,
) -> Vec<Candidate> {
    let s = stride as f32;
    let mut out = Vec::new();
    for r in 0..rows {
        for c in 0..cols {
            let i = r * cols + c;
            let score = (cls[i].clamp(0.0, 1.0) * obj[i].clamp(0.0, 1.0)).sqrt();
            if score.is_nan() || score < threshold {
                continue;
            }
            let (cf, rf) = (c as f32, r as f32);
            let cx = (cf + bbox[4 * i]) * s;
            let cy = (rf + bbox[4 * i + 1]) * s;
            let w = bbox[4 * i + 2].exp() * s;
            let h = bbox[4 * i + 3].exp() * s;
            let keypoints = (0..5)
                .map(|n| {
                    [
                        (kps[10 * i + 2 * n] + cf) * s,
                        (kps[10 * i + 2 * n + 1] + rf) * s,
                    ]
                })
                .collect();
            out.push(Candidate {
                corners: [cx - w / 2.0, cy - h / 2.0, cx + w / 2.0, cy + h / 2.0],
                score,
                keypoints,
            });
        }
    }
    out
}

impl FaceDetector for YuNet {
    fn name(&self) -> &str {
        &self.name
    }

    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        if img.width() == 0 || img.height() == 0 {
            return Ok(Vec::new());
        }
        let side = self.config.input_size;
        let (map, rw, rh) = InputMap::letterbox(img.width(), img.height(), side, side);
        // BGR, raw 0–255 (cv::dnn::blobFromImage defaults), zero padding.
        let input = to_tensor(img, rw, rh, side, side, true, [0.0; 3], |p| {
            [p[2] as f32, p[1] as f32, p[0] as f32]
        });
        let outs = self.model.run(input)?;
        let path = self.model.path().to_path_buf();
        let mut dets = Vec::new();
        for (k, &stride) in STRIDES.iter().enumerate() {
            let (rows, cols) = (side as usize / stride, side as usize / stride);
            let n = rows * cols;
            let [ci, oi, bi, ki] = self.outputs[k];
            expect_len(&path, &format!("cls_{stride}"), &outs[ci], n)?;
            expect_len(&path, &format!("obj_{stride}"), &outs[oi], n)?;
            expect_len(&path, &format!("bbox_{stride}"), &outs[bi], 4 * n)?;
            expect_len(&path, &format!("kps_{stride}"), &outs[ki], 10 * n)?;
            let cands = decode_level(
                &outs[ci].data,
                &outs[oi].data,
                &outs[bi].data,
                &outs[ki].data,
                rows,
                cols,
                stride,
                self.config.score_threshold,
            );
            dets.extend(cands.into_iter().map(|c| {
                Detection {
                    bbox: map.box_image_from_input(&c.corners),
                    score: c.score,
                    keypoints: Some(
                        c.keypoints
                            .iter()
                            .map(|p| map.image_from_input(*p))
                            .collect(),
                    ),
                }
            }));
        }
        Ok(nms_detections(dets, self.config.nms_iou))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_keys_the_input_size() {
        assert_eq!(name_for(640), "yunet");
        assert_eq!(name_for(320), "yunet-320");
        assert_eq!(name_for(480), "yunet-480");
    }

    #[test]
    fn decode_one_cell_hand_computed() {
        // A 2×3 grid at stride 8; only cell (r = 1, c = 2), index 1·3 + 2 = 5, scores.
        let n = 6;
        let mut cls = vec![0.0; n];
        let mut obj = vec![1.0; n];
        let mut bbox = vec![0.0; 4 * n];
        let mut kps = vec![0.0; 10 * n];
        cls[5] = 0.81;
        obj[5] = 1.5; // clamped to 1
        bbox[20..24].copy_from_slice(&[0.5, 0.25, 2f32.ln(), 0.0]);
        kps[50] = 0.1;
        kps[51] = 0.2;
        let out = decode_level(&cls, &obj, &bbox, &kps, 2, 3, 8, 0.5);
        assert_eq!(out.len(), 1);
        let c = &out[0];
        // score = sqrt(0.81 · 1) = 0.9
        assert!((c.score - 0.9).abs() < 1e-6);
        // cx = (2 + 0.5)·8 = 20, cy = (1 + 0.25)·8 = 10, w = e^{ln 2}·8 = 16, h = e^0·8 = 8
        // → corners [20 − 8, 10 − 4, 20 + 8, 10 + 4] = [12, 6, 28, 14].
        for (got, want) in c.corners.iter().zip([12.0, 6.0, 28.0, 14.0]) {
            assert!((got - want).abs() < 1e-4, "{:?}", c.corners);
        }
        // keypoint 0 = ((0.1 + 2)·8, (0.2 + 1)·8) = (16.8, 9.6); keypoint 1 = (2·8, 1·8).
        assert!((c.keypoints[0][0] - 16.8).abs() < 1e-4 && (c.keypoints[0][1] - 9.6).abs() < 1e-4);
        assert_eq!(c.keypoints[1], [16.0, 8.0]);
        // Negative cls clamps to 0: nothing passes a positive threshold.
        let none = decode_level(&[-1.0; 6], &obj, &bbox, &kps, 2, 3, 8, 0.1);
        assert!(none.is_empty());
    }

    #[test]
    fn rejects_bad_input_size() {
        let err = YuNet::new(
            Path::new("x.onnx"),
            Config {
                input_size: 100,
                ..Config::default()
            },
        );
        assert!(err.is_err());
    }
}
