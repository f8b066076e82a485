//! The face credential procedures over in-memory ports: enrollment chained from a verified
//! identity (and refused otherwise), issuing refused by the credential port, QR
//! authentication (accepted, rejected offline, an attack at the challenge, no QR in time),
//! and the records each leaves.
#![allow(clippy::unwrap_used)]

mod support;

use madoguchi_flow::ports::{
    EvidenceKind, FaceDecision, FaceEvent, Private, ProcedureKind, RecordDecision, SessionEnd,
};
use madoguchi_flow::view::{Outcome, Picture, StepId};
use madoguchi_flow::{ChallengeChoice, Input, QrAuthStart, Start, messages as m};
use support::*;

fn verified_at_review(w: &mut World) {
    at_review(w, FaceDecision::Match);
}

fn start_qr(w: &mut World) {
    w.send(Input::Start(Start::QrAuth(QrAuthStart {
        teller: teller(),
        challenge: ChallengeChoice::Random,
        rebind: false,
    })))
    .unwrap();
}

fn assert_clean_end(w: &World) {
    assert!(!w.counter.is_running());
    assert!(!w.counter.holds_customer_data());
    assert_eq!(w.records.open_sessions(), 0);
    assert!(!w.face.running, "camera left running");
    assert!(
        !w.screens.last.qr_shown,
        "the QR left on the customer display"
    );
}

#[test]
fn a_verified_customer_is_enrolled_in_the_same_visit_and_the_credential_is_bound_to_the_verification()
 {
    let mut w = World::new();
    verified_at_review(&mut w);
    assert!(
        w.screens.last.actions.enroll,
        "offered for a verified identity"
    );
    w.send(Input::ConfirmEnroll).unwrap();
    // The identity session is closed with its confirmation; the enrollment runs in its own.
    let ids: Vec<String> = w.records.sessions.keys().cloned().collect();
    assert_eq!(ids.len(), 2);
    let (identity_id, enroll_id) = (&ids[0], &ids[1]);
    let identity = &w.records.sessions[identity_id];
    assert_eq!(identity.procedure, ProcedureKind::IdentityVerification);
    assert_eq!(
        identity.end,
        Some((SessionEnd::Completed, m::R_MATCH.into()))
    );
    let enroll = &w.records.sessions[enroll_id];
    assert_eq!(enroll.procedure, ProcedureKind::Enrollment);
    assert_eq!(enroll.teller, "t-001");
    assert_eq!(w.step(), StepId::Face);
    assert!(w.face.running && w.face.last_want_template);
    assert_eq!(w.face.last_template, None, "matched against the chip photo");
    assert!(w.face.last_turn.is_some(), "with the head-turn challenge");
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::ShowQr);
    assert!(w.screens.last.qr_shown && w.screens.last.picture == Some(Picture::Phone));
    assert_eq!(w.screens.last.customer, m::C_SAVE_QR);
    assert!(w.screens.last.actions.confirm);
    // Recorded before shown: the credential, bound to the verification and its record.
    let (session, issued) = &w.records.credentials[0];
    assert_eq!(session, enroll_id);
    assert_eq!(&issued.identity_session_id, identity_id);
    assert_eq!(
        issued.confirmation_record_id,
        format!("{identity_id}-confirmation")
    );
    assert_eq!(issued.credential_id, w.credentials.issued[0].credential_id);
    let (s, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!((s, o.decision), (enroll_id, RecordDecision::Accepted));
    assert_eq!(o.reasons[0], m::R_ISSUED);
    assert!(
        w.records
            .evidence
            .iter()
            .any(|e| &e.0 == enroll_id && e.1 == EvidenceKind::FaceImage)
    );
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Issued));
    assert_eq!(w.screens.last.customer, m::C_DONE_ISSUED);
    assert_clean_end(&w);
}

#[test]
fn enrollment_is_offered_only_for_a_verified_identity() {
    let mut w = World::new();
    at_review(&mut w, FaceDecision::NoMatch);
    assert!(!w.screens.last.actions.enroll);
    assert!(w.send(Input::ConfirmEnroll).is_err());
    assert_eq!(w.records.sessions.len(), 1);
}

