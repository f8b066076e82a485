//! The display-less command line, run as a real process: `--version` and `config check`.

use std::process::Command;

fn madoguchi() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_madoguchi"));
    // Keep the developer's environment out of the test.
    for (k, _) in std::env::vars() {
        if k.starts_with("MADOGUCHI") {
            c.env_remove(k);
        }
    }
    c
}

fn write(dir: &tempfile::TempDir, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.path().join(name);
    std::fs::write(&p, text).expect("write test config");
    p
}

#[test]
fn version_prints_the_crate_version() {
    let out = madoguchi().arg("--version").output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("madoguchi {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn config_check_prints_the_effective_config_with_secrets_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(
        &dir,
        "ok.toml",
        "[kiosk]\nid = \"K-77\"\nbranch_code = \"310\"\n[backend]\nurl = \"https://central.example\"\ntoken = \"tok-SECRET-123\"\n",
    );
    let out = madoguchi()
        .args(["config", "check", "--config"])
        .arg(&cfg)
        .env("MADOGUCHI__DEVICES__SIMULATE", "true")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    assert!(stdout.contains("id = \"K-77\""), "{stdout}");
    assert!(stdout.contains("branch_code = \"310\""), "{stdout}");
    assert!(
        stdout.contains("simulate = true"),
        "env override shown: {stdout}"
    );
    assert!(!stdout.contains("tok-SECRET-123"), "{stdout}");
    assert!(stdout.contains("<redacted>"), "{stdout}");
}

#[test]
fn config_check_rejects_a_malformed_config_naming_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "[kiosk]\nid = \"K-1\"\n\n[log]\nlevel = \"loud\"\n",
            "log.level",
            ":5:",
        ),
        ("[kiosk]\nbranch = \"001\"\n", "kiosk.branch", ":2:"),
        ("[kiosk]\nfullscreen = yes\n", "kiosk.fullscreen", ":2:"),
    ];
    for (i, (text, key, line)) in cases.iter().enumerate() {
        let cfg = write(&dir, &format!("bad{i}.toml"), text);
        let out = madoguchi()
            .args(["config", "check", "--config"])
            .arg(&cfg)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
        assert!(stderr.contains(line), "line {line} not named: {stderr}");
        assert!(out.stdout.is_empty());
    }
}

#[test]
fn the_kiosk_refuses_to_start_on_a_bad_config() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = write(&dir, "bad.toml", "[kiosk]\nbranch_code = \"1\"\n");
    let out = madoguchi().arg("--config").arg(&cfg).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("kiosk.branch_code"));
}

/// The technician's commands work on the kiosk as configured: `ledger status` and
/// `sync status` find the database and key in the configured data directory.
#[test]
fn ledger_and_sync_status_default_to_the_configured_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let provision = madoguchi()
        .args(["ledger", "provision-key", "--key-file"])
        .arg(data.join("ledger.key"))
        .output()
        .unwrap();
    assert!(provision.status.success(), "{provision:?}");
    let cfg = write(
        &dir,
        "kiosk.toml",
        &format!("[storage]\ndata_dir = {:?}\n", data.to_str().unwrap()),
    );
    // No database yet: a named error, exit 2, not a clap usage error.
    let out = madoguchi()
        .args(["--config"])
        .arg(&cfg)
        .args(["ledger", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ledger.sqlite"),
        "{out:?}"
    );
    // Make the database through the library, as the kiosk's first start does.
    drop(
        madoguchi_ledger::Ledger::open(
            &data.join("ledger.sqlite"),
            madoguchi_ledger::DataKey::load(&data.join("ledger.key")).unwrap(),
        )
        .unwrap(),
    );
    for args in [&["ledger", "status"][..], &["sync", "status"][..]] {
        let out = madoguchi()
            .args(["--config"])
            .arg(&cfg)
            .args(args)
            .output()
            .unwrap();
        assert!(out.status.success(), "{args:?}: {out:?}");
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        assert!(v.is_object(), "{args:?}: {v}");
    }
    // Without a configuration nor options the command names what is missing.
    let out = madoguchi()
        .env("MADOGUCHI_CONFIG", "/dev/null")
        .env("HOME", dir.path())
        .env_remove("XDG_DATA_HOME")
        .args(["sync", "status"])
        .output()
        .unwrap();
    assert!(!out.status.success());
}
