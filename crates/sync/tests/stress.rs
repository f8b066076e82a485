//! The crash and outage runs in the test suite (`sync-bench crash|outage` runs them in
//! release at other sizes; see the crate's `stress` module).
//!
//! - crash: 200 SIGKILLs of the record+drain worker at random points, then a final drain:
//!   every recorded event is at the backend exactly once.
//! - outage: 30,000 events recorded while the backend is down (the full 100,000 is
//!   `sync-bench outage`, release, for time), then it comes up: all drained, the worker's
//!   peak RSS printed and bounded.

use std::path::Path;

use madoguchi_sync::stress;

fn worker() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_sync-worker"))
}

#[test]
fn crash_200_sigkills_lose_and_duplicate_nothing() {
    let r = stress::crash_run(worker(), 200, 5).unwrap();
    let d = &r.delivery;
    println!(
        "lost={} duplicated={} recorded={} stored={} kills={} starts={} seconds={:.1}",
        d.lost, d.duplicated, d.recorded, d.stored, r.kills, r.starts, r.seconds
    );
    assert_eq!(r.kills, 200, "{r:?}");
    assert!(
        d.recorded >= 200,
        "too few events recorded to mean anything: {r:?}"
    );
    assert_eq!((d.lost, d.duplicated, d.backlog), (0, 0, 0), "{r:?}");
    assert_eq!(d.stored, d.recorded);
}

#[test]
fn outage_backlog_of_30000_drains_with_bounded_memory() {
    let r = stress::outage_run(worker(), 30_000, 500).unwrap();
    println!(
        "drained={} of {} drain_seconds={:.1} peak_rss_kib={} baseline_rss_kib={} record_rate={:.0}/s",
        r.delivery.stored,
        r.delivery.recorded,
        r.drain_seconds,
        r.peak_rss_kib,
        r.baseline_rss_kib,
        r.record_rate
    );
    assert_eq!(r.delivery.recorded, 30_000);
    assert_eq!(
        (r.delivery.lost, r.delivery.duplicated, r.delivery.backlog),
        (0, 0, 0)
    );
    // One batch in memory, whatever the backlog: the peak stays within 64 MiB of the
    // worker's resident set before the backlog existed.
    assert!(r.peak_rss_kib > 0, "no /proc?");
    assert!(
        r.peak_rss_kib < r.baseline_rss_kib + 64 * 1024,
        "peak {} KiB vs baseline {} KiB",
        r.peak_rss_kib,
        r.baseline_rss_kib
    );
}
