//! `dlib` reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for the `dlib` format.
pub struct DlibReader;

impl super::Reader for DlibReader {
    fn format(&self) -> &'static str {
        "dlib"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the dlib reader is not written yet"))
    }
}
