//! Typed records: each write brings its audit entry and outbox event; bad input writes nothing.

mod common;

use std::collections::BTreeMap;

use common::{key, one_procedure};
use madoguchi_ledger::{
    CacheKind, Decision, EvidenceKind, Ledger, LedgerError, NewOutcome, Procedure, SessionEnd,
    TellerRole,
};

#[test]
fn a_procedure_writes_records_events_and_audit_together() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let t = l
        .register_teller("t-001", TellerRole::Teller)
        .expect("teller");
    assert_eq!(t.event.kind, "teller.registered");
    let s = l
        .start_session(Procedure::IdentityVerification, "t-001")
        .expect("session");
    let photo = vec![0xFFu8, 0xD8, 0xFF, 0xE0, 1, 2, 3, 4];
    let ev = l
        .store_evidence(&s.id, EvidenceKind::FaceImage, &photo)
        .expect("evidence");
    let mut scores = BTreeMap::new();
    scores.insert("face_similarity".to_owned(), 0.42);
    let reasons = vec!["face.match_below_threshold".to_owned()];
    let o = l
        .record_outcome(&NewOutcome {
            session_id: &s.id,
            teller_id: "t-001",
            decision: Decision::Rejected,
            scores: &scores,
            reasons: &reasons,
        })
        .expect("outcome");
    let ov = l
        .record_override(
            &o.id,
            "t-001",
            Decision::Accepted,
            "  顔写真が古いため目視で確認  ",
        )
        .expect("override");
    let end = l.end_session(&s.id, SessionEnd::Completed).expect("end");

    let kinds: Vec<String> = l
        .outbox_peek(100)
        .expect("peek")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        [
            "teller.registered",
            "session.started",
            "evidence.stored",
            "outcome.recorded",
            "outcome.overridden",
            "session.ended"
        ]
    );
    assert_eq!(end.kind, "session.ended");
    // The outcome event carries scores, decision and reasons.
    let p: serde_json::Value = serde_json::from_slice(&o.event.payload).expect("json");
    assert_eq!(p["decision"], "rejected");
    assert_eq!(p["scores"]["face_similarity"], 0.42);
    assert_eq!(p["reasons"][0], "face.match_below_threshold");
    // The face image travels in its event; it comes back from the sealed store intact.
    let p: serde_json::Value = serde_json::from_slice(&ev.event.payload).expect("json");
    assert!(p["content_b64"].is_string());
    let e = l.load_evidence(&ev.id).expect("load").expect("present");
    assert_eq!(e.kind, EvidenceKind::FaceImage);
    assert_eq!(e.content.as_slice(), photo.as_slice());
    assert!(!format!("{e:?}").contains("255"), "Debug shows content");
    // The override reason is kept (trimmed) and required.
    assert_eq!(
        l.override_reason(&ov.id).expect("reason").as_str(),
        "顔写真が古いため目視で確認"
    );
    // Audit: one entry per event, with the teller as actor, chain intact.
    let audit = l.audit_entries(1, 100).expect("audit");
    assert_eq!(audit.len(), 6);
    assert_eq!(audit[3].action, "outcome.recorded");
    assert_eq!(audit[3].actor.as_deref(), Some("t-001"));
    assert!(l.verify_audit().expect("verify").is_intact());
    assert!(l.check_consistency().expect("consistency").is_consistent());
}

