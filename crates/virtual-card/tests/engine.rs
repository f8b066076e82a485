//! The APDU engine against the fact sheet, with raw APDUs (no reader library): selection,
//! READ BINARY offsets and end of file, VERIFY counters and blocking, access rules of the three
//! applications, signing, wrong length / unknown instruction / wrong class, persistence.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use madoguchi_virtual_card::files::{AID_JPKI, AID_KENHOJO, AID_KENKAKU, SHA256_PREFIX};
use madoguchi_virtual_card::{Profile, VirtualCard, profile};
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Sign, RsaPublicKey};
use sha2::{Digest, Sha256};

fn card(name: &str) -> (VirtualCard, Profile) {
    let p = profile(name).expect("profile");
    let mut c = VirtualCard::new(&p, None).expect("card");
    c.power_on();
    (c, p)
}

fn sw(resp: &[u8]) -> u16 {
    u16::from_be_bytes([resp[resp.len() - 2], resp[resp.len() - 1]])
}

fn data(resp: &[u8]) -> &[u8] {
    &resp[..resp.len() - 2]
}

fn select_df(c: &mut VirtualCard, aid: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0xA4, 0x04, 0x0C, aid.len() as u8];
    apdu.extend_from_slice(aid);
    sw(&c.transmit(&apdu))
}

fn select_ef(c: &mut VirtualCard, id: u16) -> u16 {
    let [h, l] = id.to_be_bytes();
    sw(&c.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x02, h, l]))
}

fn verify(c: &mut VirtualCard, pin: &[u8]) -> u16 {
    let mut apdu = vec![0x00, 0x20, 0x00, 0x80, pin.len() as u8];
    apdu.extend_from_slice(pin);
    sw(&c.transmit(&apdu))
}

/// Reads a whole EF in 256-byte chunks until 6B00 or a short chunk.
fn read_all(c: &mut VirtualCard) -> Result<Vec<u8>, u16> {
    let mut out = Vec::new();
    loop {
        let [h, l] = (out.len() as u16).to_be_bytes();
        let r = c.transmit(&[0x00, 0xB0, h, l, 0x00]);
        match sw(&r) {
            0x9000 => {
                out.extend_from_slice(data(&r));
                if data(&r).len() < 256 {
                    return Ok(out);
                }
            }
            0x6B00 if !out.is_empty() => return Ok(out),
            s => return Err(s),
        }
    }
}

#[test]
fn unpowered_card_answers_nothing_useful_and_power_on_gives_the_atr() {
    let p = profile("hopper").unwrap();
    let mut c = VirtualCard::new(&p, None).unwrap();
    assert_eq!(sw(&c.transmit(&[0x00, 0xA4, 0x04, 0x0C])), 0x6F00);
    assert_eq!(
        c.power_on(),
        [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]
    );
    assert_eq!(select_df(&mut c, &AID_JPKI), 0x9000);
}

#[test]
fn selects_known_applications_and_rejects_unknown_ones() {
    let (mut c, _) = card("hopper");
    assert_eq!(select_ef(&mut c, 0x000A), 0x6A82, "no DF selected yet");
    assert_eq!(select_df(&mut c, &[0xA0, 0x00, 0x00, 0x00, 0x03]), 0x6A82);
    for aid in [AID_JPKI, AID_KENHOJO, AID_KENKAKU] {
        assert_eq!(select_df(&mut c, &aid), 0x9000);
    }
    assert_eq!(select_ef(&mut c, 0x0777), 0x6A82);
    assert_eq!(
        sw(&c.transmit(&[0x00, 0xA4, 0x08, 0x0C, 0x02, 0, 1])),
        0x6A86
    );
    assert_eq!(sw(&c.transmit(&[0x00, 0xA4, 0x02, 0x0C, 0x01, 0])), 0x6700);
}

