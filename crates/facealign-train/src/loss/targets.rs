//! What a loss needs besides the predictions: one batch's ground truth and labelled flags
//! ([`BatchTargets`]), and the targets built from them ([`Targets`]): ACR's Φ and the
//! ASM-assisted Smooth-Faces from the PCA shape model (Φ from each face's **un-augmented** shape,
//! [`CleanShapes`]), STAR's heatmap-grid points and Adaptive Wing's Gaussian heatmaps (through
//! `facealign_core::coords`). [`masked_reduce`] reduces any loss over the labelled points only.
use std::sync::Mutex;

use tch::{Kind, Tensor};

use super::Reduction;
use crate::error::{Error, Result};
use facealign_core::coords::{self, Affine1};
use facealign_core::shape::{acr_phi, ShapeModel};

/// The un-augmented crop_u shapes of the training samples (NaN = unlabelled), for ACR's Φ.
pub struct CleanShapes {
    /// Per dataset index, `2M` values.
    pub shapes: Vec<Vec<f32>>,
    /// The scheme's flip permutation.
    pub flip: Vec<usize>,
    /// `(k, Φ per sample)` of the last variance stage used.
    cache: Mutex<Option<(usize, Vec<Vec<f32>>)>>,
}

impl CleanShapes {
    /// Clean shapes and the flip permutation of their scheme.
    pub fn new(shapes: Vec<Vec<f32>>, flip: Vec<usize>) -> CleanShapes {
        CleanShapes {
            shapes,
            flip,
            cache: Mutex::new(None),
        }
    }

    /// Φ of sample `index` with `k` components (cached per k), mirrored when `flipped`.
    pub(crate) fn phi(
        &self,
        shape: &ShapeModel,
        k: usize,
        index: usize,
        flipped: bool,
    ) -> Result<Vec<f32>> {
        let mut guard = self
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if guard.as_ref().is_none_or(|(kk, _)| *kk != k) {
            let all = self
                .shapes
                .iter()
                .map(|g| {
                    let smooth = shape.smooth_face_k(g, k)?;
                    acr_phi(g, &smooth)
                })
                .collect::<facealign_core::Result<Vec<_>>>()?;
            *guard = Some((k, all));
        }
        let all = &guard.as_ref().expect("filled above").1;
        let phi = all.get(index).ok_or_else(|| {
            Error::invalid(
                "ACR weights",
                format!("sample index {index} ≥ {} clean shapes", all.len()),
            )
        })?;
        Ok(if flipped {
            self.flip
                .iter()
                .flat_map(|&j| [phi[2 * j], phi[2 * j + 1]])
                .collect()
        } else {
            phi.clone()
        })
    }
}

/// What one batch gives the objective.
pub struct BatchTargets<'a> {
    /// `[N, 2M]` crop_u on the model's device (0 at unlabelled points).
    pub gt: &'a Tensor,
    /// The same values on the host.
    pub gt_host: &'a [f32],
    /// N×M: 1 where labelled, 0 where not.
    pub labelled: &'a [f32],
    /// Dataset indices of the samples (for the clean-shape Φ).
    pub indices: &'a [usize],
    /// Whether each sample was mirrored.
    pub flipped: &'a [bool],
}

impl BatchTargets<'_> {
    /// Host values (`cols` per sample) as a tensor of `like`'s kind and device.
    pub fn tensor(&self, values: &[f32], cols: i64, like: &Tensor) -> Tensor {
        let n = like.size()[0];
        Tensor::from_slice(values)
            .view([n, cols])
            .to_device(like.device())
            .to_kind(like.kind())
    }
}

/// What one batch gives a loss: the predictions (`[N, 2M]` crop_u, virtual points appended),
/// the model's heatmaps if any, the batch's ground truth, the target builder and the epoch.
pub struct LossInput<'a> {
    pub pred: &'a Tensor,
    pub heatmaps: Option<&'a Tensor>,
    pub batch: &'a BatchTargets<'a>,
    pub targets: &'a Targets,
    /// Epoch (0-based) and number of epochs, for schedules.
    pub epoch: usize,
    pub epochs: usize,
}

