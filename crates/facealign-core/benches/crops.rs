//! Crops per second of the parallel loader with augmentation (128×128 crops):
//! MTFL (80×80 source images, 5 points) and InfAnFace (320×320 sources, 68 points).
//! Reads `../shared/data` (skips a dataset that is missing). Run: `cargo bench -p facealign-core --bench crops`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use facealign_core::{
    AugmentConfig, CropLoader, CropSpec, Dataset, ImageSource, LoaderConfig, Point, Sample, Scheme,
    SchemeId,
};

const N_SAMPLES: usize = 256;
const SIZE: u32 = 128;

fn shared(rel: &str) -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared/data")).join(rel)
}

/// First `N_SAMPLES` lines of MTFL `train.txt`: `path x1..x5 y1..y5` (0-based).
fn mtfl() -> Option<Dataset> {
    let root = shared("mtfl");
    let text = std::fs::read_to_string(root.join("train.txt")).ok()?;
    let samples = text
        .lines()
        .take(N_SAMPLES)
        .filter_map(|line| {
            let tok: Vec<&str> = line.split_whitespace().collect();
            let v: Vec<f32> = tok
                .get(1..11)?
                .iter()
                .filter_map(|t| t.parse().ok())
                .collect();
            (v.len() == 10).then(|| {
                let pts: Vec<Point> = (0..5).map(|i| [v[i], v[i + 5]]).collect();
                Sample::new(tok[0], ImageSource::Path(root.join(tok[0])), pts)
            })
        })
        .collect();
    Some(dataset(Scheme::get(SchemeId::Five), samples))
}

/// InfAnFace training images with their 1-based `.pts`.
fn infanface() -> Option<Dataset> {
    let dir = shared("infanface/train");
    let mut jpgs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    jpgs.sort();
    let samples = jpgs
        .into_iter()
        .take(N_SAMPLES)
        .filter_map(|p| {
            let pts = read_pts(&p.with_extension("pts"))?;
            Some(Sample::new(
                p.display().to_string(),
                ImageSource::Path(p),
                pts,
            ))
        })
        .collect();
    Some(dataset(Scheme::get(SchemeId::Ibug68), samples))
}

fn read_pts(path: &Path) -> Option<Vec<Point>> {
    let text = std::fs::read_to_string(path).ok()?;
    let body = &text[text.find('{')? + 1..text.rfind('}')?];
    let pts: Vec<Point> = body
        .lines()
        .filter_map(|l| {
            let v: Vec<f32> = l
                .split_whitespace()
                .filter_map(|t| t.parse().ok())
                .collect();
            (v.len() == 2).then(|| [v[0] - 1.0, v[1] - 1.0])
        })
        .collect();
    (pts.len() == 68).then_some(pts)
}

fn dataset(scheme: Scheme, samples: Vec<Sample>) -> Dataset {
    Dataset {
        format: "bench".into(),
        source: "bench".into(),
        scheme,
        samples,
        subsets: BTreeMap::new(),
    }
}

fn bench_crops(c: &mut Criterion) {
    let mut group = c.benchmark_group("crops");
    group.sample_size(10);
    for (name, ds) in [("mtfl80", mtfl()), ("infanface320", infanface())] {
        let Some(ds) = ds else {
            eprintln!("skipping {name}: data not found under ../shared/data");
            continue;
        };
        let n = ds.samples.len();
        let config = LoaderConfig {
            crop: CropSpec::new(SIZE),
            batch_size: 32,
            augment: Some(AugmentConfig::default()),
            ..LoaderConfig::default()
        };
        let loader = Arc::new(CropLoader::new(ds, config).expect("bench dataset is valid"));
        group.throughput(Throughput::Elements(n as u64));
        let mut epoch = 0u64;
        group.bench_function(format!("{name}_to_{SIZE}_aug_n{n}_epoch"), |b| {
            b.iter(|| {
                epoch += 1;
                for batch in loader.iter_epoch(epoch) {
                    std::hint::black_box(batch.expect("bench images load"));
                }
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench_crops);
criterion_main!(benches);
