//! Test support: an in-process fake My Number card with real cryptography (deterministic
//! RSA-2048 keys, a DER-built test X.509 hierarchy, CV certificates, signed card face and text
//! records, the JPEG 2000 photo fixture), PIN counters and access rules, power state and
//! "remove after N APDUs". Written from the protocol notes for this crate's tests, so they do
//! not wait for the virtual card; the pcscd tests use the real virtual card.
#![allow(dead_code, clippy::unwrap_used)]

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::rc::Rc;
use std::sync::OnceLock;

use madoguchi_card::{CardLink, RootPurpose, TrustAnchors};
use myna_card::Transmit;
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::SeedableRng;
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::traits::PublicKeyParts;
use rsa::{Pkcs1v15Sign, RsaPrivateKey};
use sha2::{Digest, Sha256};

pub const PHOTO: &[u8] = include_bytes!("../fixtures/chip-photo.jp2");

pub const JPKI: [u8; 10] = [0xD3, 0x92, 0xF0, 0x00, 0x26, 0x01, 0x00, 0x00, 0x00, 0x01];
pub const TEXT: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x08];
pub const SURFACE: [u8; 10] = [0xD3, 0x92, 0x10, 0x00, 0x31, 0x00, 0x01, 0x01, 0x04, 0x02];

pub struct Keys {
    pub cv_ca: RsaPrivateKey,
    pub issuer: RsaPrivateKey,
    pub card: RsaPrivateKey,
    pub other_card: RsaPrivateKey,
    pub root: RsaPrivateKey,
    pub user: RsaPrivateKey,
}

/// The fixture file with the test keys (PKCS#1 DER, hex, one per line).
pub const KEYS_FIXTURE: &str = include_str!("../fixtures/test-keys.txt");
pub const KEYS_SEED: u64 = 20261121;

/// The generator of `fixtures/test-keys.txt`: six RSA-2048 keys from a ChaCha8 stream seeded
/// with [`KEYS_SEED`] (`keys_fixture_is_generated_from_its_seed` checks it; set
/// `REGENERATE_FIXTURES=1` to rewrite it).
pub fn generate_keys_fixture() -> String {
    use rsa::pkcs1::EncodeRsaPrivateKey;
    let mut rng = ChaCha8Rng::seed_from_u64(KEYS_SEED);
    (0..6)
        .map(|_| {
            let k = RsaPrivateKey::new(&mut rng, 2048).unwrap();
            let der = k.to_pkcs1_der().unwrap();
            der.as_bytes()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                + "\n"
        })
        .collect()
}

pub fn keys() -> &'static Keys {
    static K: OnceLock<Keys> = OnceLock::new();
    K.get_or_init(|| {
        use rsa::pkcs1::DecodeRsaPrivateKey;
        let mut it = KEYS_FIXTURE.lines().map(|l| {
            let der: Vec<u8> = (0..l.len() / 2)
                .map(|i| u8::from_str_radix(&l[2 * i..2 * i + 2], 16).unwrap())
                .collect();
            RsaPrivateKey::from_pkcs1_der(&der).unwrap()
        });
        let mut k = || it.next().unwrap();
        Keys {
            cv_ca: k(),
            issuer: k(),
            card: k(),
            other_card: k(),
            root: k(),
            user: k(),
        }
    })
}

// ---- DER / BER helpers ----

pub fn ber_len(n: usize) -> Vec<u8> {
    if n < 0x80 {
        vec![n as u8]
    } else if n < 0x100 {
        vec![0x81, n as u8]
    } else {
        vec![0x82, (n >> 8) as u8, n as u8]
    }
}

pub fn tlv(tag: &[u8], value: &[u8]) -> Vec<u8> {
    let mut v = tag.to_vec();
    v.extend(ber_len(value.len()));
    v.extend_from_slice(value);
    v
}

fn seq(parts: &[Vec<u8>]) -> Vec<u8> {
    tlv(&[0x30], &parts.concat())
}

fn int(bytes: &[u8]) -> Vec<u8> {
    let mut b: Vec<u8> = bytes.iter().copied().skip_while(|&x| x == 0).collect();
    if b.is_empty() || b[0] & 0x80 != 0 {
        b.insert(0, 0);
    }
    tlv(&[0x02], &b)
}

fn oid(der_body: &[u8]) -> Vec<u8> {
    tlv(&[0x06], der_body)
}

const SHA256_RSA: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B];
const RSA_ENC: &[u8] = &[0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x01];

