//! facealign-detect: face detectors for `facealign predict`, pure Rust (no tch).
//!
//! Every detector implements [`FaceDetector`] and returns boxes in **image_px** (0-based pixel
//! coordinates of the source image, pixel centres at integers). Build one by name with
//! [`open`]; [`DETECTORS`] lists the names. ONNX models run on `tract-onnx` and are read from
//! a models directory passed in (the CLI passes `../shared/models/detectors` or the repo's
//! `models/detectors`); `rustface` embeds its SeetaFace model and needs no file.
//!
//! | name | file in the models directory | input |
//! |---|---|---|
//! | `ultraface-rfb` (default) | `version-RFB-320.onnx` | resize to 320×240, RGB (x−127)/128 |
//! | `yunet-320` | `face_detection_yunet.onnx` | letterbox to 320×320, BGR 0–255 |
//! | `yunet` | `face_detection_yunet.onnx` | letterbox to 640×640, BGR 0–255 |
//! | `ultraface-slim` | `version-slim-320.onnx` | resize to 320×240, RGB (x−127)/128 |
//! | `blazeface` | `blazeface_front_128.onnx` | letterbox to 128×128, RGB x/127.5−1 |
//! | `rustface` | (embedded `seeta_fd_frontal_v1.0.bin`) | grayscale, image pyramid |
use std::path::Path;

pub use facealign_core::{BoxXywh, Error, Result};

pub mod blazeface;
pub mod geometry;
pub mod kernels;
mod onnx;
pub mod turned;
pub use onnx::resize_bilinear;
pub mod seeta;
pub mod ultraface;
pub mod yunet;

/// One detected face.
#[derive(Debug, Clone, PartialEq)]
pub struct Detection {
    /// The face box in image_px.
    pub bbox: BoxXywh,
    /// The detector's confidence. Probabilities in `[0, 1]` for the ONNX models; rustface
    /// reports its raw classifier score (larger is surer, not bounded).
    pub score: f32,
    /// Facial keypoints in image_px, if the detector gives them: YuNet 5 (right eye, left eye,
    /// nose tip, right mouth corner, left mouth corner; "right" = the subject's right, image
    /// left), BlazeFace 6 (right eye, left eye, nose, mouth, right ear tragion, left ear tragion).
    pub keypoints: Option<Vec<[f32; 2]>>,
}

/// The thresholds of a detector that scores boxes and suppresses overlaps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// The score a box needs to be kept.
    pub score_threshold: f32,
    /// Hard NMS drops the lower-scored of two boxes that overlap by more than this IoU.
    pub nms_iou: f32,
}

impl Thresholds {
    /// Keep boxes scoring at least `score_threshold`; suppress overlaps above `nms_iou`.
    pub const fn new(score_threshold: f32, nms_iou: f32) -> Thresholds {
        Thresholds {
            score_threshold,
            nms_iou,
        }
    }
}

/// A face detector.
pub trait FaceDetector: Send {
    /// The name `open` knows it by.
    fn name(&self) -> &str;
    /// Faces in `img`, highest score first. An empty or tiny image gives `Ok(vec![])` or a
    /// few boxes, never a panic.
    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>>;
    /// The part of `detect` that needs only the image (resize, normalisation), as a small value
    /// another thread can apply while this detector runs on the previous image; `None` (the
    /// default) where the detector does not split its work.
    fn preprocess(&self) -> Option<Preprocess> {
        None
    }
    /// `detect` on an input made by [`Preprocess::prepare`] from `img`: the same faces, without
    /// the pre-processing. An input of another size or kind is redone from `img`; a detector
    /// without [`FaceDetector::preprocess`] ignores it.
    fn detect_prepared(
        &mut self,
        img: &image::RgbImage,
        prepared: Prepared,
    ) -> Result<Vec<Detection>> {
        let _ = prepared;
        self.detect(img)
    }
}

/// The image-only pre-processing of a detector ([`FaceDetector::preprocess`]): `Copy` and
/// `Send`, so a pipeline can prepare the next image on its loading thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Preprocess {
    kind: PreprocessKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PreprocessKind {
    /// UltraFace (both variants): resized to 320×240, RGB (x − 127)/128, NCHW.
    UltraFace,
}

/// A detector's network input for one image ([`Preprocess::prepare`]).
#[derive(Debug, Clone)]
pub struct Prepared {
    kind: PreprocessKind,
    /// The image's width and height.
    size: (u32, u32),
    input: Vec<f32>,
}

impl Preprocess {
    /// The network input of `img`.
    pub fn prepare(&self, img: &image::RgbImage) -> Prepared {
        let input = match self.kind {
            PreprocessKind::UltraFace => ultraface::input(img),
        };
        Prepared {
            kind: self.kind,
            size: img.dimensions(),
            input,
        }
    }
}

impl Prepared {
    /// The input, if it was made by `kind` from an image of `img`'s size.
    fn take_for(self, kind: PreprocessKind, img: &image::RgbImage) -> Option<Vec<f32>> {
        (self.kind == kind && self.size == img.dimensions()).then_some(self.input)
    }
}

