//! The parallel crop loader: dataset samples → batches of model inputs and crop_u targets.
//!
//! Each sample is cropped (SPEC Decision 8, or a calibrated dataset box), optionally augmented
//! ([`crate::augment`]) and warped once; samples of a batch are produced in parallel with rayon and
//! collected in order, and every random choice is seeded by `(seed, epoch, sample index)`, so a
//! batch is byte-identical whatever the number of threads. Decoded source images are kept in a
//! cache bounded by a byte budget (the first images to arrive stay; later ones are decoded on each
//! use once the budget is spent), which holds whole small datasets such as MTFL (80×80 px).
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use image::RgbImage;
use rand::seq::SliceRandom;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::augment::{augment_crop, rng_for, AugmentConfig, Augmentation};
use crate::error::{Error, Result};
use crate::geometry::{
    crop_from_box, crop_from_landmarks, crop_px_to_u, warp_rgb, Affine2, BoxCalibration, CropSpec,
};
use crate::sample::{BoxXywh, Dataset, ImageSource, Sample};

/// Where the crop of a sample comes from.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum CropSource {
    /// Landmark extents × enlarge (SPEC Decision 8; training and benchmark evaluation).
    #[default]
    Landmarks,
    /// The sample's dataset box (`Sample::bbox`) after a calibration.
    Box(BoxCalibration),
    /// The box of the labelled landmarks after a calibration: a scheme whose points span less
    /// of the face than the model's (5 points: eyes to mouth) is cropped like the model's
    /// training faces (for MTFL's 5 points → iBUG-68: `dy = 0.19`, `scale = 2.02`, measured on
    /// the 7,262 faces that have both; docs/RESULTS.md).
    LandmarksCalibrated(BoxCalibration),
    /// The sample's `crop_square` (the crop a cascade's refinement pass takes around a first
    /// model's prediction, aligned with its eye line), at the loader's crop protocol.
    Aligned,
}

/// Loader settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoaderConfig {
    pub crop: CropSpec,
    pub crop_source: CropSource,
    pub batch_size: usize,
    /// Shuffle the sample order each epoch (seeded); false = dataset order (evaluation).
    pub shuffle: bool,
    /// Drop a last incomplete batch.
    pub drop_last: bool,
    pub seed: u64,
    /// Augmentation; `None` for evaluation.
    pub augment: Option<AugmentConfig>,
    /// Byte budget of the decoded-image cache (0 disables it).
    pub cache_bytes: usize,
}

impl Default for LoaderConfig {
    fn default() -> Self {
        LoaderConfig {
            crop: CropSpec::default(),
            crop_source: CropSource::Landmarks,
            batch_size: 32,
            shuffle: true,
            drop_last: false,
            seed: 0,
            augment: None,
            cache_bytes: 1 << 30,
        }
    }
}

impl LoaderConfig {
    /// An evaluation loader: dataset order, no augmentation, keep the last batch.
    pub fn eval(crop: CropSpec, batch_size: usize) -> LoaderConfig {
        LoaderConfig {
            crop,
            batch_size,
            shuffle: false,
            drop_last: false,
            augment: None,
            ..LoaderConfig::default()
        }
    }
}

/// A batch of crops.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    /// N×3×S×S, RGB in [0, 1], CHW per sample.
    pub images: Vec<f32>,
    /// N×2M crop_u, interleaved `x0, y0, x1, y1, …` (re-labelled when flipped). An unlabelled
    /// point holds `0, 0` here (a finite placeholder, so no NaN can reach a loss or its
    /// gradient); [`Batch::labelled`] says which points are real.
    pub landmarks: Vec<f32>,
    /// N×M, 1.0 where the point is labelled, 0.0 where the dataset gives no position. Moves with
    /// the flip permutation like the landmarks.
    pub labelled: Vec<f32>,
    /// Per sample, image_px → crop_px including augmentation (and the mirror when flipped).
    pub crop_from_image: Vec<Affine2>,
    /// Dataset indices of the samples.
    pub indices: Vec<usize>,
    /// Per sample, whether it was mirrored (then landmark i of the batch is landmark
    /// `flip[i]` of the source, at the mirrored position).
    pub flipped: Vec<bool>,
    /// Crop side S.
    pub size: u32,
    /// Landmarks per sample M.
    pub n_points: usize,
}

