//! `facealign eval`: NME / FR / AUC / CED with the field's protocol (SPEC §5).
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use facealign::infer::evaluate::{self as eval, AucConvention, EvalOptions, EvalReport};
use facealign::metrics::Normalizer;

use super::runtime::{self, Runtime};

/// `eval` runs the benchmark protocol (one crop from the ground-truth box) unless asked.
const DEFAULT_REFINE: u32 = 0;

#[derive(Args)]
pub struct EvalArgs {
    /// Model: a run directory, a .safetensors file, a shipped model name, or a predictions .json
    /// written by --predictions. Default: the shipped model for the data's landmark scheme.
    #[arg(long)]
    model: Option<String>,
    /// Data spec FORMAT:PATH[#SUBSET][#origin=0|1]. Several specs (same landmark scheme) are scored as one
    /// set, with one table row per spec.
    #[arg(long, num_args = 1.., required = true)]
    data: Vec<String>,
    /// NME normaliser: ocular (outer eye corners), pupil, or box (√(w·h) of the landmark box).
    #[arg(long, value_enum, default_value_t = NormArg::Ocular)]
    norm: NormArg,
    /// Failure / AUC threshold (fraction).
    #[arg(long, default_value_t = 0.10, allow_negative_numbers = true)]
    threshold: f64,
    /// standard, or acr-code (the ACR authors' non-standard AUC formula, for their Table I).
    #[arg(long, value_enum, default_value_t = AucArg::Standard)]
    auc_convention: AucArg,
    /// Write every number as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write a CED plot (PNG, plus an SVG beside it).
    #[arg(long)]
    plot: Option<PathBuf>,
    /// More models to compare on the same data (one CED line each).
    #[arg(long, num_args = 1..)]
    compare: Vec<String>,
    /// Draw the N worst faces (predicted and true points) into DIR; with --detector, the worst of
    /// the faces it found, with its box.
    #[arg(long, num_args = 2, value_names = ["N", "DIR"])]
    worst: Vec<String>,
    /// Write each image's predicted landmarks (image coordinates) as JSON; with --detector, the
    /// faces it found (those it missed named in the file's `missed`).
    #[arg(long)]
    predictions: Option<PathBuf>,
    /// Batch size.
    #[arg(long, default_value_t = 32, value_parser = super::at_least_one)]
    batch: usize,
    /// End to end: crop from this face detector's boxes (matched to the annotated faces at
    /// IoU ≥ 0.3) instead of the ground-truth landmark box; reports recall too. A list
    /// `first,second` searches a photo with the second only where the first found no face
    /// (`ultraface-rfb,yunet-320` is what `predict` uses by default).
    #[arg(long)]
    detector: Option<String>,
    /// With --detector: search each photo also turned by 90°, 180° and 270° and place each
    /// face's landmarks in the view it was found in (faces lying on their side).
    #[arg(long, requires = "detector")]
    search_turned: bool,
    #[command(flatten)]
    refine: super::RefineArgs,
    /// Crop from the ground-truth landmark box moved by (DX·w, DY·h) and scaled by SCALE, as a
    /// training source's `crop_calibration` (e.g. `0,0.19,2.02` for 5-point faces and a 68-point
    /// model).
    #[arg(long, value_name = "DX,DY,SCALE")]
    crop_calibration: Option<String>,
    /// Evaluate every face as seen in a photo turned by DEG degrees (clockwise), to measure
    /// what a tilted face costs; the first crop is the upright box of the turned face (with
    /// --detector, the detector's box in the turned view of 3× the face box).
    #[arg(long, value_name = "DEG", allow_negative_numbers = true)]
    rotate: Option<f64>,
    /// Landmark runtime: tract (pure Rust) or torch (libtorch; builds with `--features train`).
    #[arg(long, value_enum, default_value_t = Runtime::DEFAULT)]
    runtime: Runtime,
}

/// `--norm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum NormArg {
    Ocular,
    Pupil,
    Box,
}

impl From<NormArg> for Normalizer {
    fn from(n: NormArg) -> Normalizer {
        match n {
            NormArg::Ocular => Normalizer::Ocular,
            NormArg::Pupil => Normalizer::Pupil,
            NormArg::Box => Normalizer::Box,
        }
    }
}

/// `--auc-convention`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum AucArg {
    Standard,
    AcrCode,
}

impl From<AucArg> for AucConvention {
    fn from(a: AucArg) -> AucConvention {
        match a {
            AucArg::Standard => AucConvention::Standard,
            AucArg::AcrCode => AucConvention::AcrCode,
        }
    }
}

