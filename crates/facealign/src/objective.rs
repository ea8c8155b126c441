//! The training objective: which loss, its schedule, and the per-batch targets it needs.
//!
//! ACR and ASM-assisted losses need Smooth-Faces of the ground truth (SPEC §1.1, §2.1). The PCA is
//! fitted once per run on the fully labelled training shapes (un-augmented crops, crop_u); a
//! Smooth-Face is a projection onto the first k eigenvectors (least squares on the labelled
//! coordinates of a partly labelled face).
//!
//! **ACR's Φ comes from each face's un-augmented shape** (issue 16): the authors fit their PCA on
//! their training labels and compute Φ from them, so their Φ never sees online jitter. Here Φ of
//! every training sample is computed from its clean crop-frame shape ([`CleanShapes`]), once per
//! variance stage (cached), and carried through augmentation with the flip permutation (Φ is
//! per point, so it rides with the point; a mirrored x error has the same magnitude). Without
//! clean shapes (benchmarks, tests) Φ falls back to the batch's augmented ground truth.
//! The ASM-assisted target A is a *position*, so it is the Smooth-Face of the augmented ground
//! truth.
//!
//! **Unlabelled points** (issue 13): every loss is the mean over the labelled coordinates of the
//! batch ([`masked_reduce`]); unlabelled ones get exactly zero gradient, and a batch with no
//! labelled point gives 0.
use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::loss::Reduction;
use crate::loss::{
    AWingLoss, AWingLossConfig, AcrLoss, AcrLossConfig, AsmLoss, AsmLossConfig, LpLoss,
    LpLossConfig, LpOptions, SmoothL1Loss, SmoothL1LossConfig, StarLoss, StarLossConfig, WingLoss,
    WingLossConfig,
};
use crate::model::ModelOutput;
use facealign_core::coords::{self, Affine1};
use facealign_core::shape::{acr_phi, acr_variance_share, ShapeModel};

/// The ASM-assisted objective: the loss's α schedule plus the ASM's share of variance.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct AsmObjectiveConfig {
    /// Share of explained variance kept by the ASM (0.9 in ASMNet).
    pub variance_share: f64,
    /// α over the first, second and last third of the epochs.
    pub alphas: [f64; 3],
}

impl Default for AsmObjectiveConfig {
    fn default() -> Self {
        AsmObjectiveConfig {
            variance_share: 0.9,
            alphas: [2.0, 1.0, 0.5],
        }
    }
}

/// The `[loss]` table of a training config: `kind` picks the loss, the other keys are its config.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LossConfig {
    /// Mean squared error per coordinate (the Lp loss with p = 2).
    L2(LpOptions),
    /// Mean absolute error per coordinate (the Lp loss with p = 1).
    L1(LpOptions),
    /// Smooth-L1.
    SmoothL1(SmoothL1LossConfig),
    /// Wing loss (Feng et al. 2018); `unit_scale` defaults to the input size when left at 0.
    Wing(WingLossConfig),
    /// ASMNet's ASM-assisted loss.
    Asm(AsmObjectiveConfig),
    /// ACR loss (Fard & Mahoor 2022), with the 80→98 % variance schedule of SPEC Decision 4.
    Acr(AcrLossConfig),
    /// STAR loss on heatmaps (Zhou et al. 2023); needs a heatmap model.
    Star(StarLossConfig),
    /// Adaptive Wing on heatmaps (Wang et al. 2019) against Gaussian target heatmaps of σ =
    /// `sigma` cells at the labelled points; needs a heatmap model.
    #[serde(rename = "awing")]
    AWing(AWingLossConfig),
}

