//! Similarity (Procrustes) alignment of landmark shapes, and generalised Procrustes analysis.
//!
//! Sources: T. F. Cootes, C. J. Taylor, D. H. Cooper & J. Graham, "Active Shape Models — their
//! training and application", CVIU 61(1), 1995, §3.1 (aligning the training set) and
//! Appendix A (the least-squares similarity); T. F. Cootes & C. J. Taylor, "Statistical Models
//! of Appearance for Computer Vision" (technical report, 2004), §4.2 and Appendix A/B (the
//! iterative alignment, fixing the mean's scale, centre and orientation with the first shape,
//! and the projection into the tangent space of the mean); J. C. Gower, "Generalized
//! Procrustes analysis", Psychometrika 40, 1975. Reference implementation read for comparison:
//! menpo's `GeneralizedProcrustesAnalysis` (`menpo/transform/groupalign/procrustes.py`), which
//! iterates "align every source to the target, target = rescaled mean of the aligned sources"
//! until the target moves less than a tolerance, at most 100 times.
//!
//! Shapes are flat vectors `[x0, y0, x1, y1, …]` (any 2-D units; facealign uses crop_u). A point
//! is **labelled** when both its coordinates are finite; NaN marks an unlabelled point, which
//! takes no part in a fit and stays NaN when transformed.
//!
//! - [`align_to`] is the closed-form least-squares similarity (scale, rotation, translation; no
//!   reflection) mapping a shape onto a reference over the labelled points (Cootes et al. 1995,
//!   Appendix A). Fewer than 2 labelled points, or labelled points that all coincide, do not
//!   determine a similarity: that is an **error**, not a silent identity.
//! - [`tangent_align`] is [`align_to`] followed by the projection into the tangent space of the
//!   reference (Cootes & Taylor 2004, §4.2): a uniform scaling about the reference's centroid
//!   so that `(y − c)·(r − c) = |r − c|²`, i.e. the residual `y − r` is orthogonal to the
//!   reference. It is still a similarity; it removes the shrinking of least-squares alignment
//!   (an aligned shape's size is `cos θ` of the reference's, θ its Procrustes angle), so the
//!   mean of tangent-aligned shapes is exactly the reference at convergence.
//! - [`generalized_procrustes`] is the iterative GPA of Cootes & Taylor 2004 (Appendix A):
//!   start from the first shape, centred and scaled to unit norm (`x0`); align every shape to the
//!   current mean ([`tangent_align`]); the new mean is their average, aligned to `x0` (fixes the
//!   orientation) and rescaled to unit norm about a zero centroid; stop when the mean moves less
//!   than [`GPA_TOLERANCE`] (Euclidean norm of the change). The mean it returns has **zero
//!   centroid and unit norm** `√(Σ x_i² + y_i²) = 1`.
//!
//! Differences from menpo: menpo starts from the plain mean and keeps the initial target's norm,
//! aligns without the tangent projection and does not fix the orientation (it is fixed here by
//! the first shape, as Cootes & Taylor do); its tolerance is 1e-6 in the data's units.
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// GPA stops when the mean moves by less than this (Euclidean norm, unit-norm frame).
pub const GPA_TOLERANCE: f64 = 1e-10;

/// Default iteration cap of [`generalized_procrustes`] (as menpo).
pub const GPA_MAX_ITERATIONS: usize = 100;

/// A 2-D similarity `p ↦ s·R(θ)·p + t` (uniform scale, rotation, translation; no reflection).
/// Rotation is in radians, positive turning +x towards +y.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Similarity {
    /// Uniform scale s (> 0 for an invertible transform).
    pub scale: f64,
    /// Rotation θ in radians.
    pub rotation: f64,
    /// Translation x.
    pub tx: f64,
    /// Translation y.
    pub ty: f64,
}

impl Default for Similarity {
    fn default() -> Self {
        Similarity::IDENTITY
    }
}

impl Similarity {
    /// The identity.
    pub const IDENTITY: Similarity = Similarity {
        scale: 1.0,
        rotation: 0.0,
        tx: 0.0,
        ty: 0.0,
    };

    /// A similarity from its parts.
    pub fn new(scale: f64, rotation: f64, tx: f64, ty: f64) -> Similarity {
        Similarity {
            scale,
            rotation,
            tx,
            ty,
        }
    }

