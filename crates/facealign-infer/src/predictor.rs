//! Landmarks on photos: face detection → calibrated crop → landmarks → image coordinates.
//!
//! The crop protocol of training (a square of side `max(w,h)·enlarge` around the landmark box) is
//! applied to detector boxes through a [`BoxCalibration`] fitted on training faces
//! (`facealign model calibrate`): it moves and scales each detector box so that, on average, it
//! matches the landmark box the model was trained on. The calibration is stored in the model
//! file's metadata, one per detector.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evaluate::{score, Detection, EvalOptions, EvalReport};
use crate::model_file::{Locations, ModelFile};
use crate::net::CropNet;
use crate::predict::{predict_image_px, refine_predictions, Refine};
use facealign_core::geometry::{crop_from_box, warp_rgb, BoxCalibration};
use facealign_core::loader::to_chw;
use facealign_core::{BoxXywh, Dataset, Point};
use facealign_detect::geometry::iou_xywh;
use facealign_detect::FaceDetector;

/// One face found in a photo.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Face {
    /// Detector box (image_px) or the given box; `[x, y, w, h]` in JSON.
    #[serde(rename = "box", with = "facealign_core::coords::xywh_array")]
    pub bbox: BoxXywh,
    /// Detector score (1 for a given box).
    pub score: f32,
    /// Landmarks in image_px (0-based pixels).
    pub landmarks: Vec<[f32; 2]>,
}

/// One image's entry in a predictions file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PhotoFaces {
    /// The image's path as given.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    pub faces: Vec<Face>,
    /// Why the image has no result (unreadable, too large, a bad box), if so.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// What `facealign predict --json` writes: the model, its landmark scheme, the detector, the
/// coordinate space of every point (`image_px`) and one entry per image.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PredictOutput {
    pub model: String,
    pub scheme: String,
    pub detector: String,
    pub coordinates: String,
    pub images: Vec<PhotoFaces>,
}

impl PredictOutput {
    /// An empty file for `predictor`'s model and detector.
    pub fn new(predictor: &Predictor) -> PredictOutput {
        PredictOutput {
            model: predictor.model.name.clone(),
            scheme: predictor.model.scheme.name().to_string(),
            detector: predictor.detector_name.clone(),
            coordinates: "image_px".into(),
            images: Vec::new(),
        }
    }

    /// Write as pretty JSON, atomically.
    pub fn write(&self, path: &std::path::Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| Error::invalid("predictions", e.to_string()))?;
        facealign_core::fsio::write_atomic(path, text.as_bytes())?;
        Ok(())
    }

    /// Read a file written by [`PredictOutput::write`]; errors name the file.
    pub fn read(path: &std::path::Path) -> Result<PredictOutput> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
        serde_json::from_str(&text)
            .map_err(|e| Error::model(path, format!("line {}", e.line()), e.to_string()))
    }
}

/// A model plus a face detector.
pub struct Predictor {
    /// What the model file says (scheme, crop protocol, calibrations).
    pub model: ModelFile,
    /// The network, on either runtime.
    pub net: Box<dyn CropNet>,
    pub detector: Box<dyn FaceDetector>,
    pub detector_name: String,
    pub calibration: BoxCalibration,
    /// Whether `calibration` came from the model file (false = identity fallback).
    pub calibrated: bool,
    /// Refinement after the first prediction (roll-aligned re-crop, mirrored average).
    pub refine: Refine,
}

impl Predictor {
    /// Build from a model file, its network on some runtime, and a detector name (its model file
    /// found in `loc`'s detector folders).
    pub fn new(
        model: ModelFile,
        net: Box<dyn CropNet>,
        detector: &str,
        loc: &Locations,
    ) -> Result<Predictor> {
        Self::with_detector_dir(model, net, detector, &loc.detector_dir(detector))
    }

