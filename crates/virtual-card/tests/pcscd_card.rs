//! Through the real PC/SC stack: a private pcscd with vpcd (the harness), the virtual card
//! served over the vpcd protocol, and the `pcsc` crate as the reader side. Covers insertion,
//! the ATR, APDUs, removal after the Nth APDU, the `serve` binary with a state dir, and
//! OpenSC's JPKI driver reading the card (`pkcs15-tool`) and signing with it (`pkcs11-tool`),
//! the conformance checks against an implementation nobody here wrote.
//!
//! Nextest runs this binary in test group `pcscd` (one pcscd at a time).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::ffi::CString;
use std::process::Command;
use std::time::{Duration, Instant};

use madoguchi_virtual_card::files::AID_JPKI;
use madoguchi_virtual_card::harness::Pcscd;
use madoguchi_virtual_card::{VirtualCard, profile};

fn start() -> Pcscd {
    let t0 = Instant::now();
    match Pcscd::start() {
        Ok(p) => {
            eprintln!("pcscd started (vpcd listening) in {:?}", t0.elapsed());
            p
        }
        Err(e) => panic!("{e}"),
    }
}

fn connect(reader: &str) -> pcsc::Card {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let name = CString::new(reader).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match ctx.connect(&name, pcsc::ShareMode::Exclusive, pcsc::Protocols::ANY) {
            Ok(card) => return card,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("connect to {reader}: {e}"),
        }
    }
}

fn tx(card: &pcsc::Card, apdu: &[u8]) -> Result<Vec<u8>, pcsc::Error> {
    let mut buf = [0u8; 4096];
    card.transmit(apdu, &mut buf).map(<[u8]>::to_vec)
}

fn sw(r: &[u8]) -> u16 {
    u16::from_be_bytes([r[r.len() - 2], r[r.len() - 1]])
}

fn card_present(reader: &str) -> bool {
    let ctx = pcsc::Context::establish(pcsc::Scope::User).expect("PC/SC context");
    let mut states = vec![pcsc::ReaderState::new(
        CString::new(reader).unwrap(),
        pcsc::State::UNAWARE,
    )];
    ctx.get_status_change(Duration::ZERO, &mut states).unwrap();
    states[0].event_state().contains(pcsc::State::PRESENT)
}