fn alg(o: &[u8]) -> Vec<u8> {
    seq(&[oid(o), vec![0x05, 0x00]])
}

fn name(o: &str, cn: &str) -> Vec<u8> {
    let rdn = |t: &[u8], v: &str| tlv(&[0x31], &seq(&[oid(t), tlv(&[0x0C], v.as_bytes())]));
    seq(&[
        rdn(&[0x55, 0x04, 0x06], "JP"),
        rdn(&[0x55, 0x04, 0x0A], o),
        rdn(&[0x55, 0x04, 0x03], cn),
    ])
}

/// An X.509 v3 certificate (no extensions), sha256WithRSAEncryption.
pub fn x509(
    serial: u32,
    issuer: (&str, &str),
    subject: (&str, &str),
    from: &str,
    to: &str,
    subject_key: &rsa::RsaPublicKey,
    signer: &RsaPrivateKey,
) -> Vec<u8> {
    let spki = seq(&[
        alg(RSA_ENC),
        tlv(
            &[0x03],
            &[&[0u8][..], subject_key.to_pkcs1_der().unwrap().as_bytes()].concat(),
        ),
    ]);
    let tbs = seq(&[
        tlv(&[0xA0], &int(&[2])),
        int(&serial.to_be_bytes()),
        alg(SHA256_RSA),
        name(issuer.0, issuer.1),
        seq(&[tlv(&[0x17], from.as_bytes()), tlv(&[0x17], to.as_bytes())]),
        name(subject.0, subject.1),
        spki,
    ]);
    let sig = signer
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&tbs))
        .unwrap();
    seq(&[
        tbs,
        alg(SHA256_RSA),
        tlv(&[0x03], &[&[0u8][..], &sig].concat()),
    ])
}

pub fn card_pubkey(k: &rsa::RsaPublicKey) -> Vec<u8> {
    let mut n = k.n().to_bytes_be();
    while n.len() < 256 {
        n.insert(0, 0);
    }
    [tlv(&[0x90], &k.e().to_bytes_be()), tlv(&[0x91], &n)].concat()
}

pub fn key_id(number: &str) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..7].copy_from_slice(number.as_bytes());
    id[7] = 0x08;
    id[8] = 0x05;
    id[9..12].copy_from_slice(b"001");
    id
}

pub const CV_CA_ID: &str = "6999023";

fn cv_cert(subject: &str, key: &rsa::RsaPublicKey) -> Vec<u8> {
    let body = [&key_id(CV_CA_ID)[..], &key_id(subject), &card_pubkey(key)].concat();
    assert_eq!(body.len(), 297);
    let sig = keys()
        .cv_ca
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&body))
        .unwrap();
    tlv(
        &[0x7F, 0x21],
        &[tlv(&[0x5F, 0x4E], &body), tlv(&[0x5F, 0x37], &sig)].concat(),
    )
}

/// Outer TLV with an offset table first: `fields` are complete TLVs.
fn with_offsets(outer: &[u8], table_tag: &[u8], fields: &[Vec<u8>]) -> Vec<u8> {
    let table_len = table_tag.len() + 1 + fields.len() * 2;
    let content_len = table_len + fields.iter().map(Vec::len).sum::<usize>();
    let header = outer.len() + ber_len(content_len).len();
    let mut pos = header + table_len;
    let mut table = Vec::new();
    for f in fields {
        table.extend_from_slice(&(pos as u16).to_be_bytes());
        pos += f.len();
    }
    let mut content = tlv(table_tag, &table);
    for f in fields {
        content.extend_from_slice(f);
    }
    tlv(outer, &content)
}

fn digest_info(d: &[u8]) -> Vec<u8> {
    myna_card::data::sha256_digest_info(d)
}

// ---- profiles ----

#[derive(Clone)]
pub struct Profile {
    pub pin: &'static str,
    pub sign_password: &'static str,
    pub text_tries: u8,
    pub sign_tries: u8,
    pub name: &'static str,
    pub address: &'static str,
    pub birth: &'static str,
    pub sex: &'static str,
    pub my_number: &'static str,
    /// The chip's key differs from the one in the signed card face.
    pub clone_chip: bool,
    /// The card-face photo was swapped after signing.
    pub tampered_photo: bool,
    pub sign_cert: bool,
    pub sign_cert_expired: bool,
}

impl Default for Profile {
    fn default() -> Self {
        Profile {
            pin: "1234",
            sign_password: "ABC123",
            text_tries: 3,
            sign_tries: 5,
            name: "窓口　花子",
            address: "東京都千代田区霞が関１－２－３",
            birth: "19800217",
            sex: "2",
            my_number: "123456789018",
            clone_chip: false,
            tampered_photo: false,
            sign_cert: true,
            sign_cert_expired: false,
        }
    }
}

