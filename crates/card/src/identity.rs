//! Reading one customer's identity: [`read_identity`] and its result [`CardReading`].
//!
//! Order (each step only after the previous one succeeded, short APDUs only):
//! 1. 券面事項入力補助AP: tries left (free) → the 4-digit PIN under the PIN policy → the 4
//!    attributes → the My Number file (needed as 照合番号A; returned only when asked) → the
//!    signed digests and the application's CV certificate: certificate checked against the CV
//!    CA key of the trust anchors, digests against the files read.
//! 2. 券面事項確認AP: tries left of 照合番号A (free) → 照合番号A → the card face (photo, birth
//!    date, sex, card key, expiry) → CV certificate → card-face signature → chip
//!    challenge-response with the card key (a copy of the files cannot answer it) → the card
//!    face must agree with the attributes.
//! 3. JPKI AP: the authentication certificate, chained to a root of the trust anchors (its
//!    expiry is reported in [`AuthCertificate::valid_today`], not an error).
//! 4. The photo is decoded from JPEG 2000.
//!
//! The 照合番号B route, [`read_card_face_code_b`] → [`CardFaceReading`], does step 2 only,
//! opened with 照合番号B (typed by the teller from the card face) instead of 照合番号A: the
//! customer's PIN, the text application and the My Number are never touched, and the name
//! and address are the chip's signed images.
//!
//! Any failed check is [`CardError::CloneSuspected`] / [`CardError::Untrusted`]. The session is
//! not ended here (the caller may sign evidence next); [`read_identity_from_reader`] opens,
//! reads and unpowers in one call. Nothing personal is logged.

use std::fmt;

use myna_card::ap::{jpki, surface, text};
use myna_card::{CardVerifiableCertificate, Certificate, Date, Sex};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{CardError, Result, from_myna};
use crate::link::CardLink;
use crate::photo::{GrayImage, decode_jp2};
use crate::progress::{Progress, Step};
use crate::secret::{CardPin, CodeB, PinKind};
use crate::session::{App, CardSession, Exclusive};
use crate::trust::{Hierarchy, RootPurpose, TrustAnchors};

/// What the caller wants read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions {
    /// Return the My Number (only for procedures that need it).
    pub with_my_number: bool,
}

/// The My Number, 12 digits (zeroised on drop, redacted `Debug`, no `Display`).
#[derive(Clone, PartialEq, Eq)]
pub struct MyNumber(Zeroizing<String>);

impl MyNumber {
    /// The 12 digits.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for MyNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MyNumber(<redacted>)")
    }
}

/// 性別 as the card stores it (JIS X 0303).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Gender {
    /// 1.
    Male,
    /// 2.
    Female,
    /// 0 / 9 / anything else.
    Other,
}

impl From<Sex> for Gender {
    fn from(s: Sex) -> Self {
        match s {
            Sex::Male => Gender::Male,
            Sex::Female => Gender::Female,
            _ => Gender::Other,
        }
    }
}

/// The 4 attributes (基本4情報), verified against the card's signed digest.
#[derive(Clone, PartialEq, Eq)]
pub struct Attributes {
    /// 氏名.
    pub name: String,
    /// 住所.
    pub address: String,
    /// 生年月日 (Gregorian).
    pub birth_date: Date,
    /// 性別.
    pub gender: Gender,
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Attributes(<redacted>)")
    }
}

/// What was read from the card face besides the photo.
#[derive(Clone, PartialEq, Eq)]
pub struct CardFaceSummary {
    /// 有効期限 of the card (not covered by the card-face signature).
    pub expiry: Date,
    /// SHA-256 of the three signed groups of the card face (`DF22–24`, `DF25–26`, `DF27`).
    pub signed_group_hashes: [[u8; 32]; 3],
    /// SHA-256 of the whole card-face file.
    pub file_hash: [u8; 32],
}

impl fmt::Debug for CardFaceSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardFaceSummary")
            .field(
                "signed_group_hashes",
                &self.signed_group_hashes.map(hex::encode),
            )
            .finish_non_exhaustive()
    }
}

