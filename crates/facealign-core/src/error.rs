//! The one error type of the tensor-free core.
use std::path::PathBuf;

/// Everything that can go wrong in the core. Each variant names the file (and where
/// possible the line or field) so a user can find the bad input.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading a file failed at the OS level.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file's content is malformed. `location` is e.g. `line 7` or `field phisTr`.
    #[error("{path}: {location}: {message}")]
    Parse {
        path: PathBuf,
        location: String,
        message: String,
    },
    /// An image is missing or cannot be decoded.
    #[error("{path}: cannot read image: {message}")]
    Image { path: PathBuf, message: String },
    /// A dataset has no samples (after subset selection).
    #[error("{0}: the dataset is empty")]
    EmptyDataset(String),
    /// A data spec `FORMAT:PATH[#SUBSET]` is wrong.
    #[error("data spec `{spec}`: {message}")]
    Spec { spec: String, message: String },
    /// A value is out of its allowed range (configs, arguments).
    #[error("invalid {what}: {message}")]
    Invalid { what: String, message: String },
}

/// Result alias of the core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// An I/O error on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
    /// A parse error at `location` (e.g. `line 4`) of `path`.
    pub fn parse(
        path: impl Into<PathBuf>,
        location: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Error::Parse {
            path: path.into(),
            location: location.into(),
            message: message.into(),
        }
    }
    /// An invalid value.
    pub fn invalid(what: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid {
            what: what.into(),
            message: message.into(),
        }
    }
}
