//! The teller list between the backend and the kiosks' ledgers, against the real central
//! backend on loopback: accounts added or disabled at the backend reach the ledger at its next
//! pull (a disabled teller is no longer a sign-in candidate), a key registered at one kiosk
//! reaches the backend by the drain and another kiosk by its pull, and records from the
//! backend are not sent back to it.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

use std::time::{Duration, Instant};

use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::tellers::Role;
use madoguchi_ledger::{DataKey, Ledger, TellerRole};
use madoguchi_sync::drain::{DrainOptions, drain};
use madoguchi_sync::pull::{TrustOptions, pull_all, pull_tellers};
use madoguchi_sync::service::{LoopOptions, run_loop, stop_flag};
use madoguchi_sync::{Client, ClientOptions, KioskToken};
use serde_json::{Value, json};

const TOKEN_A: &str = "kiosk-a-token-for-tests-0123456789";
const TOKEN_B: &str = "kiosk-b-token-for-tests-0123456789";
const CRED: &str = "Y3JlZC1hLTAxMjM0NTY3ODk";

fn central(database: &str) -> Embedded {
    let c = Embedded::start(
        database,
        madoguchi_central::master_key::MasterKey::generate().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-A", &madoguchi_central::token_digest(TOKEN_A))
            .await?;
        s.add_kiosk("K-B", &madoguchi_central::token_digest(TOKEN_B))
            .await
    })
    .unwrap();
    c
}

fn kiosk(id: &str) -> TrustOptions {
    TrustOptions {
        kiosk_id: id.into(),
        list_key: None,
    }
}

fn client(c: &Embedded, token: &str) -> Client {
    let mut o = ClientOptions::new(&c.base_url());
    o.token = Some(KioskToken::new(token.into()));
    o.timeout = Duration::from_secs(10);
    Client::new(o).unwrap()
}

fn ledger(n: u8) -> Ledger {
    Ledger::open_in_memory(DataKey::from_bytes([n; 32])).unwrap()
}

fn body(count: u32) -> Vec<u8> {
    serde_json::to_vec(&json!({"id": CRED, "sign_count": count,
                               "passkey": {"cred": {"key": "PUBLIC"}}}))
    .unwrap()
}

fn fast() -> DrainOptions {
    DrainOptions {
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_attempts: Some(6),
        ..DrainOptions::default()
    }
}

fn candidates(l: &Ledger) -> Vec<(String, Vec<String>)> {
    l.sign_in_candidates()
        .unwrap()
        .into_iter()
        .map(|(t, creds)| (t.id, creds.into_iter().map(|c| c.credential_id).collect()))
        .collect()
}

fn teller(l: &Ledger, id: &str) -> madoguchi_ledger::CachedTeller {
    l.tellers()
        .unwrap()
        .into_iter()
        .find(|t| t.id == id)
        .unwrap()
}

/// Adds `t-1` at the backend with a key registered at kiosk A (its ledger drained).
fn teller_with_a_key_from_kiosk_a(c: &Embedded, a: &Ledger) {
    c.with_store(|s| async move { s.add_teller("t-1", Role::Teller, "山田 花子").await })
        .unwrap();
    let ca = client(c, TOKEN_A);
    pull_all(&ca, a, &kiosk("K-A")).unwrap();
    a.put_teller_credential("t-1", CRED, &body(0), 0, Some("t-1"))
        .unwrap();
    let r = drain(a, &ca, &fast(), &mut |_| {}).unwrap();
    assert!(r.complete);
    assert_eq!(a.outbox_backlog().unwrap(), 0);
}

fn roaming_key(database: &str) {
    let c = central(database);
    let (a, b) = (ledger(1), ledger(2));
    teller_with_a_key_from_kiosk_a(&c, &a);
    // At the backend: the credential as kiosk A registered it.
    let list = c
        .with_store(|s| async move { s.tellers_list().await })
        .unwrap();
    let creds = &list.tellers[0].credentials;
    assert_eq!(creds.len(), 1);
    assert_eq!(
        (creds[0].credential_id.as_str(), creds[0].kiosk_id.as_str()),
        (CRED, "K-A")
    );
    assert_eq!(
        serde_json::from_str::<Value>(&creds[0].credential).unwrap(),
        serde_json::from_slice::<Value>(&body(0)).unwrap()
    );
    // A fresh kiosk B gets the teller and the key at its pull: it can sign them in offline.
    let cb = client(&c, TOKEN_B);
    let r = pull_all(&cb, &b, &kiosk("K-B")).unwrap();
    assert_eq!(
        (r.tellers_version, r.tellers_changed, r.tellers_skipped),
        (list.version, 2, 0)
    );
    assert!(r.updated.contains(&"tellers"), "{:?}", r.updated);
    assert_eq!(candidates(&b), [("t-1".to_owned(), vec![CRED.to_owned()])]);
    let cached = b.teller_credential(CRED).unwrap().unwrap();
    assert_eq!(
        serde_json::from_slice::<Value>(&cached.body).unwrap(),
        serde_json::from_slice::<Value>(&body(0)).unwrap()
    );
    assert_eq!(cached.sign_count, 0);
    // Nothing of it goes back to the backend except the ledger's own `teller.synced`.
    let pending: Vec<String> = b
        .outbox_peek(100)
        .unwrap()
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(pending, ["teller.synced"]);
    assert!(b.check_consistency().unwrap().is_consistent());

    // A sign-in at B raises the counter at the backend, and at A by its next pull.
    b.record_sign_in(CRED, 4, &body(4)).unwrap();
    assert!(drain(&b, &cb, &fast(), &mut |_| {}).unwrap().complete);
    let ca = client(&c, TOKEN_A);
    let r = pull_all(&ca, &a, &kiosk("K-A")).unwrap();
    assert_eq!(r.tellers_changed, 1);
    let at_a = a.teller_credential(CRED).unwrap().unwrap();
    assert_eq!((at_a.sign_count, at_a.body), (4, body(4)));
    // A replay of the older assertion at A is now refused.
    assert!(a.record_sign_in(CRED, 3, &body(3)).is_err());
    // Pulling again changes nothing and writes nothing.
    let total = b.outbox_total().unwrap();
    let again = pull_all(&cb, &b, &kiosk("K-B")).unwrap();
    assert_eq!(again.tellers_changed, 0);
    assert!(again.updated.is_empty(), "{:?}", again.updated);
    assert_eq!(b.outbox_total().unwrap(), total);

    // Revoked at kiosk A: the backend and kiosk B follow.
    a.revoke_teller_credential(CRED).unwrap();
    assert!(drain(&a, &ca, &fast(), &mut |_| {}).unwrap().complete);
    pull_all(&cb, &b, &kiosk("K-B")).unwrap();
    assert!(
        b.teller_credential(CRED)
            .unwrap()
            .unwrap()
            .revoked_at_ms
            .is_some()
    );
    assert!(candidates(&b).is_empty());
}

