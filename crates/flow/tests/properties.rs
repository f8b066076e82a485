//! Property tests of the procedure engine over random sequences of inputs and device
//! behaviour: no dead end (every step ends by itself), every started procedure ends with its
//! session closed, a secret lives only in the steps that use it, no customer data outside a
//! running procedure, no PIN sent with one try left, the card released and the camera stopped
//! at every end.
#![allow(clippy::unwrap_used)]

mod support;

use madoguchi_flow::ports::{
    CapturedFace, ChallengeResult, FaceDecision, FaceEvent, FaceProgress, FaceResult, LiveTemplate,
    Private, PrivateBytes, Route, Turn,
};
use madoguchi_flow::view::StepId;
use madoguchi_flow::{
    ChallengeChoice, IdentityStart, Input, Key, QrAuthStart, Start, messages as m,
};
use proptest::prelude::*;
use support::*;

#[derive(Debug, Clone)]
enum Act {
    Start {
        code_b: bool,
        sign: bool,
        good_code: bool,
    },
    Digit(char),
    Letter(char),
    Enter,
    Backspace,
    TypePin {
        right: bool,
    },
    TypePassword {
        right: bool,
    },
    Insert,
    Remove,
    Script(CardScript),
    PinTries(u8),
    Progress,
    Done(u8),
    CameraLost,
    CameraBack,
    FaceFailed,
    Confirm,
    Override {
        accept: bool,
        reason: bool,
    },
    SkipSign,
    Cancel,
    Next,
    CodeB {
        good: bool,
    },
    Tick(u64),
    FailWrite,
    StartQr {
        rebind: bool,
    },
    ConfirmEnroll,
    ConfirmRebind,
    QrRead(u8),
    IssueFault,
    /// The backend answers the last binding-code request (a code, or a refusal).
    BindingAnswer {
        ok: bool,
    },
    /// Duplicate checks are answered by the test from now on (or again automatically).
    DuplicateManual(bool),
    /// The backend answers the last duplicate check (0: none, 1: flagged, 2: unreachable).
    DuplicateAnswer(u8),
}

fn act() -> impl Strategy<Value = Act> {
    prop_oneof![
        3 => (any::<bool>(), any::<bool>(), any::<bool>())
            .prop_map(|(code_b, sign, good_code)| Act::Start { code_b, sign, good_code }),
        2 => prop::char::range('0', '9').prop_map(Act::Digit),
        1 => prop::char::range('A', 'Z').prop_map(Act::Letter),
        2 => Just(Act::Enter),
        1 => Just(Act::Backspace),
        3 => any::<bool>().prop_map(|right| Act::TypePin { right }),
        2 => any::<bool>().prop_map(|right| Act::TypePassword { right }),
        3 => Just(Act::Insert),
        2 => Just(Act::Remove),
        1 => prop_oneof![
            Just(CardScript::RemovedDuringRead),
            Just(CardScript::Clone),
            Just(CardScript::DeviceError),
        ].prop_map(Act::Script),
        1 => (0u8..=3).prop_map(Act::PinTries),
        2 => Just(Act::Progress),
        3 => (0u8..4).prop_map(Act::Done),
        1 => Just(Act::CameraLost),
        1 => Just(Act::CameraBack),
        1 => Just(Act::FaceFailed),
        2 => Just(Act::Confirm),
        1 => (any::<bool>(), any::<bool>()).prop_map(|(accept, reason)| Act::Override { accept, reason }),
        1 => Just(Act::SkipSign),
        1 => Just(Act::Cancel),
        1 => Just(Act::Next),
        1 => any::<bool>().prop_map(|good| Act::CodeB { good }),
        3 => prop_oneof![0u64..2_000, 0u64..200_000].prop_map(Act::Tick),
        1 => Just(Act::FailWrite),
        1 => any::<bool>().prop_map(|rebind| Act::StartQr { rebind }),
        2 => Just(Act::ConfirmEnroll),
        2 => Just(Act::ConfirmRebind),
        2 => any::<bool>().prop_map(|ok| Act::BindingAnswer { ok }),
        1 => any::<bool>().prop_map(Act::DuplicateManual),
        2 => (0u8..3).prop_map(Act::DuplicateAnswer),
        2 => (0u8..3).prop_map(Act::QrRead),
        1 => Just(Act::IssueFault),
    ]
}

fn face_result(kind: u8) -> FaceResult {
    let decision = [
        FaceDecision::Match,
        FaceDecision::NoMatch,
        FaceDecision::AttackSuspected,
        FaceDecision::NoFace,
    ][usize::from(kind % 4)];
    FaceResult {
        decision,
        reasons: vec![],
        score: (decision != FaceDecision::NoFace).then_some(0.5),
        threshold: Some(0.48),
        model: "sface",
        quality: None,
        passive: None,
        challenge: Some((Turn::Right, ChallengeResult::Passed)),
        capture: (decision != FaceDecision::NoFace).then(|| CapturedFace {
            jpeg: PrivateBytes::new(vec![0xFF, 0xD8]),
            sha256: [1; 32],
        }),
        decision_ms: None,
        template: (decision == FaceDecision::Match)
            .then(|| LiveTemplate(PrivateBytes::new(b"live-template".to_vec()))),
    }
}

