//! The counter procedures as explicit state machines over device traits: identity
//! verification with the My Number card, face-QR authentication, enrollment, device
//! re-binding, teller sign-in.
//!
//! Status: empty. Each procedure arrives with its issue.
//!
//! What it must not do: touch a device, a window, the network or Tauri directly; everything
//! it needs comes through traits, so it is tested without any of them.
