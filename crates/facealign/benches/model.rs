//! Criterion benches of the cases `facealign bench` reports: one training step (forward +
//! backward + Adam with the ACR loss) and batch-1 inference, for MobileNetV2 with 136 outputs.
//! Parameters are in the benchmark names. Run with `cargo bench -p facealign`.
use criterion::{criterion_group, criterion_main, Criterion};
use facealign::adam::Adam;
use facealign::config::OptimConfig;
use facealign::loss::AcrLossConfig;
use facealign::model::{build, ModelConfig};
use tch::{nn::VarStore, Device, Kind, Tensor};

fn train_and_infer(c: &mut Criterion) {
    // As the `facealign` binary does (FACEALIGN_MALLOC=system for glibc's defaults).
    facealign::alloc::tune_allocator();
    tch::set_num_threads(2);
    for (size, batch) in [(112i64, 32i64), (224, 16)] {
        let vs = VarStore::new(Device::Cpu);
        let net = build(&ModelConfig::default(), vs.root(), 68).expect("MobileNetV2 builds");
        let mut opt = Adam::new(&vs, &OptimConfig::default());
        let loss = AcrLossConfig::default()
            .init()
            .expect("default ACR config is valid");
        let xs = Tensor::rand([batch, 3, size, size], (Kind::Float, Device::Cpu));
        let ys = Tensor::rand([batch, 136], (Kind::Float, Device::Cpu)) - 0.5;
        let phi = Tensor::rand([batch, 136], (Kind::Float, Device::Cpu));
        let mut g = c.benchmark_group("mobilenet_v2");
        g.sample_size(10);
        g.bench_function(
            format!("train_step/acr/size{size}/batch{batch}/threads2"),
            |b| {
                b.iter(|| {
                    let out = net.forward_t(&xs, true);
                    let l = loss.forward(&out.landmarks, &ys, &phi);
                    opt.zero_grad();
                    l.backward();
                    opt.step(1e-4);
                })
            },
        );
        let x1 = Tensor::rand([1, 3, size, size], (Kind::Float, Device::Cpu));
        g.bench_function(format!("infer/size{size}/batch1/threads2"), |b| {
            b.iter(|| tch::no_grad(|| net.forward_t(&x1, false)))
        });
        g.finish();
    }
}

criterion_group!(benches, train_and_infer);
criterion_main!(benches);
