//! Power-cut safety: a writer process killed with SIGKILL at arbitrary points, many times,
//! leaves a database that passes `integrity_check`, has an intact audit chain, no outbox event
//! without its record (nor a record without its event), and every procedure the writer
//! reported as committed.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use madoguchi_ledger::{DataKey, Ledger};

const ROUNDS: u32 = 40;

/// Deterministic pseudo-random numbers (fixed seed) for the kill points.
struct Lcg(u64);
impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    let c = rusqlite::Connection::open(db).expect("raw open");
    c.query_row(sql, [], |r| r.get(0)).expect("count")
}

#[test]
fn sigkill_mid_write_leaves_a_consistent_ledger() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.sqlite");
    let key_file = dir.path().join("data.key");
    let key = DataKey::provision(&key_file).expect("key");
    let mut rng = Lcg(0x5EED_1ED6_E200_0001);
    let mut committed_total = 0i64;
    let mut killed_mid_stream = 0u32;
    for round in 0..ROUNDS {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ledger-crash-writer"))
            .arg(&db)
            .arg(&key_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn ledger-crash-writer");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let target = 1 + rng.next(12);
        let mut reported = 0i64;
        while (reported as u64) < target {
            let line = lines
                .next()
                .unwrap_or_else(|| panic!("round {round}: writer died early"))
                .expect("read");
            reported = line
                .strip_prefix("committed ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        }
        // Let it run into its next transaction for a random while, then pull the plug.
        std::thread::sleep(Duration::from_micros(rng.next(3000)));
        child.kill().expect("SIGKILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "writer exited by itself: {status:?}");
        // Lines the writer managed to print before dying were committed too.
        for line in lines {
            match line {
                Ok(l) => {
                    if let Some(n) = l.strip_prefix("committed ").and_then(|n| n.parse().ok()) {
                        reported = n;
                        killed_mid_stream += 1;
                    }
                }
                Err(_) => break,
            }
        }
        committed_total += reported;

        let l = Ledger::open(&db, key.clone()).expect("open after kill");
        let integrity = l.integrity_check().expect("integrity");
        assert!(integrity.ok, "round {round}: {integrity:?}");
        let audit = l.verify_audit().expect("audit");
        assert!(audit.is_intact(), "round {round}: {audit:?}");
        let consistency = l.check_consistency().expect("consistency");
        assert!(
            consistency.is_consistent(),
            "round {round}: {consistency:?}"
        );
        // Every outbox event still opens (no torn ciphertext).
        l.outbox_peek(100_000).expect("peek all pending");
        drop(l);
        let ended = count(
            &db,
            "SELECT COUNT(*) FROM sessions WHERE end_state = 'completed'",
        );
        assert!(
            ended >= committed_total,
            "round {round}: {ended} completed sessions, {committed_total} reported committed"
        );
        // Audit entries = outbox events + nothing else (no caches written here).
        let (audits, events) = (
            count(&db, "SELECT COUNT(*) FROM audit"),
            count(&db, "SELECT COUNT(*) FROM outbox"),
        );
        assert_eq!(audits, events, "round {round}");
    }
    assert!(committed_total > i64::from(ROUNDS));
    eprintln!(
        "crash test: {ROUNDS} SIGKILLs, {committed_total} procedures reported committed, \
         {killed_mid_stream} lines read after the kill"
    );
}

#[test]
fn two_writer_processes_share_one_linear_audit_chain() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.sqlite");
    let key_file = dir.path().join("data.key");
    let key = DataKey::provision(&key_file).expect("key");
    // Create the schema first so both writers start from the same file.
    drop(Ledger::open(&db, key.clone()).expect("create"));
    let mut children: Vec<_> = (0..2)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_ledger-crash-writer"))
                .arg(&db)
                .arg(&key_file)
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn ledger-crash-writer")
        })
        .collect();
    let mut readers: Vec<_> = children
        .iter_mut()
        .map(|c| BufReader::new(c.stdout.take().expect("stdout")).lines())
        .collect();
    let mut reported = 0i64;
    for r in readers.iter_mut() {
        let mut last = 0i64;
        while last < 15 {
            let line = r.next().expect("writer died early").expect("read");
            last = line
                .strip_prefix("committed ")
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("unexpected line {line:?}"));
        }
        reported += last;
    }
    for c in children.iter_mut() {
        c.kill().expect("SIGKILL");
        c.wait().expect("wait");
    }
    let l = Ledger::open(&db, key).expect("open");
    let audit = l.verify_audit().expect("audit");
    assert!(audit.is_intact(), "{audit:?}");
    assert!(l.check_consistency().expect("consistency").is_consistent());
    assert!(l.integrity_check().expect("integrity").ok);
    drop(l);
    let ended = count(
        &db,
        "SELECT COUNT(*) FROM sessions WHERE end_state = 'completed'",
    );
    assert!(ended >= reported, "{ended} < {reported}");
}
