//! `facealign data inspect`.
use std::path::PathBuf;

use anyhow::Result;
use facealign::data::DataSpec;

pub fn inspect(spec: &str, draw: Option<PathBuf>, limit: usize, json: bool) -> Result<()> {
    let ds = DataSpec::parse(spec)?.load()?;
    let report = facealign::inspect::inspect(&ds);
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    if let Some(dir) = draw {
        super::create_output_dir("--draw", &dir)?;
        let mut written = 0;
        for s in ds.samples.iter().take(limit) {
            let img = match s.image.load_rgb() {
                Ok(i) => i,
                Err(e) => {
                    eprintln!("skipping {}: {e}", s.id);
                    continue;
                }
            };
            let name = format!("{}.png", s.id.replace(['/', '\\', '#'], "_"));
            super::save_overlay(
                &dir.join(&name),
                &img,
                &ds.scheme,
                &s.landmarks,
                None,
                s.bbox.as_ref(),
            )?;
            written += 1;
        }
        if !json {
            println!("wrote {written} overlays to {}", dir.display());
        }
    }
    Ok(())
}
