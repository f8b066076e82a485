//! The identity verification procedure, step by step, over in-memory ports: both routes,
//! every card error a teller meets, the camera lost and back, the signature, review,
//! overrides, timeouts and the records each path leaves.
#![allow(clippy::unwrap_used)]

mod support;

use madoguchi_flow::ports::{
    EvidenceKind, FaceDecision, FaceEvent, RecordDecision, Route, SessionEnd, TellerRef, Turn,
};
use madoguchi_flow::view::{Outcome, StepId};
use madoguchi_flow::{ChallengeChoice, IdentityStart, Input, Start, messages as m};
use support::*;

fn start(route: Route, sign: bool) -> Input {
    Input::Start(Start::Identity(IdentityStart {
        teller: teller(),
        route,
        code_b: (route == Route::CodeB).then(|| code_b(SECURITY_CODE)),
        sign,
        challenge: ChallengeChoice::Random,
        with_my_number: false,
    }))
}

fn assert_clean_end(w: &World) {
    assert!(!w.counter.is_running());
    assert!(!w.counter.holds_secret() && !w.counter.holds_customer_data());
    assert_eq!(w.records.open_sessions(), 0);
    assert!(!w.card.open, "card session left open");
    assert!(!w.face.running, "camera left running");
}

#[test]
fn pin_route_end_to_end_records_everything_and_forgets_the_customer() {
    let mut w = World::new();
    w.send(start(Route::Pin, false)).unwrap();
    assert_eq!(w.step(), StepId::WaitCard);
    assert_eq!(w.screens.last.customer, m::C_PLACE_CARD);
    w.insert_card();
    assert_eq!(w.step(), StepId::PinEntry);
    assert_eq!(w.screens.last.tries, Some(3), "tries shown before typing");
    w.send(Input::Key(madoguchi_flow::Key::Char('1'))).unwrap();
    assert_eq!(w.screens.last.keypad_typed, Some(1));
    assert!(w.counter.holds_secret());
    w.send(Input::Key(madoguchi_flow::Key::Backspace)).unwrap();
    w.type_keys(PIN);
    assert!(!w.counter.holds_secret(), "the PIN is gone after the read");
    assert_eq!(w.step(), StepId::Face);
    assert!(w.face.running && w.screens.last.camera);
    assert_eq!(w.face.last_turn, Some(Turn::Left));
    assert!(w.screens.read_progress.last() == Some(&1.0));
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.screens.face_progress, 1);
    assert_eq!(w.step(), StepId::Review);
    assert!(w.screens.last.chip_shown && w.screens.last.actions.confirm);
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Verified));
    assert_clean_end(&w);
    // Records: chip photo hash and face image evidence, the outcome, the confirmation record.
    let kinds: Vec<_> = w.records.evidence.iter().map(|e| e.1).collect();
    assert_eq!(
        kinds,
        [EvidenceKind::ChipPhotoHash, EvidenceKind::FaceImage]
    );
    let (_, teller_id, o) = &w.records.outcomes[0];
    assert_eq!(teller_id, "t-001");
    assert_eq!(o.decision, RecordDecision::Accepted);
    assert!(
        o.scores
            .iter()
            .any(|(k, v)| *k == "face_similarity" && (*v - 0.71).abs() < 1e-6)
    );
    let json: serde_json::Value = serde_json::from_str(&w.records.confirmations[0].1).unwrap();
    assert_eq!(json["outcome"], "verified");
    assert_eq!(json["method"]["route"], "pin");
    assert_eq!(json["subject"]["name"], NAME);
    assert_eq!(json["subject"]["address"], ADDRESS);
    assert_eq!(json["face_match"]["outcome"], "match");
    assert_eq!(json["liveness"]["challenge_result"], "passed");
    assert_eq!(json["evidence"].as_array().unwrap().len(), 2);
    let (_, row) = w.records.last_session().unwrap();
    assert_eq!(row.end, Some((SessionEnd::Completed, m::R_MATCH.into())));
    // The result screen clears itself.
    w.advance(31_000);
    assert_eq!(w.step(), StepId::Idle);
    assert_eq!(w.screens.last.customer, m::C_IDLE);
}

