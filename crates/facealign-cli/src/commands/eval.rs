//! `facealign eval` (filled in with the evaluation work).
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct EvalArgs {}

pub fn run(_a: EvalArgs) -> Result<()> {
    anyhow::bail!("eval: not built yet")
}
