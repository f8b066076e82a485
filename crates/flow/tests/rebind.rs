//! Re-binding a passkey device over in-memory ports: after a verified identity and after a
//! verified face-credential authentication, the binding code shown and recorded; a refusal,
//! an unreachable or silent backend, an expiring code, and answers that belong to another
//! session; never offered or started without a face proof.
#![allow(clippy::unwrap_used)]

mod support;

use madoguchi_flow::ports::{
    BindingProof, FaceDecision, FaceEvent, Private, ProcedureKind, RecordDecision, SessionEnd,
};
use madoguchi_flow::view::{Outcome, Picture, StepId};
use madoguchi_flow::{ChallengeChoice, Input, QrAuthStart, Start, messages as m};
use support::*;

/// A QR authentication for re-binding up to the face result `decision`.
fn qr_auth(w: &mut World, decision: FaceDecision) {
    w.send(Input::Start(Start::QrAuth(QrAuthStart {
        teller: teller(),
        challenge: ChallengeChoice::Random,
        rebind: true,
    })))
    .unwrap();
    w.send(Input::Face(FaceEvent::QrRead(Private::new(QR_GOOD))))
        .unwrap();
    face_done(w, decision);
}

fn assert_clean_end(w: &World) {
    assert!(!w.counter.is_running());
    assert!(!w.counter.holds_customer_data());
    assert_eq!(w.records.open_sessions(), 0);
    assert!(!w.screens.last.qr_shown, "the code left on the display");
}

#[test]
fn a_verified_identity_rebinds_with_a_code_shown_to_the_customer_and_recorded() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    assert!(
        w.screens.last.actions.rebind,
        "offered for a verified identity"
    );
    w.send(Input::ConfirmRebind).unwrap();
    let ids: Vec<String> = w.records.sessions.keys().cloned().collect();
    assert_eq!(ids.len(), 2);
    let (identity_id, rebind_id) = (&ids[0], &ids[1]);
    assert_eq!(
        w.records.sessions[rebind_id].procedure,
        ProcedureKind::DeviceRebinding
    );
    assert_eq!(
        w.records.sessions[identity_id].end,
        Some((SessionEnd::Completed, m::R_MATCH.into()))
    );
    // The backend is asked, naming the verification the customer just passed.
    assert_eq!(w.step(), StepId::RequestingCode);
    assert!(!w.screens.last.qr_shown);
    let req = w.backend.requests.last().unwrap();
    assert_eq!(&req.session_id, rebind_id);
    assert_eq!(
        req.proof,
        BindingProof::Identity {
            identity_session_id: identity_id.clone()
        }
    );
    assert!(!w.face.running, "no second face capture");
    w.answer_binding(300_000, None).unwrap();
    assert_eq!(w.step(), StepId::ShowCode);
    assert!(w.screens.last.qr_shown && w.screens.last.picture == Some(Picture::Phone));
    assert_eq!(w.screens.last.customer, m::C_SCAN_BINDING);
    assert_eq!(w.screens.last.teller, m::T_SHOW_CODE);
    assert!(w.screens.last.actions.confirm);
    let (s, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!((s, o.decision), (rebind_id, RecordDecision::Accepted));
    assert_eq!(o.reasons, [m::R_BINDING_ISSUED, "binding.proof_identity"]);
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::CodeIssued));
    assert_eq!(w.screens.last.customer, m::C_DONE_CODE_ISSUED);
    assert_clean_end(&w);
}

#[test]
fn a_verified_face_credential_rebinds_with_the_credential_as_proof() {
    let mut w = World::new();
    qr_auth(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::RequestingCode);
    let (auth_id, auth) = w.records.sessions.iter().next().unwrap();
    assert_eq!(auth.procedure, ProcedureKind::FaceQrAuthentication);
    assert_eq!(
        auth.end,
        Some((SessionEnd::Completed, m::R_QR_MATCH.into()))
    );
    let req = w.backend.requests.last().unwrap();
    assert_ne!(&req.session_id, auth_id);
    assert_eq!(
        req.proof,
        BindingProof::Credential {
            credential_id: "00000000000000aa".into()
        }
    );
    // The backend refuses (the credential was revoked centrally): nothing shown, recorded.
    w.answer_binding(0, Some("binding.revoked")).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::CodeNotIssued));
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_BINDING_REVOKED));
    assert_eq!(w.screens.last.customer, m::C_DONE_CODE_NOT_ISSUED);
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!(o.decision, RecordDecision::Rejected);
    assert_eq!(
        o.reasons,
        [m::R_BINDING_REVOKED, "binding.proof_credential"]
    );
    assert_clean_end(&w);
}

#[test]
fn no_face_proof_no_rebinding() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::NoMatch);
    assert!(!w.screens.last.actions.rebind);
    assert!(w.send(Input::ConfirmRebind).is_err());
    let mut w = World::new();
    qr_auth(&mut w, FaceDecision::AttackSuspected);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::AttackSuspected));
    assert!(w.backend.requests.is_empty());
    assert_eq!(w.records.sessions.len(), 1);
    // An override to verified does not re-bind either: the kiosk's face proof is missing.
    let mut w = World::new();
    at_review(&mut w, FaceDecision::NoMatch);
    w.send(Input::Override {
        accept: true,
        reason: "確認済み".into(),
        approver: Some(supervisor()),
    })
    .unwrap();
    assert!(w.backend.requests.is_empty());
}

#[test]
fn an_unreachable_or_silent_backend_ends_without_a_code_and_says_why() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    w.answer_binding(0, Some("binding.unreachable")).unwrap();
    assert_eq!(w.screens.last.outcome, Some(Outcome::CodeNotIssued));
    assert_eq!(
        w.screens.last.reason.as_deref(),
        Some(m::R_BINDING_UNREACHABLE)
    );
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!(o.decision, RecordDecision::Referred);
    assert_clean_end(&w);

    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    w.advance(31_000);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_TIMEOUT_BACKEND));
    assert_clean_end(&w);
    // The late answer finds no procedure and changes nothing.
    let _ = w.answer_binding(300_000, None);
    assert_eq!(w.step(), StepId::Result);
    assert!(!w.screens.last.qr_shown);
    // An unknown fault code is reported as a failure, never shown raw.
    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    w.answer_binding(0, Some("http.teapot")).unwrap();
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_BINDING_FAILED));
}

#[test]
fn the_code_leaves_the_display_when_it_expires_or_the_teller_cancels() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    w.answer_binding(60_000, None).unwrap();
    assert!(w.screens.last.qr_shown);
    w.advance(59_000);
    assert_eq!(w.step(), StepId::ShowCode);
    w.advance(2_000);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::CodeIssued));
    assert_clean_end(&w);

    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    w.answer_binding(300_000, None).unwrap();
    w.send(Input::Cancel(m::R_CANCELLED_TELLER)).unwrap();
    assert_eq!(w.screens.last.outcome, Some(Outcome::Cancelled));
    assert_clean_end(&w);
}

#[test]
fn an_answer_for_another_session_is_dropped() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::Match);
    w.send(Input::ConfirmRebind).unwrap();
    use madoguchi_flow::ports::{BackendEvent, BindingCode, PrivateBytes};
    w.send(Input::Backend(BackendEvent::BindingCode {
        session_id: "another-session".into(),
        result: Ok(BindingCode {
            code: Private::new("X"),
            qr_png: PrivateBytes::new(b"png".to_vec()),
            expires_at_ms: i64::MAX,
        }),
    }))
    .unwrap();
    assert_eq!(w.step(), StepId::RequestingCode);
    assert!(!w.screens.last.qr_shown);
}
