//! Adaptive Wing loss on heatmaps (Wang, Bo, Fuxin, "Adaptive Wing Loss for Robust Face
//! Alignment via Heatmap Regression", ICCV 2019; SPEC §4.2), following STAR's `awingLoss.py`
//! (ZhenglinZhou/STAR), which matches the paper's defaults.
//!
//! Per pixel with target `y ∈ [0, 1]`, prediction `ŷ`, `δ = |y − ŷ|`, `p = α − y`:
//! `ω·ln(1 + (δ/ε)^p)` if `δ < θ`, else `A·δ − C` with
//! `A = ω·(1/(1 + (θ/ε)^p))·p·(θ/ε)^(p−1)/ε`, `C = θ·A − ω·ln(1 + (θ/ε)^p)`.
//! Defaults ω = 14, θ = 0.5, ε = 1, α = 2.1. Weighted loss map: the target dilated by a 3×3
//! max-pool (stride 1, padding 1), `M = 1[dilated ≥ 0.2]`, weight `W·M + 1`, W = 10.
//! `Reduction::Mean` divides by N·M·H·W (as the authors' `loss.mean()`).
//!
//! Difference from the authors' code: `(δ/ε)^p` is evaluated with a "double where" so that
//! at `δ = 0` the value is exactly 0 and the gradient (also with respect to the target, through
//! `p`) is finite instead of `0·ln 0 = NaN`. The values are otherwise identical.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{
    assert_same_shape, check_non_negative, check_positive, safe_abs_pow, Error, Reduction, Result,
};

/// Configuration of [`AWingLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AWingLossConfig {
    /// ω, scale of the non-linear part; default 14, > 0.
    pub omega: f64,
    /// θ, switch point between the non-linear and linear parts; default 0.5, > 0.
    pub theta: f64,
    /// ε; default 1, > 0.
    pub epsilon: f64,
    /// α, the exponent is `α − y`; default 2.1, must be > 1 so the exponent stays > 0 for y ≤ 1.
    pub alpha: f64,
    /// Multiply by the weighted loss map `W·M + 1`; default true.
    pub use_weight_map: bool,
    /// W of the weighted loss map; default 10, ≥ 0.
    pub weight: f64,
    /// Dilated-target threshold of the mask M; default 0.2.
    pub weight_threshold: f64,
    /// How per-pixel values are reduced (default mean over N·M·H·W).
    pub reduction: Reduction,
    /// In training: σ, in heatmap cells, of the Gaussian target heatmap drawn at each labelled
    /// point (peak 1; `objective::gaussian_heatmaps`); default 1, > 0. The loss itself takes
    /// any target heatmaps.
    pub sigma: f64,
}

impl Default for AWingLossConfig {
    fn default() -> Self {
        Self {
            omega: 14.0,
            theta: 0.5,
            epsilon: 1.0,
            alpha: 2.1,
            use_weight_map: true,
            weight: 10.0,
            weight_threshold: 0.2,
            reduction: Reduction::Mean,
            sigma: 1.0,
        }
    }
}

impl AWingLossConfig {
    /// Rejects out-of-range values, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_positive("awing.omega", self.omega)?;
        check_positive("awing.theta", self.theta)?;
        check_positive("awing.epsilon", self.epsilon)?;
        if !(self.alpha.is_finite() && self.alpha > 1.0) {
            return Err(Error::invalid(
                "awing.alpha",
                format!("must be finite and > 1, got {}", self.alpha),
            ));
        }
        check_non_negative("awing.weight", self.weight)?;
        check_positive("awing.sigma", self.sigma)?;
        if !self.weight_threshold.is_finite() {
            return Err(Error::invalid("awing.weight_threshold", "must be finite"));
        }
        Ok(())
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<AWingLoss> {
        self.validate()?;
        Ok(AWingLoss {
            config: self.clone(),
        })
    }
}

/// Adaptive Wing loss per heatmap pixel.
#[derive(Debug, Clone)]
pub struct AWingLoss {
    config: AWingLossConfig,
}

