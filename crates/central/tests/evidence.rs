//! Evidence signatures end to end: the virtual card signs a "JPKI+容貌" statement through the
//! kiosk's card crate (in process), the kiosk's ledger stores it as `signature` evidence and
//! builds the outbox event, and the backend verifies it against the TEST root it was
//! configured with — and rejects a tampered statement, a wrong signer, an expired certificate
//! and a chain to a root it was not given, each with its own verdict.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

#[path = "../../card/tests/virtual_support/mod.rs"]
mod virtual_support;

use std::sync::Arc;

use madoguchi_card::{CardSession, EvidenceStatement, SignPassword, sign_evidence};
use madoguchi_central::evidence::{JpkiRoots, JpkiVerifier, SignatureEvidence};
use madoguchi_central::server::{Embedded, Limits, Verification};
use madoguchi_ledger::{DataKey, EvidenceKind, Ledger, Procedure, TellerRole};
use serde_json::{Value, json};
use virtual_support::{VirtualLink, anchors_dir};

const TOKEN: &str = "test-token-0123456789abcdef";

fn sign(name: &str) -> madoguchi_card::Evidence {
    let p = madoguchi_virtual_card::profile(name).unwrap();
    let mut session = CardSession::exclusive(VirtualLink::new(name)).unwrap();
    let pw = p.credentials.sign_password.clone().unwrap();
    sign_evidence(
        &mut session,
        &SignPassword::new(pw).unwrap(),
        &EvidenceStatement::new(
            [9; 32],
            [[1; 32], [2; 32], [3; 32]],
            "K-0001",
            "S-7",
            1_795_000_000,
        ),
        &mut |_| {},
    )
    .unwrap()
}

/// The backend's verdict on evidence as the kiosk serialises it.
fn verdict(roots: &JpkiRoots, ev: &madoguchi_card::Evidence) -> Verification {
    roots.verify(&serde_json::to_vec(ev).unwrap())
}

#[test]
fn virtual_card_evidence_verifies_only_with_the_test_root_and_untampered() {
    let dir = anchors_dir();
    let test = JpkiRoots::with_test_dir(dir.path()).unwrap();
    assert!(test.has_test_roots());
    let production = JpkiRoots::production().unwrap();

    let good = sign("hopper");
    assert_eq!(verdict(&test, &good), Verification::Verified);
    // The card crate's wire type and the backend's are the same JSON.
    let parsed: SignatureEvidence =
        serde_json::from_slice(&serde_json::to_vec(&good).unwrap()).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        serde_json::to_value(&good).unwrap()
    );

    // Missing root: the TEST root is not configured.
    assert_eq!(verdict(&production, &good), Verification::UntrustedChain);

    // Tampered statement.
    let mut tampered = good.clone();
    tampered.statement.session_id = "S-8".into();
    assert_eq!(verdict(&test, &tampered), Verification::BadSignature);
    let mut tampered = good.clone();
    tampered.statement.face_image_sha256 = hex::encode([8u8; 32]);
    assert_eq!(verdict(&test, &tampered), Verification::BadSignature);

    // Wrong signer: the cloned card signed, and presents the genuine card's certificate.
    let clone = sign("clone-chip");
    assert_eq!(verdict(&test, &clone), Verification::Verified);
    let mut wrong = clone.clone();
    wrong.sign_certificate = good.sign_certificate.clone();
    assert_eq!(verdict(&test, &wrong), Verification::BadSignature);
    let mut wrong = good.clone();
    wrong.signature = clone.signature.clone();
    assert_eq!(verdict(&test, &wrong), Verification::BadSignature);

    // A certificate no trusted root issued: the card's signing certificate re-signed by
    // nobody (its signature bits flipped).
    let mut der = hex::decode(&good.sign_certificate).unwrap();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let mut forged = good.clone();
    forged.sign_certificate = hex::encode(der);
    assert_eq!(verdict(&test, &forged), Verification::UntrustedChain);

    // Expired signing certificate on the statement's date.
    assert_eq!(verdict(&test, &sign("expired-sign")), Verification::Expired);
    // And the statement's date outside the certificate's validity.
    let mut early = good.clone();
    early.statement.time_unix = 0;
    assert_eq!(verdict(&test, &early), Verification::Expired);

    // Unknown format and garbage.
    let mut other = good.clone();
    other.statement.format = "madoguchi-evidence/2".into();
    assert_eq!(verdict(&test, &other), Verification::Malformed);
    assert_eq!(test.verify(b"{}"), Verification::Malformed);
    // Debug shows neither the certificate nor the signature.
    let shown = format!("{parsed:?}");
    assert!(
        !shown.contains(&good.signature[..32]) && !shown.contains(&good.sign_certificate[..64])
    );
}