fn apply(w: &mut World, a: &Act) {
    let _ = match a.clone() {
        Act::Start {
            code_b: cb,
            sign,
            good_code,
        } => w.send(Input::Start(Start::Identity(IdentityStart {
            teller: teller(),
            route: if cb { Route::CodeB } else { Route::Pin },
            code_b: cb.then(|| code_b(if good_code { SECURITY_CODE } else { "0000" })),
            sign,
            challenge: ChallengeChoice::Random,
            with_my_number: false,
        }))),
        Act::Digit(c) | Act::Letter(c) => w.send(Input::Key(Key::Char(c))),
        Act::Enter => w.send(Input::Key(Key::Enter)),
        Act::Backspace => w.send(Input::Key(Key::Backspace)),
        Act::TypePin { right } => {
            for c in (if right { PIN } else { "0000" }).chars() {
                let _ = w.send(Input::Key(Key::Char(c)));
            }
            w.send(Input::Key(Key::Enter))
        }
        Act::TypePassword { right } => {
            for c in (if right { PASSWORD } else { "WRONG99" }).chars() {
                let _ = w.send(Input::Key(Key::Char(c)));
            }
            w.send(Input::Key(Key::Enter))
        }
        Act::Insert => {
            w.card.present = true;
            w.send(Input::CardInserted)
        }
        Act::Remove => {
            w.card.present = false;
            w.card.open = false;
            w.send(Input::CardRemoved)
        }
        Act::Script(s) => {
            w.card.script = s;
            Ok(())
        }
        Act::PinTries(n) => {
            // Another program (or a previous visit) changed the counter.
            if !w.counter.is_running() {
                w.card.pin_tries = n;
            }
            Ok(())
        }
        Act::Progress => w.send(Input::Face(FaceEvent::Progress(FaceProgress {
            challenge: true,
            guidance: "face.turn_right",
            progress: 0.3,
            faces: 1,
            quality: None,
            face_box: Some([0.3, 0.2, 0.3, 0.4]),
        }))),
        Act::Done(k) => {
            if w.face.running {
                w.send(Input::Face(FaceEvent::Done(Box::new(face_result(k)))))
            } else {
                // A stale result from a stopped check.
                w.send(Input::Face(FaceEvent::Done(Box::new(face_result(k)))))
            }
        }
        Act::CameraLost => w.send(Input::Face(FaceEvent::CameraLost)),
        Act::CameraBack => w.send(Input::Face(FaceEvent::CameraBack)),
        Act::FaceFailed => w.send(Input::Face(FaceEvent::Failed("face.model_error"))),
        Act::Confirm => w.send(Input::Confirm),
        Act::Override { accept, reason } => w.send(Input::Override {
            accept,
            approver: Some(supervisor()),
            reason: if reason {
                "確認済み".into()
            } else {
                String::new()
            },
        }),
        Act::SkipSign => w.send(Input::SkipSign),
        Act::Cancel => w.send(Input::Cancel(m::R_CANCELLED_TELLER)),
        Act::Next => w.send(Input::Next),
        Act::CodeB { good } => w.send(Input::CodeB(code_b(if good {
            SECURITY_CODE
        } else {
            "1111"
        }))),
        Act::Tick(ms) => {
            w.advance(ms);
            Ok(())
        }
        Act::FailWrite => {
            w.records.fail_writes = 1;
            Ok(())
        }
        Act::StartQr { rebind } => w.send(Input::Start(Start::QrAuth(QrAuthStart {
            teller: teller(),
            challenge: ChallengeChoice::Random,
            rebind,
        }))),
        Act::ConfirmEnroll => w.send(Input::ConfirmEnroll),
        Act::ConfirmRebind => w.send(Input::ConfirmRebind),
        Act::DuplicateManual(manual) => {
            w.backend.auto_duplicate =
                (!manual).then_some(madoguchi_flow::ports::DuplicateAnswer {
                    flagged: false,
                    matches: 0,
                    best_score: None,
                });
            Ok(())
        }
        Act::DuplicateAnswer(k) => {
            if w.backend.duplicates.is_empty() {
                Ok(())
            } else {
                w.answer_duplicate(match k {
                    0 => Ok(madoguchi_flow::ports::DuplicateAnswer {
                        flagged: false,
                        matches: 0,
                        best_score: None,
                    }),
                    1 => Ok(madoguchi_flow::ports::DuplicateAnswer {
                        flagged: true,
                        matches: 2,
                        best_score: Some(0.8),
                    }),
                    _ => Err("binding.unreachable"),
                })
            }
        }
        Act::BindingAnswer { ok } => {
            if w.backend.requests.is_empty() {
                Ok(())
            } else {
                w.answer_binding(300_000, (!ok).then_some("binding.revoked"))
            }
        }
        Act::QrRead(k) => w.send(Input::Face(FaceEvent::QrRead(Private::new(
            [QR_GOOD, QR_REVOKED, "junk"][usize::from(k % 3)],
        )))),
        Act::IssueFault => {
            w.credentials.issue_fault = Some("trust.stale");
            Ok(())
        }
    };
}