#[test]
fn a_face_that_fails_at_enrollment_or_a_refusing_credential_port_issues_nothing() {
    // Another face (or an attack) after the verification: nothing issued.
    let mut w = World::new();
    verified_at_review(&mut w);
    w.send(Input::ConfirmEnroll).unwrap();
    face_done(&mut w, FaceDecision::AttackSuspected);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::AttackSuspected));
    assert!(w.credentials.issued.is_empty() && w.records.credentials.is_empty());
    assert_eq!(
        w.records.outcomes.last().unwrap().2.decision,
        RecordDecision::Rejected
    );
    assert_clean_end(&w);

    // Stale trust lists: the port refuses; the teller sees why.
    let mut w = World::new();
    verified_at_review(&mut w);
    w.credentials.issue_fault = Some(m::R_TRUST_STALE);
    w.send(Input::ConfirmEnroll).unwrap();
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::NotVerified));
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_TRUST_STALE));
    assert!(w.records.credentials.is_empty());
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!(o.reasons[0], m::R_TRUST_STALE);
    assert_clean_end(&w);
}

#[test]
fn a_credential_whose_record_fails_is_never_shown() {
    let mut w = World::new();
    verified_at_review(&mut w);
    w.send(Input::ConfirmEnroll).unwrap();
    // The face image evidence write fails.
    w.records.fail_writes = 1;
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Cancelled));
    assert!(!w.screens.steps.contains(&StepId::ShowQr));
    assert!(w.records.credentials.is_empty());
}

#[test]
fn the_shown_qr_ends_as_issued_when_nobody_finishes() {
    let mut w = World::new();
    verified_at_review(&mut w);
    w.send(Input::ConfirmEnroll).unwrap();
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::ShowQr);
    w.advance(181_000);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Issued));
    assert_clean_end(&w);
}

#[test]
fn a_valid_qr_and_the_live_face_authenticate() {
    let mut w = World::new();
    start_qr(&mut w);
    assert_eq!(w.step(), StepId::ScanQr);
    assert!(w.face.scanning && w.screens.last.qr_guide);
    assert_eq!(w.screens.last.customer, m::C_SHOW_PHONE_QR);
    w.send(Input::Face(FaceEvent::QrRead(Private::new(QR_GOOD))))
        .unwrap();
    assert_eq!(w.credentials.checked, [QR_GOOD]);
    assert_eq!(w.step(), StepId::Face);
    assert!(!w.face.scanning && w.face.running);
    assert_eq!(w.face.last_template.as_deref(), Some(CREDENTIAL_TEMPLATE));
    assert!(w.face.last_turn.is_some(), "never a single still image");
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Verified));
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_QR_MATCH));
    let (id, row) = w.records.last_session().unwrap();
    assert_eq!(row.procedure, ProcedureKind::FaceQrAuthentication);
    let (s, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!((s, o.decision), (id, RecordDecision::Accepted));
    assert!(o.scores.iter().any(|(k, _)| *k == "face_similarity"));
    assert_clean_end(&w);
}

#[test]
fn a_rejected_qr_never_starts_the_face_check_and_says_why() {
    for (text, reason) in [
        (QR_REVOKED, m::R_QR_REVOKED),
        ("MQ1:JUNK", m::R_QR_UNREADABLE),
    ] {
        let mut w = World::new();
        start_qr(&mut w);
        w.send(Input::Face(FaceEvent::QrRead(Private::new(text))))
            .unwrap();
        assert_eq!(w.step(), StepId::Result);
        assert_eq!(w.face.starts, 0);
        assert_eq!(w.screens.last.outcome, Some(Outcome::NotVerified));
        assert_eq!(w.screens.last.reason.as_deref(), Some(reason));
        let (_, _, o) = w.records.outcomes.last().unwrap();
        assert_eq!(
            (o.decision, o.reasons[0].as_str()),
            (RecordDecision::Rejected, reason)
        );
        assert_clean_end(&w);
    }
}

#[test]
fn a_genuine_qr_with_a_still_photo_is_stopped_by_the_challenge() {
    let mut w = World::new();
    start_qr(&mut w);
    w.send(Input::Face(FaceEvent::QrRead(Private::new(QR_GOOD))))
        .unwrap();
    face_done(&mut w, FaceDecision::AttackSuspected);
    assert_eq!(w.screens.last.outcome, Some(Outcome::AttackSuspected));
    assert_eq!(w.screens.last.reason.as_deref(), Some("challenge.failed"));
    assert_eq!(
        w.records.outcomes.last().unwrap().2.decision,
        RecordDecision::Rejected
    );
    assert_clean_end(&w);
}

#[test]
fn no_qr_in_time_or_a_lost_camera_end_cleanly() {
    let mut w = World::new();
    start_qr(&mut w);
    w.advance(61_000);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Cancelled));
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_TIMEOUT_QR));
    assert_clean_end(&w);

    let mut w = World::new();
    start_qr(&mut w);
    w.send(Input::Face(FaceEvent::CameraLost)).unwrap();
    assert_eq!(w.step(), StepId::CameraLost);
    assert!(!w.face.running);
    w.send(Input::Face(FaceEvent::CameraBack)).unwrap();
    assert_eq!(w.step(), StepId::ScanQr, "scanning again");
    assert_eq!(w.face.scans, 2);
}

