//! Secrets typed by the customer: the 4-digit card PIN and the JPKI signing password.
//!
//! They are zeroised on drop, have a redacted `Debug`, no `Display`, no `Clone`, no `Serialize`,
//! and leave this type only as a `myna_card::Pin` (itself zeroised on drop) built at the moment
//! of the VERIFY. The form is checked here so that a mistyped value costs no try on the card.
//! This module does not read keyboards or prompts (the CLI and the UI do) and never stores a
//! secret anywhere.

use std::fmt;

use serde::Serialize;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{CardError, Result};

/// Which of the card's secrets an error or a retry counter is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PinKind {
    /// 券面事項入力補助用暗証番号: 4 digits, 3 tries (券面事項入力補助AP EF 0011).
    TextPin,
    /// 利用者証明用暗証番号: 4 digits, 3 tries (JPKI AP EF 0018).
    AuthPin,
    /// 署名用パスワード: 6–16 upper-case letters and digits, 5 tries (JPKI AP EF 001B).
    SignPassword,
    /// 照合番号A (the My Number) on the 券面事項確認AP (EF 0013).
    CodeA,
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinKind::TextPin => "card PIN (text application)",
            PinKind::AuthPin => "card PIN (authentication)",
            PinKind::SignPassword => "signing password",
            PinKind::CodeA => "verification code A",
        })
    }
}

/// The customer's 4-digit PIN, from the keypad to the card.
pub struct CardPin(Zeroizing<Vec<u8>>);

impl CardPin {
    /// Takes the typed value (the `String` is wiped). Exactly 4 ASCII digits, else
    /// [`CardError::InvalidPinFormat`] and nothing is sent to the card.
    pub fn new(mut typed: String) -> Result<Self> {
        let ok = typed.len() == 4 && typed.bytes().all(|b| b.is_ascii_digit());
        let pin = CardPin(Zeroizing::new(typed.as_bytes().to_vec()));
        typed.zeroize();
        if ok {
            Ok(pin)
        } else {
            Err(CardError::InvalidPinFormat {
                which: PinKind::TextPin,
                reason: "the PIN is exactly 4 digits",
            })
        }
    }

    pub(crate) fn to_card(&self) -> Result<myna_card::Pin> {
        myna_card::Pin::numeric(self.0.as_slice()).map_err(|_| CardError::InvalidPinFormat {
            which: PinKind::TextPin,
            reason: "the PIN is exactly 4 digits",
        })
    }
}

impl fmt::Debug for CardPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CardPin(<redacted>)")
    }
}

/// The JPKI signing password (署名用パスワード), from the keypad to the card.
pub struct SignPassword(Zeroizing<Vec<u8>>);

impl SignPassword {
    /// Takes the typed value (the `String` is wiped). Lower-case letters are folded to upper
    /// case, as the card stores them. 6–16 characters `A–Z0–9`, else
    /// [`CardError::InvalidPinFormat`] and nothing is sent.
    pub fn new(mut typed: String) -> Result<Self> {
        let mut bytes = Zeroizing::new(typed.as_bytes().to_ascii_uppercase());
        typed.zeroize();
        let ok = (6..=16).contains(&bytes.len())
            && bytes
                .iter()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if ok {
            Ok(SignPassword(Zeroizing::new(std::mem::take(&mut *bytes))))
        } else {
            Err(CardError::InvalidPinFormat {
                which: PinKind::SignPassword,
                reason: "the signing password is 6 to 16 letters A-Z and digits",
            })
        }
    }

    pub(crate) fn to_card(&self) -> Result<myna_card::Pin> {
        myna_card::Pin::new(self.0.as_slice()).map_err(|_| CardError::InvalidPinFormat {
            which: PinKind::SignPassword,
            reason: "the signing password is 6 to 16 letters A-Z and digits",
        })
    }
}

impl fmt::Debug for SignPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SignPassword(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_form_is_checked_before_anything_is_sent() {
        assert!(CardPin::new("1234".into()).is_ok());
        for bad in ["123", "12345", "12a4", "１２３４", ""] {
            let err = CardPin::new(bad.into()).unwrap_err();
            assert_eq!(err.code(), "card.pin.invalid_format", "{bad}");
        }
    }

    #[test]
    fn password_is_folded_to_upper_case_and_checked() {
        let p = SignPassword::new("abc123".into()).unwrap();
        assert_eq!(p.to_card().unwrap().as_bytes(), b"ABC123");
        assert!(SignPassword::new("ABC12".into()).is_err());
        assert!(SignPassword::new("ABC12-".into()).is_err());
        assert!(SignPassword::new("A".repeat(17)).is_err());
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let pin = CardPin::new("4821".into()).unwrap();
        let pw = SignPassword::new("SECRET42".into()).unwrap();
        let shown = format!("{pin:?} {pw:?} {:#?}", (&pin, &pw));
        assert!(
            !shown.contains("4821") && !shown.contains("SECRET42"),
            "{shown}"
        );
    }
}
