//! L1 (absolute error) on landmark coordinates, the classic robust regression baseline
//! (e.g. Feng et al., "Wing loss", CVPR 2018, compare L1/L2/smooth-L1).
//!
//! Per coordinate `|e|`, `e = target − pred`; `Reduction::Mean` divides by N·2M. At `e = 0` the
//! gradient is 0 (libtorch's `sign(0) = 0`).
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, Reduction, Result};

/// Configuration of [`L1Loss`].
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct L1LossConfig {
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

impl L1LossConfig {
    /// Nothing can be wrong; kept for the common pattern.
    pub fn validate(&self) -> Result<()> {
        Ok(())
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<L1Loss> {
        self.validate()?;
        Ok(L1Loss {
            reduction: self.reduction,
        })
    }
}

/// Absolute error per coordinate.
#[derive(Debug, Clone)]
pub struct L1Loss {
    reduction: Reduction,
}

impl L1Loss {
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
    /// `|target − pred|` per element, same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("L1Loss", "pred", pred, "target", target);
        (target - pred).abs()
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn hand_computed() {
        // e = [0.5, −1, 0, 2]; |e| = [0.5, 1, 0, 2]; sum 3.5, mean 3.5/4 = 0.875.
        let pred = t64(&[0.0, 1.0, 3.0, -1.0], &[2, 2]);
        let target = t64(&[0.5, 0.0, 3.0, 1.0], &[2, 2]);
        let l = L1LossConfig::default().init().unwrap();
        assert!((scalar(&l.forward(&pred, &target)) - 0.875).abs() < 1e-15);
        let s = L1LossConfig {
            reduction: Reduction::Sum,
        }
        .init()
        .unwrap();
        assert!((scalar(&s.forward(&pred, &target)) - 3.5).abs() < 1e-15);
    }

    #[test]
    fn gradient() {
        let l = L1LossConfig::default().init().unwrap();
        let p = uniform(20, &[2, 6], -0.5, 0.5);
        let t = uniform(21, &[2, 6], -0.5, 0.5);
        grad_check(&[p, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        let l = L1LossConfig::default().init().unwrap();
        for e in [0.0, 1e3] {
            let p = t64(&[0.0; 4], &[1, 4]);
            let t = t64(&[e, -e, e, 0.0], &[1, 4]);
            let (v, g) = value_and_grads(&[p, t], &[0], &|x| l.forward(&x[0], &x[1]));
            assert_finite("value", &v);
            assert_finite("grad", &g[0]);
        }
    }
}
