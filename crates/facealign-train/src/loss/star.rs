//! STAR loss, v2 (Zhou, Gao, Guo, Wang, Yang, Lv, Zhang, "STAR Loss: Reducing Semantic
//! Ambiguity in Facial Landmark Detection", CVPR 2023, arXiv 2306.02763; SPEC §3.1,
//! Decision 6), following `STARLoss_v2` of ZhenglinZhou/STAR `lib/loss/starLoss_v2.py`, the
//! configured default of the authors.
//!
//! Per landmark, heatmap `H` (`h×w`) and target `y ∈ [−1, 1]²` (x along columns, y along rows):
//! 1. `p = H / max(ΣH, 1e−6)`; grid `x_j = 2j/(w−1) − 1`, `y_i = 2i/(h−1) − 1`;
//! 2. `μ = Σ p·(x, y)` ([`soft_argmax`]);
//! 3. unbiased weighted covariance `Σ = Σ_k p_k (v_k − μ)(v_k − μ)ᵀ / (V1 − V2/V1)`,
//!    `V1 = Σp + ε`, `V2 = Σp² + ε`, ε = 1e−5;
//! 4. eigenvalues `λ1 ≤ λ2` of Σ with eigenvectors (columns) `u1`, `u2`, λ clamped to
//!    `[1e−6, 1e2]` (Decision 6; the authors' code does not clamp, their issue #37 advises it);
//! 5. `STAR = d(|u1ᵀe|)/√(λ1+ε) + d(|u2ᵀe|)/√(λ2+ε) + ω·(λ1 + λ2)`, `e = y − μ`, d the smooth-L1
//!    of STAR (`δ²/(2s)` if `δ² < s²`, else `δ − s/2`, s = 0.01), ω = 1;
//! 6. `Reduction::Mean`: mean over N·M.
//!
//! Deviations (values equal to the authors' up to rounding; see the fixture test):
//! - The 2×2 symmetric eigendecomposition is closed-form tensor arithmetic, so autograd flows
//!   (the authors run `torch.linalg.eigh` on the CPU): with `m = (a+c)/2`,
//!   `r = √(((a−c)/2)² + b² + η²)`, `λ1,2 = m ∓ r`. η (`disc_eps`, default 1e−8) keeps the
//!   gradient finite at an isotropic Σ (where the eigenvectors, and hence the loss's gradient,
//!   are undefined; there it is large but finite, bounded by ~1/η); elsewhere it shifts λ by
//!   about η²/(2r), negligible.
//! - Projections use eigenvector **columns** (the authors index rows, which coincide for
//!   LAPACK's 2×2 output) and enter only through their squares, written with the double angle
//!   `cos 2θ = (a−c)/(2r)`, `sin 2θ = b/r` of `u2 = (cos θ, sin θ)`:
//!   `(u2ᵀe)² = ½|e|² + ½(ex² − ey²)·cos 2θ + ex·ey·sin 2θ`, `(u1ᵀe)² = |e|² − (u2ᵀe)²`.
//!   This is sign-free (eigenvector signs are arbitrary) and smooth where explicit half-angle
//!   eigenvectors are not (e.g. `b = 0, a < c`, common for symmetric heatmaps).
//! - `δ = √δ²` uses `δ² ≥ s²` in its branch (the authors clamp at 1e−6, same values) so the
//!   unused branch cannot give a NaN gradient.
use serde::{Deserialize, Serialize};
use tch::Tensor;

use facealign_core::coords::cell_to_grid;

use super::targets::apply_affine;
use super::{check_non_negative, check_positive, Error, Reduction, Result};

