//! `cofw` reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for the `cofw` format.
pub struct CofwReader;

impl super::Reader for CofwReader {
    fn format(&self) -> &'static str {
        "cofw"
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the cofw reader is not written yet"))
    }
}
