//! The virtual card read by an independent reader implementation, `myna-card` (written by
//! others from real cards), in process: every profile's applications, signatures, card-face
//! and integrity records against the TEST CV CA keys, chip liveness, and the special profiles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use madoguchi_virtual_card::transport::InProcess;
use madoguchi_virtual_card::{Profile, VirtualCard, profile, profiles, test_cv_ca_keys};
use myna_card::ap::jpki::{JpkiAp, SignatureScheme};
use myna_card::ap::surface::SurfaceAp;
use myna_card::ap::text::{Attributes, TextAp};
use myna_card::{Card, ImageFormat, Pin, Retries};
use rsa::traits::PublicKeyParts;

fn open(p: &Profile) -> Card<InProcess> {
    Card::new(InProcess::new(VirtualCard::new(p, None).unwrap()))
}

fn ca_key(id: &str) -> myna_card::RsaPublicKey {
    let (_, k) = test_cv_ca_keys()
        .unwrap()
        .into_iter()
        .find(|(n, _)| *n == id)
        .unwrap();
    myna_card::RsaPublicKey {
        exponent: k.e().to_bytes_be(),
        modulus: k.n().to_bytes_be(),
    }
}

fn pin(s: &str) -> Pin {
    Pin::new(s).unwrap()
}

#[test]
fn every_normal_profile_reads_and_verifies() {
    for p in profiles().into_iter().filter(|p| p.variant == "normal") {
        let mut card = open(&p);
        let c = &p.credentials;

        // JPKI: auth certificate and signature, then the signing side.
        let mut jpki = JpkiAp::select(&mut card).unwrap();
        assert_eq!(jpki.read_token_type().unwrap(), myna_card::TokenType::Card);
        assert!(
            jpki.read_certificate_availability()
                .unwrap()
                .has_sign_certificate()
        );
        assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(3));
        let auth = jpki.read_auth_certificate().unwrap();
        assert!(auth.issuer().contains("JPKI-TEST"), "{}", auth.issuer());
        jpki.verify_auth_pin(&pin(&c.auth_pin)).unwrap();
        jpki.sign_with_auth_key_checked(SignatureScheme::Sha256DigestInfo, b"kiosk evidence")
            .unwrap();
        assert!(
            jpki.read_sign_certificate_der().is_err(),
            "needs the password"
        );
        jpki.verify_sign_pin(&pin(c.sign_password.as_deref().unwrap()))
            .unwrap();
        let sign = jpki.read_sign_certificate().unwrap();
        sign.verify_signature(&jpki.read_sign_ca_certificate().unwrap())
            .unwrap();
        for scheme in [
            SignatureScheme::Verbatim,
            SignatureScheme::Sha256Bare,
            SignatureScheme::Sha256DigestInfo,
            SignatureScheme::Sha256Pss,
        ] {
            jpki.sign_with_sign_key_checked(scheme, b"0123456789abcdef0123456789abcdef")
                .unwrap_or_else(|e| panic!("{} {scheme:?}: {e}", p.name));
        }
        for scheme in [
            SignatureScheme::PreHashedDigestInfo,
            SignatureScheme::PreHashedPss,
        ] {
            jpki.sign_with_sign_key_checked(scheme, &[7u8; 32]).unwrap();
        }

        // 券面事項入力補助AP with the PIN.
        let mut text = TextAp::select(&mut card).unwrap();
        text.verify_pin(&pin(&c.text_pin)).unwrap();
        assert_eq!(
            text.read_my_number().unwrap().as_str(),
            p.identity.my_number
        );
        let attrs = text.read_attributes().unwrap();
        assert_eq!(attrs.name, p.identity.name);
        assert_eq!(attrs.address, p.identity.address);
        assert_eq!(
            attrs.birth_date.to_string().replace('/', "-"),
            p.identity.birth_date
        );
        let integrity = text.read_integrity_record().unwrap();
        let physical = text.read_my_number_file().unwrap();
        assert_eq!(physical.len(), 17);
        assert!(integrity.matches_my_number_file(&physical));
        let raw_attrs = text.read_ef(myna_card::ap::text::ef::ATTRIBUTES).unwrap();
        Attributes::parse(&raw_attrs).unwrap();
        assert!(integrity.matches_attributes_file(&raw_attrs).unwrap());
        let cv = text.read_certificate().unwrap();
        assert_eq!(cv.issuer_key_id.number(), "6990033");
        cv.verify_with(&ca_key("6990033")).unwrap();
        integrity.verify(&cv.public_key).unwrap();

        // 券面事項確認AP with 照合番号A.
        let mut surface = SurfaceAp::select(&mut card).unwrap();
        surface.verify_code_a(&pin(&c.code_a)).unwrap();
        let face = surface.read_card_face().unwrap();
        assert_eq!(face.photo.format, ImageFormat::Jpeg2000);
        assert_eq!(face.name_image.format, ImageFormat::Png);
        assert_eq!(face.expiry.to_string().replace('/', "-"), p.identity.expiry);
        let cv = surface.read_certificate().unwrap();
        assert_eq!(cv.issuer_key_id.number(), "6990023");
        cv.verify_with(&ca_key("6990023")).unwrap();
        face.verify(&cv.public_key).unwrap();
        surface
            .read_my_number_image()
            .unwrap()
            .verify(&cv.public_key)
            .unwrap();
        // Chip liveness: sign a fresh challenge with the card's own key.
        let challenge = surface.card().get_challenge(16).unwrap();
        let sig = surface.sign(&challenge).unwrap();
        face.public_key
            .verify_pkcs1_sha256(&challenge, &sig)
            .unwrap();
    }
}

