//! Tellers' FIDO2 credentials cached for offline sign-in: registration, sign-in counters,
//! revocation, the backend's teller list, sealing at rest, and their events.

mod common;

use common::{contains, files, key};
use madoguchi_ledger::migrate::{MIGRATIONS, PINNED};
use madoguchi_ledger::{DataKey, Ledger, LedgerError, OutboxEvent, Procedure, TellerRole};
use serde_json::{Value, json};

const CRED_A: &str = "Y3JlZC1hLTAxMjM0NTY3ODk";
const CRED_B: &str = "Y3JlZC1iLTAxMjM0NTY3ODk";
const CRED_C: &str = "Y3JlZC1jLTAxMjM0NTY3ODk";

fn body(id: &str, count: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "id": id, "teller": "t-1", "sign_count": count,
        "passkey": {"cred": {"key": "PUBLIC-KEY-BODY-MARKER"}},
    }))
    .expect("json")
}

fn payload(e: &OutboxEvent) -> Value {
    serde_json::from_slice(&e.payload).expect("payload json")
}

fn ledger_with_key() -> Ledger {
    let l = Ledger::open_in_memory(key()).expect("open");
    l.register_teller("t-1", TellerRole::Teller)
        .expect("teller");
    let r = l
        .put_teller_credential("t-1", CRED_A, &body(CRED_A, 5), 5, Some("sup-1"))
        .expect("put");
    assert_eq!(r.id, CRED_A);
    l
}

#[test]
fn a_registered_key_is_cached_and_its_event_carries_the_credential() {
    let l = ledger_with_key();
    let creds = l.teller_credentials("t-1").expect("list");
    assert_eq!(creds.len(), 1);
    let c = &creds[0];
    assert_eq!(c.credential_id, CRED_A);
    assert_eq!(c.teller_id, "t-1");
    assert_eq!(c.body, body(CRED_A, 5));
    assert_eq!(c.sign_count, 5);
    assert_eq!(c.registered_by.as_deref(), Some("sup-1"));
    assert_eq!(c.last_used_at_ms, None);
    assert_eq!(c.revoked_at_ms, None);
    assert!(!format!("{c:?}").contains("MARKER"), "Debug shows the body");
    assert_eq!(l.teller_credential(CRED_A).expect("one"), Some(c.clone()));
    assert_eq!(l.teller_credential(CRED_B).expect("none"), None);

    let events = l.outbox_peek(100).expect("peek");
    let e = events.last().expect("event");
    assert_eq!(e.kind, "teller.key_registered");
    let p = payload(e);
    assert_eq!(p["teller_id"], "t-1");
    assert_eq!(p["credential_id"], CRED_A);
    assert_eq!(p["registered_by"], "sup-1");
    assert_eq!(p["sign_count"], 5);
    assert_eq!(
        p["credential"],
        serde_json::from_slice::<Value>(&body(CRED_A, 5)).expect("json")
    );
    assert!(p["at_ms"].is_i64() && p["audit"]["seq"].is_i64());
    let audit = l.audit_entries(0, 100).expect("audit");
    let last = audit.last().expect("entry");
    assert_eq!(last.action, "teller.key_registered");
    assert_eq!(last.subject, format!("teller_credentials:{CRED_A}"));
    assert_eq!(last.actor.as_deref(), Some("sup-1"));
    assert!(!last.detail.contains("MARKER"));
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert!(l.verify_audit().expect("verify").first_broken.is_none());
}

#[test]
fn a_sign_in_moves_the_counter_body_and_last_use_forward() {
    let l = ledger_with_key();
    let e = l
        .record_sign_in(CRED_A, 6, &body(CRED_A, 6))
        .expect("sign in");
    assert_eq!(e.kind, "teller.signed_in");
    let p = payload(&e);
    assert_eq!(p["teller_id"], "t-1");
    assert_eq!(p["credential_id"], CRED_A);
    assert_eq!(p["sign_count"], 6);
    assert_eq!(p["credential"]["sign_count"], 6);
    let c = l.teller_credential(CRED_A).expect("read").expect("some");
    assert_eq!(c.sign_count, 6);
    assert_eq!(c.body, body(CRED_A, 6));
    assert_eq!(c.last_used_at_ms, Some(e.created_at_ms));
    let last = l
        .audit_entries(0, 100)
        .expect("audit")
        .pop()
        .expect("entry");
    assert_eq!(last.action, "teller.signed_in");
    assert_eq!(last.actor.as_deref(), Some("t-1"));
}

