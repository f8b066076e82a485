//! The crate's one error type, [`AuthError`], with a stable message code for each variant.
//!
//! The kiosk shows the code translated (Japanese and English); the `Display` text is for logs.
//! Messages carry ids, counters and paths, never a PIN, a private key or a signature.

use std::path::PathBuf;

/// Everything that can refuse a registration or a sign-in, or break a key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// The key is not registered (to this teller), or the key has no credential for us.
    #[error("this security key is not registered")]
    UnknownKey,
    /// The credential has been revoked.
    #[error("this security key has been revoked")]
    Revoked,
    /// The teller has no usable key registered.
    #[error("no security key is registered for this teller")]
    NoKeys,
    /// The key did not verify the user (no PIN or fingerprint): the UV flag is missing.
    #[error("the security key did not verify the user (PIN or fingerprint)")]
    UvMissing,
    /// The key did not report the user's presence (touch): the UP flag is missing.
    #[error("the security key did not report a touch")]
    PresenceMissing,
    /// The signature counter did not move forward: the key may have been cloned.
    #[error("signature counter went from {stored} to {presented}: the key may be cloned")]
    CounterRegressed {
        /// The counter the kiosk has for this credential.
        stored: u32,
        /// The counter the key presented.
        presented: u32,
    },
    /// The teller's account is disabled.
    #[error("this teller account is disabled")]
    Disabled,
    /// The challenge expired before the key answered.
    #[error("the challenge expired")]
    Expired,
    /// No such challenge is pending: already used, long expired, or never issued here.
    #[error("no such challenge is pending (already used or never issued)")]
    ChallengeUnknown,
    /// The response answers another challenge (a replayed assertion).
    #[error("the response answers another challenge")]
    ChallengeMismatch,
    /// The response was made for another origin.
    #[error("the response was made for another origin")]
    WrongOrigin,
    /// The response was made for another relying party id.
    #[error("the response was made for another relying party")]
    WrongRp,
    /// The approving account may not register keys.
    #[error("role {role} may not register security keys")]
    NotPermitted {
        /// The approver's role.
        role: &'static str,
    },
    /// This key is already registered (to this or another teller).
    #[error("this security key is already registered")]
    AlreadyRegistered,
    /// The credential may be synchronised between devices (backup eligible): only
    /// device-bound security keys are accepted.
    #[error("the credential is not bound to one device (synchronised passkey)")]
    NotDeviceBound,
    /// A software (simulated) key outside simulation.
    #[error("software keys are accepted only in simulation")]
    SoftKeyRefused,
    /// The key's PIN was wrong.
    #[error("wrong PIN")]
    PinWrong {
        /// Tries left before the key blocks its PIN, when the key said.
        tries_left: Option<u8>,
    },
    /// The key's PIN is blocked (too many wrong PINs), or the key wants to be re-plugged.
    #[error("the security key's PIN is blocked")]
    PinBlocked,
    /// The key has no PIN (and no fingerprint) set up, so it cannot verify the user.
    #[error("the security key has no PIN or fingerprint set up")]
    PinNotSet,
    /// The teller cancelled at the key or the PIN prompt.
    #[error("cancelled")]
    Cancelled,
    /// No key was touched in time.
    #[error("timed out waiting for the security key")]
    Timeout,
    /// No security key is attached.
    #[error("no security key found")]
    NoDevice,
    /// The key or its transport failed.
    #[error("security key error: {0}")]
    Device(String),
    /// The response is malformed or its signature does not verify.
    #[error("invalid response: {0}")]
    Invalid(String),
    /// The relying party configuration is wrong.
    #[error("configuration: {0}")]
    Config(String),
    /// A soft key's file could not be read or written.
    #[error("soft key file {path}: {reason}")]
    SoftKeyFile {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

impl AuthError {
    /// A stable machine-readable code for the screens and diagnostics (`auth.*`).
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::UnknownKey => "auth.unknown_key",
            AuthError::Revoked => "auth.revoked",
            AuthError::NoKeys => "auth.no_keys",
            AuthError::UvMissing => "auth.uv_missing",
            AuthError::PresenceMissing => "auth.up_missing",
            AuthError::CounterRegressed { .. } => "auth.counter_regressed",
            AuthError::Disabled => "auth.disabled",
            AuthError::Expired => "auth.expired",
            AuthError::ChallengeUnknown => "auth.challenge_unknown",
            AuthError::ChallengeMismatch => "auth.challenge_mismatch",
            AuthError::WrongOrigin => "auth.wrong_origin",
            AuthError::WrongRp => "auth.wrong_rp",
            AuthError::NotPermitted { .. } => "auth.not_permitted",
            AuthError::AlreadyRegistered => "auth.already_registered",
            AuthError::NotDeviceBound => "auth.not_device_bound",
            AuthError::SoftKeyRefused => "auth.soft_key_refused",
            AuthError::PinWrong { .. } => "auth.pin_wrong",
            AuthError::PinBlocked => "auth.pin_blocked",
            AuthError::PinNotSet => "auth.pin_not_set",
            AuthError::Cancelled => "auth.cancelled",
            AuthError::Timeout => "auth.timeout",
            AuthError::NoDevice => "auth.no_device",
            AuthError::Device(_) => "auth.device",
            AuthError::Invalid(_) => "auth.invalid",
            AuthError::Config(_) => "auth.config",
            AuthError::SoftKeyFile { .. } => "auth.soft_key_file",
        }
    }

    /// Every code, for the translation tables' test.
    pub const ALL_CODES: &'static [&'static str] = &[
        "auth.unknown_key",
        "auth.revoked",
        "auth.no_keys",
        "auth.uv_missing",
        "auth.up_missing",
        "auth.counter_regressed",
        "auth.disabled",
        "auth.expired",
        "auth.challenge_unknown",
        "auth.challenge_mismatch",
        "auth.wrong_origin",
        "auth.wrong_rp",
        "auth.not_permitted",
        "auth.already_registered",
        "auth.not_device_bound",
        "auth.soft_key_refused",
        "auth.pin_wrong",
        "auth.pin_blocked",
        "auth.pin_not_set",
        "auth.cancelled",
        "auth.timeout",
        "auth.no_device",
        "auth.device",
        "auth.invalid",
        "auth.config",
        "auth.soft_key_file",
    ];

    /// Maps a relying-party error of `webauthn-rs` to ours.
    pub(crate) fn from_webauthn(e: &webauthn_rs::prelude::WebauthnError) -> Self {
        use webauthn_rs::prelude::WebauthnError as W;
        match e {
            W::CredentialNotFound => AuthError::UnknownKey,
            W::UserNotVerified => AuthError::UvMissing,
            W::UserNotPresent => AuthError::PresenceMissing,
            // Our caller replaces the zeros with the real counters.
            W::CredentialPossibleCompromise => AuthError::CounterRegressed {
                stored: 0,
                presented: 0,
            },
            W::MismatchedChallenge => AuthError::ChallengeMismatch,
            W::InvalidRPOrigin | W::CredentialCrossOrigin => AuthError::WrongOrigin,
            W::InvalidRPIDHash => AuthError::WrongRp,
            W::CredentialMayNotBeHardwareBound | W::CredentialBackupEligibilityInconsistent => {
                AuthError::NotDeviceBound
            }
            W::Configuration => AuthError::Config("webauthn configuration".into()),
            other => AuthError::Invalid(format!("{other:?}")),
        }
    }

    /// Maps an authenticator (client side) error of `webauthn-authenticator-rs` to ours.
    pub(crate) fn from_device(e: &webauthn_authenticator_rs::error::WebauthnCError) -> Self {
        use webauthn_authenticator_rs::error::{CtapError as C, WebauthnCError as D};
        match e {
            D::Cancelled | D::Ctap(C::Ctap2KeepAliveCancel) | D::Ctap(C::Ctap2OperationDenied) => {
                AuthError::Cancelled
            }
            D::Ctap(C::Ctap2NoCredentials) | D::Ctap(C::Ctap2InvalidCredential) => {
                AuthError::UnknownKey
            }
            D::Ctap(C::Ctap2CredentialExcluded) => AuthError::AlreadyRegistered,
            // The key does not say here how many tries are left.
            D::Ctap(C::Ctap2PinInvalid) => AuthError::PinWrong { tries_left: None },
            D::Ctap(C::Ctap2PinBlocked)
            | D::Ctap(C::Ctap2PinAuthBlocked)
            | D::Ctap(C::Ctap2UserVerificationBlocked) => AuthError::PinBlocked,
            D::Ctap(C::Ctap2PinNotSet) | D::UserVerificationRequired => AuthError::PinNotSet,
            D::Ctap(C::Ctap2UserActionTimeout) | D::Ctap(C::Ctap2ActionTimeout) => {
                AuthError::Timeout
            }
            D::NoHidDevices | D::NoSelectedToken => AuthError::NoDevice,
            D::Security => AuthError::WrongOrigin,
            other => AuthError::Device(format!("{other:?}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_listed_and_well_formed() {
        let samples = [
            AuthError::UnknownKey,
            AuthError::CounterRegressed {
                stored: 1,
                presented: 1,
            },
            AuthError::PinWrong {
                tries_left: Some(3),
            },
            AuthError::Device("x".into()),
        ];
        for e in &samples {
            assert!(
                AuthError::ALL_CODES.contains(&e.code()),
                "{} not listed",
                e.code()
            );
        }
        let mut seen = std::collections::BTreeSet::new();
        for code in AuthError::ALL_CODES {
            assert!(code.starts_with("auth."), "{code}");
            assert!(
                code[5..]
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{code}"
            );
            assert!(seen.insert(*code), "{code} twice");
        }
    }
}
