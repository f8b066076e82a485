//! The `qr` subcommands end to end through `cli::execute`: keygen → issue (PNG and SVG) →
//! decode → verify (valid, expired, unknown issuer, unreadable), and no template or secret in
//! any output.

use madoguchi_faceqr::cli::{QrCommand, execute};

fn embedding() -> Vec<f32> {
    (0..128).map(|i| ((i as f32) * 0.913).cos() * 0.1).collect()
}

#[test]
fn keygen_issue_decode_verify() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    let o = execute(QrCommand::Keygen {
        dir: d.to_path_buf(),
    });
    assert_eq!(o.code, 0, "{}", o.stderr);
    let tpl = d.join("template.json");
    std::fs::write(
        &tpl,
        serde_json::json!({"model_id": "mbf-128", "template_version": 1, "embedding": embedding()})
            .to_string(),
    )
    .expect("write template");

    let issue = |out: &str| {
        execute(QrCommand::Issue {
            template: tpl.clone(),
            out: d.join(out),
            issuer_key: d.join("issuer-key.json"),
            template_keys: d.join("template-keys.json"),
            valid_days: 30,
            subject: None,
            module_px: 6,
            text_out: Some(d.join(format!("{out}.txt"))),
        })
    };
    let o = issue("qr.png");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    println!("issue: {j}");
    assert!(j["qr_version"].as_i64().expect("version") <= 25);
    let o = issue("qr.svg");
    assert_eq!(o.code, 0, "{}", o.stderr);
    let svg = std::fs::read_to_string(d.join("qr.svg")).expect("svg");
    assert!(
        svg.starts_with("<?xml") && svg.contains("<svg"),
        "not an SVG"
    );

    // decode prints exactly the issued text.
    let text = std::fs::read_to_string(d.join("qr.png.txt")).expect("text");
    let o = execute(QrCommand::Decode {
        images: vec![d.join("qr.png")],
    });
    assert_eq!(o.code, 0, "{}", o.stderr);
    assert_eq!(o.stdout.trim_end(), text);

    let verify = |trust: &str, keys: bool, now: Option<i64>, image: &str| {
        execute(QrCommand::Verify {
            image: d.join(image),
            trust: d.join(trust),
            template_keys: keys.then(|| d.join("template-keys.json")),
            model: Some("mbf-128".into()),
            template_version: Some(1),
            now,
            live: None,
            no_pad: false,
            models: madoguchi_face::cli::ModelArgs {
                models_dir: None,
                thresholds: None,
            },
        })
    };
    let o = verify("trust.json", true, None, "qr.png");
    assert_eq!(o.code, 0, "{}{}", o.stdout, o.stderr);
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(j["valid"], true);
    assert_eq!(j["template_decrypted"], true);
    assert_eq!(j["claims"]["model"]["model_id"], "mbf-128");
    assert!(j["claims"].get("template").is_none());
    // No template value, no secret key in the output.
    let secret = std::fs::read_to_string(d.join("issuer-key.json")).expect("key");
    let secret: serde_json::Value = serde_json::from_str(&secret).expect("json");
    assert!(
        !o.stdout
            .contains(secret["secret_key"].as_str().expect("secret"))
    );

    // Expired (verify a year later).
    let later = j["claims"]["expires_at"].as_i64().expect("exp") + 1;
    let o = verify("trust.json", false, Some(later), "qr.png");
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(j["reason"], "expired");
    assert_eq!(j["code"], "faceqr.expired");
    assert!(j["message_ja"].as_str().expect("ja").contains("有効期限"));

    // Unknown issuer: a trust list from another keygen.
    let other = d.join("other");
    assert_eq!(execute(QrCommand::Keygen { dir: other.clone() }).code, 0);
    std::fs::copy(other.join("trust.json"), d.join("other-trust.json")).expect("copy");
    let o = verify("other-trust.json", false, None, "qr.png");
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(j["reason"], "unknown_issuer");

    // Unreadable: an image without a QR code.
    image::GrayImage::from_pixel(200, 200, image::Luma([200]))
        .save(d.join("blank.png"))
        .expect("png");
    let o = verify("trust.json", false, None, "blank.png");
    assert_eq!(o.code, 1);
    let j: serde_json::Value = serde_json::from_str(o.stdout.trim()).expect("json");
    assert_eq!(j["reason"], "unreadable");
    let o = execute(QrCommand::Decode {
        images: vec![d.join("qr.png"), d.join("blank.png"), d.join("missing.png")],
    });
    assert_eq!(o.code, 1);
    assert_eq!(o.stdout.lines().count(), 1);
    assert!(
        o.stderr.contains("blank.png") && o.stderr.contains("missing.png"),
        "{}",
        o.stderr
    );
}

#[test]
fn bad_key_files_exit_2_without_secrets() {
    let dir = tempfile::tempdir().expect("tempdir");
    let d = dir.path();
    std::fs::write(d.join("trust.json"), "{not json").expect("write");
    image::GrayImage::from_pixel(50, 50, image::Luma([0]))
        .save(d.join("x.png"))
        .expect("png");
    let o = execute(QrCommand::Verify {
        image: d.join("x.png"),
        trust: d.join("trust.json"),
        template_keys: None,
        model: Some("m".into()),
        template_version: Some(1),
        live: None,
        no_pad: false,
        models: madoguchi_face::cli::ModelArgs {
            models_dir: None,
            thresholds: None,
        },
        now: None,
    });
    assert_eq!(o.code, 2);
    assert!(o.stderr.contains("trust.json"), "{}", o.stderr);
}
