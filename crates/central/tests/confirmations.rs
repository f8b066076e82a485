//! Confirmation records (確認記録) at the backend, on SQLite: the shared store scenario, the
//! kiosk ledger's real events through the HTTP API (stored once, acknowledged, then purged on
//! the kiosk), the server's purge at start, the retention option, the admin commands, and the
//! purged text gone from the database file.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod confirmation_support;

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use confirmation_support::{DAY_MS, NAME, VERIFIED_AT_MS, document, event, uuid};
use madoguchi_central::confirmation::Retention;
use madoguchi_central::master_key::MasterKey;
use madoguchi_central::server::{Embedded, Limits, NotChecked};
use madoguchi_central::store::Store;
use madoguchi_ledger::{DataKey, Ledger, Procedure, TellerRole};
use serde_json::{Value, json};

const TOKEN: &str = "confirmation-kiosk-token-0123456789";

fn central_bin() -> &'static std::path::Path {
    std::path::Path::new(env!("CARGO_BIN_EXE_madoguchi-central"))
}

/// The master key of a test database: in `<db>.key` beside a file, fresh for `:memory:`.
fn master(db: &str) -> MasterKey {
    if db == ":memory:" {
        return MasterKey::generate().unwrap();
    }
    MasterKey::load_or_create(&std::path::Path::new(db).with_extension("key"))
        .unwrap()
        .0
}

fn admin(db: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(central_bin())
        .arg("--db")
        .arg(db)
        .arg("--key-file")
        .arg(db.with_extension("key"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "madoguchi-central {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn embedded(db: &str, retention: Retention) -> Embedded {
    let c = Embedded::start_with_options(
        db,
        master(db),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
        Arc::new(NotChecked),
        retention,
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-0001", &madoguchi_central::token_digest(TOKEN))
            .await
    })
    .unwrap();
    c
}

fn post(c: &Embedded, events: &[Value]) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[tokio::test]
async fn the_store_scenario_on_sqlite() {
    let s = Store::open_sqlite_in_memory(MasterKey::generate().unwrap())
        .await
        .unwrap();
    confirmation_support::scenario(&s).await;
}

#[test]
fn a_ledger_confirmation_is_stored_once_acknowledged_and_purged_on_the_kiosk() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let c = embedded(db.to_str().unwrap(), Retention::default());

    let ledger = Ledger::open_in_memory(DataKey::from_bytes([9; 32])).unwrap();
    ledger.register_teller("t-001", TellerRole::Teller).unwrap();
    let session = ledger
        .start_session(Procedure::IdentityVerification, "t-001")
        .unwrap();
    let verified_at = madoguchi_central::now_ms();
    let doc = document("rec-e2e", &session.id, verified_at);
    ledger.record_confirmation(&session.id, &doc).unwrap();

    let outbox = ledger.outbox_peek(100).unwrap();
    let wire: Vec<Value> = outbox
        .iter()
        .map(|e| {
            json!({"event_id": e.event_id, "kind": e.kind, "created_at_ms": e.created_at_ms,
                   "payload": serde_json::from_slice::<Value>(&e.payload).unwrap()})
        })
        .collect();
    assert_eq!(post(&c, &wire)["stored"], 3);
    // Re-sent (the kiosk crashed before acknowledging): no second record.
    let v = post(&c, &wire);
    assert_eq!(
        (v["stored"].as_u64(), v["duplicates"].as_u64()),
        (Some(0), Some(3))
    );
    let records = c
        .with_store(|s| async move { s.confirmation_records(100, "").await })
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].record_id, "rec-e2e");
    assert_eq!(records[0].session_id, session.id);
    assert_eq!(
        serde_json::from_str::<Value>(&records[0].payload).unwrap(),
        doc
    );
    assert_eq!(
        records[0].retain_until_ms,
        verified_at + 2557 * DAY_MS,
        "7 years by default"
    );

    // The kiosk acknowledges what the backend listed, then purges its copy.
    let seqs: Vec<i64> = outbox.iter().map(|e| e.seq).collect();
    ledger.outbox_ack(&seqs).unwrap();
    assert_eq!(ledger.purge_acknowledged_confirmations().unwrap(), 1);
    assert!(ledger.load_confirmation("rec-e2e").unwrap().is_none());
    drop(c);

    // The auditors' listing: ids and dates by default, the whole record with --json.
    let text = admin(&db, &["confirmations"]);
    assert!(text.starts_with("rec-e2e\tK-0001\t"), "{text}");
    assert!(!text.contains(NAME), "{text}");
    let lines = admin(&db, &["confirmations", "--json"]);
    let line: Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(line["record"], doc);
    assert_eq!(line["kiosk_id"], "K-0001");
    assert_eq!(admin(&db, &["confirmations", "--after", "rec-e2e"]), "");
    let stats: Value = serde_json::from_str(&admin(&db, &["stats"])).unwrap();
    assert_eq!(
        stats["confirmations"],
        json!({"records": 1, "purged": 0, "malformed": 0, "malformed_reasons": {}})
    );
    // Not yet due.
    let purged: Value = serde_json::from_str(&admin(&db, &["purge-confirmations"])).unwrap();
    assert_eq!(purged["confirmations_purged"], 0);
}