fn check(w: &World, trail: &[Act]) {
    let c = &w.counter;
    assert!(
        !c.holds_secret() || c.in_secret_step(),
        "a secret outside its step ({:?}) after {trail:?}",
        c.step()
    );
    assert!(
        !w.card.sent_on_last_try,
        "a PIN sent with one try left after {trail:?}"
    );
    if !c.is_running() {
        assert!(!c.holds_secret() && !c.holds_customer_data(), "{trail:?}");
        // A close the ledger refused is kept for a retry, never forgotten.
        assert_eq!(
            w.records.open_sessions(),
            c.unclosed_sessions(),
            "a session left open after {trail:?}"
        );
        assert!(!w.card.open, "the card left open after {trail:?}");
        assert!(!w.face.running, "the camera left running after {trail:?}");
    }
    if matches!(c.step(), StepId::Face | StepId::ScanQr) {
        assert!(
            w.face.running,
            "face step without a running check after {trail:?}"
        );
        assert_eq!(w.face.scanning, c.step() == StepId::ScanQr, "{trail:?}");
    } else {
        assert!(
            !w.face.running,
            "a check running in {:?} after {trail:?}",
            c.step()
        );
    }
    if matches!(c.step(), StepId::Idle | StepId::Result) {
        assert!(
            !w.screens.last.chip_shown,
            "chip data on the {:?} screen",
            c.step()
        );
    }
    // The new credential's QR is shown only in its own step, and only once recorded.
    if w.screens.last.qr_shown && c.step() == StepId::ShowCode {
        // A binding code is shown only once its issue is recorded.
        assert!(
            w.records
                .outcomes
                .iter()
                .any(|(_, _, o)| o.reasons[0] == m::R_BINDING_ISSUED),
            "a binding code shown without its record after {trail:?}"
        );
    } else if w.screens.last.qr_shown {
        assert_eq!(c.step(), StepId::ShowQr, "{trail:?}");
        assert_eq!(
            w.records.credentials.len(),
            w.credentials.issued.len(),
            "a credential shown without its record after {trail:?}"
        );
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 600, .. ProptestConfig::default() })]

    #[test]
    fn every_sequence_keeps_the_invariants_and_ends(acts in prop::collection::vec(act(), 1..60)) {
        let mut w = World::new();
        let mut trail = Vec::new();
        for a in &acts {
            trail.push(a.clone());
            apply(&mut w, a);
            check(&w, &trail);
        }
        // No dead end: with nobody doing anything, every step ends by itself (a running
        // check's deadline included) and the counter comes back to idle.
        w.records.fail_writes = 0;
        for _ in 0..12 {
            w.advance(200_000);
            check(&w, &trail);
            if w.step() == StepId::Idle && w.counter.unclosed_sessions() == 0 {
                break;
            }
        }
        prop_assert_eq!(w.step(), StepId::Idle, "stuck after {:?}", trail);
        prop_assert!(!w.counter.holds_customer_data());
        // Every session ended; each one that recorded an outcome for a read card (not
        // refused) has exactly one confirmation record.
        for (id, row) in &w.records.sessions {
            prop_assert!(row.end.is_some(), "session {} never closed: {:?}", id, trail);
            let confirmations = w.records.confirmations.iter().filter(|c| &c.0 == id).count();
            prop_assert!(confirmations <= 1);
        }
    }

    #[test]
    fn cancel_ends_any_step(acts in prop::collection::vec(act(), 1..40)) {
        let mut w = World::new();
        for a in &acts {
            apply(&mut w, a);
        }
        w.records.fail_writes = 0;
        let was_running = w.counter.is_running();
        let r = w.send(Input::Cancel(m::R_CANCELLED_TELLER));
        if was_running {
            prop_assert!(r.is_ok());
            prop_assert_eq!(w.step(), StepId::Result);
            prop_assert!(!w.counter.holds_customer_data() && !w.counter.holds_secret());
            prop_assert_eq!(w.records.open_sessions(), w.counter.unclosed_sessions());
            w.advance(1);
            prop_assert_eq!(w.records.open_sessions(), 0, "the retried close");
        }
    }
}
