//! Builds the three applications' files from a profile: the JPKI AP, the 券面事項入力補助AP and
//! the 券面事項確認AP, laid out as the fact sheet (`card-and-metrics-notes.md` §1.2) describes,
//! with records signed by this crate's TEST keys.
//!
//! The per-card keys, certificates, chip photo and card-face images come from the profile's
//! source (committed fixtures, or made when a profile file was loaded); the layout and the
//! record signatures are the same for both. Written from those facts only; no reader-side
//! parsing is used. It does not execute commands (see `card`). Stand-ins, documented: the name/address/security-code/My Number images are
//! Noto Sans CJK renderings (real cards use their own font); the opaque fields whose meaning
//! nobody has established (確認AP `DF35`, 入力補助AP `DF43`) hold deterministic filler; secure
//! messaging (EF 0006/0007 of 入力補助AP) is not implemented.

use std::sync::Arc;

use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::Error;
use crate::profile::{Material, Profile, cert, key};
use crate::spec::Variant;

/// AID of the JPKI AP (公的個人認証AP).
pub const AID_JPKI: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
/// AID of the 券面事項入力補助AP.
pub const AID_KENHOJO: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
/// AID of the 券面事項確認AP.
pub const AID_KENKAKU: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];
/// The GlobalPlatform issuer security domain: selecting it returns to the MF state.
pub const AID_ISD: [u8; 7] = [0xA0, 0x00, 0x00, 0x01, 0x51, 0x00, 0x00];

/// Who may read a binary EF.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Anyone.
    Free,
    /// After a successful VERIFY of any of these key references (EF ids in the same AP).
    AnyOf(Vec<u16>),
}

/// A key reference (PIN, password, 照合番号).
#[derive(Clone)]
pub struct Pin {
    /// EF id.
    pub id: u16,
    /// The reference value.
    pub secret: Zeroizing<Vec<u8>>,
    /// Maximum tries (the counter is reset to this on success).
    pub max: u8,
    /// Tries left.
    pub remaining: u8,
}

/// What an EF is.
#[derive(Clone)]
pub enum EfKind {
    /// Transparent data.
    Binary {
        /// Physical content, filler included.
        data: Vec<u8>,
        /// Read rule.
        read: Access,
    },
    /// A key reference (index into [`App::pins`]).
    Pin(usize),
    /// A private key, usable after the key reference `needs` (or always, for `None`).
    Key {
        /// The key.
        key: Arc<RsaPrivateKey>,
        /// Key reference that must be verified.
        needs: Option<u16>,
    },
}

/// An elementary file.
#[derive(Clone)]
pub struct Ef {
    /// File id (also its short EF id when ≤ 0x1E).
    pub id: u16,
    /// Content.
    pub kind: EfKind,
}

/// One application DF.
#[derive(Clone)]
pub struct App {
    /// Name used in state files: `jpki`, `kenhojo`, `kenkaku`.
    pub name: &'static str,
    /// DF name.
    pub aid: &'static [u8],
    /// Its EFs.
    pub efs: Vec<Ef>,
    /// Its key references.
    pub pins: Vec<Pin>,
    /// Key used by `80 2A` with P2 = 00 (the AP's own key; none in JPKI).
    pub default_key: Option<Arc<RsaPrivateKey>>,
    /// Whether SET SESSION KEY answers 66F1 (no SM key) rather than 6982.
    pub sm_answer: u16,
}

impl App {
    /// The EF with this id.
    pub fn ef(&self, id: u16) -> Option<&Ef> {
        self.efs.iter().find(|e| e.id == id)
    }
}

/// BER-TLV with a 1- or 2-byte tag and definite length.
pub fn tlv(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 6);
    if tag > 0xFF {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
    let n = value.len();
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xFF {
        out.extend_from_slice(&[0x81, n as u8]);
    } else {
        out.push(0x82);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    }
    out.extend_from_slice(value);
    out
}

/// RSA public key as the 券面 APs store it: `90` exponent, `91` modulus (256 bytes).
pub fn public_key_tlv(key: &RsaPrivateKey) -> Vec<u8> {
    let mut out = tlv(0x90, &key.e().to_bytes_be());
    let mut n = key.n().to_bytes_be();
    while n.len() < 256 {
        n.insert(0, 0);
    }
    out.extend(tlv(0x91, &n));
    out
}