/// The chip photo.
#[derive(Clone, PartialEq, Eq)]
pub struct ChipPhoto {
    /// The JPEG 2000 bytes as stored on the card.
    pub jp2: Vec<u8>,
    /// The decoded greyscale image.
    pub image: GrayImage,
}

impl fmt::Debug for ChipPhoto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChipPhoto({} bytes, {:?})", self.jp2.len(), self.image)
    }
}

/// The JPKI authentication certificate (no personal attributes in it).
#[derive(Clone)]
pub struct AuthCertificate {
    /// Subject DN.
    pub subject: String,
    /// Issuer DN.
    pub issuer: String,
    /// Serial number, hex.
    pub serial: String,
    /// Validity, inclusive.
    pub valid_from: Date,
    /// Validity, inclusive.
    pub valid_to: Date,
    /// The certificate, DER.
    pub der: Vec<u8>,
    /// Valid on the day of the reading (an expired one is reported, not an error).
    pub valid_today: bool,
}

impl fmt::Debug for AuthCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCertificate")
            .field("serial", &self.serial)
            .field("valid_to", &self.valid_to)
            .finish_non_exhaustive()
    }
}

impl AuthCertificate {
    pub(crate) fn from_cert(cert: &Certificate, today: Date) -> Self {
        let (valid_from, valid_to) = cert.validity();
        AuthCertificate {
            valid_today: cert.is_valid_on(today),
            subject: cert.subject(),
            issuer: cert.issuer(),
            serial: hex::encode(cert.serial_number()),
            valid_from,
            valid_to,
            der: cert.der().to_vec(),
        }
    }
}

/// One customer's verified identity reading.
#[derive(Clone)]
pub struct CardReading {
    /// The 4 attributes.
    pub attributes: Attributes,
    /// The My Number, only when asked for.
    pub my_number: Option<MyNumber>,
    /// The chip photo.
    pub photo: ChipPhoto,
    /// Card-face data and hashes.
    pub card_face: CardFaceSummary,
    /// The authentication certificate.
    pub auth_certificate: AuthCertificate,
    /// Which hierarchy the checks were made against (test only in simulation).
    pub hierarchy: Hierarchy,
    /// Tries left on the text PIN before this reading.
    pub pin_tries_before: Option<u8>,
}

impl fmt::Debug for CardReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardReading")
            .field("attributes", &self.attributes)
            .field("my_number", &self.my_number.as_ref().map(|_| "<redacted>"))
            .field("photo", &self.photo)
            .field("card_face", &self.card_face)
            .field("auth_certificate", &self.auth_certificate)
            .field("hierarchy", &self.hierarchy)
            .finish()
    }
}

impl CardReading {
    /// The reading as JSON for the CLI (personal data included: for the operator's screen,
    /// never for logs). The photo is summarised by size and hash.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.attributes.name,
            "address": self.attributes.address,
            "birth_date": self.attributes.birth_date.to_string(),
            "gender": self.attributes.gender,
            "my_number": self.my_number.as_ref().map(|n| n.expose().to_owned()),
            "card_expiry": self.card_face.expiry.to_string(),
            "photo": {
                "width": self.photo.image.width,
                "height": self.photo.image.height,
                "jp2_bytes": self.photo.jp2.len(),
                "jp2_sha256": hex::encode(Sha256::digest(&self.photo.jp2)),
            },
            "card_face_signed_group_sha256": self.card_face.signed_group_hashes.map(hex::encode),
            "auth_certificate": {
                "subject": self.auth_certificate.subject,
                "issuer": self.auth_certificate.issuer,
                "serial": self.auth_certificate.serial,
                "valid_from": self.auth_certificate.valid_from.to_string(),
                "valid_to": self.auth_certificate.valid_to.to_string(),
                "valid_today": self.auth_certificate.valid_today,
            },
            "checks": {
                "text_integrity": true,
                "card_face_signature": true,
                "chip_challenge_response": true,
                "auth_certificate_chain": true,
                "hierarchy": self.hierarchy,
            },
            "pin_tries_before": self.pin_tries_before,
        })
    }
}

fn myna(during: &'static str) -> impl FnOnce(myna_card::Error) -> CardError {
    move |e| from_myna(e, during, None)
}

