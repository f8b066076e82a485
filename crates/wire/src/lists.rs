//! The signed lists the backend publishes and every kiosk checks before it uses them.
//!
//! A [`SignedList`] is a JSON envelope around the list body's JSON bytes (`payload`, base64url),
//! with the list's kind and version, the id of the list key and an Ed25519 signature over a
//! domain-separated message (format label, kind, version, payload bytes): a revocation list
//! cannot pass for a trust list, nor a version label be changed, without breaking the
//! signature. The body is parsed only after the signature verifies, and then validated (ids,
//! keys, no duplicates, the envelope's version equals the body's).
//!
//! What it does not do: decide how old a list may be or where the trusted list key comes from
//! (the kiosk pins it), or store anything.

use std::collections::HashSet;

use ed25519_dalek::{Signer as _, SigningKey, Verifier as _, VerifyingKey};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{Result, WireError, b64, malformed, parse_id, unb64, unb64_32};

/// The envelope's format label.
pub const FORMAT: &str = "madoguchi-signed-list/1";

/// Largest payload accepted (bytes of JSON).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// Which list an envelope holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ListKind {
    /// [`TrustList`].
    TrustList,
    /// [`RevocationList`].
    Revocations,
    /// [`crate::TemplateKeyList`].
    TemplateKeys,
}

impl ListKind {
    /// The stable name (as in the JSON).
    pub fn as_str(self) -> &'static str {
        match self {
            ListKind::TrustList => "trust_list",
            ListKind::Revocations => "revocations",
            ListKind::TemplateKeys => "template_keys",
        }
    }
}

/// A list body that travels in a [`SignedList`].
pub trait ListBody: Serialize + DeserializeOwned {
    /// Its kind.
    const KIND: ListKind;
    /// Its version (only increases at the backend).
    fn version(&self) -> u64;
    /// Checks every field (ids, keys, duplicates).
    fn validate(&self) -> Result<()>;
}

/// Whether a list of version `offered` replaces the one held: `Ok(true)` if newer, `Ok(false)`
/// if it is the same version, [`WireError::Rollback`] if older.
pub fn check_newer(kind: ListKind, held: Option<u64>, offered: u64) -> Result<bool> {
    match held {
        Some(held) if offered < held => Err(WireError::Rollback {
            kind: kind.as_str(),
            offered,
            held,
        }),
        Some(held) => Ok(offered > held),
        None => Ok(true),
    }
}

/// The backend's Ed25519 list signing key. Zeroed on drop; `Debug` shows only the key id.
pub struct ListSigningKey {
    key: SigningKey,
}

impl std::fmt::Debug for ListSigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ListSigningKey {{ key_id: {}, key: <redacted> }}",
            self.public().key_id()
        )
    }
}

impl ListSigningKey {
    /// A fresh random key.
    pub fn generate() -> Result<Self> {
        let mut seed = Zeroizing::new([0u8; 32]);
        rand_core::RngCore::try_fill_bytes(&mut rand_core::OsRng, seed.as_mut_slice())
            .map_err(|_| WireError::Rng)?;
        Ok(Self::from_secret(&seed))
    }

    /// From the 32-byte Ed25519 secret.
    pub fn from_secret(secret: &[u8; 32]) -> Self {
        Self {
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The 32-byte secret, for sealed storage.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(self.key.to_bytes())
    }

    /// The public half the kiosks pin.
    pub fn public(&self) -> ListPublicKey {
        ListPublicKey(self.key.verifying_key())
    }
}

/// The list key's public half, as a kiosk pins it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct ListPublicKey(VerifyingKey);

impl std::fmt::Debug for ListPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ListPublicKey({})", self.key_id())
    }
}

impl ListPublicKey {
    /// Its id: hex of the first 8 bytes of the SHA-256 of the key.
    pub fn key_id(&self) -> String {
        hex::encode(&Sha256::digest(self.0.as_bytes())[..8])
    }

    /// Unpadded base64url of the 32 key bytes (the form in configuration files).
    pub fn to_base64(&self) -> String {
        b64(self.0.as_bytes())
    }

