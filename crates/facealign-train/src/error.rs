//! The facade's error type: core errors plus tensor-engine, config and checkpoint errors.
use std::path::PathBuf;

/// Everything that can go wrong in training, evaluation and inference.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Data, geometry, shape-model or metric errors from the core.
    #[error(transparent)]
    Core(#[from] facealign_core::Error),
    /// Model-file, prediction and evaluation errors of the inference crate.
    #[error(transparent)]
    Infer(#[from] facealign_infer::Error),
    /// libtorch reported an error.
    #[error("tensor engine: {0}")]
    Torch(#[from] tch::TchError),
    /// A configuration key or value is wrong (the message names the key).
    #[error("config: {0}")]
    Config(String),
    /// The training data cannot be used as configured (empty split, schemes that do not map,
    /// no scorable validation face).
    #[error("data: {0}")]
    Data(String),
    /// The loss stopped being finite.
    #[error("the loss became {loss} at epoch {epoch} step {step}; lower optim.lr")]
    Diverged {
        epoch: usize,
        step: usize,
        loss: f64,
    },
    /// A run folder cannot be used (it holds another run, or another process trains it).
    #[error("{path}: {message}")]
    RunFolder { path: PathBuf, message: String },
    /// The training curves could not be drawn.
    #[error("plot {path}: {message}")]
    Plot { path: PathBuf, message: String },
    /// A checkpoint or weights file is unreadable or does not match the model.
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// An I/O error on a named file.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Training was stopped by the user (Ctrl-C) after a consistent checkpoint.
    #[error("interrupted; the last checkpoint is consistent and `--resume` continues from it")]
    Interrupted,
}

/// Result alias of the facade.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An invalid value (config field, argument), naming it.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Core(facealign_core::Error::invalid(what, message))
    }
    /// A malformed file, naming where in it.
    pub fn parse(
        path: impl Into<PathBuf>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Core(facealign_core::Error::parse(path, location, message))
    }
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    pub(crate) fn ckpt(path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Error::Checkpoint {
            path: path.into(),
            message: message.into(),
        }
    }
}

/// Write `bytes` to `path` atomically (temporary file, then rename): the core's writer.
pub fn write_atomic(path: &std::path::Path, bytes: &[u8]) -> Result<()> {
    facealign_core::fsio::write_atomic(path, bytes)?;
    Ok(())
}
