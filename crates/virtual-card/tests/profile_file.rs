//! A card from a profile file (`profile_from_file`), read in process by the independent reader
//! `myna-card` exactly as `myna_interop.rs` reads the compiled-in profiles: the values of the
//! file come back from the text AP, the card face and the signing certificate; the records
//! verify against the TEST CV CA keys; the chip answers its challenge; 照合番号B opens the card
//! face; the JPKI certificates chain to the TEST roots and the signing key signs after the
//! password. Also: a card without a signing certificate and with one try left, determinism
//! (same content, same card and counters), and bad files (each error names the key, never the
//! value).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

use madoguchi_virtual_card::transport::InProcess;
use madoguchi_virtual_card::{
    Profile, VirtualCard, profile_from_file, test_cv_ca_keys, test_jpki_roots,
};
use myna_card::ap::jpki::{JpkiAp, SignatureScheme};
use myna_card::ap::surface::SurfaceAp;
use myna_card::ap::text::TextAp;
use myna_card::{Card, Certificate, Date, ImageFormat, Pin, Retries};
use rsa::traits::PublicKeyParts;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/person.toml")
}

/// `shared/faces/` beside the repository (as the example file and make-images.sh expect).
fn faces() -> PathBuf {
    let beside = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/faces");
    for dir in [beside, PathBuf::from("/work/shared/faces")] {
        if dir.join("grace_hopper_512x512.jpg").is_file() {
            return dir;
        }
    }
    panic!("the test photos are missing: shared/faces/ must sit beside the repository");
}

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

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