pub const ROOT_NAME: (&str, &str) = ("JPKI-TEST", "Fake Test Root");

pub fn root_der() -> Vec<u8> {
    static R: OnceLock<Vec<u8>> = OnceLock::new();
    R.get_or_init(|| {
        let k = keys();
        x509(
            1,
            ROOT_NAME,
            ROOT_NAME,
            "200101000000Z",
            "491231000000Z",
            &k.root.to_public_key(),
            &k.root,
        )
    })
    .clone()
}

pub fn anchors() -> TrustAnchors {
    let k = keys().cv_ca.to_public_key();
    TrustAnchors::simulation(
        &[
            (RootPurpose::Auth, root_der()),
            (RootPurpose::Sign, root_der()),
        ],
        &[(key_id(CV_CA_ID), k.e().to_bytes_be(), k.n().to_bytes_be())],
    )
    .unwrap()
}

type Files = HashMap<(u8, u16), Vec<u8>>;

fn build_files(p: &Profile) -> Files {
    let k = keys();
    let mut f = Files::new();
    // Text application.
    let mut my_number_file = tlv(&[0xFF, 0x10], p.my_number.as_bytes());
    my_number_file.extend_from_slice(&[0xFF, 0xFF]);
    let attrs = with_offsets(
        &[0xFF, 0x20],
        &[0xDF, 0x21],
        &[
            tlv(&[0xDF, 0x22], p.name.as_bytes()),
            tlv(&[0xDF, 0x23], p.address.as_bytes()),
            tlv(&[0xDF, 0x24], p.birth.as_bytes()),
            tlv(&[0xDF, 0x25], p.sex.as_bytes()),
        ],
    );
    let attrs_source = myna_card::ap::text::Attributes::digest_source(&attrs)
        .unwrap()
        .to_vec();
    let signed = [
        tlv(&[0xDF, 0x31], &Sha256::digest(&my_number_file)),
        tlv(&[0xDF, 0x32], &Sha256::digest(&attrs_source)),
    ]
    .concat();
    let sig = k
        .issuer
        .sign(Pkcs1v15Sign::new::<Sha256>(), &Sha256::digest(&signed))
        .unwrap();
    let integrity = tlv(&[0xFF, 0x30], &[signed, tlv(&[0xDF, 0x33], &sig)].concat());
    f.insert((1, 0x0001), my_number_file);
    f.insert((1, 0x0002), attrs);
    f.insert((1, 0x0003), integrity);
    f.insert((1, 0x0004), cv_cert("6000333", &k.issuer.to_public_key()));
    // Card-face application.
    let png = b"\x89PNG\r\n\x1a\n-not-a-real-png-".to_vec();
    let groups = [
        [
            tlv(&[0xDF, 0x22], p.birth.as_bytes()),
            tlv(&[0xDF, 0x23], p.sex.as_bytes()),
            tlv(&[0xDF, 0x24], &card_pubkey(&k.card.to_public_key())),
        ]
        .concat(),
        [tlv(&[0xDF, 0x25], &png), tlv(&[0xDF, 0x26], &png)].concat(),
        tlv(&[0xDF, 0x27], PHOTO),
    ];
    let mut digests = Vec::new();
    for g in &groups {
        digests.extend_from_slice(&Sha256::digest(g));
    }
    let face_sig = k
        .issuer
        .sign(Pkcs1v15Sign::new_unprefixed(), &digest_info(&digests))
        .unwrap();
    let mut photo = tlv(&[0xDF, 0x27], PHOTO);
    if p.tampered_photo {
        let n = photo.len();
        photo[n - 40] ^= 0x55;
    }
    let face = with_offsets(
        &[0xFF, 0x20],
        &[0xDF, 0x21],
        &[
            tlv(&[0xDF, 0x22], p.birth.as_bytes()),
            tlv(&[0xDF, 0x23], p.sex.as_bytes()),
            tlv(&[0xDF, 0x24], &card_pubkey(&k.card.to_public_key())),
            tlv(&[0xDF, 0x25], &png),
            tlv(&[0xDF, 0x26], &png),
            photo,
            tlv(&[0xDF, 0x28], &face_sig),
            tlv(&[0xDF, 0x29], b"20350217"),
            tlv(&[0xDF, 0x2A], &png),
        ],
    );
    f.insert((2, 0x0002), face);
    f.insert((2, 0x0004), cv_cert("6000233", &k.issuer.to_public_key()));
    // JPKI.
    let user = k.user.to_public_key();
    f.insert(
        (0, 0x000A),
        x509(
            10,
            ROOT_NAME,
            ("JPKI-TEST", "AUTH 0001"),
            "240101000000Z",
            "341231000000Z",
            &user,
            &k.root,
        ),
    );
    f.insert((0, 0x000B), root_der());
    f.insert((0, 0x0002), root_der());
    if p.sign_cert {
        let (from, to) = if p.sign_cert_expired {
            ("150101000000Z", "200101000000Z")
        } else {
            ("240101000000Z", "341231000000Z")
        };
        f.insert(
            (0, 0x0001),
            x509(
                11,
                ROOT_NAME,
                ("JPKI-TEST", "SIGN 0001"),
                from,
                to,
                &user,
                &k.root,
            ),
        );
        f.insert((0, 0x0008), vec![0x8F, 0x8F, 0x00]);
    } else {
        f.insert((0, 0x0008), vec![0x00, 0x8F, 0x00]);
    }
    f
}

