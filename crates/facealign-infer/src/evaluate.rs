//! Evaluation with the field's protocol (SPEC §5): predictions on a dataset's ground-truth crops,
//! scored per face (NME under a chosen normaliser, unscorable faces reported), per subset (FR, AUC)
//! and per landmark group; the markdown table of the papers' layout; predictions files.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::model_file::ModelFile;
use crate::net::CropNet;
use crate::predict::{predict_crops_with_transforms, refine_predictions, Refine, Refiner};
use facealign_core::geometry::rotated_view;
use facealign_core::loader::{CropLoader, LoaderConfig};
use facealign_core::metrics::{self, FaceScore, Normalizer, Summary};
use facealign_core::scheme_map::SchemeMap;
use facealign_core::Dataset;
use facealign_core::{Point, Scheme};
use image::RgbImage;

/// AUC conventions (SPEC §5.4, §5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AucConvention {
    /// ∫₀ᵗ CED / t with Simpson's rule on a 1e-4 grid: what the field reports.
    #[default]
    Standard,
    /// The ACR authors' evaluator (FLD-DD): not comparable with standard AUC.
    AcrCode,
}

/// Evaluation settings.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub norm: Normalizer,
    pub threshold: f64,
    pub auc: AucConvention,
    pub batch: usize,
    /// Refinement after the first prediction (off by default: the benchmark protocol).
    pub refine: Refine,
    /// Crop from the ground-truth landmark box moved and scaled by this calibration (for data
    /// whose points span less of the face than the model's, e.g. 5 points for a 68-point model
    /// trained with the same `crop_calibration`).
    pub crop_calibration: Option<facealign_core::BoxCalibration>,
    /// Evaluate each face as seen in a photo turned by this many degrees
    /// (`geometry::rotated_view`): the first crop is the upright box of the turned landmarks,
    /// as a detector would give.
    pub rotate: Option<f64>,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            norm: Normalizer::Ocular,
            threshold: 0.10,
            auc: AucConvention::Standard,
            batch: 32,
            refine: Refine::OFF,
            crop_calibration: None,
            rotate: None,
        }
    }
}

/// One row of the results table (a subset, or `all`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SubsetRow {
    pub subset: String,
    pub n: usize,
    /// Mean NME in %.
    pub nme: f64,
    pub median_nme: f64,
    /// FR@0.08 and FR@0.10 in %.
    pub fr_008: f64,
    pub fr_010: f64,
    /// AUC at the threshold, under `auc_convention`.
    pub auc: f64,
}

/// Predictions for one image, in image_px.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImagePrediction {
    pub id: String,
    pub image: String,
    pub landmarks: Vec<[f32; 2]>,
    /// NME of this image (fraction), when ground truth was known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nme: Option<f64>,
}

/// Everything `facealign eval` computes for one model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EvalReport {
    pub model: String,
    pub data: String,
    pub scheme: String,
    pub protocol: String,
    pub norm: String,
    pub threshold: f64,
    pub auc_convention: AucConvention,
    pub rows: Vec<SubsetRow>,
    /// Mean NME per landmark group, %.
    pub per_group: Vec<(String, f64)>,
    /// Mean NME per landmark, %.
    pub per_landmark: Vec<f64>,
    /// Per scored image NME (fraction), in dataset order.
    pub nmes: Vec<f64>,
    /// The sample index of each entry of `nmes`.
    pub scored: Vec<usize>,
    /// Faces that could not be normalised (too few labelled points), with the reason: reported,
    /// never silently dropped.
    pub unscored: Vec<UnscoredFace>,
    /// End to end (`eval --detector`): how many annotated faces the detector found; the scores
    /// above are over those faces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detection: Option<Detection>,
    #[serde(skip)]
    pub predictions: Vec<ImagePrediction>,
}

