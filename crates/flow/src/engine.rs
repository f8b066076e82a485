//! The procedure engine: one [`Counter`] per kiosk, fed [`Input`]s by the app's runner thread,
//! running at most one procedure at a time over the [`Ports`].
//!
//! The counter owns what every procedure shares: the idle screen, starting a procedure (a
//! ledger session for the signed-in teller), the card's presence, every step's deadline (a
//! [`Input::Tick`] past it ends the step as its procedure says — most often a cancel that wipes
//! the customer's data), the teller's cancel, and the result screen, which holds no personal
//! data and clears itself. A procedure ([`Procedure`]) owns its own steps.
//!
//! Guarantees (checked by the property tests in `tests/properties.rs` over random input
//! sequences): every step has a deadline, so nothing waits forever; every started procedure
//! ends with its session closed (completed, cancelled or failed); a secret lives only in the
//! steps that use it; no customer data is held on the idle and result screens; the card is
//! released and the camera stopped when a procedure ends.
//!
//! What it does not do: own a thread, a device, a window or a database (the runner and the
//! ports do), or know how a step is drawn (the view is data).

use crate::identity::{IdentityStart, IdentityVerification};
use crate::keypad::Key;
use crate::messages as m;
use crate::ports::{CodeBInput, FaceEvent, Millis, Ports, SessionEnd, TellerRef};
use crate::qr_auth::{QrAuthStart, QrAuthentication};
use crate::view::{
    Actions, CustomerPanel, Msg, Outcome, Picture, ResultSummary, StepId, TellerPanel, View,
};

/// How long each step may take, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// For the card to be placed.
    pub wait_card: Millis,
    /// For the PIN to be typed.
    pub pin_entry: Millis,
    /// For a card taken off mid-read to come back.
    pub card_back: Millis,
    /// For the teller to type 照合番号B again.
    pub code_b_entry: Millis,
    /// For the live check (capture, challenge, decision).
    pub face: Millis,
    /// For a lost camera to come back.
    pub camera_back: Millis,
    /// For the signing password.
    pub sign_entry: Millis,
    /// For the teller's review (then the customer's data is wiped).
    pub review: Millis,
    /// For the customer to show the phone's QR.
    pub scan_qr: Millis,
    /// For the customer to save the new credential's QR (and to scan a binding code, at
    /// most until it expires).
    pub show_qr: Millis,
    /// For the bank's backend to answer a call a step waits for.
    pub backend: Millis,
    /// The result screen, then the idle screen.
    pub result: Millis,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            wait_card: 120_000,
            pin_entry: 90_000,
            card_back: 45_000,
            code_b_entry: 120_000,
            face: 45_000,
            camera_back: 60_000,
            sign_entry: 120_000,
            review: 180_000,
            scan_qr: 60_000,
            show_qr: 180_000,
            backend: 30_000,
            result: 30_000,
        }
    }
}

/// What the counter needs to know of the kiosk.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Kiosk id (records).
    pub kiosk_id: String,
    /// 店番 (records).
    pub branch_code: String,
    /// Step deadlines.
    pub timeouts: Timeouts,
}

