//! schemathesis (PyPI) against `openapi.yaml` on the live `madoguchi-central serve` binary,
//! with every check on (`--checks all`: no 5xx, documented statuses, content types, headers
//! and response schemas, invalid data rejected, valid data accepted, auth enforced). Bounded
//! example count and a fixed seed; the server must still be running afterwards.
//!
//! schemathesis lives in a venv the test creates under the target directory
//! (`target/schemathesis-venv`, needs the Debian package `python3-venv` and PyPI).
//!
//! Each security scheme gets its token (`kioskToken` a registered kiosk's, `serviceToken` a
//! registered service's), and the documented binding-code examples name a credential and a
//! verified identity session the database holds, so that codes are issued.
//!
//! Two allowances, in `schemathesis.toml`: `PUT /v1/kiosk-keys` may answer 422 to a body the
//! schema allows, since no JSON schema can say which 32-byte strings are Ed25519 points or
//! X25519 keys of large order; `POST /v1/binding-codes` may answer 422 (a proof the backend
//! does not hold) and 429 (five live codes) to one; `POST /v1/duplicate-checks` may answer 404
//! and 409 (an identity session the backend does not hold, or not verified) and 422 (a
//! template of all zero bytes, or base64url whose last character has stray bits: no pattern
//! says so) to one. Its documented example names the verified identity session, so that a
//! template is stored.
#![allow(clippy::unwrap_used)] // test helpers: a failed set-up is a failed test

#[path = "../../card/tests/virtual_support/mod.rs"]
mod virtual_support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SCHEMATHESIS: &str = "schemathesis==4.32.5";
const TOKEN: &str = "schemathesis-kiosk-token-0123456789";
const SERVICE_TOKEN: &str = "schemathesis-service-token-0123456789";

fn central_bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_madoguchi-central"))
}

/// `target/schemathesis-venv/bin/st`, creating the venv on first use.
fn schemathesis() -> PathBuf {
    // target/<profile>/madoguchi-central → target/
    let target = central_bin().parent().unwrap().parent().unwrap();
    let venv = target.join("schemathesis-venv");
    let st = venv.join("bin").join("st");
    let pinned = Command::new(&st)
        .arg("--version")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("4.32.5"));
    if pinned {
        return st;
    }
    let ok = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not create a Python venv: install the Debian package `python3-venv`"
    );
    let ok = Command::new(venv.join("bin").join("pip"))
        .args(["install", "--quiet", SCHEMATHESIS])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "could not install the PyPI package `{SCHEMATHESIS}` into {}",
        venv.display()
    );
    st
}

fn st_config() -> String {
    format!(
        r#"
[auth.openapi.kioskToken]
bearer = "{TOKEN}"

[auth.openapi.serviceToken]
bearer = "{SERVICE_TOKEN}"

[[operations]]
include-path = "/v1/kiosk-keys"
include-method = "PUT"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "409", "422"]

[[operations]]
include-operation-id = "issueBindingCode"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "422", "429"]

[[operations]]
include-operation-id = "checkDuplicateFace"

[operations.checks.positive_data_acceptance]
expected-statuses = ["2xx", "401", "404", "409", "422"]

[[operations]]
include-operation-id = "redeemBindingCode"
warnings = false
"#
    )
}

fn key_file(db: &Path) -> PathBuf {
    db.with_extension("key")
}

fn admin(db: &Path, args: &[&str]) {
    let ok = Command::new(central_bin())
        .arg("--database-url")
        .arg(db)
        .arg("--key-file")
        .arg(key_file(db))
        .args(args)
        .stdout(Stdio::null())
        .status()
        .unwrap()
        .success();
    assert!(ok, "madoguchi-central {args:?} failed");
}