    /// From unpadded base64url.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = unb64_32("list key", "public_key", text.trim())?;
        VerifyingKey::from_bytes(&bytes)
            .map(Self)
            .map_err(|_| malformed("list key", "not an Ed25519 public key"))
    }
}

/// A list as it travels: the body's JSON bytes, signed by the list key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignedList {
    /// Always [`FORMAT`].
    pub format: String,
    /// What the payload is.
    pub kind: ListKind,
    /// The body's version.
    pub version: u64,
    /// Id of the signing list key ([`ListPublicKey::key_id`]).
    pub key_id: String,
    /// The body's JSON, unpadded base64url.
    pub payload: String,
    /// Ed25519 signature over [`SignedList::message`], unpadded base64url.
    pub signature: String,
}

impl SignedList {
    fn message(kind: ListKind, version: u64, payload: &[u8]) -> Vec<u8> {
        let mut m = Vec::with_capacity(payload.len() + 64);
        m.extend_from_slice(FORMAT.as_bytes());
        m.push(0);
        m.extend_from_slice(kind.as_str().as_bytes());
        m.push(0);
        m.extend_from_slice(version.to_string().as_bytes());
        m.push(0);
        m.extend_from_slice(payload);
        m
    }

    /// Signs a body (validated first: the backend never publishes a list a kiosk would refuse).
    pub fn sign<T: ListBody>(key: &ListSigningKey, body: &T) -> Result<Self> {
        body.validate()?;
        let payload = serde_json::to_vec(body)
            .map_err(|e| malformed(T::KIND.as_str(), format!("cannot encode: {e}")))?;
        let sig = key
            .key
            .sign(&Self::message(T::KIND, body.version(), &payload));
        Ok(Self {
            format: FORMAT.to_owned(),
            kind: T::KIND,
            version: body.version(),
            key_id: key.public().key_id(),
            payload: b64(&payload),
            signature: b64(&sig.to_bytes()),
        })
    }

    /// Checks the envelope against the trusted list key and returns the validated body.
    pub fn open<T: ListBody>(&self, key: &ListPublicKey) -> Result<T> {
        let what = T::KIND.as_str();
        if self.format != FORMAT {
            return Err(WireError::UnknownFormat(self.format.clone()));
        }
        if self.kind != T::KIND {
            return Err(WireError::WrongKind {
                expected: what,
                got: self.kind.as_str(),
            });
        }
        if self.key_id != key.key_id() {
            return Err(WireError::UnknownKey {
                kind: what,
                got: self.key_id.chars().take(64).collect(),
                expected: key.key_id(),
            });
        }
        let payload = unb64(what, "payload", &self.payload)?;
        if payload.len() > MAX_PAYLOAD {
            return Err(malformed(what, "payload too large"));
        }
        let sig = unb64(what, "signature", &self.signature)?;
        let sig = ed25519_dalek::Signature::from_slice(&sig)
            .map_err(|_| malformed(what, "`signature` must be 64 bytes"))?;
        key.0
            .verify(&Self::message(self.kind, self.version, &payload), &sig)
            .map_err(|_| WireError::BadSignature(what))?;
        let body: T =
            serde_json::from_slice(&payload).map_err(|e| malformed(what, format!("body: {e}")))?;
        if body.version() != self.version {
            return Err(malformed(what, "the envelope's version is not the body's"));
        }
        body.validate()?;
        Ok(body)
    }

    /// The envelope as JSON bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// Parses an envelope (not yet verified: call [`SignedList::open`]).
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| malformed("signed list", e.to_string()))
    }
}

/// The status of an issuer key on the trust list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuerStatus {
    /// Issues credentials now.
    Active,
    /// Issues no more; credentials it signed stay valid until they expire.
    Retired,
    /// Withdrawn: every credential it signed is rejected.
    Revoked,
}

/// One issuer key: the Ed25519 key an enrolling kiosk signs face credentials with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issuer {
    /// Key id (hex of the bytes a credential's header carries).
    pub kid: String,
    /// The Ed25519 public key, unpadded base64url.
    pub public_key: String,
    /// Active, retired or revoked.
    pub status: IssuerStatus,
    /// The kiosk that holds the private half.
    pub kiosk_id: String,
    /// When the status last changed (Unix ms).
    pub since_ms: i64,
}

