//! End-to-end tests of the face pipeline on the committed fixtures (real models, real photos):
//! matching, the `face compare` command, checksum verification, the two-thread worker on a
//! synthetic camera, and redaction of templates.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use madoguchi_camera::synthetic::SyntheticSource;
use madoguchi_face::cli::{ModelArgs, compare};
use madoguchi_face::engine::{EngineOptions, FaceEngine};
use madoguchi_face::models::{Manifest, default_models_dir};
use madoguchi_face::worker::{Event, VerifyOptions, spawn_verify};
use madoguchi_face::{EmbedderKind, FaceError};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval")
}

fn img(ident: &str, stem: &str) -> image::RgbImage {
    let p = fixtures().join(ident).join(format!("orig_{stem}.jpg"));
    image::open(&p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .to_rgb8()
}

fn engine() -> &'static FaceEngine {
    static E: OnceLock<FaceEngine> = OnceLock::new();
    E.get_or_init(|| {
        FaceEngine::load_default(&EngineOptions {
            embedders: vec![EmbedderKind::Sface, EmbedderKind::Dlib],
            pad: false,
        })
        .expect("models load")
    })
}

#[test]
fn obama_photos_match_each_other_and_not_the_others_with_both_models() {
    let e = engine();
    let same = [
        img("obama", "obama"),
        img("obama", "obama2"),
        img("obama", "obama3"),
    ];
    let others = [
        img("biden", "biden"),
        img("grace_hopper", "grace_hopper_512x512"),
        img("similarfaces_b", "similarfaces_image3"),
        img("similarfaces_a", "similarfaces_image1"),
    ];
    for kind in [EmbedderKind::Sface, EmbedderKind::Dlib] {
        let t = |i: &image::RgbImage| e.analyse(i, kind, false).expect("face found").template;
        let obama: Vec<_> = same.iter().map(t).collect();
        for a in 0..3 {
            for b in a + 1..3 {
                let c = e.compare(&obama[a], &obama[b], false).expect("compare");
                assert!(
                    c.matched,
                    "{kind:?}: obama {a} vs {b} must match (score {})",
                    c.score
                );
            }
            for (j, o) in others.iter().enumerate() {
                let c = e.compare(&obama[a], &t(o), false).expect("compare");
                assert!(
                    !c.matched,
                    "{kind:?}: obama {a} vs other {j} must not match (score {})",
                    c.score
                );
            }
        }
    }
}

#[test]
fn compare_command_reports_score_decision_threshold_quality() {
    let dir = fixtures();
    let args = ModelArgs {
        models_dir: None,
        thresholds: None,
    };
    let r = compare(
        &dir.join("obama/orig_obama.jpg"),
        &dir.join("obama/orig_obama2.jpg"),
        EmbedderKind::Sface,
        false,
        false,
        &args,
    )
    .expect("compare");
    assert_eq!(r.decision, "match");
    let json = serde_json::to_value(&r).expect("json");
    for k in ["score", "decision", "threshold", "metric"] {
        assert!(json.get(k).is_some(), "missing {k}");
    }
    for k in [
        "single_face",
        "face_size",
        "pose",
        "sharpness",
        "exposure",
        "illumination",
        "margins",
        "overall",
    ] {
        let v = json["a"]["quality"][k].as_f64().unwrap_or(-1.0);
        assert!((0.0..=100.0).contains(&v), "{k} = {v}");
    }
    let r = compare(
        &dir.join("obama/orig_obama.jpg"),
        &dir.join("biden/orig_biden.jpg"),
        EmbedderKind::Sface,
        false,
        false,
        &args,
    )
    .expect("compare");
    assert_eq!(r.decision, "no_match");
}

#[test]
fn chip_photo_jp2_is_read_and_matches_its_person() {
    let dir = fixtures();
    let chip = dir.join("chip/obama/chip_obama2.jp2");
    let args = ModelArgs {
        models_dir: None,
        thresholds: None,
    };
    let r = compare(
        &dir.join("obama/orig_obama.jpg"),
        &chip,
        EmbedderKind::Sface,
        true,
        false,
        &args,
    )
    .expect("compare with chip");
    assert_eq!(r.condition, "chip");
    assert_eq!(r.decision, "match", "score {}", r.score);
    let r = compare(
        &dir.join("biden/orig_biden.jpg"),
        &chip,
        EmbedderKind::Sface,
        true,
        false,
        &args,
    )
    .expect("compare with chip");
    assert_eq!(r.decision, "no_match", "score {}", r.score);
}

#[test]
fn a_tampered_model_is_refused_at_load() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let src = default_models_dir();
    std::fs::copy(src.join("manifest.toml"), tmp.path().join("manifest.toml")).expect("copy");
    let mut bytes = std::fs::read(src.join("yunet_2023mar_fp32_320.onnx")).expect("read");
    let last = bytes.len() - 1;
    bytes[last] ^= 1;
    std::fs::write(tmp.path().join("yunet_2023mar_fp32_320.onnx"), bytes).expect("write");
    let m = Manifest::load(tmp.path()).expect("manifest");
    match m.load_model("yunet_320") {
        Err(FaceError::Checksum { file, .. }) => assert_eq!(file, "yunet_2023mar_fp32_320.onnx"),
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert!(
        matches!(m.load_model("sface"), Err(FaceError::Io { .. })),
        "missing file"
    );
    assert!(matches!(
        m.load_model("nope"),
        Err(FaceError::UnknownModel(_))
    ));
}

