//! Issuing the TEST JPKI X.509 certificates and deriving RSA keys from a seed: the one place
//! both the fixture generator (`examples/make_fixtures.rs`, which includes this file by path)
//! and a profile file loaded at run time (`person`) make certificates, so that a card made
//! from a file carries certificates of exactly the shape of the committed ones.
//!
//! Every subject it writes says TEST; the issuer keys are the TEST roots of `fixtures/keys`.
//! It depends only on `crate::spec` and external crates (so the generator can include it
//! before the fixtures exist). It does not hold or load keys, choose validity periods, or build
//! card files.

use std::str::FromStr;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::EncodePublicKey;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::{Digest, Sha256};
use x509_cert::builder::{Builder, CertificateBuilder, Profile};
use x509_cert::der::asn1::{PrintableStringRef, Utf8StringRef};
use x509_cert::der::{Any, Encode};
use x509_cert::ext::pkix::SubjectAltName;
use x509_cert::ext::pkix::name::{GeneralName, OtherName};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{ObjectIdentifier, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};

use crate::spec::Ymd;

/// Subject (and issuer) of the TEST root for user authentication (利用者証明用).
pub const AUTH_ROOT_DN: &str = "CN=madoguchi TEST JPKI Root CA for User Authentication - NOT FOR PRODUCTION,OU=TEST JPKI for user authentication,O=JPKI-TEST,C=JP";
/// Subject (and issuer) of the TEST root for digital signature (署名用).
pub const SIGN_ROOT_DN: &str = "CN=madoguchi TEST JPKI Root CA for Digital Signature - NOT FOR PRODUCTION,OU=TEST JPKI for digital signature,O=JPKI-TEST,C=JP";

/// An RSA-2048 key from a ChaCha20 generator seeded with `seed`: the same seed and `rsa` crate
/// version give the same key.
pub fn key_from_seed(seed: [u8; 32]) -> Result<RsaPrivateKey, String> {
    let mut rng = ChaCha20Rng::from_seed(seed);
    RsaPrivateKey::new(&mut rng, 2048).map_err(|e| format!("RSA key generation: {e}"))
}

/// The subject of a card's end-entity certificate: `short` (hex) names the card, `kind` is
/// `A` (authentication) or `S` (signing).
pub fn card_subject(short: &str, kind: char) -> String {
    format!("CN=TEST{short}{kind},OU=madoguchi TEST card,O=JPKI-TEST,C=JP")
}

/// A positive serial number derived from `name`.
pub fn serial(name: &str) -> Result<SerialNumber, String> {
    let h = Sha256::digest(format!("serial/{name}"));
    let mut b = h[..10].to_vec();
    b[0] &= 0x7F;
    b[0] |= 0x01;
    SerialNumber::new(&b).map_err(|e| format!("serial: {e}"))
}

/// Midnight UTC of `d`.
pub fn time(d: Ymd) -> Result<Time, String> {
    // Days from 1970-01-01 (civil-from-days inverse, Howard Hinnant's algorithm).
    let (y, m, dd) = (i64::from(d.y), i64::from(d.m), i64::from(d.d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400).map_err(|_| "date before 1970".to_owned())?;
    Time::try_from(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .map_err(|e| format!("time: {e}"))
}

fn spki(key: &RsaPublicKey) -> Result<SubjectPublicKeyInfoOwned, String> {
    let der = key.to_public_key_der().map_err(|e| format!("spki: {e}"))?;
    SubjectPublicKeyInfoOwned::try_from(der.as_bytes()).map_err(|e| format!("spki: {e}"))
}

fn name(dn: &str) -> Result<Name, String> {
    Name::from_str(dn).map_err(|e| format!("distinguished name: {e}"))
}

/// A self-signed root certificate (DER), valid `from`–`to`. Only the fixture generator makes
/// roots; the library uses the committed ones.
#[allow(dead_code)]
pub fn root(
    serial_name: &str,
    dn: &str,
    key: &RsaPrivateKey,
    from: Ymd,
    to: Ymd,
) -> Result<Vec<u8>, String> {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let builder = CertificateBuilder::new(
        Profile::Root,
        serial(serial_name)?,
        Validity {
            not_before: time(from)?,
            not_after: time(to)?,
        },
        name(dn)?,
        spki(&key.to_public_key())?,
        &signer,
    )
    .map_err(|e| format!("certificate builder: {e}"))?;
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| format!("signing the certificate: {e}"))?
        .to_der()
        .map_err(|e| format!("encoding the certificate: {e}"))
}

/// The four attributes (基本4情報) and the kana name a signing certificate carries in its
/// subject alternative name.
#[derive(Clone, Copy)]
pub struct SanAttributes<'a> {
    /// 氏名.
    pub name: &'a str,
    /// 氏名 in katakana.
    pub name_kana: &'a str,
    /// 性別 as a digit (`b'1'`, `b'2'`, `b'9'`).
    pub sex: u8,
    /// 生年月日.
    pub birth: Ymd,
    /// 住所.
    pub address: &'a str,
}

fn other_name(oid: &str, value: Any) -> GeneralName {
    GeneralName::OtherName(OtherName {
        type_id: ObjectIdentifier::new_unwrap(oid),
        value,
    })
}

/// An end-entity certificate (DER) for `key`, issued by `issuer_key` under `issuer_dn`, valid
/// `from`–`to`, with the attributes in SAN otherNames (1.2.392.200149.8.5.5.1–5) when given.
#[allow(clippy::too_many_arguments)]
pub fn leaf(
    serial_name: &str,
    subject: &str,
    key: &RsaPublicKey,
    issuer_dn: &str,
    issuer_key: &RsaPrivateKey,
    from: Ymd,
    to: Ymd,
    san: Option<&SanAttributes<'_>>,
) -> Result<Vec<u8>, String> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let mut builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: name(issuer_dn)?,
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial(serial_name)?,
        Validity {
            not_before: time(from)?,
            not_after: time(to)?,
        },
        name(subject)?,
        spki(key)?,
        &signer,
    )
    .map_err(|e| format!("certificate builder: {e}"))?;
    if let Some(s) = san {
        let utf8 = |v: &str| -> Result<Any, String> {
            let s = Utf8StringRef::new(v).map_err(|e| format!("UTF8String: {e}"))?;
            Any::encode_from(&s).map_err(|e| format!("UTF8String: {e}"))
        };
        let printable = |v: &str| -> Result<Any, String> {
            let s = PrintableStringRef::new(v).map_err(|e| format!("PrintableString: {e}"))?;
            Any::encode_from(&s).map_err(|e| format!("PrintableString: {e}"))
        };
        let names = vec![
            other_name("1.2.392.200149.8.5.5.1", utf8(s.name)?),
            other_name("1.2.392.200149.8.5.5.2", utf8(s.name_kana)?),
            other_name(
                "1.2.392.200149.8.5.5.3",
                printable(&(s.sex as char).to_string())?,
            ),
            other_name("1.2.392.200149.8.5.5.4", printable(&s.birth.compact())?),
            other_name("1.2.392.200149.8.5.5.5", utf8(s.address)?),
        ];
        builder
            .add_extension(&SubjectAltName(names))
            .map_err(|e| format!("subject alternative name: {e}"))?;
    }
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .map_err(|e| format!("signing the certificate: {e}"))?
        .to_der()
        .map_err(|e| format!("encoding the certificate: {e}"))
}
