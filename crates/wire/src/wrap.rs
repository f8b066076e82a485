//! Template keys wrapped for one kiosk.
//!
//! Every kiosk has its own X25519 key pair ([`KioskWrapKey`]); it registers the public half at
//! the backend ([`crate::KioskKeys`]). The backend wraps each template key (AES-256, the key
//! that encrypts templates inside face credentials) for that kiosk with HPKE (RFC 9180, base
//! mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM), the kiosk id and the key id
//! bound in the HPKE `info`: a key wrapped for one kiosk opens at no other, and cannot be
//! relabelled. The wrapped keys travel as a [`TemplateKeyList`] in the signed envelope.
//!
//! What it does not do: store keys (the kiosk's ledger and the backend's store do, sealed), or
//! choose which keys a kiosk gets.

use std::collections::HashSet;

use hpke::{Deserializable as _, Kem as _, OpModeR, OpModeS, Serializable as _};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::lists::{ListBody, ListKind};
use crate::{Result, WireError, b64, malformed, parse_id, unb64, unb64_32};

type Kem = hpke::kem::X25519HkdfSha256;
type Kdf = hpke::kdf::HkdfSha256;
type Aead = hpke::aead::AesGcm256;

fn info(kiosk_id: &str, kid: &str) -> Vec<u8> {
    let mut i = b"madoguchi template key/1\0".to_vec();
    i.extend_from_slice(kiosk_id.as_bytes());
    i.push(0);
    i.extend_from_slice(kid.as_bytes());
    i
}

/// A kiosk's X25519 key pair for receiving template keys. Zeroed on drop; `Debug` redacted.
pub struct KioskWrapKey {
    secret: <Kem as hpke::Kem>::PrivateKey,
    public: <Kem as hpke::Kem>::PublicKey,
}

impl std::fmt::Debug for KioskWrapKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KioskWrapKey {{ public: {}, secret: <redacted> }}",
            self.public_base64()
        )
    }
}

impl KioskWrapKey {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        let (secret, public) = Kem::gen_keypair(&mut rand_core::OsRng);
        Self { secret, public }
    }

    /// From the 32-byte secret (as sealed in the kiosk's ledger).
    pub fn from_secret(secret: &[u8; 32]) -> Result<Self> {
        let secret = <Kem as hpke::Kem>::PrivateKey::from_bytes(secret)
            .map_err(|_| malformed("kiosk wrap key", "not an X25519 secret"))?;
        let public = <Kem as hpke::Kem>::sk_to_pk(&secret);
        Ok(Self { secret, public })
    }

    /// The 32-byte secret, for sealed storage.
    pub fn secret(&self) -> Zeroizing<[u8; 32]> {
        let mut out = Zeroizing::new([0u8; 32]);
        out.copy_from_slice(&self.secret.to_bytes());
        out
    }

    /// The public half, unpadded base64url (what the kiosk registers).
    pub fn public_base64(&self) -> String {
        b64(&self.public.to_bytes())
    }

    /// Opens a template key wrapped for `kiosk_id`.
    pub fn unwrap(&self, kiosk_id: &str, key: &WrappedTemplateKey) -> Result<Zeroizing<[u8; 32]>> {
        let enc = unb64("template keys", "keys[].enc", &key.enc)?;
        let enc = <Kem as hpke::Kem>::EncappedKey::from_bytes(&enc)
            .map_err(|_| malformed("template keys", "`keys[].enc` is not an X25519 key"))?;
        let ct = unb64("template keys", "keys[].ciphertext", &key.ciphertext)?;
        let plain = Zeroizing::new(
            hpke::single_shot_open::<Aead, Kdf, Kem>(
                &OpModeR::Base,
                &self.secret,
                &enc,
                &info(kiosk_id, &key.kid),
                &ct,
                b"",
            )
            .map_err(|_| WireError::Unwrap(key.kid.clone()))?,
        );
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(WireError::Unwrap(key.kid.clone()));
        }
        out.copy_from_slice(&plain);
        Ok(out)
    }
}

/// Wraps one template key for a kiosk's registered public key (base64url).
pub fn wrap(
    kiosk_public: &str,
    kiosk_id: &str,
    kid: &str,
    status: TemplateKeyStatus,
    key: &[u8; 32],
) -> Result<WrappedTemplateKey> {
    let pk = unb64_32("kiosk keys", "wrap_public_key", kiosk_public)?;
    let pk = <Kem as hpke::Kem>::PublicKey::from_bytes(&pk)
        .map_err(|_| malformed("kiosk keys", "`wrap_public_key` is not an X25519 key"))?;
    let (enc, ct) = hpke::single_shot_seal::<Aead, Kdf, Kem, _>(
        &OpModeS::Base,
        &pk,
        &info(kiosk_id, kid),
        key,
        b"",
        &mut rand_core::OsRng,
    )
    .map_err(|_| WireError::Rng)?;
    Ok(WrappedTemplateKey {
        kid: kid.to_owned(),
        status,
        enc: b64(&enc.to_bytes()),
        ciphertext: b64(&ct),
    })
}

