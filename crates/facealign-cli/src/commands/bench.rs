//! `facealign bench`: with `--runtime torch` (the `train` feature) training img/s, inference
//! latency and data-pipeline crops/s of an architecture; with `--runtime tract` the batch-1
//! latency per face of trained models (the shipped ones by default) on the pure-Rust runtime at
//! 1 and 2 threads, next to torch when built with `train`.
use std::time::Instant;

use anyhow::Result;
#[cfg(feature = "train")]
use anyhow::{bail, Context};
use clap::Args;
#[cfg(feature = "train")]
use facealign::bench::{self, BenchOptions};
#[cfg(feature = "train")]
use facealign::data::DataSpec;
use facealign::infer::{ModelFile, OpTime, TractNet, TractOptions, Weights};
#[cfg(feature = "train")]
use facealign::model::ModelConfig;
use serde::Serialize;

use super::runtime::Runtime;

#[derive(Args)]
pub struct BenchArgs {
    /// tract: batch-1 latency of trained models on the pure-Rust runtime; torch: training and
    /// inference speed of an architecture (needs the `train` feature).
    #[arg(long, value_enum, default_value_t = Runtime::Torch)]
    runtime: Runtime,
    /// torch: an architecture (mobilenet_v2, efficientnet_b0, efficientnet_b3, asmnet, heatmap).
    /// tract: a trained model (shipped name, run folder or .safetensors); repeat for several
    /// (default: every shipped model).
    #[arg(long)]
    model: Vec<String>,
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
    /// tract: also time every operator of each model's batch-1 plan (1 thread) and print where
    /// the time goes, summed per operator kind.
    #[arg(long)]
    profile: bool,
}

pub fn run(a: BenchArgs) -> Result<()> {
    if a.profile && a.runtime != Runtime::Tract {
        anyhow::bail!("--profile times the operators of tract's plan: add --runtime tract");
    }
    match a.runtime {
        Runtime::Tract => tract(&a),
        Runtime::Torch => torch(a),
    }
}

/// One row of `bench --runtime tract`.
#[derive(Serialize)]
struct LatencyRow {
    model: String,
    input: usize,
    /// Median batch-1 latency per face, ms, tract at 1 and 2 threads.
    tract_1t_ms: f64,
    tract_2t_ms: f64,
    /// The same on torch with one libtorch thread (builds with `train` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    torch_1t_ms: Option<f64>,
    /// Per operator kind, 1 thread, slowest first (`--profile`).
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<Vec<OpTime>>,
}

/// Median of `steps` timed calls after `warmup` untimed ones, ms.
fn median_ms(warmup: usize, steps: usize, mut f: impl FnMut() -> Result<()>) -> Result<f64> {
    for _ in 0..warmup {
        f()?;
    }
    let mut t = Vec::with_capacity(steps);
    for _ in 0..steps.max(1) {
        let t0 = Instant::now();
        f()?;
        t.push(t0.elapsed().as_secs_f64() * 1e3);
    }
    t.sort_by(f64::total_cmp);
    Ok(t[t.len() / 2])
}

fn shipped_models() -> Result<Vec<String>> {
    let dir = &super::locations().models;
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("{}: {e}", dir.display()))?
        .filter_map(|e| {
            let p = e.ok()?.path();
            (p.extension()? == "safetensors").then(|| p.display().to_string())
        })
        .collect();
    names.sort();
    Ok(names)
}

