//! The backend's master key: 32 random bytes in a key file (64 hex digits, mode 0600) that seal
//! every secret the store keeps — the template keys and the list signing key — with
//! AES-256-GCM, the key's purpose and id as associated data (a sealed key copied to another
//! row, or relabelled, does not open).
//!
//! `serve` creates the file when it does not exist ([`MasterKey::load_or_create`]); every other
//! command needs it to exist ([`MasterKey::load`]), and a file readable by group or others is
//! refused. Opening a store with another key than the one its secrets were sealed with fails
//! with [`CentralError::Unseal`], naming the key id, never the value.
//!
//! Sealed text in the `keys.secret` column: `a256gcm1:` then unpadded base64url of the 12-byte
//! random nonce, the ciphertext and the 16-byte tag.
//!
//! Derived keys (`MasterKey::derive`): HMAC-SHA256 of the master key over a purpose label,
//! for secrets that are not stored at all (the duplicate check's identity keys, see
//! [`crate::duplicates`]) or sealed under a key of their own (its face templates): each
//! purpose gets an independent key, and none reveals the master key or another purpose's.
//!
//! What it does NOT do: keep the key in an HSM (a bank deployment would), rotate the master key,
//! or print it: `Debug` shows only a short id derived from it.

use std::io::Write as _;
use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::CentralError;

/// The prefix of sealed text (format version 1).
pub const SEALED_PREFIX: &str = "a256gcm1:";

const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;

/// The master key. Zeroed on drop; `Debug` shows only [`MasterKey::id`].
pub struct MasterKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MasterKey(id={}, bytes=<redacted>)", self.id())
    }
}

fn key_file_error(path: &Path, reason: &'static str) -> CentralError {
    CentralError::KeyFile {
        path: path.to_path_buf(),
        reason,
    }
}

fn aad(purpose: &str, kid: &str) -> Vec<u8> {
    let mut a = Vec::with_capacity(purpose.len() + 1 + kid.len());
    a.extend_from_slice(purpose.as_bytes());
    a.push(0);
    a.extend_from_slice(kid.as_bytes());
    a
}

