//! Training-time augmentation of face crops.
//!
//! Geometric parts (horizontal flip, rotation, scale, translation) are composed into the crop
//! affine *before* warping, so every sample is warped once and its landmarks stay on their
//! pixels. Photometric parts (brightness, contrast, gamma, Gaussian blur, Gaussian noise,
//! occluding rectangles) act on the warped crop.
//!
//! Defaults follow common practice in the field (SPEC §6.5: HRNet rotation ±30°, scale ±25 %,
//! flip; PFLD shift ±10 %; STAR/FLD-DD texture operations: gamma, blur, noise, occlusion).
//!
//! Determinism: the parameters of one sample come from a ChaCha8 generator seeded with
//! `(seed, epoch, sample_index)` ([`sample_rng`]), so a batch is identical whatever the thread
//! scheduling.
use image::RgbImage;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::geometry::{warp_rgb, Affine2};
use crate::sample::Point;

/// One operation applied with probability `p` and magnitude up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Jitter {
    /// Probability in [0, 1].
    pub p: f32,
    /// Largest magnitude (meaning depends on the operation).
    pub max: f32,
}

impl Jitter {
    pub const fn new(p: f32, max: f32) -> Jitter {
        Jitter { p, max }
    }
    /// Never applied.
    pub const OFF: Jitter = Jitter { p: 0.0, max: 0.0 };
}

/// Random occluding rectangles.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct OcclusionConfig {
    /// Probability of occluding a sample at all.
    pub p: f32,
    /// 1..=max_count rectangles when applied.
    pub max_count: u32,
    /// Rectangle sides as fractions of S, drawn uniformly from [min_side, max_side].
    pub min_side: f32,
    pub max_side: f32,
}

impl Default for OcclusionConfig {
    fn default() -> Self {
        OcclusionConfig {
            p: 0.3,
            max_count: 2,
            min_side: 0.1,
            max_side: 0.4,
        }
    }
}

/// Augmentation settings (all in one serde struct; missing fields take the defaults).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AugmentConfig {
    /// Probability of a horizontal flip (landmarks re-labelled with `Scheme::flip`).
    pub flip: f32,
    /// Rotation about the crop centre, uniform in ±max degrees.
    pub rotation: Jitter,
    /// Scale about the crop centre, uniform in 1 ± max (zoom in when > 1).
    pub scale: Jitter,
    /// Translation, uniform in ±max · S per axis.
    pub translation: Jitter,
    /// Added brightness, uniform in ±max (in [0, 1] intensity units).
    pub brightness: Jitter,
    /// Contrast factor about the crop's mean intensity, uniform in 1 ± max.
    pub contrast: Jitter,
    /// Gamma `v^g`, log-uniform with g ∈ [1/(1+max), 1+max].
    pub gamma: Jitter,
    /// Gaussian blur with sigma uniform in [0.3, max] pixels.
    pub blur: Jitter,
    /// Additive Gaussian noise with std uniform in [0, max] ([0, 1] intensity units).
    pub noise: Jitter,
    /// Occluding rectangles of random colour.
    pub occlusion: OcclusionConfig,
}

impl Default for AugmentConfig {
    fn default() -> Self {
        AugmentConfig {
            flip: 0.5,
            rotation: Jitter::new(0.6, 30.0),
            scale: Jitter::new(1.0, 0.25),
            translation: Jitter::new(1.0, 0.10),
            brightness: Jitter::new(0.5, 0.2),
            contrast: Jitter::new(0.5, 0.3),
            gamma: Jitter::new(0.2, 0.5),
            blur: Jitter::new(0.2, 1.5),
            noise: Jitter::new(0.2, 0.04),
            occlusion: OcclusionConfig::default(),
        }
    }
}

/// The ChaCha8 generator of one sample in one epoch: the 32-byte key packs `seed`, `epoch`,
/// `sample_index` and a domain tag, so distinct triples give independent streams.
pub fn sample_rng(seed: u64, epoch: u64, sample_index: u64) -> ChaCha8Rng {
    rng_for(seed, epoch, sample_index, 0x6175_676d) // "augm"
}

