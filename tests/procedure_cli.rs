//! `madoguchi procedure identity` through the shipped binary: the kiosk's own flow and ports
//! without a display, against the virtual card in a private pcscd and the synthetic customer.
//! Each run prints one JSON line per step and ends with the outcome object; exit 0 verified,
//! 1 any other outcome, 2 usage or device error. In the nextest group `pcscd`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use madoguchi_e2e::{app_binary, workspace};
use madoguchi_virtual_card::harness::Pcscd;
use serde_json::Value;

fn data_dir(name: &str) -> PathBuf {
    madoguchi_e2e::fresh_data_dir(&format!("procedure-{name}"))
}

fn face(stem: &str) -> PathBuf {
    let p = workspace()
        .join("../shared/faces")
        .join(format!("{stem}.jpg"));
    assert!(
        p.exists(),
        "{} (../shared beside the repository)",
        p.display()
    );
    p
}

fn run(data: &Path, args: &[&str], env: &[(&str, &str)]) -> (i32, Vec<Value>, Value, String) {
    let mut cmd = Command::new(app_binary());
    cmd.args(["procedure", "identity"])
        .args(args)
        .env("MADOGUCHI_CONFIG", "/dev/null")
        .env("MADOGUCHI__STORAGE__DATA_DIR", data)
        .env_remove("MADOGUCHI_PIN")
        .env_remove("MADOGUCHI_SIGN_PASSWORD");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run madoguchi");
    let stdout = String::from_utf8(stdout).expect("utf-8");
    let mut lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let last = lines.pop().unwrap_or(Value::Null);
    (
        status.code().unwrap_or(-1),
        lines,
        last,
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

fn steps(lines: &[Value]) -> Vec<&str> {
    lines.iter().filter_map(|l| l["step"].as_str()).collect()
}

#[test]
fn pin_route_verifies_code_b_route_verifies_and_a_wrong_pin_is_never_retried() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let data = data_dir("routes");
    let hopper = face("grace_hopper_512x512");
    let hopper = hopper.to_str().expect("utf-8");

    let (code, lines, out, err) = run(
        &data,
        &[
            "--simulate",
            "--route",
            "pin",
            "--face",
            hopper,
            "--challenge",
            "left",
        ],
        &[("MADOGUCHI_PIN", "1234")],
    );
    assert_eq!(code, 0, "{out} {err}");
    assert_eq!(out["outcome"], "verified", "{out}");
    assert_eq!(out["reason"], "face.match");
    assert!(out["score"].as_f64().unwrap_or(0.0) > out["threshold"].as_f64().unwrap_or(1.0));
    assert_eq!(
        out["synced"], true,
        "the records reached the embedded backend"
    );
    let s = steps(&lines);
    for want in [
        "pin_entry",
        "reading",
        "face",
        "review",
        "recording",
        "result",
    ] {
        assert!(s.contains(&want), "{want} missing from {s:?}");
    }
    let review = lines
        .iter()
        .find(|l| l["step"] == "review")
        .expect("review line");
    assert_eq!(review["face"]["challenge"]["turn"], "left");
    assert_eq!(review["face"]["challenge"]["result"], "passed");
    // Nothing personal on stdout.
    let all: String = lines.iter().map(Value::to_string).collect();
    assert!(!all.contains("試験") && !all.contains("1234"), "{all}");

    let (code, _, out, err) = run(
        &data,
        &[
            "--simulate",
            "--route",
            "code-b",
            "--face",
            hopper,
            "--birth-date",
            "1946-12-09",
            "--expiry-year",
            "2031",
            "--security-code",
            "2285",
        ],
        &[],
    );
    assert_eq!(
        (code, out["outcome"].as_str()),
        (0, Some("verified")),
        "{out} {err}"
    );

    // A wrong PIN: the card counts one try, the run ends without trying again.
    let (code, lines, out, err) = run(
        &data,
        &["--simulate", "--route", "pin", "--face", hopper],
        &[("MADOGUCHI_PIN", "0000")],
    );
    assert_eq!(code, 1, "{out} {lines:?} {err}");
    assert_eq!(out["outcome"], "cancelled");
    assert_eq!(out["reason"], "card.pin.wrong");
    let wrong = lines
        .iter()
        .find(|l| l["notice"] == "notice.pin_wrong")
        .expect("the wrong-PIN step");
    assert_eq!(wrong["tries_left"], 2);
    let counters: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("virtual-card/hopper.counters.json")).expect("counters"),
    )
    .expect("json");
    assert_eq!(counters["kenhojo/0011"], 2, "exactly one try spent");

    // A different person in front of the camera.
    let obama = face("obama");
    let (code, _, out, _) = run(
        &data,
        &[
            "--simulate",
            "--route",
            "pin",
            "--face",
            obama.to_str().expect("utf-8"),
        ],
        &[("MADOGUCHI_PIN", "1234")],
    );
    assert_eq!(
        (code, out["outcome"].as_str()),
        (1, Some("not_verified")),
        "{out}"
    );
    assert_eq!(out["reason"], "face.different_person");
}