impl Issuer {
    /// The key id's bytes.
    pub fn kid_bytes(&self) -> Result<Vec<u8>> {
        parse_id("trust list", "issuers[].kid", &self.kid)
    }

    /// The public key.
    pub fn verifying_key(&self) -> Result<VerifyingKey> {
        let b = unb64_32("trust list", "issuers[].public_key", &self.public_key)?;
        VerifyingKey::from_bytes(&b)
            .map_err(|_| malformed("trust list", "`issuers[].public_key` is not an Ed25519 key"))
    }
}

/// The face-credential trust list: every issuer key the bank has known, with its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrustList {
    /// Only increases.
    pub version: u64,
    /// When the backend signed it (Unix ms).
    pub issued_at_ms: i64,
    /// The issuer keys.
    pub issuers: Vec<Issuer>,
}

impl TrustList {
    /// The issuer with these key-id bytes.
    pub fn issuer(&self, kid: &[u8]) -> Option<&Issuer> {
        let kid = hex::encode(kid);
        self.issuers.iter().find(|i| i.kid == kid)
    }
}

impl ListBody for TrustList {
    const KIND: ListKind = ListKind::TrustList;
    fn version(&self) -> u64 {
        self.version
    }
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for i in &self.issuers {
            i.kid_bytes()?;
            i.verifying_key()?;
            if i.kiosk_id.is_empty() || i.kiosk_id.len() > 128 {
                return Err(malformed(
                    "trust list",
                    "`issuers[].kiosk_id` must be 1 to 128 bytes",
                ));
            }
            if !seen.insert(i.kid.as_str()) {
                return Err(malformed("trust list", "an issuer key id appears twice"));
            }
        }
        Ok(())
    }
}

/// One revoked face credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevokedCredential {
    /// The credential id (hex).
    pub credential_id: String,
    /// When it was revoked (Unix ms).
    pub revoked_at_ms: i64,
}

/// The revocation list: every revoked face credential (reasons stay at the backend).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RevocationList {
    /// Only increases.
    pub version: u64,
    /// When the backend signed it (Unix ms).
    pub issued_at_ms: i64,
    /// The revoked credentials.
    pub credentials: Vec<RevokedCredential>,
}

impl RevocationList {
    /// Whether a credential id (its bytes) is on the list.
    pub fn is_revoked(&self, credential_id: &[u8]) -> bool {
        let id = hex::encode(credential_id);
        self.credentials.iter().any(|c| c.credential_id == id)
    }
}

