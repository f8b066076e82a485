//! The ports: everything a procedure needs from the world, as traits this crate owns, and the
//! plain data that crosses them. The kiosk (`src-tauri`) implements them over the card reader
//! (PC/SC), the face engine and camera, the ledger and the windows; the tests implement them
//! in memory. A procedure calls a port and gets an answer (card and record calls block for the
//! length of one card read or one transaction, on the runner's thread); long work (the live
//! face check) is started through a port and reports back as [`crate::Input`]s.
//!
//! Personal data in these types (names, addresses, photos, the captured face) is held in
//! zeroizing buffers and never shown by `Debug`. Nothing here knows about PC/SC, tract,
//! SQLite, Tauri or JSON for the UI.

use std::fmt;

use zeroize::Zeroizing;

use crate::keypad::Secret;
use crate::record::ConfirmationRecord;

/// Monotonic milliseconds (the runner's clock; only differences matter).
pub type Millis = u64;

/// Time, for step deadlines and records.
pub trait Clock {
    /// Monotonic milliseconds.
    fn now_ms(&self) -> Millis;
    /// Wall-clock milliseconds since the UNIX epoch (for records).
    fn unix_ms(&self) -> i64;
}

/// A fair coin, for the random parts of a challenge (which way to turn).
pub trait Coin {
    /// `true` or `false` with equal chance.
    fn flip(&mut self) -> bool;
}

/// How a card-reading procedure opens the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The customer's 4-digit PIN (券面事項入力補助AP, then 照合番号A).
    Pin,
    /// 照合番号B typed by the teller from the card face; no PIN, no My Number.
    CodeB,
}

impl Route {
    /// Stable name (`pin`, `code_b`).
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Pin => "pin",
            Route::CodeB => "code_b",
        }
    }
}

/// A retry counter as the card reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tries {
    /// This many tries left.
    Left(u8),
    /// No limit (照合番号 on some cards).
    Unlimited,
}

/// What 照合番号B is made of, as the teller typed it from the card face.
pub struct CodeBInput {
    /// 生年月日 (Gregorian year, month, day).
    pub birth_date: (u16, u8, u8),
    /// The card's expiry year (有効期限の年).
    pub expiry_year: u16,
    /// The 4-digit セキュリティコード.
    pub security_code: Secret,
}

impl fmt::Debug for CodeBInput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeBInput(<redacted>)")
    }
}

impl CodeBInput {
    /// Whether the parts have the right form (nothing is sent to the card otherwise).
    pub fn check(&self) -> Result<(), &'static str> {
        let (y, m, d) = self.birth_date;
        if !(1868..=2100).contains(&y) || !(1..=12).contains(&m) || !(1..=31).contains(&d) {
            return Err("code_b.birth_date_invalid");
        }
        if !(2014..=2100).contains(&self.expiry_year) {
            return Err("code_b.expiry_year_invalid");
        }
        let code = self.security_code.expose();
        if code.len() != 4 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err("code_b.security_code_invalid");
        }
        Ok(())
    }
}

/// A person's data that is zeroised on drop and shown by `Debug` as a size only.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Private(pub Zeroizing<String>);

impl Private {
    /// Wraps a value.
    pub fn new(s: impl Into<String>) -> Self {
        Private(Zeroizing::new(s.into()))
    }
    /// The value.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Private {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Private(<{} chars>)", self.0.chars().count())
    }
}

/// Bytes of a person's data (images), zeroised on drop, `Debug` shows the size.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct PrivateBytes(pub Zeroizing<Vec<u8>>);

impl PrivateBytes {
    /// Wraps bytes.
    pub fn new(b: Vec<u8>) -> Self {
        PrivateBytes(Zeroizing::new(b))
    }
    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for PrivateBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateBytes(<{} bytes>)", self.0.len())
    }
}

/// 性別.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sex {
    /// 男.
    Male,
    /// 女.
    Female,
    /// Not stated / not applicable.
    Other,
}

impl Sex {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Male => "male",
            Sex::Female => "female",
            Sex::Other => "other",
        }
    }
}