pub(crate) fn rng_for(seed: u64, epoch: u64, index: u64, domain: u64) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    key[0..8].copy_from_slice(&seed.to_le_bytes());
    key[8..16].copy_from_slice(&epoch.to_le_bytes());
    key[16..24].copy_from_slice(&index.to_le_bytes());
    key[24..32].copy_from_slice(&domain.to_le_bytes());
    ChaCha8Rng::from_seed(key)
}

/// Uniform in [−1, 1).
fn sym(rng: &mut ChaCha8Rng) -> f64 {
    2.0 * rng.random::<f64>() - 1.0
}

impl AugmentConfig {
    /// No augmentation at all.
    pub fn none() -> AugmentConfig {
        AugmentConfig {
            flip: 0.0,
            rotation: Jitter::OFF,
            scale: Jitter::OFF,
            translation: Jitter::OFF,
            brightness: Jitter::OFF,
            contrast: Jitter::OFF,
            gamma: Jitter::OFF,
            blur: Jitter::OFF,
            noise: Jitter::OFF,
            occlusion: OcclusionConfig {
                p: 0.0,
                ..OcclusionConfig::default()
            },
        }
    }

    /// Only the geometric parts of `self` (flip, rotation, scale, translation).
    pub fn geometric_only(&self) -> AugmentConfig {
        AugmentConfig {
            flip: self.flip,
            rotation: self.rotation,
            scale: self.scale,
            translation: self.translation,
            ..AugmentConfig::none()
        }
    }

    /// Check ranges; errors name the field.
    pub fn validate(&self) -> Result<()> {
        let prob = |name: &str, p: f32| {
            if (0.0..=1.0).contains(&p) {
                Ok(())
            } else {
                Err(Error::invalid(
                    format!("augment.{name}"),
                    format!("probability {p} is not in [0, 1]"),
                ))
            }
        };
        prob("flip", self.flip)?;
        let jitters = [
            ("rotation", self.rotation, 180.0),
            ("scale", self.scale, 0.9),
            ("translation", self.translation, 1.0),
            ("brightness", self.brightness, 1.0),
            ("contrast", self.contrast, 1.0),
            ("gamma", self.gamma, 10.0),
            ("blur", self.blur, 20.0),
            ("noise", self.noise, 1.0),
        ];
        for (name, j, limit) in jitters {
            prob(&format!("{name}.p"), j.p)?;
            if !(j.max.is_finite() && (0.0..=limit).contains(&j.max)) {
                return Err(Error::invalid(
                    format!("augment.{name}.max"),
                    format!("{} is not in [0, {limit}]", j.max),
                ));
            }
        }
        let o = &self.occlusion;
        prob("occlusion.p", o.p)?;
        if !(0.0 < o.min_side && o.min_side <= o.max_side && o.max_side <= 1.0) {
            return Err(Error::invalid(
                "augment.occlusion",
                format!(
                    "need 0 < min_side ≤ max_side ≤ 1, got {} and {}",
                    o.min_side, o.max_side
                ),
            ));
        }
        if o.p > 0.0 && o.max_count == 0 {
            return Err(Error::invalid(
                "augment.occlusion.max_count",
                "must be ≥ 1 when p > 0",
            ));
        }
        Ok(())
    }

    /// Draw the augmentation of sample `sample_index` in `epoch` for an S×S crop
    /// (deterministic in `(seed, epoch, sample_index)`). Call [`AugmentConfig::validate`] first:
    /// out-of-range probabilities are clamped here.
    pub fn sample(&self, size: u32, seed: u64, epoch: u64, sample_index: u64) -> Augmentation {
        let mut rng = sample_rng(seed, epoch, sample_index);
        self.sample_with(size, &mut rng)
    }

