//! Retention (purge of evidence after N days, audited) and data-key rotation.
//!
//! Purge: evidence older than the retention period whose outbox event the backend has
//! acknowledged loses its content (the row stays, with `purged_at_ms`, so the record of its
//! existence and the audit trail remain); acknowledged outbox events older than the period
//! lose their payload. Evidence not yet acknowledged is kept and counted, so an outage never
//! destroys evidence the backend has not received. The same transaction also purges every
//! confirmation record whose event the backend has acknowledged, whatever its age (see
//! `Ledger::purge_acknowledged_confirmations`; counted as `confirmations_purged`). With
//! `secure_delete=ON` the freed bytes are overwritten in the file. The purge writes an audit
//! entry and a `retention.purged` event with the counts, in the same transaction.
//!
//! Key rotation (see `Ledger::rotate_key` and the README of this crate's `cli`): every sealed
//! value (evidence, override reasons, confirmation records, teller credentials, outbox
//! payloads) is opened with the old key and sealed
//! with the new one, the stored key id is switched and a `key.rotated` audit entry and event
//! are written — all in one transaction, so a power cut leaves the database wholly under the
//! old key or wholly under the new one.
//!
//! What it does not do: schedule itself (the app calls `purge_evidence` daily), or delete
//! records other than evidence and confirmation content and outbox payloads.

use rusqlite::params;
use serde::Serialize;
use serde_json::json;

use crate::outbox::emit;
use crate::{DataKey, Ledger, LedgerError, confirmation, crypto, now_ms};

const DAY_MS: i64 = 86_400_000;

/// What a purge did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct PurgeReport {
    /// Evidence older than this (Unix ms) was eligible.
    pub cutoff_ms: i64,
    /// Evidence items whose content was removed.
    pub evidence_purged: u64,
    /// Eligible evidence kept because the backend has not acknowledged it yet.
    pub evidence_kept_unsynced: u64,
    /// Acknowledged outbox events whose payload was removed.
    pub outbox_payloads_purged: u64,
    /// Acknowledged confirmation records whose content was removed (any age).
    pub confirmations_purged: u64,
}

/// What a key rotation re-encrypted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RotationReport {
    /// Id of the key replaced.
    pub old_key_id: String,
    /// Id of the key now in use.
    pub new_key_id: String,
    /// Evidence items re-sealed.
    pub evidence: u64,
    /// Override reasons re-sealed.
    pub overrides: u64,
    /// Confirmation records re-sealed.
    pub confirmations: u64,
    /// Cached teller credentials re-sealed.
    pub teller_credentials: u64,
    /// The kiosk's own secrets re-sealed.
    pub kiosk_secrets: u64,
    /// Outbox payloads re-sealed.
    pub outbox: u64,
}

/// Re-seals one table's sealed column in batches (bounded memory), keyed by its text id.
fn reseal(
    tx: &rusqlite::Transaction<'_>,
    old: &DataKey,
    new: &DataKey,
    table: &'static str,
    id_col: &str,
    col: &str,
) -> Result<u64, LedgerError> {
    let mut last_rowid = 0i64;
    let mut n = 0u64;
    loop {
        let batch: Vec<(i64, String, Vec<u8>)> = {
            let sql = format!(
                "SELECT rowid, {id_col}, {col} FROM {table}
                 WHERE rowid > ?1 AND {col} IS NOT NULL ORDER BY rowid LIMIT 256"
            );
            let mut stmt = tx.prepare_cached(&sql)?;
            let rows = stmt.query_map(params![last_rowid], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })?;
            rows.collect::<Result<_, _>>()?
        };
        if batch.is_empty() {
            return Ok(n);
        }
        let sql = format!("UPDATE {table} SET {col} = ?1 WHERE rowid = ?2");
        let mut upd = tx.prepare_cached(&sql)?;
        for (rowid, id, sealed) in batch {
            let plain = crypto::open(old, table, &id, &sealed)?;
            let resealed = crypto::seal(new, table, &id, &plain)?;
            upd.execute(params![resealed, rowid])?;
            last_rowid = rowid;
            n += 1;
        }
    }
}

impl Ledger {
    /// Purges evidence older than `retention_days` (see the module docs).
    pub fn purge_evidence(&self, retention_days: u32) -> Result<PurgeReport, LedgerError> {
        self.purge_evidence_as_of(now_ms(), retention_days)
    }

