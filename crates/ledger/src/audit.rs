//! The hash-chained audit trail.
//!
//! Entry *n* stores `prev_hash` = hash of entry *n − 1* (32 zero bytes for the first) and
//! `hash = SHA-256("madoguchi-audit v1\0" ‖ prev_hash ‖ seq ‖ at_ms ‖ actor ‖ action ‖
//! subject ‖ detail)`, integers big-endian, strings length-prefixed (u32 BE), an absent actor
//! as length `0xFFFF_FFFF`. Changing, removing, inserting or reordering an entry breaks the
//! chain at that entry, and [`verify`] names the first broken link.
//!
//! Entries carry ids, codes and numbers, never personal data: `detail` is JSON built by the
//! ledger itself.
//!
//! Anchors: every event the ledger builds itself (records, purges, rotations) carries
//! `"audit": {"seq", "hash"}` of its entry, so the backend holds hashes of the chain as it
//! was when each event left. `Ledger::audit_anchor_matches` checks one against the local
//! chain: a chain rewritten or cut on the kiosk no longer matches the backend's latest anchor.
//!
//! What it does not do: detect removal of the newest entries on its own (a chain cut at its
//! end is still a valid chain; the anchors above are what catch that, and only for entries
//! whose events reached the backend), nor stop someone holding the file and the code from
//! rewriting the whole chain before anything was synced. SQL triggers refuse UPDATE and
//! DELETE on the table, which stops accidents, not an attacker.

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::LedgerError;

/// One entry of the audit trail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    /// Position in the chain, 1-based, consecutive.
    pub seq: i64,
    /// Unix time in milliseconds.
    pub at_ms: i64,
    /// The teller (or component) who acted, if any.
    pub actor: Option<String>,
    /// What happened (`outcome.recorded`, `evidence.purged`, …).
    pub action: String,
    /// The record concerned (an id).
    pub subject: String,
    /// JSON with non-personal details.
    pub detail: String,
    /// Hash of the previous entry (hex).
    pub prev_hash: String,
    /// Hash of this entry (hex).
    pub hash: String,
}

/// Why a link is broken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BrokenReason {
    /// The entry's stored hash does not match its contents (the entry was edited).
    HashMismatch,
    /// The entry does not point at the previous entry's hash (an entry before it was edited,
    /// removed or inserted).
    PrevHashMismatch,
    /// The entry's seq is not the next one (entries were removed); `seq` is the first missing.
    Missing,
    /// The stored hash columns are not 32 bytes.
    Malformed,
}

/// The first broken link of the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The first entry (seq) that does not verify.
    pub seq: i64,
    /// Why.
    pub reason: BrokenReason,
}

/// Result of [`Ledger::verify_audit`](crate::Ledger::verify_audit).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditReport {
    /// Entries checked.
    pub entries: u64,
    /// Hash of the last entry that verified (hex; zeros for an empty chain).
    pub head_hash: String,
    /// Seq of the last entry that verified (0 for none).
    pub head_seq: i64,
    /// The first broken link, `None` if the chain is intact.
    pub first_broken: Option<BrokenLink>,
}

impl AuditReport {
    /// Whether the whole chain verified.
    pub fn is_intact(&self) -> bool {
        self.first_broken.is_none()
    }
}

const GENESIS: [u8; 32] = [0; 32];

fn put_str(h: &mut Sha256, s: Option<&str>) {
    match s {
        None => h.update(u32::MAX.to_be_bytes()),
        Some(s) => {
            // Strings longer than 4 GiB cannot be stored by SQLite anyway.
            h.update((s.len() as u32).to_be_bytes());
            h.update(s.as_bytes());
        }
    }
}

pub(crate) fn entry_hash(
    prev: &[u8; 32],
    seq: i64,
    at_ms: i64,
    actor: Option<&str>,
    action: &str,
    subject: &str,
    detail: &str,
) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"madoguchi-audit v1\0");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    put_str(&mut h, actor);
    put_str(&mut h, Some(action));
    put_str(&mut h, Some(subject));
    put_str(&mut h, Some(detail));
    h.finalize().into()
}