    /// Draw from a given generator. Every parameter is drawn whether or not it is used, so the
    /// stream layout does not depend on earlier coin tosses.
    pub fn sample_with(&self, size: u32, rng: &mut ChaCha8Rng) -> Augmentation {
        let mut coin = |p: f32| rng.random::<f32>() < p.clamp(0.0, 1.0);
        let flip = coin(self.flip);
        let on_rot = coin(self.rotation.p);
        let on_scale = coin(self.scale.p);
        let on_trans = coin(self.translation.p);
        let on_bright = coin(self.brightness.p);
        let on_contrast = coin(self.contrast.p);
        let on_gamma = coin(self.gamma.p);
        let on_blur = coin(self.blur.p);
        let on_noise = coin(self.noise.p);
        let on_occ = coin(self.occlusion.p);

        let rot = sym(rng) * f64::from(self.rotation.max);
        let sc = 1.0 + sym(rng) * f64::from(self.scale.max);
        let tx = sym(rng) * f64::from(self.translation.max);
        let ty = sym(rng) * f64::from(self.translation.max);
        let br = sym(rng) as f32 * self.brightness.max;
        let ct = 1.0 + sym(rng) as f32 * self.contrast.max;
        let gm = (sym(rng) as f32 * (1.0 + self.gamma.max).ln()).exp();
        let bl = 0.3 + rng.random::<f32>() * (self.blur.max - 0.3).max(0.0);
        let ns = rng.random::<f32>() * self.noise.max;
        let noise_seed = rng.random::<u64>();
        let n_occ = 1 + rng.random_range(0..self.occlusion.max_count.max(1));
        let s = size as f32;
        let mut occluders = Vec::new();
        for _ in 0..n_occ {
            let (o, span) = (
                &self.occlusion,
                self.occlusion.max_side - self.occlusion.min_side,
            );
            let w = (o.min_side + rng.random::<f32>() * span) * s;
            let h = (o.min_side + rng.random::<f32>() * span) * s;
            let x = rng.random::<f32>() * (s - w).max(0.0);
            let y = rng.random::<f32>() * (s - h).max(0.0);
            let color = [rng.random::<u8>(), rng.random::<u8>(), rng.random::<u8>()];
            occluders.push(Occluder { x, y, w, h, color });
        }

        Augmentation {
            flip,
            rotation_deg: if on_rot { rot } else { 0.0 },
            scale: if on_scale { sc } else { 1.0 },
            translation: if on_trans { [tx, ty] } else { [0.0, 0.0] },
            brightness: if on_bright { br } else { 0.0 },
            contrast: if on_contrast { ct } else { 1.0 },
            gamma: if on_gamma { gm } else { 1.0 },
            blur_sigma: if on_blur && self.blur.max > 0.0 {
                bl.min(self.blur.max.max(0.3))
            } else {
                0.0
            },
            noise_std: if on_noise { ns } else { 0.0 },
            noise_seed,
            occluders: if on_occ { occluders } else { Vec::new() },
        }
    }
}

/// A rectangle in crop_px filled with one colour.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Occluder {
    pub x: f32,
    pub y: f32,
    pub w: f32,
    pub h: f32,
    pub color: [u8; 3],
}

/// The drawn augmentation of one sample.
#[derive(Debug, Clone, PartialEq)]
pub struct Augmentation {
    pub flip: bool,
    /// Rotation about the crop centre (degrees; positive turns x towards y, clockwise on screen).
    pub rotation_deg: f64,
    /// Zoom about the crop centre (> 1 enlarges the face).
    pub scale: f64,
    /// Shift as a fraction of S.
    pub translation: [f64; 2],
    pub brightness: f32,
    pub contrast: f32,
    pub gamma: f32,
    /// 0 = no blur.
    pub blur_sigma: f32,
    /// 0 = no noise.
    pub noise_std: f32,
    pub noise_seed: u64,
    pub occluders: Vec<Occluder>,
}

impl Default for Augmentation {
    fn default() -> Self {
        Augmentation::identity()
    }
}

impl Augmentation {
    /// Changes nothing.
    pub fn identity() -> Augmentation {
        Augmentation {
            flip: false,
            rotation_deg: 0.0,
            scale: 1.0,
            translation: [0.0, 0.0],
            brightness: 0.0,
            contrast: 1.0,
            gamma: 1.0,
            blur_sigma: 0.0,
            noise_std: 0.0,
            noise_seed: 0,
            occluders: Vec::new(),
        }
    }