impl LossConfig {
    /// Short name for reports.
    pub fn name(&self) -> &'static str {
        match self {
            LossConfig::L2(_) => "l2",
            LossConfig::L1(_) => "l1",
            LossConfig::SmoothL1(_) => "smooth_l1",
            LossConfig::Wing(_) => "wing",
            LossConfig::Asm(_) => "asm",
            LossConfig::Acr(_) => "acr",
            LossConfig::Star(_) => "star",
            LossConfig::AWing(_) => "awing",
        }
    }

    /// Whether the loss supervises heatmaps (so the model must be `model.arch = "heatmap"`).
    pub fn needs_heatmaps(&self) -> bool {
        matches!(self, LossConfig::Star(_) | LossConfig::AWing(_))
    }

    /// Whether the loss needs the PCA shape model.
    pub fn needs_shape_model(&self) -> bool {
        matches!(self, LossConfig::Asm(_) | LossConfig::Acr(_))
    }

    /// Range checks (the error names the field).
    pub fn validate(&self) -> Result<()> {
        match self {
            LossConfig::L2(c) => LpLossConfig::l2(c).validate(),
            LossConfig::L1(c) => LpLossConfig::l1(c).validate(),
            LossConfig::SmoothL1(c) => c.validate(),
            LossConfig::Wing(c) => c.validate(),
            LossConfig::Asm(c) => {
                if !(c.variance_share > 0.0 && c.variance_share <= 1.0) {
                    return Err(Error::invalid(
                        "asm.variance_share",
                        format!("{} must be in (0, 1]", c.variance_share),
                    ));
                }
                AsmLossConfig {
                    alphas: c.alphas,
                    ..AsmLossConfig::default()
                }
                .validate()
            }
            LossConfig::Acr(c) => c.validate(),
            LossConfig::Star(c) => c.validate(),
            LossConfig::AWing(c) => c.validate(),
        }
    }
}

