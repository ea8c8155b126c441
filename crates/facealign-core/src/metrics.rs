//! Evaluation metrics: NME, failure rate, CED, AUC and CED plots (SPEC §5, Decision 7).
//!
//! Sources: NME = mean over points of the Euclidean error divided by a normalising distance
//! (HRNet `compute_nme`, STAR `nme.py`; indices SPEC §5.2). Standard AUC@t = ∫₀ᵗ CED(x) dx / t
//! on the grid x = 0:1e-4:t with Simpson's rule (STAR `fr_and_auc.py`, PIPNet
//! `compute_fr_and_auc`). [`auc_acr_code`] reproduces the ACR/ASMNet authors' evaluator
//! (aliprf/FLD-DD `Evaluation.py`, `calculate_AUC` + `ecdf`, read at commit 03d2a0f) — it is
//! not a standard AUC and exists only for like-for-like comparison with ACR Table I (§5.6).
//!
//! All values are fractions (0.05 = 5 %); reports multiply by 100.
//!
//! Deviations: the Simpson grid has `round(t / 1e-4)` intervals of width `t / n`, so it ends at
//! `t` exactly (STAR's `arange` grid equals it whenever t is a multiple of 1e-4). An odd number
//! of intervals uses Simpson's 1/3 rule on all but the last three and the 3/8 rule on those
//! (exact for cubics); scipy's `simpson` corrects the last interval differently.
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::fsio::write_atomic;
use crate::sample::{BoxXywh, Point};
use crate::scheme::{PupilDef, Scheme};

/// Grid step of the standard AUC integration.
const AUC_STEP: f64 = 1e-4;

/// What an error is divided by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Normalizer {
    /// Distance between the outer eye corners (`Scheme::ocular`), the default.
    #[default]
    Ocular,
    /// Distance between the pupils (`Scheme::pupil`: two points or two point-set means).
    Pupil,
    /// `sqrt(w · h)` of the ground-truth landmark box.
    Box,
}

impl Normalizer {
    /// Name as used in configs and reports.
    pub fn name(self) -> &'static str {
        match self {
            Normalizer::Ocular => "ocular",
            Normalizer::Pupil => "pupil",
            Normalizer::Box => "box",
        }
    }
    /// Parse [`Self::name`].
    pub fn parse(s: &str) -> Option<Normalizer> {
        [Normalizer::Ocular, Normalizer::Pupil, Normalizer::Box]
            .into_iter()
            .find(|n| n.name() == s)
    }
}

fn dist(a: [f64; 2], b: [f64; 2]) -> f64 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn p64(p: Point) -> [f64; 2] {
    [f64::from(p[0]), f64::from(p[1])]
}

fn finite(p: Point) -> bool {
    p[0].is_finite() && p[1].is_finite()
}

/// Mean of the labelled (finite) points among `idx`, if any.
fn mean_of_labelled(pts: &[Point], idx: &[usize]) -> Option<[f64; 2]> {
    let lab: Vec<usize> = idx.iter().copied().filter(|&i| finite(pts[i])).collect();
    if lab.is_empty() {
        return None;
    }
    let n = lab.len() as f64;
    let (sx, sy) = lab.iter().fold((0.0, 0.0), |(sx, sy), &i| {
        (sx + f64::from(pts[i][0]), sy + f64::from(pts[i][1]))
    });
    Some([sx / n, sy / n])
}

fn check_count(what: &str, pts: &[Point], scheme: &Scheme) -> Result<()> {
    if pts.len() != scheme.n_points() {
        return Err(Error::invalid(
            what,
            format!(
                "{} points, scheme {} has {}",
                pts.len(),
                scheme.name(),
                scheme.n_points()
            ),
        ));
    }
    Ok(())
}

fn check_prediction(pred: &[Point], scheme: &Scheme) -> Result<()> {
    check_count("prediction", pred, scheme)?;
    if let Some(i) = pred.iter().position(|&p| !finite(p)) {
        return Err(Error::invalid(
            "prediction",
            format!("point {i} is not finite ({:?})", pred[i]),
        ));
    }
    Ok(())
}

/// Whether a face can be scored, and its NME if so.
#[derive(Debug, Clone, PartialEq)]
pub enum FaceScore {
    /// The NME (a fraction) over the face's labelled points.
    Nme(f64),
    /// The face cannot be normalised (too few labelled points for the normaliser, or a zero
    /// distance): the reason, to be reported with the face's id.
    Unscorable(String),
}

