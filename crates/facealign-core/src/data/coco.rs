//! `coco` reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for the `coco` format.
pub struct CocoReader;

impl super::Reader for CocoReader {
    fn format(&self) -> &'static str {
        "coco"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the coco reader is not written yet"))
    }
}
