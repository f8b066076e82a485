//! The whole chain on real photos (`crates/face/fixtures/eval`): enroll a face behind the
//! quality and liveness gates → template file → issue the credential → render it to PNG →
//! decode it from the PNG → verify offline → match live faces with the face engine.
//! The models are loaded once (one test function for the library path).
//!
//! The fixtures are themselves photographs, and the passive presentation-attack model rejects
//! two thirds of them (BPCER 66.7 % in `crates/face/fixtures/eval-report`): so the matching
//! chain is exercised with the liveness gate off (quality gate on), and the liveness gate is
//! exercised on its own on a print attack, where it must not let the credential through.

use std::path::{Path, PathBuf};

use madoguchi_face::enroll::{Gated, LivenessGate, gated_capture, template_json};
use madoguchi_face::{EmbedderKind, EngineOptions, FaceEngine};
use madoguchi_faceqr::cli::{QrCommand, execute};
use madoguchi_faceqr::live::FaceMatcher;
use madoguchi_faceqr::{Reason, TemplateKeyring, TrustList, read, verify_with_face};

fn eval(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../face/fixtures/eval")
        .join(rel)
}

fn image(rel: &str) -> image::RgbImage {
    madoguchi_face::jp2::open_any(&eval(rel)).expect("fixture image")
}

#[test]
fn enroll_issue_render_decode_verify_on_real_faces() {
    let engine = FaceEngine::load_default(&EngineOptions {
        embedders: vec![EmbedderKind::Sface],
        pad: true,
    })
    .expect("face models (assets/models)");
    let sface_threshold = engine.thresholds().sface.threshold;

    // Enrollment: the same gates the live side uses.
    let enrolled = match gated_capture(
        &engine,
        &image("obama/orig_obama.jpg"),
        EmbedderKind::Sface,
        LivenessGate::Off,
    )
    .expect("enroll")
    {
        Gated::Passed(e) => e,
        other => panic!("enrollment refused: {}", other.code()),
    };
    println!(
        "enrolled: model {} v{}, quality {:.1}, liveness {:?}",
        enrolled.model_id, enrolled.template_version, enrolled.quality.overall, enrolled.liveness
    );
    assert_eq!(enrolled.model_id, "sface", "model id from the manifest");
    assert_eq!(
        enrolled.template_version, 1,
        "template version from the manifest"
    );
    assert_eq!(enrolled.template.values().len(), 128);

    // Template file → qr issue (the CLI reads it) → PNG.
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    assert_eq!(
        execute(QrCommand::Keygen {
            dir: d.to_path_buf()
        })
        .code,
        0
    );
    std::fs::write(d.join("template.json"), template_json(&enrolled).as_bytes()).expect("write");
    let o = execute(QrCommand::Issue {
        template: d.join("template.json"),
        out: d.join("qr.png"),
        issuer_key: d.join("issuer-key.json"),
        template_keys: d.join("template-keys.json"),
        valid_days: 30,
        subject: None,
        module_px: 6,
        text_out: None,
    });
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    let version = j["qr_version"].as_i64().expect("qr_version");
    println!(
        "credential with the real SFace template: {} chars, QR version {version} (EC Q)",
        j["chars"]
    );
    assert!(version <= 25, "version {version} over the budget");

    // Decode from the PNG, then verify against live faces.
    let text = read::read_file(&d.join("qr.png")).expect("decode the rendered QR");
    let trust = TrustList::load(&d.join("trust.json")).expect("trust");
    let keys = TemplateKeyring::load(&d.join("template-keys.json")).expect("keys");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    let check = |rel: &str, gate: LivenessGate| {
        let img = image(rel);
        let mut m = FaceMatcher::new(&engine, &img, EmbedderKind::Sface, gate).expect("matcher");
        let r = verify_with_face(&text, &trust, &keys, now, 300, &mut m);
        assert!(m.take_error().is_none(), "engine error on {rel}");
        println!(
            "{rel}: {:?} live {:?}",
            r.as_ref().map(|a| a.score),
            m.report()
        );
        (r, m.report().cloned())
    };

    let (r, live) = check("obama/orig_obama2.jpg", LivenessGate::Off);
    let a = r.expect("another photo of the same person is accepted");
    assert!(a.score >= sface_threshold);
    assert_eq!(live.expect("report").gate, "passed");

    let (r, live) = check("biden/orig_biden.jpg", LivenessGate::Off);
    let rej = r.expect_err("another person is rejected");
    assert_eq!(rej.reason, Reason::FaceMismatch);
    let live = live.expect("report");
    assert!(live.score.expect("score") < sface_threshold);

    // With the passive gate on, a print of the enrolled person does not get through.
    let (r, live) = check("attacks/print/obama2.jpg", LivenessGate::Passive);
    let rej = r.expect_err("a print of the enrolled person is rejected");
    assert!(
        matches!(rej.reason, Reason::LivenessFailed | Reason::FaceQuality),
        "{:?} {live:?}",
        rej.reason
    );
}