    /// From the linear part `[[a, −b], [b, a]]` (a = s cos θ, b = s sin θ) and a translation.
    fn from_ab(a: f64, b: f64, tx: f64, ty: f64) -> Similarity {
        Similarity {
            scale: a.hypot(b),
            rotation: b.atan2(a),
            tx,
            ty,
        }
    }

    /// `(a, b) = (s cos θ, s sin θ)`.
    fn ab(&self) -> (f64, f64) {
        let (sin, cos) = self.rotation.sin_cos();
        (self.scale * cos, self.scale * sin)
    }

    /// The 2×3 matrix `[[a, −b, tx], [b, a, ty]]`.
    pub fn matrix(&self) -> [[f64; 3]; 2] {
        let (a, b) = self.ab();
        [[a, -b, self.tx], [b, a, self.ty]]
    }

    /// Map one point.
    pub fn apply_point(&self, p: [f64; 2]) -> [f64; 2] {
        let (a, b) = self.ab();
        [a * p[0] - b * p[1] + self.tx, b * p[0] + a * p[1] + self.ty]
    }

    /// Map a flat shape `[x0, y0, …]`; a point with a NaN coordinate becomes `NaN, NaN`.
    /// A trailing odd value is returned unchanged (shapes have even length).
    pub fn apply(&self, shape: &[f32]) -> Vec<f32> {
        let v: Vec<f64> = shape.iter().map(|&v| f64::from(v)).collect();
        self.apply_f64(&v).into_iter().map(|v| v as f32).collect()
    }

    /// [`Self::apply`] in f64.
    pub fn apply_f64(&self, shape: &[f64]) -> Vec<f64> {
        let (a, b) = self.ab();
        let mut out = Vec::with_capacity(shape.len());
        for p in shape.chunks(2) {
            if let [x, y] = *p {
                if x.is_nan() || y.is_nan() {
                    out.extend([f64::NAN, f64::NAN]);
                } else {
                    out.extend([a * x - b * y + self.tx, b * x + a * y + self.ty]);
                }
            } else {
                out.extend_from_slice(p);
            }
        }
        out
    }

    /// The inverse `p ↦ s⁻¹ R(−θ) (p − t)`. Needs `scale > 0` (otherwise the result has
    /// infinite or NaN parts); [`align_to`] never returns scale 0 for a valid reference.
    pub fn inverse(&self) -> Similarity {
        let inv_s = 1.0 / self.scale;
        let (sin, cos) = (-self.rotation).sin_cos();
        let (a, b) = (inv_s * cos, inv_s * sin);
        Similarity {
            scale: inv_s,
            rotation: -self.rotation,
            tx: -(a * self.tx - b * self.ty),
            ty: -(b * self.tx + a * self.ty),
        }
    }

    /// `self` first, then `next`: `p ↦ next(self(p))`.
    pub fn then(&self, next: &Similarity) -> Similarity {
        let (a1, b1) = self.ab();
        let (a2, b2) = next.ab();
        let t = next.apply_point([self.tx, self.ty]);
        Similarity::from_ab(a2 * a1 - b2 * b1, a2 * b1 + b2 * a1, t[0], t[1])
    }
}

/// Labelled point pairs `(shape point, reference point)`: both coordinates of both finite.
fn labelled_pairs(shape: &[f32], reference: &[f64]) -> Result<Vec<([f64; 2], [f64; 2])>> {
    if shape.len() != reference.len() || !shape.len().is_multiple_of(2) {
        return Err(Error::invalid(
            "Procrustes alignment",
            format!(
                "shape has {} values and reference {} (both must be the same even length)",
                shape.len(),
                reference.len()
            ),
        ));
    }
    Ok(shape
        .chunks_exact(2)
        .zip(reference.chunks_exact(2))
        .filter(|(s, r)| s.iter().all(|v| v.is_finite()) && r.iter().all(|v| v.is_finite()))
        .map(|(s, r)| ([f64::from(s[0]), f64::from(s[1])], [r[0], r[1]]))
        .collect())
}

