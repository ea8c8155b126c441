//! Dataset readers and the data spec `FORMAT:PATH[#SUBSET]` used everywhere on the CLI.
//!
//! Every reader returns landmarks in image_px (0-based pixels); formats that store 1-based
//! coordinates (`.pts`) are converted on read.
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

/// A parsed data spec: `FORMAT:PATH[#SUBSET]`; `#@FILE` keeps the samples whose ids are listed in FILE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataSpec {
    pub format: String,
    pub path: PathBuf,
    pub subset: Option<String>,
}

impl DataSpec {
    /// Parse `FORMAT:PATH[#SUBSET]`.
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
        let (path, subset) = match rest.rsplit_once('#') {
            Some((p, s)) if !s.is_empty() => (p, Some(s.to_string())),
            Some((p, _)) => (p, None),
            None => (rest, None),
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
}
