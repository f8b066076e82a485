//! Generates the virtual card's TEST key and certificate fixtures, deterministically.
//!
//! Run from the repository root (release: RSA key generation is slow in debug):
//!
//! ```sh
//! cargo run --release -p madoguchi-virtual-card --example make_fixtures
//! crates/virtual-card/fixtures/make-images.sh   # chip photos (JPEG 2000) and card-face PNGs
//! ```
//!
//! Every RSA-2048 key comes from a ChaCha20 generator seeded with
//! `SHA-256("madoguchi-virtual-card TEST fixture key v1/" + name)`, so the same `rsa` crate
//! version gives the same keys. Certificates are signed with PKCS #1 v1.5 (deterministic).
//! It writes `fixtures/keys/*.pk8` (PKCS #8 DER), `fixtures/certs/*.der`, the list of card-face
//! texts to render (`fixtures/text-images.tsv`) and `fixtures/index.rs`, the table the library
//! embeds. Nothing here is or resembles a production key: every subject says TEST.
//!
//! It does not render images or encode photos (that is `make-images.sh`).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../src/spec.rs"]
#[allow(dead_code)]
mod spec;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use rand_chacha::ChaCha20Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1v15::SigningKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey};
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

use spec::{SHARED_KEYS, SPECS, Variant, Ymd, validity};

const AUTH_ROOT_DN: &str = "CN=madoguchi TEST JPKI Root CA for User Authentication - NOT FOR PRODUCTION,OU=TEST JPKI for user authentication,O=JPKI-TEST,C=JP";
const SIGN_ROOT_DN: &str = "CN=madoguchi TEST JPKI Root CA for Digital Signature - NOT FOR PRODUCTION,OU=TEST JPKI for digital signature,O=JPKI-TEST,C=JP";

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn key_for(name: &str) -> RsaPrivateKey {
    let seed: [u8; 32] =
        Sha256::digest(format!("madoguchi-virtual-card TEST fixture key v1/{name}")).into();
    let mut rng = ChaCha20Rng::from_seed(seed);
    RsaPrivateKey::new(&mut rng, 2048).expect("RSA key generation")
}

fn serial(name: &str) -> SerialNumber {
    let h = Sha256::digest(format!("serial/{name}"));
    let mut b = h[..10].to_vec();
    b[0] &= 0x7F;
    b[0] |= 0x01;
    SerialNumber::new(&b).expect("serial")
}

fn time(d: Ymd) -> Time {
    // Days from 1970-01-01 (civil-from-days inverse, Howard Hinnant's algorithm).
    let (y, m, dd) = (i64::from(d.y), i64::from(d.m), i64::from(d.d));
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + dd - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = u64::try_from(days * 86_400).expect("after 1970");
    Time::try_from(std::time::UNIX_EPOCH + Duration::from_secs(secs)).expect("time")
}

fn spki(key: &RsaPublicKey) -> SubjectPublicKeyInfoOwned {
    SubjectPublicKeyInfoOwned::try_from(key.to_public_key_der().expect("spki").as_bytes())
        .expect("spki")
}

fn root(name: &str, dn: &str, key: &RsaPrivateKey) -> Vec<u8> {
    let signer = SigningKey::<Sha256>::new(key.clone());
    let builder = CertificateBuilder::new(
        Profile::Root,
        serial(name),
        Validity {
            not_before: time(validity::ROOT_FROM),
            not_after: time(validity::ROOT_TO),
        },
        Name::from_str(dn).expect("dn"),
        spki(&key.to_public_key()),
        &signer,
    )
    .expect("builder");
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .expect("sign")
        .to_der()
        .expect("der")
}

fn other_name(oid: &str, value: Any) -> GeneralName {
    GeneralName::OtherName(OtherName {
        type_id: ObjectIdentifier::new_unwrap(oid),
        value,
    })
}

#[allow(clippy::too_many_arguments)]
fn leaf(
    name: &str,
    subject: &str,
    key: &RsaPublicKey,
    issuer_dn: &str,
    issuer_key: &RsaPrivateKey,
    from: Ymd,
    to: Ymd,
    san: Option<&spec::Spec>,
) -> Vec<u8> {
    let signer = SigningKey::<Sha256>::new(issuer_key.clone());
    let mut builder = CertificateBuilder::new(
        Profile::Leaf {
            issuer: Name::from_str(issuer_dn).expect("dn"),
            enable_key_agreement: false,
            enable_key_encipherment: false,
        },
        serial(name),
        Validity {
            not_before: time(from),
            not_after: time(to),
        },
        Name::from_str(subject).expect("dn"),
        spki(key),
        &signer,
    )
    .expect("builder");
    if let Some(s) = san {
        // The four attributes in otherName entries (1.2.392.200149.8.5.5.1–6).
        let utf8 = |v: &str| Any::encode_from(&Utf8StringRef::new(v).expect("utf8")).expect("any");
        let printable =
            |v: &str| Any::encode_from(&PrintableStringRef::new(v).expect("ps")).expect("any");
        let names = vec![
            other_name("1.2.392.200149.8.5.5.1", utf8(s.name)),
            other_name("1.2.392.200149.8.5.5.2", utf8(s.name_kana)),
            other_name(
                "1.2.392.200149.8.5.5.3",
                printable(&(s.sex as char).to_string()),
            ),
            other_name("1.2.392.200149.8.5.5.4", printable(&s.birth.compact())),
            other_name("1.2.392.200149.8.5.5.5", utf8(s.address)),
        ];
        builder.add_extension(&SubjectAltName(names)).expect("san");
    }
    builder
        .build::<rsa::pkcs1v15::Signature>()
        .expect("sign")
        .to_der()
        .expect("der")
}

