//! Migrations: empty → latest, each step from every older version with data in it, and a
//! newer database refused without being touched.

mod common;

use common::key;
use madoguchi_ledger::migrate::{LATEST, MIGRATIONS, migrate_to, schema_version};
use madoguchi_ledger::{Ledger, LedgerError, Procedure};
use rusqlite::{Connection, params};

fn schema(c: &Connection) -> Vec<(String, String)> {
    let mut stmt = c
        .prepare(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
        )
        .expect("prepare");
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("query")
        .collect::<Result<_, _>>()
        .expect("rows")
}

/// Rows that are valid at version `v` (each version adds the rows its tables allow).
fn seed(c: &Connection, v: u32) {
    if v >= 1 {
        c.execute(
            "INSERT INTO sync_state (id, last_success_ms) VALUES (1, 5)
             ON CONFLICT(id) DO UPDATE SET last_success_ms = 5",
            [],
        )
        .expect("seed v1");
    }
    if v >= 2 {
        c.execute(
            "INSERT INTO tellers (id, role, created_at_ms) VALUES ('t-old', 'teller', 1)",
            params![],
        )
        .expect("seed v2");
    }
    if v >= 3 {
        c.execute(
            "INSERT INTO revocations (credential_id, list_version) VALUES ('cred-old', 'r0')",
            [],
        )
        .expect("seed v3");
    }
}

#[test]
fn empty_to_latest() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    let l = Ledger::open(&p, key()).expect("open");
    assert_eq!(l.schema_version().expect("version"), LATEST);
    assert_eq!(LATEST as usize, MIGRATIONS.len());
    assert!(l.integrity_check().expect("integrity").ok);
    drop(l);
    let c = Connection::open(&p).expect("raw");
    let mode: String = c
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("mode");
    assert_eq!(mode, "wal");
    // Re-opening applies nothing.
    let mut c = c;
    assert_eq!(
        migrate_to(&mut c, LATEST).expect("migrate"),
        Vec::<u32>::new()
    );
}

#[test]
fn every_step_from_every_version_keeps_data_and_reaches_the_same_schema() {
    let mut direct = Connection::open_in_memory().expect("mem");
    assert_eq!(
        migrate_to(&mut direct, LATEST).expect("migrate"),
        (1..=LATEST).collect::<Vec<_>>()
    );
    let want = schema(&direct);
    for from in 0..LATEST {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("l.sqlite");
        let mut c = Connection::open(&p).expect("open");
        migrate_to(&mut c, from).expect("migrate to old version");
        assert_eq!(schema_version(&c).expect("version"), from);
        seed(&c, from);
        // One step at a time.
        for step in from + 1..=LATEST {
            assert_eq!(migrate_to(&mut c, step).expect("step"), vec![step]);
            assert_eq!(schema_version(&c).expect("version"), step);
        }
        assert_eq!(schema(&c), want, "schema after stepping from {from}");
        drop(c);
        // The ledger opens it and the old data is usable.
        let l = Ledger::open(&p, key()).expect("ledger open");
        if from >= 1 {
            assert_eq!(l.sync_state().expect("sync").last_success_ms, Some(5));
        }
        if from >= 2 {
            l.start_session(Procedure::Enrollment, "t-old")
                .expect("old teller usable");
        }
        if from >= 3 {
            assert!(l.is_revoked("cred-old").expect("revoked"));
        }
        assert!(l.integrity_check().expect("integrity").ok);
    }
}

#[test]
fn a_newer_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = dir.path().join("l.sqlite");
    drop(Ledger::open(&p, key()).expect("open"));
    {
        let c = Connection::open(&p).expect("raw");
        c.pragma_update(None, "user_version", LATEST + 1)
            .expect("bump");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE); PRAGMA journal_mode = DELETE;")
            .expect("checkpoint");
    }
    let before = std::fs::read(&p).expect("read");
    match Ledger::open(&p, key()) {
        Err(e @ LedgerError::NewerSchema { found, supported }) => {
            assert_eq!(found, LATEST + 1);
            assert_eq!(supported, LATEST);
            assert_eq!(e.code(), "ledger.newer_schema");
        }
        other => panic!("newer database opened: {other:?}"),
    }
    assert_eq!(
        std::fs::read(&p).expect("read"),
        before,
        "file was modified"
    );
    let mut c = Connection::open(&p).expect("raw");
    assert!(matches!(
        migrate_to(&mut c, LATEST),
        Err(LedgerError::NewerSchema { .. })
    ));
}