/// Checks a 券面 CV certificate against the CV CA key the anchors hold for its issuer.
fn check_cv_cert(
    cert: &CardVerifiableCertificate,
    trust: &TrustAnchors,
    what: &'static str,
) -> Result<()> {
    let ca = trust
        .cv_key(&cert.issuer_key_id)
        .ok_or(CardError::Untrusted { what })?;
    cert.verify_with(ca)
        .map_err(|_| CardError::Untrusted { what })
}

/// Reads one customer's identity (see the module docs for the order and the checks).
/// `today` is the date certificates must be valid on.
pub fn read_identity<L: CardLink>(
    session: &mut CardSession<L, Exclusive>,
    pin: &CardPin,
    options: ReadOptions,
    trust: &TrustAnchors,
    today: Date,
    progress: &mut dyn FnMut(Progress),
) -> Result<CardReading> {
    // 1. Text application.
    let tries = session.verify(PinKind::TextPin, &pin.to_card()?)?;
    let attributes_raw = session.read_file(text::ef::ATTRIBUTES, Step::Attributes, progress)?;
    let attrs = text::Attributes::parse(&attributes_raw).map_err(myna("attributes file"))?;
    let my_number_file =
        Zeroizing::new(session.read_physical(text::ef::MY_NUMBER, Step::MyNumber, progress)?);
    let my_number = parse_my_number(&my_number_file)?;
    let integrity_raw = session.read_file(text::ef::INTEGRITY, Step::TextIntegrity, progress)?;
    let integrity =
        text::IntegrityRecord::parse(&integrity_raw).map_err(myna("text integrity record"))?;
    let text_cert_raw =
        session.read_file(text::ef::CERTIFICATE, Step::TextCertificate, progress)?;
    let text_cert = CardVerifiableCertificate::parse(&text_cert_raw)
        .map_err(myna("text application certificate"))?;
    check_cv_cert(&text_cert, trust, "text application certificate")?;
    integrity
        .verify(&text_cert.public_key)
        .map_err(|_| CardError::CloneSuspected {
            reason: "the text application's signature does not verify",
        })?;
    let attrs_match = integrity
        .matches_attributes_file(&attributes_raw)
        .map_err(myna("attributes file"))?;
    if !attrs_match || !integrity.matches_my_number_file(&my_number_file) {
        return Err(CardError::CloneSuspected {
            reason: "the text files do not match their signed digests",
        });
    }

    // 2. Card-face application.
    let code_a = myna_card::Pin::numeric(my_number.expose().as_bytes()).map_err(|_| {
        CardError::Malformed {
            what: "My Number file",
        }
    })?;
    session.verify(PinKind::CodeA, &code_a)?;
    drop(code_a);
    let (face, face_raw) = read_verified_card_face(session, trust, progress)?;
    if face.birth_date != attrs.birth_date || Gender::from(face.sex) != Gender::from(attrs.sex) {
        return Err(CardError::CloneSuspected {
            reason: "the card face and the text application disagree",
        });
    }

    // 3. JPKI authentication certificate.
    session.select(App::Jpki)?;
    let auth_raw =
        session.read_file(jpki::ef::AUTH_CERTIFICATE, Step::AuthCertificate, progress)?;
    let auth = Certificate::parse(&auth_raw).map_err(|_| CardError::Malformed {
        what: "authentication certificate",
    })?;
    // Issued by a trusted root (else it is a forgery); its validity is reported, not required:
    // the authentication certificate expires years before the card.
    trust.issuing_root(&auth, RootPurpose::Auth, "authentication certificate")?;

    // 4. The photo.
    let image = decode_jp2(&face.photo.data)?;
    let card_face = card_face_summary(&face, &face_raw);
    tracing::info!(
        photo_bytes = face.photo.data.len(),
        hierarchy = ?trust.hierarchy(),
        "card read and verified"
    );
    Ok(CardReading {
        attributes: Attributes {
            name: attrs.name,
            address: attrs.address,
            birth_date: attrs.birth_date,
            gender: attrs.sex.into(),
        },
        my_number: options.with_my_number.then_some(my_number),
        photo: ChipPhoto {
            jp2: face.photo.data,
            image,
        },
        card_face,
        auth_certificate: AuthCertificate::from_cert(&auth, today),
        hierarchy: trust.hierarchy(),
        pin_tries_before: tries.count(),
    })
}

