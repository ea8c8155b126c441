//! `facealign bench` (filled in with the benchuation work).
use anyhow::Result;
use clap::Args;

#[derive(Args)]
pub struct BenchArgs {}

pub fn run(_a: BenchArgs) -> Result<()> {
    anyhow::bail!("bench: not built yet")
}
