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
use crate::predict::{predict_image_px, refine_predictions, Refine, Refiner};
use facealign_core::geometry::{crop_from_box, warp_rgb, BoxCalibration};
use facealign_core::loader::to_chw;
use facealign_core::{BoxXywh, Dataset, Point};
use facealign_detect::geometry::iou_xywh;
use facealign_detect::turned::{box_to_view, detect_turned, from_view, turn, TurnedDetection};
use facealign_detect::{FaceDetector, Prepared};

/// How many images [`Predictor::predict_stream`] loads (and detects) ahead of the one whose
/// landmarks are being placed: one in the detector and up to two waiting for it (large images
/// are loaded in pairs, and the detector should not wait for a pair).
pub const STREAM_AHEAD: usize = 3;

/// Images of at least this many decoded bytes (4 MiB, about 1.4 megapixels) are loaded two at a
/// time in parallel by [`Predictor::predict_stream`]; smaller ones one by one on the landmark
/// thread, which has time to spare while the detector runs.
pub const PARALLEL_LOAD_BYTES: u64 = 4 << 20;

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
    /// The detector of a list (`--detector a,b`) that found this face when it was not the first
    /// (its box is then given in the first detector's terms, its score is its own); absent for
    /// the first detector's faces and for given boxes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detector: Option<String>,
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
    /// The EXIF orientation (2-8) applied to the stored pixels before prediction, when the photo
    /// had one: `width`, `height` and every point are then in the upright image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exif_orientation: Option<u8>,
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
    /// The model that ran the refinement passes when it was not `model` (a cascade).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refine_model: Option<String>,
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
            refine_model: match (predictor.refiner(), predictor.refine.passes) {
                (Some(r), 1..) => Some(r.model.name.clone()),
                _ => None,
            },
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

/// The detectors `facealign predict` and the Python package search photos with when none is
/// given: UltraFace RFB-320, then YuNet at a 320-px input on the photos where it found no face (a
/// profile or an occluded face; session 20: 33 of the 33 faces of the adult test photos against
/// 32, 196 of the 210 InfAnFace training infants against 190 with YuNet at 640 px; session 21:
/// YuNet at 320 px finds 199 and costs less than half the time). A photo where UltraFace finds a
/// face gets exactly its result; one where it finds none costs YuNet's search too
/// (docs/PERFORMANCE.md).
pub const DEFAULT_DETECTORS: &str = "ultraface-rfb,yunet-320";

/// A detector of a list (`--detector a,b`) after the first: it searches a photo only where the
/// ones before it found no face, and its boxes are given in the first detector's terms (the
/// square box that, calibrated as the first detector's, gives the crop its own calibration gives:
/// [`BoxCalibration::equivalent_box`]).
pub struct FallbackDetector {
    pub detector: Box<dyn FaceDetector>,
    /// The model's calibration for this detector (identity if the model has none).
    pub calibration: BoxCalibration,
}

