//! How stable is the ACR weight Φ under augmentation, with and without Procrustes alignment?
//!
//! For every face of a dataset, Φ (SPEC §1.2, Decision 2) is computed twice with the same PCA
//! (fitted on the clean crops of the fully labelled faces, 90 % of the variance):
//! - from its clean crop (landmark box × 1.25, no augmentation; what training uses), and
//! - from an augmented crop (`AugmentConfig::default()`: flip, rotation, scale, shift, …),
//!   brought back to the clean point labels when the crop was mirrored (Φ is |G − S|, so the
//!   mirrored x sign does not matter).
//!
//! Over all labelled coordinates of all faces it prints, for `shape.align = none` and
//! `procrustes`: the Pearson (and Spearman) correlation of clean Φ with augmented Φ, and the
//! share of the hardest 10 % coordinates by clean Φ that are also in the hardest 10 % by
//! augmented Φ (10 % = chance).
//!
//! Run from the repository root (/work/main):
//! `nice -n 10 cargo run --release -p facealign-core --example phi_stability -- pts:../shared/data/infanface/train 128`
//! Arguments: `<dataset spec> [crop size = 128] [augmented draws per face = 1] [seed = 0]`.
use std::process::ExitCode;
use std::sync::Arc;

use facealign_core::shape::{acr_phi, ShapeAlign, ShapeModel};
use facealign_core::{data, AugmentConfig, CropLoader, CropSpec, LoaderConfig};

type AnyResult<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Variance share of the PCA (the ACR schedule's middle stage).
const SHARE: f64 = 0.9;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            let mut src = e.source();
            while let Some(s) = src {
                eprintln!("  caused by: {s}");
                src = s.source();
            }
            ExitCode::FAILURE
        }
    }
}

/// One loader pass: per dataset index, the crop_u shape with NaN at unlabelled points, and
/// whether the crop was mirrored.
fn shapes_of(loader: &CropLoader, epoch: u64) -> AnyResult<Vec<(Vec<f32>, bool)>> {
    let n = loader.dataset().samples.len();
    let mut out = vec![(Vec::new(), false); n];
    for batch in loader.iter_epoch(epoch) {
        let b = batch?;
        let m = b.n_points;
        for (j, &idx) in b.indices.iter().enumerate() {
            let pts = &b.landmarks[2 * m * j..2 * m * (j + 1)];
            let lab = &b.labelled[m * j..m * (j + 1)];
            let shape = pts
                .chunks_exact(2)
                .zip(lab)
                .flat_map(|(p, &l)| if l > 0.5 { [p[0], p[1]] } else { [f32::NAN; 2] })
                .collect();
            out[idx] = (shape, b.flipped[j]);
        }
    }
    Ok(out)
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (ma, mb) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for (x, y) in a.iter().zip(b) {
        sab += (x - ma) * (y - mb);
        saa += (x - ma) * (x - ma);
        sbb += (y - mb) * (y - mb);
    }
    sab / (saa * sbb).sqrt()
}

/// Ranks (average rank for ties).
fn ranks(v: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[i].total_cmp(&v[j]));
    let mut r = vec![0.0; v.len()];
    let mut i = 0;
    while i < order.len() {
        let mut j = i;
        while j + 1 < order.len() && v[order[j + 1]] == v[order[i]] {
            j += 1;
        }
        for &o in &order[i..=j] {
            r[o] = (i + j) as f64 / 2.0;
        }
        i = j + 1;
    }
    r
}

/// Indices of the `n` largest values (ties broken by index).
fn top(v: &[f64], n: usize) -> Vec<bool> {
    let mut order: Vec<usize> = (0..v.len()).collect();
    order.sort_by(|&i, &j| v[j].total_cmp(&v[i]).then(i.cmp(&j)));
    let mut mask = vec![false; v.len()];
    for &i in &order[..n] {
        mask[i] = true;
    }
    mask
}

