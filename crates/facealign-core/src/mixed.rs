//! Training on several datasets of different landmark schemes at once (issue 13, part 2).
//!
//! A model predicts the points of one **target** scheme (T points). Each source dataset keeps its
//! own scheme S; a [`SchemeMap`] says which target points each source point corresponds to: one
//! target point, or the *mean* of several (e.g. AFLW's eye centre = the mean of iBUG's six eye
//! points), or none. Batches are laid out in an **extended target space** of `T + V` points: the
//! T target points, then V "virtual" points, one per distinct set of target points that some
//! source maps a point to the mean of. The objective extends the model's T predictions by the V
//! means ([`MixedLoader::virtual_points`]) and compares the two with the per-point weights of the
//! batch: a source point supervises exactly its slot, with its dataset's weight, and every other
//! slot has weight 0.
//!
//! Each sample is cropped (from its own labelled points) and augmented in its own scheme (the
//! mirror uses the source scheme's flip permutation); only then are its points moved to their
//! slots. With a single source of the target scheme, the batches (order, pixels, points) are
//! exactly those of its [`CropLoader`].
use std::collections::BTreeMap;

use rand::seq::SliceRandom;

use crate::augment::rng_for;
use crate::error::{Error, Result};
use crate::loader::{Batch, CropLoader};
use crate::scheme::Scheme;
use crate::scheme_map::SchemeMap;

/// One source dataset of a mixed training set.
#[derive(Debug)]
pub struct MixedSource {
    /// Its loader (its dataset, crop, augmentation, seed).
    pub loader: CropLoader,
    /// Source scheme → target scheme.
    pub map: SchemeMap,
    /// Weight of its points in the loss (1 = as much as any other labelled point).
    pub weight: f32,
}

/// Where a source point goes in the extended target space.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    None,
    At(usize),
}

/// Batches over several sources, in the extended target space.
#[derive(Debug)]
pub struct MixedLoader {
    sources: Vec<MixedSource>,
    target: Scheme,
    /// The target-point sets whose means are the virtual points T..T+V.
    virtual_points: Vec<Vec<usize>>,
    /// Per source, per source point: its slot.
    slots: Vec<Vec<Slot>>,
    /// Global index → (source, index in source) boundaries: cumulative sample counts.
    offsets: Vec<usize>,
    batch_size: usize,
    drop_last: bool,
    seed: u64,
}

/// A batch in the extended target space.
#[derive(Debug, Clone)]
pub struct MixedBatch {
    /// N×3×S×S, RGB in [0, 1].
    pub images: Vec<f32>,
    /// N×2(T+V) crop_u (0 where a slot is not supervised).
    pub landmarks: Vec<f32>,
    /// N×(T+V) weights (0 = not supervised).
    pub weights: Vec<f32>,
    /// Global sample indices.
    pub indices: Vec<usize>,
    /// Per sample: (source, index within the source).
    pub origin: Vec<(usize, usize)>,
    /// Per sample, whether it was mirrored.
    pub flipped: Vec<bool>,
    /// T + V.
    pub n_slots: usize,
}

impl MixedBatch {
    /// Number of samples.
    pub fn len(&self) -> usize {
        self.indices.len()
    }
    /// True when the batch holds no sample.
    pub fn is_empty(&self) -> bool {
        self.indices.is_empty()
    }
}