#[test]
fn schemathesis_finds_no_failures_on_the_live_server() {
    let st = schemathesis();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("central.sqlite");
    let tok = dir.path().join("kiosk.token");
    std::fs::write(&tok, TOKEN).unwrap();
    let service_tok = dir.path().join("service.token");
    std::fs::write(&service_tok, SERVICE_TOKEN).unwrap();
    let thresholds = dir.path().join("thresholds.json");
    std::fs::write(&thresholds, r#"{"face_match": 0.55}"#).unwrap();
    let master = || madoguchi_central::master_key::MasterKey::load(&key_file(&db)).unwrap();
    madoguchi_central::master_key::MasterKey::generate()
        .unwrap()
        .write_new(&key_file(&db))
        .unwrap();
    admin(
        &db,
        &[
            "kiosk-add",
            "--id",
            "K-ST",
            "--token-file",
            tok.to_str().unwrap(),
        ],
    );
    admin(
        &db,
        &[
            "service-add",
            "st-passkeys",
            "--token-file",
            service_tok.to_str().unwrap(),
        ],
    );
    admin(&db, &["rotate-keys"]);
    admin(&db, &["revoke", "--credential-id", "c0ffee01"]);
    admin(
        &db,
        &["set-thresholds", "--file", thresholds.to_str().unwrap()],
    );
    admin(
        &db,
        &[
            "teller-add",
            "t-1",
            "--role",
            "teller",
            "--name",
            "山田 花子",
        ],
    );
    admin(
        &db,
        &[
            "teller-add",
            "sup-1",
            "--role",
            "supervisor",
            "--name",
            "佐藤 一郎",
        ],
    );
    admin(&db, &["teller-disable", "sup-1"]);
    // A key registered at the kiosk, so that `/v1/tellers` serves a credential; the kiosk's
    // own keys, so that `/v1/template-keys` serves them; a credential it issued and an identity
    // it verified (those of the documented binding-code examples).
    tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = madoguchi_central::store::Store::open_sqlite(&db, master())
            .await
            .unwrap();
        let wrap = madoguchi_wire::KioskWrapKey::generate();
        let issuer = madoguchi_wire::ListSigningKey::generate().unwrap();
        let keys = madoguchi_wire::KioskKeys {
            wrap_public_key: wrap.public_base64(),
            issuer_kid: "5151515151515151".into(),
            issuer_public_key: issuer.public().to_base64(),
        };
        s.register_kiosk_keys("K-ST", &keys).await.unwrap();
        let template_kid = s.template_keys().await.unwrap()[0].kid.clone();
        let now = madoguchi_central::now_ms();
        let issued = serde_json::json!({"credential_id": "c0ffee02",
            "issuer_kid": "5151515151515151", "template_kid": template_kid,
            "issued_at_ms": now, "expires_at_ms": now + 86_400_000,
            "identity_session_id": "s-1", "confirmation_record_id": "r-1"});
        let e = madoguchi_central::store::NewEvent {
            event_id: "00000000-0000-4000-8000-00000000abce".into(),
            kind: "face_credential.issued".into(),
            payload: issued.to_string(),
            created_at_ms: 1,
            verification: "not_checked".into(),
        };
        s.ingest("K-ST", vec![e], now).await.unwrap();
        let record = serde_json::json!({"format": "madoguchi-confirmation/1",
            "record_id": "rec-st-1", "session_id": "sess-verified-0001",
            "verified_at_ms": now, "outcome": "verified"});
        let payload = serde_json::json!({"record_id": "rec-st-1",
            "session_id": "sess-verified-0001", "at_ms": now, "record": record});
        let e = madoguchi_central::store::NewEvent {
            event_id: "00000000-0000-4000-8000-00000000abcf".into(),
            kind: "confirmation.recorded".into(),
            payload: payload.to_string(),
            created_at_ms: 1,
            verification: "not_checked".into(),
        };
        s.ingest("K-ST", vec![e], now).await.unwrap();
        let payload = serde_json::json!({"teller_id": "t-1", "credential_id": "Y3JlZC1hLTAxMjM0NTY3ODk",
            "registered_by": null, "sign_count": 3, "at_ms": 1, "credential": {"id": "x"}});
        let e = madoguchi_central::store::NewEvent {
            event_id: "00000000-0000-4000-8000-00000000abcd".into(),
            kind: "teller.key_registered".into(),
            payload: payload.to_string(),
            created_at_ms: 1,
            verification: "not_checked".into(),
        };
        s.ingest("K-ST", vec![e], 1).await.unwrap();
    });

    // As the demo runs it: evidence signatures of the virtual card's TEST hierarchy verify.
    let roots = virtual_support::anchors_dir();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut server = Command::new(central_bin())
        .arg("--database-url")
        .arg(&db)
        .arg("--key-file")
        .arg(key_file(&db))
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .arg("--test-jpki-roots")
        .arg(roots.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(20);
    while reqwest::blocking::get(format!("{base}/v1/health")).is_err() {
        assert!(Instant::now() < until, "server did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.yaml");
    let report = dir.path().join("st.out");
    let config = dir.path().join("schemathesis.toml");
    std::fs::write(&config, st_config()).unwrap();
    let mut run = Command::new(&st)
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(&spec)
        .args(["--url", &base])
        .args(["--checks", "all", "--max-examples", "30", "--seed", "1"])
        .args(["--workers", "1", "--request-timeout", "10", "--no-color"])
        .stdout(std::fs::File::create(&report).unwrap())
        .stderr(Stdio::null())
        .current_dir(dir.path())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(300);
    let status = loop {
        if let Some(s) = run.try_wait().unwrap() {
            break Some(s);
        }
        if Instant::now() >= until {
            let _ = run.kill();
            let _ = run.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let out = std::fs::read_to_string(&report).unwrap_or_default();
    let still_up = server.try_wait().unwrap().is_none();
    let _ = server.kill();
    let _ = server.wait();
    let tail: String = out
        .lines()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    println!("{tail}");
    assert!(still_up, "the server stopped during the run");
    assert!(status.is_some(), "schemathesis did not finish within 300 s");
    assert!(
        status.unwrap().success(),
        "schemathesis found failures:\n{tail}"
    );
    assert!(out.contains("No issues found"), "{tail}");
    let generated = out
        .lines()
        .find(|l| l.contains("generated,"))
        .unwrap_or_default();
    assert!(!generated.contains(" 0 generated"), "{generated}");
    // The documented examples issued codes on both proofs (so 201 answers were checked too).
    let codes = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let s = madoguchi_central::store::Store::open_sqlite(&db, master())
            .await
            .unwrap();
        s.binding_codes(1000).await.unwrap()
    });
    for kind in ["credential", "identity"] {
        assert!(codes.iter().any(|c| c.proof_kind == kind), "{codes:?}");
    }
    // The documented duplicate-check example stored its template (a 200 was checked too).
    let templates: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM face_templates", [], |r| r.get(0))
        .unwrap();
    assert!(templates >= 1, "{templates}");
}