#[test]
fn a_counter_that_does_not_move_forward_is_refused_and_changes_nothing() {
    let l = ledger_with_key();
    l.record_sign_in(CRED_A, 9, &body(CRED_A, 9))
        .expect("sign in");
    let before = l.teller_credential(CRED_A).expect("read");
    let backlog = l.outbox_backlog().expect("backlog");
    for presented in [8, 9, 0] {
        match l.record_sign_in(CRED_A, presented, &body(CRED_A, presented)) {
            Err(
                e @ LedgerError::SignCountRegressed {
                    stored: 9,
                    presented: p,
                    ..
                },
            ) => {
                assert_eq!(p, presented);
                assert_eq!(e.code(), "ledger.sign_count_regressed");
            }
            other => panic!("counter {presented} accepted: {other:?}"),
        }
    }
    assert_eq!(l.teller_credential(CRED_A).expect("read"), before);
    // Each refusal is audited and told to the backend.
    let events = l.outbox_peek(100).expect("peek");
    assert_eq!(events.len() as u64, backlog + 3);
    let refused = events.last().expect("event");
    assert_eq!(refused.kind, "teller.sign_in_refused");
    let p = payload(refused);
    assert_eq!(p["credential_id"], CRED_A);
    assert_eq!(p["reason"], "sign_count_regressed");
    assert_eq!(p["stored_sign_count"], 9);
    assert_eq!(p["presented_sign_count"], 0);
    assert!(p.get("credential").is_none());
    assert!(l.verify_audit().expect("verify").first_broken.is_none());
}

#[test]
fn authenticators_that_do_not_count_sign_in_with_zero_and_zero() {
    let l = Ledger::open_in_memory(key()).expect("open");
    l.register_teller("t-1", TellerRole::Supervisor)
        .expect("teller");
    l.put_teller_credential("t-1", CRED_A, &body(CRED_A, 0), 0, None)
        .expect("put");
    for _ in 0..3 {
        l.record_sign_in(CRED_A, 0, &body(CRED_A, 0))
            .expect("0 after 0");
    }
    // Once it counts, it must keep counting.
    l.record_sign_in(CRED_A, 1, &body(CRED_A, 1))
        .expect("1 after 0");
    assert!(matches!(
        l.record_sign_in(CRED_A, 0, &body(CRED_A, 0)),
        Err(LedgerError::SignCountRegressed {
            stored: 1,
            presented: 0,
            ..
        })
    ));
    let audit = l.audit_entries(0, 100).expect("audit");
    assert_eq!(audit[audit.len() - 6].actor, None, "no registered_by");
}

#[test]
fn revoked_keys_and_disabled_tellers_are_not_sign_in_candidates() {
    let l = ledger_with_key();
    l.put_teller_credential("t-1", CRED_B, &body(CRED_B, 0), 0, None)
        .expect("second key");
    l.register_teller("t-2", TellerRole::Technician)
        .expect("teller 2");
    l.put_teller_credential("t-2", CRED_C, &body(CRED_C, 0), 0, None)
        .expect("t-2 key");
    l.register_teller("t-nokey", TellerRole::Teller)
        .expect("teller without key");

    let cands = l.sign_in_candidates().expect("candidates");
    let ids: Vec<(&str, Vec<&str>)> = cands
        .iter()
        .map(|(t, cs)| {
            (
                t.id.as_str(),
                cs.iter().map(|c| c.credential_id.as_str()).collect(),
            )
        })
        .collect();
    assert_eq!(
        ids,
        vec![("t-1", vec![CRED_A, CRED_B]), ("t-2", vec![CRED_C])]
    );
    let (t2, c2) = &cands[1];
    assert_eq!(t2.role, TellerRole::Technician);
    assert!(t2.enabled);
    assert_eq!(t2.disabled_at_ms, None);
    assert_eq!(c2[0].body, body(CRED_C, 0));

    let e = l.revoke_teller_credential(CRED_A).expect("revoke");
    assert_eq!(e.kind, "teller.key_revoked");
    let p = payload(&e);
    assert_eq!(
        (&p["teller_id"], &p["credential_id"]),
        (&json!("t-1"), &json!(CRED_A))
    );
    assert!(matches!(
        l.revoke_teller_credential(CRED_A),
        Err(LedgerError::InvalidInput(_))
    ));
    assert!(matches!(
        l.record_sign_in(CRED_A, 100, &body(CRED_A, 100)),
        Err(LedgerError::InvalidInput(m)) if m.contains("revoked")
    ));
    l.disable_teller("t-2").expect("disable");
    assert!(matches!(
        l.record_sign_in(CRED_C, 1, &body(CRED_C, 1)),
        Err(LedgerError::InvalidInput(m)) if m.contains("disabled")
    ));

    let cands = l.sign_in_candidates().expect("candidates");
    assert_eq!(cands.len(), 1);
    assert_eq!(cands[0].0.id, "t-1");
    assert_eq!(cands[0].1.len(), 1);
    assert_eq!(cands[0].1[0].credential_id, CRED_B);
    // The revoked key is still listed for the teller, with its revocation time.
    let all = l.teller_credentials("t-1").expect("list");
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].revoked_at_ms, Some(e.created_at_ms));
    assert!(l.check_consistency().expect("consistency").is_consistent());
}