fn wait_present(reader: &str, want: bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while card_present(reader) != want {
        assert!(
            Instant::now() < deadline,
            "card present = {want} not reached"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn pcscd_serves_the_card_and_remove_after_n_apdus_removes_it() {
    let mut pcscd = start();
    let reader = pcscd.reader();
    let p = profile("hopper").unwrap();
    let t0 = Instant::now();
    pcscd.insert(VirtualCard::new(&p, None).unwrap()).unwrap();
    wait_present(reader, true);
    eprintln!("card present after {:?}", t0.elapsed());

    let card = connect(reader);
    let (_, _, atr) = {
        let mut names = [0u8; 256];
        let mut atr = [0u8; 64];
        let status = card.status2(&mut names, &mut atr).unwrap();
        ((), (), status.atr().to_vec())
    };
    assert_eq!(atr, [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14]);
    let mut select = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    select.extend_from_slice(&AID_JPKI);
    assert_eq!(sw(&tx(&card, &select).unwrap()), 0x9000);
    assert_eq!(
        sw(&tx(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]).unwrap()),
        0x9000
    );
    let r = tx(&card, &[0x00, 0xB0, 0x00, 0x00, 0x00]).unwrap();
    assert_eq!(sw(&r), 0x9000);
    assert_eq!(r.len(), 258);

    // The card leaves after answering 2 more APDUs.
    pcscd.card().unwrap().remove_after(2);
    assert!(tx(&card, &[0x00, 0xB0, 0x01, 0x00, 0x00]).is_ok());
    assert!(tx(&card, &[0x00, 0xB0, 0x02, 0x00, 0x00]).is_ok());
    // Until pcscd notices the removal (its presence poll), the APDU right after it comes back
    // as 0 bytes (no status word) or fails as "not transacted"; then PC/SC says removed.
    match tx(&card, &[0x00, 0xB0, 0x03, 0x00, 0x00]) {
        Ok(r) => assert!(r.is_empty(), "no answer from a removed card: {r:02X?}"),
        Err(e) => assert!(
            removed_error(&e) || e == pcsc::Error::NotTransacted,
            "{e:?}"
        ),
    }
    wait_present(reader, false);
    let err = tx(&card, &[0x00, 0xB0, 0x03, 0x00, 0x00]).expect_err("card is gone");
    assert!(removed_error(&err), "{err:?}");
    wait_present(reader, false);
    // It lost power: reinserting gives a fresh security state and the counters persist in
    // memory.
    let server = pcscd.card().unwrap();
    assert!(!server.with_card(|c| c.is_powered()));
    server.insert();
    assert!(server.wait_seen(Duration::from_secs(10)));
    wait_present(reader, true);
}

fn removed_error(e: &pcsc::Error) -> bool {
    matches!(
        e,
        pcsc::Error::RemovedCard | pcsc::Error::ResetCard | pcsc::Error::NoSmartcard
    )
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| {
        let package = match cmd.get_program().to_str() {
            Some("openssl") => "openssl",
            _ => "opensc",
        };
        panic!("{cmd:?}: {e} (install the Debian package `{package}`)")
    });
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{cmd:?} failed: {text}");
    text
}

#[test]
fn pcscd_opensc_jpki_driver_reads_certificates_and_pin_info() {
    let mut pcscd = start();
    let p = profile("biden").unwrap();
    pcscd.insert(VirtualCard::new(&p, None).unwrap()).unwrap();
    wait_present(pcscd.reader(), true);

    let list =
        run(Command::new("pkcs15-tool").args(["--reader", pcscd.reader(), "--list-certificates"]));
    assert!(list.contains("User Authentication Certificate"), "{list}");
    assert!(list.contains("Digital Signature Certificate CA"), "{list}");

    // Certificate ID 01 = user authentication (EF 000A): read it and compare with the fixture.
    let pem = run(Command::new("pkcs15-tool").args([
        "--reader",
        pcscd.reader(),
        "--read-certificate",
        "01",
    ]));
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{pem}");
    let dir = tempfile::tempdir().unwrap();
    let pem_path = dir.path().join("auth.pem");
    let body: String = pem
        .lines()
        .skip_while(|l| !l.starts_with("-----BEGIN"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&pem_path, body + "\n").unwrap();
    let text = run(Command::new("openssl").args([
        "x509",
        "-in",
        pem_path.to_str().unwrap(),
        "-noout",
        "-issuer",
    ]));
    assert!(text.contains("JPKI-TEST"), "{text}");

    // PIN info: tries left as the card reports them.
    let pins = run(Command::new("pkcs15-tool").args(["--reader", pcscd.reader(), "--list-pins"]));
    assert!(pins.contains("User Authentication PIN"), "{pins}");
    assert!(pins.contains("Digital Signature PIN"), "{pins}");
    assert!(
        pins.contains("Tries left") || pins.contains("tries left"),
        "{pins}"
    );
    eprintln!("{pins}");
    let tries: Vec<&str> = pins
        .lines()
        .filter(|l| l.to_lowercase().contains("tries left"))
        .collect();
    assert_eq!(tries.len(), 2, "{pins}");
    assert!(tries[0].trim().ends_with('3'), "{pins}");
    assert!(tries[1].trim().ends_with('5'), "{pins}");

    // The signing certificate (ID 02) needs the signing password first (6982 without it).
    // (OPENSC_DEBUG=9 makes OpenSC print the APDUs: the card must answer the READ BINARY of
    // EF 0001 with 6982.)
    let without = Command::new("pkcs15-tool")
        .env("OPENSC_DEBUG", "9")
        .args(["--reader", pcscd.reader(), "--read-certificate", "02"])
        .output()
        .unwrap();
    let trace = String::from_utf8_lossy(&without.stderr).into_owned()
        + &String::from_utf8_lossy(&without.stdout);
    assert!(
        !without.status.success(),
        "the sign certificate must need the password"
    );
    assert!(
        trace.contains("00 A4 02 0C 02 00 01") && trace.contains("\n69 82"),
        "no 6982 for EF 0001 in the OpenSC trace"
    );
    let with = run(Command::new("pkcs15-tool")
        .args([
            "--reader",
            pcscd.reader(),
            "--read-certificate",
            "02",
            "--verify-pin",
        ])
        .args(["--auth-id", "02", "--pin"])
        .arg(p.credentials.sign_password.as_deref().unwrap()));
    assert!(with.contains("-----BEGIN CERTIFICATE-----"), "{with}");
}

#[test]
fn pcscd_serve_binary_keeps_counters_in_the_state_dir_between_runs() {
    let pcscd = start();
    let reader = pcscd.reader();
    let state = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_madoguchi-virtual-card");
    let p = profile("obama").unwrap();
    let serve = || {
        Command::new(bin)
            .args(["serve", "--profile", "obama", "--vpcd"])
            .arg(pcscd.vpcd_addr().to_string())
            .arg("--state")
            .arg(state.path())
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut select_pin = vec![0x00, 0xA4, 0x04, 0x0C, 0x0A];
    select_pin.extend_from_slice(&AID_JPKI);

    for expected_before in [0x63C3u16, 0x63C2] {
        let mut child = serve();
        wait_present(reader, true);
        let card = connect(reader);
        assert_eq!(sw(&tx(&card, &select_pin).unwrap()), 0x9000);
        assert_eq!(
            sw(&tx(&card, &[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x18]).unwrap()),
            0x9000
        );
        assert_eq!(
            sw(&tx(&card, &[0x00, 0x20, 0x00, 0x80]).unwrap()),
            expected_before
        );
        if expected_before == 0x63C3 {
            let wrong = [0x00, 0x20, 0x00, 0x80, 0x04, b'9', b'9', b'9', b'9'];
            assert_ne!(p.credentials.auth_pin, "9999");
            assert_eq!(sw(&tx(&card, &wrong).unwrap()), 0x63C2);
        }
        drop(card);
        // `quit` on stdin stops it cleanly.
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        writeln!(stdin, "quit").unwrap();
        drop(stdin);
        let deadline = Instant::now() + Duration::from_secs(5);
        while child.try_wait().unwrap().is_none() {
            if Instant::now() > deadline {
                child.kill().unwrap();
                panic!("serve did not stop on quit");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut err = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
        assert!(!err.contains(&p.credentials.auth_pin), "{err}");
        wait_present(reader, false);
    }
}

#[test]
fn pcscd_a_second_harness_is_refused_with_a_clear_message() {
    let first = start();
    let err = Pcscd::start().expect_err("only one pcscd per machine");
    let text = err.to_string();
    assert!(text.contains("already runs a harness pcscd"), "{text}");
    assert!(madoguchi_virtual_card::harness::running_pcscd().contains(&first.pid()));
    drop(first);
    // After the first one stopped, a new one starts.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !madoguchi_virtual_card::harness::running_pcscd().is_empty() {
        assert!(Instant::now() < deadline, "pcscd did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
    drop(start());
}

#[test]
fn pcscd_opensc_pkcs11_signs_with_the_auth_key_after_the_pin() {
    let mut pcscd = start();
    let p = profile("obama2").unwrap();
    pcscd.insert(VirtualCard::new(&p, None).unwrap()).unwrap();
    wait_present(pcscd.reader(), true);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("data");
    let sig = dir.path().join("sig");
    std::fs::write(&input, b"madoguchi evidence").unwrap();
    let module = "/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so";
    // OpenSC computes the DigestInfo and sends it with 80 2A 00 80 after VERIFY of EF 0018.
    let out = Command::new("pkcs11-tool")
        .args(["--module", module, "--login", "--pin"])
        .arg(&p.credentials.auth_pin)
        .args([
            "--sign",
            "--mechanism",
            "SHA256-RSA-PKCS",
            "--id",
            "01",
            "--input-file",
        ])
        .arg(&input)
        .arg("--output-file")
        .arg(&sig)
        .output()
        .unwrap_or_else(|e| panic!("pkcs11-tool: {e} (install the Debian package `opensc`)"));
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert_eq!(std::fs::read(&sig).unwrap().len(), 256);
    // Verify with the certificate OpenSC reads, through openssl.
    let pem = run(Command::new("pkcs15-tool").args([
        "--reader",
        pcscd.reader(),
        "--read-certificate",
        "01",
    ]));
    let cert = dir.path().join("cert.pem");
    std::fs::write(&cert, pem).unwrap();
    let pubkey = dir.path().join("pub.pem");
    run(Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&cert)
        .arg("-out")
        .arg(&pubkey));
    let verified = run(Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&pubkey)
        .arg("-signature")
        .arg(&sig)
        .arg(&input));
    assert!(verified.contains("Verified OK"), "{verified}");
    // One VERIFY succeeded: the counter is full, not spent.
    assert_eq!(
        pcscd
            .card()
            .unwrap()
            .with_card(|c| c.tries_left("jpki", 0x0018)),
        Some(3)
    );
}
