//! The reference central backend (`madoguchi-central`): the sync API of record, described by
//! `crates/central/openapi.yaml` (served at `/v1/openapi.yaml`), used by the demo and the tests.
//!
//! What it does:
//! - [`server`]: the axum HTTP API — health, server time (for the kiosk's clock-skew check),
//!   idempotent batch ingest of outbox events (keyed by event id: a re-sent event is
//!   acknowledged and stored once), the kiosks' key registration (`PUT /v1/kiosk-keys`),
//!   the trust data the kiosks pull (the list signing key, the signed trust list of issuer
//!   keys, the signed revocation list, thresholds, the signed template keys wrapped for the
//!   kiosk, the teller accounts with their FIDO2 credentials), and the one-time binding codes
//!   for re-binding a customer's passkey device (issued to kiosks, redeemed by the bank's
//!   services), and the duplicate-face check at enrollment. Every kiosk call but health, time and the document itself needs the kiosk's
//!   bearer token; the redeem needs a service's. Request bodies are bounded (413), bad input
//!   is a 4xx with a JSON `{code, message}`, never a 5xx.
//! - [`trust`]: the trust data in the shared formats of `madoguchi-wire` — the list signing
//!   key (one per backend, made on the first open), kiosk keys (each kiosk's wrap key; its
//!   issuer key on the trust list, the backend holding public halves only), template keys
//!   (4-byte ids, rotated by `rotate-keys`, a retired one served while a credential under it
//!   lives), revocation of credentials and of issuer keys, every list signed.
//! - [`master_key`]: the 32-byte master key file (`--key-file`) that seals the template keys
//!   and the list key at rest with AES-256-GCM (purpose and key id as associated data).
//! - [`credentials`]: the `face_credential.issued` events, recorded in the event's
//!   transaction (once; unusable ones, or ones naming another kiosk's issuer key, stored as
//!   events and counted as malformed).
//! - [`evidence`]: verification of the kiosks' JPKI evidence signatures (`evidence.stored`
//!   events of kind `signature`) against the J-LIS signing roots, plus TEST roots only when
//!   configured (`--test-jpki-roots DIR`); each event is stored with its verdict (`verified`,
//!   `bad_signature`, `untrusted_chain`, `expired`, `malformed`, `not_checked`), counted by
//!   `stats`.
//! - [`confirmation`]: the confirmation records (確認記録) the kiosks send as
//!   `confirmation.recorded` events: kept in their own table in the event's transaction,
//!   counted as malformed when unreadable (the event is still stored), purged with a tombstone
//!   after the retention period (default 7 years from verification, `--confirmation-retention-days`),
//!   at start and daily by the server and by `purge-confirmations`; read by auditors with the
//!   `confirmations` admin command only (no HTTP endpoint).
//! - [`binding`]: re-binding a passkey device after a face proof at the counter — one-time
//!   codes (20 random bytes in base32, 300 s, at most 5 live per customer, stored only as a
//!   SHA-256) issued to a kiosk on a face credential or a verified identity session the
//!   backend holds, redeemed exactly once by a service of the bank (`service-add`,
//!   `binding-codes`).
//! - [`tellers`]: teller accounts and their FIDO2 credentials, served to the kiosks as one
//!   versioned list (`GET /v1/tellers`) that they cache for offline sign-in; kept up to date
//!   from the kiosks' `teller.key_registered`, `teller.signed_in` and `teller.key_revoked`
//!   events (in the event's transaction, idempotent) and by the admin commands (`teller-add`,
//!   `teller-disable`, `teller-enable`, `teller-revoke-key`, `tellers`).
//! - [`store`]: persistence in an embedded SQLite database (the default: the demo needs
//!   nothing) or in PostgreSQL when given a `postgres://` URL (how a bank runs it for many
//!   branches), opened with the master key.
//! - [`cli`]: `madoguchi-central serve|kiosk-add|service-add|list-key|revoke|rotate-keys|
//!   set-thresholds|stats|confirmations|purge-confirmations|teller-add|teller-disable|
//!   teller-enable|teller-revoke-key|tellers|binding-codes|duplicates`.
//! - [`faceindex`]: the in-memory 1:N index for the duplicate-face check at enrollment: exact
//!   int8 cosine search over every enrolled template, another identity's only.
//! - [`duplicates`]: the duplicate-face check (`POST /v1/duplicate-checks`, kiosk token): the
//!   enrollment's template stored sealed (AES-256-GCM, a key derived from the master key),
//!   searched against every other person's (identity: an HMAC of the verified record's name
//!   and birth date) in an index built at start, a match flagged for teller review
//!   (`duplicates`).
//! - [`pgtest`]: a throwaway PostgreSQL cluster for the tests (Debian `postgresql`).
//!
//! What it does NOT do:
//! - Terminate TLS: it speaks plain HTTP and is meant to listen on loopback (demo, tests) or
//!   behind the bank's TLS-terminating proxy, which also enforces the kiosks' client certificates.
//! - Check revocation of JPKI signing certificates (that needs J-LIS's service through a
//!   platform operator), or refuse events whose evidence does not verify (stored, flagged).
//! - Share code with the kiosk's sync client beyond the wire formats of `madoguchi-wire`
//!   (signed lists, wrapped keys, kiosk keys, the credential event): each side speaks HTTP
//!   on its own, so each checks the other.
//! - Hold a kiosk's private key, or keep its own keys in an HSM.
//! - Log request bodies, tokens, binding codes, face templates, identity attributes or key
//!   material.