/// Configuration of [`StarLoss`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StarLossConfig {
    /// ω, weight of the eigenvalue restriction `λ1 + λ2`; default 1, ≥ 0.
    pub omega: f64,
    /// s, the smooth-L1 switch point in [−1, 1] grid units; default 0.01, > 0.
    pub smooth_l1_scale: f64,
    /// ε of the covariance normaliser and of `√(λ + ε)`; default 1e−5, > 0.
    pub epsilon: f64,
    /// Lower eigenvalue clamp; default 1e−6, ≥ 0.
    pub eig_min: f64,
    /// Upper eigenvalue clamp; default 1e2, > `eig_min`.
    pub eig_max: f64,
    /// η in the square root of the eigenvalue discriminant; default 1e−8, > 0.
    pub disc_eps: f64,
    /// How per-landmark values are reduced (default mean over N·M).
    pub reduction: Reduction,
    /// Mixed-scheme training only: a virtual point (a target that is the mean of several model
    /// points, e.g. an eye centre from AFLW-19 or a 5-point set) has no heatmap of its own; with a
    /// weight w > 0 it adds `w·‖mean of the predicted points − target‖` (crop units) to the
    /// per-point values that are averaged, so its points are pulled by their mean. Default 0:
    /// virtual points are left out (facealign's first heatmap models). ≥ 0.
    pub virtual_weight: f64,
}

impl Default for StarLossConfig {
    fn default() -> Self {
        Self {
            omega: 1.0,
            smooth_l1_scale: 0.01,
            epsilon: 1e-5,
            eig_min: 1e-6,
            eig_max: 1e2,
            disc_eps: 1e-8,
            reduction: Reduction::Mean,
            virtual_weight: 0.0,
        }
    }
}

impl StarLossConfig {
    /// Rejects out-of-range values, naming the field.
    pub fn validate(&self) -> Result<()> {
        check_non_negative("star.omega", self.omega)?;
        check_positive("star.smooth_l1_scale", self.smooth_l1_scale)?;
        check_positive("star.epsilon", self.epsilon)?;
        check_non_negative("star.eig_min", self.eig_min)?;
        check_positive("star.eig_max", self.eig_max)?;
        if self.eig_max <= self.eig_min {
            return Err(Error::invalid(
                "star.eig_max",
                format!("must be > eig_min = {}, got {}", self.eig_min, self.eig_max),
            ));
        }
        check_positive("star.disc_eps", self.disc_eps)?;
        check_non_negative("star.virtual_weight", self.virtual_weight)
    }
    /// Builds the loss.
    pub fn init(&self) -> Result<StarLoss> {
        self.validate()?;
        Ok(StarLoss {
            config: self.clone(),
        })
    }
}

/// The STAR v2 loss on heatmaps.
#[derive(Debug, Clone)]
pub struct StarLoss {
    config: StarLossConfig,
}

/// First and second weighted moments of normalised heatmaps, each `[N, M]`:
/// mean `(mx, my)` and unbiased covariance `[[a, b], [b, c]]`.
struct Moments {
    mx: Tensor,
    my: Tensor,
    a: Tensor,
    b: Tensor,
    c: Tensor,
}

/// The `[−1, 1]` grid as broadcastable `[1, 1, 1, w]` (x) and `[1, 1, h, 1]` (y) tensors
/// (h, w ≥ 2: checked by [`grid_means`], which every caller runs first).
fn grid(h: i64, w: i64, like: &Tensor) -> (Tensor, Tensor) {
    let opts = (like.kind(), like.device());
    // Cell index → grid (`facealign_core::coords::cell_to_grid`).
    let axis = |n: i64| apply_affine(&Tensor::arange(n, opts), cell_to_grid(n as f64));
    let (xs, ys) = (axis(w), axis(h));
    (xs.reshape([1, 1, 1, w]), ys.reshape([1, 1, h, 1]))
}

