//! The kiosk's own secrets: 32 random bytes per name (the seed of its template-key wrap key,
//! of its face-credential issuer key), made on first use and kept sealed with the data key
//! (associated data: the name), re-sealed by a key rotation.
//!
//! What it does not do: know what the bytes become (the caller derives its key pair from
//! them), hand them to anything but the caller, or log them (the audit entry names only the
//! secret).

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::json;
use zeroize::Zeroizing;

use crate::{DataKey, Ledger, LedgerError, audit, crypto, now_ms};

/// The sealed table.
pub(crate) const TABLE: &str = "kiosk_secrets";

impl Ledger {
    /// The secret called `name` (1 to 64 of `a-z0-9_`), made from the operating system's
    /// random generator and stored sealed the first time it is asked for (audited as
    /// `kiosk_secret.created`).
    pub fn kiosk_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, LedgerError> {
        if name.is_empty()
            || name.len() > 64
            || !name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            return Err(LedgerError::InvalidInput(
                "a kiosk secret's name is 1 to 64 of a-z, 0-9 and _".into(),
            ));
        }
        // Read first: every later call (each pull, each trust-list check) is a read, not a
        // write transaction.
        if let Some(secret) = self.read(|c, key| stored(c, key, name))? {
            return Ok(secret);
        }
        self.write(|tx, key| {
            // Another writer may have made it since the read.
            if let Some(secret) = stored(tx, key, name)? {
                return Ok(secret);
            }
            let mut out = Zeroizing::new([0u8; 32]);
            getrandom::fill(out.as_mut_slice()).map_err(|e| LedgerError::Random(e.to_string()))?;
            let at = now_ms();
            tx.execute(
                "INSERT INTO kiosk_secrets (name, sealed, created_at_ms) VALUES (?1, ?2, ?3)",
                params![name, crypto::seal(key, TABLE, name, out.as_slice())?, at],
            )?;
            audit::append(
                tx,
                at,
                None,
                "kiosk_secret.created",
                &format!("kiosk_secret:{name}"),
                &json!({ "name": name }),
            )?;
            Ok(out)
        })
    }
}

/// The secret called `name`, opened, if it is stored.
fn stored(
    c: &Connection,
    key: &DataKey,
    name: &str,
) -> Result<Option<Zeroizing<[u8; 32]>>, LedgerError> {
    let sealed: Option<Vec<u8>> = c
        .query_row(
            "SELECT sealed FROM kiosk_secrets WHERE name = ?1",
            params![name],
            |r| r.get(0),
        )
        .optional()?;
    let Some(sealed) = sealed else {
        return Ok(None);
    };
    let plain = crypto::open(key, TABLE, name, &sealed)?;
    let mut out = Zeroizing::new([0u8; 32]);
    if plain.len() != 32 {
        return Err(LedgerError::Decrypt {
            table: TABLE,
            id: name.to_owned(),
        });
    }
    out.copy_from_slice(&plain);
    Ok(Some(out))
}
