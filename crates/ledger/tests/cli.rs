//! The `ledger` subcommands, called through `execute`/`run` as the binary does.

mod common;

use std::process::ExitCode;

use common::one_procedure;
use madoguchi_ledger::cli::{LedgerCommand, LedgerPaths, execute, run};
use madoguchi_ledger::{DataKey, Ledger};

#[test]
fn provision_status_verify_purge_rotate() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.sqlite");
    let key_file = dir.path().join("data.key");
    let paths = LedgerPaths {
        db: Some(db.clone()),
        key_file: Some(key_file.clone()),
    };
    let (out, ok) = execute(LedgerCommand::ProvisionKey {
        key_file: key_file.clone(),
    })
    .expect("provision");
    assert!(ok);
    let key = DataKey::load(&key_file).expect("load");
    assert_eq!(out["key_id"], key.id());
    // Provisioning again never overwrites.
    assert_eq!(
        run(LedgerCommand::ProvisionKey {
            key_file: key_file.clone()
        }),
        ExitCode::from(2)
    );
    // A missing database is an error, not a silently created empty one.
    assert!(
        execute(LedgerCommand::Status {
            paths: paths.clone()
        })
        .is_err()
    );
    assert!(!db.exists());

    {
        let l = Ledger::open(&db, key.clone()).expect("open");
        let (s, _) = one_procedure(&l, "t-001");
        l.record_confirmation(
            &s,
            &serde_json::json!({"format": madoguchi_ledger::CONFIRMATION_FORMAT,
                                "record_id": "rec-cli", "session_id": s,
                                "verified_at_ms": 1_796_000_000_000u64}),
        )
        .expect("confirmation");
    }
    let (out, ok) = execute(LedgerCommand::Status {
        paths: paths.clone(),
    })
    .expect("status");
    assert!(ok, "{out}");
    assert_eq!(out["outbox_backlog"], 4);
    assert_eq!(out["audit"]["entries"], 4);
    assert_eq!(
        out["confirmations"],
        serde_json::json!({"total": 1, "purged": 0})
    );
    assert_eq!(out["integrity"]["ok"], true);
    assert_eq!(out["key_id"], key.id());
    assert!(out["db_bytes"].as_u64().expect("size") > 0);

    let (out, ok) = execute(LedgerCommand::Integrity {
        paths: paths.clone(),
    })
    .expect("integrity");
    assert!(ok);
    assert_eq!(out["messages"][0], "ok");
    let (out, ok) = execute(LedgerCommand::VerifyAudit {
        paths: paths.clone(),
    })
    .expect("verify");
    assert!(ok);
    assert_eq!(out["first_broken"], serde_json::Value::Null);
    let (out, _) = execute(LedgerCommand::Purge {
        paths: paths.clone(),
        days: 30,
    })
    .expect("purge");
    assert_eq!(out["evidence_purged"], 0);
    // Nothing acknowledged yet: the confirmation is kept.
    assert_eq!(out["confirmations_purged"], 0);
    {
        let l = Ledger::open(&db, key.clone()).expect("open");
        let seqs: Vec<i64> = l
            .outbox_peek(100)
            .expect("peek")
            .iter()
            .map(|e| e.seq)
            .collect();
        l.outbox_ack(&seqs).expect("ack");
    }
    let (out, _) = execute(LedgerCommand::Purge {
        paths: paths.clone(),
        days: 30,
    })
    .expect("purge");
    assert_eq!(out["confirmations_purged"], 1);
    let (out, _) = execute(LedgerCommand::Status {
        paths: paths.clone(),
    })
    .expect("status");
    assert_eq!(
        out["confirmations"],
        serde_json::json!({"total": 1, "purged": 1})
    );

    // Rotation provisions the new key, re-encrypts and installs it over the old file.
    let new_key_file = dir.path().join("data.key.new");
    let (out, ok) = execute(LedgerCommand::RotateKey {
        paths: paths.clone(),
        new_key_file: new_key_file.clone(),
    })
    .expect("rotate");
    assert!(ok);
    assert!(!new_key_file.exists());
    let installed = DataKey::load(&key_file).expect("load");
    assert_ne!(installed.id(), key.id());
    assert_eq!(out["new_key_id"], installed.id());
    let (out, _) = execute(LedgerCommand::KeyId {
        key_file: key_file.clone(),
    })
    .expect("key id");
    assert_eq!(out["key_id"], installed.id());
    assert_eq!(run(LedgerCommand::Status { paths }), ExitCode::SUCCESS);
}

#[test]
fn a_broken_chain_exits_1() {
    let dir = tempfile::tempdir().expect("tempdir");
    let db = dir.path().join("ledger.sqlite");
    let key_file = dir.path().join("data.key");
    let key = DataKey::provision(&key_file).expect("key");
    {
        let l = Ledger::open(&db, key).expect("open");
        one_procedure(&l, "t-001");
    }
    let c = rusqlite::Connection::open(&db).expect("raw");
    c.execute_batch("DROP TRIGGER audit_no_update; UPDATE audit SET subject = 'x' WHERE seq = 2;")
        .expect("tamper");
    drop(c);
    let paths = LedgerPaths {
        db: Some(db),
        key_file: Some(key_file),
    };
    let (out, ok) = execute(LedgerCommand::VerifyAudit {
        paths: paths.clone(),
    })
    .expect("verify");
    assert!(!ok);
    assert_eq!(out["first_broken"]["seq"], 2);
    assert_eq!(out["first_broken"]["reason"], "hash_mismatch");
    assert_eq!(run(LedgerCommand::VerifyAudit { paths }), ExitCode::from(1));
}

#[test]
fn paths_not_given_come_from_the_defaults_and_their_absence_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (db, key_file) = (
        dir.path().join("ledger.sqlite"),
        dir.path().join("ledger.key"),
    );
    execute(LedgerCommand::ProvisionKey {
        key_file: key_file.clone(),
    })
    .expect("provision");
    drop(
        Ledger::open(
            &db,
            madoguchi_ledger::DataKey::load(&key_file).expect("key"),
        )
        .expect("db"),
    );
    let none = LedgerPaths {
        db: None,
        key_file: None,
    };
    let err = execute(LedgerCommand::Status {
        paths: none.clone(),
    })
    .expect_err("no paths, no defaults");
    assert!(err.to_string().contains("--db"), "{err}");
    let (out, ok) = execute(LedgerCommand::Status { paths: none }.or_default_paths(&db, &key_file))
        .expect("status with the configured paths");
    assert!(ok, "{out}");
    // A path given on the command line wins over the default.
    let given = LedgerPaths {
        db: Some(dir.path().join("elsewhere.sqlite")),
        key_file: None,
    }
    .or_defaults(&db, &key_file);
    assert_eq!(given.db, Some(dir.path().join("elsewhere.sqlite")));
    assert_eq!(given.key_file, Some(key_file));
}
