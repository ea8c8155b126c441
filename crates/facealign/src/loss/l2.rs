//! L2 / mean squared error on landmark coordinates: the plain baseline of the ACR paper
//! ("MN_base", Fard & Mahoor, ICPR 2022, Table I) and of most regression papers.
//!
//! Per coordinate `e²` with `e = target − pred`; `Reduction::Mean` divides by N·2M (PyTorch's
//! `mse_loss`). Note the ASM-assisted loss (`asm.rs`) normalises by N·M instead (per point).
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, Reduction, Result};

/// Configuration of [`L2Loss`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L2LossConfig {
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

impl L2LossConfig {
    /// Nothing can be wrong; kept for the common pattern.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<L2Loss> {
        self.validate()?;
        Ok(L2Loss {
            reduction: self.reduction,
        })
    }
}

/// Squared error per coordinate.
#[derive(Debug, Clone)]
pub struct L2Loss {
    reduction: Reduction,
}

impl L2Loss {
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
    /// `(target − pred)²` per element, same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("L2Loss", "pred", pred, "target", target);
        (target - pred).square()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn hand_computed() {
        // e = target − pred = [0.5, −1, 0, 2]; e² = [0.25, 1, 0, 4]; sum 5.25, mean 5.25/4 = 1.3125.
        let pred = t64(&[0.0, 1.0, 3.0, -1.0], &[1, 4]);
        let target = t64(&[0.5, 0.0, 3.0, 1.0], &[1, 4]);
        let l = L2LossConfig::default().init().unwrap();
        assert!((scalar(&l.forward(&pred, &target)) - 1.3125).abs() < 1e-15);
        let s = L2LossConfig {
            reduction: Reduction::Sum,
        }
        .init()
        .unwrap();
        assert!((scalar(&s.forward(&pred, &target)) - 5.25).abs() < 1e-15);
        assert_eq!(
            values(&l.forward_unreduced(&pred, &target)),
            vec![0.25, 1.0, 0.0, 4.0]
        );
    }

    #[test]
    fn gradient() {
        let l = L2LossConfig::default().init().unwrap();
        let p = uniform(10, &[2, 6], -0.5, 0.5);
        let t = uniform(11, &[2, 6], -0.5, 0.5);
        grad_check(&[p, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        let l = L2LossConfig::default().init().unwrap();
        for e in [0.0, 1e3] {
            let p = t64(&[0.0; 4], &[1, 4]);
            let t = t64(&[e, -e, e, 0.0], &[1, 4]);
            let (v, g) = value_and_grads(&[p, t], &[0], &|x| l.forward(&x[0], &x[1]));
            assert_finite("value", &v);
            assert_finite("grad", &g[0]);
        }
    }
}
