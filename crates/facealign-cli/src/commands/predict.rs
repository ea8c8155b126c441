//! `facealign predict`: faces and landmarks on photos.
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use facealign::infer::photos::{self, PhotoOptions};
use facealign::infer::predictor::PredictOutput;
use facealign::infer::Predictor;
use facealign::smooth::OneEuroConfig;
use facealign::{BoxXywh, SchemeId};

use super::runtime::{self, Runtime};

#[derive(Args)]
pub struct PredictArgs {
    /// Images, or folders of images (processed in name order). Photos are read upright: an EXIF
    /// orientation (a phone photo stored sideways) is applied first (the JSON gives it as
    /// `exif_orientation`), and the points, boxes and --box are in the upright image, as viewers
    /// show it.
    #[arg(required = true)]
    inputs: Vec<PathBuf>,
    /// Model: a run directory, a .safetensors file or a shipped model name (default: the shipped
    /// 68-point model).
    #[arg(long)]
    model: Option<String>,
    /// Write all results as JSON.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Write overlays (landmarks coloured by group, face box in red) into this folder.
    #[arg(long)]
    draw: Option<PathBuf>,
    /// Face detector: ultraface-rfb, yunet-320, yunet (YuNet at 640 px), ultraface-slim, rustface,
    /// blazeface; or a list `first,second` in which each searches only the photos where the ones
    /// before found no face. The default list lets YuNet search where UltraFace found none
    /// (profiles, occluded faces); a photo with no face then costs both searches (`--detector
    /// ultraface-rfb` skips the second).
    #[arg(long, default_value = facealign::infer::DEFAULT_DETECTORS)]
    detector: String,
    /// Skip detection: use this face box (x,y,w,h in pixels) for every image.
    #[arg(long, value_name = "X,Y,W,H")]
    r#box: Option<String>,
    /// Search each photo also turned by 90°, 180° and 270° and place each face's landmarks in
    /// the view it was found in: faces lying on their side (an infant on a mat, a photo stored
    /// sideways without EXIF) are found and placed upright. Four times the detector's work.
    #[arg(long, conflicts_with = "box")]
    search_turned: bool,
    /// Treat the inputs as frames of one sequence and smooth landmarks over time (one-euro filter).
    #[arg(long)]
    smooth: bool,
    /// Frames per second for --smooth.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// With --box: images decoded in parallel per batch. (With the detector, photos are decoded
    /// one by one just ahead of the detector, which runs on its own thread.)
    #[arg(long, default_value_t = 16, value_parser = super::at_least_one)]
    batch: usize,
    /// At most this many MB of decoded pixels in memory at once (a batch is cut short, or
    /// decoding ahead waits, to stay under it; an image larger than this alone is reported and
    /// skipped).
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    max_decoded_mb: u64,
    #[command(flatten)]
    refine: super::RefineArgs,
    /// Landmark runtime: tract (pure Rust) or torch (libtorch; builds with `--features train`).
    #[arg(long, value_enum, default_value_t = Runtime::DEFAULT)]
    runtime: Runtime,
}

