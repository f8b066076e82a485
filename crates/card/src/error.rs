//! The crate's one error type, [`CardError`], and the mapping from `myna-card` / PC/SC errors.
//!
//! Every variant names what happened in words a technician can act on, and carries a stable
//! [`CardError::code`] the UI translates. Messages never carry personal data: `myna-card`'s
//! own messages can quote card bytes (a malformed 個人番号 file is printed in hex), so they are
//! never forwarded; only the step that failed and the status word are kept.
//! It does not decide what to do about an error (retry, call the teller): that is `flow`'s job.

use crate::secret::PinKind;

/// Everything that can go wrong with a reader or a card.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CardError {
    /// The PC/SC service is not running (on Linux: `pcscd`).
    #[error("the PC/SC service is not running (start pcscd)")]
    ServiceUnavailable,
    /// No reader is attached.
    #[error("no card reader is attached")]
    NoReader,
    /// No reader has the configured name.
    #[error("no card reader matches {0:?}")]
    ReaderNotFound(String),
    /// The reader disappeared (unplugged) during the operation.
    #[error("the card reader was disconnected")]
    ReaderGone,
    /// There is no card on the reader.
    #[error("no card is on the reader")]
    NoCard,
    /// The card was taken off the reader during the operation.
    #[error("the card was removed from the reader")]
    CardRemoved,
    /// The card does not answer.
    #[error("the card does not respond (place it flat on the reader)")]
    CardUnresponsive,
    /// Another program holds the card.
    #[error("another program is using the card")]
    CardInUse,
    /// The card on the reader does not have the My Number card applications.
    #[error("this is not a My Number card (the {missing} application is missing)")]
    NotMyNumberCard {
        /// The application whose SELECT failed.
        missing: &'static str,
    },
    /// The PIN was wrong; the card counted one try.
    #[error("wrong {which}: {tries_left} tries left")]
    WrongPin {
        /// Which PIN.
        which: PinKind,
        /// Tries the card says are left.
        tries_left: u8,
    },
    /// Only one try is left: the kiosk refuses to spend it.
    #[error(
        "only one try of the {which} is left: the kiosk will not try it; send the customer to the municipal office"
    )]
    OneTryLeft {
        /// Which PIN.
        which: PinKind,
    },
    /// The PIN is locked on the card.
    #[error("the {which} is locked; the customer must have it reset at the municipal office")]
    Locked {
        /// Which PIN.
        which: PinKind,
    },
    /// The card did not report how many tries are left, so no PIN is sent.
    #[error("the card did not report the tries left for the {which}; no PIN was sent")]
    RetriesUnknown {
        /// Which PIN.
        which: PinKind,
    },
    /// The PIN or password typed does not have the required form (nothing was sent).
    #[error("the {which} has the wrong form: {reason}")]
    InvalidPinFormat {
        /// Which PIN.
        which: PinKind,
        /// What is wrong with it (never the value).
        reason: &'static str,
    },
    /// The card carries no signing certificate (e.g. the holder is under 15).
    #[error("this card has no signing certificate")]
    NoSignCertificate,
    /// The card's data or chip failed an authenticity check.
    #[error("the card failed an authenticity check ({reason}); it may be a clone")]
    CloneSuspected {
        /// Which check failed.
        reason: &'static str,
    },
    /// A certificate does not chain to a trusted root.
    #[error("the {what} is not issued by a trusted authority")]
    Untrusted {
        /// Which certificate or key.
        what: &'static str,
    },
    /// A certificate is outside its validity period.
    #[error("the {what} has expired or is not yet valid")]
    CertificateExpired {
        /// Which certificate.
        what: &'static str,
    },
    /// Data read from the card does not have the expected structure.
    #[error("the card's {what} is malformed")]
    Malformed {
        /// Which file or response.
        what: &'static str,
    },
    /// The card refused a command with a status word the kiosk did not expect.
    #[error("the card answered {status:04X} while {during}")]
    CardStatus {
        /// The status word.
        status: u16,
        /// What the kiosk was doing.
        during: &'static str,
    },
    /// The chip photo could not be decoded.
    #[error("the chip photo could not be decoded: {0}")]
    Photo(String),
    /// The trust anchors (roots, CA keys) could not be loaded.
    #[error("trust anchors: {0}")]
    TrustAnchors(String),
    /// A signed evidence record did not verify.
    #[error("the evidence does not verify: {0}")]
    EvidenceInvalid(&'static str),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
    /// Any other PC/SC failure.
    #[error("PC/SC error: {0}")]
    Pcsc(pcsc::Error),
}