impl Batch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// True when the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

type Slot = Arc<Mutex<Option<Arc<RgbImage>>>>;

/// Decoded source images, bounded by a byte budget. Each file is decoded once while it fits;
/// concurrent requests for the same file wait for one decode.
#[derive(Debug)]
pub struct ImageCache {
    budget: usize,
    used: AtomicUsize,
    slots: Mutex<HashMap<PathBuf, Slot>>,
}

impl ImageCache {
    /// A cache holding at most `budget` bytes of pixels.
    pub fn new(budget: usize) -> ImageCache {
        ImageCache {
            budget,
            used: AtomicUsize::new(0),
            slots: Mutex::new(HashMap::new()),
        }
    }

    /// Bytes of pixels held.
    pub fn bytes(&self) -> usize {
        self.used.load(Ordering::Relaxed)
    }

    /// The decoded image of `source` (in-memory images are returned as they are).
    pub fn get(&self, source: &ImageSource) -> Result<Arc<RgbImage>> {
        let path = match source {
            ImageSource::Path(p) if self.budget > 0 => p,
            _ => return source.load_rgb(),
        };
        let slot: Slot = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            slots.entry(path.clone()).or_default().clone()
        };
        let mut held = slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(img) = held.as_ref() {
            return Ok(img.clone());
        }
        let img = source.load_rgb()?;
        let bytes = img.as_raw().len();
        if self.used.fetch_add(bytes, Ordering::Relaxed) + bytes <= self.budget {
            *held = Some(img.clone());
        } else {
            self.used.fetch_sub(bytes, Ordering::Relaxed);
        }
        Ok(img)
    }
}

/// `sample `ID` (IMAGE)`: how errors about a sample name it, with its image file.
pub fn sample_label(sample: &Sample) -> String {
    format!("sample `{}` ({})", sample.id, sample.image.display_name())
}

/// `e` as an error about `sample`, naming its id and image file.
pub fn for_sample(sample: &Sample, e: &Error) -> Error {
    Error::invalid(sample_label(sample), e.to_string())
}

/// The crop of `sample` by `source`; errors name the sample and its image file.
pub fn sample_crop(sample: &Sample, spec: &CropSpec, source: &CropSource) -> Result<Affine2> {
    let named = |e: Error| for_sample(sample, &e);
    match source {
        CropSource::Landmarks => crop_from_landmarks(&sample.landmarks, spec).map_err(named),
        CropSource::LandmarksCalibrated(calib) => {
            let bbox = BoxXywh::around(&sample.landmarks).ok_or_else(|| {
                Error::invalid(
                    sample_label(sample),
                    "has no labelled landmark to crop around",
                )
            })?;
            crop_from_box(&bbox, spec, calib).map_err(named)
        }
        CropSource::Box(calib) => {
            let bbox = sample.bbox.ok_or_else(|| {
                Error::invalid(sample_label(sample), "has no face box to crop from")
            })?;
            crop_from_box(&bbox, spec, calib).map_err(named)
        }
        CropSource::Aligned => {
            let sq = sample.crop_square.ok_or_else(|| {
                Error::invalid(sample_label(sample), "has no aligned crop square")
            })?;
            sq.crop(spec).map_err(named)
        }
    }
}

/// Crop one sample for inference or display: from its landmarks when it has finite ones,
/// otherwise from its box (identity calibration). Returns the S×S crop and `crop_from_image`.
pub fn load_crop(sample: &Sample, spec: &CropSpec) -> Result<(RgbImage, Affine2)> {
    let has_landmarks = sample
        .landmarks
        .iter()
        .any(|p| p[0].is_finite() && p[1].is_finite());
    let source = if has_landmarks || sample.bbox.is_none() {
        CropSource::Landmarks
    } else {
        CropSource::Box(BoxCalibration::IDENTITY)
    };
    let crop_from_image = sample_crop(sample, spec, &source)?;
    let img = sample.image.load_rgb()?;
    Ok((
        warp_rgb(&img, &crop_from_image, spec.size)?,
        crop_from_image,
    ))
}