impl MasterKey {
    /// From its 32 bytes (tests, or a key held elsewhere).
    pub fn from_bytes(bytes: [u8; 32]) -> MasterKey {
        MasterKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// A fresh random key (not written anywhere: see [`MasterKey::write_new`]).
    pub fn generate() -> Result<MasterKey, CentralError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut_slice()).map_err(|e| CentralError::Random(e.to_string()))?;
        Ok(MasterKey { bytes })
    }

    /// A short public id of the key (hex of 4 bytes of a SHA-256 over a label and the key),
    /// for logs and error messages.
    pub fn id(&self) -> String {
        let mut h = sha2::Sha256::new();
        h.update(b"madoguchi-central master key id/1\0");
        h.update(self.bytes.as_slice());
        hex::encode(&h.finalize()[..4])
    }

    /// Reads the key file: 64 hex digits (surrounding white space allowed), a regular file of
    /// mode 0600 or stricter. A missing file is [`CentralError::KeyFileMissing`].
    pub fn load(path: &Path) -> Result<MasterKey, CentralError> {
        let meta = match std::fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(CentralError::KeyFileMissing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(CentralError::Io {
                    context: format!("reading {}", path.display()),
                    source,
                });
            }
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            if meta.permissions().mode() & 0o077 != 0 {
                return Err(key_file_error(
                    path,
                    "readable or writable by group or others (chmod 600 it)",
                ));
            }
        }
        if !meta.is_file() || meta.len() > 256 {
            return Err(key_file_error(path, "not a small regular file"));
        }
        let text = Zeroizing::new(std::fs::read(path).map_err(|source| CentralError::Io {
            context: format!("reading {}", path.display()),
            source,
        })?);
        let trimmed = text.trim_ascii();
        if trimmed.len() != 64 {
            return Err(key_file_error(path, "expected exactly 64 hex digits"));
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(trimmed, bytes.as_mut_slice())
            .map_err(|_| key_file_error(path, "not hexadecimal"))?;
        Ok(MasterKey { bytes })
    }

    /// [`MasterKey::load`], or when the file does not exist a new random key written to it
    /// (mode 0600). Returns the key and whether it was created.
    pub fn load_or_create(path: &Path) -> Result<(MasterKey, bool), CentralError> {
        match Self::load(path) {
            Err(CentralError::KeyFileMissing { .. }) => {
                let key = Self::generate()?;
                key.write_new(path)?;
                Ok((key, true))
            }
            other => other.map(|k| (k, false)),
        }
    }

    /// Writes the key to a new file of mode 0600. Never overwrites: an existing file is an
    /// error, so a second start cannot replace the key its database is sealed with.
    pub fn write_new(&self, path: &Path) -> Result<(), CentralError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            opts.mode(0o600);
        }
        let io = |source| CentralError::Io {
            context: format!("writing {}", path.display()),
            source,
        };
        let mut f = opts.open(path).map_err(io)?;
        let mut text = Zeroizing::new(hex::encode(self.bytes.as_slice()));
        text.push('\n');
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(io)
    }

    /// A 32-byte key for `label` derived from this key: HMAC-SHA256(master key,
    /// `"madoguchi-central derive/1\0" || label`). Zeroed on drop.
    pub(crate) fn derive(&self, label: &str) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(
            self.bytes.as_slice(),
            &[b"madoguchi-central derive/1\0", label.as_bytes()],
        ))
    }

    /// Seals `plain`, the secret of key `kid` of `purpose`.
    pub(crate) fn seal(
        &self,
        purpose: &str,
        kid: &str,
        plain: &[u8],
    ) -> Result<String, CentralError> {
        let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(self.bytes.as_slice()));
        let mut nonce = [0u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|e| CentralError::Random(e.to_string()))?;
        let aad = aad(purpose, kid);
        let ct = cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: plain,
                    aad: &aad,
                },
            )
            .map_err(|_| CentralError::Invalid(format!("cannot seal the {purpose} key {kid}")))?;
        let mut blob = Vec::with_capacity(NONCE_LEN + ct.len());
        blob.extend_from_slice(&nonce);
        blob.extend_from_slice(&ct);
        Ok(format!("{SEALED_PREFIX}{}", B64.encode(blob)))
    }

    /// Opens what [`MasterKey::seal`] made for the same purpose and key id.
    pub(crate) fn open(
        &self,
        purpose: &str,
        kid: &str,
        sealed: &str,
    ) -> Result<Zeroizing<Vec<u8>>, CentralError> {
        let fail = || CentralError::Unseal {
            purpose: purpose.to_owned(),
            kid: kid.to_owned(),
            master_key_id: self.id(),
        };
        let blob = sealed
            .strip_prefix(SEALED_PREFIX)
            .and_then(|b| B64.decode(b).ok())
            .filter(|b| b.len() >= NONCE_LEN + TAG_LEN)
            .ok_or_else(fail)?;
        let cipher = Aes256Gcm::new(aes_gcm::Key::<Aes256Gcm>::from_slice(self.bytes.as_slice()));
        let aad = aad(purpose, kid);
        cipher
            .decrypt(
                Nonce::from_slice(&blob[..NONCE_LEN]),
                Payload {
                    msg: &blob[NONCE_LEN..],
                    aad: &aad,
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| fail())
    }

    /// [`MasterKey::open`] of a 32-byte secret.
    pub(crate) fn open_32(
        &self,
        purpose: &str,
        kid: &str,
        sealed: &str,
    ) -> Result<Zeroizing<[u8; 32]>, CentralError> {
        let plain = self.open(purpose, kid, sealed)?;
        let mut out = Zeroizing::new([0u8; 32]);
        if plain.len() != 32 {
            return Err(CentralError::Unseal {
                purpose: purpose.to_owned(),
                kid: kid.to_owned(),
                master_key_id: self.id(),
            });
        }
        out.copy_from_slice(&plain);
        Ok(out)
    }
}

