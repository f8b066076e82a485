//! The duplicate-face check on SQLite: the shared store scenario, then over HTTP against an
//! embedded backend on a database file — a face flagged under a second person, the same
//! person and another face not flagged, refused identity sessions (unknown, another kiosk's,
//! not verified), malformed bodies and templates (422, 400, 415, 401), templates at rest
//! sealed (the raw column holds no clear value), the index rebuilt after a restart (the
//! earlier faces found again), a custom threshold, and the `duplicates` admin command.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

mod duplicates_support;

use std::path::Path;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use duplicates_support::{face, near, person_event, uuid};
use madoguchi_central::master_key::{MasterKey, SEALED_PREFIX};
use madoguchi_central::server::{Embedded, Limits};
use madoguchi_central::store::Store;
use serde_json::{Value, json};

const KIOSK_A: &str = "duplicates-kiosk-a-token-0123456789";
const KIOSK_B: &str = "duplicates-kiosk-b-token-0123456789";

fn central_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_madoguchi-central"))
}

#[tokio::test]
async fn the_store_scenario_on_sqlite() {
    let s = Store::open_sqlite_in_memory(MasterKey::generate().unwrap())
        .await
        .unwrap();
    duplicates_support::scenario(&s).await;
}

fn b64(t: &[i8]) -> String {
    B64.encode(t.iter().map(|v| v.to_ne_bytes()[0]).collect::<Vec<u8>>())
}

fn start(db: &Path, key: &Path, limits: Limits) -> Embedded {
    Embedded::start(
        db.to_str().unwrap(),
        MasterKey::load(key).unwrap(),
        "127.0.0.1:0".parse().unwrap(),
        limits,
    )
    .unwrap()
}

/// POSTs `body` to `/v1/duplicate-checks` with `token` (if any): status and JSON body.
fn post(c: &Embedded, token: Option<&str>, body: &Value) -> (u16, Value) {
    let mut rq = reqwest::blocking::Client::new()
        .post(format!("{}/v1/duplicate-checks", c.base_url()))
        .json(body);
    if let Some(t) = token {
        rq = rq.bearer_auth(t);
    }
    let r = rq.send().unwrap();
    (r.status().as_u16(), r.json().unwrap())
}

fn check(c: &Embedded, token: &str, session: &str, identity: &str, t: &[i8]) -> (u16, Value) {
    post(
        c,
        Some(token),
        &json!({"session_id": session, "identity_session_id": identity, "template": b64(t)}),
    )
}