    /// [`Ledger::purge_evidence`] as if the time were `now_ms` (tests, and replaying a
    /// schedule).
    pub fn purge_evidence_as_of(
        &self,
        now_ms: i64,
        retention_days: u32,
    ) -> Result<PurgeReport, LedgerError> {
        let cutoff_ms = now_ms.saturating_sub(i64::from(retention_days) * DAY_MS);
        self.write(|tx, key| {
            let acked = "EXISTS (SELECT 1 FROM outbox o WHERE o.record_table = 'evidence'
                          AND o.record_id = e.id AND o.acked_at_ms IS NOT NULL)";
            let kept: i64 = tx.query_row(
                &format!(
                    "SELECT COUNT(*) FROM evidence e WHERE e.content IS NOT NULL
                     AND e.created_at_ms < ?1 AND NOT {acked}"
                ),
                params![cutoff_ms],
                |r| r.get(0),
            )?;
            let purged = tx.execute(
                &format!(
                    "UPDATE evidence AS e SET content = NULL, purged_at_ms = ?2
                     WHERE e.content IS NOT NULL AND e.created_at_ms < ?1 AND {acked}"
                ),
                params![cutoff_ms, now_ms],
            )?;
            let outbox = tx.execute(
                "UPDATE outbox SET payload = NULL WHERE payload IS NOT NULL
                 AND acked_at_ms IS NOT NULL AND created_at_ms < ?1",
                params![cutoff_ms],
            )?;
            let confirmations = confirmation::purge_acknowledged(tx, now_ms)?;
            let report = PurgeReport {
                cutoff_ms,
                evidence_purged: purged as u64,
                evidence_kept_unsynced: u64::try_from(kept).unwrap_or(0),
                outbox_payloads_purged: outbox as u64 + confirmations.outbox_payloads_purged,
                confirmations_purged: confirmations.purged,
            };
            let detail = json!({
                "retention_days": retention_days,
                "cutoff_ms": cutoff_ms,
                "evidence_purged": report.evidence_purged,
                "evidence_kept_unsynced": report.evidence_kept_unsynced,
                "outbox_payloads_purged": report.outbox_payloads_purged,
                "confirmations_purged": report.confirmations_purged,
            });
            emit(
                tx,
                key,
                now_ms,
                None,
                "retention.purged",
                None,
                &detail,
                &detail,
                true,
            )?;
            Ok(report)
        })
    }

    /// Re-encrypts everything under `new_key` in one transaction (see the module docs). The
    /// ledger uses `new_key` afterwards. Install the new key file only after this returns
    /// `Ok`: until then the database is still under the old key.
    pub fn rotate_key(&mut self, new_key: DataKey) -> Result<RotationReport, LedgerError> {
        let old_key = self.key.clone();
        if old_key.id() == new_key.id() {
            return Err(LedgerError::InvalidInput(
                "the new key is the key already in use".into(),
            ));
        }
        let report = {
            let mut conn = self.lock();
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let evidence = reseal(&tx, &old_key, &new_key, "evidence", "id", "content")?;
            let overrides = reseal(&tx, &old_key, &new_key, "overrides", "id", "reason_sealed")?;
            let confirmations = reseal(&tx, &old_key, &new_key, "confirmations", "id", "content")?;
            let teller_credentials = reseal(
                &tx,
                &old_key,
                &new_key,
                "teller_credentials",
                "credential_id",
                "body",
            )?;
            let kiosk_secrets = reseal(
                &tx,
                &old_key,
                &new_key,
                crate::secrets::TABLE,
                "name",
                "sealed",
            )?;
            let outbox = reseal(&tx, &old_key, &new_key, "outbox", "event_id", "payload")?;
            tx.execute(
                "UPDATE meta SET value = ?1 WHERE key = 'data_key_id'",
                params![new_key.id()],
            )?;
            let report = RotationReport {
                old_key_id: old_key.id(),
                new_key_id: new_key.id(),
                evidence,
                overrides,
                confirmations,
                teller_credentials,
                kiosk_secrets,
                outbox,
            };
            let detail = serde_json::to_value(&report)?;
            emit(
                &tx,
                &new_key,
                now_ms(),
                None,
                "key.rotated",
                None,
                &detail,
                &detail,
                true,
            )?;
            tx.commit()?;
            report
        };
        self.key = new_key;
        Ok(report)
    }
}