    /// [`Predictor::new`] with the detector's model file read from `detector_dir` (an installed
    /// package has no repository to guess from).
    pub fn with_detector_dir(
        model: ModelFile,
        net: Box<dyn CropNet>,
        detector: &str,
        detector_dir: &std::path::Path,
    ) -> Result<Predictor> {
        let det = facealign_detect::open(detector, detector_dir)?;
        let (calibration, calibrated) = match model.calibration(detector)? {
            Some(c) => (c, true),
            None => (BoxCalibration::IDENTITY, false),
        };
        Ok(Predictor {
            model,
            net,
            detector: det,
            detector_name: detector.to_string(),
            calibration,
            calibrated,
            refine: Refine::OFF,
        })
    }

    /// Landmarks for given boxes (image_px), in one batch.
    pub fn landmarks_for_boxes(
        &self,
        img: &image::RgbImage,
        boxes: &[BoxXywh],
    ) -> Result<Vec<Vec<Point>>> {
        self.stage().landmarks(img, boxes)
    }

    /// Detect faces and predict their landmarks.
    pub fn predict(&mut self, img: &image::RgbImage) -> Result<Vec<Face>> {
        let dets = self.detector.detect(img)?;
        self.stage().faces(img, &dets)
    }

    /// [`Predictor::predict`] on several images, the results in their order. Detection and
    /// landmarks run as a two-stage pipeline on two threads (the detector on the calling
    /// thread finds the faces of image k + 1 while the network places the landmarks of image k):
    /// on a folder of one-face photos the two stages cost about the same, so the wall time per
    /// photo nearly halves (docs/PERFORMANCE.md). The results equal those of `predict` image by
    /// image; the first error stops the run.
    pub fn predict_many(&mut self, imgs: &[&image::RgbImage]) -> Result<Vec<Vec<Face>>> {
        if imgs.len() < 2 {
            return imgs.iter().map(|img| self.predict(img)).collect();
        }
        let Predictor {
            model,
            net,
            detector,
            calibration,
            refine,
            ..
        } = self;
        let (model, calibration, refine) = (&*model, *calibration, *refine);
        let (tx, rx) =
            std::sync::mpsc::sync_channel::<(usize, Vec<facealign_detect::Detection>)>(2);
        std::thread::scope(|scope| {
            let worker = scope.spawn(move || -> Result<Vec<Vec<Face>>> {
                let stage = LandmarkStage {
                    model,
                    net: net.as_ref(),
                    calibration,
                    refine,
                };
                let mut out = Vec::with_capacity(imgs.len());
                for (k, dets) in rx {
                    out.push(stage.faces(imgs[k], &dets)?);
                }
                Ok(out)
            });
            let mut detected = Ok(());
            for (k, img) in imgs.iter().enumerate() {
                match detector.detect(img) {
                    // A closed channel means the landmark stage failed: its error is returned.
                    Ok(d) => {
                        if tx.send((k, d)).is_err() {
                            break;
                        }
                    }
                    Err(e) => {
                        detected = Err(e.into());
                        break;
                    }
                }
            }
            drop(tx);
            let faces = worker
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic))?;
            detected.map(|()| faces)
        })
    }

    fn stage(&self) -> LandmarkStage<'_> {
        LandmarkStage {
            model: &self.model,
            net: self.net.as_ref(),
            calibration: self.calibration,
            refine: self.refine,
        }
    }
}

/// What placing landmarks in given boxes needs (the predictor without its detector), so that it
/// can run on another thread than the detector.
struct LandmarkStage<'a> {
    model: &'a ModelFile,
    net: &'a dyn CropNet,
    calibration: BoxCalibration,
    refine: Refine,
}