#[test]
fn duplicate_checks_over_http_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let key = dir.path().join("central.key");
    MasterKey::generate().unwrap().write_new(&key).unwrap();
    let c = start(&db, &key, Limits::default());
    c.with_store(|s| async move {
        s.add_kiosk("K-A", &madoguchi_central::token_digest(KIOSK_A))
            .await?;
        s.add_kiosk("K-B", &madoguchi_central::token_digest(KIOSK_B))
            .await?;
        let now = madoguchi_central::now_ms();
        s.ingest("K-A", duplicates_support::events(), now).await?;
        s.ingest(
            "K-B",
            vec![person_event(
                &uuid(0xe001),
                "sess-b-hana",
                "小林 花",
                "2000-01-01",
                "verified",
            )],
            now,
        )
        .await
    })
    .unwrap();
    let (a, b) = (face(21), face(22));

    // Alice: nothing yet.
    let (status, v) = check(&c, KIOSK_A, "enr-1", "sess-dup-alice-1", &a);
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["flagged"], false);
    assert_eq!(v["matches"], 0);
    assert_eq!(v["best_score"], Value::Null);
    assert!(
        (v["threshold"].as_f64().unwrap() - 0.48).abs() < 1e-6,
        "{v}"
    );
    let id = v["check_id"].as_str().unwrap();
    assert!(
        id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    assert_eq!(
        v.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["best_score", "check_id", "flagged", "matches", "threshold"]
    );
    // Alice again in another verification: the same person, not flagged.
    let (status, v) = check(&c, KIOSK_A, "enr-2", "sess-dup-alice-2", &near(&a, 6));
    assert_eq!((status, &v["flagged"]), (200, &json!(false)), "{v}");
    // Bob with Alice's face: flagged, both of her enrollments match.
    let (status, v) = check(&c, KIOSK_A, "enr-3", "sess-dup-bob", &near(&a, 5));
    assert_eq!(
        (status, &v["flagged"], &v["matches"]),
        (200, &json!(true), &json!(2)),
        "{v}"
    );
    assert!(v["best_score"].as_f64().unwrap() > 0.95, "{v}");
    let text = v.to_string();
    assert!(
        !text.contains("enr-1") && !text.contains("sess-dup-alice"),
        "{text}"
    );
    // Another face: not flagged; repeated: still one enrollment, same answer.
    for _ in 0..2 {
        let (status, v) = check(&c, KIOSK_A, "enr-4", "sess-dup-eve", &b);
        assert_eq!((status, &v["flagged"]), (200, &json!(false)), "{v}");
    }
    // Another kiosk: its own verified identity session, the same face as Alice's.
    let (status, v) = check(&c, KIOSK_B, "enr-b-1", "sess-b-hana", &a);
    assert_eq!((status, &v["matches"]), (200, &json!(3)), "{v}");

    // Refusals.
    for (token, identity, want) in [
        (KIOSK_A, "sess-dup-nobody", (404, "unknown_proof")),
        (KIOSK_B, "sess-dup-alice-1", (404, "unknown_proof")),
        (KIOSK_A, "sess-b-hana", (404, "unknown_proof")),
        (KIOSK_A, "sess-dup-carol", (409, "not_verified")),
    ] {
        let (status, v) = check(&c, token, "enr-x", identity, &a);
        assert_eq!(
            (status, v["code"].as_str().unwrap()),
            want,
            "{identity}: {v}"
        );
    }
    let good = b64(&a);
    let body = |template: &str| json!({"session_id": "enr-x", "identity_session_id": "sess-dup-bob", "template": template});
    for bad in [
        body(&B64.encode([0u8; 128])),
        body(&B64.encode([1u8; 1025])),
        body(""),
        body(&format!("{good}=")),
        body(
            &good
                .replace('-', "+")
                .replace('_', "/")
                .replace(|c: char| c.is_ascii_digit(), "+"),
        ),
        body("not base64!"),
        json!({"session_id": "enr x", "identity_session_id": "sess-dup-bob", "template": good}),
        json!({"session_id": "enr-x", "identity_session_id": "sess dup", "template": good}),
        json!({"session_id": "enr-x", "identity_session_id": "sess-dup-bob"}),
        json!({"session_id": "enr-x", "identity_session_id": "sess-dup-bob", "template": good,
               "name": "x"}),
        json!({"session_id": "enr-x", "identity_session_id": "sess-dup-bob", "template": [1, 2]}),
    ] {
        let (status, v) = post(&c, Some(KIOSK_A), &bad);
        assert_eq!(
            (status, v["code"].as_str()),
            (422, Some("invalid_duplicate_check")),
            "{bad}: {v}"
        );
        assert!(!v.to_string().contains(&good[..20]), "{v}");
    }
    let (status, _) = post(&c, None, &body(&good));
    assert_eq!(status, 401);
    let raw = |ctype: &str, body: &str| {
        reqwest::blocking::Client::new()
            .post(format!("{}/v1/duplicate-checks", c.base_url()))
            .bearer_auth(KIOSK_A)
            .header("content-type", ctype)
            .body(body.to_owned())
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(raw("application/json", "{\"session_id\": "), 400);
    assert_eq!(raw("text/plain", &body(&good).to_string()), 415);
    drop(c);

    // At rest: sealed, no clear value, one row per enrollment, no name.
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let rows: Vec<(String, String, String)> = conn
            .prepare("SELECT session_id, identity_key, template_sealed FROM face_templates")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 5, "enr-4 checked twice, one row");
        let clear = [
            b64(&a),
            b64(&b),
            hex::encode(a.iter().map(|v| v.to_ne_bytes()[0]).collect::<Vec<_>>()),
        ];
        for (_, identity, sealed) in &rows {
            assert!(sealed.starts_with(SEALED_PREFIX), "{sealed}");
            for c in &clear {
                assert!(!sealed.contains(&c[..16]));
            }
            assert!(identity.len() == 64 && identity.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        let alice: Vec<&String> = rows
            .iter()
            .filter(|r| r.0 == "enr-1" || r.0 == "enr-2")
            .map(|r| &r.1)
            .collect();
        assert_eq!(alice[0], alice[1], "one person, one identity key");
        let flags: i64 = conn
            .query_row("SELECT COUNT(*) FROM duplicate_flags", [], |r| r.get(0))
            .unwrap();
        assert_eq!(flags, 2);
    }

    // Restarted (a stricter threshold): the index is rebuilt from the sealed rows.
    let c = start(
        &db,
        &key,
        Limits {
            duplicate_threshold: 0.9,
            ..Limits::default()
        },
    );
    let (status, v) = check(&c, KIOSK_A, "enr-5", "sess-dup-frank", &near(&a, 7));
    assert_eq!(
        (status, &v["flagged"], &v["matches"]),
        (200, &json!(true), &json!(4)),
        "{v}"
    );
    assert!((v["threshold"].as_f64().unwrap() - 0.9).abs() < 1e-6, "{v}");
    let (status, v) = check(&c, KIOSK_A, "enr-6", "sess-dup-george", &near(&b, 8));
    assert_eq!(
        (status, &v["flagged"], &v["matches"]),
        (200, &json!(true), &json!(1)),
        "{v}"
    );
    drop(c);

    // The admin command lists the flags, without templates or persons.
    let out = Command::new(central_bin())
        .arg("--db")
        .arg(&db)
        .arg("--key-file")
        .arg(&key)
        .arg("duplicates")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    let flags = v["duplicate_flags"].as_array().unwrap();
    let mut sessions: Vec<&str> = flags
        .iter()
        .map(|f| f["session_id"].as_str().unwrap())
        .collect();
    sessions.sort_unstable();
    assert_eq!(sessions, ["enr-3", "enr-5", "enr-6", "enr-b-1"]);
    let bob = flags.iter().find(|f| f["session_id"] == "enr-3").unwrap();
    assert_eq!(
        (&bob["kiosk_id"], &bob["matches"]),
        (&json!("K-A"), &json!(2))
    );
    assert!(v["as_of_ms"].as_i64().is_some());
    for leak in [&b64(&a)[..16], "鈴木", "sess-dup", "identity"] {
        assert!(!text.contains(leak), "{leak}: {text}");
    }
}
