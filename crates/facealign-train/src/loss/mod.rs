//! Landmark losses on tch tensors (SPEC §1.3, §2.2, §3.1, §4 and Decisions 3, 5, 6).
//!
//! Every loss follows one pattern (burn-nn `loss/huber.rs`): a serde `XLossConfig` with defaults,
//! `validate()` and `init() -> Result<XLoss>` (bad values give [`facealign_core::Error::Invalid`] naming the
//! field), then `XLoss::forward(..) -> Tensor` reduced by the config's [`Reduction`] and
//! `XLoss::forward_unreduced(..)` giving per-coordinate, per-point or per-pixel values.
//!
//! Coordinate losses take predictions and targets as `[N, 2M]` tensors in crop_u units
//! (x, y interleaved; SPEC Decision 1). Heatmap losses take `[N, M, H, W]`. All losses work
//! for `f32` and `f64` tensors on any device; the result has the input's kind.
//!
//! | file | loss | unreduced shape |
//! |---|---|---|
//! | `lp.rs` | `|e|^p` per coordinate: L2 (p = 2, mean squared error), L1 (p = 1) | `[N, 2M]` |
//! | `smooth_l1.rs` | Huber-style smooth L1 (β) | `[N, 2M]` |
//! | `wing.rs` | Wing (Feng et al. 2018) | `[N, 2M]` |
//! | `awing.rs` | Adaptive Wing on heatmaps (Wang et al. 2019) | `[N, M, H, W]` |
//! | `asm.rs` | ASM-assisted (ASMNet, Fard et al. 2021) | `[N, M]` |
//! | `acr.rs` | Adaptive Coordinate-based Regression (Fard & Mahoor 2022) | `[N, 2M]` |
//! | `star.rs` | STAR v2 (Zhou et al. 2023) on heatmaps | `[N, M]` |
//!
//! Shapes that do not match are programming errors and panic with a message (like tch itself).
//!
//! **Training sees every loss through [`LandmarkLoss`]**, implemented in each loss's own file: it
//! takes a [`LossInput`] (predictions, heatmaps, the batch's ground truth and the [`Targets`]
//! builder for Φ, Smooth-Faces and heatmap targets) and returns the unreduced values, which the
//! objective reduces over the labelled points ([`masked_reduce`]). A new loss is one file: its
//! config (`validate`/`init`), its `forward_unreduced`, its `LandmarkLoss` impl, its tests; then
//! an arm in `objective::LossConfig`.
use serde::{Deserialize, Serialize};
use tch::Tensor;

pub use crate::{Error, Result};

pub mod acr;
pub mod asm;
pub mod awing;
pub mod lp;
pub mod smooth_l1;
pub mod star;
pub mod targets;
pub mod wing;

pub use acr::{AcrCMode, AcrLoss, AcrLossConfig};
pub use asm::{asm_alpha, AsmLoss, AsmLossConfig};
pub use awing::{AWingLoss, AWingLossConfig};
pub use lp::{LpLoss, LpLossConfig, LpOptions};
pub use smooth_l1::{SmoothL1Loss, SmoothL1LossConfig};
pub use star::{soft_argmax, StarLoss, StarLossConfig};
pub use targets::{masked_reduce, BatchTargets, CleanShapes, LossInput, Targets};
pub use wing::{WingLoss, WingLossConfig};

/// A loss as training uses it.
pub trait LandmarkLoss: Send {
    /// How the unreduced values become one scalar (over the labelled points).
    fn reduction(&self) -> Reduction;

    /// Per-coordinate `[N, 2M]` or per-point `[N, M]` values for one batch, and the scheduled
    /// value in force (ACR's variance share, ASM's α), if any.
    fn unreduced(&self, x: &LossInput<'_>) -> Result<(Tensor, Option<f64>)>;
}

/// The coordinate losses that compare predictions with the ground truth directly.
macro_rules! coordinate_loss {
    ($t:ty) => {
        impl $crate::loss::LandmarkLoss for $t {
            fn reduction(&self) -> $crate::loss::Reduction {
                <$t>::reduction(self)
            }
            fn unreduced(
                &self,
                x: &$crate::loss::LossInput<'_>,
            ) -> $crate::Result<(tch::Tensor, Option<f64>)> {
                Ok((self.forward_unreduced(x.pred, x.batch.gt), None))
            }
        }
    };
}
pub(crate) use coordinate_loss;

/// How the unreduced values of a loss become one scalar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reduction {
    /// The mean over every unreduced element (what each loss's docs call its normaliser).
    #[default]
    Mean,
    /// The sum over every unreduced element.
    Sum,
}

impl Reduction {
    /// Reduces `t` to a 0-d tensor of the same kind.
    pub fn apply(self, t: &Tensor) -> Tensor {
        match self {
            Reduction::Mean => t.mean(t.kind()),
            Reduction::Sum => t.sum(t.kind()),
        }
    }
}

/// Checks that `value` is finite and `> 0`; the error names `field`.
pub(crate) fn check_positive(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value > 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be finite and > 0, got {value}"),
        ))
    }
}

