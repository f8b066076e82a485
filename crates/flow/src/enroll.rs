//! Face credential enrollment (顔認証QRの発行), right after a verified identity in the same
//! visit: the identity procedure hands over the chip photo (moved, nothing else of the card),
//! the ids of its session and confirmation record.
//!
//! Steps: the live capture with the head-turn challenge, matched against the chip photo (the
//! face enrolled is the face just verified, not whoever steps in after), with the template
//! of the captured face; the duplicate-face check: the backend port sends the template to the
//! bank's backend, which searches the enrolled faces of other identities (1:N) — a match is
//! flagged and the teller reviews (issue after checking the documents, or cancel: recorded as
//! `duplicate.refused`); no answer (offline, 30 s) issues unchecked with a notice and
//! `duplicate.unchecked` in the record; the credential issued offline by the credential port (which refuses
//! with stale trust lists or an issuer key the backend does not list as active); the records
//! (the captured face as evidence, the outcome, the `face_credential.issued` event binding the
//! credential to the verified identity); then the QR on the customer display for the phone to
//! save, until the teller finishes. A credential whose records could not be written is never
//! shown.
//!
//! What it does not do: read the card, keep the template after issuing, or put a name, a My
//! Number or a photo in the credential (the credential port's format has no field for them).

use crate::engine::{Cx, Flow, Input, ProcView, Procedure, Refusal};
use crate::face_step::{
    CameraStart, ChallengeChoice, camera_start, completed, end, outcome_record, proposal,
    record_decision,
};
use crate::messages as m;
use crate::ports::{
    BackendEvent, ChipPhoto, CredentialRequest, DuplicateAnswer, DuplicateRequest, EvidenceKind,
    FaceDecision, FaceEvent, FaceReference, FaceRequest, FaceResult, IssuedCredential, Millis,
    ProcedureKind, RecordDecision, SessionEnd,
};
use crate::view::{Actions, CustomerPanel, Msg, Outcome, Picture, StepId, TellerPanel};

/// What the identity verification hands to the enrollment.
#[derive(Debug)]
pub struct EnrollStart {
    /// The chip photo of the verified card.
    pub reference: ChipPhoto,
    /// The identity verification's session.
    pub identity_session_id: String,
    /// Its confirmation record.
    pub confirmation_record_id: String,
    /// The head-turn challenge.
    pub challenge: ChallengeChoice,
}

enum Step {
    Face { until: Millis },
    CameraLost { until: Millis },
    DuplicateCheck { until: Millis },
    DuplicateReview { until: Millis },
    Issuing { until: Millis },
    ShowQr { until: Millis },
    Done { until: Millis },
}

/// The enrollment procedure.
pub struct Enrollment {
    start: EnrollStart,
    step: Step,
    attempt: u32,
    face: Option<FaceResult>,
    issued: Option<IssuedCredential>,
    issue_pending: bool,
    /// What the duplicate-face check said ([`m::R_DUPLICATE_NONE`], …), once it answered.
    duplicate: Option<&'static str>,
    /// A flagged duplicate's answer, for the teller's review.
    flagged: Option<DuplicateAnswer>,
    notice: Option<Msg>,
}

impl std::fmt::Debug for Enrollment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("step", &self.step_id())
            .finish_non_exhaustive()
    }
}

impl Enrollment {
    /// An enrollment for the verified customer.
    pub fn new(start: EnrollStart) -> Self {
        Enrollment {
            start,
            step: Step::Face { until: 0 },
            attempt: 0,
            face: None,
            issued: None,
            issue_pending: false,
            duplicate: None,
            flagged: None,
            notice: None,
        }
    }

    fn step_id(&self) -> StepId {
        match self.step {
            Step::Face { .. } => StepId::Face,
            Step::CameraLost { .. } => StepId::CameraLost,
            Step::DuplicateCheck { .. } => StepId::DuplicateCheck,
            Step::DuplicateReview { .. } => StepId::DuplicateReview,
            Step::Issuing { .. } | Step::Done { .. } => StepId::Issuing,
            Step::ShowQr { .. } => StepId::ShowQr,
        }
    }

