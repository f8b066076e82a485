//! Binding codes (re-binding a customer's passkey device) on SQLite: the shared store
//! scenario, then with a client over HTTP against an embedded backend — codes issued on a
//! credential proof and on an identity proof, redeemed once by a service (two concurrent
//! redeems: one wins), expired, foreign and malformed codes refused, kiosk and service tokens
//! kept to their own endpoints, refused proofs, the rate per customer — and the admin commands
//! (`service-add`, `binding-codes`) with no code in their output or in the database file.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod binding_support;

use std::path::Path;
use std::process::Command;

use binding_support::{FOREIGN_CODE, HOUR_MS, confirmation_event, credential_event, uuid};
use madoguchi_central::binding::{CODE_CHARS, CODE_LIFETIME_MS, MAX_LIVE_CODES, Proof};
use madoguchi_central::master_key::MasterKey;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::{NewEvent, Store};
use serde_json::{Value, json};

const KIOSK_A: &str = "binding-kiosk-a-token-0123456789";
const KIOSK_B: &str = "binding-kiosk-b-token-0123456789";
const SERVICE: &str = "binding-service-token-0123456789";

fn central_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_madoguchi-central"))
}

/// An embedded backend with kiosks K-A and K-B, the service `passkeys`, and what K-A sent:
/// credential `c1c1c1c1` (customer `sess-id-1`, live), `c2c2c2c2` (expired), `c3c3c3c3`
/// (revoked), `c4c4c4c4` (under issuer key `0404040404040404`, revoked); confirmation records
/// of `sess-id-2` (verified) and `sess-id-3` (not verified).
fn server() -> Embedded {
    let c = Embedded::start(
        ":memory:",
        MasterKey::generate().unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
    c.with_store(|s| async move {
        s.add_kiosk("K-A", &madoguchi_central::token_digest(KIOSK_A))
            .await?;
        s.add_kiosk("K-B", &madoguchi_central::token_digest(KIOSK_B))
            .await?;
        s.add_service("passkeys", &madoguchi_central::token_digest(SERVICE))
            .await
    })
    .unwrap();
    let now = madoguchi_central::now_ms();
    let mut under_revoked_issuer =
        credential_event(&uuid(4), "c4c4c4c4", "sess-id-4", now + HOUR_MS);
    under_revoked_issuer.payload = under_revoked_issuer
        .payload
        .replace("b0b0b0b0b0b0b0b0", "0404040404040404");
    send(
        &c,
        KIOSK_A,
        &[
            credential_event(&uuid(1), "c1c1c1c1", "sess-id-1", now + HOUR_MS),
            credential_event(&uuid(2), "c2c2c2c2", "sess-id-1", now - 1),
            credential_event(&uuid(3), "c3c3c3c3", "sess-id-1", now + HOUR_MS),
            under_revoked_issuer,
            confirmation_event(&uuid(5), "sess-id-2", "verified"),
            confirmation_event(&uuid(6), "sess-id-3", "refused"),
        ],
    );
    let (_, keys) = kiosk_keys("0404040404040404");
    let r = http()
        .put(format!("{}/v1/kiosk-keys", c.base_url()))
        .bearer_auth(KIOSK_A)
        .json(&keys)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    c.with_store(|s| async move {
        s.revoke("c3c3c3c3", "lost phone").await?;
        s.revoke_issuer("0404040404040404").await
    })
    .unwrap();
    c
}

fn kiosk_keys(kid: &str) -> (madoguchi_wire::KioskWrapKey, madoguchi_wire::KioskKeys) {
    let wrap = madoguchi_wire::KioskWrapKey::generate();
    let issuer = madoguchi_wire::ListSigningKey::generate().unwrap();
    let keys = madoguchi_wire::KioskKeys {
        wrap_public_key: wrap.public_base64(),
        issuer_kid: kid.into(),
        issuer_public_key: issuer.public().to_base64(),
    };
    (wrap, keys)
}

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

/// Sends events through the batch API, as the kiosk's sync does.
fn send(c: &Embedded, token: &str, events: &[NewEvent]) {
    let events: Vec<Value> = events
        .iter()
        .map(|e| {
            json!({"event_id": e.event_id, "kind": e.kind, "created_at_ms": e.created_at_ms,
                   "payload": serde_json::from_str::<Value>(&e.payload).unwrap()})
        })
        .collect();
    let r = http()
        .post(format!("{}/v1/events/batch", c.base_url()))
        .bearer_auth(token)
        .json(&json!({ "events": events }))
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().unwrap()["stored"], events.len());
}