/// The normalising distance of a ground-truth shape (pixels), from its **labelled** points
/// (a non-finite ground-truth point is an unlabelled one, see `Sample::labelled`):
/// - ocular / pupil by points: both points must be labelled;
/// - pupil by means (68 points: eye contours): the mean of each eye's labelled points, at least
///   one per eye;
/// - box: `sqrt(w · h)` of the box around the labelled points.
///
/// `Ok(Err(reason))` when the face cannot be normalised (a point missing, or a zero distance,
/// e.g. the outer eye corners coincide on an extreme profile).
pub fn try_normalizing_distance(
    gt: &[Point],
    scheme: &Scheme,
    norm: Normalizer,
) -> Result<std::result::Result<f64, String>> {
    check_count("ground truth", gt, scheme)?;
    let both = |a: usize, b: usize, what: &str| {
        if finite(gt[a]) && finite(gt[b]) {
            Ok(dist(p64(gt[a]), p64(gt[b])))
        } else {
            Err(format!(
                "{what} points {a} and {b} are not both labelled: cannot normalise"
            ))
        }
    };
    let d = match norm {
        Normalizer::Ocular => both(scheme.ocular.0, scheme.ocular.1, "outer eye-corner"),
        Normalizer::Pupil => match &scheme.pupil {
            PupilDef::Points(a, b) => both(*a, *b, "pupil"),
            PupilDef::Means(a, b) => match (mean_of_labelled(gt, a), mean_of_labelled(gt, b)) {
                (Some(l), Some(r)) => Ok(dist(l, r)),
                _ => Err("an eye has no labelled point: cannot normalise by pupils".to_string()),
            },
        },
        Normalizer::Box => {
            let lab: Vec<Point> = gt.iter().copied().filter(|&p| finite(p)).collect();
            if lab.len() < 2 {
                Err(format!(
                    "{} labelled point(s): the box normaliser needs at least 2",
                    lab.len()
                ))
            } else {
                let b = BoxXywh::around(&lab).expect("two points");
                Ok((f64::from(b.w) * f64::from(b.h)).sqrt())
            }
        }
    };
    Ok(d.and_then(|d| {
        if d > 0.0 && d.is_finite() {
            Ok(d)
        } else {
            Err(format!(
                "{} distance of the ground truth is {d}",
                norm.name()
            ))
        }
    }))
}

/// [`try_normalizing_distance`], with an unscorable face as an error.
pub fn normalizing_distance(gt: &[Point], scheme: &Scheme, norm: Normalizer) -> Result<f64> {
    try_normalizing_distance(gt, scheme, norm)?.map_err(|m| Error::invalid("normaliser", m))
}

/// Per-point Euclidean errors divided by the normalising distance of `gt`; NaN where the ground
/// truth is unlabelled (non-finite). Predictions must be finite.
pub fn per_point_errors(
    pred: &[Point],
    gt: &[Point],
    scheme: &Scheme,
    norm: Normalizer,
) -> Result<Vec<f64>> {
    check_prediction(pred, scheme)?;
    let d = normalizing_distance(gt, scheme, norm)?;
    Ok(errors_over(pred, gt, d))
}

fn errors_over(pred: &[Point], gt: &[Point], d: f64) -> Vec<f64> {
    pred.iter()
        .zip(gt)
        .map(|(&p, &g)| {
            if finite(g) {
                dist(p64(p), p64(g)) / d
            } else {
                f64::NAN
            }
        })
        .collect()
}

/// Mean of the non-NaN values (NaN when there is none).
fn mean_labelled(e: &[f64]) -> f64 {
    let (s, n) = e
        .iter()
        .filter(|v| !v.is_nan())
        .fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 {
        f64::NAN
    } else {
        s / n as f64
    }
}

/// Score one face: the NME over its labelled points (the AFLW protocol), or why it cannot be
/// normalised. Errors are bad input (counts, a non-finite prediction).
pub fn score_face(
    pred: &[Point],
    gt: &[Point],
    scheme: &Scheme,
    norm: Normalizer,
) -> Result<FaceScore> {
    check_prediction(pred, scheme)?;
    Ok(match try_normalizing_distance(gt, scheme, norm)? {
        Ok(d) => FaceScore::Nme(mean_labelled(&errors_over(pred, gt, d))),
        Err(reason) => FaceScore::Unscorable(reason),
    })
}

/// NME of one image: the mean of [`per_point_errors`] over the labelled points (a fraction).
/// An unscorable face is an error; use [`score_face`] to report it instead.
pub fn nme_per_image(
    pred: &[Point],
    gt: &[Point],
    scheme: &Scheme,
    norm: Normalizer,
) -> Result<f64> {
    match score_face(pred, gt, scheme, norm)? {
        FaceScore::Nme(v) => Ok(v),
        FaceScore::Unscorable(m) => Err(Error::invalid("normaliser", m)),
    }
}

