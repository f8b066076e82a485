//! Confirmation records (確認記録) at the backend: reading them out of `confirmation.recorded`
//! events, their retention period, and the types the store returns.
//!
//! A kiosk's ledger sends one `confirmation.recorded` event per completed identity
//! verification; its payload is `{"record_id", "session_id", "at_ms", "record": <document>,
//! "audit": {"seq", "hash"}}` where the document has `"format": "madoguchi-confirmation/1"`.
//! On ingest, in the same transaction as the event, the store keeps the document in
//! `confirmation_records` with `retain_until_ms = verified_at_ms + N days` (N =
//! [`Retention::confirmation_days`], default [`DEFAULT_RETENTION_DAYS`] = 7 years). A payload
//! that cannot be read as a confirmation is still stored as an event (the kiosk's
//! acknowledgement is never blocked) and counted in `confirmation_malformed` with a reason
//! code ([`MALFORMED_REASONS`]); its event payload is cleared after N days from its arrival.
//!
//! Purge ([`crate::store::Store::purge_expired_confirmations`]): a record past its
//! `retain_until_ms` is deleted, a row without personal data is kept in
//! `confirmation_purged` (ids and dates: what existed and when it went), and the event's
//! payload is replaced by a [tombstone](tombstone) keeping only ids and the audit anchor.
//!
//! What it does NOT do: check the document beyond what storage and retention need (format,
//! ids, `verified_at_ms`), decide anything from it (but [`crate::binding`] issues a binding
//! code on a record whose `outcome` is `verified`), serve it over HTTP (read it with
//! `madoguchi-central confirmations`), or shorten the retention of records already stored
//! when the period is changed (each record keeps the `retain_until_ms` it arrived with).

use serde_json::{Value, json};

/// Event kind of a confirmation record.
pub const KIND: &str = "confirmation.recorded";

/// The document format read.
pub const FORMAT: &str = "madoguchi-confirmation/1";

/// Default retention of confirmation records: 7 years (365 × 7 + 2 leap days).
pub const DEFAULT_RETENTION_DAYS: u32 = 2557;

/// Longest retention accepted (100 years): more is a typo.
pub const MAX_RETENTION_DAYS: u32 = 36_500;

const DAY_MS: i64 = 86_400_000;
const MAX_TIMESTAMP_MS: i64 = 9_007_199_254_740_991;

/// Reason codes of malformed confirmation events, as counted by `stats`.
pub const MALFORMED_REASONS: [&str; 8] = [
    "not_an_object",
    "no_record",
    "unknown_format",
    "bad_record_id",
    "record_id_mismatch",
    "bad_session_id",
    "bad_verified_at",
    "duplicate_record_id",
];

/// How long the backend keeps confirmation records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Days from `verified_at_ms` until a record is purged (default 2557 = 7 years).
    pub confirmation_days: u32,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            confirmation_days: DEFAULT_RETENTION_DAYS,
        }
    }
}

impl Retention {
    /// `from_ms` plus the retention period (saturating).
    pub fn until(self, from_ms: i64) -> i64 {
        from_ms.saturating_add(i64::from(self.confirmation_days).saturating_mul(DAY_MS))
    }
}

/// A stored confirmation record. `Debug` shows ids and dates, never the document.
#[derive(Clone, PartialEq, Eq)]
pub struct ConfirmationRecord {
    /// The document's `record_id` (primary key).
    pub record_id: String,
    /// The event that brought it.
    pub event_id: String,
    /// The kiosk that sent it (the authenticated kiosk, not the document's claim).
    pub kiosk_id: String,
    /// The kiosk ledger's session id.
    pub session_id: String,
    /// The document, as compact JSON text.
    pub payload: String,
    /// When the identity was verified (the document's `verified_at_ms`).
    pub verified_at_ms: i64,
    /// When the backend received it.
    pub received_at_ms: i64,
    /// When it becomes due for purging.
    pub retain_until_ms: i64,
}

impl std::fmt::Debug for ConfirmationRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfirmationRecord")
            .field("record_id", &self.record_id)
            .field("event_id", &self.event_id)
            .field("kiosk_id", &self.kiosk_id)
            .field("session_id", &self.session_id)
            .field("payload", &format_args!("<{} bytes>", self.payload.len()))
            .field("verified_at_ms", &self.verified_at_ms)
            .field("received_at_ms", &self.received_at_ms)
            .field("retain_until_ms", &self.retain_until_ms)
            .finish()
    }
}

/// Confirmation counts for `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ConfirmationCounts {
    /// Records held now.
    pub records: u64,
    /// Records purged after their retention period.
    pub purged: u64,
    /// `confirmation.recorded` events that could not be read as a record (stored as events).
    pub malformed: u64,
    /// Malformed events per reason code (reasons with none are absent).
    pub malformed_reasons: std::collections::BTreeMap<String, u64>,
}

