//! Authentication with the face credential QR (顔認証QRによる本人確認): the customer holds
//! the phone up to the kiosk camera; the QR is read from the live frames; the credential port
//! runs the offline checks (format, signature, expiry, revocation of the credential and of its
//! issuer key, model, template key — with trust lists fresh enough); then the live capture
//! with the head-turn challenge is matched against the credential's template — never a
//! single still image; the outcome (and the captured face as evidence) is recorded.
//!
//! With `rebind`, a verified authentication goes on to re-bind the customer's passkey device
//! ([`crate::rebind`]), with the credential as the proof.
//!
//! What it does not do: read a card, keep the QR's text beyond the check, or keep the
//! template beyond the match.

use crate::engine::{Cx, Flow, Input, ProcView, Procedure, Refusal};
use crate::face_step::{
    CameraStart, ChallengeChoice, camera_start, completed, credential_reason, end, outcome_record,
    proposal, record_decision,
};
use crate::messages as m;
use crate::ports::{
    BindingProof, CheckedCredential, EvidenceKind, FaceEvent, FaceReference, FaceRequest,
    FaceResult, Millis, Private, ProcedureKind, SessionEnd, TellerRef,
};
use crate::rebind::Rebinding;
use crate::view::{Actions, CustomerPanel, Msg, Outcome, Picture, StepId, TellerPanel};

/// How the teller starts a QR authentication.
#[derive(Debug)]
pub struct QrAuthStart {
    /// The teller at the counter.
    pub teller: TellerRef,
    /// The head-turn challenge.
    pub challenge: ChallengeChoice,
    /// Re-bind the customer's passkey device once the face matched the credential.
    pub rebind: bool,
}

enum Step {
    Scan { until: Millis },
    Checking { until: Millis },
    Face { until: Millis },
    CameraLost { until: Millis },
    Done { until: Millis },
}

/// The QR authentication procedure.
pub struct QrAuthentication {
    challenge: ChallengeChoice,
    rebind: bool,
    step: Step,
    pending: Option<Private>,
    credential: Option<CheckedCredential>,
    face: Option<FaceResult>,
    attempt: u32,
    notice: Option<Msg>,
}

impl std::fmt::Debug for QrAuthentication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QrAuthentication")
            .field("step", &self.step_id())
            .finish_non_exhaustive()
    }
}

impl QrAuthentication {
    /// A new authentication.
    pub fn new(s: QrAuthStart) -> Self {
        QrAuthentication {
            challenge: s.challenge,
            rebind: s.rebind,
            step: Step::Scan { until: 0 },
            pending: None,
            credential: None,
            face: None,
            attempt: 0,
            notice: None,
        }
    }

    fn step_id(&self) -> StepId {
        match self.step {
            Step::Scan { .. } => StepId::ScanQr,
            Step::Checking { .. } | Step::Done { .. } => StepId::CheckingQr,
            Step::Face { .. } => StepId::Face,
            Step::CameraLost { .. } => StepId::CameraLost,
        }
    }

    fn camera_lost(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        self.step = Step::CameraLost {
            until: cx.now + cx.settings.timeouts.camera_back,
        };
        Flow::Continue
    }

    fn scan(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        match camera_start(cx.ports.face.scan_qr(), &mut self.notice) {
            CameraStart::Running => {
                self.step = Step::Scan {
                    until: cx.now + cx.settings.timeouts.scan_qr,
                };
                Flow::Continue
            }
            CameraStart::NoCamera => self.camera_lost(cx),
            CameraStart::Ended(flow) => flow,
        }
    }

    fn start_face(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let Some(credential) = &self.credential else {
            return self.scan(cx);
        };
        self.attempt += 1;
        let request = FaceRequest {
            reference: FaceReference::Credential(&credential.template),
            challenge: self.challenge.pick(cx),
            attempt: self.attempt,
            want_template: false,
        };
        match camera_start(cx.ports.face.start(request), &mut self.notice) {
            CameraStart::Running => {
                self.step = Step::Face {
                    until: cx.now + cx.settings.timeouts.face,
                };
                Flow::Continue
            }
            CameraStart::NoCamera => self.camera_lost(cx),
            CameraStart::Ended(flow) => flow,
        }
    }

    /// Records the outcome (and the captured face) and ends.
    fn conclude(&mut self, outcome: Outcome, reason: &'static str, cx: &mut Cx<'_, '_>) -> Flow {
        let credential_id = self.credential.take().map(|c| c.credential_id);
        let records = &mut *cx.ports.records;
        let mut written = Ok(());
        if let Some(c) = self.face.as_ref().and_then(|f| f.capture.as_ref()) {
            written = records
                .store_evidence(cx.session_id, EvidenceKind::FaceImage, c.jpeg.expose())
                .map(|_| ());
        }
        if written.is_ok() {
            let record = outcome_record(record_decision(outcome), reason, self.face.as_ref());
            written = records
                .record_outcome(cx.session_id, cx.teller, &record)
                .map(|_| ());
        }
        if let Err(e) = written {
            tracing::error!(code = e.0, "recording the QR authentication failed");
            self.notice = Some(Msg::new(m::N_RECORD_FAILED));
            return end(Outcome::Cancelled, m::N_RECORD_FAILED, SessionEnd::Failed);
        }
        let flow = completed(outcome, reason, self.face.as_ref());
        match (flow, credential_id) {
            (Flow::End(ending), Some(credential_id))
                if self.rebind && outcome == Outcome::Verified =>
            {
                let next = Rebinding::new(BindingProof::Credential { credential_id });
                Flow::Then(ending, Box::new(next))
            }
            (flow, _) => flow,
        }
    }
}