impl AWingLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.config.reduction
    }

    /// σ of the training objective's Gaussian target heatmaps, in heatmap cells.
    pub fn sigma(&self) -> f64 {
        self.config.sigma
    }

    /// The reduced loss.
    ///
    /// # Shapes
    /// `pred`, `target`: `[N, M, H, W]` → `[]`.
    pub fn forward(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        self.config
            .reduction
            .apply(&self.forward_unreduced(pred, target))
    }

    /// Per-pixel (weighted) values, `[N, M, H, W]`.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor) -> Tensor {
        assert_same_shape("AWingLoss", "pred", pred, "target", target);
        assert_eq!(pred.dim(), 4, "AWingLoss: heatmaps must be [N, M, H, W]");
        let AWingLossConfig {
            omega,
            theta,
            epsilon,
            alpha,
            ..
        } = self.config;
        let delta = (target - pred).abs();
        let p = -target + alpha;
        let ln_r = (theta / epsilon).ln();
        // (θ/ε)^p and (θ/ε)^(p−1) as exp(p·ln(θ/ε)), keeping the tensor kind.
        let r_p = (&p * ln_r).exp();
        let r_p1 = ((&p - 1.0) * ln_r).exp();
        let a = (&r_p + 1.0).reciprocal() * &p * r_p1 * (omega / epsilon);
        let c = &a * theta - r_p.log1p() * omega;
        let nonlinear = safe_abs_pow(&(&delta / epsilon), &p).log1p() * omega;
        let linear = &a * &delta - c;
        let loss = nonlinear.where_self(&delta.lt(theta), &linear);
        if self.config.use_weight_map {
            loss * self.weight_map(target)
        } else {
            loss
        }
    }

    /// The weighted loss map `W·1[maxpool3×3(target) ≥ threshold] + 1` (no gradient).
    ///
    /// # Shapes
    /// `target`: `[N, M, H, W]` → `[N, M, H, W]`.
    pub fn weight_map(&self, target: &Tensor) -> Tensor {
        let dilated = target
            .detach()
            .max_pool2d([3, 3], [1, 1], [1, 1], [1, 1], false);
        let mask = dilated
            .ge(self.config.weight_threshold)
            .to_kind(target.kind());
        mask * self.config.weight + 1.0
    }
}