#[test]
fn a_photo_held_up_is_an_attack_and_a_card_from_a_profile_file_reads() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let data = data_dir("attack");
    let hopper = face("grace_hopper_512x512");
    let (code, _, out, err) = run(
        &data,
        &[
            "--simulate",
            "--route",
            "pin",
            "--face",
            hopper.to_str().expect("utf-8"),
            "--held-photo",
        ],
        &[("MADOGUCHI_PIN", "1234")],
    );
    assert_eq!(code, 1, "{out} {err}");
    assert_eq!(out["outcome"], "attack_suspected", "{out}");

    // Any fake person: the example profile file (its photo is obama.jpg).
    let person = workspace().join("crates/virtual-card/examples/person.toml");
    let obama = face("obama");
    let (code, lines, out, err) = run(
        &data,
        &[
            "--simulate",
            "--route",
            "pin",
            "--face",
            obama.to_str().expect("utf-8"),
            "--profile-file",
            person.to_str().expect("utf-8"),
        ],
        &[("MADOGUCHI_PIN", &pin_of(&person))],
    );
    assert!(
        steps(&lines).contains(&"face"),
        "the card from the file was read: {lines:?} {out} {err}"
    );
    assert!(code == 0 || code == 1, "{out} {err}");
}

fn pin_of(person: &Path) -> String {
    let text = std::fs::read_to_string(person).expect("person file");
    let v: toml::Value = toml::from_str(&text).expect("toml");
    v["text_pin"].as_str().expect("text_pin").to_owned()
}

#[test]
fn usage_errors_exit_2_and_say_what_is_missing() {
    let data = data_dir("usage");
    let code_b = [
        "--simulate",
        "--route",
        "code-b",
        "--face",
        "x.jpg",
        "--birth-date",
        "1946-12-09",
    ];
    /// Arguments, environment, and what the error must name.
    type Case<'a> = (Vec<&'a str>, &'a [(&'a str, &'a str)], &'a str);
    let cases: [Case; 4] = [
        (
            vec!["--simulate", "--route", "pin"],
            &[("MADOGUCHI_PIN", "1234")],
            "--face",
        ),
        (
            vec!["--simulate", "--route", "pin", "--face", "x.jpg"],
            &[],
            "MADOGUCHI_PIN",
        ),
        (code_b.to_vec(), &[], "--expiry-year"),
        (
            [
                &code_b[..],
                &["--expiry-year", "2031", "--security-code", "22x5"],
            ]
            .concat(),
            &[],
            "security_code",
        ),
    ];
    for (args, env, says) in cases {
        let (code, _, _, err) = run(&data, &args, env);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains(says), "{args:?}: {err}");
        assert!(
            !err.contains("22x5") && !err.contains("1234"),
            "nothing typed is echoed: {err}"
        );
    }
}
