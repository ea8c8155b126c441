//! PCA shape model (Active Shape Model) behind the ACR loss and ASMNet's ASM-assisted loss.
//!
//! Sources: Fard & Mahoor, "ACR Loss: Adaptive Coordinate-based Regression Loss for Face
//! Alignment", ICPR 2022 (arXiv 2203.15835), Eqs. 2–4 and the eigenvector schedule; the authors'
//! code aliprf/ACR-Loss (`pca_utilities.py`, `train.py::calculate_adoptive_weight`); Fard,
//! Abdollahi & Mahoor, "ASMNet", CVPRW 2021 (arXiv 2103.00119), ASM operator and α schedule.
//! See SPEC §1.1, §1.2, §1.5, §2.1 and Decisions 1, 2, 4, 5.
//!
//! A face is a flat vector `F = [x1, y1, x2, y2, …]` in **crop_u** units (u = x / W − 0.5 of the
//! model's input crop, Decision 1). The model keeps the mean `F̄`, every eigenvector of the shape
//! covariance (columns of `V`, sorted by decreasing eigenvalue) and the eigenvalues `λ`;
//! how many components a Smooth-Face uses is chosen per call by a share of explained variance.
//!
//! Deviations from the authors' code:
//! - coordinates are crop_u without the sign flip of their `x_n = (W/2 − x)/W` (Decision 1);
//! - λ are eigenvalues of the *sample* covariance (denominator n − 1), which is what sklearn's
//!   `PCA.explained_variance_` (their λ) holds; tiny negative eigenvalues are clipped to 0;
//! - the component count for a share p is the smallest k with cumulative ratio ≥ p (sklearn
//!   uses > p; they differ only when a cumulative ratio equals p exactly);
//! - Φ is 0 everywhere when the Smooth-Face equals the ground truth (their code divides by 0);
//! - the last schedule stage (98 %) is ours: their code crashes after epoch 100 (Decision 4).
//!
//! ## Alignment before PCA ([`ShapeAlign`], config `shape.align`)
//! - [`ShapeAlign::None`] (default, **every paper preset**): the authors' point-wise PCA of the
//!   crop_u shapes as they are. Its leading modes are then mostly the faces' translation, scale
//!   and in-plane rotation inside their crops, so Φ partly measures pose and crop jitter.
//! - [`ShapeAlign::Procrustes`]: classical ASM (Cootes et al. 1995, §3.1): the training shapes
//!   are aligned to their mean by a similarity with generalised Procrustes analysis and projected
//!   into the mean's tangent space ([`crate::procrustes`]) before the PCA, so the modes are shape
//!   only. The GPA frame (unit norm) is then mapped by one similarity onto the point-wise mean of
//!   the crop_u shapes, so the model's mean, eigenvalues and ±3√λ bounds stay in crop_u units.
//!   A Smooth-Face ([`ShapeModel::smooth_face_k`]) aligns the shape to the model mean by the same
//!   similarity ([`ShapeModel::alignment`]: least squares on the labelled points, then the
//!   tangent projection), projects, clamps and reconstructs in that frame, and maps the result
//!   back with the inverse similarity: it is equivariant (the Smooth-Face of `A(G)` is `A` of
//!   the Smooth-Face of `G` for any similarity A), and Φ then ignores the face's pose except for
//!   how rotation mixes x and y. A shape with fewer than 2 distinct labelled points cannot be
//!   aligned and is used as it is (identity alignment).
use std::path::Path;

use nalgebra::{DMatrix, SymmetricEigen};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::procrustes::{
    align_to, generalized_procrustes, tangent_align, Similarity, GPA_MAX_ITERATIONS,
};
use crate::scheme::SchemeId;

/// The coordinate convention every shape model of facealign uses (Decision 1).
pub const CROP_U: &str = "crop_u";

/// Tolerance when comparing a cumulative explained-variance ratio with a requested share.
const SHARE_TOL: f64 = 1e-12;

/// How training shapes are aligned before the PCA (see the module header).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ShapeAlign {
    /// Point-wise PCA of the shapes as given (the ACR/ASMNet authors; paper presets).
    #[default]
    None,
    /// Similarity alignment to the mean (generalised Procrustes analysis) before the PCA.
    Procrustes,
}

/// A fitted PCA shape model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShapeModel {
    /// Landmark scheme of the training shapes.
    scheme: SchemeId,
    /// Coordinate convention of the shapes ([`CROP_U`]).
    convention: String,
    /// Side of the square model input the crop_u units refer to (pixels).
    crop_size: u32,
    /// Enlargement of the landmark box that defined the crop (Decision 8).
    enlarge: f32,
    /// Number of training shapes.
    n_shapes: usize,
    /// Mean shape `F̄` (length 2M).
    mean: Vec<f64>,
    /// Eigenvalues λ, descending, ≥ 0 (length 2M).
    eigenvalues: Vec<f64>,
    /// Explained-variance ratios λ_i / Σλ (length 2M).
    explained_ratio: Vec<f64>,
    /// `components[i]` is eigenvector i (column i of V), unit length, length 2M.
    components: Vec<Vec<f64>>,
    /// Alignment before the PCA; absent in files written before it existed (= `none`).
    #[serde(default)]
    align: ShapeAlign,
}

/// Mean, eigenvalues, explained ratios and components of a PCA.
type PcaParts = (Vec<f64>, Vec<f64>, Vec<f64>, Vec<Vec<f64>>);

impl ShapeModel {
    /// Fit the model on `shapes` (flat crop_u vectors of `scheme`) without alignment:
    /// [`Self::fit_aligned`] with [`ShapeAlign::None`].
    pub fn fit(shapes: &[Vec<f32>], scheme: SchemeId) -> Result<ShapeModel> {
        Self::fit_aligned(shapes, scheme, ShapeAlign::None)
    }

    /// Fit the model on `shapes` (flat crop_u vectors of `scheme`, every point labelled).
    ///
    /// Covariance is the sample covariance `XᵀX / (n − 1)` of the centred shapes. Eigenvectors
    /// get a deterministic sign: their largest-magnitude entry is positive.
    /// Crop metadata defaults to the paper preset (224 px, ×1.25); set it with [`Self::with_crop`].
    ///
    /// With [`ShapeAlign::Procrustes`] the PCA is of the shapes after generalised Procrustes
    /// analysis (tangent space; [`generalized_procrustes`]), mapped by one similarity from the
    /// unit-norm GPA frame onto the point-wise mean of `shapes` (module header).
    pub fn fit_aligned(
        shapes: &[Vec<f32>],
        scheme: SchemeId,
        align: ShapeAlign,
    ) -> Result<ShapeModel> {
        let n = shapes.len();
        if n < 2 {
            return Err(Error::invalid(
                "shapes",
                format!("a shape model needs at least 2 shapes, got {n}"),
            ));
        }
        let d = 2 * scheme.n_points();
        for (i, s) in shapes.iter().enumerate() {
            if s.len() != d {
                return Err(Error::invalid(
                    "shapes",
                    format!(
                        "shape {i} has {} values, expected {d} (2 × {} points of {})",
                        s.len(),
                        d / 2,
                        scheme.name()
                    ),
                ));
            }
            if let Some(j) = s.iter().position(|v| !v.is_finite()) {
                return Err(Error::invalid(
                    "shapes",
                    format!("shape {i} value {j} is not finite ({})", s[j]),
                ));
            }
        }
        let (mean, eigenvalues, explained_ratio, components) = match align {
            ShapeAlign::None => Self::pca(n, d, |r, c| f64::from(shapes[r][c]))?,
            ShapeAlign::Procrustes => {
                let gpa = generalized_procrustes(shapes, GPA_MAX_ITERATIONS)?;
                let mut plain = vec![0.0f64; d];
                for s in shapes {
                    for (m, &v) in plain.iter_mut().zip(s) {
                        *m += f64::from(v) / n as f64;
                    }
                }
                // The pose of the model frame: GPA mean → point-wise mean (any similarity would
                // do; this one keeps crop_u units). GPA succeeded, so its mean is not degenerate.
                let gpa_mean: Vec<f32> = gpa.mean.iter().map(|&v| v as f32).collect();
                let pose = align_to(&gpa_mean, &plain)?;
                let rows: Vec<Vec<f64>> = gpa.aligned.iter().map(|a| pose.apply_f64(a)).collect();
                let parts = Self::pca(n, d, |r, c| rows[r][c])?;
                // Shapes that differ only by a similarity leave rounding noise after alignment
                // (f32 inputs: relative 1e-7, variance 1e-14): call below 1e-12 no variance.
                let spread: f64 = parts.0.iter().map(|v| v * v).sum();
                if parts.1.iter().sum::<f64>() <= 1e-12 * spread {
                    return Err(Error::invalid(
                        "shapes",
                        format!(
                            "the {n} shapes differ only by a similarity \
                             (no shape variance after Procrustes alignment)"
                        ),
                    ));
                }
                parts
            }
        };
        Ok(ShapeModel {
            scheme,
            convention: CROP_U.to_string(),
            crop_size: 224,
            enlarge: 1.25,
            n_shapes: n,
            mean,
            eigenvalues,
            explained_ratio,
            components,
            align,
        })
    }