#[test]
fn code_b_opens_the_card_face_and_the_attributes() {
    let p = profile("obama3").unwrap();
    let mut card = open(&p);
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_b(&pin(&p.credentials.code_b)).unwrap();
    surface.read_card_face().unwrap();
    assert!(surface.read_my_number_image().is_err());
    let mut text = TextAp::select(&mut card).unwrap();
    text.verify_code_b(&pin(&p.credentials.code_b)).unwrap();
    assert_eq!(text.read_attributes().unwrap().name, p.identity.name);
    assert!(text.read_my_number().is_err());
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface
        .verify_birth_date(&pin(&p.credentials.birth_code))
        .unwrap();
    surface.read_age_record().unwrap();
}

#[test]
fn clone_profiles_fail_the_checks_they_should() {
    // Cloned chip: the records verify, the challenge-response does not.
    let p = profile("clone-chip").unwrap();
    let mut card = open(&p);
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_a(&pin(&p.credentials.code_a)).unwrap();
    let face = surface.read_card_face().unwrap();
    let cv = surface.read_certificate().unwrap();
    face.verify(&cv.public_key).unwrap();
    let challenge = surface.card().get_challenge(16).unwrap();
    let sig = surface.sign(&challenge).unwrap();
    assert!(
        face.public_key
            .verify_pkcs1_sha256(&challenge, &sig)
            .is_err()
    );

    // Forged face: the card-face and integrity signatures fail; the CV certificate is fine.
    let p = profile("clone-face").unwrap();
    let mut card = open(&p);
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_a(&pin(&p.credentials.code_a)).unwrap();
    let face = surface.read_card_face().unwrap();
    let cv = surface.read_certificate().unwrap();
    cv.verify_with(&ca_key("6990023")).unwrap();
    assert!(face.verify(&cv.public_key).is_err());
    let mut text = TextAp::select(&mut card).unwrap();
    text.verify_pin(&pin(&p.credentials.text_pin)).unwrap();
    let integrity = text.read_integrity_record().unwrap();
    let cv = text.read_certificate().unwrap();
    assert!(integrity.verify(&cv.public_key).is_err());
}

#[test]
fn special_counters_minor_and_expired_profiles() {
    let p = profile("one-try-left").unwrap();
    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(1));
    let mut text = TextAp::select(&mut card).unwrap();
    assert_eq!(
        text.retries(myna_card::ap::text::ef::PIN).unwrap(),
        Retries::Remaining(1)
    );

    let p = profile("locked").unwrap();
    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Blocked);
    assert!(matches!(
        jpki.verify_auth_pin(&pin(&p.credentials.auth_pin)),
        Err(myna_card::Error::PinBlocked)
    ));

    let p = profile("minor").unwrap();
    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    assert!(
        !jpki
            .read_certificate_availability()
            .unwrap()
            .has_sign_certificate()
    );
    jpki.read_auth_certificate().unwrap();

    let p = profile("expired-sign").unwrap();
    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    jpki.verify_sign_pin(&pin(p.credentials.sign_password.as_deref().unwrap()))
        .unwrap();
    let (_, not_after) = jpki.read_sign_certificate().unwrap().validity();
    assert_eq!(not_after.to_string().replace('/', "-"), "2025-03-31");
}

#[test]
fn wrong_pin_through_myna_card_reports_tries() {
    let p = profile("similar2").unwrap();
    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    match jpki.verify_auth_pin(&pin("0000")) {
        Err(myna_card::Error::PinIncorrect { retries }) => assert_eq!(retries, Some(2)),
        other => panic!("{other:?}"),
    }
    assert_eq!(card.transport().card().tries_left("jpki", 0x0018), Some(2));
}

#[test]
fn in_process_removal_after_n_apdus_fails_cleanly() {
    let p = profile("hopper").unwrap();
    let mut card = open(&p);
    card.transport().remove_after(3);
    let mut jpki = JpkiAp::select(&mut card).unwrap(); // 1
    let err = jpki.read_auth_certificate_der().unwrap_err(); // select 2, read 3, read 4 fails
    assert!(matches!(err, myna_card::Error::ShortResponse(0)), "{err:?}");
    assert!(!card.transport().is_present());
    assert!(!card.transport().card().is_powered());
    card.transport().insert();
    JpkiAp::select(&mut card)
        .unwrap()
        .read_auth_certificate_der()
        .unwrap();
}