    /// The jitter in crop_px, `augmented_from_crop`: rotate and scale about the crop centre
    /// `c = ((S−1)/2, (S−1)/2)`, shift by `translation · S`, then mirror `x ↦ S−1−x` if flipped.
    pub fn augmented_from_crop(&self, size: u32) -> Affine2 {
        let s = f64::from(size);
        let c = (s - 1.0) / 2.0;
        let jitter = Affine2::translation(c + self.translation[0] * s, c + self.translation[1] * s)
            * Affine2::similarity(self.scale, self.rotation_deg.to_radians(), 0.0, 0.0)
            * Affine2::translation(-c, -c);
        if self.flip {
            Affine2::mirror_x(size) * jitter
        } else {
            jitter
        }
    }

    /// The augmented crop: `augmented_from_crop ∘ crop_from_image`.
    pub fn apply_to_crop(&self, crop_from_image: &Affine2, size: u32) -> Affine2 {
        self.augmented_from_crop(size) * *crop_from_image
    }

    /// Re-label landmarks after the geometric part: when flipped, `out[i] = pts[flip[i]]`
    /// (the mirror image of landmark `flip[i]` is landmark `i`). Errors if `flip` does not fit.
    pub fn relabel<T: Copy>(&self, pts: &[T], flip: &[usize]) -> Result<Vec<T>> {
        if !self.flip {
            return Ok(pts.to_vec());
        }
        if flip.len() != pts.len() || flip.iter().any(|&j| j >= pts.len()) {
            return Err(Error::invalid(
                "flip permutation",
                format!(
                    "{} entries (max {:?}) for {} landmarks",
                    flip.len(),
                    flip.iter().max(),
                    pts.len()
                ),
            ));
        }
        Ok(flip.iter().map(|&j| pts[j]).collect())
    }

    /// Apply the photometric part to a warped crop, in place: brightness, contrast and gamma
    /// (one lookup table), then blur, occluders and noise.
    pub fn apply_photometric(&self, crop: &mut RgbImage) {
        if self.brightness != 0.0 || self.contrast != 1.0 || self.gamma != 1.0 {
            let mean = if self.contrast != 1.0 {
                let raw: &[u8] = crop.as_raw();
                raw.iter().map(|&v| f64::from(v)).sum::<f64>() / raw.len().max(1) as f64 / 255.0
            } else {
                0.0
            } as f32;
            let lut: Vec<u8> = (0..256)
                .map(|v| {
                    let x = v as f32 / 255.0;
                    let x = (x - mean) * self.contrast + mean + self.brightness;
                    let x = x.clamp(0.0, 1.0).powf(self.gamma);
                    (x * 255.0 + 0.5).clamp(0.0, 255.0) as u8
                })
                .collect();
            for v in crop.iter_mut() {
                *v = lut[*v as usize];
            }
        }
        if self.blur_sigma > 0.0 {
            *crop = imageproc::filter::gaussian_blur_f32(crop, self.blur_sigma);
        }
        let (w, h) = (crop.width() as f32, crop.height() as f32);
        for o in &self.occluders {
            let (x0, y0) = (o.x.max(0.0).round() as u32, o.y.max(0.0).round() as u32);
            let (x1, y1) = (
                (o.x + o.w).min(w).round() as u32,
                (o.y + o.h).min(h).round() as u32,
            );
            for y in y0..y1 {
                for x in x0..x1 {
                    crop.put_pixel(x, y, image::Rgb(o.color));
                }
            }
        }
        if self.noise_std > 0.0 {
            let mut rng = rng_for(self.noise_seed, 0, 0, 0x6e6f_6973); // "nois"
            let sd = self.noise_std * 255.0;
            for v in crop.iter_mut() {
                let n: f32 = StandardNormal.sample(&mut rng);
                *v = (f32::from(*v) + n * sd + 0.5).clamp(0.0, 255.0) as u8;
            }
        }
    }
}

