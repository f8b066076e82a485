//! The kiosk's card logic against an in-process fake card (tests/common): the full reading and
//! its checks, the PIN policy against real counters, removal at every APDU, evidence signing,
//! and that no secret or personal data reaches an error or a log line.
#![allow(clippy::unwrap_used)]

mod common;

use common::{FakeCard, Profile, anchors};
use madoguchi_card::{
    CardError, CardPin, CardSession, CountingLink, Date, EvidenceStatement, PinKind, Progress,
    ReadOptions, SignPassword, TrustAnchors, probe, read_identity, sign_evidence, verify_evidence,
};

const TODAY: Date = Date {
    year: 2026,
    month: 11,
    day: 21,
};

fn read(
    card: &FakeCard,
    pin: &str,
    opts: ReadOptions,
) -> Result<madoguchi_card::CardReading, CardError> {
    card.state().powered = true;
    let mut session = CardSession::exclusive(card.clone())?;
    let r = read_identity(
        &mut session,
        &CardPin::new(pin.into())?,
        opts,
        &anchors(),
        TODAY,
        &mut |_| {},
    );
    drop(session);
    r
}

fn verifies_with_data(card: &FakeCard) -> usize {
    card.0
        .borrow()
        .log
        .iter()
        .filter(|c| c[1] == 0x20 && c.len() > 5)
        .count()
}

#[test]
fn a_full_read_returns_the_verified_identity_and_unpowers_the_card() {
    let card = FakeCard::new(&Profile::default());
    let mut events: Vec<Progress> = Vec::new();
    let mut session = CardSession::exclusive(CountingLink::new(card.clone())).unwrap();
    let reading = read_identity(
        &mut session,
        &CardPin::new("1234".into()).unwrap(),
        ReadOptions::default(),
        &anchors(),
        TODAY,
        &mut |p| events.push(p),
    )
    .unwrap();
    let traffic = session.link().traffic();
    session.end().unwrap();

    assert_eq!(reading.attributes.name, "窓口　花子");
    assert_eq!(reading.attributes.address, "東京都千代田区霞が関１－２－３");
    assert_eq!(reading.attributes.birth_date.to_string(), "1980-02-17");
    assert_eq!(reading.attributes.gender, madoguchi_card::Gender::Female);
    assert!(reading.my_number.is_none(), "My Number only when asked");
    assert_eq!(
        (reading.photo.image.width, reading.photo.image.height),
        (96, 128)
    );
    assert_eq!(reading.photo.jp2, common::PHOTO);
    assert_eq!(reading.card_face.expiry.to_string(), "2035-02-17");
    assert!(reading.auth_certificate.subject.contains("AUTH 0001"));
    assert!(reading.auth_certificate.valid_today);
    assert_eq!(reading.pin_tries_before, Some(3));

    // Card unpowered, verified state gone.
    let s = card.0.borrow();
    assert!(!s.powered && s.unpowers == 1 && s.verified.is_empty());
    // Short APDUs only; exactly two VERIFYs with data (PIN, 照合番号A).
    assert!(s.log.iter().all(|c| c.len() <= 5 + 255 + 1));
    assert_eq!(traffic.verifies_with_data, 2);
    assert_eq!(traffic.commands as usize, s.log.len());
    drop(s);

    // Progress: the card face is read in several chunks, ending at its size.
    let face: Vec<_> = events
        .iter()
        .filter(|p| p.step == madoguchi_card::Step::CardFace)
        .collect();
    assert!(face.len() > 3, "{face:?}");
    let last = face.last().unwrap();
    assert_eq!(Some(last.bytes_read), last.bytes_expected);
    assert!(face.windows(2).all(|w| w[0].bytes_read < w[1].bytes_read));
}

#[test]
fn the_my_number_is_returned_only_when_asked() {
    let card = FakeCard::new(&Profile::default());
    let r = read(
        &card,
        "1234",
        ReadOptions {
            with_my_number: true,
        },
    )
    .unwrap();
    assert_eq!(r.my_number.unwrap().expose(), "123456789018");
}