fn parse_box(s: &str) -> Result<BoxXywh> {
    let v: Vec<f64> = s
        .split(',')
        .map(|t| t.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--box {s}: expected x,y,w,h"))?;
    BoxXywh::from_user(&v).map_err(|rule| anyhow::anyhow!("--box {s}: {rule}"))
}

/// `stem.png`, or `stem-2.png`, `stem-3.png`, ... when taken; the name is recorded in `used`.
fn unique_name(used: &mut std::collections::HashSet<String>, stem: &str) -> String {
    let mut name = format!("{stem}.png");
    let mut k = 2;
    while !used.insert(name.clone()) {
        name = format!("{stem}-{k}.png");
        k += 1;
    }
    name
}

pub fn run(a: PredictArgs) -> Result<()> {
    if !(a.fps.is_finite() && a.fps > 0.0) {
        bail!("--fps {}: expected a finite number > 0", a.fps);
    }
    if a.max_decoded_mb == 0 {
        bail!("--max-decoded-mb 0: expected at least 1");
    }
    // Output paths are checked before any work, and errors name the path given.
    if let Some(p) = &a.json {
        super::prepare_output(p)?;
    }
    let files = photos::image_files(&a.inputs)?;
    let given_box = a.r#box.as_deref().map(parse_box).transpose()?;
    let model_path = match &a.model {
        Some(m) => m.clone(),
        None => super::locations()
            .default_model(SchemeId::Ibug68)?
            .display()
            .to_string(),
    };
    // The network loads on a second thread while the detector's is built. With --box no
    // detector searches: none is built (their names and files are still checked).
    let mut pred = Predictor::load_parallel(
        || runtime::load(&model_path, a.runtime),
        &a.detector,
        |n| super::locations().detector_dir(n),
        given_box.is_some(),
    )?;
    // One refinement pass by default: a tilted face in a photo is the common case (issue 13), and
    // for the default model one pass beats two on upright and 45°-turned faces alike; since
    // session 9 skipped for faces whose re-crop barely moves (docs/RESULTS.md).
    pred.refine = a.refine.refine(facealign::infer::Refine::photo_default(
        pred.model.crop.size,
    ));
    let default_for = a.model.is_none().then_some(SchemeId::Ibug68);
    if let Some((m, n)) = a.refine.refine_model(a.runtime, pred.refine, default_for)? {
        pred.set_refiner(m, n)?;
    }
    pred.search_turned = a.search_turned;
    if !pred.calibrated() && given_box.is_none() {
        eprintln!(
            "note: model {} has no calibration for detector {}; using its boxes as they are (see `facealign model calibrate`)",
            pred.model.name,
            pred.uncalibrated.join(", ")
        );
    }
    if let Some(d) = &a.draw {
        super::create_output_dir("--draw", d)?;
    }
    let opts = PhotoOptions {
        given_box,
        smooth: a.smooth.then(|| OneEuroConfig {
            fps: a.fps,
            ..OneEuroConfig::default()
        }),
        batch: a.batch,
        max_decoded_bytes: a.max_decoded_mb.saturating_mul(1 << 20),
    };
    let mut drawn = std::collections::HashSet::new();
    let scheme = pred.model.scheme.clone();
    let results = photos::predict_photos(&mut pred, &files, &opts, |path, img, r| {
        let Some(img) = img else {
            eprintln!("skipping: {}", r.error.as_deref().unwrap_or("unreadable"));
            return Ok(());
        };
        if let Some(dir) = &a.draw {
            let mut canvas = img.clone();
            for f in &r.faces {
                let b = f.bbox;
                facealign::draw::draw_landmarks(
                    &mut canvas,
                    &scheme,
                    &f.landmarks,
                    None,
                    Some(&b),
                    &Default::default(),
                )?;
            }
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "image".into());
            // a/x.jpg, a/x.png and b/x.jpg must not share one overlay: x.png, x-2.png, ...
            let name = unique_name(&mut drawn, &stem);
            facealign::draw::save_png_atomic(&canvas, &dir.join(name))?;
        }
        println!("{}: {} face(s)", path.display(), r.faces.len());
        Ok(())
    })?;
    let n_faces: usize = results.iter().map(|r| r.faces.len()).sum();
    let n_failed = results.iter().filter(|r| r.error.is_some()).count();
    let n_images = results.len();
    println!(
        "{} image(s), {} face(s), {} unreadable; model {}, detector {}",
        results.len(),
        n_faces,
        n_failed,
        pred.model.name,
        a.detector
    );
    if let Some(p) = &a.json {
        let out = PredictOutput {
            images: results,
            ..PredictOutput::new(&pred)
        };
        out.write(p)?;
        println!("wrote {}", p.display());
    }
    if let Some(d) = &a.draw {
        println!("wrote overlays to {}", d.display());
    }
    // Some unreadable images in a folder are reported and the run goes on; none readable at all
    // (one GIF given by name, a folder of broken files) is a failure a script must see.
    if n_failed > 0 && n_failed == n_images {
        bail!(
            "none of the {n_images} image(s) could be read (each reason is above{})",
            if a.json.is_some() {
                " and in the JSON"
            } else {
                ""
            }
        );
    }
    Ok(())
}
