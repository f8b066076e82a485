//! What the screens show at each step, as plain Rust data: the teller console's panel and the
//! customer display's panel, built by the procedure and handed to [`crate::Screens::show`].
//!
//! The two panels are separate on purpose: the kiosk sends the teller panel only to the teller
//! console and the customer panel only to the customer display, so the customer side never
//! receives the chip data or the scores. Texts are message codes ([`crate::messages`]).
//! Turning this into JSON for the web side is the app's job (its DTOs), not this crate's.

use crate::keypad::KeypadKind;
use crate::ports::{ChipData, FaceResult, IssuedCredential, PrivateBytes, ProcedureKind, Route};

/// A message code with its numeric parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Msg {
    /// The code.
    pub code: &'static str,
    /// Named values (`tries`, `seconds`).
    pub params: Vec<(&'static str, i64)>,
}

impl Msg {
    /// A code without parameters.
    pub fn new(code: &'static str) -> Self {
        Msg {
            code,
            params: Vec::new(),
        }
    }
    /// Adds a parameter.
    pub fn with(mut self, name: &'static str, value: i64) -> Self {
        self.params.push((name, value));
        self
    }
}

/// The step a procedure is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepId {
    /// Nothing running.
    Idle,
    /// Waiting for the card.
    WaitCard,
    /// 照合番号B to be typed again by the teller.
    CodeBEntry,
    /// The customer types the PIN.
    PinEntry,
    /// Reading the card.
    Reading,
    /// The card left mid-operation; waiting for it to come back.
    CardBack,
    /// Live capture and challenge.
    Face,
    /// The camera is gone.
    CameraLost,
    /// The customer types the signing password.
    SignEntry,
    /// The card signs.
    Signing,
    /// The teller reviews.
    Review,
    /// Writing the records.
    Recording,
    /// The customer holds the phone's QR up to the camera.
    ScanQr,
    /// The credential read from the QR is checked.
    CheckingQr,
    /// The backend checks the enrolled face against the other identities' (1:N).
    DuplicateCheck,
    /// The face matches another identity's: the teller reviews before issuing.
    DuplicateReview,
    /// The credential is issued.
    Issuing,
    /// The new credential's QR is on the customer display for the phone to save.
    ShowQr,
    /// The kiosk asks the backend for a passkey binding code.
    RequestingCode,
    /// The binding code's QR is on the customer display for the new phone to scan.
    ShowCode,
    /// The outcome is recorded; nothing personal is held any more.
    Result,
}

impl StepId {
    /// Stable name (`wait_card`, `pin_entry`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            StepId::Idle => "idle",
            StepId::WaitCard => "wait_card",
            StepId::CodeBEntry => "code_b_entry",
            StepId::PinEntry => "pin_entry",
            StepId::Reading => "reading",
            StepId::CardBack => "card_back",
            StepId::Face => "face",
            StepId::CameraLost => "camera_lost",
            StepId::SignEntry => "sign_entry",
            StepId::Signing => "signing",
            StepId::Review => "review",
            StepId::Recording => "recording",
            StepId::ScanQr => "scan_qr",
            StepId::CheckingQr => "checking_qr",
            StepId::DuplicateCheck => "duplicate_check",
            StepId::DuplicateReview => "duplicate_review",
            StepId::Issuing => "issuing",
            StepId::ShowQr => "show_qr",
            StepId::RequestingCode => "requesting_code",
            StepId::ShowCode => "show_code",
            StepId::Result => "result",
        }
    }
}

/// The buttons the teller may press now (the kiosk also refuses the others).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Actions {
    /// Start a procedure.
    pub start: bool,
    /// Cancel the running one.
    pub cancel: bool,
    /// Confirm the kiosk's decision.
    pub confirm: bool,
    /// Override it with a written reason.
    pub override_: bool,
    /// Clear the result for the next customer.
    pub next: bool,
    /// Type 照合番号B again.
    pub code_b: bool,
    /// Go on without the signature.
    pub skip_sign: bool,
    /// Confirm and issue a face credential to the customer (at review, verified only).
    pub enroll: bool,
    /// Confirm and re-bind the customer's passkey device (at review, verified only).
    pub rebind: bool,
}

/// How a procedure ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The identity was verified.
    Verified,
    /// It was not (different person, no face, the teller rejected).
    NotVerified,
    /// A presentation attack or a cloned card is suspected.
    AttackSuspected,
    /// The kiosk refused to try (one PIN try left, locked card).
    Refused,
    /// Cancelled (teller, customer, timeout).
    Cancelled,
    /// A face credential was issued.
    Issued,
    /// A passkey binding code was issued and shown.
    CodeIssued,
    /// No binding code: the backend refused or could not be reached.
    CodeNotIssued,
}

impl Outcome {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Verified => "verified",
            Outcome::NotVerified => "not_verified",
            Outcome::AttackSuspected => "attack_suspected",
            Outcome::Refused => "refused",
            Outcome::Cancelled => "cancelled",
            Outcome::Issued => "issued",
            Outcome::CodeIssued => "code_issued",
            Outcome::CodeNotIssued => "code_not_issued",
        }
    }
}