/// Mean normalised error of every landmark over the images that label it (`preds[i]`, `gts[i]`
/// are image i; unscorable images are skipped). NaN for a landmark no image labels.
pub fn per_landmark_nme(
    preds: &[Vec<Point>],
    gts: &[Vec<Point>],
    scheme: &Scheme,
    norm: Normalizer,
) -> Result<Vec<f64>> {
    if preds.len() != gts.len() || preds.is_empty() {
        return Err(Error::invalid(
            "per-landmark NME",
            format!(
                "{} predictions for {} ground truths (need the same, non-zero count)",
                preds.len(),
                gts.len()
            ),
        ));
    }
    let mut sum = vec![0.0; scheme.n_points()];
    let mut count = vec![0usize; scheme.n_points()];
    for (i, (p, g)) in preds.iter().zip(gts).enumerate() {
        check_prediction(p, scheme)
            .map_err(|e| Error::invalid("per-landmark NME", format!("image {i}: {e}")))?;
        let d = match try_normalizing_distance(g, scheme, norm)
            .map_err(|e| Error::invalid("per-landmark NME", format!("image {i}: {e}")))?
        {
            Ok(d) => d,
            Err(_) => continue,
        };
        for (k, v) in errors_over(p, g, d).into_iter().enumerate() {
            if !v.is_nan() {
                sum[k] += v;
                count[k] += 1;
            }
        }
    }
    Ok(sum
        .into_iter()
        .zip(count)
        .map(|(s, n)| if n == 0 { f64::NAN } else { s / n as f64 })
        .collect())
}

/// Mean of the per-landmark NMEs over each semantic group of the scheme, in group order.
pub fn per_group_nme(per_landmark: &[f64], scheme: &Scheme) -> Result<Vec<(String, f64)>> {
    if per_landmark.len() != scheme.n_points() {
        return Err(Error::invalid(
            "per-group NME",
            format!(
                "{} values for {} landmarks",
                per_landmark.len(),
                scheme.n_points()
            ),
        ));
    }
    Ok(scheme
        .groups
        .iter()
        .map(|g| {
            let v: Vec<f64> = g.indices.iter().map(|&i| per_landmark[i]).collect();
            (g.name.to_string(), mean_labelled(&v))
        })
        .collect())
}

/// Validated, sorted copy of `nmes`: non-empty, no NaN (+∞ is allowed: it always fails).
fn sorted_nmes(nmes: &[f64]) -> Result<Vec<f64>> {
    if nmes.is_empty() {
        return Err(Error::invalid("NMEs", "no values"));
    }
    if let Some(i) = nmes.iter().position(|v| v.is_nan() || *v < 0.0) {
        return Err(Error::invalid(
            "NMEs",
            format!("value {i} is {} (must be ≥ 0)", nmes[i]),
        ));
    }
    let mut s = nmes.to_vec();
    s.sort_by(f64::total_cmp);
    Ok(s)
}

fn check_t(t: f64) -> Result<()> {
    if !(t > 0.0 && t.is_finite()) {
        return Err(Error::invalid("threshold", format!("{t} (must be > 0)")));
    }
    Ok(())
}

/// CED(x) = fraction of images with NME ≤ x, on sorted values.
fn ced_sorted(sorted: &[f64], x: f64) -> f64 {
    sorted.partition_point(|&v| v <= x) as f64 / sorted.len() as f64
}

/// Fraction of images with NME > `t` (NME exactly `t` is not a failure).
pub fn failure_rate(nmes: &[f64], t: f64) -> Result<f64> {
    let s = sorted_nmes(nmes)?;
    Ok(1.0 - ced_sorted(&s, t))
}

/// Composite Simpson integral of samples `ys` spaced `h` apart. One interval: trapezoid; three:
/// Simpson's 3/8; other odd counts: 1/3 rule on all but the last three intervals, 3/8 on those.
fn simpson(ys: &[f64], h: f64) -> f64 {
    let n = ys.len().saturating_sub(1);
    let one_third = |y: &[f64]| -> f64 {
        // y has an even number of intervals.
        let m = y.len() - 1;
        let inner: f64 = (1..m)
            .map(|i| if i % 2 == 1 { 4.0 * y[i] } else { 2.0 * y[i] })
            .sum();
        h / 3.0 * (y[0] + inner + y[m])
    };
    let three_eighths =
        |y: &[f64]| -> f64 { 3.0 * h / 8.0 * (y[0] + 3.0 * y[1] + 3.0 * y[2] + y[3]) };
    match n {
        0 => 0.0,
        1 => h / 2.0 * (ys[0] + ys[1]),
        3 => three_eighths(ys),
        _ if n % 2 == 1 => one_third(&ys[..n - 2]) + three_eighths(&ys[n - 3..]),
        _ => one_third(ys),
    }
}

/// Standard AUC@t: ∫₀ᵗ CED(x) dx / t, Simpson's rule on a grid of step ≈ 1e-4 (SPEC §5.4).
pub fn auc(nmes: &[f64], t: f64) -> Result<f64> {
    check_t(t)?;
    let s = sorted_nmes(nmes)?;
    let n = ((t / AUC_STEP).round() as usize).max(1);
    let h = t / n as f64;
    let ys: Vec<f64> = (0..=n)
        .map(|i| ced_sorted(&s, if i == n { t } else { i as f64 * h }))
        .collect();
    Ok(simpson(&ys, h) / t)
}

