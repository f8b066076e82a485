//! [`UsbKey`]: real FIDO2 security keys over USB HID (CTAP 2.0/2.1), cargo feature `usb`.
//!
//! Built on `webauthn-authenticator-rs` (feature `usb`, through `fido-hid-rs`): it waits for a
//! key (the first one plugged in, or the one the teller touches if several are), then lets the
//! key verify the user with its PIN (asked through [`KeyUi`]) or its fingerprint, and makes the
//! credential or the assertion. User verification is always requested as *required*; a key
//! without a PIN or fingerprint fails with [`AuthError::PinNotSet`].
//!
//! Building needs the Debian packages `libudev-dev` (the `udev` crate, through pkg-config) and
//! `libclang-dev` (bindgen of `<linux/hidraw.h>`). At run time the kiosk user needs access to
//! `/dev/hidraw*` of FIDO keys (systemd ≥ 252 tags them by the FIDO usage page).
//!
//! What was tested: that this compiles (with `--features usb`). It has never talked to a key:
//! no hardware key exists on the build machine. Use it on Linux (and macOS); on Windows use
//! `WindowsKey`, since Windows hides FIDO keys from USB HID for non-administrators.

use std::time::Duration;

use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::ctap2::{CtapAuthenticator, select_one_device};
use webauthn_authenticator_rs::error::WebauthnCError;
use webauthn_authenticator_rs::transport::Transport as _;
use webauthn_authenticator_rs::usb::{USBToken, USBTransport};

use crate::authenticator::{KeyAuthenticator, KeyKind, KeyUi, UiBridge};
use crate::error::AuthError;
use crate::verifier::{RegistrationRequest, RegistrationResponse, SignInRequest, SignInResponse};

/// A USB HID FIDO2 key, found afresh for every operation (keys come and go).
#[derive(Debug)]
pub struct UsbKey {
    runtime: tokio::runtime::Runtime,
    find_timeout: Duration,
}

impl UsbKey {
    /// Waits at most `find_timeout` for a key to be plugged in or touched.
    pub fn new(find_timeout: Duration) -> Result<Self, AuthError> {
        // fido-hid-rs does its I/O on tokio; the key's blocking calls run beside it.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("madoguchi-fido-usb")
            .enable_all()
            .build()
            .map_err(|e| AuthError::Device(format!("runtime: {e}")))?;
        Ok(UsbKey {
            runtime,
            find_timeout,
        })
    }

    /// Finds one key and runs `op` on it.
    fn with_key<R>(
        &self,
        ui: &dyn KeyUi,
        op: impl FnOnce(&mut CtapAuthenticator<'_, USBToken, UiBridge<'_>>) -> Result<R, WebauthnCError>,
    ) -> Result<R, AuthError> {
        let bridge = UiBridge(ui);
        let find_timeout = self.find_timeout;
        self.runtime.block_on(async {
            let transport = USBTransport::new()
                .await
                .map_err(|e| AuthError::from_device(&e))?;
            let events = transport
                .watch()
                .await
                .map_err(|e| AuthError::from_device(&e))?;
            let found = tokio::time::timeout(find_timeout, select_one_device(events, &bridge))
                .await
                .map_err(|_| AuthError::Timeout)?;
            let mut authenticator = found.ok_or(AuthError::NoDevice)?;
            // The key's operations block (they drive the token with their own executor) while
            // the runtime's worker keeps the HID I/O going.
            op(&mut authenticator).map_err(|e| AuthError::from_device(&e))
        })
    }
}

impl KeyAuthenticator for UsbKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Usb
    }

    fn register(
        &mut self,
        request: &RegistrationRequest,
        ui: &dyn KeyUi,
    ) -> Result<RegistrationResponse, AuthError> {
        let credential = self.with_key(ui, |key| {
            key.do_registration(request.origin.clone(), request.options.clone())
        })?;
        Ok(RegistrationResponse {
            ceremony: request.ceremony,
            credential,
        })
    }

    fn authenticate(
        &mut self,
        request: &SignInRequest,
        ui: &dyn KeyUi,
    ) -> Result<SignInResponse, AuthError> {
        let credential = self.with_key(ui, |key| {
            key.do_authentication(request.origin.clone(), request.options.clone())
        })?;
        Ok(SignInResponse {
            ceremony: request.ceremony,
            credential,
        })
    }
}
