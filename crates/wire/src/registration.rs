//! What a kiosk registers at the backend: the public halves of its own keys.
//!
//! The kiosk makes its keys itself (the private halves never leave it) and sends
//! [`KioskKeys`] over its authenticated connection; the backend ties them to the authenticated
//! kiosk id, publishes the issuer key on the trust list and wraps template keys for the wrap
//! key. What it does not do: prove possession of the private keys (the kiosk token
//! authenticates the sender).

use serde::{Deserialize, Serialize};

use crate::{Issuer, IssuerStatus, Result, malformed, parse_id, unb64_32};

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