/// A model plus a face detector.
pub struct Predictor {
    /// What the model file says (scheme, crop protocol, calibrations).
    pub model: ModelFile,
    /// The network, on either runtime.
    pub net: Box<dyn CropNet>,
    pub detector: Box<dyn FaceDetector>,
    /// The detector's name, or the list `first,second,…` of a detector with fallbacks.
    pub detector_name: String,
    pub calibration: BoxCalibration,
    /// The detectors of the list the model file has no calibration for (their boxes are used as
    /// they are: identity calibration); empty when every one is calibrated.
    pub uncalibrated: Vec<String>,
    /// Detectors that search a photo only where the ones before them found no face (`--detector
    /// a,b`: profiles and occluded faces one detector misses, another may find), in order.
    pub fallbacks: Vec<FallbackDetector>,
    /// Refinement after the first prediction (roll-aligned re-crop, mirrored average).
    pub refine: Refine,
    /// A second model for the refinement passes (a cascade; [`Predictor::set_refiner`]); `None`:
    /// the first model refines its own prediction.
    pub refiner: Option<(ModelFile, Box<dyn CropNet>)>,
    /// Search every photo also turned by 90°, 180° and 270° and place each face's landmarks
    /// in the view where it was found (faces lying on their side; four times the detector's
    /// work; [`facealign_detect::turned`]).
    pub search_turned: bool,
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
        Self::with_detector_dirs(model, net, detector, |n| loc.detector_dir(n), false)
    }

    /// [`Predictor::new`] for runs that give the face boxes themselves (`predict --box`): every
    /// detector of the list is built only if it searches a photo
    /// ([`facealign_detect::open_lazy`]), so start-up skips their networks. Searching with it
    /// works but forgoes the first detector's pre-processing on the loading thread.
    pub fn new_for_boxes(
        model: ModelFile,
        net: Box<dyn CropNet>,
        detector: &str,
        loc: &Locations,
    ) -> Result<Predictor> {
        Self::with_detector_dirs(model, net, detector, |n| loc.detector_dir(n), true)
    }

    /// [`Predictor::new`] with the detector's model file read from `detector_dir` (an installed
    /// package has no repository to guess from).
    pub fn with_detector_dir(
        model: ModelFile,
        net: Box<dyn CropNet>,
        detector: &str,
        detector_dir: &std::path::Path,
    ) -> Result<Predictor> {
        let dir = detector_dir.to_path_buf();
        Self::with_detector_dirs(model, net, detector, |_| dir.clone(), false)
    }

    /// [`Predictor::new`] (or, with `lazy_first`, [`Predictor::new_for_boxes`]) with the model
    /// file and its network loaded by `load_net` on a second thread while the first detector's
    /// network is built on this one: the two are independent, each mostly one core's tract graph
    /// work, so a one-photo run starts in about the longer of the two instead of their sum
    /// (docs/PERFORMANCE.md). `detector_dir(name)`: where a detector's model file lies (e.g.
    /// `|n| loc.detector_dir(n)`). Errors as the sequential constructors': a malformed detector
    /// list is reported before anything loads, then a load error before a detector's.
    pub fn load_parallel<E: From<Error> + Send>(
        load_net: impl FnOnce() -> std::result::Result<(ModelFile, Box<dyn CropNet>), E> + Send,
        detector: &str,
        detector_dir: impl Fn(&str) -> std::path::PathBuf,
        lazy_first: bool,
    ) -> std::result::Result<Predictor, E> {
        let names = detector_names(detector)?;
        let (loaded, dets) = std::thread::scope(|s| {
            let h = s.spawn(load_net);
            let dets = open_detectors(&names, detector_dir, lazy_first);
            let loaded = h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (loaded, dets)
        });
        let (model, net) = loaded?;
        Ok(Self::assemble(model, net, &names, dets?)?)
    }

    /// `detector` is a name or a list `first,second,…` (each searching only photos where the
    /// ones before found no face); `dir(name)` is where a detector's model file lies;
    /// `lazy_first`: the first detector too is built on its first search.
    fn with_detector_dirs(
        model: ModelFile,
        net: Box<dyn CropNet>,
        detector: &str,
        dir: impl Fn(&str) -> std::path::PathBuf,
        lazy_first: bool,
    ) -> Result<Predictor> {
        let names = detector_names(detector)?;
        let dets = open_detectors(&names, dir, lazy_first)?;
        Self::assemble(model, net, &names, dets)
    }

    /// The predictor of a model, its network and the opened detectors of `names` (in order),
    /// each with the model file's box calibration for it.
    fn assemble(
        model: ModelFile,
        net: Box<dyn CropNet>,
        names: &[&str],
        dets: Vec<Box<dyn FaceDetector>>,
    ) -> Result<Predictor> {
        let mut uncalibrated = Vec::new();
        let mut opened = Vec::with_capacity(names.len());
        for (n, det) in names.iter().zip(dets) {
            let calibration = model.calibration(n)?.unwrap_or_else(|| {
                uncalibrated.push(n.to_string());
                BoxCalibration::IDENTITY
            });
            opened.push(FallbackDetector {
                detector: det,
                calibration,
            });
        }
        let first = opened.remove(0);
        Ok(Predictor {
            model,
            net,
            detector: first.detector,
            detector_name: names.join(","),
            calibration: first.calibration,
            uncalibrated,
            fallbacks: opened,
            refine: Refine::OFF,
            refiner: None,
            search_turned: false,
        })
    }

    /// Whether the model file calibrates every detector of the list.
    pub fn calibrated(&self) -> bool {
        self.uncalibrated.is_empty()
    }

    /// Landmarks for given boxes (image_px), in one batch.
    pub fn landmarks_for_boxes(
        &self,
        img: &image::RgbImage,
        boxes: &[BoxXywh],
    ) -> Result<Vec<Vec<Point>>> {
        Ok(self.stage().landmarks(img, boxes)?.0)
    }

    /// Detect faces and predict their landmarks.
    pub fn predict(&mut self, img: &image::RgbImage) -> Result<Vec<Face>> {
        let found = self.finder().detect(img, None)?;
        self.stage().faces(img, &found)
    }

    /// [`Predictor::predict`] on several images, the results in their order, pipelined as
    /// [`Predictor::predict_stream`] does. The results equal those of `predict` image by image;
    /// the first error stops the run.
    pub fn predict_many(&mut self, imgs: &[&image::RgbImage]) -> Result<Vec<Vec<Face>>> {
        let mut out = Vec::with_capacity(imgs.len());
        self.predict_stream(
            &vec![0; imgs.len()],
            u64::MAX,
            |k| Ok::<_, std::convert::Infallible>(imgs[k]),
            |_, r| {
                let Ok((_, faces)) = r;
                out.push(faces);
                Ok(())
            },
        )?;
        Ok(out)
    }

    /// Detect faces and place landmarks on a stream of images, as a two-stage pipeline on two
    /// threads: the detector runs on its own thread up to [`STREAM_AHEAD`] images ahead, while
    /// the calling thread loads the images (`load(k)`, e.g. decodes a file), applies the
    /// detector's pre-processing where it has one ([`FaceDetector::preprocess`]: the UltraFace
    /// resize and normalisation) and places the landmarks of the faces found. On a folder of
    /// one-face photos the detector is the slower stage, so it never waits for decoding,
    /// pre-processing or landmarks: the time per photo is about the detector network's alone
    /// (docs/PERFORMANCE.md).
    ///
    /// `sizes[k]` is image k's size in bytes as far as known before loading (0 if not): images
    /// are loaded ahead only while the loaded, unfinished ones stay within `budget` bytes (one
    /// image is always allowed). `done(k, result)` is called on the calling thread for every k in
    /// order: `Ok((image, faces))`, or the error `load` gave (the run goes on). An error of the
    /// detector, the network or `done` stops the run and is returned.
    pub fn predict_stream<T, E>(
        &mut self,
        sizes: &[u64],
        budget: u64,
        load: impl Fn(usize) -> std::result::Result<T, E> + Sync,
        mut done: impl FnMut(usize, std::result::Result<(T, Vec<Face>), E>) -> Result<()>,
    ) -> Result<()>
    where
        T: std::ops::Deref<Target = image::RgbImage> + Clone + Send,
        E: Send,
    {
        use rayon::prelude::*;
        let n = sizes.len();
        let Predictor {
            model,
            net,
            detector,
            calibration,
            refine,
            refiner,
            search_turned,
            fallbacks,
            ..
        } = self;
        let search_turned = *search_turned;
        let stage = LandmarkStage {
            model,
            net: net.as_ref(),
            calibration: *calibration,
            refine: *refine,
            refiner: refiner.as_ref().map(as_refiner),
        };
        let mut finder = Finder {
            detector: detector.as_mut(),
            calibration: *calibration,
            fallbacks,
            search_turned,
        };
        // The detector's resize and normalisation run here, on the loading thread, so that the
        // detector thread (the slower stage) only runs its network.
        let preprocess = finder.detector.preprocess().filter(|_| !search_turned);
        std::thread::scope(|scope| {
            let (to_detector, images) = std::sync::mpsc::channel::<(T, Option<Prepared>)>();
            let (found, from_detector) = std::sync::mpsc::channel();
            scope.spawn(move || {
                for (img, prepared) in images {
                    let result = finder.detect(&img, prepared);
                    drop(img);
                    if found.send(result).is_err() {
                        break;
                    }
                }
            });
            // Loaded images not yet done, with the bytes each holds (0 for a failed load).
            let mut loaded = std::collections::VecDeque::new();
            let mut next = 0;
            for k in 0..n {
                // The images to load now: up to STREAM_AHEAD ahead, within the budget.
                let mut want = next..next;
                let mut room: u64 = loaded.iter().map(|(_, bytes)| bytes).sum();
                while want.end < n && want.end <= k + STREAM_AHEAD {
                    let need = sizes[want.end];
                    if !(loaded.is_empty() && want.is_empty()) && room.saturating_add(need) > budget
                    {
                        break;
                    }
                    room = room.saturating_add(need);
                    want.end += 1;
                }
                // Large images take longer to decode than the detector takes to find their
                // faces: they are loaded two at a time on both cores, so one not needed yet waits
                // for a partner.
                let large = |j: usize| sizes[j] >= PARALLEL_LOAD_BYTES;
                if want.len() == 1 && want.start > k && large(want.start) && want.end < n {
                    want.end = want.start;
                }
                let results: Vec<std::result::Result<T, E>> =
                    if want.len() >= 2 && want.clone().any(large) {
                        want.clone().into_par_iter().map(&load).collect()
                    } else {
                        want.clone().map(&load).collect()
                    };
                next = want.end;
                for (j, r) in want.zip(results) {
                    let bytes = if r.is_ok() { sizes[j] } else { 0 };
                    if let Ok(img) = &r {
                        // The receiver lives until the detector thread ends, which needs this
                        // sender dropped first: a send cannot fail while we run.
                        let prepared = preprocess.map(|p| p.prepare(img));
                        let _ = to_detector.send((img.clone(), prepared));
                    }
                    loaded.push_back((r, bytes));
                }
                let (r, _) = loaded
                    .pop_front()
                    .expect("image k is loaded before its turn");
                let result = match r {
                    Err(e) => Err(e),
                    Ok(img) => {
                        let found = from_detector
                            .recv()
                            .map_err(|_| Error::Mismatch("the detector thread stopped".into()))??;
                        let faces = stage.faces(&img, &found)?;
                        Ok((img, faces))
                    }
                };
                done(k, result)?;
            }
            Ok(())
        })
    }

    /// The predictor's detectors, borrowed.
    fn finder(&mut self) -> Finder<'_> {
        Finder {
            detector: self.detector.as_mut(),
            calibration: self.calibration,
            fallbacks: &mut self.fallbacks,
            search_turned: self.search_turned,
        }
    }

    /// Refine with a second model (a cascade): every refinement pass runs `net` on `model`'s own
    /// crop protocol instead of the first model. Errors unless it predicts the first model's
    /// scheme.
    pub fn set_refiner(&mut self, model: ModelFile, net: Box<dyn CropNet>) -> Result<()> {
        let refiner = (model, net);
        as_refiner(&refiner).check(&self.model)?;
        self.refiner = Some(refiner);
        Ok(())
    }

    /// The refine model, when one is set.
    pub fn refiner(&self) -> Option<Refiner<'_>> {
        self.refiner.as_ref().map(as_refiner)
    }

    fn stage(&self) -> LandmarkStage<'_> {
        LandmarkStage {
            model: &self.model,
            net: self.net.as_ref(),
            calibration: self.calibration,
            refine: self.refine,
            refiner: self.refiner(),
        }
    }
}