/// A confirmation read from an event payload, ready to store.
#[derive(Clone)]
pub(crate) struct Extracted {
    pub record_id: String,
    pub session_id: String,
    pub verified_at_ms: i64,
    /// The document as compact JSON.
    pub document: String,
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

/// Reads a `confirmation.recorded` payload; `Err` is a [`MALFORMED_REASONS`] code.
pub(crate) fn extract(payload: &str) -> Result<Extracted, &'static str> {
    let v: Value = serde_json::from_str(payload).map_err(|_| "not_an_object")?;
    let envelope = v.as_object().ok_or("not_an_object")?;
    let doc = envelope
        .get("record")
        .and_then(Value::as_object)
        .ok_or("no_record")?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err("unknown_format");
    }
    let record_id = doc
        .get("record_id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or("bad_record_id")?;
    if let Some(outer) = envelope.get("record_id")
        && outer.as_str() != Some(record_id)
    {
        return Err("record_id_mismatch");
    }
    let session_id = doc
        .get("session_id")
        .and_then(Value::as_str)
        .filter(|s| valid_id(s))
        .ok_or("bad_session_id")?;
    let verified_at_ms = doc
        .get("verified_at_ms")
        .and_then(Value::as_i64)
        .filter(|t| (0..=MAX_TIMESTAMP_MS).contains(t))
        .ok_or("bad_verified_at")?;
    Ok(Extracted {
        record_id: record_id.to_owned(),
        session_id: session_id.to_owned(),
        verified_at_ms,
        document: serde_json::to_string(doc).map_err(|_| "not_an_object")?,
    })
}

/// What replaces the payload of a purged confirmation event: ids, the kiosk's audit anchor
/// (if the payload had one) and the purge time, no personal data.
pub fn tombstone(original_payload: &str, record_id: Option<&str>, purged_at_ms: i64) -> String {
    let original: Option<Value> = serde_json::from_str(original_payload).ok();
    let get = |k: &str| original.as_ref().and_then(|v| v.get(k)).cloned();
    let audit = get("audit").filter(|a| {
        a.get("seq").is_some_and(Value::is_i64) && a.get("hash").is_some_and(Value::is_string)
    });
    let session_id = get("session_id").filter(|s| s.as_str().is_some_and(valid_id));
    json!({
        "tombstone": "confirmation.purged",
        "record_id": record_id,
        "session_id": session_id,
        "audit": audit,
        "purged_at_ms": purged_at_ms,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(record: Value) -> String {
        json!({"record_id": record["record_id"], "session_id": "s-1", "at_ms": 5,
               "record": record, "audit": {"seq": 3, "hash": "ab"}})
        .to_string()
    }

    fn doc() -> Value {
        json!({"format": FORMAT, "record_id": "r-1", "session_id": "s-1",
               "verified_at_ms": 1_796_000_000_000i64, "subject": {"name": "N"}})
    }

    #[test]
    fn a_ledger_payload_is_read_and_bad_ones_get_their_reason() {
        let e = extract(&payload(doc())).expect("good");
        assert_eq!(
            (
                e.record_id.as_str(),
                e.session_id.as_str(),
                e.verified_at_ms
            ),
            ("r-1", "s-1", 1_796_000_000_000)
        );
        assert_eq!(
            serde_json::from_str::<Value>(&e.document).expect("json"),
            doc()
        );
        let with = |k: &str, v: Value| {
            let mut d = doc();
            d[k] = v;
            payload(d)
        };
        let cases = [
            ("[1]".to_owned(), "not_an_object"),
            ("not json".to_owned(), "not_an_object"),
            (json!({"record": 1}).to_string(), "no_record"),
            (with("format", json!("other/1")), "unknown_format"),
            (with("record_id", json!("a b")), "bad_record_id"),
            (with("session_id", json!(null)), "bad_session_id"),
            (with("verified_at_ms", json!(-1)), "bad_verified_at"),
            (with("verified_at_ms", json!("today")), "bad_verified_at"),
            (
                json!({"record_id": "r-2", "record": doc()}).to_string(),
                "record_id_mismatch",
            ),
        ];
        for (p, want) in cases {
            assert_eq!(extract(&p).err(), Some(want), "{p}");
            assert!(MALFORMED_REASONS.contains(&want));
        }
    }

    #[test]
    fn the_tombstone_keeps_ids_and_the_anchor_only() {
        let t = tombstone(&payload(doc()), Some("r-1"), 9);
        let v: Value = serde_json::from_str(&t).expect("json");
        assert_eq!(v["record_id"], "r-1");
        assert_eq!(v["session_id"], "s-1");
        assert_eq!(v["audit"], json!({"seq": 3, "hash": "ab"}));
        assert_eq!(v["purged_at_ms"], 9);
        assert!(!t.contains("\"N\""), "{t}");
        let t: Value = serde_json::from_str(&tombstone("garbage", None, 1)).expect("json");
        assert_eq!(t["record_id"], Value::Null);
    }

    #[test]
    fn retention_counts_days_from_verification() {
        let r = Retention::default();
        assert_eq!(r.until(0), 2557 * DAY_MS);
        assert_eq!(r.until(i64::MAX), i64::MAX);
    }
}
