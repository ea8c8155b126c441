//! `facealign model summary`.
use anyhow::{Context, Result};
use facealign::model::ModelConfig;

pub fn summary(name: &str, size: u32, points: usize) -> Result<()> {
    let cfg: ModelConfig = toml::from_str(&format!("arch = \"{name}\"")).with_context(|| {
        format!("unknown model `{name}`; known: mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet, heatmap")
    })?;
    let s = facealign::model::summary(&cfg, size as i64, points as i64)?;
    print!("{s}");
    Ok(())
}