#[test]
fn read_binary_honours_offsets_le_and_end_of_file() {
    let (mut c, _) = card("hopper");
    select_df(&mut c, &AID_JPKI);
    assert_eq!(select_ef(&mut c, 0x000A), 0x9000);
    // The first 4 bytes give the certificate length (as OpenSC reads it).
    let head = c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04]);
    assert_eq!(sw(&head), 0x9000);
    let h = data(&head);
    assert_eq!(&h[..2], &[0x30, 0x82]);
    let total = usize::from(u16::from_be_bytes([h[2], h[3]])) + 4;
    let all = read_all(&mut c).unwrap();
    assert!(all.len() >= total);
    let cert = &all[..total];
    assert!(
        all[total..].iter().all(|&b| b == 0xFF),
        "filler after the cert"
    );
    // Same bytes as the fixture the crate exposes.
    let (root_auth, _) = madoguchi_virtual_card::test_jpki_roots().unwrap();
    assert_ne!(cert, root_auth);
    // An offset in the middle.
    let mid = c.transmit(&[0x00, 0xB0, 0x01, 0x00, 0x10]);
    assert_eq!(data(&mid), &all[0x100..0x110]);
    // Past the end.
    let [hi, lo] = (all.len() as u16).to_be_bytes();
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, hi, lo, 0x00])), 0x6B00);
    // The last bytes: fewer than asked.
    let [hi, lo] = (all.len() as u16 - 3).to_be_bytes();
    let tail = c.transmit(&[0x00, 0xB0, hi, lo, 0x00]);
    assert_eq!(data(&tail).len(), 3);
    // By short EF id without SELECT: P1 = 80 | 0B.
    let r = c.transmit(&[0x00, 0xB0, 0x8B, 0x00, 0x04]);
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(&data(&r)[..2], &[0x30, 0x82]);
    // Data in a READ BINARY is a wrong length.
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0, 0, 1, 0xAA])), 0x6700);
}

#[test]
fn verify_reports_decrements_and_blocks_at_zero() {
    let (mut c, p) = card("hopper");
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0018);
    // Query does not spend a try.
    for _ in 0..3 {
        assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C3);
    }
    assert_eq!(verify(&mut c, b"0000"), 0x63C2);
    assert_eq!(verify(&mut c, b"0001"), 0x63C1);
    // A correct PIN resets the counter.
    assert_eq!(verify(&mut c, p.credentials.auth_pin.as_bytes()), 0x9000);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C3);
    assert_eq!(verify(&mut c, b"0000"), 0x63C2);
    assert_eq!(verify(&mut c, b"0000"), 0x63C1);
    assert_eq!(verify(&mut c, b"0000"), 0x63C0);
    // Blocked: even the right PIN is refused, and the query says 0.
    assert_eq!(verify(&mut c, p.credentials.auth_pin.as_bytes()), 0x6984);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C0);
    assert_eq!(c.tries_left("jpki", 0x0018), Some(0));
}

#[test]
fn verify_by_short_ef_id_without_select() {
    let (mut c, p) = card("hopper");
    select_df(&mut c, &AID_JPKI);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x98])), 0x63C3);
    let mut apdu = vec![0x00, 0x20, 0x00, 0x98, 0x04];
    apdu.extend_from_slice(p.credentials.auth_pin.as_bytes());
    assert_eq!(sw(&c.transmit(&apdu)), 0x9000);
    // P2 naming something that is not a key reference.
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x8A])), 0x6A88);
}

#[test]
fn sign_certificate_needs_the_password_and_verified_state_is_cleared() {
    let (mut c, p) = card("hopper");
    let password = p.credentials.sign_password.clone().unwrap();
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x6982);
    select_ef(&mut c, 0x001B);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C5);
    assert_eq!(verify(&mut c, password.as_bytes()), 0x9000);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x9000);
    // Re-selecting the same AP keeps the status; another AP clears it.
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x9000);
    select_df(&mut c, &AID_KENKAKU);
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x6982);
    // Power off/on clears it too.
    select_ef(&mut c, 0x001B);
    verify(&mut c, password.as_bytes());
    c.power_off();
    c.power_on();
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x6982);
    // And reset.
    select_ef(&mut c, 0x001B);
    verify(&mut c, password.as_bytes());
    c.reset();
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0001);
    assert_eq!(sw(&c.transmit(&[0x00, 0xB0, 0x00, 0x00, 0x04])), 0x6982);
}