/// The `n` worst-scored faces of `nmes` (NME per scored face) as (sample index from `scored`,
/// NME), worst first; ties keep dataset order.
pub fn worst_faces(nmes: &[f64], scored: &[usize], n: usize) -> Vec<(usize, f64)> {
    let mut order: Vec<usize> = (0..nmes.len()).collect();
    order.sort_by(|&i, &j| nmes[j].total_cmp(&nmes[i]));
    order
        .into_iter()
        .take(n)
        .map(|k| (scored[k], nmes[k]))
        .collect()
}

/// What the detector found in an end-to-end evaluation.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Detection {
    pub detector: String,
    /// Whether the detector's boxes were calibrated for the model (else used as they are).
    pub calibrated: bool,
    /// Annotated faces.
    pub faces: usize,
    /// Those matched by a detection (IoU ≥ 0.3).
    pub found: usize,
    /// `found / faces` (fraction).
    pub recall: f64,
    /// The ids of the annotated faces it did not find, in data order.
    #[serde(default)]
    pub missed: Vec<String>,
    /// Each found face, in the order of the report's faces: its sample index in the evaluated
    /// data (the turned views with `--rotate`) and the detector's box in that image (image_px).
    #[serde(skip)]
    pub matched: Vec<(usize, facealign_core::coords::BoxXywh)>,
}

/// A face left out of the scores, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct UnscoredFace {
    pub id: String,
    pub reason: String,
}

fn row(subset: &str, nmes: &[f64], opts: &EvalOptions) -> Result<SubsetRow> {
    let s = Summary::from_nmes(nmes, opts.threshold)?;
    let auc = match opts.auc {
        AucConvention::Standard => s.auc_at_t,
        AucConvention::AcrCode => metrics::auc_acr_code(nmes, opts.threshold)?,
    };
    Ok(SubsetRow {
        subset: subset.to_string(),
        n: s.n,
        nme: s.mean * 100.0,
        median_nme: s.median * 100.0,
        fr_008: s.fr_008 * 100.0,
        fr_010: s.fr_010 * 100.0,
        auc,
    })
}

/// The crop protocol in words (printed with every result, SPEC Decision 8).
pub fn protocol_text(size: u32, enlarge: f32, scheme: &Scheme, norm: Normalizer) -> String {
    let norm_text = match norm {
        Normalizer::Ocular => format!(
            "inter-ocular (outer eye corners {}, {})",
            scheme.ocular.0, scheme.ocular.1
        ),
        Normalizer::Pupil => "inter-pupil".to_string(),
        Normalizer::Box => "sqrt(w·h) of the ground-truth box".to_string(),
    };
    format!(
        "crop: square box of the ground-truth landmark extents × {enlarge} resized to {size} px; NME normalised by {norm_text}"
    )
}