/// SHA-256 DigestInfo prefix.
pub const SHA256_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0D, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05,
    0x00, 0x04, 0x20,
];

/// DigestInfo (SHA-256 algorithm) around `digest`, which may be several digests long.
pub fn digest_info(digest: &[u8]) -> Vec<u8> {
    let alg = &SHA256_PREFIX[2..17];
    let inner = tlv(0x04, digest);
    let mut seq = alg.to_vec();
    seq.extend(inner);
    tlv(0x30, &seq)
}

/// PKCS #1 v1.5 signature over `payload` (already a DigestInfo).
pub fn sign_raw(key: &RsaPrivateKey, payload: &[u8]) -> Result<Vec<u8>, Error> {
    key.sign(Pkcs1v15Sign::new_unprefixed(), payload)
        .map_err(|e| Error::Fixture(format!("signing failed: {e}")))
}

/// PKCS #1 v1.5 SHA-256 signature over `data`.
pub fn sign_sha256(key: &RsaPrivateKey, data: &[u8]) -> Result<Vec<u8>, Error> {
    sign_raw(key, &digest_info(&Sha256::digest(data)))
}

/// 16-byte key id: 7 digits, `08 05`, 3-digit group, 4 bytes padding.
pub fn key_id(number: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    let digits = number.as_bytes();
    for (i, b) in id.iter_mut().take(7).enumerate() {
        *b = digits.get(i).copied().unwrap_or(b'0');
    }
    id[7] = 0x08;
    id[8] = 0x05;
    id[9..12].copy_from_slice(b"001");
    id
}

/// Card-verifiable certificate `7F21{5F4E body, 5F37 signature}`; the body is issuer key id,
/// subject key id and the public key (297 bytes), signed PKCS #1 v1.5 SHA-256 by the CA key.
pub fn cv_certificate(
    issuer: &str,
    subject: &str,
    subject_key: &RsaPrivateKey,
    ca: &RsaPrivateKey,
) -> Result<Vec<u8>, Error> {
    let mut body = key_id(issuer).to_vec();
    body.extend_from_slice(&key_id(subject));
    body.extend(public_key_tlv(subject_key));
    let sig = sign_sha256(ca, &body)?;
    let mut inner = tlv(0x5F4E, &body);
    inner.extend(tlv(0x5F37, &sig));
    Ok(tlv(0x7F21, &inner))
}

/// A file with an offset table: `outer{table, fields…}` where the table (tag `table_tag`)
/// lists the offset of each of the first `indexed` fields from the start of the file.
fn with_offsets(outer: u16, table_tag: u16, fields: &[Vec<u8>]) -> Vec<u8> {
    let table_len = 2 + 1 + fields.len() * 2;
    let body_len = table_len + fields.iter().map(Vec::len).sum::<usize>();
    let header = tlv(outer, &vec![0; body_len]).len() - body_len;
    let mut pos = header + table_len;
    let mut offsets = Vec::with_capacity(fields.len() * 2);
    for f in fields {
        offsets.extend_from_slice(&(pos as u16).to_be_bytes());
        pos += f.len();
    }
    let mut body = tlv(table_tag, &offsets);
    for f in fields {
        body.extend_from_slice(f);
    }
    tlv(outer, &body)
}

fn pad(mut data: Vec<u8>, to: usize) -> Vec<u8> {
    if data.len() < to {
        data.resize(to, 0xFF);
    }
    data
}

fn filler(label: &str, len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block: [u8; 32] = Sha256::digest(label.as_bytes()).into();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = Sha256::digest(block).into();
    }
    out.truncate(len);
    out
}

fn pin(id: u16, secret: &str, max: u8, remaining: u8) -> Pin {
    Pin {
        id,
        secret: Zeroizing::new(secret.as_bytes().to_vec()),
        max,
        remaining,
    }
}

fn bin(id: u16, data: Vec<u8>, read: Access) -> Ef {
    Ef {
        id,
        kind: EfKind::Binary { data, read },
    }
}

fn pin_efs(pins: &[Pin]) -> Vec<Ef> {
    pins.iter()
        .enumerate()
        .map(|(i, p)| Ef {
            id: p.id,
            kind: EfKind::Pin(i),
        })
        .collect()
}

