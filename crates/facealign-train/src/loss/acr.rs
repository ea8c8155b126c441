//! Adaptive Coordinate-based Regression loss (Fard & Mahoor, "ACR Loss: Adaptive
//! Coordinate-based Regression Loss for Face Alignment", ICPR 2022, arXiv 2203.15835, Eqs. 5–7;
//! SPEC §1.3, Decision 3), with the authors' code (aliprf/ACR-Loss `acr_loss.py`) as an option.
//!
//! Per coordinate, `e = target − pred`, weight `Φ ∈ [0, 1]` (computed elsewhere from the
//! Smooth-Face, Decision 2):
//! `ACR(e) = λ·ln(1 + |e|^(2−Φ))` if `|e| ≤ 1`, else `e² + C`.
//! - [`AcrCMode::Paper`] (default): `C = λ·ln 2 − 1`, continuous at |e| = 1; the loss is
//!   `scale · (1/(N·2M)) Σ ACR(e)` (`Reduction::Sum`: `scale · Σ`).
//! - [`AcrCMode::AuthorsCode`]: `C = Φ·ln 2 − 1` per coordinate as in the authors' code, with a
//!   jump of `(λ − Φ)·ln 2` at |e| = 1 (left minus right limit); the reduction is their two
//!   masked means, `scale·mean(1[|e|≤1]·λ·ln(1+|e|^(2−Φ))) + scale·mean(1[|e|>1]·(e² + C))`.
//!   Their code has `scale = 100`; set it explicitly for like-for-like runs.
//!
//! Defaults: λ = 2, `scale` = 1 (Decision 3). The normaliser is N·2M (per coordinate); the
//! paper writes 1/(M·N) over points — with per-coordinate terms this differs only by the
//! constant 2 (we follow the code's `reduce_mean`).
//!
//! **What λ does** (issue 16). With `|e| ≤ 1` everywhere — the usual case once the head starts
//! at the mean shape, crop_u errors are well below 1 — only the first branch is active, so the
//! loss is `λ · mean ln(1+|e|^(2−Φ))`: λ is a global factor. Adam divides each gradient by its
//! running RMS, which cancels a global factor (up to its ε), so λ = 1, 2 or 3 train the same
//! model up to seed noise; λ only matters once errors exceed 1 (the quadratic branch and C). The
//! paper ablates λ (§V-C); to make λ change the loss's *shape* rather than its scale, errors
//! would need to reach the second branch (e.g. coordinates in pixels, not crop units).
//!
//! **Unlabelled points**: the objective reduces [`AcrLoss::forward_unreduced`] over labelled
//! coordinates only (`objective::masked_reduce`); Φ of an unlabelled coordinate is 0.
//!
//! Deviation (gradient guard): `|e|^(2−Φ)` is computed with a "double where" — the base is
//! replaced by 1 where `e = 0` and the power by 0 there — so the value at `e = 0` is exactly 0
//! and the gradient is finite (0 at e = 0, and no `0·ln 0` for the gradient with respect to Φ).
use serde::{Deserialize, Serialize};
use tch::Tensor;

use super::{assert_same_shape, check_positive, safe_abs_pow, Reduction, Result};

/// Which constant joins the two pieces at |e| = 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AcrCMode {
    /// `C = λ·ln 2 − 1` (continuous; the paper's stated purpose). Serialised `"paper"`.
    #[default]
    Paper,
    /// `C = Φ·ln 2 − 1` and the two-masked-means reduction of the authors' code.
    /// Serialised `"authors-code"`.
    AuthorsCode,
}

/// Configuration of [`AcrLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AcrLossConfig {
    /// λ, the curvature of the log branch; default 2, > 0. Ablate {1, 2, 3}.
    pub lambda: f64,
    /// Factor applied to the whole loss; default 1 (the authors' code uses 100), > 0.
    pub scale: f64,
    /// Constant C convention and reduction arithmetic; default `paper`.
    pub c_mode: AcrCMode,
    /// How per-coordinate values are reduced (default mean over N·2M).
    pub reduction: Reduction,
}

impl Default for AcrLossConfig {
    fn default() -> Self {
        Self {
            lambda: 2.0,
            scale: 1.0,
            c_mode: AcrCMode::Paper,
            reduction: Reduction::Mean,
        }
    }
}

