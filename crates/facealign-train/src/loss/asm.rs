//! ASM-assisted loss (Fard, Abdollahi, Mahoor, "ASMNet: a Lightweight Deep Neural Network for
//! Face Alignment and Pose Estimation", CVPR Workshops (AMFG) 2021, Eqs. 7–10; SPEC §2.2,
//! Decision 5).
//!
//! `L = L_mse + α·L_asm`, `L_mse = (1/(N·M)) Σ_n Σ_i ‖G_ni − P_ni‖²`,
//! `L_asm = (1/(N·M)) Σ_n Σ_i ‖A_ni − P_ni‖²`, with G the ground truth, P the prediction and
//! A the ASM projection of G (PCA at 90 % explained variance, computed elsewhere and passed in).
//! Normalisation: per point squared Euclidean distance averaged over the N·M points (the
//! paper's 1/(N·M)); this is twice the per-coordinate MSE of `l2.rs` (1/(N·2M)).
//! `Reduction::Sum` sums over points instead. α follows the paper's schedule over the
//! thirds of the *epochs*, [`asm_alpha`] (the authors' code compares with batches per epoch
//! instead, a bug we do not copy). The pose term of ASMNet is not part of this loss.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, check_non_negative, Reduction, Result};

/// Configuration of [`AsmLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsmLossConfig {
    /// α for the first, second and last third of the epochs; default `[2, 1, 0.5]`, each ≥ 0.
    pub alphas: [f64; 3],
    /// How per-point values are reduced (default mean over N·M).
    pub reduction: Reduction,
}

impl Default for AsmLossConfig {
    fn default() -> Self {
        Self {
            alphas: [2.0, 1.0, 0.5],
            reduction: Reduction::Mean,
        }
    }
}

impl AsmLossConfig {
    /// Rejects negative or non-finite α values, naming `asm.alphas[i]`.
    pub fn validate(&self) -> Result<()> {
        for (i, a) in self.alphas.iter().enumerate() {
            check_non_negative(&format!("asm.alphas[{i}]"), *a)?;
        }
        Ok(())
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<AsmLoss> {
        self.validate()?;
        Ok(AsmLoss {
            config: self.clone(),
        })
    }
}

/// The default α of the paper (Decision 5) at 0-based `epoch` of `epochs`:
/// 2 for `epoch < epochs/3`, 1 for `epoch < 2·epochs/3`, else 0.5.
pub fn asm_alpha(epoch: usize, epochs: usize) -> f64 {
    third_value(&AsmLossConfig::default().alphas, epoch, epochs)
}

fn third_value(alphas: &[f64; 3], epoch: usize, epochs: usize) -> f64 {
    // Integer comparisons: i < l/3 ⇔ 3i < l; i < 2l/3 ⇔ 3i < 2l.
    if 3 * epoch < epochs {
        alphas[0]
    } else if 3 * epoch < 2 * epochs {
        alphas[1]
    } else {
        alphas[2]
    }
}

/// The ASM-assisted landmark loss.
#[derive(Debug, Clone)]
pub struct AsmLoss {
    config: AsmLossConfig,
}

impl AsmLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.config.reduction
    }

    /// α of this config's schedule at 0-based `epoch` of `epochs`.
    pub fn alpha(&self, epoch: usize, epochs: usize) -> f64 {
        third_value(&self.config.alphas, epoch, epochs)
    }

    /// The reduced loss `L_mse + α·L_asm`.
    ///
    /// # Shapes
    /// `pred`, `target`, `asm`: `[N, 2M]` (x, y interleaved) → `[]`.
    ///
    /// # Panics
    /// If shapes differ, the last dimension is odd, or `alpha` is negative or not finite.
    pub fn forward(&self, pred: &Tensor, target: &Tensor, asm: &Tensor, alpha: f64) -> Tensor {
        self.config
            .reduction
            .apply(&self.forward_unreduced(pred, target, asm, alpha))
    }

    /// Per point `‖G − P‖² + α·‖A − P‖²`, `[N, M]`.
    pub fn forward_unreduced(
        &self,
        pred: &Tensor,
        target: &Tensor,
        asm: &Tensor,
        alpha: f64,
    ) -> Tensor {
        let (mse, asm_term) = self.parts_unreduced(pred, target, asm);
        assert!(
            alpha.is_finite() && alpha >= 0.0,
            "AsmLoss: alpha must be finite and >= 0, got {alpha}"
        );
        mse + asm_term * alpha
    }

    /// The two terms per point, `(‖G − P‖², ‖A − P‖²)`, each `[N, M]` (for logging).
    pub fn parts_unreduced(
        &self,
        pred: &Tensor,
        target: &Tensor,
        asm: &Tensor,
    ) -> (Tensor, Tensor) {
        assert_same_shape("AsmLoss", "pred", pred, "target", target);
        assert_same_shape("AsmLoss", "pred", pred, "asm", asm);
        let size = pred.size();
        let last = *size
            .last()
            .expect("AsmLoss: pred must have at least one dimension");
        assert!(
            last % 2 == 0,
            "AsmLoss: the last dimension (2M) must be even, got {last}"
        );
        let per_point = |d: Tensor| {
            let mut shape = size[..size.len() - 1].to_vec();
            shape.extend([last / 2, 2]);
            d.square()
                .reshape(shape.as_slice())
                .sum_dim_intlist(-1, false, d.kind())
        };
        (per_point(target - pred), per_point(asm - pred))
    }
}

