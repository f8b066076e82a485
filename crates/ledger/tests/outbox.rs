//! The outbox contract the `sync` crate relies on: order, ack idempotency, backlog, restart.

use madoguchi_ledger::{DataKey, Ledger, LedgerError, SyncState};
use serde_json::json;

fn key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

#[test]
fn peek_is_oldest_first_and_ack_is_idempotent() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let mut written = Vec::new();
    for i in 0..10 {
        written.push(
            l.append_event("test.event", &json!({ "i": i }))
                .expect("append"),
        );
    }
    assert_eq!(l.outbox_backlog().expect("backlog"), 10);
    let peek = l.outbox_peek(4).expect("peek");
    assert_eq!(peek, written[..4].to_vec());
    let payload: serde_json::Value = serde_json::from_slice(&peek[0].payload).expect("json");
    assert_eq!(payload, json!({ "i": 0 }));
    // seqs strictly increase and event ids are distinct UUIDs.
    for w in written.windows(2) {
        assert!(w[0].seq < w[1].seq);
        assert_ne!(w[0].event_id, w[1].event_id);
        assert!(uuid::Uuid::parse_str(&w[1].event_id).is_ok());
    }
    let seqs: Vec<i64> = peek.iter().map(|e| e.seq).collect();
    l.outbox_ack(&seqs).expect("ack");
    l.outbox_ack(&seqs).expect("ack again");
    l.outbox_ack(&[999_999]).expect("ack unknown");
    l.outbox_ack(&[]).expect("ack nothing");
    assert_eq!(l.outbox_backlog().expect("backlog"), 6);
    assert_eq!(l.outbox_peek(100).expect("peek"), written[4..].to_vec());
    assert_eq!(l.outbox_total().expect("total"), 10);
}

#[test]
fn acking_out_of_order_leaves_the_rest_in_order() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let ev: Vec<_> = (0..5)
        .map(|i| l.append_event("k", &json!(i)).expect("append"))
        .collect();
    l.outbox_ack(&[ev[1].seq, ev[3].seq]).expect("ack");
    let left: Vec<i64> = l
        .outbox_peek(10)
        .expect("peek")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(left, vec![ev[0].seq, ev[2].seq, ev[4].seq]);
}

#[test]
fn outbox_survives_reopen_and_wrong_key_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let first = {
        let l = Ledger::open(&p, key()).expect("open");
        let e = l.append_event("a", &json!({"x": 1})).expect("append");
        l.append_event("b", &json!({"x": 2})).expect("append");
        l.outbox_ack(&[e.seq]).expect("ack");
        e
    };
    let l = Ledger::open(&p, key()).expect("reopen");
    let left = l.outbox_peek(10).expect("peek");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].kind, "b");
    assert!(left[0].seq > first.seq);
    drop(l);
    match Ledger::open(&p, DataKey::from_bytes([0x43; 32])) {
        Err(LedgerError::WrongKey { expected, given }) => {
            assert_eq!(expected, key().id());
            assert_ne!(given, expected);
        }
        other => panic!("wrong key accepted: {other:?}"),
    }
}

#[test]
fn sync_state_round_trips() {
    let l = Ledger::open_in_memory(key()).expect("open");
    assert_eq!(l.sync_state().expect("state"), SyncState::default());
    let s = SyncState {
        last_success_ms: Some(1_700_000_000_000),
        last_attempt_ms: Some(1_700_000_000_500),
        last_error_code: Some("sync.http_503".into()),
    };
    l.set_sync_state(&s).expect("set");
    assert_eq!(l.sync_state().expect("state"), s);
}

#[test]
fn every_event_has_an_audit_entry_and_the_chain_verifies() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let e = l.append_event("x.y", &json!({})).expect("append");
    let a = l.audit_entries(1, 10).expect("audit");
    assert_eq!(a.len(), 1);
    assert_eq!(a[0].action, "x.y");
    assert!(a[0].detail.contains(&e.event_id));
    let r = l.verify_audit().expect("verify");
    assert!(r.is_intact());
    assert_eq!(r.entries, 1);
}

#[test]
fn bad_kind_is_an_error_not_a_panic() {
    let l = Ledger::open_in_memory(key()).expect("open");
    assert!(matches!(
        l.append_event("", &json!({})),
        Err(LedgerError::InvalidInput(_))
    ));
    assert_eq!(l.outbox_backlog().expect("backlog"), 0);
}

#[test]
fn debug_of_event_hides_payload() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let e = l
        .append_event("evidence.stored", &json!({"secret": "山田太郎"}))
        .expect("append");
    let d = format!("{e:?}");
    assert!(!d.contains("山田"), "{d}");
    assert!(d.contains("bytes"));
}

#[test]
fn a_batch_is_written_whole_or_not_at_all() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let evs = l
        .append_events(&[("a", json!(1)), ("b", json!(2)), ("c", json!(3))])
        .expect("batch");
    assert_eq!(evs.len(), 3);
    assert_eq!(l.outbox_peek(10).expect("peek"), evs);
    assert_eq!(l.verify_audit().expect("verify").entries, 3);
    // One bad kind in the batch: nothing from it is written.
    assert!(l.append_events(&[("d", json!(4)), ("", json!(5))]).is_err());
    assert_eq!(l.outbox_backlog().expect("backlog"), 3);
    assert_eq!(l.verify_audit().expect("verify").entries, 3);
}

#[test]
fn normal_durability_opens_the_same_file() {
    use madoguchi_ledger::{Durability, OpenOptions};
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let opts = OpenOptions {
        durability: Durability::Normal,
    };
    let l = Ledger::open_with(&p, key(), opts).expect("open");
    l.append_event("a", &json!({})).expect("append");
    drop(l);
    assert_eq!(
        Ledger::open(&p, key())
            .expect("reopen")
            .outbox_backlog()
            .expect("backlog"),
        1
    );
}
