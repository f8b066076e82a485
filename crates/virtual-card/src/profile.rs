//! Profiles: which fake person a virtual card holds, its test credentials and what is special
//! about it (one try left, locked, no signing certificate, cloned, expired), plus access to the
//! embedded TEST fixtures (keys, certificates, images) they use.
//!
//! Everything here is public test data of fake cards, so [`Profile`] serialises its PINs (for
//! `madoguchi-virtual-card profiles --json` and tests). Its `Debug` still shows only the name,
//! so that a profile dropped into a log line does not spread even fake personal data around.
//! It does not build the card's files (see `files`).

use std::fmt;

use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::Serialize;

use crate::Error;
use crate::spec::{SPECS, Spec, Variant};

mod index {
    include!(concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/index.rs"));
}

/// One virtual card's content and settings.
#[derive(Clone, Serialize)]
pub struct Profile {
    /// Name used on the command line (`--profile NAME`).
    pub name: String,
    /// What the card is for.
    pub summary: String,
    /// What is special: `normal`, `one-try-left`, `locked`, `no-sign-certificate`,
    /// `clone-chip-key`, `clone-face-signature`, `expired-sign-certificate`.
    pub variant: String,
    /// The identity on the card.
    pub identity: Identity,
    /// Test credentials and counters.
    pub credentials: Credentials,
    /// The face image in `shared/faces/` the chip photo was made from.
    pub face_source: String,
    #[serde(skip)]
    pub(crate) spec: Spec,
}

/// The identity a profile's card holds (fake).
#[derive(Debug, Clone, Serialize)]
pub struct Identity {
    /// 氏名 (family and given name separated by U+3000).
    pub name: String,
    /// 氏名 in katakana (in the signing certificate; not printed on the card).
    pub name_kana: String,
    /// 住所.
    pub address: String,
    /// 生年月日, `YYYY-MM-DD`.
    pub birth_date: String,
    /// 性別 as on the card: `1` male, `2` female, `9` not applicable.
    pub sex: String,
    /// 個人番号, 12 digits with a valid check digit.
    pub my_number: String,
    /// 有効期限 of the card, `YYYY-MM-DD`.
    pub expiry: String,
    /// セキュリティコード printed on the card face.
    pub security_code: String,
    /// Issuing municipality code (全国地方公共団体コード).
    pub municipality_code: String,
}

/// A profile's test credentials and how many tries each has left when the card is new.
#[derive(Debug, Clone, Serialize)]
pub struct Credentials {
    /// JPKI 利用者証明用 PIN (4 digits); also the 券面事項入力補助AP PIN.
    pub auth_pin: String,
    /// Tries left on the JPKI auth PIN at first use (max 3).
    pub auth_pin_tries: u8,
    /// 券面事項入力補助AP PIN (4 digits).
    pub text_pin: String,
    /// Tries left on the text PIN at first use (max 3).
    pub text_pin_tries: u8,
    /// 署名用パスワード, `null` when the card has no signing certificate.
    pub sign_password: Option<String>,
    /// Tries left on the signing password at first use (max 5).
    pub sign_password_tries: u8,
    /// 照合番号A (= the My Number).
    pub code_a: String,
    /// 照合番号B: 生年月日 (era YYMMDD) + expiry year + security code.
    pub code_b: String,
    /// 券面事項確認AP 生年月日 key (era YYMMDD).
    pub birth_code: String,
}

impl fmt::Debug for Profile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Profile")
            .field("name", &self.name)
            .field("variant", &self.variant)
            .finish_non_exhaustive()
    }
}

fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::Normal => "normal",
        Variant::OneTryLeft => "one-try-left",
        Variant::Locked => "locked",
        Variant::NoSignCertificate => "no-sign-certificate",
        Variant::CloneChipKey => "clone-chip-key",
        Variant::CloneFaceSignature => "clone-face-signature",
        Variant::ExpiredSignCertificate => "expired-sign-certificate",
    }
}

impl Profile {
    fn from_spec(s: &Spec) -> Self {
        let (four, sign) = match s.variant {
            Variant::OneTryLeft => (1, 5),
            Variant::Locked => (0, 0),
            _ => (3, 5),
        };
        let date = |d: crate::spec::Ymd| format!("{:04}-{:02}-{:02}", d.y, d.m, d.d);
        Profile {
            name: s.id.to_owned(),
            summary: s.summary.to_owned(),
            variant: variant_name(s.variant).to_owned(),
            identity: Identity {
                name: s.name.to_owned(),
                name_kana: s.name_kana.to_owned(),
                address: s.address.to_owned(),
                birth_date: date(s.birth),
                sex: (s.sex as char).to_string(),
                my_number: s.my_number(),
                expiry: date(s.expiry),
                security_code: s.security_code.to_owned(),
                municipality_code: s.municipality.to_owned(),
            },
            credentials: Credentials {
                auth_pin: s.pin.to_owned(),
                auth_pin_tries: four,
                text_pin: s.pin.to_owned(),
                text_pin_tries: four,
                sign_password: s.has_sign().then(|| s.sign_password.to_owned()),
                sign_password_tries: if s.has_sign() { sign } else { 0 },
                code_a: s.my_number(),
                code_b: s.code_b(),
                birth_code: s.birth_code(),
            },
            face_source: s.face.to_owned(),
            spec: *s,
        }
    }

    /// The chip photo (greyscale JPEG 2000, JP2 container) this card holds.
    pub fn photo_jp2(&self) -> Result<&'static [u8], Error> {
        image(&format!("photos/{}.jp2", self.spec.face))
    }
}

/// Every profile, in a stable order (normal adults first).
pub fn profiles() -> Vec<Profile> {
    SPECS.iter().map(Profile::from_spec).collect()
}

/// The profile with this name.
pub fn profile(name: &str) -> Option<Profile> {
    SPECS.iter().find(|s| s.id == name).map(Profile::from_spec)
}

fn lookup(table: &'static [(&str, &[u8])], name: &str) -> Result<&'static [u8], Error> {
    table
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .ok_or_else(|| Error::Fixture(format!("no fixture {name}")))
}

/// An embedded private key by fixture name.
pub(crate) fn key(name: &str) -> Result<RsaPrivateKey, Error> {
    RsaPrivateKey::from_pkcs8_der(lookup(index::KEYS, name)?)
        .map_err(|e| Error::Fixture(format!("key {name}: {e}")))
}

/// An embedded certificate (DER) by fixture name.
pub(crate) fn cert(name: &str) -> Result<&'static [u8], Error> {
    lookup(index::CERTS, name)
}

/// An embedded image by path under `fixtures/`.
pub(crate) fn image(path: &str) -> Result<&'static [u8], Error> {
    lookup(index::IMAGES, path)
}

/// The TEST trust anchors a verifier needs for cards made by this crate: DER of the JPKI
/// user-authentication and digital-signature roots.
pub fn test_jpki_roots() -> Result<(&'static [u8], &'static [u8]), Error> {
    Ok((cert("root-auth")?, cert("root-sign")?))
}