/// PKCS #11 CK_TOKEN_INFO, 160 bytes, CK_ULONG as 4 bytes big-endian.
fn token_info() -> Vec<u8> {
    let text = |s: &str, n: usize| {
        let mut v = s.as_bytes().to_vec();
        v.resize(n, b' ');
        v
    };
    let mut out = text("JPKIAPICCTOKEN2", 32);
    out.extend(text("madoguchi TEST virtual card", 32));
    out.extend(text("VIRTUAL", 16));
    out.extend(text("TEST0000", 16));
    // flags: RNG | LOGIN_REQUIRED | USER_PIN_INITIALIZED | TOKEN_INITIALIZED
    for v in [0x0000_040Du32, 0, 0, 0, 0, 16, 4, 0, 0, 0, 0] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(b"0301");
    out.extend(text("", 16));
    out
}

/// Keys, certificates and images a card needs, loaded once.
struct Keys<'a> {
    /// The per-card material (keys, certificates, photo, card-face texts).
    m: Material<'a>,
    /// The key whose public part the records carry (differs from the chip's on a cloned chip).
    chip_in_records: RsaPrivateKey,
    /// Who signs the 券面 records.
    kenkaku_signer: RsaPrivateKey,
    kenhojo_signer: RsaPrivateKey,
}

fn load_keys(p: &Profile) -> Result<Keys<'_>, Error> {
    let s = &p.card;
    let m = s.material()?;
    let chip_in_records = if s.variant == Variant::CloneChipKey {
        // The records of a genuine card (hopper's chip key) copied onto this chip.
        key("hopper-chip")?
    } else {
        (*m.chip_key).clone()
    };
    let (kenkaku_signer, kenhojo_signer) = if s.variant == Variant::CloneFaceSignature {
        (key("forger")?, key("forger")?)
    } else {
        (key("ap-kenkaku")?, key("ap-kenhojo")?)
    };
    Ok(Keys {
        m,
        chip_in_records,
        kenkaku_signer,
        kenhojo_signer,
    })
}

/// The applications of a profile's card, with its initial retry counters.
pub fn build(p: &Profile) -> Result<Vec<App>, Error> {
    let keys = load_keys(p)?;
    Ok(vec![
        jpki(p, &keys)?,
        kenhojo(p, &keys)?,
        kenkaku(p, &keys)?,
    ])
}

fn jpki(p: &Profile, k: &Keys<'_>) -> Result<App, Error> {
    let s = &p.card;
    let c = &p.credentials;
    let mut pins = vec![pin(0x0018, &c.auth_pin, 3, c.auth_pin_tries)];
    let mut efs = vec![
        bin(
            0x0002,
            pad(cert("root-sign")?.to_vec(), 0x800),
            Access::Free,
        ),
        bin(0x0006, token_info(), Access::Free),
        bin(
            0x0008,
            vec![if s.has_sign() { 0x8F } else { 0x00 }, 0x8F, 0x00],
            Access::Free,
        ),
        bin(0x000A, pad(k.m.auth_cert.to_vec(), 0x800), Access::Free),
        bin(
            0x000B,
            pad(cert("root-auth")?.to_vec(), 0x800),
            Access::Free,
        ),
        Ef {
            id: 0x0017,
            kind: EfKind::Key {
                key: k.m.auth_key.clone(),
                needs: Some(0x0018),
            },
        },
    ];
    if let (Some(sign_key), Some(sign_cert), Some(password)) =
        (&k.m.sign_key, k.m.sign_cert, &c.sign_password)
    {
        pins.push(pin(0x001B, password, 5, c.sign_password_tries));
        efs.push(bin(
            0x0001,
            pad(sign_cert.to_vec(), 0x800),
            Access::AnyOf(vec![0x001B]),
        ));
        efs.push(Ef {
            id: 0x001A,
            kind: EfKind::Key {
                key: sign_key.clone(),
                needs: Some(0x001B),
            },
        });
    }
    efs.extend(pin_efs(&pins));
    Ok(App {
        name: "jpki",
        aid: &AID_JPKI,
        efs,
        pins,
        default_key: None,
        sm_answer: 0x6982,
    })
}

