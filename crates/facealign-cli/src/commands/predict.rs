//! `facealign predict` (filled in with the predictuation work).
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct PredictArgs {}

pub fn run(_a: PredictArgs) -> Result<()> {
    anyhow::bail!("predict: not built yet")
}