#[test]
fn a_key_registered_at_one_kiosk_reaches_another_through_the_backend() {
    roaming_key(":memory:");
}

#[test]
fn the_same_on_postgresql() {
    let pg = match madoguchi_central::pgtest::TempPostgres::start() {
        Ok(pg) => pg,
        Err(e) => panic!("{e}"),
    };
    roaming_key(&pg.url());
}

#[test]
fn tellers_added_and_disabled_at_the_backend_reach_the_ledger_at_its_next_pull() {
    let c = central(":memory:");
    let l = ledger(3);
    // Tellers the kiosk made itself (the placeholder, the simulation's) are not in the list.
    l.register_teller("counter-unverified", TellerRole::Teller)
        .unwrap();
    let cl = client(&c, TOKEN_A);
    // An empty list changes nothing.
    let r = pull_all(&cl, &l, &kiosk("K-A")).unwrap();
    assert_eq!((r.tellers_version, r.tellers_changed), (0, 0));
    teller_with_a_key_from_kiosk_a(&c, &l);
    c.with_store(|s| async move { s.add_teller("sup-1", Role::Supervisor, "佐藤 一郎").await })
        .unwrap();
    let r = pull_tellers(&cl, &l).unwrap();
    assert_eq!(r.changed, 1);
    assert_eq!(candidates(&l), [("t-1".to_owned(), vec![CRED.to_owned()])]);
    let sup = teller(&l, "sup-1");
    assert_eq!(sup.role, TellerRole::Supervisor);
    assert_eq!(sup.display_name.as_deref(), Some("佐藤 一郎"));

    // Disabled at the backend: no longer a sign-in candidate after the next pull.
    c.with_store(|s| async move { s.set_teller_enabled("t-1", false).await })
        .unwrap();
    assert_eq!(candidates(&l).len(), 1, "not before the pull");
    let r = pull_all(&cl, &l, &kiosk("K-A")).unwrap();
    assert_eq!(r.tellers_changed, 1);
    assert!(candidates(&l).is_empty());
    assert!(!teller(&l, "t-1").enabled);
    // Absent from the (non-empty) list: left alone.
    assert!(teller(&l, "counter-unverified").enabled);
    // Enabled again.
    c.with_store(|s| async move { s.set_teller_enabled("t-1", true).await })
        .unwrap();
    pull_all(&cl, &l, &kiosk("K-A")).unwrap();
    assert_eq!(candidates(&l).len(), 1);
}

#[test]
fn the_sync_loop_applies_a_backend_disable_within_its_pull_interval() {
    let c = central(":memory:");
    let l = ledger(4);
    teller_with_a_key_from_kiosk_a(&c, &l);
    assert_eq!(candidates(&l).len(), 1);
    let stop = stop_flag();
    let opts = LoopOptions {
        drain: DrainOptions {
            stop: Some(stop.clone()),
            ..fast()
        },
        pull_interval: Duration::from_millis(200),
        idle: Duration::from_millis(50),
        trust: kiosk("K-A"),
    };
    let cl = client(&c, TOKEN_A);
    std::thread::scope(|s| {
        s.spawn(|| run_loop(&l, &cl, &opts));
        c.with_store(|s| async move { s.set_teller_enabled("t-1", false).await })
            .unwrap();
        let until = Instant::now() + Duration::from_secs(20);
        while !candidates(&l).is_empty() {
            assert!(
                Instant::now() < until,
                "the disable never reached the ledger"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
    });
}

#[test]
fn a_backend_without_a_teller_list_leaves_the_tellers_alone() {
    // An older backend: `/v1/tellers` is 404.
    let server = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", server.local_addr().unwrap());
    let t = std::thread::spawn(move || {
        use std::io::{Read as _, Write as _};
        let (mut s, _) = server.accept().unwrap();
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf).unwrap();
        let body = r#"{"code":"not_found","message":"no route"}"#;
        write!(
            s,
            "HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
    });
    let mut o = ClientOptions::new(&url);
    o.token = Some(KioskToken::new(TOKEN_A.into()));
    let l = ledger(5);
    let r = pull_tellers(&Client::new(o).unwrap(), &l).unwrap();
    assert_eq!((r.version, r.changed, r.skipped), (0, 0, 0));
    t.join().unwrap();
}
