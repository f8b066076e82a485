//! Profiles: which fake person a virtual card holds, its test credentials and what is special
//! about it (one try left, locked, no signing certificate, cloned, expired), plus access to the
//! embedded TEST fixtures (keys, certificates, images) they use.
//!
//! A profile comes from one of two sources, both producing the same owned [`CardData`] that
//! `files` builds the card from: a compiled-in `spec::Spec` whose keys, certificates and images
//! are committed fixtures ([`Source::Fixtures`]), or a profile file loaded at run time whose
//! per-card keys, certificates and images were made when it was loaded
//! ([`Source::Generated`], see `person`).
//!
//! Everything here is public test data of fake cards, so [`Profile`] serialises its PINs (for
//! `madoguchi-virtual-card profiles --json` and tests). Its `Debug` still shows only the name,
//! so that a profile dropped into a log line does not spread even fake personal data around.
//! It does not build the card's files (see `files`) or read profile files (see `person`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rsa::RsaPrivateKey;
use rsa::pkcs8::DecodePrivateKey;
use serde::Serialize;

use crate::Error;
use crate::spec::{self, SPECS, Spec, Variant, Ymd};

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
    /// The face image in `shared/faces/` the chip photo was made from (file stem); for a
    /// profile file, the stem of its `photo`.
    pub face_source: String,
    /// For a profile file: the photo file the chip photo was made from (absent for the
    /// compiled-in profiles, and then not serialised).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub photo_file: Option<PathBuf>,
    #[serde(skip)]
    pub(crate) card: CardData,
}

/// A card's content, typed and owned: what `files` builds the applications from.
#[derive(Clone)]
pub(crate) struct CardData {
    /// Profile name (fixture names, filler labels, state file).
    pub(crate) id: String,
    /// What is special (the clone variants change which keys sign what).
    pub(crate) variant: Variant,
    /// 氏名, family and given name separated by U+3000.
    pub(crate) name: String,
    /// 氏名 in katakana.
    pub(crate) name_kana: String,
    /// 住所.
    pub(crate) address: String,
    /// 生年月日.
    pub(crate) birth: Ymd,
    /// 性別: `b'1'`, `b'2'` or `b'9'`.
    pub(crate) sex: u8,
    /// 個人番号, 12 digits.
    pub(crate) my_number: String,
    /// 有効期限.
    pub(crate) expiry: Ymd,
    /// セキュリティコード, 4 digits.
    pub(crate) security_code: String,
    /// 全国地方公共団体コード (test value).
    pub(crate) municipality: String,
    /// Where the per-card keys, certificates and images come from.
    pub(crate) source: Source,
}

/// Where a card's per-card keys, certificates and images come from.
#[derive(Clone)]
pub(crate) enum Source {
    /// The committed fixtures, by profile id (keys, certificates, card-face texts) and face
    /// stem (chip photo).
    Fixtures {
        /// Stem of `fixtures/photos/<face>.jp2`.
        face: &'static str,
    },
    /// Made when a profile file was loaded.
    Generated(Arc<Generated>),
}

/// Per-card material made at run time from a profile file.
pub(crate) struct Generated {
    /// JPKI user-authentication key.
    pub(crate) auth_key: Arc<RsaPrivateKey>,
    /// JPKI signing key (`None`: no signing certificate).
    pub(crate) sign_key: Option<Arc<RsaPrivateKey>>,
    /// The chip's own key (券面 APs).
    pub(crate) chip_key: Arc<RsaPrivateKey>,
    /// 利用者証明用証明書 (DER).
    pub(crate) auth_cert: Vec<u8>,
    /// 署名用証明書 (DER), with `sign_key`.
    pub(crate) sign_cert: Option<Vec<u8>>,
    /// Chip photo (JP2).
    pub(crate) photo_jp2: Vec<u8>,
    /// Card-face text images (PNG).
    pub(crate) text: TextImages,
}

/// The card-face texts as 1-bit PNG images.
pub(crate) struct TextImages {
    /// 氏名.
    pub(crate) name: Vec<u8>,
    /// 住所.
    pub(crate) address: Vec<u8>,
    /// セキュリティコード.
    pub(crate) code: Vec<u8>,
    /// 個人番号.
    pub(crate) number: Vec<u8>,
}

/// A card's per-card keys, certificates and images, wherever they come from.
pub(crate) struct Material<'a> {
    pub(crate) auth_key: Arc<RsaPrivateKey>,
    pub(crate) sign_key: Option<Arc<RsaPrivateKey>>,
    pub(crate) chip_key: Arc<RsaPrivateKey>,
    pub(crate) auth_cert: &'a [u8],
    pub(crate) sign_cert: Option<&'a [u8]>,
    pub(crate) photo_jp2: &'a [u8],
    pub(crate) name_png: &'a [u8],
    pub(crate) address_png: &'a [u8],
    pub(crate) code_png: &'a [u8],
    pub(crate) number_png: &'a [u8],
}

impl CardData {
    /// Whether the card carries a signing certificate and key.
    pub(crate) fn has_sign(&self) -> bool {
        match &self.source {
            Source::Fixtures { .. } => self.variant != Variant::NoSignCertificate,
            Source::Generated(g) => g.sign_key.is_some(),
        }
    }

