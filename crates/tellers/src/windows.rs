//! [`WindowsKey`]: FIDO2 keys through the Windows WebAuthn API (Windows 10 1903 and later).
//!
//! On Windows this is the only way to a security key: Windows hides FIDO keys from USB HID
//! for non-administrators. Windows shows its own dialogs (which key, PIN, touch), so
//! [`KeyUi`] only learns that a key operation is under way. User verification is requested as
//! required; the verifier checks the UV flag regardless.
//!
//! Built on `webauthn-authenticator-rs` (feature `win10`), compiled only for `cfg(windows)`.
//! What was tested: nothing. There is no Windows on the build machine, so this file has never
//! been compiled, and no hardware key exists here either.

use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::win10::Win10;

use crate::authenticator::{KeyAuthenticator, KeyKind, KeyUi};
use crate::error::AuthError;
use crate::verifier::{RegistrationRequest, RegistrationResponse, SignInRequest, SignInResponse};

/// The Windows WebAuthn API as a [`KeyAuthenticator`].
#[derive(Default)]
pub struct WindowsKey {
    api: Win10,
}

impl std::fmt::Debug for WindowsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowsKey").finish()
    }
}

impl WindowsKey {
    /// The Windows WebAuthn API.
    pub fn new() -> Self {
        WindowsKey::default()
    }

    /// The API version Windows reports (1 is Windows 10 1903).
    pub fn api_version() -> u32 {
        Win10::api_version()
    }
}

impl KeyAuthenticator for WindowsKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Windows
    }

    fn register(
        &mut self,
        request: &RegistrationRequest,
        ui: &dyn KeyUi,
    ) -> Result<RegistrationResponse, AuthError> {
        ui.request_touch();
        let credential = self
            .api
            .do_registration(request.origin.clone(), request.options.clone())
            .map_err(|e| AuthError::from_device(&e))?;
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
        ui.request_touch();
        let credential = self
            .api
            .do_authentication(request.origin.clone(), request.options.clone())
            .map_err(|e| AuthError::from_device(&e))?;
        Ok(SignInResponse {
            ceremony: request.ceremony,
            credential,
        })
    }
}