#[test]
fn code_b_route_never_asks_for_a_pin_and_records_the_chip_images() {
    let mut w = World::new();
    w.card.pin_tries = 0; // a locked PIN does not matter on this route
    w.insert_card();
    w.send(start(Route::CodeB, false)).unwrap();
    assert_eq!(w.step(), StepId::Face, "card present: read at once");
    face_done(&mut w, FaceDecision::Match);
    w.send(Input::Confirm).unwrap();
    assert_clean_end(&w);
    let json: serde_json::Value = serde_json::from_str(&w.records.confirmations[0].1).unwrap();
    assert_eq!(json["method"]["route"], "code_b");
    assert!(json["subject"].get("name").is_none());
    assert!(
        json["subject"]["name_image_png_b64"]
            .as_str()
            .unwrap()
            .len()
            > 4
    );
}

#[test]
fn wrong_code_b_goes_back_to_the_teller_and_a_malformed_one_is_refused_at_once() {
    let mut w = World::new();
    w.insert_card();
    let bad = Input::Start(Start::Identity(IdentityStart {
        teller: teller(),
        route: Route::CodeB,
        code_b: Some(code_b("22a5")),
        sign: false,
        challenge: ChallengeChoice::None,
        with_my_number: false,
    }));
    assert_eq!(w.send(bad).unwrap_err().0, "code_b.security_code_invalid");
    assert!(w.records.sessions.is_empty(), "nothing started");
    let wrong = Input::Start(Start::Identity(IdentityStart {
        teller: teller(),
        route: Route::CodeB,
        code_b: Some(code_b("0000")),
        sign: false,
        challenge: ChallengeChoice::None,
        with_my_number: false,
    }));
    w.send(wrong).unwrap();
    assert_eq!(w.step(), StepId::CodeBEntry);
    assert_eq!(
        w.screens.last.teller_notice.as_deref(),
        Some(m::N_CODE_B_WRONG)
    );
    assert_eq!(w.card.code_b_tries, 9);
    assert!(!w.counter.holds_secret(), "the wrong code is dropped");
    w.send(Input::CodeB(code_b(SECURITY_CODE))).unwrap();
    assert_eq!(w.step(), StepId::Face);
    assert_eq!(w.face.last_turn, None, "no challenge asked");
}

#[test]
fn wrong_pin_shows_tries_and_one_try_left_is_refused_before_any_verify() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys("0000");
    assert_eq!(w.step(), StepId::PinEntry);
    assert_eq!(w.screens.last.tries, Some(2));
    assert_eq!(
        w.screens.last.customer_notice.as_deref(),
        Some(m::N_PIN_WRONG)
    );
    w.type_keys("9999");
    // One try left now: the kiosk does not ask again.
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Refused));
    assert_eq!(
        w.screens.last.reason.as_deref(),
        Some("card.pin.one_try_left")
    );
    assert_eq!(w.card.pin_tries, 1);
    assert_clean_end(&w);
    // A new procedure on the same card is refused at the tries read.
    w.send(start(Route::Pin, false)).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.card.pin_tries, 1, "the last try was kept");
    assert!(!w.card.sent_on_last_try);
    let o = &w.records.outcomes.last().unwrap().2;
    assert_eq!(o.decision, RecordDecision::Referred);
    assert_eq!(w.screens.last.customer, m::C_DONE_MUNICIPALITY);
    assert!(w.records.confirmations.is_empty());
}

#[test]
fn locked_card_is_refused() {
    let mut w = World::new();
    w.card.pin_tries = 0;
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    assert_eq!(w.screens.last.reason.as_deref(), Some("card.pin.locked"));
    assert!(!w.card.sent_on_last_try);
    assert_clean_end(&w);
}

#[test]
fn card_pulled_mid_read_resumes_when_it_is_back_and_is_given_up_after_the_deadline() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.card.script = CardScript::RemovedDuringRead;
    w.type_keys(PIN);
    assert_eq!(w.step(), StepId::CardBack);
    assert_eq!(w.screens.last.customer, m::C_CARD_BACK);
    assert!(w.counter.holds_secret(), "the PIN waits for its read");
    w.send(madoguchi_flow::Input::CardRemoved).unwrap(); // the late event
    w.insert_card();
    assert_eq!(w.step(), StepId::Face, "the read resumed");
    assert!(!w.counter.holds_secret());
    assert_eq!(w.card.reads, 1);

    // Pulled again, and not put back in time: the PIN is dropped, nothing is recorded as done.
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.card.script = CardScript::RemovedDuringRead;
    w.type_keys(PIN);
    w.advance(46_000);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(
        w.screens.last.reason.as_deref(),
        Some(m::R_TIMEOUT_CARD_BACK)
    );
    assert_clean_end(&w);
    let (_, row) = w.records.last_session().unwrap();
    assert_eq!(row.end.as_ref().unwrap().0, SessionEnd::Cancelled);
}

