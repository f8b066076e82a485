//! Re-binding a passkey device (パスキー再登録: the GMO Aozora × Liquid scheme), right after a
//! face proof in the same visit: an identity verification (card and live face against the chip
//! photo) or a face-credential authentication (live face against the credential's template).
//!
//! Steps: the kiosk asks the bank's backend for a one-time binding code, naming the proof (the
//! identity verification's session or the credential's id) — the backend port first delivers
//! the kiosk's pending records so the backend knows it; the code comes back as a QR that the
//! customer display shows until the teller finishes, the show time runs out or the code
//! expires. The outcome (issued, or why not) is recorded.
//!
//! What it does not do: take a face again (the proof it starts from is minutes old at most),
//! work offline (the code is the backend's: without the network the procedure says so and
//! ends), keep the code beyond the step that shows it, or show it on the teller console.

use crate::engine::{Cx, Flow, Input, ProcView, Procedure, Refusal};
use crate::face_step::end;
use crate::messages as m;
use crate::ports::{
    BackendEvent, BindingCode, BindingProof, BindingRequest, Millis, OutcomeRecord, ProcedureKind,
    RecordDecision, SessionEnd,
};
use crate::view::{Actions, CustomerPanel, Msg, Outcome, Picture, StepId, TellerPanel};

enum Step {
    Requesting { until: Millis },
    ShowCode { until: Millis },
    Done { until: Millis },
}

/// The re-binding procedure.
pub struct Rebinding {
    proof: BindingProof,
    step: Step,
    code: Option<BindingCode>,
    /// Minutes the code had left when it arrived.
    minutes: i64,
    notice: Option<Msg>,
}

impl std::fmt::Debug for Rebinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rebinding")
            .field("step", &self.step_id())
            .finish_non_exhaustive()
    }
}

impl Rebinding {
    /// A re-binding after `proof`.
    pub fn new(proof: BindingProof) -> Self {
        Rebinding {
            proof,
            step: Step::Requesting { until: 0 },
            code: None,
            minutes: 0,
            notice: None,
        }
    }

    fn step_id(&self) -> StepId {
        match self.step {
            Step::Requesting { .. } | Step::Done { .. } => StepId::RequestingCode,
            Step::ShowCode { .. } => StepId::ShowCode,
        }
    }

    fn proof_code(&self) -> &'static str {
        match self.proof {
            BindingProof::Credential { .. } => "binding.proof_credential",
            BindingProof::Identity { .. } => "binding.proof_identity",
        }
    }

    /// Writes the outcome record; `Err` if it could not be written.
    fn record(
        &mut self,
        decision: RecordDecision,
        reason: &'static str,
        cx: &mut Cx<'_, '_>,
    ) -> Result<(), ()> {
        let record = OutcomeRecord {
            decision,
            scores: Vec::new(),
            reasons: vec![reason.to_owned(), self.proof_code().to_owned()],
        };
        cx.ports
            .records
            .record_outcome(cx.session_id, cx.teller, &record)
            .map(|_| ())
            .map_err(|e| {
                tracing::error!(code = e.0, "recording the re-binding failed");
                self.notice = Some(Msg::new(m::N_RECORD_FAILED));
            })
    }

    fn answered(&mut self, result: Result<BindingCode, &'static str>, cx: &mut Cx<'_, '_>) -> Flow {
        match result {
            Ok(code) => {
                if self
                    .record(RecordDecision::Accepted, m::R_BINDING_ISSUED, cx)
                    .is_err()
                {
                    return end(Outcome::Cancelled, m::N_RECORD_FAILED, SessionEnd::Failed);
                }
                let left = code.expires_at_ms.saturating_sub(cx.ports.clock.unix_ms());
                self.minutes = (left + 59_999) / 60_000;
                let left = u64::try_from(left).unwrap_or(0);
                self.code = Some(code);
                self.step = Step::ShowCode {
                    until: cx.now + left.min(cx.settings.timeouts.show_qr),
                };
                Flow::Continue
            }
            Err(reason) => {
                let decision = if reason == m::R_BINDING_UNREACHABLE {
                    RecordDecision::Referred
                } else {
                    RecordDecision::Rejected
                };
                if self.record(decision, reason, cx).is_err() {
                    return end(Outcome::Cancelled, m::N_RECORD_FAILED, SessionEnd::Failed);
                }
                end(Outcome::CodeNotIssued, reason, SessionEnd::Completed)
            }
        }
    }

    fn finished(&mut self) -> Flow {
        self.code = None;
        end(
            Outcome::CodeIssued,
            m::R_BINDING_ISSUED,
            SessionEnd::Completed,
        )
    }
}

