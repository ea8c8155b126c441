//! Landmarks on photos: face detection → calibrated crop → landmarks → image coordinates.
//!
//! The crop protocol of training (a square of side `max(w,h)·enlarge` around the landmark box) is
//! applied to detector boxes through a [`BoxCalibration`] fitted on training faces
//! (`facealign model calibrate`): it moves and scales each detector box so that, on average, it
//! matches the landmark box the model was trained on. The calibration is stored in the model
//! file's metadata, one per detector.
use std::path::Path;

use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::bundle::LoadedModel;
use crate::error::{Error, Result};
use facealign_core::geometry::{crop_from_box, warp_rgb, BoxCalibration};
use facealign_core::loader::to_chw;
use facealign_core::metrics::FaceScore;
use facealign_core::{BoxXywh, Dataset, Point};
use facealign_detect::geometry::iou_xywh;
use facealign_detect::FaceDetector;

/// Metadata key prefix of detector calibrations.
pub const META_CALIBRATION: &str = "facealign.calibration.";

/// One face found in a photo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Face {
    /// Detector box (image_px, x y w h) or the given box.
    #[serde(rename = "box")]
    pub bbox: [f32; 4],
    /// Detector score (1 for a given box).
    pub score: f32,
    /// Landmarks in image_px (0-based pixels).
    pub landmarks: Vec<[f32; 2]>,
}

/// A model plus a face detector.
pub struct Predictor {
    pub model: LoadedModel,
    pub detector: Box<dyn FaceDetector>,
    pub detector_name: String,
    pub calibration: BoxCalibration,
    /// Whether `calibration` came from the model file (false = identity fallback).
    pub calibrated: bool,
    /// Refinement after the first prediction (roll-aligned re-crop, mirrored average).
    pub refine: crate::eval::Refine,
}

/// Where the detector models live: `models/detectors` of the repository, else `../shared/models/detectors`.
pub fn detector_dir() -> std::path::PathBuf {
    let root = crate::bundle::repo_root().unwrap_or_else(|| ".".into());
    let ours = root.join("models/detectors");
    let name = facealign_detect::model_file(facealign_detect::DEFAULT_DETECTOR).unwrap_or_default();
    if ours.join(name).exists() {
        ours
    } else {
        root.join("../shared/models/detectors")
    }
}

impl Predictor {
    /// Build from a loaded model and a detector name.
    pub fn new(model: LoadedModel, detector: &str) -> Result<Predictor> {
        let det = facealign_detect::open(detector, &detector_dir())?;
        let key = format!("{META_CALIBRATION}{detector}");
        let (calibration, calibrated) = match model.meta.get(&key) {
            Some(text) => (
                serde_json::from_str(text)
                    .map_err(|e| Error::ckpt(&model.path, format!("metadata {key}: {e}")))?,
                true,
            ),
            None => (BoxCalibration::IDENTITY, false),
        };
        Ok(Predictor {
            model,
            detector: det,
            detector_name: detector.to_string(),
            calibration,
            calibrated,
            refine: crate::eval::Refine::OFF,
        })
    }

    /// Landmarks for given boxes (image_px), in one batch.
    pub fn landmarks_for_boxes(
        &self,
        img: &image::RgbImage,
        boxes: &[BoxXywh],
    ) -> Result<Vec<Vec<Point>>> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let spec = self.model.crop_spec();
        let s = spec.size as i64;
        let mut chw = Vec::with_capacity(boxes.len() * 3 * (s * s) as usize);
        let mut crops = Vec::with_capacity(boxes.len());
        for b in boxes {
            let t = crop_from_box(b, &spec, &self.calibration)?;
            chw.extend(to_chw(&warp_rgb(img, &t, spec.size)?));
            crops.push(t);
        }
        let xs = Tensor::from_slice(&chw).view([boxes.len() as i64, 3, s, s]);
        let first = crate::eval::predict_image_px(&self.model.net, &xs, &crops, spec.size)?;
        if self.refine.passes == 0 {
            return Ok(first);
        }
        let imgs = vec![img; first.len()];
        crate::eval::refine_predictions(
            &self.model.net,
            &self.model.scheme,
            &spec,
            &imgs,
            first,
            self.refine,
        )
    }

    /// Detect faces and predict their landmarks.
    pub fn predict(&mut self, img: &image::RgbImage) -> Result<Vec<Face>> {
        let dets = self.detector.detect(img)?;
        let boxes: Vec<BoxXywh> = dets.iter().map(|d| d.bbox).collect();
        let lms = self.landmarks_for_boxes(img, &boxes)?;
        Ok(dets
            .iter()
            .zip(lms)
            .map(|(d, l)| Face {
                bbox: [d.bbox.x, d.bbox.y, d.bbox.w, d.bbox.h],
                score: d.score,
                landmarks: l,
            })
            .collect())
    }
}