/// Soft-argmax: the normalised-heatmap-weighted mean of the `[−1, 1]` grid
/// (`p = H / max(ΣH, 1e−6)`, `x_j = 2j/(w−1) − 1`, `y_i = 2i/(h−1) − 1`): the expected cells of
/// [`crate::model::heatmap::expected_cells`] (the one soft-argmax) mapped by
/// `facealign_core::coords::cell_to_grid`. An all-zero map gives cell 0, grid −1.
///
/// # Shapes
/// `heatmaps`: `[N, M, H, W]` (H, W ≥ 2) → `[N, M, 2]` as (x, y).
pub fn soft_argmax(heatmaps: &Tensor) -> Tensor {
    let (_, mx, my) = grid_means(heatmaps);
    Tensor::stack(&[mx, my], -1)
}

/// The normalised maps and their means in grid coordinates, `(p, mx [N, M], my [N, M])`.
fn grid_means(heatmaps: &Tensor) -> (Tensor, Tensor, Tensor) {
    assert_eq!(heatmaps.dim(), 4, "STAR: heatmaps must be [N, M, H, W]");
    let size = heatmaps.size();
    let (h, w) = (size[2], size[3]);
    assert!(
        h >= 2 && w >= 2,
        "STAR: heatmaps must be at least 2×2, got {h}×{w}"
    );
    let (p, ex, ey) = crate::model::heatmap::expected_cells(heatmaps);
    let mx = apply_affine(&ex, cell_to_grid(w as f64));
    let my = apply_affine(&ey, cell_to_grid(h as f64));
    (p, mx, my)
}

impl StarLoss {
    /// How the unreduced values become one scalar.
    pub fn reduction(&self) -> Reduction {
        self.config.reduction
    }

    /// The reduced loss.
    ///
    /// # Shapes
    /// `heatmaps`: `[N, M, H, W]` (non-negative, H, W ≥ 2); `target`: `[N, M, 2]` (x, y) in
    /// `[−1, 1]` grid coordinates → `[]`.
    pub fn forward(&self, heatmaps: &Tensor, target: &Tensor) -> Tensor {
        self.config
            .reduction
            .apply(&self.forward_unreduced(heatmaps, target))
    }

    /// Per-landmark values, `[N, M]`.
    pub fn forward_unreduced(&self, heatmaps: &Tensor, target: &Tensor) -> Tensor {
        let size = heatmaps.size();
        assert_eq!(size.len(), 4, "STAR: heatmaps must be [N, M, H, W]");
        assert_eq!(
            target.size(),
            vec![size[0], size[1], 2],
            "STAR: target must be [N, M, 2]"
        );
        let mo = self.moments(heatmaps);
        let tx = target.select(-1, 0);
        let ty = target.select(-1, 1);
        self.per_point_from_moments(&mo, &tx, &ty)
    }

    fn moments(&self, heatmaps: &Tensor) -> Moments {
        let (p, mx, my) = grid_means(heatmaps);
        let size = p.size();
        let (xs, ys) = grid(size[2], size[3], &p);
        let k = p.kind();
        let sum = |t: Tensor| t.sum_dim_intlist([2i64, 3].as_slice(), false, k);
        let dx = xs - mx.unsqueeze(-1).unsqueeze(-1);
        let dy = ys - my.unsqueeze(-1).unsqueeze(-1);
        let eps = self.config.epsilon;
        let v1 = sum(p.shallow_clone()) + eps;
        let v2 = sum(p.square()) + eps;
        let denom = &v1 - v2 / &v1;
        let a = sum(&p * dx.square()) / &denom;
        let b = sum(&p * &dx * &dy) / &denom;
        let c = sum(&p * dy.square()) / &denom;
        Moments { mx, my, a, b, c }
    }

