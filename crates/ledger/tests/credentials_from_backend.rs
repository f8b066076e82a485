//! Credentials from the backend's teller list (`sync_teller_credential_from_backend`): cached
//! when unknown, counters only raised, revocations applied and never undone, audited only when
//! something changed, and nothing sent back to the backend.

mod common;

use common::key;
use madoguchi_ledger::{Ledger, LedgerError, TellerRole};
use serde_json::json;

const CRED_A: &str = "Y3JlZC1hLTAxMjM0NTY3ODk";
const CRED_B: &str = "Y3JlZC1iLTAxMjM0NTY3ODk";

fn body(id: &str, count: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "teller": "t-1", "sign_count": count,
        "passkey": {"cred": {"key": "PUBLIC-KEY-BODY-MARKER"}},
    }))
    .expect("json")
}

fn ledger() -> Ledger {
    let l = Ledger::open_in_memory(key()).expect("open");
    l.upsert_teller_from_backend("t-1", TellerRole::Teller, Some("山田 花子"), true)
        .expect("teller");
    // The teller's own upsert is an ordinary event; what follows must add none to send.
    let pending = l.outbox_peek(100).expect("peek");
    l.outbox_ack(&pending.iter().map(|e| e.seq).collect::<Vec<_>>())
        .expect("ack");
    l
}

fn synced_actions(l: &Ledger) -> Vec<String> {
    l.audit_entries(0, 1000)
        .expect("audit")
        .into_iter()
        .filter(|e| e.action == "teller.key_synced")
        .map(|e| e.detail)
        .collect()
}

#[test]
fn an_unknown_credential_is_cached_audited_and_not_sent_back() {
    let l = ledger();
    assert!(
        l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 4), 4, false)
            .expect("sync")
    );
    let c = l.teller_credential(CRED_A).expect("read").expect("cached");
    assert_eq!(
        (c.teller_id.as_str(), c.sign_count, c.revoked_at_ms),
        ("t-1", 4, None)
    );
    assert_eq!(c.body, body(CRED_A, 4));
    let candidates = l.sign_in_candidates().expect("candidates");
    assert_eq!(candidates.len(), 1);
    assert_eq!(candidates[0].1[0].credential_id, CRED_A);
    // Nothing for the sync to send, and the records stay consistent.
    assert_eq!(l.outbox_backlog().expect("backlog"), 0);
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert!(l.verify_audit().expect("verify").first_broken.is_none());
    let audit = synced_actions(&l);
    assert_eq!(audit.len(), 1);
    assert!(audit[0].contains("\"created\":true"), "{}", audit[0]);
    assert!(!audit[0].contains("MARKER"), "the body is not audited");
    // The same again changes nothing and writes nothing.
    let entries = l.audit_entries(0, 1000).expect("audit").len();
    let total = l.outbox_total().expect("total");
    assert!(
        !l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 4), 4, false)
            .expect("again")
    );
    assert_eq!(l.audit_entries(0, 1000).expect("audit").len(), entries);
    assert_eq!(l.outbox_total().expect("total"), total);
}

