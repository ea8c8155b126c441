//! Landmark schemes: names, horizontal-flip permutation, normaliser indices and semantic groups.
//!
//! Indices are 0-based (SPEC §5.2, §6.1, §6.4). The flip permutation `flip[i]` is the index of the
//! landmark that point `i` becomes after a horizontal mirror; it is an involution.
use serde::{Deserialize, Serialize};

use crate::coords::Point;

/// The landmark layouts facealign knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SchemeId {
    /// iBUG 68 points (300W, 300VW, menpo, dlib, InfAnFace).
    Ibug68,
    /// COFW 29 points.
    Cofw29,
    /// WFLW 98 points.
    Wflw98,
    /// AFLW 19 points.
    Aflw19,
    /// MTFL 5 points: left eye, right eye, nose, left mouth corner, right mouth corner.
    Five,
}

impl SchemeId {
    /// All schemes.
    pub const ALL: [SchemeId; 5] = [
        SchemeId::Ibug68,
        SchemeId::Cofw29,
        SchemeId::Wflw98,
        SchemeId::Aflw19,
        SchemeId::Five,
    ];

    /// The scheme with `n` points, if exactly one has that many.
    pub fn from_n_points(n: usize) -> Option<SchemeId> {
        SchemeId::ALL.into_iter().find(|s| s.n_points() == n)
    }

    /// Number of landmarks.
    pub fn n_points(self) -> usize {
        match self {
            SchemeId::Ibug68 => 68,
            SchemeId::Cofw29 => 29,
            SchemeId::Wflw98 => 98,
            SchemeId::Aflw19 => 19,
            SchemeId::Five => 5,
        }
    }

    /// Short name (`ibug68`, ...), the serde name too.
    pub fn name(self) -> &'static str {
        match self {
            SchemeId::Ibug68 => "ibug68",
            SchemeId::Cofw29 => "cofw29",
            SchemeId::Wflw98 => "wflw98",
            SchemeId::Aflw19 => "aflw19",
            SchemeId::Five => "five",
        }
    }

    /// Parse a scheme name as written by [`SchemeId::name`].
    pub fn parse(s: &str) -> Option<SchemeId> {
        SchemeId::ALL.into_iter().find(|id| id.name() == s)
    }
}

/// How the inter-pupil distance is measured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PupilDef {
    /// Two landmarks are the pupils (or eye centres).
    Points(usize, usize),
    /// Pupils are the means of two landmark sets (300W has no pupil points: eye-contour means).
    Means(Vec<usize>, Vec<usize>),
}

/// A named group of landmarks (jaw, brows, ...), for drawing and per-group errors.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub name: &'static str,
    pub indices: Vec<usize>,
}

/// A complete landmark scheme.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scheme {
    pub id: SchemeId,
    /// One name per landmark.
    pub names: Vec<String>,
    /// Horizontal-flip permutation (an involution).
    pub flip: Vec<usize>,
    /// Inter-ocular normaliser: outer eye corners (for 5 points: the eye centres).
    pub ocular: (usize, usize),
    /// Inter-pupil normaliser.
    pub pupil: PupilDef,
    /// Semantic groups; every landmark is in exactly one group.
    pub groups: Vec<Group>,
}

impl Scheme {
    /// The scheme for `id`.
    pub fn get(id: SchemeId) -> Scheme {
        match id {
            SchemeId::Ibug68 => ibug68(),
            SchemeId::Five => five(),
            SchemeId::Cofw29 => crate::scheme_tables::cofw29(),
            SchemeId::Wflw98 => crate::scheme_tables::wflw98(),
            SchemeId::Aflw19 => crate::scheme_tables::aflw19(),
        }
    }

    /// Number of landmarks.
    pub fn n_points(&self) -> usize {
        self.names.len()
    }