#[test]
fn a_wrong_pin_reports_the_tries_left_and_the_last_try_is_never_spent() {
    let card = FakeCard::new(&Profile::default());
    let e = read(&card, "9999", ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::WrongPin {
                which: PinKind::TextPin,
                tries_left: 2
            }
        ),
        "{e:?}"
    );
    assert_eq!(card.tries(1, 0x0011), 2);
    let e = read(&card, "9999", ReadOptions::default()).unwrap_err();
    assert!(
        matches!(e, CardError::WrongPin { tries_left: 1, .. }),
        "{e:?}"
    );
    assert_eq!(card.tries(1, 0x0011), 1);
    assert!(!card.0.borrow().powered, "unpowered after a failed read");

    let before = verifies_with_data(&card);
    for pin in ["9999", "1234"] {
        let e = read(&card, pin, ReadOptions::default()).unwrap_err();
        assert!(
            matches!(
                e,
                CardError::OneTryLeft {
                    which: PinKind::TextPin
                }
            ),
            "{e:?}"
        );
        assert_eq!(e.code(), "card.pin.one_try_left");
        assert!(e.to_string().contains("municipal office"));
    }
    assert_eq!(verifies_with_data(&card), before, "no VERIFY was sent");
    assert_eq!(card.tries(1, 0x0011), 1);
}

#[test]
fn a_locked_pin_is_reported_without_sending_it() {
    let card = FakeCard::new(&Profile {
        text_tries: 0,
        ..Profile::default()
    });
    let e = read(&card, "1234", ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::Locked {
                which: PinKind::TextPin
            }
        ),
        "{e:?}"
    );
    assert_eq!(verifies_with_data(&card), 0);
}

/// 6300 to the tries query means "no retry limit", which no My Number card PIN has: the
/// count is unknown, so the PIN is not sent.
#[test]
fn a_card_claiming_no_retry_limit_is_not_sent_the_pin() {
    let card = FakeCard::new(&Profile::default());
    card.state().no_retry_limit = true;
    let e = read(&card, "1234", ReadOptions::default()).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::RetriesUnknown {
                which: PinKind::TextPin
            }
        ),
        "{e:?}"
    );
    assert_eq!(verifies_with_data(&card), 0, "no VERIFY with the PIN");
}

#[test]
fn a_good_pin_after_a_wrong_one_resets_the_counter() {
    let card = FakeCard::new(&Profile::default());
    read(&card, "0000", ReadOptions::default()).unwrap_err();
    let r = read(&card, "1234", ReadOptions::default()).unwrap();
    assert_eq!(r.pin_tries_before, Some(2));
    assert_eq!(card.tries(1, 0x0011), 3);
}

#[test]
fn removal_at_every_apdu_gives_a_clean_error_and_an_unpowered_card() {
    let reference = FakeCard::new(&Profile::default());
    read(&reference, "1234", ReadOptions::default()).unwrap();
    let total = reference.0.borrow().apdus;
    assert!(total > 20, "a full read takes {total} APDUs");
    for n in 0..total {
        let card = FakeCard::new(&Profile::default());
        card.state().remove_after = Some(n);
        let e = read(&card, "1234", ReadOptions::default()).unwrap_err();
        assert!(matches!(e, CardError::CardRemoved), "APDU {n}: {e:?}");
        let s = card.0.borrow();
        assert!(!s.powered && s.verified.is_empty(), "APDU {n}");
        // The PIN counter was never decremented by the interruption.
        assert_eq!(s.keys[&(1, 0x0011)].1, 3, "APDU {n}");
    }
}

#[test]
fn a_cloned_chip_is_rejected() {
    let card = FakeCard::new(&Profile {
        clone_chip: true,
        ..Profile::default()
    });
    let e = read(&card, "1234", ReadOptions::default()).unwrap_err();
    assert!(matches!(e, CardError::CloneSuspected { .. }), "{e:?}");
    assert_eq!(e.code(), "card.clone_suspected");
}

#[test]
fn a_swapped_photo_fails_the_card_face_signature() {
    let card = FakeCard::new(&Profile {
        tampered_photo: true,
        ..Profile::default()
    });
    let e = read(&card, "1234", ReadOptions::default()).unwrap_err();
    assert!(matches!(e, CardError::CloneSuspected { .. }), "{e:?}");
}

#[test]
fn an_expired_auth_certificate_is_reported_not_fatal() {
    let card = FakeCard::new(&Profile::default());
    card.state().powered = true;
    let mut session = CardSession::exclusive(card.clone()).unwrap();
    let later = Date {
        year: 2040,
        month: 1,
        day: 1,
    };
    let r = read_identity(
        &mut session,
        &CardPin::new("1234".into()).unwrap(),
        ReadOptions::default(),
        &anchors(),
        later,
        &mut |_| {},
    )
    .unwrap();
    assert!(!r.auth_certificate.valid_today);
    assert_eq!(r.to_json()["auth_certificate"]["valid_today"], false);
}