/// The ACR/ASMNet authors' "AUC" (FLD-DD `Evaluation.py`, non-standard; SPEC §5.6).
///
/// Their arithmetic: thresholds `x = linspace(0, t, 20)`; `R_i` = running sum of CED(x_0..x_i);
/// `scipy.integrate.trapz(x, R)` — arguments swapped, so the thresholds are integrated over the
/// running sum: `Σ_{i=0}^{18} (R_{i+1} − R_i) · (x_i + x_{i+1}) / 2`. Their code fixes t = 0.1.
pub fn auc_acr_code(nmes: &[f64], t: f64) -> Result<f64> {
    check_t(t)?;
    let s = sorted_nmes(nmes)?;
    const N: usize = 20;
    // numpy linspace: i * (t / 19), last value exactly t.
    let step = t / (N - 1) as f64;
    let x: Vec<f64> = (0..N)
        .map(|i| if i == N - 1 { t } else { i as f64 * step })
        .collect();
    let mut running = 0.0;
    let r: Vec<f64> = x
        .iter()
        .map(|&th| {
            running += ced_sorted(&s, th);
            running
        })
        .collect();
    Ok((0..N - 1)
        .map(|i| (r[i + 1] - r[i]) * (x[i] + x[i + 1]) / 2.0)
        .sum())
}

/// `n` CED curve points `(x, CED(x))` at x = linspace(0, t, n).
pub fn ced(nmes: &[f64], t: f64, n: usize) -> Result<Vec<(f64, f64)>> {
    check_t(t)?;
    if n < 2 {
        return Err(Error::invalid(
            "CED points",
            format!("{n} (need at least 2)"),
        ));
    }
    let s = sorted_nmes(nmes)?;
    Ok((0..n)
        .map(|i| {
            let x = if i == n - 1 {
                t
            } else {
                t * i as f64 / (n - 1) as f64
            };
            (x, ced_sorted(&s, x))
        })
        .collect())
}

/// The exact CED step curve on [0, t] (for plotting).
fn ced_steps(sorted: &[f64], t: f64) -> Vec<(f64, f64)> {
    let mut pts = vec![(0.0, ced_sorted(sorted, 0.0))];
    for &v in sorted.iter().filter(|&&v| v > 0.0 && v <= t) {
        let before = pts.last().map_or(0.0, |p| p.1);
        pts.push((v, before));
        pts.push((v, ced_sorted(sorted, v)));
    }
    let last = ced_sorted(sorted, t);
    pts.push((t, last));
    pts
}

/// The headline numbers of one evaluation (fractions, not %).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    /// Mean NME.
    pub mean: f64,
    /// Median NME.
    pub median: f64,
    /// Failure rate at 0.08.
    pub fr_008: f64,
    /// Failure rate at 0.10.
    pub fr_010: f64,
    /// Standard AUC at `t`.
    pub auc_at_t: f64,
    /// The AUC threshold.
    pub t: f64,
    /// Number of images.
    pub n: usize,
}

impl Summary {
    /// Summarise per-image NMEs with the standard AUC at `t`.
    pub fn from_nmes(nmes: &[f64], t: f64) -> Result<Summary> {
        let s = sorted_nmes(nmes)?;
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2.0
        };
        Ok(Summary {
            mean: s.iter().sum::<f64>() / n as f64,
            median,
            fr_008: 1.0 - ced_sorted(&s, 0.08),
            fr_010: 1.0 - ced_sorted(&s, 0.10),
            auc_at_t: auc(&s, t)?,
            t,
            n,
        })
    }
}

/// Plot CED curves (x = NME in %, up to `t`) with a legend giving each curve's AUC@t; writes a
/// PNG and an SVG, each atomically. `curves` are `(label, per-image NMEs)`.
pub fn plot_ced<S: AsRef<str>, V: AsRef<[f64]>>(
    curves: &[(S, V)],
    t: f64,
    png_path: impl AsRef<Path>,
    svg_path: impl AsRef<Path>,
) -> Result<()> {
    use plotters::prelude::*;
    check_t(t)?;
    if curves.is_empty() {
        return Err(Error::invalid("CED plot", "no curves"));
    }
    crate::plotting::ensure_font()?;
    let mut series = Vec::with_capacity(curves.len());
    for (label, nmes) in curves {
        let s = sorted_nmes(nmes.as_ref())
            .map_err(|e| Error::invalid("CED plot", format!("curve `{}`: {e}", label.as_ref())))?;
        let a = auc(&s, t)?;
        let pts: Vec<(f64, f64)> = ced_steps(&s, t)
            .into_iter()
            .map(|(x, y)| (x * 100.0, y))
            .collect();
        series.push((format!("{} (AUC@{} = {:.4})", label.as_ref(), t, a), pts));
    }
    let (w, h) = (800u32, 600u32);
    let (png_path, svg_path) = (png_path.as_ref(), svg_path.as_ref());

    let mut buf = vec![0u8; (w * h * 3) as usize];
    draw_ced(
        BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area(),
        &series,
        t,
    )
    .map_err(|e| crate::plotting::draw_err(png_path, e))?;
    write_atomic(png_path, &crate::plotting::png_bytes(buf, w, h)?)?;

    let mut svg = String::new();
    draw_ced(
        SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area(),
        &series,
        t,
    )
    .map_err(|e| crate::plotting::draw_err(svg_path, e))?;
    write_atomic(svg_path, svg.as_bytes())
}