#[test]
fn bad_input_is_refused_and_writes_nothing() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (session, outcome) = one_procedure(&l, "t-001");
    let before = l.outbox_total().expect("total");
    let audit_before = l.verify_audit().expect("verify").entries;

    let nan = BTreeMap::from([("face_similarity".to_owned(), f64::NAN)]);
    let cases: Vec<(&str, Result<(), LedgerError>)> = vec![
        (
            "empty override reason",
            l.record_override(&outcome, "t-001", Decision::Accepted, "   ")
                .map(drop),
        ),
        (
            "override of unknown outcome",
            l.record_override("nope", "t-001", Decision::Accepted, "reason")
                .map(drop),
        ),
        (
            "unknown teller",
            l.start_session(Procedure::Enrollment, "ghost").map(drop),
        ),
        (
            "teller id with spaces",
            l.register_teller("a b", TellerRole::Teller).map(drop),
        ),
        (
            "duplicate teller",
            l.register_teller("t-001", TellerRole::Teller).map(drop),
        ),
        (
            "NaN score",
            l.record_outcome(&NewOutcome {
                session_id: &session,
                teller_id: "t-001",
                decision: Decision::Accepted,
                scores: &nan,
                reasons: &[],
            })
            .map(drop),
        ),
        (
            "reason that is a sentence",
            l.record_outcome(&NewOutcome {
                session_id: &session,
                teller_id: "t-001",
                decision: Decision::Accepted,
                scores: &BTreeMap::new(),
                reasons: &["Taro Yamada looked fine".to_owned()],
            })
            .map(drop),
        ),
        (
            "empty evidence",
            l.store_evidence(&session, EvidenceKind::Signature, &[])
                .map(drop),
        ),
        (
            "evidence for unknown session",
            l.store_evidence("no-such-session", EvidenceKind::Signature, b"x")
                .map(drop),
        ),
    ];
    for (what, r) in cases {
        assert!(r.is_err(), "{what} was accepted");
    }
    l.end_session(&session, SessionEnd::Completed).expect("end");
    assert!(
        l.store_evidence(&session, EvidenceKind::FaceImage, b"late")
            .is_err(),
        "evidence for an ended session"
    );
    assert!(l.end_session(&session, SessionEnd::Completed).is_err());
    assert_eq!(l.outbox_total().expect("total"), before + 1);
    assert_eq!(l.verify_audit().expect("verify").entries, audit_before + 1);
}

#[test]
fn templates_and_my_numbers_stay_on_the_kiosk() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (session, _) = one_procedure(&l, "t-001");
    for kind in [
        EvidenceKind::Template,
        EvidenceKind::MyNumber,
        EvidenceKind::CardData,
    ] {
        let r = l
            .store_evidence(&session, kind, b"123456789012")
            .expect("store");
        let p: serde_json::Value = serde_json::from_slice(&r.event.payload).expect("json");
        assert!(p.get("content_b64").is_none(), "{kind:?} travelled");
        assert!(!String::from_utf8_lossy(&r.event.payload).contains("123456789012"));
    }
    let r = l
        .store_evidence(&session, EvidenceKind::Signature, b"sig")
        .expect("store");
    let p: serde_json::Value = serde_json::from_slice(&r.event.payload).expect("json");
    assert_eq!(p["content_b64"], "c2ln");
}

#[test]
fn caches_and_revocations_are_replaced_atomically_and_audited() {
    let l = Ledger::open_in_memory(key()).expect("open");
    assert_eq!(l.cache_get(CacheKind::TrustList).expect("get"), None);
    l.cache_put(CacheKind::TrustList, "v1", b"{\"issuers\":[]}")
        .expect("put");
    l.cache_put(CacheKind::TrustList, "v2", b"{\"issuers\":[1]}")
        .expect("put");
    l.cache_put(CacheKind::Thresholds, "t1", b"{\"face\":0.6}")
        .expect("put");
    let e = l
        .cache_get(CacheKind::TrustList)
        .expect("get")
        .expect("some");
    assert_eq!(e.version, "v2");
    assert_eq!(e.body, b"{\"issuers\":[1]}");
    assert_eq!(e.sha256.len(), 64);
    l.replace_revocations("r1", &["cred-a".into(), "cred-b".into()])
        .expect("revocations");
    assert!(l.is_revoked("cred-a").expect("q"));
    l.replace_revocations("r2", &["cred-b".into()])
        .expect("revocations");
    assert!(!l.is_revoked("cred-a").expect("q"));
    assert!(l.is_revoked("cred-b").expect("q"));
    assert_eq!(
        l.cache_get(CacheKind::Revocations)
            .expect("get")
            .expect("some")
            .version,
        "r2"
    );
    let audit = l.audit_entries(1, 100).expect("audit");
    assert_eq!(audit.len(), 5);
    assert!(audit.iter().all(|a| a.action == "cache.updated"));
    assert!(l.cache_put(CacheKind::Config, "", b"x").is_err());
    // Caches are not records: no outbox events.
    assert_eq!(l.outbox_total().expect("total"), 0);
}

