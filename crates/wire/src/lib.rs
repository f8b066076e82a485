//! The formats the kiosk and the central backend share, defined once so that the two sides
//! cannot drift apart. Neither PC/SC nor Tauri nor a database is linked here: the crate is
//! data, signatures and key wrapping.
//!
//! - [`lists`]: the signed list envelope ([`SignedList`]) and the bodies the backend publishes —
//!   the face-credential [`TrustList`] (issuer keys: active, retired, revoked) and the
//!   [`RevocationList`] (revoked credentials). Each list is signed by the backend's list key
//!   ([`ListSigningKey`]) and carries a version that only increases ([`check_newer`]).
//! - [`wrap`]: template keys wrapped for one kiosk (HPKE, RFC 9180, X25519 + HKDF-SHA256 +
//!   AES-256-GCM) under that kiosk's own key pair ([`KioskWrapKey`]), so a template key is
//!   never in clear on the wire; the [`TemplateKeyList`] travels in the same signed envelope.
//! - [`events`]: the outbox event bodies the backend interprets ([`CredentialIssued`]).
//! - [`registration`]: what a kiosk registers at the backend ([`KioskKeys`]: its wrap public
//!   key and its face-credential issuer public key) and the [`KioskIdentity`] those keys come
//!   from.
//!
//! Identifiers on the wire: key ids and credential ids are lowercase hex of their bytes (the
//! bytes a credential carries in its header); public keys and ciphertexts are unpadded
//! base64url; times are Unix milliseconds.
//!
//! What it does not do: fetch or store anything, decide policy (how old a list may be, who may
//! revoke), or hold a private key longer than its owner keeps the value (secrets are zeroed on
//! drop and their `Debug` is redacted).

pub mod events;
pub mod lists;
pub mod registration;
pub mod wrap;

pub use events::CredentialIssued;
pub use lists::{
    Issuer, IssuerStatus, ListBody, ListKind, ListPublicKey, ListSigningKey, RevocationList,
    RevokedCredential, SignedList, TrustList, check_newer,
};
pub use registration::{ISSUER_SECRET, KioskIdentity, KioskKeys, WRAP_SECRET};
pub use wrap::{KioskWrapKey, TemplateKeyList, TemplateKeyStatus, WrappedTemplateKey, wrap};

/// Why a wire document was refused. Messages name fields and kinds, never key material.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum WireError {
    /// Not the expected JSON, or a field out of range.
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// Which document.
        what: &'static str,
        /// What is wrong (field names, no values).
        detail: String,
    },
    /// The envelope's format label is not one this program reads.
    #[error("unknown list format `{0}`")]
    UnknownFormat(String),
    /// A list of another kind than the one asked for.
    #[error("expected a {expected} list, got a {got} list")]
    WrongKind {
        /// Asked for.
        expected: &'static str,
        /// Received.
        got: &'static str,
    },
    /// Signed by a key other than the trusted list key.
    #[error("the {kind} list is signed by list key {got}, not by the trusted key {expected}")]
    UnknownKey {
        /// List kind.
        kind: &'static str,
        /// Key id in the envelope.
        got: String,
        /// Key id trusted.
        expected: String,
    },
    /// The signature does not verify.
    #[error("the {0} list's signature does not verify")]
    BadSignature(&'static str),
    /// A list older than the one already held (a rollback).
    #[error("the {kind} list's version {offered} is older than the version {held} already held")]
    Rollback {
        /// List kind.
        kind: &'static str,
        /// Version offered.
        offered: u64,
        /// Version held.
        held: u64,
    },
    /// A wrapped key that does not open with this kiosk's key.
    #[error("template key {0} cannot be unwrapped with this kiosk's key")]
    Unwrap(String),
    /// The operating system's random number generator failed.
    #[error("the random number generator failed")]
    Rng,
}

/// Result with [`WireError`].
pub type Result<T> = std::result::Result<T, WireError>;

pub(crate) fn malformed(what: &'static str, detail: impl Into<String>) -> WireError {
    WireError::Malformed {
        what,
        detail: detail.into(),
    }
}

/// Unpadded base64url, the encoding of keys and ciphertexts on the wire.
pub(crate) fn b64(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

pub(crate) fn unb64(what: &'static str, field: &str, text: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text.as_bytes())
        .map_err(|_| malformed(what, format!("`{field}` is not unpadded base64url")))
}

pub(crate) fn unb64_32(what: &'static str, field: &str, text: &str) -> Result<[u8; 32]> {
    let v = zeroize::Zeroizing::new(unb64(what, field, text)?);
    <[u8; 32]>::try_from(v.as_slice())
        .map_err(|_| malformed(what, format!("`{field}` must be 32 bytes")))
}

/// A key or credential id: lowercase hex of 1 to 32 bytes.
pub fn parse_id(what: &'static str, field: &str, text: &str) -> Result<Vec<u8>> {
    if text.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(malformed(what, format!("`{field}` must be lowercase hex")));
    }
    let v = hex::decode(text).map_err(|_| malformed(what, format!("`{field}` must be hex")))?;
    if v.is_empty() || v.len() > 32 {
        return Err(malformed(what, format!("`{field}` must be 1 to 32 bytes")));
    }
    Ok(v)
}