/// The 本人特定事項 as the chip gives them.
#[derive(Debug, Clone)]
pub enum Holder {
    /// PIN route: the text of the 券面事項入力補助AP (signed digests checked).
    Text {
        /// 氏名.
        name: Private,
        /// 住所.
        address: Private,
    },
    /// 照合番号B route: the card face's signed images (PNG) of the name and address.
    Images {
        /// 氏名, as rendered on the card face.
        name_png: PrivateBytes,
        /// 住所, as rendered on the card face.
        address_png: PrivateBytes,
    },
}

/// The chip photo: PNG for the screens and greyscale pixels for the matcher.
#[derive(Debug, Clone)]
pub struct ChipPhoto {
    /// PNG (greyscale) of the photo, for the teller's screen.
    pub png: PrivateBytes,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Greyscale pixels, row-major.
    pub gray: PrivateBytes,
    /// SHA-256 of the JPEG 2000 bytes as stored on the chip (evidence).
    pub jp2_sha256: [u8; 32],
}

/// Which authenticity checks the card passed (a reading is only returned when all the checks
/// of its route passed; this says which ran).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checks {
    /// Text application's signed digests (PIN route).
    pub text_integrity: bool,
    /// Card-face signature against the CV CA key.
    pub card_face_signature: bool,
    /// Chip challenge-response with the card key (anti-clone).
    pub chip_challenge: bool,
    /// Authentication certificate chained to a JPKI root (PIN route).
    pub auth_certificate: bool,
    /// The checks were made against the TEST hierarchy (simulation only).
    pub test_hierarchy: bool,
}

/// The JPKI authentication certificate, as the record needs it (no personal attributes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthCertificateSummary {
    /// Serial number, hex.
    pub serial: String,
    /// Last day of validity, `YYYY-MM-DD`.
    pub valid_to: String,
    /// Valid today.
    pub valid_today: bool,
}

/// One verified reading of a My Number card.
#[derive(Debug)]
pub struct ChipData {
    /// How the card was opened.
    pub route: Route,
    /// 氏名 and 住所.
    pub holder: Holder,
    /// 生年月日, `YYYY-MM-DD`.
    pub birth_date: Private,
    /// 性別.
    pub sex: Sex,
    /// The card's expiry, `YYYY-MM-DD`.
    pub card_expiry: String,
    /// The chip photo.
    pub photo: ChipPhoto,
    /// SHA-256 of the card face's three signed groups (for the evidence statement).
    pub card_face_sha256: [[u8; 32]; 3],
    /// The authentication certificate (PIN route).
    pub auth_certificate: Option<AuthCertificateSummary>,
    /// The checks that ran.
    pub checks: Checks,
    /// Tries left on the PIN (or 照合番号B) before this reading.
    pub tries_before: Option<u8>,
    /// The My Number, only when the procedure asked for it.
    pub my_number: Option<Secret>,
}

/// Progress of a card read (for the teller's progress bar).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ReadProgress {
    /// Stable name of the file being read (`attributes`, `card_face`, …).
    pub file: &'static str,
    /// Fraction of the whole read done, 0..=1.
    pub fraction: f32,
}

/// Why a card operation did not give its result. Each maps to a message code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CardFault {
    /// No card on the reader.
    NoCard,
    /// The card left the reader during the operation.
    Removed,
    /// The PIN, password or code was wrong; the card counted a try.
    Wrong {
        /// Tries the card says are left.
        tries_left: u8,
    },
    /// One try left: refused before any VERIFY.
    OneTryLeft,
    /// Locked on the card.
    Locked,
    /// The card did not say how many tries are left, so nothing was sent.
    TriesUnknown,
    /// Not a My Number card.
    NotMyNumberCard,
    /// An authenticity check failed (a clone or a forgery).
    CloneSuspected,
    /// A certificate is not from a trusted authority.
    Untrusted,
    /// The card has no signing certificate (holder under 15).
    NoSignCertificate,
    /// The reader or PC/SC failed; the code says how (`reader.gone`, `card.service_unavailable`…).
    Device(&'static str),
}

impl CardFault {
    /// The message code.
    pub fn code(&self) -> &'static str {
        match self {
            CardFault::NoCard => "card.none",
            CardFault::Removed => "card.removed",
            CardFault::Wrong { .. } => "card.pin.wrong",
            CardFault::OneTryLeft => "card.pin.one_try_left",
            CardFault::Locked => "card.pin.locked",
            CardFault::TriesUnknown => "card.pin.retries_unknown",
            CardFault::NotMyNumberCard => "card.not_my_number_card",
            CardFault::CloneSuspected => "card.clone_suspected",
            CardFault::Untrusted => "card.untrusted",
            CardFault::NoSignCertificate => "card.no_sign_certificate",
            CardFault::Device(code) => code,
        }
    }
}