/// The message code of a backend fault (an unknown code is reported as a failure, not raw).
fn fault_reason(code: &'static str) -> &'static str {
    if code.starts_with("binding.") && m::ALL.contains(&code) {
        code
    } else {
        m::R_BINDING_FAILED
    }
}

impl Procedure for Rebinding {
    fn kind(&self) -> ProcedureKind {
        ProcedureKind::DeviceRebinding
    }

    fn begin(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        cx.ports.backend.request_binding_code(BindingRequest {
            session_id: cx.session_id.to_owned(),
            proof: self.proof.clone(),
        });
        self.step = Step::Requesting {
            until: cx.now + cx.settings.timeouts.backend,
        };
        Flow::Continue
    }

    fn input(&mut self, input: Input, cx: &mut Cx<'_, '_>) -> Result<Flow, Refusal> {
        match input {
            Input::Backend(BackendEvent::BindingCode { session_id, result }) => {
                // An answer to another session's request (a cancelled one) is dropped.
                if session_id != cx.session_id || !matches!(self.step, Step::Requesting { .. }) {
                    return Ok(Flow::Continue);
                }
                Ok(self.answered(result.map_err(|f| fault_reason(f.0)), cx))
            }
            Input::Confirm if self.step_id() == StepId::ShowCode => Ok(self.finished()),
            Input::CardInserted | Input::CardRemoved | Input::Face(_) => Ok(Flow::Continue),
            _ => Err(Refusal::NOT_NOW),
        }
    }

    fn deadline(&self) -> Millis {
        match self.step {
            Step::Requesting { until } | Step::ShowCode { until } | Step::Done { until } => until,
        }
    }

    fn timeout(&mut self, cx: &mut Cx<'_, '_>) -> Flow {
        match self.step {
            // The code was issued and recorded: it was shown until it expired or time ran out.
            Step::ShowCode { .. } => self.finished(),
            Step::Requesting { .. } => {
                let flow = self.answered(Err(m::R_TIMEOUT_BACKEND), cx);
                self.abort(cx);
                flow
            }
            Step::Done { .. } => end(Outcome::Cancelled, m::R_INACTIVITY, SessionEnd::Cancelled),
        }
    }

    fn run_pending(&mut self, _cx: &mut Cx<'_, '_>) -> Option<Flow> {
        None
    }

    fn abort(&mut self, cx: &mut Cx<'_, '_>) {
        self.code = None;
        self.step = Step::Done { until: cx.now };
    }

    fn view(&self) -> ProcView<'_> {
        let (t_msg, actions, c_msg, picture) = match self.step {
            Step::Requesting { .. } | Step::Done { .. } => (
                Msg::new(m::T_REQUESTING_CODE),
                Actions {
                    cancel: true,
                    ..Actions::default()
                },
                m::C_WAIT,
                Picture::Wait,
            ),
            Step::ShowCode { .. } => (
                Msg::new(m::T_SHOW_CODE).with("minutes", self.minutes),
                Actions {
                    confirm: true,
                    cancel: true,
                    ..Actions::default()
                },
                m::C_SCAN_BINDING,
                Picture::Phone,
            ),
        };
        ProcView {
            step: self.step_id(),
            route: None,
            teller: TellerPanel::plain(t_msg, self.notice.clone(), actions),
            customer: CustomerPanel {
                qr_png: match self.step {
                    Step::ShowCode { .. } => self.code.as_ref().map(|c| c.qr_png.clone()),
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
