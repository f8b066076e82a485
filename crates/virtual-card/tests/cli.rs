//! The `madoguchi-virtual-card` binary's `profiles` command.

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
