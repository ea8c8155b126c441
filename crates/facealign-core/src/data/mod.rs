//! Dataset readers and the data spec `FORMAT:PATH[#SUBSET][#origin=0|1]` used everywhere on the
//! CLI.
//!
//! Every reader returns landmarks in image_px (0-based pixels); formats that store 1-based
//! coordinates (`.pts`, COFW's MATLAB file) are converted on read ([`Reader::origin`]). A file
//! written in the other convention than its format's says so with `#origin=`: mmpose's 300W and
//! 300VW COCO files copy the 1-based `.pts` values verbatim (the 300VW fixture's keypoints equal
//! its `.pts` files), so `coco:test_300w.json#origin=1` reads them 1 px up and left of their
//! stored values, as `pts:` reads the `.pts` they came from.
//!
//! Absurd coordinates are rejected on read with an error naming the file and line or field: the
//! readers do not decode images, so the bound is absolute, [`MAX_COORD`] (landmarks and box
//! values); COFW, whose images are inside the file, also rejects values more than 100 × the image
//! size away.
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::sample::Dataset;

pub mod coco;
pub mod cofw;
pub mod dlib;
#[cfg(test)]
mod fuzz;
pub mod mtfl;
pub mod pts;
pub mod wflw;

/// Largest absolute coordinate or box value (pixels) a reader accepts. No face image is a million
/// pixels wide, so a bigger value is a corrupt file (a `.pts` value of 1e10 once made
/// `data inspect --draw` spin).
pub const MAX_COORD: f32 = 1e6;

/// Whether `v` lies beyond ±[`MAX_COORD`] (NaN does not).
pub(crate) fn beyond_max_coord(v: f32) -> bool {
    v.abs() > MAX_COORD
}

/// The error message for a value `t` beyond ±[`MAX_COORD`].
pub(crate) fn beyond_max_coord_message(what: &str, t: &str) -> String {
    format!("{what} `{t}` is beyond ±{MAX_COORD} px: not a plausible coordinate (corrupt file?)")
}

/// One reader per format.
pub trait Reader {
    /// The format name used in data specs.
    fn format(&self) -> &'static str;
    /// Read every sample under `path` (a file or a folder, depending on the format).
    fn read(&self, path: &Path) -> Result<Dataset>;
    /// The coordinate of the top-left pixel's centre in the format's files by convention (0, or 1
    /// for MATLAB-style `.pts` and COFW), which `read` subtracts.
    fn origin(&self) -> u8 {
        0
    }
}

/// All readers, by format name.
pub fn reader(format: &str) -> Option<Box<dyn Reader>> {
    Some(match format {
        "pts" => Box::new(pts::PtsReader { layout_300w: false }),
        "300w" => Box::new(pts::PtsReader { layout_300w: true }),
        "cofw" => Box::new(cofw::CofwReader),
        "wflw" => Box::new(wflw::WflwReader),
        "mtfl" => Box::new(mtfl::MtflReader),
        "dlib" => Box::new(dlib::DlibReader),
        "coco" => Box::new(coco::CocoReader),
        _ => return None,
    })
}

/// Format names accepted in a data spec.
pub const FORMATS: [&str; 7] = ["pts", "300w", "cofw", "wflw", "mtfl", "dlib", "coco"];

/// A parsed data spec: `FORMAT:PATH[#SUBSET][#origin=0|1]`; `#@FILE` keeps the samples whose ids
/// are listed in FILE; `#origin=N` says that the file's coordinates put the top-left pixel's
/// centre at N, whatever its format's convention ([`Reader::origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub format: String,
    pub path: PathBuf,
    pub subset: Option<String>,
    pub origin: Option<u8>,
}