/// POSTs `body` to `/v1/{path}` with `token` (if any): status, `Retry-After`, JSON body.
fn post(c: &Embedded, token: Option<&str>, path: &str, body: &Value) -> (u16, Option<u64>, Value) {
    let mut rq = http()
        .post(format!("{}/v1/{path}", c.base_url()))
        .json(body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (r.status().as_u16(), retry, r.json().unwrap())
}

fn issue(c: &Embedded, token: &str, session: &str, proof: Value) -> (u16, Value) {
    let (status, _, v) = post(
        c,
        Some(token),
        "binding-codes",
        &json!({"session_id": session, "proof": proof}),
    );
    (status, v)
}

fn redeem(c: &Embedded, token: &str, code: &str) -> (u16, Value) {
    let (status, _, v) = post(
        c,
        Some(token),
        "binding-codes/redeem",
        &json!({ "code": code }),
    );
    (status, v)
}

fn credential(id: &str) -> Value {
    json!({"kind": "credential", "credential_id": id})
}

fn identity(session: &str) -> Value {
    json!({"kind": "identity", "identity_session_id": session})
}

fn code_of(v: &Value) -> String {
    v["code"].as_str().unwrap().to_owned()
}

fn assert_refused(got: (u16, Value), status: u16, code: &str) {
    assert_eq!(
        (got.0, got.1["code"].as_str()),
        (status, Some(code)),
        "{}",
        got.1
    );
    assert!(got.1["message"].as_str().is_some_and(|m| !m.is_empty()));
}

#[tokio::test]
async fn the_store_scenario_on_sqlite() {
    let s = Store::open_sqlite_in_memory(MasterKey::generate().unwrap())
        .await
        .unwrap();
    binding_support::scenario(&s).await;
}

#[test]
fn codes_are_issued_on_a_credential_or_an_identity_proof_and_redeemed_once() {
    let c = server();
    let before = madoguchi_central::now_ms();
    // On a face credential (reported by K-A, used at K-B: a credential is good anywhere).
    let (status, a) = issue(&c, KIOSK_B, "sess-kb-1", credential("c1c1c1c1"));
    assert_eq!(status, 201, "{a}");
    let after = madoguchi_central::now_ms();
    let obj = a.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort_unstable();
    assert_eq!(keys, ["code", "customer_ref", "expires_at_ms"]);
    let code = code_of(&a);
    assert_eq!(code.len(), CODE_CHARS);
    assert!(
        code.bytes()
            .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b)),
        "{code}"
    );
    assert_eq!(a["customer_ref"], "sess-id-1");
    let expires = a["expires_at_ms"].as_i64().unwrap();
    assert!((before + CODE_LIFETIME_MS..=after + CODE_LIFETIME_MS).contains(&expires));
    // On this kiosk's verified identity session.
    let (status, b) = issue(&c, KIOSK_A, "sess-ka-1", identity("sess-id-2"));
    assert_eq!(status, 201, "{b}");
    assert_eq!(b["customer_ref"], "sess-id-2");
    assert_ne!(code_of(&b), code);

    // Redeemed by the service, once.
    let (status, r) = redeem(&c, SERVICE, &code);
    assert_eq!(status, 200, "{r}");
    let issued_at = r["issued_at_ms"].as_i64().unwrap();
    assert!((before..=after).contains(&issued_at));
    assert_eq!(
        r,
        json!({"customer_ref": "sess-id-1", "kiosk_id": "K-B", "session_id": "sess-kb-1",
               "proof_kind": "credential", "issued_at_ms": issued_at})
    );
    let second = redeem(&c, SERVICE, &code);
    assert!(!second.1.to_string().contains(&code));
    assert_refused(second, 409, "already_redeemed");
    let (status, r) = redeem(&c, SERVICE, &code_of(&b).to_ascii_lowercase());
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        (
            r["customer_ref"].as_str(),
            r["kiosk_id"].as_str(),
            r["proof_kind"].as_str()
        ),
        (Some("sess-id-2"), Some("K-A"), Some("identity"))
    );
    let codes = c
        .with_store(|s| async move { s.binding_codes(10).await })
        .unwrap();
    assert_eq!(codes.len(), 2);
    assert!(
        codes
            .iter()
            .all(|c| c.redeemed_by.as_deref() == Some("passkeys"))
    );
}

