//! End-to-end photo latency (issue 17: ≤ 10 ms per 500×375 one-face photo, decode included) and
//! where it goes: JPEG decode, face detection, landmarks without and with the default refinement
//! (two roll-aligned re-crops, as `facealign predict`), and the whole pipeline, on the default
//! 68-point model and detector, tract with one thread.
//!
//! `cargo bench -p facealign-infer --bench end_to_end`. Names read `photo_500x375/{stage}`.
use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion};
use facealign_core::imageio::decode_rgb_bytes;
use facealign_core::{BoxXywh, SchemeId};
use facealign_infer::{Locations, Predictor, Refine, TractNet, TractOptions};

mod common;
use common::photos;

fn end_to_end(c: &mut Criterion) {
    let loc = Locations::discover();
    let path = loc
        .default_model(SchemeId::Ibug68)
        .expect("the default model exists");
    let (model, net) =
        TractNet::open(&path, TractOptions::default()).expect("the default model opens");
    let mut p = Predictor::new(
        model,
        Box::new(net),
        facealign_infer::detect::DEFAULT_DETECTOR,
        &loc,
    )
    .expect("the default detector opens");
    let jpegs: Vec<Vec<u8>> = photos::FRAMES
        .iter()
        .map(|&f| photos::jpeg(&photos::photo(f)))
        .collect();
    let name = Path::new("photo.jpg");
    let imgs: Vec<_> = jpegs
        .iter()
        .map(|b| decode_rgb_bytes(b, name).expect("decodes"))
        .collect();
    let boxes: Vec<BoxXywh> = imgs
        .iter()
        .map(|img| {
            let d = p.detector.detect(img).expect("detects");
            assert_eq!(d.len(), 1, "one face per benchmark photo");
            d[0].bbox
        })
        .collect();

    let mut g = c.benchmark_group("photo_500x375");
    g.sample_size(40);
    let mut k = 0;
    let mut next = || {
        k = (k + 1) % jpegs.len();
        k
    };
    g.bench_function("decode_jpeg", |b| {
        b.iter(|| decode_rgb_bytes(black_box(&jpegs[next()]), name).expect("decodes"))
    });
    g.bench_function("detect", |b| {
        b.iter(|| {
            p.detector
                .detect(black_box(&imgs[next()]))
                .expect("detects")
        })
    });
    // Every detector on the same photos (the default's pre-processing and network dominate).
    for name in facealign_infer::detect::DETECTORS {
        let dir = loc.detector_dir(name);
        let mut det = facealign_infer::detect::open(name, &dir).expect("the detector opens");
        g.bench_function(format!("detect_{name}"), |b| {
            b.iter(|| det.detect(black_box(&imgs[next()])).expect("detects"))
        });
    }
    for passes in [0, 2] {
        p.refine = Refine {
            passes,
            flip: false,
            still_px: 0.0,
        };
        g.bench_function(format!("landmarks_refine{passes}"), |b| {
            b.iter(|| {
                let i = next();
                p.landmarks_for_boxes(black_box(&imgs[i]), &boxes[i..=i])
                    .expect("predicts")
            })
        });
    }
    // What `facealign predict` does per photo (default refinement: two passes).
    g.bench_function("decode_detect_landmarks", |b| {
        b.iter(|| {
            let img = decode_rgb_bytes(black_box(&jpegs[next()]), name).expect("decodes");
            p.predict(&img).expect("predicts")
        })
    });
    g.finish();
}

criterion_group!(benches, end_to_end);
criterion_main!(benches);