fn cert_public_key(der: &[u8]) -> RsaPublicKey {
    use x509_cert::der::{Decode, Encode};
    let cert = x509_cert::Certificate::from_der(der).unwrap();
    let spki = cert
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .unwrap();
    RsaPublicKey::from_public_key_der(&spki).unwrap()
}

fn read_cert(c: &mut VirtualCard, ef: u16) -> Vec<u8> {
    select_ef(c, ef);
    let all = read_all(c).unwrap();
    let len = usize::from(u16::from_be_bytes([all[2], all[3]])) + 4;
    all[..len].to_vec()
}

#[test]
fn jpki_signs_digest_info_with_the_certified_key_after_the_pin() {
    let (mut c, p) = card("biden");
    select_df(&mut c, &AID_JPKI);
    let cert = read_cert(&mut c, 0x000A);
    let key = cert_public_key(&cert);
    let digest = Sha256::digest(b"evidence");
    let mut di = SHA256_PREFIX.to_vec();
    di.extend_from_slice(&digest);

    // Without the PIN: 6982.
    select_ef(&mut c, 0x0017);
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x80, di.len() as u8];
    apdu.extend_from_slice(&di);
    apdu.push(0x00);
    assert_eq!(sw(&c.transmit(&apdu)), 0x6982);

    select_ef(&mut c, 0x0018);
    assert_eq!(verify(&mut c, p.credentials.auth_pin.as_bytes()), 0x9000);
    select_ef(&mut c, 0x0017);
    let r = c.transmit(&apdu);
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(data(&r).len(), 256);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, data(&r))
        .expect("signature verifies with the auth certificate");

    // P1 = 02: pre-hashed, the card builds the DigestInfo; P2 = 97 names the key.
    let mut apdu = vec![0x80, 0x2A, 0x02, 0x97, 0x20];
    apdu.extend_from_slice(&digest);
    apdu.push(0x00);
    let r = c.transmit(&apdu);
    assert_eq!(sw(&r), 0x9000);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, data(&r))
        .unwrap();
    // P1 = 03: card hashes.
    let mut apdu = vec![0x80, 0x2A, 0x03, 0x97, 8];
    apdu.extend_from_slice(b"evidence");
    apdu.push(0x00);
    let r = c.transmit(&apdu);
    key.verify(Pkcs1v15Sign::new::<Sha256>(), &digest, data(&r))
        .unwrap();
    // P1 = 05: PSS over the card's hash.
    let mut apdu = vec![0x80, 0x2A, 0x05, 0x97, 8];
    apdu.extend_from_slice(b"evidence");
    apdu.push(0x00);
    let r = c.transmit(&apdu);
    assert_eq!(sw(&r), 0x9000);
    key.verify(rsa::Pss::new::<Sha256>(), &digest, data(&r))
        .unwrap();
    // Unknown scheme and wrong lengths.
    assert_eq!(sw(&c.transmit(&[0x80, 0x2A, 0x06, 0x97, 1, 0, 0])), 0x6A86);
    assert_eq!(sw(&c.transmit(&[0x80, 0x2A, 0x02, 0x97, 1, 0, 0])), 0x6700);
    // ISO class for a proprietary instruction.
    assert_eq!(sw(&c.transmit(&[0x00, 0x2A, 0x00, 0x97, 1, 0, 0])), 0x6E00);
}

#[test]
fn unknown_instruction_class_and_channel_and_malformed_lengths() {
    let (mut c, _) = card("hopper");
    assert_eq!(sw(&c.transmit(&[0x00, 0x42, 0, 0])), 0x6D00);
    assert_eq!(sw(&c.transmit(&[0xB0, 0xA4, 0, 0])), 0x6E00);
    assert_eq!(sw(&c.transmit(&[0x01, 0xA4, 0x04, 0x0C, 1, 0xD3])), 0x6881);
    assert_eq!(sw(&c.transmit(&[0x00, 0xA4])), 0x6700);
    assert_eq!(sw(&c.transmit(&[0x00, 0xA4, 0x04, 0x0C, 5, 1, 2])), 0x6700);
    assert_eq!(sw(&c.transmit(&[])), 0x6700);
}