#[test]
fn duplicate_ids_unknown_or_disabled_tellers_and_bad_input_are_refused() {
    let l = ledger_with_key();
    let backlog = l.outbox_backlog().expect("backlog");
    assert!(matches!(
        l.put_teller_credential("t-1", CRED_A, &body(CRED_A, 0), 0, None),
        Err(LedgerError::InvalidInput(m)) if m.contains("already registered")
    ));
    l.register_teller("t-2", TellerRole::Teller)
        .expect("teller 2");
    let backlog = backlog + 1;
    // Also under another teller.
    assert!(matches!(
        l.put_teller_credential("t-2", CRED_A, &body(CRED_A, 0), 0, None),
        Err(LedgerError::InvalidInput(_))
    ));
    assert!(matches!(
        l.put_teller_credential("t-ghost", CRED_B, &body(CRED_B, 0), 0, None),
        Err(LedgerError::NotFound {
            what: "tellers",
            ..
        })
    ));
    assert!(matches!(
        l.teller_credentials("t-ghost"),
        Err(LedgerError::NotFound {
            what: "tellers",
            ..
        })
    ));
    l.disable_teller("t-2").expect("disable");
    let backlog = backlog + 1;
    assert!(matches!(
        l.put_teller_credential("t-2", CRED_B, &body(CRED_B, 0), 0, None),
        Err(LedgerError::InvalidInput(m)) if m.contains("disabled")
    ));
    for bad_id in [
        "short",
        "Y3JlZC1hLTAxMjM0NTY3ODk=",
        "Y3JlZC1hLTAxMjM0NTY3OD/",
        "",
    ] {
        assert!(matches!(
            l.put_teller_credential("t-1", bad_id, &body(bad_id, 0), 0, None),
            Err(LedgerError::InvalidInput(_))
        ));
    }
    let long = "A".repeat(1024);
    assert!(
        l.put_teller_credential("t-1", &long, &body(&long, 0), 0, None)
            .is_err()
    );
    let longest = "A".repeat(1023);
    for bad_body in [&b"not json"[..], b"[1,2]", b""] {
        assert!(matches!(
            l.put_teller_credential("t-1", CRED_B, bad_body, 0, None),
            Err(LedgerError::InvalidInput(_))
        ));
    }
    assert!(matches!(
        l.put_teller_credential("t-1", CRED_B, &body(CRED_B, 0), 0, Some("bad id!")),
        Err(LedgerError::InvalidInput(_))
    ));
    assert!(matches!(
        l.record_sign_in(CRED_B, 1, &body(CRED_B, 1)),
        Err(LedgerError::NotFound {
            what: "teller_credentials",
            ..
        })
    ));
    assert!(matches!(
        l.revoke_teller_credential(CRED_B),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(matches!(
        l.record_sign_in(CRED_A, 6, b"[]"),
        Err(LedgerError::InvalidInput(_))
    ));
    // Nothing was written by the refusals.
    assert_eq!(l.outbox_backlog().expect("backlog"), backlog);
    assert_eq!(l.teller_credentials("t-1").expect("list").len(), 1);
    // The longest id is fine.
    l.put_teller_credential("t-1", &longest, &body(&longest, u32::MAX), u32::MAX, None)
        .expect("longest id, largest counter");
    assert_eq!(
        l.teller_credential(&longest)
            .expect("read")
            .expect("some")
            .sign_count,
        u32::MAX
    );
}

#[test]
fn tellers_from_the_backend_are_created_updated_disabled_and_enabled() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let e = l
        .upsert_teller_from_backend("t-b", TellerRole::Teller, Some("山田 花子"), true)
        .expect("create")
        .expect("event");
    assert_eq!(e.kind, "teller.synced");
    let p = payload(&e);
    assert_eq!(p["created"], true);
    assert_eq!(p["display_name"], "山田 花子");
    // The name is not in the (clear, permanent) audit trail.
    let a = l
        .audit_entries(0, 100)
        .expect("audit")
        .pop()
        .expect("entry");
    assert_eq!(a.subject, "tellers:t-b");
    assert!(!a.detail.contains("山田"), "{}", a.detail);
    // Same again: nothing written.
    let backlog = l.outbox_backlog().expect("backlog");
    assert_eq!(
        l.upsert_teller_from_backend("t-b", TellerRole::Teller, Some("山田 花子"), true)
            .expect("same"),
        None
    );
    assert_eq!(l.outbox_backlog().expect("backlog"), backlog);

    l.put_teller_credential("t-b", CRED_A, &body(CRED_A, 0), 0, None)
        .expect("key");
    let (t, _) = l.sign_in_candidates().expect("candidates").remove(0);
    assert_eq!(t.display_name.as_deref(), Some("山田 花子"));
    assert_eq!(t.role, TellerRole::Teller);

    // Promoted and renamed.
    l.upsert_teller_from_backend("t-b", TellerRole::Supervisor, Some("山田 花"), true)
        .expect("update")
        .expect("event");
    let (t, _) = l.sign_in_candidates().expect("candidates").remove(0);
    assert_eq!(t.role, TellerRole::Supervisor);
    assert_eq!(t.display_name.as_deref(), Some("山田 花"));

    // Disabled at the backend: no sign-in, no session.
    let e = l
        .upsert_teller_from_backend("t-b", TellerRole::Supervisor, Some("山田 花"), false)
        .expect("disable")
        .expect("event");
    assert_eq!(payload(&e)["enabled"], false);
    assert!(l.sign_in_candidates().expect("candidates").is_empty());
    assert!(l.start_session(Procedure::Enrollment, "t-b").is_err());
    assert_eq!(
        l.upsert_teller_from_backend("t-b", TellerRole::Supervisor, Some("山田 花"), false)
            .expect("still disabled"),
        None
    );
    // Re-enabled: back, with its name cleared.
    l.upsert_teller_from_backend("t-b", TellerRole::Supervisor, None, true)
        .expect("enable")
        .expect("event");
    let (t, creds) = l.sign_in_candidates().expect("candidates").remove(0);
    assert!(t.enabled);
    assert_eq!(t.display_name, None);
    assert_eq!(creds.len(), 1);
    l.start_session(Procedure::Enrollment, "t-b")
        .expect("session");

    // Created disabled.
    l.upsert_teller_from_backend("t-off", TellerRole::Teller, None, false)
        .expect("create disabled")
        .expect("event");
    assert!(l.start_session(Procedure::Enrollment, "t-off").is_err());

    for bad in ["", " x", "a\nb"] {
        assert!(matches!(
            l.upsert_teller_from_backend("t-b", TellerRole::Teller, Some(bad), true),
            Err(LedgerError::InvalidInput(_))
        ));
    }
    assert!(
        l.upsert_teller_from_backend("bad id!", TellerRole::Teller, None, true)
            .is_err()
    );
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert!(l.verify_audit().expect("verify").first_broken.is_none());
}

#[test]
fn credential_bodies_are_not_in_the_file_in_clear_and_survive_key_rotation() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let mut l = Ledger::open(&p, key()).expect("open");
    l.register_teller("t-1", TellerRole::Teller)
        .expect("teller");
    l.put_teller_credential("t-1", CRED_A, &body(CRED_A, 1), 1, None)
        .expect("put");
    l.record_sign_in(CRED_A, 2, &body(CRED_A, 2))
        .expect("sign in");
    for phase in ["wal", "checkpointed"] {
        if phase == "checkpointed" {
            l.checkpoint().expect("checkpoint");
        }
        let bytes = files(&p);
        // The scan sees content: the credential id is a key column, in clear.
        assert!(
            contains(&bytes, CRED_A.as_bytes()),
            "{phase}: scan sees nothing"
        );
        assert!(
            !contains(&bytes, b"PUBLIC-KEY-BODY-MARKER"),
            "{phase}: credential body in clear"
        );
    }

    let new = DataKey::from_bytes([0x43; 32]);
    let r = l.rotate_key(new.clone()).expect("rotate");
    assert_eq!(r.teller_credentials, 1);
    drop(l);
    let l = Ledger::open(&p, new).expect("reopen under the new key");
    let c = l.teller_credential(CRED_A).expect("read").expect("some");
    assert_eq!(c.body, body(CRED_A, 2));
    assert_eq!(c.sign_count, 2);
}

#[test]
fn migration_seven_is_pinned() {
    assert!(MIGRATIONS.len() >= 7);
    assert_eq!(PINNED.len(), MIGRATIONS.len());
    assert_eq!(MIGRATIONS[6].version, 7);
    assert!(
        MIGRATIONS[6]
            .sql
            .contains("CREATE TABLE teller_credentials")
    );
    assert!(MIGRATIONS[6].sql.contains("ADD COLUMN display_name"));
}
