//! The kiosk's reading against the independently written virtual card, in process: every
//! profile, with the outcome its variant calls for, and evidence signing.
#![allow(clippy::unwrap_used)]

mod virtual_support;

use madoguchi_card::{
    CardError, CardPin, CardSession, Date, EvidenceStatement, PinKind, ReadOptions, SignPassword,
    read_identity, sign_evidence, verify_evidence,
};
use madoguchi_virtual_card::profiles;
use virtual_support::{VirtualLink, anchors};

const TODAY: Date = Date {
    year: 2026,
    month: 11,
    day: 21,
};

fn read(
    link: &VirtualLink,
    pin: &str,
    my_number: bool,
) -> Result<madoguchi_card::CardReading, CardError> {
    let mut session = CardSession::exclusive(VirtualLink(link.0.clone()))?;
    read_identity(
        &mut session,
        &CardPin::new(pin.into())?,
        ReadOptions {
            with_my_number: my_number,
        },
        &anchors(),
        TODAY,
        &mut |_| {},
    )
}

#[test]
fn every_profile_reads_as_its_variant_says() {
    let all = profiles();
    assert!(all.len() >= 10, "{} profiles", all.len());
    for p in all {
        let link = VirtualLink::new(&p.name);
        let r = read(&link, &p.credentials.text_pin, true);
        match p.variant.as_str() {
            "normal" | "no-sign-certificate" | "expired-sign-certificate" => {
                let r = r.unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
                assert_eq!(r.attributes.name, p.identity.name, "{}", p.name);
                assert_eq!(r.attributes.address, p.identity.address, "{}", p.name);
                assert_eq!(r.attributes.birth_date.to_string(), p.identity.birth_date);
                assert_eq!(r.card_face.expiry.to_string(), p.identity.expiry);
                assert_eq!(r.my_number.unwrap().expose(), p.identity.my_number);
                assert_eq!(r.photo.jp2, p.photo_jp2().unwrap(), "{}", p.name);
                assert!(r.photo.image.width > 50 && r.photo.image.height > 50);
            }
            "one-try-left" => {
                assert!(
                    matches!(
                        r,
                        Err(CardError::OneTryLeft {
                            which: PinKind::TextPin
                        })
                    ),
                    "{}: {r:?}",
                    p.name
                );
                assert_eq!(link.0.card().tries_left("kenhojo", 0x0011), Some(1));
            }
            "locked" => {
                assert!(
                    matches!(
                        r,
                        Err(CardError::Locked {
                            which: PinKind::TextPin
                        })
                    ),
                    "{}: {r:?}",
                    p.name
                );
            }
            "clone-chip-key" | "clone-face-signature" => {
                assert!(
                    matches!(r, Err(CardError::CloneSuspected { .. })),
                    "{}: {r:?}",
                    p.name
                );
            }
            other => panic!("profile {} has an unknown variant {other}", p.name),
        }
        // Whatever happened, the session's end left the card unpowered.
        assert!(!link.0.card().is_powered(), "{} left powered", p.name);
    }
}

#[test]
fn wrong_pin_decrements_the_virtual_cards_counter() {
    let link = VirtualLink::new("hopper");
    let e = read(&link, "0000", false).unwrap_err();
    assert!(
        matches!(e, CardError::WrongPin { tries_left: 2, .. }),
        "{e:?}"
    );
    assert_eq!(link.0.card().tries_left("kenhojo", 0x0011), Some(2));
    link.0.card().power_on();
    let e = read(&link, "0000", false).unwrap_err();
    assert!(
        matches!(e, CardError::WrongPin { tries_left: 1, .. }),
        "{e:?}"
    );
    link.0.card().power_on();
    let e = read(&link, "0000", false).unwrap_err();
    assert!(matches!(e, CardError::OneTryLeft { .. }), "{e:?}");
    assert_eq!(
        link.0.card().tries_left("kenhojo", 0x0011),
        Some(1),
        "the last try was kept"
    );
}

#[test]
fn removal_at_every_apdu_of_a_full_read_is_a_clean_error() {
    let reference = VirtualLink::new("hopper");
    read(&reference, "1234", false).unwrap();
    let total = reference.0.answered();
    assert!(total > 20);
    for n in 0..total {
        let link = VirtualLink::new("hopper");
        link.0.remove_after(n);
        let e = read(&link, "1234", false).unwrap_err();
        assert!(matches!(e, CardError::CardRemoved), "APDU {n}: {e:?}");
        assert!(!link.0.card().is_powered(), "APDU {n}");
        assert_eq!(
            link.0.card().tries_left("kenhojo", 0x0011),
            Some(3),
            "APDU {n}"
        );
    }
}

fn sign(name: &str) -> Result<madoguchi_card::Evidence, CardError> {
    let p = madoguchi_virtual_card::profile(name).unwrap();
    let link = VirtualLink::new(name);
    let mut session = CardSession::exclusive(link)?;
    let pw = p
        .credentials
        .sign_password
        .clone()
        .unwrap_or_else(|| "NOPASS1".into());
    sign_evidence(
        &mut session,
        &SignPassword::new(pw)?,
        &EvidenceStatement::new(
            [9; 32],
            [[1; 32], [2; 32], [3; 32]],
            "K-0001",
            "S-7",
            1_795_000_000,
        ),
        &mut |_| {},
    )
}