#[test]
fn kenhojo_access_rules_pin_a_and_b() {
    let (mut c, p) = card("obama");
    let read = |c: &mut VirtualCard, ef: u16| {
        select_ef(c, ef);
        read_all(c)
    };
    select_df(&mut c, &AID_KENHOJO);
    assert_eq!(read(&mut c, 0x0001), Err(0x6982));
    assert_eq!(read(&mut c, 0x0002), Err(0x6982));
    assert!(read(&mut c, 0x0004).unwrap().starts_with(&[0x7F, 0x21]));
    // 照合番号A opens 0001 and 0003, not 0002.
    select_ef(&mut c, 0x0014);
    assert_eq!(verify(&mut c, p.credentials.code_a.as_bytes()), 0x9000);
    let number = read(&mut c, 0x0001).unwrap();
    assert_eq!(number.len(), 17);
    assert_eq!(&number[..3], &[0xFF, 0x10, 0x0C]);
    assert_eq!(&number[3..15], p.identity.my_number.as_bytes());
    assert_eq!(read(&mut c, 0x0002), Err(0x6982));
    assert!(read(&mut c, 0x0003).is_ok());
    // 照合番号B opens 0002 but not 0001 (after a power cycle).
    c.power_off();
    c.power_on();
    select_df(&mut c, &AID_KENHOJO);
    select_ef(&mut c, 0x0015);
    assert_eq!(verify(&mut c, p.credentials.code_b.as_bytes()), 0x9000);
    assert_eq!(read(&mut c, 0x0001), Err(0x6982));
    let attrs = read(&mut c, 0x0002).unwrap();
    assert_eq!(&attrs[..2], &[0xFF, 0x20]);
    let text = String::from_utf8_lossy(&attrs);
    assert!(text.contains(&p.identity.name));
    assert!(text.contains(&p.identity.address));
    // The PIN opens both.
    c.power_off();
    c.power_on();
    select_df(&mut c, &AID_KENHOJO);
    select_ef(&mut c, 0x0011);
    assert_eq!(verify(&mut c, p.credentials.text_pin.as_bytes()), 0x9000);
    assert!(read(&mut c, 0x0001).is_ok());
    assert!(read(&mut c, 0x0002).is_ok());
    // 0012 is blocked on every card.
    select_ef(&mut c, 0x0012);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C0);
    assert_eq!(verify(&mut c, b"1234"), 0x6984);
}

#[test]
fn kenkaku_face_needs_a_or_b_and_number_image_needs_a() {
    let (mut c, p) = card("similar1");
    select_df(&mut c, &AID_KENKAKU);
    select_ef(&mut c, 0x0002);
    assert_eq!(read_all(&mut c), Err(0x6982));
    select_ef(&mut c, 0x0012);
    assert_eq!(verify(&mut c, p.credentials.code_b.as_bytes()), 0x9000);
    select_ef(&mut c, 0x0002);
    let face = read_all(&mut c).unwrap();
    assert_eq!(&face[..2], &[0xFF, 0x20]);
    // A few KB, like a real card face record (photo ~4.5 KB + images + key + signature).
    eprintln!("card face EF 0002: {} bytes", face.len());
    assert!((5_000..16_000).contains(&face.len()), "{}", face.len());
    // The photo is a JP2 container.
    let jp2 = p.photo_jp2().unwrap();
    assert!(face.windows(jp2.len()).any(|w| w == jp2));
    assert_eq!(&jp2[4..8], b"jP  ");
    select_ef(&mut c, 0x0005);
    assert_eq!(read_all(&mut c), Err(0x6982));
    select_ef(&mut c, 0x0013);
    assert_eq!(verify(&mut c, p.credentials.code_a.as_bytes()), 0x9000);
    select_ef(&mut c, 0x0005);
    assert!(read_all(&mut c).unwrap().starts_with(&[0xFF, 0x40]));
}

