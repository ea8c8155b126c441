//! `.pts` folder reader (to be written).
use std::path::Path;

use crate::error::{Error, Result};
use crate::sample::Dataset;

/// Reader for folders of images with `.pts` beside them; `layout_300w` recognises the 300W folders.
pub struct PtsReader {
    pub layout_300w: bool,
}

impl super::Reader for PtsReader {
    fn format(&self) -> &'static str {
        if self.layout_300w { "300w" } else { "pts" }
    }
    fn read(&self, path: &Path) -> Result<Dataset> {
        Err(Error::parse(path, "-", "the pts reader is not written yet"))
    }
}
