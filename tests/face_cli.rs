//! The shipped binary's `madoguchi face compare` on the face photos in `../shared/faces/`
//! (the project's shared fixtures, next to the clone; `$MADOGUCHI_SHARED_DIR` overrides):
//! the three Obama photos match each other, every other person is rejected, the exit code
//! says the decision (0 match, 1 no match, 2 error) and the JSON carries score, decision,
//! threshold and the quality components. `face verify` on the synthetic customer made from
//! those photos: it turns when asked and matches; the same photo held still is an attack; with
//! no camera and no simulation the error says how to simulate. A missing folder fails the
//! test: CI always has it.

use std::path::PathBuf;
use std::process::Command;

use madoguchi_e2e::{app_binary, workspace};
use serde_json::Value;

fn shared_faces() -> PathBuf {
    let dir = std::env::var_os("MADOGUCHI_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("../shared"))
        .join("faces");
    assert!(
        dir.join("obama.jpg").exists(),
        "{} has no obama.jpg: the shared fixtures must sit beside the clone \
         (or set MADOGUCHI_SHARED_DIR)",
        dir.display()
    );
    dir
}

/// Runs `madoguchi face compare A B --no-pad` (the passive PAD is measured elsewhere; it
/// only adds time here) and returns the exit code and the JSON report.
fn compare(a: &str, b: &str, extra: &[&str]) -> (i32, Value) {
    let dir = shared_faces();
    let out = Command::new(app_binary())
        .args(["face", "compare"])
        .arg(dir.join(a))
        .arg(dir.join(b))
        .args(extra)
        .env("MADOGUCHI_CONFIG", "/dev/null")
        .output()
        .expect("run madoguchi face compare");
    let code = out.status.code().expect("exit code");
    let json: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{a} vs {b}: exit {code}, stdout is not JSON ({e}); stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (code, json)
}

fn score(j: &Value) -> f64 {
    j["score"].as_f64().expect("score is a number")
}

#[test]
fn obama_photos_match_each_other_in_the_shipped_binary() {
    for (a, b) in [
        ("obama.jpg", "obama2.jpg"),
        ("obama.jpg", "obama3.jpg"),
        ("obama2.jpg", "obama3.jpg"),
    ] {
        let (code, j) = compare(a, b, &["--no-pad"]);
        assert_eq!(code, 0, "{a} vs {b} must match: {j}");
        assert_eq!(j["decision"], "match", "{j}");
        assert!(
            score(&j) >= j["threshold"].as_f64().expect("threshold"),
            "{j}"
        );
        for side in ["a", "b"] {
            let q = &j[side]["quality"];
            for k in [
                "overall",
                "single_face",
                "face_size",
                "pose",
                "sharpness",
                "exposure",
                "illumination",
                "margins",
            ] {
                let v = q[k]
                    .as_f64()
                    .unwrap_or_else(|| panic!("quality.{k} in {j}"));
                assert!((0.0..=100.0).contains(&v), "quality.{k} = {v}");
            }
        }
    }
}

#[test]
fn everyone_else_is_rejected_and_the_similar_pair_is_told_apart() {
    for other in [
        "biden.jpg",
        "grace_hopper_512x512.jpg",
        "similarfaces_image1.png",
        "similarfaces_image2.png",
        "similarfaces_image3.png",
    ] {
        let (code, j) = compare("obama.jpg", other, &["--no-pad"]);
        assert_eq!(code, 1, "obama vs {other} must be rejected: {j}");
        assert_eq!(j["decision"], "no_match", "{j}");
        assert!(score(&j) < j["threshold"].as_f64().expect("threshold"));
    }
    // similarfaces: image1 and image2 are one person, image3 a look-alike.
    let (code, j) = compare(
        "similarfaces_image1.png",
        "similarfaces_image2.png",
        &["--no-pad"],
    );
    assert_eq!(code, 0, "similarfaces 1 vs 2 are the same person: {j}");
    let (code, j) = compare(
        "similarfaces_image1.png",
        "similarfaces_image3.png",
        &["--no-pad"],
    );
    assert_eq!(code, 1, "similarfaces 1 vs 3 are different people: {j}");
}

#[test]
fn the_chip_condition_and_the_passive_pad_report_through_the_binary() {
    // Chip condition: B greyscaled, chip threshold, no liveness for the chip side.
    let (code, j) = compare("obama2.jpg", "obama3.jpg", &["--chip"]);
    assert_eq!(code, 0, "{j}");
    assert_eq!(j["condition"], "chip");
    assert!(j["b"]["liveness"].is_null(), "no PAD on a chip photo: {j}");
    let live = &j["a"]["liveness"];
    let depth = live["depth"].as_f64().expect("liveness.depth");
    let thr = live["threshold"].as_f64().expect("liveness.threshold");
    assert_eq!(live["live"].as_bool(), Some(depth >= thr), "{live}");
}

#[test]
fn a_file_without_a_face_or_not_an_image_is_a_clear_error() {
    let dir = tempdir();
    let junk = dir.join("not-a-photo.jpg");
    std::fs::write(&junk, b"this is not a JPEG").expect("write junk");
    let out = Command::new(app_binary())
        .args(["face", "compare"])
        .arg(shared_faces().join("obama.jpg"))
        .arg(&junk)
        .args(["--no-pad"])
        .env("MADOGUCHI_CONFIG", "/dev/null")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not-a-photo.jpg"), "names the file: {err}");
    assert!(out.stdout.is_empty(), "no half report on stdout");
    std::fs::remove_dir_all(&dir).ok();
}

fn tempdir() -> PathBuf {
    let d = std::env::temp_dir().join(format!("madoguchi-face-cli-{}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Runs `madoguchi face verify …`: exit code, JSON report, stderr (the guidance).
fn verify(args: &[&std::ffi::OsStr]) -> (i32, Value, String) {
    let out = Command::new(app_binary())
        .args(["face", "verify"])
        .args(args)
        .env("MADOGUCHI_CONFIG", "/dev/null")
        .output()
        .expect("run madoguchi face verify");
    let code = out.status.code().expect("exit code");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (code, json, err)
}

#[test]
fn live_verify_on_the_synthetic_customer_turns_when_asked_and_matches() {
    let dir = shared_faces();
    let (reference, customer) = (dir.join("obama2.jpg"), dir.join("obama3.jpg"));
    let (code, j, err) = verify(&[
        reference.as_os_str(),
        "--simulate".as_ref(),
        customer.as_os_str(),
        "--challenge".as_ref(),
        "right".as_ref(),
    ]);
    assert_eq!(code, 0, "{j}\n{err}");
    assert_eq!(j["decision"], "match", "{j}");
    // With the challenge passed, the passive PAD is reported, and only advises.
    let live = j["outcome"]["liveness"]["live"]
        .as_bool()
        .expect("passive PAD ran");
    let advisories: Vec<&str> = j["advisories"]
        .as_array()
        .expect("advisories")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(advisories.is_empty(), live, "{j}");
    assert_eq!(j["outcome"]["challenge"]["result"], "passed", "{j}");
    assert_eq!(j["outcome"]["challenge"]["turn"], "right");
    assert_eq!(j["source"]["kind"], "synthetic");
    // The customer saw the prompt, in both languages.
    assert!(err.contains("[challenge] face.turn_right"), "{err}");
    assert!(err.contains("ゆっくり右を向いてください"), "{err}");
    assert!(
        !j.to_string().contains("embedding"),
        "no template in the report"
    );
}

#[test]
fn a_photo_held_still_to_the_camera_is_an_attack_not_a_match() {
    let dir = shared_faces();
    // A recorded "clip" of one frame, looping: the same picture held in front of the camera.
    let clip = tempdir().join("still-clip");
    std::fs::create_dir_all(&clip).expect("clip dir");
    std::fs::copy(dir.join("obama3.jpg"), clip.join("0001.jpg")).expect("copy frame");
    let reference = dir.join("obama2.jpg");
    let (code, j, err) = verify(&[
        reference.as_os_str(),
        "--clip".as_ref(),
        clip.as_os_str(),
        "--challenge".as_ref(),
        "left".as_ref(),
        "--challenge-timeout-ms".as_ref(),
        "1500".as_ref(),
        "--no-pad".as_ref(),
    ]);
    assert_eq!(code, 1, "{j}\n{err}");
    assert_eq!(j["decision"], "attack_suspected", "{j}");
    assert_eq!(j["reasons"][0], "challenge.timed_out", "{j}");
    // It is the right person: only the missing movement gives the photo away.
    assert_eq!(j["outcome"]["comparison"]["matched"], true, "{j}");
    std::fs::remove_dir_all(&clip).ok();
}

#[test]
fn verify_without_a_camera_says_how_to_simulate() {
    let has_camera = std::fs::read_dir("/dev")
        .map(|d| {
            d.flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with("video"))
        })
        .unwrap_or(false);
    if has_camera {
        eprintln!("skipped: this machine has a /dev/video* device; the no-camera path needs none");
        return;
    }
    let reference = shared_faces().join("obama.jpg");
    let (code, j, err) = verify(&[
        reference.as_os_str(),
        "--challenge".as_ref(),
        "none".as_ref(),
    ]);
    assert_eq!(code, 2, "{j}\n{err}");
    assert!(j.is_null(), "no report on stdout");
    assert!(
        err.contains("camera") && err.contains("--simulate"),
        "{err}"
    );
}