#[test]
fn get_challenge_then_internal_sign_with_the_chip_key() {
    let (mut c, _) = card("hopper");
    select_df(&mut c, &AID_KENKAKU);
    let r = c.transmit(&[0x00, 0x84, 0x00, 0x00, 0x10]);
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(data(&r).len(), 16);
    let r2 = c.transmit(&[0x00, 0x84, 0x00, 0x00, 0x10]);
    assert_ne!(data(&r), data(&r2), "challenges are random");
    let digest = Sha256::digest(data(&r2));
    let mut di = SHA256_PREFIX.to_vec();
    di.extend_from_slice(&digest);
    let mut apdu = vec![0x80, 0x2A, 0x00, 0x00, di.len() as u8];
    apdu.extend_from_slice(&di);
    apdu.push(0);
    let sig = c.transmit(&apdu);
    assert_eq!(sw(&sig), 0x9000);
    assert_eq!(data(&sig).len(), 256);
    // In JPKI there is no default key.
    select_df(&mut c, &AID_JPKI);
    assert_eq!(sw(&c.transmit(&apdu)), 0x6A88);
}

#[test]
fn profiles_with_special_counters() {
    let (mut c, p) = card("one-try-left");
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0018);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C1);
    select_df(&mut c, &AID_KENHOJO);
    select_ef(&mut c, 0x0011);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C1);
    assert_eq!(p.credentials.auth_pin_tries, 1);

    let (mut c, p) = card("locked");
    select_df(&mut c, &AID_JPKI);
    select_ef(&mut c, 0x0018);
    assert_eq!(sw(&c.transmit(&[0x00, 0x20, 0x00, 0x80])), 0x63C0);
    assert_eq!(verify(&mut c, p.credentials.auth_pin.as_bytes()), 0x6984);

    let (mut c, p) = card("minor");
    assert!(p.credentials.sign_password.is_none());
    select_df(&mut c, &AID_JPKI);
    assert_eq!(select_ef(&mut c, 0x0001), 0x6A82);
    assert_eq!(select_ef(&mut c, 0x001B), 0x6A82);
    select_ef(&mut c, 0x0008);
    assert_eq!(read_all(&mut c).unwrap(), [0x00, 0x8F, 0x00]);
}

#[test]
fn counters_persist_in_the_state_dir() {
    let dir = tempfile::tempdir().unwrap();
    let p = profile("obama2").unwrap();
    {
        let mut c = VirtualCard::new(&p, Some(dir.path())).unwrap();
        c.power_on();
        select_df(&mut c, &AID_JPKI);
        select_ef(&mut c, 0x001B);
        assert_eq!(verify(&mut c, b"WRONG1"), 0x63C4);
        select_df(&mut c, &AID_KENHOJO);
        select_ef(&mut c, 0x0011);
        assert_eq!(verify(&mut c, b"9999"), 0x63C2);
    }
    let mut c = VirtualCard::new(&p, Some(dir.path())).unwrap();
    c.power_on();
    assert_eq!(c.tries_left("jpki", 0x001B), Some(4));
    assert_eq!(c.tries_left("kenhojo", 0x0011), Some(2));
    // The state file holds counters only, never a PIN.
    let text = std::fs::read_to_string(dir.path().join("obama2.counters.json")).unwrap();
    assert!(!text.contains(&p.credentials.auth_pin));
    assert!(!text.contains(p.credentials.sign_password.as_deref().unwrap()));
    assert!(text.contains("\"jpki/001B\": 4"));
    // A corrupt state file is a clear error.
    std::fs::write(dir.path().join("obama2.counters.json"), "{not json").unwrap();
    let err = VirtualCard::new(&p, Some(dir.path())).unwrap_err();
    assert!(err.to_string().contains("obama2.counters.json"), "{err}");
}

#[test]
fn debug_output_carries_no_personal_data() {
    let (c, p) = card("hopper");
    for text in [format!("{c:?}"), format!("{p:?}")] {
        assert!(!text.contains(&p.identity.name), "{text}");
        assert!(!text.contains(&p.identity.my_number), "{text}");
        assert!(!text.contains(&p.credentials.auth_pin), "{text}");
    }
}