/// Score predictions (image_px) against a dataset's ground truth.
pub fn score(
    model_name: &str,
    ds: &Dataset,
    preds: Vec<Vec<Point>>,
    protocol: String,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    if preds.len() != ds.samples.len() {
        return Err(Error::Mismatch(format!(
            "{model_name}: {} predictions for {} samples",
            preds.len(),
            ds.samples.len()
        )));
    }
    let mut per_sample: Vec<Option<f64>> = Vec::with_capacity(preds.len());
    let mut unscored = Vec::new();
    for (s, p) in ds.samples.iter().zip(&preds) {
        let score = metrics::score_face(p, &s.landmarks, &ds.scheme, opts.norm)
            .map_err(|e| Error::Mismatch(format!("sample `{}`: {e}", s.id)))?;
        match score {
            FaceScore::Nme(v) => per_sample.push(Some(v)),
            FaceScore::Unscorable(reason) => {
                per_sample.push(None);
                unscored.push(UnscoredFace {
                    id: s.id.clone(),
                    reason,
                });
            }
        }
    }
    let scored: Vec<usize> = (0..per_sample.len())
        .filter(|&i| per_sample[i].is_some())
        .collect();
    let nmes: Vec<f64> = per_sample.iter().flatten().copied().collect();
    if nmes.is_empty() {
        return Err(Error::Mismatch(format!(
            "{}: no face can be normalised by `{}` ({} faces; first: {}: {})",
            ds.source,
            opts.norm.name(),
            unscored.len(),
            unscored.first().map_or("", |u| u.id.as_str()),
            unscored.first().map_or("", |u| u.reason.as_str()),
        )));
    }
    let mut rows = vec![row("all", &nmes, opts)?];
    for (name, idx) in &ds.subsets {
        let sub: Vec<f64> = idx.iter().filter_map(|&i| per_sample[i]).collect();
        if !sub.is_empty() {
            rows.push(row(name, &sub, opts)?);
        }
    }
    let gts: Vec<Vec<Point>> = ds.samples.iter().map(|s| s.landmarks.clone()).collect();
    let per_landmark = metrics::per_landmark_nme(&preds, &gts, &ds.scheme, opts.norm)?;
    let per_group = metrics::per_group_nme(&per_landmark, &ds.scheme)?
        .into_iter()
        .map(|(g, v)| (g, v * 100.0))
        .collect();
    let predictions = ds
        .samples
        .iter()
        .zip(preds)
        .zip(&per_sample)
        .map(|((s, p), &nme)| ImagePrediction {
            id: s.id.clone(),
            image: s.image.display_name(),
            landmarks: p,
            nme,
        })
        .collect();
    Ok(EvalReport {
        model: model_name.to_string(),
        data: ds.source.clone(),
        scheme: ds.scheme.name().to_string(),
        protocol,
        norm: opts.norm.name().to_string(),
        threshold: opts.threshold,
        auc_convention: opts.auc,
        rows,
        per_group,
        per_landmark: per_landmark.iter().map(|v| v * 100.0).collect(),
        nmes,
        scored,
        unscored,
        detection: None,
        predictions,
    })
}

/// `ds` seen in photos turned by `rotate` degrees (`EvalOptions::rotate`): every face in its own
/// turned view ([`rotated_view`]); `None` when there is no rotation.
pub fn turned(ds: &Dataset, rotate: Option<f64>) -> Result<Option<Dataset>> {
    let Some(deg) = rotate else {
        return Ok(None);
    };
    Ok(Some(Dataset {
        samples: ds
            .samples
            .iter()
            .map(|s| rotated_view(s, deg, None))
            .collect::<facealign_core::Result<_>>()?,
        source: format!("{} turned {deg}°", ds.source),
        ..ds.clone()
    }))
}

/// Evaluate a loaded model on a dataset (crops from ground-truth landmarks, the training protocol).
pub fn evaluate(
    model: &ModelFile,
    net: &dyn CropNet,
    ds: &Dataset,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    evaluate_refined(model, net, None, ds, opts)
}

/// [`evaluate`], with the refinement passes (`opts.refine`) run by `refiner` when given (a
/// cascade: the first crop by `model`, every re-crop by the refine model on its own crop
/// protocol, its first pass never skipped).
pub fn evaluate_refined(
    model: &ModelFile,
    net: &dyn CropNet,
    refiner: Option<Refiner<'_>>,
    ds: &Dataset,
    opts: &EvalOptions,
) -> Result<EvalReport> {
    if let Some(r) = &refiner {
        r.check(model)?;
    }
    let scoring = SchemeScoring::new(model, ds)?;
    let turned = turned(ds, opts.rotate)?;
    let ds = turned.as_ref().unwrap_or(ds);
    let spec = model.crop;
    let mut lc = LoaderConfig::eval(spec, opts.batch.max(1));
    if let Some(c) = opts.crop_calibration {
        lc.crop_source = facealign_core::CropSource::LandmarksCalibrated(c);
    }
    let loader = CropLoader::new(ds.clone(), lc)?;
    let (mut preds, first_crops) = predict_crops_with_transforms(net, &loader)?;
    let mut passes_note = String::new();
    if opts.refine.passes > 0 {
        let mut ran = 0;
        let mut refined = Vec::with_capacity(preds.len());
        let mut rest = preds.into_iter();
        for (chunk, crops) in ds.samples.chunks(32).zip(first_crops.chunks(32)) {
            let imgs = chunk
                .iter()
                .map(|s| s.image.load_rgb())
                .collect::<facealign_core::Result<Vec<_>>>()?;
            let refs: Vec<&RgbImage> = imgs.iter().map(|i| i.as_ref()).collect();
            let first: Vec<Vec<Point>> = rest.by_ref().take(chunk.len()).collect();
            let (r, n) = match &refiner {
                Some(r) => r.refine(&refs, first, opts.refine)?,
                None => refine_predictions(
                    net,
                    &model.scheme,
                    &spec,
                    &refs,
                    first,
                    Some(crops),
                    opts.refine,
                )?,
            };
            refined.extend(r);
            ran += n;
        }
        passes_note = opts.refine.passes_note(ran, refined.len());
        preds = refined;
    }
    let (scored_ds, preds, mapped) = scoring.apply(ds, preds)?;
    let ds = scored_ds.as_ref().unwrap_or(ds);
    score(
        &model.name,
        ds,
        preds,
        format!(
            "{}{}{}{passes_note}{mapped}",
            protocol_text(spec.size, spec.enlarge, &ds.scheme, opts.norm),
            opts.crop_calibration.map_or(String::new(), |c| format!(
                " (box moved by ({}, {}) of its size and scaled by {})",
                c.dx, c.dy, c.scale
            )),
            Refiner::describe(refiner.as_ref(), opts.refine)
        ),
        opts,
    )
}

