//! The teller list on SQLite: the shared store scenario, `GET /v1/tellers` over HTTP after
//! teller events and admin changes, the admin commands, and an admin change made through a
//! second `Store` on the file of a running server.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod tellers_support;

use madoguchi_central::master_key::MasterKey;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::Store;
use madoguchi_central::tellers::Role;
use serde_json::{Value, json};
use tellers_support::{CRED_A, CRED_B, credential};

const TOKEN: &str = "teller-test-token-0123456789";

fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// The master key of a test database: in `<db>.key` beside a file (made on first use), fresh
/// for `:memory:`.
fn master(db: &str) -> MasterKey {
    if db == ":memory:" {
        return MasterKey::generate().unwrap();
    }
    key_file(std::path::Path::new(db));
    MasterKey::load(&std::path::Path::new(db).with_extension("key")).unwrap()
}

/// `<db>.key`, made when missing.
fn key_file(db: &std::path::Path) -> std::path::PathBuf {
    let p = db.with_extension("key");
    MasterKey::load_or_create(&p).unwrap();
    p
}

fn server(database: &str) -> Embedded {
    let c = Embedded::start(
        database,
        master(database),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-1", &madoguchi_central::token_digest(TOKEN))
            .await
    })
    .unwrap();
    c
}

fn get_tellers(c: &Embedded) -> Value {
    let r = reqwest::blocking::Client::new()
        .get(format!("{}/v1/tellers", c.base_url()))
        .bearer_auth(TOKEN)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn post(c: &Embedded, events: Vec<Value>) -> Value {
    let r = reqwest::blocking::Client::new()
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth(TOKEN)
        .json(&json!({ "events": events }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    r.json().unwrap()
}

fn wire(n: u64, kind: &str, payload: Value) -> Value {
    json!({"event_id": uuid(n), "kind": kind, "created_at_ms": 1_700_000_000_000u64 + n,
           "payload": payload})
}

#[tokio::test]
async fn store_scenario_on_sqlite() {
    let s = Store::open_sqlite_in_memory(master(":memory:"))
        .await
        .unwrap();
    tellers_support::scenario(&s).await;
}

#[test]
fn the_teller_list_is_served_after_events_and_admin_changes() {
    let c = server(":memory:");
    // Needs the kiosk token like every other pull.
    let r = reqwest::blocking::get(format!("{}/v1/tellers", c.base_url())).unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(get_tellers(&c), json!({"version": 0, "tellers": []}));
    c.with_store(|s| async move { s.add_teller("t-1", Role::Teller, "山田 花子").await })
        .unwrap();
    let reg = json!({"teller_id": "t-1", "credential_id": CRED_A, "registered_by": null,
                     "sign_count": 0, "at_ms": 5, "credential": credential(CRED_A, 0),
                     "audit": {"seq": 1, "hash": "00"}});
    let signed = json!({"teller_id": "t-1", "credential_id": CRED_A, "sign_count": 7,
                        "at_ms": 6, "credential": credential(CRED_A, 7)});
    let v = post(
        &c,
        vec![
            wire(1, "teller.key_registered", reg.clone()),
            wire(2, "teller.signed_in", signed.clone()),
            wire(
                3,
                "teller.key_registered",
                json!({"teller_id": "t-1", "credential_id": CRED_B,
                  "sign_count": 0, "at_ms": 7, "credential": credential(CRED_B, 0)}),
            ),
            wire(
                4,
                "teller.key_revoked",
                json!({"teller_id": "t-1", "credential_id": CRED_B,
                  "at_ms": 8}),
            ),
        ],
    );
    assert_eq!(v["stored"], 4, "{v}");
    let list = get_tellers(&c);
    assert_eq!(
        list,
        json!({"version": 2, "tellers": [{
        "id": "t-1", "display_name": "山田 花子", "role": "teller", "enabled": true,
        "credentials": [
            {"credential_id": CRED_A, "revoked": false, "sign_count": 7,
             "credential": credential(CRED_A, 7)},
            {"credential_id": CRED_B, "revoked": true, "sign_count": 0,
             "credential": credential(CRED_B, 0)},
        ]}]})
    );
    // The whole batch re-sent (a lost answer): duplicates, nothing changes.
    let v = post(
        &c,
        vec![
            wire(1, "teller.key_registered", reg),
            wire(2, "teller.signed_in", signed),
        ],
    );
    assert_eq!(v["duplicates"], 2, "{v}");
    assert_eq!(get_tellers(&c), list);
    // Disabled by the admin: the version grows and the account says so.
    c.with_store(|s| async move { s.set_teller_enabled("t-1", false).await })
        .unwrap();
    let after = get_tellers(&c);
    assert_eq!(after["version"], 3);
    assert_eq!(after["tellers"][0]["enabled"], false);
}

#[test]
fn a_second_store_on_the_file_of_a_running_server_disables_a_teller() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let c = server(db.to_str().unwrap());
    c.with_store(|s| async move { s.add_teller("t-1", Role::Teller, "山田 花子").await })
        .unwrap();
    assert_eq!(get_tellers(&c)["tellers"][0]["enabled"], true);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let other = Store::open_sqlite(&db, master(db.to_str().unwrap()))
            .await
            .unwrap();
        assert!(other.set_teller_enabled("t-1", false).await.unwrap());
    });
    let list = get_tellers(&c);
    assert_eq!(list["tellers"][0]["enabled"], false);
    assert_eq!(list["version"], 2);
}

