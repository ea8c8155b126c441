//! facealign: face alignment (facial landmark detection) in Rust.
//!
//! The public facade. The tensor-free parts (schemes, readers, crops, augmentation, the PCA shape
//! model, metrics, drawing) come from `facealign-core` and are re-exported here; losses, models,
//! training, evaluation and inference run on tch (libtorch).
pub use facealign_core::{
    augment, data, draw, fsio, geometry, imageio, inspect, loader, metrics, mixed, sample, scheme,
    scheme_map, shape, smooth,
};
pub use facealign_core::{
    BoxCalibration, BoxXywh, Dataset, ImageSource, Point, Sample, Scheme, SchemeId,
};

pub(crate) mod adam;
pub mod alloc;
pub mod bench;
pub mod bundle;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod eval;
pub mod infer;
pub mod loss;
pub mod model;
pub mod objective;
pub mod train;

pub use error::{Error, Result};
