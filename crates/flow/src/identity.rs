//! Identity verification at the counter (身元確認) with the My Number card and the face.
//!
//! Two routes, chosen by the teller at the start:
//! - **PIN**: tries left are read first (free) and shown; with two or more the customer types
//!   the 4-digit PIN on the customer display's keypad; the card port reads the four
//!   attributes, the chip photo and the authentication certificate and verifies the text
//!   application's digests, the card-face signature and the chip challenge. One try left or a
//!   locked card: refused before any VERIFY (the customer is sent to the municipal office).
//! - **照合番号B**: the teller types the birth date, the card's expiry year and the security code
//!   from the card face; the card port reads and verifies the 券面事項確認AP. The My Number is
//!   never touched.
//!
//! Then, both: the live check with the head-turn challenge against the chip photo; on a match,
//! optionally the JPKI evidence signature (signing password on the alphanumeric keypad)
//! binding the captured face; the teller reviews the chip data beside the live face and the
//! score, then confirms or overrides with a written reason; the evidence, the outcome, any
//! override and the confirmation record (確認記録) are written and the session closed.
//!
//! A card taken off mid-read is waited for (the PIN is kept only until the read it is for has
//! finished or been given up); a lost camera is waited for and the check restarted. Every
//! step has a deadline ([`crate::Timeouts`]).
//!
//! What it does not do: touch a device, the ledger or a window (the ports do), or decide on
//! faces (the face port does; this module only turns its decision into an outcome).

use crate::engine::{Cx, Ending, Flow, Input, ProcView, Procedure, Refusal};
use crate::enroll::{EnrollStart, Enrollment};
pub use crate::face_step::ChallengeChoice;
use crate::face_step::{CameraStart, camera_start, outcome_record, proposal};
use crate::keypad::{Keypad, KeypadKind, Secret, SecretEntry, Typed};
use crate::messages as m;
use crate::ports::{
    BindingProof, CardFault, ChipData, CodeBInput, EvidenceBinding, EvidenceKind, FaceDecision,
    FaceEvent, FaceReference, FaceRequest, FaceResult, Millis, OutcomeRecord, ProcedureKind,
    RecordDecision, Route, SessionEnd, SignedEvidence, TellerRef, Tries,
};
use crate::rebind::Rebinding;
use crate::record::{ConfirmationRecord, Context, Override};
use crate::view::{
    Actions, CustomerPanel, KeypadView, Msg, Outcome, Picture, ResultSummary, SignatureState,
    StepId, TellerPanel,
};

/// How the teller starts an identity verification.
#[derive(Debug)]
pub struct IdentityStart {
    /// The teller at the counter.
    pub teller: TellerRef,
    /// PIN or 照合番号B.
    pub route: Route,
    /// 照合番号B, for that route.
    pub code_b: Option<CodeBInput>,
    /// Ask for the JPKI evidence signature after a match.
    pub sign: bool,
    /// The head-turn challenge.
    pub challenge: ChallengeChoice,
    /// The procedure needs the My Number (PIN route only; the customer is told, and it is
    /// kept sealed, never shown).
    pub with_my_number: bool,
}

/// Where a step interrupted by the card leaving goes on when it is back.
enum Resume {
    /// Read the PIN tries (nothing typed yet).
    PinTries,
    /// Read with this PIN (typed, the read did not finish).
    PinRead(Secret),
    /// Read with 照合番号B (held in `code_b`).
    CodeBRead,
    /// Read the signing password's tries.
    SignTries,
    /// Sign with this password.
    Sign(Secret),
}

/// Work announced by a step and run once the screens show it.
enum Pending {
    ReadPin(Secret),
    ReadCodeB,
    Sign(Secret),
    /// Write the records (with the teller's override, if any).
    Record(Option<(bool, String, TellerRef)>),
}

enum Step {
    WaitCard {
        until: Millis,
    },
    CodeBEntry {
        until: Millis,
    },
    PinEntry {
        keypad: Keypad,
        tries: Option<u8>,
        until: Millis,
    },
    Reading {
        until: Millis,
    },
    CardBack {
        resume: Resume,
        until: Millis,
    },
    Face {
        until: Millis,
    },
    CameraLost {
        until: Millis,
    },
    SignEntry {
        keypad: Keypad,
        tries: Option<u8>,
        until: Millis,
    },
    Signing {
        until: Millis,
    },
    Review {
        until: Millis,
    },
    Recording {
        until: Millis,
    },
}

/// What has been written so far at the end (a retry after a failed write goes on from here).
#[derive(Default)]
struct Written {
    evidence: Option<Vec<String>>,
    outcome_id: Option<String>,
    override_done: bool,
    confirmation_id: Option<String>,
}

/// What follows a verified identity in the same visit, as the teller chose at review.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum After {
    /// The visit ends with the identity verification.
    Nothing,
    /// A face credential is issued (the chip photo moves to the enrollment).
    Enroll,
    /// The customer's passkey device is re-bound.
    Rebind,
}

/// The identity verification procedure.
pub struct IdentityVerification {
    route: Route,
    sign: bool,
    challenge: ChallengeChoice,
    with_my_number: bool,
    code_b: Option<CodeBInput>,
    step: Step,
    tries: Option<u8>,
    chip: Option<ChipData>,
    face: Option<FaceResult>,
    evidence: Option<SignedEvidence>,
    signature: Option<SignatureState>,
    attempt: u32,
    notice: Option<Msg>,
    written: Written,
    pending: Option<Pending>,
    /// What the teller asked for after the confirmation.
    after: After,
}

