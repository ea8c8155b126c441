//! Criterion benches of the cases `facealign bench` reports: one training step (forward +
//! backward + Adam with the ACR loss) and batch-1 inference, for MobileNetV2 with 136 outputs.
//! Both use `facealign_train::bench::BenchStep` (the training step `facealign train` runs, on a synthetic
//! batch), the code `facealign bench` times. Parameters are in the
//! benchmark names. Run with `cargo bench -p facealign`.
use criterion::{criterion_group, criterion_main, Criterion};
use facealign_train::bench::BenchStep;
use facealign_train::model::ModelConfig;

fn train_and_infer(c: &mut Criterion) {
    // As the `facealign` binary does (FACEALIGN_MALLOC=system for glibc's defaults).
    facealign_train::alloc::tune_allocator();
    tch::set_num_threads(2);
    for (size, batch) in [(112u32, 32usize), (224, 16)] {
        let mut train =
            BenchStep::new(&ModelConfig::default(), 68, batch, size).expect("MobileNetV2 builds");
        let mut g = c.benchmark_group("mobilenet_v2");
        g.sample_size(10);
        g.bench_function(
            format!("train_step/acr/size{size}/batch{batch}/threads2"),
            |b| b.iter(|| train.step().expect("a finite loss")),
        );
        let infer1 = train.infer(1);
        g.bench_function(format!("infer/size{size}/batch1/threads2"), |b| {
            b.iter(&infer1)
        });
        g.finish();
    }
}

criterion_group!(benches, train_and_infer);
criterion_main!(benches);
