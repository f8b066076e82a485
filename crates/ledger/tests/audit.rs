//! Tampering with the audit trail is detected at the exact first broken link.

mod common;

use std::path::Path;

use common::{key, one_procedure};
use madoguchi_ledger::{BrokenLink, BrokenReason, Ledger};
use rusqlite::{Connection, params};

/// A ledger file with two procedures for each of three tellers; returns it and its entry count.
fn ledger_with_entries(dir: &Path) -> (std::path::PathBuf, u64) {
    let p = dir.join("ledger.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    for t in ["t-1", "t-2", "t-3"] {
        one_procedure(&l, t);
        one_procedure(&l, t);
    }
    let r = l.verify_audit().expect("verify");
    assert!(r.is_intact(), "{r:?}");
    (p, r.entries)
}

/// Opens the raw file as an attacker would, without the append-only triggers.
fn raw(p: &Path) -> Connection {
    let c = Connection::open(p).expect("raw open");
    c.execute_batch("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;")
        .expect("drop triggers");
    c
}

fn first_broken(p: &Path) -> Option<BrokenLink> {
    let r = Ledger::open(p, key())
        .expect("open")
        .verify_audit()
        .expect("verify");
    r.first_broken
}

#[test]
fn the_trail_refuses_update_and_delete_through_sql() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, _) = ledger_with_entries(dir.path());
    let c = Connection::open(&p).expect("raw open");
    assert!(
        c.execute("UPDATE audit SET detail = '{}' WHERE seq = 3", [])
            .is_err()
    );
    assert!(c.execute("DELETE FROM audit WHERE seq = 3", []).is_err());
}

#[test]
fn an_edited_entry_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, n) = ledger_with_entries(dir.path());
    assert!(n >= 12);
    for seq in [1i64, 7, n as i64] {
        let dir2 = tempfile::tempdir().expect("tempdir");
        let q = dir2.path().join("copy.sqlite");
        std::fs::copy(&p, &q).expect("copy");
        raw(&q)
            .execute(
                "UPDATE audit SET detail = '{\"decision\":\"accepted\"}' WHERE seq = ?1",
                params![seq],
            )
            .expect("tamper");
        assert_eq!(
            first_broken(&q),
            Some(BrokenLink {
                seq,
                reason: BrokenReason::HashMismatch
            }),
            "edit at {seq}"
        );
    }
}

#[test]
fn an_edit_with_a_made_up_hash_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, _) = ledger_with_entries(dir.path());
    let c = raw(&p);
    // Change the actor of entry 5 and paste some other hash over it.
    c.execute(
        "UPDATE audit SET actor = 't-9', hash = randomblob(32) WHERE seq = 5",
        [],
    )
    .expect("tamper");
    drop(c);
    assert_eq!(
        first_broken(&p),
        Some(BrokenLink {
            seq: 5,
            reason: BrokenReason::HashMismatch
        })
    );
}

#[test]
fn a_forged_entry_that_hashes_right_is_caught_at_the_next_link() {
    // The attacker rewrites entry 4's timestamp and recomputes its hash correctly (the hash
    // function is public); the chain breaks at entry 5, whose prev_hash is the old one.
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, _) = ledger_with_entries(dir.path());
    let l = Ledger::open(&p, key()).expect("open");
    let e = l.audit_entries(4, 1).expect("read").remove(0);
    drop(l);
    let prev: [u8; 32] = hex::decode(&e.prev_hash)
        .expect("hex")
        .try_into()
        .expect("32");
    let forged_at = e.at_ms - 3_600_000;
    let h = forged_hash(
        &prev,
        e.seq,
        forged_at,
        e.actor.as_deref(),
        &e.action,
        &e.subject,
        &e.detail,
    );
    raw(&p)
        .execute(
            "UPDATE audit SET at_ms = ?1, hash = ?2 WHERE seq = 4",
            params![forged_at, &h[..]],
        )
        .expect("tamper");
    assert_eq!(
        first_broken(&p),
        Some(BrokenLink {
            seq: 5,
            reason: BrokenReason::PrevHashMismatch
        })
    );
}

#[test]
fn a_deleted_entry_is_named_as_missing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (p, _) = ledger_with_entries(dir.path());
    let c = raw(&p);
    c.execute_batch("PRAGMA foreign_keys = OFF; DELETE FROM audit WHERE seq = 8;")
        .expect("tamper");
    drop(c);
    let r = Ledger::open(&p, key())
        .expect("open")
        .verify_audit()
        .expect("verify");
    assert_eq!(
        r.first_broken,
        Some(BrokenLink {
            seq: 8,
            reason: BrokenReason::Missing
        })
    );
    assert_eq!(r.head_seq, 7);
    assert_eq!(r.entries, 7);
}

/// The documented entry hash, re-implemented independently from the module docs.
fn forged_hash(
    prev: &[u8; 32],
    seq: i64,
    at_ms: i64,
    actor: Option<&str>,
    action: &str,
    subject: &str,
    detail: &str,
) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"madoguchi-audit v1\0");
    h.update(prev);
    h.update(seq.to_be_bytes());
    h.update(at_ms.to_be_bytes());
    let mut s = |v: Option<&str>| match v {
        None => h.update(u32::MAX.to_be_bytes()),
        Some(v) => {
            h.update((v.len() as u32).to_be_bytes());
            h.update(v.as_bytes());
        }
    };
    s(actor);
    s(Some(action));
    s(Some(subject));
    s(Some(detail));
    h.finalize().into()
}

#[test]
fn typed_events_carry_an_anchor_that_stops_matching_after_a_rewrite() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("ledger.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    let (s, _) = one_procedure(&l, "t-1");
    let ev = l
        .end_session(&s, madoguchi_ledger::SessionEnd::Completed)
        .expect("end");
    let payload: serde_json::Value = serde_json::from_slice(&ev.payload).expect("json");
    let seq = payload["audit"]["seq"].as_i64().expect("seq");
    let hash = payload["audit"]["hash"].as_str().expect("hash").to_owned();
    let entry = l.audit_entries(seq, 1).expect("read").remove(0);
    assert_eq!(entry.hash, hash);
    assert_eq!(entry.action, "session.ended");
    assert!(l.audit_anchor_matches(seq, &hash).expect("match"));
    assert!(!l.audit_anchor_matches(seq - 1, &hash).expect("match"));
    assert!(!l.audit_anchor_matches(seq, "not hex").expect("match"));
    // Generic events keep their payload as given.
    let g = l
        .append_event("x", &serde_json::json!({"a": 1}))
        .expect("event");
    assert_eq!(g.payload, br#"{"a":1}"#);
    drop(l);
    // Someone rewrites the chain from that entry on (here: just that entry, consistently).
    let prev: [u8; 32] = hex::decode(&entry.prev_hash)
        .expect("hex")
        .try_into()
        .expect("32");
    let h = forged_hash(
        &prev,
        seq,
        entry.at_ms,
        Some("t-other"),
        &entry.action,
        &entry.subject,
        &entry.detail,
    );
    raw(&p)
        .execute(
            "UPDATE audit SET actor = 't-other', hash = ?1 WHERE seq = ?2",
            params![&h[..], seq],
        )
        .expect("tamper");
    let l = Ledger::open(&p, key()).expect("open");
    assert!(!l.audit_anchor_matches(seq, &hash).expect("match"));
}
