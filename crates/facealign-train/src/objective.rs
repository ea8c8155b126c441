//! The training objective: which loss ([`LossConfig`] → a [`LandmarkLoss`]), the targets it
//! needs ([`Targets`]: Smooth-Faces, Φ, heatmap targets), and the reduction over labelled points.
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
use serde::{Deserialize, Serialize};
use tch::Tensor;

use crate::error::{Error, Result};
use crate::loss::asm::AsmAssisted;
use crate::loss::{
    AWingLossConfig, AcrLossConfig, AsmLossConfig, LandmarkLoss, LossInput, LpLossConfig,
    LpOptions, SmoothL1LossConfig, StarLossConfig, Targets, WingLossConfig,
};
use crate::model::ModelOutput;
use facealign_core::shape::ShapeModel;

pub use crate::loss::targets::{
    apply_affine, crop_u_to_heatmap_grid, gaussian_heatmaps, heatmap_grid_to_crop_u, masked_reduce,
    scalar, with_nan_at_unlabelled, BatchTargets, CleanShapes,
};

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

    /// The weight of virtual points under a heatmap loss (STAR's `virtual_weight`; 0 otherwise).
    pub fn virtual_weight(&self) -> f64 {
        match self {
            LossConfig::Star(c) => c.virtual_weight,
            _ => 0.0,
        }
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

impl LossConfig {
    /// The loss as training runs it (validated first).
    pub fn build(&self) -> Result<Box<dyn LandmarkLoss>> {
        self.validate()?;
        Ok(match self {
            LossConfig::L2(c) => Box::new(LpLossConfig::l2(c).init()?),
            LossConfig::L1(c) => Box::new(LpLossConfig::l1(c).init()?),
            LossConfig::SmoothL1(c) => Box::new(c.init()?),
            LossConfig::Wing(c) => Box::new(c.init()?),
            LossConfig::Asm(c) => Box::new(AsmAssisted {
                loss: AsmLossConfig {
                    alphas: c.alphas,
                    ..AsmLossConfig::default()
                }
                .init()?,
                variance_share: c.variance_share,
            }),
            LossConfig::Acr(c) => Box::new(c.init()?),
            LossConfig::Star(c) => Box::new(c.init()?),
            LossConfig::AWing(c) => Box::new(c.init()?),
        })
    }
}

/// A ready objective for one run.
pub struct Objective {
    pub cfg: LossConfig,
    loss: Box<dyn LandmarkLoss>,
    targets: Targets,
    /// The virtual points of a mixed-scheme config: sets of the model's points whose means are
    /// supervised too (`facealign_core::mixed`).
    virtual_sets: Vec<Vec<usize>>,
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
        if cfg.needs_shape_model() && shape.is_none() {
            return Err(Error::Config(format!(
                "loss `{}` needs a shape model",
                cfg.name()
            )));
        }
        Ok(Objective {
            loss: cfg.build()?,
            cfg,
            targets: Targets::new(shape, input_size),
            virtual_sets: Vec::new(),
            epochs,
        })
    }

    /// Use the un-augmented shapes of the training samples for ACR's Φ (see the module docs).
    pub fn with_clean_shapes(mut self, clean: CleanShapes) -> Objective {
        self.targets.set_clean_shapes(clean);
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

    /// The loss for one batch: the mean over its labelled coordinates (points).
    ///
    /// Heatmap losses (STAR, AWing) with a mixed-scheme config supervise the model's own T
    /// points by their heatmaps: a virtual point (the mean of several of them) has no heatmap of
    /// its own. With STAR's `virtual_weight` w > 0 each labelled virtual point adds the value
    /// `w·‖mean of its predicted points − target‖` (Euclidean, crop units) to the per-point
    /// values that are averaged; with w = 0 its slot is left out (its weight does not count in
    /// the mean either).
    pub fn compute(&self, out: &ModelOutput, t: &BatchTargets, epoch: usize) -> Result<LossValue> {
        if self.cfg.needs_heatmaps() && !self.virtual_sets.is_empty() {
            let own = out.landmarks.size()[1] / 2;
            let slots = own as usize + self.virtual_sets.len();
            if !t.labelled.len().is_multiple_of(slots) || t.gt_host.len() != 2 * t.labelled.len() {
                return Err(Error::invalid(
                    "batch targets",
                    format!(
                        "{} labelled flags and {} values are not whole samples of {slots} points",
                        t.labelled.len(),
                        t.gt_host.len()
                    ),
                ));
            }
            let own_u = own as usize;
            let gt_host: Vec<f32> = t
                .gt_host
                .chunks(2 * slots)
                .flat_map(|r| r[..2 * own_u].iter().copied())
                .collect();
            let labelled: Vec<f32> = t
                .labelled
                .chunks(slots)
                .flat_map(|r| r[..own_u].iter().copied())
                .collect();
            let gt = t.gt.narrow(1, 0, 2 * own);
            let own_targets = BatchTargets {
                gt: &gt,
                gt_host: &gt_host,
                labelled: &labelled,
                indices: t.indices,
                flipped: t.flipped,
            };
            let w = self.cfg.virtual_weight();
            if w == 0.0 {
                return self.compute_extended(&out.landmarks, out, &own_targets, epoch);
            }
            let (own_values, schedule_value) =
                self.unreduced(&out.landmarks, out, &own_targets, epoch)?;
            let pred = &out.landmarks;
            let n = pred.size()[0];
            let v = self.virtual_sets.len() as i64;
            let diff = self.extended(pred).narrow(1, 2 * own, 2 * v)
                - t.gt.narrow(1, 2 * own, 2 * v).to_kind(pred.kind());
            // ‖·‖ with a floor under the root (a finite gradient at 0, at most 1 per coordinate).
            let dist = (diff.view([n, v, 2]).square().sum_dim_intlist(
                [2i64].as_slice(),
                false,
                pred.kind(),
            ) + 1e-12)
                .sqrt();
            let values = Tensor::cat(&[own_values, dist * w], 1);
            let mask = t.tensor(t.labelled, slots as i64, pred);
            return Ok(LossValue {
                loss: masked_reduce(&values, &mask, self.loss.reduction()),
                schedule_value,
            });
        }
        self.compute_extended(&self.extended(&out.landmarks), out, t, epoch)
    }

    /// The loss's unreduced values (per point or per coordinate) for predictions already in the
    /// batch's point space, with what was scheduled.
    fn unreduced(
        &self,
        pred: &Tensor,
        out: &ModelOutput,
        t: &BatchTargets,
        epoch: usize,
    ) -> Result<(Tensor, Option<f64>)> {
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
        let input = LossInput {
            pred,
            heatmaps: out.heatmaps.as_ref(),
            batch: t,
            targets: &self.targets,
            epoch,
            epochs: self.epochs,
        };
        self.loss.unreduced(&input)
    }

    /// [`Objective::compute`] on predictions already in the batch's point space.
    fn compute_extended(
        &self,
        pred: &Tensor,
        out: &ModelOutput,
        t: &BatchTargets,
        epoch: usize,
    ) -> Result<LossValue> {
        let (unreduced, schedule_value) = self.unreduced(pred, out, t, epoch)?;
        let mask = t.tensor(t.labelled, pred.size()[1] / 2, pred);
        Ok(LossValue {
            loss: masked_reduce(&unreduced, &mask, self.loss.reduction()),
            schedule_value,
        })
    }

    /// The input size the objective was built for (Wing's pixel scale).
    pub fn input_size(&self) -> f64 {
        self.targets.input_size()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::AcrCMode;
    use crate::loss::LpOptions;
    use crate::loss::Reduction;
    use facealign_core::shape::acr_phi;
    use tch::Kind;

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
    fn a_heatmap_loss_with_mixed_schemes_supervises_the_models_own_points_only() {
        // 2 samples, T = 2 model points, one virtual point (the mean of points 0 and 1): the
        // STAR objective on the extended batch must equal STAR on the own points alone, whatever
        // the virtual slot holds (NaN here) and whatever its weight.
        let heat = super::super::loss::testutil::uniform(5, &[2, 2, 6, 6], 0.05, 1.0)
            .set_requires_grad(true);
        let out = ModelOutput {
            landmarks: Tensor::zeros([2, 4], (Kind::Double, tch::Device::Cpu)),
            heatmaps: Some(heat.shallow_clone()),
            pose: None,
        };
        let own_host = [-0.1f32, 0.05, 0.2, -0.2, 0.15, 0.1, -0.25, 0.0];
        let own_labelled = [1.0f32, 0.5, 0.0, 1.0];
        let mut ext_host = Vec::new();
        let mut ext_labelled = Vec::new();
        for k in 0..2 {
            ext_host.extend_from_slice(&own_host[4 * k..4 * k + 4]);
            ext_host.extend_from_slice(&[f32::NAN, f32::NAN]);
            ext_labelled.extend_from_slice(&own_labelled[2 * k..2 * k + 2]);
            ext_labelled.push(1.0);
        }
        let loss = |host: &[f32], labelled: &[f32], virtual_points: &[Vec<usize>]| {
            let obj = Objective::new(LossConfig::Star(StarLossConfig::default()), None, 24, 1)
                .expect("star")
                .with_virtual_points(virtual_points);
            let cols = host.len() as i64 / 2;
            let gt = Tensor::from_slice(host)
                .view([2, cols])
                .to_kind(Kind::Double);
            let t = BatchTargets {
                gt: &gt,
                gt_host: host,
                labelled,
                indices: &[0, 1],
                flipped: &[false, false],
            };
            scalar(&obj.compute(&out, &t, 0).expect("loss").loss)
        };
        let own = loss(&own_host, &own_labelled, &[]);
        let mixed = loss(&ext_host, &ext_labelled, &[vec![0, 1]]);
        assert!(own.is_finite() && own > 0.0, "{own}");
        assert_eq!(own, mixed);
    }

    #[test]
    fn a_weighted_virtual_point_adds_the_distance_of_its_mean_under_star() {
        // 2 samples, T = 2 model points + one virtual point (their mean), STAR with
        // virtual_weight w = 2. Predicted points: sample 0 (0.1, 0.2), (0.3, −0.2) → mean
        // (0.2, 0); its virtual target (0.5, 0.4) → distance 0.5. Sample 1: both at 0 → mean 0,
        // target (0.06, 0.08) → distance 0.1, virtual weight 0.5. Own weights 1, 0.5 | 0, 1.
        // Mean = (Σ own w·STAR + 2·(1·0.5 + 0.5·0.1)) / (2.5 + 1.5).
        let heat = super::super::loss::testutil::uniform(5, &[2, 2, 6, 6], 0.05, 1.0);
        let landmarks = Tensor::from_slice(&[0.1f64, 0.2, 0.3, -0.2, 0.0, 0.0, 0.0, 0.0])
            .view([2, 4])
            .set_requires_grad(true);
        let out = ModelOutput {
            landmarks: landmarks.shallow_clone(),
            heatmaps: Some(heat.shallow_clone()),
            pose: None,
        };
        let own_host = [-0.1f32, 0.05, 0.2, -0.2, 0.15, 0.1, -0.25, 0.0];
        let own_labelled = [1.0f32, 0.5, 0.0, 1.0];
        let ext_host = [
            -0.1f32, 0.05, 0.2, -0.2, 0.5, 0.4, 0.15, 0.1, -0.25, 0.0, 0.06, 0.08,
        ];
        let ext_labelled = [1.0f32, 0.5, 1.0, 0.0, 1.0, 0.5];
        let targets = |host: &[f32], cols: i64| {
            Tensor::from_slice(host)
                .view([2, cols])
                .to_kind(Kind::Double)
        };
        let star = |virtual_weight, reduction| {
            LossConfig::Star(StarLossConfig {
                virtual_weight,
                reduction,
                ..StarLossConfig::default()
            })
        };
        let own_gt = targets(&own_host, 4);
        let own_sum = Objective::new(star(0.0, Reduction::Sum), None, 24, 1)
            .unwrap()
            .compute(
                &out,
                &BatchTargets {
                    gt: &own_gt,
                    gt_host: &own_host,
                    labelled: &own_labelled,
                    indices: &[0, 1],
                    flipped: &[false, false],
                },
                0,
            )
            .unwrap()
            .loss;
        let ext_gt = targets(&ext_host, 6);
        let t = BatchTargets {
            gt: &ext_gt,
            gt_host: &ext_host,
            labelled: &ext_labelled,
            indices: &[0, 1],
            flipped: &[false, false],
        };
        let obj = Objective::new(star(2.0, Reduction::Mean), None, 24, 1)
            .unwrap()
            .with_virtual_points(&[vec![0, 1]]);
        let got = obj.compute(&out, &t, 0).unwrap().loss;
        let want = (scalar(&own_sum) + 2.0 * (0.5 + 0.5 * 0.1)) / 4.0;
        // (The targets are f32: 0.06 and 0.4 are not exact.)
        assert!(
            (scalar(&got) - want).abs() < 1e-7,
            "{} vs {want}",
            scalar(&got)
        );
        // d/dp0 = d/dp1 = w · ½ · (mean − target)/‖·‖ / 4 = 2 · ½ · (−0.6, −0.8) / 4 for sample 0;
        // sample 1: 2 · ½ · 0.5 · (−0.6, −0.8) / 4 (STAR's own values do not read the landmarks).
        got.backward();
        let g: Vec<f64> = Vec::try_from(landmarks.grad().view([-1])).unwrap();
        let want_g = [-0.15, -0.2, -0.15, -0.2, -0.075, -0.1, -0.075, -0.1];
        for (a, b) in g.iter().zip(want_g) {
            assert!((a - b).abs() < 1e-7, "{g:?}");
        }
        // w = 0: the virtual slot is left out, as before.
        let obj0 = Objective::new(star(0.0, Reduction::Mean), None, 24, 1)
            .unwrap()
            .with_virtual_points(&[vec![0, 1]]);
        let got0 = scalar(&obj0.compute(&out, &t, 0).unwrap().loss);
        assert!((got0 - scalar(&own_sum) / 2.5).abs() < 1e-9);
        assert!(LossConfig::Star(StarLossConfig {
            virtual_weight: -1.0,
            ..StarLossConfig::default()
        })
        .validate()
        .is_err_and(|e| e.to_string().contains("virtual_weight")));
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