impl std::fmt::Debug for IdentityVerification {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityVerification")
            .field("route", &self.route)
            .field("step", &self.step_id())
            .finish_non_exhaustive()
    }
}

fn summary(outcome: Outcome, reason: &'static str) -> ResultSummary {
    ResultSummary::ended(outcome, reason)
}

impl IdentityVerification {
    /// Checks the request (a malformed 照合番号B is refused before anything happens).
    pub fn new(s: IdentityStart) -> Result<Self, Refusal> {
        match s.route {
            Route::CodeB => match &s.code_b {
                None => return Err(Refusal("code_b.missing")),
                Some(c) => c.check().map_err(Refusal)?,
            },
            Route::Pin if s.code_b.is_some() => return Err(Refusal("code_b.not_for_pin_route")),
            Route::Pin => {}
        }
        Ok(IdentityVerification {
            route: s.route,
            sign: s.sign,
            challenge: s.challenge,
            with_my_number: s.with_my_number && s.route == Route::Pin,
            code_b: s.code_b,
            step: Step::WaitCard { until: 0 },
            tries: None,
            chip: None,
            face: None,
            evidence: None,
            signature: s.sign.then_some(SignatureState::Pending),
            attempt: 0,
            notice: None,
            written: Written::default(),
            pending: None,
            after: After::Nothing,
        })
    }

    fn step_id(&self) -> StepId {
        match &self.step {
            Step::WaitCard { .. } => StepId::WaitCard,
            Step::CodeBEntry { .. } => StepId::CodeBEntry,
            Step::PinEntry { .. } => StepId::PinEntry,
            Step::Reading { .. } => StepId::Reading,
            Step::CardBack { .. } => StepId::CardBack,
            Step::Face { .. } => StepId::Face,
            Step::CameraLost { .. } => StepId::CameraLost,
            Step::SignEntry { .. } => StepId::SignEntry,
            Step::Signing { .. } => StepId::Signing,
            Step::Review { .. } => StepId::Review,
            Step::Recording { .. } => StepId::Recording,
        }
    }

    fn go(&mut self, step: Step) {
        self.step = step;
    }

    fn wait_card(&mut self, cx: &Cx<'_, '_>) {
        self.go(Step::WaitCard {
            until: cx.now + cx.settings.timeouts.wait_card,
        });
    }

    /// The card is on the reader: the route's first card step.
    fn card_step(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        match self.route {
            Route::Pin => self.pin_tries(cx),
            Route::CodeB => self.read_code_b(cx),
        }
    }

    fn pin_tries(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        match cx.ports.card.pin_tries() {
            Ok(Tries::Left(n)) if n >= 2 => {
                self.tries = Some(n);
                self.go(Step::PinEntry {
                    keypad: Keypad::new(KeypadKind::Pin),
                    tries: Some(n),
                    until: cx.now + cx.settings.timeouts.pin_entry,
                });
                Flow::Continue
            }
            Ok(Tries::Unlimited) => {
                self.go(Step::PinEntry {
                    keypad: Keypad::new(KeypadKind::Pin),
                    tries: None,
                    until: cx.now + cx.settings.timeouts.pin_entry,
                });
                Flow::Continue
            }
            Ok(Tries::Left(n)) => self.refuse(cx, n),
            Err(f) => self.card_fault(f, Resume::PinTries, cx),
        }
    }

    /// Announces the PIN read: the screens show "reading" first, then it runs.
    fn read_pin(&mut self, pin: Secret, cx: &mut Cx<'_, '_>) -> Flow {
        self.pending = Some(Pending::ReadPin(pin));
        self.go(Step::Reading {
            until: cx.now + cx.settings.timeouts.card_back,
        });
        Flow::Continue
    }

    fn do_read_pin(&mut self, pin: Secret, cx: &mut Cx<'_, '_>) -> Flow {
        let Cx { ports, .. } = cx;
        let crate::ports::Ports { card, screens, .. } = &mut **ports;
        let read = card.read_with_pin(&pin, self.with_my_number, &mut |p| screens.read_progress(p));
        match read {
            Ok(chip) => {
                drop(pin);
                self.tries = chip.tries_before;
                self.chip = Some(chip);
                self.start_face(cx)
            }
            Err(CardFault::Wrong { tries_left }) => {
                drop(pin);
                self.tries = Some(tries_left);
                if tries_left >= 2 {
                    self.notice = Some(Msg::new(m::N_PIN_WRONG).with("tries", tries_left.into()));
                    self.go(Step::PinEntry {
                        keypad: Keypad::new(KeypadKind::Pin),
                        tries: Some(tries_left),
                        until: cx.now + cx.settings.timeouts.pin_entry,
                    });
                    Flow::Continue
                } else {
                    self.refuse(cx, tries_left)
                }
            }
            Err(CardFault::Removed | CardFault::NoCard) => {
                self.go(Step::CardBack {
                    resume: Resume::PinRead(pin),
                    until: cx.now + cx.settings.timeouts.card_back,
                });
                Flow::Continue
            }
            Err(f) => {
                drop(pin);
                self.card_fault(f, Resume::PinTries, cx)
            }
        }
    }