/// What is bound by a JPKI evidence signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EvidenceBinding {
    /// SHA-256 of the captured face image (as stored).
    pub face_image_sha256: [u8; 32],
    /// SHA-256 of the card face's signed groups.
    pub card_face_sha256: [[u8; 32]; 3],
    /// The procedure's session id.
    pub session_id: String,
    /// When (UNIX seconds).
    pub time_unix: i64,
}

/// A JPKI evidence signature, opaque to the procedure: the wire JSON the backend verifies.
#[derive(Debug, Clone)]
pub struct SignedEvidence {
    /// The evidence document (statement, signature, signing certificate), as stored.
    pub document: PrivateBytes,
}

/// The card reader, for one customer at a time.
pub trait CardPort {
    /// Tries left on the card PIN, read without spending one. Opens the card exclusively
    /// for this customer when it is not open yet.
    fn pin_tries(&mut self) -> Result<Tries, CardFault>;
    /// Tries left on 照合番号B, read without spending one.
    fn code_b_tries(&mut self) -> Result<Tries, CardFault>;
    /// Reads and verifies the card with the customer's PIN (the PIN policy is the port's:
    /// tries read first, never the last try). `with_my_number` only when the procedure needs it.
    fn read_with_pin(
        &mut self,
        pin: &Secret,
        with_my_number: bool,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault>;
    /// Reads and verifies the card face with 照合番号B.
    fn read_with_code_b(
        &mut self,
        code: &CodeBInput,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault>;
    /// Tries left on the signing password.
    fn sign_tries(&mut self) -> Result<Tries, CardFault>;
    /// Signs the evidence statement for `binding` with the card's signing key.
    fn sign(
        &mut self,
        password: &Secret,
        binding: &EvidenceBinding,
    ) -> Result<SignedEvidence, CardFault>;
    /// Ends the customer's time with the card: unpowered (every verified PIN cleared),
    /// session closed. Idempotent.
    fn release(&mut self);
}

/// Which way the customer is asked to turn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    /// Their left.
    Left,
    /// Their right.
    Right,
}

impl Turn {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Turn::Left => "left",
            Turn::Right => "right",
        }
    }
}

/// A face template in the face engine's own encoding (a face credential's int8 template):
/// opaque to the flow, zeroed on drop, `Debug` shows the size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveTemplate(pub PrivateBytes);

/// What the live face is matched against.
#[derive(Debug, Clone, Copy)]
pub enum FaceReference<'a> {
    /// The chip photo (chip condition: greyscale).
    Chip(&'a ChipPhoto),
    /// The template of the customer's face credential.
    Credential(&'a LiveTemplate),
}

/// A live face check to start.
#[derive(Debug)]
pub struct FaceRequest<'a> {
    /// What to match against.
    pub reference: FaceReference<'a>,
    /// The head-turn challenge, if any.
    pub challenge: Option<Turn>,
    /// Counting from 1; a restart after the camera came back is the next attempt.
    pub attempt: u32,
    /// Hand back the live face's template (enrollment) in [`FaceResult::template`].
    pub want_template: bool,
}

/// Why a face check could not start.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FaceFault {
    /// No camera (unplugged, not configured): the procedure waits for it.
    NoCamera,
    /// The face engine is not available (models missing, still loading); the code says which.
    Unavailable(&'static str),
}

/// The live face check, and the QR reader on the same camera.
pub trait FacePort {
    /// Starts a check; progress and the result arrive as [`crate::Input::Face`].
    fn start(&mut self, request: FaceRequest<'_>) -> Result<(), FaceFault>;
    /// Starts reading QR codes from the camera (the preview shows a QR guide); each symbol
    /// read arrives as [`FaceEvent::QrRead`] until [`FacePort::stop`].
    fn scan_qr(&mut self) -> Result<(), FaceFault>;
    /// Stops the running check, if any (its late events are ignored by the procedure).
    fn stop(&mut self);
}

/// The decision over one live check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaceDecision {
    /// Same person, no sign of an attack.
    Match,
    /// A live face of someone else.
    NoMatch,
    /// The challenge failed or the liveness check judged the face not live.
    AttackSuspected,
    /// No usable face in the window.
    NoFace,
}

