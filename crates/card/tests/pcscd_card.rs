//! Through the real stack: the kiosk code over `pcsc` → `pcscd` → `vsmartcard-vpcd` → the
//! virtual card (started and stopped by `madoguchi_virtual_card::harness`, one pcscd at a time:
//! nextest test group `pcscd`). Needs the Debian packages `pcscd` and `vsmartcard-vpcd`; the
//! harness fails with a message naming them when they are missing.
#![allow(clippy::unwrap_used)]

mod virtual_support;

use std::time::{Duration, Instant};

use madoguchi_card::cli::{CardCommand, execute};
use madoguchi_card::{
    CardError, CardPin, CardSession, PcscLink, PinKind, ReadOptions, ReaderEvent, ReaderWatcher,
    list_readers, read_identity_from_reader, today,
};
use madoguchi_virtual_card::harness::Pcscd;
use madoguchi_virtual_card::{VirtualCard, profile, profiles};
use virtual_support::anchors;

fn start() -> Pcscd {
    Pcscd::start().unwrap_or_else(|e| panic!("{e}"))
}

fn insert(pcscd: &mut Pcscd, name: &str) {
    let card = VirtualCard::new(&profile(name).unwrap(), None).unwrap();
    pcscd.insert(card).unwrap();
    wait_present(pcscd);
}