#[test]
fn ledger_events_are_verified_and_counted_at_the_backend() {
    let dir = anchors_dir();
    let verifier = JpkiVerifier::new(JpkiRoots::with_test_dir(dir.path()).unwrap());
    let c = Embedded::start_with_verifier(
        ":memory:",
        madoguchi_central::master_key::MasterKey::generate().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
        Arc::new(verifier),
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-0001", &madoguchi_central::token_digest(TOKEN))
            .await
    })
    .unwrap();

    let ledger = Ledger::open_in_memory(DataKey::from_bytes([7; 32])).unwrap();
    ledger.register_teller("t-1", TellerRole::Teller).unwrap();
    let session = ledger
        .start_session(Procedure::IdentityVerification, "t-1")
        .unwrap();
    let good = sign("hopper");
    let mut tampered = good.clone();
    tampered.statement.kiosk_id = "K-9999".into();
    for ev in [&good, &tampered] {
        ledger
            .store_evidence(
                &session.id,
                EvidenceKind::Signature,
                &serde_json::to_vec(ev).unwrap(),
            )
            .unwrap();
    }
    ledger
        .store_evidence(&session.id, EvidenceKind::FaceImage, b"\xFF\xD8face")
        .unwrap();

    let events: Vec<Value> = ledger
        .outbox_peek(100)
        .unwrap()
        .into_iter()
        .map(|e| {
            json!({"event_id": e.event_id, "kind": e.kind, "created_at_ms": e.created_at_ms,
                   "payload": serde_json::from_slice::<Value>(&e.payload).unwrap()})
        })
        .collect();
    assert_eq!(events.len(), 5);
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["stored"], 5);

    let stored = c
        .with_store(|s| async move { s.list_events("", 100).await })
        .unwrap();
    let by_id = |id: &str| {
        stored
            .iter()
            .find(|e| e.event_id == id)
            .unwrap()
            .verification
            .clone()
    };
    let ids: Vec<&str> = events
        .iter()
        .map(|e| e["event_id"].as_str().unwrap())
        .collect();
    // teller.registered, session.started, good signature, tampered signature, face image.
    assert_eq!(
        ids.iter().map(|id| by_id(id)).collect::<Vec<_>>(),
        [
            "not_checked",
            "not_checked",
            "verified",
            "bad_signature",
            "not_checked"
        ]
    );
    let counts = c
        .with_store(|s| async move { s.verification_counts().await })
        .unwrap();
    assert_eq!(counts.get("verified"), Some(&1));
    assert_eq!(counts.get("bad_signature"), Some(&1));
    assert_eq!(counts.get("not_checked"), Some(&3));
}

#[test]
fn serve_refuses_a_missing_or_production_test_roots_dir() {
    use clap::Parser;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("anchors.json"),
        r#"{"hierarchy":"production","jpki_roots":[],"cv_ca_keys":[]}"#,
    )
    .unwrap();
    let missing = dir.path().join("missing");
    let key_file = dir.path().join("central.key");
    for roots in [missing.as_path(), dir.path()] {
        let cli = madoguchi_central::cli::Cli::parse_from([
            "madoguchi-central",
            "--database-url",
            ":memory:",
            "--key-file",
            key_file.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--test-jpki-roots",
            roots.to_str().unwrap(),
        ]);
        assert_eq!(
            madoguchi_central::cli::run(cli),
            std::process::ExitCode::FAILURE,
            "{}",
            roots.display()
        );
    }
}