    fn start_face(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        self.attempt += 1;
        let request = FaceRequest {
            reference: FaceReference::Chip(&self.start.reference),
            challenge: self.start.challenge.pick(cx),
            attempt: self.attempt,
            want_template: true,
        };
        match camera_start(cx.ports.face.start(request), &mut self.notice) {
            CameraStart::Running => {
                self.step = Step::Face {
                    until: cx.now + cx.settings.timeouts.face,
                };
                Flow::Continue
            }
            CameraStart::NoCamera => {
                self.step = Step::CameraLost {
                    until: cx.now + cx.settings.timeouts.camera_back,
                };
                Flow::Continue
            }
            CameraStart::Ended(flow) => flow,
        }
    }

    /// Records a refusal (outcome only) and ends.
    fn refuse(&mut self, outcome: Outcome, reason: &'static str, cx: &mut Cx<'_, '_>) -> Flow {
        let record = outcome_record(record_decision(outcome), reason, self.face.as_ref());
        if let Err(e) = cx
            .ports
            .records
            .record_outcome(cx.session_id, cx.teller, &record)
        {
            tracing::error!(code = e.0, "recording the refused enrollment failed");
            self.notice = Some(Msg::new(m::N_RECORD_FAILED));
        }
        completed(outcome, reason, self.face.as_ref())
    }

    fn face_done(&mut self, result: FaceResult, cx: &mut Cx<'_, '_>) -> Flow {
        cx.ports.face.stop();
        let (outcome, reason) = proposal(Some(&result), m::R_ISSUED);
        let usable = result.decision == FaceDecision::Match && result.template.is_some();
        self.face = Some(result);
        match outcome {
            Outcome::Verified if usable => {
                let Some(template) = self.face.as_ref().and_then(|f| f.template.clone()) else {
                    return self.refuse(Outcome::NotVerified, m::R_NO_TEMPLATE, cx);
                };
                // The backend searches its enrolled faces (1:N) before anything is issued.
                cx.ports.backend.check_duplicate(DuplicateRequest {
                    session_id: cx.session_id.to_owned(),
                    identity_session_id: self.start.identity_session_id.clone(),
                    template,
                });
                self.step = Step::DuplicateCheck {
                    until: cx.now + cx.settings.timeouts.backend,
                };
                Flow::Continue
            }
            Outcome::Verified => self.refuse(Outcome::NotVerified, m::R_NO_TEMPLATE, cx),
            other => self.refuse(other, reason, cx),
        }
    }

    /// Goes on to issue (after the duplicate check said `duplicate`).
    fn go_issue(&mut self, duplicate: &'static str, cx: &mut Cx<'_, '_>) -> Flow {
        self.duplicate = Some(duplicate);
        self.issue_pending = true;
        self.step = Step::Issuing {
            until: cx.now + cx.settings.timeouts.review,
        };
        Flow::Continue
    }

    /// The backend's answer to the duplicate check.
    fn duplicate_answer(
        &mut self,
        result: Result<DuplicateAnswer, &'static str>,
        cx: &mut Cx<'_, '_>,
    ) -> Flow {
        match result {
            Ok(a) if a.flagged => {
                self.flagged = Some(a);
                self.step = Step::DuplicateReview {
                    until: cx.now + cx.settings.timeouts.review,
                };
                Flow::Continue
            }
            Ok(_) => self.go_issue(m::R_DUPLICATE_NONE, cx),
            Err(code) => {
                tracing::warn!(code, "duplicate-face check did not run; issuing unchecked");
                self.notice = Some(Msg::new(m::N_DUPLICATE_UNCHECKED));
                self.go_issue(m::R_DUPLICATE_UNCHECKED, cx)
            }
        }
    }

    /// Issues, records, shows. Runs once the screens show the issuing step.
    fn issue(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let Some(template) = self.face.as_mut().and_then(|f| f.template.take()) else {
            return self.refuse(Outcome::NotVerified, m::R_NO_TEMPLATE, cx);
        };
        let issued = cx.ports.credentials.issue(&CredentialRequest {
            template: &template,
        });
        drop(template);
        let issued = match issued {
            Ok(i) => i,
            Err(f) => {
                let reason = crate::face_step::credential_reason(f.0);
                return self.refuse(Outcome::NotVerified, reason, cx);
            }
        };
        if let Err(code) = self.write(&issued, cx) {
            tracing::error!(code, "recording the issued credential failed; not shown");
            self.notice = Some(Msg::new(m::N_RECORD_FAILED));
            return end(Outcome::Cancelled, m::N_RECORD_FAILED, SessionEnd::Failed);
        }
        self.issued = Some(issued);
        self.step = Step::ShowQr {
            until: cx.now + cx.settings.timeouts.show_qr,
        };
        Flow::Continue
    }