fn tract(a: &BenchArgs) -> Result<()> {
    let models = if a.model.is_empty() {
        shipped_models()?
    } else {
        a.model.clone()
    };
    let mut rows = Vec::new();
    for m in &models {
        let path = super::locations().resolve(m)?;
        let w = Weights::read(&path)?;
        let file = ModelFile::from_metadata(&path, w.metadata().clone())?;
        let s = file.crop.size as usize;
        // A mid-grey crop: the latency of these networks does not depend on the pixels.
        let crop = vec![0.5f32; 3 * s * s];
        let mut ms = [0.0; 2];
        let mut profile = None;
        for (k, threads) in [1usize, 2].into_iter().enumerate() {
            let net = TractNet::from_weights(&w, TractOptions::with_threads(threads))?;
            ms[k] = median_ms(a.warmup, a.steps, || {
                net.run(&crop, 1)?;
                Ok(())
            })?;
            if a.profile && threads == 1 {
                profile = Some(net.profile(a.steps)?);
            }
        }
        rows.push(LatencyRow {
            model: file.name.clone(),
            input: s,
            tract_1t_ms: ms[0],
            tract_2t_ms: ms[1],
            torch_1t_ms: torch_latency(&path, &crop, a.warmup, a.steps)?,
            profile,
        });
    }
    if a.json {
        println!("{}", serde_json::to_string(&rows)?);
    } else {
        println!(
            "batch-1 latency per face, median of {} runs (ms); tract kernels: {}\n",
            a.steps.max(1),
            facealign::detect::kernels::choose_tract_kernels()
        );
        println!("| model | input | tract, 1 thread | tract, 2 threads | torch, 1 thread |");
        println!("|---|---|---|---|---|");
        for r in &rows {
            println!(
                "| {} | {} px | {:.2} | {:.2} | {} |",
                r.model,
                r.input,
                r.tract_1t_ms,
                r.tract_2t_ms,
                r.torch_1t_ms
                    .map_or("(needs --features train)".to_string(), |t| format!(
                        "{t:.2}"
                    ))
            );
        }
        for r in &rows {
            let Some(p) = &r.profile else { continue };
            let total: f64 = p.iter().map(|o| o.ms).sum();
            println!(
                "\n{} ({} px), tract 1 thread, per operator (median of {} runs; sum {total:.2} ms)\n",
                r.model,
                r.input,
                a.steps.max(1)
            );
            println!("| operator | nodes | ms | share |");
            println!("|---|---|---|---|");
            for o in p {
                println!(
                    "| {} | {} | {:.3} | {:.1} % |",
                    o.op,
                    o.nodes,
                    o.ms,
                    100.0 * o.ms / total.max(f64::MIN_POSITIVE)
                );
            }
        }
    }
    Ok(())
}

#[cfg(feature = "train")]
fn torch_latency(
    path: &std::path::Path,
    crop: &[f32],
    warmup: usize,
    steps: usize,
) -> Result<Option<f64>> {
    use facealign::infer::CropNet;
    tch::set_num_threads(1);
    let m = facealign::bundle::LoadedModel::load_path(path)?;
    Ok(Some(median_ms(warmup, steps, || {
        m.run(crop, 1)?;
        Ok(())
    })?))
}

#[cfg(not(feature = "train"))]
fn torch_latency(
    _path: &std::path::Path,
    _crop: &[f32],
    _warmup: usize,
    _steps: usize,
) -> Result<Option<f64>> {
    Ok(None)
}

#[cfg(not(feature = "train"))]
fn torch(_a: BenchArgs) -> Result<()> {
    anyhow::bail!(
        "{}",
        super::needs_train("`facealign bench --runtime torch`")
    )
}

#[cfg(feature = "train")]
fn torch(a: BenchArgs) -> Result<()> {
    let name = match a.model.as_slice() {
        [] => "mobilenet_v2".to_string(),
        [one] => one.clone(),
        _ => bail!(
            "--runtime torch benchmarks one architecture; got {:?}",
            a.model
        ),
    };
    let model: ModelConfig = toml::from_str(&format!("arch = \"{name}\""))
        .with_context(|| format!("unknown model `{name}`"))?;
    let ds = if a.no_data {
        None
    } else {
        Some(DataSpec::parse(&a.data)?.load()?)
    };
    let opts = BenchOptions {
        model,
        model_name: name.clone(),
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
            "train: {:.1} img/s (batch {}, median step {:.1} ms, the training step with the {} objective + Adam)",
            r.train_img_per_s, r.batch, r.train_step_ms, r.loss
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
