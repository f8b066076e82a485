//! PAD input-size and crop sweep: runs the CDCN depth model at several input sizes and
//! face-box enlargements on the bona fide originals and the synthetic attacks of
//! `fixtures/eval`, and prints per-setting inference time, BPCER and APCER per attack type
//! at the thresholds file's PAD threshold, plus the mean depths. It only measures; it does
//! not change any file (the choice is written by hand into the manifest and docs).
//!
//! `cargo run --release -p madoguchi-face --example pad_sweep -- [SIZE…] [--threads N]
//! [--crops 1.2,1.6]`

use std::path::{Path, PathBuf};
use std::time::Instant;

use madoguchi_face::engine::{EngineOptions, FaceEngine};
use madoguchi_face::models::{Manifest, Threads, default_models_dir};
use madoguchi_face::pad::PassivePad;

fn images(dir: &Path, originals_only: bool) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    v.retain(|p| {
        let n = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        (n.ends_with(".jpg") || n.ends_with(".png")) && (!originals_only || n.starts_with("orig_"))
    });
    v.sort();
    v
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads = args
        .iter()
        .position(|a| a == "--threads")
        .and_then(|i| args.get(i + 1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(1usize);
    let scales: Vec<f32> = args
        .iter()
        .position(|a| a == "--crops")
        .and_then(|i| args.get(i + 1))
        .map(|c| c.split(',').filter_map(|x| x.parse().ok()).collect())
        .unwrap_or_else(|| vec![1.2, 1.6, 2.0]);
    let sizes: Vec<usize> = args
        .iter()
        .enumerate()
        .filter(|(i, _)| *i == 0 || !matches!(args[i - 1].as_str(), "--threads" | "--crops"))
        .filter_map(|(_, a)| a.parse().ok())
        .collect();
    let pool = Threads::pool(threads);
    let sizes = if sizes.is_empty() {
        vec![128, 160]
    } else {
        sizes
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/eval");
    let engine = FaceEngine::load_default(&EngineOptions {
        embedders: vec![],
        pad: false,
    })?;
    let thr = engine.thresholds().pad_cdcn_min_depth;
    let mut classes: Vec<(String, Vec<PathBuf>)> = Vec::new();
    let mut bona = Vec::new();
    for e in std::fs::read_dir(&root)?.flatten() {
        let n = e.file_name().to_string_lossy().into_owned();
        if e.path().is_dir() && n != "attacks" && n != "chip" {
            bona.extend(images(&e.path(), true));
        }
    }
    bona.sort();
    classes.push(("bona_fide".into(), bona));
    for k in ["cutout", "print", "screen"] {
        classes.push((k.into(), images(&root.join("attacks").join(k), false)));
    }
    // Detect once per image (YuNet 640), as the eval does.
    let mut det = Vec::new();
    for (k, files) in &classes {
        let mut v = Vec::new();
        for f in files {
            let img = image::open(f)?.to_rgb8();
            let faces = engine.detect(&img, false)?;
            if let Some(d) = FaceEngine::subject(&faces) {
                v.push((img, *d));
            }
        }
        det.push((k.clone(), v));
    }
    let mut manifest = Manifest::load(&default_models_dir())?;
    for s in sizes {
        manifest.set_input("cdcn", vec![1, 3, s, s])?;
        let model = manifest.load_model("cdcn")?;
        for &scale in &scales {
            let pad = PassivePad::new(model.clone())
                .with_crop_scale(scale)
                .with_threads(pool.clone());
            let mut line = format!("size {s:3} crop {scale:.1}:");
            let mut all = Vec::new();
            let t = Instant::now();
            let mut runs = 0u32;
            for (k, v) in &det {
                let depths: Vec<f32> = v
                    .iter()
                    .map(|(img, d)| pad.depth(img, d))
                    .collect::<Result<_, _>>()?;
                runs += depths.len() as u32;
                let live = depths.iter().filter(|d| **d >= thr).count();
                let rate = if k == "bona_fide" {
                    depths.len() - live
                } else {
                    live
                };
                let mean = depths.iter().sum::<f32>() / depths.len().max(1) as f32;
                line += &format!(
                    "  {k} {}/{} {:.0}% mean {mean:.4}",
                    rate,
                    depths.len(),
                    100.0 * rate as f32 / depths.len().max(1) as f32
                );
                all.push((k.clone(), depths));
            }
            let ms = t.elapsed().as_secs_f64() * 1000.0 / f64::from(runs.max(1));
            // Best threshold on this set (min over thresholds of max(BPCER, worst APCER)).
            let mut cands: Vec<f32> = all.iter().flat_map(|(_, d)| d.iter().copied()).collect();
            cands.sort_by(f32::total_cmp);
            let mut best = (f32::NAN, 2.0f32);
            for c in cands {
                let mut worst = 0f32;
                for (k, d) in &all {
                    let live = d.iter().filter(|x| **x >= c).count() as f32;
                    let r = if k == "bona_fide" {
                        1.0 - live / d.len() as f32
                    } else {
                        live / d.len() as f32
                    };
                    worst = worst.max(r);
                }
                if worst < best.1 {
                    best = (c, worst);
                }
            }
            println!(
                "{line}  | {ms:.0} ms/inference | best thr {:.4} worst-rate {:.0}%",
                best.0,
                best.1 * 100.0
            );
        }
    }
    Ok(())
}