    /// 照合番号B.
    pub(crate) fn code_b(&self) -> String {
        spec::code_b(self.birth, self.expiry, &self.security_code)
    }

    /// 生年月日 key of 券面事項確認AP.
    pub(crate) fn birth_code(&self) -> String {
        spec::birth_code(self.birth)
    }

    /// The chip photo (JP2).
    pub(crate) fn photo_jp2(&self) -> Result<&[u8], Error> {
        match &self.source {
            Source::Fixtures { face } => image(&format!("photos/{face}.jp2")),
            Source::Generated(g) => Ok(&g.photo_jp2),
        }
    }

    /// The per-card keys, certificates and images (fixture keys are parsed here).
    pub(crate) fn material(&self) -> Result<Material<'_>, Error> {
        match &self.source {
            Source::Fixtures { face } => {
                let id = &self.id;
                let (sign_key, sign_cert) = if self.has_sign() {
                    (
                        Some(Arc::new(key(&format!("{id}-sign"))?)),
                        Some(cert(&format!("{id}-sign"))?),
                    )
                } else {
                    (None, None)
                };
                Ok(Material {
                    auth_key: Arc::new(key(&format!("{id}-auth"))?),
                    sign_key,
                    chip_key: Arc::new(key(&format!("{id}-chip"))?),
                    auth_cert: cert(&format!("{id}-auth"))?,
                    sign_cert,
                    photo_jp2: image(&format!("photos/{face}.jp2"))?,
                    name_png: image(&format!("text/{id}-name.png"))?,
                    address_png: image(&format!("text/{id}-address.png"))?,
                    code_png: image(&format!("text/{id}-code.png"))?,
                    number_png: image(&format!("text/{id}-number.png"))?,
                })
            }
            Source::Generated(g) => Ok(Material {
                auth_key: g.auth_key.clone(),
                sign_key: g.sign_key.clone(),
                chip_key: g.chip_key.clone(),
                auth_cert: &g.auth_cert,
                sign_cert: g.sign_cert.as_deref(),
                photo_jp2: &g.photo_jp2,
                name_png: &g.text.name,
                address_png: &g.text.address,
                code_png: &g.text.code,
                number_png: &g.text.number,
            }),
        }
    }
}

/// The PINs and tries a new card starts with.
pub(crate) struct Secrets {
    pub(crate) auth_pin: String,
    pub(crate) text_pin: String,
    /// `None`: no signing certificate.
    pub(crate) sign_password: Option<String>,
    /// Tries left on the auth and text PINs.
    pub(crate) pin_tries: u8,
    /// Tries left on the signing password.
    pub(crate) sign_tries: u8,
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

pub(crate) fn variant_name(v: Variant) -> &'static str {
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

fn date(d: Ymd) -> String {
    format!("{:04}-{:02}-{:02}", d.y, d.m, d.d)
}

impl Profile {
    /// The profile of `card` (the public identity and credentials views are derived from it).
    pub(crate) fn new(
        card: CardData,
        summary: String,
        secrets: Secrets,
        face_source: String,
        photo_file: Option<PathBuf>,
    ) -> Self {
        let has_sign = card.has_sign();
        Profile {
            name: card.id.clone(),
            summary,
            variant: variant_name(card.variant).to_owned(),
            identity: Identity {
                name: card.name.clone(),
                name_kana: card.name_kana.clone(),
                address: card.address.clone(),
                birth_date: date(card.birth),
                sex: (card.sex as char).to_string(),
                my_number: card.my_number.clone(),
                expiry: date(card.expiry),
                security_code: card.security_code.clone(),
                municipality_code: card.municipality.clone(),
            },
            credentials: Credentials {
                auth_pin: secrets.auth_pin,
                auth_pin_tries: secrets.pin_tries,
                text_pin: secrets.text_pin,
                text_pin_tries: secrets.pin_tries,
                sign_password: secrets.sign_password.filter(|_| has_sign),
                sign_password_tries: if has_sign { secrets.sign_tries } else { 0 },
                code_a: card.my_number.clone(),
                code_b: card.code_b(),
                birth_code: card.birth_code(),
            },
            face_source,
            photo_file,
            card,
        }
    }

    fn from_spec(s: &Spec) -> Self {
        let (four, sign) = match s.variant {
            Variant::OneTryLeft => (1, 5),
            Variant::Locked => (0, 0),
            _ => (3, 5),
        };
        let card = CardData {
            id: s.id.to_owned(),
            variant: s.variant,
            name: s.name.to_owned(),
            name_kana: s.name_kana.to_owned(),
            address: s.address.to_owned(),
            birth: s.birth,
            sex: s.sex,
            my_number: s.my_number(),
            expiry: s.expiry,
            security_code: s.security_code.to_owned(),
            municipality: s.municipality.to_owned(),
            source: Source::Fixtures { face: s.face },
        };
        Profile::new(
            card,
            s.summary.to_owned(),
            Secrets {
                auth_pin: s.pin.to_owned(),
                text_pin: s.pin.to_owned(),
                sign_password: Some(s.sign_password.to_owned()),
                pin_tries: four,
                sign_tries: sign,
            },
            s.face.to_owned(),
            None,
        )
    }

    /// The chip photo (greyscale JPEG 2000, JP2 container) this card holds.
    pub fn photo_jp2(&self) -> Result<&[u8], Error> {
        self.card.photo_jp2()
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