    /// The per-landmark loss from the moments and the target coordinates (all `[N, M]`).
    fn per_point_from_moments(&self, mo: &Moments, tx: &Tensor, ty: &Tensor) -> Tensor {
        let cfg = &self.config;
        let half_diff = (&mo.a - &mo.c) * 0.5;
        let r = (half_diff.square() + mo.b.square() + cfg.disc_eps * cfg.disc_eps).sqrt();
        let m = (&mo.a + &mo.c) * 0.5;
        let l1 = (&m - &r).clamp(cfg.eig_min, cfg.eig_max);
        let l2 = (&m + &r).clamp(cfg.eig_min, cfg.eig_max);
        let cos2 = &half_diff / &r;
        let sin2 = &mo.b / &r;
        let ex = tx - &mo.mx;
        let ey = ty - &mo.my;
        let norm2 = ex.square() + ey.square();
        let aniso = (ex.square() - ey.square()) * 0.5 * cos2 + &ex * &ey * sin2;
        let q2 = (&norm2 * 0.5 + &aniso).clamp_min(0.0);
        let q1 = (&norm2 * 0.5 - &aniso).clamp_min(0.0);
        let d1 = self.smooth_l1_of_square(&q1);
        let d2 = self.smooth_l1_of_square(&q2);
        let eps = cfg.epsilon;
        d1 / (&l1 + eps).sqrt() + d2 / (&l2 + eps).sqrt() + (l1 + l2) * cfg.omega
    }

    /// STAR's smooth-L1 of `δ = √q`: `q/(2s)` if `q < s²`, else `δ − s/2`.
    fn smooth_l1_of_square(&self, q: &Tensor) -> Tensor {
        let s = self.config.smooth_l1_scale;
        let quad = q * (0.5 / s);
        let lin = q.clamp_min(s * s).sqrt() - 0.5 * s;
        quad.where_self(&q.lt(s * s), &lin)
    }
}