/// Something that happened: a teller or customer action, a device event, time passing.
#[derive(Debug)]
pub enum Input {
    /// The teller starts a procedure.
    Start(Start),
    /// The teller typed 照合番号B again (after a wrong one).
    CodeB(CodeBInput),
    /// The customer pressed a key on the keypad.
    Key(Key),
    /// A card was placed on the reader.
    CardInserted,
    /// The card left the reader.
    CardRemoved,
    /// The live face check reports.
    Face(FaceEvent),
    /// The teller confirms the kiosk's decision (at review), or finishes a step that waits
    /// for them (the customer has saved the new credential).
    Confirm,
    /// At review of a verified identity: confirm, then issue a face credential to the
    /// customer in the same visit.
    ConfirmEnroll,
    /// At review of a verified identity: confirm, then re-bind the customer's passkey device
    /// (a one-time binding code from the backend, shown on the customer display).
    ConfirmRebind,
    /// The bank's backend answered a call.
    Backend(crate::ports::BackendEvent),
    /// The teller overrides it (`accept`: verified despite the kiosk, else not verified),
    /// with a written reason, approved by a supervisor (four eyes: another person, whose key
    /// the caller has verified just now).
    Override {
        /// Verified (true) or not verified (false).
        accept: bool,
        /// The teller's reason, 1 to 2000 characters.
        reason: String,
        /// The approving supervisor; `None` (or unverified, or the teller themself) is refused.
        approver: Option<TellerRef>,
    },
    /// The teller goes on without the JPKI signature.
    SkipSign,
    /// Cancel the running procedure, with a reason code ([`m::R_CANCELLED_TELLER`], …).
    Cancel(&'static str),
    /// The teller clears the result for the next customer.
    Next,
    /// Time passed (the runner sends one every few hundred ms).
    Tick,
}

/// Which procedure to start.
#[derive(Debug)]
pub enum Start {
    /// Identity verification with the My Number card and the face.
    Identity(IdentityStart),
    /// Authentication with the customer's face credential QR and the live face.
    QrAuth(QrAuthStart),
}

/// An input the counter did not take, with a code for the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refusal(pub &'static str);

impl Refusal {
    /// Not possible in this step.
    pub const NOT_NOW: Refusal = Refusal("flow.not_now");
}

/// What a procedure's step did.
#[derive(Debug)]
pub enum Flow {
    /// The procedure goes on (its step may have changed).
    Continue,
    /// The procedure is over: its records are written; the counter closes the session and
    /// shows the summary.
    End(Ending),
    /// The procedure is over (as for [`Flow::End`]) and the next one starts at once for the
    /// same teller and customer, in a session of its own; what it needs of this one it was
    /// given (moved), nothing else survives.
    Then(Ending, Box<dyn Procedure>),
}

/// How a procedure ended.
#[derive(Debug)]
pub struct Ending {
    /// For the result screen.
    pub summary: ResultSummary,
    /// For the session record.
    pub end: SessionEnd,
}

/// What a procedure gets for one step.
pub struct Cx<'p, 'a> {
    /// The ports.
    pub ports: &'p mut Ports<'a>,
    /// Now (monotonic ms).
    pub now: Millis,
    /// A card is on the reader.
    pub card_present: bool,
    /// Kiosk settings.
    pub settings: &'p Settings,
    /// The session.
    pub session_id: &'p str,
    /// The teller.
    pub teller: &'p TellerRef,
}

/// A procedure's own part of the view.
#[derive(Debug)]
pub struct ProcView<'a> {
    /// The step.
    pub step: StepId,
    /// The route, for card procedures.
    pub route: Option<crate::ports::Route>,
    /// The teller console (the counter adds the shared buttons).
    pub teller: TellerPanel<'a>,
    /// The customer display.
    pub customer: CustomerPanel,
}

/// One counter procedure's steps.
pub trait Procedure: Send + std::fmt::Debug {
    /// Its kind, for the records.
    fn kind(&self) -> crate::ports::ProcedureKind;
    /// Runs the first step (the session is open).
    fn begin(&mut self, cx: &mut Cx<'_, '_>) -> Flow;
    /// Takes an input (not `Start`, `Tick`, `Cancel` or `Next`, which the counter handles).
    fn input(&mut self, input: Input, cx: &mut Cx<'_, '_>) -> Result<Flow, Refusal>;
    /// When the current step's time is up.
    fn deadline(&self) -> Millis;
    /// The current step's time is up.
    fn timeout(&mut self, cx: &mut Cx<'_, '_>) -> Flow;
    /// Runs the work the current step announced (a card read, a signature), after the screens
    /// have shown that step; `None` when there is none.
    fn run_pending(&mut self, cx: &mut Cx<'_, '_>) -> Option<Flow>;
    /// Stops whatever runs (camera, card) before a cancel; the counter closes the session.
    fn abort(&mut self, cx: &mut Cx<'_, '_>);
    /// What the screens show.
    fn view(&self) -> ProcView<'_>;
    /// A secret (PIN, password, code) is held now.
    fn holds_secret(&self) -> bool;
    /// The current step is one that may hold a secret.
    fn secret_step(&self) -> bool;
}

