//! The teller-list scenario shared by the SQLite and PostgreSQL tests: admin actions bump the
//! version, the three teller events are applied once whatever is re-sent, counters only go up,
//! unknown tellers' keys are kept but not served, unreadable payloads are stored and ignored.
#![allow(clippy::unwrap_used, dead_code)] // test helpers: a failed set-up is a failed test

use madoguchi_central::CentralError;
use madoguchi_central::store::{IngestStatus, NewEvent, Store};
use madoguchi_central::tellers::Role;
use serde_json::{Value, json};

pub const CRED_A: &str = "Y3JlZC1hLTAxMjM0NTY3ODk";
pub const CRED_B: &str = "Y3JlZC1iLTAxMjM0NTY3ODk";
pub const CRED_X: &str = "Y3JlZC14LTAxMjM0NTY3ODk";

/// A credential body as the kiosk's `tellers` crate serialises it (shape only).
pub fn credential(id: &str, count: u32) -> Value {
    json!({"id": id, "sign_count": count, "passkey": {"cred": {"key": "PUBLIC"}}})
}

pub fn registered(event_id: &str, teller: &str, cred: &str, count: u32) -> NewEvent {
    event(
        event_id,
        "teller.key_registered",
        json!({"teller_id": teller, "credential_id": cred, "registered_by": "sup-1",
               "sign_count": count, "at_ms": 1_000, "credential": credential(cred, count),
               "audit": {"seq": 3, "hash": "00ff"}}),
    )
}

pub fn signed_in(event_id: &str, teller: &str, cred: &str, count: u32) -> NewEvent {
    event(
        event_id,
        "teller.signed_in",
        json!({"teller_id": teller, "credential_id": cred, "sign_count": count, "at_ms": 2_000,
               "credential": credential(cred, count), "audit": {"seq": 4, "hash": "00ff"}}),
    )
}

pub fn revoked(event_id: &str, teller: &str, cred: &str, at_ms: i64) -> NewEvent {
    event(
        event_id,
        "teller.key_revoked",
        json!({"teller_id": teller, "credential_id": cred, "at_ms": at_ms}),
    )
}

pub fn event(event_id: &str, kind: &str, payload: Value) -> NewEvent {
    NewEvent {
        event_id: event_id.into(),
        kind: kind.into(),
        payload: payload.to_string(),
        created_at_ms: 1,
        verification: "not_checked".into(),
    }
}

async fn cred(s: &Store, teller: &str, id: &str) -> madoguchi_central::tellers::TellerCredential {
    let list = s.tellers_list().await.unwrap();
    let t = list.tellers.iter().find(|t| t.id == teller).unwrap();
    t.credentials
        .iter()
        .find(|c| c.credential_id == id)
        .unwrap()
        .clone()
}

