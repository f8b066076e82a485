//! The crate's error type. Messages name what failed, never a key, template or customer datum.

/// Everything that can go wrong in this crate outside a verification verdict (verdicts are
/// [`crate::Rejection`]s, not errors).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A key, trust list or template file is malformed.
    #[error("{path}: {what}")]
    BadFile {
        /// The file.
        path: String,
        /// What is wrong (never the secret value).
        what: String,
    },
    /// A template has the wrong shape (empty, too long, not finite).
    #[error("bad template: {0}")]
    BadTemplate(&'static str),
    /// CBOR/COSE encoding failed while issuing.
    #[error("encoding failed: {0}")]
    Encode(String),
    /// The payload does not fit the QR size budget or could not be rendered.
    #[error("QR rendering failed: {0}")]
    Render(String),
    /// An image could not be decoded or encoded.
    #[error("image: {0}")]
    Image(String),
    /// No QR symbol was found or decoded in an image.
    #[error("no QR code could be read from the image")]
    NoSymbol,
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
}

/// The crate's result type.
pub type Result<T> = std::result::Result<T, Error>;