/// HMAC-SHA256 (RFC 2104) of the concatenated `parts` under `key`.
pub(crate) fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k0 = Zeroizing::new([0u8; BLOCK]);
    if key.len() > BLOCK {
        k0[..32].copy_from_slice(&sha2::Sha256::digest(key));
    } else {
        k0[..key.len()].copy_from_slice(key);
    }
    let mut pad = Zeroizing::new([0u8; BLOCK]);
    for (p, k) in pad.iter_mut().zip(k0.iter()) {
        *p = k ^ 0x36;
    }
    let mut inner = sha2::Sha256::new();
    inner.update(pad.as_slice());
    for part in parts {
        inner.update(part);
    }
    let inner = Zeroizing::new(<[u8; 32]>::from(inner.finalize()));
    for (p, k) in pad.iter_mut().zip(k0.iter()) {
        *p = k ^ 0x5c;
    }
    let mut outer = sha2::Sha256::new();
    outer.update(pad.as_slice());
    outer.update(inner.as_slice());
    outer.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_follows_rfc_4231_and_derived_keys_differ_per_label() {
        // RFC 4231 test cases 2 and 6 (a key longer than the block).
        assert_eq!(
            hex::encode(hmac_sha256(
                b"Jefe",
                &[b"what do ya ", b"want for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let k = MasterKey::from_bytes([1; 32]);
        assert_ne!(*k.derive("a"), *k.derive("b"));
        assert_eq!(*k.derive("a"), *k.derive("a"));
        assert_ne!(*k.derive("a"), *MasterKey::from_bytes([2; 32]).derive("a"));
        assert_ne!(*k.derive("a"), [1; 32]);
    }

    #[test]
    fn sealed_secrets_open_only_with_their_key_purpose_and_id() {
        let k = MasterKey::from_bytes([1; 32]);
        let s = k.seal("template", "0a0b0c0d", &[7; 32]).unwrap();
        assert!(s.starts_with(SEALED_PREFIX));
        assert!(!s.contains(&B64.encode([7u8; 32])));
        assert_eq!(*k.open_32("template", "0a0b0c0d", &s).unwrap(), [7; 32]);
        assert!(k.open("template", "0a0b0c0e", &s).is_err(), "another kid");
        assert!(k.open("list", "0a0b0c0d", &s).is_err(), "another purpose");
        let other = MasterKey::from_bytes([2; 32]);
        let e = other.open("template", "0a0b0c0d", &s).unwrap_err();
        assert!(matches!(e, CentralError::Unseal { .. }), "{e}");
        assert!(!e.to_string().contains(&hex::encode([2u8; 32])), "{e}");
        assert!(k.open("template", "0a0b0c0d", "clear text").is_err());
        assert!(!format!("{k:?}").contains(&hex::encode([1u8; 32])));
        assert_ne!(k.id(), other.id());
    }

    #[test]
    fn key_files_are_created_0600_reloaded_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("central.key");
        assert!(matches!(
            MasterKey::load(&p),
            Err(CentralError::KeyFileMissing { .. })
        ));
        let (k, created) = MasterKey::load_or_create(&p).unwrap();
        assert!(created);
        let (again, created) = MasterKey::load_or_create(&p).unwrap();
        assert!(!created);
        assert_eq!(k.id(), again.id());
        assert!(k.write_new(&p).is_err(), "overwrote the key file");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
            let e = MasterKey::load(&p).unwrap_err();
            assert!(e.to_string().contains("group or others"), "{e}");
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        std::fs::write(&p, "not hex").unwrap();
        assert!(matches!(
            MasterKey::load(&p),
            Err(CentralError::KeyFile { .. })
        ));
    }
}
