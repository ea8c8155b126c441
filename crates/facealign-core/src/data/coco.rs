//! `coco` reader: COCO keypoint JSON as mmpose writes it for its face datasets (`coco:FILE.json`).
//!
//! Source: the COCO keypoint format (Lin et al., ECCV 2014; cocodataset.org "data format") and
//! mmpose's face annotation files (300W, 300VW, WFLW, COFW, AFLW; e.g. mmpose
//! `tests/data/{300w,300vw,wflw,cofw,aflw}/*.json`). Fields used:
//! `images[{id, file_name}]`, `annotations[{image_id, keypoints: [x, y, v] * N, bbox?: [x, y, w, h]}]`.
//! Everything else (`num_keypoints`, `center`, `scale`, `area`, ...) is ignored.
//!
//! - Image paths are `file_name` relative to the JSON's folder (300VW's include sub-folders,
//!   e.g. `001/imgs/000006.jpg`) and must exist.
//! - The scheme is chosen by N (68 iBUG, 98 WFLW, 29 COFW, 19 AFLW, 5); all annotations must
//!   have the same N.
//! - Coordinates are taken as they are, as image_px (COCO's origin 0). mmpose copies the source
//!   annotations verbatim, so its 300W/300VW files carry the 1-based `.pts` values (the 300VW
//!   fixture's keypoints equal its `.pts` files): 1 px right of and below the 0-based convention.
//!   Read such a file as `coco:FILE.json#origin=1` (`DataSpec`) to place its points where `pts:`
//!   places the `.pts` they came from; a model trained on mmpose's copies learned the same offset.
//! - Visibility `v`: COCO's 0 = not labelled, 1 = labelled but not visible, 2 = visible. mmpose's
//!   COFW file uses 1/2 that way, while its other face files write 1 for every point meaning only
//!   "labelled". So occlusion is stored (`occluded = Some`, `v == 1` -> occluded) only when the
//!   file uses `v == 2` somewhere; otherwise `occluded = None`. A point with `v == 0` is
//!   **unlabelled** (`Sample::labelled`, its coordinates become NaN whatever the file wrote: often
//!   `0, 0`): it sets no crop, is trained on by no loss and scored by no metric. An annotation
//!   with no labelled point at all is skipped.
//! - `yaw` (degrees, AFLW files of 3DDFA/2DASL) becomes `Sample::pose = [yaw, NaN, NaN]`.
//! - Sample ids: `file_name`, plus `#k` (k-th annotation of that image) when an image holds
//!   several faces.
//! - Errors name the file and the JSON path of the bad field (`annotations[1].keypoints`).
use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use crate::error::{Error, Result};
use crate::sample::{BoxXywh, Dataset, ImageSource, Point, Sample};
use crate::scheme::{Scheme, SchemeId};

/// Reader for the `coco` format.
pub struct CocoReader;

impl super::Reader for CocoReader {
    fn format(&self) -> &'static str {
        "coco"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        let text = crate::fsio::read_text(path)?;
        let base = path.parent().unwrap_or(Path::new(""));
        let (scheme_id, samples) = parse_coco_json(&text, path, base)?;
        for s in &samples {
            if let ImageSource::Path(p) = &s.image {
                if !p.is_file() {
                    return Err(Error::Image {
                        path: p.clone(),
                        message: format!("file not found (named by {})", path.display()),
                    });
                }
            }
        }
        let subsets = yaw_subsets(&samples);
        Ok(Dataset {
            format: "coco".into(),
            source: path.display().to_string(),
            scheme: Scheme::get(scheme_id.unwrap_or(SchemeId::Ibug68)),
            samples,
            subsets,
        })
    }
}

/// The yaw bins of the AFLW protocol (|yaw| in [0, 30], (30, 60], (60, 90+]) as subsets
/// `yaw_0_30`, `yaw_30_60`, `yaw_60_90`, for the faces whose yaw is known (none otherwise).
pub fn yaw_subsets(samples: &[Sample]) -> BTreeMap<String, Vec<usize>> {
    let mut subsets: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, s) in samples.iter().enumerate() {
        let Some(yaw) = s.pose.map(|p| p[0].abs()) else {
            continue;
        };
        let name = if yaw <= 30.0 {
            "yaw_0_30"
        } else if yaw <= 60.0 {
            "yaw_30_60"
        } else {
            "yaw_60_90"
        };
        subsets.entry(name.to_string()).or_default().push(i);
    }
    subsets
}