#[test]
fn a_cache_served_again_is_refreshed_without_an_audit_entry() {
    let l = Ledger::open_in_memory(key()).expect("open");
    assert!(
        l.cache_store(CacheKind::TrustList, "3", b"a")
            .expect("store")
    );
    let first = l
        .cache_get(CacheKind::TrustList)
        .expect("get")
        .expect("some");
    assert_eq!(first.refreshed_at_ms, None);
    assert_eq!(first.confirmed_at_ms(), first.fetched_at_ms);
    std::thread::sleep(std::time::Duration::from_millis(3));
    // Same version re-signed: body replaced, refreshed, not audited.
    assert!(
        !l.cache_store(CacheKind::TrustList, "3", b"b")
            .expect("store")
    );
    let again = l
        .cache_get(CacheKind::TrustList)
        .expect("get")
        .expect("some");
    assert_eq!(again.body, b"b");
    assert!(again.confirmed_at_ms() > first.fetched_at_ms);
    assert_eq!(l.audit_entries(1, 100).expect("audit").len(), 1);
    // A new version: audited, refresh time cleared.
    assert!(
        l.cache_store(CacheKind::TrustList, "4", b"c")
            .expect("store")
    );
    let newer = l
        .cache_get(CacheKind::TrustList)
        .expect("get")
        .expect("some");
    assert_eq!((newer.version.as_str(), newer.refreshed_at_ms), ("4", None));
    assert_eq!(l.audit_entries(1, 100).expect("audit").len(), 2);
}

#[test]
fn kiosk_secrets_are_made_once_kept_sealed_and_named_strictly() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let (a, b) = {
        let l = Ledger::open(&p, key()).expect("open");
        let a = l.kiosk_secret("wrap_key").expect("a");
        let b = l.kiosk_secret("issuer_key").expect("b");
        assert_ne!(*a, *b);
        assert_eq!(*l.kiosk_secret("wrap_key").expect("again"), *a);
        assert!(l.kiosk_secret("Wrap-Key").is_err());
        assert!(l.kiosk_secret("").is_err());
        l.checkpoint().expect("checkpoint");
        (a, b)
    };
    let l = Ledger::open(&p, key()).expect("reopen");
    assert_eq!(*l.kiosk_secret("issuer_key").expect("b"), *b);
    let on_disk = common::files(&p);
    assert!(!common::contains(&on_disk, a.as_slice()));
    assert!(!common::contains(&on_disk, b.as_slice()));
    let audit = l.audit_entries(1, 100).expect("audit");
    assert_eq!(
        audit
            .iter()
            .filter(|e| e.action == "kiosk_secret.created")
            .count(),
        2
    );
}

#[test]
fn a_disabled_teller_cannot_start_a_session() {
    let l = Ledger::open_in_memory(key()).expect("open");
    one_procedure(&l, "t-001");
    let ev = l.disable_teller("t-001").expect("disable");
    assert_eq!(ev.kind, "teller.disabled");
    assert!(matches!(
        l.start_session(Procedure::Enrollment, "t-001"),
        Err(LedgerError::InvalidInput(_))
    ));
    assert!(l.disable_teller("t-001").is_err());
    assert!(matches!(
        l.disable_teller("t-unknown"),
        Err(LedgerError::NotFound { .. })
    ));
    assert!(l.check_consistency().expect("consistency").is_consistent());
}

#[test]
fn sessions_end_with_a_reason_code_and_the_day_lists_them_newest_first() {
    let l = Ledger::open_in_memory(key()).expect("open");
    l.register_teller("t-001", TellerRole::Teller)
        .expect("teller");
    let a = l
        .start_session(Procedure::IdentityVerification, "t-001")
        .expect("a");
    let scores = BTreeMap::new();
    let reasons = vec!["face.match".to_owned()];
    let o = l
        .record_outcome(&NewOutcome {
            session_id: &a.id,
            teller_id: "t-001",
            decision: Decision::Accepted,
            scores: &scores,
            reasons: &reasons,
        })
        .expect("outcome");
    l.record_override(&o.id, "t-001", Decision::Rejected, "写真が古い")
        .expect("override");
    let ev = l
        .end_session_with_reason(&a.id, SessionEnd::Completed, Some("teller.override"))
        .expect("end a");
    let payload: serde_json::Value = serde_json::from_slice(&ev.payload).expect("json");
    assert_eq!(payload["reason"], "teller.override");
    let b = l
        .start_session(Procedure::IdentityVerification, "t-001")
        .expect("b");
    // A reason is a code, never free text: refused, nothing written.
    assert!(matches!(
        l.end_session_with_reason(&b.id, SessionEnd::Cancelled, Some("the customer left")),
        Err(LedgerError::InvalidInput(_))
    ));
    l.end_session_with_reason(&b.id, SessionEnd::Cancelled, Some("timeout.pin"))
        .expect("end b");
    let c = l
        .start_session(Procedure::IdentityVerification, "t-001")
        .expect("c");
    let day = l.sessions_since(0, 10).expect("history");
    let ids: Vec<_> = day.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, [c.id.as_str(), b.id.as_str(), a.id.as_str()]);
    assert_eq!(day[0].end, None);
    assert_eq!(day[1].end, Some(SessionEnd::Cancelled));
    assert_eq!(day[1].reason.as_deref(), Some("timeout.pin"));
    assert_eq!(day[1].decision, None);
    assert_eq!(day[2].decision, Some(Decision::Accepted));
    assert!(day[2].overridden && !day[1].overridden);
    assert_eq!(l.sessions_since(i64::MAX, 10).expect("none").len(), 0);
    assert!(l.verify_audit().expect("audit").is_intact());
}

