//! The face credential carried as a QR code on the customer's phone: payload format (signed
//! claims, encrypted template), issuing it as a QR image, reading it from camera frames, and
//! verifying it offline against the cached trust list and revocation list.
//!
//! Status: empty. It arrives with the face-QR issue.
//!
//! What it must not do: decrypt a template before the signature, issuer, expiry and
//! revocation checks pass; accept an unsigned or unknown-issuer credential; need the network
//! at verification time; or know about Tauri or the UI.