    fn read_code_b(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        if self.code_b.is_none() {
            self.go(Step::CodeBEntry {
                until: cx.now + cx.settings.timeouts.code_b_entry,
            });
            return Flow::Continue;
        }
        self.pending = Some(Pending::ReadCodeB);
        self.go(Step::Reading {
            until: cx.now + cx.settings.timeouts.card_back,
        });
        Flow::Continue
    }

    fn do_read_code_b(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let Some(code) = self.code_b.take() else {
            return self.read_code_b(cx);
        };
        let Cx { ports, .. } = cx;
        let crate::ports::Ports { card, screens, .. } = &mut **ports;
        let read = card.read_with_code_b(&code, &mut |p| screens.read_progress(p));
        match read {
            Ok(chip) => {
                drop(code);
                self.tries = chip.tries_before;
                self.chip = Some(chip);
                self.start_face(cx)
            }
            Err(CardFault::Wrong { tries_left }) => {
                drop(code);
                self.tries = Some(tries_left);
                if tries_left >= 2 {
                    self.notice =
                        Some(Msg::new(m::N_CODE_B_WRONG).with("tries", tries_left.into()));
                    self.go(Step::CodeBEntry {
                        until: cx.now + cx.settings.timeouts.code_b_entry,
                    });
                    Flow::Continue
                } else {
                    self.refuse(cx, tries_left)
                }
            }
            Err(CardFault::Removed | CardFault::NoCard) => {
                self.code_b = Some(code);
                self.go(Step::CardBack {
                    resume: Resume::CodeBRead,
                    until: cx.now + cx.settings.timeouts.card_back,
                });
                Flow::Continue
            }
            Err(f) => {
                drop(code);
                self.card_fault(f, Resume::CodeBRead, cx)
            }
        }
    }

    /// A card error outside the wrong-secret and removed cases (and those from tries reads).
    fn card_fault(&mut self, f: CardFault, resume: Resume, cx: &mut Cx<'_, '_>) -> Flow {
        match f {
            // Gone before anything was read (the free tries query): still waiting for a card.
            CardFault::Removed if matches!(resume, Resume::PinTries) => {
                self.wait_card(cx);
                Flow::Continue
            }
            CardFault::Removed => {
                self.go(Step::CardBack {
                    resume,
                    until: cx.now + cx.settings.timeouts.card_back,
                });
                Flow::Continue
            }
            CardFault::NoCard => {
                // Nothing was typed yet or it was kept in `resume`: wait for a card.
                match resume {
                    Resume::PinTries | Resume::CodeBRead => self.wait_card(cx),
                    other => self.go(Step::CardBack {
                        resume: other,
                        until: cx.now + cx.settings.timeouts.card_back,
                    }),
                }
                Flow::Continue
            }
            CardFault::NotMyNumberCard => {
                self.notice = Some(Msg::new(m::N_NOT_MY_NUMBER_CARD));
                self.wait_card(cx);
                Flow::Continue
            }
            CardFault::OneTryLeft => self.refuse(cx, 1),
            CardFault::Locked => self.refuse(cx, 0),
            CardFault::TriesUnknown => self.end_referred(cx, CardFault::TriesUnknown.code(), None),
            CardFault::CloneSuspected | CardFault::Untrusted => {
                let reason = f.code();
                self.end_card_rejected(cx, reason)
            }
            CardFault::Wrong { tries_left } => self.refuse(cx, tries_left),
            CardFault::NoSignCertificate | CardFault::Device(_) => Flow::End(Ending {
                summary: summary(Outcome::Cancelled, f.code()),
                end: SessionEnd::Failed,
            }),
        }
    }

    /// One try left or locked: refused before any VERIFY, recorded as referred.
    fn refuse(&mut self, cx: &mut Cx<'_, '_>, tries_left: u8) -> Flow {
        let reason = if tries_left == 0 {
            CardFault::Locked.code()
        } else {
            CardFault::OneTryLeft.code()
        };
        self.tries = Some(tries_left);
        self.end_referred(cx, reason, Some(tries_left))
    }

    fn end_referred(
        &mut self,
        cx: &mut Cx<'_, '_>,
        reason: &'static str,
        tries: Option<u8>,
    ) -> Flow {
        let record = OutcomeRecord {
            decision: RecordDecision::Referred,
            scores: Vec::new(),
            reasons: vec![reason.to_owned()],
        };
        let mut s = summary(Outcome::Refused, reason);
        s.tries_left = tries;
        if cx
            .ports
            .records
            .record_outcome(cx.session_id, cx.teller, &record)
            .is_err()
        {
            s.reason = m::N_RECORD_FAILED;
        }
        Flow::End(Ending {
            summary: s,
            end: SessionEnd::Completed,
        })
    }

    /// The card failed an authenticity check: recorded as rejected (attack suspected).
    fn end_card_rejected(&mut self, cx: &mut Cx<'_, '_>, reason: &'static str) -> Flow {
        let record = OutcomeRecord {
            decision: RecordDecision::Rejected,
            scores: Vec::new(),
            reasons: vec![reason.to_owned()],
        };
        let mut s = summary(Outcome::AttackSuspected, reason);
        if cx
            .ports
            .records
            .record_outcome(cx.session_id, cx.teller, &record)
            .is_err()
        {
            s.reason = m::N_RECORD_FAILED;
        }
        Flow::End(Ending {
            summary: s,
            end: SessionEnd::Completed,
        })
    }