/// The ASM-assisted loss in training: α from the config's schedule ([`AsmLoss::alpha`]), A the
/// Smooth-Face of the (augmented) ground truth with the PCA components that explain
/// `variance_share` of the variance (A is a position, so it follows the augmentation).
#[derive(Debug, Clone)]
pub struct AsmAssisted {
    pub loss: AsmLoss,
    pub variance_share: f64,
}

impl super::LandmarkLoss for AsmAssisted {
    fn reduction(&self) -> Reduction {
        self.loss.reduction()
    }
    fn unreduced(&self, x: &super::LossInput<'_>) -> Result<(Tensor, Option<f64>)> {
        let dim = x.pred.size()[1];
        let k = x
            .targets
            .shape()?
            .components_for_variance(self.variance_share);
        let a = x.targets.smooth_faces(x.batch, k, dim as usize)?;
        let a = x.batch.tensor(&a, dim, x.pred);
        let alpha = self.loss.alpha(x.epoch, x.epochs);
        Ok((
            self.loss.forward_unreduced(x.pred, x.batch.gt, &a, alpha),
            Some(alpha),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn hand_computed() {
        // G = [(0,0), (1,1)], P = [(0.1,0.2), (1,0.5)], A = [(0,0.1), (0.8,1)].
        // G−P = (−0.1,−0.2), (0,0.5) → ‖·‖² = 0.05, 0.25 → L_mse = 0.30/2 = 0.15.
        // A−P = (−0.1,−0.1), (−0.2,0.5) → ‖·‖² = 0.02, 0.29 → L_asm = 0.31/2 = 0.155.
        // α = 2: 0.15 + 2·0.155 = 0.46; per point [0.05 + 0.04, 0.25 + 0.58] = [0.09, 0.83].
        let g = t64(&[0.0, 0.0, 1.0, 1.0], &[1, 4]);
        let p = t64(&[0.1, 0.2, 1.0, 0.5], &[1, 4]);
        let a = t64(&[0.0, 0.1, 0.8, 1.0], &[1, 4]);
        let l = AsmLossConfig::default().init().unwrap();
        assert!((scalar(&l.forward(&p, &g, &a, 2.0)) - 0.46).abs() < 1e-14);
        let u = values(&l.forward_unreduced(&p, &g, &a, 2.0));
        assert!(
            (u[0] - 0.09).abs() < 1e-14 && (u[1] - 0.83).abs() < 1e-14,
            "{u:?}"
        );
        // α = 0 is twice the per-coordinate MSE: 2·(0.01 + 0.04 + 0 + 0.25)/4 = 0.15.
        assert!((scalar(&l.forward(&p, &g, &a, 0.0)) - 0.15).abs() < 1e-14);
    }

    #[test]
    fn alpha_schedule_thirds_of_epochs() {
        // 150 epochs: 0..49 → 2, 50..99 → 1, 100..149 → 0.5.
        assert_eq!(asm_alpha(0, 150), 2.0);
        assert_eq!(asm_alpha(49, 150), 2.0);
        assert_eq!(asm_alpha(50, 150), 1.0);
        assert_eq!(asm_alpha(99, 150), 1.0);
        assert_eq!(asm_alpha(100, 150), 0.5);
        assert_eq!(asm_alpha(149, 150), 0.5);
        // 10 epochs: 3·3 = 9 < 10 → 2; 3·4 = 12 ≥ 10, < 20 → 1; 3·7 = 21 ≥ 20 → 0.5.
        assert_eq!(asm_alpha(3, 10), 2.0);
        assert_eq!(asm_alpha(4, 10), 1.0);
        assert_eq!(asm_alpha(6, 10), 1.0);
        assert_eq!(asm_alpha(7, 10), 0.5);
    }

    #[test]
    fn rejects_negative_alpha() {
        let e = AsmLossConfig {
            alphas: [2.0, -1.0, 0.5],
            ..Default::default()
        }
        .init()
        .expect_err("bad");
        assert!(e.to_string().contains("asm.alphas[1]"), "{e}");
    }

    #[test]
    fn gradient() {
        let l = AsmLossConfig::default().init().unwrap();
        let p = uniform(60, &[2, 6], -0.5, 0.5);
        let t = uniform(61, &[2, 6], -0.5, 0.5);
        let a = uniform(62, &[2, 6], -0.5, 0.5);
        grad_check(&[p, t, a], &[0, 1, 2], 1e-5, &|x| {
            l.forward(&x[0], &x[1], &x[2], 0.7)
        });
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        let l = AsmLossConfig::default().init().unwrap();
        // The Smooth-Face equal to the target.
        assert_finite_at_zero_and_huge_errors(&|p, t| l.forward(p, t, &t.copy(), 2.0));
    }
}