/// One keypoint annotation before ids and occlusion are settled.
struct Ann {
    image: usize,
    points: Vec<Point>,
    vis: Vec<u8>,
    bbox: Option<BoxXywh>,
    /// `yaw` in degrees (the AFLW files of 3DDFA/2DASL give it per face).
    yaw: Option<f32>,
}

/// Parse COCO keypoint JSON `text` (from `path`; images relative to `base`). Returns the scheme
/// (None when there is no annotation) and the samples. Does not check that images exist.
pub fn parse_coco_json(
    text: &str,
    path: &Path,
    base: &Path,
) -> Result<(Option<SchemeId>, Vec<Sample>)> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        Error::parse(
            path,
            format!("line {}, column {}", e.line(), e.column()),
            format!("malformed JSON: {e}"),
        )
    })?;
    let err = |field: &str, msg: String| Error::parse(path, field.to_string(), msg);

    let images = array(&root, "images").map_err(|m| err("images", m))?;
    let mut image_index: BTreeMap<i64, usize> = BTreeMap::new();
    let mut files: Vec<String> = Vec::with_capacity(images.len());
    for (i, im) in images.iter().enumerate() {
        let id = integer(im, "id").map_err(|m| err(&format!("images[{i}].id"), m))?;
        let name = im.get("file_name").and_then(Value::as_str).ok_or_else(|| {
            err(
                &format!("images[{i}].file_name"),
                "missing or not a string".into(),
            )
        })?;
        if image_index.insert(id, i).is_some() {
            return Err(err(
                &format!("images[{i}].id"),
                format!("id {id} is used twice"),
            ));
        }
        files.push(name.to_string());
    }

    let anns_json = array(&root, "annotations").map_err(|m| err("annotations", m))?;
    let mut anns: Vec<Ann> = Vec::with_capacity(anns_json.len());
    let mut n_points: Option<(usize, usize)> = None; // (N, first annotation index)
    for (j, a) in anns_json.iter().enumerate() {
        let field = |f: &str| format!("annotations[{j}].{f}");
        let image_id = integer(a, "image_id").map_err(|m| err(&field("image_id"), m))?;
        let &image = image_index
            .get(&image_id)
            .ok_or_else(|| err(&field("image_id"), format!("no image has id {image_id}")))?;
        let kp = array(a, "keypoints").map_err(|m| err(&field("keypoints"), m))?;
        let values: Vec<f64> = kp
            .iter()
            .enumerate()
            .map(|(k, v)| {
                let ok = |x: &f64| x.is_finite() && x.abs() <= f64::from(super::MAX_COORD);
                v.as_f64().filter(ok).ok_or_else(|| {
                    err(
                        &format!("annotations[{j}].keypoints[{k}]"),
                        format!("`{v}` is not a number within ±{} px", super::MAX_COORD),
                    )
                })
            })
            .collect::<Result<_>>()?;
        if !values.len().is_multiple_of(3) {
            return Err(err(
                &field("keypoints"),
                format!(
                    "{} values is not a multiple of 3 ([x, y, v] per point)",
                    values.len()
                ),
            ));
        }
        let n = values.len() / 3;
        match n_points {
            None => {
                if SchemeId::from_n_points(n).is_none() {
                    return Err(err(
                        &field("keypoints"),
                        format!("{n} points match no known scheme (68, 98, 29, 19 or 5)"),
                    ));
                }
                n_points = Some((n, j));
            }
            Some((first, at)) if first != n => {
                return Err(err(
                    &field("keypoints"),
                    format!("{n} points, but annotations[{at}] has {first}; all faces need the same scheme"),
                ));
            }
            Some(_) => {}
        }
        let mut points = Vec::with_capacity(n);
        let mut vis = Vec::with_capacity(n);
        for (k, t) in values.chunks_exact(3).enumerate() {
            let v = t[2];
            if !(v == 0.0 || v == 1.0 || v == 2.0) {
                return Err(err(
                    &format!("annotations[{j}].keypoints[{}]", 3 * k + 2),
                    format!("visibility {v} is not 0, 1 or 2"),
                ));
            }
            points.push([t[0] as f32, t[1] as f32]);
            vis.push(v as u8);
        }
        if vis.iter().all(|&v| v == 0) {
            continue; // nothing labelled
        }
        let bbox = match a.get("bbox") {
            None | Some(Value::Null) => None,
            Some(b) => Some(parse_box(b).map_err(|m| err(&field("bbox"), m))?),
        };
        let yaw = match a.get("yaw") {
            None | Some(Value::Null) => None,
            Some(y) => Some(
                y.as_f64()
                    .filter(|y| y.is_finite() && y.abs() <= 360.0)
                    .ok_or_else(|| {
                        err(&field("yaw"), format!("`{y}` is not an angle in degrees"))
                    })? as f32,
            ),
        };
        anns.push(Ann {
            image,
            points,
            vis,
            bbox,
            yaw,
        });
    }

    let coco_visibility = anns.iter().any(|a| a.vis.contains(&2));
    let mut per_image = vec![0usize; files.len()];
    for a in &anns {
        per_image[a.image] += 1;
    }
    let mut seen = vec![0usize; files.len()];
    let samples = anns
        .into_iter()
        .map(|a| {
            let file = &files[a.image];
            let id = if per_image[a.image] > 1 {
                format!("{file}#{}", seen[a.image])
            } else {
                file.clone()
            };
            seen[a.image] += 1;
            let unlabelled = a.vis.contains(&0);
            let mut s = Sample::new(id, ImageSource::Path(base.join(file)), a.points);
            s.bbox = a.bbox;
            s.pose = a.yaw.map(|y| [y, f32::NAN, f32::NAN]);
            if coco_visibility {
                s.occluded = Some(a.vis.iter().map(|&v| v == 1).collect());
            }
            if unlabelled {
                s.set_labelled(a.vis.iter().map(|&v| v != 0).collect());
            }
            s
        })
        .collect();
    Ok((
        n_points.and_then(|(n, _)| SchemeId::from_n_points(n)),
        samples,
    ))
}

