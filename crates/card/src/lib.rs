//! My Number card access for the kiosk, through the system's PC/SC service (`pcscd` on Linux)
//! with the `pcsc` crate, on top of `myna-card` (MIT), which carries the card protocol: APDUs,
//! the applications' files and their parsers, CV certificates and signature checks. This crate
//! wraps it for the kiosk, in layers:
//!
//! - [`readers`]: list readers, watch card insert/remove and reader hot-plug.
//! - [`link`]: the [`CardLink`] seam (transmit + exclusive + unpower); PC/SC and counting links.
//! - [`session`]: one customer's [`CardSession`], with the PIN policy in the types (PINs only on
//!   an exclusive session, counter read first, never the last try, unpowered at the end).
//! - [`identity`]: [`read_identity`] → [`CardReading`] with every authenticity check (PIN
//!   route), and [`read_card_face_code_b`] → [`CardFaceReading`] (照合番号B route, no PIN).
//! - [`evidence`]: "JPKI+容貌" evidence signing and its verification helper.
//! - [`trust`]: trust anchors as data (production compiled in; test only in simulation).
//! - [`photo`]: JPEG 2000 chip photo decoding (pure Rust).
//! - [`cli`]: `madoguchi card readers | probe | read`.
//!
//! What it must not do: identify a card by its ATR (cards are identified by SELECTing the
//! applications), send a PIN when one try is left, keep a PIN after use, log a PIN or any card
//! data, or know about Tauri, the UI, the database or the network.

pub mod cli;
pub mod error;
pub mod evidence;
pub mod identity;
pub mod link;
pub mod parse;
pub mod photo;
pub mod probe;
pub mod progress;
pub mod readers;
pub mod secret;
pub mod session;
pub mod trust;

pub use error::{CardError, Result};
pub use evidence::{Evidence, EvidenceStatement, VerifiedEvidence, sign_evidence, verify_evidence};
pub use identity::{
    Attributes, AuthCertificate, CardFaceReading, CardFaceSummary, CardImage, CardReading,
    ChipPhoto, Gender, MyNumber, ReadOptions, read_card_face_code_b, read_identity,
    read_identity_from_reader, today,
};
pub use link::{CardLink, CountingLink, PcscLink, Traffic};
pub use myna_card::{Date, Retries};
pub use photo::GrayImage;
pub use probe::{ProbeReport, probe};
pub use progress::{Progress, Step};
pub use readers::{ReaderEvent, ReaderInfo, ReaderWatcher, ReadersError, list_readers};
pub use secret::{CardPin, CodeB, PinKind, SignPassword};
pub use session::{App, CardSession, Exclusive, Shared};
pub use trust::{Hierarchy, RootPurpose, TrustAnchors};