fn flagged() -> madoguchi_flow::ports::DuplicateAnswer {
    madoguchi_flow::ports::DuplicateAnswer {
        flagged: true,
        matches: 1,
        best_score: Some(0.91),
    }
}

/// Enrollment up to the duplicate check's question, answered by the test.
fn at_duplicate_check(w: &mut World) -> (String, String) {
    w.backend.auto_duplicate = None;
    verified_at_review(w);
    w.send(Input::ConfirmEnroll).unwrap();
    face_done(w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::DuplicateCheck);
    assert!(
        w.credentials.issued.is_empty(),
        "nothing issued before the check"
    );
    let ids: Vec<String> = w.records.sessions.keys().cloned().collect();
    let req = w.backend.duplicates.last().unwrap();
    assert_eq!(req.session_id, ids[1]);
    assert_eq!(req.identity_session_id, ids[0]);
    assert!(!req.template.0.expose().is_empty());
    (ids[0].clone(), ids[1].clone())
}

#[test]
fn a_face_enrolled_under_another_identity_is_flagged_for_the_teller_before_issuing() {
    let mut w = World::new();
    let (_, enroll_id) = at_duplicate_check(&mut w);
    w.answer_duplicate(Ok(flagged())).unwrap();
    assert_eq!(w.step(), StepId::DuplicateReview);
    assert_eq!(w.screens.last.teller, m::T_DUPLICATE_REVIEW);
    assert!(w.screens.last.actions.confirm && w.screens.last.actions.cancel);
    assert!(w.credentials.issued.is_empty());
    // The teller checked the documents and issues.
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::ShowQr);
    let (s, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!((s, o.decision), (&enroll_id, RecordDecision::Accepted));
    assert_eq!(o.reasons[0], m::R_ISSUED);
    assert!(o.reasons.iter().any(|r| r == m::R_DUPLICATE_FLAGGED));
    assert!(
        o.scores
            .iter()
            .any(|(k, v)| *k == "duplicate_best_score" && (*v - 0.91).abs() < 1e-6)
    );

    // Or cancels: nothing issued, the refusal recorded.
    let mut w = World::new();
    let (_, enroll_id) = at_duplicate_check(&mut w);
    w.answer_duplicate(Ok(flagged())).unwrap();
    w.send(Input::Cancel(m::R_CANCELLED_TELLER)).unwrap();
    assert!(w.credentials.issued.is_empty());
    let (s, _, o) = w.records.outcomes.last().unwrap();
    assert_eq!((s, o.decision), (&enroll_id, RecordDecision::Rejected));
    assert_eq!(
        o.reasons[..2],
        [m::R_DUPLICATE_REFUSED, m::R_DUPLICATE_FLAGGED]
    );
    assert_clean_end(&w);
}

#[test]
fn no_duplicate_issues_and_an_unanswered_check_issues_unchecked_with_a_notice() {
    let mut w = World::new();
    at_duplicate_check(&mut w);
    w.answer_duplicate(Ok(madoguchi_flow::ports::DuplicateAnswer {
        flagged: false,
        matches: 0,
        best_score: Some(0.2),
    }))
    .unwrap();
    assert_eq!(w.step(), StepId::ShowQr);
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert!(o.reasons.iter().any(|r| r == m::R_DUPLICATE_NONE));

    let mut w = World::new();
    at_duplicate_check(&mut w);
    w.answer_duplicate(Err("binding.unreachable")).unwrap();
    assert_eq!(w.step(), StepId::ShowQr);
    assert_eq!(
        w.screens.last.teller_notice.as_deref(),
        Some(m::N_DUPLICATE_UNCHECKED)
    );
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert!(o.reasons.iter().any(|r| r == m::R_DUPLICATE_UNCHECKED));

    let mut w = World::new();
    at_duplicate_check(&mut w);
    w.advance(31_000);
    assert_eq!(w.step(), StepId::ShowQr);
    // A late answer changes nothing.
    let _ = w.answer_duplicate(Ok(flagged()));
    assert_eq!(w.step(), StepId::ShowQr);
    let (_, _, o) = w.records.outcomes.last().unwrap();
    assert!(o.reasons.iter().any(|r| r == m::R_DUPLICATE_UNCHECKED));
}