impl LossInput<'_> {
    /// The model's heatmaps `[N, M, h, w]` (square) and their side, for loss `name`; errors when
    /// the model has none or they do not match the points.
    pub fn heatmaps(&self, name: &str) -> Result<(&Tensor, f64)> {
        let heatmaps = self.heatmaps.ok_or_else(|| {
            Error::Config(format!(
                "loss `{name}` needs a heatmap model (model.arch = \"heatmap\")"
            ))
        })?;
        let (n, dim) = (self.pred.size()[0], self.pred.size()[1]);
        let size = heatmaps.size();
        if size.len() != 4 || size[0] != n || size[1] != dim / 2 || size[2] != size[3] {
            return Err(Error::invalid(
                "batch targets",
                format!(
                    "loss `{name}`: heatmaps {size:?} for {n} samples of {} points (mixed-scheme \
                     virtual points cannot be supervised by a heatmap loss)",
                    dim / 2
                ),
            ));
        }
        Ok((heatmaps, size[3] as f64))
    }
}

/// Builds the targets losses need beyond the ground truth, for one run.
pub struct Targets {
    shape: Option<ShapeModel>,
    clean: Option<CleanShapes>,
    input_size: f64,
}

impl Targets {
    /// For a run at `input_size` px, with the PCA shape model when the loss needs one.
    pub fn new(shape: Option<ShapeModel>, input_size: u32) -> Targets {
        Targets {
            shape,
            clean: None,
            input_size: f64::from(input_size),
        }
    }

    /// Use the un-augmented shapes of the training samples for Φ.
    pub fn set_clean_shapes(&mut self, clean: CleanShapes) {
        self.clean = Some(clean);
    }

    /// The model input size S (px).
    pub fn input_size(&self) -> f64 {
        self.input_size
    }

    /// The PCA shape model (ACR, ASM-assisted).
    pub fn shape(&self) -> Result<&ShapeModel> {
        self.shape
            .as_ref()
            .ok_or_else(|| Error::Config("this loss needs a shape model".into()))
    }

    /// ACR's Φ of the batch (`N·2M` host values) with the first `k` PCA components: from each
    /// sample's clean shape (cached per k, mirrored with the flip permutation) when clean shapes
    /// are set, else from the batch's (augmented) ground truth.
    pub fn phi(&self, batch: &BatchTargets, k: usize, dim: usize) -> Result<Vec<f32>> {
        let shape = self.shape()?;
        let mut phi = Vec::with_capacity(batch.gt_host.len());
        match &self.clean {
            Some(clean) => {
                for (&i, &f) in batch.indices.iter().zip(batch.flipped) {
                    phi.extend(clean.phi(shape, k, i, f)?);
                }
            }
            None => {
                for (g, lab) in batch
                    .gt_host
                    .chunks(dim)
                    .zip(batch.labelled.chunks(dim / 2))
                {
                    let g = with_nan_at_unlabelled(g, lab);
                    let smooth = shape.smooth_face_k(&g, k)?;
                    phi.extend(acr_phi(&g, &smooth)?);
                }
            }
        }
        Ok(phi)
    }

    /// The Smooth-Faces (projection on the first `k` PCA components, least squares on the
    /// labelled coordinates) of the batch's ground truth (`N·2M` host values).
    pub fn smooth_faces(&self, batch: &BatchTargets, k: usize, dim: usize) -> Result<Vec<f32>> {
        let shape = self.shape()?;
        let mut a = Vec::with_capacity(batch.gt_host.len());
        for (g, lab) in batch
            .gt_host
            .chunks(dim)
            .zip(batch.labelled.chunks(dim / 2))
        {
            a.extend(shape.smooth_face_k(&with_nan_at_unlabelled(g, lab), k)?);
        }
        Ok(a)
    }

    /// The ground truth on STAR's heatmap grid of `hw` cells: `[N, M, 2]`.
    pub fn heatmap_grid(&self, gt: &Tensor, hw: f64) -> Tensor {
        let (n, dim) = (gt.size()[0], gt.size()[1]);
        crop_u_to_heatmap_grid(gt, self.input_size, hw).view([n, dim / 2, 2])
    }

    /// Gaussian heatmaps of σ `sigma` cells at the ground truth: `[N, M, hw, hw]`.
    pub fn gaussian(&self, gt: &Tensor, hw: i64, sigma: f64) -> Tensor {
        gaussian_heatmaps(gt, self.input_size, hw, sigma)
    }
}