#[test]
fn admin_commands_manage_tellers() {
    use clap::Parser;
    use std::process::ExitCode;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let key = key_file(&db);
    let run = |args: &[&str]| {
        let mut all = vec![
            "madoguchi-central",
            "--database-url",
            db.to_str().unwrap(),
            "--key-file",
            key.to_str().unwrap(),
        ];
        all.extend_from_slice(args);
        madoguchi_central::cli::run(madoguchi_central::cli::Cli::parse_from(all))
    };
    assert_eq!(
        run(&[
            "teller-add",
            "t-1",
            "--role",
            "supervisor",
            "--name",
            "山田 花子"
        ]),
        ExitCode::SUCCESS
    );
    assert_eq!(
        run(&["teller-add", "t-1", "--role", "teller", "--name", "x"]),
        ExitCode::FAILURE
    );
    assert!(
        madoguchi_central::cli::Cli::try_parse_from([
            "madoguchi-central",
            "teller-add",
            "t-2",
            "--role",
            "boss",
            "--name",
            "x"
        ])
        .is_err()
    );
    assert_eq!(run(&["teller-disable", "t-1"]), ExitCode::SUCCESS);
    assert_eq!(run(&["teller-disable", "t-none"]), ExitCode::FAILURE);
    assert_eq!(run(&["teller-revoke-key", CRED_A]), ExitCode::FAILURE);
    assert_eq!(run(&["tellers"]), ExitCode::SUCCESS);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let list = rt.block_on(async {
        let s = Store::open_sqlite(&db, master(db.to_str().unwrap()))
            .await
            .unwrap();
        s.ingest(
            "K-1",
            vec![tellers_support::registered("e1", "t-1", CRED_A, 0)],
            1,
        )
        .await
        .unwrap();
        s.tellers_list().await.unwrap()
    });
    assert_eq!(list.version, 3);
    assert_eq!(list.tellers[0].role, Role::Supervisor);
    assert!(!list.tellers[0].enabled);
    assert_eq!(run(&["teller-enable", "t-1"]), ExitCode::SUCCESS);
    assert_eq!(run(&["teller-revoke-key", CRED_A]), ExitCode::SUCCESS);
    let list = rt.block_on(async {
        Store::open_sqlite(&db, master(db.to_str().unwrap()))
            .await
            .unwrap()
            .tellers_list()
            .await
            .unwrap()
    });
    assert_eq!(list.version, 5);
    assert!(list.tellers[0].enabled);
    assert!(list.tellers[0].credentials[0].revoked_at_ms.is_some());
}

#[test]
fn the_tellers_command_prints_no_credential_bodies() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let bin = env!("CARGO_BIN_EXE_madoguchi-central");
    let key = key_file(&db);
    let run = |args: &[&str]| {
        let out = std::process::Command::new(bin)
            .arg("--database-url")
            .arg(&db)
            .arg("--key-file")
            .arg(&key)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}");
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let added = run(&[
        "teller-add",
        "t-1",
        "--role",
        "teller",
        "--name",
        "山田 花子",
    ]);
    assert_eq!(added["tellers_version"], 1);
    assert!(!added.to_string().contains("山田"));
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Store::open_sqlite(&db, master(db.to_str().unwrap()))
            .await
            .unwrap();
        s.ingest(
            "K-1",
            vec![tellers_support::registered("e1", "t-1", CRED_A, 3)],
            1,
        )
        .await
        .unwrap();
    });
    let listed = run(&["tellers"]);
    assert_eq!(listed["version"], 2);
    let cred = &listed["tellers"][0]["credentials"][0];
    assert_eq!(cred["credential_id"], CRED_A);
    assert_eq!(cred["sign_count"], 3);
    assert_eq!(cred["kiosk_id"], "K-1");
    assert!(cred.get("credential").is_none());
    assert!(!listed.to_string().contains("PUBLIC"));
    let disabled = run(&["teller-disable", "t-1"]);
    assert_eq!(
        (
            disabled["changed"].as_bool(),
            disabled["tellers_version"].as_i64()
        ),
        (Some(true), Some(3))
    );
}
