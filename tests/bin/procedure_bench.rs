//! `procedure-bench`: the kiosk's own time per step of the identity verification's PIN route,
//! through the real pcscd and the virtual card, with the synthetic customer answering at once
//! (so the customer's own time is nil): the card work (tries read + the whole verified read),
//! the decision after the challenge ends, the recording, and the preview frame rate while the
//! face pipeline runs. It runs the shipped binary (`madoguchi procedure identity`, release
//! build by default) several times and prints min / median / max for each figure, its target,
//! and — for the card work — the ratio to a reference run in the same process: the bare card
//! read through the card crate on the same pcscd, without the kiosk around it. Then the same
//! for the 照合番号B read.
//!
//! Usage: `cargo build --release -p madoguchi && cargo run --release -p madoguchi-e2e --bin
//! procedure-bench -- [--runs N] [--bin PATH]`. Needs pcscd and the vpcd driver
//! (installer/deps.sh) and ../shared/faces beside the repository.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use madoguchi_card::{CardPin, CodeB, Date, ReadOptions, RootPurpose, TrustAnchors};
use madoguchi_virtual_card::harness::Pcscd;
use serde_json::Value;

fn stats(v: &mut [f64]) -> (f64, f64, f64) {
    v.sort_by(|a, b| a.total_cmp(b));
    if v.is_empty() {
        return (f64::NAN, f64::NAN, f64::NAN);
    }
    (v[0], v[v.len() / 2], v[v.len() - 1])
}

fn anchors() -> TrustAnchors {
    let m = madoguchi_virtual_card::test_anchor_material().expect("TEST anchors");
    TrustAnchors::simulation(
        &[
            (RootPurpose::Auth, m.auth_root.to_vec()),
            (RootPurpose::Sign, m.sign_root.to_vec()),
        ],
        &m.cv_keys,
    )
    .expect("anchors")
}

