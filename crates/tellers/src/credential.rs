//! A registered security key in the form the ledger caches and sync carries as JSON.
//!
//! The webauthn-rs type kept inside is [`Passkey`], not `SecurityKey`: `Passkey` registration
//! and sign-in *require* user verification (PIN or fingerprint) and it serialises safely
//! (public key, counter, flags; no secret). `SecurityKey` only *prefers* user verification,
//! which is not enough for a sign-in that is the only factor. `AttestedPasskey` would add
//! checking the key's make against an attestation CA list; that needs the list of approved
//! key models and is a later step (the AAGUID is recorded here already).
//!
//! `danger-allow-state-serialisation` is *not* enabled: only the credential is stored; the
//! in-flight registration and sign-in state stays in the [`SignInVerifier`]'s memory, single
//! use, which is what makes a challenge impossible to replay.
//!
//! This module also reads the few fields of the authenticator data that webauthn-rs does not
//! hand out (flags, counter, AAGUID, credential id), for checks made before or after it.
//! It verifies no signature itself.
//!
//! [`SignInVerifier`]: crate::SignInVerifier

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use webauthn_rs::prelude::Passkey;

use crate::account::TellerId;
use crate::error::AuthError;

/// A credential id: the key's handle for one credential, base64url without padding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CredentialId(String);

impl CredentialId {
    /// From the raw bytes.
    pub fn from_bytes(raw: &[u8]) -> Self {
        CredentialId(URL_SAFE_NO_PAD.encode(raw))
    }

    /// From base64url text (`None` if it is not base64url without padding, or empty).
    pub fn parse(text: &str) -> Option<Self> {
        let raw = URL_SAFE_NO_PAD.decode(text).ok()?;
        (!raw.is_empty()).then(|| CredentialId::from_bytes(&raw))
    }

    /// The base64url text (the ledger's key).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The raw bytes (`None` if the text is not base64url).
    pub fn to_bytes(&self) -> Option<Vec<u8>> {
        URL_SAFE_NO_PAD.decode(&self.0).ok()
    }
}

impl std::fmt::Display for CredentialId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One security key registered to one teller.
///
/// Serde (JSON) is the storage and sync format; the fields are private so that the counter
/// shown here and the one inside the webauthn-rs credential cannot drift apart. When two
/// copies meet (sync), keep [`StoredCredential::merged_with`].
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredCredential {
    id: CredentialId,
    teller: TellerId,
    label: String,
    /// The key model's AAGUID as the key claimed it (not attested).
    aaguid: String,
    /// The AAGUID is the software authenticator's.
    soft: bool,
    /// The last signature counter accepted.
    sign_count: u32,
    created_at_unix_ms: i64,
    /// The supervisor who approved the registration (`None`: first registration).
    registered_by: Option<TellerId>,
    last_used_at_unix_ms: Option<i64>,
    revoked_at_unix_ms: Option<i64>,
    /// The webauthn-rs credential: public key, counter, flags.
    passkey: Passkey,
}