/// `DX,DY,SCALE` → a calibration (finite numbers, scale > 0).
fn parse_calibration(text: &str) -> Result<facealign::BoxCalibration> {
    let v: Vec<f32> = text
        .split(',')
        .map(|t| t.trim().parse::<f32>())
        .collect::<std::result::Result<_, _>>()
        .with_context(|| format!("--crop-calibration {text}: expected DX,DY,SCALE numbers"))?;
    match v.as_slice() {
        [dx, dy, scale] if v.iter().all(|x| x.is_finite()) && *scale > 0.0 => {
            Ok(facealign::BoxCalibration {
                dx: *dx,
                dy: *dy,
                scale: *scale,
            })
        }
        _ => bail!(
            "--crop-calibration {text}: expected three finite numbers DX,DY,SCALE with SCALE > 0"
        ),
    }
}

/// A loaded refine model (`--refine-model`).
type LoadedRefiner = Option<(
    facealign::infer::ModelFile,
    Box<dyn facealign::infer::CropNet>,
)>;

fn evaluate_one(
    spec: &str,
    ds: &facealign::Dataset,
    opts: &EvalOptions,
    rt: Runtime,
    refiner: &LoadedRefiner,
) -> Result<EvalReport> {
    if spec.ends_with(".json") {
        let (name, preds) = eval::read_predictions(Path::new(spec), ds)?;
        let protocol = format!("stored predictions from {spec}");
        return Ok(eval::score(&name, ds, preds, protocol, opts)?);
    }
    let (model, net) = runtime::load(spec, rt)?;
    let refiner = refiner
        .as_ref()
        .map(|(m, n)| facealign::infer::predict::Refiner {
            model: m,
            net: n.as_ref(),
        });
    Ok(eval::evaluate_refined(
        &model,
        net.as_ref(),
        refiner,
        ds,
        opts,
    )?)
}

