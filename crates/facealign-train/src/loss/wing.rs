//! Wing loss (Feng, Kittler, Awais, Huber, Wu, "Wing Loss for Robust Facial Landmark
//! Localisation with Convolutional Neural Networks", CVPR 2018; SPEC §4.1).
//!
//! Per coordinate, `x = unit_scale·(target − pred)`:
//! `wing(x) = w·ln(1 + |x|/ε)` if `|x| < w`, else `|x| − C`, `C = w − w·ln(1 + w/ε)`
//! (continuous at `|x| = w`). Defaults `w = 10`, `ε = 2` as in the paper and PFLD-pytorch.
//!
//! Deviation (units): the paper's `w` and `ε` are in pixels, while facealign predicts crop_u
//! coordinates (SPEC Decision 1). Errors are therefore multiplied by `unit_scale` (default 224,
//! the crop side in pixels; training replaces the default with `data.input_size`,
//! `objective::with_input_size`) before the wing, so `w = 10` means 10 px as in the paper. The
//! loss value is in those pixel units. The paper sums over coordinates; `Reduction::Mean`
//! (default) divides by N·2M, `Reduction::Sum` is the paper's.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, check_positive, Reduction, Result};

/// Configuration of [`WingLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WingLossConfig {
    /// Width of the logarithmic part, in pixels (after `unit_scale`); default 10, > 0.
    pub w: f64,
    /// Curvature of the logarithmic part, in pixels; default 2, > 0.
    pub epsilon: f64,
    /// Factor from crop_u to pixels applied to the error (the crop side); default 224, > 0.
    pub unit_scale: f64,
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

impl Default for WingLossConfig {
    fn default() -> Self {
        Self {
            w: 10.0,
            epsilon: 2.0,
            unit_scale: 224.0,
            reduction: Reduction::Mean,
        }
    }
}

impl WingLossConfig {
    /// Rejects non-positive or non-finite `w`, `epsilon`, `unit_scale`.
    pub fn validate(&self) -> Result<()> {
        check_positive("wing.w", self.w)?;
        check_positive("wing.epsilon", self.epsilon)?;
        check_positive("wing.unit_scale", self.unit_scale)
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<WingLoss> {
        self.validate()?;
        Ok(WingLoss {
            config: self.clone(),
            c: self.w - self.w * (1.0 + self.w / self.epsilon).ln(),
        })
    }
}

/// Wing loss per coordinate.
#[derive(Debug, Clone)]
pub struct WingLoss {
    config: WingLossConfig,
    /// `C = w − w·ln(1 + w/ε)`.
    c: f64,
}

impl WingLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.config.reduction
    }

    /// The constant `C = w − w·ln(1 + w/ε)` joining the two pieces.
    pub fn c(&self) -> f64 {
        self.c
    }
    /// The reduced loss.
    ///
    /// # Shapes
    /// `pred`, `target`: `[N, 2M]` (any equal shapes) in crop_u → `[]`.
    pub fn forward(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        self.config
            .reduction
            .apply(&self.forward_unreduced(pred, target))
    }
    /// Per-element values (pixel units), same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("WingLoss", "pred", pred, "target", target);
        let WingLossConfig {
            w,
            epsilon,
            unit_scale,
            ..
        } = self.config;
        let a = (target - pred).abs() * unit_scale;
        let log_part = (&a / epsilon).log1p() * w;
        let lin_part = &a - self.c;
        log_part.where_self(&a.lt(w), &lin_part)
    }
}

super::coordinate_loss!(WingLoss);

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    fn unit() -> WingLoss {
        WingLossConfig {
            unit_scale: 1.0,
            reduction: Reduction::Sum,
            ..Default::default()
        }
        .init()
        .unwrap()
    }

    #[test]
    fn hand_computed() {
        // w = 10, ε = 2, C = 10 − 10·ln 6 = 10 − 17.917594692280550 = −7.917594692280550.
        // |x| = 2  → 10·ln(1 + 1)   = 6.931471805599453
        // |x| = 20 → 20 − C          = 27.917594692280550
        // |x| = 0  → 0
        let l = unit();
        assert!((l.c() - (10.0 - 10.0 * 6f64.ln())).abs() < 1e-14);
        let p = t64(&[0.0, 0.0, 0.0], &[1, 3]);
        let t = t64(&[2.0, -20.0, 0.0], &[1, 3]);
        let v = values(&l.forward_unreduced(&p, &t));
        assert!((v[0] - 6.931471805599453).abs() < 1e-12, "{v:?}");
        assert!((v[1] - 27.91759469228055).abs() < 1e-12, "{v:?}");
        assert_eq!(v[2], 0.0);
        // unit_scale 224: an error of 4/224 crop_u is 4 px → 10·ln(1 + 4/2) = 10·ln 3 = 10.986122886681098.
        let d = WingLossConfig::default().init().unwrap();
        let v = scalar(&d.forward(&t64(&[0.0], &[1, 1]), &t64(&[4.0 / 224.0], &[1, 1])));
        assert!((v - 10.986122886681098).abs() < 1e-12, "{v}");
    }

    #[test]
    fn continuous_at_w() {
        // left limit w·ln(1 + w/ε) = 10·ln 6; right limit w − C = 10·ln 6.
        let l = unit();
        let at = |x: f64| scalar(&l.forward(&t64(&[0.0], &[1, 1]), &t64(&[x], &[1, 1])));
        let (left, right) = (at(10.0 - 1e-9), at(10.0 + 1e-9));
        assert!((left - right).abs() < 1e-6, "{left} vs {right}");
        assert!((left - 10.0 * 6f64.ln()).abs() < 1e-6);
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            WingLossConfig {
                w: 0.0,
                ..Default::default()
            },
            WingLossConfig {
                epsilon: -2.0,
                ..Default::default()
            },
            WingLossConfig {
                unit_scale: f64::NAN,
                ..Default::default()
            },
        ];
        for (cfg, field) in bad
            .iter()
            .zip(["wing.w", "wing.epsilon", "wing.unit_scale"])
        {
            let e = cfg.init().expect_err("bad config");
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn gradient() {
        // unit_scale 30 on errors in ±1 gives |x| on both sides of w = 10.
        let l = WingLossConfig {
            unit_scale: 30.0,
            ..Default::default()
        }
        .init()
        .unwrap();
        let p = uniform(40, &[2, 6], -0.5, 0.5);
        let t = uniform(41, &[2, 6], -0.5, 0.5);
        grad_check(&[p, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_zero_and_huge_error() {
        let l = WingLossConfig::default().init().unwrap();
        assert_finite_at_zero_and_huge_errors(&|p, t| l.forward(p, t));
    }
}
