//! `wflw` reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for the `wflw` format.
pub struct WflwReader;

impl super::Reader for WflwReader {
    fn format(&self) -> &'static str {
        "wflw"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the wflw reader is not written yet"))
    }
}