/// One produced sample.
struct Item {
    chw: Vec<f32>,
    landmarks_u: Vec<f32>,
    labelled: Vec<f32>,
    crop_from_image: Affine2,
    flipped: bool,
}

/// Batches of crops over a dataset.
#[derive(Debug)]
pub struct CropLoader {
    dataset: Arc<Dataset>,
    config: LoaderConfig,
    cache: ImageCache,
}

impl CropLoader {
    /// A loader; checks the settings and that every sample has the scheme's number of landmarks.
    pub fn new(dataset: impl Into<Arc<Dataset>>, config: LoaderConfig) -> Result<CropLoader> {
        let dataset = dataset.into();
        dataset.ensure_not_empty()?;
        config.crop.validate()?;
        if config.batch_size == 0 {
            return Err(Error::invalid("batch size", "must be ≥ 1"));
        }
        if let Some(a) = &config.augment {
            a.validate()?;
        }
        let m = dataset.n_points();
        if let Some(s) = dataset.samples.iter().find(|s| s.landmarks.len() != m) {
            return Err(Error::invalid(
                sample_label(s),
                format!(
                    "has {} landmarks, the {} scheme has {m}",
                    s.landmarks.len(),
                    dataset.scheme.name()
                ),
            ));
        }
        let cache = ImageCache::new(config.cache_bytes);
        Ok(CropLoader {
            dataset,
            config,
            cache,
        })
    }

    /// The dataset.
    pub fn dataset(&self) -> &Dataset {
        &self.dataset
    }

    /// The settings.
    pub fn config(&self) -> &LoaderConfig {
        &self.config
    }

    /// The image cache.
    pub fn cache(&self) -> &ImageCache {
        &self.cache
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.dataset.samples.len(), self.config.batch_size);
        if self.config.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// True when an epoch has no batch (fewer samples than a batch with `drop_last`).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The sample order of `epoch`: a seeded permutation, or dataset order without shuffling.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.dataset.samples.len()).collect();
        if self.config.shuffle {
            let mut rng = rng_for(self.config.seed, epoch, 0, 0x7368_7566); // "shuf"
            order.shuffle(&mut rng);
        }
        order
    }

    /// Batch `batch_index` of `epoch`.
    pub fn batch(&self, epoch: u64, batch_index: usize) -> Result<Batch> {
        let order = self.order(epoch);
        let b = self.config.batch_size;
        let start = batch_index * b;
        if batch_index >= self.len() {
            return Err(Error::invalid(
                "batch index",
                format!("{batch_index} ≥ {} batches per epoch", self.len()),
            ));
        }
        self.batch_of(epoch, &order[start..(start + b).min(order.len())])
    }

    /// A batch of the given dataset indices (augmentation drawn for `epoch`).
    pub fn batch_of(&self, epoch: u64, indices: &[usize]) -> Result<Batch> {
        let n_samples = self.dataset.samples.len();
        if let Some(&i) = indices.iter().find(|&&i| i >= n_samples) {
            return Err(Error::invalid(
                "sample index",
                format!("{i} ≥ {n_samples} samples"),
            ));
        }
        let items: Vec<Item> = indices
            .par_iter()
            .map(|&i| self.item(epoch, i))
            .collect::<Result<_>>()?;
        let (s, m) = (self.config.crop.size, self.dataset.n_points());
        let mut batch = Batch {
            images: Vec::with_capacity(items.len() * 3 * (s * s) as usize),
            landmarks: Vec::with_capacity(items.len() * 2 * m),
            labelled: Vec::with_capacity(items.len() * m),
            crop_from_image: Vec::with_capacity(items.len()),
            indices: indices.to_vec(),
            flipped: Vec::with_capacity(items.len()),
            size: s,
            n_points: m,
        };
        for it in items {
            batch.images.extend_from_slice(&it.chw);
            batch.landmarks.extend_from_slice(&it.landmarks_u);
            batch.labelled.extend_from_slice(&it.labelled);
            batch.crop_from_image.push(it.crop_from_image);
            batch.flipped.push(it.flipped);
        }
        Ok(batch)
    }

    /// All batches of `epoch`, in order.
    pub fn iter_epoch(&self, epoch: u64) -> impl Iterator<Item = Result<Batch>> + '_ {
        (0..self.len()).map(move |b| self.batch(epoch, b))
    }

    /// Produce the batches of `epoch` on a background thread, at most `depth` ahead of the
    /// consumer. Dropping the receiver stops the thread after its current batch.
    pub fn spawn_epoch(
        self: &Arc<Self>,
        epoch: u64,
        depth: usize,
    ) -> std::sync::mpsc::Receiver<Result<Batch>> {
        let (tx, rx) = std::sync::mpsc::sync_channel(depth.max(1));
        let me = Arc::clone(self);
        std::thread::spawn(move || {
            for b in 0..me.len() {
                if tx.send(me.batch(epoch, b)).is_err() {
                    break;
                }
            }
        });
        rx
    }

    fn item(&self, epoch: u64, index: usize) -> Result<Item> {
        let sample = &self.dataset.samples[index];
        let size = self.config.crop.size;
        let crop = sample_crop(sample, &self.config.crop, &self.config.crop_source)?;
        let aug = match &self.config.augment {
            Some(cfg) => cfg.sample(size, self.config.seed, epoch, index as u64),
            None => Augmentation::identity(),
        };
        let img = self.cache.get(&sample.image)?;
        let (crop_img, pts_crop_px, crop_from_image) = augment_crop(
            &img,
            &sample.landmarks,
            &crop,
            size,
            &aug,
            &self.dataset.scheme.flip,
        )
        .map_err(|e| for_sample(sample, &e))?;
        let labelled = aug
            .relabel(&sample.labelled_mask(), &self.dataset.scheme.flip)
            .map_err(|e| for_sample(sample, &e))?;
        let landmarks_u = pts_crop_px
            .iter()
            .zip(&labelled)
            .flat_map(|(p, &l)| {
                if l {
                    p.map(|v| crop_px_to_u(v, size))
                } else {
                    [0.0, 0.0]
                }
            })
            .collect();
        Ok(Item {
            chw: to_chw(&crop_img),
            landmarks_u,
            labelled: labelled.iter().map(|&l| f32::from(u8::from(l))).collect(),
            crop_from_image,
            flipped: aug.flip,
        })
    }
}

