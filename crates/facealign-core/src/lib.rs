//! facealign-core: the tensor-free half of facealign.
//!
//! Landmark schemes, dataset readers, crops and augmentation, the PCA shape model and the
//! evaluation metrics. Nothing here depends on a tensor engine, so a pure-Rust inference
//! build can reuse all of it.
pub mod augment;
pub mod coords;
pub mod data;
pub mod draw;
pub mod error;
pub mod fsio;
pub mod geometry;
pub mod imageio;
pub mod inspect;
pub mod loader;
pub mod metrics;
pub mod mixed;
mod plotting;
pub mod procrustes;
pub mod sample;
pub mod scheme;
pub mod scheme_map;
mod scheme_tables;
pub mod shape;
pub mod smooth;
#[cfg(test)]
mod test_support;

pub use augment::{AugmentConfig, Augmentation};
pub use error::{Error, Result};
pub use geometry::{Affine2, BoxCalibration, CropSpec};
pub use loader::{load_crop, Batch, CropLoader, CropSource, LoaderConfig};
pub use plotting::ensure_font;
pub use sample::{BoxXywh, Dataset, ImageSource, Point, Sample};
pub use scheme::{Scheme, SchemeId};
