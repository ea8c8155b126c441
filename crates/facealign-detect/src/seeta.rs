//! SeetaFace frontal face detector (Wu et al., "Funnel-structured cascade for multi-view face
//! detection with alignment-awareness", Neurocomputing 2017) through the pure-Rust
//! `rustface` crate 0.1.7.
//!
//! The model `seeta_fd_frontal_v1.0.bin` (BSD-2-Clause, VIPL/ICT-CAS, see
//! `assets/LICENSE-seetaface`) ships inside the `rustface` crate package but the crate gives no
//! way to reach those bytes, so a byte-identical copy is committed under this crate's `assets/`
//! and embedded with `include_bytes!` (sha256 c4619d06…3ff5d): the detector needs no file.
//! Settings are those of rustface's `examples/image_demo.rs`: min face 20, score threshold
//! 2.0, pyramid factor 0.8, window step 4. rustface works on 8-bit grayscale (ITU-R 601 luma
//! via `image`), and its sliding window is 40 px, so the smallest face it finds is 40 px and
//! an image smaller than 40 px on a side gives no detections (rustface would underflow).
use crate::{Detection, FaceDetector, Result};
use facealign_core::{BoxXywh, Error};

static MODEL_BYTES: &[u8] = include_bytes!("../assets/seeta_fd_frontal_v1.0.bin");

/// rustface's sliding-window size: images smaller than this on a side are not searched.
const WINDOW: u32 = 40;

/// rustface settings.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Config {
    /// Minimum face size in pixels (≥ 20, rustface's floor).
    pub min_face_size: u32,
    /// Cascade score threshold (raw, not a probability).
    pub score_threshold: f64,
    /// Image pyramid scale factor in (0, 1).
    pub pyramid_scale_factor: f32,
    /// Sliding window step in pixels (≥ 1).
    pub step: u32,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            min_face_size: 20,
            score_threshold: 2.0,
            pyramid_scale_factor: 0.8,
            step: 4,
        }
    }
}

/// The rustface/SeetaFace detector. It keeps the parsed model and builds rustface's detector
/// for each image: `Box<dyn rustface::Detector>` is not `Send` (the trait has no such bound),
/// and [`FaceDetector`]s must be, to run beside the landmark network. Building costs a copy of
/// the ~1 MB model, next to a ~30 ms search.
pub struct Seeta {
    model: rustface::Model,
    config: Config,
}

impl Seeta {
    /// Build the detector from the embedded model.
    pub fn new(config: Config) -> Result<Seeta> {
        if config.min_face_size < 20 {
            return Err(Error::invalid(
                "rustface min_face_size",
                format!("{} < 20", config.min_face_size),
            ));
        }
        if config.step == 0 {
            return Err(Error::invalid("rustface step", "must be ≥ 1"));
        }
        if !(config.pyramid_scale_factor > 0.0 && config.pyramid_scale_factor < 1.0) {
            return Err(Error::invalid(
                "rustface pyramid_scale_factor",
                format!("{} is not in (0, 1)", config.pyramid_scale_factor),
            ));
        }
        let model = rustface::read_model(MODEL_BYTES).map_err(|e| {
            Error::parse(
                "<embedded seeta_fd_frontal_v1.0.bin>",
                "model",
                e.to_string(),
            )
        })?;
        Ok(Seeta { model, config })
    }

    fn detector(&self) -> Box<dyn rustface::Detector> {
        let c = self.config;
        let mut detector = rustface::create_detector_with_model(self.model.clone());
        detector.set_min_face_size(c.min_face_size);
        detector.set_score_thresh(c.score_threshold);
        detector.set_pyramid_scale_factor(c.pyramid_scale_factor);
        detector.set_slide_window_step(c.step, c.step);
        detector
    }
}

impl FaceDetector for Seeta {
    fn name(&self) -> &str {
        "rustface"
    }

    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        if img.width() < WINDOW || img.height() < WINDOW {
            return Ok(Vec::new());
        }
        let gray = image::DynamicImage::ImageRgb8(img.clone()).to_luma8();
        let data = rustface::ImageData::new(gray.as_raw(), gray.width(), gray.height());
        let mut dets: Vec<Detection> = self
            .detector()
            .detect(&data)
            .iter()
            .map(|f| {
                let r = f.bbox();
                // rustface boxes are pixel-index rectangles: pixels x .. x + w − 1, whose
                // outer edges sit at image_px x − 0.5 and x + w − 0.5.
                Detection {
                    bbox: BoxXywh {
                        x: r.x() as f32 - 0.5,
                        y: r.y() as f32 - 0.5,
                        w: r.width() as f32,
                        h: r.height() as f32,
                    },
                    score: f.score() as f32,
                    keypoints: None,
                }
            })
            .collect();
        dets.sort_by(|a, b| {
            b.score
                .partial_cmp(&a.score)
                .unwrap_or(std::cmp::Ordering::Equal)
        });
        Ok(dets)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_model_loads_and_small_images_are_safe() {
        let mut d = Seeta::new(Config::default()).expect("embedded model should load");
        for (w, h) in [(0, 0), (8, 8), (39, 200), (40, 40)] {
            let out = d.detect(&image::RgbImage::new(w, h)).expect("no error");
            assert!(out.is_empty(), "{w}×{h}");
        }
    }

    #[test]
    fn bad_config_is_an_error() {
        assert!(Seeta::new(Config {
            min_face_size: 10,
            ..Config::default()
        })
        .is_err());
        assert!(Seeta::new(Config {
            step: 0,
            ..Config::default()
        })
        .is_err());
        assert!(Seeta::new(Config {
            pyramid_scale_factor: 1.0,
            ..Config::default()
        })
        .is_err());
    }
}
