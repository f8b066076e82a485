//! Local caches of what the backend distributes: trust list, revocations, thresholds,
//! configuration. They let the kiosk verify face credentials and apply policy offline.
//!
//! Every change of version is audited (kind, version, SHA-256 of the body); a pull that finds
//! the same version only marks it refreshed ([`Ledger::cache_store`]). Caches are not kiosk
//! records and so have no outbox event. Bodies are stored as received (they hold no personal
//! data: issuer keys, credential ids, numbers, and template keys wrapped for this kiosk's own
//! key, which the ledger seals — see [`Ledger::kiosk_secret`]).
//!
//! What it does not do: fetch (the `sync` crate does), or verify signatures on the bodies (the
//! caller verifies before storing and again before use).

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
    /// Template keys, as the backend wrapped them for this kiosk (opened only with the
    /// kiosk's own wrap key, itself sealed in the ledger).
    TemplateKeys,
    /// The backend's list signing key this kiosk pinned.
    ListKey,
}

impl CacheKind {
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            CacheKind::TrustList => "trust_list",
            CacheKind::Revocations => "revocations",
            CacheKind::Thresholds => "thresholds",
            CacheKind::Config => "config",
            CacheKind::TemplateKeys => "template_keys",
            CacheKind::ListKey => "list_key",
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
    /// When this version was stored (Unix ms).
    pub fetched_at_ms: i64,
    /// When the backend last served it again (same version), if it did since.
    pub refreshed_at_ms: Option<i64>,
}

impl CacheEntry {
    /// The last time the backend confirmed this body: stored or served again (Unix ms).
    pub fn confirmed_at_ms(&self) -> i64 {
        self.refreshed_at_ms
            .map_or(self.fetched_at_ms, |r| r.max(self.fetched_at_ms))
    }
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
           sha256 = excluded.sha256, fetched_at_ms = excluded.fetched_at_ms,
           refreshed_at_ms = NULL",
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

    /// Stores a body the backend served: a new version replaces the entry (audited, as
    /// [`Ledger::cache_put`]); the same version again replaces the body (re-signed, same
    /// content) and marks it refreshed, without an audit entry — the audit trail records
    /// changes, not every pull. Returns whether the version changed. The caller has checked
    /// that the version does not go backwards.
    pub fn cache_store(
        &self,
        kind: CacheKind,
        version: &str,
        body: &[u8],
    ) -> Result<bool, LedgerError> {
        check_version(version)?;
        if body.len() > MAX_BODY {
            return Err(LedgerError::InvalidInput("cache body too large".into()));
        }
        self.write(|tx, _| {
            let held: Option<String> = tx
                .query_row(
                    "SELECT version FROM cache_entries WHERE kind = ?1",
                    params![kind.as_str()],
                    |r| r.get(0),
                )
                .optional()?;
            if held.as_deref() == Some(version) {
                tx.execute(
                    "UPDATE cache_entries SET body = ?2, sha256 = ?3, refreshed_at_ms = ?4
                     WHERE kind = ?1",
                    params![
                        kind.as_str(),
                        body,
                        hex::encode(Sha256::digest(body)),
                        now_ms()
                    ],
                )?;
                return Ok(false);
            }
            put_entry(
                tx,
                kind,
                version,
                body,
                |sha| json!({ "version": version, "sha256": sha, "size": body.len() }),
            )?;
            Ok(true)
        })
    }

    /// The cached body, if any.
    pub fn cache_get(&self, kind: CacheKind) -> Result<Option<CacheEntry>, LedgerError> {
        self.read(|c, _| {
            Ok(c.query_row(
                "SELECT version, body, sha256, fetched_at_ms, refreshed_at_ms FROM cache_entries
                 WHERE kind = ?1",
                params![kind.as_str()],
                |r| {
                    Ok(CacheEntry {
                        version: r.get(0)?,
                        body: r.get(1)?,
                        sha256: r.get(2)?,
                        fetched_at_ms: r.get(3)?,
                        refreshed_at_ms: r.get(4)?,
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