enum Built {
    Lp(LpLoss),
    SmoothL1(SmoothL1Loss),
    Wing(WingLoss),
    Asm(AsmLoss, f64),
    Acr(AcrLoss),
    Star(StarLoss),
    AWing(AWingLoss),
}

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
    fn phi(&self, shape: &ShapeModel, k: usize, index: usize, flipped: bool) -> Result<Vec<f32>> {
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

/// A ready objective for one run.
pub struct Objective {
    pub cfg: LossConfig,
    built: Built,
    shape: Option<ShapeModel>,
    clean: Option<CleanShapes>,
    /// The virtual points of a mixed-scheme config: sets of the model's points whose means are
    /// supervised too (`facealign_core::mixed`).
    virtual_sets: Vec<Vec<usize>>,
    input_size: f64,
    epochs: usize,
}

/// The loss value plus what was scheduled for it (for logs).
pub struct LossValue {
    pub loss: Tensor,
    /// ACR variance share or ASM α in force, if any.
    pub schedule_value: Option<f64>,
}

impl Objective {
    /// Build; `shape` must be given when the loss needs it.
    pub fn new(
        cfg: LossConfig,
        shape: Option<ShapeModel>,
        input_size: u32,
        epochs: usize,
    ) -> Result<Objective> {
        cfg.validate()?;
        if cfg.needs_shape_model() && shape.is_none() {
            return Err(Error::Config(format!(
                "loss `{}` needs a shape model",
                cfg.name()
            )));
        }
        let built = match &cfg {
            LossConfig::L2(c) => Built::Lp(LpLossConfig::l2(c).init()?),
            LossConfig::L1(c) => Built::Lp(LpLossConfig::l1(c).init()?),
            LossConfig::SmoothL1(c) => Built::SmoothL1(c.init()?),
            LossConfig::Wing(c) => Built::Wing(c.init()?),
            LossConfig::Asm(c) => Built::Asm(
                AsmLossConfig {
                    alphas: c.alphas,
                    ..AsmLossConfig::default()
                }
                .init()?,
                c.variance_share,
            ),
            LossConfig::Acr(c) => Built::Acr(c.init()?),
            LossConfig::Star(c) => Built::Star(c.init()?),
            LossConfig::AWing(c) => Built::AWing(c.init()?),
        };
        Ok(Objective {
            cfg,
            built,
            shape,
            clean: None,
            virtual_sets: Vec::new(),
            input_size: input_size as f64,
            epochs,
        })
    }

    /// Use the un-augmented shapes of the training samples for ACR's Φ (see the module docs).
    pub fn with_clean_shapes(mut self, clean: CleanShapes) -> Objective {
        self.clean = Some(clean);
        self
    }

    /// Supervise, besides the model's T points, the means of these sets of them (the virtual
    /// points of a mixed-scheme config, `facealign_core::mixed`). Empty: nothing changes.
    pub fn with_virtual_points(mut self, virtual_points: &[Vec<usize>]) -> Objective {
        self.set_virtual_points(virtual_points);
        self
    }

    /// [`Objective::with_virtual_points`] in place.
    pub fn set_virtual_points(&mut self, virtual_points: &[Vec<usize>]) {
        self.virtual_sets = virtual_points.to_vec();
    }

    /// `pred` `[N, 2T]` extended by the means of the virtual point sets → `[N, 2(T+V)]`.
    fn extended(&self, pred: &Tensor) -> Tensor {
        if self.virtual_sets.is_empty() {
            return pred.shallow_clone();
        }
        let (n, dim) = (pred.size()[0], pred.size()[1]);
        let t = dim / 2;
        let v = self.virtual_sets.len() as i64;
        let mut a = vec![0f64; (t * (t + v)) as usize];
        for i in 0..t {
            a[(i * (t + v) + i) as usize] = 1.0;
        }
        for (k, set) in self.virtual_sets.iter().enumerate() {
            for &i in set {
                a[(i as i64 * (t + v) + t + k as i64) as usize] = 1.0 / set.len() as f64;
            }
        }
        let a = Tensor::from_slice(&a)
            .view([t, t + v])
            .to_kind(pred.kind())
            .to_device(pred.device());
        // [N, T, 2] → [N, 2, T] · [T, T+V] → [N, 2, T+V] → [N, T+V, 2]
        pred.view([n, t, 2])
            .transpose(1, 2)
            .matmul(&a)
            .transpose(1, 2)
            .reshape([n, 2 * (t + v)])
    }

    /// Φ of one batch (`[N·2M]` host values) for the first `k` components.
    fn batch_phi(
        &self,
        shape: &ShapeModel,
        t: &BatchTargets,
        k: usize,
        dim: usize,
    ) -> Result<Vec<f32>> {
        let mut phi = Vec::with_capacity(t.gt_host.len());
        match &self.clean {
            Some(clean) => {
                for (&i, &f) in t.indices.iter().zip(t.flipped) {
                    phi.extend(clean.phi(shape, k, i, f)?);
                }
            }
            None => {
                for (g, lab) in t.gt_host.chunks(dim).zip(t.labelled.chunks(dim / 2)) {
                    let g = with_nan_at_unlabelled(g, lab);
                    let smooth = shape.smooth_face_k(&g, k)?;
                    phi.extend(acr_phi(&g, &smooth)?);
                }
            }
        }
        Ok(phi)
    }

    /// The loss for one batch: the mean over its labelled coordinates (points).
    pub fn compute(&self, out: &ModelOutput, t: &BatchTargets, epoch: usize) -> Result<LossValue> {
        let pred = &self.extended(&out.landmarks);
        let gt = t.gt;
        let n = pred.size()[0];
        let dim = pred.size()[1];
        if t.labelled.len() as i64 != n * dim / 2 || t.gt_host.len() as i64 != n * dim {
            return Err(Error::invalid(
                "batch targets",
                format!(
                    "{} labelled flags and {} values for {n} samples of {} points",
                    t.labelled.len(),
                    t.gt_host.len(),
                    dim / 2
                ),
            ));
        }
        let to_tensor = |v: &[f32], cols: i64| {
            Tensor::from_slice(v)
                .view([n, cols])
                .to_device(pred.device())
                .to_kind(pred.kind())
        };
        let mask = to_tensor(t.labelled, dim / 2);
        let plain = |loss: Tensor| LossValue {
            loss,
            schedule_value: None,
        };
        Ok(match &self.built {
            Built::Lp(l) => plain(masked_reduce(
                &l.forward_unreduced(pred, gt),
                &mask,
                l.reduction(),
            )),
            Built::SmoothL1(l) => plain(masked_reduce(
                &l.forward_unreduced(pred, gt),
                &mask,
                l.reduction(),
            )),
            Built::Wing(l) => plain(masked_reduce(
                &l.forward_unreduced(pred, gt),
                &mask,
                l.reduction(),
            )),
            Built::Asm(l, share) => {
                let shape = self.shape.as_ref().expect("checked in new");
                let k = shape.components_for_variance(*share);
                let mut a = Vec::with_capacity(t.gt_host.len());
                for (g, lab) in t
                    .gt_host
                    .chunks(dim as usize)
                    .zip(t.labelled.chunks(dim as usize / 2))
                {
                    a.extend(shape.smooth_face_k(&with_nan_at_unlabelled(g, lab), k)?);
                }
                let alpha = l.alpha(epoch, self.epochs);
                let un = l.forward_unreduced(pred, gt, &to_tensor(&a, dim), alpha);
                LossValue {
                    loss: masked_reduce(&un, &mask, l.reduction()),
                    schedule_value: Some(alpha),
                }
            }
            Built::Acr(l) => {
                let shape = self.shape.as_ref().expect("checked in new");
                let share = acr_variance_share(epoch, self.epochs);
                let k = shape.components_for_variance(share);
                let phi = self.batch_phi(shape, t, k, dim as usize)?;
                let un = l.forward_unreduced(pred, gt, &to_tensor(&phi, dim));
                LossValue {
                    loss: masked_reduce(&un, &mask, l.reduction()),
                    schedule_value: Some(share),
                }
            }
            Built::Star(l) => {
                let (heatmaps, hw) = self.heatmaps(out, n, dim)?;
                let target = crop_u_to_heatmap_grid(gt, self.input_size, hw).view([n, dim / 2, 2]);
                plain(masked_reduce(
                    &l.forward_unreduced(heatmaps, &target),
                    &mask,
                    l.reduction(),
                ))
            }
            Built::AWing(l) => {
                let (heatmaps, hw) = self.heatmaps(out, n, dim)?;
                let target = gaussian_heatmaps(gt, self.input_size, hw as i64, l.sigma());
                let per_pixel = l.forward_unreduced(heatmaps, &target);
                // Per point (mean or sum over its pixels), then over the labelled points: with
                // every point labelled, the mean is the authors' mean over N·M·H·W.
                let per_point = match l.reduction() {
                    Reduction::Mean => per_pixel.mean_dim([2i64, 3].as_slice(), false, pred.kind()),
                    Reduction::Sum => {
                        per_pixel.sum_dim_intlist([2i64, 3].as_slice(), false, pred.kind())
                    }
                };
                plain(masked_reduce(&per_point, &mask, l.reduction()))
            }
        })
    }

    /// The model's heatmaps `[N, M, h, w]` (square) and their side, for a heatmap loss.
    fn heatmaps<'o>(&self, out: &'o ModelOutput, n: i64, dim: i64) -> Result<(&'o Tensor, f64)> {
        let name = self.cfg.name();
        let heatmaps = out.heatmaps.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "loss `{name}` needs a heatmap model (model.arch = \"heatmap\")"
            ))
        })?;
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

    /// The input size the objective was built for (Wing's pixel scale).
    pub fn input_size(&self) -> f64 {
        self.input_size
    }
}