impl FaceDecision {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            FaceDecision::Match => "match",
            FaceDecision::NoMatch => "no_match",
            FaceDecision::AttackSuspected => "attack_suspected",
            FaceDecision::NoFace => "no_face",
        }
    }
}

/// The challenge's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeResult {
    /// Turned as asked and back, the same face.
    Passed,
    /// Wrong way, the face swapped or lost.
    Failed,
    /// Not done in time.
    TimedOut,
}

impl ChallengeResult {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ChallengeResult::Passed => "passed",
            ChallengeResult::Failed => "failed",
            ChallengeResult::TimedOut => "timed_out",
        }
    }
}

/// The captured face (JPEG of the head region), kept as sealed evidence.
#[derive(Debug, Clone)]
pub struct CapturedFace {
    /// JPEG bytes.
    pub jpeg: PrivateBytes,
    /// Their SHA-256.
    pub sha256: [u8; 32],
}

/// A live check's result.
#[derive(Debug, Clone)]
pub struct FaceResult {
    /// The decision (attack signs before the match).
    pub decision: FaceDecision,
    /// Stable reason codes (`challenge.failed`, `face.different_person`, …).
    pub reasons: Vec<&'static str>,
    /// Match score and its threshold (the model's metric).
    pub score: Option<f32>,
    /// Threshold from the thresholds file.
    pub threshold: Option<f32>,
    /// Embedding model id (`sface`, …).
    pub model: &'static str,
    /// Overall quality 0..100 of the chosen frame.
    pub quality: Option<f32>,
    /// Passive liveness: (depth score, threshold, live).
    pub passive: Option<(f32, f32, bool)>,
    /// The head-turn challenge: which turn and how it ended.
    pub challenge: Option<(Turn, ChallengeResult)>,
    /// The captured face.
    pub capture: Option<CapturedFace>,
    /// Kiosk time from the end of the customer's movement to the decision, ms.
    pub decision_ms: Option<u64>,
    /// The captured face's template, when the request asked for it and the face passed the
    /// quality gate.
    pub template: Option<LiveTemplate>,
}

/// Live progress of a face check (frequent: not a step change).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaceProgress {
    /// In the challenge (else the capture window).
    pub challenge: bool,
    /// The customer guidance code (`face.move_closer`, `face.turn_left`, …).
    pub guidance: &'static str,
    /// Fraction of the phase's time elapsed.
    pub progress: f32,
    /// Faces in the frame.
    pub faces: usize,
    /// Quality of the subject 0..100.
    pub quality: Option<f32>,
    /// The subject's face box (left, top, width, height as fractions of the frame).
    pub face_box: Option<[f32; 4]>,
}

/// What the face port reports.
#[derive(Debug, Clone)]
pub enum FaceEvent {
    /// One frame tracked.
    Progress(FaceProgress),
    /// The result.
    Done(Box<FaceResult>),
    /// The camera went away during the check.
    CameraLost,
    /// The camera is back (after [`FaceEvent::CameraLost`] or [`FaceFault::NoCamera`]).
    CameraBack,
    /// The check failed for another reason (code).
    Failed(&'static str),
    /// A QR symbol was read while scanning (its text: a customer's credential).
    QrRead(Private),
}

/// The teller at the counter, as the records carry them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TellerRef {
    /// The ledger's teller id.
    pub id: String,
    /// Signed in with a verified credential (a FIDO2 key).
    pub verified: bool,
}

/// A procedure's kind, for the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcedureKind {
    /// Identity verification with the My Number card and the face.
    IdentityVerification,
    /// A face credential issued right after an identity verification.
    Enrollment,
    /// Authentication with the face credential QR and the live face.
    FaceQrAuthentication,
    /// A passkey device re-binding right after a face proof.
    DeviceRebinding,
}

impl ProcedureKind {
    /// Stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            ProcedureKind::IdentityVerification => "identity_verification",
            ProcedureKind::Enrollment => "enrollment",
            ProcedureKind::FaceQrAuthentication => "face_qr_authentication",
            ProcedureKind::DeviceRebinding => "device_rebinding",
        }
    }
}

