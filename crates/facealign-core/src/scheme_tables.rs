//! COFW-29, WFLW-98 and AFLW-19 landmark schemes.
//!
//! Sources (all indices 0-based here):
//! - Mirror pairs: HRNet-Facial-Landmark-Detection `lib/utils/transforms.py` `MATCHED_PARTS`
//!   (COFW and AFLW lists are 1-based there, WFLW 0-based), identical to the `swap` entries of
//!   mmpose `configs/_base_/datasets/{cofw,wflw,aflw}.py` and to STAR `conf/alignment.py`
//!   `flip_mapping` (COFW, WFLW).
//! - Groups: STAR `conf/alignment.py` `edge_info` (COFW, WFLW) and SPEC §6.4; AFLW-19 and the COFW
//!   per-point names were checked against the real faces in the mmpose test fixtures
//!   (`tests/data/{cofw,aflw}`), since neither dataset ships names.
//! - Normalisers: SPEC §5.2 (COFW ocular 8, 9 / pupil 16, 17; WFLW ocular 60, 72 / pupil 96, 97).
//!   AFLW-19: HRNet (`lib/core/evaluation.py`) and mmpose normalise AFLW by the face-box size, not by
//!   an eye distance; for the ocular / pupil normalisers we use the outer eye corners 6, 11 and the
//!   eye centres 7, 10 (AFLW has no pupil points; its eye-centre points play that role).
//!
//! Side names follow the iBUG-68 convention of this crate: `right_*` is the subject's right, which
//! is the image-left side of a frontal face (STAR calls COFW 0, 4, 2, 5 "RightEyebrow").
use crate::scheme::{perm_from_pairs, range_group, Group, PupilDef, Scheme, SchemeId};