/// Least-squares similarity over point pairs, with the centroids and `Σ|p − p̄|²`.
fn fit_pairs(pairs: &[([f64; 2], [f64; 2])]) -> Result<(Similarity, [f64; 2], f64)> {
    if pairs.len() < 2 {
        return Err(Error::invalid(
            "Procrustes alignment",
            format!(
                "{} labelled point(s); a similarity needs at least 2",
                pairs.len()
            ),
        ));
    }
    let n = pairs.len() as f64;
    let (mut ps, mut qs) = ([0.0f64; 2], [0.0f64; 2]);
    for (p, q) in pairs {
        ps = [ps[0] + p[0], ps[1] + p[1]];
        qs = [qs[0] + q[0], qs[1] + q[1]];
    }
    let (pc, qc) = ([ps[0] / n, ps[1] / n], [qs[0] / n, qs[1] / n]);
    let (mut spp, mut sdot, mut scross) = (0.0f64, 0.0f64, 0.0f64);
    for (p, q) in pairs {
        let (px, py) = (p[0] - pc[0], p[1] - pc[1]);
        let (qx, qy) = (q[0] - qc[0], q[1] - qc[1]);
        spp += px * px + py * py;
        sdot += px * qx + py * qy;
        scross += px * qy - py * qx;
    }
    let spread = pairs
        .iter()
        .map(|(p, _)| p[0].abs().max(p[1].abs()))
        .fold(0.0f64, f64::max);
    if !(spp > 0.0 && spp > (1e-12 * spread).powi(2) * n) {
        return Err(Error::invalid(
            "Procrustes alignment",
            format!(
                "the {} labelled points coincide; no similarity is determined",
                pairs.len()
            ),
        ));
    }
    let (a, b) = (sdot / spp, scross / spp);
    // t = q̄ − [[a, −b], [b, a]] p̄
    let tx = qc[0] - (a * pc[0] - b * pc[1]);
    let ty = qc[1] - (b * pc[0] + a * pc[1]);
    Ok((Similarity::from_ab(a, b, tx, ty), qc, spp))
}

/// The least-squares similarity T minimising `Σ_labelled |T(shape_i) − reference_i|²`
/// (Cootes et al. 1995, Appendix A): with centred points p, q,
/// `a = Σ p·q / Σ|p|²`, `b = Σ (p_x q_y − p_y q_x) / Σ|p|²`, `t = q̄ − [[a, −b], [b, a]] p̄`.
///
/// Only points labelled in `shape` (both coordinates finite) and finite in `reference` count.
///
/// # Errors
/// Lengths differ or are odd; fewer than 2 such points; or they all coincide in `shape`.
/// A reference whose labelled points coincide gives scale 0 (not invertible).
pub fn align_to(shape: &[f32], reference: &[f64]) -> Result<Similarity> {
    fit_pairs(&labelled_pairs(shape, reference)?).map(|(t, _, _)| t)
}

/// [`align_to`] followed by the projection into the tangent space of `reference` (Cootes &
/// Taylor 2004, §4.2): a uniform scaling by `f = |r − c|² / ((y − c)·(r − c))` about the
/// centroid c of the reference's labelled points, y being the least-squares aligned shape. After
/// it, `(y' − r)·(r − c) = 0` over the labelled points. Equivariant: for any similarity A,
/// `tangent_align(A(shape), r) = tangent_align(shape, r) ∘ A⁻¹`.
///
/// # Errors
/// Those of [`align_to`], and a shape the least-squares fit maps to a single point (scale 0).
pub fn tangent_align(shape: &[f32], reference: &[f64]) -> Result<Similarity> {
    let pairs = labelled_pairs(shape, reference)?;
    let (t, c, spp) = fit_pairs(&pairs)?;
    // For the least-squares fit, (y − c)·(r − c) = |y − c|² = s²·Σ|p − p̄|² (y is the orthogonal
    // projection of r on the span of the rotated, scaled shape), and |r − c|² comes from the pairs.
    let yy = t.scale * t.scale * spp;
    let rr: f64 = pairs
        .iter()
        .map(|(_, q)| (q[0] - c[0]).powi(2) + (q[1] - c[1]).powi(2))
        .sum();
    if !(yy > 0.0 && yy.is_finite() && rr.is_finite()) {
        return Err(Error::invalid(
            "Procrustes alignment",
            "the least-squares similarity maps the shape to a point (scale 0)",
        ));
    }
    let f = rr / yy;
    let about_c = Similarity::new(f, 0.0, c[0] * (1.0 - f), c[1] * (1.0 - f));
    Ok(t.then(&about_c))
}