/// How a model's predictions are scored on data of another scheme: through the scheme map in the
/// data's own scheme (a 68-point model on AFLW-19 or 5-point faces; the data's points must all
/// map), or, for a model of a smaller scheme whose every point is one data point (a 5-point
/// model on AFLW-19 faces: eye centres, nose tip, mouth corners), in the model's own scheme on
/// those points (the crops still come from the data's own points; calibrate with
/// `crop_calibration`).
pub(crate) struct SchemeScoring {
    map: SchemeMap,
    reduced: Option<Vec<usize>>,
    model_scheme: Scheme,
}

impl SchemeScoring {
    pub(crate) fn new(model: &ModelFile, ds: &Dataset) -> Result<Self> {
        let map = SchemeMap::get(ds.scheme.id, model.scheme.id).ok_or_else(|| {
            Error::Mismatch(format!(
                "model {} predicts {} landmarks but {} is {}, and no map leads from {} to {}",
                model.name,
                model.scheme.name(),
                ds.source,
                ds.scheme.name(),
                model.scheme.name(),
                ds.scheme.name()
            ))
        })?;
        let reduced = if map.n_mapped() < ds.scheme.n_points() {
            let Some(points) = map.one_to_one_sources() else {
                return Err(Error::Mismatch(format!(
                    "model {} ({}) cannot be scored on {} ({}): only {} of its {} points map, and \
                     not one-to-one onto the model's points",
                    model.name,
                    model.scheme.name(),
                    ds.source,
                    ds.scheme.name(),
                    map.n_mapped(),
                    ds.scheme.n_points()
                )));
            };
            Some(points)
        } else {
            None
        };
        Ok(SchemeScoring {
            map,
            reduced,
            model_scheme: model.scheme.clone(),
        })
    }

    /// The data to score `preds` (the model's, one per face of `ds`) against (`None`: `ds`
    /// itself), the predictions in that data's scheme, and the protocol's words for it.
    pub(crate) fn apply(
        &self,
        ds: &Dataset,
        preds: Vec<Vec<Point>>,
    ) -> Result<(Option<Dataset>, Vec<Vec<Point>>, String)> {
        if let Some(points) = &self.reduced {
            let text = format!(
                "; scored in {} on {}'s points {:?} (facealign_core::scheme_map)",
                self.model_scheme.name(),
                ds.scheme.name(),
                points
            );
            Ok((
                Some(ds.select_points(self.model_scheme.clone(), points)?),
                preds,
                text,
            ))
        } else if self.map.from == self.map.to {
            Ok((None, preds, String::new()))
        } else {
            let text = format!(
                "; {} predictions mapped to {} (facealign_core::scheme_map)",
                self.model_scheme.name(),
                ds.scheme.name()
            );
            Ok((
                None,
                preds.iter().map(|p| self.map.apply(p)).collect(),
                text,
            ))
        }
    }
}