/// Names from a list of `(group, [point names])`, in index order.
fn named_groups(parts: &[(&'static str, &[(usize, &str)])], n: usize) -> (Vec<String>, Vec<Group>) {
    let mut names = vec![String::new(); n];
    let mut groups = Vec::with_capacity(parts.len());
    for (group, points) in parts {
        let mut indices = Vec::with_capacity(points.len());
        for &(i, name) in points.iter() {
            names[i] = name.to_string();
            indices.push(i);
        }
        groups.push(Group {
            name: group,
            indices,
        });
    }
    (names, groups)
}

/// A scheme from its table: `parts` names every point by group, `pairs` are its mirror pairs.
fn named_scheme(
    id: SchemeId,
    pairs: &[(usize, usize)],
    parts: &[(&'static str, &[(usize, &str)])],
    ocular: (usize, usize),
    pupil: PupilDef,
) -> Scheme {
    let n = id.n_points();
    let (names, groups) = named_groups(parts, n);
    Scheme {
        id,
        names,
        flip: perm_from_pairs(n, pairs),
        ocular,
        pupil,
        groups,
    }
}

/// Names `group_k` for range groups, as iBUG-68 does.
fn names_from_groups(groups: &[Group], n: usize) -> Vec<String> {
    let mut names = vec![String::new(); n];
    for g in groups {
        for (k, &i) in g.indices.iter().enumerate() {
            names[i] = format!("{}_{k}", g.name);
        }
    }
    names
}

/// COFW-29: every point named, by group.
#[rustfmt::skip]
const COFW29_PARTS: &[(&str, &[(usize, &str)])] = &[
    ("right_brow", &[(0, "right_brow_outer"), (2, "right_brow_inner"), (4, "right_brow_top"), (5, "right_brow_bottom")]),
    ("left_brow", &[(1, "left_brow_outer"), (3, "left_brow_inner"), (6, "left_brow_top"), (7, "left_brow_bottom")]),
    ("right_eye", &[(8, "right_eye_outer"), (10, "right_eye_inner"), (12, "right_eye_top"), (13, "right_eye_bottom")]),
    ("left_eye", &[(9, "left_eye_outer"), (11, "left_eye_inner"), (14, "left_eye_top"), (15, "left_eye_bottom")]),
    ("pupils", &[(16, "right_pupil"), (17, "left_pupil")]),
    ("nose", &[(18, "nose_right_wing"), (19, "nose_left_wing"), (20, "nose_tip"), (21, "nose_bottom")]),
    ("mouth", &[(22, "mouth_right_corner"), (23, "mouth_left_corner"), (24, "upper_lip_top"), (25, "upper_lip_bottom"), (26, "lower_lip_top"), (27, "lower_lip_bottom")]),
    ("chin", &[(28, "chin")]),
];

pub(crate) fn cofw29() -> Scheme {
    // HRNet MATCHED_PARTS["COFW"] (1-based): [1,2] [5,7] [3,4] [6,8] [9,10] [11,12] [13,15] [17,18]
    // [14,16] [19,20] [23,24]; self-symmetric: 21, 22, 25..29 (1-based).
    let pairs = [
        (0, 1),
        (4, 6),
        (2, 3),
        (5, 7),
        (8, 9),
        (10, 11),
        (12, 14),
        (16, 17),
        (13, 15),
        (18, 19),
        (22, 23),
    ];
    named_scheme(
        SchemeId::Cofw29,
        &pairs,
        COFW29_PARTS,
        (8, 9),
        PupilDef::Points(16, 17),
    )
}

pub(crate) fn wflw98() -> Scheme {
    // HRNet MATCHED_PARTS["WFLW"] / STAR flip_mapping (0-based).
    let mut pairs: Vec<(usize, usize)> = (0..16).map(|i| (i, 32 - i)).collect();
    pairs.extend([
        (33, 46),
        (34, 45),
        (35, 44),
        (36, 43),
        (37, 42),
        (38, 50),
        (39, 49),
        (40, 48),
        (41, 47),
    ]);
    pairs.extend([
        (60, 72),
        (61, 71),
        (62, 70),
        (63, 69),
        (64, 68),
        (65, 75),
        (66, 74),
        (67, 73),
    ]);
    pairs.extend([(55, 59), (56, 58)]);
    pairs.extend([(76, 82), (77, 81), (78, 80), (87, 83), (86, 84)]);
    pairs.extend([(88, 92), (89, 91), (95, 93), (96, 97)]);
    // SPEC §6.4 / STAR edge_info: contour 0-32, brows 33-41 / 42-50, nose 51-59, eyes 60-67 / 68-75,
    // outer lip 76-87, inner lip 88-95, pupils 96, 97.
    let groups = vec![
        range_group("contour", 0..33),
        range_group("right_brow", 33..42),
        range_group("left_brow", 42..51),
        range_group("nose", 51..60),
        range_group("right_eye", 60..68),
        range_group("left_eye", 68..76),
        range_group("outer_lip", 76..88),
        range_group("inner_lip", 88..96),
        range_group("pupils", 96..98),
    ];
    let mut names = names_from_groups(&groups, 98);
    names[96] = "right_pupil".into();
    names[97] = "left_pupil".into();
    Scheme {
        id: SchemeId::Wflw98,
        names,
        flip: perm_from_pairs(98, &pairs),
        ocular: (60, 72),
        pupil: PupilDef::Points(96, 97),
        groups,
    }
}

/// AFLW-19: every point named, by group.
#[rustfmt::skip]
const AFLW19_PARTS: &[(&str, &[(usize, &str)])] = &[
    ("right_brow", &[(0, "right_brow_outer"), (1, "right_brow_center"), (2, "right_brow_inner")]),
    ("left_brow", &[(3, "left_brow_inner"), (4, "left_brow_center"), (5, "left_brow_outer")]),
    ("right_eye", &[(6, "right_eye_outer"), (7, "right_eye_center"), (8, "right_eye_inner")]),
    ("left_eye", &[(9, "left_eye_inner"), (10, "left_eye_center"), (11, "left_eye_outer")]),
    ("nose", &[(12, "nose_right_wing"), (13, "nose_tip"), (14, "nose_left_wing")]),
    ("mouth", &[(15, "mouth_right_corner"), (16, "mouth_center"), (17, "mouth_left_corner")]),
    ("chin", &[(18, "chin")]),
];

pub(crate) fn aflw19() -> Scheme {
    // HRNet MATCHED_PARTS["AFLW"] (1-based): [1,6] [2,5] [3,4] [7,12] [8,11] [9,10] [13,15] [16,18];
    // self-symmetric: 14 (nose tip), 17 (mouth centre), 19 (chin) (1-based).
    let pairs = [
        (0, 5),
        (1, 4),
        (2, 3),
        (6, 11),
        (7, 10),
        (8, 9),
        (12, 14),
        (15, 17),
    ];
    named_scheme(
        SchemeId::Aflw19,
        &pairs,
        AFLW19_PARTS,
        (6, 11),
        PupilDef::Points(7, 10),
    )
}

#[cfg(test)]
mod tests {
    use crate::sample::Point;
    use crate::scheme::{Scheme, SchemeId};

    use crate::test_support::mmpose_faces;

    fn mirror(scheme: &Scheme, pts: &[Point], width: f32) -> Vec<Point> {
        // Mirror x -> W-1-x (pixel centres at integers), then point i takes the mirrored point
        // flip[i], so that index i keeps its meaning (e.g. "right eye outer corner").
        (0..pts.len())
            .map(|i| [width - 1.0 - pts[scheme.flip[i]][0], pts[scheme.flip[i]][1]])
            .collect()
    }

    /// Signed side of every point w.r.t. the face midline x = a*y + b, fitted (least squares)
    /// through the midpoints of the mirror pairs. Those midpoints stay between the two sides even
    /// on a turned face, where the nose and chin drift towards one side.
    fn sides(scheme: &Scheme, pts: &[Point]) -> Vec<f32> {
        let mid: Vec<Point> = (0..pts.len())
            .filter(|&i| scheme.flip[i] != i)
            .map(|i| {
                [
                    (pts[i][0] + pts[scheme.flip[i]][0]) / 2.0,
                    (pts[i][1] + pts[scheme.flip[i]][1]) / 2.0,
                ]
            })
            .collect();
        let n = mid.len() as f32;
        let my = mid.iter().map(|p| p[1]).sum::<f32>() / n;
        let mx = mid.iter().map(|p| p[0]).sum::<f32>() / n;
        let syy: f32 = mid.iter().map(|p| (p[1] - my).powi(2)).sum();
        let sxy: f32 = mid.iter().map(|p| (p[1] - my) * (p[0] - mx)).sum();
        let a = if syy > 0.0 { sxy / syy } else { 0.0 };
        pts.iter().map(|p| p[0] - (mx + a * (p[1] - my))).collect()
    }

    /// Mirroring a real face keeps left/right semantics: every paired point stays on its side of
    /// the midline, paired points are on opposite sides, and the ocular pair is swapped onto itself.
    fn check_mirror_semantics(id: SchemeId, faces: &[(f32, Vec<Point>)]) {
        let s = Scheme::get(id);
        assert!(!faces.is_empty());
        for (w, pts) in faces {
            assert_eq!(pts.len(), s.n_points());
            let m = mirror(&s, pts, *w);
            let (before, after) = (sides(&s, pts), sides(&s, &m));
            // Points within 8 % of the face width of the midline (nostrils, inner lips on a turned
            // face) have no reliable side; at least 60 % of the paired points must be checked.
            let xs = pts.iter().map(|p| p[0]);
            let width = xs.clone().fold(f32::MIN, f32::max) - xs.fold(f32::MAX, f32::min);
            let tau = 0.08 * width;
            let (mut checked, mut paired) = (0, 0);
            for i in 0..pts.len() {
                let j = s.flip[i];
                if j == i {
                    continue;
                }
                paired += 1;
                if before[i].abs() > tau && before[j].abs() > tau {
                    checked += 1;
                    assert!(
                        before[i] * before[j] < 0.0,
                        "{}: points {i} and {j} are not on opposite sides",
                        s.name()
                    );
                    assert!(
                        before[i] * after[i] > 0.0,
                        "{}: point {i} changes side after mirroring",
                        s.name()
                    );
                }
            }
            assert!(
                checked * 10 >= paired * 6,
                "{}: only {checked} of {paired} paired points checked",
                s.name()
            );
            let (l, r) = s.ocular;
            assert_eq!((s.flip[l], s.flip[r]), (r, l));
            // The ocular corners keep their image side: the right (image-left) one stays left.
            assert!(
                m[l][0] < m[r][0] && pts[l][0] < pts[r][0],
                "{}: ocular order",
                s.name()
            );
        }
    }

    #[test]
    fn every_flip_is_an_involution() {
        for id in SchemeId::ALL {
            let s = Scheme::get(id);
            assert_eq!(s.flip.len(), s.n_points());
            for (i, &j) in s.flip.iter().enumerate() {
                assert!(j < s.n_points());
                assert_eq!(s.flip[j], i, "{}: flip not an involution at {i}", s.name());
            }
        }
    }

    #[test]
    fn every_landmark_in_exactly_one_group_and_named() {
        for id in SchemeId::ALL {
            let s = Scheme::get(id);
            let mut count = vec![0; s.n_points()];
            for g in &s.groups {
                for &i in &g.indices {
                    count[i] += 1;
                }
            }
            assert!(
                count.iter().all(|&c| c == 1),
                "{}: group counts {count:?}",
                s.name()
            );
            assert_eq!(s.names.len(), s.n_points());
            let mut names = s.names.clone();
            names.sort();
            names.dedup();
            assert_eq!(
                names.len(),
                s.n_points(),
                "{}: names must be unique and non-empty",
                s.name()
            );
            assert!(s.names.iter().all(|n| !n.is_empty()));
        }
    }

    #[test]
    fn flips_map_groups_onto_mirror_groups() {
        // A right_* group must map onto the matching left_* group; others onto themselves.
        for id in SchemeId::ALL {
            let s = Scheme::get(id);
            let g = s.group_of();
            for i in 0..s.n_points() {
                let (a, b) = (s.groups[g[i]].name, s.groups[g[s.flip[i]]].name);
                let expect = a
                    .replace("right_", "@")
                    .replace("left_", "right_")
                    .replace('@', "left_");
                assert!(
                    b == expect || b == a,
                    "{}: {i} in {a} flips to a point in {b}",
                    s.name()
                );
                if a.starts_with("right_") || a.starts_with("left_") {
                    assert_eq!(b, expect, "{}: {i}", s.name());
                }
            }
        }
    }

    #[test]
    fn normaliser_indices_follow_spec() {
        // SPEC §5.2.
        let c = Scheme::get(SchemeId::Cofw29);
        assert_eq!(
            (c.ocular, c.pupil.clone()),
            ((8, 9), crate::scheme::PupilDef::Points(16, 17))
        );
        let w = Scheme::get(SchemeId::Wflw98);
        assert_eq!(
            (w.ocular, w.pupil.clone()),
            ((60, 72), crate::scheme::PupilDef::Points(96, 97))
        );
        let a = Scheme::get(SchemeId::Aflw19);
        assert_eq!(
            (a.ocular, a.pupil.clone()),
            ((6, 11), crate::scheme::PupilDef::Points(7, 10))
        );
        assert_eq!(c.names[8], "right_eye_outer");
        assert_eq!(a.names[11], "left_eye_outer");
    }

    #[test]
    fn mirror_keeps_semantics_cofw() {
        check_mirror_semantics(SchemeId::Cofw29, &mmpose_faces("cofw/test_cofw.json"));
    }

    #[test]
    fn mirror_keeps_semantics_wflw() {
        check_mirror_semantics(SchemeId::Wflw98, &mmpose_faces("wflw/test_wflw.json"));
    }

    #[test]
    fn mirror_keeps_semantics_aflw() {
        check_mirror_semantics(SchemeId::Aflw19, &mmpose_faces("aflw/test_aflw.json"));
    }

    #[test]
    fn mirror_keeps_semantics_ibug68() {
        let mut faces = mmpose_faces("300w/test_300w.json");
        faces.extend(mmpose_faces("300vw/anno_300vw.json"));
        check_mirror_semantics(SchemeId::Ibug68, &faces);
    }

    #[test]
    fn mirror_of_a_symmetric_toy_face_is_itself() {
        // Five points of a perfectly symmetric face in a 101-px wide image (midline x = 50):
        // right eye (image-left) at 30, left eye at 70, nose at 50, mouth corners at 35 / 65.
        // x -> 100 - x maps 30 <-> 70 and 35 <-> 65; swapping the pairs gives back the input.
        let s = Scheme::get(SchemeId::Five);
        let pts = vec![
            [30.0, 40.0],
            [70.0, 40.0],
            [50.0, 60.0],
            [35.0, 80.0],
            [65.0, 80.0],
        ];
        assert_eq!(mirror(&s, &pts, 101.0), pts);
    }
}
