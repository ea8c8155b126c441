//! Smooth L1 (Huber-style) loss on landmark coordinates (Girshick, "Fast R-CNN", ICCV 2015;
//! PyTorch `smooth_l1_loss` with `beta`).
//!
//! Per coordinate, `e = target − pred`: `0.5·e²/β` if `|e| < β`, else `|e| − 0.5·β`.
//! `Reduction::Mean` divides by N·2M. Deviation from PyTorch: the default `β` is 0.01 crop_u
//! (≈ 2 px at 224) instead of 1.0, because our coordinates are crop_u (|e| ≲ 0.5), where
//! β = 1 would make the loss a pure (halved) L2.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, check_positive, Reduction, Result};

/// Configuration of [`SmoothL1Loss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SmoothL1LossConfig {
    /// Transition point between the quadratic and linear parts, in crop_u (default 0.01; > 0).
    pub beta: f64,
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

impl Default for SmoothL1LossConfig {
    fn default() -> Self {
        Self {
            beta: 0.01,
            reduction: Reduction::Mean,
        }
    }
}

impl SmoothL1LossConfig {
    /// Rejects a non-positive or non-finite `beta`.
    pub fn validate(&self) -> Result<()> {
        check_positive("smooth_l1.beta", self.beta)
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<SmoothL1Loss> {
        self.validate()?;
        Ok(SmoothL1Loss {
            beta: self.beta,
            reduction: self.reduction,
        })
    }
}

/// Smooth L1 per coordinate.
#[derive(Debug, Clone)]
pub struct SmoothL1Loss {
    beta: f64,
    reduction: Reduction,
}

impl SmoothL1Loss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The reduced loss.
    ///
    /// # Shapes
    /// `pred`, `target`: `[N, 2M]` (any equal shapes) → `[]`.
    pub fn forward(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        self.reduction.apply(&self.forward_unreduced(pred, target))
    }
    /// Per-element values, same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("SmoothL1Loss", "pred", pred, "target", target);
        let a = (target - pred).abs();
        let quad = a.square() * (0.5 / self.beta);
        let lin = &a - 0.5 * self.beta;
        quad.where_self(&a.lt(self.beta), &lin)
    }
}

super::coordinate_loss!(SmoothL1Loss);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn hand_computed() {
        // β = 1, |e| = [0.5, 2, 0, 1]:
        //   0.5 → 0.5·0.25/1 = 0.125;  2 → 2 − 0.5 = 1.5;  0 → 0;  1 (not < β) → 1 − 0.5 = 0.5.
        // sum 2.125, mean 0.53125.
        let pred = t64(&[0.0, 0.0, 0.0, 0.0], &[1, 4]);
        let target = t64(&[0.5, -2.0, 0.0, 1.0], &[1, 4]);
        let l = SmoothL1LossConfig {
            beta: 1.0,
            ..Default::default()
        }
        .init()
        .unwrap();
        assert_eq!(
            values(&l.forward_unreduced(&pred, &target)),
            vec![0.125, 1.5, 0.0, 0.5]
        );
        assert!((scalar(&l.forward(&pred, &target)) - 0.53125).abs() < 1e-15);
        // β = 0.01, |e| = 0.005: 0.5·0.005²/0.01 = 0.00125.
        let d = SmoothL1LossConfig {
            reduction: Reduction::Sum,
            ..Default::default()
        }
        .init()
        .unwrap();
        let v = scalar(&d.forward(&t64(&[0.0], &[1, 1]), &t64(&[0.005], &[1, 1])));
        assert!((v - 0.00125).abs() < 1e-15);
    }

    #[test]
    fn matches_libtorch_smooth_l1() {
        let l = SmoothL1LossConfig {
            beta: 0.3,
            ..Default::default()
        }
        .init()
        .unwrap();
        let p = uniform(30, &[3, 8], -1.0, 1.0);
        let t = uniform(31, &[3, 8], -1.0, 1.0);
        let ours = scalar(&l.forward(&p, &t));
        let torch = scalar(&p.smooth_l1_loss(&t, tch::Reduction::Mean, 0.3));
        assert!((ours - torch).abs() < 1e-14, "{ours} vs {torch}");
    }

    #[test]
    fn rejects_bad_beta() {
        for b in [0.0, -1.0, f64::INFINITY] {
            let e = SmoothL1LossConfig {
                beta: b,
                ..Default::default()
            }
            .init()
            .expect_err("bad beta");
            assert!(e.to_string().contains("smooth_l1.beta"), "{e}");
        }
    }

    #[test]
    fn gradient() {
        let l = SmoothL1LossConfig {
            beta: 0.2,
            ..Default::default()
        }
        .init()
        .unwrap();
        let p = uniform(32, &[2, 6], -0.5, 0.5);
        let t = uniform(33, &[2, 6], -0.5, 0.5);
        grad_check(&[p, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        let l = SmoothL1LossConfig::default().init().unwrap();
        assert_finite_at_zero_and_huge_errors(&|p, t| l.forward(p, t));
    }
}
