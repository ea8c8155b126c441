//! `mtfl:FILE`: MTFL list files (Zhang et al., "Facial Landmark Detection by Deep Multi-task
//! Learning", ECCV 2014).
//!
//! One face per line: `relative/path x1 x2 x3 x4 x5 y1 y2 y3 y4 y5` (left eye, right eye, nose,
//! left and right mouth corner; 0-based pixels, used as they are), paths relative to the list's
//! folder (Windows `\` separators accepted). The original `training.txt` / `testing.txt` add four
//! attribute columns `gender smile glasses pose` (1 = male / smiling / wearing glasses; pose 1..5 =
//! left profile, left, frontal, right, right profile); when present they become the boolean
//! attributes `male`, `female`, `smiling`, `glasses`, `pose_left_profile`, `pose_left`,
//! `pose_frontal`, `pose_right`, `pose_right_profile`, and a subset each (samples with `true`).
//! A point whose x and y are both `NaN` is unlabelled and kept as `[NaN, NaN]`; one NaN coordinate,
//! an infinity or a value beyond ±[`super::MAX_COORD`] px is an error naming the line and field.
//! Blank lines are skipped. Images are only checked to exist, never decoded, so 10,000 lines read
//! in well under a second.
use std::collections::BTreeMap;
use std::path::Path;

use super::pts::{check_image_exists, number_repeated_ids};
use crate::error::{Error, Result};
use crate::sample::{Dataset, ImageSource, Point, Sample};
use crate::scheme::{Scheme, SchemeId};

/// MTFL head-pose classes 1..=5, as attribute names.
pub const MTFL_POSES: [&str; 5] = [
    "pose_left_profile",
    "pose_left",
    "pose_frontal",
    "pose_right",
    "pose_right_profile",
];

/// Reader for the `mtfl` format.
pub struct MtflReader;

impl super::Reader for MtflReader {
    fn format(&self) -> &'static str {
        "mtfl"
    }

    fn read(&self, path: &Path) -> Result<Dataset> {
        if path.is_dir() {
            return Err(Error::Spec {
                spec: format!("mtfl:{}", path.display()),
                message: "expects a list file such as train.txt, not a folder".into(),
            });
        }
        let text = crate::fsio::read_text(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let parsed = parse_mtfl_list(&text, path, base)?;
        let mut samples = Vec::with_capacity(parsed.len());
        for (s, ln) in parsed {
            if let ImageSource::Path(image) = &s.image {
                check_image_exists(image, path, ln)?;
            }
            samples.push(s);
        }
        number_repeated_ids(&mut samples);
        let mut subsets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in samples.iter().enumerate() {
            for (name, &flag) in &s.attributes {
                if flag {
                    subsets.entry(name.clone()).or_default().push(i);
                }
            }
        }
        Ok(Dataset {
            format: "mtfl".into(),
            source: path.display().to_string(),
            scheme: Scheme::get(SchemeId::Five),
            samples,
            subsets,
        })
    }
}

/// Parse an MTFL list `text` (from `path`; images relative to `base`): each sample with its
/// 1-based line. Does not check that images exist, nor number repeated ids.
pub fn parse_mtfl_list(text: &str, path: &Path, base: &Path) -> Result<Vec<(Sample, usize)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push((parse_line(line, path, i + 1, base)?, i + 1));
    }
    Ok(out)
}

fn parse_line(line: &str, path: &Path, ln: usize, base: &Path) -> Result<Sample> {
    let at = || format!("line {ln}");
    let toks: Vec<&str> = line.split_whitespace().collect();
    if toks.len() != 11 && toks.len() != 15 {
        return Err(Error::parse(
            path,
            at(),
            format!(
                "expected `path x1..x5 y1..y5` and optionally `gender smile glasses pose` (11 or 15 fields), found {}",
                toks.len()
            ),
        ));
    }
    let mut v = [0.0f32; 10];
    for (k, slot) in v.iter_mut().enumerate() {
        let t = toks[k + 1];
        *slot = match t.parse::<f32>() {
            Ok(x) if super::beyond_max_coord(x) => {
                return Err(Error::parse(
                    path,
                    at(),
                    super::beyond_max_coord_message(&format!("field {}", k + 2), t),
                ))
            }
            Ok(x) if !x.is_infinite() => x,
            _ => {
                return Err(Error::parse(
                    path,
                    at(),
                    format!("field {} `{t}` is not a finite number", k + 2),
                ))
            }
        };
    }
    // `NaN` for both coordinates marks an unlabelled point; one NaN is an error.
    for k in 0..5 {
        if v[k].is_nan() != v[k + 5].is_nan() {
            let (nan, other) = if v[k].is_nan() {
                ("x", "y")
            } else {
                ("y", "x")
            };
            return Err(Error::parse(
                path,
                at(),
                format!(
                    "point {} (fields {} and {}): {nan} is NaN but {other} is not",
                    k + 1,
                    k + 2,
                    k + 7
                ),
            ));
        }
    }
    let landmarks: Vec<Point> = (0..5).map(|k| [v[k], v[k + 5]]).collect();
    let rel = toks[0].replace('\\', "/");
    let image = base.join(&rel);
    // `nan nan` marks an unlabelled point.
    let labelled: Vec<bool> = landmarks.iter().map(|p| !p[0].is_nan()).collect();
    let mut s = Sample::new(rel, ImageSource::Path(image), landmarks);
    s.set_labelled(labelled);
    if toks.len() == 15 {
        s.attributes = parse_attributes(&toks[11..], path, ln)?;
    }
    Ok(s)
}