impl StoredCredential {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        teller: TellerId,
        label: String,
        aaguid: [u8; 16],
        sign_count: u32,
        created_at_unix_ms: i64,
        registered_by: Option<TellerId>,
        passkey: Passkey,
    ) -> Self {
        StoredCredential {
            id: CredentialId::from_bytes(passkey.cred_id()),
            teller,
            label,
            aaguid: uuid::Uuid::from_bytes(aaguid).to_string(),
            soft: aaguid == *webauthn_authenticator_rs::softtoken::AAGUID.as_bytes(),
            sign_count,
            created_at_unix_ms,
            registered_by,
            last_used_at_unix_ms: None,
            revoked_at_unix_ms: None,
            passkey,
        }
    }

    /// The credential id.
    pub fn id(&self) -> &CredentialId {
        &self.id
    }

    /// The teller it belongs to.
    pub fn teller(&self) -> &TellerId {
        &self.teller
    }

    /// The label given at registration (e.g. "blue YubiKey").
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The AAGUID the key claimed (a model id; not attested, so not proof of the model).
    pub fn aaguid(&self) -> &str {
        &self.aaguid
    }

    /// A simulated software key.
    pub fn is_soft(&self) -> bool {
        self.soft
    }

    /// The last signature counter accepted.
    pub fn sign_count(&self) -> u32 {
        self.sign_count
    }

    /// When it was registered (UNIX ms).
    pub fn created_at_unix_ms(&self) -> i64 {
        self.created_at_unix_ms
    }

    /// Who approved the registration.
    pub fn registered_by(&self) -> Option<&TellerId> {
        self.registered_by.as_ref()
    }

    /// Last successful sign-in (UNIX ms).
    pub fn last_used_at_unix_ms(&self) -> Option<i64> {
        self.last_used_at_unix_ms
    }

    /// When it was revoked (UNIX ms); a revoked key cannot sign in.
    pub fn revoked_at_unix_ms(&self) -> Option<i64> {
        self.revoked_at_unix_ms
    }

    /// Revoked.
    pub fn is_revoked(&self) -> bool {
        self.revoked_at_unix_ms.is_some()
    }

    /// Revokes the key (the earliest revocation stands).
    pub fn revoke(&mut self, at_unix_ms: i64) {
        if self.revoked_at_unix_ms.is_none() {
            self.revoked_at_unix_ms = Some(at_unix_ms);
        }
    }

    /// The COSE algorithm of the public key (e.g. `ES256`), for diagnostics.
    pub fn algorithm(&self) -> String {
        format!("{:?}", self.passkey.cred_algorithm())
    }

    pub(crate) fn passkey(&self) -> &Passkey {
        &self.passkey
    }

    /// After an accepted sign-in: the counter and the last use move forward.
    pub(crate) fn record_use(
        &mut self,
        result: &webauthn_rs::prelude::AuthenticationResult,
        at_unix_ms: i64,
    ) {
        self.passkey.update_credential(result);
        self.sign_count = self.sign_count.max(result.counter());
        self.last_used_at_unix_ms = Some(at_unix_ms);
    }

    /// Two copies of one credential (this kiosk's and the backend's, say): the one with the
    /// higher counter wins the key material and counter; the later last use and the earlier
    /// revocation are kept. Copies of different credentials: `self` unchanged.
    pub fn merged_with(self, other: &StoredCredential) -> StoredCredential {
        if self.id != other.id {
            return self;
        }
        let last_used = self.last_used_at_unix_ms.max(other.last_used_at_unix_ms);
        let revoked = match (self.revoked_at_unix_ms, other.revoked_at_unix_ms) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let mut merged = if other.sign_count > self.sign_count {
            other.clone()
        } else {
            self
        };
        merged.last_used_at_unix_ms = last_used;
        merged.revoked_at_unix_ms = revoked;
        merged
    }
}

/// The flags byte of the authenticator data.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Flags(pub u8);

impl Flags {
    pub(crate) fn user_present(self) -> bool {
        self.0 & 0x01 != 0
    }
    pub(crate) fn user_verified(self) -> bool {
        self.0 & 0x04 != 0
    }
    pub(crate) fn backup_eligible(self) -> bool {
        self.0 & 0x08 != 0
    }
}

/// What this crate reads from authenticator data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct AuthData {
    pub flags: Flags,
    pub counter: u32,
    /// Present in registration (attested credential data): AAGUID and credential id.
    pub attested: Option<([u8; 16], Vec<u8>)>,
}

/// Parses `rpIdHash(32) flags(1) signCount(4) [aaguid(16) idLen(2) id(idLen) key…]`.
pub(crate) fn parse_auth_data(data: &[u8]) -> Result<AuthData, AuthError> {
    let short = || AuthError::Invalid("authenticator data too short".into());
    if data.len() < 37 {
        return Err(short());
    }
    let flags = Flags(data[32]);
    let counter = u32::from_be_bytes([data[33], data[34], data[35], data[36]]);
    let attested = if flags.0 & 0x40 != 0 {
        let rest = &data[37..];
        if rest.len() < 18 {
            return Err(short());
        }
        let mut aaguid = [0u8; 16];
        aaguid.copy_from_slice(&rest[..16]);
        let len = usize::from(u16::from_be_bytes([rest[16], rest[17]]));
        let id = rest.get(18..18 + len).ok_or_else(short)?.to_vec();
        Some((aaguid, id))
    } else {
        None
    };
    Ok(AuthData {
        flags,
        counter,
        attested,
    })
}