impl LandmarkStage<'_> {
    fn landmarks(&self, img: &image::RgbImage, boxes: &[BoxXywh]) -> Result<Vec<Vec<Point>>> {
        if boxes.is_empty() {
            return Ok(Vec::new());
        }
        let spec = self.model.crop;
        let s = spec.size as usize;
        let mut chw = Vec::with_capacity(boxes.len() * 3 * s * s);
        let mut crops = Vec::with_capacity(boxes.len());
        for b in boxes {
            let t = crop_from_box(b, &spec, &self.calibration)?;
            chw.extend(to_chw(&warp_rgb(img, &t, spec.size)?));
            crops.push(t);
        }
        let first = predict_image_px(self.net, &chw, &crops, spec.size)?;
        if self.refine.passes == 0 {
            return Ok(first);
        }
        let imgs = vec![img; first.len()];
        let (refined, _) = refine_predictions(
            self.net,
            &self.model.scheme,
            &spec,
            &imgs,
            first,
            self.refine,
        )?;
        Ok(refined)
    }

    fn faces(
        &self,
        img: &image::RgbImage,
        dets: &[facealign_detect::Detection],
    ) -> Result<Vec<Face>> {
        let boxes: Vec<BoxXywh> = dets.iter().map(|d| d.bbox).collect();
        let lms = self.landmarks(img, &boxes)?;
        Ok(dets
            .iter()
            .zip(lms)
            .map(|(d, l)| Face {
                bbox: d.bbox,
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

/// Run detector + landmarks over a dataset and score the faces the detector found (matched to
/// an annotated face at IoU ≥ 0.3) with the protocol of [`evaluate`]: one report schema for both
/// kinds of `eval`, with [`Detection`] saying how many faces were found.
pub fn end_to_end(p: &mut Predictor, ds: &Dataset, opts: &EvalOptions) -> Result<EvalReport> {
    let matches = match_detections(p.detector.as_mut(), ds, 0.3)?;
    let mut kept = Vec::new();
    let mut preds = Vec::new();
    for (i, (s, m)) in ds.samples.iter().zip(&matches).enumerate() {
        let Some((b, _)) = m else { continue };
        let img = s.image.load_rgb()?;
        let l = p.landmarks_for_boxes(&img, std::slice::from_ref(b))?;
        preds.extend(l);
        kept.push(i);
    }
    let detection = Detection {
        detector: p.detector_name.clone(),
        calibrated: p.calibrated,
        faces: ds.samples.len(),
        found: kept.len(),
        recall: kept.len() as f64 / ds.samples.len().max(1) as f64,
    };
    if kept.is_empty() {
        return Err(Error::Mismatch(format!(
            "{}: detector {} found none of the {} annotated faces",
            ds.source, detection.detector, detection.faces
        )));
    }
    // The matched faces, with every subset re-indexed to them.
    let mut position = vec![usize::MAX; ds.samples.len()];
    for (k, &i) in kept.iter().enumerate() {
        position[i] = k;
    }
    let found = Dataset {
        samples: kept.iter().map(|&i| ds.samples[i].clone()).collect(),
        subsets: ds
            .subsets
            .iter()
            .map(|(name, idx)| {
                let sub = idx
                    .iter()
                    .filter_map(|&i| Some(position[i]).filter(|&k| k != usize::MAX))
                    .collect();
                (name.clone(), sub)
            })
            .collect(),
        ..ds.clone()
    };
    let protocol = format!(
        "detector {} boxes{} → crop × {} at {} px{}; faces matched to annotations at IoU ≥ 0.3; NME normalised by {}",
        detection.detector,
        if p.calibrated {
            " (calibrated)"
        } else {
            " (uncalibrated)"
        },
        p.model.crop.enlarge,
        p.model.crop.size,
        p.refine.describe(),
        opts.norm.name()
    );
    let mut report = score(&p.model.name, &found, preds, protocol, opts)?;
    report.detection = Some(detection);
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> ModelFile {
        let root = crate::model_file::repo_root().expect("the repository should exist in tests");
        ModelFile::open(&root.join("models/aflw19.safetensors")).expect("aflw19 should load")
    }

    /// A net that must never run: these tests only build predictors.
    struct NoNet;
    impl CropNet for NoNet {
        fn runtime(&self) -> &'static str {
            "none"
        }
        fn run(&self, _chw: &[f32], _n: usize) -> Result<Vec<f32>> {
            unreachable!("not run in these tests")
        }
    }

    fn photos() -> Vec<image::RgbImage> {
        let root = crate::model_file::repo_root().expect("the repository should exist in tests");
        let dlib = root.join("../shared/data/fixtures/dlib");
        let mut out: Vec<image::RgbImage> = ["2008_001322.jpg", "2009_004587.jpg"]
            .iter()
            .map(|f| facealign_core::imageio::decode_rgb(&dlib.join(f)).expect("fixture photo"))
            .collect();
        out.insert(1, image::RgbImage::new(64, 48)); // no face
        out
    }

    #[test]
    fn predict_many_equals_predict_image_by_image() {
        let loc = Locations::discover();
        let path = loc
            .default_model(facealign_core::SchemeId::Ibug68)
            .expect("the default model");
        let net = crate::TractNet::from_model_file(&path, Default::default()).expect("builds");
        let file = ModelFile::open(&path).expect("opens");
        let mut p = Predictor::new(file, Box::new(net), "ultraface-rfb", &loc).expect("predictor");
        p.refine = Refine {
            passes: 1,
            flip: false,
            still_px: 0.0,
        };
        let imgs = photos();
        let one_by_one: Vec<Vec<Face>> = imgs.iter().map(|i| p.predict(i).expect("ok")).collect();
        let refs: Vec<&image::RgbImage> = imgs.iter().collect();
        let many = p.predict_many(&refs).expect("ok");
        assert_eq!(many, one_by_one);
        let counts: Vec<usize> = many.iter().map(Vec::len).collect();
        assert_eq!(counts, [3, 0, 2], "faces per photo");
        assert_eq!(p.predict_many(&refs[..1]).expect("ok"), one_by_one[..1]);
        assert!(p.predict_many(&[]).expect("ok").is_empty());

        // The predictions file round-trips (and names a bad file on read).
        let mut file = PredictOutput::new(&p);
        for (k, faces) in many.into_iter().enumerate() {
            file.images.push(PhotoFaces {
                image: format!("photo{k}.jpg"),
                width: Some(imgs[k].width()),
                height: Some(imgs[k].height()),
                faces,
                error: None,
            });
        }
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("p.json");
        file.write(&path).expect("writes");
        assert_eq!(PredictOutput::read(&path).expect("reads"), file);
        assert_eq!(
            (file.scheme.as_str(), file.coordinates.as_str()),
            ("ibug68", "image_px")
        );
        std::fs::write(&path, "{\"model\": 1}").expect("writes");
        let e = PredictOutput::read(&path).expect_err("not a predictions file");
        assert!(e.to_string().contains("p.json"), "{e}");
    }

    /// A net that fails on every batch.
    struct FailNet;
    impl CropNet for FailNet {
        fn runtime(&self) -> &'static str {
            "fail"
        }
        fn run(&self, _chw: &[f32], _n: usize) -> Result<Vec<f32>> {
            Err(Error::invalid("network input", "refused by the test net"))
        }
    }

    #[test]
    fn predict_many_returns_the_landmark_stage_error() {
        let mut p = Predictor::new(
            model(),
            Box::new(FailNet),
            "ultraface-rfb",
            &Locations::discover(),
        )
        .expect("predictor");
        let imgs = photos();
        let refs: Vec<&image::RgbImage> = imgs.iter().chain(imgs.iter()).collect();
        let err = p.predict_many(&refs).expect_err("the net fails");
        assert!(err.to_string().contains("refused by the test net"), "{err}");
    }

    #[test]
    fn every_detector_opens_from_its_detector_dir() {
        // The default detector ships in the repository, the others in ../shared: each name must
        // find its own file (it once looked only where the default was).
        let loc = Locations::discover();
        for name in facealign_detect::DETECTORS {
            let dir = loc.detector_dir(name);
            facealign_detect::open(name, &dir)
                .unwrap_or_else(|e| panic!("{name} from {}: {e}", dir.display()));
        }
    }

    #[test]
    fn with_detector_dir_reads_the_given_folder() {
        let dir = Locations::discover().detector_dir("ultraface-rfb");
        let p = Predictor::with_detector_dir(model(), Box::new(NoNet), "ultraface-rfb", &dir)
            .expect("the default detector should open from detector_dir()");
        assert_eq!(p.detector_name, "ultraface-rfb");
        assert_eq!(p.detector.name(), "ultraface-rfb");
        let empty = tempfile::tempdir().expect("temp dir");
        let err =
            Predictor::with_detector_dir(model(), Box::new(NoNet), "ultraface-rfb", empty.path())
                .err()
                .expect("a folder without the detector file should be refused");
        assert!(
            err.to_string().contains("version-RFB-320.onnx"),
            "the error should name the missing file: {err}"
        );
    }
}
