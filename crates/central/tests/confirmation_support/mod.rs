//! The confirmation-record scenario shared by the SQLite and PostgreSQL tests: ingest (once,
//! whatever is re-sent), malformed payloads counted, retention from verification, purge with
//! an injected clock, tombstones.
#![allow(clippy::unwrap_used, dead_code)] // test helpers: a failed set-up is a failed test

use madoguchi_central::confirmation::Retention;
use madoguchi_central::store::{IngestStatus, NewEvent, Store};
use serde_json::{Value, json};

pub const DAY_MS: i64 = 86_400_000;
pub const VERIFIED_AT_MS: i64 = 1_796_000_000_000;
pub const NAME: &str = "検証 太郎 CENTRAL-NAME-MARKER";

/// A confirmation document as the kiosk's procedure engine makes it.
pub fn document(record_id: &str, session_id: &str, verified_at_ms: i64) -> Value {
    json!({
        "format": "madoguchi-confirmation/1", "record_id": record_id, "session_id": session_id,
        "kiosk_id": "K-0001", "branch_code": "001",
        "verified_by": {"teller_id": "t-001", "teller_verified": false},
        "verified_at": "2026-12-01T18:22:03+09:00", "verified_at_ms": verified_at_ms,
        "method": {"chip_read": true, "route": "pin", "document_type": "my_number_card",
                   "signature_evidence": true},
        "document": {"expiry": "2031-12-09"},
        "subject": {"name": NAME, "address": "CENTRAL-ADDRESS-MARKER", "birth_date": "1946-12-09",
                    "sex": "female"},
        "face_match": {"outcome": "match", "score": 0.71, "threshold": 0.48, "model": "sface",
                       "condition": "chip"},
        "liveness": {"challenge": null, "challenge_result": null, "passive_live": true},
        "evidence": ["ev-1"], "override": null, "outcome": "verified"
    })
}

/// The `confirmation.recorded` event the kiosk ledger sends for `document`.
pub fn event(event_id: &str, document: &Value) -> NewEvent {
    let payload = json!({
        "record_id": document["record_id"], "session_id": document["session_id"],
        "at_ms": 1, "record": document, "audit": {"seq": 7, "hash": "00ff"}
    });
    NewEvent {
        event_id: event_id.into(),
        kind: "confirmation.recorded".into(),
        payload: payload.to_string(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

pub fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn payload_of(events: &[madoguchi_central::store::StoredEvent], id: &str) -> Value {
    let e = events.iter().find(|e| e.event_id == id).unwrap();
    serde_json::from_str(&e.payload).unwrap()
}

/// The scenario, on any store (uses event ids 0x…c0f1 to 0x…c0f6 only).
pub async fn scenario(s: &Store) {
    use IngestStatus::*;
    let retention = Retention {
        confirmation_days: 10,
    };
    let doc = document("rec-scenario", "sess-1", VERIFIED_AT_MS);
    let good = event(&uuid(0xc0f1), &doc);
    let mut not_an_object = event(&uuid(0xc0f2), &doc);
    not_an_object.payload = "[1]".into();
    let same_record = event(&uuid(0xc0f3), &doc);
    let received = VERIFIED_AT_MS + 1000;
    let got = s
        .ingest_with_retention(
            "K-0001",
            vec![good.clone(), not_an_object, same_record, good.clone()],
            received,
            retention,
        )
        .await
        .unwrap();
    assert_eq!(got, [Stored, Stored, Stored, Duplicate]);
    // Re-sent: acknowledged, not stored again.
    let got = s
        .ingest_with_retention("K-0001", vec![good.clone()], received + 5, retention)
        .await
        .unwrap();
    assert_eq!(got, [Duplicate]);

    let counts = s.confirmation_counts().await.unwrap();
    assert_eq!((counts.records, counts.purged, counts.malformed), (1, 0, 2));
    assert_eq!(counts.malformed_reasons.get("not_an_object"), Some(&1));
    assert_eq!(
        counts.malformed_reasons.get("duplicate_record_id"),
        Some(&1)
    );
    let records = s.confirmation_records(100, "").await.unwrap();
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r.record_id, "rec-scenario");
    assert_eq!(r.event_id, uuid(0xc0f1));
    assert_eq!(
        (r.kiosk_id.as_str(), r.session_id.as_str()),
        ("K-0001", "sess-1")
    );
    assert_eq!(serde_json::from_str::<Value>(&r.payload).unwrap(), doc);
    assert_eq!(r.verified_at_ms, VERIFIED_AT_MS);
    assert_eq!(r.received_at_ms, received);
    assert_eq!(r.retain_until_ms, VERIFIED_AT_MS + 10 * DAY_MS);
    assert!(!format!("{r:?}").contains(NAME));
    assert!(
        s.confirmation_records(100, "rec-scenario")
            .await
            .unwrap()
            .is_empty()
    );

    // Not before its time (the malformed ones count from their arrival, 1 s later).
    assert_eq!(
        s.purge_expired_confirmations(r.retain_until_ms)
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        s.purge_expired_confirmations(r.retain_until_ms + 1)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        s.purge_expired_confirmations(received + 10 * DAY_MS + 1)
            .await
            .unwrap(),
        2
    );
    assert_eq!(
        s.purge_expired_confirmations(i64::MAX).await.unwrap(),
        0,
        "purged twice"
    );
    let counts = s.confirmation_counts().await.unwrap();
    assert_eq!((counts.records, counts.purged, counts.malformed), (0, 1, 2));
    assert!(s.confirmation_records(100, "").await.unwrap().is_empty());

    // The events stay (the kiosk's re-sends stay duplicates) but hold tombstones.
    let events = s.list_events("", 10_000).await.unwrap();
    for n in [0xc0f1, 0xc0f2, 0xc0f3] {
        let p = payload_of(&events, &uuid(n));
        assert_eq!(p["tombstone"], "confirmation.purged", "{p}");
        assert!(!p.to_string().contains("CENTRAL-"), "{p}");
    }
    let p = payload_of(&events, &uuid(0xc0f1));
    assert_eq!(p["record_id"], "rec-scenario");
    assert_eq!(p["audit"], json!({"seq": 7, "hash": "00ff"}));
    let got = s
        .ingest_with_retention("K-0001", vec![good], i64::MAX / 2, retention)
        .await
        .unwrap();
    assert_eq!(got, [Duplicate]);
    // A new event with a purged record's id does not bring it back.
    let again = event(&uuid(0xc0f4), &doc);
    assert_eq!(
        s.ingest_with_retention("K-0001", vec![again], received, retention)
            .await
            .unwrap(),
        [Stored]
    );
    let counts = s.confirmation_counts().await.unwrap();
    assert_eq!((counts.records, counts.malformed), (0, 3));
    assert_eq!(
        counts.malformed_reasons.get("duplicate_record_id"),
        Some(&2)
    );
}
