//! HTTP tests of the sync API against an embedded central backend on loopback (SQLite).
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

use madoguchi_central::master_key::MasterKey;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_wire::{RevocationList, SignedList, TrustList};
use serde_json::{Value, json};

const TOKEN: &str = "test-token-0123456789abcdef";

fn server(limits: Limits) -> Embedded {
    let c = Embedded::start(
        ":memory:",
        MasterKey::generate().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        limits,
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-0001", &madoguchi_central::token_digest(TOKEN))
            .await
    })
    .unwrap();
    c
}

fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn event(id: &str, n: u64) -> Value {
    json!({"event_id": id, "kind": "test.event", "created_at_ms": 1_700_000_000_000u64 + n,
           "payload": {"n": n}})
}

fn uuid(n: u64) -> String {
    format!("00000000-0000-4000-8000-{n:012x}")
}

fn post_batch(c: &Embedded, body: &Value) -> reqwest::blocking::Response {
    client()
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth(TOKEN)
        .json(body)
        .send()
        .unwrap()
}

#[test]
fn health_and_time_need_no_token() {
    let c = server(Limits::default());
    let r = client()
        .get(format!("{}/v1/health", c.base_url()))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["status"], "ok");
    let before = madoguchi_central::now_ms();
    let t: Value = client()
        .get(format!("{}/v1/time", c.base_url()))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let server_ms = t["server_time_ms"].as_i64().unwrap();
    assert!(
        (server_ms - before).abs() < 5_000,
        "{server_ms} vs {before}"
    );
    let doc = client()
        .get(format!("{}/v1/openapi.yaml", c.base_url()))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert_eq!(doc, madoguchi_central::OPENAPI_YAML);
}

#[test]
fn batch_ingest_is_idempotent() {
    let c = server(Limits::default());
    let r = post_batch(
        &c,
        &json!({"events": [event(&uuid(1), 1), event(&uuid(2), 2)]}),
    );
    assert_eq!(r.status(), 200);
    let v: Value = r.json().unwrap();
    assert_eq!(v["stored"], 2);
    // Re-sent (with one new event): acknowledged, stored once.
    let v: Value = post_batch(
        &c,
        &json!({"events": [event(&uuid(2), 2), event(&uuid(3), 3)]}),
    )
    .json()
    .unwrap();
    assert_eq!(
        (v["stored"].as_u64(), v["duplicates"].as_u64()),
        (Some(1), Some(1))
    );
    assert_eq!(v["results"][0]["status"], "duplicate");
    assert_eq!(v["results"][1]["status"], "stored");
    // Same id, other content: acknowledged as a conflict, the first version kept.
    let v: Value = post_batch(&c, &json!({"events": [event(&uuid(1), 99)]}))
        .json()
        .unwrap();
    assert_eq!(v["results"][0]["status"], "conflict");
    let events = c
        .with_store(|s| async move { s.list_events("", 100).await })
        .unwrap();
    assert_eq!(events.len(), 3);
    assert_eq!(events[0].payload, r#"{"n":1}"#);
    assert_eq!(events[0].kiosk_id, "K-0001");
}

#[test]
fn token_is_required_and_checked() {
    let c = server(Limits::default());
    let body = json!({"events": [event(&uuid(1), 1)]});
    let url = format!("{}/v1/events/batch", c.base_url());
    let r = client().post(&url).json(&body).send().unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let r = client()
        .post(&url)
        .bearer_auth("not-the-token")
        .json(&body)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    for path in [
        "trust-list",
        "revocations",
        "thresholds",
        "template-keys",
        "tellers",
        "list-key",
    ] {
        let r = client()
            .get(format!("{}/v1/{path}", c.base_url()))
            .send()
            .unwrap();
        assert_eq!(r.status(), 401, "{path}");
    }
    let r = client()
        .put(format!("{}/v1/kiosk-keys", c.base_url()))
        .bearer_auth("not-the-token")
        .json(&json!({}))
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        c.with_store(|s| async move { s.event_count().await })
            .unwrap(),
        0
    );
}

#[test]
fn bad_requests_get_4xx_never_5xx() {
    let c = server(Limits {
        max_body_bytes: 64 * 1024,
        max_batch: 10,
        ..Limits::default()
    });
    let url = format!("{}/v1/events/batch", c.base_url());
    let raw = |body: Vec<u8>, ctype: &str| {
        client()
            .post(&url)
            .bearer_auth(TOKEN)
            .header("content-type", ctype)
            .body(body)
            .send()
            .unwrap()
    };
    let j = "application/json";
    // Oversized body.
    let r = raw(vec![b' '; 65 * 1024], j);
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().unwrap()["code"], "too_large");
    // Too many events.
    let many: Vec<Value> = (0..11).map(|n| event(&uuid(n), n)).collect();
    assert_eq!(post_batch(&c, &json!({ "events": many })).status(), 413);
    // Malformed JSON, wrong content type.
    assert_eq!(raw(b"{\"events\": [".to_vec(), j).status(), 400);
    assert_eq!(raw(b"\xff\xfe".to_vec(), j).status(), 400);
    assert_eq!(
        raw(b"{\"events\": []}".to_vec(), "text/plain").status(),
        415
    );
    // Schema violations.
    for bad in [
        json!({}),
        json!({"events": []}),
        json!({"events": [event("not-a-uuid", 1)]}),
        json!({"events": [{"event_id": uuid(1), "kind": "", "created_at_ms": 1, "payload": 1}]}),
        json!({"events": [{"event_id": uuid(1), "kind": "k", "created_at_ms": -1, "payload": 1}]}),
        json!({"events": [{"event_id": uuid(1), "kind": "k", "created_at_ms": 1}]}),
        json!({"events": [{"event_id": uuid(1), "kind": "k", "created_at_ms": 1, "payload": 1, "x": 2}]}),
        json!({"events": [event(&uuid(1), 1)], "extra": true}),
        json!([1, 2]),
    ] {
        let r = post_batch(&c, &bad);
        assert_eq!(r.status(), 422, "{bad}");
        let v: Value = r.json().unwrap();
        assert!(v["message"].is_string(), "{v}");
    }
    assert_eq!(
        c.with_store(|s| async move { s.event_count().await })
            .unwrap(),
        0
    );
}