/// pcscd polls the reader: wait until PC/SC reports the card present (at most 10 s).
fn wait_present(pcscd: &Pcscd) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !list_readers()
        .unwrap()
        .iter()
        .any(|r| r.name == pcscd.reader() && r.card_present)
    {
        assert!(
            Instant::now() < deadline,
            "PC/SC did not see the card within 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until PC/SC reports the reader empty (at most 10 s), before the next insertion.
fn wait_absent(pcscd: &Pcscd) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while list_readers()
        .unwrap()
        .iter()
        .any(|r| r.name == pcscd.reader() && r.card_present)
    {
        assert!(
            Instant::now() < deadline,
            "PC/SC still sees the removed card after 10 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read(pcscd: &Pcscd, pin: &str) -> Result<madoguchi_card::CardReading, CardError> {
    read_identity_from_reader(
        Some(pcscd.reader()),
        &CardPin::new(pin.into()).unwrap(),
        ReadOptions {
            with_my_number: true,
        },
        &anchors(),
        today(),
        &mut |_| {},
    )
}

fn powered(pcscd: &Pcscd) -> bool {
    pcscd.card().unwrap().with_card(|c| c.is_powered())
}

/// pcscd powers a card off shortly after the last handle goes; wait for it (at most 5 s).
fn wait_unpowered(pcscd: &Pcscd) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if !powered(pcscd) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn every_profile_through_pcscd() {
    let mut pcscd = start();
    for p in profiles() {
        insert(&mut pcscd, &p.name);
        let r = read(&pcscd, &p.credentials.text_pin);
        match p.variant.as_str() {
            "normal" | "no-sign-certificate" | "expired-sign-certificate" => {
                let r = r.unwrap_or_else(|e| panic!("{}: {e:?}", p.name));
                assert_eq!(r.attributes.name, p.identity.name);
                assert_eq!(r.my_number.as_ref().unwrap().expose(), p.identity.my_number);
                assert_eq!(r.photo.jp2, p.photo_jp2().unwrap());
            }
            "one-try-left" => assert!(
                matches!(
                    r,
                    Err(CardError::OneTryLeft {
                        which: PinKind::TextPin
                    })
                ),
                "{}: {r:?}",
                p.name
            ),
            "locked" => assert!(matches!(r, Err(CardError::Locked { .. })), "{r:?}"),
            "clone-chip-key" | "clone-face-signature" => {
                assert!(
                    matches!(r, Err(CardError::CloneSuspected { .. })),
                    "{}: {r:?}",
                    p.name
                )
            }
            other => panic!("unknown variant {other}"),
        }
        assert!(wait_unpowered(&pcscd), "{}: card left powered", p.name);
        if p.variant == "one-try-left" {
            let left = pcscd
                .card()
                .unwrap()
                .with_card(|c| c.tries_left("kenhojo", 0x0011));
            assert_eq!(left, Some(1), "the last try is never spent");
        }
    }
}

#[test]
fn wrong_pin_through_pcscd_decrements_and_stops_at_the_last_try() {
    let mut pcscd = start();
    insert(&mut pcscd, "obama");
    for expected in [2u8, 1] {
        let e = read(&pcscd, "0000").unwrap_err();
        assert!(
            matches!(e, CardError::WrongPin { which: PinKind::TextPin, tries_left } if tries_left == expected),
            "{e:?}"
        );
        let left = pcscd
            .card()
            .unwrap()
            .with_card(|c| c.tries_left("kenhojo", 0x0011));
        assert_eq!(left, Some(expected));
    }
    let e = read(&pcscd, "1234").unwrap_err();
    assert!(matches!(e, CardError::OneTryLeft { .. }), "{e:?}");
    let left = pcscd
        .card()
        .unwrap()
        .with_card(|c| c.tries_left("kenhojo", 0x0011));
    assert_eq!(left, Some(1));
}

#[test]
fn card_removed_at_every_apdu_of_a_full_read_through_pcscd() {
    let mut pcscd = start();
    insert(&mut pcscd, "hopper");
    read(&pcscd, "1234").unwrap();
    let total = pcscd.card().unwrap().answered();
    assert!(total > 20, "{total}");
    let started = Instant::now();
    for n in 0..total {
        // Put the same card back (it lost power, so its security state is fresh).
        let server = pcscd.card().unwrap();
        server.insert();
        assert!(
            server.wait_seen(Duration::from_secs(10)),
            "vpcd did not take the card back"
        );
        wait_present(&pcscd);
        let base = pcscd.card().unwrap().answered();
        pcscd.card().unwrap().remove_after(n);
        let e = read(&pcscd, "1234").unwrap_err();
        assert!(
            matches!(
                e,
                CardError::CardRemoved | CardError::NoCard | CardError::CardUnresponsive
            ),
            "after {n} APDUs ({} answered): {e:?}",
            pcscd.card().unwrap().answered() - base
        );
        assert!(e.card_gone() || matches!(e, CardError::CardUnresponsive));
        assert!(
            wait_unpowered(&pcscd),
            "after {n} APDUs the card stayed powered ({e:?})"
        );
        wait_absent(&pcscd);
    }
    eprintln!("{total} removals in {:?}", started.elapsed());
}

#[test]
fn a_pin_session_is_exclusive_and_the_card_is_unpowered_at_its_end() {
    let mut pcscd = start();
    // No card yet, and a reader that does not exist: named errors, no connection.
    let e = CardSession::open_exclusive(Some(pcscd.reader())).unwrap_err();
    assert!(matches!(e, CardError::NoCard), "{e:?}");
    let e = CardSession::open_exclusive(None).unwrap_err();
    assert!(matches!(e, CardError::NoCard), "{e:?}");
    let e = PcscLink::connect(Some("No Such Reader 00 00"), true).unwrap_err();
    assert!(matches!(e, CardError::ReaderNotFound(_)), "{e:?}");
    insert(&mut pcscd, "biden");
    let session = CardSession::open_exclusive(Some(pcscd.reader())).unwrap();
    let other = PcscLink::connect(Some(pcscd.reader()), false);
    assert!(matches!(other, Err(CardError::CardInUse)), "{other:?}");
    session.end().unwrap();
    assert!(wait_unpowered(&pcscd));
    // Free again once the session ended.
    PcscLink::connect(Some(pcscd.reader()), false).unwrap();
}

#[test]
fn readers_and_hot_plug_events() {
    let mut pcscd = start();
    let readers = list_readers().unwrap();
    assert!(
        readers
            .iter()
            .any(|r| r.name == pcscd.reader() && !r.card_present),
        "{readers:?}"
    );
    let mut watcher = ReaderWatcher::new().unwrap();
    let first = watcher.wait(Duration::from_secs(1)).unwrap();
    assert!(
        first.contains(&ReaderEvent::ReaderAdded(pcscd.reader().into())),
        "{first:?}"
    );
    insert(&mut pcscd, "hopper");
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(&ReaderEvent::CardInserted(pcscd.reader().into()))
        && Instant::now() < deadline
    {
        seen.extend(watcher.wait(Duration::from_millis(500)).unwrap());
    }
    assert!(
        seen.contains(&ReaderEvent::CardInserted(pcscd.reader().into())),
        "{seen:?}"
    );
    assert!(list_readers().unwrap().iter().any(|r| r.card_present));
    pcscd.eject();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !seen.contains(&ReaderEvent::CardRemoved(pcscd.reader().into()))
        && Instant::now() < deadline
    {
        seen.extend(watcher.wait(Duration::from_millis(500)).unwrap());
    }
    assert!(
        seen.contains(&ReaderEvent::CardRemoved(pcscd.reader().into())),
        "{seen:?}"
    );
}

/// Regression: the watcher handed PC/SC a fresh ("unaware") state on every call, so each
/// wait returned at once and the kiosk's card watcher spun a core (and pcscd another).
#[test]
fn an_idle_watcher_waits_instead_of_spinning() {
    let mut pcscd = start();
    insert(&mut pcscd, "hopper");
    let mut watcher = ReaderWatcher::new().unwrap();
    let mut present = false;
    let deadline = Instant::now() + Duration::from_secs(10);
    while !present && Instant::now() < deadline {
        present = watcher
            .wait(Duration::from_millis(200))
            .unwrap()
            .contains(&ReaderEvent::CardInserted(pcscd.reader().into()));
    }
    assert!(present, "the card was seen");
    // Nothing changes now: each wait lasts its timeout.
    let started = Instant::now();
    let mut calls = 0;
    while started.elapsed() < Duration::from_secs(2) {
        let events = watcher.wait(Duration::from_millis(250)).unwrap();
        assert!(events.is_empty(), "{events:?}");
        calls += 1;
    }
    assert!(calls <= 10, "{calls} waits in 2 s with a 250 ms timeout");
}

#[test]
fn cli_readers_probe_and_read() {
    let mut pcscd = start();
    insert(&mut pcscd, "hopper");
    let p = profile("hopper").unwrap();
    let no_pin = &mut || -> madoguchi_card::Result<CardPin> { panic!("no PIN may be asked") };

    let readers = execute(CardCommand::Readers, no_pin).unwrap();
    assert_eq!(readers["readers"][0]["name"], pcscd.reader());
    assert_eq!(readers["readers"][0]["card_present"], true);

    let probe = execute(CardCommand::Probe { reader: None }, no_pin).unwrap();
    assert_eq!(probe["is_my_number_card"], true, "{probe}");
    assert!(probe["auth_certificate_subject"].as_str().unwrap().len() > 5);
    assert_eq!(probe["tries"].as_array().unwrap().len(), 3);
    assert!(wait_unpowered(&pcscd));

    let anchors = virtual_support::anchors_dir();
    let out = tempfile::tempdir().unwrap();
    let png = out.path().join("photo.png");
    let pin = p.credentials.text_pin.clone();
    let json = execute(
        CardCommand::Read {
            reader: Some(pcscd.reader().into()),
            with_my_number: false,
            photo: Some(png.clone()),
            test_anchors: Some(anchors.path().to_owned()),
        },
        &mut || CardPin::new(pin.clone()),
    )
    .unwrap();
    assert_eq!(json["name"], p.identity.name);
    assert!(json["my_number"].is_null());
    assert_eq!(json["checks"]["hierarchy"], "test");
    let text = json.to_string();
    assert!(
        !text.contains(&p.credentials.text_pin),
        "the PIN is never printed"
    );
    let bytes = std::fs::read(&png).unwrap();
    assert!(bytes.starts_with(b"\x89PNG"));

    // Without the test anchors (production trust) the same card is refused.
    let e = execute(
        CardCommand::Read {
            reader: None,
            with_my_number: true,
            photo: None,
            test_anchors: None,
        },
        &mut || CardPin::new(pin.clone()),
    )
    .unwrap_err();
    assert!(matches!(e, CardError::Untrusted { .. }), "{e:?}");
}

#[test]
fn pcscd_going_away_mid_session_is_a_named_error_not_a_panic() {
    let mut pcscd = start();
    insert(&mut pcscd, "hopper");
    let mut session = CardSession::open_shared(Some(pcscd.reader())).unwrap();
    assert!(
        madoguchi_card::probe(&mut session)
            .unwrap()
            .is_my_number_card
    );
    drop(pcscd); // stops the card and pcscd
    let e = madoguchi_card::probe(&mut session).unwrap_err();
    assert!(
        matches!(
            e,
            CardError::ReaderGone
                | CardError::ServiceUnavailable
                | CardError::CardRemoved
                | CardError::NoCard
        ),
        "{e:?}"
    );
    drop(session);
}
