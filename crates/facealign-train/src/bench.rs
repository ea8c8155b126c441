//! `facealign bench`: training and inference speed, and the data pipeline's crops per second.
//!
//! Training step = [`crate::train::TrainStep`], the code `facealign train` runs, on one synthetic
//! batch of `[batch, 3, S, S]` random images and random targets: forward, the ACR objective (its
//! Φ from the clean-shape cache, as in training; L2 when no landmark scheme has `points` points),
//! backward, Adam. Times are medians over `steps` after `warmup` steps: memory first touched on
//! these machines is slow, so the first steps are never counted.
use std::time::Instant;

use serde::Serialize;
use tch::{Device, Kind, Tensor};

use crate::error::Result;
use crate::model::ModelConfig;
use crate::train::TrainStep;
use facealign_core::loader::{CropLoader, LoaderConfig};
use facealign_core::mixed::MixedBatch;
use facealign_core::{AugmentConfig, CropSpec, Dataset};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub model: ModelConfig,
    pub model_name: String,
    pub size: u32,
    pub batch: usize,
    pub points: usize,
    pub steps: usize,
    pub warmup: usize,
    pub threads: usize,
}

/// Results; the JSON keys are shared with `bench/pytorch_reference.py`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub stack: String,
    pub model: String,
    /// The training step's loss (`acr`; `l2` when no landmark scheme has `points` points).
    pub loss: String,
    pub size: u32,
    pub batch: usize,
    pub threads: usize,
    pub points: usize,
    pub train_img_per_s: f64,
    pub train_step_ms: f64,
    pub infer_ms_b1: f64,
    pub infer_img_per_s_b32: f64,
    /// Data pipeline (decode + crop + augment) crops per second; absent without data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crops_per_s: Option<f64>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Time `f` `warmup + steps` times; median seconds of the last `steps`.
fn time_median(warmup: usize, steps: usize, mut f: impl FnMut()) -> f64 {
    for _ in 0..warmup {
        f();
    }
    let times = (0..steps.max(1))
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_secs_f64()
        })
        .collect();
    median(times)
}

/// The measured training step on a synthetic batch, shared by [`run`] and the criterion bench
/// (`benches/model.rs`) so both time the same thing.
pub struct BenchStep {
    step: TrainStep,
    batch: MixedBatch,
    loss: &'static str,
    k: usize,
    size: i64,
}

impl BenchStep {
    /// A freshly initialised `model` with `points` landmarks ([`TrainStep::synthetic`]).
    pub fn new(model: &ModelConfig, points: usize, batch: usize, size: u32) -> Result<BenchStep> {
        let (step, batch, loss) = TrainStep::synthetic(model, points, batch, size)?;
        Ok(BenchStep {
            step,
            batch,
            loss,
            k: 0,
            size: i64::from(size),
        })
    }

    /// The objective's loss (`acr`, or `l2` without a scheme of that many points).
    pub fn loss(&self) -> &'static str {
        self.loss
    }

    /// One training step (lr 1e-4).
    pub fn step(&mut self) -> Result<()> {
        self.k += 1;
        self.step.run(&self.batch, 0, self.k, 1e-4).map(|_| ())
    }

    /// Inference on random `[n, 3, size, size]` inputs, without gradients: a closure to time.
    pub fn infer(&self, n: i64) -> impl Fn() + '_ {
        let s = self.size;
        let x = Tensor::rand([n, 3, s, s], (Kind::Float, Device::Cpu));
        move || {
            let _ = tch::no_grad(|| self.step.net.forward_t(&x, false));
        }
    }
}

/// Run the model benchmarks (and the pipeline one when `data` is given).
pub fn run(opts: &BenchOptions, data: Option<&Dataset>) -> Result<BenchReport> {
    tch::set_num_threads(opts.threads as i32);
    tch::manual_seed(0);
    let mut train = BenchStep::new(&opts.model, opts.points, opts.batch, opts.size)?;
    let mut failed = None;
    let step = time_median(opts.warmup, opts.steps, || {
        if let Err(e) = train.step() {
            failed.get_or_insert(e);
        }
    });
    if let Some(e) = failed {
        return Err(e);
    }
    let infer1 = time_median(opts.warmup, opts.steps.max(10), train.infer(1));
    let infer32 = time_median(opts.warmup.min(2), opts.steps.clamp(1, 5), train.infer(32));
    let crops_per_s = match data {
        Some(ds) => Some(crops_per_second(ds, opts.size, 256.min(ds.samples.len()))?),
        None => None,
    };
    Ok(BenchReport {
        stack: "facealign (tch-rs)".into(),
        model: opts.model_name.clone(),
        loss: train.loss().into(),
        size: opts.size,
        batch: opts.batch,
        threads: opts.threads,
        points: opts.points,
        train_img_per_s: opts.batch as f64 / step,
        train_step_ms: step * 1e3,
        infer_ms_b1: infer1 * 1e3,
        infer_img_per_s_b32: 32.0 / infer32,
        crops_per_s,
    })
}

/// Decode + crop + augment `n` samples (a warm cache excluded: the first pass fills it).
pub fn crops_per_second(ds: &Dataset, size: u32, n: usize) -> Result<f64> {
    let loader = CropLoader::new(
        ds.clone(),
        LoaderConfig {
            crop: CropSpec::new(size),
            batch_size: 32,
            augment: Some(AugmentConfig::default()),
            ..LoaderConfig::default()
        },
    )?;
    let idx: Vec<usize> = (0..n).collect();
    let _ = loader.batch_of(0, &idx)?;
    let t = Instant::now();
    for chunk in idx.chunks(32) {
        let _ = loader.batch_of(1, chunk)?;
    }
    Ok(n as f64 / t.elapsed().as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_even_and_odd() {
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn tiny_bench_reports_positive_rates() {
        let opts = BenchOptions {
            model: ModelConfig::default(),
            model_name: "mobilenet_v2".into(),
            size: 32,
            batch: 2,
            points: 5,
            steps: 2,
            warmup: 1,
            threads: 1,
        };
        let r = run(&opts, None).unwrap();
        assert!(r.train_img_per_s > 0.0 && r.infer_ms_b1 > 0.0 && r.infer_img_per_s_b32 > 0.0);
        assert!(
            (r.train_img_per_s - 2.0 / (r.train_step_ms / 1e3)).abs() < 1e-6 * r.train_img_per_s
        );
        let json = serde_json::to_value(&r).unwrap();
        for k in [
            "model",
            "size",
            "batch",
            "threads",
            "train_img_per_s",
            "infer_ms_b1",
        ] {
            assert!(json.get(k).is_some(), "{k}");
        }
    }
}
