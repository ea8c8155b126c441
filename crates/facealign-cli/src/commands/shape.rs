//! `facealign shape fit`.
use std::path::{Path, PathBuf};

use anyhow::Result;
use facealign::data::DataSpec;
use facealign::geometry::CropSpec;

pub fn fit(spec: &str, out: &Path, plot: Option<PathBuf>, size: u32, enlarge: f32) -> Result<()> {
    let ds = DataSpec::parse(spec)?.load()?;
    let model =
        facealign::shape::fit_on_crops(&ds, &CropSpec { size, enlarge }, Default::default())?;
    model.save(out)?;
    println!(
        "fitted on {} fully labelled shapes (of {} faces) of {} points ({}), crop {size} px, enlarge {enlarge}",
        model.n_shapes(),
        ds.samples.len(),
        ds.n_points(),
        ds.scheme.name()
    );
    println!("| variance share | components |");
    println!("|---|---|");
    for share in [0.80, 0.85, 0.90, 0.95, 0.98, 0.99] {
        println!(
            "| {:.0} % | {} |",
            share * 100.0,
            model.components_for_variance(share)
        );
    }
    println!("wrote {}", out.display());
    if let Some(p) = plot {
        model.plot_modes(&p)?;
        println!("wrote {}", p.display());
    }
    Ok(())
}