#[test]
fn counters_are_raised_never_lowered() {
    let l = ledger();
    l.put_teller_credential("t-1", CRED_A, &body(CRED_A, 5), 5, None)
        .expect("put");
    let pending: Vec<i64> = l
        .outbox_peek(100)
        .expect("peek")
        .iter()
        .map(|e| e.seq)
        .collect();
    l.outbox_ack(&pending).expect("ack");
    // Lower or equal at the backend: the local one stays.
    for n in [0, 3, 5] {
        assert!(
            !l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, n), n, false)
                .expect("sync")
        );
    }
    assert_eq!(l.teller_credential(CRED_A).unwrap().unwrap().sign_count, 5);
    assert_eq!(
        l.teller_credential(CRED_A).unwrap().unwrap().body,
        body(CRED_A, 5)
    );
    // Higher (a sign-in at another kiosk): counter and body become the backend's.
    assert!(
        l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 9), 9, false)
            .expect("raise")
    );
    let c = l.teller_credential(CRED_A).unwrap().unwrap();
    assert_eq!((c.sign_count, c.body), (9, body(CRED_A, 9)));
    // So a replay of the older counter here is refused.
    let e = l
        .record_sign_in(CRED_A, 7, &body(CRED_A, 7))
        .expect_err("regressed");
    assert!(
        matches!(e, LedgerError::SignCountRegressed { stored: 9, .. }),
        "{e}"
    );
    let audit = synced_actions(&l);
    assert_eq!(audit.len(), 1, "{audit:?}");
    assert!(
        audit[0].contains("\"sign_count_raised_from\":5"),
        "{}",
        audit[0]
    );
    // The sign-in refusal is a kiosk event and goes to the backend; the sync did not.
    let pending = l.outbox_peek(100).expect("peek");
    assert_eq!(
        pending.iter().map(|e| e.kind.as_str()).collect::<Vec<_>>(),
        ["teller.sign_in_refused"]
    );
}

#[test]
fn revocations_are_applied_and_never_undone() {
    let l = ledger();
    l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 1), 1, false)
        .expect("cache");
    assert!(
        l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 1), 1, true)
            .expect("revoke")
    );
    let c = l.teller_credential(CRED_A).unwrap().unwrap();
    assert!(c.revoked_at_ms.is_some());
    assert!(l.sign_in_candidates().expect("candidates").is_empty());
    // The backend saying "not revoked" (stale, or a local revocation not sent yet) is ignored.
    assert!(
        !l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 1), 1, false)
            .expect("stale")
    );
    assert!(
        l.teller_credential(CRED_A)
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );
    // A credential first seen revoked is cached revoked.
    assert!(
        l.sync_teller_credential_from_backend(CRED_B, "t-1", &body(CRED_B, 0), 0, true)
            .expect("revoked")
    );
    assert!(
        l.teller_credential(CRED_B)
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );
    assert_eq!(l.outbox_backlog().expect("backlog"), 0);
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert_eq!(synced_actions(&l).len(), 3);
}

#[test]
fn refusals_write_nothing() {
    let l = ledger();
    let e = l
        .sync_teller_credential_from_backend(CRED_A, "t-unknown", &body(CRED_A, 1), 1, false)
        .expect_err("unknown teller");
    assert!(matches!(e, LedgerError::NotFound { .. }), "{e}");
    for (id, b) in [("short", body(CRED_A, 1)), (CRED_A, b"[1]".to_vec())] {
        let e = l
            .sync_teller_credential_from_backend(id, "t-1", &b, 1, false)
            .expect_err("malformed");
        assert!(matches!(e, LedgerError::InvalidInput(_)), "{e}");
    }
    // A credential held here for another teller is not moved.
    l.upsert_teller_from_backend("t-2", TellerRole::Teller, None, true)
        .expect("t-2");
    l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 1), 1, false)
        .expect("cache");
    let e = l
        .sync_teller_credential_from_backend(CRED_A, "t-2", &body(CRED_A, 8), 8, false)
        .expect_err("other teller");
    assert!(matches!(e, LedgerError::InvalidInput(_)), "{e}");
    let c = l.teller_credential(CRED_A).unwrap().unwrap();
    assert_eq!((c.teller_id.as_str(), c.sign_count), ("t-1", 1));
    assert_eq!(synced_actions(&l).len(), 1);
}

#[test]
fn synced_credentials_survive_key_rotation() {
    let mut l = ledger();
    l.sync_teller_credential_from_backend(CRED_A, "t-1", &body(CRED_A, 2), 2, false)
        .expect("cache");
    l.rotate_key(madoguchi_ledger::DataKey::from_bytes([0x43; 32]))
        .expect("rotate");
    assert_eq!(
        l.teller_credential(CRED_A).unwrap().unwrap().body,
        body(CRED_A, 2)
    );
    assert!(l.check_consistency().expect("consistency").is_consistent());
}
