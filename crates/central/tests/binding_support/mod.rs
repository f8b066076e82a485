//! The binding-code scenario shared by the SQLite and PostgreSQL tests: codes issued on a face
//! credential or an identity verification, every refused proof, at most five live codes per
//! customer, one redeem per code (also when two tasks race), expiry at an injected time,
//! foreign and malformed codes, services' tokens kept apart from kiosks'.
#![allow(clippy::unwrap_used, dead_code)] // test helpers: a failed set-up is a failed test

use madoguchi_central::CentralError;
use madoguchi_central::binding::{CODE_CHARS, CODE_LIFETIME_MS, MAX_LIVE_CODES, Proof, Refusal};
use madoguchi_central::store::{IngestStatus, NewEvent, Store};
use serde_json::json;

pub const HOUR_MS: i64 = 3_600_000;

/// A `face_credential.issued` event for `credential_id`, bound to the identity verification
/// session `identity_session_id`, under an issuer key id nobody registered.
pub fn credential_event(
    event_id: &str,
    credential_id: &str,
    identity_session_id: &str,
    expires_at_ms: i64,
) -> NewEvent {
    let payload = json!({
        "credential_id": credential_id, "issuer_kid": "b0b0b0b0b0b0b0b0",
        "template_kid": "b0b0b0b0", "issued_at_ms": expires_at_ms - 24 * HOUR_MS,
        "expires_at_ms": expires_at_ms, "identity_session_id": identity_session_id,
        "confirmation_record_id": format!("rec-{identity_session_id}"),
        "audit": {"seq": 1, "hash": "00ff"}
    });
    NewEvent {
        event_id: event_id.into(),
        kind: "face_credential.issued".into(),
        payload: payload.to_string(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

/// A `confirmation.recorded` event of the identity verification `session_id` with `outcome`.
pub fn confirmation_event(event_id: &str, session_id: &str, outcome: &str) -> NewEvent {
    let record_id = format!("rec-{session_id}");
    let record = json!({
        "format": "madoguchi-confirmation/1", "record_id": record_id, "session_id": session_id,
        "verified_at_ms": madoguchi_central::now_ms(), "outcome": outcome
    });
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

pub fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

pub fn credential(id: &str) -> Proof {
    Proof::Credential {
        credential_id: id.into(),
    }
}

pub fn identity(session: &str) -> Proof {
    Proof::Identity {
        identity_session_id: session.into(),
    }
}

/// A code no backend issued (well formed).
pub const FOREIGN_CODE: &str = "QRSTUVWXYZ234567ABCDEFGHIJKLMNOP";

async fn refused<T: std::fmt::Debug>(r: Result<Result<T, Refusal>, CentralError>) -> &'static str {
    match r.unwrap() {
        Err(refusal) => refusal.code(),
        Ok(other) => panic!("expected a refusal, got {other:?}"),
    }
}

/// The scenario, on any store (kiosks `K-BIND`, `K-BIND2`, service `svc-bind`; event ids
/// 0xb001 to 0xb005, credential ids b1…, b2…, b3…, sessions `sess-bind-*` only).
pub async fn scenario(s: &Store) {
    let now = madoguchi_central::now_ms();
    let got = s
        .ingest(
            "K-BIND",
            vec![
                credential_event(&uuid(0xb001), "b1b1b1b1", "sess-bind-cred", now + HOUR_MS),
                credential_event(&uuid(0xb002), "b2b2b2b2", "sess-bind-old", now - 1),
                credential_event(&uuid(0xb003), "b3b3b3b3", "sess-bind-lost", now + HOUR_MS),
                confirmation_event(&uuid(0xb004), "sess-bind-id", "verified"),
                confirmation_event(&uuid(0xb005), "sess-bind-no", "not_verified"),
            ],
            now,
        )
        .await
        .unwrap();
    assert!(got.iter().all(|g| *g == IngestStatus::Stored), "{got:?}");
    assert!(s.revoke("b3b3b3b3", "lost phone").await.unwrap());

    // Issued on a credential any kiosk reported, or on this kiosk's verified identity session.
    let a = s
        .issue_binding_code("K-BIND2", "sess-k-1", &credential("b1b1b1b1"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(a.code.len(), CODE_CHARS);
    assert!(
        a.code
            .bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(
        (a.customer_ref.as_str(), a.expires_at_ms),
        ("sess-bind-cred", now + CODE_LIFETIME_MS)
    );
    assert!(!format!("{a:?}").contains(a.code.as_str()));
    let b = s
        .issue_binding_code("K-BIND", "sess-k-2", &identity("sess-bind-id"), now)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(b.customer_ref, "sess-bind-id");
    assert_ne!(*a.code, *b.code);

    // Proofs refused.
    for (kiosk, proof, want) in [
        ("K-BIND", credential("b9b9b9b9"), "unknown_proof"),
        ("K-BIND", credential("b2b2b2b2"), "expired_credential"),
        ("K-BIND", credential("b3b3b3b3"), "revoked"),
        ("K-BIND2", identity("sess-bind-id"), "unknown_proof"),
        ("K-BIND", identity("sess-bind-none"), "unknown_proof"),
        ("K-BIND", identity("sess-bind-no"), "not_verified"),
    ] {
        let r = s.issue_binding_code(kiosk, "sess-k-3", &proof, now).await;
        assert_eq!(refused(r).await, want, "{proof:?}");
    }
    for (session, proof) in [
        ("sess k", credential("b1b1b1b1")),
        ("sess-k-4", credential("B1B1")),
        ("sess-k-4", identity("")),
    ] {
        let r = s.issue_binding_code("K-BIND", session, &proof, now).await;
        assert!(matches!(r, Err(CentralError::Invalid(_))), "{r:?}");
    }

    // Redeemed once, by a service; typed in lower case with dashes it is the same code.
    let r = s
        .redeem_binding_code("svc-bind", &a.code, now + 1)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            r.customer_ref.as_str(),
            r.kiosk_id.as_str(),
            r.session_id.as_str(),
            r.proof_kind.as_str(),
            r.issued_at_ms
        ),
        ("sess-bind-cred", "K-BIND2", "sess-k-1", "credential", now)
    );
    let again = s.redeem_binding_code("svc-bind", &a.code, now + 2).await;
    assert_eq!(refused(again).await, "already_redeemed");
    let typed = b
        .code
        .to_ascii_lowercase()
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-");
    let r = s
        .redeem_binding_code("svc-bind", &typed, now + 3)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (r.customer_ref.as_str(), r.proof_kind.as_str()),
        ("sess-bind-id", "identity")
    );

    // Expiry: redeemable until CODE_LIFETIME_MS after the issue, not at it.
    let old = s
        .issue_binding_code("K-BIND", "sess-k-5", &credential("b1b1b1b1"), now)
        .await
        .unwrap()
        .unwrap();
    let last = s
        .redeem_binding_code("svc-bind", &old.code, now + CODE_LIFETIME_MS)
        .await;
    assert_eq!(refused(last).await, "expired");
    let fresh = s
        .issue_binding_code("K-BIND", "sess-k-6", &credential("b1b1b1b1"), now)
        .await
        .unwrap()
        .unwrap();
    assert!(
        s.redeem_binding_code("svc-bind", &fresh.code, now + CODE_LIFETIME_MS - 1)
            .await
            .unwrap()
            .is_ok()
    );
    // Redeemed and then expired: still `already_redeemed`.
    let late = s
        .redeem_binding_code("svc-bind", &fresh.code, now + 10 * CODE_LIFETIME_MS)
        .await;
    assert_eq!(refused(late).await, "already_redeemed");

    // Foreign and malformed codes.
    for code in [
        FOREIGN_CODE,
        "",
        "hello",
        &"A".repeat(31),
        &"A".repeat(1000),
    ] {
        let r = s.redeem_binding_code("svc-bind", code, now).await;
        assert_eq!(refused(r).await, "unknown_code", "{code}");
    }

    // At most five live codes per customer (`sess-bind-id` has none live: its code was
    // redeemed); a redeemed or expired one makes room.
    let mut live = Vec::new();
    for i in 0..MAX_LIVE_CODES {
        live.push(
            s.issue_binding_code(
                "K-BIND",
                &format!("sess-r-{i}"),
                &identity("sess-bind-id"),
                now,
            )
            .await
            .unwrap()
            .unwrap(),
        );
    }
    let sixth = s
        .issue_binding_code("K-BIND", "sess-r-x", &identity("sess-bind-id"), now + 1000)
        .await
        .unwrap();
    assert_eq!(
        sixth.unwrap_err(),
        Refusal::TooManyCodes {
            retry_after_ms: CODE_LIFETIME_MS - 1000
        }
    );
    // Another customer is not held back.
    assert!(
        s.issue_binding_code("K-BIND", "sess-r-y", &credential("b1b1b1b1"), now)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        s.redeem_binding_code("svc-bind", &live[0].code, now + 1)
            .await
            .unwrap()
            .is_ok()
    );
    assert!(
        s.issue_binding_code("K-BIND", "sess-r-z", &identity("sess-bind-id"), now + 2)
            .await
            .unwrap()
            .is_ok()
    );
    // All five expired (the last one was issued 2 ms later).
    let expired_all = now + 2 + CODE_LIFETIME_MS;
    for i in 0..MAX_LIVE_CODES {
        assert!(
            s.issue_binding_code(
                "K-BIND",
                &format!("sess-s-{i}"),
                &identity("sess-bind-id"),
                expired_all
            )
            .await
            .unwrap()
            .is_ok()
        );
    }

    // Two tasks redeeming one code: exactly one succeeds, every time.
    let t = now + 2 * CODE_LIFETIME_MS;
    for round in 0..10 {
        let code = s
            .issue_binding_code("K-BIND", "sess-race", &credential("b1b1b1b1"), t)
            .await
            .unwrap()
            .unwrap()
            .code;
        let race = |svc: &'static str| {
            let (s, code) = (s.clone(), code.clone());
            tokio::spawn(async move { s.redeem_binding_code(svc, &code, t + 1).await })
        };
        let (x, y) = (race("svc-bind"), race("svc-other"));
        let (x, y) = (x.await.unwrap().unwrap(), y.await.unwrap().unwrap());
        let won = [&x, &y].iter().filter(|r| r.is_ok()).count();
        assert_eq!(won, 1, "round {round}: {x:?} {y:?}");
        let lost = if x.is_ok() { y } else { x };
        assert_eq!(lost.unwrap_err(), Refusal::AlreadyRedeemed);
    }

    // The metadata, without the codes.
    let codes = s.binding_codes(1000).await.unwrap();
    assert_eq!(codes.len(), 2 + 2 + 5 + 1 + 1 + 5 + 10);
    let text = format!("{codes:?}");
    for c in [&a.code, &b.code, &old.code, &live[1].code] {
        assert!(!text.contains(c.as_str()));
    }
    let first = codes
        .iter()
        .find(|c| c.code_sha256 == madoguchi_central::binding::code_digest(&a.code))
        .unwrap();
    assert_eq!(
        (
            first.customer_ref.as_str(),
            first.kiosk_id.as_str(),
            first.proof_kind.as_str(),
            first.redeemed_by.as_deref(),
            first.status(now)
        ),
        (
            "sess-bind-cred",
            "K-BIND2",
            "credential",
            Some("svc-bind"),
            "redeemed"
        )
    );
    let old = codes
        .iter()
        .find(|c| c.code_sha256 == madoguchi_central::binding::code_digest(&old.code))
        .unwrap();
    assert_eq!(
        (old.status(now), old.status(now + CODE_LIFETIME_MS)),
        ("live", "expired")
    );
    assert_eq!(s.binding_codes(3).await.unwrap().len(), 3);

    // Services: a token is a kiosk's or a service's, never both.
    let service_token = madoguchi_central::token_digest("svc-bind-token-0123456789");
    let kiosk_token = madoguchi_central::token_digest("kiosk-bind-token-0123456789");
    s.add_kiosk("K-BIND", &kiosk_token).await.unwrap();
    s.add_service("svc-bind", &service_token).await.unwrap();
    s.add_service("svc-bind", &service_token).await.unwrap();
    assert_eq!(
        s.service_for_token(&service_token)
            .await
            .unwrap()
            .as_deref(),
        Some("svc-bind")
    );
    assert_eq!(s.service_for_token(&kiosk_token).await.unwrap(), None);
    assert_eq!(s.kiosk_for_token(&service_token).await.unwrap(), None);
    for r in [
        s.add_service("svc-2", &kiosk_token).await,
        s.add_kiosk("K-BIND3", &service_token).await,
        s.add_service("svc 2", &madoguchi_central::token_digest("x"))
            .await,
        s.add_service("", &madoguchi_central::token_digest("y"))
            .await,
    ] {
        assert!(matches!(r, Err(CentralError::Invalid(_))), "{r:?}");
    }
}