/// `gender smile glasses pose` -> named booleans.
fn parse_attributes(toks: &[&str], path: &Path, ln: usize) -> Result<BTreeMap<String, bool>> {
    let field = |k: usize, name: &str, max: u8| -> Result<u8> {
        let t = toks[k];
        match t.parse::<u8>() {
            Ok(x) if (1..=max).contains(&x) => Ok(x),
            _ => Err(Error::parse(
                path,
                format!("line {ln}"),
                format!("{name} (field {}) `{t}` is not in 1..={max}", 12 + k),
            )),
        }
    };
    let (gender, smile, glasses, pose) = (
        field(0, "gender", 2)?,
        field(1, "smile", 2)?,
        field(2, "glasses", 2)?,
        field(3, "pose", 5)?,
    );
    let mut a = BTreeMap::new();
    a.insert("male".to_string(), gender == 1);
    a.insert("female".to_string(), gender == 2);
    a.insert("smiling".to_string(), smile == 1);
    a.insert("glasses".to_string(), glasses == 1);
    for (k, name) in MTFL_POSES.iter().enumerate() {
        a.insert(name.to_string(), usize::from(pose) == k + 1);
    }
    Ok(a)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Reader;
    use crate::test_support::shared;

    #[test]
    fn shared_mtfl_train_has_10000_faces_of_5_points() {
        let ds = MtflReader.read(&shared("data/mtfl/train.txt")).unwrap();
        assert_eq!(ds.samples.len(), 10_000);
        assert_eq!(ds.n_points(), 5);
        // Line 1: lfw_5590/Aaron_Eckhart_0001.jpg 34.32 47.28 40.4 34.0 45.04 34.8.. 36.24 46.0 50.8.. 52.08
        // -> left eye (34.32, 34.8), nose (40.4, 46.0), right mouth corner (45.04, 52.08).
        let s = &ds.samples[0];
        assert_eq!(s.id, "lfw_5590/Aaron_Eckhart_0001.jpg");
        assert!(
            (s.landmarks[0][0] - 34.32).abs() < 1e-4 && (s.landmarks[0][1] - 34.8).abs() < 1e-4
        );
        assert!((s.landmarks[2][0] - 40.4).abs() < 1e-4 && (s.landmarks[2][1] - 46.0).abs() < 1e-4);
        assert!(
            (s.landmarks[4][0] - 45.04).abs() < 1e-4 && (s.landmarks[4][1] - 52.08).abs() < 1e-4
        );
        assert!(
            ds.subsets.is_empty(),
            "the shared copy has no attribute columns"
        );
    }

    fn setup() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("lfw")).unwrap();
        std::fs::write(dir.path().join("lfw/a.jpg"), b"x").unwrap();
        dir
    }

    #[test]
    fn attributes_backslashes_and_blank_lines() {
        let dir = setup();
        let list = dir.path().join("training.txt");
        // MTFL original style: leading space, backslash, 4 attribute columns (female, smiling,
        // no glasses, frontal); then a blank line and the same image again without attributes.
        std::fs::write(
            &list,
            " lfw\\a.jpg 1 2 3 4 5 6 7 8 9 10 2 1 2 3\n\nlfw/a.jpg 1 2 3 4 5 6 7 8 9 10\n",
        )
        .unwrap();
        let ds = MtflReader.read(&list).unwrap();
        assert_eq!(ds.samples.len(), 2);
        // x1..x5 = 1..5, y1..y5 = 6..10 -> point 3 (nose) = (3, 8).
        assert_eq!(ds.samples[0].landmarks[2], [3.0, 8.0]);
        assert_eq!(ds.samples[0].id, "lfw/a.jpg#0");
        let a = &ds.samples[0].attributes;
        assert!(
            a["female"]
                && !a["male"]
                && a["smiling"]
                && !a["glasses"]
                && a["pose_frontal"]
                && !a["pose_left"]
        );
        assert_eq!(ds.subsets["pose_frontal"], [0]);
        assert!(!ds.subsets.contains_key("male"));
    }

    #[test]
    fn nan_pairs_are_unlabelled_points() {
        let dir = setup();
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "lfw/a.jpg 1 nan 3 4 5 6 NaN 8 9 10\n").unwrap();
        let ds = MtflReader.read(&list).unwrap();
        let p = ds.samples[0].landmarks[1];
        assert!(p[0].is_nan() && p[1].is_nan());
        assert_eq!(ds.samples[0].landmarks[2], [3.0, 8.0]);
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let dir = setup();
        let list = dir.path().join("bad.txt");
        let cases = [
            ("lfw/a.jpg 1 2 3 4 5 6 7 8 9\n", "line 1"),
            (
                "lfw/a.jpg 1 2 3 4 5 6 7 8 9 10\nlfw/a.jpg 1 2 3 x 5 6 7 8 9 10\n",
                "line 2",
            ),
            ("\nlfw/a.jpg 1 2 3 4 5 6 7 8 9 NaN\n", "line 2"),
            (
                "lfw/a.jpg 1 2 3 4 5 6 7 8 9 NaN\n",
                "point 5 (fields 6 and 11): y is NaN but x is not",
            ),
            ("lfw/a.jpg 1 2 3 4 5 6 7 8 9 inf\n", "field 11"),
            ("lfw/a.jpg 1 2 3 4 5 6 7 8 9 10 1 1 1 9\n", "pose"),
            (
                "lfw/a.jpg 1 2 3 4 5 6 7 8 9 -1e10\n",
                "field 11 `-1e10` is beyond",
            ),
            ("lfw/missing.jpg 1 2 3 4 5 6 7 8 9 10\n", "missing.jpg"),
        ];
        for (text, needle) in cases {
            std::fs::write(&list, text).unwrap();
            let e = MtflReader.read(&list).unwrap_err().to_string();
            assert!(e.contains("bad.txt") && e.contains(needle), "{text:?}: {e}");
        }
    }
}