#[test]
fn two_concurrent_redeems_of_one_code_let_exactly_one_through() {
    let c = server();
    let url = format!("{}/v1/binding-codes/redeem", c.base_url());
    let rt = tokio::runtime::Runtime::new().unwrap();
    for round in 0..10 {
        let (status, v) = issue(&c, KIOSK_A, "sess-race", credential("c1c1c1c1"));
        assert_eq!(status, 201, "{v}");
        let code = code_of(&v);
        let statuses: Vec<(u16, Value)> = rt.block_on(async {
            let client = reqwest::Client::new();
            let tasks: Vec<_> = (0..2)
                .map(|_| {
                    let (client, url, code) = (client.clone(), url.clone(), code.clone());
                    tokio::spawn(async move {
                        let r = client
                            .post(url)
                            .bearer_auth(SERVICE)
                            .json(&json!({ "code": code }))
                            .send()
                            .await
                            .unwrap();
                        (r.status().as_u16(), r.json::<Value>().await.unwrap())
                    })
                })
                .collect();
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await.unwrap());
            }
            out
        });
        let mut got: Vec<u16> = statuses.iter().map(|(s, _)| *s).collect();
        got.sort_unstable();
        assert_eq!(got, [200, 409], "round {round}: {statuses:?}");
        let lost = statuses.iter().find(|(s, _)| *s == 409).unwrap();
        assert_eq!(lost.1["code"], "already_redeemed");
    }
}

#[test]
fn expired_foreign_and_malformed_codes_are_refused() {
    let c = server();
    // Issued (through the store, with an injected clock) a lifetime ago: expired now.
    let old = c
        .with_store(|s| async move {
            let proof = Proof::Credential {
                credential_id: "c1c1c1c1".into(),
            };
            let at = madoguchi_central::now_ms() - CODE_LIFETIME_MS - 1000;
            s.issue_binding_code("K-A", "sess-old", &proof, at).await
        })
        .unwrap()
        .unwrap();
    let got = redeem(&c, SERVICE, &old.code);
    assert!(!got.1.to_string().contains(old.code.as_str()));
    assert_refused(got, 410, "expired");
    // Issued over HTTP, redeemed (through the store) after its lifetime: expired.
    let (_, v) = issue(&c, KIOSK_A, "sess-late", credential("c1c1c1c1"));
    let code = code_of(&v);
    let late = c
        .with_store(|s| async move {
            let at = madoguchi_central::now_ms() + CODE_LIFETIME_MS + 1000;
            s.redeem_binding_code("passkeys", &code, at).await
        })
        .unwrap();
    assert_eq!(late.unwrap_err().code(), "expired");
    // Not issued here, or not a code at all.
    for code in [
        FOREIGN_CODE,
        "hello",
        "",
        &"A".repeat(33),
        "ABCDEFGHIJKLMNOPQRSTUVWXYZ234561",
    ] {
        assert_refused(redeem(&c, SERVICE, code), 404, "unknown_code");
    }
    // Not the documented body.
    for body in [
        json!({}),
        json!({"code": 5}),
        json!({"code": "x", "extra": 1}),
        json!("ABC"),
    ] {
        let (status, _, v) = post(&c, Some(SERVICE), "binding-codes/redeem", &body);
        assert_eq!(
            (status, v["code"].as_str()),
            (422, Some("invalid_redeem_request")),
            "{body}"
        );
        assert!(!v["message"].as_str().unwrap().contains("ABC"), "{v}");
    }
    let raw = |bytes: &'static [u8], ctype: &str| {
        http()
            .post(format!("{}/v1/binding-codes/redeem", c.base_url()))
            .bearer_auth(SERVICE)
            .header("content-type", ctype)
            .body(bytes)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(raw(b"{", "application/json"), 400);
    assert_eq!(raw(b"{}", "text/plain"), 415);
}