impl MixedLoader {
    /// A loader over `sources`, all mapping into `target`. Sources must share the crop size and
    /// batch size; each keeps its own augmentation and seed. The shuffling seed is the first
    /// source's.
    pub fn new(sources: Vec<MixedSource>, target: Scheme) -> Result<MixedLoader> {
        let first = sources
            .first()
            .ok_or_else(|| Error::invalid("training data", "no source dataset"))?;
        let (size, batch_size, drop_last, seed) = {
            let c = first.loader.config();
            (c.crop.size, c.batch_size, c.drop_last, c.seed)
        };
        let mut virtual_points: Vec<Vec<usize>> = Vec::new();
        let mut index_of: BTreeMap<Vec<usize>, usize> = BTreeMap::new();
        let mut slots = Vec::with_capacity(sources.len());
        let mut offsets = vec![0];
        for (k, src) in sources.iter().enumerate() {
            let ds = src.loader.dataset();
            if src.map.to != target.id || src.map.from != ds.scheme.id {
                return Err(Error::invalid(
                    format!("training source {k} ({})", ds.source),
                    format!(
                        "its map goes {} → {}, but the data is {} and the target {}",
                        src.map.from.name(),
                        src.map.to.name(),
                        ds.scheme.name(),
                        target.name()
                    ),
                ));
            }
            let c = src.loader.config();
            if c.crop.size != size || c.batch_size != batch_size {
                return Err(Error::invalid(
                    format!("training source {k} ({})", ds.source),
                    "every source needs the same crop size and batch size",
                ));
            }
            if !(src.weight.is_finite() && src.weight > 0.0) {
                return Err(Error::invalid(
                    format!("training source {k} ({}) weight", ds.source),
                    format!("{} must be finite and > 0", src.weight),
                ));
            }
            let s: Vec<Slot> = src
                .map
                .targets
                .iter()
                .map(|t| match t.len() {
                    0 => Slot::None,
                    1 => Slot::At(t[0]),
                    _ => {
                        let mut key = t.clone();
                        key.sort_unstable();
                        let next = virtual_points.len();
                        let v = *index_of.entry(key.clone()).or_insert_with(|| {
                            virtual_points.push(key);
                            next
                        });
                        Slot::At(target.n_points() + v)
                    }
                })
                .collect();
            if s.iter().all(|x| *x == Slot::None) {
                return Err(Error::invalid(
                    format!("training source {k} ({})", ds.source),
                    format!("no point of {} maps to {}", ds.scheme.name(), target.name()),
                ));
            }
            slots.push(s);
            offsets.push(offsets[k] + ds.samples.len());
        }
        Ok(MixedLoader {
            sources,
            target,
            virtual_points,
            slots,
            offsets,
            batch_size,
            drop_last,
            seed,
        })
    }

    /// The sources.
    pub fn sources(&self) -> &[MixedSource] {
        &self.sources
    }

    /// The target scheme.
    pub fn target(&self) -> &Scheme {
        &self.target
    }

    /// The target-point sets whose means are the virtual points (slots T, T+1, ...).
    pub fn virtual_points(&self) -> &[Vec<usize>] {
        &self.virtual_points
    }

    /// T + V.
    pub fn n_slots(&self) -> usize {
        self.target.n_points() + self.virtual_points.len()
    }

    /// Total number of samples.
    pub fn n_samples(&self) -> usize {
        *self.offsets.last().expect("at least one source")
    }

    /// Batches per epoch.
    pub fn len(&self) -> usize {
        let (n, b) = (self.n_samples(), self.batch_size);
        if self.drop_last {
            n / b
        } else {
            n.div_ceil(b)
        }
    }

    /// True when an epoch has no batch.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// (source, index within it) of a global index.
    pub fn origin(&self, global: usize) -> Result<(usize, usize)> {
        if global >= self.n_samples() {
            return Err(Error::invalid(
                "sample index",
                format!("{global} ≥ {} samples", self.n_samples()),
            ));
        }
        let k = self.offsets.partition_point(|&o| o <= global) - 1;
        Ok((k, global - self.offsets[k]))
    }

    /// The sample order of `epoch`: one source → that loader's own order (so its batches are
    /// unchanged); several → a seeded permutation of all global indices.
    pub fn order(&self, epoch: u64) -> Vec<usize> {
        if self.sources.len() == 1 {
            return self.sources[0].loader.order(epoch);
        }
        let mut order: Vec<usize> = (0..self.n_samples()).collect();
        if self.sources[0].loader.config().shuffle {
            let mut rng = rng_for(self.seed, epoch, 0, 0x6d69_7864); // "mixd"
            order.shuffle(&mut rng);
        }
        order
    }