/// ACR eigenvector schedule (Decision 4): the share of explained variance for `epoch`
/// (0-based) of `total_epochs`: 0.80, 0.85, 0.90, 0.95, 0.98 over the epoch fractions
/// [0, 0.10), [0.10, 0.20), [0.20, 0.47), [0.47, 0.67), [0.67, 1]. Exact integer comparisons;
/// `total_epochs = 0` gives the last stage.
pub fn variance_share(epoch: usize, total_epochs: usize) -> f64 {
    let (e, t) = (epoch as u128 * 100, total_epochs as u128);
    if e < 10 * t {
        0.80
    } else if e < 20 * t {
        0.85
    } else if e < 47 * t {
        0.90
    } else if e < 67 * t {
        0.95
    } else {
        0.98
    }
}

impl AcrLossConfig {
    /// Rejects non-positive or non-finite `lambda` and `scale`.
    pub fn validate(&self) -> Result<()> {
        check_positive("acr.lambda", self.lambda)?;
        check_positive("acr.scale", self.scale)
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<AcrLoss> {
        self.validate()?;
        Ok(AcrLoss {
            config: self.clone(),
        })
    }
}

/// The ACR loss.
#[derive(Debug, Clone)]
pub struct AcrLoss {
    config: AcrLossConfig,
}

impl AcrLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.config.reduction
    }

    /// The reduced loss.
    ///
    /// # Shapes
    /// `pred`, `target`, `phi`: `[N, 2M]` (any equal shapes) → `[]`.
    pub fn forward(&self, pred: &Tensor, target: &Tensor, phi: &Tensor) -> Tensor {
        let (low, high) = self.branches(pred, target, phi);
        let s = self.config.scale;
        match self.config.c_mode {
            AcrCMode::Paper => self.config.reduction.apply(&((low + high) * s)),
            // The authors' arithmetic: each masked branch reduced over all elements, then added.
            AcrCMode::AuthorsCode => {
                self.config.reduction.apply(&low) * s + self.config.reduction.apply(&high) * s
            }
        }
    }

    /// Per-coordinate values `scale·ACR(e)`, same shape as the inputs.
    pub fn forward_unreduced(&self, pred: &Tensor, target: &Tensor, phi: &Tensor) -> Tensor {
        let (low, high) = self.branches(pred, target, phi);
        (low + high) * self.config.scale
    }

    /// The two masked branches `(1[|e|≤1]·λ·ln(1+|e|^(2−Φ)), 1[|e|>1]·(e² + C))`.
    fn branches(&self, pred: &Tensor, target: &Tensor, phi: &Tensor) -> (Tensor, Tensor) {
        assert_same_shape("AcrLoss", "pred", pred, "target", target);
        assert_same_shape("AcrLoss", "pred", pred, "phi", phi);
        let lambda = self.config.lambda;
        let e = target - pred;
        let small = e.abs().le(1.0);
        let zero = e.zeros_like();
        let p = -phi + 2.0;
        let low = safe_abs_pow(&e, &p).log1p() * lambda;
        let c = match self.config.c_mode {
            AcrCMode::Paper => phi.zeros_like() + (lambda * std::f64::consts::LN_2 - 1.0),
            AcrCMode::AuthorsCode => phi * std::f64::consts::LN_2 - 1.0,
        };
        let high = e.square() + c;
        (
            low.where_self(&small, &zero),
            zero.where_self(&small, &high),
        )
    }
}