// ---- the card ----

pub struct State {
    pub files: Files,
    /// (app, key ef) -> (value, tries left, max)
    pub keys: HashMap<(u8, u16), (Vec<u8>, u8, u8)>,
    pub verified: HashSet<(u8, u16)>,
    pub df: Option<u8>,
    pub ef: Option<u16>,
    pub powered: bool,
    pub unpowers: u32,
    pub apdus: u32,
    pub remove_after: Option<u32>,
    pub removed: bool,
    pub clone_chip: bool,
    pub exclusive: bool,
    pub log: Vec<Vec<u8>>,
    /// Answer the free tries query with 6300 ("no retry limit"), as no My Number card should.
    pub no_retry_limit: bool,
    challenge: u8,
}

#[derive(Clone)]
pub struct FakeCard(pub Rc<RefCell<State>>);

impl FakeCard {
    pub fn new(p: &Profile) -> Self {
        let mut keys = HashMap::new();
        keys.insert((1, 0x0011), (p.pin.as_bytes().to_vec(), p.text_tries, 3));
        keys.insert((0, 0x0018), (p.pin.as_bytes().to_vec(), 3, 3));
        keys.insert(
            (0, 0x001B),
            (p.sign_password.as_bytes().to_vec(), p.sign_tries, 5),
        );
        keys.insert((2, 0x0013), (p.my_number.as_bytes().to_vec(), 10, 10));
        FakeCard(Rc::new(RefCell::new(State {
            files: build_files(p),
            keys,
            verified: HashSet::new(),
            df: None,
            ef: None,
            powered: true,
            unpowers: 0,
            apdus: 0,
            remove_after: None,
            removed: false,
            clone_chip: p.clone_chip,
            exclusive: true,
            log: Vec::new(),
            no_retry_limit: false,
            challenge: 0,
        })))
    }

    pub fn state(&self) -> std::cell::RefMut<'_, State> {
        self.0.borrow_mut()
    }

    pub fn tries(&self, app: u8, ef: u16) -> u8 {
        self.0.borrow().keys[&(app, ef)].1
    }
}

fn sw(v: u16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}

fn ok(mut d: Vec<u8>) -> Vec<u8> {
    d.extend_from_slice(&[0x90, 0x00]);
    d
}

