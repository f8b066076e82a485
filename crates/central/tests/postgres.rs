//! The store and the API on a real PostgreSQL server (a temporary cluster started by the
//! test; needs the Debian package `postgresql`), including the confirmation-record scenario
//! and teller-list scenarios shared with the SQLite tests and the upgrade of a version-1
//! schema.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod confirmation_support;
mod tellers_support;

use madoguchi_central::pgtest::TempPostgres;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::{IngestStatus, NewEvent, SCHEMA_VERSION, Store};
use madoguchi_central::{CentralError, token_digest};
use serde_json::{Value, json};

fn ev(id: &str, payload: &str) -> NewEvent {
    NewEvent {
        event_id: id.into(),
        kind: "test".into(),
        payload: payload.into(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

#[test]
fn store_and_api_on_postgresql() {
    let pg = TempPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg.url();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let s = Store::open(&url).await.unwrap();
        assert!(matches!(s, Store::Postgres(_)));
        use IngestStatus::*;
        let got = s
            .ingest("K1", vec![ev("a", "{}"), ev("b", "{}"), ev("a", "{}")], 5)
            .await
            .unwrap();
        assert_eq!(got, [Stored, Stored, Duplicate]);
        let got = s
            .ingest("K1", vec![ev("b", "{}"), ev("c", "{}"), ev("a", "[1]")], 6)
            .await
            .unwrap();
        assert_eq!(got, [Duplicate, Stored, Conflict]);
        assert_eq!(
            s.ingest("K2", vec![ev("c", "{}")], 7).await.unwrap(),
            [Conflict]
        );
        assert_eq!(s.event_count().await.unwrap(), 3);
        let all = s.list_events("a", 10).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.event_id.as_str()).collect::<Vec<_>>(),
            ["b", "c"]
        );

        let r = s.rotate_keys().await.unwrap();
        s.rotate_keys().await.unwrap();
        let keys = s.issuer_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.status == "active").count(), 1);
        assert!(
            keys.iter()
                .any(|k| k.kid == r.issuer_kid && k.status == "retired")
        );
        assert_eq!(s.template_keys().await.unwrap().len(), 2);
        assert_eq!(s.version("trust_list").await.unwrap(), 2);
        s.revoke("cred-1", "lost").await.unwrap();
        s.revoke("cred-1", "again").await.unwrap();
        assert_eq!(s.revocations().await.unwrap().len(), 1);
        s.set_thresholds(&json!({"face_match": 0.7})).await.unwrap();
        assert_eq!(s.thresholds().await.unwrap()["face_match"], 0.7);
        s.add_kiosk("K-PG", &token_digest("pg-kiosk-token-0123456789"))
            .await
            .unwrap();
        assert_eq!(
            s.kiosk_for_token(&token_digest("pg-kiosk-token-0123456789"))
                .await
                .unwrap()
                .as_deref(),
            Some("K-PG")
        );
        // Re-opening keeps everything; a newer schema is refused.
        let again = Store::open(&url).await.unwrap();
        assert_eq!(again.event_count().await.unwrap(), 3);
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .execute("UPDATE central_schema SET version = 99", &[])
            .await
            .unwrap();
        let e = Store::open(&url).await.unwrap_err();
        assert!(
            matches!(e, CentralError::SchemaTooNew { found: 99, .. }),
            "{e}"
        );
        // A version-1 database (before the confirmation and teller tables) is upgraded on
        // open.
        client
            .batch_execute(
                "DROP TABLE confirmation_records, confirmation_malformed, confirmation_purged,
                   tellers, teller_credentials;
                 UPDATE central_schema SET version = 1",
            )
            .await
            .unwrap();
        let upgraded = Store::open(&url).await.unwrap();
        let v: i64 = client
            .query_one("SELECT version FROM central_schema WHERE id = 1", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, SCHEMA_VERSION);
        assert_eq!(upgraded.event_count().await.unwrap(), 3);
        confirmation_support::scenario(&upgraded).await;
        tellers_support::scenario(&upgraded).await;
    });
    drop(rt);

    // The HTTP API over PostgreSQL.
    let c = Embedded::start(&url, "127.0.0.1:0".parse().unwrap(), Limits::default()).unwrap();
    let http = reqwest::blocking::Client::new();
    let body = json!({"events": [
        {"event_id": "00000000-0000-4000-8000-000000000001", "kind": "k", "created_at_ms": 1, "payload": {"n": 1}},
        {"event_id": "00000000-0000-4000-8000-000000000002", "kind": "k", "created_at_ms": 2, "payload": {"n": 2}},
        {"event_id": "00000000-0000-4000-8000-000000000001", "kind": "k", "created_at_ms": 1, "payload": {"n": 1}}
    ]});
    let v: Value = http
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth("pg-kiosk-token-0123456789")
        .json(&body)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (v["stored"].as_u64(), v["duplicates"].as_u64()),
        (Some(2), Some(1)),
        "{v}"
    );
    let t: Value = http
        .get(format!("{}/v1/trust-list", c.base_url()))
        .bearer_auth("pg-kiosk-token-0123456789")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(t["version"], 2);
    assert_eq!(
        c.with_store(|s| async move { s.event_count().await })
            .unwrap(),
        // a, b, c, the confirmation scenario's four, the teller scenario's eleven and the
        // two above.
        20
    );
}