fn draw_ced<DB: plotters::prelude::DrawingBackend>(
    root: plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    series: &[(String, Vec<(f64, f64)>)],
    t: f64,
) -> std::result::Result<(), String> {
    use plotters::prelude::*;
    let s = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(s)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Cumulative error distribution", ("sans-serif", 24))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(55)
        .build_cartesian_2d(0.0..t * 100.0, 0.0..1.0)
        .map_err(s)?;
    chart
        .configure_mesh()
        .x_desc("NME (%)")
        .y_desc("Fraction of images")
        .label_style(("sans-serif", 14))
        .draw()
        .map_err(s)?;
    for (i, (label, pts)) in series.iter().enumerate() {
        let colour = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(pts.iter().copied(), colour.stroke_width(2)))
            .map_err(s)?
            .label(label.as_str())
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.9))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .draw()
        .map_err(s)?;
    root.present().map_err(s)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::SchemeId;
    use proptest::prelude::*;

    /// A shape of `scheme` with point i at (i², 0): distances are differences of squares.
    fn squares(scheme: &Scheme) -> Vec<Point> {
        (0..scheme.n_points())
            .map(|i| [(i * i) as f32, 0.0])
            .collect()
    }

    #[test]
    fn constant_offset_gives_hand_nme() {
        // Outer eye corners 36, 45 at distance 100; every point off by (3, 4) → 5 / 100 = 0.05.
        let sc = Scheme::get(SchemeId::Ibug68);
        let mut gt: Vec<Point> = (0..68)
            .map(|i| [10.0 + i as f32, 50.0 + (i % 7) as f32])
            .collect();
        gt[36] = [20.0, 40.0];
        gt[45] = [120.0, 40.0];
        let pred: Vec<Point> = gt.iter().map(|p| [p[0] + 3.0, p[1] + 4.0]).collect();
        let nme = nme_per_image(&pred, &gt, &sc, Normalizer::Ocular).expect("nme");
        assert!((nme - 0.05).abs() < 1e-9, "{nme}");
        let e = per_point_errors(&pred, &gt, &sc, Normalizer::Ocular).expect("errors");
        assert!(e.iter().all(|v| (v - 0.05).abs() < 1e-9));
    }

    #[test]
    fn ocular_and_pupil_for_every_scheme() {
        // SPEC §5.2 indices, asserted where the SPEC lists them.
        let expect_idx = |id, o, p: Option<PupilDef>| {
            let sc = Scheme::get(id);
            assert_eq!(sc.ocular, o, "{id:?} ocular");
            if let Some(p) = p {
                assert_eq!(sc.pupil, p, "{id:?} pupil");
            }
        };
        expect_idx(
            SchemeId::Ibug68,
            (36, 45),
            Some(PupilDef::Means((36..42).collect(), (42..48).collect())),
        );
        expect_idx(SchemeId::Cofw29, (8, 9), Some(PupilDef::Points(16, 17)));
        expect_idx(SchemeId::Wflw98, (60, 72), Some(PupilDef::Points(96, 97)));
        // With point i at (i², 0):
        // ibug68 ocular 45² − 36² = 2025 − 1296 = 729; pupil: mean of i² over 36..41 = 8911/6,
        //   over 42..47 = 11899/6, difference 2988/6 = 498.
        // cofw29 ocular 9² − 8² = 17; pupil 17² − 16² = 33.
        // wflw98 ocular 72² − 60² = 5184 − 3600 = 1584; pupil 97² − 96² = 193.
        let hand = [
            (SchemeId::Ibug68, 729.0, 498.0),
            (SchemeId::Cofw29, 17.0, 33.0),
            (SchemeId::Wflw98, 1584.0, 193.0),
        ];
        for (id, o, p) in hand {
            let sc = Scheme::get(id);
            let gt = squares(&sc);
            assert!(
                (normalizing_distance(&gt, &sc, Normalizer::Ocular).expect("ocular") - o).abs()
                    < 1e-9,
                "{id:?}"
            );
            assert!(
                (normalizing_distance(&gt, &sc, Normalizer::Pupil).expect("pupil") - p).abs()
                    < 1e-9,
                "{id:?}"
            );
        }
        // Schemes not tabulated in the SPEC (aflw19, five): the distance follows the scheme's fields.
        for id in SchemeId::ALL {
            let sc = Scheme::get(id);
            let gt = squares(&sc);
            let sq = |i: usize| (i * i) as f64;
            let o = (sq(sc.ocular.1) - sq(sc.ocular.0)).abs();
            assert!(
                (normalizing_distance(&gt, &sc, Normalizer::Ocular).expect("ocular") - o).abs()
                    < 1e-9,
                "{id:?}"
            );
            if let PupilDef::Points(a, b) = sc.pupil {
                let p = (sq(b) - sq(a)).abs();
                assert!(
                    (normalizing_distance(&gt, &sc, Normalizer::Pupil).expect("pupil") - p).abs()
                        < 1e-9,
                    "{id:?}"
                );
            }
        }
    }

    #[test]
    fn box_normaliser_and_errors() {
        // Five points spanning x 10..40, y 0..120: sqrt(30 · 120) = sqrt(3600) = 60.
        let sc = Scheme::get(SchemeId::Five);
        let gt: Vec<Point> = vec![
            [10.0, 0.0],
            [40.0, 10.0],
            [25.0, 60.0],
            [15.0, 120.0],
            [35.0, 100.0],
        ];
        assert!(
            (normalizing_distance(&gt, &sc, Normalizer::Box).expect("box") - 60.0).abs() < 1e-9
        );
        // Coinciding eye points → zero ocular distance → error, not inf.
        let mut same = gt.clone();
        same[1] = same[0];
        assert!(normalizing_distance(&same, &sc, Normalizer::Ocular).is_err());
        assert!(nme_per_image(&gt[..4], &gt, &sc, Normalizer::Box).is_err());
        // A non-finite prediction is an error (a non-finite truth is an unlabelled point).
        let mut nan = gt.clone();
        nan[2] = [f32::NAN, 0.0];
        assert!(nme_per_image(&nan, &gt, &sc, Normalizer::Box).is_err());
    }

    #[test]
    fn nme_skips_unlabelled_points_and_reports_unscorable_faces() {
        // AFLW-19-like check on the 5-point scheme: eyes (0, 1) 100 apart.
        let sc = Scheme::get(SchemeId::Five);
        let gt: Vec<Point> = vec![
            [0.0, 0.0],
            [100.0, 0.0],
            [50.0, 50.0],
            [f32::NAN, f32::NAN],
            [80.0, 90.0],
        ];
        // Errors 10, 0, 20, (unlabelled: 1000 off, ignored), 30 → mean of 0.1, 0, 0.2, 0.3 = 0.15.
        let pred: Vec<Point> = vec![
            [10.0, 0.0],
            [100.0, 0.0],
            [50.0, 70.0],
            [1000.0, 1000.0],
            [80.0, 120.0],
        ];
        let nme = nme_per_image(&pred, &gt, &sc, Normalizer::Ocular).expect("nme");
        assert!((nme - 0.15).abs() < 1e-12, "{nme}");
        let e = per_point_errors(&pred, &gt, &sc, Normalizer::Ocular).expect("errors");
        assert!(e[3].is_nan() && (e[2] - 0.2).abs() < 1e-12);
        // Box of the labelled points: x 0..100, y 0..90 → sqrt(9000).
        let d = normalizing_distance(&gt, &sc, Normalizer::Box).expect("box");
        assert!((d - 9000f64.sqrt()).abs() < 1e-9);
        // An unlabelled eye point: the ocular normaliser cannot be computed; the face is
        // reported as unscorable (with the reason), the box normaliser still works.
        let mut no_eye = gt.clone();
        no_eye[1] = [f32::NAN, f32::NAN];
        match score_face(&pred, &no_eye, &sc, Normalizer::Ocular).expect("valid input") {
            FaceScore::Unscorable(r) => assert!(r.contains("not both labelled"), "{r}"),
            other => panic!("expected unscorable, got {other:?}"),
        }
        assert!(matches!(
            score_face(&pred, &no_eye, &sc, Normalizer::Box).expect("valid"),
            FaceScore::Nme(_)
        ));
        // Per landmark: point 3 is labelled in no image → NaN; point 1 only in image 0.
        let pl = per_landmark_nme(
            &[pred.clone(), pred.clone()],
            &[gt.clone(), no_eye.clone()],
            &sc,
            Normalizer::Box,
        )
        .expect("per landmark");
        assert!(pl[3].is_nan());
        let groups = per_group_nme(&pl, &sc).expect("groups");
        assert!(groups.iter().all(|(_, v)| v.is_finite()), "{groups:?}");
    }

    #[test]
    fn per_landmark_and_group() {
        let sc = Scheme::get(SchemeId::Five);
        // Eyes 100 apart. Image 1: point 2 off by 10 (0.1), others exact; image 2: all off by 5 (0.05).
        let gt: Vec<Point> = vec![
            [0.0, 0.0],
            [100.0, 0.0],
            [50.0, 50.0],
            [20.0, 90.0],
            [80.0, 90.0],
        ];
        let mut p1 = gt.clone();
        p1[2][1] += 10.0;
        let p2: Vec<Point> = gt.iter().map(|p| [p[0] + 5.0, p[1]]).collect();
        let pl = per_landmark_nme(&[p1, p2], &[gt.clone(), gt], &sc, Normalizer::Ocular)
            .expect("per landmark");
        // Means: point 2 → (0.1 + 0.05)/2 = 0.075; others 0.025.
        let want = [0.025, 0.025, 0.075, 0.025, 0.025];
        assert!(
            pl.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-12),
            "{pl:?}"
        );
        let groups = per_group_nme(&pl, &sc).expect("groups");
        assert_eq!(groups.len(), sc.groups.len());
        let nose = groups.iter().find(|g| g.0 == "nose").expect("nose group");
        assert!((nose.1 - 0.075).abs() < 1e-12);
    }

    #[test]
    fn failure_rate_boundary() {
        // NME exactly t is not a failure: only 0.11 fails → 1/4.
        assert_eq!(
            failure_rate(&[0.1, 0.05, 0.11, 0.0], 0.1).expect("fr"),
            0.25
        );
        assert_eq!(failure_rate(&[0.08], 0.08).expect("fr"), 0.0);
        assert!(failure_rate(&[], 0.1).is_err());
        assert!(failure_rate(&[f64::NAN], 0.1).is_err());
        assert_eq!(failure_rate(&[f64::INFINITY, 0.0], 0.1).expect("fr"), 0.5);
    }

    #[test]
    fn simpson_exact_on_cubics_for_even_and_odd_interval_counts() {
        // ∫₀¹ x³ dx = 1/4; Simpson's 1/3 and 3/8 rules are exact for cubics, trapezoid is not.
        for n in [2usize, 3, 4, 5, 6, 7, 9, 1000, 1001] {
            let h = 1.0 / n as f64;
            let ys: Vec<f64> = (0..=n).map(|i| (i as f64 * h).powi(3)).collect();
            assert!(
                (simpson(&ys, h) - 0.25).abs() < 1e-12,
                "n = {n}: {}",
                simpson(&ys, h)
            );
        }
        // One interval: trapezoid (0 + 1)/2 = 0.5.
        assert_eq!(simpson(&[0.0, 1.0], 1.0), 0.5);
    }

    #[test]
    fn auc_extremes() {
        assert!((auc(&[0.0, 0.0, 0.0], 0.1).expect("auc") - 1.0).abs() < 1e-12);
        assert!((auc(&[0.2, 0.15], 0.1).expect("auc")).abs() < 1e-12);
        assert!((auc(&[0.0], 0.0005).expect("odd grid: 5 intervals") - 1.0).abs() < 1e-12);
        assert!(auc(&[0.0], 0.0).is_err());
    }

    /// Step CED (every image has NME a): exact AUC = (t − a)/t. With t = 0.1 the grid has
    /// n = 1000 intervals of h = 1e-4, Simpson weights h/3·(1, 4, 2, 4, …, 4, 1) and CED = 1 at
    /// grid points i ≥ k (a ∈ (x_{k−1}, x_k]). The weights from k to n sum to 3(n − k) + 1 for
    /// even k and 3(n − k) + 2 for odd k, so Simpson gives (n − k)h + h/3 (even k) or
    /// (n − k)h + 2h/3 (odd k): exact for a = x_k − h/3 (even k) or a = x_k − 2h/3 (odd k), and
    /// within 2h/3 of the exact value for every a.
    #[test]
    fn auc_of_step_ced_closed_form() {
        let (t, h) = (0.1, 1e-4);
        for (k, off) in [
            (500usize, 1.0 / 3.0),
            (301, 2.0 / 3.0),
            (2, 1.0 / 3.0),
            (999, 2.0 / 3.0),
        ] {
            let a = k as f64 * h - off * h;
            let got = auc(&[a, a, a], t).expect("auc");
            assert!(
                (got - (t - a) / t).abs() < 1e-6,
                "k = {k}: {got} vs {}",
                (t - a) / t
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn auc_of_step_within_grid_error(a in 0.0f64..0.1) {
            let t = 0.1;
            let got = auc(&[a], t).expect("auc");
            prop_assert!((got - (t - a) / t).abs() <= (2.0 / 3.0) * 1e-4 / t + 1e-9);
        }

        #[test]
        fn ced_is_monotone_and_ends_at_one_minus_fr(nmes in prop::collection::vec(0.0f64..0.2, 1..30)) {
            let c = ced(&nmes, 0.1, 11).expect("ced");
            prop_assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
            let fr = failure_rate(&nmes, 0.1).expect("fr");
            prop_assert!((c[10].1 - (1.0 - fr)).abs() < 1e-12);
        }
    }

    #[test]
    fn ced_points() {
        // NMEs 0.01, 0.03, 0.2 at x = 0, 0.025, 0.05, 0.075, 0.1 → 0, 1/3, 2/3, 2/3, 2/3.
        let c = ced(&[0.03, 0.01, 0.2], 0.1, 5).expect("ced");
        let want = [
            (0.0, 0.0),
            (0.025, 1.0 / 3.0),
            (0.05, 2.0 / 3.0),
            (0.075, 2.0 / 3.0),
            (0.1, 2.0 / 3.0),
        ];
        for (g, w) in c.iter().zip(want) {
            assert!(
                (g.0 - w.0).abs() < 1e-12 && (g.1 - w.1).abs() < 1e-12,
                "{c:?}"
            );
        }
    }

    #[test]
    fn summary_hand_case() {
        // NMEs 0.02, 0.04, 0.09, 0.12: mean 0.27/4 = 0.0675; median (0.04 + 0.09)/2 = 0.065;
        // FR@0.08 = 2/4 (0.09, 0.12); FR@0.10 = 1/4 (0.12).
        let s = Summary::from_nmes(&[0.09, 0.02, 0.12, 0.04], 0.1).expect("summary");
        assert!(
            (s.mean - 0.0675).abs() < 1e-12 && (s.median - 0.065).abs() < 1e-12,
            "{s:?}"
        );
        assert_eq!((s.fr_008, s.fr_010, s.n), (0.5, 0.25, 4));
        // AUC: CED steps to 1/4 at 0.02, 2/4 at 0.04, 3/4 at 0.09 → exact ∫ = 0.25·0.02 + 0.5·0.05
        // + 0.75·0.01 = 0.0375 → /0.1 = 0.375; Simpson is within (2h/3)/t = 6.7e-4 of it (the
        // step bound above, jumps summing to ≤ 1).
        assert!((s.auc_at_t - 0.375).abs() < 7e-4, "{}", s.auc_at_t);
    }

    #[test]
    fn acr_code_auc_matches_python_reference() {
        // All-zero NMEs by hand: CED = 1 at all 20 thresholds, R_{i+1} − R_i = 1, so the value is
        // Σ_{i=0}^{18} (x_i + x_{i+1})/2 = (0.1/19)·Σ_{i=0}^{18}(i + 0.5) = (0.1/19)·180.5 = 0.95.
        assert!((auc_acr_code(&[0.0, 0.0], 0.1).expect("acr auc") - 0.95).abs() < 1e-12);
        // Cases computed with the authors' arithmetic in tests/fixtures/metrics/acr_auc.py.
        let text = include_str!("../tests/fixtures/metrics/acr_auc.json");
        let v: serde_json::Value = serde_json::from_str(text).expect("fixture JSON");
        let cases = v["cases"].as_array().expect("cases");
        assert!(cases.len() >= 3);
        for c in cases {
            let nmes: Vec<f64> = c["nmes"]
                .as_array()
                .expect("nmes")
                .iter()
                .map(|x| x.as_f64().expect("f64"))
                .collect();
            let t = c["t"].as_f64().expect("t");
            let want = c["auc_acr"].as_f64().expect("auc_acr");
            let got = auc_acr_code(&nmes, t).expect("acr auc");
            assert!((got - want).abs() < 1e-12, "{nmes:?}: {got} vs {want}");
        }
    }

    #[test]
    fn plot_ced_writes_png_and_svg() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (png, svg) = (dir.path().join("ced.png"), dir.path().join("ced.svg"));
        let a = vec![0.02, 0.03, 0.05, 0.12];
        let b = [0.04, 0.06, 0.07];
        plot_ced(
            &[("baseline", a.as_slice()), ("ACR", &b[..])],
            0.1,
            &png,
            &svg,
        )
        .expect("plot");
        let img = image::open(&png).expect("valid PNG");
        assert_eq!((img.width(), img.height()), (800, 600));
        if let Ok(out) = std::env::var("FACEALIGN_PLOT_DIR") {
            std::fs::copy(&png, Path::new(&out).join("ced.png")).expect("copy");
        }
        let text = std::fs::read_to_string(&svg).expect("svg");
        assert!(text.starts_with("<svg") && text.contains("baseline") && text.contains("NME (%)"));
        assert!(plot_ced::<&str, Vec<f64>>(&[], 0.1, &png, &svg).is_err());
    }
}