    /// PCA of `n` rows of length `d` (`value(row, column)`): mean, eigenvalues (descending,
    /// clipped at 0), explained ratios and sign-fixed unit eigenvectors.
    fn pca(n: usize, d: usize, value: impl Fn(usize, usize) -> f64) -> Result<PcaParts> {
        let mut mean = vec![0.0f64; d];
        for r in 0..n {
            for (c, m) in mean.iter_mut().enumerate() {
                *m += value(r, c);
            }
        }
        for m in &mut mean {
            *m /= n as f64;
        }
        let x = DMatrix::from_fn(n, d, |r, c| value(r, c) - mean[c]);
        let cov = (x.transpose() * &x) / ((n - 1) as f64);
        let eig = SymmetricEigen::new(cov);
        let mut order: Vec<usize> = (0..d).collect();
        order.sort_by(|&a, &b| eig.eigenvalues[b].total_cmp(&eig.eigenvalues[a]));
        let eigenvalues: Vec<f64> = order.iter().map(|&i| eig.eigenvalues[i].max(0.0)).collect();
        let total: f64 = eigenvalues.iter().sum();
        if !(total > 0.0 && total.is_finite()) {
            return Err(Error::invalid(
                "shapes",
                format!("the {n} shapes have no variance (all identical?)"),
            ));
        }
        let explained_ratio = eigenvalues.iter().map(|l| l / total).collect();
        let components = order
            .iter()
            .map(|&i| {
                let mut v: Vec<f64> = eig.eigenvectors.column(i).iter().copied().collect();
                let big = v
                    .iter()
                    .copied()
                    .fold(0.0f64, |acc, e| if e.abs() > acc.abs() { e } else { acc });
                if big < 0.0 {
                    v.iter_mut().for_each(|e| *e = -*e);
                }
                v
            })
            .collect();
        Ok((mean, eigenvalues, explained_ratio, components))
    }

    /// Record the crop the crop_u units refer to (input side in pixels, box enlargement).
    pub fn with_crop(mut self, crop_size: u32, enlarge: f32) -> ShapeModel {
        self.crop_size = crop_size;
        self.enlarge = enlarge;
        self
    }

    /// Landmark scheme.
    pub fn scheme(&self) -> SchemeId {
        self.scheme
    }
    /// Coordinate convention (always [`CROP_U`] for models built here).
    pub fn convention(&self) -> &str {
        &self.convention
    }
    /// Crop side in pixels.
    pub fn crop_size(&self) -> u32 {
        self.crop_size
    }
    /// Landmark-box enlargement of the crop.
    pub fn enlarge(&self) -> f32 {
        self.enlarge
    }
    /// Number of training shapes.
    pub fn n_shapes(&self) -> usize {
        self.n_shapes
    }
    /// Length 2M of a shape vector.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    /// Mean shape F̄.
    pub fn mean(&self) -> &[f64] {
        &self.mean
    }
    /// Eigenvalues λ, descending.
    pub fn eigenvalues(&self) -> &[f64] {
        &self.eigenvalues
    }
    /// Explained-variance ratios, descending, summing to 1.
    pub fn explained_ratio(&self) -> &[f64] {
        &self.explained_ratio
    }
    /// Eigenvector `i` (column i of V).
    pub fn component(&self, i: usize) -> Option<&[f64]> {
        self.components.get(i).map(Vec::as_slice)
    }
    /// Number of components (= 2M).
    pub fn n_components(&self) -> usize {
        self.components.len()
    }
    /// Alignment of the shapes before the PCA.
    pub fn align(&self) -> ShapeAlign {
        self.align
    }

    /// The similarity from `shape`'s frame into the model frame, where [`Self::project`],
    /// [`Self::project_labelled`] and [`Self::reconstruct`] work: the identity for
    /// [`ShapeAlign::None`]; for [`ShapeAlign::Procrustes`] the least-squares alignment of the
    /// labelled points (both coordinates finite) to the model mean followed by the tangent
    /// projection ([`tangent_align`]), or the identity when they are fewer than 2 or coincide.
    pub fn alignment(&self, shape: &[f32]) -> Result<Similarity> {
        if shape.len() != self.dim() {
            return Err(Error::invalid(
                "shape",
                format!("{} values, the model has {}", shape.len(), self.dim()),
            ));
        }
        Ok(match self.align {
            ShapeAlign::None => Similarity::IDENTITY,
            ShapeAlign::Procrustes => {
                tangent_align(shape, &self.mean).unwrap_or(Similarity::IDENTITY)
            }
        })
    }

    /// The smallest k whose cumulative explained-variance ratio is ≥ `share` (tolerance 1e-12).
    /// `share` ≤ 0 (or NaN) gives 0 (Smooth-Face = mean); `share` ≥ 1 gives the last component
    /// with a non-zero ratio at the latest.
    pub fn components_for_variance(&self, share: f64) -> usize {
        if share.is_nan() || share <= 0.0 {
            return 0;
        }
        let mut cum = 0.0;
        for (i, r) in self.explained_ratio.iter().enumerate() {
            cum += r;
            if cum >= share - SHARE_TOL {
                return i + 1;
            }
        }
        self.explained_ratio.len()
    }

    /// Shape parameters over all components: `b = Vᵀ (F − F̄)` (ACR Eq. 2), `F` in the model
    /// frame (with [`ShapeAlign::Procrustes`], map a shape there with [`Self::alignment`] first).
    pub fn project(&self, shape: &[f32]) -> Result<Vec<f64>> {
        self.check_shape("shape", shape)?;
        let centred: Vec<f64> = shape
            .iter()
            .zip(&self.mean)
            .map(|(&v, m)| f64::from(v) - m)
            .collect();
        Ok(self
            .components
            .iter()
            .map(|c| c.iter().zip(&centred).map(|(a, b)| a * b).sum())
            .collect())
    }

    /// Clamp each parameter to ±3√λ_i. `b` may be shorter than the component count (the first
    /// `b.len()` components); longer is an error.
    pub fn clamp(&self, b: &[f64]) -> Result<Vec<f64>> {
        if b.len() > self.eigenvalues.len() {
            return Err(Error::invalid(
                "shape parameters",
                format!(
                    "{} values for a model with {} components",
                    b.len(),
                    self.eigenvalues.len()
                ),
            ));
        }
        Ok(b.iter()
            .zip(&self.eigenvalues)
            .map(|(&bi, &l)| {
                let lim = 3.0 * l.sqrt();
                bi.clamp(-lim, lim)
            })
            .collect())
    }