/// Whether a template key encrypts new credentials.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TemplateKeyStatus {
    /// Used when issuing.
    Active,
    /// Only reads credentials issued before the rotation.
    Retired,
}

/// One template key, wrapped for one kiosk.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WrappedTemplateKey {
    /// Key id (hex of the bytes a credential carries).
    pub kid: String,
    /// Active or retired.
    pub status: TemplateKeyStatus,
    /// HPKE encapsulated key, unpadded base64url.
    pub enc: String,
    /// The sealed key, unpadded base64url.
    pub ciphertext: String,
}

impl std::fmt::Debug for WrappedTemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WrappedTemplateKey")
            .field("kid", &self.kid)
            .field("status", &self.status)
            .finish_non_exhaustive()
    }
}

/// The template keys one kiosk may use, wrapped for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateKeyList {
    /// Only increases.
    pub version: u64,
    /// When the backend signed it (Unix ms).
    pub issued_at_ms: i64,
    /// The kiosk the keys are wrapped for.
    pub kiosk_id: String,
    /// Newest first; exactly one is active when the list is not empty.
    pub keys: Vec<WrappedTemplateKey>,
}

impl ListBody for TemplateKeyList {
    const KIND: ListKind = ListKind::TemplateKeys;
    fn version(&self) -> u64 {
        self.version
    }
    fn validate(&self) -> Result<()> {
        let mut seen = HashSet::new();
        for k in &self.keys {
            parse_id("template keys", "keys[].kid", &k.kid)?;
            if !seen.insert(k.kid.as_str()) {
                return Err(malformed("template keys", "a key id appears twice"));
            }
        }
        let active = self
            .keys
            .iter()
            .filter(|k| k.status == TemplateKeyStatus::Active)
            .count();
        if !self.keys.is_empty() && active != 1 {
            return Err(malformed("template keys", "exactly one key must be active"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ListSigningKey, SignedList};

    #[test]
    fn a_wrapped_key_opens_only_for_its_kiosk_and_id() {
        let kiosk = KioskWrapKey::generate();
        let other = KioskWrapKey::generate();
        let key = [7u8; 32];
        let w = wrap(
            &kiosk.public_base64(),
            "kiosk-1",
            "0a0b0c0d",
            TemplateKeyStatus::Active,
            &key,
        )
        .expect("wrap");
        assert_eq!(*kiosk.unwrap("kiosk-1", &w).expect("unwrap"), key);
        assert!(!w.ciphertext.contains(&b64(&key)));
        assert_eq!(
            other.unwrap("kiosk-1", &w),
            Err(WireError::Unwrap("0a0b0c0d".into()))
        );
        assert!(kiosk.unwrap("kiosk-2", &w).is_err(), "another kiosk id");
        let mut relabelled = w.clone();
        relabelled.kid = "0a0b0c0e".into();
        assert!(kiosk.unwrap("kiosk-1", &relabelled).is_err(), "another kid");
        assert!(!format!("{w:?}").contains(&w.ciphertext));
    }

    #[test]
    fn kiosk_keys_roundtrip_and_debug_hides_the_secret() {
        let k = KioskWrapKey::generate();
        let again = KioskWrapKey::from_secret(&k.secret()).expect("from secret");
        assert_eq!(again.public_base64(), k.public_base64());
        assert!(!format!("{k:?}").contains(&b64(&*k.secret())));
    }

    #[test]
    fn the_list_travels_signed_and_needs_one_active_key() {
        let kiosk = KioskWrapKey::generate();
        let list_key = ListSigningKey::generate().expect("key");
        let pk = kiosk.public_base64();
        let mut list = TemplateKeyList {
            version: 2,
            issued_at_ms: 9,
            kiosk_id: "kiosk-1".into(),
            keys: vec![
                wrap(&pk, "kiosk-1", "02", TemplateKeyStatus::Active, &[2; 32]).expect("wrap"),
                wrap(&pk, "kiosk-1", "01", TemplateKeyStatus::Retired, &[1; 32]).expect("wrap"),
            ],
        };
        let signed = SignedList::sign(&list_key, &list).expect("sign");
        let back: TemplateKeyList = signed.open(&list_key.public()).expect("open");
        assert_eq!(
            *kiosk.unwrap("kiosk-1", &back.keys[1]).expect("unwrap"),
            [1; 32]
        );
        list.keys[1].status = TemplateKeyStatus::Active;
        assert!(SignedList::sign(&list_key, &list).is_err());
    }
}
