//! The transactional outbox: every event is written in the same transaction as its audit
//! entry (and its record, for the typed APIs), and stays until the backend acknowledges it.
//!
//! Events are read oldest first (`seq` order) with [`Ledger::outbox_peek`], acknowledged by
//! seq with [`Ledger::outbox_ack`] (idempotent: acking twice or acking an unknown seq is not an
//! error). `event_id` is a UUIDv4 made once at write time: the backend's idempotency key.
//! Payloads are sealed in the file and opened when peeked.
//!
//! What it does not do: send anything (the `sync` crate does), or delete events (acked events
//! stay; retention blanks their payload after the retention period).

use rusqlite::{Transaction, params};
use serde::Serialize;

use crate::{DataKey, Ledger, LedgerError, audit, crypto, now_ms};

/// Associated-data table name for outbox payloads.
const TABLE: &str = "outbox";

/// One event waiting to reach the backend.
#[derive(Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Position in the outbox (strictly increasing, never reused).
    pub seq: i64,
    /// UUID made when the event was written: the idempotency key.
    pub event_id: String,
    /// Event kind (`outcome.recorded`, …).
    pub kind: String,
    /// JSON bytes.
    pub payload: Vec<u8>,
    /// Unix time in milliseconds when it was written.
    pub created_at_ms: i64,
}

impl std::fmt::Debug for OutboxEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The payload may hold evidence (a face image, a signature): never shown.
        f.debug_struct("OutboxEvent")
            .field("seq", &self.seq)
            .field("event_id", &self.event_id)
            .field("kind", &self.kind)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("created_at_ms", &self.created_at_ms)
            .finish()
    }
}

/// The sync link's state, for the UI and diagnostics.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SyncState {
    /// Last time a batch was accepted by the backend (Unix ms).
    pub last_success_ms: Option<i64>,
    /// Last time the sync tried (Unix ms).
    pub last_attempt_ms: Option<i64>,
    /// Stable error code of the last failure (`None` after a success).
    pub last_error_code: Option<String>,
}

/// Where an event's record lives (for the consistency check).
pub(crate) struct RecordRef<'a> {
    pub table: &'static str,
    pub id: &'a str,
}

/// Writes an audit entry and an outbox event inside `tx`. Ledger-built payloads (objects)
/// get an `"audit": {"seq", "hash"}` member naming their audit entry, so the backend holds
/// anchors of the chain; caller-built payloads of [`Ledger::append_event`] are left as given.
#[allow(clippy::too_many_arguments)]
pub(crate) fn emit(
    tx: &Transaction<'_>,
    key: &DataKey,
    at_ms: i64,
    actor: Option<&str>,
    kind: &str,
    record: Option<RecordRef<'_>>,
    audit_detail: &serde_json::Value,
    payload: &serde_json::Value,
    anchor: bool,
) -> Result<OutboxEvent, LedgerError> {
    if kind.is_empty() || kind.len() > 100 {
        return Err(LedgerError::InvalidInput(
            "event kind must be 1 to 100 characters".into(),
        ));
    }
    let event_id = uuid::Uuid::new_v4().to_string();
    let subject = match &record {
        Some(r) => format!("{}:{}", r.table, r.id),
        None => format!("event:{event_id}"),
    };
    let mut detail = audit_detail.clone();
    if let serde_json::Value::Object(m) = &mut detail {
        m.insert("event_id".into(), event_id.clone().into());
    }
    let (audit_seq, audit_hash) = audit::append(tx, at_ms, actor, kind, &subject, &detail)?;
    let payload = match payload {
        serde_json::Value::Object(m) if anchor => {
            let mut m = m.clone();
            m.insert(
                "audit".into(),
                serde_json::json!({ "seq": audit_seq, "hash": hex::encode(audit_hash) }),
            );
            serde_json::to_vec(&m)?
        }
        _ => serde_json::to_vec(payload)?,
    };
    let sealed = crypto::seal(key, TABLE, &event_id, &payload)?;
    tx.prepare_cached(
        "INSERT INTO outbox (event_id, kind, payload, created_at_ms, audit_seq, record_table, record_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        event_id,
        kind,
        sealed,
        at_ms,
        audit_seq,
        record.as_ref().map(|r| r.table),
        record.as_ref().map(|r| r.id),
    ])?;
    Ok(OutboxEvent {
        seq: tx.last_insert_rowid(),
        event_id,
        kind: kind.to_owned(),
        payload,
        created_at_ms: at_ms,
    })
}

