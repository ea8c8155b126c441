//! `mtfl` reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for the `mtfl` format.
pub struct MtflReader;

impl super::Reader for MtflReader {
    fn format(&self) -> &'static str {
        "mtfl"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the mtfl reader is not written yet"))
    }
}