/// The 券面事項入力補助AP files 0001 and 0002 (physical content), for tests and the integrity
/// record.
pub fn kenhojo_data(p: &Profile) -> (Vec<u8>, Vec<u8>) {
    let s = &p.card;
    let mut number = tlv(0xFF10, s.my_number.as_bytes());
    number.extend_from_slice(&[0xFF, 0xFF]);
    let attrs = with_offsets(
        0xFF20,
        0xDF21,
        &[
            tlv(0xDF22, s.name.as_bytes()),
            tlv(0xDF23, s.address.as_bytes()),
            tlv(0xDF24, s.birth.compact().as_bytes()),
            tlv(0xDF25, &[s.sex]),
        ],
    );
    (number, attrs)
}

fn kenhojo(p: &Profile, k: &Keys<'_>) -> Result<App, Error> {
    let s = &p.card;
    let c = &p.credentials;
    let (number, attrs) = kenhojo_data(p);
    // DF32 covers the 4 attributes file's value after the offset table.
    let table_end = {
        let hdr = if attrs[2] == 0x81 {
            4
        } else if attrs[2] == 0x82 {
            5
        } else {
            3
        };
        hdr + 2 + 1 + 8
    };
    let mut signed = tlv(0xDF31, &Sha256::digest(&number));
    signed.extend(tlv(0xDF32, &Sha256::digest(&attrs[table_end..])));
    let sig = sign_sha256(&k.kenhojo_signer, &signed)?;
    let mut integrity = signed;
    integrity.extend(tlv(0xDF33, &sig));
    let integrity = tlv(0xFF30, &integrity);

    let cv = cv_certificate(
        "6990033",
        &format!("6{}3", s.municipality),
        &key("ap-kenhojo")?,
        &key("cv-ca-kenhojo")?,
    )?;
    let mut info = tlv(0xDF41, &[0x01, 0x03, 0x0E, 0x01]);
    info.extend(tlv(0xDF42, &key_id("6990034")));
    let mut trailing = filler(&format!("kenhojo DF43 {}", s.id), 32);
    trailing.resize(128, 0xFF);
    info.extend(tlv(0xDF43, &trailing));
    let info = tlv(0xFF40, &info);

    let pins = vec![
        pin(0x0011, &c.text_pin, 3, c.text_pin_tries),
        // Blocked on every card examined (fact sheet): no value opens it.
        pin(0x0012, "", 3, 0),
        pin(0x0014, &c.code_a, 10, 10),
        pin(0x0015, &c.code_b, 10, 10),
    ];
    let mut efs = vec![
        bin(0x0001, number, Access::AnyOf(vec![0x0011, 0x0014])),
        bin(0x0002, attrs, Access::AnyOf(vec![0x0011, 0x0015])),
        bin(
            0x0003,
            integrity,
            Access::AnyOf(vec![0x0011, 0x0014, 0x0015]),
        ),
        bin(0x0004, cv, Access::Free),
        bin(0x0005, info, Access::Free),
    ];
    efs.extend(pin_efs(&pins));
    Ok(App {
        name: "kenhojo",
        aid: &AID_KENHOJO,
        efs,
        pins,
        default_key: Some(k.m.chip_key.clone()),
        sm_answer: sw_function_not_supported(),
    })
}

const fn sw_function_not_supported() -> u16 {
    crate::apdu::sw::FUNCTION_NOT_SUPPORTED
}