/// Appends an entry inside the caller's (IMMEDIATE) transaction; returns its seq and hash.
pub(crate) fn append(
    tx: &Transaction<'_>,
    at_ms: i64,
    actor: Option<&str>,
    action: &str,
    subject: &str,
    detail: &serde_json::Value,
) -> Result<(i64, [u8; 32]), LedgerError> {
    let last: Option<(i64, Vec<u8>)> = tx
        .prepare_cached("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1")?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (seq, prev) = match last {
        None => (1, GENESIS),
        Some((s, h)) => (
            s + 1,
            <[u8; 32]>::try_from(h.as_slice()).map_err(|_| LedgerError::Corrupt {
                table: "audit",
                detail: format!("entry {s} has a hash of the wrong length"),
            })?,
        ),
    };
    let detail = detail.to_string();
    let hash = entry_hash(&prev, seq, at_ms, actor, action, subject, &detail);
    tx.prepare_cached(
        "INSERT INTO audit (seq, at_ms, actor, action, subject, detail, prev_hash, hash)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        seq,
        at_ms,
        actor,
        action,
        subject,
        detail,
        &prev[..],
        &hash[..]
    ])?;
    Ok((seq, hash))
}

/// Walks the whole chain in order and reports the first broken link. Memory use is constant.
pub(crate) fn verify(conn: &rusqlite::Connection) -> Result<AuditReport, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT seq, at_ms, actor, action, subject, detail, prev_hash, hash
         FROM audit ORDER BY seq",
    )?;
    let mut rows = stmt.query([])?;
    let mut prev = GENESIS;
    let mut expected_seq = 1i64;
    let mut entries = 0u64;
    let report = |entries, prev: [u8; 32], seq, broken| AuditReport {
        entries,
        head_hash: hex::encode(prev),
        head_seq: seq,
        first_broken: broken,
    };
    while let Some(r) = rows.next()? {
        let seq: i64 = r.get(0)?;
        let at_ms: i64 = r.get(1)?;
        let actor: Option<String> = r.get(2)?;
        let action: String = r.get(3)?;
        let subject: String = r.get(4)?;
        let detail: String = r.get(5)?;
        let stored_prev: Vec<u8> = r.get(6)?;
        let stored_hash: Vec<u8> = r.get(7)?;
        let head_seq = expected_seq - 1;
        if seq != expected_seq {
            return Ok(report(
                entries,
                prev,
                head_seq,
                Some(BrokenLink {
                    seq: expected_seq,
                    reason: BrokenReason::Missing,
                }),
            ));
        }
        let (Ok(stored_prev), Ok(stored_hash)) = (
            <[u8; 32]>::try_from(stored_prev.as_slice()),
            <[u8; 32]>::try_from(stored_hash.as_slice()),
        ) else {
            return Ok(report(
                entries,
                prev,
                head_seq,
                Some(BrokenLink {
                    seq,
                    reason: BrokenReason::Malformed,
                }),
            ));
        };
        if stored_prev != prev {
            return Ok(report(
                entries,
                prev,
                head_seq,
                Some(BrokenLink {
                    seq,
                    reason: BrokenReason::PrevHashMismatch,
                }),
            ));
        }
        let h = entry_hash(
            &prev,
            seq,
            at_ms,
            actor.as_deref(),
            &action,
            &subject,
            &detail,
        );
        if h != stored_hash {
            return Ok(report(
                entries,
                prev,
                head_seq,
                Some(BrokenLink {
                    seq,
                    reason: BrokenReason::HashMismatch,
                }),
            ));
        }
        prev = h;
        entries += 1;
        expected_seq += 1;
    }
    Ok(report(entries, prev, expected_seq - 1, None))
}

/// Reads entries `from..` (inclusive), at most `limit`, for diagnostics and tests.
pub(crate) fn read(
    conn: &rusqlite::Connection,
    from: i64,
    limit: usize,
) -> Result<Vec<AuditEntry>, LedgerError> {
    let mut stmt = conn.prepare(
        "SELECT seq, at_ms, actor, action, subject, detail, prev_hash, hash
         FROM audit WHERE seq >= ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![from, limit as i64], |r| {
        Ok(AuditEntry {
            seq: r.get(0)?,
            at_ms: r.get(1)?,
            actor: r.get(2)?,
            action: r.get(3)?,
            subject: r.get(4)?,
            detail: r.get(5)?,
            prev_hash: hex::encode(r.get::<_, Vec<u8>>(6)?),
            hash: hex::encode(r.get::<_, Vec<u8>>(7)?),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}
