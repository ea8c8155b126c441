//! `wflw:ANNOT.txt`: WFLW annotation lists (Wu et al., "Look at Boundary", CVPR 2018).
//!
//! One face per line, 207 whitespace-separated tokens (SPEC §6.4; PFLD-pytorch `SetPreparation.py`,
//! PIPNet `process_wflw`): 196 coordinates `x0 y0 .. x97 y97` (0-based pixels, used as they are),
//! the face box `x_min y_min x_max y_max`, six 0/1 flags `pose expression illumination makeup
//! occlusion blur`, and the image path relative to `WFLW_images/`.
//!
//! Image root: the nearest ancestor folder of the annotation file that contains `WFLW_images/`
//! (the published layout puts the lists under `WFLW_annotations/<list folder>/`), else the
//! annotation's own folder. Each flag becomes a `Sample::attributes` entry and a subset (`pose`,
//! `expression`, `illumination`, `makeup`, `occlusion`, `blur`), matching the official
//! `list_98pt_test_<attr>.txt` subset lists (SPEC §5.7). Faces sharing an image get ids `path#k`.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::pts::{check_image_exists, number_repeated_ids, parse_flag};
use crate::error::{Error, Result};
use crate::sample::{BoxXywh, Dataset, ImageSource, Point, Sample};
use crate::scheme::{Scheme, SchemeId};

/// The six WFLW attribute flags, in file order.
pub const WFLW_FLAGS: [&str; 6] = [
    "pose",
    "expression",
    "illumination",
    "makeup",
    "occlusion",
    "blur",
];

/// Tokens per annotation line: 196 coordinates, 4 box values, 6 flags, 1 path.
const TOKENS: usize = 207;

/// Reader for the `wflw` format.
pub struct WflwReader;

impl super::Reader for WflwReader {
    fn format(&self) -> &'static str {
        "wflw"
    }

    fn read(&self, path: &Path) -> Result<Dataset> {
        if path.is_dir() {
            return Err(Error::Spec {
                spec: format!("wflw:{}", path.display()),
                message:
                    "expects an annotation file such as list_98pt_rect_attr_test.txt, not a folder"
                        .into(),
            });
        }
        let text = crate::fsio::read_text(path)?;
        let root = image_root(path);
        let mut samples = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let ln = i + 1;
            if line.trim().is_empty() {
                continue;
            }
            samples.push(parse_line(line, path, ln, &root)?);
        }
        number_repeated_ids(&mut samples);
        let mut subsets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
        for (i, s) in samples.iter().enumerate() {
            for name in WFLW_FLAGS {
                if s.attributes.get(name) == Some(&true) {
                    subsets.entry(name.to_string()).or_default().push(i);
                }
            }
        }
        Ok(Dataset {
            format: "wflw".into(),
            source: path.display().to_string(),
            scheme: Scheme::get(SchemeId::Wflw98),
            samples,
            subsets,
        })
    }
}

/// `<nearest ancestor with WFLW_images/>/WFLW_images`, else the annotation's folder.
pub fn image_root(annotation: &Path) -> PathBuf {
    let dir = annotation.parent().unwrap_or(Path::new(""));
    dir.ancestors()
        .map(|a| a.join("WFLW_images"))
        .find(|p| p.is_dir())
        .unwrap_or_else(|| dir.to_path_buf())
}