/// How a session ended, for the records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionEnd {
    /// Ran to an outcome.
    Completed,
    /// Cancelled (by the teller, the customer, or a timeout).
    Cancelled,
    /// Stopped by a device error.
    Failed,
}

/// What kind of evidence is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceKind {
    /// SHA-256 of the chip photo.
    ChipPhotoHash,
    /// The captured face image.
    FaceImage,
    /// A JPKI evidence signature.
    Signature,
    /// A My Number, only where a procedure needs it.
    MyNumber,
}

/// The outcome as the records carry it.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    /// `accepted`, `rejected` or `referred`.
    pub decision: RecordDecision,
    /// Named scores.
    pub scores: Vec<(&'static str, f64)>,
    /// Reason codes.
    pub reasons: Vec<String>,
}

/// An outcome's decision in the ledger's terms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordDecision {
    /// Identity confirmed.
    Accepted,
    /// Not confirmed.
    Rejected,
    /// Sent elsewhere (the municipal office).
    Referred,
}

/// Why a record could not be written (the ledger's error code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFault(pub &'static str);

/// The kiosk's records (the ledger, and through its outbox the backend).
pub trait RecordSink {
    /// Opens a procedure session for `teller`; returns the session id.
    fn open_session(
        &mut self,
        procedure: ProcedureKind,
        teller: &TellerRef,
    ) -> Result<String, RecordFault>;
    /// Stores a piece of evidence (sealed); returns its id.
    fn store_evidence(
        &mut self,
        session_id: &str,
        kind: EvidenceKind,
        content: &[u8],
    ) -> Result<String, RecordFault>;
    /// Records the outcome; returns its id.
    fn record_outcome(
        &mut self,
        session_id: &str,
        teller: &TellerRef,
        outcome: &OutcomeRecord,
    ) -> Result<String, RecordFault>;
    /// Records a teller's override of an outcome with the written reason and the supervisor
    /// who approved it.
    fn record_override(
        &mut self,
        outcome_id: &str,
        teller: &TellerRef,
        approver: &TellerRef,
        decision: RecordDecision,
        reason: &str,
    ) -> Result<String, RecordFault>;
    /// Records the 確認記録; returns its id.
    fn record_confirmation(
        &mut self,
        session_id: &str,
        record: &ConfirmationRecord,
    ) -> Result<String, RecordFault>;
    /// Records a face credential issued in this (enrollment) session; returns its id.
    fn record_credential_issued(
        &mut self,
        session_id: &str,
        issued: &madoguchi_wire::CredentialIssued,
    ) -> Result<String, RecordFault>;
    /// Ends the session with a reason code (`completed`, `cancelled.teller`, `timeout.pin`…).
    fn close_session(
        &mut self,
        session_id: &str,
        end: SessionEnd,
        reason: &str,
    ) -> Result<(), RecordFault>;
}

/// What a credential is issued for.
#[derive(Debug)]
pub struct CredentialRequest<'a> {
    /// The enrolled face.
    pub template: &'a LiveTemplate,
}

/// A credential the kiosk issued (offline).
#[derive(Debug, Clone)]
pub struct IssuedCredential {
    /// Credential id (hex).
    pub credential_id: String,
    /// Issuer key id (hex).
    pub issuer_kid: String,
    /// Template key id (hex).
    pub template_kid: String,
    /// Issued (Unix ms).
    pub issued_at_ms: i64,
    /// Expires (Unix ms).
    pub expires_at_ms: i64,
    /// The QR as a PNG, for the customer display (the customer's phone saves it).
    pub qr_png: PrivateBytes,
}

/// A credential read from a QR that passed every offline check.
#[derive(Debug)]
pub struct CheckedCredential {
    /// Credential id (hex).
    pub credential_id: String,
    /// Issuer key id (hex).
    pub issuer_kid: String,
    /// Expires (Unix ms).
    pub expires_at_ms: i64,
    /// The decrypted template the live face is matched against.
    pub template: LiveTemplate,
}

/// Why a credential could not be issued or was rejected: a stable code (`faceqr.revoked`,
/// `trust.stale`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CredentialFault(pub &'static str);

