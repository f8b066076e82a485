//! Confirmation records (確認記録): one JSON document per completed identity verification,
//! produced by the procedure engine (`flow`), kept sealed here only until the backend has it.
//!
//! [`Ledger::record_confirmation`] validates the document, seals it under the data key with
//! the record id as associated data, and writes the `confirmations` row, an audit entry (ids
//! and kind only) and a `confirmation.recorded` outbox event carrying the whole document
//! (outbox payloads are sealed at rest) in one transaction. The event payload is
//! `{"record_id", "session_id", "at_ms", "record": <the document>, "audit": {"seq", "hash"}}`.
//!
//! [`Ledger::purge_acknowledged_confirmations`] removes the content of every confirmation whose
//! event the backend has acknowledged, and that event's sealed payload; the row stays with
//! `purged_at_ms` (the record of its existence). When it purged something it writes an audit
//! entry and a `confirmation.purged` event with the counts (never when there was nothing to
//! purge, so a sync loop calling it after each batch does not feed itself events).
//! [`Ledger::purge_evidence`] runs the same purge in its transaction and reports the count in
//! its `retention.purged` event instead.
//!
//! Checks on the document: a JSON object of at most [`MAX_CONFIRMATION_BYTES`] (serialised);
//! `format` is [`CONFIRMATION_FORMAT`]; `record_id` is a valid ledger id; `session_id` equals
//! the session it is written for, which must be open; `verified_at_ms` is an integer from 0 to
//! 2^53 − 1 (the backend computes the retention period from it). And the My Number guard: the
//! My Number must never be stored (番号法), so a document is refused if any key anywhere is
//! named `my_number`, `myNumber` or `個人番号` (compared ignoring case, `_` and `-`), or if any
//! key, string value or integer is exactly 12 ASCII digits (the shape of a My Number).
//! Refusals are `InvalidInput` naming the key path (`$.subject.name`, `$.evidence[2]`), never a
//! value; a key that could itself be personal (not plain ASCII, or all digits) is shown as `?`.
//!
//! What it does not do: interpret the record (outcome, scores, override: `flow` decides),
//! depend on the `flow` crate's types, or keep the content once the backend acknowledged it
//! (the backend keeps the record for the retention period).

use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::outbox::{RecordRef, emit};
use crate::records::{check_id, session_open};
use crate::{DataKey, Ledger, LedgerError, Recorded, crypto, now_ms};

/// The `format` of the confirmation documents this ledger stores.
pub const CONFIRMATION_FORMAT: &str = "madoguchi-confirmation/1";

/// Largest confirmation document accepted, serialised (it must fit, with its event envelope,
/// in one sync batch under the backend's default 4 MiB body limit).
pub const MAX_CONFIRMATION_BYTES: usize = 1024 * 1024;

/// Deepest nesting of objects and arrays accepted in a document.
const MAX_DEPTH: usize = 32;

/// Largest integer the backend accepts for `verified_at_ms` (2^53 − 1).
const MAX_TIMESTAMP_MS: u64 = 9_007_199_254_740_991;

/// Table name (and associated-data table) of confirmation contents.
const TABLE: &str = "confirmations";

/// How many confirmation records the ledger holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ConfirmationCounts {
    /// Every confirmation ever recorded (rows are kept after purging).
    pub total: u64,
    /// Those whose content has been purged after the backend acknowledged them.
    pub purged: u64,
}

/// What one confirmation purge did (inside a transaction).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct ConfirmationPurge {
    /// Confirmations whose content was removed.
    pub purged: u64,
    /// Confirmations still held because the backend has not acknowledged them.
    pub kept_unsynced: u64,
    /// Acknowledged `confirmation.recorded` events whose payload was removed.
    pub outbox_payloads_purged: u64,
}

fn invalid(msg: impl Into<String>) -> LedgerError {
    LedgerError::InvalidInput(msg.into())
}

