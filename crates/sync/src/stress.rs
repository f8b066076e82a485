//! The crash, outage and throughput runs, shared by the integration tests (small sizes) and
//! the `sync-bench` binary (full sizes). Not used by the kiosk.
//!
//! - [`crash_run`]: a loopback central backend runs in this process; the `sync-worker`
//!   binary (record + drain against a ledger file) is started and killed with SIGKILL at
//!   random points, again and again, then left to finish. The backend's events are then
//!   counted per recorded number: `lost` and `duplicated` must both be 0.
//! - [`outage_run`]: the worker records events while the backend is down (its drain attempts
//!   fail), then the backend comes up and the worker drains everything; the worker reports
//!   its peak RSS.
//! - [`drain_bench`]: record rate into the ledger, drain rate to the loopback backend, and a
//!   reference rate (the same batches POSTed directly) measured in the same run.
//!
//! What it does NOT do: talk to anything but 127.0.0.1, or run unbounded (every loop has a
//! count and a deadline).

use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use madoguchi_central::server::{Embedded, Limits};
use madoguchi_ledger::{DataKey, Ledger};
use serde::Serialize;
use serde_json::json;

use crate::drain::{DrainOptions, Outbox, drain};
use crate::{Client, ClientOptions, KioskToken, SyncError};

/// The kiosk id and token the runs register.
/// The kiosk id the fixture registers.
pub const KIOSK: &str = "K-STRESS";

/// Files of one run's kiosk.
#[derive(Debug)]
pub struct Fixture {
    /// Temporary directory (removed on drop).
    pub dir: tempfile::TempDir,
    /// Ledger file.
    pub db: PathBuf,
    /// Data key file.
    pub key_file: PathBuf,
    /// Token file.
    pub token_file: PathBuf,
    /// Central's SQLite file.
    pub central_db: PathBuf,
}

fn err(m: impl std::fmt::Display) -> SyncError {
    SyncError::Config(m.to_string())
}

impl Fixture {
    /// Creates the files: a fresh ledger key (0600), a token, empty databases.
    pub fn new() -> Result<Fixture, SyncError> {
        let dir = tempfile::tempdir().map_err(err)?;
        let key_file = dir.path().join("ledger.key");
        let mut k = [0u8; 32];
        getrandom::fill(&mut k).map_err(err)?;
        let hexkey: String = k.iter().map(|b| format!("{b:02x}")).collect();
        write_private(&key_file, hexkey.as_bytes())?;
        let token_file = dir.path().join("kiosk.token");
        write_private(&token_file, crate::drain::new_event_id()?.as_bytes())?;
        Ok(Fixture {
            db: dir.path().join("ledger.sqlite"),
            central_db: dir.path().join("central.sqlite"),
            key_file,
            token_file,
            dir,
        })
    }

    /// Opens the kiosk's ledger.
    pub fn ledger(&self) -> Result<Ledger, SyncError> {
        Ok(Ledger::open(&self.db, DataKey::load(&self.key_file)?)?)
    }

    /// Starts a central backend on `listen` over this fixture's database, with the kiosk
    /// registered.
    pub fn central(&self, listen: &str) -> Result<Embedded, SyncError> {
        let addr = listen.parse().map_err(err)?;
        let (master, _) = madoguchi_central::master_key::MasterKey::load_or_create(
            &self.central_db.with_extension("key"),
        )
        .map_err(err)?;
        let c = Embedded::start(
            self.central_db.to_str().ok_or_else(|| err("path"))?,
            master,
            addr,
            Limits::default(),
        )
        .map_err(err)?;
        let token = std::fs::read_to_string(&self.token_file).map_err(err)?;
        c.with_store(|s| async move {
            s.add_kiosk(KIOSK, &madoguchi_central::token_digest(token.trim()))
                .await
        })
        .map_err(err)?;
        Ok(c)
    }

    fn worker(&self, exe: &Path, url: &str, mode: &str, extra: &[String]) -> Command {
        let mut c = Command::new(exe);
        c.arg(mode)
            .arg("--db")
            .arg(&self.db)
            .arg("--key-file")
            .arg(&self.key_file)
            .arg("--url")
            .arg(url)
            .arg("--token-file")
            .arg(&self.token_file)
            .args(extra)
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        c
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), SyncError> {
    use std::io::Write as _;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        o.mode(0o600);
    }
    o.open(path)
        .and_then(|mut f| f.write_all(bytes))
        .map_err(err)
}

