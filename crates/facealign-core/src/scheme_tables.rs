//! COFW-29, WFLW-98 and AFLW-19 tables (filled in by the schemes work).
use crate::scheme::{PupilDef, Scheme, SchemeId, range_group, perm_from_pairs};

pub(crate) fn cofw29() -> Scheme { placeholder(SchemeId::Cofw29, (8, 9), (16, 17)) }
pub(crate) fn wflw98() -> Scheme { placeholder(SchemeId::Wflw98, (60, 72), (96, 97)) }
pub(crate) fn aflw19() -> Scheme { placeholder(SchemeId::Aflw19, (6, 11), (7, 10)) }

fn placeholder(id: SchemeId, ocular: (usize, usize), pupil: (usize, usize)) -> Scheme {
    let n = id.n_points();
    Scheme {
        id,
        names: (0..n).map(|i| format!("p{i}")).collect(),
        flip: perm_from_pairs(n, &[]),
        ocular,
        pupil: PupilDef::Points(pupil.0, pupil.1),
        groups: vec![range_group("all", 0..n)],
    }
}
