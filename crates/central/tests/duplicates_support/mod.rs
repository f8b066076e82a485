//! The duplicate-face scenario shared by the SQLite and PostgreSQL tests: the same face under
//! another person flagged (one match, then two), the same person enrolling twice and a
//! different face not flagged, a repeated check replacing its enrollment's template, refused
//! identity sessions (unknown, another kiosk's, not verified), malformed input, the flags
//! listed without templates, and an index rebuilt from the sealed rows finding them again.
#![allow(clippy::unwrap_used, dead_code)] // test helpers: a failed set-up is a failed test

use madoguchi_central::CentralError;
use madoguchi_central::duplicates::{
    CheckRefusal, DEFAULT_DUPLICATE_THRESHOLD, DuplicateCheck, DuplicateIndex, Enrollment,
};
use madoguchi_central::store::{IngestStatus, NewEvent, Store};
use serde_json::json;

/// A `confirmation.recorded` event of `session_id` with `outcome` for the person `name` born
/// on `birth` (no subject when `name` is empty).
pub fn person_event(
    event_id: &str,
    session_id: &str,
    name: &str,
    birth: &str,
    outcome: &str,
) -> NewEvent {
    let record_id = format!("rec-{session_id}");
    let mut record = json!({
        "format": "madoguchi-confirmation/1", "record_id": record_id, "session_id": session_id,
        "verified_at_ms": madoguchi_central::now_ms(), "outcome": outcome,
        "method": {"route": "pin"}
    });
    if !name.is_empty() {
        record["subject"] = json!({"name": name, "birth_date": birth,
                                   "address": "東京都千代田区1-1", "sex": "1"});
    }
    let payload = json!({"record_id": record_id, "session_id": session_id, "at_ms": 1,
                         "record": record, "audit": {"seq": 2, "hash": "00ff"}});
    NewEvent {
        event_id: event_id.into(),
        kind: "confirmation.recorded".into(),
        payload: payload.to_string(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

/// A 128-d face template, pseudo-random from `seed` (two seeds: a cosine near 0).
pub fn face(seed: u64) -> Vec<i8> {
    let mut x = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    (0..128)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (((x >> 33) % 201) as i16 - 100) as i8
        })
        .collect()
}

/// `f` with a little noise (a cosine above 0.95 with `f`).
pub fn near(f: &[i8], seed: u64) -> Vec<i8> {
    let noise = face(seed);
    f.iter()
        .zip(noise)
        .map(|(&v, n)| v.saturating_add(n / 12))
        .collect()
}

/// A template as the API takes it: unpadded base64url of the values.
pub fn template_b64(t: &[i8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(t.iter().map(|v| v.to_ne_bytes()[0]).collect::<Vec<u8>>())
}

pub fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The kiosks' enrollments' identity sessions: Alice twice (the second with a full-width
/// space), Bob, Dave, Eve, Frank, George; Carol not verified.
pub fn events() -> Vec<NewEvent> {
    vec![
        person_event(
            &uuid(0xd001),
            "sess-dup-alice-1",
            "鈴木 有子",
            "1980-04-01",
            "verified",
        ),
        person_event(
            &uuid(0xd002),
            "sess-dup-alice-2",
            "鈴木\u{3000}有子",
            "1980-04-01",
            "verified",
        ),
        person_event(
            &uuid(0xd003),
            "sess-dup-bob",
            "田中 一郎",
            "1975-12-31",
            "verified",
        ),
        person_event(
            &uuid(0xd004),
            "sess-dup-carol",
            "佐藤 花",
            "1990-01-01",
            "not_verified",
        ),
        person_event(
            &uuid(0xd005),
            "sess-dup-dave",
            "伊藤 大",
            "1991-02-03",
            "verified",
        ),
        person_event(
            &uuid(0xd006),
            "sess-dup-eve",
            "渡辺 恵",
            "1992-03-04",
            "verified",
        ),
        person_event(
            &uuid(0xd007),
            "sess-dup-frank",
            "山本 文",
            "1993-04-05",
            "verified",
        ),
        person_event(
            &uuid(0xd008),
            "sess-dup-george",
            "中村 丈",
            "1994-05-06",
            "verified",
        ),
    ]
}

async fn check(
    idx: &DuplicateIndex,
    s: &Store,
    kiosk: &str,
    session: &str,
    identity: &str,
    template: &[i8],
) -> Result<Result<DuplicateCheck, CheckRefusal>, CentralError> {
    idx.check(
        s,
        Enrollment {
            kiosk_id: kiosk,
            session_id: session,
            identity_session_id: identity,
            template,
        },
        DEFAULT_DUPLICATE_THRESHOLD,
        madoguchi_central::now_ms(),
    )
    .await
}

async fn ok(
    idx: &DuplicateIndex,
    s: &Store,
    session: &str,
    identity: &str,
    template: &[i8],
) -> DuplicateCheck {
    check(idx, s, "K-DUP", session, identity, template)
        .await
        .unwrap()
        .unwrap()
}

/// The scenario, on a store with no face templates yet (kiosks `K-DUP`, `K-DUP2`; event ids
/// 0xd001 to 0xd008; sessions `sess-dup-*`, enrollments `enr-dup-*`).
pub async fn scenario(s: &Store) {
    let got = s
        .ingest("K-DUP", events(), madoguchi_central::now_ms())
        .await
        .unwrap();
    assert!(got.iter().all(|g| *g == IngestStatus::Stored), "{got:?}");
    let idx = DuplicateIndex::new();
    assert_eq!(idx.load(s).await.unwrap(), 0);
    let (a, b, c) = (face(1), face(2), face(3));

    // Alice's first enrollment: nothing to find.
    let r = ok(&idx, s, "enr-dup-1", "sess-dup-alice-1", &a).await;
    assert_eq!(
        (r.flagged, r.matches, r.best_score, r.threshold),
        (false, 0, None, DEFAULT_DUPLICATE_THRESHOLD)
    );
    assert_eq!(r.check_id.len(), 32);
    // Alice again, another verification, her face again: the same person, not flagged.
    let r = ok(&idx, s, "enr-dup-2", "sess-dup-alice-2", &near(&a, 11)).await;
    assert_eq!((r.flagged, r.matches), (false, 0), "{r:?}");
    // Bob, another face: not flagged.
    let r = ok(&idx, s, "enr-dup-3", "sess-dup-bob", &b).await;
    assert_eq!((r.flagged, r.matches), (false, 0), "{r:?}");
    // Dave with Bob's face, a near copy: flagged, one match.
    let r = ok(&idx, s, "enr-dup-4", "sess-dup-dave", &near(&b, 12)).await;
    assert_eq!((r.flagged, r.matches), (true, 1), "{r:?}");
    let best = r.best_score.unwrap();
    assert!(best > 0.95 && best <= 1.0, "{best}");
    let dave_check = r.check_id;
    // Eve with Alice's very values: both of Alice's enrollments match.
    let r = ok(&idx, s, "enr-dup-5", "sess-dup-eve", &a).await;
    assert_eq!((r.flagged, r.matches), (true, 2), "{r:?}");
    assert!((r.best_score.unwrap() - 1.0).abs() < 1e-5);
    // Dave's enrollment checked again with another face: its template is replaced (still
    // one row), not flagged now; its flag stays for the teller.
    let r = ok(&idx, s, "enr-dup-4", "sess-dup-dave", &c).await;
    assert_eq!((r.flagged, r.matches), (false, 0), "{r:?}");
    assert_eq!(idx.len().await, 5);
    // Frank with Bob's face: only Bob's matches now (Dave's is another face).
    let r = ok(&idx, s, "enr-dup-6", "sess-dup-frank", &b).await;
    assert_eq!((r.flagged, r.matches), (true, 1), "{r:?}");

    // Refused identity sessions.
    for (kiosk, identity, want) in [
        ("K-DUP", "sess-dup-none", CheckRefusal::UnknownProof),
        ("K-DUP2", "sess-dup-alice-1", CheckRefusal::UnknownProof),
        ("K-DUP", "sess-dup-carol", CheckRefusal::NotVerified),
    ] {
        let r = check(&idx, s, kiosk, "enr-dup-x", identity, &a)
            .await
            .unwrap();
        assert_eq!(r.unwrap_err(), want, "{identity}");
    }
    // Malformed input.
    let zero = [0i8; 128];
    let long = [1i8; 1025];
    for (session, identity, template) in [
        ("enr dup", "sess-dup-bob", &a[..]),
        ("enr-dup-x", "", &a[..]),
        ("enr-dup-x", "sess-dup-bob", &zero[..]),
        ("enr-dup-x", "sess-dup-bob", &[][..]),
        ("enr-dup-x", "sess-dup-bob", &long[..]),
    ] {
        let r = check(&idx, s, "K-DUP", session, identity, template).await;
        assert!(matches!(r, Err(CentralError::Invalid(_))), "{r:?}");
    }
    assert_eq!(idx.len().await, 6, "nothing refused was indexed");

    // The flags: Dave's (from its flagged check), Eve's, Frank's; no template in them.
    let flags = s.duplicate_flags(100).await.unwrap();
    let mut sessions: Vec<&str> = flags.iter().map(|f| f.session_id.as_str()).collect();
    sessions.sort_unstable();
    assert_eq!(sessions, ["enr-dup-4", "enr-dup-5", "enr-dup-6"]);
    let dave = flags.iter().find(|f| f.session_id == "enr-dup-4").unwrap();
    assert_eq!(
        (dave.check_id.as_str(), dave.kiosk_id.as_str(), dave.matches),
        (dave_check.as_str(), "K-DUP", 1)
    );
    assert!(dave.best_score > 0.95);
    let text = serde_json::to_string(&flags).unwrap();
    assert!(
        !text.contains("鈴木") && !text.contains("sess-dup-alice"),
        "{text}"
    );
    assert_eq!(s.duplicate_flags(1).await.unwrap().len(), 1);

    // A fresh index (a restart) is built from the sealed rows and finds the same faces.
    let again = DuplicateIndex::new();
    assert_eq!(again.load(s).await.unwrap(), 6);
    assert_eq!(again.load(s).await.unwrap(), 6, "loaded once");
    let r = ok(&again, s, "enr-dup-7", "sess-dup-george", &near(&b, 13)).await;
    assert_eq!(
        (r.flagged, r.matches),
        (true, 2),
        "Bob's and Frank's: {r:?}"
    );
    let r = ok(&again, s, "enr-dup-8", "sess-dup-george", &c).await;
    assert_eq!(
        (r.flagged, r.matches),
        (true, 1),
        "Dave's replaced template: {r:?}"
    );
}
