//! AES-256-GCM sealing of record contents with the record's identity as associated data.
//!
//! Format of a sealed blob: `0x01` (format version) ‖ 12-byte random nonce ‖ ciphertext ‖
//! 16-byte tag. The associated data is `table ‖ 0x00 ‖ record id`, so a ciphertext copied
//! into another row or table fails to open. Random 96-bit nonces are safe well beyond the
//! number of records a kiosk writes under one key (NIST SP 800-38D's 2^32 limit).
//!
//! What it does not do: manage keys (see `key`), or hide sizes and which rows exist.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use zeroize::Zeroizing;

use crate::{DataKey, LedgerError};

const FORMAT_V1: u8 = 1;
const NONCE_LEN: usize = 12;

fn aad(table: &str, id: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(table.len() + 1 + id.len());
    a.extend_from_slice(table.as_bytes());
    a.push(0);
    a.extend_from_slice(id.as_bytes());
    a
}

/// Encrypts `plain` for row `id` of `table`.
pub(crate) fn seal(
    key: &DataKey,
    table: &'static str,
    id: &str,
    plain: &[u8],
) -> Result<Vec<u8>, LedgerError> {
    let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key.bytes()));
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).map_err(|e| LedgerError::Random(e.to_string()))?;
    let aad = aad(table, id);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: plain,
                aad: &aad,
            },
        )
        .map_err(|_| LedgerError::InvalidInput("record too large to encrypt".into()))?;
    let mut out = Vec::with_capacity(1 + NONCE_LEN + ct.len());
    out.push(FORMAT_V1);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

/// Decrypts a blob made by [`seal`] for the same table and id.
pub(crate) fn open(
    key: &DataKey,
    table: &'static str,
    id: &str,
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, LedgerError> {
    let fail = || LedgerError::Decrypt {
        table,
        id: id.to_owned(),
    };
    if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != FORMAT_V1 {
        return Err(fail());
    }
    let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(key.bytes()));
    let aad = aad(table, id);
    cipher
        .decrypt(
            Nonce::from_slice(&sealed[1..1 + NONCE_LEN]),
            Payload {
                msg: &sealed[1 + NONCE_LEN..],
                aad: &aad,
            },
        )
        .map(Zeroizing::new)
        .map_err(|_| fail())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding_to_record_identity() {
        let k = DataKey::from_bytes([1; 32]);
        let s = seal(&k, "evidence", "id-1", b"face image bytes").expect("seal");
        assert_eq!(
            open(&k, "evidence", "id-1", &s).expect("open").as_slice(),
            b"face image bytes"
        );
        // Moved to another row or table: refused.
        assert!(open(&k, "evidence", "id-2", &s).is_err());
        assert!(open(&k, "outbox", "id-1", &s).is_err());
        // Wrong key: refused.
        assert!(open(&DataKey::from_bytes([2; 32]), "evidence", "id-1", &s).is_err());
        // One flipped bit anywhere: refused.
        for i in 0..s.len() {
            let mut t = s.clone();
            t[i] ^= 0x01;
            assert!(open(&k, "evidence", "id-1", &t).is_err(), "bit flip at {i}");
        }
        // Truncated: refused, no panic.
        for n in 0..s.len() {
            assert!(open(&k, "evidence", "id-1", &s[..n]).is_err());
        }
    }

    #[test]
    fn nonces_differ_between_seals() {
        let k = DataKey::from_bytes([1; 32]);
        let a = seal(&k, "t", "i", b"same").expect("seal");
        let b = seal(&k, "t", "i", b"same").expect("seal");
        assert_ne!(a, b);
    }
}
