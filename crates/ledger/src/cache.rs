//! Local caches of what the backend distributes: trust list, revocations, thresholds,
//! configuration. They let the kiosk verify face credentials and apply policy offline.
//!
//! Every update is audited (kind, version, SHA-256 of the body); caches are not kiosk records
//! and so have no outbox event. Bodies are stored as received (they hold no personal data:
//! issuer keys, credential ids, numbers).
//!
//! What it does not do: fetch (the `sync` crate does), or verify signatures on the bodies.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::{Ledger, LedgerError, audit, now_ms};

/// Which cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CacheKind {
    /// Trusted face-credential issuers and their keys.
    TrustList,
    /// Revoked face credentials (also indexed for [`Ledger::is_revoked`]).
    Revocations,
    /// Decision thresholds.
    Thresholds,
    /// Centrally managed configuration.
    Config,
}

impl CacheKind {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::TrustList => "trust_list",
            CacheKind::Revocations => "revocations",
            CacheKind::Thresholds => "thresholds",
            CacheKind::Config => "config",
        }
    }
}

/// A cached body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheEntry {
    /// The backend's version label.
    pub version: String,
    /// The body as received.
    pub body: Vec<u8>,
    /// SHA-256 of the body (hex).
    pub sha256: String,
    /// When it was stored (Unix ms).
    pub fetched_at_ms: i64,
}

/// Largest cache body accepted.
const MAX_BODY: usize = 64 * 1024 * 1024;

fn check_version(v: &str) -> Result<(), LedgerError> {
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(LedgerError::InvalidInput(
            "cache version must be 1 to 128 printable characters".into(),
        ));
    }
    Ok(())
}

/// Upserts one cache entry and audits it as `cache.updated` with the details `detail` makes
/// from the body's SHA-256 (hex), inside the caller's transaction.
fn put_entry(
    tx: &rusqlite::Transaction<'_>,
    kind: CacheKind,
    version: &str,
    body: &[u8],
    detail: impl FnOnce(&str) -> serde_json::Value,
) -> Result<(), LedgerError> {
    let sha = hex::encode(Sha256::digest(body));
    let at = now_ms();
    tx.execute(
        "INSERT INTO cache_entries (kind, version, body, sha256, fetched_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5)
         ON CONFLICT(kind) DO UPDATE SET version = excluded.version, body = excluded.body,
           sha256 = excluded.sha256, fetched_at_ms = excluded.fetched_at_ms",
        params![kind.as_str(), version, body, sha, at],
    )?;
    audit::append(
        tx,
        at,
        None,
        "cache.updated",
        &format!("cache:{}", kind.as_str()),
        &detail(&sha),
    )?;
    Ok(())
}

impl Ledger {
    /// Replaces a cache body (audited).
    pub fn cache_put(
        &self,
        kind: CacheKind,
        version: &str,
        body: &[u8],
    ) -> Result<(), LedgerError> {
        check_version(version)?;
        if body.len() > MAX_BODY {
            return Err(LedgerError::InvalidInput("cache body too large".into()));
        }
        self.write(|tx, _| {
            put_entry(
                tx,
                kind,
                version,
                body,
                |sha| json!({ "version": version, "sha256": sha, "size": body.len() }),
            )
        })
    }

    /// The cached body, if any.
    pub fn cache_get(&self, kind: CacheKind) -> Result<Option<CacheEntry>, LedgerError> {
        self.read(|c, _| {
            Ok(c.query_row(
                "SELECT version, body, sha256, fetched_at_ms FROM cache_entries WHERE kind = ?1",
                params![kind.as_str()],
                |r| {
                    Ok(CacheEntry {
                        version: r.get(0)?,
                        body: r.get(1)?,
                        sha256: r.get(2)?,
                        fetched_at_ms: r.get(3)?,
                    })
                },
            )
            .optional()?)
        })
    }

    /// Replaces the revocation list (ids of revoked face credentials), audited, in one
    /// transaction: readers see the old list or the new one.
    pub fn replace_revocations(
        &self,
        version: &str,
        credential_ids: &[String],
    ) -> Result<(), LedgerError> {
        check_version(version)?;
        for id in credential_ids {
            if id.is_empty() || id.len() > 256 {
                return Err(LedgerError::InvalidInput(
                    "credential ids must be 1 to 256 bytes".into(),
                ));
            }
        }
        let body = serde_json::to_vec(credential_ids)?;
        self.write(|tx, _| {
            tx.execute("DELETE FROM revocations", [])?;
            {
                let mut ins = tx.prepare_cached(
                    "INSERT OR IGNORE INTO revocations (credential_id, list_version) VALUES (?1, ?2)",
                )?;
                for id in credential_ids {
                    ins.execute(params![id, version])?;
                }
            }
            put_entry(tx, CacheKind::Revocations, version, &body, |sha| {
                json!({ "version": version, "sha256": sha, "count": credential_ids.len() })
            })
        })
    }

    /// Whether a face credential is on the cached revocation list.
    pub fn is_revoked(&self, credential_id: &str) -> Result<bool, LedgerError> {
        self.read(|c, _| {
            Ok(
                c.prepare_cached("SELECT 1 FROM revocations WHERE credential_id = ?1")?
                    .query_row(params![credential_id], |_| Ok(()))
                    .optional()?
                    .is_some(),
            )
        })
    }
}
