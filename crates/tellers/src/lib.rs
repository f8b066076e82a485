//! Teller accounts, roles and sign-in with a FIDO2 security key.
//!
//! A teller signs in at the kiosk by touching a FIDO2 security key and proving to it who they
//! are (the key's PIN or fingerprint: *user verification*). The kiosk is its own WebAuthn
//! relying party: it verifies the assertion itself against the credential public keys cached
//! in its ledger, so sign-in works with the network down.
//!
//! - [`account`]: [`Role`] (teller, supervisor, technician) and what each may do,
//!   [`TellerAccount`], [`TellerId`].
//! - [`credential`]: [`StoredCredential`], one registered key in the serde (JSON) form the
//!   ledger caches and sync carries; [`CredentialId`].
//! - [`verifier`]: [`SignInVerifier`], the relying party on `webauthn-rs`: registration of a
//!   teller's key by a signed-in supervisor, sign-in, single-use challenges with an expiry
//!   decided on the clock the caller passes ([`Now`]), the counter and flag checks.
//! - [`authenticator`]: the [`KeyAuthenticator`] trait (the device side) and [`KeyUi`] (PIN
//!   and touch prompts).
//! - [`soft`]: [`SoftKey`], a software CTAP2 authenticator for simulation and tests, kept in a
//!   file so a simulated teller key survives a restart, with PIN emulation.
//! - `usb` (cargo feature `usb`): `UsbKey`, real USB HID CTAP2 keys.
//! - `windows` (Windows only): `WindowsKey`, the Windows WebAuthn API.
//! - [`error`]: [`AuthError`] with stable message codes (`auth.*`).
//!
//! What this crate does not do: store anything but a soft key's own file, talk to the network,
//! the ledger, the audit trail or Tauri, or read the clock in its decisions. The kiosk keeps
//! the accounts and credentials in its ledger, persists the [`StoredCredential`] a sign-in
//! returns (its counter moved), writes [`SignIn::record`] to the audit trail and decides how
//! long a signed-in session lasts. The central backend holds the same types as the source of
//! truth; a key registered at a kiosk syncs up as a [`StoredCredential`].
//!
//! What is tested here and what is not: everything runs against [`SoftKey`], the software
//! authenticator of `webauthn-authenticator-rs`. No hardware key exists on the build machine,
//! so `UsbKey` is compiled (with `--features usb`) but has never talked to a key, and
//! `WindowsKey` has never been compiled (no Windows here).

pub mod account;
pub mod authenticator;
pub mod credential;
pub mod error;
pub mod soft;
pub mod verifier;

#[cfg(feature = "usb")]
pub mod usb;

#[cfg(windows)]
pub mod windows;

pub use account::{Role, TellerAccount, TellerId};
pub use authenticator::{KeyAuthenticator, KeyKind, KeyUi, StaticPinUi};
pub use credential::{CredentialId, StoredCredential};
pub use error::AuthError;
pub use soft::{SoftKey, UvBehaviour};
pub use verifier::{
    CeremonyId, Now, RegistrationRequest, RegistrationResponse, RpConfig, SignIn, SignInRecord,
    SignInRequest, SignInResponse, SignInVerifier, TellerKeys,
};

#[cfg(feature = "usb")]
pub use usb::UsbKey;

#[cfg(windows)]
pub use windows::WindowsKey;

/// The WebAuthn protocol types that cross [`KeyAuthenticator`], re-exported so that callers
/// need no direct dependency on `webauthn-rs`.
pub mod proto {
    pub use webauthn_rs::prelude::{
        CreationChallengeResponse, PublicKeyCredential, RegisterPublicKeyCredential,
        RequestChallengeResponse, Url,
    };
    pub use webauthn_rs_proto::{AllowCredentials, UserVerificationPolicy};
}