/// A person file in `dir` with `face.jpg` (a copy of a shared face) beside it; `edit` changes
/// the text before it is written.
fn person_in(dir: &Path, edit: impl Fn(String) -> String) -> PathBuf {
    std::fs::copy(
        faces().join("grace_hopper_512x512.jpg"),
        dir.join("face.jpg"),
    )
    .unwrap();
    let text = edit(
        r#"name = "試験 桜子"
name_kana = "シケン サクラコ"
address = "大阪府大阪市試験区三丁目４番５号"
birth_date = "2012-03-31"
sex = "female"
my_number = "123456789018"
expiry = "2032-03-31"
security_code = "0909"
auth_pin = "3141"
text_pin = "2718"
photo = "face.jpg"
"#
        .to_owned(),
    );
    let path = dir.join("person.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn the_example_file_reads_like_a_builtin_profile_through_myna_card() {
    let t0 = std::time::Instant::now();
    let p = profile_from_file(&example()).unwrap();
    eprintln!("profile file loaded in {:?}", t0.elapsed());

    // The values of examples/person.toml.
    assert!(p.name.starts_with("file-"), "{}", p.name);
    assert_eq!(p.variant, "normal");
    assert_eq!(p.identity.name, "見本\u{3000}次郎");
    assert_eq!(p.identity.name_kana, "ミホン\u{3000}ジロウ");
    assert_eq!(p.identity.address, "東京都港区試験町二丁目３番４号");
    assert_eq!(p.identity.birth_date, "1961-08-04");
    assert_eq!(p.identity.sex, "1");
    assert_eq!(p.identity.my_number, "987654321000");
    assert_eq!(p.identity.expiry, "2034-08-04");
    let c = &p.credentials;
    assert_eq!((c.auth_pin.as_str(), c.text_pin.as_str()), ("2580", "2580"));
    assert_eq!(c.sign_password.as_deref(), Some("MIHON1961"));
    assert_eq!(
        (c.auth_pin_tries, c.text_pin_tries, c.sign_password_tries),
        (3, 3, 5)
    );
    // 1961-08-04 is 昭和36: 360804 + 2034 + 5150.
    assert_eq!(c.code_b, "36080420345150");
    assert_eq!(c.birth_code, "360804");
    assert_eq!(c.code_a, "987654321000");
    assert_eq!(p.face_source, "obama");
    assert!(
        p.photo_file
            .as_ref()
            .unwrap()
            .ends_with("shared/faces/obama.jpg")
    );

    let mut card = open(&p);
    let (auth_root, sign_root) = test_jpki_roots().unwrap();
    let auth_root = Certificate::parse(auth_root).unwrap();
    let sign_root = Certificate::parse(sign_root).unwrap();
    let in_validity = Date::parse(b"20270601").unwrap();

    // JPKI: both certificates issued by the TEST roots, TEST in every subject.
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    assert_eq!(jpki.read_token_type().unwrap(), myna_card::TokenType::Card);
    assert!(
        jpki.read_certificate_availability()
            .unwrap()
            .has_sign_certificate()
    );
    assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(3));
    let auth = jpki.read_auth_certificate().unwrap();
    assert!(auth.subject().contains("TEST"), "{}", auth.subject());
    assert_eq!(auth.issuer(), auth_root.subject());
    Certificate::verify_chain(&[auth.clone(), auth_root.clone()], in_validity).unwrap();
    assert_eq!(
        jpki.read_auth_ca_certificate_der().unwrap(),
        auth_root.der()
    );
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
    assert!(sign.subject().contains("TEST"), "{}", sign.subject());
    Certificate::verify_chain(&[sign.clone(), sign_root.clone()], in_validity).unwrap();
    // The attributes of the file in the signing certificate's subject alternative name.
    for value in [
        &p.identity.name,
        &p.identity.name_kana,
        &p.identity.address,
        &"19610804".to_owned(),
    ] {
        assert!(
            contains(sign.der(), value.as_bytes()),
            "{value} not in the SAN"
        );
    }
    for scheme in [
        SignatureScheme::Sha256DigestInfo,
        SignatureScheme::Sha256Pss,
        SignatureScheme::Verbatim,
    ] {
        jpki.sign_with_sign_key_checked(scheme, b"0123456789abcdef0123456789abcdef")
            .unwrap_or_else(|e| panic!("{scheme:?}: {e}"));
    }

    // 券面事項入力補助AP with the text PIN: the file's values, the integrity record verifies.
    let mut text = TextAp::select(&mut card).unwrap();
    text.verify_pin(&pin(&c.text_pin)).unwrap();
    assert_eq!(text.read_my_number().unwrap().as_str(), "987654321000");
    let attrs = text.read_attributes().unwrap();
    assert_eq!(attrs.name, "見本\u{3000}次郎");
    assert_eq!(attrs.split_name(), Some(("見本", "次郎")));
    assert_eq!(attrs.address, "東京都港区試験町二丁目３番４号");
    assert_eq!(attrs.birth_date.to_string().replace('/', "-"), "1961-08-04");
    let integrity = text.read_integrity_record().unwrap();
    assert!(integrity.matches_my_number_file(&text.read_my_number_file().unwrap()));
    let raw_attrs = text.read_ef(myna_card::ap::text::ef::ATTRIBUTES).unwrap();
    assert!(integrity.matches_attributes_file(&raw_attrs).unwrap());
    let cv = text.read_certificate().unwrap();
    cv.verify_with(&ca_key("6990033")).unwrap();
    integrity.verify(&cv.public_key).unwrap();

    // 券面事項確認AP with 照合番号A: the card face verifies, the photo is a chip photo.
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_a(&pin(&c.code_a)).unwrap();
    let face = surface.read_card_face().unwrap();
    let cv = surface.read_certificate().unwrap();
    assert_eq!(cv.issuer_key_id.number(), "6990023");
    cv.verify_with(&ca_key("6990023")).unwrap();
    face.verify(&cv.public_key).unwrap();
    assert_eq!(face.expiry.to_string().replace('/', "-"), "2034-08-04");
    assert_eq!(face.birth_date.to_string().replace('/', "-"), "1961-08-04");
    assert_eq!(face.name_image.format, ImageFormat::Png);
    assert_eq!(face.address_image.format, ImageFormat::Png);
    assert_eq!(face.security_code_image.format, ImageFormat::Png);
    assert_eq!(face.photo.format, ImageFormat::Jpeg2000);
    assert_eq!(face.photo.data, p.photo_jp2().unwrap());
    let photo_len = face.photo.data.len();
    eprintln!("chip photo: {photo_len} bytes");
    assert!((3_500..6_500).contains(&photo_len), "{photo_len} bytes");
    // The kiosk's decoder reads it: 150×188 greyscale.
    let image =
        hayro_jpeg2000::Image::new(&face.photo.data, &hayro_jpeg2000::DecodeSettings::default())
            .unwrap();
    assert_eq!((image.width(), image.height()), (150, 188));
    assert!(matches!(
        image.color_space(),
        hayro_jpeg2000::ColorSpace::Gray
    ));
    let mut ctx = hayro_jpeg2000::DecoderContext::default();
    let pixels = image.decode(&mut ctx).unwrap();
    assert_eq!(pixels.data_u8().len(), 150 * 188);
    let number = surface.read_my_number_image().unwrap();
    number.verify(&cv.public_key).unwrap();
    assert_eq!(number.image.format, ImageFormat::Png);
    // Chip liveness: the chip's own key signs a fresh challenge.
    let challenge = surface.card().get_challenge(16).unwrap();
    let sig = surface.sign(&challenge).unwrap();
    face.public_key
        .verify_pkcs1_sha256(&challenge, &sig)
        .unwrap();

    // 照合番号B (from birth date, expiry and security code) opens the card face and the
    // attributes, not the My Number.
    let mut card = open(&p);
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_b(&pin("36080420345150")).unwrap();
    surface
        .read_card_face()
        .unwrap()
        .verify(&cv.public_key)
        .unwrap();
    assert!(surface.read_my_number_image().is_err());
    let mut text = TextAp::select(&mut card).unwrap();
    text.verify_code_b(&pin("36080420345150")).unwrap();
    assert_eq!(text.read_attributes().unwrap().name, "見本\u{3000}次郎");
    assert!(text.read_my_number().is_err());
}