/// What is left of a finished procedure: no personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultSummary {
    /// The outcome.
    pub outcome: Outcome,
    /// Its reason code.
    pub reason: &'static str,
    /// The face score and threshold, when a face check ran.
    pub score: Option<f32>,
    /// Threshold.
    pub threshold: Option<f32>,
    /// The teller overrode the kiosk's decision.
    pub overridden: bool,
    /// The session id (for the teller's history).
    pub session_id: Option<String>,
    /// The confirmation record's id, when one was written.
    pub confirmation_id: Option<String>,
    /// Tries left on the card, when that is why it ended.
    pub tries_left: Option<u8>,
}

impl ResultSummary {
    /// An ending with just an outcome and its reason (no face score, no records to name).
    pub fn ended(outcome: Outcome, reason: &'static str) -> Self {
        ResultSummary {
            outcome,
            reason,
            score: None,
            threshold: None,
            overridden: false,
            session_id: None,
            confirmation_id: None,
            tries_left: None,
        }
    }
}

/// The signature step's state, for the teller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureState {
    /// Asked for at the start, not done yet.
    Pending,
    /// The evidence is signed.
    Signed,
    /// Not signed; the code says why (`card.no_sign_certificate`, `sign.skipped`, …).
    Skipped(&'static str),
}

/// The teller console's panel.
#[derive(Debug)]
pub struct TellerPanel<'a> {
    /// What is happening.
    pub message: Msg,
    /// A warning or error to read now.
    pub notice: Option<Msg>,
    /// Enabled buttons.
    pub actions: Actions,
    /// Tries left on the PIN (or code), when known.
    pub tries_left: Option<u8>,
    /// The chip data (personal: the teller's screen only).
    pub chip: Option<&'a ChipData>,
    /// The live check's result.
    pub face: Option<&'a FaceResult>,
    /// The kiosk's proposed outcome at review.
    pub proposed: Option<(Outcome, &'static str)>,
    /// The signature.
    pub signature: Option<SignatureState>,
    /// The finished procedure.
    pub result: Option<&'a ResultSummary>,
    /// The credential just issued (ids and dates; the QR itself is the customer's).
    pub issued: Option<&'a IssuedCredential>,
    /// The My Number was read for this procedure (never its value).
    pub my_number_read: bool,
}

impl TellerPanel<'_> {
    /// A panel with a message, a notice and actions, and nothing of a customer (the
    /// procedures fill in what their step shows).
    pub fn plain(message: Msg, notice: Option<Msg>, actions: Actions) -> Self {
        TellerPanel {
            message,
            notice,
            actions,
            tries_left: None,
            chip: None,
            face: None,
            proposed: None,
            signature: None,
            result: None,
            issued: None,
            my_number_read: false,
        }
    }
}

/// Which picture the customer display shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Picture {
    /// The counter, nothing to do.
    Welcome,
    /// A card on the reader.
    CardOnReader,
    /// A keypad.
    Keypad,
    /// An hourglass: wait.
    Wait,
    /// A face in the camera's frame.
    Camera,
    /// Done, a check mark.
    Done,
    /// Done, the teller explains.
    Teller,
    /// A phone showing its QR to the camera.
    Phone,
}

impl Picture {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Picture::Welcome => "welcome",
            Picture::CardOnReader => "card",
            Picture::Keypad => "keypad",
            Picture::Wait => "wait",
            Picture::Camera => "camera",
            Picture::Done => "done",
            Picture::Teller => "teller",
            Picture::Phone => "phone",
        }
    }
}

/// The keypad on the customer display: its kind and how many characters are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeypadView {
    /// Digits or alphanumeric.
    pub kind: KeypadKind,
    /// Characters typed so far (the value never leaves Rust).
    pub typed: usize,
    /// Tries left on the card.
    pub tries_left: Option<u8>,
}

/// The customer display's panel: guidance only, no personal data.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerPanel {
    /// What to do.
    pub message: Msg,
    /// A warning to read now.
    pub notice: Option<Msg>,
    /// The picture.
    pub picture: Picture,
    /// The keypad, when the customer types.
    pub keypad: Option<KeypadView>,
    /// Show the live camera preview with the face guide.
    pub camera: bool,
    /// Show the live camera preview with the QR guide.
    pub qr_guide: bool,
    /// The face credential's QR (PNG) for the customer's phone to save.
    pub qr_png: Option<PrivateBytes>,
    /// The outcome in plain words, at the end.
    pub outcome: Option<Outcome>,
}

impl CustomerPanel {
    /// A panel with a message and a picture only (no keypad, camera or QR).
    pub fn plain(message: Msg, picture: Picture) -> Self {
        CustomerPanel {
            message,
            notice: None,
            picture,
            keypad: None,
            camera: false,
            qr_guide: false,
            qr_png: None,
            outcome: None,
        }
    }
}

/// One step, for both screens.
#[derive(Debug)]
pub struct View<'a> {
    /// The step.
    pub step: StepId,
    /// The procedure running.
    pub procedure: Option<ProcedureKind>,
    /// Its route.
    pub route: Option<Route>,
    /// Time left in this step, ms.
    pub remaining_ms: Option<u64>,
    /// The teller console.
    pub teller: TellerPanel<'a>,
    /// The customer display.
    pub customer: CustomerPanel,
}
