//! What a kiosk registers at the backend: the public halves of its own keys.
//!
//! The kiosk makes its keys itself (the private halves never leave it) and sends
//! [`KioskKeys`] over its authenticated connection; the backend ties them to the authenticated
//! kiosk id, publishes the issuer key on the trust list and wraps template keys for the wrap
//! key. What it does not do: prove possession of the private keys (the kiosk token
//! authenticates the sender).

use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::{Issuer, IssuerStatus, KioskWrapKey, Result, b64, malformed, parse_id, unb64_32};

/// Name of the kiosk secret its wrap key is made from (see [`KioskIdentity`]).
pub const WRAP_SECRET: &str = "wrap_key";
/// Name of the kiosk secret its issuer key is made from.
pub const ISSUER_SECRET: &str = "issuer_key";

/// The kiosk's own key pairs, made from two 32-byte secrets the kiosk keeps sealed (its
/// ledger's `kiosk_secret`): the X25519 wrap key and the Ed25519 face-credential issuer key,
/// whose key id is the first 8 bytes of SHA-256 over a label and the public key. `Debug`
/// shows only public values; the secrets are zeroed on drop.
pub struct KioskIdentity {
    wrap: KioskWrapKey,
    issuer_seed: Zeroizing<[u8; 32]>,
    issuer_public: [u8; 32],
}

impl std::fmt::Debug for KioskIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "KioskIdentity {{ issuer_kid: {}, wrap: {:?} }}",
            hex::encode(self.issuer_kid()),
            self.wrap
        )
    }
}

impl KioskIdentity {
    /// From the two secrets.
    pub fn from_secrets(wrap: &[u8; 32], issuer: &[u8; 32]) -> Result<Self> {
        Ok(Self {
            wrap: KioskWrapKey::from_secret(wrap)?,
            issuer_seed: Zeroizing::new(*issuer),
            issuer_public: SigningKey::from_bytes(issuer).verifying_key().to_bytes(),
        })
    }

    /// The wrap key.
    pub fn wrap_key(&self) -> &KioskWrapKey {
        &self.wrap
    }

    /// The issuer key's Ed25519 secret (what signs credentials).
    pub fn issuer_seed(&self) -> &[u8; 32] {
        &self.issuer_seed
    }

    /// The issuer key id's bytes (8).
    pub fn issuer_kid(&self) -> Vec<u8> {
        let mut h = Sha256::new();
        h.update(b"madoguchi issuer kid/1\0");
        h.update(self.issuer_public);
        h.finalize()[..8].to_vec()
    }

    /// What the kiosk registers at the backend.
    pub fn registration(&self) -> KioskKeys {
        KioskKeys {
            wrap_public_key: self.wrap.public_base64(),
            issuer_kid: hex::encode(self.issuer_kid()),
            issuer_public_key: b64(&self.issuer_public),
        }
    }
}

/// The body of `PUT /v1/kiosk-keys`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KioskKeys {
    /// X25519 public key for wrapped template keys, unpadded base64url.
    pub wrap_public_key: String,
    /// The kiosk's face-credential issuer key id (hex).
    pub issuer_kid: String,
    /// Its Ed25519 public key, unpadded base64url.
    pub issuer_public_key: String,
}

impl KioskKeys {
    /// Checks the encodings (sizes, hex, a valid Ed25519 point).
    pub fn validate(&self) -> Result<()> {
        unb64_32("kiosk keys", "wrap_public_key", &self.wrap_public_key)?;
        parse_id("kiosk keys", "issuer_kid", &self.issuer_kid)?;
        self.issuer(String::new(), 0).verifying_key().map_err(|_| {
            malformed(
                "kiosk keys",
                "`issuer_public_key` is not an Ed25519 public key",
            )
        })?;
        Ok(())
    }

    /// The trust-list entry for the issuer key, for `kiosk_id`.
    pub fn issuer(&self, kiosk_id: String, since_ms: i64) -> Issuer {
        Issuer {
            kid: self.issuer_kid.clone(),
            public_key: self.issuer_public_key.clone(),
            status: IssuerStatus::Active,
            kiosk_id,
            since_ms,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KioskWrapKey, ListSigningKey};

    #[test]
    fn an_identity_is_stable_for_its_secrets_and_registers_valid_keys() {
        let a = KioskIdentity::from_secrets(&[1; 32], &[2; 32]).expect("id");
        let b = KioskIdentity::from_secrets(&[1; 32], &[2; 32]).expect("id");
        assert_eq!(a.registration(), b.registration());
        a.registration().validate().expect("valid");
        assert_eq!(a.issuer_kid().len(), 8);
        let c = KioskIdentity::from_secrets(&[1; 32], &[3; 32]).expect("id");
        assert_ne!(c.issuer_kid(), a.issuer_kid());
        assert!(!format!("{a:?}").contains(&hex::encode([2u8; 32])));
    }

    #[test]
    fn registrations_are_checked() {
        let issuer = ListSigningKey::generate().expect("key");
        let good = KioskKeys {
            wrap_public_key: KioskWrapKey::generate().public_base64(),
            issuer_kid: "0102030405060708".into(),
            issuer_public_key: issuer.public().to_base64(),
        };
        good.validate().expect("valid");
        assert_eq!(good.issuer("k".into(), 1).status, IssuerStatus::Active);
        let mut bad = good.clone();
        bad.issuer_kid = "xyz".into();
        assert!(bad.validate().is_err());
        let mut bad = good;
        bad.wrap_public_key = "AAAA".into();
        assert!(bad.validate().is_err());
    }
}
