//! The shipped binary's `madoguchi face compare` on the face photos in `../shared/faces/`
//! (the project's shared fixtures, next to the clone; `$MADOGUCHI_SHARED_DIR` overrides):
//! the three Obama photos match each other, every other person is rejected, the exit code
//! says the decision (0 match, 1 no match, 2 error) and the JSON carries score, decision,
//! threshold and the quality components. A missing folder fails the test: CI always has it.

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