    /// Short name.
    pub fn name(&self) -> &'static str {
        self.id.name()
    }

    /// Inter-ocular distance of a shape.
    pub fn ocular_distance(&self, pts: &[Point]) -> f32 {
        dist(pts[self.ocular.0], pts[self.ocular.1])
    }

    /// The two eye centres of a shape (the pupil points, or the means of the eye contours), in
    /// the scheme's pupil order: on an upright frontal face the first is the image-left eye.
    pub fn eye_centres(&self, pts: &[Point]) -> (Point, Point) {
        match &self.pupil {
            PupilDef::Points(a, b) => (pts[*a], pts[*b]),
            PupilDef::Means(a, b) => (mean_of(pts, a), mean_of(pts, b)),
        }
    }

    /// The in-plane rotation (roll) of a shape in radians: the angle of the line from the first
    /// to the second eye centre ([`Self::eye_centres`]); 0 for an upright face, positive when
    /// the face is turned clockwise on screen (y down).
    pub fn roll(&self, pts: &[Point]) -> f64 {
        let (a, b) = self.eye_centres(pts);
        f64::from(b[1] - a[1]).atan2(f64::from(b[0] - a[0]))
    }

    /// Inter-pupil distance of a shape.
    pub fn pupil_distance(&self, pts: &[Point]) -> f32 {
        match &self.pupil {
            PupilDef::Points(a, b) => dist(pts[*a], pts[*b]),
            PupilDef::Means(a, b) => dist(mean_of(pts, a), mean_of(pts, b)),
        }
    }

    /// The group index of every landmark.
    pub fn group_of(&self) -> Vec<usize> {
        let mut out = vec![usize::MAX; self.n_points()];
        for (g, group) in self.groups.iter().enumerate() {
            for &i in &group.indices {
                out[i] = g;
            }
        }
        out
    }
}

fn dist(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

fn mean_of(pts: &[Point], idx: &[usize]) -> Point {
    let n = idx.len() as f32;
    let (sx, sy) = idx
        .iter()
        .fold((0.0, 0.0), |(sx, sy), &i| (sx + pts[i][0], sy + pts[i][1]));
    [sx / n, sy / n]
}

/// Build a permutation from mirror pairs; unlisted points map to themselves.
pub(crate) fn perm_from_pairs(n: usize, pairs: &[(usize, usize)]) -> Vec<usize> {
    let mut p: Vec<usize> = (0..n).collect();
    for &(a, b) in pairs {
        p[a] = b;
        p[b] = a;
    }
    p
}

pub(crate) fn range_group(name: &'static str, r: std::ops::Range<usize>) -> Group {
    Group {
        name,
        indices: r.collect(),
    }
}

fn ibug68() -> Scheme {
    let mut pairs: Vec<(usize, usize)> = (0..8).map(|i| (i, 16 - i)).collect();
    pairs.extend([(17, 26), (18, 25), (19, 24), (20, 23), (21, 22)]);
    pairs.extend([(31, 35), (32, 34)]);
    pairs.extend([(36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46)]);
    pairs.extend([(48, 54), (49, 53), (50, 52), (55, 59), (56, 58)]);
    pairs.extend([(60, 64), (61, 63), (65, 67)]);
    let groups = vec![
        range_group("jaw", 0..17),
        range_group("right_brow", 17..22),
        range_group("left_brow", 22..27),
        range_group("nose", 27..36),
        range_group("right_eye", 36..42),
        range_group("left_eye", 42..48),
        range_group("outer_lip", 48..60),
        range_group("inner_lip", 60..68),
    ];
    let mut names = Vec::with_capacity(68);
    for g in &groups {
        for (k, _) in g.indices.iter().enumerate() {
            names.push(format!("{}_{k}", g.name));
        }
    }
    Scheme {
        id: SchemeId::Ibug68,
        names,
        flip: perm_from_pairs(68, &pairs),
        ocular: (36, 45),
        pupil: PupilDef::Means((36..42).collect(), (42..48).collect()),
        groups,
    }
}

fn five() -> Scheme {
    Scheme {
        id: SchemeId::Five,
        names: ["left_eye", "right_eye", "nose", "left_mouth", "right_mouth"]
            .map(String::from)
            .to_vec(),
        flip: vec![1, 0, 2, 4, 3],
        ocular: (0, 1),
        pupil: PupilDef::Points(0, 1),
        groups: vec![
            range_group("eyes", 0..2),
            range_group("nose", 2..3),
            range_group("mouth", 3..5),
        ],
    }
}
