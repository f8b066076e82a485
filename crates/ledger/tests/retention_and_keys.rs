//! Retention purge (audited, never before the backend has the evidence) and key rotation.

mod common;

use common::{key, one_procedure};
use madoguchi_ledger::{DataKey, EvidenceKind, Ledger, LedgerError};

const DAY_MS: i64 = 86_400_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

#[test]
fn purge_removes_acknowledged_old_evidence_only_and_is_audited() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let synced = l
        .store_evidence(&s, EvidenceKind::FaceImage, b"face-1")
        .expect("e1");
    let unsynced = l
        .store_evidence(&s, EvidenceKind::Signature, b"sig-1")
        .expect("e2");
    // The backend acknowledges everything but the second evidence event.
    let all: Vec<i64> = l
        .outbox_peek(100)
        .expect("peek")
        .iter()
        .map(|e| e.seq)
        .filter(|s| *s != unsynced.event.seq)
        .collect();
    l.outbox_ack(&all).expect("ack");

    // Within the retention period nothing goes.
    let r = l.purge_evidence_as_of(now_ms(), 30).expect("purge");
    assert_eq!(
        (
            r.evidence_purged,
            r.evidence_kept_unsynced,
            r.outbox_payloads_purged
        ),
        (0, 0, 0)
    );
    assert!(l.load_evidence(&synced.id).expect("load").is_some());

    // 31 days later: the acknowledged evidence goes, the unacknowledged one stays.
    let r = l
        .purge_evidence_as_of(now_ms() + 31 * DAY_MS, 30)
        .expect("purge");
    assert_eq!(r.evidence_purged, 1);
    assert_eq!(r.evidence_kept_unsynced, 1);
    // Acked events: teller, session, outcome, evidence 1, and the first purge's event.
    assert_eq!(r.outbox_payloads_purged, 4);
    assert!(l.load_evidence(&synced.id).expect("load").is_none());
    assert_eq!(
        l.load_evidence(&unsynced.id)
            .expect("load")
            .expect("kept")
            .content
            .as_slice(),
        b"sig-1"
    );
    // The unacknowledged event is still deliverable, with its payload.
    let left = l.outbox_peek(100).expect("peek");
    assert!(left.iter().any(|e| e.seq == unsynced.event.seq));
    // Audited, with an outbox event, chain intact, records still consistent.
    let audit = l.audit_entries(1, 100).expect("audit");
    let last = audit.last().expect("entries");
    assert_eq!(last.action, "retention.purged");
    assert!(
        last.detail.contains("\"evidence_purged\":1"),
        "{}",
        last.detail
    );
    assert!(l.verify_audit().expect("verify").is_intact());
    assert!(l.check_consistency().expect("consistency").is_consistent());
}

#[test]
fn rotation_reencrypts_everything_and_the_old_key_no_longer_opens() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let old = key();
    let new = DataKey::from_bytes([0x99; 32]);
    let (ev, ov, secret) = {
        let l = Ledger::open(&p, old.clone()).expect("open");
        let secret = l.kiosk_secret("wrap_key").expect("secret");
        let (s, o) = one_procedure(&l, "t-001");
        let ev = l
            .store_evidence(&s, EvidenceKind::FaceImage, b"face")
            .expect("evidence");
        let ov = l
            .record_override(&o, "t-001", madoguchi_ledger::Decision::Referred, "理由")
            .expect("override");
        (ev.id, ov.id, secret)
    };
    let mut l = Ledger::open(&p, old.clone()).expect("open");
    let backlog = l.outbox_backlog().expect("backlog");
    let r = l.rotate_key(new.clone()).expect("rotate");
    assert_eq!(r.evidence, 1);
    assert_eq!(r.overrides, 1);
    assert_eq!(r.kiosk_secrets, 1);
    assert_eq!(r.outbox as u64, backlog);
    assert_eq!(r.new_key_id, new.id());
    assert_eq!(l.key_id(), new.id());
    // Same key again: refused.
    assert!(matches!(
        l.rotate_key(new.clone()),
        Err(LedgerError::InvalidInput(_))
    ));
    drop(l);
    assert!(matches!(
        Ledger::open(&p, old),
        Err(LedgerError::WrongKey { .. })
    ));
    let l = Ledger::open(&p, new).expect("open with new key");
    assert_eq!(
        l.load_evidence(&ev)
            .expect("load")
            .expect("present")
            .content
            .as_slice(),
        b"face"
    );
    assert_eq!(l.override_reason(&ov).expect("reason").as_str(), "理由");
    assert_eq!(*l.kiosk_secret("wrap_key").expect("secret"), *secret);
    let events = l.outbox_peek(1000).expect("peek under new key");
    assert_eq!(events.len() as u64, backlog + 1);
    assert_eq!(events.last().expect("last").kind, "key.rotated");
    assert!(l.verify_audit().expect("verify").is_intact());
}

#[test]
fn a_swapped_ciphertext_is_detected_not_returned() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    let (s, _) = one_procedure(&l, "t-001");
    let a = l
        .store_evidence(&s, EvidenceKind::FaceImage, b"alice")
        .expect("a");
    let b = l
        .store_evidence(&s, EvidenceKind::FaceImage, b"bob")
        .expect("b");
    drop(l);
    let c = rusqlite::Connection::open(&p).expect("raw");
    c.execute(
        "UPDATE evidence SET content = (SELECT content FROM evidence WHERE id = ?1) WHERE id = ?2",
        [&a.id, &b.id],
    )
    .expect("swap");
    drop(c);
    let l = Ledger::open(&p, key()).expect("open");
    match l.load_evidence(&b.id) {
        Err(e @ LedgerError::Decrypt { .. }) => {
            assert!(e.to_string().contains(&b.id));
            assert_eq!(e.code(), "ledger.decrypt");
        }
        other => panic!("swapped ciphertext accepted: {other:?}"),
    }
}
