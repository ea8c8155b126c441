//! `facealign predict`: faces and landmarks on photos.
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use facealign_core::smooth::{LandmarkSmoother, OneEuroConfig};
use facealign_core::{BoxXywh, ImageSource, SchemeId};
use facealign_infer::predictor::{PhotoFaces, PredictOutput};
use facealign_infer::{Face, Predictor};

use super::runtime::{self, Runtime};
use rayon::prelude::*;

#[derive(Args)]
pub struct PredictArgs {
    /// Images, or folders of images (processed in name order).
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
    /// Face detector: ultraface-rfb (default), yunet, ultraface-slim, rustface, blazeface.
    #[arg(long, default_value = facealign_infer::detect::DEFAULT_DETECTOR)]
    detector: String,
    /// Skip detection: use this face box (x,y,w,h in pixels) for every image.
    #[arg(long, value_name = "X,Y,W,H")]
    r#box: Option<String>,
    /// Treat the inputs as frames of one sequence and smooth landmarks over time (one-euro filter).
    #[arg(long)]
    smooth: bool,
    /// Frames per second for --smooth.
    #[arg(long, default_value_t = 30.0)]
    fps: f64,
    /// Images decoded in parallel per batch.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// At most this many MB of decoded pixels in memory at once (a batch is cut short to stay
    /// under it; an image larger than this alone is reported and skipped).
    #[arg(long, value_name = "MB", default_value_t = 1024)]
    max_decoded_mb: u64,
    /// Re-crop each face aligned with its predicted eye line and re-centred on the prediction,
    /// then predict again, N times (faces tilted in the photo; 0 = off).
    #[arg(long, value_name = "N", default_value_t = DEFAULT_REFINE)]
    refine: u32,
    /// Average each refinement pass with the prediction on the mirrored crop.
    #[arg(long)]
    flip_average: bool,
    /// Landmark runtime: tract (pure Rust) or torch (libtorch; builds with `--features train`).
    #[arg(long, value_enum, default_value_t = Runtime::DEFAULT)]
    runtime: Runtime,
}

/// `predict` refines by default: a tilted face in a photo is the common case (issue 13).
const DEFAULT_REFINE: u32 = 2;

const IMAGE_EXT: [&str; 7] = ["jpg", "jpeg", "png", "bmp", "ppm", "pgm", "webp"];

fn expand(inputs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in inputs {
        if p.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(p)
                .with_context(|| format!("reading {}", p.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| {
                    f.extension()
                        .and_then(|e| e.to_str())
                        .is_some_and(|e| IMAGE_EXT.contains(&e.to_ascii_lowercase().as_str()))
                })
                .collect();
            files.sort();
            out.extend(files);
        } else if p.exists() {
            out.push(p.clone());
        } else {
            bail!("{}: no such file or folder", p.display());
        }
    }
    if out.is_empty() {
        bail!("no images found in {:?}", inputs);
    }
    Ok(out)
}