    fn start_face(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let Some(chip) = &self.chip else {
            return self.card_step(cx);
        };
        let turn = self.challenge.pick(cx);
        self.attempt += 1;
        let request = FaceRequest {
            reference: FaceReference::Chip(&chip.photo),
            challenge: turn,
            attempt: self.attempt,
            want_template: false,
        };
        match camera_start(cx.ports.face.start(request), &mut self.notice) {
            CameraStart::Running => {
                self.go(Step::Face {
                    until: cx.now + cx.settings.timeouts.face,
                });
                Flow::Continue
            }
            CameraStart::NoCamera => {
                self.go(Step::CameraLost {
                    until: cx.now + cx.settings.timeouts.camera_back,
                });
                Flow::Continue
            }
            CameraStart::Ended(flow) => flow,
        }
    }

    fn face_done(&mut self, result: FaceResult, cx: &mut Cx<'_, '_>) -> Flow {
        cx.ports.face.stop();
        let matched = result.decision == FaceDecision::Match;
        self.face = Some(result);
        if self.sign && matched {
            self.sign_tries(cx)
        } else {
            if self.sign {
                self.signature = Some(SignatureState::Skipped("sign.no_match"));
            }
            self.review(cx)
        }
    }

    fn review(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        self.go(Step::Review {
            until: cx.now + cx.settings.timeouts.review,
        });
        Flow::Continue
    }

    fn skip_sign(&mut self, why: &'static str, cx: &mut Cx<'_, '_>) -> Flow {
        self.signature = Some(SignatureState::Skipped(why));
        self.notice = Some(Msg::new(m::N_SIGN_SKIPPED));
        self.review(cx)
    }

    fn sign_tries(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        if !cx.card_present {
            self.go(Step::CardBack {
                resume: Resume::SignTries,
                until: cx.now + cx.settings.timeouts.card_back,
            });
            return Flow::Continue;
        }
        match cx.ports.card.sign_tries() {
            Ok(Tries::Left(n)) if n >= 2 => self.sign_entry(Some(n), cx),
            Ok(Tries::Unlimited) => self.sign_entry(None, cx),
            Ok(Tries::Left(1)) | Err(CardFault::OneTryLeft) => {
                self.skip_sign(CardFault::OneTryLeft.code(), cx)
            }
            Ok(Tries::Left(_)) | Err(CardFault::Locked) => {
                self.skip_sign(CardFault::Locked.code(), cx)
            }
            Err(CardFault::Removed | CardFault::NoCard) => {
                self.go(Step::CardBack {
                    resume: Resume::SignTries,
                    until: cx.now + cx.settings.timeouts.card_back,
                });
                Flow::Continue
            }
            Err(f) => self.skip_sign(f.code(), cx),
        }
    }

    fn sign_entry(&mut self, tries: Option<u8>, cx: &mut Cx<'_, '_>) -> Flow {
        self.go(Step::SignEntry {
            keypad: Keypad::new(KeypadKind::SignPassword),
            tries,
            until: cx.now + cx.settings.timeouts.sign_entry,
        });
        Flow::Continue
    }

    /// Announces the signature: the screens show "signing" first, then it runs.
    fn do_sign(&mut self, password: Secret, cx: &mut Cx<'_, '_>) -> Flow {
        let captured = self.face.as_ref().is_some_and(|f| f.capture.is_some());
        if self.chip.is_none() || !captured {
            return self.skip_sign("sign.no_capture", cx);
        }
        if !cx.card_present {
            self.go(Step::CardBack {
                resume: Resume::Sign(password),
                until: cx.now + cx.settings.timeouts.card_back,
            });
            return Flow::Continue;
        }
        self.pending = Some(Pending::Sign(password));
        self.go(Step::Signing {
            until: cx.now + cx.settings.timeouts.card_back,
        });
        Flow::Continue
    }

    fn do_sign_now(&mut self, password: Secret, cx: &mut Cx<'_, '_>) -> Flow {
        let (Some(chip), Some(capture)) = (
            &self.chip,
            self.face.as_ref().and_then(|f| f.capture.as_ref()),
        ) else {
            return self.skip_sign("sign.no_capture", cx);
        };
        let binding = EvidenceBinding {
            face_image_sha256: capture.sha256,
            card_face_sha256: chip.card_face_sha256,
            session_id: cx.session_id.to_owned(),
            time_unix: cx.ports.clock.unix_ms().div_euclid(1000),
        };
        match cx.ports.card.sign(&password, &binding) {
            Ok(ev) => {
                drop(password);
                self.evidence = Some(ev);
                self.signature = Some(SignatureState::Signed);
                self.notice = Some(Msg::new(m::N_SIGNED));
                self.review(cx)
            }
            Err(CardFault::Wrong { tries_left }) if tries_left >= 2 => {
                drop(password);
                self.notice = Some(Msg::new(m::N_PASSWORD_WRONG).with("tries", tries_left.into()));
                self.sign_entry(Some(tries_left), cx)
            }
            Err(CardFault::Removed | CardFault::NoCard) => {
                self.go(Step::CardBack {
                    resume: Resume::Sign(password),
                    until: cx.now + cx.settings.timeouts.card_back,
                });
                Flow::Continue
            }
            Err(CardFault::Wrong { tries_left }) => {
                drop(password);
                let why = if tries_left == 0 {
                    CardFault::Locked.code()
                } else {
                    CardFault::OneTryLeft.code()
                };
                self.skip_sign(why, cx)
            }
            Err(f) => {
                drop(password);
                self.skip_sign(f.code(), cx)
            }
        }
    }