impl State {
    fn answer(&mut self, c: &[u8]) -> Vec<u8> {
        if c.len() < 4 {
            return sw(0x6700);
        }
        let (cla, ins, p1, p2) = (c[0], c[1], c[2], c[3]);
        let data: &[u8] = if c.len() > 5 {
            &c[5..(5 + c[4] as usize).min(c.len())]
        } else {
            &[]
        };
        match (cla, ins) {
            (0x00, 0xA4) if p1 == 0x04 => {
                let app = [&JPKI, &TEXT, &SURFACE].iter().position(|a| a[..] == *data);
                match app {
                    Some(a) => {
                        if self.df != Some(a as u8) {
                            self.verified.retain(|(x, _)| *x == a as u8);
                        }
                        self.df = Some(a as u8);
                        self.ef = None;
                        sw(0x9000)
                    }
                    None => sw(0x6A82),
                }
            }
            (0x00, 0xA4) if p1 == 0x02 && data.len() == 2 => {
                let Some(df) = self.df else { return sw(0x6A82) };
                let id = u16::from_be_bytes([data[0], data[1]]);
                if self.files.contains_key(&(df, id)) || self.keys.contains_key(&(df, id)) {
                    self.ef = Some(id);
                    sw(0x9000)
                } else {
                    sw(0x6A82)
                }
            }
            (0x00, 0xB0) => {
                if p1 & 0x80 != 0 {
                    // Short EF id: P1 = 80|SFI, P2 = 8-bit offset; the EF becomes current.
                    let Some(df) = self.df else {
                        return sw(0x6986);
                    };
                    let id = u16::from(p1 & 0x1F);
                    if !self.files.contains_key(&(df, id)) {
                        return sw(0x6A82);
                    }
                    self.ef = Some(id);
                }
                let (Some(df), Some(ef)) = (self.df, self.ef) else {
                    return sw(0x6986);
                };
                let need = match (df, ef) {
                    (1, 0x0001..=0x0003) => Some((1, 0x0011)),
                    (2, 0x0002) => Some((2, 0x0013)),
                    (0, 0x0001) => Some((0, 0x001B)),
                    _ => None,
                };
                if let Some(k) = need
                    && !self.verified.contains(&k)
                {
                    return sw(0x6982);
                }
                let Some(file) = self.files.get(&(df, ef)) else {
                    return sw(0x6981);
                };
                let off = if p1 & 0x80 != 0 {
                    usize::from(p2)
                } else {
                    usize::from(u16::from_be_bytes([p1, p2]))
                };
                let le = if c.len() == 5 {
                    if c[4] == 0 { 256 } else { c[4] as usize }
                } else {
                    256
                };
                if off >= file.len() {
                    return sw(0x6B00);
                }
                ok(file[off..(off + le).min(file.len())].to_vec())
            }
            (0x00, 0x20) => {
                let key = if p2 == 0x80 {
                    self.ef
                } else {
                    Some(u16::from(p2 & 0x1F))
                };
                let (Some(df), Some(ef)) = (self.df, key) else {
                    return sw(0x6986);
                };
                let Some(entry) = self.keys.get_mut(&(df, ef)) else {
                    return sw(0x6981);
                };
                if data.is_empty() {
                    if self.no_retry_limit {
                        return sw(0x6300);
                    }
                    return if entry.1 == 0 {
                        sw(0x6984)
                    } else {
                        sw(0x63C0 | u16::from(entry.1))
                    };
                }
                if entry.1 == 0 {
                    return sw(0x6984);
                }
                if entry.0 == data {
                    entry.1 = entry.2;
                    self.verified.insert((df, ef));
                    sw(0x9000)
                } else {
                    entry.1 -= 1;
                    sw(0x63C0 | u16::from(entry.1))
                }
            }
            (0x00, 0x84) => {
                self.challenge = self.challenge.wrapping_add(1);
                ok((0..16).map(|i| i ^ self.challenge).collect())
            }
            (0x80, 0x2A) if p1 == 0x00 => {
                let k = keys();
                let key = match (self.df, p2) {
                    (Some(2), 0x00) => {
                        if self.clone_chip {
                            &k.other_card
                        } else {
                            &k.card
                        }
                    }
                    (Some(0), 0x9A) if self.verified.contains(&(0, 0x001B)) => &k.user,
                    (Some(0), _) => return sw(0x6982),
                    _ => return sw(0x6A86),
                };
                ok(key.sign(Pkcs1v15Sign::new_unprefixed(), data).unwrap())
            }
            _ => sw(0x6D00),
        }
    }
}

impl Transmit for FakeCard {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        let mut s = self.0.borrow_mut();
        if s.removed {
            return Err(myna_card::Error::Pcsc(pcsc::Error::RemovedCard));
        }
        if !s.powered {
            return Err(myna_card::Error::Pcsc(pcsc::Error::InvalidHandle));
        }
        if s.remove_after == Some(s.apdus) {
            s.removed = true;
            s.powered = false;
            s.verified.clear();
            return Err(myna_card::Error::Pcsc(pcsc::Error::RemovedCard));
        }
        s.apdus += 1;
        s.log.push(command.to_vec());
        Ok(s.answer(command))
    }
}

impl CardLink for FakeCard {
    fn is_exclusive(&self) -> bool {
        self.0.borrow().exclusive
    }
    fn unpower(&mut self) -> madoguchi_card::Result<()> {
        let mut s = self.0.borrow_mut();
        if s.powered {
            s.unpowers += 1;
        }
        s.powered = false;
        s.verified.clear();
        Ok(())
    }
}
