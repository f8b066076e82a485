//! The `madoguchi-virtual-card` binary: `profiles --json`, `check-profile`, and `serve`'s
//! choice between `--profile` and `--profile-file`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;

#[test]
fn profiles_json_lists_every_profile_with_credentials() {
    let out = Command::new(env!("CARGO_BIN_EXE_madoguchi-virtual-card"))
        .args(["profiles", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let list = v.as_array().unwrap();
    assert_eq!(list.len(), madoguchi_virtual_card::profiles().len());
    let hopper = list.iter().find(|p| p["name"] == "hopper").unwrap();
    assert_eq!(hopper["credentials"]["auth_pin"], "1234");
    assert_eq!(hopper["identity"]["my_number"], "123456789018");
    for variant in [
        "one-try-left",
        "locked",
        "no-sign-certificate",
        "clone-chip-key",
        "clone-face-signature",
        "expired-sign-certificate",
    ] {
        assert!(list.iter().any(|p| p["variant"] == variant), "{variant}");
    }
}

fn example() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/person.toml")
}

#[test]
fn check_profile_prints_a_profile_file_as_profiles_json_prints_one() {
    let out = Command::new(env!("CARGO_BIN_EXE_madoguchi-virtual-card"))
        .arg("check-profile")
        .arg(example())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(v["name"].as_str().unwrap().starts_with("file-"));
    assert_eq!(v["identity"]["name"], "見本\u{3000}次郎");
    assert_eq!(v["identity"]["my_number"], "987654321000");
    assert_eq!(v["credentials"]["code_b"], "36080420345150");
    assert_eq!(v["credentials"]["sign_password"], "MIHON1961");
    // The same keys as a compiled-in profile's, plus the photo file.
    let builtin = serde_json::to_value(madoguchi_virtual_card::profile("hopper").unwrap()).unwrap();
    let keys = |v: &serde_json::Value| {
        let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
        k.sort();
        k
    };
    let mut expected = keys(&builtin);
    expected.push("photo_file".into());
    expected.sort();
    assert_eq!(keys(&v), expected);
    assert_eq!(keys(&v["identity"]), keys(&builtin["identity"]));
    assert_eq!(keys(&v["credentials"]), keys(&builtin["credentials"]));
}

#[test]
fn serve_takes_either_a_profile_or_a_profile_file() {
    let vc = env!("CARGO_BIN_EXE_madoguchi-virtual-card");
    let both = Command::new(vc)
        .args(["serve", "--profile", "hopper", "--profile-file"])
        .arg(example())
        .output()
        .unwrap();
    assert_eq!(both.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&both.stderr).contains("cannot be used with"),
        "{}",
        String::from_utf8_lossy(&both.stderr)
    );
    let neither = Command::new(vc).arg("serve").output().unwrap();
    assert_eq!(neither.status.code(), Some(2));
}

#[test]
fn serve_with_a_bad_profile_file_names_the_key_and_exits_before_serving() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.toml");
    let text = std::fs::read_to_string(example())
        .unwrap()
        .replace("auth_pin = \"2580\"", "auth_pin = \"25800\"");
    std::fs::write(&file, text).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_madoguchi-virtual-card"))
        .args(["serve", "--vpcd", "127.0.0.1:9", "--profile-file"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("p.toml:14: key `auth_pin`"), "{err}");
    assert!(!err.contains("25800"), "{err}");
}

#[test]
fn a_missing_opj_compress_is_named_with_its_package() {
    let empty = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_madoguchi-virtual-card"))
        .arg("check-profile")
        .arg(example())
        .env("PATH", empty.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("opj_compress"), "{err}");
    assert!(err.contains("libopenjp2-tools"), "{err}");
    assert!(out.stdout.is_empty());
}