    fn write(
        &mut self,
        issued: &IssuedCredential,
        cx: &mut Cx<'_, '_>,
    ) -> Result<(), &'static str> {
        let records = &mut *cx.ports.records;
        let session = cx.session_id;
        if let Some(c) = self.face.as_ref().and_then(|f| f.capture.as_ref()) {
            records
                .store_evidence(session, EvidenceKind::FaceImage, c.jpeg.expose())
                .map_err(|e| e.0)?;
        }
        let mut record = outcome_record(RecordDecision::Accepted, m::R_ISSUED, self.face.as_ref());
        record.reasons.extend(self.duplicate.map(str::to_owned));
        if let Some(best) = self.flagged.and_then(|a| a.best_score) {
            record
                .scores
                .push(("duplicate_best_score", f64::from(best)));
        }
        records
            .record_outcome(session, cx.teller, &record)
            .map_err(|e| e.0)?;
        records
            .record_credential_issued(
                session,
                &madoguchi_wire::CredentialIssued {
                    credential_id: issued.credential_id.clone(),
                    issuer_kid: issued.issuer_kid.clone(),
                    template_kid: issued.template_kid.clone(),
                    issued_at_ms: issued.issued_at_ms,
                    expires_at_ms: issued.expires_at_ms,
                    identity_session_id: self.start.identity_session_id.clone(),
                    confirmation_record_id: self.start.confirmation_record_id.clone(),
                },
            )
            .map_err(|e| e.0)?;
        Ok(())
    }

    fn finished(&mut self) -> Flow {
        self.issued = None;
        completed(Outcome::Issued, m::R_ISSUED, self.face.as_ref())
    }
}

impl Procedure for Enrollment {
    fn kind(&self) -> ProcedureKind {
        ProcedureKind::Enrollment
    }

    fn begin(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        self.start_face(cx)
    }

    fn input(&mut self, input: Input, cx: &mut Cx<'_, '_>) -> Result<Flow, Refusal> {
        let step = self.step_id();
        match input {
            Input::Face(ev) => Ok(match (step, ev) {
                (StepId::Face, FaceEvent::Progress(p)) => {
                    cx.ports.screens.face_progress(&p);
                    Flow::Continue
                }
                (StepId::Face, FaceEvent::Done(r)) => self.face_done(*r, cx),
                (StepId::Face, FaceEvent::CameraLost) => {
                    cx.ports.face.stop();
                    self.step = Step::CameraLost {
                        until: cx.now + cx.settings.timeouts.camera_back,
                    };
                    Flow::Continue
                }
                (StepId::Face, FaceEvent::Failed(code)) => {
                    cx.ports.face.stop();
                    end(Outcome::Cancelled, code, SessionEnd::Failed)
                }
                (StepId::CameraLost, FaceEvent::CameraBack) => self.start_face(cx),
                _ => Flow::Continue,
            }),
            Input::Backend(BackendEvent::Duplicate { session_id, result }) => {
                // An answer for another session (a cancelled one), or a late one, is dropped.
                if session_id != cx.session_id || step != StepId::DuplicateCheck {
                    return Ok(Flow::Continue);
                }
                Ok(self.duplicate_answer(result.map_err(|f| f.0), cx))
            }
            Input::Confirm if step == StepId::DuplicateReview => {
                Ok(self.go_issue(m::R_DUPLICATE_FLAGGED, cx))
            }
            Input::Confirm if step == StepId::ShowQr => Ok(self.finished()),
            Input::CardInserted | Input::CardRemoved => Ok(Flow::Continue),
            _ => Err(Refusal::NOT_NOW),
        }
    }

