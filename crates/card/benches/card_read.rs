//! Benchmark (bench binary, `cargo bench -p madoguchi-card --bench card_read`): APDU count and
//! bytes of a full identity read, against the minimum possible with short APDUs, in process
//! (fake card) and, when pcscd and vsmartcard-vpcd are installed, the wall time through the
//! real pcscd with the virtual card.
//!
//! "Minimum possible with short APDUs": one SELECT per application, one VERIFY per secret
//! (no retry query, P2 = 80|SFI), each file read by short READ BINARYs of 256 bytes, the first
//! one by short EF id (no SELECT EF), and GET CHALLENGE + one signature for the chip check.
//! The difference is the price of the PIN policy (free retry queries) and of explicit
//! SELECT EFs.
#![allow(clippy::unwrap_used, missing_docs)]

#[path = "../tests/common/mod.rs"]
mod common;
#[path = "../tests/virtual_support/mod.rs"]
mod virtual_support;

use std::time::Instant;

use madoguchi_card::{
    CardPin, CardSession, CountingLink, Date, Progress, ReadOptions, Step, Traffic, read_identity,
};

const TODAY: Date = Date {
    year: 2026,
    month: 11,
    day: 21,
};

/// Minimum APDUs and bytes for reading files of these sizes (short APDUs).
fn minimum(file_sizes: &[usize]) -> (u32, u64) {
    let mut apdus = 0u32;
    let mut bytes = 0u64;
    // 3 SELECT DF (5 + 10 bytes, answer 2).
    apdus += 3;
    bytes += 3 * (15 + 2);
    // 2 VERIFY (PIN 4 digits, 照合番号A 12 digits) by SFI.
    apdus += 2;
    bytes += (5 + 4 + 2) + (5 + 12 + 2);
    // Reads: 5-byte command, data + 2 back.
    for &n in file_sizes {
        let chunks = n.div_ceil(256).max(1) as u32;
        apdus += chunks;
        bytes += u64::from(chunks) * (5 + 2) + n as u64;
    }
    // GET CHALLENGE (5 → 16 + 2) and the signature (5 + 51 + 1 → 256 + 2).
    apdus += 2;
    bytes += (5 + 18) + (57 + 258);
    (apdus, bytes)
}

fn report(label: &str, traffic: Traffic, sizes: &[usize], elapsed: std::time::Duration) {
    let (min_apdus, min_bytes) = minimum(sizes);
    let total = traffic.bytes_sent + traffic.bytes_received;
    println!(
        "{label}: {} APDUs, {} bytes (sent {}, received {}), {:.1} ms | minimum with short APDUs: {} APDUs, {} bytes | ratio {:.2}x APDUs, {:.2}x bytes",
        traffic.commands,
        total,
        traffic.bytes_sent,
        traffic.bytes_received,
        elapsed.as_secs_f64() * 1000.0,
        min_apdus,
        min_bytes,
        f64::from(traffic.commands) / f64::from(min_apdus),
        total as f64 / min_bytes as f64,
    );
}

fn file_sizes(events: &[Progress]) -> Vec<usize> {
    let mut sizes: Vec<(Step, usize)> = Vec::new();
    for p in events {
        match sizes.iter_mut().find(|(s, _)| *s == p.step) {
            Some(e) => e.1 = e.1.max(p.bytes_read),
            None => sizes.push((p.step, p.bytes_read)),
        }
    }
    sizes.into_iter().map(|(_, n)| n).collect()
}

fn in_process() {
    let runs = 20;
    let mut best = std::time::Duration::MAX;
    let mut last = None;
    for _ in 0..runs {
        let card = common::FakeCard::new(&common::Profile::default());
        let mut session = CardSession::exclusive(CountingLink::new(card)).unwrap();
        let mut events = Vec::new();
        let t = Instant::now();
        read_identity(
            &mut session,
            &CardPin::new("1234".into()).unwrap(),
            ReadOptions::default(),
            &common::anchors(),
            TODAY,
            &mut |p| events.push(p),
        )
        .unwrap();
        best = best.min(t.elapsed());
        last = Some((session.link().traffic(), file_sizes(&events)));
    }
    let (traffic, sizes) = last.unwrap();
    println!("files read (bytes): {sizes:?}");
    report("in-process fake card (best of 20)", traffic, &sizes, best);
}

/// One full read over `link`, returning traffic, file sizes and the wall time.
fn one_read<L: madoguchi_card::CardLink>(
    link: L,
    pin: &str,
    trust: &madoguchi_card::TrustAnchors,
) -> (Traffic, Vec<usize>, std::time::Duration) {
    let t = Instant::now();
    let mut session = CardSession::exclusive(CountingLink::new(link)).unwrap();
    let mut events = Vec::new();
    read_identity(
        &mut session,
        &CardPin::new(pin.into()).unwrap(),
        ReadOptions::default(),
        trust,
        TODAY,
        &mut |p| events.push(p),
    )
    .unwrap();
    let traffic = session.link().traffic();
    session.end().unwrap();
    (traffic, file_sizes(&events), t.elapsed())
}

fn virtual_in_process() {
    let trust = virtual_support::anchors();
    let mut best = None::<(Traffic, Vec<usize>, std::time::Duration)>;
    for _ in 0..10 {
        let r = one_read(virtual_support::VirtualLink::new("hopper"), "1234", &trust);
        if best.as_ref().is_none_or(|b| r.2 < b.2) {
            best = Some(r);
        }
    }
    let (traffic, sizes, t) = best.unwrap();
    println!("files read (bytes): {sizes:?}");
    report("virtual card in process (best of 10)", traffic, &sizes, t);
}

fn virtual_through_pcscd() {
    use madoguchi_virtual_card::harness::Pcscd;
    let mut pcscd = match Pcscd::start() {
        Ok(p) => p,
        Err(e) => {
            println!("through pcscd: not measured ({e})");
            return;
        }
    };
    let p = madoguchi_virtual_card::profile("hopper").unwrap();
    pcscd
        .insert(madoguchi_virtual_card::VirtualCard::new(&p, None).unwrap())
        .unwrap();
    let trust = virtual_support::anchors();
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        // Wait until PC/SC reports the card (pcscd polls the reader).
        let deadline = Instant::now() + std::time::Duration::from_secs(10);
        while !madoguchi_card::list_readers()
            .unwrap()
            .iter()
            .any(|r| r.card_present)
        {
            assert!(Instant::now() < deadline, "no card");
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let link = madoguchi_card::PcscLink::connect(Some(pcscd.reader()), true).unwrap();
        let r = one_read(link, "1234", &trust);
        times.push(r.2);
        last = Some(r);
    }
    times.sort();
    let (traffic, sizes, _) = last.unwrap();
    report(
        &format!(
            "virtual card through pcscd + vpcd (median of 5; min {:?}, max {:?})",
            times[0], times[4]
        ),
        traffic,
        &sizes,
        times[2],
    );
    println!(
        "  per APDU through pcscd: {:.2} ms",
        times[2].as_secs_f64() * 1000.0 / f64::from(traffic.commands)
    );
}

fn main() {
    in_process();
    virtual_in_process();
    virtual_through_pcscd();
}