pub fn run(a: EvalArgs) -> Result<()> {
    let norm = Normalizer::from(a.norm);
    let auc = AucConvention::from(a.auc_convention);
    if !(a.threshold > 0.0 && a.threshold <= 1.0) {
        bail!("--threshold {}: expected a fraction in (0, 1]", a.threshold);
    }
    if let Some(p) = &a.plot {
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if !ext.eq_ignore_ascii_case("png") {
            bail!(
                "--plot {}: expected a .png path (the SVG twin is written beside it as .svg)",
                p.display()
            );
        }
    }
    if a.predictions.is_some() && a.rotate.is_some() {
        // The points would be in each face's turned view, not in the data's images.
        bail!("--predictions cannot be written with --rotate: the predictions are in the faces' turned views, not in the data's images");
    }
    // Output paths are checked before any work, and errors name the path given.
    for p in [&a.json, &a.plot, &a.predictions].into_iter().flatten() {
        super::prepare_output(p)?;
    }
    if let Some(p) = &a.plot {
        super::prepare_output(&p.with_extension("svg"))?;
    }
    let opts = EvalOptions {
        norm,
        threshold: a.threshold,
        auc,
        batch: a.batch,
        refine: a.refine.refine(facealign::infer::Refine {
            passes: DEFAULT_REFINE,
            ..facealign::infer::Refine::OFF
        }),
        rotate: match a.rotate {
            Some(d) if !(d.is_finite() && d.abs() <= 360.0) => {
                bail!("--rotate {d}: expected degrees in [-360, 360]")
            }
            r => r,
        },
        crop_calibration: match &a.crop_calibration {
            None => None,
            Some(text) => Some(parse_calibration(text)?),
        },
    };
    let ds = super::load_data(&a.data)?;
    let first = match &a.model {
        Some(m) => m.clone(),
        None => super::locations()
            .default_model(ds.scheme.id)?
            .display()
            .to_string(),
    };
    let mut reports = Vec::new();
    for m in std::iter::once(&first).chain(&a.compare) {
        // Loaded per model (a predictor owns its refine model); the default refine model only
        // behind the default model.
        let default_for = (a.model.is_none() && std::ptr::eq(m, &first)).then_some(ds.scheme.id);
        let refiner = a.refine.refine_model(a.runtime, opts.refine, default_for)?;
        reports.push(match &a.detector {
            Some(det) => end_to_end(m, det, a.search_turned, &ds, &opts, a.runtime, refiner)?,
            None => evaluate_one(m, &ds, &opts, a.runtime, &refiner)?,
        });
    }
    print!("{}", eval::markdown(&reports));
    if a.detector.is_some() {
        println!("\n| model | detector | faces | found | recall % |\n|---|---|---|---|---|");
        for r in &reports {
            let d = r
                .detection
                .as_ref()
                .context("the end-to-end report has no detection block")?;
            println!(
                "| {} | {} | {} | {} | {:.1} |",
                r.model,
                d.detector,
                d.faces,
                d.found,
                d.recall * 100.0
            );
        }
        for r in &reports {
            let Some(d) = r.detection.as_ref() else {
                continue;
            };
            if let Some(first) = d.missed.first() {
                let more = d.missed.len() - 1;
                println!(
                    "{}: {} missed {}{}",
                    r.model,
                    d.detector,
                    first,
                    if more > 0 {
                        format!(" and {more} more (all in --json: detection.missed)")
                    } else {
                        String::new()
                    }
                );
            }
        }
    }
    for r in &reports {
        if !r.unscored.is_empty() {
            println!(
                "\n{}: {} face(s) not scored (cannot be normalised by `{}`); first: {}: {}",
                r.model,
                r.unscored.len(),
                r.norm,
                r.unscored[0].id,
                r.unscored[0].reason
            );
        }
    }
    if auc == AucConvention::AcrCode {
        println!("\nnote: AUC uses the ACR authors' formula (SPEC §5.6); it is not comparable with standard AUC.");
    }
    if let Some(p) = &a.json {
        let text = serde_json::to_string_pretty(&reports)?;
        facealign::fsio::write_atomic(p, text.as_bytes())?;
        println!("wrote {}", p.display());
    }
    if let Some(p) = &a.plot {
        let curves: Vec<(String, Vec<f64>)> = reports
            .iter()
            .map(|r| (r.model.clone(), r.nmes.clone()))
            .collect();
        let svg = p.with_extension("svg");
        facealign::metrics::plot_ced(&curves, a.threshold, p, &svg)?;
        println!("wrote {} and {}", p.display(), svg.display());
    }
    if let Some(p) = &a.predictions {
        eval::write_predictions(p, &reports[0])?;
        println!("wrote {}", p.display());
    }
    if let [n, dir] = a.worst.as_slice() {
        let n: usize = n
            .parse()
            .with_context(|| format!("--worst {n}: expected a number"))?;
        let dir = PathBuf::from(dir);
        super::create_output_dir("--worst", &dir)?;
        let r = &reports[0];
        let worst = eval::worst_faces(&r.nmes, &r.scored, n);
        // With --rotate the predictions are in each face's turned view: draw on that view.
        let turned = eval::turned(&ds, opts.rotate)?;
        let shown = turned.as_ref().unwrap_or(&ds);
        for (rank, &(i, nme)) in worst.iter().enumerate() {
            // End to end, the report's faces are those the detector found: draw each on its own
            // image with the detector's box.
            let (sample, bbox) = match &r.detection {
                Some(d) => {
                    let &(k, b) = d.matched.get(i).with_context(|| {
                        format!("the end-to-end report has no detection for its face {i}")
                    })?;
                    (k, Some(b))
                }
                None => (i, None),
            };
            let s = &shown.samples[sample];
            let img = s.image.load_rgb()?;
            let name = format!(
                "{:02}_{:.1}pct_{}.png",
                rank + 1,
                nme * 100.0,
                s.id.replace(['/', '\\', '#'], "_")
            );
            super::save_overlay(
                &dir.join(name),
                &img,
                &ds.scheme,
                &r.predictions[i].landmarks,
                Some(&s.landmarks),
                bbox.as_ref(),
            )?;
        }
        println!(
            "wrote the {} worst faces to {} (prediction coloured by group, truth in white{})",
            worst.len(),
            dir.display(),
            if a.detector.is_some() {
                ", the detector's box"
            } else {
                ""
            }
        );
    }
    Ok(())
}

fn end_to_end(
    model: &str,
    detector: &str,
    search_turned: bool,
    ds: &facealign::Dataset,
    opts: &EvalOptions,
    rt: Runtime,
    refiner: LoadedRefiner,
) -> Result<eval::EvalReport> {
    let mut p = facealign::infer::Predictor::load_parallel(
        || runtime::load(model, rt),
        detector,
        |n| super::locations().detector_dir(n),
        false,
    )?;
    p.refine = opts.refine;
    if let Some((m, n)) = refiner {
        p.set_refiner(m, n)?;
    }
    p.search_turned = search_turned;
    Ok(facealign::infer::predictor::end_to_end(&mut p, ds, opts)?)
}