/// The authenticator data inside a CBOR attestation object (`{"fmt", "attStmt", "authData"}`).
pub(crate) fn attestation_auth_data(attestation_object: &[u8]) -> Result<AuthData, AuthError> {
    let bad = |what: &str| AuthError::Invalid(format!("attestation object: {what}"));
    let value: ciborium::Value =
        ciborium::from_reader(attestation_object).map_err(|_| bad("not CBOR"))?;
    let map = value.as_map().ok_or_else(|| bad("not a map"))?;
    let auth_data = map
        .iter()
        .find(|(k, _)| k.as_text() == Some("authData"))
        .and_then(|(_, v)| v.as_bytes())
        .ok_or_else(|| bad("no authData"))?;
    let parsed = parse_auth_data(auth_data)?;
    if parsed.attested.is_none() {
        return Err(bad("no attested credential data"));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth_data(flags: u8, counter: u32, attested: Option<(&[u8; 16], &[u8])>) -> Vec<u8> {
        let mut v = vec![0xAA; 32];
        v.push(flags);
        v.extend_from_slice(&counter.to_be_bytes());
        if let Some((aaguid, id)) = attested {
            v.extend_from_slice(aaguid);
            v.extend_from_slice(&u16::try_from(id.len()).expect("short id").to_be_bytes());
            v.extend_from_slice(id);
            v.extend_from_slice(&[0xA5, 0x01, 0x02]); // start of a COSE key, not read
        }
        v
    }

    #[test]
    fn reads_flags_counter_and_attested_data() {
        let parsed =
            parse_auth_data(&auth_data(0x45, 7, Some((&[9; 16], b"cred")))).expect("parses");
        assert!(parsed.flags.user_present());
        assert!(parsed.flags.user_verified());
        assert!(!parsed.flags.backup_eligible());
        assert_eq!(parsed.counter, 7);
        assert_eq!(parsed.attested, Some(([9; 16], b"cred".to_vec())));

        let assertion = parse_auth_data(&auth_data(0x09, 300, None)).expect("parses");
        assert!(!assertion.flags.user_verified());
        assert!(assertion.flags.backup_eligible());
        assert_eq!(assertion.counter, 300);
        assert_eq!(assertion.attested, None);
    }

    #[test]
    fn truncated_auth_data_is_invalid() {
        assert_eq!(
            parse_auth_data(&[0; 36]).map_err(|e| e.code()),
            Err("auth.invalid")
        );
        let mut cut = auth_data(0x45, 1, Some((&[1; 16], &[7; 40])));
        cut.truncate(37 + 18 + 10);
        assert!(parse_auth_data(&cut).is_err());
    }

    #[test]
    fn attestation_object_auth_data_is_found() {
        let data = auth_data(0x45, 0, Some((&[3; 16], b"id")));
        let object = ciborium::Value::Map(vec![
            (
                ciborium::Value::Text("fmt".into()),
                ciborium::Value::Text("none".into()),
            ),
            (
                ciborium::Value::Text("attStmt".into()),
                ciborium::Value::Map(vec![]),
            ),
            (
                ciborium::Value::Text("authData".into()),
                ciborium::Value::Bytes(data),
            ),
        ]);
        let mut bytes = Vec::new();
        ciborium::into_writer(&object, &mut bytes).expect("encodes");
        let parsed = attestation_auth_data(&bytes).expect("parses");
        assert_eq!(parsed.attested.map(|(_, id)| id), Some(b"id".to_vec()));
        assert!(attestation_auth_data(b"\x01").is_err());
    }

    #[test]
    fn credential_ids_round_trip() {
        let id = CredentialId::from_bytes(&[0xFB, 0xFF, 0x00]);
        assert_eq!(id.as_str(), "-_8A");
        assert_eq!(id.to_bytes(), Some(vec![0xFB, 0xFF, 0x00]));
        assert_eq!(CredentialId::parse("-_8A"), Some(id));
        assert_eq!(CredentialId::parse("+/8A"), None);
        assert_eq!(CredentialId::parse(""), None);
    }
}