#[test]
fn a_file_without_sign_password_and_one_try_left() {
    let dir = tempfile::tempdir().unwrap();
    let path = person_in(dir.path(), |t| {
        format!("{t}pin_tries = 1\nsex = \"9\"\n").replace("sex = \"female\"\n", "")
    });
    let p = profile_from_file(&path).unwrap();
    assert_eq!(p.variant, "no-sign-certificate");
    assert_eq!(p.identity.sex, "9");
    assert_eq!(p.credentials.sign_password, None);
    assert_eq!(p.credentials.sign_password_tries, 0);
    assert_eq!(p.credentials.auth_pin_tries, 1);
    assert_eq!(p.face_source, "face");
    // 2012-03-31 is 平成24.
    assert_eq!(p.credentials.code_b, "24033120320909");

    let mut card = open(&p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    assert!(
        !jpki
            .read_certificate_availability()
            .unwrap()
            .has_sign_certificate()
    );
    assert_eq!(jpki.auth_pin_retries().unwrap(), Retries::Remaining(1));
    assert!(jpki.read_sign_certificate_der().is_err());
    let auth = jpki.read_auth_certificate().unwrap();
    let (auth_root, _) = test_jpki_roots().unwrap();
    auth.verify_signature(&Certificate::parse(auth_root).unwrap())
        .unwrap();
    let mut text = TextAp::select(&mut card).unwrap();
    assert_eq!(
        text.retries(myna_card::ap::text::ef::PIN).unwrap(),
        Retries::Remaining(1)
    );
    text.verify_pin(&pin("2718")).unwrap();
    assert_eq!(text.read_attributes().unwrap().name, "試験\u{3000}桜子");
    let mut surface = SurfaceAp::select(&mut card).unwrap();
    surface.verify_code_b(&pin("24033120320909")).unwrap();
    let face = surface.read_card_face().unwrap();
    face.verify(&surface.read_certificate().unwrap().public_key)
        .unwrap();
}

/// The two certificates' DER, read through myna-card.
fn certificates(p: &Profile) -> (Vec<u8>, Vec<u8>) {
    let mut card = open(p);
    let mut jpki = JpkiAp::select(&mut card).unwrap();
    let auth = jpki.read_auth_certificate_der().unwrap();
    jpki.verify_sign_pin(&pin(p.credentials.sign_password.as_deref().unwrap()))
        .unwrap();
    (auth, jpki.read_sign_certificate_der().unwrap())
}

#[test]
fn the_same_content_gives_the_same_card_and_its_counters() {
    let with_sign = |t: String| format!("{t}sign_password = \"SAKURA2012\"\n");
    let a = tempfile::tempdir().unwrap();
    let first = profile_from_file(&person_in(a.path(), with_sign)).unwrap();

    // The same content elsewhere, with comments, another key order and a TOML date.
    let b = tempfile::tempdir().unwrap();
    let second = profile_from_file(&person_in(b.path(), |t| {
        let mut lines: Vec<String> = with_sign(t).lines().map(str::to_owned).collect();
        lines.reverse();
        format!("# the same person\n{}\n", lines.join("\n")).replace("\"2012-03-31\"", "2012-03-31")
    }))
    .unwrap();
    assert_eq!(first.name, second.name);
    let certs = certificates(&first);
    assert_eq!(certs, certificates(&second));
    assert_eq!(first.photo_jp2().unwrap(), second.photo_jp2().unwrap());

    // The state directory's counters belong to the card, whichever file it came from.
    let state = tempfile::tempdir().unwrap();
    {
        let mut card = Card::new(InProcess::new(
            VirtualCard::new(&first, Some(state.path())).unwrap(),
        ));
        let mut jpki = JpkiAp::select(&mut card).unwrap();
        assert!(jpki.verify_auth_pin(&pin("0000")).is_err());
    }
    let card = VirtualCard::new(&second, Some(state.path())).unwrap();
    assert_eq!(card.tries_left("jpki", 0x0018), Some(2));
    let saved = std::fs::read_to_string(state.path().join(format!("{}.counters.json", first.name)))
        .unwrap();
    assert!(
        !saved.contains("3141") && !saved.contains("SAKURA2012"),
        "{saved}"
    );

    // Other content, another card.
    let c = tempfile::tempdir().unwrap();
    let other = profile_from_file(&person_in(c.path(), |t| {
        with_sign(t).replace("auth_pin = \"3141\"", "auth_pin = \"3142\"")
    }))
    .unwrap();
    assert_ne!(other.name, first.name);
    let other_certs = certificates(&other);
    assert_ne!(other_certs.0, certs.0);
    assert_ne!(other_certs.1, certs.1);
}

/// Loads a file edited by `edit` and returns the error text after the file's path (the
/// temporary directory's random name could contain anything).
fn error_of(edit: impl Fn(String) -> String) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = person_in(dir.path(), edit);
    let e = profile_from_file(&path)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    let prefix = path.display().to_string();
    assert!(e.starts_with(&prefix), "the file is named: {e}");
    e[prefix.len()..].to_owned()
}