#[test]
fn an_override_approved_by_a_supervisor_names_both_tellers() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (_session, outcome) = one_procedure(&l, "t-001");
    l.register_teller("sup-1", TellerRole::Supervisor)
        .expect("supervisor");
    l.register_teller("t-002", TellerRole::Teller)
        .expect("teller");
    l.register_teller("sup-2", TellerRole::Supervisor)
        .expect("supervisor");
    l.disable_teller("sup-2").expect("disable");
    let before = l.outbox_total().expect("total");

    for (approver, why) in [
        ("t-001", "the teller who overrides"),
        ("t-002", "a teller, not a supervisor"),
        ("sup-2", "a disabled supervisor"),
        ("ghost", "an unknown teller"),
    ] {
        let r = l.record_approved_override(&outcome, "t-001", approver, Decision::Accepted, "目視");
        assert!(
            matches!(r, Err(LedgerError::InvalidInput(_))),
            "{why}: {r:?}"
        );
    }
    assert_eq!(
        l.outbox_total().expect("total"),
        before,
        "refusals write nothing"
    );

    let ov = l
        .record_approved_override(&outcome, "t-001", "sup-1", Decision::Accepted, "目視で確認")
        .expect("approved override");
    assert_eq!(ov.event.kind, "outcome.overridden");
    let payload: serde_json::Value =
        serde_json::from_slice(&ov.event.payload).expect("payload json");
    assert_eq!(payload["teller_id"], "t-001");
    assert_eq!(payload["approved_by"], "sup-1");
    assert_eq!(&*l.override_reason(&ov.id).expect("reason"), "目視で確認");
    assert!(l.verify_audit().expect("audit").is_intact());
}

#[test]
fn tellers_lists_every_teller_enabled_or_not() {
    let l = Ledger::open_in_memory(key()).expect("open");
    assert!(l.tellers().expect("list").is_empty());
    l.register_teller("t-b", TellerRole::Teller).expect("b");
    l.register_teller("s-a", TellerRole::Supervisor).expect("a");
    l.disable_teller("t-b").expect("disable");
    let all = l.tellers().expect("list");
    let summary: Vec<(&str, &str, bool)> = all
        .iter()
        .map(|t| (t.id.as_str(), t.role.as_str(), t.enabled))
        .collect();
    assert_eq!(
        summary,
        [("s-a", "supervisor", true), ("t-b", "teller", false)]
    );
    assert!(all[1].disabled_at_ms.is_some());
}

#[test]
fn an_issued_face_credential_is_recorded_once_with_its_event() {
    let l = Ledger::open_in_memory(key()).expect("open");
    let (identity, _) = one_procedure(&l, "t-cred");
    let enroll = l
        .start_session(Procedure::Enrollment, "t-cred")
        .expect("session");
    let issued = madoguchi_wire::CredentialIssued {
        credential_id: "0011223344556677".into(),
        issuer_kid: "8899aabbccddeeff".into(),
        template_kid: "01020304".into(),
        issued_at_ms: 1_000,
        expires_at_ms: 2_000,
        identity_session_id: identity.clone(),
        confirmation_record_id: "r-1".into(),
    };
    let r = l
        .record_credential_issued(&enroll.id, &issued)
        .expect("recorded");
    assert_eq!(r.event.kind, "face_credential.issued");
    let body: madoguchi_wire::CredentialIssued =
        serde_json::from_slice(&r.event.payload).expect("the shared format");
    assert_eq!(body, issued);
    assert!(
        l.record_credential_issued(&enroll.id, &issued).is_err(),
        "twice"
    );
    let mut bad = issued.clone();
    bad.credential_id = "not hex".into();
    assert!(l.record_credential_issued(&enroll.id, &bad).is_err());
    assert!(l.check_consistency().expect("consistency").is_consistent());
}