/// Checks that `value` is finite and `>= 0`; the error names `field`.
pub(crate) fn check_non_negative(field: &str, value: f64) -> Result<()> {
    if value.is_finite() && value >= 0.0 {
        Ok(())
    } else {
        Err(Error::invalid(
            field,
            format!("must be finite and >= 0, got {value}"),
        ))
    }
}

/// Panics with a clear message when two tensors that must match do not.
pub(crate) fn assert_same_shape(loss: &str, a_name: &str, a: &Tensor, b_name: &str, b: &Tensor) {
    assert_eq!(
        a.size(),
        b.size(),
        "{loss}: `{a_name}` and `{b_name}` must have the same shape"
    );
}

/// `|x|^p` for `x` of any sign and `p > 0`, exactly 0 at `x = 0`, with a finite gradient
/// everywhere (also with respect to `p`): the base is replaced by 1 where it is 0 before `pow`
/// (the "double where" trick), so neither `0^(p-1)` nor `ln 0` reach the backward pass.
pub(crate) fn safe_abs_pow(x: &Tensor, p: &Tensor) -> Tensor {
    let a = x.abs();
    let nonzero = a.gt(0.0);
    let base = a.where_self(&nonzero, &a.ones_like());
    base.pow(p).where_self(&nonzero, &a.zeros_like())
}

#[cfg(test)]
pub(crate) mod testutil {
    //! Shared test helpers: tensors from slices, seeded random inputs, a gradient check.
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use tch::{Kind, Tensor};

    /// An f64 tensor of `shape` from `values`.
    pub fn t64(values: &[f64], shape: &[i64]) -> Tensor {
        Tensor::from_slice(values).reshape(shape)
    }

    /// Uniform random values in `[lo, hi)`, reproducible from `seed`.
    pub fn uniform(seed: u64, shape: &[i64], lo: f64, hi: f64) -> Tensor {
        let n: i64 = shape.iter().product();
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let v: Vec<f64> = (0..n).map(|_| rng.random_range(lo..hi)).collect();
        t64(&v, shape)
    }

    /// The scalar value of a 0-d (or 1-element) tensor.
    pub fn scalar(t: &Tensor) -> f64 {
        t.double_value(&[])
    }