fn main() {
    let mut runs = 5usize;
    let mut bin = madoguchi_e2e::target_dir().join("release/madoguchi");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).unwrap_or(runs),
            "--bin" => bin = args.next().map(PathBuf::from).unwrap_or(bin),
            other => {
                eprintln!("procedure-bench: unknown argument {other:?} (--runs N, --bin PATH)");
                std::process::exit(2);
            }
        }
    }
    assert!(
        bin.exists(),
        "{} missing: cargo build --release -p madoguchi",
        bin.display()
    );
    let face = madoguchi_e2e::workspace().join("../shared/faces/grace_hopper_512x512.jpg");
    assert!(
        face.exists(),
        "{} (../shared beside the repository)",
        face.display()
    );
    let mut pcscd = Pcscd::start().expect("a private pcscd with vpcd");

    // Reference: the bare reads through the card crate, same pcscd, same virtual card.
    let trust = anchors();
    let profile = madoguchi_virtual_card::profile("hopper").expect("hopper");
    let state = tempdir();
    let card = madoguchi_virtual_card::VirtualCard::new(&profile, Some(&state)).expect("card");
    pcscd.insert(card).expect("insert");
    let reader = pcscd.reader().to_owned();
    // pcscd powers the card before PC/SC lists it present: wait for the listing (≤ 10 s).
    let deadline = Instant::now() + std::time::Duration::from_secs(10);
    while !madoguchi_card::list_readers()
        .unwrap_or_default()
        .iter()
        .any(|r| r.name == reader && r.card_present)
    {
        assert!(
            Instant::now() < deadline,
            "PC/SC did not list the card within 10 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mut pin_ref = Vec::new();
    let mut code_b_ref = Vec::new();
    for _ in 0..runs {
        let pin = CardPin::new("1234".into()).expect("pin");
        let t = Instant::now();
        madoguchi_card::read_identity_from_reader(
            Some(&reader),
            &pin,
            ReadOptions::default(),
            &trust,
            madoguchi_card::today(),
            &mut |_| {},
        )
        .expect("reference read");
        pin_ref.push(t.elapsed().as_secs_f64() * 1000.0);
        let code = CodeB::new(
            Date {
                year: 1946,
                month: 12,
                day: 9,
            },
            2031,
            "2285".into(),
        )
        .expect("code B");
        let t = Instant::now();
        let mut s = madoguchi_card::CardSession::open_exclusive(Some(&reader)).expect("session");
        madoguchi_card::read_card_face_code_b(&mut s, &code, &trust, &mut |_| {}).expect("read");
        s.end().expect("end");
        code_b_ref.push(t.elapsed().as_secs_f64() * 1000.0);
    }
    // A fresh pcscd for the kiosk, as each end-to-end test has (the vpcd driver of a pcscd
    // whose card server went away does not always take a new one promptly).
    drop(pcscd);
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");

    // The kiosk: the shipped binary, its own virtual card inserted through the same vpcd.
    let mut card = Vec::new();
    let mut decision = Vec::new();
    let mut record = Vec::new();
    let mut fps = Vec::new();
    let mut code_b = Vec::new();
    for i in 0..runs * 2 {
        let data = tempdir();
        let pin_route = i % 2 == 0;
        let mut cmd = Command::new(&bin);
        cmd.args(["procedure", "identity", "--simulate", "--face"])
            .arg(&face)
            .env("MADOGUCHI_CONFIG", "/dev/null")
            .env("MADOGUCHI__STORAGE__DATA_DIR", &data)
            .env("MADOGUCHI_PIN", "1234");
        if pin_route {
            cmd.args(["--route", "pin"]);
        } else {
            cmd.args([
                "--route",
                "code-b",
                "--birth-date",
                "1946-12-09",
                "--expiry-year",
                "2031",
                "--security-code",
                "2285",
            ]);
        }
        let out = cmd.output().expect("run madoguchi");
        let text = String::from_utf8_lossy(&out.stdout);
        let last: Value = text
            .lines()
            .last()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        assert_eq!(last["outcome"], "verified", "run {i}: {last}");
        let t = &last["timings"];
        let f = |k: &str| t[k].as_f64();
        if pin_route {
            card.extend(f("card_ms"));
            decision.extend(f("decision_ms"));
            record.extend(f("record_ms"));
            fps.extend(f("preview_fps"));
        } else {
            code_b.extend(f("card_ms"));
        }
        let _ = std::fs::remove_dir_all(&data);
    }

    let rows = [
        (
            "PIN route: card work (tries + read)",
            stats(&mut card),
            3000.0,
            "≤",
            Some(stats(&mut pin_ref).1),
        ),
        (
            "照合番号B read",
            stats(&mut code_b),
            1500.0,
            "≤",
            Some(stats(&mut code_b_ref).1),
        ),
        (
            "decision after the challenge, ms",
            stats(&mut decision),
            300.0,
            "≤",
            None,
        ),
        (
            "record (ledger writes), ms",
            stats(&mut record),
            f64::NAN,
            "",
            None,
        ),
        (
            "preview frames/s during the face step",
            stats(&mut fps),
            10.0,
            "≥",
            None,
        ),
    ];
    println!(
        "procedure-bench: {runs} runs of each route with {}",
        bin.display()
    );
    println!(
        "{:<42} {:>9} {:>9} {:>9} {:>10} {:>12}",
        "figure", "min", "median", "max", "target", "vs reference"
    );
    for (name, (lo, mid, hi), target, dir, reference) in rows {
        let t = if target.is_nan() {
            "—".to_owned()
        } else {
            format!("{dir} {target:.0}")
        };
        let r = reference.map_or("—".to_owned(), |r| format!("{:.2}× ({r:.0} ms)", mid / r));
        println!("{name:<42} {lo:>9.1} {mid:>9.1} {hi:>9.1} {t:>10} {r:>12}");
    }
    println!("reference: the card crate's bare read on the same pcscd and virtual card");
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "procedure-bench-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}