/// STAR in training: the model's heatmaps against the ground truth on the heatmap grid.
impl super::LandmarkLoss for StarLoss {
    fn reduction(&self) -> Reduction {
        StarLoss::reduction(self)
    }
    fn unreduced(&self, x: &super::LossInput<'_>) -> Result<(Tensor, Option<f64>)> {
        let (heatmaps, hw) = x.heatmaps("star")?;
        let target = x.targets.heatmap_grid(x.batch.gt, hw);
        Ok((self.forward_unreduced(heatmaps, &target), None))
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::*;
    use super::*;
    use tch::Kind;

    fn star() -> StarLoss {
        StarLossConfig::default().init().unwrap()
    }

    #[test]
    fn soft_argmax_hand_computed() {
        // 3×3 heatmap, grid x, y ∈ {−1, 0, 1}; mass 1 at (row 0, col 2) and 3 at (row 1, col 0):
        // p = [0.25 at (x=1, y=−1), 0.75 at (x=−1, y=0)] → μ = (0.25 − 0.75, −0.25) = (−0.5, −0.25).
        let mut h = vec![0.0; 9];
        h[2] = 1.0;
        h[3] = 3.0;
        let mu = values(&soft_argmax(&t64(&h, &[1, 1, 3, 3])));
        assert!(
            (mu[0] + 0.5).abs() < 1e-15 && (mu[1] + 0.25).abs() < 1e-15,
            "{mu:?}"
        );
    }

    #[test]
    fn hand_computed_two_pixel_heatmap() {
        // 2×2 heatmap (grid {−1, 1}²) with 0.5 at (x=−1, y=−1) and 0.5 at (x=1, y=1):
        //   μ = (0, 0); Σ_k p_k d dᵀ = [[1, 1], [1, 1]]; V1 = 1 + 1e−5, V2 = 0.5 + 1e−5,
        //   denom = V1 − V2/V1 = 1.00001 − 0.50001/1.00001 = 0.5000049999500005 (…),
        //   Σ = [[k, k], [k, k]], k = 1/denom = 1.99998000039999…; λ1 = 0 → clamp 1e−6, λ2 = 2k,
        //   u2 = (1, 1)/√2, u1 = (1, −1)/√2.
        // Target (0.3, −0.1): u1ᵀe = 0.4/√2 = 0.28284271247461906, u2ᵀe = 0.2/√2 = 0.1414213562373095.
        //   STAR = (0.28284271 − 0.005)/√(1e−6 + 1e−5) + (0.14142136 − 0.005)/√(2k + 1e−5) + 1e−6 + 2k.
        let h = t64(&[0.5, 0.0, 0.0, 0.5], &[1, 1, 2, 2]);
        let t = t64(&[0.3, -0.1], &[1, 1, 2]);
        let v1: f64 = 1.0 + 1e-5;
        let v2: f64 = 0.5 + 1e-5;
        let k = 1.0 / (v1 - v2 / v1);
        let d1 = 0.4 / 2f64.sqrt() - 0.005;
        let d2 = 0.2 / 2f64.sqrt() - 0.005;
        let expect = d1 / (1e-6f64 + 1e-5).sqrt() + d2 / (2.0 * k + 1e-5).sqrt() + 1e-6 + 2.0 * k;
        let got = scalar(&star().forward(&h, &t));
        assert!((got - expect).abs() < 1e-9 * expect, "{got} vs {expect}");
        // Quadratic branch: target (0.004, 0.002) → u1ᵀe = 0.002/√2, u2ᵀe = 0.006/√2;
        //   d = δ²/(2·0.01): 2e−6/0.02 = 1e−4 and 1.8e−5/0.02 = 9e−4.
        let t = t64(&[0.004, 0.002], &[1, 1, 2]);
        let expect =
            1e-4 / (1e-6f64 + 1e-5).sqrt() + 9e-4 / (2.0 * k + 1e-5).sqrt() + 1e-6 + 2.0 * k;
        let got = scalar(&star().forward(&h, &t));
        assert!((got - expect).abs() < 1e-9 * expect, "{got} vs {expect}");
    }

    #[derive(serde::Deserialize)]
    struct Reference {
        shape: Vec<i64>,
        heatmap: Vec<f64>,
        target: Vec<f64>,
        per_point: Vec<f64>,
        loss: f64,
    }

    #[test]
    fn matches_authors_reference_fixture() {
        // Generated by tests/fixtures/star/star_v2_reference.py (NumPy port of starLoss_v2.py).
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/star/star_v2_reference.json"
        );
        let text = std::fs::read_to_string(path).expect("the STAR fixture should be committed");
        let r: Reference = serde_json::from_str(&text).expect("the STAR fixture should parse");
        let h = t64(&r.heatmap, &r.shape);
        let t = t64(&r.target, &[r.shape[0], r.shape[1], 2]);
        let l = star();
        let got = scalar(&l.forward(&h, &t));
        assert!((got - r.loss).abs() < 1e-9 * r.loss, "{got} vs {}", r.loss);
        for (g, e) in values(&l.forward_unreduced(&h, &t))
            .iter()
            .zip(&r.per_point)
        {
            assert!((g - e).abs() < 1e-9 * e, "{g} vs {e}");
        }
    }

    /// The closed form equals libtorch's `linalg_eigh` with projections on eigenvector columns.
    #[test]
    fn closed_form_matches_linalg_eigh() {
        let h = uniform(80, &[2, 3, 5, 6], 0.0, 1.0).square();
        let t = uniform(81, &[2, 3, 2], -0.6, 0.6);
        let l = star();
        let got = values(&l.forward_unreduced(&h, &t));
        let mo = l.moments(&h);
        let cov = Tensor::stack(&[&mo.a, &mo.b, &mo.b, &mo.c], -1).reshape([2, 3, 2, 2]);
        let (evals, evecs) = cov.linalg_eigh("L");
        let e = Tensor::stack(&[t.select(-1, 0) - &mo.mx, t.select(-1, 1) - &mo.my], -1);
        // Column k of U is evecs[..., :, k]; projection u_kᵀe.
        let mut expect = evals
            .clamp(1e-6, 1e2)
            .sum_dim_intlist(-1, false, Kind::Double);
        for k in 0..2 {
            let u = evecs.select(-1, k);
            let proj = (&u * &e).sum_dim_intlist(-1, false, Kind::Double);
            let d = l.smooth_l1_of_square(&proj.square());
            expect += d / (evals.select(-1, k).clamp(1e-6, 1e2) + 1e-5).sqrt();
        }
        for (g, x) in got.iter().zip(values(&expect)) {
            assert!((g - x).abs() < 1e-10 * x.abs().max(1.0), "{g} vs {x}");
        }
    }