/// The face credential: issuing, and the offline checks of one read from a QR, with the
/// trust lists the kiosk holds.
pub trait CredentialPort {
    /// Issues a credential for the enrolled face.
    fn issue(
        &mut self,
        request: &CredentialRequest<'_>,
    ) -> Result<IssuedCredential, CredentialFault>;
    /// Checks a QR's text: format, signature, expiry, revocation, model, template key.
    fn check(&mut self, text: &Private) -> Result<CheckedCredential, CredentialFault>;
}

/// What a customer proves before the backend issues a passkey binding code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BindingProof {
    /// The face credential just verified with the live face (its id, hex).
    Credential {
        /// The credential id.
        credential_id: String,
    },
    /// The identity verification just completed (card and live face), by its session.
    Identity {
        /// That session's id.
        identity_session_id: String,
    },
}

/// A request for a one-time passkey binding code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BindingRequest {
    /// The re-binding's own session (the answer names it).
    pub session_id: String,
    /// The proof the customer just gave.
    pub proof: BindingProof,
}

/// A binding code the backend issued. `Debug` hides the code.
pub struct BindingCode {
    /// The code, for the customer's new phone only.
    pub code: Private,
    /// The code as a QR (PNG), for the customer display.
    pub qr_png: PrivateBytes,
    /// When the backend stops accepting it (Unix ms).
    pub expires_at_ms: i64,
}

impl fmt::Debug for BindingCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BindingCode")
            .field("expires_at_ms", &self.expires_at_ms)
            .finish_non_exhaustive()
    }
}

/// Why the backend gave no code: a stable code (`binding.unreachable`, `binding.revoked`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackendFault(pub &'static str);

/// A duplicate-face check at enrollment: the new template, and whose identity it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DuplicateRequest {
    /// The enrollment's session (the answer names it).
    pub session_id: String,
    /// The identity verification the customer was verified in just now.
    pub identity_session_id: String,
    /// The template of the face being enrolled.
    pub template: LiveTemplate,
}

/// The backend's answer: does the face match anyone enrolled under another identity?
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DuplicateAnswer {
    /// At least one match at or above the backend's threshold: the teller reviews.
    pub flagged: bool,
    /// How many enrolled faces of other identities matched.
    pub matches: u32,
    /// The best match's similarity, if any.
    pub best_score: Option<f32>,
}

/// What the backend answered, later, on the runner's channel.
#[derive(Debug)]
pub enum BackendEvent {
    /// The answer to [`BackendPort::check_duplicate`] for `session_id`.
    Duplicate {
        /// The request's session.
        session_id: String,
        /// The answer, or why there is none.
        result: Result<DuplicateAnswer, BackendFault>,
    },
    /// The answer to [`BackendPort::request_binding_code`] for `session_id`.
    BindingCode {
        /// The request's session.
        session_id: String,
        /// The code, or why there is none.
        result: Result<BindingCode, BackendFault>,
    },
}

/// The calls to the bank's backend that a procedure waits for (online only). Each call
/// returns at once; the answer comes back as [`crate::Input::Backend`].
pub trait BackendPort {
    /// Asks for a binding code (the kiosk first delivers its pending records, so that the
    /// backend knows the proof).
    fn request_binding_code(&mut self, request: BindingRequest);
    /// Asks whether the face being enrolled is already enrolled under another identity (the
    /// kiosk first delivers its pending records, so that the backend knows the identity).
    fn check_duplicate(&mut self, request: DuplicateRequest);
}

/// The windows (teller console, customer display).
pub trait Screens {
    /// A step changed: show it.
    fn show(&mut self, view: &crate::view::View<'_>);
    /// A card read advanced.
    fn read_progress(&mut self, progress: ReadProgress);
    /// A live face check advanced.
    fn face_progress(&mut self, progress: &FaceProgress);
}

/// Everything a procedure talks to, borrowed for one input.
pub struct Ports<'a> {
    /// The card reader.
    pub card: &'a mut dyn CardPort,
    /// The live face check.
    pub face: &'a mut dyn FacePort,
    /// The face credential.
    pub credentials: &'a mut dyn CredentialPort,
    /// The bank's backend (online calls).
    pub backend: &'a mut dyn BackendPort,
    /// The records.
    pub records: &'a mut dyn RecordSink,
    /// The windows.
    pub screens: &'a mut dyn Screens,
    /// Time.
    pub clock: &'a dyn Clock,
    /// Chance.
    pub coin: &'a mut dyn Coin,
}
