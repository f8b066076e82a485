//! The ledger's one error type.
//!
//! Messages name tables, record ids, paths and key *ids*; they never carry record contents,
//! personal data or key material.

use std::path::PathBuf;

/// Everything that can go wrong in the ledger.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LedgerError {
    /// SQLite reported an error.
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    /// The database was written by a newer version of madoguchi; opening it could corrupt it.
    #[error(
        "database schema version {found} is newer than this build supports ({supported}); \
         upgrade madoguchi instead of opening it with an older version"
    )]
    NewerSchema {
        /// `PRAGMA user_version` found in the file.
        found: u32,
        /// Highest version this build knows.
        supported: u32,
    },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What the OS said.
        source: std::io::Error,
    },
    /// The key file exists but is readable or writable by others than its owner.
    #[error("key file {path} has mode {mode:o}; it must be 0600 (owner read/write only)")]
    KeyFilePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// The key file is not 64 hex digits.
    #[error("key file {path} is malformed: {reason}")]
    KeyFileFormat {
        /// The key file.
        path: PathBuf,
        /// What is wrong (never the key itself).
        reason: &'static str,
    },
    /// The key file already exists; provisioning never overwrites a key.
    #[error("key file {path} already exists; refusing to overwrite a data key")]
    KeyFileExists {
        /// The key file.
        path: PathBuf,
    },
    /// The database was encrypted under another data key.
    #[error("this database is encrypted under data key {expected}, but key {given} was given")]
    WrongKey {
        /// Key id recorded in the database.
        expected: String,
        /// Key id of the key given.
        given: String,
    },
    /// A ciphertext failed authentication: tampered, moved to another record, or wrong key.
    #[error("encrypted {table} record {id} failed authentication (tampered, moved or wrong key)")]
    Decrypt {
        /// Table of the record.
        table: &'static str,
        /// Record id (an opaque UUID or sequence number).
        id: String,
    },
    /// The operating system's random source failed.
    #[error("random source failed: {0}")]
    Random(String),
    /// A value given by the caller is not acceptable.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A referenced record does not exist.
    #[error("{what} {id} not found")]
    NotFound {
        /// Kind of record.
        what: &'static str,
        /// Its id.
        id: String,
    },
    /// A sign-in presented a signature counter that did not move forward from the one the
    /// ledger holds (both 0 is accepted: authenticators that do not count): a sign of a
    /// cloned key. Nothing about the credential was changed.
    #[error(
        "sign-in with credential {credential_id} refused: signature counter {presented} does \
         not move forward from {stored} (possibly a cloned key)"
    )]
    SignCountRegressed {
        /// The credential (its public base64url id).
        credential_id: String,
        /// The counter the ledger holds.
        stored: u32,
        /// The counter the sign-in presented.
        presented: u32,
    },
    /// JSON (de)serialisation failed.
    #[error("JSON error: {0}")]
    Json(#[from] serde_json::Error),
    /// The database holds a value this build does not understand (corruption or a bug).
    #[error("corrupt value in {table}: {detail}")]
    Corrupt {
        /// Table where it was found.
        table: &'static str,
        /// What was wrong.
        detail: String,
    },
}

impl LedgerError {
    /// A stable machine-readable code for the UI and diagnostics (`ledger.*`).
    pub fn code(&self) -> &'static str {
        match self {
            LedgerError::Db(_) => "ledger.db",
            LedgerError::NewerSchema { .. } => "ledger.newer_schema",
            LedgerError::Io { .. } => "ledger.io",
            LedgerError::KeyFilePermissions { .. } => "ledger.key_permissions",
            LedgerError::KeyFileFormat { .. } => "ledger.key_format",
            LedgerError::KeyFileExists { .. } => "ledger.key_exists",
            LedgerError::WrongKey { .. } => "ledger.wrong_key",
            LedgerError::Decrypt { .. } => "ledger.decrypt",
            LedgerError::Random(_) => "ledger.random",
            LedgerError::InvalidInput(_) => "ledger.invalid_input",
            LedgerError::NotFound { .. } => "ledger.not_found",
            LedgerError::SignCountRegressed { .. } => "ledger.sign_count_regressed",
            LedgerError::Json(_) => "ledger.json",
            LedgerError::Corrupt { .. } => "ledger.corrupt",
        }
    }
}
