//! Confirmation records (確認記録): recorded with their audit entry and event, refused when
//! malformed or carrying anything shaped like a My Number (nothing written, no value echoed),
//! purged only after the backend acknowledged them, re-sealed by key rotation.

mod common;

use common::{contains, files, key, one_procedure};
use madoguchi_ledger::{
    CONFIRMATION_FORMAT, ConfirmationCounts, DataKey, Ledger, LedgerError, SessionEnd,
};
use serde_json::{Value, json};

const NAME: &str = "確認 花子 CONFIRMATION-NAME-MARKER";
const ADDRESS: &str = "東京都千代田区 CONFIRMATION-ADDRESS-MARKER";

fn record(session_id: &str, record_id: &str) -> Value {
    json!({
        "format": CONFIRMATION_FORMAT,
        "record_id": record_id,
        "session_id": session_id,
        "kiosk_id": "K-0001", "branch_code": "001",
        "verified_by": {"teller_id": "t-001", "teller_verified": false},
        "verified_at": "2026-12-01T18:22:03+09:00", "verified_at_ms": 1_796_000_000_000u64,
        "method": {"chip_read": true, "route": "pin", "document_type": "my_number_card",
                   "signature_evidence": true},
        "document": {"expiry": "2031-12-09"},
        "subject": {"name": NAME, "address": ADDRESS, "birth_date": "1946-12-09",
                    "sex": "female"},
        "face_match": {"outcome": "match", "score": 0.71, "threshold": 0.48, "model": "sface",
                       "condition": "chip"},
        "liveness": {"challenge": "left", "challenge_result": "passed", "passive_live": true},
        "evidence": ["ev-1", "ev-2"],
        "override": null,
        "outcome": "verified"
    })
}

#[test]
fn a_record_is_stored_sealed_with_its_audit_entry_and_event() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let doc = record(&s, "rec-0001");
    let r = l.record_confirmation(&s, &doc).expect("record");
    assert_eq!(r.id, "rec-0001");
    assert_eq!(r.event.kind, "confirmation.recorded");

    // The event carries the whole document, its ids and an audit anchor.
    let payload: Value = serde_json::from_slice(&r.event.payload).expect("payload");
    assert_eq!(payload["record"], doc);
    assert_eq!(payload["record_id"], "rec-0001");
    assert_eq!(payload["session_id"], s.as_str());
    assert!(payload["audit"]["seq"].is_i64(), "{payload}");
    let peeked = l.outbox_peek(100).expect("peek");
    assert_eq!(peeked.last().expect("event").event_id, r.event.event_id);

    // Load gives the document back; the session lists it.
    let back: Value = serde_json::from_slice(
        &l.load_confirmation("rec-0001")
            .expect("load")
            .expect("held"),
    )
    .expect("json");
    assert_eq!(back, doc);
    assert_eq!(l.confirmations_for_session(&s).expect("list"), ["rec-0001"]);
    assert!(matches!(
        l.load_confirmation("rec-unknown"),
        Err(LedgerError::NotFound { .. })
    ));

    // The audit entry holds ids and the kind only.
    let audit = l.audit_entries(1, 100).expect("audit");
    let last = audit.last().expect("entries");
    assert_eq!(last.action, "confirmation.recorded");
    assert_eq!(last.subject, "confirmations:rec-0001");
    for personal in [NAME, ADDRESS, "1946-12-09", "2031-12-09"] {
        assert!(!last.detail.contains(personal), "{}", last.detail);
    }
    assert!(l.verify_audit().expect("verify").is_intact());
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert_eq!(
        l.confirmation_counts().expect("counts"),
        ConfirmationCounts {
            total: 1,
            purged: 0
        }
    );

    // The same record id twice is refused.
    let e = l.record_confirmation(&s, &doc).expect_err("duplicate");
    assert_eq!(e.code(), "ledger.invalid_input");
}