pub mod binding;
pub mod cli;
pub mod confirmation;
pub mod credentials;
pub mod duplicates;
pub mod evidence;
pub mod faceindex;
pub mod master_key;
pub mod pgtest;
pub mod server;
pub mod store;
pub mod tellers;
pub mod trust;

/// Everything that can go wrong in the central backend.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CentralError {
    /// SQLite failed.
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// PostgreSQL failed.
    #[error("postgres: {0}")]
    Postgres(#[from] tokio_postgres::Error),
    /// A database written by a newer version of this program.
    #[error("database schema version {found} is newer than this program's {supported}")]
    SchemaTooNew {
        /// Version found in the database.
        found: i64,
        /// Highest version this program knows.
        supported: i64,
    },
    /// File or socket I/O.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Bad input from the operator (CLI arguments, files).
    #[error("{0}")]
    Invalid(String),
    /// The operating system's random source failed.
    #[error("random source: {0}")]
    Random(String),
    /// A blocking database task panicked or was cancelled.
    #[error("database task: {0}")]
    Task(String),
    /// The master key file does not exist (only `serve` creates it).
    #[error(
        "master key file {} does not exist: `madoguchi-central serve` creates it on its first \
         start; give the backend's key file with --key-file or MADOGUCHI_CENTRAL_KEY_FILE",
        path.display()
    )]
    KeyFileMissing {
        /// The file looked for.
        path: std::path::PathBuf,
    },
    /// The master key file cannot be used.
    #[error("master key file {}: {reason}", path.display())]
    KeyFile {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong with it (never its content).
        reason: &'static str,
    },
    /// A sealed key does not open with the master key: another backend's key file, or a
    /// damaged row.
    #[error(
        "the {purpose} key {kid} does not open with master key {master_key_id}: wrong key file \
         for this database, or a damaged row"
    )]
    Unseal {
        /// The key's purpose (`template`, `list`).
        purpose: String,
        /// The key's id.
        kid: String,
        /// [`master_key::MasterKey::id`] of the key tried.
        master_key_id: String,
    },
    /// The request contradicts what the store holds (an HTTP 409 with `code`).
    #[error("{message}")]
    Conflict {
        /// A stable error code (`issuer_kid_taken`, …).
        code: &'static str,
        /// What is wrong (ids, no key material).
        message: String,
    },
    /// A shared-format document could not be made or read.
    #[error("wire format: {0}")]
    Wire(#[from] madoguchi_wire::WireError),
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The OpenAPI document of the sync API (the API of record).
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");

/// `n` random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], CentralError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|e| CentralError::Random(e.to_string()))?;
    Ok(b)
}

/// SHA-256 of a kiosk's or service's token, hex: the only form in which tokens are stored.
pub fn token_digest(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}