impl CardError {
    /// A stable code for the UI (`card.removed`, `card.pin.wrong`, …); the UI translates codes.
    pub fn code(&self) -> &'static str {
        match self {
            CardError::ServiceUnavailable => "card.service_unavailable",
            CardError::NoReader => "reader.none",
            CardError::ReaderNotFound(_) => "reader.not_found",
            CardError::ReaderGone => "reader.gone",
            CardError::NoCard => "card.none",
            CardError::CardRemoved => "card.removed",
            CardError::CardUnresponsive => "card.unresponsive",
            CardError::CardInUse => "card.in_use",
            CardError::NotMyNumberCard { .. } => "card.not_my_number_card",
            CardError::WrongPin { .. } => "card.pin.wrong",
            CardError::OneTryLeft { .. } => "card.pin.one_try_left",
            CardError::Locked { .. } => "card.pin.locked",
            CardError::RetriesUnknown { .. } => "card.pin.retries_unknown",
            CardError::InvalidPinFormat { .. } => "card.pin.invalid_format",
            CardError::NoSignCertificate => "card.no_sign_certificate",
            CardError::CloneSuspected { .. } => "card.clone_suspected",
            CardError::Untrusted { .. } => "card.untrusted",
            CardError::CertificateExpired { .. } => "card.certificate_expired",
            CardError::Malformed { .. } => "card.malformed",
            CardError::CardStatus { .. } => "card.status",
            CardError::Photo(_) => "card.photo",
            CardError::TrustAnchors(_) => "card.trust_anchors",
            CardError::EvidenceInvalid(_) => "evidence.invalid",
            CardError::Io { .. } => "io",
            CardError::Pcsc(_) => "card.pcsc",
        }
    }

    /// Whether the card is gone (removed, reader gone): nothing more can be sent to it.
    pub fn card_gone(&self) -> bool {
        matches!(
            self,
            CardError::CardRemoved | CardError::ReaderGone | CardError::NoCard
        )
    }
}

impl From<pcsc::Error> for CardError {
    fn from(e: pcsc::Error) -> Self {
        match e {
            pcsc::Error::NoService | pcsc::Error::ServiceStopped => CardError::ServiceUnavailable,
            pcsc::Error::NoReadersAvailable => CardError::NoReader,
            pcsc::Error::RemovedCard | pcsc::Error::ResetCard => CardError::CardRemoved,
            pcsc::Error::NoSmartcard => CardError::NoCard,
            pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader => CardError::ReaderGone,
            pcsc::Error::UnresponsiveCard
            | pcsc::Error::UnpoweredCard
            | pcsc::Error::NotTransacted
            | pcsc::Error::CommError => CardError::CardUnresponsive,
            pcsc::Error::SharingViolation => CardError::CardInUse,
            other => CardError::Pcsc(other),
        }
    }
}

/// Map a `myna-card` error, naming the step. `pin` says which PIN a VERIFY was for, so that
/// wrong-PIN statuses become [`CardError::WrongPin`] / [`CardError::Locked`].
pub(crate) fn from_myna(
    e: myna_card::Error,
    during: &'static str,
    pin: Option<PinKind>,
) -> CardError {
    use myna_card::Error as E;
    match e {
        E::Pcsc(p) => p.into(),
        E::NoReader => CardError::NoReader,
        E::ReaderNotFound(name) => CardError::ReaderNotFound(name),
        E::PinIncorrect { retries } => match (pin, retries) {
            (Some(which), Some(0)) => CardError::Locked { which },
            (Some(which), Some(n)) => CardError::WrongPin {
                which,
                tries_left: n,
            },
            (Some(which), None) => CardError::RetriesUnknown { which },
            (None, _) => CardError::CardStatus {
                status: 0x6300,
                during,
            },
        },
        E::PinBlocked => match pin {
            Some(which) => CardError::Locked { which },
            None => CardError::CardStatus {
                status: 0x6984,
                during,
            },
        },
        E::Status(sw) => CardError::CardStatus {
            status: sw.value(),
            during,
        },
        // No status word at all: the card did not answer.
        E::ShortResponse(_) => CardError::CardUnresponsive,
        E::SignatureInvalid(_) => CardError::CloneSuspected { reason: during },
        E::UnknownCertificateAuthority(_) => CardError::Untrusted { what: during },
        // Malformed, offsets, lengths: never forward the message (it may quote card bytes).
        _ => CardError::Malformed { what: during },
    }
}

/// `Result` with [`CardError`].
pub type Result<T, E = CardError> = std::result::Result<T, E>;