/// Adaptive Wing in training: the model's heatmaps against Gaussian heatmaps of σ
/// [`AWingLoss::sigma`] cells at the ground truth, reduced per point (mean or sum over its
/// pixels) so that the objective can average over the labelled points: with every point
/// labelled, the mean is the authors' mean over N·M·H·W.
impl super::LandmarkLoss for AWingLoss {
    fn reduction(&self) -> Reduction {
        AWingLoss::reduction(self)
    }
    fn unreduced(&self, x: &super::LossInput<'_>) -> Result<(Tensor, Option<f64>)> {
        let (heatmaps, hw) = x.heatmaps("awing")?;
        let target = x.targets.gaussian(x.batch.gt, hw as i64, self.sigma());
        let per_pixel = self.forward_unreduced(heatmaps, &target);
        let dims = [2i64, 3];
        let per_point = match self.reduction() {
            Reduction::Mean => per_pixel.mean_dim(dims.as_slice(), false, x.pred.kind()),
            Reduction::Sum => per_pixel.sum_dim_intlist(dims.as_slice(), false, x.pred.kind()),
        };
        Ok((per_point, None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;

    #[test]
    fn hand_computed() {
        // Pixel 1: y = 0, ŷ = 0.25 → δ = 0.25 < θ, p = 2.1:
        //   0.25^2.1 = exp(2.1·ln 0.25) = 0.0544094102060078; 14·ln(1.0544094102060078) = 0.7417313319988385.
        // Pixel 2: y = 1, ŷ = 0.3 → δ = 0.7 ≥ θ, p = 1.1, (θ/ε)^1.1 = 0.4665164957684037, (θ/ε)^0.1 = 0.9330329915368074:
        //   A = 14·1.1·0.9330329915368074/1.4665164957684037 = 9.797849605597605
        //   C = 0.5·A − 14·ln 1.4665164957684037 = −0.4615332059133408
        //   A·0.7 − C = 6.858494723918324 + 0.4615332059133408 = 7.320027929831664.
        let pred = t64(&[0.25, 0.3], &[1, 1, 1, 2]);
        let target = t64(&[0.0, 1.0], &[1, 1, 1, 2]);
        let raw = AWingLossConfig {
            use_weight_map: false,
            ..Default::default()
        }
        .init()
        .unwrap();
        let v = values(&raw.forward_unreduced(&pred, &target));
        assert!((v[0] - 0.7417313319988385).abs() < 1e-12, "{v:?}");
        assert!((v[1] - 7.320027929831664).abs() < 1e-12, "{v:?}");
        // With the weight map: dilated target = [1, 1] ≥ 0.2 → weights 11 each;
        // mean = 11·(0.7417313319988385 + 7.320027929831664)/2 = 11·4.030879630915251 = 44.33967594006776.
        let l = AWingLossConfig::default().init().unwrap();
        let m = scalar(&l.forward(&pred, &target));
        assert!((m - 44.33967594006776).abs() < 1e-11, "{m}");
    }

    #[test]
    fn weight_map_dilates_3x3() {
        // 3×3 target with 0.5 at (0, 0) and 0.1 at (2, 2): the 3×3 dilation spreads 0.5 over
        // (0,0),(0,1),(1,0),(1,1) → weight 11; 0.1 < 0.2 → weight 1 elsewhere.
        let mut t = vec![0.0; 9];
        t[0] = 0.5;
        t[8] = 0.1;
        let target = t64(&t, &[1, 1, 3, 3]);
        let w = values(
            &AWingLossConfig::default()
                .init()
                .unwrap()
                .weight_map(&target),
        );
        assert_eq!(w, vec![11.0, 11.0, 1.0, 11.0, 11.0, 1.0, 1.0, 1.0, 1.0]);
        // Row [0, 0.3, 0, 0]: dilated [0.3, 0.3, 0.3, 0] → [11, 11, 11, 1].
        let row = t64(&[0.0, 0.3, 0.0, 0.0], &[1, 1, 1, 4]);
        let w = values(&AWingLossConfig::default().init().unwrap().weight_map(&row));
        assert_eq!(w, vec![11.0, 11.0, 11.0, 1.0]);
    }

    #[test]
    fn continuous_at_theta() {
        // y = 0.3: both pieces equal ω·ln(1 + (θ/ε)^(α−y)) at δ = θ (that is how C is defined).
        let l = AWingLossConfig {
            use_weight_map: false,
            ..Default::default()
        }
        .init()
        .unwrap();
        let at = |d: f64| {
            scalar(&l.forward(&t64(&[0.3 + d], &[1, 1, 1, 1]), &t64(&[0.3], &[1, 1, 1, 1])))
        };
        let (left, right) = (at(0.5 - 1e-9), at(0.5 + 1e-9));
        let expect = 14.0 * (1.0 + 0.5f64.powf(1.8)).ln();
        assert!(
            (left - right).abs() < 1e-6 && (left - expect).abs() < 1e-6,
            "{left} {right} {expect}"
        );
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            (
                AWingLossConfig {
                    omega: 0.0,
                    ..Default::default()
                },
                "awing.omega",
            ),
            (
                AWingLossConfig {
                    theta: -0.5,
                    ..Default::default()
                },
                "awing.theta",
            ),
            (
                AWingLossConfig {
                    epsilon: 0.0,
                    ..Default::default()
                },
                "awing.epsilon",
            ),
            (
                AWingLossConfig {
                    alpha: 1.0,
                    ..Default::default()
                },
                "awing.alpha",
            ),
            (
                AWingLossConfig {
                    weight: -1.0,
                    ..Default::default()
                },
                "awing.weight",
            ),
        ];
        for (cfg, field) in bad {
            let e = cfg.init().expect_err("bad config");
            assert!(e.to_string().contains(field), "{e}");
        }
    }

    #[test]
    fn gradient() {
        let l = AWingLossConfig::default().init().unwrap();
        let p = uniform(50, &[1, 2, 3, 3], 0.0, 1.0);
        let t = uniform(51, &[1, 2, 3, 3], 0.0, 1.0);
        grad_check(&[p, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_zero_error_flat_and_zero_heatmaps() {
        let l = AWingLossConfig::default().init().unwrap();
        let t = uniform(52, &[1, 2, 3, 3], 0.0, 1.0);
        let cases = [
            (t.copy(), t.copy()),                       // zero error
            (t64(&[0.4; 18], &[1, 2, 3, 3]), t.copy()), // flat prediction
            (
                t64(&[0.0; 18], &[1, 2, 3, 3]),
                t64(&[0.0; 18], &[1, 2, 3, 3]),
            ), // all zero
            (t64(&[1e3; 18], &[1, 2, 3, 3]), t.copy()), // huge error
        ];
        for (i, (p, t)) in cases.into_iter().enumerate() {
            let (v, g) = value_and_grads(&[p, t], &[0, 1], &|x| l.forward(&x[0], &x[1]));
            assert_finite(&format!("case {i} value"), &v);
            assert_finite(&format!("case {i} d/dpred"), &g[0]);
            assert_finite(&format!("case {i} d/dtarget"), &g[1]);
            if i == 0 || i == 2 {
                assert!(scalar(&v).abs() < 1e-12, "zero error must give 0");
            }
        }
    }
}