fn main() {
    let dir = fixtures_dir();
    for sub in ["keys", "certs"] {
        fs::create_dir_all(dir.join(sub)).expect("mkdir");
    }

    let mut key_names: Vec<String> = SHARED_KEYS.iter().map(|s| (*s).to_owned()).collect();
    for s in SPECS {
        key_names.extend(s.key_names());
    }
    let mut keys = BTreeMap::new();
    for name in &key_names {
        let path = dir.join("keys").join(format!("{name}.pk8"));
        let key = key_for(name);
        let der = key.to_pkcs8_der().expect("pkcs8");
        fs::write(&path, der.as_bytes()).expect("write key");
        eprintln!("key  {name}");
        keys.insert(name.clone(), key);
    }

    let mut certs: Vec<String> = Vec::new();
    let mut write_cert = |name: &str, der: Vec<u8>| {
        fs::write(dir.join("certs").join(format!("{name}.der")), der).expect("write cert");
        certs.push(name.to_owned());
        eprintln!("cert {name}");
    };
    write_cert(
        "root-auth",
        root("root-auth", AUTH_ROOT_DN, &keys["root-auth"]),
    );
    write_cert(
        "root-sign",
        root("root-sign", SIGN_ROOT_DN, &keys["root-sign"]),
    );
    for s in SPECS {
        let [auth, sign, _] = s.key_names();
        let short = hex(&Sha256::digest(s.id)[..6]);
        write_cert(
            &auth,
            leaf(
                &auth,
                &format!("CN=TEST{short}A,OU=madoguchi TEST card,O=JPKI-TEST,C=JP"),
                &keys[&auth].to_public_key(),
                AUTH_ROOT_DN,
                &keys["root-auth"],
                validity::EE_FROM,
                validity::EE_TO,
                None,
            ),
        );
        if s.has_sign() {
            let (from, to) = if s.variant == Variant::ExpiredSignCertificate {
                (validity::EXPIRED_FROM, validity::EXPIRED_TO)
            } else {
                (validity::EE_FROM, validity::EE_TO)
            };
            write_cert(
                &sign,
                leaf(
                    &sign,
                    &format!("CN=TEST{short}S,OU=madoguchi TEST card,O=JPKI-TEST,C=JP"),
                    &keys[&sign].to_public_key(),
                    SIGN_ROOT_DN,
                    &keys["root-sign"],
                    from,
                    to,
                    Some(s),
                ),
            );
        }
    }

    // Texts the card face shows as images: rendered by make-images.sh.
    let mut tsv = String::from("# file\tkind\ttext (generated by examples/make_fixtures.rs)\n");
    let mut images: Vec<String> = Vec::new();
    let mut faces: Vec<&str> = Vec::new();
    for s in SPECS {
        for (kind, text) in [
            ("name", s.name.to_owned()),
            ("address", s.address.to_owned()),
            ("code", s.security_code.to_owned()),
            ("number", s.my_number()),
        ] {
            let file = format!("text/{}-{kind}.png", s.id);
            tsv.push_str(&format!("{file}\t{kind}\t{text}\n"));
            images.push(file);
        }
        if !faces.contains(&s.face) {
            faces.push(s.face);
        }
    }
    for f in &faces {
        images.push(format!("photos/{f}.jp2"));
    }
    fs::write(dir.join("text-images.tsv"), tsv).expect("tsv");

    let mut index = String::from(
        "// Generated by examples/make_fixtures.rs: the fixture files the library embeds.\n",
    );
    let table = |index: &mut String, name: &str, doc: &str, entries: Vec<(String, String)>| {
        index.push_str(&format!(
            "/// {doc}\npub(crate) static {name}: &[(&str, &[u8])] = &[\n"
        ));
        for (k, rel) in entries {
            index.push_str(&format!(
                "    (\"{k}\", include_bytes!(concat!(env!(\"CARGO_MANIFEST_DIR\"), \"/fixtures/{rel}\"))),\n"
            ));
        }
        index.push_str("];\n");
    };
    table(
        &mut index,
        "KEYS",
        "PKCS #8 DER private keys by name.",
        key_names
            .iter()
            .map(|k| (k.clone(), format!("keys/{k}.pk8")))
            .collect(),
    );
    table(
        &mut index,
        "CERTS",
        "X.509 DER certificates by name.",
        certs
            .iter()
            .map(|k| (k.clone(), format!("certs/{k}.der")))
            .collect(),
    );
    table(
        &mut index,
        "IMAGES",
        "Card-face images (PNG) and chip photos (JPEG 2000) by path.",
        images.iter().map(|k| (k.clone(), k.clone())).collect(),
    );
    fs::write(dir.join("index.rs"), index).expect("index");
    eprintln!(
        "done: {} keys, {} certificates",
        key_names.len(),
        certs.len()
    );
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02X}")).collect()
}