/// Set Wing's `unit_scale` to the input size (so `w` is in pixels of the model input), keeping
/// an explicitly configured non-default value.
pub fn with_input_size(cfg: LossConfig, input_size: u32) -> LossConfig {
    match cfg {
        LossConfig::Wing(mut c) if c.unit_scale == WingLossConfig::default().unit_scale => {
            c.unit_scale = input_size as f64;
            LossConfig::Wing(c)
        }
        other => other,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::AcrCMode;
    use crate::loss::LpOptions;

    #[test]
    fn heatmap_grid_round_trip_and_corners() {
        let u = Tensor::from_slice(&[-0.5f64, 0.0, 0.25, 0.4]);
        let g = crop_u_to_heatmap_grid(&u, 128.0, 32.0);
        let back = heatmap_grid_to_crop_u(&g, 128.0, 32.0);
        assert!((back - &u).abs().max().double_value(&[]) < 1e-12);
        // The centre of heatmap cell 0 is crop_px 0.5·4 − 0.5 = 1.5 → u = 1.5/128 − 0.5 → grid −1.
        let u0 = Tensor::from_slice(&[1.5f64 / 128.0 - 0.5]);
        assert!((crop_u_to_heatmap_grid(&u0, 128.0, 32.0).double_value(&[0]) + 1.0).abs() < 1e-12);
    }

    #[test]
    fn config_parses_with_defaults_and_rejects_unknown_keys() {
        let c: LossConfig = toml::from_str("kind = \"acr\"").unwrap();
        assert_eq!(c, LossConfig::Acr(AcrLossConfig::default()));
        let c: LossConfig =
            toml::from_str("kind = \"acr\"\nc_mode = \"authors-code\"\nlambda = 1.0").unwrap();
        let LossConfig::Acr(a) = c else {
            panic!("acr expected")
        };
        assert_eq!((a.lambda, a.c_mode), (1.0, AcrCMode::AuthorsCode));
        let e = toml::from_str::<LossConfig>("kind = \"acr\"\nlamda = 1.0")
            .unwrap_err()
            .to_string();
        assert!(e.contains("lamda"), "{e}");
        let bad = LossConfig::Acr(AcrLossConfig {
            lambda: -1.0,
            ..AcrLossConfig::default()
        });
        assert!(bad.validate().unwrap_err().to_string().contains("lambda"));
        let w = with_input_size(toml::from_str("kind = \"wing\"").unwrap(), 128);
        assert!(matches!(w, LossConfig::Wing(c) if c.unit_scale == 128.0));
    }

    /// An L2 objective on a 2-sample, 3-point batch with point 1 of sample 0 and every point of
    /// nothing else unlabelled.
    fn l2_objective() -> Objective {
        Objective::new(LossConfig::L2(LpOptions::default()), None, 64, 1).expect("l2")
    }

    fn output(pred: &Tensor) -> ModelOutput {
        ModelOutput {
            landmarks: pred.shallow_clone(),
            heatmaps: None,
            pose: None,
        }
    }

    #[test]
    fn masked_loss_is_the_mean_over_labelled_coordinates_with_zero_gradient_elsewhere() {
        // Sample 0: errors (1, 2), (—), (3, 0) with point 1 unlabelled (its prediction 100 far off);
        // sample 1: errors (0, 1), (2, 2), (1, 1), all labelled.
        // Labelled squared errors: 1 4 9 0 | 0 1 4 4 1 1 → sum 25 over 10 coordinates = 2.5.
        let gt = [
            0.0f32, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ];
        let pred_v = [
            1.0f64, 2.0, 100.0, -100.0, 3.0, 0.0, 0.0, 1.0, 2.0, 2.0, 1.0, 1.0,
        ];
        let labelled = [1.0f32, 0.0, 1.0, 1.0, 1.0, 1.0];
        let pred = Tensor::from_slice(&pred_v)
            .view([2, 6])
            .set_requires_grad(true);
        let gt_t = Tensor::from_slice(&gt).view([2, 6]).to_kind(Kind::Double);
        let t = BatchTargets {
            gt: &gt_t,
            gt_host: &gt,
            labelled: &labelled,
            indices: &[0, 1],
            flipped: &[false, false],
        };
        let lv = l2_objective().compute(&output(&pred), &t, 0).expect("loss");
        assert!(
            (scalar(&lv.loss) - 2.5).abs() < 1e-12,
            "{}",
            scalar(&lv.loss)
        );
        lv.loss.backward();
        let g: Vec<f64> = Vec::try_from(pred.grad().flatten(0, -1)).expect("grad");
        // d/dp (p − 0)² / 10 = 2p / 10 on labelled coordinates; exactly 0 on point 1 of sample 0.
        assert_eq!((g[2], g[3]), (0.0, 0.0));
        for (j, (&gj, &p)) in g.iter().zip(&pred_v).enumerate() {
            if j != 2 && j != 3 {
                assert!((gj - 2.0 * p / 10.0).abs() < 1e-12, "coordinate {j}: {gj}");
            }
        }
    }

    #[test]
    fn a_batch_with_no_labelled_point_gives_zero_not_nan() {
        let gt = [0.0f32; 6];
        let pred = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0, 5.0, 6.0])
            .view([1, 6])
            .set_requires_grad(true);
        let gt_t = Tensor::from_slice(&gt).view([1, 6]).to_kind(Kind::Double);
        let t = BatchTargets {
            gt: &gt_t,
            gt_host: &gt,
            labelled: &[0.0, 0.0, 0.0],
            indices: &[0],
            flipped: &[false],
        };
        let lv = l2_objective().compute(&output(&pred), &t, 0).expect("loss");
        assert_eq!(scalar(&lv.loss), 0.0);
        lv.loss.backward();
        let g: Vec<f64> = Vec::try_from(pred.grad().flatten(0, -1)).expect("grad");
        assert!(g.iter().all(|&v| v == 0.0), "{g:?}");
    }

    #[test]
    fn gaussian_heatmaps_peak_at_the_point_cell() {
        // S = 32, 8×8 cells (4 px each): cell j's centre is crop_px 4j + 1.5. A point at cell
        // (x, y) = (2, 1) is crop_px (9.5, 5.5), i.e. crop_u (9.5/32 − 0.5, 5.5/32 − 0.5).
        let u = Tensor::from_slice(&[9.5 / 32.0 - 0.5, 5.5 / 32.0 - 0.5f64]).view([1, 2]);
        let h = gaussian_heatmaps(&u, 32.0, 8, 1.5);
        assert_eq!(h.size(), [1, 1, 8, 8]);
        let at = |y: i64, x: i64| h.double_value(&[0, 0, y, x]);
        assert!((at(1, 2) - 1.0).abs() < 1e-12);
        // One cell right: exp(−1 / (2·1.5²)); one right and one down: exp(−2 / 4.5).
        assert!((at(1, 3) - (-1.0f64 / 4.5).exp()).abs() < 1e-12);
        assert!((at(2, 3) - (-2.0f64 / 4.5).exp()).abs() < 1e-12);
        assert!((at(1, 1) - at(1, 3)).abs() < 1e-12, "symmetric");
    }

    #[test]
    fn the_heatmap_decoder_reads_a_gaussian_target_back_at_its_point() {
        // The target builder and the model's soft-argmax agree on the cell convention: decoding
        // a Gaussian target (away from the border) gives its point back.
        let pts = [-0.1f64, 0.05, 0.12, -0.2, 0.0, 0.0];
        let u = Tensor::from_slice(&pts).view([1, 6]);
        let h = gaussian_heatmaps(&u, 64.0, 16, 1.0);
        let back: Vec<f32> =
            Vec::try_from(crate::model::heatmap::soft_argmax_crop_u(&h, (64, 64)).flatten(0, -1))
                .expect("values");
        for (b, p) in back.iter().zip(pts) {
            assert!((f64::from(*b) - p).abs() < 1e-5, "{back:?} vs {pts:?}");
        }
    }

    #[test]
    fn awing_objective_is_the_per_point_mean_over_labelled_points() {
        use crate::loss::AWingLossConfig;
        // 1 sample, 2 points, 6×6 heatmaps at S = 24; point 1 unlabelled.
        let obj = Objective::new(LossConfig::AWing(AWingLossConfig::default()), None, 24, 1)
            .expect("awing");
        let gt_host = [-0.1f32, 0.05, 0.2, -0.2];
        let gt = Tensor::from_slice(&gt_host)
            .view([1, 4])
            .to_kind(Kind::Double);
        let heat = super::super::loss::testutil::uniform(3, &[1, 2, 6, 6], 0.0, 1.0)
            .set_requires_grad(true);
        let out = ModelOutput {
            landmarks: Tensor::zeros([1, 4], (Kind::Double, tch::Device::Cpu)),
            heatmaps: Some(heat.shallow_clone()),
            pose: None,
        };
        let t = BatchTargets {
            gt: &gt,
            gt_host: &gt_host,
            labelled: &[1.0, 0.0],
            indices: &[0],
            flipped: &[false],
        };
        let lv = obj.compute(&out, &t, 0).expect("loss");
        // By hand: the AWing loss of point 0's heatmap alone against its Gaussian target.
        let target = gaussian_heatmaps(&gt, 24.0, 6, 1.0);
        let l = AWingLossConfig::default().init().unwrap();
        let want = l.forward(&heat.narrow(1, 0, 1), &target.narrow(1, 0, 1));
        assert!((scalar(&lv.loss) - scalar(&want)).abs() < 1e-12);
        lv.loss.backward();
        let g = heat.grad();
        assert_eq!(
            g.narrow(1, 1, 1).abs().sum(Kind::Double).double_value(&[]),
            0.0
        );
        assert!(g.narrow(1, 0, 1).abs().sum(Kind::Double).double_value(&[]) > 0.0);
        // A model without heatmaps is refused by name.
        let err = obj
            .compute(&output(&out.landmarks), &t, 0)
            .err()
            .expect("no heatmaps");
        assert!(err.to_string().contains("awing"), "{err}");
    }

    #[test]
    fn masked_reduce_weights_and_per_point_values() {
        // Per-point values [N=1, M=3] = 2, 4, 8 with weights 1, 0, 0.5: (2 + 4) / 1.5 = 4.
        let v = Tensor::from_slice(&[2.0f64, 4.0, 8.0]).view([1, 3]);
        let w = Tensor::from_slice(&[1.0f64, 0.0, 0.5]).view([1, 3]);
        let mean = masked_reduce(&v, &w, Reduction::Mean);
        assert!((scalar(&mean) - 4.0).abs() < 1e-12);
        let sum = masked_reduce(&v, &w, Reduction::Sum);
        assert!((scalar(&sum) - 6.0).abs() < 1e-12);
        // A NaN value at an unlabelled entry does not leak.
        let v = Tensor::from_slice(&[2.0f64, f64::NAN, 8.0]).view([1, 3]);
        assert!((scalar(&masked_reduce(&v, &w, Reduction::Mean)) - 4.0).abs() < 1e-12);
    }

    #[test]
    fn clean_phi_is_the_same_whatever_the_augmentation_up_to_the_flip() {
        use facealign_core::scheme::{Scheme, SchemeId};
        // A 5-point PCA from jittered shapes; Φ of sample 1 from its clean shape.
        let base = [-0.2f32, -0.1, 0.2, -0.1, 0.0, 0.05, -0.15, 0.2, 0.15, 0.2];
        let shapes: Vec<Vec<f32>> = (0..12)
            .map(|i| {
                base.iter()
                    .enumerate()
                    .map(|(j, v)| v + 0.01 * ((i * 7 + j * 3) % 5) as f32)
                    .collect()
            })
            .collect();
        let shape = ShapeModel::fit(&shapes, SchemeId::Five).expect("pca");
        let flip = Scheme::get(SchemeId::Five).flip;
        let clean = CleanShapes::new(shapes.clone(), flip.clone());
        let k = shape.components_for_variance(0.8);
        let plain = clean.phi(&shape, k, 1, false).expect("phi");
        let want = acr_phi(&shapes[1], &shape.smooth_face_k(&shapes[1], k).unwrap()).unwrap();
        assert_eq!(plain, want, "the cached Φ equals a fresh projection");
        let mirrored = clean.phi(&shape, k, 1, true).expect("phi");
        for (i, &j) in flip.iter().enumerate() {
            assert_eq!(
                [mirrored[2 * i], mirrored[2 * i + 1]],
                [plain[2 * j], plain[2 * j + 1]]
            );
        }
        // Through the objective: any augmented ground truth gives the same Φ-based loss as long
        // as the prediction error is the same, because Φ comes from the clean shape.
        let obj = Objective::new(
            LossConfig::Acr(AcrLossConfig::default()),
            Some(shape),
            64,
            10,
        )
        .unwrap()
        .with_clean_shapes(clean);
        let loss_for = |gt: &[f32]| {
            let gt_t = Tensor::from_slice(gt).view([1, 10]).to_kind(Kind::Double);
            let pred = &gt_t + 0.05;
            let t = BatchTargets {
                gt: &gt_t,
                gt_host: gt,
                labelled: &[1.0; 5],
                indices: &[1],
                flipped: &[false],
            };
            scalar(&obj.compute(&output(&pred), &t, 0).unwrap().loss)
        };
        let shifted: Vec<f32> = shapes[1].iter().map(|v| v * 1.3 + 0.1).collect();
        assert!((loss_for(&shapes[1]) - loss_for(&shifted)).abs() < 1e-9);
    }
}