/// A rendered card-face field (氏名 or 住所) as the chip stores it: on real cards a 1-bit
/// greyscale PNG. Personal data: `Debug` shows the size only.
#[derive(Clone, PartialEq, Eq)]
pub struct CardImage {
    /// The encoded image, exactly as read.
    pub data: Vec<u8>,
    /// It is a PNG (else an unrecognised format, shown to nobody).
    pub is_png: bool,
}

impl fmt::Debug for CardImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "CardImage({} bytes, png: {})",
            self.data.len(),
            self.is_png
        )
    }
}

impl From<myna_card::data::Image> for CardImage {
    fn from(i: myna_card::data::Image) -> Self {
        CardImage {
            is_png: i.format == myna_card::data::ImageFormat::Png,
            data: i.data,
        }
    }
}

/// What the 照合番号B route reads: the card face of the 券面事項確認AP, verified (CV
/// certificate, card-face signature, chip challenge). Name and address only as the chip's
/// images; no My Number, no text application, no JPKI.
#[derive(Clone)]
pub struct CardFaceReading {
    /// 生年月日 (from the card face, signed).
    pub birth_date: Date,
    /// 性別 (signed).
    pub gender: Gender,
    /// 氏名 as rendered on the card face (signed).
    pub name_image: CardImage,
    /// 住所 as rendered on the card face (signed).
    pub address_image: CardImage,
    /// The chip photo (signed).
    pub photo: ChipPhoto,
    /// Expiry and hashes of the signed groups.
    pub card_face: CardFaceSummary,
    /// Which hierarchy the checks were made against (test only in simulation).
    pub hierarchy: Hierarchy,
    /// Tries left on 照合番号B before this reading.
    pub code_b_tries_before: Option<u8>,
}

impl fmt::Debug for CardFaceReading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CardFaceReading")
            .field("photo", &self.photo)
            .field("card_face", &self.card_face)
            .field("hierarchy", &self.hierarchy)
            .finish_non_exhaustive()
    }
}

/// The 照合番号B route (what the Digital Agency's face-to-face confirmation app does): the
/// teller's 照合番号B under the PIN policy (tries read first, never the last try), then the
/// card face with every authenticity check. The customer's PIN and the My Number are never
/// used. The session is not ended here.
pub fn read_card_face_code_b<L: CardLink>(
    session: &mut CardSession<L, Exclusive>,
    code: &CodeB,
    trust: &TrustAnchors,
    progress: &mut dyn FnMut(Progress),
) -> Result<CardFaceReading> {
    let tries = session.verify(PinKind::CodeB, &code.to_card()?)?;
    let (face, face_raw) = read_verified_card_face(session, trust, progress)?;
    let image = decode_jp2(&face.photo.data)?;
    let card_face = card_face_summary(&face, &face_raw);
    tracing::info!(
        photo_bytes = face.photo.data.len(),
        hierarchy = ?trust.hierarchy(),
        "card face read with verification code B and verified"
    );
    Ok(CardFaceReading {
        birth_date: face.birth_date,
        gender: face.sex.into(),
        name_image: face.name_image.into(),
        address_image: face.address_image.into(),
        photo: ChipPhoto {
            jp2: face.photo.data,
            image,
        },
        card_face,
        hierarchy: trust.hierarchy(),
        code_b_tries_before: tries.count(),
    })
}

/// The My Number file: `FF10 0C <12 ASCII digits>` then filler.
pub(crate) fn parse_my_number(file: &[u8]) -> Result<MyNumber> {
    let bad = CardError::Malformed {
        what: "My Number file",
    };
    let tlv = myna_card::tlv::ber::parse(file).map_err(|_| CardError::Malformed {
        what: "My Number file",
    })?;
    if tlv.tag != 0xFF10 || tlv.value.len() != 12 || !tlv.value.iter().all(u8::is_ascii_digit) {
        return Err(bad);
    }
    let digits = std::str::from_utf8(tlv.value).map_err(|_| CardError::Malformed {
        what: "My Number file",
    })?;
    Ok(MyNumber(Zeroizing::new(digits.to_owned())))
}

