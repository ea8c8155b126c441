//! Lp loss on landmark coordinates, per coordinate `|e|^p` with `e = target − pred` (burn-nn's
//! `lp_loss`): p = 2 is the L2 / mean squared error baseline of the ACR paper ("MN_base", Fard &
//! Mahoor, ICPR 2022, Table I) and of most regression papers; p = 1 the L1 / absolute error of
//! the robust-regression comparisons (e.g. Feng et al., "Wing loss", CVPR 2018).
//!
//! `Reduction::Mean` divides by N·2M (PyTorch's `mse_loss` / `l1_loss`). Note the ASM-assisted
//! loss (`asm.rs`) normalises by N·M instead (per point). p = 2 is computed as `e²` and p = 1 as
//! `|e|` (gradient 0 at e = 0, libtorch's `sign(0) = 0`); other p ≥ 1 as `|e|^p` with a finite
//! gradient at 0. In a training config `kind = "l2"` and `kind = "l1"` pick p.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, safe_abs_pow, Error, Reduction, Result};

/// The `[loss]` options of `kind = "l1"` / `"l2"` (the kind gives p).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LpOptions {
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

/// Configuration of [`LpLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LpLossConfig {
    /// The exponent p, finite and ≥ 1.
    pub p: f64,
    /// How per-coordinate values are reduced (default mean over N·2M).
    #[serde(default)]
    pub reduction: Reduction,
}

impl LpLossConfig {
    /// L2: p = 2.
    pub fn l2(o: &LpOptions) -> LpLossConfig {
        LpLossConfig {
            p: 2.0,
            reduction: o.reduction,
        }
    }
    /// L1: p = 1.
    pub fn l1(o: &LpOptions) -> LpLossConfig {
        LpLossConfig {
            p: 1.0,
            reduction: o.reduction,
        }
    }
    /// Rejects p that is not finite or below 1 (the error names `lp.p`).
    pub fn validate(&self) -> Result<()> {
        if self.p.is_finite() && self.p >= 1.0 {
            Ok(())
        } else {
            Err(Error::invalid(
                "lp.p",
                format!("must be finite and >= 1, got {}", self.p),
            ))
        }
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<LpLoss> {
        self.validate()?;
        Ok(LpLoss {
            p: self.p,
            reduction: self.reduction,
        })
    }
}

/// `|target − pred|^p` per coordinate.
#[derive(Debug, Clone)]
pub struct LpLoss {
    p: f64,
    reduction: Reduction,
}

impl LpLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.reduction
    }

    /// The exponent p.
    pub fn p(&self) -> f64 {
        self.p
    }

    /// The reduced loss.
    ///
    /// # Shapes
    /// `pred`, `target`: `[N, 2M]` (any equal shapes) → `[]`.
    pub fn forward(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        self.reduction.apply(&self.forward_unreduced(pred, target))
    }

    /// `|target − pred|^p` per element, same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("LpLoss", "pred", pred, "target", target);
        let e = target - pred;
        if self.p == 2.0 {
            e.square()
        } else if self.p == 1.0 {
            e.abs()
        } else {
            safe_abs_pow(&e, &e.full_like(self.p))
        }
    }
}

super::coordinate_loss!(LpLoss);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn lp(p: f64, reduction: Reduction) -> LpLoss {
        LpLossConfig { p, reduction }.init().unwrap()
    }

    #[test]
    fn hand_computed_l2_l1_and_p() {
        // e = target − pred = [0.5, −1, 0, 2].
        let pred = t64(&[0.0, 1.0, 3.0, -1.0], &[1, 4]);
        let target = t64(&[0.5, 0.0, 3.0, 1.0], &[1, 4]);
        // p = 2: e² = [0.25, 1, 0, 4]; sum 5.25, mean 1.3125.
        let l2 = LpLossConfig::l2(&LpOptions::default()).init().unwrap();
        assert!((scalar(&l2.forward(&pred, &target)) - 1.3125).abs() < 1e-15);
        assert!((scalar(&lp(2.0, Reduction::Sum).forward(&pred, &target)) - 5.25).abs() < 1e-15);
        assert_eq!(
            values(&l2.forward_unreduced(&pred, &target)),
            vec![0.25, 1.0, 0.0, 4.0]
        );
        // p = 1: |e| = [0.5, 1, 0, 2]; sum 3.5, mean 0.875.
        let l1 = LpLossConfig::l1(&LpOptions::default()).init().unwrap();
        assert!((scalar(&l1.forward(&pred, &target)) - 0.875).abs() < 1e-15);
        assert!((scalar(&lp(1.0, Reduction::Sum).forward(&pred, &target)) - 3.5).abs() < 1e-15);
        // p = 3: |e|³ = [0.125, 1, 0, 8]; sum 9.125.
        assert!((scalar(&lp(3.0, Reduction::Sum).forward(&pred, &target)) - 9.125).abs() < 1e-12);
    }

    #[test]
    fn gradients() {
        for (p, seed) in [(2.0, 10), (1.0, 20), (1.5, 30)] {
            let l = lp(p, Reduction::Mean);
            let a = uniform(seed, &[2, 6], -0.5, 0.5);
            let b = uniform(seed + 1, &[2, 6], -0.5, 0.5);
            grad_check(&[a, b], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
        }
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        for p in [1.0, 1.5, 2.0] {
            let l = lp(p, Reduction::Mean);
            assert_finite_at_zero_and_huge_errors(&|a, t| l.forward(a, t));
        }
    }

    #[test]
    fn p_below_one_is_refused_by_name() {
        let e = LpLossConfig {
            p: 0.5,
            reduction: Reduction::Mean,
        }
        .init()
        .expect_err("p < 1");
        assert!(e.to_string().contains("lp.p"), "{e}");
    }
}