fn run() -> AnyResult<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let spec = args
        .first()
        .ok_or("usage: phi_stability <dataset spec> [crop size] [draws] [seed]")?;
    let size: u32 = args.get(1).map_or(Ok(128), |s| s.parse())?;
    let draws: u64 = args.get(2).map_or(Ok(1), |s| s.parse())?;
    let seed: u64 = args.get(3).map_or(Ok(0), |s| s.parse())?;
    let ds = Arc::new(data::load(spec)?);
    let (scheme, flip) = (ds.scheme.id, ds.scheme.flip.clone());
    let config = |augment: Option<AugmentConfig>| LoaderConfig {
        crop: CropSpec::new(size),
        batch_size: 32,
        shuffle: false,
        drop_last: false,
        seed,
        augment,
        ..LoaderConfig::default()
    };
    let clean_loader = CropLoader::new(Arc::clone(&ds), config(None))?;
    let aug_loader = CropLoader::new(Arc::clone(&ds), config(Some(AugmentConfig::default())))?;
    let clean = shapes_of(&clean_loader, 0)?;
    let augmented = (0..draws)
        .map(|e| shapes_of(&aug_loader, e))
        .collect::<AnyResult<Vec<_>>>()?;
    let fit_set: Vec<Vec<f32>> = clean
        .iter()
        .filter(|(s, _)| s.iter().all(|v| v.is_finite()))
        .map(|(s, _)| s.clone())
        .collect();
    let n_flipped: usize = augmented.iter().flatten().filter(|(_, f)| *f).count();
    println!(
        "{spec}: {} faces ({} fully labelled for the PCA), {} points, crop {size} px, \
         {draws} augmented draw(s) per face (AugmentConfig::default(), seed {seed}, {n_flipped} mirrored), \
         PCA share {SHARE}",
        clean.len(),
        fit_set.len(),
        ds.n_points()
    );
    println!(
        "{:<11} {:>3} {:>9} {:>9} {:>10} {:>14}",
        "align", "k", "coords", "Pearson", "Spearman", "top-10% kept"
    );
    for align in [ShapeAlign::None, ShapeAlign::Procrustes] {
        let model = ShapeModel::fit_aligned(&fit_set, scheme, align)?.with_crop(size, 1.25);
        let k = model.components_for_variance(SHARE);
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for (i, (g, _)) in clean.iter().enumerate() {
            let phi_clean = acr_phi(g, &model.smooth_face_k(g, k)?)?;
            for draw in &augmented {
                let (ga, flipped) = &draw[i];
                let phi_aug = acr_phi(ga, &model.smooth_face_k(ga, k)?)?;
                // Batch point p is clean point flip[p] when mirrored.
                let mut back = vec![0.0f32; phi_aug.len()];
                for p in 0..phi_aug.len() / 2 {
                    let q = if *flipped { flip[p] } else { p };
                    back[2 * q] = phi_aug[2 * p];
                    back[2 * q + 1] = phi_aug[2 * p + 1];
                }
                for (j, (&c, &u)) in phi_clean.iter().zip(&back).enumerate() {
                    if g[j].is_finite() {
                        a.push(f64::from(c));
                        b.push(f64::from(u));
                    }
                }
            }
        }
        let n_top = (a.len() as f64 * 0.1).round() as usize;
        let (ta, tb) = (top(&a, n_top), top(&b, n_top));
        let kept = ta.iter().zip(&tb).filter(|(x, y)| **x && **y).count();
        println!(
            "{:<11} {:>3} {:>9} {:>9.3} {:>10.3} {:>13.1}%",
            match align {
                ShapeAlign::None => "none",
                ShapeAlign::Procrustes => "procrustes",
            },
            k,
            a.len(),
            pearson(&a, &b),
            pearson(&ranks(&a), &ranks(&b)),
            100.0 * kept as f64 / n_top as f64
        );
    }
    Ok(())
}
