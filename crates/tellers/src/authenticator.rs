//! The device side: a security key that registers credentials and signs assertions.
//!
//! [`KeyAuthenticator`] is what the kiosk drives; the [`SignInVerifier`] produces its
//! requests and checks its responses. Implementations: [`SoftKey`] (software, simulation and
//! tests), `UsbKey` (USB HID CTAP2, feature `usb`), `WindowsKey` (Windows WebAuthn API).
//! The key verifies the user itself (PIN or fingerprint); [`KeyUi`] is how it asks the teller.
//!
//! An implementation must not verify anything on the kiosk's behalf: whatever it returns goes
//! through the verifier.
//!
//! [`SignInVerifier`]: crate::SignInVerifier
//! [`SoftKey`]: crate::SoftKey

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use zeroize::Zeroizing;

use crate::error::AuthError;
use crate::verifier::{RegistrationRequest, RegistrationResponse, SignInRequest, SignInResponse};

/// Which kind of authenticator a [`KeyAuthenticator`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    /// A software key (simulation and tests only).
    Soft,
    /// A FIDO2 key over USB HID (CTAP2).
    Usb,
    /// Whatever the Windows WebAuthn API offers (USB, NFC, Windows Hello).
    Windows,
}

/// Prompts the key needs from the teller while it works.
///
/// Called from the thread that drives the key; implementations must not block except in
/// [`KeyUi::request_pin`], which waits for the teller's answer.
pub trait KeyUi: Send + Sync + std::fmt::Debug {
    /// The key wants its PIN. `None`: the teller cancelled.
    fn request_pin(&self) -> Option<Zeroizing<String>>;
    /// The key waits for a touch.
    fn request_touch(&self);
    /// The key is working (after the touch).
    fn processing(&self) {}
}

/// A security key, as the kiosk uses it.
///
/// User verification is always required: an implementation must make the key verify the user
/// (PIN or fingerprint) for both operations, and fail rather than fall back to a touch alone.
pub trait KeyAuthenticator {
    /// What this is.
    fn kind(&self) -> KeyKind;

    /// Creates a credential on the key for the relying party and teller in `request`.
    fn register(
        &mut self,
        request: &RegistrationRequest,
        ui: &dyn KeyUi,
    ) -> Result<RegistrationResponse, AuthError>;

    /// Signs the challenge in `request` with one of the allowed credentials.
    fn authenticate(
        &mut self,
        request: &SignInRequest,
        ui: &dyn KeyUi,
    ) -> Result<SignInResponse, AuthError>;
}

/// A [`KeyUi`] that answers with a fixed PIN (or cancels) and counts the prompts: for tests
/// and for the simulation console, where the teller picks a simulated key and types its PIN.
pub struct StaticPinUi {
    pin: Mutex<Option<Zeroizing<String>>>,
    pin_requests: AtomicUsize,
    touches: AtomicUsize,
}

impl StaticPinUi {
    /// Answers every PIN prompt with `pin`.
    pub fn new(pin: &str) -> Self {
        StaticPinUi {
            pin: Mutex::new(Some(Zeroizing::new(pin.to_owned()))),
            pin_requests: AtomicUsize::new(0),
            touches: AtomicUsize::new(0),
        }
    }

    /// Cancels every PIN prompt.
    pub fn cancelling() -> Self {
        StaticPinUi {
            pin: Mutex::new(None),
            pin_requests: AtomicUsize::new(0),
            touches: AtomicUsize::new(0),
        }
    }

    /// Changes the PIN it answers with.
    pub fn set_pin(&self, pin: &str) {
        let mut guard = self.pin.lock().unwrap_or_else(|p| p.into_inner());
        *guard = Some(Zeroizing::new(pin.to_owned()));
    }

    /// How many times a PIN was asked for.
    pub fn pin_requests(&self) -> usize {
        self.pin_requests.load(Ordering::Relaxed)
    }

    /// How many times a touch was asked for.
    pub fn touches(&self) -> usize {
        self.touches.load(Ordering::Relaxed)
    }
}

impl std::fmt::Debug for StaticPinUi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the PIN.
        f.debug_struct("StaticPinUi")
            .field("pin_requests", &self.pin_requests())
            .field("touches", &self.touches())
            .finish_non_exhaustive()
    }
}

impl KeyUi for StaticPinUi {
    fn request_pin(&self) -> Option<Zeroizing<String>> {
        self.pin_requests.fetch_add(1, Ordering::Relaxed);
        self.pin
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|p| Zeroizing::new(p.as_str().to_owned()))
    }

    fn request_touch(&self) {
        self.touches.fetch_add(1, Ordering::Relaxed);
    }
}

/// Adapts a [`KeyUi`] to `webauthn-authenticator-rs`'s `UiCallback` (USB keys).
#[cfg(feature = "usb")]
#[derive(Debug)]
pub(crate) struct UiBridge<'a>(pub &'a dyn KeyUi);

#[cfg(feature = "usb")]
impl webauthn_authenticator_rs::ui::UiCallback for UiBridge<'_> {
    fn request_pin(&self) -> Option<String> {
        // The library wants a plain String; it lives only as long as the PIN exchange.
        self.0.request_pin().map(|p| p.as_str().to_owned())
    }

    fn request_touch(&self) {
        self.0.request_touch();
    }

    fn processing(&self) {
        self.0.processing();
    }

    fn fingerprint_enrollment_feedback(
        &self,
        _remaining_samples: u32,
        _feedback: Option<webauthn_authenticator_rs::types::EnrollSampleStatus>,
    ) {
    }

    fn cable_qr_code(
        &self,
        _request_type: webauthn_authenticator_rs::types::CableRequestType,
        _url: String,
    ) {
    }

    fn dismiss_qr_code(&self) {}

    fn cable_status_update(&self, _state: webauthn_authenticator_rs::types::CableState) {}
}