/// The borrowed view of a refine model the predictor owns ([`Predictor::refiner`]).
fn as_refiner((model, net): &(ModelFile, Box<dyn CropNet>)) -> Refiner<'_> {
    Refiner {
        model,
        net: net.as_ref(),
    }
}

/// With [`Predictor::search_turned`], a face is placed in another view than the one the
/// detector scored highest only when the mirror gap there is below this share of the gap in
/// the detector's view (chosen on the AFLW and InfAnFace validation splits among 1.0, 0.7 and
/// 0.5: docs/RESULTS.md).
pub const TURN_GAP_RATIO: f32 = 0.7;

/// What placing landmarks in given boxes needs (the predictor without its detector), so that it
/// can run on another thread than the detector.
struct LandmarkStage<'a> {
    model: &'a ModelFile,
    net: &'a dyn CropNet,
    calibration: BoxCalibration,
    refine: Refine,
    refiner: Option<Refiner<'a>>,
}

impl LandmarkStage<'_> {
    /// The landmarks in `boxes`, and how many refinement passes ran (over all faces).
    fn landmarks(
        &self,
        img: &image::RgbImage,
        boxes: &[BoxXywh],
    ) -> Result<(Vec<Vec<Point>>, usize)> {
        if boxes.is_empty() {
            return Ok((Vec::new(), 0));
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
            return Ok((first, 0));
        }
        let imgs = vec![img; first.len()];
        match self.refiner {
            // The refine model's first pass always runs (it is the precise one of the two):
            // its crops are not compared with the first model's.
            Some(r) => r.refine(&imgs, first, self.refine),
            None => refine_predictions(
                self.net,
                &self.model.scheme,
                &spec,
                &imgs,
                first,
                Some(&crops),
                self.refine,
            ),
        }
    }

    /// The landmarks of faces found by [`detect`] (in `img`'s image_px), each placed in the view
    /// it was found in, and how many refinement passes ran.
    fn landmarks_turned(
        &self,
        img: &image::RgbImage,
        dets: &[TurnedDetection],
    ) -> Result<(Vec<Vec<Point>>, usize)> {
        let mut out = vec![Vec::new(); dets.len()];
        let mut ran = 0;
        let (w, h) = img.dimensions();
        let searched = dets.iter().any(|d| d.searched);
        let views: Vec<image::RgbImage> = (0..4u8)
            .map(|q| {
                if q == 0 || !searched {
                    image::RgbImage::new(0, 0)
                } else {
                    turn(img, q)
                }
            })
            .collect();
        let view = |q: u8| if q == 0 { img } else { &views[q as usize] };
        // A face of a turned search is placed in the view (of four) where the model's
        // prediction and its prediction on the mirrored crop agree best: a face on its side or
        // upside down, outside what the model learned, gives two inconsistent shapes. The view
        // the detector scored highest wins unless another agrees clearly better
        // (TURN_GAP_RATIO); in a view where the detector did not find the face, its box is
        // the found box turned.
        let mut chosen = Vec::with_capacity(dets.len());
        for d in dets {
            let mut best = (d.quarter, d.view_box);
            if d.searched {
                let mut best_gap = self.mirror_gap(view(d.quarter), &d.view_box)?;
                let mut bar = best_gap * TURN_GAP_RATIO;
                for q in (0..4u8).filter(|&q| q != d.quarter) {
                    let b = d
                        .alternatives
                        .iter()
                        .find(|a| a.0 == q)
                        .map(|a| a.1)
                        .unwrap_or_else(|| box_to_view(&d.detection.bbox, q, w, h));
                    let gap = self.mirror_gap(view(q), &b)?;
                    if gap < bar {
                        (best, best_gap) = ((q, b), gap);
                        bar = best_gap;
                    }
                }
            }
            chosen.push(best);
        }
        for quarter in 0..4u8 {
            let idx: Vec<usize> = (0..dets.len())
                .filter(|&i| chosen[i].0 == quarter)
                .collect();
            if idx.is_empty() {
                continue;
            }
            let boxes: Vec<BoxXywh> = idx.iter().map(|&i| chosen[i].1).collect();
            let (lms, n) = self.landmarks(view(quarter), &boxes)?;
            ran += n;
            for (&i, l) in idx.iter().zip(lms) {
                out[i] = l.into_iter().map(|p| from_view(p, quarter, w, h)).collect();
            }
        }
        Ok((out, ran))
    }

    /// How far the first prediction in `b` and the prediction on the mirrored crop (mapped back)
    /// lie apart: the mean point distance, in crop pixels.
    fn mirror_gap(&self, img: &image::RgbImage, b: &BoxXywh) -> Result<f32> {
        let spec = self.model.crop;
        let s = spec.size as usize;
        let t = crop_from_box(b, &spec, &self.calibration)?;
        let chw = to_chw(&warp_rgb(img, &t, spec.size)?);
        let p = predict_image_px(self.net, &chw, &[t], spec.size)?;
        let m = t.then(&facealign_core::geometry::Affine2::mirror_x(spec.size));
        let pm = predict_image_px(self.net, &crate::net::mirror_chw(&chw, s), &[m], spec.size)?;
        let flip = &self.model.scheme.flip;
        let mut sum = 0.0;
        for (i, &j) in flip.iter().enumerate() {
            let (a, c) = (t.apply(p[0][j]), t.apply(pm[0][i]));
            sum += ((a[0] - c[0]).powi(2) + (a[1] - c[1]).powi(2)).sqrt();
        }
        Ok(sum / flip.len().max(1) as f32)
    }

    fn faces(&self, img: &image::RgbImage, found: &Found) -> Result<Vec<Face>> {
        let (lms, _) = self.landmarks_turned(img, &found.dets)?;
        Ok(found
            .dets
            .iter()
            .zip(lms)
            .map(|(d, l)| Face {
                bbox: d.detection.bbox,
                score: d.detection.score,
                landmarks: l,
                detector: found.by.clone(),
            })
            .collect())
    }
}