    fn resume(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let Step::CardBack { resume, .. } =
            std::mem::replace(&mut self.step, Step::Reading { until: cx.now })
        else {
            return Flow::Continue;
        };
        match resume {
            Resume::PinTries => self.pin_tries(cx),
            Resume::PinRead(pin) => self.read_pin(pin, cx),
            Resume::CodeBRead => self.read_code_b(cx),
            Resume::SignTries => self.sign_tries(cx),
            Resume::Sign(pw) => self.do_sign(pw, cx),
        }
    }

    /// The kiosk's own decision at review: (outcome, reason).
    fn proposed(&self) -> (Outcome, &'static str) {
        proposal(self.face.as_ref(), m::R_MATCH)
    }

    /// Writes everything and ends. A failed write leaves the procedure at review with the data
    /// (the teller tries again); what was written is not written twice.
    fn conclude(
        &mut self,
        override_: Option<(bool, String, TellerRef)>,
        cx: &mut Cx<'_, '_>,
    ) -> Flow {
        self.pending = Some(Pending::Record(override_));
        self.go(Step::Recording {
            until: cx.now + cx.settings.timeouts.review,
        });
        Flow::Continue
    }

    fn do_conclude(
        &mut self,
        override_: Option<(bool, String, TellerRef)>,
        cx: &mut Cx<'_, '_>,
    ) -> Flow {
        let (proposed, proposed_reason) = self.proposed();
        let (outcome, reason) = match &override_ {
            None => (proposed, proposed_reason),
            Some((true, _, _)) => (Outcome::Verified, m::R_OVERRIDDEN),
            Some((false, _, _)) => (Outcome::NotVerified, m::R_OVERRIDDEN),
        };
        match self.write(outcome, reason, override_.as_ref(), cx) {
            Ok(confirmation_id) => {
                let face = self.face.as_ref();
                let ending = Ending {
                    summary: ResultSummary {
                        outcome,
                        reason,
                        score: face.and_then(|f| f.score),
                        threshold: face.and_then(|f| f.threshold),
                        overridden: override_.is_some(),
                        session_id: None,
                        confirmation_id: Some(confirmation_id.clone()),
                        tries_left: None,
                    },
                    end: SessionEnd::Completed,
                };
                let chip = self.chip.take();
                let after = std::mem::replace(&mut self.after, After::Nothing);
                if override_.is_some() || outcome != Outcome::Verified {
                    return Flow::End(ending);
                }
                match (after, chip) {
                    (After::Enroll, Some(chip)) => {
                        // The chip photo moves to the enrollment; nothing else of the card does.
                        let next = Enrollment::new(EnrollStart {
                            reference: chip.photo,
                            identity_session_id: cx.session_id.to_owned(),
                            confirmation_record_id: confirmation_id,
                            challenge: self.challenge,
                        });
                        Flow::Then(ending, Box::new(next))
                    }
                    // Nothing of the card moves: the backend knows the customer by the session.
                    (After::Rebind, _) => {
                        let next = Rebinding::new(BindingProof::Identity {
                            identity_session_id: cx.session_id.to_owned(),
                        });
                        Flow::Then(ending, Box::new(next))
                    }
                    _ => Flow::End(ending),
                }
            }
            Err(code) => {
                self.after = After::Nothing;
                tracing::error!(code, "recording the identity verification failed");
                self.notice = Some(Msg::new(m::N_RECORD_FAILED));
                self.review(cx)
            }
        }
    }