fn parse_line(line: &str, path: &Path, ln: usize, root: &Path) -> Result<Sample> {
    let at = || format!("line {ln}");
    let toks: Vec<&str> = line.split_whitespace().collect();
    if toks.len() != TOKENS {
        return Err(Error::parse(
            path,
            at(),
            format!(
                "expected {TOKENS} tokens (196 coordinates, 4 box values, 6 flags, image path), found {}",
                toks.len()
            ),
        ));
    }
    let num = |k: usize| -> Result<f32> {
        let t = toks[k];
        match t.parse::<f32>() {
            Ok(v) if super::beyond_max_coord(v) => Err(Error::parse(
                path,
                at(),
                super::beyond_max_coord_message(&format!("token {}", k + 1), t),
            )),
            Ok(v) if v.is_finite() => Ok(v),
            _ => Err(Error::parse(
                path,
                at(),
                format!("token {} `{t}` is not a finite number", k + 1),
            )),
        }
    };
    let mut landmarks: Vec<Point> = Vec::with_capacity(98);
    for p in 0..98 {
        landmarks.push([num(2 * p)?, num(2 * p + 1)?]);
    }
    let (x0, y0, x1, y1) = (num(196)?, num(197)?, num(198)?, num(199)?);
    let mut attributes = BTreeMap::new();
    for (k, name) in WFLW_FLAGS.iter().enumerate() {
        let t = toks[200 + k];
        let flag = parse_flag(t).ok_or_else(|| {
            Error::parse(
                path,
                at(),
                format!("{name} flag (token {}) `{t}` is not 0 or 1", 201 + k),
            )
        })?;
        attributes.insert(name.to_string(), flag);
    }
    let rel = toks[206].replace('\\', "/");
    let image = root.join(&rel);
    check_image_exists(&image, path, ln)?;
    let mut s = Sample::new(rel, ImageSource::Path(image), landmarks);
    s.bbox = Some(BoxXywh {
        x: x0,
        y: y0,
        w: x1 - x0,
        h: y1 - y0,
    });
    s.attributes = attributes;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Reader;
    use crate::test_support::fixture;

    const ANNOT: &str =
        "wflw/WFLW_annotations/list_98pt_rect_attr_train_test/list_98pt_rect_attr_test.txt";

    #[test]
    fn reads_the_published_layout_fixture() {
        let ds = WflwReader.read(&fixture(ANNOT)).unwrap();
        assert_eq!(ds.samples.len(), 4);
        assert_eq!(ds.n_points(), 98);
        // Line 1 starts `440.696106 132.732559`, box `432 113 533 215`, flags `1 0 1 0 1 1`.
        let s = &ds.samples[0];
        assert_eq!(
            s.id,
            "36--Football/36_Football_americanfootball_ball_36_415.jpg"
        );
        assert!(
            (s.landmarks[0][0] - 440.696).abs() < 1e-3
                && (s.landmarks[0][1] - 132.733).abs() < 1e-3
        );
        // Box width 533 - 432 = 101, height 215 - 113 = 102.
        assert_eq!(
            s.bbox,
            Some(BoxXywh {
                x: 432.0,
                y: 113.0,
                w: 101.0,
                h: 102.0
            })
        );
        assert!(s.attributes["pose"]);
        assert!(!s.attributes["expression"]);
        // The image sits under <fixture>/wflw/WFLW_images/.
        match &s.image {
            ImageSource::Path(p) => assert!(p.ends_with(
                "wflw/WFLW_images/36--Football/36_Football_americanfootball_ball_36_415.jpg"
            )),
            other => panic!("unexpected image source {other:?}"),
        }
        // Lines 2-4 share 7--Cheering/7_Cheering_Cheering_7_16.jpg -> #0, #1, #2.
        assert_eq!(
            ds.samples[3].id,
            "7--Cheering/7_Cheering_Cheering_7_16.jpg#2"
        );
        // Flags per line (generate.py): pose 1, expression 1, illumination 3, makeup 1, occlusion 1, blur 2.
        let count = |n: &str| ds.subsets.get(n).map_or(0, Vec::len);
        let counts: Vec<usize> = WFLW_FLAGS.iter().map(|n| count(n)).collect();
        assert_eq!(counts, [1, 1, 3, 1, 1, 2]);
        assert_eq!(ds.subsets["blur"], [0, 2]);
        // Both images decode (1024x661 and 1024x1024) and every face lies inside its box.
        for s in &ds.samples {
            let img = s.image.load_rgb().unwrap();
            assert_eq!(img.width(), 1024);
            let b = s.bbox.unwrap();
            for p in &s.landmarks {
                assert!(
                    p[0] >= b.x && p[0] <= b.x + b.w && p[1] >= b.y && p[1] <= b.y + b.h,
                    "{}",
                    s.id
                );
            }
        }
    }

    fn write_annot(dir: &Path, line: &str) -> PathBuf {
        let p = dir.join("list.txt");
        std::fs::write(&p, format!("\n{line}\n")).unwrap();
        p
    }

    fn good_line() -> Vec<String> {
        let mut t: Vec<String> = (0..196).map(|i| format!("{}.5", i % 50)).collect();
        t.extend(["1", "2", "50", "60"].map(String::from));
        t.extend(["0", "1", "0", "0", "1", "0"].map(String::from));
        t.push("a/face.jpg".into());
        t
    }

    #[test]
    fn malformed_lines_name_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::write(dir.path().join("a/face.jpg"), b"x").unwrap();
        // Sanity: the good line reads (root = annotation folder: no WFLW_images/ here).
        let ok = WflwReader
            .read(&write_annot(dir.path(), &good_line().join(" ")))
            .unwrap();
        // Token k holds `k.5` (k < 50), so point 1 = tokens 2, 3 = (2.5, 3.5).
        assert_eq!(ok.samples[0].landmarks[1], [2.5, 3.5]);
        assert_eq!(ok.subsets["occlusion"], [0]);
        // 206 tokens (line 2, after a blank line 1).
        let mut t = good_line();
        t.remove(0);
        let e = WflwReader
            .read(&write_annot(dir.path(), &t.join(" ")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("list.txt") && e.contains("line 2") && e.contains("206"),
            "{e}"
        );
        // NaN coordinate.
        let mut t = good_line();
        t[5] = "nan".into();
        let e = WflwReader
            .read(&write_annot(dir.path(), &t.join(" ")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("list.txt") && e.contains("line 2") && e.contains("token 6"),
            "{e}"
        );
        // Absurd coordinate and box values.
        for (k, value) in [(7, "1e10"), (198, "-2e6")] {
            let mut t = good_line();
            t[k] = value.into();
            let e = WflwReader
                .read(&write_annot(dir.path(), &t.join(" ")))
                .unwrap_err()
                .to_string();
            assert!(
                e.contains("list.txt")
                    && e.contains("line 2")
                    && e.contains(&format!("token {}", k + 1))
                    && e.contains("beyond"),
                "{e}"
            );
        }
        // Flag 2.
        let mut t = good_line();
        t[203] = "2".into();
        let e = WflwReader
            .read(&write_annot(dir.path(), &t.join(" ")))
            .unwrap_err()
            .to_string();
        assert!(e.contains("list.txt") && e.contains("makeup"), "{e}");
        // Missing image.
        let mut t = good_line();
        t[206] = "a/none.jpg".into();
        let e = WflwReader
            .read(&write_annot(dir.path(), &t.join(" ")))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("none.jpg") && e.contains("list.txt") && e.contains("line 2"),
            "{e}"
        );
    }
}
