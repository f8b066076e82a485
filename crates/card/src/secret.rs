//! Secrets typed at the counter: the customer's 4-digit card PIN and JPKI signing password,
//! and 照合番号B, which the teller types from the card face (birth date, expiry year and the
//! 4-digit security code printed on it) to open the 券面事項確認AP without a PIN.
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
    /// 照合番号B (birth date, card expiry year, security code) on the 券面事項確認AP (EF 0012).
    CodeB,
}

impl fmt::Display for PinKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            PinKind::TextPin => "card PIN (text application)",
            PinKind::AuthPin => "card PIN (authentication)",
            PinKind::SignPassword => "signing password",
            PinKind::CodeA => "verification code A",
            PinKind::CodeB => "verification code B",
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

/// 照合番号B: 生年月日 as era YYMMDD, the card's expiry year and the 4-digit セキュリティコード
/// (14 digits), built from what the teller reads off the card face. It opens the
/// 券面事項確認AP without the customer's PIN and without the My Number.
pub struct CodeB(Zeroizing<Vec<u8>>);

impl CodeB {
    /// Builds the code; the security code `String` is wiped. The security code must be 4
    /// ASCII digits and the birth date in the Meiji era or later, else
    /// [`CardError::InvalidPinFormat`] and nothing is sent.
    pub fn new(
        birth_date: myna_card::Date,
        expiry_year: u16,
        mut security_code: String,
    ) -> Result<Self> {
        let bad = |reason| CardError::InvalidPinFormat {
            which: PinKind::CodeB,
            reason,
        };
        let built = if !(2014..=2100).contains(&expiry_year) {
            Err(bad(
                "the expiry year is the card's 4-digit year (2014 or later)",
            ))
        } else {
            myna_card::data::verification_code_b(birth_date, expiry_year, security_code.as_bytes())
                .map(|pin| CodeB(Zeroizing::new(pin.as_bytes().to_vec())))
                .map_err(|_| {
                    bad("the security code is 4 digits and the birth date is in the Meiji era or later")
                })
        };
        security_code.zeroize();
        built
    }

    pub(crate) fn to_card(&self) -> Result<myna_card::Pin> {
        myna_card::Pin::numeric(self.0.as_slice()).map_err(|_| CardError::InvalidPinFormat {
            which: PinKind::CodeB,
            reason: "verification code B is 14 digits",
        })
    }
}

impl fmt::Debug for CodeB {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CodeB(<redacted>)")
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
    fn code_b_is_built_from_the_card_face_and_checked() {
        let dob = myna_card::Date::parse(b"19800217").unwrap();
        let code = CodeB::new(dob, 2035, "2285".into()).unwrap();
        assert_eq!(code.to_card().unwrap().as_bytes(), b"55021720352285");
        assert!(!format!("{code:?}").contains("2285"));
        for bad in ["228", "22x5", "12345", ""] {
            let err = CodeB::new(dob, 2035, bad.into()).unwrap_err();
            assert_eq!(err.code(), "card.pin.invalid_format", "{bad}");
        }
        assert!(CodeB::new(dob, 35, "2285".into()).is_err());
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