#[test]
fn trust_data_is_served_signed_after_admin_changes() {
    let c = server(Limits::default());
    let get = |path: &str| -> Value {
        let r = client()
            .get(format!("{}/v1/{path}", c.base_url()))
            .bearer_auth(TOKEN)
            .send()
            .unwrap();
        assert_eq!(r.status(), 200, "{path}");
        r.json().unwrap()
    };
    let signed = |path: &str| -> SignedList { serde_json::from_value(get(path)).unwrap() };
    let key = c.list_public_key();
    assert_eq!(
        get("list-key"),
        json!({"key_id": key.key_id(), "public_key": key.to_base64()})
    );
    let t: TrustList = signed("trust-list").open(&key).unwrap();
    assert_eq!((t.version, t.issuers.len()), (0, 0));
    assert_eq!(get("thresholds"), json!({"version": 0, "thresholds": {}}));
    c.with_store(|s| async move {
        s.revoke("c0ffee07", "lost").await?;
        s.set_thresholds(&json!({"face_match": 0.5})).await
    })
    .unwrap();
    let r = signed("revocations");
    assert_eq!((r.kind.as_str(), r.version), ("revocations", 1));
    let r: RevocationList = r.open(&key).unwrap();
    assert_eq!(r.credentials[0].credential_id, "c0ffee07");
    let now = madoguchi_central::now_ms();
    assert!((r.issued_at_ms - now).abs() < 5_000);
    // The reason stays at the backend (the body has no field for it: it opened strictly).
    assert_eq!(get("thresholds")["thresholds"]["face_match"], 0.5);
}

#[test]
fn cli_admin_commands_work_on_a_sqlite_file() {
    use clap::Parser;
    use std::process::ExitCode;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("c.sqlite");
    let tok = dir.path().join("k.token");
    let key = dir.path().join("c.key");
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
    let kiosk_add = [
        "kiosk-add",
        "--id",
        "K-9",
        "--token-file",
        tok.to_str().unwrap(),
    ];
    // Without the master key file nothing opens the database (only `serve` makes the key).
    assert_eq!(run(&kiosk_add), ExitCode::FAILURE);
    assert!(!key.exists() && !db.exists());
    MasterKey::generate().unwrap().write_new(&key).unwrap();
    assert_eq!(run(&kiosk_add), ExitCode::SUCCESS);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&tok).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let token = std::fs::read_to_string(&tok).unwrap();
    assert!(token.trim().len() >= 32);
    assert_eq!(run(&["revoke", "--credential-id", "c0"]), ExitCode::SUCCESS);
    for bad in [
        &["revoke", "--credential-id", "c-1"][..],
        &["revoke", "--credential-id", "C0"],
        &["revoke", "--issuer-kid", "0011223344556677"],
        &["revoke", "--issuer-kid", "xyz"],
    ] {
        assert_eq!(run(bad), ExitCode::FAILURE, "{bad:?}");
    }
    for bad in [
        &["revoke"][..],
        &["revoke", "--credential-id", "c0", "--issuer-kid", "00"],
        &["revoke", "--issuer-kid", "00", "--reason", "r"],
    ] {
        let mut all = vec!["madoguchi-central"];
        all.extend_from_slice(bad);
        assert!(
            madoguchi_central::cli::Cli::try_parse_from(all).is_err(),
            "{bad:?}"
        );
    }
    assert_eq!(run(&["rotate-keys"]), ExitCode::SUCCESS);
    assert_eq!(run(&["list-key"]), ExitCode::SUCCESS);
    assert_eq!(run(&["stats"]), ExitCode::SUCCESS);
    let bad = dir.path().join("t.json");
    std::fs::write(&bad, "[1]").unwrap();
    assert_eq!(
        run(&["set-thresholds", "--file", bad.to_str().unwrap()]),
        ExitCode::FAILURE
    );
    // The token works against a server on that database (with its key).
    let c = Embedded::start(
        db.to_str().unwrap(),
        MasterKey::load(&key).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
    let r = client()
        .get(format!("{}/v1/revocations", c.base_url()))
        .bearer_auth(token.trim())
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let list: RevocationList = r
        .json::<SignedList>()
        .unwrap()
        .open(&c.list_public_key())
        .unwrap();
    assert_eq!(list.credentials[0].credential_id, "c0");
    drop(c);
    // Another master key does not open it.
    let other = dir.path().join("other.key");
    MasterKey::generate().unwrap().write_new(&other).unwrap();
    let all = [
        "madoguchi-central",
        "--database-url",
        db.to_str().unwrap(),
        "--key-file",
        other.to_str().unwrap(),
        "stats",
    ];
    assert_eq!(
        madoguchi_central::cli::run(madoguchi_central::cli::Cli::parse_from(all)),
        ExitCode::FAILURE
    );
}