    /// `F̄ + Σ_{i<k} b_i v_i`.
    pub fn reconstruct(&self, b: &[f64], k: usize) -> Result<Vec<f64>> {
        if k > b.len() || k > self.components.len() {
            return Err(Error::invalid(
                "component count",
                format!(
                    "k = {k} but b has {} values and the model {} components",
                    b.len(),
                    self.components.len()
                ),
            ));
        }
        let mut out = self.mean.clone();
        for (bi, c) in b.iter().zip(&self.components).take(k) {
            for (o, v) in out.iter_mut().zip(c) {
                *o += bi * v;
            }
        }
        Ok(out)
    }

    /// Shape parameters of the first `k` components for a **partly labelled** shape: NaN
    /// coordinates are unlabelled, and `b` minimises `Σ_labelled (F̄ + V_k b − F)²` (least squares
    /// on the labelled coordinates; the minimum-norm solution when they do not determine all k
    /// parameters). For a fully labelled shape this is `V_kᵀ (F − F̄)`, i.e. [`Self::project`]
    /// truncated to k, since V is orthonormal.
    pub fn project_labelled(&self, shape: &[f32], k: usize) -> Result<Vec<f64>> {
        if shape.len() != self.dim() {
            return Err(Error::invalid(
                "shape",
                format!("{} values, the model has {}", shape.len(), self.dim()),
            ));
        }
        let k = k.min(self.components.len());
        let rows: Vec<usize> = (0..shape.len()).filter(|&j| shape[j].is_finite()).collect();
        if rows.len() == shape.len() {
            let mut b = self.project(shape)?;
            b.truncate(k);
            return Ok(b);
        }
        if rows.is_empty() || k == 0 {
            return Ok(vec![0.0; k]);
        }
        let a = DMatrix::from_fn(rows.len(), k, |r, c| self.components[c][rows[r]]);
        let y = DMatrix::from_fn(rows.len(), 1, |r, _| {
            f64::from(shape[rows[r]]) - self.mean[rows[r]]
        });
        let svd = a.svd(true, true);
        let b = svd
            .solve(&y, 1e-10)
            .map_err(|e| Error::invalid("shape projection", e.to_string()))?;
        Ok(b.iter().copied().collect())
    }

    /// Smooth-Face with the first `k` components: `F̄ + V_k clamp(b)_k` (ACR Eq. 3). A partly
    /// labelled shape (NaN = unlabelled) is projected on its labelled coordinates
    /// ([`Self::project_labelled`]); its Smooth-Face is complete (every point).
    ///
    /// With [`ShapeAlign::Procrustes`]: `T⁻¹(F̄ + V_k clamp(b)_k)` with `T` =
    /// [`Self::alignment`] of the shape and `b` the parameters of `T(shape)`.
    pub fn smooth_face_k(&self, shape: &[f32], k: usize) -> Result<Vec<f32>> {
        let to_f32 = |v: Vec<f64>| v.into_iter().map(|v| v as f32).collect();
        match self.align {
            ShapeAlign::None => Ok(to_f32(self.smooth_in_model_frame(shape, k)?)),
            ShapeAlign::Procrustes => {
                let t = self.alignment(shape)?;
                let smooth = self.smooth_in_model_frame(&t.apply(shape), k)?;
                Ok(to_f32(t.inverse().apply_f64(&smooth)))
            }
        }
    }

    /// `F̄ + V_k clamp(b)_k` of a shape already in the model frame.
    fn smooth_in_model_frame(&self, shape: &[f32], k: usize) -> Result<Vec<f64>> {
        let b = if shape.iter().all(|v| v.is_finite()) {
            self.clamp(&self.project(shape)?)?
        } else {
            self.clamp(&self.project_labelled(shape, k)?)?
        };
        self.reconstruct(&b, k.min(b.len()))
    }

    /// Smooth-Face keeping the components that explain `share` of the variance (SPEC §1.1).
    pub fn smooth_face(&self, shape: &[f32], share: f64) -> Result<Vec<f32>> {
        self.smooth_face_k(shape, self.components_for_variance(share))
    }

    /// Smooth-Face and ACR weights Φ of a ground-truth shape in one call.
    pub fn acr_targets(&self, gt: &[f32], share: f64) -> Result<(Vec<f32>, Vec<f32>)> {
        let smooth = self.smooth_face(gt, share)?;
        let phi = acr_phi(gt, &smooth)?;
        Ok((smooth, phi))
    }

    /// An error unless the model was fitted for `scheme` in `convention`.
    pub fn check_compatible(&self, scheme: SchemeId, convention: &str) -> Result<()> {
        if self.scheme != scheme {
            return Err(Error::invalid(
                "shape model",
                format!(
                    "fitted on scheme {} but used with {}",
                    self.scheme.name(),
                    scheme.name()
                ),
            ));
        }
        if self.convention != convention {
            return Err(Error::invalid(
                "shape model",
                format!(
                    "coordinates are `{}` but `{convention}` was expected",
                    self.convention
                ),
            ));
        }
        Ok(())
    }

