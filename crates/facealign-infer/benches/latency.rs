//! Batch-1 latency of every shipped model on tract, 1 and 2 threads, per-size and symbolic plans.
//!
//! `cargo bench -p facealign-infer --bench latency` (filter e.g. `-- mtfl68`). Names read
//! `tract_b1/{model}/{S}px/{threads}t/{plans}`.
use std::hint::black_box;
use std::path::PathBuf;

use criterion::{criterion_group, criterion_main, Criterion};
use facealign_infer::{BatchPlans, TractNet, TractOptions};

fn models() -> Vec<(String, PathBuf)> {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../models"));
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(&dir)
        .expect("the models folder exists")
        .filter_map(|e| {
            let p = e.ok()?.path();
            let name = p.file_stem()?.to_string_lossy().into_owned();
            (p.extension()? == "safetensors").then_some((name, p))
        })
        .collect();
    out.sort();
    out
}

fn latency(c: &mut Criterion) {
    let mut group = c.benchmark_group("tract_b1");
    group.sample_size(50);
    for (name, path) in models() {
        for threads in [1, 2] {
            for (plans, tag) in [
                (BatchPlans::PerSize, "per_size"),
                (BatchPlans::Symbolic, "symbolic"),
            ] {
                let opts = TractOptions {
                    threads,
                    batch_plans: plans,
                    ..TractOptions::default()
                };
                let net = TractNet::from_model_file(&path, opts).expect("the model builds");
                let s = net.input_size();
                let x: Vec<f32> = (0..3 * s * s).map(|k| (k % 255) as f32 / 255.0).collect();
                group.bench_function(format!("{name}/{s}px/{threads}t/{tag}"), |b| {
                    b.iter(|| net.run(black_box(&x), 1).expect("runs"));
                });
            }
        }
    }
    group.finish();
}

criterion_group!(benches, latency);
criterion_main!(benches);