    fn write(
        &mut self,
        outcome: Outcome,
        reason: &'static str,
        override_: Option<&(bool, String, TellerRef)>,
        cx: &mut Cx<'_, '_>,
    ) -> Result<String, &'static str> {
        let Some(chip) = &self.chip else {
            return Err("flow.no_chip_data");
        };
        let records = &mut *cx.ports.records;
        let session = cx.session_id;
        if self.written.evidence.is_none() {
            let mut ids = Vec::new();
            ids.push(
                records
                    .store_evidence(session, EvidenceKind::ChipPhotoHash, &chip.photo.jp2_sha256)
                    .map_err(|e| e.0)?,
            );
            if let Some(c) = self.face.as_ref().and_then(|f| f.capture.as_ref()) {
                ids.push(
                    records
                        .store_evidence(session, EvidenceKind::FaceImage, c.jpeg.expose())
                        .map_err(|e| e.0)?,
                );
            }
            if let Some(ev) = &self.evidence {
                ids.push(
                    records
                        .store_evidence(session, EvidenceKind::Signature, ev.document.expose())
                        .map_err(|e| e.0)?,
                );
            }
            if let Some(n) = &chip.my_number {
                // Kept sealed on the kiosk for the procedure that needed it; never in the
                // confirmation record, never sent with it.
                records
                    .store_evidence(session, EvidenceKind::MyNumber, n.expose().as_bytes())
                    .map_err(|e| e.0)?;
            }
            self.written.evidence = Some(ids);
        }
        if self.written.outcome_id.is_none() {
            let decision = |o: Outcome| match o {
                Outcome::Verified => RecordDecision::Accepted,
                _ => RecordDecision::Rejected,
            };
            // With an override the outcome record keeps the kiosk's own decision; the
            // override says what the teller decided.
            let record = outcome_record(
                match override_ {
                    Some(_) => decision(self.proposed().0),
                    None => decision(outcome),
                },
                reason,
                self.face.as_ref(),
            );
            self.written.outcome_id = Some(
                records
                    .record_outcome(session, cx.teller, &record)
                    .map_err(|e| e.0)?,
            );
        }
        if let (Some((accept, text, approver)), false, Some(outcome_id)) = (
            override_,
            self.written.override_done,
            &self.written.outcome_id,
        ) {
            let decision = if *accept {
                RecordDecision::Accepted
            } else {
                RecordDecision::Rejected
            };
            records
                .record_override(outcome_id, cx.teller, approver, decision, text)
                .map_err(|e| e.0)?;
            self.written.override_done = true;
        }
        if let Some(id) = &self.written.confirmation_id {
            return Ok(id.clone());
        }
        let record = ConfirmationRecord::build(
            &Context {
                record_id: format!("{session}-confirmation"),
                session_id: session,
                kiosk_id: &cx.settings.kiosk_id,
                branch_code: &cx.settings.branch_code,
                teller: cx.teller,
                at_ms: cx.ports.clock.unix_ms(),
            },
            chip,
            self.face.as_ref(),
            self.evidence.is_some(),
            self.written.evidence.clone().unwrap_or_default(),
            override_.map(|(accept, text, approver)| Override {
                decision: if *accept { "accepted" } else { "rejected" },
                reason: text.clone(),
                teller_id: cx.teller.id.clone(),
                approved_by: approver.id.clone(),
            }),
            outcome.as_str(),
        );
        let id = records
            .record_confirmation(session, &record)
            .map_err(|e| e.0)?;
        self.written.confirmation_id = Some(id.clone());
        Ok(id)
    }

    fn keypad_view(&self) -> Option<KeypadView> {
        match &self.step {
            Step::PinEntry { keypad, tries, .. } | Step::SignEntry { keypad, tries, .. } => {
                Some(KeypadView {
                    kind: keypad.kind(),
                    typed: keypad.typed(),
                    tries_left: *tries,
                })
            }
            _ => None,
        }
    }
}

impl Procedure for IdentityVerification {
    fn kind(&self) -> ProcedureKind {
        ProcedureKind::IdentityVerification
    }

    fn begin(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        if cx.card_present {
            self.card_step(cx)
        } else {
            self.wait_card(cx);
            Flow::Continue
        }
    }