impl Procedure for QrAuthentication {
    fn kind(&self) -> ProcedureKind {
        ProcedureKind::FaceQrAuthentication
    }

    fn begin(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        self.scan(cx)
    }

    fn input(&mut self, input: Input, cx: &mut Cx<'_, '_>) -> Result<Flow, Refusal> {
        let step = self.step_id();
        match input {
            Input::Face(ev) => Ok(match (step, ev) {
                (StepId::ScanQr, FaceEvent::QrRead(text)) => {
                    cx.ports.face.stop();
                    self.pending = Some(text);
                    self.step = Step::Checking {
                        until: cx.now + cx.settings.timeouts.review,
                    };
                    Flow::Continue
                }
                (StepId::Face, FaceEvent::Progress(p)) => {
                    cx.ports.screens.face_progress(&p);
                    Flow::Continue
                }
                (StepId::Face, FaceEvent::Done(r)) => {
                    cx.ports.face.stop();
                    let (outcome, reason) = proposal(Some(&r), m::R_QR_MATCH);
                    self.face = Some(*r);
                    self.conclude(outcome, reason, cx)
                }
                (StepId::ScanQr | StepId::Face, FaceEvent::CameraLost) => {
                    cx.ports.face.stop();
                    self.camera_lost(cx)
                }
                (StepId::ScanQr | StepId::Face, FaceEvent::Failed(code)) => {
                    cx.ports.face.stop();
                    end(Outcome::Cancelled, code, SessionEnd::Failed)
                }
                (StepId::CameraLost, FaceEvent::CameraBack) => self.start_face(cx),
                _ => Flow::Continue,
            }),
            Input::CardInserted | Input::CardRemoved => Ok(Flow::Continue),
            _ => Err(Refusal::NOT_NOW),
        }
    }

    fn deadline(&self) -> Millis {
        match self.step {
            Step::Scan { until }
            | Step::Checking { until }
            | Step::Face { until }
            | Step::CameraLost { until }
            | Step::Done { until } => until,
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        let reason = match self.step {
            Step::Scan { .. } => m::R_TIMEOUT_QR,
            Step::Face { .. } => m::R_TIMEOUT_FACE,
            Step::CameraLost { .. } => m::R_TIMEOUT_CAMERA,
            Step::Checking { .. } | Step::Done { .. } => m::R_INACTIVITY,
        };
        self.abort(cx);
        end(Outcome::Cancelled, reason, SessionEnd::Cancelled)
    }

    fn run_pending(&mut self, cx: &mut Cx<'_, '_>) -> Option<Flow> {
        let text = self.pending.take()?;
        let checked = cx.ports.credentials.check(&text);
        drop(text);
        Some(match checked {
            Ok(c) => {
                self.credential = Some(c);
                self.start_face(cx)
            }
            Err(f) => self.conclude(Outcome::NotVerified, credential_reason(f.0), cx),
        })
    }

    fn abort(&mut self, cx: &mut Cx<'_, '_>) {
        cx.ports.face.stop();
        self.pending = None;
        self.credential = None;
        self.face = None;
        self.step = Step::Done { until: cx.now };
    }

    fn view(&self) -> ProcView<'_> {
        let cancel_only = Actions {
            cancel: true,
            ..Actions::default()
        };
        let (t_msg, c_msg, picture, camera, qr_guide) = match self.step {
            Step::Scan { .. } => (
                m::T_SCAN_QR,
                m::C_SHOW_PHONE_QR,
                Picture::Phone,
                false,
                true,
            ),
            Step::Checking { .. } | Step::Done { .. } => (
                m::T_CHECKING_QR,
                m::C_CHECKING_QR,
                Picture::Wait,
                false,
                false,
            ),
            Step::Face { .. } => (m::T_QR_FACE, m::C_LOOK, Picture::Camera, true, false),
            Step::CameraLost { .. } => (
                m::T_CAMERA_LOST,
                m::C_CAMERA_LOST,
                Picture::Wait,
                false,
                false,
            ),
        };
        ProcView {
            step: self.step_id(),
            route: None,
            teller: TellerPanel {
                face: self.face.as_ref(),
                ..TellerPanel::plain(Msg::new(t_msg), self.notice.clone(), cancel_only)
            },
            customer: CustomerPanel {
                message: Msg::new(c_msg),
                notice: None,
                picture,
                keypad: None,
                camera,
                qr_guide,
                qr_png: None,
                outcome: None,
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