#[test]
fn test_cards_are_untrusted_in_production() {
    let card = FakeCard::new(&Profile::default());
    card.state().powered = true;
    let mut session = CardSession::exclusive(card.clone()).unwrap();
    let e = read_identity(
        &mut session,
        &CardPin::new("1234".into()).unwrap(),
        ReadOptions::default(),
        &TrustAnchors::production().unwrap(),
        TODAY,
        &mut |_| {},
    )
    .unwrap_err();
    assert!(matches!(e, CardError::Untrusted { .. }), "{e:?}");
}

#[test]
fn no_pin_can_be_sent_over_a_shared_link() {
    let card = FakeCard::new(&Profile::default());
    card.state().exclusive = false;
    let e = CardSession::exclusive(card.clone()).unwrap_err();
    assert!(matches!(e, CardError::CardInUse));
    // A shared session can probe (no PIN).
    let mut shared = CardSession::shared(card.clone());
    let report = probe(&mut shared).unwrap();
    drop(shared);
    assert!(report.is_my_number_card);
    assert_eq!(report.tries.len(), 3);
    assert!(
        report
            .tries
            .iter()
            .all(|t| t.tries_left.is_some() && !t.locked)
    );
    assert_eq!(
        report
            .auth_certificate_subject
            .as_deref()
            .map(|s| s.contains("AUTH 0001")),
        Some(true)
    );
    assert_eq!(verifies_with_data(&card), 0);
    assert!(!card.0.borrow().powered);
}

#[test]
fn a_card_without_the_applications_is_not_a_my_number_card() {
    let card = FakeCard::new(&Profile::default());
    card.state().files.clear();
    // Make every SELECT by name fail: no applications.
    let mut session = CardSession::shared(NoApps(card));
    let report = probe(&mut session).unwrap();
    assert!(!report.is_my_number_card && report.applications.is_empty());
}

struct NoApps(FakeCard);
impl myna_card::Transmit for NoApps {
    fn transmit(&mut self, c: &[u8]) -> myna_card::Result<Vec<u8>> {
        if c[1] == 0xA4 && c[2] == 0x04 {
            return Ok(vec![0x6A, 0x82]);
        }
        self.0.transmit(c)
    }
}
impl madoguchi_card::CardLink for NoApps {
    fn is_exclusive(&self) -> bool {
        false
    }
    fn unpower(&mut self) -> madoguchi_card::Result<()> {
        self.0.unpower()
    }
}

fn statement() -> EvidenceStatement {
    EvidenceStatement::new(
        [7; 32],
        [[1; 32], [2; 32], [3; 32]],
        "K-0001",
        "S-42",
        1_790_000_000,
    )
}

fn sign(card: &FakeCard, pw: &str) -> Result<madoguchi_card::Evidence, CardError> {
    card.state().powered = true;
    let mut session = CardSession::exclusive(card.clone())?;
    sign_evidence(
        &mut session,
        &SignPassword::new(pw.into())?,
        &statement(),
        &mut |_| {},
    )
}

#[test]
fn evidence_is_signed_by_the_card_and_verifies_to_the_test_root() {
    let card = FakeCard::new(&Profile::default());
    let ev = sign(&card, "abc123").unwrap();
    assert!(!card.0.borrow().powered);
    let ok = verify_evidence(&ev, &anchors()).unwrap();
    assert_eq!(ok.sign_certificate_serial, "0b");
    // Not against the production roots.
    assert!(matches!(
        verify_evidence(&ev, &TrustAnchors::production().unwrap()),
        Err(CardError::Untrusted { .. })
    ));
    // Any change to the statement breaks it.
    let mut bad = ev.clone();
    bad.statement.session_id = "S-43".into();
    assert_eq!(
        verify_evidence(&bad, &anchors()).unwrap_err().code(),
        "evidence.invalid"
    );
    let mut bad = ev.clone();
    bad.statement.face_image_sha256 = hex_of(&[8; 32]);
    assert!(verify_evidence(&bad, &anchors()).is_err());
    // Round trip through JSON (as it travels to the backend).
    let json = serde_json::to_string(&ev).unwrap();
    let back: madoguchi_card::Evidence = serde_json::from_str(&json).unwrap();
    assert!(verify_evidence(&back, &anchors()).is_ok());
    assert!(!format!("{ev:?}").contains(&ev.sign_certificate[..40]));
}