/// The markdown table of several reports in the papers' layout: one row per model, per subset
/// NME / FR@0.08 / FR@0.10 / AUC columns.
pub fn markdown(reports: &[EvalReport]) -> String {
    let Some(first) = reports.first() else {
        return String::new();
    };
    let auc_name = match first.auc_convention {
        AucConvention::Standard => format!("AUC@{}", first.threshold),
        AucConvention::AcrCode => format!(
            "AUC@{} (ACR authors' formula, non-standard)",
            first.threshold
        ),
    };
    let mut s = format!(
        "data: {}  ({} points)\nprotocol: {}\n",
        first.data, first.scheme, first.protocol
    );
    // A compared model scored another way (another scheme: a 5-point model on AFLW-19 faces
    // next to a 68-point one) says so: its rows are not on the same points.
    for r in &reports[1..] {
        if r.scheme != first.scheme || r.protocol != first.protocol {
            s.push_str(&format!(
                "protocol of {} ({} points): {}\n",
                r.model, r.scheme, r.protocol
            ));
        }
    }
    s.push('\n');
    s.push_str(&format!(
        "| model | subset | n | NME % ({}) | median % | FR@0.08 % | FR@0.10 % | {auc_name} |\n",
        first.norm
    ));
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for r in reports {
        for row in &r.rows {
            s.push_str(&format!(
                "| {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.4} |\n",
                r.model,
                row.subset,
                row.n,
                row.nme,
                row.median_nme,
                row.fr_008,
                row.fr_010,
                row.auc
            ));
        }
    }
    // Per landmark group: one table per run of reports with the same groups (schemes differ).
    let same_groups = |a: &EvalReport, b: &EvalReport| {
        a.per_group
            .iter()
            .map(|(g, _)| g)
            .eq(b.per_group.iter().map(|(g, _)| g))
    };
    for run in reports.chunk_by(same_groups) {
        let groups: Vec<&str> = run[0].per_group.iter().map(|(g, _)| g.as_str()).collect();
        s.push_str(&format!("\n| model | {} |\n|---|", groups.join(" | ")));
        s.push_str(&"---|".repeat(groups.len()));
        s.push('\n');
        for r in run {
            s.push_str(&format!("| {} | ", r.model));
            s.push_str(
                &r.per_group
                    .iter()
                    .map(|(_, v)| format!("{v:.2}"))
                    .collect::<Vec<_>>()
                    .join(" | "),
            );
            s.push_str(" |\n");
        }
    }
    s
}

/// Predictions file: what `--predictions` writes and `--model FILE.json` reads back.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PredictionsFile {
    pub model: String,
    pub data: String,
    pub scheme: String,
    /// Always `image_px`: 0-based pixel coordinates of the source image.
    pub coordinates: String,
    pub images: Vec<ImagePrediction>,
    /// End to end (`eval --detector`): the annotated faces the detector did not find, which have
    /// no entry in `images`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missed: Vec<String>,
}

/// Write predictions atomically.
pub fn write_predictions(path: &Path, report: &EvalReport) -> Result<()> {
    let f = PredictionsFile {
        model: report.model.clone(),
        data: report.data.clone(),
        scheme: report.scheme.clone(),
        coordinates: "image_px".into(),
        images: report.predictions.clone(),
        missed: report
            .detection
            .as_ref()
            .map(|d| d.missed.clone())
            .unwrap_or_default(),
    };
    facealign_core::fsio::write_atomic(
        path,
        serde_json::to_string_pretty(&f)
            .expect("predictions serialise")
            .as_bytes(),
    )?;
    Ok(())
}