/// The loss values of `unreduced` (`[N, 2M]` per coordinate or `[N, M]` per point) reduced over
/// the labelled entries only: `Σ w·v / Σ w` (mean) or `Σ w·v` (sum), where `labelled_points`
/// (`[N, M]`) holds the weight `w` of each point: 1 = labelled, 0 = unlabelled (or a dataset's
/// weight in a mixed config). Unlabelled entries are replaced by 0 with `where`, so their
/// gradient is exactly 0 even if their value were not finite; a batch with no labelled entry
/// gives 0.
pub fn masked_reduce(unreduced: &Tensor, labelled_points: &Tensor, reduction: Reduction) -> Tensor {
    let (n, m) = (labelled_points.size()[0], labelled_points.size()[1]);
    let last = *unreduced
        .size()
        .last()
        .expect("unreduced has a last dimension");
    let mask = if last == 2 * m {
        labelled_points
            .unsqueeze(-1)
            .expand([n, m, 2], false)
            .reshape([n, 2 * m])
    } else {
        assert_eq!(
            last, m,
            "masked_reduce: {last} values per sample for {m} points"
        );
        labelled_points.shallow_clone()
    };
    let keep = mask.gt(0.0);
    let kept = (unreduced * &mask).where_self(&keep, &unreduced.zeros_like());
    let sum = kept.sum(unreduced.kind());
    match reduction {
        Reduction::Sum => sum,
        Reduction::Mean => {
            let total = mask.sum(unreduced.kind());
            // 0 / 1 when nothing is labelled: never 0 / 0.
            let denom = total.where_self(&total.gt(0.0), &total.ones_like());
            sum / denom
        }
    }
}

/// `map` applied element-wise to a tensor (kept in the tensor's kind).
pub fn apply_affine(t: &Tensor, map: Affine1) -> Tensor {
    t * map.scale + map.offset
}

/// crop_u → STAR's heatmap grid ([`coords::crop_u_to_grid`]).
pub fn crop_u_to_heatmap_grid(u: &Tensor, input_size: f64, hw: f64) -> Tensor {
    apply_affine(u, coords::crop_u_to_grid(input_size, hw))
}

/// The inverse of [`crop_u_to_heatmap_grid`].
pub fn heatmap_grid_to_crop_u(g: &Tensor, input_size: f64, hw: f64) -> Tensor {
    apply_affine(g, coords::crop_u_to_grid(input_size, hw).inverse())
}

/// Gaussian target heatmaps, peak 1, of σ `sigma` heatmap cells centred at each point: cell
/// `(j, i)` of point m has `exp(−((j − x_m)² + (i − y_m)²) / (2σ²))`, where `(x_m, y_m)` is the
/// point in heatmap cells ([`coords::crop_u_to_cell`]).
///
/// # Shapes
/// `u`: `[N, 2M]` crop_u → `[N, M, hw, hw]`, no gradient.
pub fn gaussian_heatmaps(u: &Tensor, input_size: f64, hw: i64, sigma: f64) -> Tensor {
    let u = u.detach();
    let (n, dim) = (u.size()[0], u.size()[1]);
    let m = dim / 2;
    let cells = apply_affine(&u, coords::crop_u_to_cell(input_size, hw as f64)).view([n, m, 2]);
    let x = cells.select(2, 0).view([n, m, 1, 1]);
    let y = cells.select(2, 1).view([n, m, 1, 1]);
    let grid = Tensor::arange(hw, (u.kind(), u.device()));
    let dx = (grid.view([1, 1, 1, hw]) - x).square();
    let dy = (grid.view([1, 1, hw, 1]) - y).square();
    ((dx + dy) * (-0.5 / (sigma * sigma))).exp()
}

/// `gt` (2M values) with NaN at the points whose `labelled` flag (M values) is 0: the shape
/// model's convention for an unlabelled coordinate.
pub fn with_nan_at_unlabelled(gt: &[f32], labelled: &[f32]) -> Vec<f32> {
    gt.iter()
        .enumerate()
        .map(|(j, &v)| if labelled[j / 2] > 0.5 { v } else { f32::NAN })
        .collect()
}

/// A scalar tensor as f64 (for logs).
pub fn scalar(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).double_value(&[])
}