/// `rest` without a final `#origin=N` segment, and N (an error for a value other than 0 or 1).
fn split_origin(rest: &str) -> std::result::Result<(&str, Option<u8>), String> {
    match rest.rsplit_once('#') {
        Some((head, tail)) if tail.starts_with("origin=") => match &tail["origin=".len()..] {
            "0" => Ok((head, Some(0))),
            "1" => Ok((head, Some(1))),
            v => Err(format!(
                "`#origin={v}`: the origin is 0 (0-based pixel centres) or 1 (1-based, as `.pts`)"
            )),
        },
        _ => Ok((rest, None)),
    }
}

impl DataSpec {
    /// Parse `FORMAT:PATH[#SUBSET][#origin=0|1]` (the two suffixes in either order).
    pub fn parse(spec: &str) -> Result<DataSpec> {
        let err = |message: String| Error::Spec {
            spec: spec.to_string(),
            message,
        };
        let (format, rest) = spec.split_once(':').ok_or_else(|| {
            err(format!(
                "expected FORMAT:PATH[#SUBSET] with FORMAT one of {}",
                FORMATS.join(", ")
            ))
        })?;
        if !FORMATS.contains(&format) {
            return Err(err(format!(
                "unknown format `{format}`; known: {}",
                FORMATS.join(", ")
            )));
        }
        let (rest, origin) = split_origin(rest).map_err(&err)?;
        let (path, subset) = match rest.rsplit_once('#') {
            Some((p, s)) if !s.is_empty() => (p, Some(s.to_string())),
            Some((p, _)) => (p, None),
            None => (rest, None),
        };
        let (path, origin) = match origin {
            Some(o) => (path, Some(o)),
            None => split_origin(path).map_err(&err)?,
        };
        if path.is_empty() {
            return Err(err("the path is empty".into()));
        }
        if subset.as_deref() == Some("@") {
            return Err(err(
                "`#@` must be followed by the id-list file (`#@ids.txt`)".into(),
            ));
        }
        Ok(DataSpec {
            format: format.to_string(),
            path: PathBuf::from(path),
            subset,
            origin,
        })
    }

    /// Load the dataset (and select the subset, if any). An empty result is an error.
    pub fn load(&self) -> Result<Dataset> {
        let reader = reader(&self.format).expect("format was validated by DataSpec::parse");
        if !self.path.exists() {
            return Err(Error::Spec {
                spec: self.to_string(),
                message: format!("{} does not exist", self.path.display()),
            });
        }
        let mut ds = reader.read(&self.path)?;
        ds.source = format!("{}:{}", self.format, self.path.display());
        if let Some(origin) = self.origin {
            ds.source.push_str(&format!("#origin={origin}"));
            // The reader subtracted its format's origin; the file's own is `origin`.
            let shift = f32::from(origin) - f32::from(reader.origin());
            if shift != 0.0 {
                for s in &mut ds.samples {
                    for p in &mut s.landmarks {
                        *p = [p[0] - shift, p[1] - shift];
                    }
                    if let Some(b) = &mut s.bbox {
                        b.x -= shift;
                        b.y -= shift;
                    }
                }
            }
        }
        ds.ensure_not_empty()?;
        match &self.subset {
            Some(s) if s.starts_with('@') => ds.select_ids(Path::new(&s[1..])),
            Some(s) => ds.select_subset(s),
            None => Ok(ds),
        }
    }
}

impl std::fmt::Display for DataSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.format, self.path.display())?;
        if let Some(s) = &self.subset {
            write!(f, "#{s}")?;
        }
        if let Some(o) = self.origin {
            write!(f, "#origin={o}")?;
        }
        Ok(())
    }
}

