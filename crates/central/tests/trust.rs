//! The trust data on SQLite: the shared store scenario, the kiosk-key registration and the
//! signed lists over HTTP (status codes and error codes, template keys opening only at their
//! kiosk), face credential events through the batch API, and the admin commands (`serve`
//! making the master key file, `list-key`, `rotate-keys`, `revoke --issuer-kid`).
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod trust_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use madoguchi_central::master_key::MasterKey;
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::Store;
use madoguchi_wire::{
    IssuerStatus, ListKind, ListPublicKey, SignedList, TemplateKeyList, TemplateKeyStatus,
    TrustList,
};
use serde_json::{Value, json};
use trust_support::{HOUR_MS, kiosk_keys, uuid};

const TOKEN_A: &str = "trust-kiosk-a-token-0123456789";
const TOKEN_B: &str = "trust-kiosk-b-token-0123456789";

fn central_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_madoguchi-central"))
}

fn server() -> Embedded {
    let c = Embedded::start(
        ":memory:",
        MasterKey::generate().unwrap(),
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

fn http() -> reqwest::blocking::Client {
    reqwest::blocking::Client::new()
}

fn get(c: &Embedded, token: &str, path: &str) -> reqwest::blocking::Response {
    http()
        .get(format!("{}/v1/{path}", c.base_url()))
        .bearer_auth(token)
        .send()
        .unwrap()
}

fn put_keys(c: &Embedded, token: &str, body: &Value) -> (u16, Value) {
    let r = http()
        .put(format!("{}/v1/kiosk-keys", c.base_url()))
        .bearer_auth(token)
        .json(body)
        .send()
        .unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn signed(c: &Embedded, token: &str, path: &str) -> SignedList {
    let r = get(c, token, path);
    assert_eq!(r.status(), 200, "{path}");
    r.json().unwrap()
}

#[tokio::test]
async fn the_store_scenario_on_sqlite() {
    let s = Store::open_sqlite_in_memory(MasterKey::generate().unwrap())
        .await
        .unwrap();
    trust_support::scenario(&s).await;
}

#[test]
fn kiosk_keys_are_registered_for_the_authenticated_kiosk_and_bad_ones_refused() {
    let c = server();
    let (_, keys) = kiosk_keys("0102030405060708");
    let body = serde_json::to_value(&keys).unwrap();
    assert_eq!(
        put_keys(&c, TOKEN_A, &body),
        (200, json!({"trust_list_version": 1}))
    );
    // The same again: no change, no new version.
    assert_eq!(
        put_keys(&c, TOKEN_A, &body),
        (200, json!({"trust_list_version": 1}))
    );
    // Another kiosk naming K-A's issuer key id: 409.
    let (_, mut other) = kiosk_keys("0102030405060708");
    let (status, err) = put_keys(&c, TOKEN_B, &serde_json::to_value(&other).unwrap());
    assert_eq!(
        (status, err["code"].as_str()),
        (409, Some("issuer_kid_taken"))
    );
    other.issuer_kid = "0807060504030201".into();
    assert_eq!(
        put_keys(&c, TOKEN_B, &serde_json::to_value(&other).unwrap()),
        (200, json!({"trust_list_version": 2}))
    );
    let t: TrustList = signed(&c, TOKEN_A, "trust-list")
        .open(&c.list_public_key())
        .unwrap();
    let owners: Vec<(&str, &str, IssuerStatus)> = t
        .issuers
        .iter()
        .map(|i| (i.kid.as_str(), i.kiosk_id.as_str(), i.status))
        .collect();
    assert_eq!(
        owners,
        [
            ("0102030405060708", "K-A", IssuerStatus::Active),
            ("0807060504030201", "K-B", IssuerStatus::Active)
        ]
    );

    // Bad input: 4xx with a JSON error, nothing stored.
    let mut bad = body.clone();
    bad["issuer_kid"] = json!("0A");
    let mut weak = body.clone();
    weak["wrap_public_key"] = json!("A".repeat(43));
    let mut extra = body.clone();
    extra["kiosk_id"] = json!("K-B");
    for b in [
        json!({}),
        json!([1]),
        bad,
        weak,
        extra,
        json!({"wrap_public_key": 1}),
    ] {
        let (status, err) = put_keys(&c, TOKEN_A, &b);
        assert_eq!(
            (status, err["code"].as_str()),
            (422, Some("invalid_kiosk_keys")),
            "{b}"
        );
        assert!(err["message"].is_string());
    }
    let raw = |bytes: &'static [u8], ctype: &str| {
        http()
            .put(format!("{}/v1/kiosk-keys", c.base_url()))
            .bearer_auth(TOKEN_A)
            .header("content-type", ctype)
            .body(bytes)
            .send()
            .unwrap()
            .status()
    };
    assert_eq!(raw(b"{", "application/json"), 400);
    assert_eq!(raw(b"{}", "text/plain"), 415);
    assert_eq!(
        c.with_store(|s| async move { s.version("trust_list").await })
            .unwrap(),
        2
    );
}

#[test]
fn template_keys_need_registered_keys_and_open_only_at_their_kiosk() {
    let c = server();
    let r = get(&c, TOKEN_A, "template-keys");
    assert_eq!(r.status(), 409);
    assert_eq!(r.json::<Value>().unwrap()["code"], "kiosk_keys_missing");
    let kid = c
        .with_store(|s| async move { s.rotate_template_key().await })
        .unwrap();
    assert_eq!(kid.len(), 8);
    let (wrap_a, keys_a) = kiosk_keys("0a0a0a0a0a0a0a0a");
    let (wrap_b, keys_b) = kiosk_keys("0b0b0b0b0b0b0b0b");
    put_keys(&c, TOKEN_A, &serde_json::to_value(&keys_a).unwrap());
    put_keys(&c, TOKEN_B, &serde_json::to_value(&keys_b).unwrap());
    let key = c.list_public_key();
    let sa = signed(&c, TOKEN_A, "template-keys");
    assert_eq!(sa.kind, ListKind::TemplateKeys);
    assert_eq!(sa.key_id, key.key_id());
    // Only the list key opens it; the trust-list reader refuses it.
    assert!(sa.open::<TrustList>(&key).is_err());
    let other = ListPublicKey::from_base64(&kiosk_keys("01").1.issuer_public_key).unwrap();
    assert!(sa.open::<TemplateKeyList>(&other).is_err());
    let la: TemplateKeyList = sa.open(&key).unwrap();
    let lb: TemplateKeyList = signed(&c, TOKEN_B, "template-keys").open(&key).unwrap();
    assert_eq!((la.kiosk_id.as_str(), lb.kiosk_id.as_str()), ("K-A", "K-B"));
    assert_eq!(la.keys.len(), 1);
    assert_eq!(
        (la.keys[0].kid.as_str(), la.keys[0].status),
        (kid.as_str(), TemplateKeyStatus::Active)
    );
    let secret = wrap_a.unwrap("K-A", &la.keys[0]).unwrap();
    assert_eq!(*wrap_b.unwrap("K-B", &lb.keys[0]).unwrap(), *secret);
    // K-B's copy does not open with K-A's key, nor relabelled as K-A's.
    assert!(wrap_a.unwrap("K-A", &lb.keys[0]).is_err());
    assert!(wrap_b.unwrap("K-A", &la.keys[0]).is_err());
    // The key never travels in clear.
    let text = get(&c, TOKEN_A, "template-keys").text().unwrap();
    use base64::Engine as _;
    for enc in [
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*secret),
        base64::engine::general_purpose::STANDARD.encode(*secret),
        hex::encode(*secret),
    ] {
        assert!(!text.contains(&enc));
    }
}

#[test]
fn credential_events_arrive_through_the_batch_api_once() {
    let c = server();
    let (_, keys) = kiosk_keys("0c0c0c0c0c0c0c0c");
    put_keys(&c, TOKEN_A, &serde_json::to_value(&keys).unwrap());
    let k1 = c
        .with_store(|s| async move { s.rotate_template_key().await })
        .unwrap();
    let now = madoguchi_central::now_ms();
    let e = trust_support::issued(&uuid(1), "c1c1c1c1", "0c0c0c0c0c0c0c0c", &k1, now + HOUR_MS);
    let wire = json!({"event_id": e.event_id, "kind": e.kind, "created_at_ms": 1,
                      "payload": serde_json::from_str::<Value>(&e.payload).unwrap()});
    let post = |token: &str, events: Value| -> Value {
        let r = http()
            .post(format!("{}/v1/events/batch", c.base_url()))
            .bearer_auth(token)
            .json(&json!({ "events": events }))
            .send()
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json().unwrap()
    };
    assert_eq!(post(TOKEN_A, json!([wire.clone()]))["stored"], 1);
    assert_eq!(post(TOKEN_A, json!([wire]))["duplicates"], 1);
    // K-B reporting a credential under K-A's issuer key: stored as an event, flagged.
    let forged =
        trust_support::issued(&uuid(2), "f0f0f0f0", "0c0c0c0c0c0c0c0c", &k1, now + HOUR_MS);
    let forged = json!({"event_id": forged.event_id, "kind": forged.kind, "created_at_ms": 1,
                        "payload": serde_json::from_str::<Value>(&forged.payload).unwrap()});
    assert_eq!(post(TOKEN_B, json!([forged]))["stored"], 1);
    let (creds, counts) = c
        .with_store(|s| async move {
            Ok((
                s.face_credentials("", 10).await?,
                s.credential_counts().await?,
            ))
        })
        .unwrap();
    assert_eq!(creds.len(), 1);
    assert_eq!(
        (
            creds[0].credential_id.as_str(),
            creds[0].kiosk_id.as_str(),
            creds[0].template_kid.as_str()
        ),
        ("c1c1c1c1", "K-A", k1.as_str())
    );
    assert_eq!((counts.recorded, counts.malformed), (1, 1));
    assert_eq!(counts.malformed_reasons.get("foreign_issuer"), Some(&1));
}

fn admin(db: &Path, key: &Path, args: &[&str]) -> std::process::Output {
    Command::new(central_bin())
        .arg("--database-url")
        .arg(db)
        .arg("--key-file")
        .arg(key)
        .args(args)
        .output()
        .unwrap()
}

fn admin_json(db: &Path, key: &Path, args: &[&str]) -> Value {
    let out = admin(db, key, args);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

struct Served(std::process::Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `madoguchi-central serve` on a free port, up.
fn serve(db: &Path, key: &Path) -> (Served, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(central_bin())
        .arg("--database-url")
        .arg(db)
        .env("MADOGUCHI_CENTRAL_KEY_FILE", key)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let served = Served(child);
    let base = format!("http://127.0.0.1:{port}");
    let until = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(format!("{base}/v1/health")).is_err() {
        assert!(Instant::now() < until, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
    (served, base)
}

#[test]
fn serve_makes_the_key_file_and_the_admin_commands_use_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let key: PathBuf = dir.path().join("central.key");
    // Before `serve` made the key, admin commands refuse, saying why.
    let out = admin(&db, &key, &["list-key"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("does not exist") && err.contains("serve"),
        "{err}"
    );
    assert!(!key.exists());

    let (server, base) = serve(&db, &key);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let tok = dir.path().join("k.token");
    admin_json(
        &db,
        &key,
        &[
            "kiosk-add",
            "--id",
            "K-A",
            "--token-file",
            tok.to_str().unwrap(),
        ],
    );
    let token = std::fs::read_to_string(&tok).unwrap().trim().to_owned();
    let printed = admin_json(&db, &key, &["list-key"]);
    let served: Value = http()
        .get(format!("{base}/v1/list-key"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(printed, served);
    let pinned = ListPublicKey::from_base64(printed["public_key"].as_str().unwrap()).unwrap();
    assert_eq!(pinned.key_id(), printed["key_id"]);

    let rotated = admin_json(&db, &key, &["rotate-keys"]);
    let kid = rotated["template_kid"].as_str().unwrap().to_owned();
    assert_eq!(rotated.as_object().unwrap().len(), 1, "{rotated}");
    assert_eq!(madoguchi_wire::parse_id("t", "kid", &kid).unwrap().len(), 4);

    let (_, keys) = kiosk_keys("0d0d0d0d0d0d0d0d");
    let r = http()
        .put(format!("{base}/v1/kiosk-keys"))
        .bearer_auth(&token)
        .json(&keys)
        .send()
        .unwrap();
    assert_eq!(r.status(), 200);
    let revoked = admin_json(&db, &key, &["revoke", "--issuer-kid", "0d0d0d0d0d0d0d0d"]);
    assert_eq!(
        revoked,
        json!({"revoked_issuer_kid": "0d0d0d0d0d0d0d0d", "changed": true, "trust_list_version": 2})
    );
    let out = admin(&db, &key, &["revoke", "--issuer-kid", "0e0e0e0e0e0e0e0e"]);
    assert!(!out.status.success(), "unknown issuer key");
    let t: TrustList = http()
        .get(format!("{base}/v1/trust-list"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json::<SignedList>()
        .unwrap()
        .open(&pinned)
        .unwrap();
    assert_eq!(t.issuers[0].status, IssuerStatus::Revoked);
    let revoked = admin_json(&db, &key, &["revoke", "--credential-id", "c0ffee"]);
    assert_eq!(revoked["revoked"], "c0ffee");
    let stats = admin_json(&db, &key, &["stats"]);
    assert_eq!(
        (
            stats["issuer_keys"].as_u64(),
            stats["template_keys"].as_u64(),
            stats["kiosks_with_keys"].as_u64(),
            stats["revocations"].as_u64()
        ),
        (Some(1), Some(1), Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(stats["face_credentials"]["recorded"], 0);
    drop(server);

    // Restarted, the server opens its key file again and keeps the same list key.
    let (server, base) = serve(&db, &key);
    let again: Value = http()
        .get(format!("{base}/v1/list-key"))
        .bearer_auth(&token)
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(again, printed);
    drop(server);
    // Nothing printed by the admin commands or stored in clear holds the master key.
    let master = std::fs::read_to_string(&key).unwrap();
    let db_bytes = std::fs::read(&db).unwrap();
    assert!(!db_bytes.windows(64).any(|w| w == master.trim().as_bytes()));
}

#[test]
fn the_documented_kiosk_keys_example_is_a_usable_registration() {
    let example = madoguchi_wire::KioskKeys {
        wrap_public_key: "B6N8vBQgk8i3VdwbEOhstCY3StFqqFPtC9_AsrhtHHw".into(),
        issuer_kid: "0123456789abcdef".into(),
        issuer_public_key: "5_FioQvsVZr-oZXk3OhLaVaNXSywlj60RsBoXisX8vA".into(),
    };
    madoguchi_central::trust::check_kiosk_keys(&example).unwrap();
    for v in [
        &example.wrap_public_key,
        &example.issuer_kid,
        &example.issuer_public_key,
    ] {
        assert!(madoguchi_central::OPENAPI_YAML.contains(v.as_str()), "{v}");
    }
}