#[test]
fn bad_files_name_the_key_and_never_the_secret() {
    // Unknown key, with its line.
    let e = error_of(|t| t.replace("photo =", "favourite_colour = \"blue\"\nphoto ="));
    assert!(
        e.starts_with(":11: key `favourite_colour`: unknown key"),
        "{e}"
    );

    // My Number with a wrong check digit.
    let e = error_of(|t| t.replace("123456789018", "123456789017"));
    assert!(e.starts_with(":6: key `my_number`"), "{e}");
    assert!(e.contains("check digit"), "{e}");
    assert!(!e.contains("12345678901"), "{e}");

    // Missing photo: names the key and the resolved path.
    let e = error_of(|t| t.replace("face.jpg", "nobody.jpg"));
    assert!(e.starts_with(":11: key `photo`"), "{e}");
    assert!(e.contains("nobody.jpg"), "{e}");

    // A photo that is no image.
    let e = error_of(|t| t.replace("face.jpg", "person.toml"));
    assert!(e.contains("key `photo`"), "{e}");
    assert!(e.contains("PNG or JPEG"), "{e}");

    // Bad PINs: too long, a number, letters, and a bad signing password.
    for (key, bad, secret) in [
        ("auth_pin", "\"31415\"", "31415"),
        ("auth_pin", "3141", "3141"),
        ("text_pin", "\"27a8\"", "27a8"),
        ("security_code", "\"90\"", "90"),
        ("sign_password", "\"sakura2012\"", "sakura2012"),
        ("sign_password", "\"ABC\"", "ABC"),
    ] {
        let e = error_of(|t| {
            let t = format!("{t}sign_password = \"SAKURA2012\"\n");
            let line = t.lines().find(|l| l.starts_with(key)).unwrap().to_owned();
            t.replace(&line, &format!("{key} = {bad}"))
        });
        assert!(e.contains(&format!("key `{key}`")), "{key}: {e}");
        assert!(!e.contains(secret), "{key}: {e}");
        assert!(!e.contains("SAKURA2012"), "{key}: {e}");
    }

    // Missing key.
    let e = error_of(|t| t.replace("security_code = \"0909\"\n", ""));
    assert!(e.contains("key `security_code`: is missing"), "{e}");

    // Not a file at all.
    let e = profile_from_file(Path::new("/nonexistent/person.toml"))
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(e.contains("cannot read the profile file"), "{e}");
}