fn hex_of(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn evidence_signing_follows_the_pin_policy() {
    let card = FakeCard::new(&Profile {
        sign_tries: 2,
        ..Profile::default()
    });
    let e = sign(&card, "WRONG1").unwrap_err();
    assert!(
        matches!(
            e,
            CardError::WrongPin {
                which: PinKind::SignPassword,
                tries_left: 1
            }
        ),
        "{e:?}"
    );
    let e = sign(&card, "ABC123").unwrap_err();
    assert!(
        matches!(
            e,
            CardError::OneTryLeft {
                which: PinKind::SignPassword
            }
        ),
        "{e:?}"
    );
    assert_eq!(card.tries(0, 0x001B), 1);
}

#[test]
fn evidence_needs_a_sign_certificate_and_a_valid_one() {
    let card = FakeCard::new(&Profile {
        sign_cert: false,
        ..Profile::default()
    });
    assert!(matches!(
        sign(&card, "ABC123"),
        Err(CardError::NoSignCertificate)
    ));
    assert_eq!(verifies_with_data(&card), 0);

    let card = FakeCard::new(&Profile {
        sign_cert_expired: true,
        ..Profile::default()
    });
    let ev = sign(&card, "ABC123").unwrap();
    assert!(matches!(
        verify_evidence(&ev, &anchors()),
        Err(CardError::CertificateExpired { .. })
    ));
}

/// Every error and the Debug of every result of a set of readings: no PIN, password, My
/// Number, name or address.
#[test]
fn no_secret_or_personal_data_in_errors_or_debug() {
    let secrets = [
        "1234",
        "9999",
        "ABC123",
        "123456789018",
        "窓口",
        "花子",
        "千代田",
        "霞が関",
    ];
    let mut seen = Vec::new();
    let card = FakeCard::new(&Profile::default());
    let r = read(
        &card,
        "1234",
        ReadOptions {
            with_my_number: true,
        },
    )
    .unwrap();
    seen.push(format!("{r:?} {:#?}", r));
    for (profile, pin) in [
        (Profile::default(), "9999"),
        (
            Profile {
                clone_chip: true,
                ..Profile::default()
            },
            "1234",
        ),
        (
            Profile {
                tampered_photo: true,
                ..Profile::default()
            },
            "1234",
        ),
        (
            Profile {
                text_tries: 1,
                ..Profile::default()
            },
            "1234",
        ),
        (
            Profile {
                text_tries: 0,
                ..Profile::default()
            },
            "1234",
        ),
    ] {
        let e = read(
            &FakeCard::new(&profile),
            pin,
            ReadOptions {
                with_my_number: true,
            },
        )
        .unwrap_err();
        seen.push(format!("{e} {e:?}"));
    }
    let e = sign(&FakeCard::new(&Profile::default()), "ABC124").unwrap_err();
    seen.push(format!("{e} {e:?}"));
    for s in &seen {
        for secret in secrets {
            assert!(!s.contains(secret), "{secret:?} leaked in {s}");
        }
    }
}

#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Everything logged (at TRACE, by this crate and myna-card) during successful and failed
/// readings and signings: no PIN, password, My Number, name or address.
#[test]
fn no_secret_or_personal_data_in_logs() {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let card = FakeCard::new(&Profile::default());
        read(
            &card,
            "1234",
            ReadOptions {
                with_my_number: true,
            },
        )
        .unwrap();
        read(&card, "9999", ReadOptions::default()).unwrap_err();
        read(
            &FakeCard::new(&Profile {
                clone_chip: true,
                ..Profile::default()
            }),
            "1234",
            ReadOptions::default(),
        )
        .unwrap_err();
        sign(&card, "ABC123").unwrap();
    });
    let log = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    assert!(
        log.contains("card read and verified"),
        "the reading logs its outcome: {log}"
    );
    for secret in [
        "1234",
        "9999",
        "ABC123",
        "123456789018",
        "窓口",
        "花子",
        "千代田",
        "霞が関",
    ] {
        assert!(!log.contains(secret), "{secret:?} leaked in the log: {log}");
    }
}