struct Running {
    session_id: String,
    teller: TellerRef,
    procedure: Box<dyn Procedure>,
}

enum State {
    Idle,
    Running(Running),
    Result {
        summary: ResultSummary,
        until: Millis,
    },
}

/// The kiosk's counter: the one place procedures run.
pub struct Counter {
    settings: Settings,
    card_present: bool,
    state: State,
    notice: Option<Msg>,
    /// Sessions whose close the ledger refused (disk full…): retried on every tick, so a
    /// session always ends in the records once the ledger works again.
    unclosed: Vec<(String, SessionEnd, &'static str)>,
}

impl std::fmt::Debug for Counter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Counter")
            .field("step", &self.step())
            .field("card_present", &self.card_present)
            .finish_non_exhaustive()
    }
}

impl Counter {
    /// An idle counter.
    pub fn new(settings: Settings) -> Self {
        Counter {
            settings,
            card_present: false,
            state: State::Idle,
            notice: None,
            unclosed: Vec::new(),
        }
    }

    /// Sessions whose close is still to be written (the ledger refused it so far).
    pub fn unclosed_sessions(&self) -> usize {
        self.unclosed.len()
    }

    /// The current step.
    pub fn step(&self) -> StepId {
        match &self.state {
            State::Idle => StepId::Idle,
            State::Running(r) => r.procedure.view().step,
            State::Result { .. } => StepId::Result,
        }
    }

    /// The finished procedure's summary, on the result screen.
    pub fn result(&self) -> Option<&ResultSummary> {
        match &self.state {
            State::Result { summary, .. } => Some(summary),
            _ => None,
        }
    }

    /// A procedure is running (neither idle nor showing a result).
    pub fn is_running(&self) -> bool {
        matches!(self.state, State::Running(_))
    }

    /// A secret is held now.
    pub fn holds_secret(&self) -> bool {
        match &self.state {
            State::Running(r) => r.procedure.holds_secret(),
            _ => false,
        }
    }

    /// The current step may hold a secret (for the property tests).
    pub fn in_secret_step(&self) -> bool {
        match &self.state {
            State::Running(r) => r.procedure.secret_step(),
            _ => false,
        }
    }

    /// Customer data (chip data, the captured face) is held now: only while running.
    pub fn holds_customer_data(&self) -> bool {
        matches!(self.state, State::Running(_))
    }