/// The detector names `open` accepts. The first is the default single detector (every shipped
/// model's end-to-end numbers were first measured with it); the others best first: by faces found
/// on the dlib example photos (43 adult faces), ties broken by the 210 InfAnFace training crops
/// (`examples/detector_table.rs`; session 21: yunet-320 finds 192 of them, ultraface-rfb 190,
/// yunet at 640 px 180).
pub const DETECTORS: &[&str] = &[
    "ultraface-rfb",
    "yunet-320",
    "yunet",
    "ultraface-slim",
    "rustface",
    "blazeface",
];

/// The default detector's name.
pub const DEFAULT_DETECTOR: &str = DETECTORS[0];

/// The model file a detector reads from the models directory (`None`: embedded, no file).
pub fn model_file(name: &str) -> Option<&'static str> {
    match name {
        "yunet" | "yunet-320" => Some(yunet::MODEL_FILE),
        "ultraface-rfb" => Some(ultraface::RFB_FILE),
        "ultraface-slim" => Some(ultraface::SLIM_FILE),
        "blazeface" => Some(blazeface::MODEL_FILE),
        _ => None,
    }
}

/// [`open`], deferred to the detector's first search: for a detector that may never run (the
/// second of a list `--detector a,b` searches only photos where the first found no face), so that
/// start-up does not build and optimise its network. The name and the model file's presence are
/// checked now (errors as [`open`]'s); a file that exists but cannot be read fails the first
/// search, naming the file.
pub fn open_lazy(name: &str, models_dir: &Path) -> Result<Box<dyn FaceDetector>> {
    if !DETECTORS.contains(&name) {
        return open(name, models_dir); // the unknown-name error
    }
    if let Some(f) = model_file(name) {
        let path = models_dir.join(f);
        std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    }
    Ok(Box::new(Lazy {
        name: name.to_string(),
        dir: models_dir.to_path_buf(),
        inner: None,
    }))
}

/// A detector built on its first search ([`open_lazy`]).
struct Lazy {
    name: String,
    dir: std::path::PathBuf,
    inner: Option<Box<dyn FaceDetector>>,
}

impl FaceDetector for Lazy {
    fn name(&self) -> &str {
        &self.name
    }
    fn detect(&mut self, img: &image::RgbImage) -> Result<Vec<Detection>> {
        let det = match &mut self.inner {
            Some(d) => d,
            None => self.inner.insert(open(&self.name, &self.dir)?),
        };
        det.detect(img)
    }
}

/// Build the detector called `name` (one of [`DETECTORS`]) with its default thresholds,
/// reading its model file from `models_dir`. Errors name a missing or unreadable file or an
/// unknown detector name.
pub fn open(name: &str, models_dir: &Path) -> Result<Box<dyn FaceDetector>> {
    Ok(match name {
        "yunet" => Box::new(yunet::YuNet::new(
            &models_dir.join(yunet::MODEL_FILE),
            yunet::Config::default(),
        )?),
        "yunet-320" => Box::new(yunet::YuNet::new(
            &models_dir.join(yunet::MODEL_FILE),
            yunet::Config {
                input_size: 320,
                ..yunet::Config::default()
            },
        )?),
        "ultraface-rfb" => Box::new(ultraface::UltraFace::new(
            "ultraface-rfb",
            &models_dir.join(ultraface::RFB_FILE),
            ultraface::THRESHOLDS,
        )?),
        "ultraface-slim" => Box::new(ultraface::UltraFace::new(
            "ultraface-slim",
            &models_dir.join(ultraface::SLIM_FILE),
            ultraface::THRESHOLDS,
        )?),
        "blazeface" => Box::new(blazeface::BlazeFace::new(
            &models_dir.join(blazeface::MODEL_FILE),
            blazeface::THRESHOLDS,
        )?),
        "rustface" => Box::new(seeta::Seeta::new(seeta::Config::default())?),
        other => {
            return Err(Error::invalid(
                "detector",
                format!(
                    "unknown detector `{other}`; known: {}",
                    DETECTORS.join(", ")
                ),
            ))
        }
    })
}

/// Keep the `iou_threshold` hard-NMS survivors of `dets` (already above the score
/// threshold), highest score first.
pub(crate) fn nms_detections(dets: Vec<Detection>, iou_threshold: f32) -> Vec<Detection> {
    let boxes: Vec<geometry::Corners> = dets.iter().map(|d| geometry::corners(&d.bbox)).collect();
    let scores: Vec<f32> = dets.iter().map(|d| d.score).collect();
    let keep = geometry::nms(&boxes, &scores, iou_threshold);
    let mut slots: Vec<Option<Detection>> = dets.into_iter().map(Some).collect();
    keep.into_iter().filter_map(|i| slots[i].take()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_unknown_name_lists_known() {
        let err = open("nope", Path::new("/nonexistent"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("nope") && err.contains("yunet"), "{err}");
    }

    #[test]
    fn open_missing_model_names_file() {
        let err = open("yunet", Path::new("/nonexistent-dir"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("/nonexistent-dir/face_detection_yunet.onnx"),
            "{err}"
        );
    }

    #[test]
    fn every_name_has_a_model_file_or_is_embedded() {
        for name in DETECTORS {
            assert_eq!(model_file(name).is_none(), *name == "rustface", "{name}");
        }
    }
}