    fn deadline(&self) -> Millis {
        match self.step {
            Step::Face { until }
            | Step::CameraLost { until }
            | Step::DuplicateCheck { until }
            | Step::DuplicateReview { until }
            | Step::Issuing { until }
            | Step::ShowQr { until }
            | Step::Done { until } => until,
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        match self.step {
            // The credential is issued and recorded: the visit ends as issued.
            Step::ShowQr { .. } => self.finished(),
            Step::Face { .. } => {
                self.abort(cx);
                end(Outcome::Cancelled, m::R_TIMEOUT_FACE, SessionEnd::Cancelled)
            }
            Step::CameraLost { .. } => {
                self.abort(cx);
                end(
                    Outcome::Cancelled,
                    m::R_TIMEOUT_CAMERA,
                    SessionEnd::Cancelled,
                )
            }
            // No answer in time: issued unchecked, as with an unreachable backend.
            Step::DuplicateCheck { .. } => self.duplicate_answer(Err(m::R_TIMEOUT_BACKEND), cx),
            Step::DuplicateReview { .. } | Step::Issuing { .. } | Step::Done { .. } => {
                self.abort(cx);
                end(Outcome::Cancelled, m::R_INACTIVITY, SessionEnd::Cancelled)
            }
        }
    }

    fn run_pending(&mut self, cx: &mut Cx<'_, '_>) -> Option<Flow> {
        if !std::mem::take(&mut self.issue_pending) {
            return None;
        }
        Some(self.issue(cx))
    }

    fn abort(&mut self, cx: &mut Cx<'_, '_>) {
        cx.ports.face.stop();
        // A flagged duplicate the teller did not issue for is recorded as such.
        if matches!(self.step, Step::DuplicateReview { .. }) {
            let mut record = outcome_record(
                RecordDecision::Rejected,
                m::R_DUPLICATE_REFUSED,
                self.face.as_ref(),
            );
            record.reasons.push(m::R_DUPLICATE_FLAGGED.to_owned());
            if let Some(best) = self.flagged.and_then(|a| a.best_score) {
                record
                    .scores
                    .push(("duplicate_best_score", f64::from(best)));
            }
            if let Err(e) = cx
                .ports
                .records
                .record_outcome(cx.session_id, cx.teller, &record)
            {
                tracing::error!(code = e.0, "recording the refused duplicate failed");
            }
        }
        self.issue_pending = false;
        self.issued = None;
        self.face = None;
        self.step = Step::Done { until: cx.now };
    }

    fn view(&self) -> ProcView<'_> {
        let cancel_only = Actions {
            cancel: true,
            ..Actions::default()
        };
        let (t_msg, actions, c_msg, picture, camera) = match self.step {
            Step::Face { .. } => (
                m::T_ENROLL_FACE,
                cancel_only,
                m::C_LOOK,
                Picture::Camera,
                true,
            ),
            Step::CameraLost { .. } => (
                m::T_CAMERA_LOST,
                cancel_only,
                m::C_CAMERA_LOST,
                Picture::Wait,
                false,
            ),
            Step::DuplicateCheck { .. } => (
                m::T_DUPLICATE_CHECK,
                Actions::default(),
                m::C_WAIT,
                Picture::Wait,
                false,
            ),
            Step::DuplicateReview { .. } => (
                m::T_DUPLICATE_REVIEW,
                Actions {
                    confirm: true,
                    cancel: true,
                    ..Actions::default()
                },
                m::C_WAIT,
                Picture::Wait,
                false,
            ),
            Step::Issuing { .. } | Step::Done { .. } => (
                m::T_ISSUING,
                Actions::default(),
                m::C_WAIT,
                Picture::Wait,
                false,
            ),
            Step::ShowQr { .. } => (
                m::T_SHOW_QR,
                Actions {
                    confirm: true,
                    ..Actions::default()
                },
                m::C_SAVE_QR,
                Picture::Phone,
                false,
            ),
        };
        let t_message = match (&self.step, self.flagged) {
            (Step::DuplicateReview { .. }, Some(a)) => {
                Msg::new(t_msg).with("matches", i64::from(a.matches)).with(
                    "percent",
                    a.best_score.map_or(0, |s| (s * 100.0).round() as i64),
                )
            }
            _ => Msg::new(t_msg),
        };
        ProcView {
            step: self.step_id(),
            route: None,
            teller: TellerPanel {
                face: self.face.as_ref(),
                issued: self.issued.as_ref(),
                ..TellerPanel::plain(t_message, self.notice.clone(), actions)
            },
            customer: CustomerPanel {
                camera,
                qr_png: match self.step {
                    Step::ShowQr { .. } => self.issued.as_ref().map(|i| i.qr_png.clone()),
                    _ => None,
                },
                ..CustomerPanel::plain(Msg::new(c_msg), picture)
            },
        }
    }

    fn holds_secret(&self) -> bool {
        false
    }

    fn secret_step(&self) -> bool {
        false
    }
}