pub async fn scenario(s: &Store) {
    use IngestStatus::*;
    let v0 = s.tellers_list().await.unwrap().version;
    s.add_teller("t-1", Role::Teller, "山田 花子")
        .await
        .unwrap();
    s.add_teller("sup-1", Role::Supervisor, "佐藤 一郎")
        .await
        .unwrap();
    let e = s
        .add_teller("t-1", Role::Teller, "other")
        .await
        .unwrap_err();
    assert!(matches!(e, CentralError::Invalid(_)), "{e}");
    assert!(s.add_teller("t 2", Role::Teller, "x").await.is_err());
    assert!(s.add_teller("t-2", Role::Teller, " x").await.is_err());
    let list = s.tellers_list().await.unwrap();
    assert_eq!(list.version, v0 + 2);
    assert_eq!(
        list.tellers
            .iter()
            .map(|t| t.id.as_str())
            .collect::<Vec<_>>(),
        ["sup-1", "t-1"]
    );
    assert!(
        list.tellers
            .iter()
            .all(|t| t.enabled && t.credentials.is_empty())
    );
    assert_eq!(list.tellers[1].display_name, "山田 花子");

    // Registration, sign-in, revocation; re-sent events change nothing.
    let got = s
        .ingest(
            "K-1",
            vec![
                registered("t-e1", "t-1", CRED_A, 2),
                signed_in("t-e2", "t-1", CRED_A, 5),
                registered("t-e1", "t-1", CRED_A, 2),
            ],
            10,
        )
        .await
        .unwrap();
    assert_eq!(got, [Stored, Stored, Duplicate]);
    let v1 = s.tellers_list().await.unwrap().version;
    assert_eq!(v1, v0 + 3, "one bump per batch that changed the list");
    let c = cred(s, "t-1", CRED_A).await;
    assert_eq!(c.sign_count, 5);
    assert_eq!(
        serde_json::from_str::<Value>(&c.credential).unwrap(),
        credential(CRED_A, 5)
    );
    assert_eq!(
        (
            c.registered_by.as_deref(),
            c.registered_at_ms,
            c.kiosk_id.as_str()
        ),
        (Some("sup-1"), 1_000, "K-1")
    );
    assert_eq!(c.revoked_at_ms, None);
    // A lower counter from another kiosk (an older sign-in arriving late) is not applied, nor
    // is an event id already stored (from another kiosk: a conflict) or a sign-in naming
    // another teller, and nothing is bumped.
    let got = s
        .ingest(
            "K-2",
            vec![
                signed_in("t-e3", "t-1", CRED_A, 3),
                signed_in("t-e2", "t-1", CRED_A, 5),
                // Another teller's sign-in naming this credential: not applied.
                signed_in("t-e11", "sup-1", CRED_A, 9),
            ],
            11,
        )
        .await
        .unwrap();
    assert_eq!(got, [Stored, Conflict, Stored]);
    let c = cred(s, "t-1", CRED_A).await;
    assert_eq!((c.sign_count, c.teller_id.as_str()), (5, "t-1"));
    assert_eq!(
        serde_json::from_str::<Value>(&c.credential).unwrap(),
        credential(CRED_A, 5)
    );
    assert_eq!(s.tellers_list().await.unwrap().version, v1);
    // Revoked; a second revocation keeps the first date.
    s.ingest(
        "K-1",
        vec![
            revoked("t-e4", "t-1", CRED_A, 3_000),
            revoked("t-e5", "t-1", CRED_A, 4_000),
        ],
        12,
    )
    .await
    .unwrap();
    assert_eq!(cred(s, "t-1", CRED_A).await.revoked_at_ms, Some(3_000));
    let v2 = s.tellers_list().await.unwrap().version;
    assert_eq!(v2, v1 + 1);

    // A key of a teller the backend has no account for: stored, not served, until the
    // account exists.
    s.ingest("K-1", vec![registered("t-e6", "t-9", CRED_X, 0)], 13)
        .await
        .unwrap();
    assert!(
        s.tellers_list()
            .await
            .unwrap()
            .tellers
            .iter()
            .all(|t| t.id != "t-9")
    );
    s.add_teller("t-9", Role::Technician, "技術 者")
        .await
        .unwrap();
    assert_eq!(cred(s, "t-9", CRED_X).await.sign_count, 0);
    // A sign-in for a credential the backend never saw registered is kept too.
    s.ingest("K-3", vec![signed_in("t-e7", "t-1", CRED_B, 1)], 14)
        .await
        .unwrap();
    let b = cred(s, "t-1", CRED_B).await;
    assert_eq!(
        (b.sign_count, b.registered_by, b.kiosk_id.as_str()),
        (1, None, "K-3")
    );

    // Unreadable teller payloads: stored as events, acknowledged, ignored.
    let before = s.tellers_list().await.unwrap();
    let got = s
        .ingest(
            "K-1",
            vec![
                event("t-e8", "teller.signed_in", json!([1])),
                event("t-e9", "teller.key_registered", json!({"teller_id": "t-1"})),
                event(
                    "t-e10",
                    "teller.signed_in",
                    json!({"teller_id": "t-1", "credential_id": CRED_A, "at_ms": 1,
                           "sign_count": 4_294_967_296u64, "credential": {}}),
                ),
            ],
            15,
        )
        .await
        .unwrap();
    assert_eq!(got, [Stored, Stored, Stored]);
    assert_eq!(s.tellers_list().await.unwrap(), before);

    // Admin: disable / enable bump the version only when something changes.
    let v3 = before.version;
    assert!(s.set_teller_enabled("t-1", false).await.unwrap());
    assert!(!s.set_teller_enabled("t-1", false).await.unwrap());
    let list = s.tellers_list().await.unwrap();
    assert_eq!(list.version, v3 + 1);
    assert!(!list.tellers.iter().find(|t| t.id == "t-1").unwrap().enabled);
    assert!(s.set_teller_enabled("t-1", true).await.unwrap());
    assert_eq!(s.tellers_list().await.unwrap().version, v3 + 2);
    assert!(matches!(
        s.set_teller_enabled("t-none", true).await,
        Err(CentralError::Invalid(_))
    ));
    // Admin revocation of a key.
    assert!(s.revoke_teller_credential(CRED_B).await.unwrap());
    assert!(!s.revoke_teller_credential(CRED_B).await.unwrap());
    assert!(cred(s, "t-1", CRED_B).await.revoked_at_ms.is_some());
    assert_eq!(s.tellers_list().await.unwrap().version, v3 + 3);
    assert!(matches!(
        s.revoke_teller_credential("bm9uZQ").await,
        Err(CentralError::Invalid(_))
    ));
    // Debug never shows a display name.
    assert!(!format!("{:?}", s.tellers_list().await.unwrap()).contains("山田"));
}