/// Whether a key names a My Number (`my_number`, `myNumber`, `My-Number`, `個人番号`, …).
fn is_my_number_key(k: &str) -> bool {
    if k.contains("個人番号") {
        return true;
    }
    let folded: String = k
        .chars()
        .filter(|c| *c != '_' && *c != '-')
        .flat_map(char::to_lowercase)
        .collect();
    folded == "mynumber"
}

fn twelve_digits(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// A key as it may appear in an error: plain ASCII names as they are, anything that could be
/// personal data (non-ASCII, all digits, long) as `?`. The My Number key names are shown.
fn shown_key(k: &str) -> &str {
    let plain = !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        && !k.bytes().all(|b| b.is_ascii_digit());
    if plain || k == "個人番号" { k } else { "?" }
}

/// Walks the document and refuses anything that is or names a My Number (module docs).
fn guard(v: &Value, path: &mut String, depth: usize) -> Result<(), LedgerError> {
    if depth > MAX_DEPTH {
        return Err(invalid(format!(
            "{path} is nested deeper than {MAX_DEPTH} levels"
        )));
    }
    match v {
        Value::String(s) if twelve_digits(s) => Err(invalid(format!(
            "{path} is a 12-digit number (the shape of a My Number, which must never be stored)"
        ))),
        Value::Number(n) if n.as_u64().is_some_and(|u| twelve_digits(&u.to_string())) => {
            Err(invalid(format!(
                "{path} is a 12-digit number (the shape of a My Number, which must never be stored)"
            )))
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                let len = path.len();
                path.push_str(&format!("[{i}]"));
                guard(item, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        Value::Object(m) => {
            for (k, item) in m {
                let len = path.len();
                path.push('.');
                path.push_str(shown_key(k));
                if is_my_number_key(k) {
                    return Err(invalid(format!(
                        "{path} names a My Number, which must never be stored"
                    )));
                }
                if twelve_digits(k) {
                    return Err(invalid(format!(
                        "a key under {} is a 12-digit number (the shape of a My Number, \
                         which must never be stored)",
                        &path[..len]
                    )));
                }
                guard(item, path, depth + 1)?;
                path.truncate(len);
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// Validates a document for `session_id` (everything but the session being open, which needs
/// the transaction) and returns its record id.
fn validate<'a>(session_id: &str, record: &'a Value) -> Result<&'a str, LedgerError> {
    let doc = record
        .as_object()
        .ok_or_else(|| invalid("a confirmation record must be a JSON object"))?;
    if doc.get("format").and_then(Value::as_str) != Some(CONFIRMATION_FORMAT) {
        return Err(invalid(format!(
            "$.format must be \"{CONFIRMATION_FORMAT}\""
        )));
    }
    let record_id = doc
        .get("record_id")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("$.record_id must be a string"))?;
    check_id("$.record_id", record_id)?;
    if doc.get("session_id").and_then(Value::as_str) != Some(session_id) {
        return Err(invalid(
            "$.session_id must equal the session the record is written for",
        ));
    }
    if doc
        .get("verified_at_ms")
        .and_then(Value::as_u64)
        .is_none_or(|t| t > MAX_TIMESTAMP_MS)
    {
        return Err(invalid(
            "$.verified_at_ms must be an integer from 0 to 2^53 - 1",
        ));
    }
    guard(record, &mut String::from("$"), 0)?;
    Ok(record_id)
}

/// Purges the content of acknowledged confirmations and their events' payloads inside `tx`.
pub(crate) fn purge_acknowledged(
    tx: &Transaction<'_>,
    now_ms: i64,
) -> Result<ConfirmationPurge, LedgerError> {
    let acked = "EXISTS (SELECT 1 FROM outbox o WHERE o.record_table = 'confirmations'
                  AND o.record_id = c.id AND o.acked_at_ms IS NOT NULL)";
    let kept: i64 = tx.query_row(
        &format!(
            "SELECT COUNT(*) FROM confirmations c WHERE c.content IS NOT NULL AND NOT {acked}"
        ),
        [],
        |r| r.get(0),
    )?;
    let purged = tx.execute(
        &format!(
            "UPDATE confirmations AS c SET content = NULL, purged_at_ms = ?1
             WHERE c.content IS NOT NULL AND {acked}"
        ),
        params![now_ms],
    )?;
    let outbox = tx.execute(
        "UPDATE outbox SET payload = NULL WHERE record_table = 'confirmations'
         AND acked_at_ms IS NOT NULL AND payload IS NOT NULL",
        [],
    )?;
    Ok(ConfirmationPurge {
        purged: purged as u64,
        kept_unsynced: u64::try_from(kept).unwrap_or(0),
        outbox_payloads_purged: outbox as u64,
    })
}

fn write_confirmation(
    tx: &Transaction<'_>,
    key: &DataKey,
    session_id: &str,
    record_id: &str,
    record: &Value,
    content: &[u8],
) -> Result<Recorded, LedgerError> {
    session_open(tx, session_id)?;
    let at = now_ms();
    let sealed = crypto::seal(key, TABLE, record_id, content)?;
    let n = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO confirmations
             (id, session_id, created_at_ms, format, content, size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            record_id,
            session_id,
            at,
            CONFIRMATION_FORMAT,
            sealed,
            content.len() as i64
        ])?;
    if n == 0 {
        return Err(invalid(format!(
            "confirmation record {record_id} is already recorded"
        )));
    }
    let event = emit(
        tx,
        key,
        at,
        None,
        "confirmation.recorded",
        Some(RecordRef {
            table: TABLE,
            id: record_id,
        }),
        &json!({ "session_id": session_id }),
        &json!({ "record_id": record_id, "session_id": session_id, "at_ms": at,
                 "record": record }),
        true,
    )?;
    Ok(Recorded {
        id: record_id.to_owned(),
        event,
    })
}

impl Ledger {
    /// Records a confirmation record (確認記録) for an open session: validated (see the
    /// module docs: format, ids, session, the My Number guard), sealed, audited and put in
    /// the outbox as a `confirmation.recorded` event, in one transaction. The returned id is
    /// the document's `record_id`; recording the same id twice is `InvalidInput`.
    pub fn record_confirmation(
        &self,
        session_id: &str,
        record: &Value,
    ) -> Result<Recorded, LedgerError> {
        check_id("session id", session_id)?;
        let record_id = validate(session_id, record)?;
        let content = Zeroizing::new(serde_json::to_vec(record)?);
        if content.len() > MAX_CONFIRMATION_BYTES {
            return Err(invalid(format!(
                "a confirmation record must be at most {MAX_CONFIRMATION_BYTES} bytes of JSON"
            )));
        }
        self.write(|tx, key| write_confirmation(tx, key, session_id, record_id, record, &content))
    }

    /// The JSON bytes of a confirmation record, opened from its sealed form; `Ok(None)` once
    /// purged after the backend acknowledged it. An unknown id is `NotFound`.
    pub fn load_confirmation(
        &self,
        record_id: &str,
    ) -> Result<Option<Zeroizing<Vec<u8>>>, LedgerError> {
        self.read(|c, key| {
            let content: Option<Option<Vec<u8>>> = c
                .query_row(
                    "SELECT content FROM confirmations WHERE id = ?1",
                    params![record_id],
                    |r| r.get(0),
                )
                .optional()?;
            match content {
                None => Err(LedgerError::NotFound {
                    what: TABLE,
                    id: record_id.to_owned(),
                }),
                Some(None) => Ok(None),
                Some(Some(sealed)) => Ok(Some(crypto::open(key, TABLE, record_id, &sealed)?)),
            }
        })
    }

    /// Ids of the confirmation records of a session, oldest first (purged ones included).
    pub fn confirmations_for_session(&self, session_id: &str) -> Result<Vec<String>, LedgerError> {
        self.read(|c, _| {
            let mut stmt = c.prepare_cached(
                "SELECT id FROM confirmations WHERE session_id = ?1
                 ORDER BY created_at_ms, rowid",
            )?;
            let ids = stmt
                .query_map(params![session_id], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(ids)
        })
    }

    /// Removes the content of every confirmation whose `confirmation.recorded` event the
    /// backend has acknowledged (and that event's payload); returns how many were purged.
    /// Audited with a `confirmation.purged` event when something was purged (module docs).
    pub fn purge_acknowledged_confirmations(&self) -> Result<u64, LedgerError> {
        self.write(|tx, key| {
            let at = now_ms();
            let p = purge_acknowledged(tx, at)?;
            if p.purged > 0 || p.outbox_payloads_purged > 0 {
                let detail = json!({
                    "confirmations_purged": p.purged,
                    "confirmations_kept_unsynced": p.kept_unsynced,
                    "outbox_payloads_purged": p.outbox_payloads_purged,
                    "at_ms": at,
                });
                emit(
                    tx,
                    key,
                    at,
                    None,
                    "confirmation.purged",
                    None,
                    &detail,
                    &detail,
                    true,
                )?;
            }
            Ok(p.purged)
        })
    }

    /// How many confirmation records the ledger holds, and how many of them are purged.
    pub fn confirmation_counts(&self) -> Result<ConfirmationCounts, LedgerError> {
        self.read(|c, _| {
            let (total, purged): (i64, i64) = c.query_row(
                "SELECT COUNT(*), COUNT(purged_at_ms) FROM confirmations",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(ConfirmationCounts {
                total: u64::try_from(total).unwrap_or(0),
                purged: u64::try_from(purged).unwrap_or(0),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_number_keys_are_recognised_in_their_spellings() {
        for k in [
            "my_number",
            "myNumber",
            "MyNumber",
            "my-number",
            "個人番号",
            "個人番号カード",
        ] {
            assert!(is_my_number_key(k), "{k}");
        }
        for k in ["number", "my_numbers", "name", "mynum"] {
            assert!(!is_my_number_key(k), "{k}");
        }
    }

    #[test]
    fn keys_that_could_be_personal_are_not_shown() {
        assert_eq!(shown_key("subject"), "subject");
        assert_eq!(shown_key("name_image_png_b64"), "name_image_png_b64");
        assert_eq!(shown_key("山田"), "?");
        assert_eq!(shown_key("09012345678"), "?");
        assert_eq!(shown_key(""), "?");
        assert_eq!(shown_key(&"a".repeat(65)), "?");
    }

    #[test]
    fn the_guard_names_the_path_never_the_value() {
        let doc = json!({"subject": {"tags": ["ok", "123456789018"]}});
        let e = guard(&doc, &mut String::from("$"), 0).expect_err("refused");
        let m = e.to_string();
        assert!(m.contains("$.subject.tags[1]"), "{m}");
        assert!(!m.contains("123456789018"), "{m}");
        // Thirteen or eleven digits, and a 12-digit float, are not a My Number's shape.
        let ok = json!({"t": "1234567890123", "u": "12345678901", "v": 1_796_000_000_000u64,
                        "w": 0.5});
        assert!(guard(&ok, &mut String::from("$"), 0).is_ok());
        let n = json!({"x": 123_456_789_018u64});
        assert!(guard(&n, &mut String::from("$"), 0).is_err());
    }

    #[test]
    fn deep_documents_are_refused_without_recursing_further() {
        let mut v = json!("leaf");
        for _ in 0..(MAX_DEPTH + 5) {
            v = json!([v]);
        }
        let e = guard(&v, &mut String::from("$"), 0).expect_err("too deep");
        assert!(e.to_string().contains("nested deeper"), "{e}");
    }
}