/// An RGB8 image as CHW f32 in [0, 1].
pub fn to_chw(img: &RgbImage) -> Vec<f32> {
    let plane = (img.width() * img.height()) as usize;
    let mut out = vec![0.0f32; 3 * plane];
    for (k, px) in img.as_raw().chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * plane + k] = f32::from(px[c]) / 255.0;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::{Scheme, SchemeId};
    use crate::Point;
    use std::collections::BTreeMap;

    /// A 5-point dataset of synthetic in-memory images (each a distinct gradient).
    fn synthetic(n: usize) -> Dataset {
        let samples = (0..n)
            .map(|k| {
                let img = RgbImage::from_fn(48, 40, |x, y| {
                    image::Rgb([(x * 5) as u8, (y * 6) as u8, (k * 20) as u8])
                });
                let d = k as f32;
                let pts: Vec<Point> = vec![
                    [14.0 + d, 12.0],
                    [32.0 + d, 13.0],
                    [23.0, 20.0],
                    [16.0, 29.0 - d],
                    [31.0, 28.0],
                ];
                Sample::new(
                    format!("s{k}"),
                    ImageSource::InMemory {
                        name: format!("s{k}"),
                        image: Arc::new(img),
                    },
                    pts,
                )
            })
            .collect();
        Dataset {
            format: "test".into(),
            source: "synthetic".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples,
            subsets: BTreeMap::new(),
        }
    }

    fn train_config(size: u32, batch: usize) -> LoaderConfig {
        LoaderConfig {
            crop: CropSpec::new(size),
            batch_size: batch,
            seed: 42,
            augment: Some(AugmentConfig::default()),
            ..LoaderConfig::default()
        }
    }

    #[test]
    fn shapes_and_counts() {
        let loader = CropLoader::new(synthetic(7), train_config(16, 3)).unwrap();
        assert_eq!(loader.len(), 3); // ceil(7 / 3)
        let b = loader.batch(0, 2).unwrap();
        assert_eq!(b.len(), 1); // 7 − 2·3
        assert_eq!(b.images.len(), 3 * 16 * 16);
        assert_eq!(b.landmarks.len(), 2 * 5);
        assert!(b.images.iter().all(|v| (0.0..=1.0).contains(v)));
        let full = loader.batch(0, 0).unwrap();
        assert_eq!(
            (full.len(), full.images.len(), full.crop_from_image.len()),
            (3, 3 * 3 * 16 * 16, 3)
        );
        assert!(loader.batch(0, 3).is_err());
        let mut seen: Vec<usize> = loader
            .iter_epoch(1)
            .flat_map(|b| b.unwrap().indices)
            .collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..7).collect::<Vec<_>>());
        let dl = CropLoader::new(
            synthetic(7),
            LoaderConfig {
                drop_last: true,
                ..train_config(16, 3)
            },
        )
        .unwrap();
        assert_eq!(dl.len(), 2);
    }

    #[test]
    fn shuffling_is_seeded_per_epoch() {
        let loader = CropLoader::new(synthetic(20), train_config(8, 4)).unwrap();
        assert_eq!(loader.order(3), loader.order(3));
        assert_ne!(loader.order(3), loader.order(4));
        let eval = CropLoader::new(synthetic(5), LoaderConfig::eval(CropSpec::new(8), 2)).unwrap();
        assert_eq!(eval.order(9), vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn batches_do_not_depend_on_thread_count() {
        let loader = CropLoader::new(synthetic(6), train_config(24, 6)).unwrap();
        let run = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| loader.batch(5, 0).unwrap())
        };
        let (a, b) = (run(1), run(2));
        let bytes = |v: &[f32]| v.iter().flat_map(|x| x.to_le_bytes()).collect::<Vec<u8>>();
        assert_eq!(bytes(&a.images), bytes(&b.images));
        assert_eq!(bytes(&a.landmarks), bytes(&b.landmarks));
        assert_eq!(a, b);
        // A fresh loader with the same seed gives the same batch; another seed does not.
        let again = CropLoader::new(synthetic(6), train_config(24, 6))
            .unwrap()
            .batch(5, 0)
            .unwrap();
        assert_eq!(again, a);
        let other = CropLoader::new(
            synthetic(6),
            LoaderConfig {
                seed: 43,
                ..train_config(24, 6)
            },
        )
        .unwrap()
        .batch(5, 0)
        .unwrap();
        assert_ne!(other.images, a.images);
    }

    #[test]
    fn eval_batch_matches_hand_computed_crop() {
        // Sample 0: x ∈ [14, 32], y ∈ [12, 29] → 18×17 box centred at (23, 20.5); side 18·1.25
        // = 22.5; S = 45 ⇒ k = 2, x_crop = 2(x − 23) + 22. Landmark 2 (23, 20) → (22, 21):
        // crop_u = (22/45 − 0.5, 21/45 − 0.5) = (−1/90, −3/90).
        let loader =
            CropLoader::new(synthetic(2), LoaderConfig::eval(CropSpec::new(45), 2)).unwrap();
        let b = loader.batch(0, 0).unwrap();
        assert_eq!(b.indices, vec![0, 1]);
        assert!(
            (b.landmarks[4] + 1.0 / 90.0).abs() < 1e-6
                && (b.landmarks[5] + 3.0 / 90.0).abs() < 1e-6
        );
        // Pixel: crop (22, 21) samples image ((22 − 22)/2 + 23, (21 − 22)/2 + 20.5) = (23, 20):
        // channel 0 = 5·23 = 115, channel 1 = 6·20 = 120; crop (23, 21) samples (23.5, 20):
        // channel 0 = 5·23.5 = 117.5 → 118 (CHW planes of 45·45).
        let plane = 45 * 45;
        let k = 21 * 45 + 22;
        assert!((b.images[k] - 115.0 / 255.0).abs() < 1e-6);
        assert!((b.images[plane + k] - 120.0 / 255.0).abs() < 1e-6);
        assert!((b.images[k + 1] - 118.0 / 255.0).abs() < 1e-6);
        assert!(!b.flipped[0]);
    }

    #[test]
    fn bad_samples_are_named_errors() {
        let mut ds = synthetic(3);
        ds.samples[1].landmarks.pop();
        let e = CropLoader::new(ds, train_config(8, 2))
            .unwrap_err()
            .to_string();
        assert!(e.contains("s1") && e.contains("4 landmarks"), "{e}");
        let mut ds = synthetic(3);
        ds.samples[2].image = ImageSource::Path("/nonexistent/x.jpg".into());
        let loader = CropLoader::new(ds, LoaderConfig::eval(CropSpec::new(8), 3)).unwrap();
        let e = loader.batch(0, 0).unwrap_err().to_string();
        assert!(e.contains("/nonexistent/x.jpg"), "{e}");
        let ds = synthetic(2);
        let cfg = LoaderConfig {
            crop_source: CropSource::Box(BoxCalibration::IDENTITY),
            ..LoaderConfig::eval(CropSpec::new(8), 2)
        };
        let e = CropLoader::new(ds, cfg)
            .unwrap()
            .batch(0, 0)
            .unwrap_err()
            .to_string();
        assert!(e.contains("s0") && e.contains("no face box"), "{e}");
        // Aligned crops need each face's square: its absence names the face.
        let cfg = LoaderConfig {
            crop_source: CropSource::Aligned,
            ..LoaderConfig::eval(CropSpec::new(8), 2)
        };
        let e = CropLoader::new(synthetic(2), cfg)
            .unwrap()
            .batch(0, 0)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("s0") && e.contains("no aligned crop square"),
            "{e}"
        );
    }

    #[test]
    fn an_aligned_source_crops_each_face_by_its_own_square() {
        // A face given the square of another shape is cropped by that square, not by its
        // landmarks: its landmarks land where that crop puts them.
        let spec = CropSpec::new(16);
        let mut ds = synthetic(1);
        let lm = ds.samples[0].landmarks.clone();
        let moved: Vec<Point> = lm.iter().map(|p| [p[0] + 2.0, p[1] - 1.0]).collect();
        let sq = crate::geometry::AlignedSquare::around(&moved, 0.2).unwrap();
        ds.samples[0].crop_square = Some(sq);
        let want = sq.crop(&spec).unwrap();
        assert_eq!(
            sample_crop(&ds.samples[0], &spec, &CropSource::Aligned).unwrap(),
            want
        );
        assert_ne!(
            sample_crop(&ds.samples[0], &spec, &CropSource::Landmarks).unwrap(),
            want
        );
    }

    #[test]
    fn sample_errors_name_the_image_file() {
        // "invalid sample `a.jpg`: ..." named no file: the image path is added.
        let mut ds = synthetic(2);
        ds.samples[1].id = "a.jpg".into();
        ds.samples[1].image = ImageSource::Path("/data/set/a.jpg".into());
        ds.samples[1].landmarks = vec![[5.0, 5.0]; 5]; // degenerate: all points equal
        let loader = CropLoader::new(ds.clone(), LoaderConfig::eval(CropSpec::new(8), 2)).unwrap();
        let e = loader.batch(0, 0).unwrap_err().to_string();
        assert!(e.contains("sample `a.jpg` (/data/set/a.jpg)"), "{e}");
        ds.samples[1].landmarks.pop();
        let e = CropLoader::new(ds, LoaderConfig::eval(CropSpec::new(8), 2))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/data/set/a.jpg") && e.contains("4 landmarks"),
            "{e}"
        );
    }

    fn infanface_dir() -> PathBuf {
        PathBuf::from(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../shared/data/infanface/train"
        ))
    }

    /// Read a 68-point `.pts` (1-based) into image_px (test helper; the real reader lives in `data`).
    fn read_pts(path: &std::path::Path) -> Vec<Point> {
        let text = std::fs::read_to_string(path).unwrap();
        let open = text.find('{').unwrap();
        let close = text.rfind('}').unwrap();
        text[open + 1..close]
            .lines()
            .filter_map(|l| {
                let v: Vec<f32> = l.split_whitespace().map(|t| t.parse().unwrap()).collect();
                (v.len() == 2).then(|| [v[0] - 1.0, v[1] - 1.0])
            })
            .collect()
    }

    #[test]
    fn real_infanface_files_and_cache() {
        let dir = infanface_dir();
        let mut names: Vec<PathBuf> = match std::fs::read_dir(&dir) {
            Ok(rd) => rd
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
                .collect(),
            Err(_) => {
                eprintln!("skipping: {} not found", dir.display());
                return;
            }
        };
        names.sort();
        names.truncate(3);
        let samples: Vec<Sample> = names
            .iter()
            .map(|p| {
                Sample::new(
                    p.display().to_string(),
                    ImageSource::Path(p.clone()),
                    read_pts(&p.with_extension("pts")),
                )
            })
            .collect();
        let ds = Dataset {
            format: "pts".into(),
            source: dir.display().to_string(),
            scheme: Scheme::get(SchemeId::Ibug68),
            samples,
            subsets: BTreeMap::new(),
        };
        let loader = CropLoader::new(ds.clone(), LoaderConfig::eval(CropSpec::new(32), 3)).unwrap();
        let b = loader.batch(0, 0).unwrap();
        assert_eq!((b.len(), b.landmarks.len()), (3, 3 * 136));
        // InfAnFace crops are 320 px squares, side = 2 × landmark box: every image is cached.
        assert_eq!(loader.cache().bytes(), 3 * 320 * 320 * 3);
        assert!(b.landmarks.iter().all(|u| (-0.5..=0.5).contains(u)));
        // load_crop agrees with the loader for sample 0.
        let (crop, t) = load_crop(&ds.samples[0], &CropSpec::new(32)).unwrap();
        assert_eq!(t, b.crop_from_image[0]);
        assert_eq!(to_chw(&crop), b.images[..3 * 32 * 32].to_vec());
        // A budget smaller than one image caches nothing but still loads.
        let small = CropLoader::new(
            ds,
            LoaderConfig {
                cache_bytes: 1000,
                ..LoaderConfig::eval(CropSpec::new(32), 3)
            },
        )
        .unwrap();
        assert_eq!(small.batch(0, 0).unwrap(), b);
        assert_eq!(small.cache().bytes(), 0);
    }

    #[test]
    fn unlabelled_points_are_masked_and_the_mask_moves_with_the_flip() {
        let mut ds = synthetic(2);
        // Sample 0: point 0 (left eye) and point 3 (left mouth corner) unlabelled.
        ds.samples[0].set_labelled(vec![false, true, true, false, true]);
        let cfg = LoaderConfig {
            augment: Some(AugmentConfig {
                flip: 1.0,
                ..AugmentConfig::none()
            }),
            ..train_config(16, 2)
        };
        let flip = Scheme::get(SchemeId::Five).flip;
        let loader = CropLoader::new(ds.clone(), cfg).unwrap();
        let b = loader.batch_of(0, &[0, 1]).unwrap();
        assert!(b.flipped[0]);
        // After the mirror, batch point i is source point flip[i].
        let want: Vec<f32> = flip
            .iter()
            .map(|&j| if [0, 3].contains(&j) { 0.0 } else { 1.0 })
            .collect();
        assert_eq!(&b.labelled[..5], &want[..]);
        assert_eq!(&b.labelled[5..], &[1.0; 5]);
        // Unlabelled points hold finite placeholders (0, 0), never NaN.
        assert!(b.landmarks.iter().all(|v| v.is_finite()));
        for (i, &w) in want.iter().enumerate() {
            if w == 0.0 {
                assert_eq!((b.landmarks[2 * i], b.landmarks[2 * i + 1]), (0.0, 0.0));
            }
        }
        // Without augmentation the mask is the sample's own; the crop comes from the labelled
        // points only (the unlabelled ones are NaN and ignored).
        let eval = CropLoader::new(ds, LoaderConfig::eval(CropSpec::new(16), 2)).unwrap();
        let b = eval.batch_of(0, &[0]).unwrap();
        assert_eq!(b.labelled, vec![0.0, 1.0, 1.0, 0.0, 1.0]);
    }
}