/// Read a predictions file and order it like `ds` (by sample id); every sample must be present
/// (an end-to-end file's `missed` faces are named as such when they are not).
pub fn read_predictions(path: &Path, ds: &Dataset) -> Result<(String, Vec<Vec<Point>>)> {
    let text = facealign_core::fsio::read_text(path)?;
    let f: PredictionsFile = serde_json::from_str(&text).map_err(|e| {
        facealign_core::Error::parse(path, format!("line {}", e.line()), e.to_string())
    })?;
    if f.coordinates != "image_px" {
        return Err(facealign_core::Error::parse(
            path,
            "coordinates",
            format!(
                "`{}`: only `image_px` (0-based pixels of the source image) is read",
                f.coordinates
            ),
        )
        .into());
    }
    let by_id: std::collections::HashMap<&str, &ImagePrediction> =
        f.images.iter().map(|p| (p.id.as_str(), p)).collect();
    let mut out = Vec::with_capacity(ds.samples.len());
    for s in &ds.samples {
        let p = by_id.get(s.id.as_str()).ok_or_else(|| {
            let why = if f.missed.contains(&s.id) {
                " (the file's detector missed it: `missed`; an end-to-end file covers the faces \
                 found, score it on those or evaluate end to end again)"
            } else {
                ""
            };
            facealign_core::Error::parse(
                path,
                "images",
                format!("no prediction for sample `{}`{why}", s.id),
            )
        })?;
        if p.landmarks.len() != ds.scheme.n_points() {
            return Err(facealign_core::Error::parse(
                path,
                format!("images[id={}].landmarks", s.id),
                format!(
                    "{} points, the data has {}",
                    p.landmarks.len(),
                    ds.scheme.n_points()
                ),
            )
            .into());
        }
        let bad = p.landmarks.iter().position(|q| {
            !q.iter()
                .all(|v| v.is_finite() && v.abs() <= facealign_core::data::MAX_COORD)
        });
        if let Some(k) = bad {
            return Err(facealign_core::Error::parse(
                path,
                format!("images[id={}].landmarks[{k}]", s.id),
                format!(
                    "{:?} is not a point within ±{} px",
                    p.landmarks[k],
                    facealign_core::data::MAX_COORD
                ),
            )
            .into());
        }
        out.push(p.landmarks.clone());
    }
    Ok((f.model, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worst_faces_are_sorted_worst_first_with_their_sample_index() {
        // Scored samples 0, 2, 3, 5 (1 and 4 unscorable) with NMEs .05 .20 .10 .20.
        let w = worst_faces(&[0.05, 0.20, 0.10, 0.20], &[0, 2, 3, 5], 3);
        assert_eq!(w, vec![(2, 0.20), (5, 0.20), (3, 0.10)]);
        assert_eq!(worst_faces(&[0.1], &[7], 5), vec![(7, 0.1)]);
    }
    use facealign_core::{ImageSource, Sample, SchemeId};
    use std::sync::Arc;

    fn toy() -> Dataset {
        let img = Arc::new(image::RgbImage::new(4, 4));
        // Five-point faces with eye centres 100 px apart.
        let face = |dx: f32| {
            vec![
                [100.0 + dx, 100.0],
                [200.0 + dx, 100.0],
                [150.0, 150.0],
                [120.0, 200.0],
                [180.0, 200.0],
            ]
        };
        let samples = (0..4)
            .map(|i| {
                Sample::new(
                    format!("f{i}"),
                    ImageSource::InMemory {
                        name: format!("f{i}"),
                        image: img.clone(),
                    },
                    face(i as f32),
                )
            })
            .collect();
        Dataset {
            format: "mem".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples,
            subsets: [("odd".to_string(), vec![1, 3])].into_iter().collect(),
        }
    }

    /// Every point of image i off by (3i, 4i) px: error 5i px, ocular distance 100 → NME 5i %.
    #[test]
    fn known_offsets_give_known_nme_per_subset() {
        let ds = toy();
        let preds: Vec<Vec<Point>> = ds
            .samples
            .iter()
            .enumerate()
            .map(|(i, s)| {
                s.landmarks
                    .iter()
                    .map(|p| [p[0] + 3.0 * i as f32, p[1] + 4.0 * i as f32])
                    .collect()
            })
            .collect();
        let r = score("m", &ds, preds, "p".into(), &EvalOptions::default()).unwrap();
        // all: mean of 0, 5, 10, 15 % = 7.5 %; FR@0.10: NME > 0.10 only for 15 % → 25 %.
        assert!((r.rows[0].nme - 7.5).abs() < 1e-4, "{:?}", r.rows[0]);
        assert!((r.rows[0].fr_010 - 25.0).abs() < 1e-9);
        // FR@0.08: 10 % and 15 % fail → 50 %.
        assert!((r.rows[0].fr_008 - 50.0).abs() < 1e-9);
        // odd = images 1, 3: (5 + 15)/2 = 10 %.
        assert_eq!(r.rows[1].subset, "odd");
        assert!((r.rows[1].nme - 10.0).abs() < 1e-4);
        let md = markdown(&[r]);
        assert!(md.contains("| m | odd | 2 | 10.00 |"), "{md}");
    }

    /// A network that puts every point at the crop centre (crop_u 0).
    struct Centre(usize);
    impl CropNet for Centre {
        fn runtime(&self) -> &'static str {
            "centre"
        }
        fn run(&self, _chw: &[f32], n: usize) -> Result<Vec<f32>> {
            Ok(vec![0.0; 2 * self.0 * n])
        }
    }

    #[test]
    fn a_five_point_model_is_scored_on_the_five_aflw_points_that_map() {
        // One AFLW-19 face on a 64-px image: eye centres (7, 10) at (20, 20) and (40, 20), nose tip
        // (13) at (30, 30), mouth corners (15, 17) at (20, 40) and (40, 40); every other point at
        // (30, 30) and the chin unlabelled, so the labelled box is the 5-point box, 20 x 20 around
        // (30, 30). Crop: side 20 * 1.25 = 25 px onto S = 16, the box centre on crop_px
        // (S - 1) / 2 (geometry.rs), so crop_u 0 = crop_px 8 is image (30 + d, 30 + d) with
        // d = 0.5 * 25 / 16 = 0.78125. Box normaliser sqrt(20 * 20) = 20.
        let mut pts = vec![[30.0f32, 30.0]; 19];
        for (i, p) in [
            (7, [20.0, 20.0]),
            (10, [40.0, 20.0]),
            (15, [20.0, 40.0]),
            (17, [40.0, 40.0]),
        ] {
            pts[i] = p;
        }
        let mut lab = vec![true; 19];
        lab[18] = false;
        pts[18] = [f32::NAN, f32::NAN];
        let mut face = Sample::new(
            "f",
            ImageSource::InMemory {
                name: "f".into(),
                image: Arc::new(image::RgbImage::new(64, 64)),
            },
            pts,
        );
        face.labelled = Some(lab);
        let ds = Dataset {
            format: "mem".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Aflw19),
            samples: vec![face],
            subsets: Default::default(),
        };
        let model = ModelFile {
            name: "five".into(),
            path: "five.safetensors".into(),
            scheme: Scheme::get(SchemeId::Five),
            crop: facealign_core::geometry::CropSpec {
                size: 16,
                enlarge: 1.25,
            },
            arch: "mobilenet_v2".into(),
            meta: Default::default(),
        };
        let opts = EvalOptions {
            norm: Normalizer::Box,
            ..EvalOptions::default()
        };
        let r = evaluate(&model, &Centre(5), &ds, &opts).unwrap();
        assert_eq!(r.scheme, "five");
        assert!(
            r.protocol
                .contains("scored in five on aflw19's points [7, 10, 13, 15, 17]"),
            "{}",
            r.protocol
        );
        let d = 0.5 * 25.0 / 16.0;
        let c = 30.0 + d;
        let want = [
            [20.0, 20.0],
            [40.0, 20.0],
            [30.0, 30.0],
            [20.0, 40.0],
            [40.0, 40.0],
        ]
        .iter()
        .map(|p: &[f64; 2]| ((p[0] - c).powi(2) + (p[1] - c).powi(2)).sqrt())
        .sum::<f64>()
            / 5.0
            / 20.0
            * 100.0;
        assert!(
            (r.rows[0].nme - want).abs() < 1e-3,
            "{} vs {want}",
            r.rows[0].nme
        );
        // A 68-point model on the same face maps its predictions to all 19 AFLW points instead;
        // a COFW-29 model has no one-to-one map onto AFLW-19 and is refused.
        let cofw = ModelFile {
            scheme: Scheme::get(SchemeId::Cofw29),
            ..model
        };
        let e = evaluate(&cofw, &Centre(29), &ds, &opts).unwrap_err();
        assert!(e.to_string().contains("not one-to-one"), "{e}");
    }

    #[test]
    fn markdown_says_when_a_compared_model_is_scored_another_way() {
        let ds = toy();
        let preds: Vec<Vec<Point>> = ds.samples.iter().map(|s| s.landmarks.clone()).collect();
        let a = score("a", &ds, preds.clone(), "p".into(), &EvalOptions::default()).unwrap();
        let mut b = score("b", &ds, preds, "q".into(), &EvalOptions::default()).unwrap();
        b.scheme = "aflw19".into();
        b.per_group = vec![("brows".into(), 1.0), ("eyes".into(), 2.0)];
        let md = markdown(&[a.clone(), b]);
        assert!(md.contains("protocol of b (aflw19 points): q\n"), "{md}");
        // Two group tables, one per scheme.
        assert!(
            md.contains("| model | brows | eyes |\n|---|---|---|\n| b | 1.00 | 2.00 |"),
            "{md}"
        );
        let one = markdown(&[a.clone(), a]);
        assert!(!one.contains("protocol of"), "{one}");
        assert_eq!(one.matches("\n| model | ").count(), 2, "{one}");
    }

    #[test]
    fn predictions_round_trip() {
        let ds = toy();
        let preds: Vec<Vec<Point>> = ds
            .samples
            .iter()
            .map(|s| {
                s.landmarks
                    .iter()
                    .map(|p| [p[0] + 0.25, p[1] - 1.5])
                    .collect()
            })
            .collect();
        let r = score("m", &ds, preds.clone(), "p".into(), &EvalOptions::default()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        write_predictions(&path, &r).unwrap();
        let (name, back) = read_predictions(&path, &ds).unwrap();
        assert_eq!(name, "m");
        assert_eq!(back, preds);
        let r2 = score(&name, &ds, back, "p".into(), &EvalOptions::default()).unwrap();
        assert_eq!(r.nmes, r2.nmes);
    }

    #[test]
    fn bad_predictions_files_name_the_file_and_field() {
        let ds = toy();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.json");
        let file = |coordinates: &str, first: &str| {
            let images: Vec<String> = (0..4)
                .map(|i| {
                    let p0 = if i == 1 { first } else { "[1, 2]" };
                    format!(
                        r#"{{"id": "f{i}", "image": "f{i}", "landmarks": [{p0}, [1, 2], [1, 2], [1, 2], [1, 2]]}}"#
                    )
                })
                .collect();
            format!(
                r#"{{"model": "m", "data": "mem", "scheme": "five", "coordinates": "{coordinates}", "images": [{}]}}"#,
                images.join(", ")
            )
        };
        std::fs::write(&path, file("image_px", "[1, 2]")).unwrap();
        assert_eq!(read_predictions(&path, &ds).unwrap().1[1][0], [1.0, 2.0]);
        let err = |text: &[u8]| {
            std::fs::write(&path, text).unwrap();
            read_predictions(&path, &ds).unwrap_err().to_string()
        };
        let p = path.display();
        assert_eq!(
            err(file("image_px", "[1e39, 2]").as_bytes()),
            format!(
                "{p}: images[id=f1].landmarks[0]: [inf, 2.0] is not a point within ±1000000 px"
            )
        );
        assert_eq!(
            err(file("crop_u", "[1, 2]").as_bytes()),
            format!("{p}: coordinates: `crop_u`: only `image_px` (0-based pixels of the source image) is read")
        );
        assert_eq!(
            err(b"{\"model\": \"m\xff\"}"),
            format!("{p}: line 1: not UTF-8 text (invalid byte at offset 12)")
        );
    }
}