impl ListBody for RevocationList {
    const KIND: ListKind = ListKind::Revocations;
    fn version(&self) -> u64 {
        self.version
    }
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for c in &self.credentials {
            parse_id(
                "revocations",
                "credentials[].credential_id",
                &c.credential_id,
            )?;
            if !seen.insert(c.credential_id.as_str()) {
                return Err(malformed("revocations", "a credential id appears twice"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn issuer(kid: &str, status: IssuerStatus) -> Issuer {
        let k = ListSigningKey::generate().expect("key");
        Issuer {
            kid: kid.into(),
            public_key: k.public().to_base64(),
            status,
            kiosk_id: "kiosk-1".into(),
            since_ms: 1,
        }
    }

    fn trust(version: u64) -> TrustList {
        TrustList {
            version,
            issued_at_ms: 5,
            issuers: vec![
                issuer("0102030405060708", IssuerStatus::Active),
                issuer("a1a2a3a4a5a6a7a8", IssuerStatus::Revoked),
            ],
        }
    }

    #[test]
    fn signed_lists_open_with_the_list_key_only() {
        let key = ListSigningKey::generate().expect("key");
        let body = trust(7);
        let signed = SignedList::sign(&key, &body).expect("sign");
        let back = SignedList::from_json(&signed.to_json()).expect("json");
        assert_eq!(back.open::<TrustList>(&key.public()).expect("open"), body);
        assert_eq!(
            body.issuer(&[1, 2, 3, 4, 5, 6, 7, 8]).map(|i| i.status),
            Some(IssuerStatus::Active)
        );

        let other = ListSigningKey::generate().expect("key");
        assert!(matches!(
            signed.open::<TrustList>(&other.public()),
            Err(WireError::UnknownKey { .. })
        ));
        // Another key claiming the trusted key's id: the signature fails.
        let mut forged = SignedList::sign(&other, &body).expect("sign");
        forged.key_id = key.public().key_id();
        assert_eq!(
            forged.open::<TrustList>(&key.public()),
            Err(WireError::BadSignature("trust_list"))
        );
    }

    #[test]
    fn tampering_kind_version_or_payload_breaks_the_signature() {
        let key = ListSigningKey::generate().expect("key");
        let signed = SignedList::sign(&key, &trust(3)).expect("sign");

        let mut v = signed.clone();
        v.version = 9;
        assert_eq!(
            v.open::<TrustList>(&key.public()),
            Err(WireError::BadSignature("trust_list"))
        );

        let mut p = signed.clone();
        let mut body = trust(3);
        body.issuers[1].status = IssuerStatus::Active;
        p.payload = b64(&serde_json::to_vec(&body).expect("json"));
        assert_eq!(
            p.open::<TrustList>(&key.public()),
            Err(WireError::BadSignature("trust_list"))
        );

        // A revocation list is not a trust list, even when correctly signed.
        let rev = RevocationList {
            version: 3,
            issued_at_ms: 1,
            credentials: vec![],
        };
        let signed_rev = SignedList::sign(&key, &rev).expect("sign");
        assert!(matches!(
            signed_rev.open::<TrustList>(&key.public()),
            Err(WireError::WrongKind { .. })
        ));
        let mut relabelled = signed_rev;
        relabelled.kind = ListKind::TrustList;
        assert!(relabelled.open::<TrustList>(&key.public()).is_err());

        let mut f = signed;
        f.format = "other/9".into();
        assert_eq!(
            f.open::<TrustList>(&key.public()),
            Err(WireError::UnknownFormat("other/9".into()))
        );
    }

    #[test]
    fn bodies_are_validated() {
        let key = ListSigningKey::generate().expect("key");
        let mut t = trust(1);
        t.issuers[1].kid = t.issuers[0].kid.clone();
        assert!(SignedList::sign(&key, &t).is_err(), "duplicate kid");
        let mut t = trust(1);
        t.issuers[0].kid = "0A".into();
        assert!(SignedList::sign(&key, &t).is_err(), "uppercase hex");
        let mut t = trust(1);
        t.issuers[0].public_key = "AAAA".into();
        assert!(SignedList::sign(&key, &t).is_err(), "short key");
        let r = RevocationList {
            version: 1,
            issued_at_ms: 1,
            credentials: vec![RevokedCredential {
                credential_id: "zz".into(),
                revoked_at_ms: 1,
            }],
        };
        assert!(SignedList::sign(&key, &r).is_err(), "bad id");
    }

    #[test]
    fn versions_only_increase() {
        let k = ListKind::Revocations;
        assert_eq!(check_newer(k, None, 0), Ok(true));
        assert_eq!(check_newer(k, Some(4), 5), Ok(true));
        assert_eq!(check_newer(k, Some(5), 5), Ok(false));
        assert_eq!(
            check_newer(k, Some(5), 4),
            Err(WireError::Rollback {
                kind: "revocations",
                offered: 4,
                held: 5
            })
        );
    }

    #[test]
    fn list_keys_roundtrip_and_debug_hides_the_secret() {
        let key = ListSigningKey::generate().expect("key");
        let secret = hex::encode(*key.secret());
        assert!(!format!("{key:?}").contains(&secret));
        let again = ListSigningKey::from_secret(&key.secret());
        assert_eq!(again.public(), key.public());
        let p = ListPublicKey::from_base64(&key.public().to_base64()).expect("b64");
        assert_eq!(p, key.public());
        assert_eq!(p.key_id().len(), 16);
        assert!(ListPublicKey::from_base64("not a key").is_err());
    }
}