/// The detectors of a predictor, borrowed (so that they can run on another thread than the
/// landmarks).
struct Finder<'a> {
    detector: &'a mut dyn FaceDetector,
    calibration: BoxCalibration,
    fallbacks: &'a mut [FallbackDetector],
    search_turned: bool,
}

/// The faces a [`Finder`] found in a photo, and which fallback found them (`None`: the first
/// detector).
struct Found {
    dets: Vec<TurnedDetection>,
    by: Option<String>,
}

impl Finder<'_> {
    /// The faces of `img` ([`detect`]) by the first detector; where it finds none, by the first
    /// fallback that finds any, its boxes given in the first detector's terms.
    fn detect(&mut self, img: &image::RgbImage, prepared: Option<Prepared>) -> Result<Found> {
        let dets = detect(self.detector, img, self.search_turned, prepared)?;
        if !dets.is_empty() {
            return Ok(Found { dets, by: None });
        }
        for f in self.fallbacks.iter_mut() {
            let mut dets = detect(f.detector.as_mut(), img, self.search_turned, None)?;
            if dets.is_empty() {
                continue;
            }
            let to_first = |b: &BoxXywh| self.calibration.equivalent_box(b, &f.calibration);
            for d in &mut dets {
                d.detection.bbox = to_first(&d.detection.bbox);
                d.view_box = to_first(&d.view_box);
                for a in &mut d.alternatives {
                    a.1 = to_first(&a.1);
                }
            }
            let by = Some(f.detector.name().to_string());
            return Ok(Found { dets, by });
        }
        Ok(Found { dets, by: None })
    }
}

