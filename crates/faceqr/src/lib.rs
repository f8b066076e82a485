//! The face credential carried as a QR code on the customer's phone: payload format (signed
//! CWT claims in a COSE_Sign1, template in a COSE_Encrypt0, Base45, see `FORMAT.md`), issuing
//! it as a QR image, reading it from camera frames, and verifying it offline against the cached
//! trust list and revocation list, then matching the live face through [`LiveMatcher`],
//! implemented with the face crate by [`live::FaceMatcher`].
//!
//! What it does not do: decrypt a template before the signature, issuer, expiry, revocation
//! and model checks pass; accept an unsigned or unknown-issuer credential; need the network at
//! verification time; compute face embeddings or liveness itself (it calls the face
//! crate); log templates or keys; know about Tauri or the UI.

pub mod cli;
mod error;
pub mod format;
pub mod keys;
pub mod live;
pub mod read;
pub mod render;
pub mod synth;
pub mod template;
pub mod verify;

pub use error::{Error, Result};
pub use format::{Claims, IssueRequest, Issued, PREFIX, issue};
pub use keys::{IssuerKey, TemplateKeyring, TrustList, TrustedIssuer};
pub use template::{ModelRef, Template};
pub use verify::{
    Accepted, Lang, LiveMatcher, MatchOutcome, Policy, Reason, Rejection, Verified, verify_claims,
    verify_credential, verify_with_face,
};
