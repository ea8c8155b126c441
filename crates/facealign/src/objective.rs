//! The training objective: which loss, its schedule, and the per-batch targets it needs.
//!
//! ACR and ASM-assisted losses need Smooth-Faces of the ground truth (SPEC §1.1, §2.1). The PCA is
//! fitted once per run on the training shapes (crop_u); a Smooth-Face is then a projection onto
//! the first k eigenvectors, a `2M×k` product per face, computed for each batch's (augmented)
//! ground truth. Augmentation moves the ground truth every epoch, so a per-sample cache of
//! Smooth-Faces would be stale; the projection is cheap (microseconds per batch) and the PCA is
//! never recomputed.
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

use crate::error::{Error, Result};
use crate::loss::{
    AcrLoss, AcrLossConfig, AsmLoss, AsmLossConfig, L1Loss, L1LossConfig, L2Loss, L2LossConfig,
    SmoothL1Loss, SmoothL1LossConfig, StarLoss, StarLossConfig, WingLoss, WingLossConfig,
};
use crate::model::ModelOutput;
use facealign_core::shape::{acr_variance_share, ShapeModel};

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
    /// Mean squared error per coordinate.
    L2(L2LossConfig),
    /// Mean absolute error per coordinate.
    L1(L1LossConfig),
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
        }
    }

    /// Whether the loss needs the PCA shape model.
    pub fn needs_shape_model(&self) -> bool {
        matches!(self, LossConfig::Asm(_) | LossConfig::Acr(_))
    }

    /// Range checks (the error names the field).
    pub fn validate(&self) -> Result<()> {
        match self {
            LossConfig::L2(c) => c.validate(),
            LossConfig::L1(c) => c.validate(),
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
        }
    }
}

enum Built {
    L2(L2Loss),
    L1(L1Loss),
    SmoothL1(SmoothL1Loss),
    Wing(WingLoss),
    Asm(AsmLoss, f64),
    Acr(AcrLoss),
    Star(StarLoss),
}

/// A ready objective for one run.
pub struct Objective {
    pub cfg: LossConfig,
    built: Built,
    shape: Option<ShapeModel>,
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
            LossConfig::L2(c) => Built::L2(c.init()?),
            LossConfig::L1(c) => Built::L1(c.init()?),
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
        };
        Ok(Objective {
            cfg,
            built,
            shape,
            input_size: input_size as f64,
            epochs,
        })
    }

    /// The loss for one batch. `gt` is `[N, 2M]` crop_u on the model's device; `gt_host` the same
    /// values on the host (for the Smooth-Face projection).
    pub fn compute(
        &self,
        out: &ModelOutput,
        gt: &Tensor,
        gt_host: &[f32],
        epoch: usize,
    ) -> Result<LossValue> {
        let pred = &out.landmarks;
        let n = pred.size()[0];
        let dim = pred.size()[1];
        let plain = |loss: Tensor| LossValue {
            loss,
            schedule_value: None,
        };
        let to_tensor = |v: Vec<f32>| {
            Tensor::from_slice(&v)
                .view([n, dim])
                .to_device(pred.device())
                .to_kind(pred.kind())
        };
        Ok(match &self.built {
            Built::L2(l) => plain(l.forward(pred, gt)),
            Built::L1(l) => plain(l.forward(pred, gt)),
            Built::SmoothL1(l) => plain(l.forward(pred, gt)),
            Built::Wing(l) => plain(l.forward(pred, gt)),
            Built::Asm(l, share) => {
                let shape = self.shape.as_ref().expect("checked in new");
                let mut a = Vec::with_capacity(gt_host.len());
                for g in gt_host.chunks(dim as usize) {
                    a.extend(shape.smooth_face(g, *share)?);
                }
                let alpha = l.alpha(epoch, self.epochs);
                LossValue {
                    loss: l.forward(pred, gt, &to_tensor(a), alpha),
                    schedule_value: Some(alpha),
                }
            }
            Built::Acr(l) => {
                let shape = self.shape.as_ref().expect("checked in new");
                let share = acr_variance_share(epoch, self.epochs);
                let mut phi = Vec::with_capacity(gt_host.len());
                for g in gt_host.chunks(dim as usize) {
                    phi.extend(shape.acr_targets(g, share)?.1);
                }
                LossValue {
                    loss: l.forward(pred, gt, &to_tensor(phi)),
                    schedule_value: Some(share),
                }
            }
            Built::Star(l) => {
                let heatmaps = out.heatmaps.as_ref().ok_or_else(|| {
                    Error::Config(
                        "loss `star` needs a heatmap model (model.arch = \"heatmap\")".into(),
                    )
                })?;
                let hw = heatmaps.size()[3] as f64;
                let target = crop_u_to_heatmap_grid(gt, self.input_size, hw).view([n, dim / 2, 2]);
                plain(l.forward(heatmaps, &target))
            }
        })
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

/// Map crop_u coordinates to the heatmap grid coordinates of STAR's soft-argmax
/// (`x_j = 2j/(w−1) − 1` for heatmap column j, whose centre sits at crop_px `(j+0.5)·S/w − 0.5`).
pub fn crop_u_to_heatmap_grid(u: &Tensor, input_size: f64, hw: f64) -> Tensor {
    // crop_px = (u + 0.5)·S;  j = (crop_px + 0.5)·w/S − 0.5;  grid = 2j/(w−1) − 1
    let crop_px = (u + 0.5) * input_size;
    let j = (crop_px + 0.5) * (hw / input_size) - 0.5;
    j * (2.0 / (hw - 1.0)) - 1.0
}

/// The inverse of [`crop_u_to_heatmap_grid`].
pub fn heatmap_grid_to_crop_u(g: &Tensor, input_size: f64, hw: f64) -> Tensor {
    let j = (g + 1.0) * ((hw - 1.0) / 2.0);
    let crop_px = (j + 0.5) * (input_size / hw) - 0.5;
    crop_px / input_size - 0.5
}

/// A scalar tensor as f64 (for logs).
pub fn scalar(t: &Tensor) -> f64 {
    t.to_kind(Kind::Double).double_value(&[])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::loss::AcrCMode;

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
}