#[test]
fn the_server_purges_expired_records_at_start_and_the_text_leaves_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let url = db.to_str().unwrap().to_owned();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Store::open(&url, master(&url)).await.unwrap();
        // Verified in 2001: 7 years are long past. One recent record stays.
        let old = document("rec-old", "sess-old", 1_000_000_000_000);
        let recent = document("rec-recent", "sess-new", VERIFIED_AT_MS);
        s.ingest(
            "K-0001",
            vec![event(&uuid(1), &old), event(&uuid(2), &recent)],
            madoguchi_central::now_ms(),
        )
        .await
        .unwrap();
        assert_eq!(s.confirmation_counts().await.unwrap().records, 2);
    });
    drop(rt);
    let bytes = std::fs::read(&db).unwrap();
    let mut wal = db.clone().into_os_string();
    wal.push("-wal");
    let all = [bytes, std::fs::read(&wal).unwrap_or_default()].concat();
    assert!(contains(&all, "sess-old".as_bytes()), "scan sees nothing");

    let c = embedded(&url, Retention::default());
    let until = Instant::now() + Duration::from_secs(20);
    loop {
        let counts = c
            .with_store(|s| async move { s.confirmation_counts().await })
            .unwrap();
        if counts.purged == 1 {
            assert_eq!(counts.records, 1);
            break;
        }
        assert!(Instant::now() < until, "no purge at start: {counts:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
    let left = c
        .with_store(|s| async move { s.confirmation_records(10, "").await })
        .unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].record_id, "rec-recent");
    // Purge the recent one too (as if years later), then look at the raw file: the names are
    // gone from the main file and the WAL.
    let n = c
        .with_store(|s| async move { s.purge_expired_confirmations(i64::MAX).await })
        .unwrap();
    assert_eq!(n, 1);
    drop(c);
    let mut all = std::fs::read(&db).unwrap();
    all.extend(std::fs::read(&wal).unwrap_or_default());
    assert!(contains(&all, b"rec-old"), "the purge log keeps the id");
    for needle in [
        NAME.as_bytes(),
        b"CENTRAL-ADDRESS-MARKER",
        "検証 太郎".as_bytes(),
    ] {
        assert!(
            !contains(&all, needle),
            "{:?} still in the database file",
            String::from_utf8_lossy(needle)
        );
    }
    let stats: Value = serde_json::from_str(&admin(&db, &["stats"])).unwrap();
    assert_eq!(stats["confirmations"]["purged"], 2);
    assert_eq!(stats["confirmations"]["records"], 0);
}

#[test]
fn the_retention_period_is_configurable_and_malformed_payloads_are_acknowledged() {
    let c = embedded(
        ":memory:",
        Retention {
            confirmation_days: 30,
        },
    );
    let doc = document("rec-30", "sess-30", VERIFIED_AT_MS);
    let good = event(&uuid(0x30), &doc);
    let v = post(
        &c,
        &[
            json!({"event_id": good.event_id, "kind": good.kind, "created_at_ms": 1,
                   "payload": serde_json::from_str::<Value>(&good.payload).unwrap()}),
            json!({"event_id": uuid(0x31), "kind": "confirmation.recorded", "created_at_ms": 1,
                   "payload": {"record": {"format": "madoguchi-confirmation/9"}}}),
            json!({"event_id": uuid(0x32), "kind": "confirmation.recorded", "created_at_ms": 1,
                   "payload": "not an object"}),
        ],
    );
    assert_eq!(v["stored"], 3, "{v}");
    let (records, counts) = c
        .with_store(|s| async move {
            Ok((
                s.confirmation_records(10, "").await?,
                s.confirmation_counts().await?,
            ))
        })
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].retain_until_ms, VERIFIED_AT_MS + 30 * DAY_MS);
    assert_eq!(counts.malformed, 2);
    assert_eq!(counts.malformed_reasons.get("unknown_format"), Some(&1));
    assert_eq!(counts.malformed_reasons.get("not_an_object"), Some(&1));
}

#[test]
fn serve_takes_the_retention_option_and_refuses_nonsense() {
    use clap::Parser;
    use madoguchi_central::cli::{Cli, Command as Sub};
    let cli = Cli::parse_from([
        "madoguchi-central",
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--confirmation-retention-days",
        "3650",
    ]);
    assert!(matches!(
        cli.command,
        Sub::Serve {
            confirmation_retention_days: 3650,
            ..
        }
    ));
    let cli = Cli::parse_from(["madoguchi-central", "serve", "--listen", "127.0.0.1:0"]);
    assert!(matches!(
        cli.command,
        Sub::Serve {
            confirmation_retention_days: 2557,
            ..
        }
    ));
    for bad in ["0", "-1", "36501", "seven"] {
        assert!(
            Cli::try_parse_from([
                "madoguchi-central",
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--confirmation-retention-days",
                bad,
            ])
            .is_err(),
            "{bad}"
        );
    }
}