fn kenkaku(p: &Profile, k: &Keys<'_>) -> Result<App, Error> {
    let s = &p.card;
    let c = &p.credentials;
    let chip_pub = public_key_tlv(&k.chip_in_records);

    // EF 0001: age record.
    let mut age = tlv(0xDF11, s.birth.compact().as_bytes());
    age.extend(tlv(0xDF12, &chip_pub));
    let sig = sign_sha256(&k.kenkaku_signer, &age)?;
    age.extend(tlv(0xDF13, &sig));
    let age = tlv(0xFF10, &age);

    // EF 0002: card face, signature over three separately hashed groups.
    let g1: Vec<Vec<u8>> = vec![
        tlv(0xDF22, s.birth.compact().as_bytes()),
        tlv(0xDF23, &[s.sex]),
        tlv(0xDF24, &chip_pub),
    ];
    let g2 = vec![tlv(0xDF25, k.m.name_png), tlv(0xDF26, k.m.address_png)];
    let g3 = vec![tlv(0xDF27, k.m.photo_jp2)];
    let mut digests = Vec::with_capacity(96);
    for g in [&g1, &g2, &g3] {
        digests.extend_from_slice(&Sha256::digest(g.concat()));
    }
    let face_sig = sign_raw(&k.kenkaku_signer, &digest_info(&digests))?;
    let mut fields = g1;
    fields.extend(g2);
    fields.extend(g3);
    fields.push(tlv(0xDF28, &face_sig));
    fields.push(tlv(0xDF29, s.expiry.compact().as_bytes()));
    fields.push(tlv(0xDF2A, k.m.code_png));
    let face = with_offsets(0xFF20, 0xDF21, &fields);

    // EF 0003: AP basic information.
    let mut info = tlv(0xDF31, &[0x06, 0x03, 0x0E, 0x01]);
    info.extend(tlv(0xDF32, &key_id("6990024")));
    info.extend(tlv(0xDF33, &[0x01]));
    info.extend(tlv(0xDF34, s.municipality.as_bytes()));
    let mut df35 = key_id("6990025").to_vec();
    df35.extend(filler(&format!("kenkaku DF35 {}", s.id), 256));
    info.extend(tlv(0xDF35, &df35));
    let info = tlv(0xFF30, &info);

    let cv = cv_certificate(
        "6990023",
        &format!("6{}2", s.municipality),
        &key("ap-kenkaku")?,
        &key("cv-ca-kenkaku")?,
    )?;

    // EF 0005: rendered My Number.
    let mut number = tlv(0xDF41, k.m.number_png);
    number.extend(tlv(0xDF42, &chip_pub));
    let sig = sign_sha256(&k.kenkaku_signer, &number)?;
    number.extend(tlv(0xDF43, &sig));
    let number = tlv(0xFF40, &number);

    let pins = vec![
        pin(0x0011, &c.birth_code, 10, 10),
        pin(0x0012, &c.code_b, 10, 10),
        pin(0x0013, &c.code_a, 10, 10),
    ];
    let mut efs = vec![
        bin(0x0001, age, Access::AnyOf(vec![0x0011])),
        bin(0x0002, face, Access::AnyOf(vec![0x0012, 0x0013])),
        bin(0x0003, info, Access::Free),
        bin(0x0004, cv, Access::Free),
        bin(0x0005, number, Access::AnyOf(vec![0x0013])),
    ];
    efs.extend(pin_efs(&pins));
    Ok(App {
        name: "kenkaku",
        aid: &AID_KENKAKU,
        efs,
        pins,
        default_key: Some(k.m.chip_key.clone()),
        sm_answer: crate::apdu::sw::NO_SM_KEY,
    })
}

/// Everything a verifier needs to trust this crate's cards, as plain bytes (so that a reader
/// written independently can build its own anchors from it): the TEST JPKI roots and the TEST
/// card-verifiable CA keys.
#[derive(Debug, Clone)]
pub struct TestAnchorMaterial {
    /// The authentication root certificate, DER.
    pub auth_root: &'static [u8],
    /// The signing root certificate, DER.
    pub sign_root: &'static [u8],
    /// The CV CA keys: 16-byte key id, RSA exponent and modulus (big-endian).
    pub cv_keys: Vec<([u8; 16], Vec<u8>, Vec<u8>)>,
}

/// The TEST anchors of every virtual card (see [`TestAnchorMaterial`]).
pub fn test_anchor_material() -> Result<TestAnchorMaterial, Error> {
    let (auth_root, sign_root) = crate::profile::test_jpki_roots()?;
    let cv_keys = test_cv_ca_keys()?
        .into_iter()
        .map(|(id, k)| (key_id(id), k.e().to_bytes_be(), k.n().to_bytes_be()))
        .collect();
    Ok(TestAnchorMaterial {
        auth_root,
        sign_root,
        cv_keys,
    })
}

/// The TEST card-verifiable CA public keys (証明者鍵ID → key) a verifier needs for this crate's
/// cards: `6990023` (券面事項確認AP) and `6990033` (券面事項入力補助AP).
pub fn test_cv_ca_keys() -> Result<Vec<(&'static str, rsa::RsaPublicKey)>, Error> {
    Ok(vec![
        ("6990023", key("cv-ca-kenkaku")?.to_public_key()),
        ("6990033", key("cv-ca-kenhojo")?.to_public_key()),
    ])
}