    fn input(&mut self, input: Input, cx: &mut Cx<'_, '_>) -> Result<Flow, Refusal> {
        let step = self.step_id();
        // A new step clears the last notice unless the step sets one.
        let before = std::mem::take(&mut self.notice);
        let flow = match input {
            Input::CardInserted => match step {
                StepId::WaitCard => Ok(self.card_step(cx)),
                StepId::CardBack => Ok(self.resume(cx)),
                _ => Ok(Flow::Continue),
            },
            Input::CardRemoved => match &mut self.step {
                // Typing without the card: what was typed is dropped, the tries are read
                // again when it is back.
                Step::PinEntry { .. } => {
                    self.go(Step::CardBack {
                        resume: Resume::PinTries,
                        until: cx.now + cx.settings.timeouts.card_back,
                    });
                    Ok(Flow::Continue)
                }
                _ => Ok(Flow::Continue),
            },
            Input::Key(key) => match &mut self.step {
                Step::PinEntry { keypad, .. } => match keypad.press(key) {
                    Typed::Done(SecretEntry(pin)) => Ok(self.read_pin(pin, cx)),
                    Typed::TooShort => {
                        self.notice = Some(Msg::new(m::N_PIN_SHORT));
                        Ok(Flow::Continue)
                    }
                    Typed::Editing => Ok(Flow::Continue),
                },
                Step::SignEntry { keypad, .. } => match keypad.press(key) {
                    Typed::Done(SecretEntry(pw)) => Ok(self.do_sign(pw, cx)),
                    Typed::TooShort => {
                        self.notice = Some(Msg::new(m::N_PASSWORD_SHORT));
                        Ok(Flow::Continue)
                    }
                    Typed::Editing => Ok(Flow::Continue),
                },
                _ => Err(Refusal::NOT_NOW),
            },
            Input::CodeB(code) => match step {
                StepId::CodeBEntry => match code.check() {
                    Ok(()) => {
                        self.code_b = Some(code);
                        if cx.card_present {
                            Ok(self.read_code_b(cx))
                        } else {
                            self.wait_card(cx);
                            Ok(Flow::Continue)
                        }
                    }
                    Err(e) => Err(Refusal(e)),
                },
                _ => Err(Refusal::NOT_NOW),
            },
            Input::Face(ev) => match (step, ev) {
                (StepId::Face, FaceEvent::Progress(p)) => {
                    cx.ports.screens.face_progress(&p);
                    self.notice = before.clone();
                    Ok(Flow::Continue)
                }
                (StepId::Face, FaceEvent::Done(r)) => Ok(self.face_done(*r, cx)),
                (StepId::Face, FaceEvent::CameraLost) => {
                    cx.ports.face.stop();
                    self.go(Step::CameraLost {
                        until: cx.now + cx.settings.timeouts.camera_back,
                    });
                    Ok(Flow::Continue)
                }
                (StepId::Face, FaceEvent::Failed(code)) => {
                    cx.ports.face.stop();
                    Ok(Flow::End(Ending {
                        summary: summary(Outcome::Cancelled, code),
                        end: SessionEnd::Failed,
                    }))
                }
                (StepId::CameraLost, FaceEvent::CameraBack) => Ok(self.start_face(cx)),
                // Late events of a stopped check.
                _ => Ok(Flow::Continue),
            },
            Input::SkipSign => match step {
                StepId::SignEntry => Ok(self.skip_sign("sign.skipped", cx)),
                _ => Err(Refusal::NOT_NOW),
            },
            Input::Confirm => match step {
                StepId::Review => Ok(self.conclude(None, cx)),
                _ => Err(Refusal::NOT_NOW),
            },
            Input::ConfirmEnroll | Input::ConfirmRebind => match step {
                StepId::Review if self.proposed().0 == Outcome::Verified => {
                    self.after = if matches!(input, Input::ConfirmEnroll) {
                        After::Enroll
                    } else {
                        After::Rebind
                    };
                    Ok(self.conclude(None, cx))
                }
                _ => Err(Refusal::NOT_NOW),
            },
            Input::Override {
                accept,
                reason,
                approver,
            } => match step {
                StepId::Review => {
                    let reason = reason.trim().to_owned();
                    let refused = if reason.is_empty() || reason.chars().count() > 2000 {
                        Some(m::N_REASON_REQUIRED)
                    } else {
                        match &approver {
                            None => Some(m::N_APPROVAL_REQUIRED),
                            Some(a) if !a.verified => Some(m::N_APPROVAL_REQUIRED),
                            Some(a) if a.id == cx.teller.id => Some(m::N_APPROVER_SAME),
                            Some(_) => None,
                        }
                    };
                    match (refused, approver) {
                        (Some(code), _) => {
                            self.notice = Some(Msg::new(code));
                            Err(Refusal(code))
                        }
                        (None, Some(approver)) => {
                            Ok(self.conclude(Some((accept, reason, approver)), cx))
                        }
                        (None, None) => Err(Refusal(m::N_APPROVAL_REQUIRED)),
                    }
                }
                _ => Err(Refusal::NOT_NOW),
            },
            // A backend answer is for a re-binding, never for this procedure.
            Input::Backend(_) => Ok(Flow::Continue),
            Input::Start(_) | Input::Tick | Input::Cancel(_) | Input::Next => Err(Refusal::NOT_NOW),
        };
        if flow.is_err() && self.notice.is_none() {
            self.notice = before;
        }
        flow
    }