/// Reads the card face (the 券面事項確認AP must be open: 照合番号A or B verified), checks its
/// CV certificate against the anchors and its signature, then the chip challenge. Returns the
/// parsed card face and the raw file (for its hash).
fn read_verified_card_face<L: CardLink>(
    session: &mut CardSession<L, Exclusive>,
    trust: &TrustAnchors,
    progress: &mut dyn FnMut(Progress),
) -> Result<(surface::CardFace, Vec<u8>)> {
    let face_raw = session.read_file(surface::ef::CARD_FACE, Step::CardFace, progress)?;
    let face = surface::CardFace::parse(&face_raw).map_err(myna("card face file"))?;
    let face_cert_raw = session.read_file(
        surface::ef::CERTIFICATE,
        Step::CardFaceCertificate,
        progress,
    )?;
    let face_cert = CardVerifiableCertificate::parse(&face_cert_raw)
        .map_err(myna("card-face application certificate"))?;
    check_cv_cert(&face_cert, trust, "card-face application certificate")?;
    face.verify(&face_cert.public_key)
        .map_err(|_| CardError::CloneSuspected {
            reason: "the card-face signature does not verify",
        })?;
    chip_challenge(session, &face.public_key)?;
    Ok((face, face_raw))
}

fn card_face_summary(face: &surface::CardFace, face_raw: &[u8]) -> CardFaceSummary {
    CardFaceSummary {
        expiry: face.expiry,
        signed_group_hashes: face
            .signed_segments
            .each_ref()
            .map(|s| Sha256::digest(s).into()),
        file_hash: Sha256::digest(face_raw).into(),
    }
}

/// GET CHALLENGE + the card-face application's own signature, checked with the card key from
/// the (already verified) card face. A copy of the card's files cannot answer this.
fn chip_challenge<L: CardLink>(
    session: &mut CardSession<L, Exclusive>,
    card_key: &myna_card::RsaPublicKey,
) -> Result<()> {
    let card = session.card();
    let challenge = card
        .get_challenge(16)
        .map_err(myna("getting a challenge from the chip"))?;
    let digest_info = myna_card::data::sha256_digest_info(&Sha256::digest(&challenge));
    let signature = card
        .call_ok(&myna_card::Command::with_data_le(
            0x80,
            myna_card::card::ins::COMPUTE_SIGNATURE,
            0x00,
            0x00,
            digest_info,
            256,
        ))
        .map_err(myna("the chip's challenge signature"))?;
    card_key
        .verify_pkcs1_sha256(&challenge, &signature)
        .map_err(|_| CardError::CloneSuspected {
            reason: "the chip did not prove it holds the card key",
        })
}

/// Opens the card in `reader` exclusively, reads the identity, and unpowers the card whatever
/// happened.
pub fn read_identity_from_reader(
    reader: Option<&str>,
    pin: &CardPin,
    options: ReadOptions,
    trust: &TrustAnchors,
    today: Date,
    progress: &mut dyn FnMut(Progress),
) -> Result<CardReading> {
    let mut session = CardSession::open_exclusive(reader)?;
    let result = read_identity(&mut session, pin, options, trust, today, progress);
    let ended = session.end();
    let reading = result?;
    ended?;
    Ok(reading)
}

/// Today's date (UTC) from the system clock.
pub fn today() -> Date {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    Date::from_unix_seconds(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn my_number_file_parses_and_never_shows_in_errors_or_debug() {
        let mut file = vec![0xFF, 0x10, 0x0C];
        file.extend_from_slice(b"123456789018");
        file.extend_from_slice(&[0xFF, 0xFF]);
        let n = parse_my_number(&file).unwrap();
        assert_eq!(n.expose(), "123456789018");
        assert!(!format!("{n:?}").contains("1234"));
        let mut bad = file.clone();
        bad[5] = b'x';
        let err = parse_my_number(&bad).unwrap_err();
        assert!(!err.to_string().contains("3456"), "{err}");
        assert!(!format!("{err:?}").contains("3456"), "{err:?}");
    }
}