/// The faces of `img`: upright only (`prepared`, if given, the detector's input made on another
/// thread), or in every quarter turn ([`detect_turned`]).
fn detect(
    detector: &mut dyn FaceDetector,
    img: &image::RgbImage,
    search_turned: bool,
    prepared: Option<Prepared>,
) -> Result<Vec<TurnedDetection>> {
    if search_turned {
        return Ok(detect_turned(detector, img)?);
    }
    let dets = match prepared {
        Some(input) => detector.detect_prepared(img, input)?,
        None => detector.detect(img)?,
    };
    Ok(dets
        .into_iter()
        .map(|d| TurnedDetection {
            view_box: d.bbox,
            detection: d,
            quarter: 0,
            alternatives: Vec::new(),
            searched: false,
        })
        .collect())
}

/// Detect faces in every image of `ds` and pair each annotated face with the best-overlapping
/// detection (IoU ≥ `min_iou` with the face's landmark box). Returns, per sample, the matched
/// detector box (or None).
pub fn match_detections(
    detector: &mut dyn FaceDetector,
    ds: &Dataset,
    min_iou: f32,
) -> Result<Vec<Option<(BoxXywh, f32)>>> {
    let mut finder = Finder {
        detector,
        calibration: BoxCalibration::IDENTITY,
        fallbacks: &mut [],
        search_turned: false,
    };
    Ok(match_turned(&mut finder, ds, min_iou)?
        .into_iter()
        .map(|m| m.map(|t| (t.detection.bbox, t.detection.score)))
        .collect())
}

