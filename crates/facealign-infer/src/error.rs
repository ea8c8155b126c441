//! The one error type of the inference crate. Variants about a file name it.
use std::path::PathBuf;

/// Everything that can go wrong reading a model file, building or running a network, predicting
/// or scoring.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Data, geometry, metric, detector or output errors from the core, and the errors both
    /// crates share: a file that cannot be read or written (`Core(Io)`), an argument out of its
    /// range (`Core(Invalid)`: input sizes, thread counts).
    #[error(transparent)]
    Core(#[from] facealign_core::Error),
    /// A model file is malformed or does not describe a network this crate builds. `location` is
    /// e.g. ``tensor `head.weight` `` or `metadata facealign.config`.
    #[error("{path}: {location}: {message}")]
    Model {
        path: PathBuf,
        location: String,
        message: String,
    },
    /// tract refused the graph or failed while running it.
    #[error("{origin}: tract: {message}")]
    Tract { origin: String, message: String },
    /// A landmark runtime (an implementation of [`crate::CropNet`]) failed.
    #[error("{runtime} runtime: {message}")]
    Runtime {
        runtime: &'static str,
        message: String,
    },
    /// A model cannot be used on the given data (scheme mismatch, wrong prediction count, ...).
    #[error("{0}")]
    Mismatch(String),
}

/// Result alias of the crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path` (the core's).
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Core(facealign_core::Error::io(path, source))
    }

    /// A problem with the model file `path` at `location`.
    pub fn model(
        path: impl Into<PathBuf>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Model {
            path: path.into(),
            location: location.into(),
            message: message.into(),
        }
    }

    /// An invalid argument (the core's).
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Core(facealign_core::Error::invalid(what, message))
    }

    /// A tract error while handling `origin` (a file or a description of the graph).
    pub fn tract(origin: impl Into<String>, err: &tract_onnx::prelude::TractError) -> Self {
        Error::Tract {
            origin: origin.into(),
            message: format!("{err:#}"),
        }
    }

    /// A runtime failure (for implementors of [`crate::CropNet`]).
    pub fn runtime(runtime: &'static str, message: impl Into<String>) -> Self {
        Error::Runtime {
            runtime,
            message: message.into(),
        }
    }
}
