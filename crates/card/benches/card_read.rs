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

fn main() {
    in_process();
}
