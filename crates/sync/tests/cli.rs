//! `sync run --once` and `sync status` through [`madoguchi_sync::cli::run`], on a ledger file
//! and a loopback central backend.

use std::process::ExitCode;

use clap::Parser;
use madoguchi_sync::cli::{SyncCommand, run};
use madoguchi_sync::stress::Fixture;
use serde_json::json;

#[derive(Parser)]
struct Top {
    #[command(subcommand)]
    cmd: SyncCommand,
}

fn cmd(args: &[&str]) -> SyncCommand {
    let mut all = vec!["sync"];
    all.extend_from_slice(args);
    Top::parse_from(all).cmd
}

#[test]
fn run_once_drains_and_pulls_then_status_reports() {
    let fx = Fixture::new().unwrap();
    let central = fx.central("127.0.0.1:0").unwrap();
    central
        .with_store(|s| async move { s.revoke("00000000000000c1", "test").await })
        .unwrap();
    {
        let l = fx.ledger().unwrap();
        for n in 0..25 {
            l.append_event("test.event", &json!({"n": n})).unwrap();
        }
    }
    let url = central.base_url();
    let paths = [
        "--db",
        fx.db.to_str().unwrap(),
        "--key-file",
        fx.key_file.to_str().unwrap(),
        "--backend-url",
        url.as_str(),
        "--token-file",
        fx.token_file.to_str().unwrap(),
        "--kiosk-id",
        madoguchi_sync::stress::KIOSK,
    ];
    let mut a = vec!["run", "--once", "--batch-size", "10"];
    a.extend_from_slice(&paths);
    assert_eq!(run(cmd(&a)), ExitCode::SUCCESS);
    let l = fx.ledger().unwrap();
    assert_eq!(l.outbox_backlog().unwrap(), 0);
    let t = madoguchi_sync::trust::load(&l, madoguchi_sync::stress::KIOSK).unwrap();
    assert!(t.revocations.is_revoked(&[0, 0, 0, 0, 0, 0, 0, 0xc1]));
    assert!(l.sync_state().unwrap().last_success_ms.is_some());
    let n = central
        .with_store(|s| async move { s.event_count().await })
        .unwrap();
    assert_eq!(n, 25);
    let mut a = vec!["status", "--probe"];
    a.extend_from_slice(&paths);
    assert_eq!(run(cmd(&a)), ExitCode::SUCCESS);
}

#[test]
fn bad_settings_exit_2_and_unreachable_backend_exits_1() {
    let fx = Fixture::new().unwrap();
    drop(fx.ledger().unwrap());
    let db = fx.db.to_str().unwrap();
    let key = fx.key_file.to_str().unwrap();
    let tok = fx.token_file.to_str().unwrap();
    // Plain http to a non-loopback host is refused before anything is sent.
    let a = [
        "run",
        "--once",
        "--db",
        db,
        "--key-file",
        key,
        "--backend-url",
        "http://192.0.2.1",
        "--token-file",
        tok,
    ];
    assert_eq!(run(cmd(&a)), ExitCode::from(2));
    let a = [
        "run",
        "--once",
        "--db",
        db,
        "--key-file",
        "/nonexistent/key",
        "--backend-url",
        "http://127.0.0.1:9",
    ];
    assert_eq!(run(cmd(&a)), ExitCode::from(2));
    // A closed loopback port: retried a few times, then exit 1; the event stays.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    fx.ledger()
        .unwrap()
        .append_event("test.event", &json!({"n": 0}))
        .unwrap();
    let url = format!("http://127.0.0.1:{port}");
    let a = [
        "run",
        "--once",
        "--db",
        db,
        "--key-file",
        key,
        "--backend-url",
        url.as_str(),
        "--token-file",
        tok,
        "--kiosk-id",
        "K-1",
    ];
    assert_eq!(run(cmd(&a)), ExitCode::from(1));
    let l = fx.ledger().unwrap();
    assert_eq!(l.outbox_backlog().unwrap(), 1);
    assert_eq!(
        l.sync_state().unwrap().last_error_code.as_deref(),
        Some("sync.unreachable")
    );
}

#[test]
fn continuous_run_drains_what_arrives_and_stops_at_its_deadline() {
    let fx = Fixture::new().unwrap();
    let central = fx.central("127.0.0.1:0").unwrap();
    let ledger = fx.ledger().unwrap();
    let url = central.base_url();
    let args = cmd(&[
        "run",
        "--max-runtime-secs",
        "4",
        "--db",
        fx.db.to_str().unwrap(),
        "--key-file",
        fx.key_file.to_str().unwrap(),
        "--backend-url",
        url.as_str(),
        "--token-file",
        fx.token_file.to_str().unwrap(),
        "--kiosk-id",
        madoguchi_sync::stress::KIOSK,
    ]);
    let t = std::time::Instant::now();
    let runner = std::thread::spawn(move || run(args));
    // Events recorded while the loop runs reach the backend.
    for n in 0..5 {
        ledger.append_event("test.event", &json!({"n": n})).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    assert_eq!(runner.join().unwrap(), ExitCode::SUCCESS);
    assert!(t.elapsed() < std::time::Duration::from_secs(10));
    let st = madoguchi_sync::service::status(&ledger).unwrap();
    assert_eq!(st.backlog, 0, "{st:?}");
    assert!(st.last_success_ms.is_some());
    let n = central
        .with_store(|s| async move { s.event_count().await })
        .unwrap();
    assert_eq!(n, 5);
}