#[test]
fn kiosk_and_service_tokens_are_kept_to_their_own_endpoints() {
    let c = server();
    let (_, v) = issue(&c, KIOSK_A, "sess-t", credential("c1c1c1c1"));
    let code = code_of(&v);
    // A kiosk token cannot redeem; no token or an unknown one is a 401.
    assert_refused(redeem(&c, KIOSK_A, &code), 403, "not_a_service");
    assert_refused(
        redeem(&c, "not-a-token-0123456789", &code),
        401,
        "unauthorized",
    );
    let (status, _, v) = post(&c, None, "binding-codes/redeem", &json!({ "code": code }));
    assert_eq!((status, v["code"].as_str()), (401, Some("unauthorized")));
    // A service token is no kiosk token.
    assert_refused(
        issue(&c, SERVICE, "sess-t", credential("c1c1c1c1")),
        401,
        "unauthorized",
    );
    let r = http()
        .get(format!("{}/v1/trust-list", c.base_url()))
        .bearer_auth(SERVICE)
        .send()
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers().contains_key("www-authenticate"));
    // The code refused to the kiosk is still redeemable once by the service.
    assert_eq!(redeem(&c, SERVICE, &code).0, 200);
}

#[test]
fn proofs_are_refused_with_their_reason() {
    let c = server();
    for (token, proof, status, want) in [
        (KIOSK_A, credential("c9c9c9c9"), 422, "unknown_proof"),
        (KIOSK_A, credential("c2c2c2c2"), 422, "expired_credential"),
        (KIOSK_A, credential("c3c3c3c3"), 422, "revoked"),
        (KIOSK_A, credential("c4c4c4c4"), 422, "revoked"),
        // Another kiosk's confirmation record is no proof here.
        (KIOSK_B, identity("sess-id-2"), 422, "unknown_proof"),
        (KIOSK_A, identity("sess-id-9"), 422, "unknown_proof"),
        (KIOSK_A, identity("sess-id-3"), 422, "not_verified"),
        (KIOSK_A, credential("C1C1"), 422, "invalid_binding_request"),
        (KIOSK_A, identity("sess id"), 422, "invalid_binding_request"),
        (
            KIOSK_A,
            json!({"kind": "credential", "identity_session_id": "sess-id-2"}),
            422,
            "invalid_binding_request",
        ),
        (
            KIOSK_A,
            json!({"kind": "card"}),
            422,
            "invalid_binding_request",
        ),
    ] {
        assert_refused(issue(&c, token, "sess-p", proof), status, want);
    }
    for body in [
        json!({"proof": credential("c1c1c1c1")}),
        json!({"session_id": "", "proof": credential("c1c1c1c1")}),
        json!({"session_id": "s", "proof": credential("c1c1c1c1"), "customer_ref": "x"}),
    ] {
        let (status, _, v) = post(&c, Some(KIOSK_A), "binding-codes", &body);
        assert_eq!(
            (status, v["code"].as_str()),
            (422, Some("invalid_binding_request")),
            "{body}"
        );
    }
    assert!(
        c.with_store(|s| async move { s.binding_codes(10).await })
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_customer_has_at_most_five_live_codes() {
    let c = server();
    let mut codes = Vec::new();
    for i in 0..MAX_LIVE_CODES {
        let (status, v) = issue(&c, KIOSK_A, &format!("sess-{i}"), identity("sess-id-2"));
        assert_eq!(status, 201, "{v}");
        codes.push(code_of(&v));
    }
    let (status, retry, v) = post(
        &c,
        Some(KIOSK_A),
        "binding-codes",
        &json!({"session_id": "sess-x", "proof": identity("sess-id-2")}),
    );
    assert_eq!(
        (status, v["code"].as_str()),
        (429, Some("too_many_codes")),
        "{v}"
    );
    let retry = retry.unwrap();
    assert!((1..=300).contains(&retry), "{retry}");
    // Another customer (the credential's: `sess-id-1`) is not held back.
    assert_eq!(issue(&c, KIOSK_A, "sess-y", credential("c1c1c1c1")).0, 201);
    // A redeemed code makes room.
    assert_eq!(redeem(&c, SERVICE, &codes[0]).0, 200);
    assert_eq!(issue(&c, KIOSK_A, "sess-z", identity("sess-id-2")).0, 201);
}

fn admin(db: &Path, args: &[&str]) -> std::process::Output {
    Command::new(central_bin())
        .arg("--database-url")
        .arg(db)
        .arg("--key-file")
        .arg(db.with_extension("key"))
        .args(args)
        .output()
        .unwrap()
}

fn admin_json(db: &Path, args: &[&str]) -> Value {
    let out = admin(db, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn the_admin_commands_add_services_and_list_codes_without_them() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    MasterKey::generate()
        .unwrap()
        .write_new(&db.with_extension("key"))
        .unwrap();
    let kiosk_tok = dir.path().join("kiosk.token");
    let service_tok = dir.path().join("service.token");
    let p = |p: &Path| p.to_str().unwrap().to_owned();
    admin_json(
        &db,
        &["kiosk-add", "--id", "K-A", "--token-file", &p(&kiosk_tok)],
    );
    let added = admin_json(
        &db,
        &["service-add", "passkeys", "--token-file", &p(&service_tok)],
    );
    assert_eq!(
        added,
        json!({"service_id": "passkeys", "token_file": p(&service_tok), "token_created": true})
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&service_tok)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let service_token = std::fs::read_to_string(&service_tok)
        .unwrap()
        .trim()
        .to_owned();
    let kiosk_token = std::fs::read_to_string(&kiosk_tok)
        .unwrap()
        .trim()
        .to_owned();
    assert!(!added.to_string().contains(&service_token));
    // A kiosk's token cannot be a service's, nor the other way round.
    let out = admin(
        &db,
        &["service-add", "other", "--token-file", &p(&kiosk_tok)],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already a kiosk's"), "{err}");
    assert!(!err.contains(&kiosk_token), "{err}");
    let out = admin(
        &db,
        &["kiosk-add", "--id", "K-X", "--token-file", &p(&service_tok)],
    );
    assert!(!out.status.success());
    let out = admin(
        &db,
        &["service-add", "bad id", "--token-file", &p(&service_tok)],
    );
    assert!(!out.status.success());

    let master = MasterKey::load(&db.with_extension("key")).unwrap();
    let c = Embedded::start(
        db.to_str().unwrap(),
        master,
        "127.0.0.1:0".parse().unwrap(),
        Limits::default(),
    )
    .unwrap();
    let now = madoguchi_central::now_ms();
    send(
        &c,
        &kiosk_token,
        &[credential_event(
            &uuid(1),
            "c1c1c1c1",
            "sess-id-1",
            now + HOUR_MS,
        )],
    );
    let (status, a) = issue(&c, &kiosk_token, "sess-1", credential("c1c1c1c1"));
    assert_eq!(status, 201, "{a}");
    let (status, b) = issue(&c, &kiosk_token, "sess-2", credential("c1c1c1c1"));
    assert_eq!(status, 201, "{b}");
    assert_eq!(redeem(&c, &service_token, &code_of(&a)).0, 200);
    drop(c);

    let listed = admin_json(&db, &["binding-codes"]);
    let codes = listed["binding_codes"].as_array().unwrap();
    assert_eq!(codes.len(), 2, "{listed}");
    assert!(listed["as_of_ms"].as_i64().unwrap() >= now);
    let by_session = |s: &str| codes.iter().find(|c| c["session_id"] == s).unwrap();
    let (first, second) = (by_session("sess-1"), by_session("sess-2"));
    assert_eq!(
        (
            first["status"].as_str(),
            first["redeemed_by"].as_str(),
            first["proof_kind"].as_str(),
            first["customer_ref"].as_str(),
            first["kiosk_id"].as_str()
        ),
        (
            Some("redeemed"),
            Some("passkeys"),
            Some("credential"),
            Some("sess-id-1"),
            Some("K-A")
        )
    );
    assert_eq!(
        (
            second["status"].as_str(),
            second["redeemed_at_ms"].is_null()
        ),
        (Some("live"), true)
    );
    assert_eq!(
        first["code_sha256"],
        madoguchi_central::binding::code_digest(&code_of(&a))
    );
    assert_eq!(
        admin_json(&db, &["binding-codes", "--limit", "1"])["binding_codes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    // No code anywhere: not in the listing, not in the database files.
    let text = listed.to_string();
    for v in [&a, &b] {
        let code = code_of(v);
        assert!(!text.contains(&code));
        for f in ["central.sqlite", "central.sqlite-wal"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
            assert!(
                !bytes.windows(code.len()).any(|w| w == code.as_bytes()),
                "{f}"
            );
        }
    }
}
