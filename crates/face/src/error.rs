//! The face crate's one error type. Messages name files, models and stages, never a person.

/// Why a face operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FaceError {
    /// Reading a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The model manifest or thresholds file is malformed.
    #[error("{path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A model file's SHA-256 differs from the manifest.
    #[error("model {file}: sha256 mismatch (manifest {expected}, file {actual})")]
    Checksum {
        /// The model file.
        file: String,
        /// From the manifest.
        expected: String,
        /// Of the file.
        actual: String,
    },
    /// The manifest has no model with this id.
    #[error("model `{0}` is not in the manifest")]
    UnknownModel(String),
    /// tract failed to load or run a model.
    #[error("inference ({model}): {message}")]
    Inference {
        /// Model id.
        model: String,
        /// tract's message.
        message: String,
    },
    /// An image could not be decoded or encoded.
    #[error("image: {0}")]
    Image(String),
    /// No face was found where one was needed.
    #[error("no face found")]
    NoFace,
    /// A bad argument (empty folder, unknown option value…).
    #[error("{0}")]
    Invalid(String),
    /// The worker thread is gone.
    #[error("face worker stopped")]
    WorkerStopped,
}

impl FaceError {
    pub(crate) fn io(path: &std::path::Path, source: std::io::Error) -> Self {
        Self::Io {
            path: path.display().to_string(),
            source,
        }
    }
    pub(crate) fn infer(model: &str, e: impl std::fmt::Display) -> Self {
        Self::Inference {
            model: model.to_owned(),
            message: e.to_string(),
        }
    }
}
