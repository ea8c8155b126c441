//! `facealign model summary`.
use anyhow::{Context, Result};
use facealign::model::ModelConfig;

pub fn summary(
    name: &str,
    size: u32,
    points: usize,
    width: Option<f64>,
    decoder: Option<&str>,
) -> Result<()> {
    let mut cfg: ModelConfig = toml::from_str(&format!("arch = \"{name}\"")).with_context(|| {
        format!("unknown model `{name}`; known: mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet, heatmap")
    })?;
    if let Some(w) = width {
        match &mut cfg {
            ModelConfig::MobilenetV2(m) => m.width = w,
            _ => anyhow::bail!("--width applies to mobilenet_v2 only (`{name}` has fixed widths)"),
        }
    }
    if let Some(d) = decoder {
        match &mut cfg {
            ModelConfig::Heatmap(h) => {
                h.decoder = toml::Value::String(d.to_string())
                    .try_into()
                    .with_context(|| format!("--decoder {d}: expected dense or separable"))?;
            }
            _ => anyhow::bail!("--decoder applies to heatmap only"),
        }
    }
    let s = facealign::model::summary(&cfg, size as i64, points as i64)?;
    print!("{s}");
    Ok(())
}
