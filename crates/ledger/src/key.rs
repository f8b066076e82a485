//! The data key: 32 bytes for AES-256-GCM, kept in a key file with mode 0600.
//!
//! The key file holds 64 hex digits (and an optional trailing newline). It is provisioned once
//! at install (`DataKey::provision`, never overwriting an existing file) and loaded at start
//! (`DataKey::load`, which refuses a file that group or others may read or write). The key
//! lives in a zeroizing buffer and its `Debug` shows only its public id.
//!
//! What it does not do: encrypt anything (see `crypto`), store the key in the database (only
//! its id is stored, so that opening with the wrong key fails clearly), or protect the key
//! file on Windows (there the installer's ACL does; the mode check is Unix-only).

use std::fmt;
use std::io::Write;
use std::path::Path;

use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::LedgerError;

/// A 256-bit AES-GCM data key. Zeroized on drop; `Debug` shows only [`DataKey::id`].
#[derive(Clone)]
pub struct DataKey {
    bytes: Zeroizing<[u8; 32]>,
}

impl DataKey {
    /// A fresh random key from the operating system's random source.
    pub fn generate() -> Result<DataKey, LedgerError> {
        let mut bytes = Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut()).map_err(|e| LedgerError::Random(e.to_string()))?;
        Ok(DataKey { bytes })
    }

    /// A key from raw bytes (tests, and keys unwrapped from a platform key store).
    pub fn from_bytes(bytes: [u8; 32]) -> DataKey {
        DataKey {
            bytes: Zeroizing::new(bytes),
        }
    }

    /// The public identifier of this key: 16 hex digits of a domain-separated SHA-256 of it.
    /// Stored in the database to recognise the key; reveals nothing usable about the key.
    pub fn id(&self) -> String {
        let mut h = Sha256::new();
        h.update(b"madoguchi-ledger data key id v1\0");
        h.update(self.bytes.as_ref());
        hex::encode(&h.finalize()[..8])
    }

    pub(crate) fn bytes(&self) -> &[u8; 32] {
        &self.bytes
    }

    /// Loads the key file; refuses it unless it is owner-only (0600 or stricter) on Unix.
    pub fn load(path: &Path) -> Result<DataKey, LedgerError> {
        let io = |source| LedgerError::Io {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(io)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(LedgerError::KeyFilePermissions {
                    path: path.to_path_buf(),
                    mode,
                });
            }
        }
        if !meta.is_file() || meta.len() > 256 {
            return Err(LedgerError::KeyFileFormat {
                path: path.to_path_buf(),
                reason: "not a small regular file",
            });
        }
        let text = Zeroizing::new(std::fs::read(path).map_err(io)?);
        let trimmed = text.trim_ascii();
        if trimmed.len() != 64 {
            return Err(LedgerError::KeyFileFormat {
                path: path.to_path_buf(),
                reason: "expected exactly 64 hex digits",
            });
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        hex::decode_to_slice(trimmed, bytes.as_mut()).map_err(|_| LedgerError::KeyFileFormat {
            path: path.to_path_buf(),
            reason: "not hexadecimal",
        })?;
        Ok(DataKey { bytes })
    }

    /// Generates a key and writes it to a new file created with mode 0600. Never overwrites:
    /// an existing file is an error, so re-running an installer cannot destroy the key that
    /// encrypts the ledger.
    pub fn provision(path: &Path) -> Result<DataKey, LedgerError> {
        let key = DataKey::generate()?;
        key.write_new(path)?;
        Ok(key)
    }

    /// Writes this key to a new 0600 file (see [`DataKey::provision`]).
    pub fn write_new(&self, path: &Path) -> Result<(), LedgerError> {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                LedgerError::KeyFileExists {
                    path: path.to_path_buf(),
                }
            } else {
                LedgerError::Io {
                    path: path.to_path_buf(),
                    source,
                }
            }
        })?;
        let mut text = Zeroizing::new(hex::encode(self.bytes.as_ref()));
        text.push('\n');
        f.write_all(text.as_bytes())
            .and_then(|()| f.sync_all())
            .map_err(|source| LedgerError::Io {
                path: path.to_path_buf(),
                source,
            })
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey(id={}, bytes=<redacted>)", self.id())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provision_then_load_round_trips_and_refuses_overwrite() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("data.key");
        let k = DataKey::provision(&p).expect("provision");
        let l = DataKey::load(&p).expect("load");
        assert_eq!(k.bytes(), l.bytes());
        assert_eq!(k.id(), l.id());
        assert!(matches!(
            DataKey::provision(&p),
            Err(LedgerError::KeyFileExists { .. })
        ));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&p).expect("meta").permissions().mode() & 0o777;
            assert_eq!(mode, 0o600);
        }
    }

    #[cfg(unix)]
    #[test]
    fn load_refuses_group_or_world_readable_key_file() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("data.key");
        DataKey::provision(&p).expect("provision");
        for mode in [0o640, 0o604, 0o660, 0o644] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).expect("chmod");
            match DataKey::load(&p) {
                Err(LedgerError::KeyFilePermissions { mode: m, .. }) => assert_eq!(m, mode),
                other => panic!("mode {mode:o} accepted: {other:?}"),
            }
        }
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        assert!(DataKey::load(&p).is_ok());
    }

    #[test]
    fn load_rejects_malformed_files_without_echoing_content() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("k");
        let k = DataKey::from_bytes([7; 32]);
        k.write_new(&p).expect("write");
        // Too short.
        std::fs::write(&p, "abcd").expect("write");
        let e = DataKey::load(&p).expect_err("short key accepted");
        assert!(matches!(e, LedgerError::KeyFileFormat { .. }));
        // Right length, not hex.
        let bad = "zz".repeat(32);
        std::fs::write(&p, &bad).expect("write");
        let e = DataKey::load(&p).expect_err("non-hex accepted");
        assert!(!e.to_string().contains(&bad));
    }

    #[test]
    fn debug_shows_id_not_bytes() {
        let k = DataKey::from_bytes([0xAB; 32]);
        let d = format!("{k:?}");
        assert!(d.contains(&k.id()));
        assert!(!d.to_lowercase().contains("abab"));
        assert_ne!(k.id(), DataKey::from_bytes([0xAC; 32]).id());
    }
}