/// Result of [`generalized_procrustes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Gpa {
    /// The mean shape: zero centroid, unit norm `√(Σ x_i² + y_i²) = 1`, oriented like the first
    /// shape.
    pub mean: Vec<f64>,
    /// Every shape aligned to `mean` by [`tangent_align`] (`aligned[i] = transforms[i](shape i)`).
    pub aligned: Vec<Vec<f64>>,
    /// The similarity of each shape into the mean's frame.
    pub transforms: Vec<Similarity>,
    /// Iterations run (each aligns every shape once).
    pub iterations: usize,
    /// Whether the mean moved by less than [`GPA_TOLERANCE`] in the last iteration.
    pub converged: bool,
    /// Euclidean norm of the last change of the mean.
    pub last_change: f64,
}

/// Centre `v` at the origin and scale it to unit norm; `None` when it is a single point.
fn normalise(v: &mut [f64]) -> Option<()> {
    let n = (v.len() / 2) as f64;
    let (cx, cy) = v
        .chunks_exact(2)
        .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
    let (cx, cy) = (cx / n, cy / n);
    for p in v.chunks_exact_mut(2) {
        p[0] -= cx;
        p[1] -= cy;
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if !(norm > 0.0 && norm.is_finite()) {
        return None;
    }
    v.iter_mut().for_each(|x| *x /= norm);
    Some(())
}

/// Generalised Procrustes analysis (Gower 1975; the iteration of Cootes & Taylor 2004,
/// Appendix A, with tangent-space projection), at most `max_iterations` iterations (≥ 1;
/// [`GPA_MAX_ITERATIONS`] is a good default). See the module header for the algorithm.
///
/// # Errors
/// No shape; shapes of different or odd length, or with fewer than 2 points; a non-finite value
/// (every point must be labelled); a shape whose points coincide or that cannot be aligned.
pub fn generalized_procrustes(shapes: &[Vec<f32>], max_iterations: usize) -> Result<Gpa> {
    let first = shapes
        .first()
        .ok_or_else(|| Error::invalid("Procrustes analysis", "no shapes"))?;
    let d = first.len();
    if d < 4 || !d.is_multiple_of(2) {
        return Err(Error::invalid(
            "Procrustes analysis",
            format!("shapes need an even number ≥ 4 of values, got {d}"),
        ));
    }
    for (i, s) in shapes.iter().enumerate() {
        if s.len() != d {
            return Err(Error::invalid(
                "Procrustes analysis",
                format!("shape {i} has {} values, shape 0 has {d}", s.len()),
            ));
        }
        if let Some(j) = s.iter().position(|v| !v.is_finite()) {
            return Err(Error::invalid(
                "Procrustes analysis",
                format!("shape {i} value {j} is not finite ({})", s[j]),
            ));
        }
    }
    let mut x0: Vec<f64> = first.iter().map(|&v| f64::from(v)).collect();
    normalise(&mut x0)
        .ok_or_else(|| Error::invalid("Procrustes analysis", "the points of shape 0 coincide"))?;
    let align_all = |mean: &[f64]| -> Result<(Vec<Similarity>, Vec<Vec<f64>>)> {
        let transforms = shapes
            .iter()
            .enumerate()
            .map(|(i, s)| {
                tangent_align(s, mean)
                    .map_err(|e| Error::invalid("Procrustes analysis", format!("shape {i}: {e}")))
            })
            .collect::<Result<Vec<_>>>()?;
        let aligned = shapes
            .iter()
            .zip(&transforms)
            .map(|(s, t)| t.apply_f64(&s.iter().map(|&v| f64::from(v)).collect::<Vec<_>>()))
            .collect();
        Ok((transforms, aligned))
    };
    let mut mean = x0.clone();
    let (mut iterations, mut converged, mut last_change) = (0, false, f64::INFINITY);
    while iterations < max_iterations.max(1) {
        iterations += 1;
        let (_, aligned) = align_all(&mean)?;
        let mut avg = vec![0.0f64; d];
        for a in &aligned {
            for (m, v) in avg.iter_mut().zip(a) {
                *m += v;
            }
        }
        let n = shapes.len() as f64;
        avg.iter_mut().for_each(|m| *m /= n);
        // Fix the orientation (and centre) with x0, then the scale.
        let to_x0 = fit_pairs(
            &avg.chunks_exact(2)
                .zip(x0.chunks_exact(2))
                .map(|(p, q)| ([p[0], p[1]], [q[0], q[1]]))
                .collect::<Vec<_>>(),
        )
        .map_err(|e| Error::invalid("Procrustes analysis", format!("mean shape: {e}")))?
        .0;
        let mut new_mean = to_x0.apply_f64(&avg);
        normalise(&mut new_mean)
            .ok_or_else(|| Error::invalid("Procrustes analysis", "the mean shape collapsed"))?;
        last_change = new_mean
            .iter()
            .zip(&mean)
            .map(|(a, b)| (a - b).powi(2))
            .sum::<f64>()
            .sqrt();
        mean = new_mean;
        if last_change < GPA_TOLERANCE {
            converged = true;
            break;
        }
    }
    let (transforms, aligned) = align_all(&mean)?;
    Ok(Gpa {
        mean,
        aligned,
        transforms,
        iterations,
        converged,
        last_change,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// `A` and `B` agree as maps (compares a, b, tx, ty, not the wrapped angle).
    fn same_map(x: &Similarity, y: &Similarity, tol: f64) -> bool {
        let (mx, my) = (x.matrix(), y.matrix());
        mx.iter()
            .flatten()
            .zip(my.iter().flatten())
            .all(|(a, b)| (a - b).abs() <= tol)
    }

    fn to_f64(s: &[f32]) -> Vec<f64> {
        s.iter().map(|&v| f64::from(v)).collect()
    }

    #[test]
    fn similarity_hand_values_inverse_and_composition() {
        // s = 2, θ = 90°: (1, 0) ↦ (0, 2) + (1, 1) = (1, 3).
        let t = Similarity::new(2.0, std::f64::consts::FRAC_PI_2, 1.0, 1.0);
        let p = t.apply_point([1.0, 0.0]);
        assert!(
            (p[0] - 1.0).abs() < 1e-12 && (p[1] - 3.0).abs() < 1e-12,
            "{p:?}"
        );
        let back = t.inverse().apply_point(p);
        assert!(
            (back[0] - 1.0).abs() < 1e-12 && back[1].abs() < 1e-12,
            "{back:?}"
        );
        assert!(same_map(
            &t.then(&t.inverse()),
            &Similarity::IDENTITY,
            1e-12
        ));
        let u = Similarity::new(0.5, -0.3, -2.0, 0.25);
        let q = [0.7, -1.1];
        let (a, b) = (u.apply_point(t.apply_point(q)), t.then(&u).apply_point(q));
        assert!((a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12);
        // NaN points stay NaN (both coordinates), others move.
        let out = t.apply(&[1.0, 0.0, f32::NAN, 2.0]);
        assert_eq!(&out[..2], &[1.0, 3.0]);
        assert!(out[2].is_nan() && out[3].is_nan());
    }

    #[test]
    fn align_to_hand_case_and_errors() {
        // Square scaled by 2, turned 90° and shifted by (3, −1) onto the reference.
        let reference = [0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0];
        let t = Similarity::new(2.0, std::f64::consts::FRAC_PI_2, 3.0, -1.0);
        let moved: Vec<f32> = t
            .apply_f64(&reference)
            .into_iter()
            .map(|v| v as f32)
            .collect();
        let got = align_to(&moved, &reference).expect("aligns");
        assert!(same_map(&got, &t.inverse(), 1e-6), "{got:?}");
        assert!((got.scale - 0.5).abs() < 1e-6);
        // Errors: lengths, fewer than 2 labelled points, coincident points.
        assert!(align_to(&[0.0, 0.0, 1.0], &[0.0, 0.0, 1.0]).is_err());
        assert!(align_to(&[0.0; 4], &reference[..4]).is_err());
        let one = [
            0.3,
            0.2,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            f32::NAN,
            f32::NAN,
        ];
        let e = align_to(&one, &reference)
            .expect_err("one point")
            .to_string();
        assert!(e.contains("1 labelled point"), "{e}");
        assert!(align_to(&[0.5; 8], &reference).is_err());
        // Two labelled points determine it exactly.
        let mut two = moved.clone();
        two[4..].iter_mut().for_each(|v| *v = f32::NAN);
        assert!(same_map(
            &align_to(&two, &reference).expect("two"),
            &t.inverse(),
            1e-6
        ));
    }

    #[test]
    fn tangent_align_puts_the_residual_orthogonal_to_the_reference() {
        let reference = [-0.5, -0.4, 0.5, -0.4, 0.0, 0.1, -0.3, 0.45, 0.3, 0.45];
        let shape = [0.1f32, 0.2, 1.3, 0.1, 0.8, 0.9, 0.2, 1.5, 1.5, 1.3];
        let t = tangent_align(&shape, &reference).expect("aligns");
        let y = t.apply_f64(&to_f64(&shape));
        let c = [0.0, 0.04];
        let dot: f64 = y
            .chunks_exact(2)
            .zip(reference.chunks_exact(2))
            .map(|(y, r)| (y[0] - r[0]) * (r[0] - c[0]) + (y[1] - r[1]) * (r[1] - c[1]))
            .sum();
        assert!(dot.abs() < 1e-9, "(y − r)·(r − c) = {dot}");
        // Least-squares alignment shrinks: its (y − c)·(r − c) is below |r − c|².
        let ls = align_to(&shape, &reference).expect("aligns");
        assert!(t.scale > ls.scale && (t.rotation - ls.rotation).abs() < 1e-12);
    }

    fn face_like(i: usize) -> Vec<f32> {
        // 6 points jittered deterministically, then rotated/scaled/shifted per shape.
        let base = [
            -0.3, -0.2, 0.3, -0.2, 0.0, 0.05, -0.2, 0.25, 0.2, 0.25, 0.0, 0.4,
        ];
        let jit: Vec<f64> = base
            .iter()
            .enumerate()
            .map(|(j, v)| v + 0.03 * ((((i * 13 + j * 7) % 11) as f64) / 5.0 - 1.0))
            .collect();
        let t = Similarity::new(
            0.8 + 0.05 * (i % 7) as f64,
            0.2 * ((i % 5) as f64 - 2.0),
            0.1 * ((i % 3) as f64 - 1.0),
            0.05 * ((i % 4) as f64),
        );
        t.apply_f64(&jit).into_iter().map(|v| v as f32).collect()
    }

    #[test]
    fn gpa_converges_to_a_unit_centred_mean() {
        let shapes: Vec<Vec<f32>> = (0..30).map(face_like).collect();
        let g = generalized_procrustes(&shapes, GPA_MAX_ITERATIONS).expect("GPA");
        assert!(
            g.converged,
            "{} iterations, Δ {}",
            g.iterations, g.last_change
        );
        assert!(g.iterations < 50, "{}", g.iterations);
        let (cx, cy) = g
            .mean
            .chunks_exact(2)
            .fold((0.0, 0.0), |(x, y), p| (x + p[0], y + p[1]));
        assert!(cx.abs() < 1e-12 && cy.abs() < 1e-12, "centroid {cx} {cy}");
        let norm = g.mean.iter().map(|v| v * v).sum::<f64>().sqrt();
        assert!((norm - 1.0).abs() < 1e-12, "norm {norm}");
        // The mean is the average of the aligned shapes (tangent projection, at convergence).
        for j in 0..g.mean.len() {
            let avg = g.aligned.iter().map(|a| a[j]).sum::<f64>() / shapes.len() as f64;
            assert!(
                (avg - g.mean[j]).abs() < 1e-8,
                "coordinate {j}: {avg} vs {}",
                g.mean[j]
            );
        }
        // Each aligned shape is its transform of the input, and aligning it again is identity.
        for ((s, t), a) in shapes.iter().zip(&g.transforms).zip(&g.aligned) {
            assert_eq!(&t.apply_f64(&to_f64(s)), a);
            let a32: Vec<f32> = a.iter().map(|&v| v as f32).collect();
            let again = tangent_align(&a32, &g.mean).expect("realign");
            assert!(same_map(&again, &Similarity::IDENTITY, 1e-5), "{again:?}");
        }
        // The result does not depend on the shapes' poses beyond shape 0's orientation.
        let mut moved = shapes.clone();
        for (i, s) in moved.iter_mut().enumerate().skip(1) {
            *s = Similarity::new(1.5, 0.1 * i as f64, -0.3, 0.2).apply(s);
        }
        let h = generalized_procrustes(&moved, GPA_MAX_ITERATIONS).expect("GPA");
        for (a, b) in g.mean.iter().zip(&h.mean) {
            assert!((a - b).abs() < 1e-5, "{a} vs {b}");
        }
    }

    #[test]
    fn gpa_errors() {
        assert!(generalized_procrustes(&[], 10).is_err());
        assert!(generalized_procrustes(&[vec![0.0, 1.0]], 10).is_err());
        assert!(generalized_procrustes(&[vec![0.0, 0.0, 1.0, 1.0], vec![0.0; 6]], 10).is_err());
        let e = generalized_procrustes(
            &[vec![0.0, 0.0, 1.0, 1.0], vec![0.0, f32::NAN, 1.0, 1.0]],
            10,
        )
        .expect_err("NaN")
        .to_string();
        assert!(e.contains("shape 1 value 1"), "{e}");
        assert!(generalized_procrustes(&[vec![0.2; 4], vec![0.0, 0.0, 1.0, 1.0]], 10).is_err());
        // A single iteration still returns aligned shapes (not converged).
        let shapes: Vec<Vec<f32>> = (0..5).map(face_like).collect();
        let g = generalized_procrustes(&shapes, 1).expect("one iteration");
        assert_eq!((g.iterations, g.aligned.len()), (1, 5));
    }

    fn arb_similarity() -> impl Strategy<Value = Similarity> {
        (0.3f64..3.0, -3.1f64..3.1, -2.0f64..2.0, -2.0f64..2.0)
            .prop_map(|(s, r, x, y)| Similarity::new(s, r, x, y))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn transform_then_inverse_is_identity(
            t in arb_similarity(),
            p in (-5.0f64..5.0, -5.0f64..5.0),
        ) {
            let q = t.inverse().apply_point(t.apply_point([p.0, p.1]));
            prop_assert!((q[0] - p.0).abs() < 1e-9 && (q[1] - p.1).abs() < 1e-9);
            prop_assert!(same_map(&t.inverse().inverse(), &t, 1e-9));
        }

        #[test]
        fn align_to_recovers_the_inverse_similarity(
            shape in prop::collection::vec(-0.5f32..0.5, 8..24),
            unlabelled in prop::collection::vec(any::<bool>(), 12),
            t in arb_similarity(),
            r in arb_similarity(),
        ) {
            let mut shape = shape;
            shape.truncate(shape.len() / 2 * 2);
            let m = shape.len() / 2;
            // Drop some points but keep at least 3 labelled.
            for (j, &u) in unlabelled.iter().enumerate().take(m.saturating_sub(3)) {
                if u {
                    shape[2 * j] = f32::NAN;
                    shape[2 * j + 1] = f32::NAN;
                }
            }
            let pts: Vec<[f64; 2]> = shape
                .chunks_exact(2)
                .filter(|p| p[0].is_finite())
                .map(|p| [f64::from(p[0]), f64::from(p[1])])
                .collect();
            let n = pts.len() as f64;
            let c = pts.iter().fold([0.0, 0.0], |a, p| [a[0] + p[0] / n, a[1] + p[1] / n]);
            let rms = (pts.iter().map(|p| (p[0] - c[0]).powi(2) + (p[1] - c[1]).powi(2)).sum::<f64>() / n).sqrt();
            prop_assume!(rms > 0.05);
            let reference = to_f64(&shape);
            let moved = t.apply(&shape);
            // align_to(T(shape), shape) = T⁻¹ (f32 rounding of T(shape) only).
            let got = align_to(&moved, &reference).expect("aligns");
            prop_assert!(same_map(&got, &t.inverse(), 1e-4), "{:?} vs {:?}", got, t.inverse());
            // The aligned result does not depend on T: align T(shape) and shape onto an
            // unrelated reference R(shape) with some points perturbed.
            let mut other: Vec<f64> = r.apply_f64(&reference);
            for (j, v) in other.iter_mut().enumerate() {
                *v += 0.05 * ((j * 7 % 5) as f64 - 2.0);
            }
            let fits: [fn(&[f32], &[f64]) -> Result<Similarity>; 2] = [align_to, tangent_align];
            for f in fits {
                let a = f(&shape, &other).expect("aligns");
                let b = f(&moved, &other).expect("aligns");
                let (ya, yb) = (a.apply_f64(&reference), b.apply_f64(&to_f64(&moved)));
                for (u, v) in ya.iter().zip(&yb) {
                    prop_assert!((u.is_nan() && v.is_nan()) || (u - v).abs() < 1e-4, "{} vs {}", u, v);
                }
                prop_assert!(same_map(&b, &t.inverse().then(&a), 1e-4));
            }
        }
    }
}