fn parse_box(s: &str) -> Result<BoxXywh> {
    let v: Vec<f32> = s
        .split(',')
        .map(|t| t.trim().parse::<f32>())
        .collect::<Result<_, _>>()
        .with_context(|| format!("--box {s}: expected x,y,w,h"))?;
    match v.as_slice() {
        [x, y, w, h]
            if v.iter()
                .all(|t| t.is_finite() && t.abs() <= facealign_core::data::MAX_COORD)
                && *w > 0.0
                && *h > 0.0 =>
        {
            Ok(BoxXywh {
                x: *x,
                y: *y,
                w: *w,
                h: *h,
            })
        }
        _ => bail!(
            "--box {s}: expected four finite numbers x,y,w,h (|v| ≤ {}) with w, h > 0",
            facealign_core::data::MAX_COORD
        ),
    }
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

/// Split `files` into batches of at most `batch` images and `budget` decoded bytes (RGB, from each
/// file's header; an unreadable header counts 0 and fails at decode). An image over the budget on
/// its own gets a batch of its own and is refused there.
fn batches(files: &[PathBuf], batch: usize, budget: u64) -> Vec<Vec<(PathBuf, u64)>> {
    let mut out: Vec<Vec<(PathBuf, u64)>> = Vec::new();
    let mut cur: Vec<(PathBuf, u64)> = Vec::new();
    let mut bytes = 0u64;
    for f in files {
        let need = facealign_core::imageio::image_dimensions(f)
            .map(|(w, h)| u64::from(w) * u64::from(h) * 3)
            .unwrap_or(0);
        if !cur.is_empty() && (cur.len() >= batch || bytes + need > budget) {
            out.push(std::mem::take(&mut cur));
            bytes = 0;
        }
        bytes += need;
        cur.push((f.clone(), need));
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn decode(p: &Path) -> Result<image::RgbImage, String> {
    ImageSource::Path(p.to_path_buf())
        .load_rgb()
        .map(std::sync::Arc::unwrap_or_clone)
        .map_err(|e| e.to_string())
}

pub fn run(a: PredictArgs) -> Result<()> {
    if !(a.fps.is_finite() && a.fps > 0.0) {
        bail!("--fps {}: expected a finite number > 0", a.fps);
    }
    if a.batch == 0 {
        bail!("--batch 0: expected at least 1");
    }
    // Output paths are checked before any work, and errors name the path given.
    if let Some(p) = &a.json {
        super::prepare_output(p)?;
    }
    let files = expand(&a.inputs)?;
    let given_box = a.r#box.as_deref().map(parse_box).transpose()?;
    let model_path = match &a.model {
        Some(m) => m.clone(),
        None => super::locations()
            .default_model(SchemeId::Ibug68)?
            .display()
            .to_string(),
    };
    let (model, net) = runtime::load(&model_path, a.runtime)?;
    let mut pred = Predictor::new(model, net, &a.detector, super::locations())?;
    pred.refine = facealign_infer::Refine {
        passes: a.refine.max(u32::from(a.flip_average)),
        flip: a.flip_average,
    };
    if !pred.calibrated && given_box.is_none() {
        eprintln!(
            "note: model {} has no calibration for detector {}; using its boxes as they are (see `facealign model calibrate`)",
            pred.model.name, a.detector
        );
    }
    if let Some(d) = &a.draw {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    let mut smoother = a.smooth.then(|| {
        LandmarkSmoother::new(OneEuroConfig {
            fps: a.fps,
            ..OneEuroConfig::default()
        })
    });
    let mut results = Vec::with_capacity(files.len());
    let mut drawn = std::collections::HashSet::new();
    let (mut n_faces, mut n_failed) = (0usize, 0usize);
    if a.max_decoded_mb == 0 {
        bail!("--max-decoded-mb 0: expected at least 1");
    }
    let budget = a.max_decoded_mb.saturating_mul(1 << 20);
    for chunk in batches(&files, a.batch.max(1), budget) {
        let decoded: Vec<(PathBuf, Result<image::RgbImage, String>)> = chunk
            .par_iter()
            .map(|(p, need)| {
                if *need > budget {
                    let e = format!(
                        "{}: {:.0} MB of decoded pixels, above --max-decoded-mb {}",
                        p.display(),
                        *need as f64 / f64::from(1 << 20),
                        a.max_decoded_mb
                    );
                    (p.clone(), Err(e))
                } else {
                    (p.clone(), decode(p))
                }
            })
            .collect();
        // Detection and landmarks of the batch's images, pipelined on two threads.
        let mut found = match given_box {
            Some(_) => Vec::new(),
            None => {
                let imgs: Vec<&image::RgbImage> = decoded
                    .iter()
                    .filter_map(|(_, r)| r.as_ref().ok())
                    .collect();
                pred.predict_many(&imgs)?
            }
        }
        .into_iter();
        for (path, img) in decoded {
            let img = match img {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("skipping: {e}");
                    n_failed += 1;
                    results.push(PhotoFaces {
                        image: path.display().to_string(),
                        width: None,
                        height: None,
                        faces: vec![],
                        error: Some(e),
                    });
                    continue;
                }
            };
            let faces = match &given_box {
                Some(b)
                    if b.x + b.w < 0.0
                        || b.y + b.h < 0.0
                        || b.x > img.width() as f32
                        || b.y > img.height() as f32 =>
                {
                    let e = format!(
                        "{}: --box {},{},{},{} lies wholly outside the {}x{} image",
                        path.display(),
                        b.x,
                        b.y,
                        b.w,
                        b.h,
                        img.width(),
                        img.height()
                    );
                    eprintln!("skipping: {e}");
                    n_failed += 1;
                    results.push(PhotoFaces {
                        image: path.display().to_string(),
                        width: Some(img.width()),
                        height: Some(img.height()),
                        faces: vec![],
                        error: Some(e),
                    });
                    continue;
                }
                Some(b) => {
                    let l = pred.landmarks_for_boxes(&img, std::slice::from_ref(b))?;
                    vec![Face {
                        bbox: *b,
                        score: 1.0,
                        landmarks: l.into_iter().next().unwrap_or_default(),
                    }]
                }
                None => found
                    .next()
                    .expect("predict_many gives one result per decoded image"),
            };
            let mut faces = faces;
            if let Some(s) = smoother.as_mut() {
                // Track the most confident face through the sequence.
                if let Some(f) = faces.first_mut() {
                    f.landmarks = s.filter(&f.landmarks);
                }
            }
            if let Some(f) = faces
                .iter()
                .find(|f| f.landmarks.iter().flatten().any(|v| !v.is_finite()))
            {
                bail!(
                    "{}: model {} gave a non-finite landmark for the face at {:?}; nothing written",
                    path.display(),
                    pred.model.name,
                    f.bbox
                );
            }
            n_faces += faces.len();
            if let Some(dir) = &a.draw {
                let mut canvas = img.clone();
                for f in &faces {
                    let b = f.bbox;
                    facealign_core::draw::draw_landmarks(
                        &mut canvas,
                        &pred.model.scheme,
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
                facealign_core::draw::save_png_atomic(&canvas, &dir.join(name))?;
            }
            println!("{}: {} face(s)", path.display(), faces.len());
            results.push(PhotoFaces {
                image: path.display().to_string(),
                width: Some(img.width()),
                height: Some(img.height()),
                faces,
                error: None,
            });
        }
    }
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
    Ok(())
}