/// Counts of a delivery audit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Delivery {
    /// Events recorded in the ledger.
    pub recorded: u64,
    /// Events the backend holds.
    pub stored: u64,
    /// Recorded events the backend does not hold.
    pub lost: u64,
    /// Extra copies the backend holds.
    pub duplicated: u64,
    /// Unacknowledged events left in the ledger.
    pub backlog: u64,
}

/// Compares the ledger's events (payload `{"n": 0..recorded}`) with the backend's.
pub fn audit_delivery(ledger: &Ledger, central: &Embedded) -> Result<Delivery, SyncError> {
    let recorded = ledger.outbox_total()?;
    let mut seen = vec![0u32; usize::try_from(recorded).map_err(err)?];
    let mut d = Delivery {
        recorded,
        backlog: ledger.outbox_backlog()?,
        ..Delivery::default()
    };
    let mut after = String::new();
    loop {
        let page = central
            .with_store(|s| {
                let a = after.clone();
                async move { s.list_events(&a, 5000).await }
            })
            .map_err(err)?;
        let Some(last) = page.last() else { break };
        after = last.event_id.clone();
        for e in &page {
            d.stored += 1;
            let n = serde_json::from_str::<serde_json::Value>(&e.payload)
                .ok()
                .and_then(|v| v.get("n").and_then(serde_json::Value::as_u64))
                .and_then(|n| usize::try_from(n).ok());
            match n.and_then(|n| seen.get_mut(n)) {
                Some(c) => *c += 1,
                // Not one of ours: counts as a duplicate/foreign copy.
                None => d.duplicated += 1,
            }
        }
    }
    for c in seen {
        match c {
            0 => d.lost += 1,
            1 => {}
            c => d.duplicated += u64::from(c - 1),
        }
    }
    Ok(d)
}

/// What a crash run found.
#[derive(Debug, Clone, Serialize)]
pub struct CrashReport {
    /// SIGKILLs delivered to a running worker.
    pub kills: u32,
    /// Workers started.
    pub starts: u32,
    /// The audit after the final, uninterrupted run.
    pub delivery: Delivery,
    /// Wall time.
    pub seconds: f64,
}

fn rand_between(lo: u64, hi: u64) -> u64 {
    lo + getrandom::u64().unwrap_or(0) % (hi - lo + 1)
}