    /// Save as JSON, atomically (temp file + rename).
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = serde_json::to_vec(self).map_err(|e| {
            Error::invalid(
                "shape model",
                format!("{}: cannot serialise: {e}", path.display()),
            )
        })?;
        write_atomic(path, &bytes)
    }

    /// Load a model written by [`Self::save`]; checks its internal consistency.
    pub fn load(path: impl AsRef<Path>) -> Result<ShapeModel> {
        let path = path.as_ref();
        let text = crate::fsio::read_text(path)?;
        let m: ShapeModel = serde_json::from_str(&text).map_err(|e| {
            Error::parse(
                path,
                format!("line {} column {}", e.line(), e.column()),
                e.to_string(),
            )
        })?;
        m.validate()
            .map_err(|(field, msg)| Error::parse(path, format!("field {field}"), msg))?;
        Ok(m)
    }

    fn validate(&self) -> std::result::Result<(), (&'static str, String)> {
        let d = 2 * self.scheme.n_points();
        if self.mean.len() != d {
            return Err(("mean", format!("{} values, expected {d}", self.mean.len())));
        }
        if self.eigenvalues.len() != d || self.explained_ratio.len() != d {
            return Err((
                "eigenvalues",
                format!("expected {d} eigenvalues and ratios"),
            ));
        }
        if self.eigenvalues.iter().any(|l| !l.is_finite() || *l < 0.0)
            || self.eigenvalues.windows(2).any(|w| w[0] < w[1])
        {
            return Err(("eigenvalues", "must be finite, ≥ 0 and descending".into()));
        }
        if self.components.len() != d || self.components.iter().any(|c| c.len() != d) {
            return Err((
                "components",
                format!("expected {d} components of length {d}"),
            ));
        }
        if self
            .mean
            .iter()
            .chain(self.components.iter().flatten())
            .any(|v| !v.is_finite())
        {
            return Err(("components", "non-finite value".into()));
        }
        if self.n_shapes < 2 {
            return Err(("n_shapes", format!("{} (at least 2)", self.n_shapes)));
        }
        Ok(())
    }

    fn check_shape(&self, what: &str, shape: &[f32]) -> Result<()> {
        if shape.len() != self.dim() {
            return Err(Error::invalid(
                what,
                format!(
                    "{} values, the {} shape model expects {}",
                    shape.len(),
                    self.scheme.name(),
                    self.dim()
                ),
            ));
        }
        if let Some(j) = shape.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                what,
                format!("value {j} is not finite ({})", shape[j]),
            ));
        }
        Ok(())
    }

    /// Draw the mean shape with the first three modes at ±3σ (σ = √λ), one panel per mode:
    /// grey = mean, red = +3σ, blue = −3σ. Written atomically as PNG.
    pub fn plot_modes(&self, path_png: impl AsRef<Path>) -> Result<()> {
        use plotters::prelude::*;
        let path = path_png.as_ref();
        crate::plotting::ensure_font()?;
        let (pw, ph) = (360u32, 400u32);
        let modes = self.components.len().min(3);
        let (w, h) = (pw * modes.max(1) as u32, ph);
        let to_pts =
            |s: &[f64]| -> Vec<(f64, f64)> { s.chunks_exact(2).map(|p| (p[0], -p[1])).collect() };
        let shapes: Vec<[Vec<(f64, f64)>; 3]> = (0..modes)
            .map(|i| {
                let step = 3.0 * self.eigenvalues[i].sqrt();
                let along = |sgn: f64| -> Vec<f64> {
                    self.mean
                        .iter()
                        .zip(&self.components[i])
                        .map(|(m, v)| m + sgn * step * v)
                        .collect()
                };
                [
                    to_pts(&self.mean),
                    to_pts(&along(1.0)),
                    to_pts(&along(-1.0)),
                ]
            })
            .collect();
        // One square range shared by all panels, so the modes compare at the same scale.
        let all = shapes.iter().flatten().flatten();
        let (mut x0, mut x1, mut y0, mut y1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
        for &(x, y) in all {
            x0 = x0.min(x);
            x1 = x1.max(x);
            y0 = y0.min(y);
            y1 = y1.max(y);
        }
        let half = ((x1 - x0).max(y1 - y0) / 2.0 * 1.1).max(1e-6);
        let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
        let mut buf = vec![0u8; (w * h * 3) as usize];
        {
            let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
            root.fill(&WHITE)
                .map_err(|e| crate::plotting::draw_err(path, e))?;
            let panels = root.split_evenly((1, modes.max(1)));
            for (i, (panel, sets)) in panels.iter().zip(&shapes).enumerate() {
                let mut chart = ChartBuilder::on(panel)
                    .caption(format!("mode {} (±3σ)", i + 1), ("sans-serif", 18))
                    .margin(10)
                    .build_cartesian_2d(cx - half..cx + half, cy - half..cy + half)
                    .map_err(|e| crate::plotting::draw_err(path, e))?;
                let colours = [RGBColor(120, 120, 120), RED, BLUE];
                for (set, colour) in sets.iter().zip(colours) {
                    chart
                        .draw_series(set.iter().map(|&p| Circle::new(p, 3, colour.filled())))
                        .map_err(|e| crate::plotting::draw_err(path, e))?;
                }
            }
            root.present()
                .map_err(|e| crate::plotting::draw_err(path, e))?;
        }
        write_atomic(path, &crate::plotting::png_bytes(buf, w, h)?)
    }
}

/// Fit the PCA shape model on the (unaugmented) crops of a dataset's **fully labelled** faces,
/// in crop_u (partly labelled ones are projected on it by least squares later), and record the
/// crop protocol with it. Needs at least 2 such faces.
pub fn fit_on_crops(
    ds: &crate::Dataset,
    spec: &crate::geometry::CropSpec,
    align: ShapeAlign,
) -> Result<ShapeModel> {
    let shapes = training_shapes(ds, spec)?;
    if shapes.len() < 2 {
        return Err(Error::invalid(
            "shape model",
            format!(
                "it needs at least 2 fully labelled training faces; {} has {}",
                ds.source,
                shapes.len()
            ),
        ));
    }
    Ok(ShapeModel::fit_aligned(&shapes, ds.scheme.id, align)?.with_crop(spec.size, spec.enlarge))
}

/// The training shapes of `ds` for [`ShapeModel::fit`]: each **fully labelled** sample's
/// landmarks in crop_u of its landmark crop (`spec`), flattened (partly labelled faces are
/// projected on the model later, by least squares on their labelled coordinates). Errors name
/// the sample and its image file: a degenerate shape (all points equal, nothing to crop around)
/// or a non-finite landmark that is not an unlabelled one.
pub fn training_shapes(
    ds: &crate::sample::Dataset,
    spec: &crate::geometry::CropSpec,
) -> Result<Vec<Vec<f32>>> {
    use crate::loader::{sample_crop, sample_label, CropSource};
    ds.samples
        .iter()
        .filter(|s| s.fully_labelled())
        .map(|s| {
            if let Some(k) = s
                .landmarks
                .iter()
                .position(|p| !(p[0].is_finite() && p[1].is_finite()))
            {
                return Err(Error::invalid(
                    sample_label(s),
                    format!(
                        "landmark {k} is not finite ({:?}); the shape model needs every point",
                        s.landmarks[k]
                    ),
                ));
            }
            let t = sample_crop(s, spec, &CropSource::Landmarks)?;
            Ok(
                crate::geometry::landmarks_to_crop_u(&s.landmarks, &t, spec.size)
                    .into_iter()
                    .flatten()
                    .collect(),
            )
        })
        .collect()
}