#[test]
fn a_cloned_card_is_an_attack_and_a_reader_failure_ends_the_session_as_failed() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.card.script = CardScript::Clone;
    w.type_keys(PIN);
    assert_eq!(w.screens.last.outcome, Some(Outcome::AttackSuspected));
    assert_eq!(
        w.screens.last.reason.as_deref(),
        Some("card.clone_suspected")
    );
    assert_clean_end(&w);

    w.send(Input::Next).unwrap();
    w.send(start(Route::Pin, false)).unwrap();
    w.card.script = CardScript::DeviceError;
    w.type_keys(PIN);
    assert_eq!(w.screens.last.outcome, Some(Outcome::Cancelled));
    let (_, row) = w.records.last_session().unwrap();
    assert_eq!(row.end, Some((SessionEnd::Failed, "reader.gone".into())));
    assert_clean_end(&w);
}

#[test]
fn camera_lost_waits_and_restarts_the_check() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    w.send(Input::Face(FaceEvent::CameraLost)).unwrap();
    assert_eq!(w.step(), StepId::CameraLost);
    assert!(!w.face.running);
    // Late events of the stopped check change nothing.
    w.send(Input::Face(FaceEvent::Done(Box::new(result(
        FaceDecision::Match,
    )))))
    .unwrap();
    assert_eq!(w.step(), StepId::CameraLost);
    w.send(Input::Face(FaceEvent::CameraBack)).unwrap();
    assert_eq!(w.step(), StepId::Face);
    assert_eq!(w.face.starts, 2);
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::Review);

    // No camera at all: given up after its deadline.
    let mut w = World::new();
    w.face.camera_missing = true;
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    assert_eq!(w.step(), StepId::CameraLost);
    w.advance(61_000);
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_TIMEOUT_CAMERA));
    assert_clean_end(&w);
}

#[test]
fn mismatch_and_attack_are_proposed_and_the_teller_can_override_with_a_reason() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::NoMatch);
    assert_eq!(w.step(), StepId::Review);
    assert_eq!(
        w.send(Input::Override {
            accept: true,
            reason: "   ".into(),
            approver: Some(supervisor()),
        })
        .unwrap_err()
        .0,
        m::N_REASON_REQUIRED
    );
    assert_eq!(w.step(), StepId::Review);
    // Four eyes: no approver, an unverified one, or the teller themself is refused.
    let reason = "写真が10年前のもので髪型が違う。運転免許証で確認";
    for (approver, code) in [
        (None, m::N_APPROVAL_REQUIRED),
        (
            Some(TellerRef {
                id: "sup-1".into(),
                verified: false,
            }),
            m::N_APPROVAL_REQUIRED,
        ),
        (Some(teller()), m::N_APPROVER_SAME),
    ] {
        let refused = w
            .send(Input::Override {
                accept: true,
                reason: reason.into(),
                approver,
            })
            .unwrap_err();
        assert_eq!(refused.0, code);
        assert_eq!(w.step(), StepId::Review, "{code}: still at review");
        assert!(w.records.overrides.is_empty(), "{code}: nothing recorded");
    }
    w.send(Input::Override {
        accept: true,
        reason: reason.into(),
        approver: Some(supervisor()),
    })
    .unwrap();
    assert_eq!(w.screens.last.outcome, Some(Outcome::Verified));
    let o = &w.records.outcomes[0].2;
    assert_eq!(
        o.decision,
        RecordDecision::Rejected,
        "the kiosk's own decision"
    );
    assert_eq!(w.records.overrides[0].1, RecordDecision::Accepted);
    assert_eq!(
        w.records.overrides[0].3, "sup-1",
        "the approver is recorded"
    );
    let json: serde_json::Value = serde_json::from_str(&w.records.confirmations[0].1).unwrap();
    assert_eq!(json["override"]["decision"], "accepted");
    assert_eq!(json["override"]["teller_id"], "t-001");
    assert_eq!(json["override"]["approved_by"], "sup-1");
    assert_eq!(json["verified_by"]["teller_verified"], true);
    assert_eq!(json["face_match"]["outcome"], "no_match");

    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::AttackSuspected);
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.screens.last.outcome, Some(Outcome::AttackSuspected));
    assert_eq!(w.screens.last.reason.as_deref(), Some("challenge.failed"));
}

