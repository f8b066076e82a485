//! The counter procedures as explicit state machines over ports this crate owns.
//!
//! - [`engine`]: the [`Counter`] (idle screen, start, deadlines, cancel, result screen) and the
//!   [`Procedure`] trait every procedure implements; [`Input`] is everything that can happen.
//! - [`identity`]: identity verification with the My Number card (PIN or 照合番号B route), the
//!   live face check with the head-turn challenge, the optional JPKI evidence signature, the
//!   teller's review and the confirmation record.
//! - [`enroll`]: the face credential issued right after a verified identity, in the same
//!   visit (chained from the identity procedure's review, [`Flow::Then`]), after the backend's
//!   duplicate-face check.
//! - [`qr_auth`]: authentication with the customer's face credential QR and the live face.
//! - [`rebind`]: re-binding a passkey device after a face proof (a verified identity or a
//!   verified face QR): the backend's one-time binding code shown as a QR.
//! - [`face_step`]: the challenge choice, the proposal and the outcome record the face
//!   procedures share.
//! - [`ports`]: the card reader, face check, credentials, backend calls, records, screens,
//!   clock and coin as traits, and the data that crosses them.
//! - [`keypad`]: the customer keypad's zeroizing buffer and [`Secret`].
//! - [`view`]: what each step shows on the teller console and on the customer display.
//! - [`messages`]: the message codes the screens translate (Japanese and English).
//! - [`record`]: the confirmation record (確認記録) format.
//!
//! The app runs a [`Counter`] on one thread of its own that owns the device sessions, feeds it
//! inputs and implements the ports; the tests implement them in memory.
//!
//! What it must not do: touch a device, a window, the network, a database or Tauri directly,
//! start threads, or keep a PIN, a password or a customer's data beyond the step or the
//! procedure that needs it.

pub mod engine;
pub mod enroll;
pub mod face_step;
pub mod identity;
pub mod keypad;
pub mod messages;
pub mod ports;
pub mod qr_auth;
pub mod rebind;
pub mod record;
pub mod view;

pub use engine::{Counter, Cx, Ending, Flow, Input, Procedure, Refusal, Settings, Start, Timeouts};
pub use enroll::{EnrollStart, Enrollment};
pub use face_step::ChallengeChoice;
pub use identity::{IdentityStart, IdentityVerification};
pub use keypad::{Key, Keypad, KeypadKind, Secret};
pub use ports::{
    CardFault, CardPort, ChipData, Clock, CodeBInput, Coin, CredentialPort, FaceEvent, FacePort,
    FaceResult, Ports, RecordSink, Route, Screens,
};
pub use qr_auth::{QrAuthStart, QrAuthentication};
pub use rebind::Rebinding;
pub use record::ConfirmationRecord;
pub use view::{Outcome, StepId, View};