/// Detect faces in every image of `ds` and pair each annotated face with the best-overlapping
/// detection (IoU ≥ `min_iou` with the face's landmark box). Returns, per sample, the matched
/// detector box (or None).
pub fn match_detections(
    detector: &mut dyn FaceDetector,
    ds: &Dataset,
    min_iou: f32,
) -> Result<Vec<Option<(BoxXywh, f32)>>> {
    let mut out = vec![None; ds.samples.len()];
    let mut by_image: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, s) in ds.samples.iter().enumerate() {
        by_image.entry(s.image.display_name()).or_default().push(i);
    }
    for idx in by_image.values() {
        let img = ds.samples[idx[0]].image.load_rgb()?;
        let dets = detector.detect(&img)?;
        let mut used = vec![false; dets.len()];
        for &i in idx {
            let Some(gt) = BoxXywh::around(&ds.samples[i].landmarks) else {
                continue;
            };
            let best = dets
                .iter()
                .enumerate()
                .filter(|(k, _)| !used[*k])
                .map(|(k, d)| (k, iou_xywh(&d.bbox, &gt), d))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((k, v, d)) = best {
                if v >= min_iou {
                    used[k] = true;
                    out[i] = Some((d.bbox, d.score));
                }
            }
        }
    }
    Ok(out)
}

/// Fit the detector-box → landmark-box calibration on a dataset's faces.
pub fn calibrate(detector: &mut dyn FaceDetector, ds: &Dataset) -> Result<(BoxCalibration, usize)> {
    let matches = match_detections(detector, ds, 0.3)?;
    let pairs: Vec<(BoxXywh, BoxXywh)> = ds
        .samples
        .iter()
        .zip(&matches)
        .filter_map(|(s, m)| Some((m.as_ref()?.0, BoxXywh::around(&s.landmarks)?)))
        .collect();
    Ok((BoxCalibration::fit(&pairs)?, pairs.len()))
}

/// Store a calibration in a model file's metadata (rewritten atomically).
pub fn store_calibration(model_path: &Path, detector: &str, c: &BoxCalibration) -> Result<()> {
    let mut loaded = crate::checkpoint::load(model_path)?;
    loaded.meta.insert(
        format!("{META_CALIBRATION}{detector}"),
        serde_json::to_string(c).expect("calibration serialises"),
    );
    let half = loaded.meta.contains_key("facealign.exported_from");
    let tensors: Vec<(String, Tensor)> = loaded.tensors.into_iter().collect();
    crate::checkpoint::save(model_path, &tensors, &loaded.meta, half)
}

/// End-to-end numbers on annotated photos: recall of annotated faces and NME of the landmarks
/// predicted from the detector's boxes (matched faces only).
#[derive(Debug, Clone, Serialize)]
pub struct EndToEnd {
    pub faces: usize,
    pub found: usize,
    pub recall: f64,
    /// Per matched (and scorable) face NME (fraction).
    pub nmes: Vec<f64>,
    pub mean_nme: f64,
    /// Matched faces that cannot be normalised (too few labelled points).
    pub unscored: Vec<crate::eval::UnscoredFace>,
}

/// Run detector + landmarks over a dataset and score against its annotations.
pub fn end_to_end(
    p: &mut Predictor,
    ds: &Dataset,
    norm: facealign_core::metrics::Normalizer,
) -> Result<EndToEnd> {
    let matches = match_detections(p.detector.as_mut(), ds, 0.3)?;
    let mut nmes = Vec::new();
    let mut unscored = Vec::new();
    let mut found = 0;
    for (s, m) in ds.samples.iter().zip(&matches) {
        let Some((b, _)) = m else { continue };
        found += 1;
        let img = s.image.load_rgb()?;
        let l = p.landmarks_for_boxes(&img, std::slice::from_ref(b))?;
        match facealign_core::metrics::score_face(&l[0], &s.landmarks, &ds.scheme, norm)? {
            FaceScore::Nme(v) => nmes.push(v),
            FaceScore::Unscorable(reason) => unscored.push(crate::eval::UnscoredFace {
                id: s.id.clone(),
                reason,
            }),
        }
    }
    Ok(EndToEnd {
        faces: ds.samples.len(),
        found,
        recall: found as f64 / ds.samples.len().max(1) as f64,
        mean_nme: if nmes.is_empty() {
            f64::NAN
        } else {
            nmes.iter().sum::<f64>() / nmes.len() as f64
        },
        nmes,
        unscored,
    })
}
