//! `facealign model summary`.
use anyhow::Result;

pub fn summary(name: &str, size: u32, points: usize) -> Result<()> {
    let cfg = facealign::model::ModelConfig::by_name(name)?;
    let s = facealign::model::summary(&cfg, size, points)?;
    print!("{}", s.to_text());
    Ok(())
}