/// ACR in training: Φ of each face from its Smooth-Face at the epoch's variance share
/// ([`variance_share`]; from the face's un-augmented shape when the targets hold clean shapes).
impl super::LandmarkLoss for AcrLoss {
    fn reduction(&self) -> Reduction {
        AcrLoss::reduction(self)
    }
    fn unreduced(&self, x: &super::LossInput<'_>) -> Result<(Tensor, Option<f64>)> {
        let dim = x.pred.size()[1];
        let share = variance_share(x.epoch, x.epochs);
        let k = x.targets.shape()?.components_for_variance(share);
        let phi = x.targets.phi(x.batch, k, dim as usize)?;
        let phi = x.batch.tensor(&phi, dim, x.pred);
        Ok((
            self.forward_unreduced(x.pred, x.batch.gt, &phi),
            Some(share),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use std::f64::consts::LN_2;

    fn loss(lambda: f64, c_mode: AcrCMode) -> AcrLoss {
        AcrLossConfig {
            lambda,
            c_mode,
            ..Default::default()
        }
        .init()
        .unwrap()
    }

    /// Unreduced value for one coordinate with error `e` and weight `phi`.
    fn one(l: &AcrLoss, e: f64, phi: f64) -> f64 {
        scalar(&l.forward_unreduced(
            &t64(&[0.0], &[1, 1]),
            &t64(&[e], &[1, 1]),
            &t64(&[phi], &[1, 1]),
        ))
    }

    #[test]
    fn schedules_at_boundaries() {
        // 150 epochs: fractions 0.10, 0.20, 0.47, 0.67 are epochs 15, 30, 70.5, 100.5.
        let t = 150;
        for (e, want) in [
            (0, 0.80),
            (14, 0.80),
            (15, 0.85),
            (29, 0.85),
            (30, 0.90),
            (70, 0.90),
            (71, 0.95),
            (100, 0.95),
            (101, 0.98),
            (149, 0.98),
        ] {
            assert_eq!(variance_share(e, t), want, "epoch {e}");
        }
        // 100 epochs: boundaries exactly at 10, 20, 47, 67.
        for (e, want) in [
            (9, 0.80),
            (10, 0.85),
            (19, 0.85),
            (20, 0.90),
            (46, 0.90),
            (47, 0.95),
            (66, 0.95),
            (67, 0.98),
        ] {
            assert_eq!(variance_share(e, 100), want, "epoch {e}");
        }
    }

    #[test]
    fn hand_computed() {
        let paper = loss(2.0, AcrCMode::Paper);
        let code = loss(2.0, AcrCMode::AuthorsCode);
        // e = 0.25, Φ = 0.5: 0.25^1.5 = 0.125; 2·ln 1.125 = 0.23556607131276688 (both modes).
        assert!((one(&paper, 0.25, 0.5) - 2.0 * 1.125f64.ln()).abs() < 1e-14);
        assert!((one(&code, -0.25, 0.5) - 0.23556607131276688).abs() < 1e-14);
        // e = −2, Φ = 0.3: paper C = 2·ln 2 − 1 = 0.3862943611198906 → 4.386294361119891;
        // code C = 0.3·ln 2 − 1 = −0.7920558458320164 → 3.2079441541679836.
        assert!((one(&paper, -2.0, 0.3) - 4.386294361119891).abs() < 1e-13);
        assert!((one(&code, -2.0, 0.3) - 3.2079441541679836).abs() < 1e-13);
        // Mean over N·2M = 2 in paper mode: (0.23556607131276688 + 4.386294361119891)/2 = 2.310930216216329.
        let p = t64(&[0.0, 0.0], &[1, 2]);
        let t = t64(&[0.25, -2.0], &[1, 2]);
        let phi = t64(&[0.5, 0.3], &[1, 2]);
        assert!((scalar(&paper.forward(&p, &t, &phi)) - 2.310930216216329).abs() < 1e-13);
    }

    #[test]
    fn authors_code_two_masked_means() {
        // λ = 1, scale = 100, e = [0.5 (Φ = 1), 2 (Φ = 0.5)]:
        // low mean  = (ln(1 + 0.5) + 0)/2,  high mean = (0 + 4 + 0.5·ln 2 − 1)/2
        // total = 100·(0.4054651081081644 + 3 + 0.34657359027997264)/2 = 187.60193491940685.
        let l = AcrLossConfig {
            lambda: 1.0,
            scale: 100.0,
            c_mode: AcrCMode::AuthorsCode,
            ..Default::default()
        }
        .init()
        .unwrap();
        let p = t64(&[0.0, 0.0], &[1, 2]);
        let t = t64(&[0.5, 2.0], &[1, 2]);
        let phi = t64(&[1.0, 0.5], &[1, 2]);
        let v = scalar(&l.forward(&p, &t, &phi));
        assert!((v - 187.60193491940685).abs() < 1e-10, "{v}");
        // Sum: 100·3.752038698388137 = 375.2038698388137.
        let s = AcrLossConfig {
            reduction: Reduction::Sum,
            ..l.config.clone()
        }
        .init()
        .unwrap();
        assert!((scalar(&s.forward(&p, &t, &phi)) - 375.2038698388137).abs() < 1e-10);
    }

    #[test]
    fn paper_mode_continuous_at_one() {
        // left λ·ln 2, right 1 + (λ·ln 2 − 1) = λ·ln 2, whatever Φ.
        for lambda in [1.0, 2.0, 3.0] {
            let l = loss(lambda, AcrCMode::Paper);
            for phi in [0.0, 0.37, 1.0] {
                let (left, right) = (one(&l, 1.0 - 1e-9, phi), one(&l, 1.0 + 1e-9, phi));
                assert!(
                    (left - right).abs() < 1e-6,
                    "λ {lambda} Φ {phi}: {left} vs {right}"
                );
                assert!((one(&l, -1.0, phi) - lambda * LN_2).abs() < 1e-12);
            }
        }
    }

    #[test]
    fn authors_code_jump_at_one() {
        // left λ·ln 2, right 1 + Φ·ln 2 − 1 = Φ·ln 2 → jump (λ − Φ)·ln 2.
        for (lambda, phi) in [(2.0, 0.0), (2.0, 0.6), (1.0, 1.0), (3.0, 0.25)] {
            let l = loss(lambda, AcrCMode::AuthorsCode);
            let (left, right) = (one(&l, 1.0 - 1e-9, phi), one(&l, 1.0 + 1e-9, phi));
            assert!(
                ((left - right) - (lambda - phi) * LN_2).abs() < 1e-6,
                "{left} {right}"
            );
        }
    }

    #[test]
    fn limits_phi_zero_and_one() {
        // Φ = 0: λ·ln(1 + e²); Φ = 1: λ·ln(1 + |e|).
        let l = loss(2.0, AcrCMode::Paper);
        for e in [-0.9, -0.3, 0.01, 0.5, 1.0] {
            assert!((one(&l, e, 0.0) - 2.0 * (1.0 + e * e).ln()).abs() < 1e-14);
            assert!((one(&l, e, 1.0) - 2.0 * (1.0 + e.abs()).ln()).abs() < 1e-14);
        }
    }

    #[test]
    fn rejects_bad_values() {
        let e = AcrLossConfig {
            lambda: 0.0,
            ..Default::default()
        }
        .init()
        .expect_err("bad");
        assert!(e.to_string().contains("acr.lambda"), "{e}");
        let e = AcrLossConfig {
            scale: -100.0,
            ..Default::default()
        }
        .init()
        .expect_err("bad");
        assert!(e.to_string().contains("acr.scale"), "{e}");
        let c: AcrLossConfig =
            serde_json::from_str(r#"{"c_mode": "authors-code", "lambda": 3}"#).unwrap();
        assert_eq!(c.c_mode, AcrCMode::AuthorsCode);
        assert_eq!(c.lambda, 3.0);
    }

    #[test]
    fn gradient_both_modes() {
        // Errors in ±1.5 reach both branches; gradient with respect to pred, target and Φ.
        let p = uniform(70, &[2, 8], -0.75, 0.75);
        let t = uniform(71, &[2, 8], -0.75, 0.75);
        let phi = uniform(72, &[2, 8], 0.0, 1.0);
        for mode in [AcrCMode::Paper, AcrCMode::AuthorsCode] {
            let l = AcrLossConfig {
                scale: 3.0,
                c_mode: mode,
                ..Default::default()
            }
            .init()
            .unwrap();
            grad_check(&[p.copy(), t.copy(), phi.copy()], &[0, 1, 2], 1e-5, &|x| {
                l.forward(&x[0], &x[1], &x[2])
            });
        }
    }

    #[test]
    fn zero_error_is_zero_with_finite_gradient() {
        for mode in [AcrCMode::Paper, AcrCMode::AuthorsCode] {
            let l = loss(2.0, mode);
            let p = uniform(73, &[2, 4], -0.5, 0.5);
            let phi = t64(&[0.0, 0.2, 0.5, 1.0, 1.0, 0.7, 0.1, 0.0], &[2, 4]);
            let (v, g) = value_and_grads(&[p.copy(), p, phi], &[0, 1, 2], &|x| {
                l.forward(&x[0], &x[1], &x[2])
            });
            assert!(scalar(&v).abs() < 1e-9, "{}", scalar(&v));
            for (i, gi) in g.iter().enumerate() {
                assert_finite(&format!("grad {i}"), gi);
            }
        }
    }

    #[test]
    fn huge_error_is_finite() {
        let l = loss(2.0, AcrCMode::AuthorsCode);
        let p = t64(&[0.0; 4], &[1, 4]);
        let t = t64(&[1e3, -1e3, 0.5, 0.0], &[1, 4]);
        let phi = t64(&[1.0, 0.0, 0.5, 0.3], &[1, 4]);
        let (v, g) = value_and_grads(&[p, t, phi], &[0, 2], &|x| l.forward(&x[0], &x[1], &x[2]));
        assert_finite("value", &v);
        assert_finite("d/dpred", &g[0]);
        assert_finite("d/dphi", &g[1]);
    }
}
