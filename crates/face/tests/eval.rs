//! `face eval` on the committed fixture set (crates/face/fixtures/eval): the report files are
//! produced and parse, and the numbers have the properties the fixtures guarantee —
//! genuine comparisons score better than impostor ones on average, for both models and both
//! conditions, and the PAD section covers every attack type. No exact numbers are asserted.

use std::path::Path;

use madoguchi_face::EmbedderKind;
use madoguchi_face::engine::{EngineOptions, FaceEngine};
use madoguchi_face::eval::{EvalOptions, run};
use madoguchi_face::thresholds::Thresholds;

#[test]
fn eval_on_fixtures_writes_a_report_det_png_and_thresholds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval");
    let out = tempfile::tempdir().expect("tempdir");
    let models = vec![EmbedderKind::Sface, EmbedderKind::Dlib];
    let engine = FaceEngine::load_default(&EngineOptions {
        embedders: models.clone(),
        pad: true,
    })
    .expect("models load");
    let r = run(
        &engine,
        &dir,
        &EvalOptions {
            models,
            pad: true,
            out: out.path().to_owned(),
            pad_limit: Some(2),
            challenge: true,
        },
    )
    .expect("eval runs");

    assert_eq!(r.identities, 5);
    assert!(r.images >= 40, "{} images", r.images);
    assert!(r.fta < 0.5, "FTA {}", r.fta);
    assert_eq!(r.results.len(), 4, "2 models × (colour, chip)");
    for m in &r.results {
        let better = match m.metric {
            madoguchi_face::embed::Metric::Cosine => m.genuine.mean > m.impostor.mean,
            madoguchi_face::embed::Metric::L2 => m.genuine.mean < m.impostor.mean,
        };
        assert!(
            better,
            "{:?}/{}: genuine mean {} vs impostor {}",
            m.model, m.condition, m.genuine.mean, m.impostor.mean
        );
        assert!(m.genuine.n > 0 && m.impostor.n > m.genuine.n);
        assert!(m.eer < 0.5, "{:?}/{} EER {}", m.model, m.condition, m.eer);
        assert_eq!(m.fnmr_at_fmr.len(), 3);
        // FMR 1e-2 is measurable with > 100 impostor comparisons; 1e-4 is not on this set.
        assert!(m.fnmr_at_fmr[0].fnmr.is_some() == (m.impostor.n >= 100));
        assert!(m.fnmr_at_fmr[2].fnmr.is_none() && m.fnmr_at_fmr[2].note.is_some());
    }
    let pad = r.pad.as_ref().expect("PAD evaluated");
    let kinds: Vec<&str> = pad.attacks.iter().map(|a| a.kind.as_str()).collect();
    assert_eq!(kinds, ["cutout", "print", "screen"]);
    assert_eq!(
        pad.bona_fide, 2,
        "PAD limited to 2 per class to keep the test short"
    );
    assert!(
        pad.attacks
            .iter()
            .all(|a| a.n + a.no_face > 0 && (0.0..=1.0).contains(&a.apcer))
    );

    let json: serde_json::Value = serde_json::from_slice(
        &std::fs::read(out.path().join("report.json")).expect("report.json"),
    )
    .expect("report.json parses");
    assert_eq!(json["results"].as_array().map(Vec::len), Some(4));
    let md = std::fs::read_to_string(out.path().join("report.md")).expect("report.md");
    assert!(md.contains("| Sface | colour |") && md.contains("APCER"));
    assert!(
        !md.contains("obama") && !md.contains("orig_"),
        "report names no person or file"
    );
    let png = image::open(out.path().join("det.png")).expect("det.png decodes");
    assert_eq!((png.width(), png.height()), (800, 600));
    let t =
        Thresholds::load(&out.path().join("thresholds.toml")).expect("proposed thresholds parse");
    assert!(t.source.starts_with("face eval"));
}