    /// A batch of global indices, augmentation drawn for `epoch`.
    pub fn batch_of(&self, epoch: u64, indices: &[usize]) -> Result<MixedBatch> {
        let origin: Vec<(usize, usize)> = indices
            .iter()
            .map(|&g| self.origin(g))
            .collect::<Result<_>>()?;
        // One sub-batch per source (keeps each loader's parallel path), then back in order.
        let mut per_source: Vec<Vec<usize>> = vec![Vec::new(); self.sources.len()];
        for &(k, i) in &origin {
            per_source[k].push(i);
        }
        let subs: Vec<Option<Batch>> = per_source
            .iter()
            .enumerate()
            .map(|(k, idx)| {
                if idx.is_empty() {
                    Ok(None)
                } else {
                    self.sources[k].loader.batch_of(epoch, idx).map(Some)
                }
            })
            .collect::<Result<_>>()?;
        let n_slots = self.n_slots();
        let mut next = vec![0usize; self.sources.len()];
        let mut out = MixedBatch {
            images: Vec::new(),
            landmarks: Vec::with_capacity(indices.len() * 2 * n_slots),
            weights: Vec::with_capacity(indices.len() * n_slots),
            indices: indices.to_vec(),
            origin: origin.clone(),
            flipped: Vec::with_capacity(indices.len()),
            n_slots,
        };
        for &(k, _) in &origin {
            let b = subs[k].as_ref().expect("source batch built above");
            let j = next[k];
            next[k] += 1;
            let plane = b.images.len() / b.len();
            out.images
                .extend_from_slice(&b.images[j * plane..(j + 1) * plane]);
            let m = b.n_points;
            let mut lm = vec![0.0f32; 2 * n_slots];
            let mut w = vec![0.0f32; n_slots];
            for (p, slot) in self.slots[k].iter().enumerate() {
                let Slot::At(t) = *slot else { continue };
                let lab = b.labelled[j * m + p];
                if lab > 0.0 {
                    lm[2 * t] = b.landmarks[j * 2 * m + 2 * p];
                    lm[2 * t + 1] = b.landmarks[j * 2 * m + 2 * p + 1];
                    w[t] = lab * self.sources[k].weight;
                }
            }
            out.landmarks.extend(lm);
            out.weights.extend(w);
            out.flipped.push(b.flipped[j]);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::augment::AugmentConfig;
    use crate::geometry::CropSpec;
    use crate::loader::LoaderConfig;
    use crate::sample::{Dataset, ImageSource, Point, Sample};
    use crate::scheme::SchemeId;
    use std::sync::Arc;

    /// `n` faces of `id` (synthetic points on a 64×64 gradient image).
    fn faces(id: SchemeId, n: usize) -> Dataset {
        let m = id.n_points();
        let img = Arc::new(image::RgbImage::from_fn(64, 64, |x, y| {
            image::Rgb([(x * 4) as u8, (y * 4) as u8, 7])
        }));
        let samples = (0..n)
            .map(|k| {
                let pts: Vec<Point> = (0..m)
                    .map(|i| {
                        let a = i as f32 / m as f32 * std::f32::consts::TAU;
                        [32.0 + 15.0 * a.cos() + k as f32, 32.0 + 18.0 * a.sin()]
                    })
                    .collect();
                Sample::new(
                    format!("{}-{k}", id.name()),
                    ImageSource::InMemory {
                        name: format!("{k}"),
                        image: img.clone(),
                    },
                    pts,
                )
            })
            .collect();
        Dataset {
            format: "test".into(),
            source: id.name().into(),
            scheme: Scheme::get(id),
            samples,
            subsets: BTreeMap::new(),
        }
    }

    fn loader(ds: Dataset, augment: bool) -> CropLoader {
        CropLoader::new(
            ds,
            LoaderConfig {
                crop: CropSpec::new(16),
                batch_size: 4,
                seed: 3,
                augment: augment.then(AugmentConfig::default),
                ..LoaderConfig::default()
            },
        )
        .unwrap()
    }

    #[test]
    fn one_source_of_the_target_scheme_gives_its_own_batches() {
        let ds = faces(SchemeId::Five, 7);
        let plain = loader(ds.clone(), true);
        let mixed = MixedLoader::new(
            vec![MixedSource {
                loader: loader(ds, true),
                map: SchemeMap::get(SchemeId::Five, SchemeId::Five).unwrap(),
                weight: 1.0,
            }],
            Scheme::get(SchemeId::Five),
        )
        .unwrap();
        assert_eq!(mixed.n_slots(), 5);
        assert_eq!(mixed.order(2), plain.order(2));
        let idx = &mixed.order(2)[..4];
        let a = plain.batch_of(2, idx).unwrap();
        let b = mixed.batch_of(2, idx).unwrap();
        assert_eq!(a.images, b.images);
        assert_eq!(a.landmarks, b.landmarks);
        assert_eq!(a.labelled, b.weights);
        assert_eq!(a.flipped, b.flipped);
    }

    #[test]
    fn mapped_points_land_in_their_slots_and_means_get_virtual_slots() {
        let five = faces(SchemeId::Five, 3);
        let ibug = faces(SchemeId::Ibug68, 2);
        let map5 = SchemeMap::get(SchemeId::Five, SchemeId::Ibug68).unwrap();
        let mixed = MixedLoader::new(
            vec![
                MixedSource {
                    loader: loader(ibug.clone(), false),
                    map: SchemeMap::get(SchemeId::Ibug68, SchemeId::Ibug68).unwrap(),
                    weight: 1.0,
                },
                MixedSource {
                    loader: loader(five.clone(), false),
                    map: map5.clone(),
                    weight: 0.5,
                },
            ],
            Scheme::get(SchemeId::Ibug68),
        )
        .unwrap();
        // The eye centres of the 5-point scheme are means of six iBUG points: two virtual slots.
        let multi: Vec<&Vec<usize>> = map5.targets.iter().filter(|t| t.len() > 1).collect();
        assert_eq!(mixed.virtual_points().len(), multi.len());
        assert_eq!(mixed.n_slots(), 68 + multi.len());
        assert_eq!(mixed.n_samples(), 5);
        assert_eq!(mixed.origin(3).unwrap(), (1, 1));
        let b = mixed.batch_of(0, &[3, 0]).unwrap();
        let n = mixed.n_slots();
        // Sample 0 of the batch is 5-point face 1: exactly its mapped slots are weighted 0.5.
        let plain5 = loader(five, false).batch_of(0, &[1]).unwrap();
        let mut supervised = 0;
        for (p, t) in map5.targets.iter().enumerate() {
            let slot = match t.len() {
                0 => continue,
                1 => t[0],
                _ => {
                    let mut key = t.clone();
                    key.sort_unstable();
                    68 + mixed
                        .virtual_points()
                        .iter()
                        .position(|v| *v == key)
                        .unwrap()
                }
            };
            supervised += 1;
            assert_eq!(b.weights[slot], 0.5);
            assert_eq!(b.landmarks[2 * slot], plain5.landmarks[2 * p]);
            assert_eq!(b.landmarks[2 * slot + 1], plain5.landmarks[2 * p + 1]);
        }
        assert_eq!(
            b.weights[..n].iter().filter(|&&w| w > 0.0).count(),
            supervised
        );
        // Sample 1 is iBUG face 0: its 68 slots at weight 1, the virtual ones at 0.
        assert!(b.weights[n..n + 68].iter().all(|&w| w == 1.0));
        assert!(b.weights[n + 68..].iter().all(|&w| w == 0.0));
        // A mismatched map is refused.
        let bad = MixedLoader::new(
            vec![MixedSource {
                loader: loader(faces(SchemeId::Five, 2), false),
                map: SchemeMap::get(SchemeId::Ibug68, SchemeId::Ibug68).unwrap(),
                weight: 1.0,
            }],
            Scheme::get(SchemeId::Ibug68),
        );
        assert!(bad.is_err());
    }
}
