//! facealign: face alignment (facial landmark detection) in Rust.
//!
//! The public facade. Tensor-free parts come from `facealign-core` and are re-exported here;
//! losses, models, training, evaluation and inference run on tch (libtorch).
pub use facealign_core::{
    data, error, sample, scheme, BoxXywh, Dataset, Error, ImageSource, Point, Result, Sample,
    Scheme, SchemeId,
};

pub mod model;