    /// The elements of `t` as f64, in row-major order.
    pub fn values(t: &Tensor) -> Vec<f64> {
        Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1))
            .expect("tensor should convert to Vec<f64>")
    }

    /// Asserts that every element of `t` is finite.
    pub fn assert_finite(what: &str, t: &Tensor) {
        for (i, v) in values(t).iter().enumerate() {
            assert!(v.is_finite(), "{what}: element {i} is {v}");
        }
    }

    /// Asserts that `f(prediction, target)` and its gradient in the prediction are finite at a zero
    /// error and at a huge one (±1e3 crop units): the branches a robust loss switches between.
    pub fn assert_finite_at_zero_and_huge_errors(f: &dyn Fn(&Tensor, &Tensor) -> Tensor) {
        for e in [0.0, 1e3] {
            let p = t64(&[0.0; 4], &[1, 4]);
            let t = t64(&[e, -e, e, 0.0], &[1, 4]);
            let (v, g) = value_and_grads(&[p, t], &[0], &|x| f(&x[0], &x[1]));
            assert_finite(&format!("value at error {e}"), &v);
            assert_finite(&format!("grad at error {e}"), &g[0]);
        }
    }

    /// Evaluates `f(inputs)` and the gradient of it with respect to `inputs[i]`, `i ∈ wrt`.
    pub fn value_and_grads(
        inputs: &[Tensor],
        wrt: &[usize],
        f: &dyn Fn(&[Tensor]) -> Tensor,
    ) -> (Tensor, Vec<Tensor>) {
        let leaves: Vec<Tensor> = inputs
            .iter()
            .enumerate()
            .map(|(i, t)| t.detach().copy().set_requires_grad(wrt.contains(&i)))
            .collect();
        let out = f(&leaves);
        let targets: Vec<&Tensor> = wrt.iter().map(|&i| &leaves[i]).collect();
        let grads = Tensor::run_backward(&[&out], &targets, false, false);
        (out.detach(), grads)
    }

    /// Finite-difference gradient check: compares the autograd gradient of the scalar
    /// `f(inputs)` with respect to each `inputs[i]`, `i ∈ wrt`, against central differences
    /// (step 1e-6) element by element; `|analytic − numeric| ≤ tol·max(1, |numeric|)`.
    /// Inputs are converted to f64.
    pub fn grad_check(inputs: &[Tensor], wrt: &[usize], tol: f64, f: &dyn Fn(&[Tensor]) -> Tensor) {
        let inputs: Vec<Tensor> = inputs.iter().map(|t| t.to_kind(Kind::Double)).collect();
        let (out, grads) = value_and_grads(&inputs, wrt, f);
        assert_eq!(out.numel(), 1, "grad_check: f must return a scalar");
        let h = 1e-6;
        for (gi, &i) in wrt.iter().enumerate() {
            let shape = inputs[i].size();
            let base = values(&inputs[i]);
            let analytic = values(&grads[gi]);
            for k in 0..base.len() {
                let eval = |delta: f64| {
                    let mut v = base.clone();
                    v[k] += delta;
                    let mut args: Vec<Tensor> = inputs.iter().map(|t| t.shallow_clone()).collect();
                    args[i] = super::testutil::t64(&v, &shape);
                    tch::no_grad(|| scalar(&f(&args)))
                };
                let numeric = (eval(h) - eval(-h)) / (2.0 * h);
                let a = analytic[k];
                assert!(
                    a.is_finite() && (a - numeric).abs() <= tol * numeric.abs().max(1.0),
                    "grad_check: input {i} element {k}: autograd {a} vs finite difference {numeric}"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use super::*;

    #[test]
    fn reduction_mean_and_sum() {
        // [1, 2, 3, 6]: sum 12, mean 12/4 = 3.
        let t = t64(&[1.0, 2.0, 3.0, 6.0], &[2, 2]);
        assert_eq!(scalar(&Reduction::Mean.apply(&t)), 3.0);
        assert_eq!(scalar(&Reduction::Sum.apply(&t)), 12.0);
        let j: Reduction = serde_json::from_str("\"sum\"").expect("`sum` should parse");
        assert_eq!(j, Reduction::Sum);
    }

    #[test]
    fn safe_abs_pow_values_and_grad_at_zero() {
        // |−2|^1.5 = 2√2 ≈ 2.8284271; |0|^1.5 = 0; |0.5|^1 = 0.5.
        let x = t64(&[-2.0, 0.0, 0.5], &[3]);
        let p = t64(&[1.5, 1.5, 1.0], &[3]);
        let y = values(&safe_abs_pow(&x, &p));
        assert!((y[0] - 2.0 * 2f64.sqrt()).abs() < 1e-12);
        assert_eq!(y[1], 0.0);
        assert!((y[2] - 0.5).abs() < 1e-15);
        let (_, g) = value_and_grads(&[x, p], &[0, 1], &|t| safe_abs_pow(&t[0], &t[1]).sum(None));
        assert_finite("d/dx", &g[0]);
        assert_finite("d/dp", &g[1]);
    }

    #[test]
    fn positive_checks_name_the_field() {
        let e = check_positive("wing.w", -1.0).expect_err("−1 should be rejected");
        assert!(e.to_string().contains("wing.w"), "{e}");
        assert!(check_positive("x", f64::NAN).is_err());
        assert!(check_non_negative("x", 0.0).is_ok());
        assert!(check_non_negative("x", -1e-9).is_err());
    }

    #[test]
    #[should_panic(expected = "grad_check")]
    fn grad_check_detects_a_wrong_gradient() {
        // f(x) = Σ detach(x)·x has true gradient 2x but autograd reports x.
        let x = uniform(7, &[3], 0.5, 1.0);
        grad_check(&[x], &[0], 1e-5, &|t| (t[0].detach() * &t[0]).sum(None));
    }

    /// Every loss gives the same value on f32 and f64 inputs (to f32 precision).
    #[test]
    fn f32_matches_f64() {
        let n = 2;
        let m = 3;
        let pred = uniform(1, &[n, 2 * m], -0.5, 0.5);
        let target = uniform(2, &[n, 2 * m], -0.5, 0.5);
        let phi = uniform(3, &[n, 2 * m], 0.0, 1.0);
        let heat = uniform(4, &[n, m, 5, 5], 0.0, 1.0);
        let heat_t = uniform(5, &[n, m, 5, 5], 0.0, 1.0);
        let pts = uniform(6, &[n, m, 2], -0.8, 0.8);
        let f = |k: tch::Kind| {
            let (p, t, ph, h, ht, pt) = (
                pred.to_kind(k),
                target.to_kind(k),
                phi.to_kind(k),
                heat.to_kind(k),
                heat_t.to_kind(k),
                pts.to_kind(k),
            );
            let out = vec![
                LpLossConfig::l2(&LpOptions::default())
                    .init()
                    .unwrap()
                    .forward(&p, &t),
                LpLossConfig::l1(&LpOptions::default())
                    .init()
                    .unwrap()
                    .forward(&p, &t),
                SmoothL1LossConfig::default()
                    .init()
                    .unwrap()
                    .forward(&p, &t),
                WingLossConfig::default().init().unwrap().forward(&p, &t),
                AWingLossConfig::default().init().unwrap().forward(&h, &ht),
                AsmLossConfig::default()
                    .init()
                    .unwrap()
                    .forward(&p, &t, &ph, 0.5),
                AcrLossConfig::default()
                    .init()
                    .unwrap()
                    .forward(&p, &t, &ph),
                StarLossConfig::default().init().unwrap().forward(&h, &pt),
            ];
            for o in &out {
                assert_eq!(o.kind(), k);
            }
            out.iter().map(scalar).collect::<Vec<_>>()
        };
        let a = f(tch::Kind::Float);
        let b = f(tch::Kind::Double);
        for (i, (x, y)) in a.iter().zip(&b).enumerate() {
            assert!(
                (x - y).abs() <= 1e-4 * y.abs().max(1.0),
                "loss {i}: f32 {x} vs f64 {y}"
            );
        }
    }
}
