//! `facealign bench`: training img/s, inference latency, data-pipeline crops/s.
use anyhow::{Context, Result};
use clap::Args;
use facealign::bench::{self, BenchOptions};
use facealign::data::DataSpec;
use facealign::model::ModelConfig;

#[derive(Args)]
pub struct BenchArgs {
    /// mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet, heatmap
    #[arg(long, default_value = "mobilenet_v2")]
    model: String,
    /// Input side.
    #[arg(long, default_value_t = 224)]
    size: u32,
    /// Training batch size.
    #[arg(long, default_value_t = 16)]
    batch: usize,
    /// Landmarks (68 → 136 outputs).
    #[arg(long, default_value_t = 68)]
    points: usize,
    /// Timed steps (median reported).
    #[arg(long, default_value_t = 20)]
    steps: usize,
    /// Untimed warm-up steps.
    #[arg(long, default_value_t = 3)]
    warmup: usize,
    /// libtorch threads.
    #[arg(long, default_value_t = 2)]
    threads: usize,
    /// Data spec for the crops/s measurement (real decode + crop + augment).
    #[arg(long, default_value = "pts:../shared/data/infanface/train")]
    data: String,
    /// Skip the data-pipeline measurement.
    #[arg(long)]
    no_data: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    let model: ModelConfig = toml::from_str(&format!("arch = \"{}\"", a.model))
        .with_context(|| format!("unknown model `{}`", a.model))?;
    let ds = if a.no_data {
        None
    } else {
        Some(DataSpec::parse(&a.data)?.load()?)
    };
    let opts = BenchOptions {
        model,
        model_name: a.model.clone(),
        size: a.size,
        batch: a.batch,
        points: a.points,
        steps: a.steps,
        warmup: a.warmup,
        threads: a.threads,
    };
    let r = bench::run(&opts, ds.as_ref())?;
    if a.json {
        println!("{}", serde_json::to_string(&r)?);
    } else {
        println!(
            "{} {}px, {} points, {} threads",
            r.model, r.size, r.points, r.threads
        );
        println!(
            "train: {:.1} img/s (batch {}, median step {:.1} ms, ACR loss + Adam)",
            r.train_img_per_s, r.batch, r.train_step_ms
        );
        println!(
            "inference: {:.2} ms at batch 1, {:.1} img/s at batch 32",
            r.infer_ms_b1, r.infer_img_per_s_b32
        );
        if let Some(c) = r.crops_per_s {
            println!(
                "data pipeline: {c:.0} crops/s (decode + crop + augment, {}px)",
                r.size
            );
        }
    }
    Ok(())
}