    #[test]
    fn rot90_invariance() {
        // rot90(k=1, dims=[2, 3]): out[i][j] = in[j][n−1−i], i.e. out(x, y) = in(−y, x): a mass at
        // (x', y') moves to (y', −x'). Rotate the targets the same way; the loss is unchanged.
        let n = 5;
        let h = uniform(82, &[2, 3, n, n], 0.0, 1.0).square();
        let t = uniform(83, &[2, 3, 2], -0.7, 0.7);
        let hr = h.rot90(1, [2, 3]);
        let rot = |p: &Tensor| Tensor::stack(&[p.select(-1, 1), -p.select(-1, 0)], -1);
        let mu = soft_argmax(&h);
        let mu_r = soft_argmax(&hr);
        assert!(
            scalar(&(mu_r - rot(&mu)).abs().max()) < 1e-14,
            "the coordinate map must match rot90"
        );
        let l = star();
        let a = values(&l.forward_unreduced(&h, &t));
        let b = values(&l.forward_unreduced(&hr, &rot(&t)));
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-11 * x.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn arbitrary_rotation_invariance_of_the_moment_form() {
        // Σ' = R Σ Rᵀ, μ' = R μ, y' = R y for θ = 0.7 rad leaves every term unchanged.
        let (s, c) = 0.7f64.sin_cos();
        let l = star();
        // Two landmarks: Σ = [[0.02, 0.005], [0.005, 0.01]] and [[0.3, −0.1], [−0.1, 0.05]].
        let (a, b, cc) = ([0.02, 0.3], [0.005, -0.1], [0.01, 0.05]);
        let (mx, my, tx, ty) = (
            [0.1, -0.2],
            [0.05, 0.3],
            [0.4, -0.2 + 0.004],
            [-0.3, 0.3 - 0.003],
        );
        let mk = |v: [f64; 2]| t64(&v, &[1, 2]);
        let mut a2 = [0.0; 2];
        let mut b2 = [0.0; 2];
        let mut c2 = [0.0; 2];
        let rotp = |x: f64, y: f64| (c * x - s * y, s * x + c * y);
        let (mut mx2, mut my2, mut tx2, mut ty2) = ([0.0; 2], [0.0; 2], [0.0; 2], [0.0; 2]);
        for i in 0..2 {
            // R Σ Rᵀ written out for R = [[c, −s], [s, c]].
            a2[i] = c * c * a[i] - 2.0 * s * c * b[i] + s * s * cc[i];
            b2[i] = s * c * (a[i] - cc[i]) + (c * c - s * s) * b[i];
            c2[i] = s * s * a[i] + 2.0 * s * c * b[i] + c * c * cc[i];
            (mx2[i], my2[i]) = rotp(mx[i], my[i]);
            (tx2[i], ty2[i]) = rotp(tx[i], ty[i]);
        }
        let m1 = Moments {
            mx: mk(mx),
            my: mk(my),
            a: mk(a),
            b: mk(b),
            c: mk(cc),
        };
        let m2 = Moments {
            mx: mk(mx2),
            my: mk(my2),
            a: mk(a2),
            b: mk(b2),
            c: mk(c2),
        };
        let v1 = values(&l.per_point_from_moments(&m1, &mk(tx), &mk(ty)));
        let v2 = values(&l.per_point_from_moments(&m2, &mk(tx2), &mk(ty2)));
        for (x, y) in v1.iter().zip(&v2) {
            assert!((x - y).abs() < 1e-10 * x.abs().max(1.0), "{x} vs {y}");
        }
    }

    #[test]
    fn gradient() {
        let l = StarLossConfig {
            omega: 0.5,
            ..Default::default()
        }
        .init()
        .unwrap();
        let h = uniform(84, &[1, 2, 4, 5], 0.05, 1.0);
        // Point errors of both smooth-L1 branches: a target near the mean and one far away.
        let mu = values(&soft_argmax(&h));
        let t = t64(
            &[mu[0] + 0.004, mu[1] - 0.003, mu[2] + 0.3, mu[3] - 0.45],
            &[1, 2, 2],
        );
        grad_check(&[h, t], &[0, 1], 1e-5, &|x| l.forward(&x[0], &x[1]));
    }

    #[test]
    fn finite_on_flat_zero_and_huge_inputs() {
        let l = star();
        let t = uniform(85, &[1, 2, 2], -0.5, 0.5);
        let cases = [
            ("flat", t64(&[0.3; 32], &[1, 2, 4, 4]), t.copy()),
            ("all zero", t64(&[0.0; 32], &[1, 2, 4, 4]), t.copy()),
            (
                "huge error",
                uniform(86, &[1, 2, 4, 4], 0.0, 1.0),
                t64(&[1e3, -1e3, 1e3, 1e3], &[1, 2, 2]),
            ),
            (
                "zero error",
                t64(&[0.3; 32], &[1, 2, 4, 4]),
                t64(&[0.0; 4], &[1, 2, 2]),
            ),
        ];
        for (name, h, t) in cases {
            for kind in [Kind::Float, Kind::Double] {
                let (v, g) = value_and_grads(&[h.to_kind(kind), t.to_kind(kind)], &[0, 1], &|x| {
                    l.forward(&x[0], &x[1])
                });
                assert_finite(&format!("{name} {kind:?} value"), &v);
                assert_finite(&format!("{name} {kind:?} d/dheatmap"), &g[0]);
                assert_finite(&format!("{name} {kind:?} d/dtarget"), &g[1]);
            }
        }
        // A flat 4×4 heatmap has μ = 0 and is isotropic: Σ_xx = Σ_yy = mean(x²)/(1 − 1/16),
        // grid {−1, −1/3, 1/3, 1}: mean(x²) = (1 + 1/9)/2 = 5/9 → λ ≈ (5/9)/(15/16) = 0.592592…;
        // with the target at μ: STAR = ω·2λ (ε terms are O(1e−5)).
        let h = t64(&[0.3; 16], &[1, 1, 4, 4]);
        let v = scalar(&l.forward(&h, &t64(&[0.0, 0.0], &[1, 1, 2])));
        assert!((v - 2.0 * (5.0 / 9.0) / (15.0 / 16.0)).abs() < 1e-4, "{v}");
    }

    #[test]
    fn rejects_bad_values() {
        let bad = [
            (
                StarLossConfig {
                    omega: -1.0,
                    ..Default::default()
                },
                "star.omega",
            ),
            (
                StarLossConfig {
                    smooth_l1_scale: 0.0,
                    ..Default::default()
                },
                "star.smooth_l1_scale",
            ),
            (
                StarLossConfig {
                    epsilon: 0.0,
                    ..Default::default()
                },
                "star.epsilon",
            ),
            (
                StarLossConfig {
                    eig_min: 1.0,
                    eig_max: 0.5,
                    ..Default::default()
                },
                "star.eig_max",
            ),
            (
                StarLossConfig {
                    disc_eps: f64::NAN,
                    ..Default::default()
                },
                "star.disc_eps",
            ),
        ];
        for (cfg, field) in bad {
            let e = cfg.init().expect_err("bad config");
            assert!(e.to_string().contains(field), "{e}");
        }
    }
}