    /// A card is on the reader, as far as the counter knows.
    pub fn card_present(&self) -> bool {
        self.card_present
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Takes one input. The screens are updated through `ports.screens` when the step
    /// changed. A refused input changes nothing.
    pub fn handle(&mut self, input: Input, ports: &mut Ports<'_>) -> Result<(), Refusal> {
        let now = ports.clock.now_ms();
        let before = self.step();
        let quiet = matches!(input, Input::Tick | Input::Face(FaceEvent::Progress(_)));
        let result = self.dispatch(input, ports, now);
        if !quiet || self.step() != before {
            self.publish(ports, now);
        }
        // Work a step announced (a card read) runs now that the screens show the step.
        while let Some(flow) = self
            .with_running(ports, now, |proc_, cx| proc_.run_pending(cx))
            .flatten()
        {
            let now = ports.clock.now_ms();
            self.follow(flow, ports, now);
            self.publish(ports, now);
        }
        result
    }

    fn dispatch(&mut self, input: Input, p: &mut Ports<'_>, now: Millis) -> Result<(), Refusal> {
        match input {
            Input::Start(start) => {
                if matches!(self.state, State::Running(_)) {
                    return Err(Refusal("flow.busy"));
                }
                self.start(start, p, now)
            }
            Input::Tick => {
                self.tick(p, now);
                Ok(())
            }
            Input::Next => match self.state {
                State::Result { .. } => {
                    self.state = State::Idle;
                    Ok(())
                }
                _ => Err(Refusal::NOT_NOW),
            },
            Input::Cancel(reason) => match self.state {
                State::Running(_) => {
                    self.cancel(reason, SessionEnd::Cancelled, p, now);
                    Ok(())
                }
                State::Result { .. } => {
                    self.state = State::Idle;
                    Ok(())
                }
                State::Idle => Err(Refusal::NOT_NOW),
            },
            other => {
                match &other {
                    Input::CardInserted => self.card_present = true,
                    Input::CardRemoved => self.card_present = false,
                    _ => {}
                }
                let device_event = matches!(
                    other,
                    Input::CardInserted | Input::CardRemoved | Input::Face(_) | Input::Backend(_)
                );
                let flow = self.with_running(p, now, |proc_, cx| proc_.input(other, cx));
                match flow {
                    Some(Ok(flow)) => {
                        self.follow(flow, p, now);
                        Ok(())
                    }
                    Some(Err(r)) => Err(r),
                    // Device events outside a procedure are just facts.
                    None if device_event => Ok(()),
                    None => Err(Refusal::NOT_NOW),
                }
            }
        }
    }

    fn start(&mut self, start: Start, p: &mut Ports<'_>, now: Millis) -> Result<(), Refusal> {
        let (procedure, teller): (Box<dyn Procedure>, TellerRef) = match start {
            Start::Identity(s) => {
                let teller = s.teller.clone();
                (Box::new(IdentityVerification::new(s)?), teller)
            }
            Start::QrAuth(s) => {
                let teller = s.teller.clone();
                (Box::new(QrAuthentication::new(s)), teller)
            }
        };
        self.run(procedure, teller, p, now)
    }

    /// Opens the session of `procedure` and runs its first step.
    fn run(
        &mut self,
        mut procedure: Box<dyn Procedure>,
        teller: TellerRef,
        p: &mut Ports<'_>,
        now: Millis,
    ) -> Result<(), Refusal> {
        let session_id = match p.records.open_session(procedure.kind(), &teller) {
            Ok(id) => id,
            Err(e) => {
                self.notice = Some(Msg::new(m::N_START_FAILED));
                return Err(Refusal(e.0));
            }
        };
        self.notice = None;
        let flow = {
            let mut cx = Cx {
                ports: p,
                now,
                card_present: self.card_present,
                settings: &self.settings,
                session_id: &session_id,
                teller: &teller,
            };
            procedure.begin(&mut cx)
        };
        self.state = State::Running(Running {
            session_id,
            teller,
            procedure,
        });
        self.follow(flow, p, now);
        Ok(())
    }

    fn with_running<T>(
        &mut self,
        p: &mut Ports<'_>,
        now: Millis,
        f: impl FnOnce(&mut dyn Procedure, &mut Cx<'_, '_>) -> T,
    ) -> Option<T> {
        let State::Running(r) = &mut self.state else {
            return None;
        };
        let mut cx = Cx {
            ports: p,
            now,
            card_present: self.card_present,
            settings: &self.settings,
            session_id: &r.session_id,
            teller: &r.teller,
        };
        Some(f(r.procedure.as_mut(), &mut cx))
    }

    fn follow(&mut self, flow: Flow, p: &mut Ports<'_>, now: Millis) {
        match flow {
            Flow::Continue => {}
            Flow::End(ending) => self.finish(ending, p, now),
            Flow::Then(ending, next) => {
                let State::Running(r) = &self.state else {
                    return;
                };
                let teller = r.teller.clone();
                self.finish(ending, p, now);
                // A next procedure that cannot open its session leaves the first one's result
                // on screen with the notice; the procedure and what it was given are dropped.
                let _ = self.run(next, teller, p, now);
            }
        }
    }

    /// Ends the running procedure: the session is closed, the card released, the camera
    /// stopped; the procedure (and every piece of customer data it held) is dropped.
    fn finish(&mut self, ending: Ending, p: &mut Ports<'_>, now: Millis) {
        let State::Running(r) = std::mem::replace(&mut self.state, State::Idle) else {
            return;
        };
        p.face.stop();
        p.card.release();
        let mut summary = ending.summary;
        if let Err(e) = p
            .records
            .close_session(&r.session_id, ending.end, summary.reason)
        {
            tracing::error!(
                code = e.0,
                "the session could not be closed in the ledger; retrying"
            );
            self.notice = Some(Msg::new(m::N_RECORD_FAILED));
            self.unclosed
                .push((r.session_id.clone(), ending.end, summary.reason));
        }
        summary.session_id = Some(r.session_id.clone());
        drop(r);
        self.state = State::Result {
            summary,
            until: now + self.settings.timeouts.result,
        };
    }

    fn cancel(&mut self, reason: &'static str, end: SessionEnd, p: &mut Ports<'_>, now: Millis) {
        self.with_running(p, now, |proc_, cx| proc_.abort(cx));
        self.finish(
            Ending {
                summary: ResultSummary::ended(Outcome::Cancelled, reason),
                end,
            },
            p,
            now,
        );
    }

    fn tick(&mut self, p: &mut Ports<'_>, now: Millis) {
        self.unclosed
            .retain(|(id, end, reason)| p.records.close_session(id, *end, reason).is_err());
        match &self.state {
            State::Idle => {}
            State::Result { until, .. } => {
                if now >= *until {
                    self.state = State::Idle;
                }
            }
            State::Running(r) => {
                if now >= r.procedure.deadline() {
                    let flow = self.with_running(p, now, |proc_, cx| proc_.timeout(cx));
                    if let Some(flow) = flow {
                        self.follow(flow, p, now);
                    }
                }
            }
        }
    }

    /// The view of the current step.
    pub fn view(&self, now: Millis) -> View<'_> {
        let idle_actions = Actions {
            start: true,
            ..Actions::default()
        };
        match &self.state {
            State::Idle => View {
                step: StepId::Idle,
                procedure: None,
                route: None,
                remaining_ms: None,
                teller: TellerPanel::plain(Msg::new(m::T_IDLE), self.notice.clone(), idle_actions),
                customer: CustomerPanel::plain(Msg::new(m::C_IDLE), Picture::Welcome),
            },
            State::Result { summary, until } => {
                let (message, picture) = match summary.outcome {
                    Outcome::Verified => (m::C_DONE_OK, Picture::Done),
                    Outcome::Issued => (m::C_DONE_ISSUED, Picture::Done),
                    Outcome::CodeIssued => (m::C_DONE_CODE_ISSUED, Picture::Done),
                    Outcome::CodeNotIssued => (m::C_DONE_CODE_NOT_ISSUED, Picture::Teller),
                    Outcome::Refused => (m::C_DONE_MUNICIPALITY, Picture::Teller),
                    Outcome::Cancelled => (m::C_CANCELLED, Picture::Welcome),
                    Outcome::NotVerified | Outcome::AttackSuspected => {
                        (m::C_DONE_NOT, Picture::Teller)
                    }
                };
                View {
                    step: StepId::Result,
                    procedure: None,
                    route: None,
                    remaining_ms: Some(until.saturating_sub(now)),
                    teller: TellerPanel {
                        message: Msg::new(m::T_RESULT),
                        notice: self.notice.clone(),
                        actions: Actions {
                            next: true,
                            ..idle_actions
                        },
                        tries_left: summary.tries_left,
                        chip: None,
                        face: None,
                        proposed: None,
                        signature: None,
                        result: Some(summary),
                        issued: None,
                        my_number_read: false,
                    },
                    customer: CustomerPanel {
                        message: Msg::new(message),
                        notice: None,
                        picture,
                        keypad: None,
                        camera: false,
                        qr_guide: false,
                        qr_png: None,
                        outcome: Some(summary.outcome),
                    },
                }
            }
            State::Running(r) => {
                let v = r.procedure.view();
                let mut teller = v.teller;
                teller.actions.cancel = true;
                View {
                    step: v.step,
                    procedure: Some(r.procedure.kind()),
                    route: v.route,
                    remaining_ms: Some(r.procedure.deadline().saturating_sub(now)),
                    teller,
                    customer: v.customer,
                }
            }
        }
    }

    fn publish(&self, p: &mut Ports<'_>, now: Millis) {
        let view = self.view(now);
        p.screens.show(&view);
    }

    /// Shows the current step again (a window that just opened asks for it).
    pub fn republish(&self, ports: &mut Ports<'_>) {
        let now = ports.clock.now_ms();
        self.publish(ports, now);
    }
}