/// Crop, augment and warp one image: returns the S×S crop, the landmarks in crop_px (re-labelled
/// if flipped) and the final `crop_from_image` (including the jitter and any mirror).
pub fn augment_crop(
    img: &RgbImage,
    landmarks_image_px: &[Point],
    crop_from_image: &Affine2,
    size: u32,
    aug: &Augmentation,
    flip: &[usize],
) -> Result<(RgbImage, Vec<Point>, Affine2)> {
    let t = aug.apply_to_crop(crop_from_image, size);
    let mut crop = warp_rgb(img, &t, size)?;
    aug.apply_photometric(&mut crop);
    let pts = aug.relabel(&t.apply_all(landmarks_image_px), flip)?;
    Ok((crop, pts, t))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::geometry::{crop_from_landmarks, CropSpec};
    use proptest::prelude::*;

    #[test]
    fn config_roundtrips_and_validates() {
        let c = AugmentConfig::default();
        c.validate().unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(serde_json::from_str::<AugmentConfig>(&json).unwrap(), c);
        // Missing fields take defaults; unknown fields are rejected.
        let partial: AugmentConfig = serde_json::from_str(r#"{"flip": 0.0}"#).unwrap();
        assert_eq!(partial.rotation, c.rotation);
        assert!(serde_json::from_str::<AugmentConfig>(r#"{"flipp": 0.0}"#).is_err());
        let bad = AugmentConfig { flip: 1.5, ..c };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("augment.flip"));
        let bad = AugmentConfig {
            scale: Jitter::new(1.0, 1.0),
            ..c
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .to_string()
            .contains("augment.scale.max"));
    }

    #[test]
    fn sampling_is_deterministic_and_varies() {
        let c = AugmentConfig::default();
        assert_eq!(c.sample(64, 7, 3, 11), c.sample(64, 7, 3, 11));
        assert_ne!(c.sample(64, 7, 3, 11), c.sample(64, 7, 3, 12));
        assert_ne!(c.sample(64, 7, 3, 11), c.sample(64, 7, 4, 11));
        assert_ne!(c.sample(64, 7, 3, 11), c.sample(64, 8, 3, 11));
        let n = AugmentConfig::none().sample(64, 1, 2, 3);
        assert_eq!(
            n,
            Augmentation {
                noise_seed: n.noise_seed,
                ..Augmentation::identity()
            }
        );
        // Ranges: 200 draws stay within the configured bounds.
        for i in 0..200 {
            let a = c.sample(64, 1, 0, i);
            assert!(a.rotation_deg.abs() <= 30.0 && (a.scale - 1.0).abs() <= 0.25);
            assert!(a.translation.iter().all(|t| t.abs() <= 0.1));
            assert!(a.blur_sigma == 0.0 || (0.3..=1.5).contains(&a.blur_sigma));
        }
    }

    #[test]
    fn jitter_hand_computed() {
        // S = 11: centre c = 5. Rotation 90°: (x, y) ↦ c + R(p − c), R(90°)(1, 0) = (0, 1).
        // (6, 5) − c = (1, 0) ↦ (0, 1) + c = (5, 6). Scale 2 makes it (5, 7); translation 0.1·11
        // = 1.1 in x gives (6.1, 7); the mirror x ↦ 10 − x gives (3.9, 7).
        let a = Augmentation {
            rotation_deg: 90.0,
            scale: 2.0,
            translation: [0.1, 0.0],
            flip: true,
            ..Augmentation::identity()
        };
        let p = a.augmented_from_crop(11).apply([6.0, 5.0]);
        assert!(
            (p[0] - 3.9).abs() < 1e-5 && (p[1] - 7.0).abs() < 1e-5,
            "{p:?}"
        );
    }

    #[test]
    fn relabel_uses_the_flip_permutation() {
        let pts = [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [3.0, 0.0], [4.0, 0.0]];
        let flip = [1, 0, 2, 4, 3];
        let a = Augmentation {
            flip: true,
            ..Augmentation::identity()
        };
        let r = a.relabel(&pts, &flip).unwrap();
        assert_eq!(
            r,
            vec![[1.0, 0.0], [0.0, 0.0], [2.0, 0.0], [4.0, 0.0], [3.0, 0.0]]
        );
        assert!(a.relabel(&pts, &[0, 1]).is_err());
        assert!(a.relabel(&pts, &[0, 1, 2, 3, 9]).is_err());
    }

    #[test]
    fn photometric_hand_computed() {
        // brightness +0.2 on value 51 (0.2): 0.4 · 255 = 102.
        let mut img = RgbImage::from_pixel(2, 2, image::Rgb([51, 0, 255]));
        Augmentation {
            brightness: 0.2,
            ..Augmentation::identity()
        }
        .apply_photometric(&mut img);
        assert_eq!(img.get_pixel(0, 0).0, [102, 51, 255]);
        // gamma 2 on 0.5 (≈128/255 = 0.50196): 0.25197 · 255 = 64.25 → 64.
        let mut img = RgbImage::from_pixel(1, 1, image::Rgb([128, 128, 128]));
        Augmentation {
            gamma: 2.0,
            ..Augmentation::identity()
        }
        .apply_photometric(&mut img);
        assert_eq!(img.get_pixel(0, 0).0, [64, 64, 64]);
        // contrast 2 about the mean (0 and 200 → mean 100/255): 0 → 0 − 100 → clamp 0; 200 → 255.
        let mut img = RgbImage::from_fn(2, 1, |x, _| {
            image::Rgb(if x == 0 { [0; 3] } else { [200; 3] })
        });
        Augmentation {
            contrast: 2.0,
            ..Augmentation::identity()
        }
        .apply_photometric(&mut img);
        assert_eq!(
            (img.get_pixel(0, 0).0, img.get_pixel(1, 0).0),
            ([0; 3], [255; 3])
        );
        // An occluder covering x ∈ [1, 3), y ∈ [0, 2) of a 4×4 crop paints exactly 4 pixels.
        let mut img = RgbImage::new(4, 4);
        let occ = Occluder {
            x: 1.0,
            y: 0.0,
            w: 2.0,
            h: 2.0,
            color: [9, 8, 7],
        };
        Augmentation {
            occluders: vec![occ],
            ..Augmentation::identity()
        }
        .apply_photometric(&mut img);
        assert_eq!(img.pixels().filter(|p| p.0 == [9, 8, 7]).count(), 4);
        assert_eq!(img.get_pixel(1, 0).0, [9, 8, 7]);
        // Noise changes pixels and is reproducible.
        let a = Augmentation {
            noise_std: 0.1,
            noise_seed: 5,
            ..Augmentation::identity()
        };
        let (mut x, mut y) = (
            RgbImage::from_pixel(8, 8, image::Rgb([128; 3])),
            RgbImage::from_pixel(8, 8, image::Rgb([128; 3])),
        );
        a.apply_photometric(&mut x);
        a.apply_photometric(&mut y);
        assert_eq!(x, y);
        assert!(x.pixels().any(|p| p.0 != [128; 3]));
    }

    /// A black image with a bright 3×3 dot at each (integer) landmark.
    fn dots(w: u32, h: u32, pts: &[Point]) -> RgbImage {
        let mut img = RgbImage::new(w, h);
        for p in pts {
            for dy in -1i32..=1 {
                for dx in -1i32..=1 {
                    img.put_pixel(
                        (p[0] as i32 + dx) as u32,
                        (p[1] as i32 + dy) as u32,
                        image::Rgb([255, 255, 255]),
                    );
                }
            }
        }
        img
    }

    /// Intensity-weighted centroid in a (2r+1)² window around `near`.
    fn centroid(img: &RgbImage, near: Point, r: i32) -> Option<Point> {
        let (mut sx, mut sy, mut sw) = (0.0f64, 0.0f64, 0.0f64);
        for y in near[1].round() as i32 - r..=near[1].round() as i32 + r {
            for x in near[0].round() as i32 - r..=near[0].round() as i32 + r {
                if x < 0 || y < 0 || x >= img.width() as i32 || y >= img.height() as i32 {
                    continue;
                }
                let v = f64::from(img.get_pixel(x as u32, y as u32).0[0]);
                sx += v * f64::from(x);
                sy += v * f64::from(y);
                sw += v;
            }
        }
        (sw > 0.0).then(|| [(sx / sw) as f32, (sy / sw) as f32])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        /// Landmarks stay on their pixels through the full geometric augmentation + warp.
        #[test]
        fn augmented_landmarks_stay_on_their_dots(seed in any::<u64>(), index in 0u64..1000) {
            // Five well separated dots, as a 5-point face in a 120×120 image.
            let pts: Vec<Point> = vec![[40.0, 45.0], [80.0, 45.0], [60.0, 62.0], [45.0, 82.0], [75.0, 82.0]];
            let img = dots(120, 120, &pts);
            let size = 64;
            let crop = crop_from_landmarks(&pts, &CropSpec::new(size)).unwrap();
            let cfg = AugmentConfig::default().geometric_only();
            let aug = cfg.sample(size, seed, 0, index);
            let (out, crop_pts, t) = augment_crop(&img, &pts, &crop, size, &aug, &[1, 0, 2, 4, 3]).unwrap();
            let moved = aug.relabel(&t.apply_all(&pts), &[1, 0, 2, 4, 3]).unwrap();
            prop_assert_eq!(&moved, &crop_pts);
            for p in &crop_pts {
                // Dots that leave the crop cannot be found; those well inside must be on target. The
                // tolerance (0.3 px, tighter than 1 px) catches a half-pixel convention error.
                if p[0] < 3.0 || p[1] < 3.0 || p[0] > size as f32 - 4.0 || p[1] > size as f32 - 4.0 {
                    continue;
                }
                let c = centroid(&out, *p, 3).expect("a dot inside the crop is visible");
                prop_assert!((c[0] - p[0]).abs() < 0.3 && (c[1] - p[1]).abs() < 0.3, "dot at {c:?}, landmark at {p:?}, aug {aug:?}");
            }
        }

        /// Flipping twice is the identity for landmarks (with re-labelling) and pixels.
        #[test]
        fn flip_twice_is_identity(seed in any::<u64>(), size in 8u32..40) {
            let pts: Vec<Point> = vec![[4.0, 5.0], [30.0, 5.0], [17.0, 16.0], [6.0, 28.0], [29.0, 26.0]];
            let img = RgbImage::from_fn(36, 34, |x, y| image::Rgb([(x * 7 + y * 3) as u8, (x * y) as u8, (seed % 251) as u8]));
            let crop = crop_from_landmarks(&pts, &CropSpec::new(size)).unwrap();
            let flip_perm = [1, 0, 2, 4, 3];
            let a = AugmentConfig { flip: 0.0, ..AugmentConfig::default().geometric_only() }.sample(size, seed, 0, 0);
            let f = Augmentation { flip: true, ..Augmentation::identity() };
            let (plain, plain_pts, _) = augment_crop(&img, &pts, &crop, size, &a, &flip_perm).unwrap();
            let af = Augmentation { flip: true, ..a.clone() };
            let (flipped, flipped_pts, _) = augment_crop(&img, &pts, &crop, size, &af, &flip_perm).unwrap();
            // Landmarks: mirror + relabel of the flipped set gives the plain set back.
            let back = f.relabel(&Affine2::mirror_x(size).apply_all(&flipped_pts), &flip_perm).unwrap();
            for (p, q) in plain_pts.iter().zip(&back) {
                prop_assert!((p[0] - q[0]).abs() < 1e-3 && (p[1] - q[1]).abs() < 1e-3);
            }
            // Pixels: the flipped crop is the mirrored plain crop (±1 for rounding at .5),
            // and warping it once more with the mirror restores the plain crop.
            let again = warp_rgb(&flipped, &Affine2::mirror_x(size), size).unwrap();
            for y in 0..size {
                for x in 0..size {
                    let (p, q, r) = (plain.get_pixel(x, y).0, flipped.get_pixel(size - 1 - x, y).0, again.get_pixel(x, y).0);
                    for c in 0..3 {
                        prop_assert!((i32::from(p[c]) - i32::from(q[c])).abs() <= 1);
                        prop_assert!((i32::from(p[c]) - i32::from(r[c])).abs() <= 1);
                    }
                }
            }
        }
    }
}