/// [`match_detections`] by a [`Finder`] (fallback detectors, quarter turns).
fn match_turned(
    finder: &mut Finder,
    ds: &Dataset,
    min_iou: f32,
) -> Result<Vec<Option<TurnedDetection>>> {
    let mut out = vec![None; ds.samples.len()];
    let mut by_image: std::collections::BTreeMap<String, Vec<usize>> = Default::default();
    for (i, s) in ds.samples.iter().enumerate() {
        by_image.entry(s.image.display_name()).or_default().push(i);
    }
    for idx in by_image.values() {
        let img = ds.samples[idx[0]].image.load_rgb()?;
        let dets = finder.detect(&img, None)?.dets;
        let mut used = vec![false; dets.len()];
        for &i in idx {
            let Some(gt) = BoxXywh::around(&ds.samples[i].landmarks) else {
                continue;
            };
            let best = dets
                .iter()
                .enumerate()
                .filter(|(k, _)| !used[*k])
                .map(|(k, d)| (k, iou_xywh(&d.detection.bbox, &gt), d))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((k, v, d)) = best {
                if v >= min_iou {
                    used[k] = true;
                    out[i] = Some(d.clone());
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
/// kinds of `eval`, with [`Detection`] saying how many faces were found. With `opts.rotate`, the
/// detector searches each face's turned view (as `evaluate` crops it): what a tilted face costs
/// the detector as well as the landmarks.
pub fn end_to_end(p: &mut Predictor, ds: &Dataset, opts: &EvalOptions) -> Result<EvalReport> {
    let scoring = crate::evaluate::SchemeScoring::new(&p.model, ds)?;
    let turned = crate::evaluate::turned(ds, opts.rotate)?;
    let ds = turned.as_ref().unwrap_or(ds);
    let matches = match_turned(&mut p.finder(), ds, 0.3)?;
    let mut kept = Vec::new();
    let mut boxes = Vec::new();
    let mut missed = Vec::new();
    let mut preds = Vec::new();
    let mut ran = 0;
    for (i, (s, m)) in ds.samples.iter().zip(&matches).enumerate() {
        let Some(t) = m else {
            missed.push(s.id.clone());
            continue;
        };
        let img = s.image.load_rgb()?;
        let (l, n) = p.stage().landmarks_turned(&img, std::slice::from_ref(t))?;
        preds.extend(l);
        ran += n;
        kept.push(i);
        boxes.push(t.detection.bbox);
    }
    let detection = Detection {
        detector: p.detector_name.clone(),
        calibrated: p.calibrated(),
        faces: ds.samples.len(),
        found: kept.len(),
        recall: kept.len() as f64 / ds.samples.len().max(1) as f64,
        missed,
        matched: kept.iter().copied().zip(boxes).collect(),
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
    let (scored, preds, mapped) = scoring.apply(&found, preds)?;
    let found = scored.unwrap_or(found);
    let passes_note = p.refine.passes_note(ran, kept.len());
    let protocol = format!(
        "{}detector {} boxes{}{}{} → crop × {} at {} px{}{passes_note}; faces matched to annotations at IoU ≥ 0.3; NME normalised by {}{mapped}",
        opts.rotate.map_or(String::new(), |d| format!(
            "each face in a view of 3× its box turned {d}°; "
        )),
        p.detector.name(),
        if p.fallbacks.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = p.fallbacks.iter().map(|f| f.detector.name()).collect();
            format!(
                " ({} on the photos where it finds none, in that order; their boxes in its terms)",
                names.join(", then ")
            )
        },
        if p.search_turned {
            " searched in the photo and its three quarter turns (each face placed in the view it was found in)"
        } else {
            ""
        },
        if p.calibrated() {
            " (calibrated)"
        } else {
            " (uncalibrated)"
        },
        p.model.crop.enlarge,
        p.model.crop.size,
        Refiner::describe(p.refiner().as_ref(), p.refine),
        opts.norm.name()
    );
    let mut report = score(&p.model.name, &found, preds, protocol, opts)?;
    report.detection = Some(detection);
    Ok(report)
}

/// The names of a detector list `first,second,…`: non-empty and distinct.
fn detector_names(detector: &str) -> Result<Vec<&str>> {
    let names: Vec<&str> = detector.split(',').map(str::trim).collect();
    for (i, n) in names.iter().enumerate() {
        if n.is_empty() || names[..i].contains(n) {
            return Err(Error::invalid(
                "detector",
                format!("`{detector}`: a list of distinct detector names separated by commas"),
            ));
        }
    }
    Ok(names)
}

/// Opens the detectors of a list. A fallback searches only photos where the detectors before it
/// found nothing (and with `lazy_first` none may search): its network is built on its first
/// search, not at start-up.
fn open_detectors(
    names: &[&str],
    dir: impl Fn(&str) -> std::path::PathBuf,
    lazy_first: bool,
) -> Result<Vec<Box<dyn FaceDetector>>> {
    let mut dets = Vec::with_capacity(names.len());
    for (i, n) in names.iter().enumerate() {
        dets.push(if i == 0 && !lazy_first {
            facealign_detect::open(n, &dir(n))?
        } else {
            facealign_detect::open_lazy(n, &dir(n))?
        });
    }
    Ok(dets)
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
        let (file, net) = crate::TractNet::open(&path, Default::default()).expect("opens");
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
                exif_orientation: (k == 1).then_some(6),
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

    /// A net that answers the same crop_u shape for every crop.
    struct ConstNet(Vec<f32>);
    impl CropNet for ConstNet {
        fn runtime(&self) -> &'static str {
            "const"
        }
        fn run(&self, _chw: &[f32], n: usize) -> Result<Vec<f32>> {
            Ok(self.0.repeat(n))
        }
    }

    #[test]
    fn a_refine_model_runs_every_refinement_pass_on_its_own_crop() {
        let loc = Locations::discover();
        let path = loc
            .default_model(facealign_core::SchemeId::Ibug68)
            .expect("the default model");
        let open = || {
            let (file, net) = crate::TractNet::open(&path, Default::default()).expect("opens");
            let net: Box<dyn CropNet> = Box::new(net);
            (file, net)
        };
        let (f, n) = open();
        let mut own = Predictor::new_for_boxes(f, n, "ultraface-rfb", &loc).expect("predictor");
        let img = &photos()[0];
        let boxes = [
            BoxXywh {
                x: 40.0,
                y: 30.0,
                w: 60.0,
                h: 70.0,
            },
            BoxXywh {
                x: 150.0,
                y: 60.0,
                w: 50.0,
                h: 50.0,
            },
        ];
        let first = own.landmarks_for_boxes(img, &boxes).expect("first pass");
        own.refine = Refine {
            passes: 1,
            flip: false,
            still_px: 0.0,
        };
        let refined = own.landmarks_for_boxes(img, &boxes).expect("refined");

        // The same model as its own refine model gives the same points.
        let (f, n) = open();
        let mut casc = Predictor::new_for_boxes(f, n, "ultraface-rfb", &loc).expect("predictor");
        casc.refine = own.refine;
        let (rf, rn) = open();
        casc.set_refiner(rf, rn).expect("same scheme");
        assert_eq!(casc.landmarks_for_boxes(img, &boxes).expect("ok"), refined);

        // A refine model answering one fixed crop shape: each face's points are that shape
        // in the face's aligned re-crop of the first prediction, on the refine model's own
        // protocol (here 32 px, margin 1.5).
        let m = 68;
        let u: Vec<f32> = (0..2 * m)
            .map(|k| (k as f32 / (2 * m) as f32) - 0.5)
            .collect();
        let mut rf = model();
        rf.scheme = own.model.scheme.clone();
        rf.crop = facealign_core::CropSpec {
            size: 32,
            enlarge: 1.5,
        };
        casc.set_refiner(rf.clone(), Box::new(ConstNet(u.clone())))
            .expect("same scheme");
        // Its first pass runs even where --refine-still would skip the first model's.
        casc.refine.still_px = 1e6;
        let (got, ran) = casc.stage().landmarks(img, &boxes).expect("ok");
        assert_eq!(ran, 2, "one pass per face");
        for (shape, g) in first.iter().zip(&got) {
            let t = facealign_core::geometry::crop_aligned_to_shape(
                shape,
                rf.scheme.roll(shape),
                &rf.crop,
            )
            .expect("crop");
            let back = t.inverse().expect("invertible");
            for (k, q) in g.iter().enumerate() {
                let want = back.apply([
                    facealign_core::geometry::crop_u_to_px(u[2 * k], 32),
                    facealign_core::geometry::crop_u_to_px(u[2 * k + 1], 32),
                ]);
                assert!(
                    (want[0] - q[0]).abs() < 1e-3 && (want[1] - q[1]).abs() < 1e-3,
                    "point {k}: {q:?}, expected {want:?}"
                );
            }
        }
        // Without a refine model the same skip leaves the first prediction as it was.
        own.refine.still_px = 1e6;
        let (same, ran) = own.stage().landmarks(img, &boxes).expect("ok");
        assert_eq!((same, ran), (first, 0));

        // A refine model of another scheme is refused, naming both.
        let e = casc
            .set_refiner(model(), Box::new(NoNet))
            .expect_err("aflw19 cannot refine ibug68")
            .to_string();
        assert!(
            e.contains("aflw19") && e.contains("must predict the same scheme"),
            "{e}"
        );
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

    /// A net that puts every landmark at the crop centre (aflw19: 19 points).
    struct CentreNet;
    impl CropNet for CentreNet {
        fn runtime(&self) -> &'static str {
            "centre"
        }
        fn run(&self, _chw: &[f32], n: usize) -> Result<Vec<f32>> {
            Ok(vec![0.0; n * 2 * 19])
        }
    }

    /// One face per image, a box of the image's width at the top left; an image 13 px wide is
    /// refused.
    struct WidthBox;
    impl FaceDetector for WidthBox {
        fn name(&self) -> &str {
            "width-box"
        }
        fn detect(
            &mut self,
            img: &image::RgbImage,
        ) -> facealign_detect::Result<Vec<facealign_detect::Detection>> {
            if img.width() == 13 {
                return Err(facealign_core::Error::invalid("test detector", "13 px"));
            }
            let w = img.width() as f32;
            Ok(vec![facealign_detect::Detection {
                bbox: BoxXywh {
                    x: 0.0,
                    y: 0.0,
                    w,
                    h: w,
                },
                score: 0.5,
                keypoints: None,
            }])
        }
    }

    fn stream_predictor() -> Predictor {
        let mut p = Predictor::with_detector_dir(
            model(),
            Box::new(CentreNet),
            "ultraface-rfb",
            &Locations::discover().detector_dir("ultraface-rfb"),
        )
        .expect("predictor");
        p.detector = Box::new(WidthBox);
        p
    }

    /// Runs `predict_stream` on images of the given widths (`None`: a load error), each said to
    /// take `width · unit` bytes, and returns, per image, (the highest index loaded when its
    /// result arrived, its face box width or the load error).
    fn stream(
        p: &mut Predictor,
        widths: &[Option<u32>],
        unit: u64,
        budget: u64,
    ) -> Result<Vec<(usize, std::result::Result<f32, String>)>> {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let sizes: Vec<u64> = widths
            .iter()
            .map(|w| u64::from(w.unwrap_or(0)) * unit)
            .collect();
        let loaded = AtomicUsize::new(0);
        let loads = AtomicUsize::new(0);
        let mut out = Vec::new();
        p.predict_stream(
            &sizes,
            budget,
            |k| {
                loaded.fetch_max(k, Ordering::SeqCst);
                loads.fetch_add(1, Ordering::SeqCst);
                widths[k]
                    .map(|w| std::sync::Arc::new(image::RgbImage::new(w, 8)))
                    .ok_or(format!("image {k} is unreadable"))
            },
            |k, r| {
                assert_eq!(k, out.len(), "results arrive in order");
                out.push((
                    loaded.load(Ordering::SeqCst),
                    r.map(|(_, faces)| faces[0].bbox.w),
                ));
                Ok(())
            },
        )?;
        assert_eq!(
            loads.into_inner(),
            widths.len(),
            "every image is loaded once"
        );
        Ok(out)
    }

    #[test]
    fn predict_stream_loads_ahead_within_its_budget_and_keeps_order() {
        let mut p = stream_predictor();
        let widths = [Some(20), None, Some(30), Some(40), Some(50), Some(60)];
        let got = stream(&mut p, &widths, 1, u64::MAX).expect("runs");
        let expect = |k: usize| match widths[k] {
            Some(w) => Ok(w as f32),
            None => Err(format!("image {k} is unreadable")),
        };
        // Unlimited budget: images are loaded STREAM_AHEAD ahead of the one finished.
        let ahead: Vec<(usize, _)> = (0..6)
            .map(|k| ((k + STREAM_AHEAD).min(5), expect(k)))
            .collect();
        assert_eq!(got, ahead);
        // A budget below every image: nothing is loaded ahead (one image is always allowed).
        let got = stream(&mut p, &widths, 1, 1).expect("runs");
        assert_eq!(got, (0..6).map(|k| (k, expect(k))).collect::<Vec<_>>());
        // Budget 69 "bytes": images 0-2 fit together (20 + 0 + 30), image 3 waits until 2 is
        // done (30 + 40 > 69), and from there on one image at a time (40 + 50 > 69).
        let got = stream(&mut p, &widths, 1, 69).expect("runs");
        let loaded: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(loaded, [2, 2, 2, 3, 4, 5]);
        // Large images are loaded at least two at a time: 0-3 at once, then 4 waits for 5.
        assert_eq!(STREAM_AHEAD, 3, "the expectations below assume it");
        let large = [Some(20), Some(30), Some(40), Some(50), Some(60), Some(70)];
        let got = stream(&mut p, &large, PARALLEL_LOAD_BYTES, u64::MAX).expect("runs");
        let loaded: Vec<usize> = got.iter().map(|g| g.0).collect();
        assert_eq!(loaded, [3, 3, 5, 5, 5, 5]);
        assert!(got
            .iter()
            .zip(large)
            .all(|(g, w)| g.1 == Ok(w.unwrap() as f32)));
        // predict_many is the same pipeline, all images in memory.
        let imgs: Vec<image::RgbImage> = [20, 30].map(|w| image::RgbImage::new(w, 8)).to_vec();
        let refs: Vec<&image::RgbImage> = imgs.iter().collect();
        let faces = p.predict_many(&refs).expect("runs");
        assert_eq!(
            faces.iter().map(|f| f[0].bbox.w).collect::<Vec<_>>(),
            [20.0, 30.0]
        );
    }

    #[test]
    fn predict_stream_stops_at_the_first_detector_or_callback_error() {
        let mut p = stream_predictor();
        let err = stream(&mut p, &[Some(20), Some(13), Some(30)], 1, u64::MAX)
            .expect_err("the detector refuses 13 px");
        assert!(err.to_string().contains("13 px"), "{err}");
        let mut calls = 0;
        let err = p
            .predict_stream(
                &[0; 4],
                u64::MAX,
                |_| Ok::<_, String>(std::sync::Arc::new(image::RgbImage::new(20, 8))),
                |k, _| {
                    calls += 1;
                    if k == 1 {
                        return Err(Error::invalid("callback", "stop at 1"));
                    }
                    Ok(())
                },
            )
            .expect_err("the callback stops the run");
        assert!(err.to_string().contains("stop at 1"), "{err}");
        assert_eq!(calls, 2);
    }

    #[test]
    fn every_detector_opens_from_its_detector_dir() {
        // The default detector ships in the repository, the others in ../shared: each name must
        // find its own file (it once looked only where the default was).
        let loc = Locations::discover();
        for name in facealign_detect::DETECTORS {
            let dir = loc.detector_dir(name);
            let det = facealign_detect::open(name, &dir)
                .unwrap_or_else(|e| panic!("{name} from {}: {e}", dir.display()));
            // A face's `detector` field and the calibration key are the detector's own name.
            assert_eq!(det.name(), *name);
        }
    }

    #[test]
    fn a_predictor_for_given_boxes_builds_its_detectors_only_when_they_search() {
        // Lazily built detectors keep their names and find the same faces as built ones.
        let loc = Locations::discover();
        let list = crate::DEFAULT_DETECTORS;
        let mut eager = Predictor::new(model(), Box::new(NoNet), list, &loc).unwrap();
        let mut lazy = Predictor::new_for_boxes(model(), Box::new(NoNet), list, &loc).unwrap();
        assert_eq!(lazy.detector.name(), "ultraface-rfb");
        assert_eq!(lazy.fallbacks[0].detector.name(), "yunet-320");
        assert_eq!(eager.fallbacks[0].detector.name(), "yunet-320");
        let img = photos().remove(0);
        let (a, b) = (
            eager.detector.detect(&img).unwrap(),
            lazy.detector.detect(&img).unwrap(),
        );
        assert!(!a.is_empty());
        assert_eq!(
            a.iter().map(|d| (d.bbox, d.score)).collect::<Vec<_>>(),
            b.iter().map(|d| (d.bbox, d.score)).collect::<Vec<_>>()
        );
        // A missing model file is still refused at once.
        let empty = tempfile::tempdir().expect("temp dir");
        let err = Predictor::with_detector_dirs(
            model(),
            Box::new(NoNet),
            list,
            |_| empty.path().to_path_buf(),
            true,
        )
        .err()
        .expect("no detector files");
        assert!(err.to_string().contains("version-RFB-320.onnx"), "{err}");
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