impl Ledger {
    /// Generic event: writes an audit entry and an outbox event in ONE transaction and returns
    /// the event. The payload is sealed at rest. Prefer the typed APIs for records.
    pub fn append_event(
        &self,
        kind: &str,
        payload: &serde_json::Value,
    ) -> Result<OutboxEvent, LedgerError> {
        self.write(|tx, key| {
            emit(
                tx,
                key,
                now_ms(),
                None,
                kind,
                None,
                &serde_json::json!({}),
                payload,
                false,
            )
        })
    }

    /// Several generic events in ONE transaction (one commit, so one disk flush): each still
    /// gets its own audit entry and event. All or none are written.
    pub fn append_events(
        &self,
        events: &[(&str, serde_json::Value)],
    ) -> Result<Vec<OutboxEvent>, LedgerError> {
        self.write(|tx, key| {
            let at = now_ms();
            events
                .iter()
                .map(|(kind, payload)| {
                    emit(
                        tx,
                        key,
                        at,
                        None,
                        kind,
                        None,
                        &serde_json::json!({}),
                        payload,
                        false,
                    )
                })
                .collect()
        })
    }

    /// Up to `limit` events not yet acknowledged, oldest first.
    pub fn outbox_peek(&self, limit: usize) -> Result<Vec<OutboxEvent>, LedgerError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(|c, key| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, event_id, kind, payload, created_at_ms FROM outbox
                 WHERE acked_at_ms IS NULL ORDER BY seq LIMIT ?1",
            )?;
            let rows = stmt.query_map(params![limit], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<Vec<u8>>>(3)?,
                    r.get::<_, i64>(4)?,
                ))
            })?;
            let mut out = Vec::new();
            for row in rows {
                let (seq, event_id, kind, sealed, created_at_ms) = row?;
                let sealed = sealed.ok_or_else(|| LedgerError::Corrupt {
                    table: TABLE,
                    detail: format!("unacknowledged event {seq} has no payload"),
                })?;
                let payload = crypto::open(key, TABLE, &event_id, &sealed)?;
                out.push(OutboxEvent {
                    seq,
                    event_id,
                    kind,
                    payload: payload.to_vec(),
                    created_at_ms,
                });
            }
            Ok(out)
        })
    }

    /// Marks events as delivered. Idempotent: already-acked or unknown seqs are ignored.
    pub fn outbox_ack(&self, seqs: &[i64]) -> Result<(), LedgerError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let at = now_ms();
        self.write(|tx, _| {
            let mut stmt = tx.prepare_cached(
                "UPDATE outbox SET acked_at_ms = ?1 WHERE seq = ?2 AND acked_at_ms IS NULL",
            )?;
            for s in seqs {
                stmt.execute(params![at, s])?;
            }
            Ok(())
        })
    }

    /// Number of events not yet acknowledged.
    pub fn outbox_backlog(&self) -> Result<u64, LedgerError> {
        self.read(|c, _| {
            let n: i64 = c
                .prepare_cached("SELECT COUNT(*) FROM outbox WHERE acked_at_ms IS NULL")?
                .query_row([], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Total events ever written (acknowledged or not).
    pub fn outbox_total(&self) -> Result<u64, LedgerError> {
        self.read(|c, _| {
            let n: i64 = c.query_row("SELECT COUNT(*) FROM outbox", [], |r| r.get(0))?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Replaces the stored sync state.
    pub fn set_sync_state(&self, state: &SyncState) -> Result<(), LedgerError> {
        self.write(|tx, _| {
            tx.execute(
                "UPDATE sync_state SET last_success_ms = ?1, last_attempt_ms = ?2,
                 last_error_code = ?3 WHERE id = 1",
                params![
                    state.last_success_ms,
                    state.last_attempt_ms,
                    state.last_error_code
                ],
            )?;
            Ok(())
        })
    }

    /// The stored sync state.
    pub fn sync_state(&self) -> Result<SyncState, LedgerError> {
        self.read(|c, _| {
            Ok(c.query_row(
                "SELECT last_success_ms, last_attempt_ms, last_error_code FROM sync_state
                 WHERE id = 1",
                [],
                |r| {
                    Ok(SyncState {
                        last_success_ms: r.get(0)?,
                        last_attempt_ms: r.get(1)?,
                        last_error_code: r.get(2)?,
                    })
                },
            )?)
        })
    }
}
