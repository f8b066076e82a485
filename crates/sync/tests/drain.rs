//! Drain, pull and clock tests: against the real central backend on loopback, and against a
//! scripted HTTP server for the failure answers (429, 503, 413, 500, partial confirmations).
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use madoguchi_central::server::{Embedded, Limits};
use madoguchi_ledger::{CacheKind, DataKey, Ledger};
use madoguchi_sync::drain::{DrainOptions, Outbox, drain, send_batch};
use madoguchi_sync::pull::{TrustOptions, measure_skew, pull_all};
use madoguchi_sync::trust::{TrustProblem, load};
use madoguchi_sync::{Client, ClientOptions, KioskToken, MemoryOutbox, SyncError};
use madoguchi_wire::IssuerStatus;
use serde_json::{Value, json};

const TOKEN: &str = "kiosk-token-for-tests-0123456789";

fn central() -> Embedded {
    let c = Embedded::start(
        ":memory:",
        madoguchi_central::master_key::MasterKey::generate().unwrap(),
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

fn client(url: &str) -> Client {
    let mut o = ClientOptions::new(url);
    o.token = Some(KioskToken::new(TOKEN.into()));
    o.timeout = Duration::from_secs(10);
    Client::new(o).unwrap()
}

fn fast() -> DrainOptions {
    DrainOptions {
        batch_size: 7,
        backoff_base: Duration::from_millis(10),
        backoff_max: Duration::from_millis(100),
        max_attempts: Some(6),
        ..DrainOptions::default()
    }
}

fn stored(c: &Embedded) -> Vec<madoguchi_central::store::StoredEvent> {
    c.with_store(|s| async move { s.list_events("", 10_000).await })
        .unwrap()
}

#[test]
fn ledger_outbox_drains_to_the_backend_exactly_once() {
    let c = central();
    let ledger = Ledger::open_in_memory(DataKey::from_bytes([7; 32])).unwrap();
    for n in 0..50 {
        ledger.append_event("test.event", &json!({"n": n})).unwrap();
    }
    let r = drain(&ledger, &client(&c.base_url()), &fast(), &mut |_| {}).unwrap();
    assert!(r.complete);
    assert_eq!((r.sent, r.batches, r.duplicates), (50, 8, 0));
    assert_eq!(ledger.outbox_backlog().unwrap(), 0);
    let st = ledger.sync_state().unwrap();
    assert!(st.last_success_ms.is_some());
    assert_eq!(st.last_error_code, None);
    let events = stored(&c);
    assert_eq!(events.len(), 50);
    let mut ns: Vec<u64> = events
        .iter()
        .map(|e| {
            serde_json::from_str::<Value>(&e.payload).unwrap()["n"]
                .as_u64()
                .unwrap()
        })
        .collect();
    ns.sort_unstable();
    assert_eq!(ns, (0..50).collect::<Vec<_>>());
}

/// An outbox whose first acknowledgements are lost (as when the process dies right after the
/// backend answered).
struct ForgetfulAck {
    inner: MemoryOutbox,
    forget: Mutex<u32>,
}

impl Outbox for ForgetfulAck {
    fn peek(&self, limit: usize) -> Result<Vec<madoguchi_ledger::OutboxEvent>, SyncError> {
        self.inner.peek(limit)
    }
    fn ack(&self, seqs: &[i64]) -> Result<(), SyncError> {
        let mut f = self.forget.lock().unwrap();
        if *f > 0 {
            *f -= 1;
            return Ok(());
        }
        self.inner.ack(seqs)
    }
    fn backlog(&self) -> Result<u64, SyncError> {
        self.inner.backlog()
    }
    fn state(&self) -> Result<madoguchi_ledger::SyncState, SyncError> {
        self.inner.state()
    }
    fn set_state(&self, s: &madoguchi_ledger::SyncState) -> Result<(), SyncError> {
        self.inner.set_state(s)
    }
}

#[test]
fn resending_after_a_lost_ack_stores_once() {
    let c = central();
    let ob = ForgetfulAck {
        inner: MemoryOutbox::new(),
        forget: Mutex::new(2),
    };
    for n in 0..10 {
        ob.inner.push("test.event", &json!({"n": n})).unwrap();
    }
    let cl = client(&c.base_url());
    let evs = ob.peek(10).unwrap();
    send_batch(&ob, &cl, &evs).unwrap();
    send_batch(&ob, &cl, &evs).unwrap();
    assert_eq!(ob.backlog().unwrap(), 10, "acks were lost");
    let r = drain(&ob, &cl, &fast(), &mut |_| {}).unwrap();
    assert_eq!((r.sent, r.duplicates), (10, 10));
    assert_eq!(ob.backlog().unwrap(), 0);
    assert_eq!(stored(&c).len(), 10);
}

/// A scripted HTTP/1.1 server: answers each request with the next scripted status; `200`
/// confirms the batch's event ids (all, or the first `confirm` of them).
#[derive(Clone, Copy)]
enum Answer {
    Status(u16, Option<u32>),
    Confirm(Option<usize>),
    TooLargeAbove(usize),
    Time(i64),
}

fn scripted(script: Vec<Answer>) -> (String, Arc<Mutex<Vec<usize>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let seen2 = Arc::clone(&seen);
    std::thread::spawn(move || {
        for answer in script {
            let Ok((s, _)) = listener.accept() else {
                return;
            };
            let mut r = BufReader::new(s);
            let mut len = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                let l = line.to_ascii_lowercase();
                if let Some(v) = l.strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut body = vec![0u8; len];
            let _ = r.read_exact(&mut body);
            let ids: Vec<String> = serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|v| {
                    v["events"].as_array().map(|a| {
                        a.iter()
                            .map(|e| e["event_id"].as_str().unwrap_or("").to_owned())
                            .collect()
                    })
                })
                .unwrap_or_default();
            seen2.lock().unwrap().push(ids.len());
            let confirm = |k: usize| {
                let res: Vec<Value> = ids
                    .iter()
                    .take(k)
                    .map(|i| json!({"event_id": i, "status": "stored"}))
                    .collect();
                let body = json!({"results": res, "stored": k, "duplicates": 0, "conflicts": 0});
                (200, String::new(), body)
            };
            let (status, headers, out) = match answer {
                Answer::Status(s, ra) => (
                    s,
                    ra.map(|x| format!("retry-after: {x}\r\n"))
                        .unwrap_or_default(),
                    json!({"code": "scripted", "message": "scripted"}),
                ),
                Answer::Time(t) => (200, String::new(), json!({"server_time_ms": t})),
                Answer::TooLargeAbove(n) if ids.len() > n => (
                    413,
                    String::new(),
                    json!({"code": "too_many_events", "message": "x"}),
                ),
                Answer::TooLargeAbove(_) => confirm(ids.len()),
                Answer::Confirm(k) => confirm(k.unwrap_or(ids.len())),
            };
            let out = out.to_string();
            let mut s = r.into_inner();
            let _ = write!(
                s,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n{headers}\r\n{out}",
                out.len()
            );
        }
    });
    (url, seen)
}

fn outbox_with(n: u64) -> MemoryOutbox {
    let ob = MemoryOutbox::new();
    for i in 0..n {
        ob.push("test.event", &json!({"n": i})).unwrap();
    }
    ob
}

#[test]
fn honours_retry_after_on_429_and_503() {
    let (url, _) = scripted(vec![
        Answer::Status(429, Some(7)),
        Answer::Status(503, Some(3)),
        Answer::Confirm(None),
    ]);
    let ob = outbox_with(5);
    let mut waits = Vec::new();
    let r = drain(&ob, &client(&url), &fast(), &mut |d| waits.push(d)).unwrap();
    assert_eq!(r.sent, 5);
    assert_eq!(waits.len(), 2);
    assert!(waits[0] >= Duration::from_secs(7), "{waits:?}");
    assert!(waits[1] >= Duration::from_secs(3), "{waits:?}");
    assert_eq!(ob.backlog().unwrap(), 0);
    assert!(ob.state().unwrap().last_error_code.is_none());
}

#[test]
fn server_errors_back_off_exponentially_then_give_up_without_losing_anything() {
    let (url, _) = scripted(vec![Answer::Status(500, None); 6]);
    let ob = outbox_with(3);
    let mut waits = Vec::new();
    let e = drain(&ob, &client(&url), &fast(), &mut |d| waits.push(d)).unwrap_err();
    assert!(matches!(e, SyncError::GaveUp { attempts: 6, .. }), "{e}");
    assert_eq!(waits.len(), 5);
    // Each wait lies in [cap/2, cap] with cap doubling from 10 ms up to 100 ms.
    for (i, w) in waits.iter().enumerate() {
        let cap = Duration::from_millis(10 << i).min(Duration::from_millis(100));
        assert!(*w >= cap / 2 && *w <= cap, "{i}: {w:?}");
    }
    assert_eq!(ob.backlog().unwrap(), 3);
    assert_eq!(
        ob.state().unwrap().last_error_code.as_deref(),
        Some("sync.http_error")
    );
}

#[test]
fn too_large_halves_the_batch() {
    let (url, seen) = scripted(vec![Answer::TooLargeAbove(2); 8]);
    let ob = outbox_with(6);
    let r = drain(&ob, &client(&url), &fast(), &mut |_| {}).unwrap();
    assert_eq!(r.sent, 6);
    assert_eq!(*seen.lock().unwrap(), vec![6, 3, 1, 1, 1, 1, 1, 1]);
}

#[test]
fn only_confirmed_events_are_acknowledged() {
    let (url, _) = scripted(vec![Answer::Confirm(Some(2))]);
    let ob = outbox_with(5);
    let evs = ob.peek(5).unwrap();
    let e = send_batch(&ob, &client(&url), &evs).unwrap_err();
    assert_eq!(e.code(), "sync.protocol");
    let left: Vec<i64> = ob.peek(10).unwrap().iter().map(|e| e.seq).collect();
    assert_eq!(left, evs[2..].iter().map(|e| e.seq).collect::<Vec<_>>());
}

#[test]
fn a_payload_that_is_not_json_stops_the_drain_and_is_kept() {
    let c = central();
    let ob = MemoryOutbox::new();
    ob.push_raw("test.event", b"{not json".to_vec()).unwrap();
    let e = drain(&ob, &client(&c.base_url()), &fast(), &mut |_| {}).unwrap_err();
    assert!(matches!(e, SyncError::CorruptPayload { .. }), "{e}");
    assert_eq!(ob.backlog().unwrap(), 1);
}

#[test]
fn wrong_token_is_reported_as_unauthorized() {
    let c = central();
    let mut o = ClientOptions::new(&c.base_url());
    o.token = Some(KioskToken::new("wrong-token-wrong-token".into()));
    let cl = Client::new(o).unwrap();
    let ob = outbox_with(1);
    let e = drain(&ob, &cl, &fast(), &mut |_| {}).unwrap_err();
    assert_eq!(e.code(), "sync.unauthorized");
    assert!(!e.to_string().contains("wrong-token"));
    assert_eq!(ob.backlog().unwrap(), 1);
}

fn trust_options() -> TrustOptions {
    TrustOptions {
        kiosk_id: "K-1".into(),
        list_key: None,
    }
}

#[test]
fn pulls_signed_trust_data_into_the_ledger_caches() {
    let c = central();
    c.with_store(|s| async move {
        s.rotate_template_key().await?;
        s.revoke("00000000000000aa", "lost phone").await?;
        s.set_thresholds(&json!({"face_match": 0.6})).await
    })
    .unwrap();
    let ledger = Ledger::open_in_memory(DataKey::from_bytes([1; 32])).unwrap();
    let cl = client(&c.base_url());
    let r = pull_all(&cl, &ledger, &trust_options()).unwrap();
    assert_eq!(
        r.list_key_id,
        c.list_public_key().key_id(),
        "pinned at first contact"
    );
    // The kiosk registered its own issuer key: it is on the list it pulled.
    assert_eq!(r.issuers, 1);
    assert_eq!(r.revoked, 1);
    assert_eq!(r.template_keys, 1);
    for kind in ["trust_list", "revocations", "template_keys", "thresholds"] {
        assert!(r.updated.contains(&kind), "{kind} in {:?}", r.updated);
    }
    let th = ledger.cache_get(CacheKind::Thresholds).unwrap().unwrap();
    let th: Value = serde_json::from_slice(&th.body).unwrap();
    assert_eq!(th["thresholds"]["face_match"], 0.6);
    // What the verifier reads back: verified again, the template key open, the own key listed.
    let t = load(&ledger, "K-1").unwrap();
    assert!(t.revocations.is_revoked(&[0, 0, 0, 0, 0, 0, 0, 0xaa]));
    assert_eq!(t.template_keys.len(), 1);
    assert!(!format!("{t:?}").contains(&hex::encode(*t.template_keys[0].key)));
    let own = t
        .trust
        .issuer(&t.own_issuer_kid)
        .expect("own issuer key listed");
    assert_eq!(own.status, IssuerStatus::Active);
    assert_eq!(own.kiosk_id, "K-1");
    t.check_fresh(madoguchi_sync::now_ms(), 60_000).unwrap();
    assert!(matches!(
        t.check_fresh(t.signed_at_ms + 2 * 3_600_000, 3_600_000),
        Err(TrustProblem::Stale {
            age_minutes: 120,
            limit_minutes: 60
        })
    ));
    // Another kiosk id cannot open the wrapped keys.
    assert!(matches!(
        load(&ledger, "K-2"),
        Err(TrustProblem::Invalid { .. })
    ));
    // Nothing changed: no version changes (the lists are only refreshed).
    let again = pull_all(&cl, &ledger, &trust_options()).unwrap();
    assert!(again.updated.is_empty(), "{:?}", again.updated);
    // A revocation later: only that list changes, and it reaches the verifier's view.
    c.with_store(|s| async move { s.revoke("00000000000000bb", "fraud").await })
        .unwrap();
    let third = pull_all(&cl, &ledger, &trust_options()).unwrap();
    assert_eq!(third.updated, ["revocations"]);
    assert!(
        load(&ledger, "K-1")
            .unwrap()
            .revocations
            .is_revoked(&[0, 0, 0, 0, 0, 0, 0, 0xbb])
    );
    // The kiosk's issuer key revoked at the backend: the trust list says so.
    let kid = hex::encode(&t.own_issuer_kid);
    c.with_store(|s| async move { s.revoke_issuer(&kid).await })
        .unwrap();
    let r = pull_all(&cl, &ledger, &trust_options()).unwrap();
    assert_eq!(
        r.registration_refused.as_deref(),
        Some("issuer_key_revoked")
    );
    let t = load(&ledger, "K-1").unwrap();
    assert_eq!(
        t.trust.issuer(&t.own_issuer_kid).map(|i| i.status),
        Some(IssuerStatus::Revoked)
    );
}

#[test]
fn an_edited_cache_or_another_list_key_is_refused() {
    let c = central();
    let ledger = Ledger::open_in_memory(DataKey::from_bytes([2; 32])).unwrap();
    let cl = client(&c.base_url());
    pull_all(&cl, &ledger, &trust_options()).unwrap();
    // A provisioned key that is not the backend's: the lists do not verify.
    let other = madoguchi_wire::ListSigningKey::generate().unwrap().public();
    let opts = TrustOptions {
        list_key: Some(other),
        ..trust_options()
    };
    let e = pull_all(&cl, &ledger, &opts).unwrap_err();
    assert!(e.to_string().contains("not by the trusted key"), "{e}");
    // The cached trust list edited in the database: the verifier refuses it.
    let ledger = Ledger::open_in_memory(DataKey::from_bytes([3; 32])).unwrap();
    pull_all(&cl, &ledger, &trust_options()).unwrap();
    let mut body: Value = serde_json::from_slice(
        &ledger
            .cache_get(CacheKind::TrustList)
            .unwrap()
            .unwrap()
            .body,
    )
    .unwrap();
    body["version"] = json!(99);
    ledger
        .cache_put(
            CacheKind::TrustList,
            "99",
            &serde_json::to_vec(&body).unwrap(),
        )
        .unwrap();
    assert!(matches!(
        load(&ledger, "K-1"),
        Err(TrustProblem::Invalid { .. })
    ));
    // …and an older list than the one held is a rollback the pull refuses.
    let e = pull_all(&cl, &ledger, &trust_options()).unwrap_err();
    assert!(e.to_string().contains("older than"), "{e}");
}

#[test]
fn nothing_pulled_yet_is_named() {
    let ledger = Ledger::open_in_memory(DataKey::from_bytes([4; 32])).unwrap();
    assert_eq!(
        load(&ledger, "K-1").unwrap_err(),
        TrustProblem::Missing("list key")
    );
}

#[test]
fn clock_skew_is_measured() {
    let c = central();
    let s = measure_skew(&client(&c.base_url())).unwrap();
    assert!(s.ok, "{s:?}");
    assert!(s.skew_ms.abs() < 2_000, "{s:?}");
    // A backend one hour ahead.
    let (url, _) = scripted(vec![Answer::Time(madoguchi_sync::now_ms() + 3_600_000)]);
    let s = measure_skew(&client(&url)).unwrap();
    assert!(!s.ok);
    assert!((s.skew_ms - 3_600_000).abs() < 5_000, "{s:?}");
}