/// ACR difficulty weights Φ (Decision 2): `Δ_j = |G_j − S_j|` per coordinate, divided by the
/// largest Δ of this face; all zeros when the largest is 0. A NaN ground-truth coordinate is
/// unlabelled: its Φ is 0 and it takes no part in the maximum.
pub fn acr_phi(gt: &[f32], smooth: &[f32]) -> Result<Vec<f32>> {
    if gt.len() != smooth.len() {
        return Err(Error::invalid(
            "ACR weights",
            format!(
                "ground truth has {} values, Smooth-Face {}",
                gt.len(),
                smooth.len()
            ),
        ));
    }
    let delta: Vec<f64> = gt
        .iter()
        .zip(smooth)
        .map(|(&g, &s)| {
            if g.is_nan() {
                0.0
            } else {
                (f64::from(g) - f64::from(s)).abs()
            }
        })
        .collect();
    if let Some(j) = delta.iter().position(|d| !d.is_finite()) {
        return Err(Error::invalid(
            "ACR weights",
            format!("value {j} is not finite"),
        ));
    }
    let max = delta.iter().copied().fold(0.0, f64::max);
    if max == 0.0 {
        return Ok(vec![0.0; delta.len()]);
    }
    Ok(delta.iter().map(|d| (d / max) as f32).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    /// 3 points (d = 6) moving along one unit direction u = (1, 2, 0, 0, 2, −4)/5
    /// (|u|² = (1 + 4 + 4 + 16)/25 = 1) with offsets t = −2, −1, 0, 1, 2 around a base shape.
    /// Mean = base (Σt = 0); covariance = u uᵀ · Σt² / (n − 1) = u uᵀ · 10 / 4, so
    /// λ1 = 2.5, all other λ = 0, v1 = u (sign: largest entry −4/5 is negative, so v1 = −u).
    fn line_shapes() -> (Vec<Vec<f32>>, [f64; 6], [f64; 6]) {
        let u = [0.2, 0.4, 0.0, 0.0, 0.4, -0.8];
        let base = [0.1, -0.2, 0.3, 0.05, -0.1, 0.2];
        let shapes = [-2.0, -1.0, 0.0, 1.0, 2.0]
            .iter()
            .map(|t| (0..6).map(|j| (base[j] + t * u[j]) as f32).collect())
            .collect();
        (shapes, u, base)
    }

    /// Fit 3-point shapes with the 5-point scheme `Five` (d = 10) by padding 4 constant zeros.
    fn fit_small(shapes: &[Vec<f32>]) -> ShapeModel {
        let padded: Vec<Vec<f32>> = shapes
            .iter()
            .map(|s| {
                let mut v = s.clone();
                v.resize(10, 0.0);
                v
            })
            .collect();
        ShapeModel::fit(&padded, SchemeId::Five).expect("fit on a valid small set")
    }

    #[test]
    fn first_eigenvector_is_the_known_direction() {
        let (shapes, u, base) = line_shapes();
        let m = fit_small(&shapes);
        assert!(
            close(m.eigenvalues()[0], 2.5, 1e-6),
            "λ1 = {}",
            m.eigenvalues()[0]
        );
        assert!(
            m.eigenvalues()[1..].iter().all(|&l| l < 1e-6),
            "{:?}",
            m.eigenvalues()
        );
        let v = m.component(0).expect("component 0");
        for j in 0..6 {
            assert!(close(v[j], -u[j], 1e-6), "v1[{j}] = {} vs {}", v[j], -u[j]);
            assert!(close(m.mean()[j], base[j], 1e-6));
        }
        assert!(close(m.explained_ratio()[0], 1.0, 1e-6));
        assert_eq!(m.components_for_variance(0.5), 1);
        assert_eq!(m.n_shapes(), 5);
    }

    /// m_i = 4, 3, 2, 1 pairs of shapes ±e_i (i = 0..3) in d = 10, n = 20 shapes: mean 0,
    /// covariance diag(2·m_i)/(n − 1) = diag(8, 6, 4, 2)/19, so λ = 8/19, 6/19, 4/19, 2/19, 0, …;
    /// ratios 0.4, 0.3, 0.2, 0.1; cumulative 0.4, 0.7, 0.9, 1.0. (±1 is exact in f32.)
    fn axis_model() -> ShapeModel {
        let mut shapes = Vec::new();
        for (i, m) in [4, 3, 2, 1].into_iter().enumerate() {
            for _ in 0..m {
                for sgn in [1.0, -1.0] {
                    let mut s = vec![0.0f32; 10];
                    s[i] = sgn;
                    shapes.push(s);
                }
            }
        }
        ShapeModel::fit(&shapes, SchemeId::Five).expect("fit")
    }

    #[test]
    fn eigenvalues_use_n_minus_1_and_components_for_variance() {
        let m = axis_model();
        for (l, want) in
            m.eigenvalues()
                .iter()
                .zip([8.0 / 19.0, 6.0 / 19.0, 4.0 / 19.0, 2.0 / 19.0, 0.0])
        {
            assert!(close(*l, want, 1e-6), "{l} vs {want}");
        }
        for (share, k) in [
            (0.4, 1),
            (0.41, 2),
            (0.7, 2),
            (0.85, 3),
            (0.9, 3),
            (0.95, 4),
            (1.0, 4),
            (0.0, 0),
        ] {
            assert_eq!(m.components_for_variance(share), k, "share {share}");
        }
    }

    #[test]
    fn smooth_face_with_zero_share_is_mean_and_clamps() {
        let m = axis_model();
        // Shape 10·e0: b0 = 10 (v0 = e0 after sign fix) is clamped to 3√(8/19) = 1.9467.
        let mut s = vec![0.0f32; 10];
        s[0] = 10.0;
        let b = m.project(&s).expect("project");
        assert!(close(b[0], 10.0, 1e-6));
        let bc = m.clamp(&b).expect("clamp");
        assert!(close(bc[0], 3.0 * (8.0f64 / 19.0).sqrt(), 1e-9));
        let sm = m.smooth_face(&s, 0.4).expect("smooth");
        assert!(
            close(f64::from(sm[0]), 3.0 * (8.0f64 / 19.0).sqrt(), 1e-5),
            "{sm:?}"
        );
        let mean = m.smooth_face(&s, 0.0).expect("smooth k=0");
        assert!(
            mean.iter().all(|v| v.abs() < 1e-6),
            "k = 0 gives the mean (0): {mean:?}"
        );
    }

    #[test]
    fn phi_hand_case() {
        // Δ = |G − S| = (0.1, 0.4, 0, 0.2) → max 0.4 → Φ = (0.25, 1, 0, 0.5).
        let phi = acr_phi(&[0.1, -0.2, 0.3, 0.5], &[0.0, 0.2, 0.3, 0.3]).expect("phi");
        for (p, want) in phi.iter().zip([0.25f32, 1.0, 0.0, 0.5]) {
            assert!((p - want).abs() < 1e-6, "{phi:?}");
        }
        assert_eq!(
            acr_phi(&[0.1, 0.2], &[0.1, 0.2]).expect("phi"),
            vec![0.0, 0.0]
        );
        assert!(acr_phi(&[0.1], &[0.1, 0.2]).is_err());
        // A NaN ground truth is an unlabelled coordinate (Φ 0); a non-finite Smooth-Face or an
        // infinite ground truth is an error.
        assert_eq!(
            acr_phi(&[f32::NAN, 0.3], &[0.1, 0.1]).expect("phi"),
            vec![0.0, 1.0]
        );
        assert!(acr_phi(&[0.1], &[f32::NAN]).is_err());
        assert!(acr_phi(&[f32::INFINITY], &[0.1]).is_err());
    }

    #[test]
    fn fit_errors() {
        assert!(ShapeModel::fit(&[vec![0.0; 10]], SchemeId::Five).is_err());
        let err =
            ShapeModel::fit(&[vec![0.0; 10], vec![0.0; 9]], SchemeId::Five).expect_err("length");
        assert!(err.to_string().contains("shape 1"), "{err}");
        let mut bad = vec![0.0; 10];
        bad[3] = f32::NAN;
        let err = ShapeModel::fit(&[vec![0.0; 10], bad], SchemeId::Five).expect_err("nan");
        assert!(err.to_string().contains("value 3"), "{err}");
        assert!(ShapeModel::fit(&[vec![0.5; 10], vec![0.5; 10]], SchemeId::Five).is_err());
    }

    #[test]
    fn training_shapes_name_the_bad_sample() {
        use crate::sample::{Dataset, ImageSource, Sample};
        use crate::scheme::Scheme;
        let good = vec![
            [10.0, 10.0],
            [30.0, 10.0],
            [20.0, 20.0],
            [12.0, 30.0],
            [28.0, 30.0],
        ];
        let mk = |id: &str, pts: Vec<[f32; 2]>| {
            Sample::new(id, ImageSource::Path(format!("/imgs/{id}").into()), pts)
        };
        let mut ds = Dataset {
            format: "test".into(),
            source: "mem".into(),
            scheme: Scheme::get(SchemeId::Five),
            samples: vec![mk("a.jpg", good.clone()), mk("b.jpg", good.clone())],
            subsets: Default::default(),
        };
        let spec = crate::geometry::CropSpec::new(32);
        let shapes = training_shapes(&ds, &spec).expect("good shapes");
        assert_eq!((shapes.len(), shapes[0].len()), (2, 10));
        ds.samples[1].landmarks = vec![[5.0, 5.0]; 5];
        let e = training_shapes(&ds, &spec)
            .expect_err("degenerate")
            .to_string();
        assert!(e.contains("sample `b.jpg` (/imgs/b.jpg)"), "{e}");
        ds.samples[1].landmarks = good.clone();
        ds.samples[1].landmarks[2] = [f32::INFINITY, 3.0];
        let e = training_shapes(&ds, &spec)
            .expect_err("not finite")
            .to_string();
        assert!(e.contains("/imgs/b.jpg") && e.contains("landmark 2"), "{e}");
        // A partly labelled face is left out of the fit (not an error).
        ds.samples[1].landmarks = good;
        ds.samples[1].set_labelled(vec![true, true, false, true, true]);
        assert_eq!(training_shapes(&ds, &spec).expect("shapes").len(), 1);
    }

    #[test]
    fn save_load_round_trip_and_compat() {
        let m = axis_model().with_crop(160, 1.25);
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("pca.json");
        m.save(&p).expect("save");
        let l = ShapeModel::load(&p).expect("load");
        assert_eq!(
            (
                l.scheme(),
                l.convention(),
                l.crop_size(),
                l.enlarge(),
                l.n_shapes()
            ),
            (SchemeId::Five, "crop_u", 160, 1.25, 20)
        );
        for (a, b) in m.eigenvalues().iter().zip(l.eigenvalues()) {
            assert!(close(*a, *b, 1e-12));
        }
        for i in 0..m.n_components() {
            let (a, b) = (m.component(i).expect("a"), l.component(i).expect("b"));
            assert!(a.iter().zip(b).all(|(x, y)| close(*x, *y, 1e-12)));
        }
        l.check_compatible(SchemeId::Five, CROP_U)
            .expect("compatible");
        assert!(l.check_compatible(SchemeId::Ibug68, CROP_U).is_err());
        assert!(l.check_compatible(SchemeId::Five, "image_px").is_err());

        std::fs::write(&p, "{\"scheme\": \"five\",\n  oops").expect("write");
        let err = ShapeModel::load(&p).expect_err("malformed");
        assert!(
            err.to_string().contains("pca.json") && err.to_string().contains("line 2"),
            "{err}"
        );
    }

    #[test]
    fn plot_modes_writes_png() {
        let m = axis_model();
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("modes.png");
        m.plot_modes(&p).expect("plot");
        let img = image::open(&p).expect("valid PNG");
        assert_eq!((img.width(), img.height()), (3 * 360, 400));
    }

    /// Read a 1-based `.pts` file into 0-based image_px points.
    fn read_pts(path: &Path) -> Vec<[f64; 2]> {
        let text = std::fs::read_to_string(path).expect("readable .pts");
        let lines: Vec<&str> = text.lines().collect();
        let open = lines.iter().position(|l| l.trim() == "{").expect("has {");
        lines[open + 1..]
            .iter()
            .take_while(|l| l.trim() != "}")
            .map(|l| {
                let v: Vec<f64> = l
                    .split_whitespace()
                    .map(|t| t.parse().expect("number"))
                    .collect();
                [v[0] - 1.0, v[1] - 1.0]
            })
            .collect()
    }

    #[test]
    fn fit_on_infanface_component_counts_increase() {
        // `<repo>/../shared` (repo at /work/main); from a nested worktree, the nearest ancestor's.
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .ancestors()
            .map(|a| a.join("shared/data/infanface/train"))
            .find(|p| p.is_dir())
            .expect("shared InfAnFace data under an ancestor's shared/data");
        let mut files: Vec<_> = std::fs::read_dir(&dir)
            .expect("readable InfAnFace folder")
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "pts"))
            .collect();
        files.sort();
        assert!(files.len() >= 200, "{} files", files.len());
        let shapes: Vec<Vec<f32>> = files
            .iter()
            .map(|f| {
                let pts = read_pts(f);
                assert_eq!(pts.len(), 68, "{}", f.display());
                let (x0, x1) = pts
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[0]), b.max(p[0])));
                let (y0, y1) = pts
                    .iter()
                    .fold((f64::MAX, f64::MIN), |(a, b), p| (a.min(p[1]), b.max(p[1])));
                let side = 1.25 * (x1 - x0).max(y1 - y0);
                let (cx, cy) = ((x0 + x1) / 2.0, (y0 + y1) / 2.0);
                pts.iter()
                    .flat_map(|p| [((p[0] - cx) / side) as f32, ((p[1] - cy) / side) as f32])
                    .collect()
            })
            .collect();
        let m = ShapeModel::fit(&shapes, SchemeId::Ibug68).expect("fit InfAnFace");
        let ks: Vec<usize> = [0.80, 0.85, 0.90, 0.95, 0.98]
            .iter()
            .map(|&s| m.components_for_variance(s))
            .collect();
        println!(
            "InfAnFace ({} shapes): components for 80/85/90/95/98 % = {ks:?}",
            shapes.len()
        );
        assert!(ks.windows(2).all(|w| w[0] <= w[1]), "{ks:?}");
        assert!(ks[0] >= 1 && ks[4] > ks[0] && ks[4] < 136, "{ks:?}");
        // Full reconstruction of a real shape.
        let b = m.project(&shapes[0]).expect("project");
        let r = m.reconstruct(&b, m.n_components()).expect("reconstruct");
        assert!(r
            .iter()
            .zip(&shapes[0])
            .all(|(a, &s)| (a - f64::from(s)).abs() < 1e-5));
        if let Ok(out) = std::env::var("FACEALIGN_PLOT_DIR") {
            m.plot_modes(Path::new(&out).join("infanface_modes.png"))
                .expect("plot");
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        #[test]
        fn full_reconstruction_is_identity(
            shapes in prop::collection::vec(prop::collection::vec(-0.5f32..0.5, 10), 3..8),
            probe in prop::collection::vec(-0.5f32..0.5, 10),
        ) {
            prop_assume!(shapes.iter().any(|s| s != &shapes[0]));
            let m = ShapeModel::fit(&shapes, SchemeId::Five).expect("fit");
            let b = m.project(&probe).expect("project");
            let r = m.reconstruct(&b, m.n_components()).expect("reconstruct");
            for (a, &p) in r.iter().zip(&probe) {
                prop_assert!((a - f64::from(p)).abs() < 1e-5);
            }
        }

        #[test]
        fn clamped_b_within_three_sigma(
            shapes in prop::collection::vec(prop::collection::vec(-0.5f32..0.5, 10), 3..8),
            probe in prop::collection::vec(-2.0f32..2.0, 10),
        ) {
            prop_assume!(shapes.iter().any(|s| s != &shapes[0]));
            let m = ShapeModel::fit(&shapes, SchemeId::Five).expect("fit");
            let b = m.clamp(&m.project(&probe).expect("project")).expect("clamp");
            for (bi, l) in b.iter().zip(m.eigenvalues()) {
                prop_assert!(bi.abs() <= 3.0 * l.sqrt() + 1e-12);
            }
            let phi = acr_phi(&probe, &m.smooth_face(&probe, 0.9).expect("smooth")).expect("phi");
            prop_assert!(phi.iter().all(|p| (0.0..=1.0).contains(p)));
            prop_assert!(phi.contains(&1.0) || phi.iter().all(|&p| p == 0.0));
        }
    }

    #[test]
    fn a_partly_labelled_face_projects_exactly_when_its_labelled_coordinates_are_consistent() {
        // A PCA of 5-point shapes; a shape in the span of the first k components, with two
        // points dropped, projects back to the same parameters and its Smooth-Face restores
        // the dropped points.
        let base = [-0.2f32, -0.1, 0.2, -0.1, 0.0, 0.05, -0.15, 0.2, 0.15, 0.2];
        let shapes: Vec<Vec<f32>> = (0..20)
            .map(|i| {
                base.iter()
                    .enumerate()
                    .map(|(j, v)| {
                        v + 0.02 * (((i * 7 + j * 3) % 5) as f32 - 2.0)
                            + 0.01 * ((i * j) % 3) as f32
                    })
                    .collect()
            })
            .collect();
        let m = ShapeModel::fit(&shapes, SchemeId::Five).expect("pca");
        let k = 3;
        let b = [0.01f64, -0.02, 0.005];
        let full: Vec<f32> = m
            .reconstruct(&b, k)
            .unwrap()
            .iter()
            .map(|&v| v as f32)
            .collect();
        let mut partial = full.clone();
        for j in [2, 3, 8, 9] {
            partial[j] = f32::NAN; // points 1 and 4 unlabelled
        }
        let got = m.project_labelled(&partial, k).expect("projection");
        for (g, w) in got.iter().zip(b) {
            assert!((g - w).abs() < 1e-5, "{got:?} vs {b:?}");
        }
        let smooth = m.smooth_face_k(&partial, k).expect("smooth");
        for (s, f) in smooth.iter().zip(&full) {
            assert!((s - f).abs() < 1e-5);
        }
        // Fully labelled: identical to the plain projection truncated to k.
        let plain = m.project(&full).unwrap();
        let lab = m.project_labelled(&full, k).unwrap();
        assert_eq!(lab, plain[..k].to_vec());
        // Φ of an unlabelled coordinate is 0, and the others are normalised by the labelled max.
        let mut gt = shapes[3].clone();
        gt[0] = f32::NAN;
        gt[1] = f32::NAN;
        let phi = acr_phi(&gt, &m.smooth_face_k(&gt, k).unwrap()).unwrap();
        assert_eq!((phi[0], phi[1]), (0.0, 0.0));
        assert!(phi.iter().all(|v| v.is_finite() && *v <= 1.0));
        assert!(phi.contains(&1.0));
    }

    /// The `smooth_face_k` of before [`ShapeAlign`], verbatim (through the unchanged
    /// `project`, `project_labelled`, `clamp` and `reconstruct`).
    fn legacy_smooth_face_k(m: &ShapeModel, shape: &[f32], k: usize) -> Vec<f32> {
        let b = if shape.iter().all(|v| v.is_finite()) {
            m.clamp(&m.project(shape).unwrap()).unwrap()
        } else {
            m.clamp(&m.project_labelled(shape, k).unwrap()).unwrap()
        };
        m.reconstruct(&b, k.min(b.len()))
            .unwrap()
            .into_iter()
            .map(|v| v as f32)
            .collect()
    }

    /// `n` five-point faces in crop_u: a base face with deterministic shape jitter (±0.03),
    /// each in its own pose (scale 0.85–1.15, rotation ±0.4 rad, shift ±0.06) — a set whose
    /// unaligned PCA is dominated by pose.
    fn posed_faces(n: usize) -> Vec<Vec<f32>> {
        let base = [
            -0.18, -0.12, 0.18, -0.12, 0.0, 0.04, -0.13, 0.18, 0.13, 0.18,
        ];
        (0..n)
            .map(|i| {
                let shape: Vec<f64> = base
                    .iter()
                    .enumerate()
                    .map(|(j, v)| v + 0.03 * ((((i * 17 + j * 5 + i * j) % 13) as f64) / 6.0 - 1.0))
                    .collect();
                let pose = Similarity::new(
                    0.85 + 0.3 * ((i * 7 % 11) as f64 / 10.0),
                    0.4 * ((i * 5 % 9) as f64 / 4.0 - 1.0),
                    0.06 * ((i * 3 % 7) as f64 / 3.0 - 1.0),
                    0.06 * ((i * 11 % 5) as f64 / 2.0 - 1.0),
                );
                pose.apply_f64(&shape)
                    .into_iter()
                    .map(|v| v as f32)
                    .collect()
            })
            .collect()
    }

    fn with_nan_points(shape: &[f32], points: &[usize]) -> Vec<f32> {
        let mut s = shape.to_vec();
        for &p in points {
            s[2 * p] = f32::NAN;
            s[2 * p + 1] = f32::NAN;
        }
        s
    }

    #[test]
    fn align_none_is_the_plain_pca_and_the_old_smooth_face_bit_for_bit() {
        let shapes = posed_faces(25);
        let m = ShapeModel::fit(&shapes, SchemeId::Five).expect("fit");
        assert_eq!(
            m,
            ShapeModel::fit_aligned(&shapes, SchemeId::Five, ShapeAlign::None).expect("fit")
        );
        assert_eq!(m.align(), ShapeAlign::None);
        // The defining properties of PCA on the unaligned shapes: the column mean; unit,
        // mutually orthogonal eigenvectors of the sample covariance (n − 1), in descending order
        // of eigenvalue, each with its largest-magnitude entry positive; ratios summing to 1.
        let (n, d) = (shapes.len(), 10);
        for (c, &mu) in m.mean().iter().enumerate() {
            let want = shapes.iter().map(|s| f64::from(s[c])).sum::<f64>() / n as f64;
            assert!((mu - want).abs() < 1e-12, "mean[{c}] {mu} vs {want}");
        }
        let x = DMatrix::from_fn(n, d, |r, c| f64::from(shapes[r][c]) - m.mean()[c]);
        let cov = (x.transpose() * &x) / ((n - 1) as f64);
        let lambda = m.eigenvalues();
        assert!(lambda.windows(2).all(|w| w[0] >= w[1]) && lambda[d - 1] >= 0.0);
        let ratio_sum: f64 = m.explained_ratio().iter().sum();
        assert!((ratio_sum - 1.0).abs() < 1e-12);
        for i in 0..d {
            let v = nalgebra::DVector::from_column_slice(m.component(i).expect("component"));
            let residual = (&cov * &v - &v * lambda[i]).amax();
            assert!(residual < 1e-12, "component {i}: |Σv − λv| = {residual}");
            let big = v
                .iter()
                .copied()
                .fold(0.0f64, |a, e| if e.abs() > a.abs() { e } else { a });
            assert!(big > 0.0, "component {i} sign");
            for j in 0..d {
                let vj = m.component(j).expect("component");
                let dot: f64 = v.iter().zip(vj).map(|(a, b)| a * b).sum();
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((dot - want).abs() < 1e-12, "v{i}·v{j} = {dot}");
            }
        }
        for (i, s) in shapes.iter().enumerate() {
            let partial = with_nan_points(s, &[i % 5]);
            for k in 0..=10 {
                assert_eq!(
                    m.smooth_face_k(s, k).unwrap(),
                    legacy_smooth_face_k(&m, s, k)
                );
                assert_eq!(
                    m.smooth_face_k(&partial, k).unwrap(),
                    legacy_smooth_face_k(&m, &partial, k)
                );
            }
            assert_eq!(m.alignment(s).unwrap(), Similarity::IDENTITY);
        }
    }

    #[test]
    fn shape_json_without_align_loads_as_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let p = dir.path().join("shape.json");
        let m = axis_model();
        m.save(&p).expect("save");
        let mut json: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(json["align"], "none");
        json.as_object_mut().unwrap().remove("align");
        std::fs::write(&p, serde_json::to_vec(&json).unwrap()).unwrap();
        let l = ShapeModel::load(&p).expect("a file without `align` loads");
        assert_eq!((l.align(), &l), (ShapeAlign::None, &m));
        // A Procrustes model round-trips (JSON floats to 1 ulp), and the key is kebab-case.
        let faces = posed_faces(12);
        let pm =
            ShapeModel::fit_aligned(&faces, SchemeId::Five, ShapeAlign::Procrustes).expect("fit");
        pm.save(&p).expect("save");
        assert!(std::fs::read_to_string(&p)
            .unwrap()
            .contains("\"align\":\"procrustes\""));
        let pl = ShapeModel::load(&p).expect("load");
        assert_eq!(pl.align(), ShapeAlign::Procrustes);
        for f in &faces {
            let (a, b) = (
                pm.smooth_face_k(f, 4).unwrap(),
                pl.smooth_face_k(f, 4).unwrap(),
            );
            assert!(
                a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-6),
                "{a:?} vs {b:?}"
            );
        }
    }

    #[test]
    fn procrustes_fit_removes_pose_and_reproduces_its_training_shapes() {
        let shapes = posed_faces(25);
        let none = ShapeModel::fit(&shapes, SchemeId::Five).expect("fit");
        let pro =
            ShapeModel::fit_aligned(&shapes, SchemeId::Five, ShapeAlign::Procrustes).expect("fit");
        assert_eq!(pro.align(), ShapeAlign::Procrustes);
        // Pose variance dominates the unaligned PCA; 4 of the 10 dimensions are similarity
        // directions, which the aligned PCA does not use.
        let (tn, tp): (f64, f64) = (
            none.eigenvalues().iter().sum(),
            pro.eigenvalues().iter().sum(),
        );
        assert!(
            tp < 0.2 * tn,
            "total variance {tp} (Procrustes) vs {tn} (none)"
        );
        assert!(
            pro.eigenvalues()[6..].iter().all(|&l| l < 1e-12 * tp),
            "{:?}",
            pro.eigenvalues()
        );
        // The model mean sits at the point-wise mean's pose (crop_u units).
        let a = align_to(
            &pro.mean().iter().map(|&v| v as f32).collect::<Vec<_>>(),
            none.mean(),
        )
        .unwrap();
        assert!(
            (a.scale - 1.0).abs() < 1e-6 && a.rotation.abs() < 1e-6,
            "{a:?}"
        );
        // With every component, a training shape's Smooth-Face is the shape itself (n ≤ 10:
        // no training shape lies beyond 3σ, Samuelson's bound (n − 1)/√n < 3).
        let few = &shapes[..10];
        let pro10 =
            ShapeModel::fit_aligned(few, SchemeId::Five, ShapeAlign::Procrustes).expect("fit");
        for s in few {
            let sm = pro10.smooth_face_k(s, 10).unwrap();
            for (a, b) in sm.iter().zip(s) {
                assert!((a - b).abs() < 1e-5, "{sm:?} vs {s:?}");
            }
        }
        // Re-posing the shapes (all but the first) changes neither the explained ratios nor the
        // Smooth-Faces (up to the same pose).
        let moved: Vec<Vec<f32>> = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                if i == 0 {
                    s.clone()
                } else {
                    Similarity::new(1.0 + 0.01 * i as f64, 0.05 * i as f64, 0.01, -0.02).apply(s)
                }
            })
            .collect();
        let pm =
            ShapeModel::fit_aligned(&moved, SchemeId::Five, ShapeAlign::Procrustes).expect("fit");
        for (a, b) in pm.explained_ratio().iter().zip(pro.explained_ratio()) {
            assert!((a - b).abs() < 1e-6, "{a} vs {b}");
        }
        for k in [1, 3, 6] {
            for (s, t) in shapes.iter().zip(&moved) {
                let (sa, sb) = (
                    pro.smooth_face_k(s, k).unwrap(),
                    pm.smooth_face_k(t, k).unwrap(),
                );
                let back = align_to(t, &s.iter().map(|&v| f64::from(v)).collect::<Vec<_>>())
                    .unwrap()
                    .apply(&sb);
                for (x, y) in sa.iter().zip(&back) {
                    assert!((x - y).abs() < 1e-4, "k {k}: {sa:?} vs {back:?}");
                }
            }
        }
        assert!(ShapeModel::fit_aligned(
            &[vec![0.5; 10], vec![0.5; 10]],
            SchemeId::Five,
            ShapeAlign::Procrustes
        )
        .is_err());
        let copies: Vec<Vec<f32>> = (0..5)
            .map(|i| {
                Similarity::new(1.0 + 0.1 * f64::from(i), 0.1 * f64::from(i), 0.0, 0.0)
                    .apply(&shapes[0])
            })
            .collect();
        let e = ShapeModel::fit_aligned(&copies, SchemeId::Five, ShapeAlign::Procrustes)
            .expect_err("similar copies")
            .to_string();
        assert!(e.contains("only by a similarity"), "{e}");
    }

    #[test]
    fn procrustes_partly_labelled_shapes() {
        let shapes = posed_faces(25);
        let m =
            ShapeModel::fit_aligned(&shapes, SchemeId::Five, ShapeAlign::Procrustes).expect("fit");
        let k = 3;
        // The mean in another pose, two points dropped: aligned exactly on the three left, so
        // its Smooth-Face restores the dropped points.
        let pose = Similarity::new(1.3, -0.7, 0.05, -0.1);
        let mean32: Vec<f32> = m.mean().iter().map(|&v| v as f32).collect();
        let posed = pose.apply(&mean32);
        let smooth = m
            .smooth_face_k(&with_nan_points(&posed, &[1, 3]), k)
            .unwrap();
        for (a, b) in smooth.iter().zip(&posed) {
            assert!((a - b).abs() < 1e-5, "{smooth:?} vs {posed:?}");
        }
        // A training face with a point dropped: a complete Smooth-Face near the full one, and
        // Φ 0 at the unlabelled coordinates.
        for (i, s) in shapes.iter().enumerate().take(10) {
            let partial = with_nan_points(s, &[i % 5]);
            let (sp, phi) = m.acr_targets(&partial, 0.9).unwrap();
            let full = m.smooth_face(s, 0.9).unwrap();
            assert!(sp.iter().all(|v| v.is_finite()));
            let far = sp
                .iter()
                .zip(&full)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            assert!(far < 0.05, "shape {i}: {sp:?} vs {full:?}");
            assert_eq!((phi[2 * (i % 5)], phi[2 * (i % 5) + 1]), (0.0, 0.0));
            assert!(phi.contains(&1.0) && phi.iter().all(|p| (0.0..=1.0).contains(p)));
        }
        // One labelled point or none: no similarity is determined, the shape is used as it is.
        let one = with_nan_points(&shapes[0], &[0, 1, 2, 3]);
        assert_eq!(m.alignment(&one).unwrap(), Similarity::IDENTITY);
        assert!(m
            .smooth_face_k(&one, k)
            .unwrap()
            .iter()
            .all(|v| v.is_finite()));
        let none = vec![f32::NAN; 10];
        let sm = m.smooth_face_k(&none, k).unwrap();
        assert!(sm
            .iter()
            .zip(m.mean())
            .all(|(a, b)| (f64::from(*a) - b).abs() < 1e-6));
        assert_eq!(acr_phi(&none, &sm).unwrap(), vec![0.0; 10]);
        assert!(m.smooth_face_k(&[0.0; 9], k).is_err());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(48))]

        #[test]
        fn procrustes_smooth_face_is_similarity_equivariant(
            scale in 0.5f64..2.0,
            rotation in -3.1f64..3.1,
            shift in (-1.0f64..1.0, -1.0f64..1.0),
            probe in 0usize..25,
            noise in prop::collection::vec(-0.04f32..0.04, 10),
            drop in prop::option::of(0usize..5),
            k in 0usize..=10,
        ) {
            let shapes = posed_faces(25);
            let m = ShapeModel::fit_aligned(&shapes, SchemeId::Five, ShapeAlign::Procrustes)
                .expect("fit");
            let a = Similarity::new(scale, rotation, shift.0, shift.1);
            let mut g: Vec<f32> = shapes[probe].iter().zip(&noise).map(|(s, n)| s + n).collect();
            if let Some(p) = drop {
                g = with_nan_points(&g, &[p]);
            }
            let moved = m.smooth_face_k(&a.apply(&g), k).expect("smooth");
            let then_moved = a.apply(&m.smooth_face_k(&g, k).expect("smooth"));
            for (x, y) in moved.iter().zip(&then_moved) {
                prop_assert!(x.is_finite() && (x - y).abs() < 1e-4, "{:?} vs {:?}", moved, then_moved);
            }
        }
    }
}