#[test]
fn worker_verifies_a_synthetic_customer_with_progress_on_two_threads() {
    let e = engine().clone();
    let reference = e
        .analyse(&img("obama", "obama2"), EmbedderKind::Sface, false)
        .expect("reference")
        .template;
    let other = e
        .analyse(&img("biden", "biden"), EmbedderKind::Sface, false)
        .expect("other")
        .template;
    for (refr, expect) in [(reference, true), (other, false)] {
        let src = SyntheticSource::new(img("obama", "obama"), None, 640, 480, 15.0, false)
            .expect("source");
        let h = spawn_verify(
            e.clone(),
            Box::new(src),
            refr,
            VerifyOptions {
                window: Duration::from_millis(400),
                pad: false,
                ..VerifyOptions::new(EmbedderKind::Sface)
            },
        );
        let mut progress = 0;
        let mut outcome = None;
        for ev in h.events.iter() {
            match ev {
                Event::Progress { guidance, .. } => {
                    progress += 1;
                    assert!(guidance.code.starts_with("face."));
                }
                Event::Done(o) => outcome = Some(o),
                Event::Failed { message } => panic!("worker failed: {message}"),
            }
        }
        let o = outcome.expect("an outcome");
        assert!(progress >= 6, "one progress event per frame ({progress})");
        assert!(o.embedded >= 1);
        let c = o.comparison.expect("a usable frame");
        assert_eq!(c.matched, expect, "score {}", c.score);
        let json = serde_json::to_string(&o).expect("json");
        assert!(!json.contains("values"), "no template in the outcome");
    }
}

#[test]
fn progress_carries_the_face_box_and_the_capture_and_template_are_kept_only_when_asked() {
    let e = engine();
    let reference = e
        .analyse(&img("obama", "obama"), EmbedderKind::Sface, false)
        .expect("reference")
        .template;
    for keep in [false, true] {
        let src = SyntheticSource::new(img("obama", "obama"), None, 640, 480, 15.0, false)
            .expect("source");
        let h = spawn_verify(
            e.clone(),
            Box::new(src),
            reference.clone(),
            VerifyOptions {
                window: Duration::from_millis(300),
                pad: false,
                keep_capture: keep,
                keep_template: keep,
                ..VerifyOptions::new(EmbedderKind::Sface)
            },
        );
        let mut boxes = Vec::new();
        let mut outcome = None;
        for ev in h.events.iter() {
            match ev {
                Event::Progress { face, faces, .. } => {
                    assert_eq!(face.is_some(), faces > 0);
                    boxes.extend(face);
                }
                Event::Done(o) => outcome = Some(o),
                Event::Failed { message } => panic!("worker failed: {message}"),
            }
        }
        assert!(!boxes.is_empty());
        for [x, y, w, h] in boxes {
            // Fractions of the frame, and a head-sized box in the middle of it.
            assert!(
                (0.0..1.0).contains(&x) && (0.0..1.0).contains(&y),
                "{x} {y}"
            );
            assert!(w > 0.05 && w < 0.9 && h > 0.05 && h < 0.9, "{w} {h}");
        }
        let o = outcome.expect("an outcome");
        match (&o.capture, keep) {
            (None, false) => {}
            (Some(c), true) => {
                assert!(c.jpeg.starts_with(&[0xFF, 0xD8]), "a JPEG");
                let decoded = image::load_from_memory(&c.jpeg).expect("decodes");
                assert_eq!((decoded.width(), decoded.height()), c.size);
                assert!(c.size.0 >= 100 && c.size.0 <= 640, "{:?}", c.size);
                assert!(!format!("{c:?}").contains("255"), "no bytes in Debug");
            }
            other => panic!("keep_capture {keep}: {:?}", other.0),
        }
        // The enrollment template: the same face as the reference, in the colour condition.
        match (&o.template, keep) {
            (None, false) => {}
            (Some(t), true) => {
                let same = t.score(&reference).expect("same model");
                assert!(same > 0.6, "the kept template is the subject's: {same}");
            }
            (t, _) => panic!("keep_template {keep}: {}", t.is_some()),
        }
        let json = serde_json::to_string(&o).expect("json");
        assert!(
            !json.contains("capture") && !json.contains("jpeg"),
            "{json}"
        );
    }
}

#[test]
fn analysis_debug_shows_no_template_numbers() {
    let a = engine()
        .analyse(&img("obama", "obama"), EmbedderKind::Sface, false)
        .expect("analyse");
    let s = format!("{a:?}");
    assert!(s.contains("<redacted>"));
    let first = a.template.values()[0];
    assert!(!s.contains(&format!("{first}")), "template value leaked");
}