#[test]
fn signature_after_a_match_with_wrong_password_and_skip() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, true)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::SignEntry);
    w.type_keys("wrong1");
    assert_eq!(w.step(), StepId::SignEntry);
    assert_eq!(
        w.screens.last.customer_notice.as_deref(),
        Some(m::N_PASSWORD_WRONG)
    );
    assert_eq!(w.screens.last.tries, Some(4));
    w.type_keys("hopper2024");
    assert_eq!(w.step(), StepId::Review);
    w.send(Input::Confirm).unwrap();
    let kinds: Vec<_> = w.records.evidence.iter().map(|e| e.1).collect();
    assert!(kinds.contains(&EvidenceKind::Signature));
    let json: serde_json::Value = serde_json::from_str(&w.records.confirmations[0].1).unwrap();
    assert_eq!(json["method"]["signature_evidence"], true);

    // A card without a signing certificate skips it; the teller may skip it too.
    let mut w = World::new();
    w.card.has_sign = false;
    w.insert_card();
    w.send(start(Route::Pin, true)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::Match);
    assert_eq!(w.step(), StepId::Review);
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, true)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::Match);
    w.send(Input::Key(madoguchi_flow::Key::Char('A'))).unwrap();
    w.send(Input::SkipSign).unwrap();
    assert_eq!(w.step(), StepId::Review);
    assert!(!w.counter.holds_secret());
}

#[test]
fn inactivity_at_review_wipes_the_customer_and_records_the_cancel() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::Match);
    assert!(w.counter.holds_customer_data());
    w.advance(179_000);
    assert_eq!(w.step(), StepId::Review, "not yet");
    w.advance(2_000);
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.screens.last.reason.as_deref(), Some(m::R_INACTIVITY));
    assert_clean_end(&w);
    assert!(w.records.confirmations.is_empty() && w.records.outcomes.is_empty());
    let (_, row) = w.records.last_session().unwrap();
    assert_eq!(
        row.end,
        Some((SessionEnd::Cancelled, m::R_INACTIVITY.into()))
    );
}

#[test]
fn a_failed_write_keeps_the_review_and_the_retry_writes_each_record_once() {
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    face_done(&mut w, FaceDecision::Match);
    w.records.fail_writes = 1;
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::Review);
    assert_eq!(
        w.screens.last.teller_notice.as_deref(),
        Some(m::N_RECORD_FAILED)
    );
    assert!(w.counter.holds_customer_data(), "nothing lost");
    w.send(Input::Confirm).unwrap();
    assert_eq!(w.step(), StepId::Result);
    assert_eq!(w.records.evidence.len(), 2);
    assert_eq!(w.records.outcomes.len(), 1);
    assert_eq!(w.records.confirmations.len(), 1);
}

#[test]
fn teller_actions_are_refused_outside_their_steps() {
    let mut w = World::new();
    for input in [
        Input::Confirm,
        Input::Next,
        Input::SkipSign,
        Input::Cancel(m::R_CANCELLED_TELLER),
    ] {
        assert!(w.send(input).is_err());
    }
    assert!(w.send(Input::Key(madoguchi_flow::Key::Char('1'))).is_err());
    w.send(start(Route::Pin, false)).unwrap();
    assert_eq!(w.send(start(Route::Pin, false)).unwrap_err().0, "flow.busy");
    w.send(Input::Cancel(m::R_CANCELLED_TELLER)).unwrap();
    assert_eq!(w.screens.last.outcome, Some(Outcome::Cancelled));
    assert_clean_end(&w);
}

#[test]
fn my_number_is_read_only_when_asked_and_never_in_the_confirmation_record() {
    let mut w = World::new();
    w.insert_card();
    w.send(Input::Start(Start::Identity(IdentityStart {
        teller: teller(),
        route: Route::Pin,
        code_b: None,
        sign: false,
        challenge: ChallengeChoice::Right,
        with_my_number: true,
    })))
    .unwrap();
    w.type_keys(PIN);
    assert_eq!(w.card.my_number_reads, 1);
    face_done(&mut w, FaceDecision::Match);
    w.send(Input::Confirm).unwrap();
    let stored: Vec<_> = w
        .records
        .evidence
        .iter()
        .filter(|e| e.1 == EvidenceKind::MyNumber)
        .collect();
    assert_eq!(stored.len(), 1);
    // The fake sink also asserts the record never carries it.
    assert!(!w.records.confirmations[0].1.contains(MY_NUMBER));
    // And an ordinary verification never reads it.
    let mut w = World::new();
    w.insert_card();
    w.send(start(Route::Pin, false)).unwrap();
    w.type_keys(PIN);
    assert_eq!(w.card.my_number_reads, 0);
}
