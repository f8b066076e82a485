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
//! What was tested: that this compiles (the kiosk builds it by default, feature `usb-keys`)
//! and that with no key attached an operation gives up with `auth.timeout` after its find
//! timeout (a test). It has never talked to a key: no hardware key exists on the build machine. Use it on Linux (and macOS); on Windows use
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

    /// How many FIDO keys are attached now (each opened, nothing sent to it): the kiosk polls
    /// this to end a session when the teller's key is pulled out.
    pub fn keys_attached(&self) -> Result<usize, AuthError> {
        self.runtime.block_on(async {
            let transport = USBTransport::new()
                .await
                .map_err(|e| AuthError::from_device(&e))?;
            transport
                .tokens()
                .await
                .map(|t| t.len())
                .map_err(|e| AuthError::from_device(&e))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// No security key is attached to the build machine: none is counted (or the HID
    /// enumeration itself is unavailable, a named error).
    #[test]
    fn with_no_key_attached_none_is_counted_no_hardware_key_here() {
        let key = UsbKey::new(Duration::from_millis(300)).expect("runtime");
        match key.keys_attached() {
            Ok(n) => assert_eq!(n, 0, "no FIDO key on this machine"),
            Err(e) => assert_eq!(e.code(), "auth.device", "{e}"),
        }
    }
    use crate::{Now, RpConfig, SignInVerifier, StaticPinUi, TellerAccount, TellerId};

    /// No security key is attached to the build machine: a registration waits for one and
    /// gives up with a named error, never an answer and never a hang.
    #[test]
    fn with_no_key_attached_a_registration_gives_up_no_hardware_key_here() {
        let mut verifier = SignInVerifier::new(RpConfig::default()).expect("verifier");
        let supervisor = TellerAccount {
            id: TellerId::new("sup-1").expect("id"),
            display_name: "Supervisor".into(),
            role: crate::Role::Supervisor,
            enabled: true,
        };
        let request = verifier
            .start_first_registration(&supervisor, &[], "usb key", Now::system())
            .expect("request");
        let mut key = UsbKey::new(Duration::from_millis(300)).expect("runtime");
        let started = std::time::Instant::now();
        let result = key.register(&request, &StaticPinUi::new("2468"));
        let code = match &result {
            Ok(_) => "ok",
            Err(e) => e.code(),
        };
        eprintln!("no key attached: {code} after {:?}", started.elapsed());
        assert!(
            matches!(code, "auth.timeout" | "auth.no_device" | "auth.device"),
            "no key here, so no credential: {code}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "it gave up in {:?}",
            started.elapsed()
        );
    }
}
