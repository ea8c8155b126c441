//! UltraFace, the "Ultra-Light-Fast-Generic-Face-Detector-1MB" (Linzaer, 2019, MIT), ONNX
//! exports `version-RFB-320.onnx` and `version-slim-320.onnx`.
//!
//! The exports already contain the SSD prior decoding (`convert_to_onnx.py` builds the net
//! with `is_test=True`): output `scores` is N×2 softmax probabilities (background, face) and
//! `boxes` is N×4 corner-form boxes normalised to the input (0–1), N = 4420 at 320×240.
//! Pre- and post-processing follow the authors' `detect_imgs_onnx.py`: RGB resized to
//! 320×240 without keeping the aspect ratio, (x − 127)/128, probability threshold 0.7, hard
//! NMS. NMS IoU 0.3 (the default of their `vision/ssd/predictor.py`).
use std::path::Path;

use crate::geometry::InputMap;
use crate::onnx::{expect_len, to_tensor, OnnxModel};
use crate::{
    nms_detections, Detection, FaceDetector, Prepared, Preprocess, PreprocessKind, Result,
    Thresholds,
};

/// File name of the RFB variant.
pub const RFB_FILE: &str = "version-RFB-320.onnx";
/// File name of the slim variant.
pub const SLIM_FILE: &str = "version-slim-320.onnx";

const IN_W: u32 = 320;
const IN_H: u32 = 240;

/// UltraFace's default thresholds (the authors' demo).
pub const THRESHOLDS: Thresholds = Thresholds::new(0.7, 0.3);

/// An UltraFace detector (either variant).
pub struct UltraFace {
    name: String,
    model: OnnxModel,
    config: Thresholds,
    scores: usize,
    boxes: usize,
}

impl UltraFace {
    /// Load the model at `path`; `name` is what `FaceDetector::name` reports.
    pub fn new(name: &str, path: &Path, config: Thresholds) -> Result<UltraFace> {
        let model = OnnxModel::load(path, &[1, 3, IN_H as usize, IN_W as usize])?;
        let scores = model.output_index("scores")?;
        let boxes = model.output_index("boxes")?;
        Ok(UltraFace {
            name: name.to_string(),
            model,
            config,
            scores,
            boxes,
        })
    }
}

/// Candidates (normalised corners, face probability) above `threshold`.
pub(crate) fn decode(scores: &[f32], boxes: &[f32], threshold: f32) -> Vec<([f32; 4], f32)> {
    let n = (scores.len() / 2).min(boxes.len() / 4);
    (0..n)
        .filter(|&i| scores[2 * i + 1] > threshold)
        .map(|i| {
            (
                [
                    boxes[4 * i],
                    boxes[4 * i + 1],
                    boxes[4 * i + 2],
                    boxes[4 * i + 3],
                ],
                scores[2 * i + 1],
            )
        })
        .collect()
}

/// UltraFace's network input for `img`: resized to 320×240, RGB (x − 127)/128, NCHW.
/// An empty image gives no values (`detect` finds no face in it without running the network).
pub(crate) fn input(img: &image::RgbImage) -> Vec<f32> {
    if img.width() == 0 || img.height() == 0 {
        return Vec::new();
    }
    to_tensor(img, IN_W, IN_H, IN_W, IN_H, true, [0.0; 3], |p| {
        [
            (p[0] as f32 - 127.0) / 128.0,
            (p[1] as f32 - 127.0) / 128.0,
            (p[2] as f32 - 127.0) / 128.0,
        ]
    })
}

impl FaceDetector for UltraFace {
    fn name(&self) -> &str {
        &self.name
    }

    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        if img.width() == 0 || img.height() == 0 {
            return Ok(Vec::new());
        }
        self.run(img, input(img))
    }

    fn preprocess(&self) -> Option<Preprocess> {
        Some(Preprocess {
            kind: PreprocessKind::UltraFace,
        })
    }

    fn detect_prepared(
        &mut self,
        img: &image::RgbImage,
        prepared: Prepared,
    ) -> Result<Vec<Detection>> {
        if img.width() == 0 || img.height() == 0 {
            return Ok(Vec::new());
        }
        match prepared.take_for(PreprocessKind::UltraFace, img) {
            Some(input) => self.run(img, input),
            None => self.run(img, input(img)),
        }
    }
}

impl UltraFace {
    /// The faces of `img` from its network input.
    fn run(&mut self, img: &image::RgbImage, input: Vec<f32>) -> Result<Vec<Detection>> {
        let map = InputMap::resize(img.width(), img.height(), IN_W, IN_H);
        let outs = self.model.run(input)?;
        let (sc, bx) = (&outs[self.scores], &outs[self.boxes]);
        let n = sc.data.len() / 2;
        expect_len(self.model.path(), "boxes", bx, 4 * n)?;
        let (w, h) = (IN_W as f32, IN_H as f32);
        let dets = decode(&sc.data, &bx.data, self.config.score_threshold)
            .into_iter()
            .map(|(c, score)| Detection {
                bbox: map.box_image_from_input(&[c[0] * w, c[1] * h, c[2] * w, c[3] * h]),
                score,
                keypoints: None,
            })
            .collect();
        Ok(nms_detections(dets, self.config.nms_iou))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_thresholds_face_column() {
        // Two priors: (bg 0.2, face 0.8) passes 0.7; (bg 0.6, face 0.4) does not.
        let scores = [0.2, 0.8, 0.6, 0.4];
        let boxes = [0.1, 0.2, 0.3, 0.4, 0.5, 0.5, 0.6, 0.6];
        let out = decode(&scores, &boxes, 0.7);
        assert_eq!(out, vec![([0.1, 0.2, 0.3, 0.4], 0.8)]);
    }
}