fn wait_with_deadline(child: &mut Child, limit: Duration) -> Result<bool, SyncError> {
    let until = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().map_err(err)? {
            return Ok(st.success());
        }
        if Instant::now() >= until {
            let _ = child.kill();
            let _ = child.wait();
            return Ok(false);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Kills the record+drain worker `kills` times with SIGKILL at random points (5–150 ms after
/// its start), then lets a last worker drain everything, and audits the delivery.
pub fn crash_run(worker: &Path, kills: u32, batch: usize) -> Result<CrashReport, SyncError> {
    let started = Instant::now();
    let fx = Fixture::new()?;
    let central = fx.central("127.0.0.1:0")?;
    let url = central.base_url();
    let extra = ["--batch".to_owned(), batch.to_string()];
    let (mut done, mut starts) = (0u32, 0u32);
    // Bounded: at most 3 starts per kill wanted.
    while done < kills && starts < kills.saturating_mul(3) {
        starts += 1;
        let mut child = fx
            .worker(worker, &url, "crash", &extra)
            .stdout(Stdio::null())
            .spawn()
            .map_err(err)?;
        std::thread::sleep(Duration::from_millis(rand_between(5, 150)));
        if child.try_wait().map_err(err)?.is_none() {
            child.kill().map_err(err)?; // SIGKILL on Unix
            done += 1;
        }
        let _ = child.wait();
    }
    let mut last = fx
        .worker(worker, &url, "drain", &extra)
        .stdout(Stdio::null())
        .spawn()
        .map_err(err)?;
    if !wait_with_deadline(&mut last, Duration::from_secs(120))? {
        return Err(err("the final drain did not finish"));
    }
    let ledger = fx.ledger()?;
    let delivery = audit_delivery(&ledger, &central)?;
    Ok(CrashReport {
        kills: done,
        starts,
        delivery,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// What an outage run found.
#[derive(Debug, Clone, Serialize)]
pub struct OutageReport {
    /// The audit after the drain.
    pub delivery: Delivery,
    /// Events per second recorded by the worker while the backend was down.
    pub record_rate: f64,
    /// Seconds the worker took to drain the backlog once the backend was up.
    pub drain_seconds: f64,
    /// The worker's resident set after opening the ledger and the client, before the backlog (KiB).
    pub baseline_rss_kib: u64,
    /// The worker's peak resident set (VmHWM, KiB).
    pub peak_rss_kib: u64,
}

/// The backend is down while the worker records `events` (trying to drain every 5,000), then
/// comes up on the same port; the worker drains everything and reports its peak RSS.
pub fn outage_run(worker: &Path, events: u64, batch: usize) -> Result<OutageReport, SyncError> {
    let fx = Fixture::new()?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(err)?
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let extra = [
        "--batch".to_owned(),
        batch.to_string(),
        "--events".to_owned(),
        events.to_string(),
    ];
    let mut child = fx
        .worker(worker, &url, "outage", &extra)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(err)?;
    let stdout = child.stdout.take().ok_or_else(|| err("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    let first = lines
        .next()
        .ok_or_else(|| err("worker ended before recording"))?
        .map_err(err)?;
    let recorded: serde_json::Value = serde_json::from_str(&first).map_err(err)?;
    // The backend comes up now, on the port the worker keeps trying.
    let central = fx.central(&format!("127.0.0.1:{port}"))?;
    let last = lines
        .next()
        .ok_or_else(|| err("worker ended without a report"))?
        .map_err(err)?;
    let ok = wait_with_deadline(&mut child, Duration::from_secs(600))?;
    let fin: serde_json::Value = serde_json::from_str(&last).map_err(err)?;
    if !ok {
        return Err(err(format!("worker failed: {fin}")));
    }
    let ledger = fx.ledger()?;
    let delivery = audit_delivery(&ledger, &central)?;
    let num = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(serde_json::Value::as_f64).unwrap_or(0.0)
    };
    Ok(OutageReport {
        delivery,
        record_rate: num(&recorded, "record_rate"),
        drain_seconds: num(&fin, "drain_seconds"),
        baseline_rss_kib: num(&recorded, "baseline_rss_kib") as u64,
        peak_rss_kib: num(&fin, "peak_rss_kib") as u64,
    })
}

/// `VmRSS` or `VmHWM` of this process in KiB (0 where /proc is missing).
pub fn rss_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|n| n.parse().ok()))
        })
        .unwrap_or(0)
}

/// The worker's side of the runs (the `sync-worker` binary calls this).
pub mod worker {
    use super::*;

    /// Client for the worker.
    pub fn client(url: &str, token_file: &Path, timeout: Duration) -> Result<Client, SyncError> {
        let mut o = ClientOptions::new(url);
        o.token = Some(KioskToken::from_file(token_file)?);
        o.timeout = timeout;
        Client::new(o)
    }

    /// Records events `{"n": outbox_total}` and drains, forever (until killed; bounded by
    /// `max_events` and `max_time`).
    pub fn crash(
        ledger: &Ledger,
        client: &Client,
        batch: usize,
        max_events: u64,
        max_time: Duration,
    ) -> Result<(), SyncError> {
        let until = Instant::now() + max_time;
        while Instant::now() < until {
            for _ in 0..3 {
                let n = ledger.outbox_total()?;
                if n >= max_events {
                    break;
                }
                ledger.append_event("test.crash", &json!({ "n": n }))?;
            }
            let events = ledger.peek(batch)?;
            if !events.is_empty() && crate::drain::send_batch(ledger, client, &events).is_err() {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(())
    }

    /// Drains until empty (bounded by `max_time`).
    pub fn drain_all(
        ledger: &Ledger,
        client: &Client,
        batch: usize,
        max_time: Duration,
    ) -> Result<crate::DrainReport, SyncError> {
        let opts = DrainOptions {
            batch_size: batch,
            backoff_base: Duration::from_millis(50),
            backoff_max: Duration::from_secs(1),
            deadline: Some(Instant::now() + max_time),
            ..DrainOptions::default()
        };
        drain(ledger, client, &opts, &mut std::thread::sleep)
    }

    /// Records `events` while the backend is down (a drain attempt every 5,000), prints a
    /// JSON line, then drains everything and prints a final JSON line with the peak RSS.
    pub fn outage(
        ledger: &Ledger,
        client: &Client,
        batch: usize,
        events: u64,
        max_time: Duration,
    ) -> Result<(), SyncError> {
        let baseline = rss_kib("VmRSS:");
        let t = Instant::now();
        let mut failed_attempts = 0u64;
        let opts = DrainOptions {
            batch_size: batch,
            max_attempts: Some(1),
            ..DrainOptions::default()
        };
        // Recorded in chunks of 100 per transaction (as a busy branch's many small
        // transactions would add up to), a drain attempt every 5,000.
        let mut n = 0u64;
        while n < events {
            let chunk: Vec<(&str, serde_json::Value)> = (n..events.min(n + 100))
                .map(|i| ("test.outage", json!({ "n": i })))
                .collect();
            n += chunk.len() as u64;
            ledger.append_events(&chunk)?;
            if n.is_multiple_of(5000) && drain(ledger, client, &opts, &mut |_| {}).is_err() {
                failed_attempts += 1;
            }
        }
        let record_secs = t.elapsed().as_secs_f64();
        println!(
            "{}",
            json!({"recorded": events, "record_rate": events as f64 / record_secs.max(1e-9),
                   "failed_drain_attempts": failed_attempts, "baseline_rss_kib": baseline})
        );
        let t = Instant::now();
        let report = drain_all(ledger, client, batch, max_time)?;
        println!(
            "{}",
            json!({"drain": report, "drain_seconds": t.elapsed().as_secs_f64(),
                   "peak_rss_kib": rss_kib("VmHWM:")})
        );
        if report.complete {
            Ok(())
        } else {
            Err(err("backlog not drained before the deadline"))
        }
    }
}

/// Throughput figures.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    /// Events.
    pub events: u64,
    /// Batch size.
    pub batch: usize,
    /// Events per second written into the ledger, one transaction each.
    pub record_per_s: f64,
    /// Events per second written into the ledger, 500 per transaction.
    pub record_batched_per_s: f64,
    /// Events per second drained from the ledger to the loopback backend.
    pub drain_per_s: f64,
    /// Events per second of the same batches POSTed directly (no ledger), same backend.
    pub reference_per_s: f64,
    /// drain / reference.
    pub ratio: f64,
}

/// Records `events` into a fresh ledger, drains them to a loopback backend in batches of
/// `batch`, then POSTs the same number of events directly as a reference.
pub fn drain_bench(events: u64, batch: usize) -> Result<BenchReport, SyncError> {
    let fx = Fixture::new()?;
    let central = fx.central("127.0.0.1:0")?;
    let ledger = fx.ledger()?;
    let payload =
        |n: u64| json!({"n": n, "decision": "match", "score": 0.87, "procedure": "identity"});
    // Record rate: one transaction (one fsync) per event, as the kiosk writes them, on the
    // first events (at most 2,000); the rest are written 500 per transaction.
    let single = events.min(2000);
    let t = Instant::now();
    for n in 0..single {
        ledger.append_event("bench.outcome", &payload(n))?;
    }
    let record_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut n = single;
    while n < events {
        let chunk: Vec<(&str, serde_json::Value)> = (n..events.min(n + 500))
            .map(|i| ("bench.outcome", payload(i)))
            .collect();
        n += chunk.len() as u64;
        ledger.append_events(&chunk)?;
    }
    let batched_s = t.elapsed().as_secs_f64();
    let client = worker::client(&central.base_url(), &fx.token_file, Duration::from_secs(30))?;
    let t = Instant::now();
    let r = worker::drain_all(&ledger, &client, batch, Duration::from_secs(600))?;
    let drain_s = t.elapsed().as_secs_f64();
    if !r.complete || r.sent != events {
        return Err(err(format!("drained {} of {events}", r.sent)));
    }
    // Reference: the same wire batches, built in memory, POSTed one after another.
    let mem = crate::MemoryOutbox::new();
    for n in 0..events {
        mem.push("bench.outcome", &payload(n))?;
    }
    let t = Instant::now();
    loop {
        let evs = mem.peek(batch)?;
        if evs.is_empty() {
            break;
        }
        crate::drain::send_batch(&mem, &client, &evs)?;
    }
    let ref_s = t.elapsed().as_secs_f64();
    let per = |s: f64| events as f64 / s.max(1e-9);
    Ok(BenchReport {
        events,
        batch,
        record_per_s: single as f64 / record_s.max(1e-9),
        record_batched_per_s: (events - single) as f64 / batched_s.max(1e-9),
        drain_per_s: per(drain_s),
        reference_per_s: per(ref_s),
        ratio: ref_s / drain_s.max(1e-9),
    })
}