    fn deadline(&self) -> Millis {
        match &self.step {
            Step::WaitCard { until }
            | Step::CodeBEntry { until }
            | Step::PinEntry { until, .. }
            | Step::Reading { until }
            | Step::CardBack { until, .. }
            | Step::Face { until }
            | Step::CameraLost { until }
            | Step::SignEntry { until, .. }
            | Step::Signing { until }
            | Step::Review { until }
            | Step::Recording { until } => *until,
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let reason = match &self.step {
            Step::WaitCard { .. } => m::R_TIMEOUT_CARD,
            Step::CodeBEntry { .. } => m::R_TIMEOUT_CODE_B,
            Step::PinEntry { .. } => m::R_TIMEOUT_PIN,
            Step::CardBack { .. } => m::R_TIMEOUT_CARD_BACK,
            Step::Face { .. } => m::R_TIMEOUT_FACE,
            Step::CameraLost { .. } => m::R_TIMEOUT_CAMERA,
            Step::SignEntry { .. } => m::R_TIMEOUT_PASSWORD,
            Step::Review { .. }
            | Step::Reading { .. }
            | Step::Signing { .. }
            | Step::Recording { .. } => m::R_INACTIVITY,
        };
        self.abort(cx);
        Flow::End(Ending {
            summary: summary(Outcome::Cancelled, reason),
            end: SessionEnd::Cancelled,
        })
    }

    fn run_pending(&mut self, cx: &mut Cx<'_, '_>) -> Option<Flow> {
        Some(match self.pending.take()? {
            Pending::ReadPin(pin) => self.do_read_pin(pin, cx),
            Pending::ReadCodeB => self.do_read_code_b(cx),
            Pending::Sign(pw) => self.do_sign_now(pw, cx),
            Pending::Record(o) => self.do_conclude(o, cx),
        })
    }

    fn abort(&mut self, cx: &mut Cx<'_, '_>) {
        cx.ports.face.stop();
        cx.ports.card.release();
        // Secrets go now, not when the procedure is dropped.
        self.code_b = None;
        self.pending = None;
        self.step = Step::Recording { until: cx.now };
    }

    fn view(&self) -> ProcView<'_> {
        let step = self.step_id();
        // Tries left matter while a secret is asked for or sent, not once the card is read.
        let tries = match &self.step {
            Step::PinEntry { .. }
            | Step::CodeBEntry { .. }
            | Step::Reading { .. }
            | Step::CardBack { .. } => self.tries,
            Step::SignEntry { tries, .. } => *tries,
            _ => None,
        };
        let cancel_only = Actions {
            cancel: true,
            ..Actions::default()
        };
        let (t_msg, actions, c_msg, picture, camera) = match &self.step {
            Step::WaitCard { .. } => (
                Msg::new(m::T_WAIT_CARD),
                cancel_only,
                m::C_PLACE_CARD,
                Picture::CardOnReader,
                false,
            ),
            Step::CodeBEntry { .. } => (
                Msg::new(m::T_CODE_B_ENTRY),
                Actions {
                    code_b: true,
                    ..cancel_only
                },
                m::C_WAIT,
                Picture::Wait,
                false,
            ),
            Step::PinEntry { tries, .. } => (
                Msg::new(m::T_PIN_ENTRY).with("tries", tries.map_or(-1, i64::from)),
                cancel_only,
                m::C_TYPE_PIN,
                Picture::Keypad,
                false,
            ),
            Step::Reading { .. } => (
                Msg::new(m::T_READING),
                cancel_only,
                m::C_READING,
                Picture::CardOnReader,
                false,
            ),
            Step::CardBack { .. } => (
                Msg::new(m::T_CARD_BACK),
                cancel_only,
                m::C_CARD_BACK,
                Picture::CardOnReader,
                false,
            ),
            Step::Face { .. } => (
                Msg::new(m::T_FACE),
                cancel_only,
                m::C_LOOK,
                Picture::Camera,
                true,
            ),
            Step::CameraLost { .. } => (
                Msg::new(m::T_CAMERA_LOST),
                cancel_only,
                m::C_CAMERA_LOST,
                Picture::Wait,
                false,
            ),
            Step::SignEntry { tries, .. } => (
                Msg::new(m::T_SIGN_ENTRY).with("tries", tries.map_or(-1, i64::from)),
                Actions {
                    skip_sign: true,
                    ..cancel_only
                },
                m::C_TYPE_PASSWORD,
                Picture::Keypad,
                false,
            ),
            Step::Signing { .. } => (
                Msg::new(m::T_SIGNING),
                cancel_only,
                m::C_READING,
                Picture::CardOnReader,
                false,
            ),
            Step::Review { .. } => (
                Msg::new(m::T_REVIEW),
                Actions {
                    confirm: true,
                    override_: true,
                    enroll: self.proposed().0 == Outcome::Verified,
                    rebind: self.proposed().0 == Outcome::Verified,
                    ..cancel_only
                },
                m::C_REVIEW,
                Picture::Wait,
                false,
            ),
            Step::Recording { .. } => (
                Msg::new(m::T_RECORDING),
                Actions::default(),
                m::C_REVIEW,
                Picture::Wait,
                false,
            ),
        };
        let customer_msg = if self.with_my_number && step == StepId::WaitCard {
            m::C_MY_NUMBER_NOTICE
        } else {
            c_msg
        };
        ProcView {
            step,
            route: Some(self.route),
            teller: TellerPanel {
                message: t_msg,
                notice: self.notice.clone(),
                actions,
                tries_left: tries,
                chip: self.chip.as_ref(),
                face: self.face.as_ref(),
                proposed: matches!(self.step, Step::Review { .. } | Step::Recording { .. })
                    .then(|| self.proposed()),
                signature: self.signature,
                result: None,
                issued: None,
                my_number_read: self.chip.as_ref().is_some_and(|c| c.my_number.is_some()),
            },
            customer: CustomerPanel {
                message: Msg::new(customer_msg),
                notice: self.notice.clone().filter(|n| {
                    matches!(
                        n.code,
                        m::N_PIN_WRONG
                            | m::N_PIN_SHORT
                            | m::N_PASSWORD_WRONG
                            | m::N_PASSWORD_SHORT
                            | m::N_NOT_MY_NUMBER_CARD
                    )
                }),
                picture,
                keypad: self.keypad_view(),
                camera,
                qr_guide: false,
                qr_png: None,
                outcome: None,
            },
        }
    }

    fn holds_secret(&self) -> bool {
        let typing = match &self.step {
            Step::PinEntry { keypad, .. } | Step::SignEntry { keypad, .. } => keypad.typed() > 0,
            Step::CardBack {
                resume: Resume::PinRead(_) | Resume::Sign(_),
                ..
            } => true,
            _ => false,
        };
        let pending_secret = matches!(self.pending, Some(Pending::ReadPin(_) | Pending::Sign(_)));
        typing || self.code_b.is_some() || pending_secret
    }

    fn secret_step(&self) -> bool {
        match &self.step {
            Step::PinEntry { .. }
            | Step::SignEntry { .. }
            | Step::CardBack { .. }
            | Step::Reading { .. }
            | Step::Signing { .. } => true,
            // 照合番号B waits with the card for the read it opens.
            Step::WaitCard { .. } => self.route == Route::CodeB,
            _ => false,
        }
    }
}