fn array<'a>(v: &'a Value, key: &str) -> std::result::Result<&'a Vec<Value>, String> {
    match v.get(key) {
        None => Err("missing".into()),
        Some(Value::Array(a)) => Ok(a),
        Some(other) => Err(format!("expected an array, found {}", kind(other))),
    }
}

fn integer(v: &Value, key: &str) -> std::result::Result<i64, String> {
    match v.get(key) {
        None => Err("missing".into()),
        Some(x) => x
            .as_i64()
            .ok_or_else(|| format!("expected an integer, found `{x}`")),
    }
}

fn parse_box(b: &Value) -> std::result::Result<BoxXywh, String> {
    let v: Option<Vec<f64>> = b
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_f64).collect());
    match v.as_deref() {
        Some(&[x, y, w, h])
            if b.as_array().is_some_and(|a| a.len() == 4)
                && [x, y, w, h]
                    .iter()
                    .all(|t| t.is_finite() && t.abs() <= f64::from(super::MAX_COORD)) =>
        {
            Ok(BoxXywh {
                x: x as f32,
                y: y as f32,
                w: w as f32,
                h: h as f32,
            })
        }
        _ => Err(format!(
            "expected [x, y, w, h] numbers within ±{} px, found `{b}`",
            super::MAX_COORD
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Reader;
    use std::path::PathBuf;

    /// `<repo>/../shared/data/fixtures/mmpose`; `FACEALIGN_SHARED` overrides the shared dir (for a
    /// checkout that does not sit beside `shared/`, e.g. a git worktree).
    fn mmpose() -> PathBuf {
        let shared = std::env::var_os("FACEALIGN_SHARED").map_or_else(
            || PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../../shared")),
            PathBuf::from,
        );
        shared.join("data/fixtures/mmpose")
    }

    fn err_text<T>(r: Result<T>) -> String {
        match r {
            Ok(_) => panic!("expected an error"),
            Err(e) => e.to_string(),
        }
    }

    fn parse(json: &str) -> Result<(Option<SchemeId>, Vec<Sample>)> {
        parse_coco_json(json, Path::new("mem.json"), Path::new("/imgs"))
    }

    #[test]
    fn mmpose_fixtures_load_with_their_counts() {
        // (file, scheme, annotations, has bbox): counted in the JSON files (wflw has 3 faces on
        // image 12; 300vw's annotations carry center/scale but no bbox).
        let cases = [
            ("300w/test_300w.json", SchemeId::Ibug68, 2, true),
            ("300vw/anno_300vw.json", SchemeId::Ibug68, 3, false),
            ("wflw/test_wflw.json", SchemeId::Wflw98, 4, true),
            ("cofw/test_cofw.json", SchemeId::Cofw29, 2, true),
            ("aflw/test_aflw.json", SchemeId::Aflw19, 2, true),
        ];
        for (file, scheme, n, has_box) in cases {
            let ds = CocoReader
                .read(&mmpose().join(file))
                .unwrap_or_else(|e| panic!("{file}: {e}"));
            assert_eq!(ds.scheme.id, scheme, "{file}");
            assert_eq!(ds.samples.len(), n, "{file}");
            assert!(
                ds.samples
                    .iter()
                    .all(|s| s.landmarks.len() == scheme.n_points() && s.bbox.is_some() == has_box),
                "{file}"
            );
            // Only COFW uses v = 2, so only COFW gets occlusion flags.
            assert_eq!(
                ds.samples[0].occluded.is_some(),
                scheme == SchemeId::Cofw29,
                "{file}"
            );
        }
    }

    #[test]
    fn hand_checked_values() {
        // cofw/test_cofw.json, annotation 1 (image 1805): keypoints start 111.02581748226716,
        // 99.60260061678404, 1.0 -> point 0 occluded; bbox [102, 83, 112, 146].
        let ds = CocoReader
            .read(&mmpose().join("cofw/test_cofw.json"))
            .expect("cofw json");
        let s = &ds.samples[1];
        assert_eq!(s.id, "001805.jpg");
        assert_eq!(s.landmarks[0], [111.025_82, 99.602_6]);
        assert_eq!(
            s.occluded.as_ref().map(|o| (o[0], o[1])),
            Some((true, false))
        );
        assert_eq!(
            s.bbox,
            Some(BoxXywh {
                x: 102.0,
                y: 83.0,
                w: 112.0,
                h: 146.0
            })
        );
        // 300vw: file_name has sub-folders; the first point equals 001/annot/000006.pts's first line
        // `743.224 197.764` (mmpose copied the 1-based .pts values verbatim).
        let ds = CocoReader
            .read(&mmpose().join("300vw/anno_300vw.json"))
            .expect("300vw json");
        assert_eq!(ds.samples[0].id, "001/imgs/000006.jpg");
        assert_eq!(ds.samples[0].landmarks[0], [743.224, 197.764]);
        match &ds.samples[0].image {
            ImageSource::Path(p) => assert_eq!(p, &mmpose().join("300vw/001/imgs/000006.jpg")),
            other => panic!("expected a path, got {other:?}"),
        }
        // wflw: image 12 holds 3 faces -> ids with #k; image 2 holds one -> plain name.
        let ds = CocoReader
            .read(&mmpose().join("wflw/test_wflw.json"))
            .expect("wflw json");
        let ids: Vec<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "36_Football_americanfootball_ball_36_415.jpg",
                "7_Cheering_Cheering_7_16.jpg#0",
                "7_Cheering_Cheering_7_16.jpg#1",
                "7_Cheering_Cheering_7_16.jpg#2"
            ]
        );
    }

    fn five_points(v: [u8; 5]) -> String {
        let kp: Vec<String> = v
            .iter()
            .enumerate()
            .map(|(i, v)| format!("{i}, {}, {v}", 10 + i))
            .collect();
        kp.join(", ")
    }

    #[test]
    fn visibility_rules() {
        // File with v = 2 somewhere -> COCO meaning: 1 = occluded; v = 0 -> unlabelled.
        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}],
                "annotations": [{{"image_id": 1, "keypoints": [{}]}},
                                {{"image_id": 1, "keypoints": [{}]}},
                                {{"image_id": 1, "keypoints": [{}]}}]}}"#,
            five_points([2, 1, 2, 0, 2]),
            five_points([2, 2, 2, 2, 2]),
            five_points([0, 0, 0, 0, 0])
        );
        let (scheme, s) = parse(&json).expect("valid");
        assert_eq!(scheme, Some(SchemeId::Five));
        assert_eq!(s.len(), 2, "the all-unlabelled annotation is skipped");
        // v = 1 is occluded-but-labelled; v = 0 is unlabelled (not occluded, and no position).
        assert_eq!(s[0].occluded, Some(vec![false, true, false, false, false]));
        assert_eq!(s[0].labelled, Some(vec![true, true, true, false, true]));
        assert_eq!(s[0].n_labelled(), 4);
        assert_eq!(s[1].occluded, Some(vec![false; 5]));
        assert_eq!(s[1].labelled, None);
        assert_eq!((s[0].id.as_str(), s[1].id.as_str()), ("a.jpg#0", "a.jpg#1"));
        // point 2 of sample 0 = (2, 12); the unlabelled point 3 has no position (NaN), whatever
        // the file wrote.
        assert_eq!(s[0].landmarks[2], [2.0, 12.0]);
        assert!(s[0].landmarks[3].iter().all(|v| v.is_nan()));
        // All v = 1 (mmpose's 300W/WFLW style): no occlusion information.
        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}], "annotations": [{{"image_id": 1, "keypoints": [{}]}}]}}"#,
            five_points([1; 5])
        );
        let (_, s) = parse(&json).expect("valid");
        assert_eq!(s[0].occluded, None);
        assert!(s[0].attributes.is_empty());
    }

    #[test]
    fn a_file_that_is_not_utf8_names_the_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("bad.json");
        std::fs::write(&path, b"{\"images\": [],\n \"annotations\": [\xff]}").expect("write");
        let e = err_text(CocoReader.read(&path));
        assert_eq!(
            e,
            format!(
                "{}: line 2: not UTF-8 text (invalid byte at offset 32)",
                path.display()
            )
        );
    }

    #[test]
    fn errors_name_file_and_field() {
        let e = err_text(parse("{\"images\": [}"));
        assert!(
            e.contains("mem.json") && e.contains("line 1") && e.contains("malformed JSON"),
            "{e}"
        );

        let e = err_text(parse(r#"{"images": []}"#));
        assert!(e.contains("mem.json: annotations: missing"), "{e}");

        let e = err_text(parse(r#"{"images": [{"id": 1}], "annotations": []}"#));
        assert!(e.contains("images[0].file_name"), "{e}");

        let good = five_points([1; 5]);
        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}],
                "annotations": [{{"image_id": 1, "keypoints": [{good}]}}, {{"image_id": 1, "keypoints": [1, 2, 1, 3]}}]}}"#
        );
        let e = err_text(parse(&json));
        assert!(
            e.contains("annotations[1].keypoints") && e.contains("multiple of 3"),
            "{e}"
        );

        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}],
                "annotations": [{{"image_id": 1, "keypoints": [{good}]}}, {{"image_id": 1, "keypoints": [1, 2, 1, 3, 4, 1]}}]}}"#
        );
        let e = err_text(parse(&json));
        assert!(
            e.contains("annotations[1].keypoints") && e.contains("2 points") && e.contains("has 5"),
            "{e}"
        );

        let json = r#"{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [1, 2, 1, 3, 4, 1]}]}"#;
        let e = err_text(parse(json));
        assert!(
            e.contains("annotations[0].keypoints") && e.contains("no known scheme"),
            "{e}"
        );

        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}], "annotations": [{{"image_id": 7, "keypoints": [{good}]}}]}}"#
        );
        let e = err_text(parse(&json));
        assert!(
            e.contains("annotations[0].image_id") && e.contains("7"),
            "{e}"
        );

        let json = format!(
            r#"{{"images": [{{"id": 1, "file_name": "a.jpg"}}], "annotations": [{{"image_id": 1, "keypoints": [{good}], "bbox": [1, 2, 3]}}]}}"#
        );
        let e = err_text(parse(&json));
        assert!(e.contains("annotations[0].bbox"), "{e}");

        let json = r#"{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [0, 1, 1, 1, "x", 1, 2, 1, 1, 3, 1, 1, 4, 1, 1]}]}"#;
        let e = err_text(parse(json));
        assert!(e.contains("annotations[0].keypoints[4]"), "{e}");
    }

    #[test]
    fn absurd_values_name_the_field() {
        let json = r#"{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [0, 1, 1, 1e10, 1, 1, 2, 1, 1, 3, 1, 1, 4, 1, 1]}]}"#;
        let e = err_text(parse(json));
        assert!(
            e.contains("mem.json")
                && e.contains("annotations[0].keypoints[3]")
                && e.contains("within"),
            "{e}"
        );
        let json = r#"{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1, "keypoints": [0, 1, 1, 1, 1, 1, 2, 1, 1, 3, 1, 1, 4, 1, 1], "bbox": [0, 0, -3e6, 5]}]}"#;
        let e = err_text(parse(json));
        assert!(
            e.contains("annotations[0].bbox") && e.contains("within"),
            "{e}"
        );
    }

    #[test]
    fn missing_image_is_an_error() {
        let dir = tempfile::tempdir().expect("tempdir");
        let json = dir.path().join("set.json");
        let body = format!(
            r#"{{"images": [{{"id": 1, "file_name": "sub/nope.jpg"}}], "annotations": [{{"image_id": 1, "keypoints": [{}]}}]}}"#,
            five_points([1; 5])
        );
        std::fs::write(&json, body).expect("write");
        let e = err_text(CocoReader.read(&json));
        assert!(e.contains("sub/nope.jpg") && e.contains("set.json"), "{e}");
    }
}