#[test]
fn evidence_from_the_virtual_card_verifies_to_its_test_root() {
    let ev = sign("hopper").unwrap();
    verify_evidence(&ev, &anchors()).unwrap();
    assert!(matches!(sign("minor"), Err(CardError::NoSignCertificate)));
    let expired = sign("expired-sign").unwrap();
    assert!(matches!(
        verify_evidence(&expired, &anchors()),
        Err(CardError::CertificateExpired { .. })
    ));
}

/// A link that keeps the command APDUs it sent (test only: they carry the code).
struct Recording {
    inner: VirtualLink,
    sent: std::rc::Rc<std::cell::RefCell<Vec<Vec<u8>>>>,
}

impl myna_card::Transmit for Recording {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        self.sent.borrow_mut().push(command.to_vec());
        self.inner.transmit(command)
    }
}

impl madoguchi_card::CardLink for Recording {
    fn is_exclusive(&self) -> bool {
        true
    }
    fn unpower(&mut self) -> madoguchi_card::Result<()> {
        self.inner.unpower()
    }
}

fn code_b_of(p: &madoguchi_virtual_card::Profile) -> madoguchi_card::CodeB {
    let birth = Date::parse(p.identity.birth_date.replace('-', "").as_bytes()).unwrap();
    let expiry_year: u16 = p.identity.expiry[..4].parse().unwrap();
    madoguchi_card::CodeB::new(birth, expiry_year, p.identity.security_code.clone()).unwrap()
}

#[test]
fn code_b_route_reads_the_verified_card_face_without_pin_or_my_number() {
    use madoguchi_card::read_card_face_code_b;
    for name in ["hopper", "biden", "one-try-left", "locked"] {
        let p = madoguchi_virtual_card::profile(name).unwrap();
        let link = VirtualLink::new(name);
        let sent = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let mut session = CardSession::exclusive(Recording {
            inner: VirtualLink(link.0.clone()),
            sent: sent.clone(),
        })
        .unwrap();
        let r = read_card_face_code_b(&mut session, &code_b_of(&p), &anchors(), &mut |_| {})
            .unwrap_or_else(|e| panic!("{name}: {e:?}"));
        session.end().unwrap();
        assert_eq!(r.birth_date.to_string(), p.identity.birth_date, "{name}");
        assert_eq!(r.card_face.expiry.to_string(), p.identity.expiry, "{name}");
        assert_eq!(r.photo.jp2, p.photo_jp2().unwrap(), "{name}");
        assert!(r.name_image.is_png && r.address_image.is_png, "{name}");
        assert!(r.name_image.data.len() > 100, "{name}");
        assert_eq!(r.code_b_tries_before, Some(10), "{name}");
        // The customer's PIN counter is untouched (a locked or one-try card reads all the
        // same) and nothing went to the text application or 照合番号A.
        let text_aid = myna_card::ap::text::DF;
        for apdu in sent.borrow().iter() {
            assert!(
                !apdu.windows(text_aid.len()).any(|w| w == text_aid),
                "{name}: the text application was selected"
            );
            let verify_code_a = apdu.len() > 4 && apdu[1] == 0x20 && apdu[3] == 0x80 | 0x13;
            assert!(!verify_code_a, "{name}: 照合番号A was sent");
        }
        assert!(!link.0.card().is_powered(), "{name} left powered");
    }
}

#[test]
fn code_b_route_checks_the_chip_and_counts_wrong_codes() {
    use madoguchi_card::read_card_face_code_b;
    // A clone whose chip key does not match fails the challenge on this route too.
    for name in ["clone-chip", "clone-face"] {
        let p = madoguchi_virtual_card::profile(name).unwrap();
        let link = VirtualLink::new(name);
        let mut session = CardSession::exclusive(VirtualLink(link.0.clone())).unwrap();
        let r = read_card_face_code_b(&mut session, &code_b_of(&p), &anchors(), &mut |_| {});
        assert!(
            matches!(r, Err(CardError::CloneSuspected { .. })),
            "{name}: {r:?}"
        );
    }
    // A mistyped security code costs one of the 10 tries and says how many are left.
    let p = madoguchi_virtual_card::profile("hopper").unwrap();
    let link = VirtualLink::new("hopper");
    let birth = Date::parse(p.identity.birth_date.replace('-', "").as_bytes()).unwrap();
    let wrong = madoguchi_card::CodeB::new(birth, 2031, "0000".into()).unwrap();
    let mut session = CardSession::exclusive(VirtualLink(link.0.clone())).unwrap();
    let e = read_card_face_code_b(&mut session, &wrong, &anchors(), &mut |_| {}).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::WrongPin {
                which: PinKind::CodeB,
                tries_left: 9
            }
        ),
        "{e:?}"
    );
    assert!(!format!("{e} {e:?}").contains("0000"));
}
