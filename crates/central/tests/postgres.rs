//! The store and the API on a real PostgreSQL server (a temporary cluster started by the
//! test; needs the Debian package `postgresql`), including the confirmation-record,
//! teller-list, trust-data, binding-code and duplicate-face scenarios shared with the SQLite
//! tests (face templates sealed at rest, the index rebuilt by a restarted server), the
//! upgrade of a version-1 schema holding clear template secrets and backend-made issuer keys,
//! and the refusal of another master key.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod binding_support;
mod confirmation_support;
mod duplicates_support;
mod tellers_support;
mod trust_support;

use madoguchi_central::master_key::{MasterKey, SEALED_PREFIX};
use madoguchi_central::pgtest::TempPostgres;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::{IngestStatus, NewEvent, SCHEMA_VERSION, Store};
use madoguchi_central::{CentralError, token_digest};
use madoguchi_wire::{SignedList, TrustList};
use serde_json::{Value, json};

fn key() -> MasterKey {
    MasterKey::from_bytes([7; 32])
}

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
        let s = Store::open(&url, key()).await.unwrap();
        assert!(s.is_postgres());
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

        let first = s.rotate_template_key().await.unwrap();
        let second = s.rotate_template_key().await.unwrap();
        let keys = s.template_keys().await.unwrap();
        assert_eq!(keys.len(), 2);
        assert_eq!(keys.iter().filter(|k| k.status == "active").count(), 1);
        assert!(keys.iter().any(|k| k.kid == first && k.status == "retired"));
        assert!(keys.iter().any(|k| k.kid == second && k.status == "active"));
        assert_eq!(s.version("template_keys").await.unwrap(), 2);
        assert!(s.revoke("c0ffee01", "lost").await.unwrap());
        assert!(!s.revoke("c0ffee01", "again").await.unwrap());
        assert!(s.revoke("cred-1", "not hex").await.is_err());
        assert_eq!(s.revocations().await.unwrap().len(), 1);
        assert_eq!(s.version("revocations").await.unwrap(), 1);
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
        // Re-opening keeps everything (and the list key); another master key is refused; a
        // newer schema is refused.
        let list_key = s.list_public_key();
        let again = Store::open(&url, key()).await.unwrap();
        assert_eq!(again.event_count().await.unwrap(), 3);
        assert_eq!(again.list_public_key(), list_key);
        let e = Store::open(&url, MasterKey::from_bytes([8; 32]))
            .await
            .unwrap_err();
        assert!(matches!(e, CentralError::Unseal { .. }), "{e}");
        let (client, conn) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .execute("UPDATE central_schema SET version = 99", &[])
            .await
            .unwrap();
        let e = Store::open(&url, key()).await.unwrap_err();
        assert!(
            matches!(e, CentralError::SchemaTooNew { found: 99, .. }),
            "{e}"
        );
        // A version-1 database (before the confirmation, teller and kiosk-key tables), whose
        // template secrets are in clear and whose issuer keys the backend made, is upgraded
        // on open: secrets sealed, issuer private keys wiped, the list key kept.
        client
            .batch_execute(
                "DROP TABLE confirmation_records, confirmation_malformed, confirmation_purged,
                   tellers, teller_credentials, kiosk_keys, face_credentials,
                   face_credentials_malformed, binding_codes, services, face_templates,
                   duplicate_flags;
                 DROP INDEX keys_one_list_key;
                 DROP INDEX keys_kiosk;
                 DELETE FROM keys WHERE purpose = 'template';
                 ALTER TABLE keys DROP COLUMN kiosk_id, DROP COLUMN since_ms, DROP COLUMN served;
                 INSERT INTO keys (kid, purpose, public_key, secret, status, created_at_ms)
                 VALUES ('iss-1-aa', 'issuer', 'PUBLIC', 'ISSUER-SECRET', 'active', 1),
                        ('tpl-1-aa', 'template', '',
                         'WlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlpaWlo', 'active', 1);
                 UPDATE central_schema SET version = 1",
            )
            .await
            .unwrap();
        let upgraded = Store::open(&url, key()).await.unwrap();
        let v: i64 = client
            .query_one("SELECT version FROM central_schema WHERE id = 1", &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, SCHEMA_VERSION);
        assert_eq!(upgraded.event_count().await.unwrap(), 3);
        assert_eq!(upgraded.list_public_key(), list_key);
        let rows = client
            .query(
                "SELECT kid, secret, status FROM keys WHERE kid IN ('iss-1-aa', 'tpl-1-aa')
                 ORDER BY kid",
                &[],
            )
            .await
            .unwrap();
        let (issuer_secret, issuer_status): (String, String) = (rows[0].get(1), rows[0].get(2));
        assert_eq!(
            (issuer_secret.as_str(), issuer_status.as_str()),
            ("", "retired")
        );
        let (template_secret, template_status): (String, String) = (rows[1].get(1), rows[1].get(2));
        assert!(template_secret.starts_with(SEALED_PREFIX));
        assert_eq!(template_status, "retired");
        assert!(upgraded.trust_list(1).await.unwrap().issuers.is_empty());
        confirmation_support::scenario(&upgraded).await;
        tellers_support::scenario(&upgraded).await;
        trust_support::scenario(&upgraded).await;
        binding_support::scenario(&upgraded).await;
        duplicates_support::scenario(&upgraded).await;
        let sealed: Vec<String> = client
            .query("SELECT template_sealed FROM face_templates", &[])
            .await
            .unwrap()
            .into_iter()
            .map(|r| r.get(0))
            .collect();
        assert_eq!(sealed.len(), 8);
        assert!(
            sealed.iter().all(|t| t.starts_with(SEALED_PREFIX)),
            "{sealed:?}"
        );
        upgraded
            .add_kiosk("K-DUP", &token_digest("pg-dup-kiosk-token-0123456789"))
            .await
            .unwrap();
    });
    drop(rt);

    // The HTTP API over PostgreSQL.
    let c = Embedded::start(
        &url,
        key(),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
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
    let t: TrustList = http
        .get(format!("{}/v1/trust-list", c.base_url()))
        .bearer_auth("pg-kiosk-token-0123456789")
        .send()
        .unwrap()
        .json::<SignedList>()
        .unwrap()
        .open(&c.list_public_key())
        .unwrap();
    // The trust scenario's registrations (3) and issuer revocation (1).
    assert_eq!(t.version, 4);
    assert_eq!(t.issuers.len(), 3);
    assert_eq!(
        c.with_store(|s| async move { s.event_count().await })
            .unwrap(),
        // a, b, c, the confirmation scenario's four, the teller scenario's eleven, the trust
        // scenario's five, the binding scenario's five, the duplicate scenario's eight and the
        // two above.
        38
    );
    // A binding code over PostgreSQL: issued to the binding scenario's kiosk on its
    // credential, redeemed once by its service.
    let post = |token: &str, path: &str, body: Value| {
        let r = http
            .post(format!("{}/v1/{path}", c.base_url()))
            .bearer_auth(token)
            .json(&body)
            .send()
            .unwrap();
        (r.status().as_u16(), r.json::<Value>().unwrap())
    };
    let (status, issued) = post(
        "kiosk-bind-token-0123456789",
        "binding-codes",
        json!({"session_id": "sess-pg", "proof": {"kind": "credential", "credential_id": "b1b1b1b1"}}),
    );
    assert_eq!(
        (status, issued["customer_ref"].as_str()),
        (201, Some("sess-bind-cred")),
        "{issued}"
    );
    let redeem = json!({"code": issued["code"]});
    let (status, r) = post(
        "svc-bind-token-0123456789",
        "binding-codes/redeem",
        redeem.clone(),
    );
    assert_eq!(
        (status, r["session_id"].as_str()),
        (200, Some("sess-pg")),
        "{r}"
    );
    let (status, r) = post(
        "svc-bind-token-0123456789",
        "binding-codes/redeem",
        redeem.clone(),
    );
    assert_eq!(
        (status, r["code"].as_str()),
        (409, Some("already_redeemed"))
    );
    let (status, r) = post(
        "kiosk-bind-token-0123456789",
        "binding-codes/redeem",
        redeem,
    );
    assert_eq!((status, r["code"].as_str()), (403, Some("not_a_service")));
    // A duplicate check over PostgreSQL: the server's index was built from the scenario's
    // sealed templates (Bob's and Frank's faces match; George's own is excluded).
    let (status, v) = post(
        "pg-dup-kiosk-token-0123456789",
        "duplicate-checks",
        json!({"session_id": "enr-dup-9", "identity_session_id": "sess-dup-george",
               "template": duplicates_support::template_b64(&duplicates_support::face(2))}),
    );
    assert_eq!(
        (status, &v["flagged"], &v["matches"]),
        (200, &json!(true), &json!(2)),
        "{v}"
    );
}