/// Parse and load a spec string.
pub fn load(spec: &str) -> Result<Dataset> {
    DataSpec::parse(spec)?.load()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_list_suffix_without_a_file_is_a_spec_error() {
        let err = DataSpec::parse("mtfl:train.txt#@").unwrap_err();
        assert!(matches!(err, Error::Spec { .. }), "{err:?}");
        assert_eq!(
            err.to_string(),
            "data spec `mtfl:train.txt#@`: `#@` must be followed by the id-list file (`#@ids.txt`)"
        );
        let ok = DataSpec::parse("mtfl:train.txt#@ids.txt").expect("a list file is fine");
        assert_eq!(ok.subset.as_deref(), Some("@ids.txt"));
    }

    #[test]
    fn origin_suffix_parses_in_either_order_and_round_trips() {
        for spec in [
            "coco:a.json#origin=1",
            "coco:a.json#train#origin=1",
            "coco:a.json#origin=1#train",
            "pts:dir#@ids.txt#origin=0",
        ] {
            let d = DataSpec::parse(spec).unwrap();
            assert_eq!(
                d.path,
                PathBuf::from(if spec.starts_with("pts") {
                    "dir"
                } else {
                    "a.json"
                })
            );
            assert!(d.origin.is_some(), "{spec}");
            assert_eq!(DataSpec::parse(&d.to_string()).unwrap(), d, "{spec}");
        }
        let d = DataSpec::parse("coco:a.json#origin=1#train").unwrap();
        assert_eq!((d.subset.as_deref(), d.origin), (Some("train"), Some(1)));
        assert_eq!(d.to_string(), "coco:a.json#train#origin=1");
        assert_eq!(DataSpec::parse("coco:a.json").unwrap().origin, None);
        let err = DataSpec::parse("coco:a.json#origin=2")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "data spec `coco:a.json#origin=2`: `#origin=2`: the origin is 0 (0-based pixel centres) \
             or 1 (1-based, as `.pts`)"
        );
    }

    /// mmpose's 300VW file copies its `.pts` values: read with `#origin=1` it gives exactly what
    /// `pts:` gives for those `.pts` (each value 1 less than stored); `origin=0` on a `.pts` folder
    /// undoes the reader's conversion.
    #[test]
    fn origin_one_reads_mmpose_300vw_as_its_pts_files() {
        let root = crate::test_support::shared("data/fixtures/mmpose/300vw");
        let json = root.join("anno_300vw.json");
        let stored = load(&format!("coco:{}", json.display())).unwrap();
        let moved = load(&format!("coco:{}#origin=1", json.display())).unwrap();
        assert_eq!(moved.samples.len(), 3);
        // The 300VW frames' .pts, read by the pts reader from a folder that holds the image beside it.
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::copy(root.join("001/annot/000006.pts"), dir.join("000006.pts")).unwrap();
        std::fs::copy(root.join("001/imgs/000006.jpg"), dir.join("000006.jpg")).unwrap();
        let pts = load(&format!("pts:{}", dir.display())).unwrap();
        let raw = load(&format!("pts:{}#origin=0", dir.display())).unwrap();
        // Equal up to f32 rounding (the readers subtract in f64 or f32).
        let close = |a: &[crate::sample::Point], b: &[crate::sample::Point]| {
            a.len() == b.len()
                && a.iter()
                    .zip(b)
                    .all(|(p, q)| (p[0] - q[0]).abs() < 1e-4 && (p[1] - q[1]).abs() < 1e-4)
        };
        assert_eq!(moved.samples[0].id, "001/imgs/000006.jpg");
        assert_eq!(stored.samples[0].landmarks[0], [743.224, 197.764]);
        assert!(close(
            &moved.samples[0].landmarks[..1],
            &[[742.224, 196.764]]
        ));
        assert!(close(
            &moved.samples[0].landmarks,
            &pts.samples[0].landmarks
        ));
        assert!(close(
            &raw.samples[0].landmarks,
            &stored.samples[0].landmarks
        ));
        for (s, m) in stored.samples.iter().zip(&moved.samples) {
            let down: Vec<_> = s
                .landmarks
                .iter()
                .map(|a| [a[0] - 1.0, a[1] - 1.0])
                .collect();
            assert_eq!(down, m.landmarks);
            assert_eq!(
                s.bbox.map(|b| (b.x - 1.0, b.y - 1.0, b.w, b.h)),
                m.bbox.map(|b| (b.x, b.y, b.w, b.h))
            );
        }
    }
}