#[test]
fn bad_documents_are_refused_naming_the_path_never_the_value_and_nothing_is_written() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let before = (
        l.outbox_total().expect("total"),
        l.audit_entries(1, 1000).expect("audit").len(),
    );
    let base = record(&s, "rec-1");
    let with = |f: &dyn Fn(&mut Value)| {
        let mut d = base.clone();
        f(&mut d);
        d
    };
    // (document, what the message must name)
    let cases: Vec<(Value, &str)> = vec![
        (json!(["not", "an", "object"]), "JSON object"),
        (
            with(&|d| d["format"] = json!("madoguchi-confirmation/2")),
            "$.format",
        ),
        (
            with(&|d| d["record_id"] = json!("has space")),
            "$.record_id",
        ),
        (with(&|d| d["record_id"] = json!(7)), "$.record_id"),
        (
            with(&|d| d["session_id"] = json!("another-session")),
            "$.session_id",
        ),
        (
            with(&|d| d["verified_at_ms"] = json!("yesterday")),
            "$.verified_at_ms",
        ),
        (
            with(&|d| d["subject"]["my_number"] = json!("123456789018")),
            "$.subject.my_number",
        ),
        (
            with(&|d| d["subject"]["extra"] = json!({"myNumber": null})),
            "$.subject.extra.myNumber",
        ),
        (
            with(&|d| d["document"]["個人番号"] = json!("hidden")),
            "$.document.個人番号",
        ),
        (
            with(&|d| {
                d["override"] = json!({"decision": "accepted", "reason": "123456789018",
                                             "teller_id": "t-001"})
            }),
            "$.override.reason",
        ),
        (
            with(&|d| d["evidence"] = json!(["ev-1", "123456789018"])),
            "$.evidence[1]",
        ),
        (
            with(&|d| d["document"]["123456789018"] = json!(true)),
            "under $.document",
        ),
        (
            with(&|d| d["subject"]["address"] = json!(123_456_789_018u64)),
            "$.subject.address",
        ),
    ];
    for (doc, path) in &cases {
        match l.record_confirmation(&s, doc) {
            Err(e @ LedgerError::InvalidInput(_)) => {
                let m = e.to_string();
                assert!(m.contains(path), "{path}: {m}");
                for value in ["123456789018", NAME, ADDRESS, "hidden", "another-session"] {
                    assert!(!m.contains(value), "{path}: value echoed: {m}");
                }
            }
            other => panic!("{path}: accepted or wrong error: {other:?}"),
        }
    }
    // Too large.
    let big = with(&|d| d["subject"]["name_image_png_b64"] = json!("A".repeat(1024 * 1024)));
    assert!(matches!(
        l.record_confirmation(&s, &big),
        Err(LedgerError::InvalidInput(_))
    ));
    // Unknown and ended sessions.
    let other = record("no-such-session", "rec-2");
    assert!(matches!(
        l.record_confirmation("no-such-session", &other),
        Err(LedgerError::NotFound { .. })
    ));
    l.end_session(&s, SessionEnd::Completed).expect("end");
    assert!(matches!(
        l.record_confirmation(&s, &base),
        Err(LedgerError::InvalidInput(_))
    ));
    // Nothing was written by any refusal (the end_session wrote one event and entry).
    assert_eq!(
        (
            l.outbox_total().expect("total"),
            l.audit_entries(1, 1000).expect("audit").len()
        ),
        (before.0 + 1, before.1 + 1)
    );
    assert_eq!(l.confirmation_counts().expect("counts").total, 0);
}

#[test]
fn purged_only_after_acknowledgement_and_then_gone_from_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let r = l
        .record_confirmation(&s, &record(&s, "rec-purge"))
        .expect("record");
    // The sealed content and event payload as stored, to look for their bytes in the file
    // after the purge.
    let (sealed, sealed_event): (Vec<u8>, Vec<u8>) = {
        let c = rusqlite::Connection::open(&p).expect("raw");
        let content = c
            .query_row(
                "SELECT content FROM confirmations WHERE id = 'rec-purge'",
                [],
                |r| r.get(0),
            )
            .expect("sealed");
        let payload = c
            .query_row(
                "SELECT payload FROM outbox WHERE seq = ?1",
                [r.event.seq],
                |r| r.get(0),
            )
            .expect("sealed payload");
        (content, payload)
    };

    // The scan sees the sealed bytes while they are held.
    l.checkpoint().expect("checkpoint");
    let held = files(&p);
    assert!(contains(&held, &sealed[13..77]) && contains(&held, &sealed_event[13..77]));

    // Not acknowledged: nothing is purged, and no purge event is written.
    let total = l.outbox_total().expect("total");
    assert_eq!(l.purge_acknowledged_confirmations().expect("purge"), 0);
    assert_eq!(l.outbox_total().expect("total"), total);
    assert!(l.load_confirmation("rec-purge").expect("load").is_some());

    // Acknowledging the other events does not make it eligible.
    let others: Vec<i64> = l
        .outbox_peek(100)
        .expect("peek")
        .iter()
        .map(|e| e.seq)
        .filter(|q| *q != r.event.seq)
        .collect();
    l.outbox_ack(&others).expect("ack others");
    assert_eq!(l.purge_acknowledged_confirmations().expect("purge"), 0);
    assert!(l.load_confirmation("rec-purge").expect("load").is_some());

    // The backend acknowledged it: purged, with an audit entry and event.
    l.outbox_ack(&[r.event.seq]).expect("ack");
    assert_eq!(l.purge_acknowledged_confirmations().expect("purge"), 1);
    assert!(l.load_confirmation("rec-purge").expect("load").is_none());
    assert_eq!(
        l.confirmations_for_session(&s).expect("list"),
        ["rec-purge"]
    );
    assert_eq!(
        l.confirmation_counts().expect("counts"),
        ConfirmationCounts {
            total: 1,
            purged: 1
        }
    );
    let audit = l.audit_entries(1, 100).expect("audit");
    let last = audit.last().expect("entries");
    assert_eq!(last.action, "confirmation.purged");
    assert!(
        last.detail.contains("\"confirmations_purged\":1"),
        "{}",
        last.detail
    );
    let pending = l.outbox_peek(100).expect("peek");
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].kind, "confirmation.purged");
    assert!(l.verify_audit().expect("verify").is_intact());
    assert!(l.check_consistency().expect("consistency").is_consistent());
    // Purging again does nothing and writes nothing.
    let total = l.outbox_total().expect("total");
    assert_eq!(l.purge_acknowledged_confirmations().expect("purge"), 0);
    assert_eq!(l.outbox_total().expect("total"), total);

    // The event's sealed payload is gone too, and neither the text nor the sealed bytes are
    // left in the database files.
    l.checkpoint().expect("checkpoint");
    {
        let c = rusqlite::Connection::open(&p).expect("raw");
        let payload: Option<Vec<u8>> = c
            .query_row(
                "SELECT payload FROM outbox WHERE seq = ?1",
                [r.event.seq],
                |r| r.get(0),
            )
            .expect("row");
        assert!(payload.is_none());
    }
    let bytes = files(&p);
    assert!(contains(&bytes, b"rec-purge"), "scan sees nothing");
    for needle in [
        NAME.as_bytes(),
        "確認 花子".as_bytes(),
        b"CONFIRMATION-ADDRESS-MARKER",
        &sealed[13..77],
        &sealed_event[13..77],
    ] {
        assert!(
            !contains(&bytes, needle),
            "{:?} left in the database files",
            String::from_utf8_lossy(needle)
        );
    }
}

#[test]
fn the_daily_retention_purge_also_purges_acknowledged_confirmations() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let acked = l.record_confirmation(&s, &record(&s, "rec-a")).expect("a");
    l.record_confirmation(&s, &record(&s, "rec-b")).expect("b");
    l.outbox_ack(&[acked.event.seq]).expect("ack");
    let r = l.purge_evidence(30).expect("purge");
    assert_eq!(r.confirmations_purged, 1);
    assert_eq!(r.outbox_payloads_purged, 1);
    assert!(l.load_confirmation("rec-a").expect("a").is_none());
    assert!(l.load_confirmation("rec-b").expect("b").is_some());
    let audit = l.audit_entries(1, 100).expect("audit");
    let last = audit.last().expect("entries");
    assert_eq!(last.action, "retention.purged");
    assert!(
        last.detail.contains("\"confirmations_purged\":1"),
        "{}",
        last.detail
    );
    assert!(l.verify_audit().expect("verify").is_intact());
}

#[test]
fn key_rotation_reseals_confirmations() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let new = DataKey::from_bytes([0x77; 32]);
    {
        let mut l = Ledger::open(&p, key()).expect("open");
        let (s, _) = one_procedure(&l, "t-001");
        l.record_confirmation(&s, &record(&s, "rec-rot"))
            .expect("record");
        let r = l.rotate_key(new.clone()).expect("rotate");
        assert_eq!(r.confirmations, 1);
    }
    let l = Ledger::open(&p, new).expect("open with the new key");
    let back: Value =
        serde_json::from_slice(&l.load_confirmation("rec-rot").expect("load").expect("held"))
            .expect("json");
    assert_eq!(back["subject"]["name"], NAME);
}
