//! The evaluation behind `face eval DIR`: verification error rates (ISO/IEC 19795-1 terms),
//! failure to acquire, presentation-attack error rates (ISO/IEC 30107-3), a DET curve PNG,
//! and a JSON + Markdown report; it also proposes thresholds (`thresholds.toml`).
//!
//! Layout of DIR: one sub-folder per identity with images (`.jpg`, `.png`, `.jp2`);
//! optionally `attacks/<type>/` with attack presentations, and `chip/<identity>/` with
//! chip-photo references (greyscale JPEG 2000) of the identities. `attacks` and `chip` are
//! reserved names.
//!
//! Reports name identities by number (`id-01`…) and never include images, file names or
//! templates. It does not tune models; it measures them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use image::RgbImage;
use serde::Serialize;

use crate::FaceError;
use crate::embed::{EmbedderKind, FaceTemplate};
use crate::engine::FaceEngine;
use crate::jp2::open_any;

/// What to evaluate.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Embedding models to compare.
    pub models: Vec<EmbedderKind>,
    /// Run passive PAD on bona fide images and attacks.
    pub pad: bool,
    /// Folder for the report files.
    pub out: PathBuf,
    /// At most this many bona fide images and this many presentations per attack type go
    /// through PAD (it takes about a second each); `None` for all. The same limit applies
    /// to the photos the challenge clips are made from.
    pub pad_limit: Option<usize>,
    /// Run the active turn challenge on synthetic clips of the bona fide photos
    /// ([`crate::challenge_eval`]).
    pub challenge: bool,
}

/// Summary of a score list.
#[derive(Debug, Clone, Serialize)]
pub struct Stats {
    /// Count.
    pub n: usize,
    /// Minimum.
    pub min: f32,
    /// Mean.
    pub mean: f32,
    /// Maximum.
    pub max: f32,
}

/// FNMR at one FMR target.
#[derive(Debug, Clone, Serialize)]
pub struct AtFmr {
    /// Target false match rate.
    pub fmr: f64,
    /// False non-match rate there; `None` when there are too few impostor comparisons
    /// (fewer than 1/fmr) to measure this FMR.
    pub fnmr: Option<f64>,
    /// Score threshold reaching it (model units).
    pub threshold: Option<f32>,
    /// Why it is missing.
    pub note: Option<String>,
}

/// Results for one model in one condition.
#[derive(Debug, Clone, Serialize)]
pub struct ModelResult {
    /// The model.
    pub model: EmbedderKind,
    /// `colour` (live vs live) or `chip` (grey live vs greyscale JPEG 2000 chip photo).
    pub condition: String,
    /// `cosine` or `l2`.
    pub metric: crate::embed::Metric,
    /// Genuine (same identity) scores.
    pub genuine: Stats,
    /// Impostor (different identity) scores.
    pub impostor: Stats,
    /// Whether every genuine score is better than every impostor score.
    pub separated: bool,
    /// Equal error rate (approximate, on this set).
    pub eer: f64,
    /// FNMR at FMR 1e-2, 1e-3, 1e-4.
    pub fnmr_at_fmr: Vec<AtFmr>,
    /// Threshold from the thresholds file used for the decision rates below.
    pub threshold: f32,
    /// FMR at that threshold.
    pub fmr_at_threshold: f64,
    /// FNMR at that threshold.
    pub fnmr_at_threshold: f64,
    /// Proposed threshold (see the report's method).
    pub proposed_threshold: f32,
    /// Raw genuine scores.
    pub genuine_scores: Vec<f32>,
    /// Raw impostor scores.
    pub impostor_scores: Vec<f32>,
}

/// Attack results for one attack type.
#[derive(Debug, Clone, Serialize)]
pub struct AttackResult {
    /// Attack type (folder name).
    pub kind: String,
    /// Presentations evaluated (a face was found).
    pub n: usize,
    /// Presentations where no face was found (not counted in APCER).
    pub no_face: usize,
    /// Attack presentations classified as bona fide.
    pub apcer: f64,
    /// Mean CDCN depth.
    pub mean_depth: f32,
}

/// Passive PAD results.
#[derive(Debug, Clone, Serialize)]
pub struct PadResult {
    /// Threshold (mean depth) from the thresholds file.
    pub threshold: f32,
    /// Bona fide presentations evaluated.
    pub bona_fide: usize,
    /// Bona fide presentations classified as attacks.
    pub bpcer: f64,
    /// Mean depth of bona fide presentations.
    pub bona_fide_mean_depth: f32,
    /// Per attack type.
    pub attacks: Vec<AttackResult>,
    /// The worst APCER over the attack types.
    pub max_apcer: f64,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Identities.
    pub identities: usize,
    /// Images found in identity folders.
    pub images: usize,
    /// Images where no face was found or quality was below the minimum.
    pub fta_failures: usize,
    /// Failure-to-acquire rate.
    pub fta: f64,
    /// Per model and condition.
    pub results: Vec<ModelResult>,
    /// Passive PAD, when run and when there are attacks.
    pub pad: Option<PadResult>,
    /// The active challenge on synthetic video, when run.
    pub challenge: Option<crate::challenge_eval::ChallengeEval>,
    /// Seconds the evaluation took.
    pub seconds: f64,
    /// Thresholds file used.
    pub thresholds_source: String,
}

fn list_images(dir: &Path) -> Result<Vec<PathBuf>, FaceError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FaceError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.is_file()
                && p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(
                        e.to_ascii_lowercase().as_str(),
                        "jpg" | "jpeg" | "png" | "jp2" | "j2k"
                    )
                })
        })
        .collect();
    v.sort();
    Ok(v)
}

fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, FaceError> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| FaceError::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    v.sort();
    Ok(v)
}

fn stats(v: &[f32]) -> Stats {
    let n = v.len();
    if n == 0 {
        return Stats {
            n,
            min: f32::NAN,
            mean: f32::NAN,
            max: f32::NAN,
        };
    }
    Stats {
        n,
        min: v.iter().copied().fold(f32::INFINITY, f32::min),
        mean: v.iter().sum::<f32>() / n as f32,
        max: v.iter().copied().fold(f32::NEG_INFINITY, f32::max),
    }
}

/// FMR and FNMR at similarity threshold `t` (accept when sim ≥ t).
fn rates(genu: &[f32], imp: &[f32], t: f32) -> (f64, f64) {
    let fm = imp.iter().filter(|s| **s >= t).count() as f64 / imp.len().max(1) as f64;
    let fnm = genu.iter().filter(|s| **s < t).count() as f64 / genu.len().max(1) as f64;
    (fm, fnm)
}

/// Candidate thresholds: every score, plus one above the maximum.
fn candidates(genu: &[f32], imp: &[f32]) -> Vec<f32> {
    let mut c: Vec<f32> = genu.iter().chain(imp).copied().collect();
    c.sort_by(f32::total_cmp);
    if let Some(m) = c.last().copied() {
        c.push(m + 1e-3);
    }
    c
}

/// The DET curve points (FMR, FNMR) over all candidate thresholds.
pub fn det_points(genu: &[f32], imp: &[f32]) -> Vec<(f64, f64)> {
    candidates(genu, imp)
        .into_iter()
        .map(|t| rates(genu, imp, t))
        .collect()
}

fn eer(genu: &[f32], imp: &[f32]) -> f64 {
    candidates(genu, imp)
        .into_iter()
        .map(|t| rates(genu, imp, t))
        .map(|(a, b)| (a.max(b), (a - b).abs()))
        .min_by(|x, y| x.1.total_cmp(&y.1).then(x.0.total_cmp(&y.0)))
        .map_or(f64::NAN, |x| x.0)
}

/// The lowest similarity threshold with FMR ≤ target, and the FNMR there.
fn at_fmr(genu: &[f32], imp: &[f32], target: f64) -> AtFmr {
    if (imp.len() as f64) < 1.0 / target {
        return AtFmr {
            fmr: target,
            fnmr: None,
            threshold: None,
            note: Some(format!("{} impostor comparisons < 1/FMR", imp.len())),
        };
    }
    let hit = candidates(genu, imp)
        .into_iter()
        .map(|t| (t, rates(genu, imp, t)))
        .find(|(_, (fm, _))| *fm <= target);
    AtFmr {
        fmr: target,
        fnmr: hit.map(|(_, (_, f))| f),
        threshold: hit.map(|(t, _)| t),
        note: None,
    }
}

struct Sample {
    identity: usize,
    template: FaceTemplate,
}

fn model_result(
    engine: &FaceEngine,
    model: EmbedderKind,
    condition: &str,
    pairs: impl Iterator<Item = (bool, f32)>,
) -> ModelResult {
    let metric = model.metric();
    let (mut gen_raw, mut imp_raw) = (Vec::new(), Vec::new());
    for (same, s) in pairs {
        if same {
            gen_raw.push(s)
        } else {
            imp_raw.push(s)
        }
    }
    let sim = |v: &[f32]| {
        v.iter()
            .map(|s| metric.as_similarity(*s))
            .collect::<Vec<f32>>()
    };
    let (genu, imp) = (sim(&gen_raw), sim(&imp_raw));
    let chip = condition == "chip";
    let threshold = engine.thresholds().for_model(model, chip);
    let (fmr_t, fnmr_t) = rates(&genu, &imp, metric.as_similarity(threshold));
    let mut fnmr_at_fmr: Vec<AtFmr> = [1e-2, 1e-3, 1e-4]
        .iter()
        .map(|f| at_fmr(&genu, &imp, *f))
        .collect();
    for a in &mut fnmr_at_fmr {
        a.threshold = a.threshold.map(|t| metric.as_similarity(t));
    }
    // Proposed threshold: the published operating point (the current file's value), made
    // stricter when an impostor on this set reaches it (just above the worst impostor).
    let max_imp = imp.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let cur = metric.as_similarity(threshold);
    let proposed = metric.as_similarity(if max_imp >= cur { max_imp + 0.01 } else { cur });
    let min_gen = genu.iter().copied().fold(f32::INFINITY, f32::min);
    ModelResult {
        model,
        condition: condition.to_owned(),
        metric,
        genuine: stats(&gen_raw),
        impostor: stats(&imp_raw),
        separated: !genu.is_empty() && !imp.is_empty() && min_gen > max_imp,
        eer: eer(&genu, &imp),
        fnmr_at_fmr,
        threshold,
        fmr_at_threshold: fmr_t,
        fnmr_at_threshold: fnmr_t,
        proposed_threshold: proposed,
        genuine_scores: gen_raw,
        impostor_scores: imp_raw,
    }
}

/// Runs the evaluation on `dir` and writes `report.json`, `report.md`, `det.png` and
/// `thresholds.toml` (proposed) into `opts.out`.
pub fn run(engine: &FaceEngine, dir: &Path, opts: &EvalOptions) -> Result<Report, FaceError> {
    let started = std::time::Instant::now();
    let mut identities: Vec<(String, Vec<PathBuf>)> = Vec::new();
    for d in subdirs(dir)? {
        let name = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name == "attacks" || name == "chip" {
            continue;
        }
        let imgs = list_images(&d)?;
        if !imgs.is_empty() {
            identities.push((name, imgs));
        }
    }
    if identities.len() < 2 {
        return Err(FaceError::Invalid(format!(
            "{}: need at least two identity folders with images",
            dir.display()
        )));
    }
    let images: usize = identities.iter().map(|(_, v)| v.len()).sum();
    let min_q = engine.thresholds().quality_min;
    // Acquire every image once (detection, quality, the chosen face), on every core.
    let files: Vec<(usize, &PathBuf)> = identities
        .iter()
        .enumerate()
        .flat_map(|(i, (_, fs))| fs.iter().map(move |f| (i, f)))
        .collect();
    let acquired_all = par_map(&files, |(i, f)| {
        let img = open_any(f)?;
        let faces = engine.detect(&img, false)?;
        let Some(d) = FaceEngine::subject(&faces).copied() else {
            return Ok(None);
        };
        let q = engine.quality(&img, &d, &faces)?;
        Ok((q.overall >= min_q).then_some((*i, img, d)))
    })?;
    let fta_failures = acquired_all.iter().filter(|a| a.is_none()).count();
    let acquired: Vec<(usize, RgbImage, crate::detect::Detection)> =
        acquired_all.into_iter().flatten().collect();
    let mut results = Vec::new();
    let chip_dir = dir.join("chip");
    for &model in &opts.models {
        let samples = par_map(&acquired, |(i, img, d)| {
            Ok(Sample {
                identity: *i,
                template: engine.embed(img, d, model, false)?,
            })
        })?;
        let mut pairs = Vec::new();
        for a in 0..samples.len() {
            for b in a + 1..samples.len() {
                let s = samples[a].template.score(&samples[b].template)?;
                pairs.push((samples[a].identity == samples[b].identity, s));
            }
        }
        results.push(model_result(engine, model, "colour", pairs.into_iter()));
        // Chip condition: each chip reference against every grey live capture.
        if chip_dir.is_dir() {
            let mut chips = Vec::new();
            for (i, (name, _)) in identities.iter().enumerate() {
                let d = chip_dir.join(name);
                if !d.is_dir() {
                    continue;
                }
                for f in list_images(&d)? {
                    let img = open_any(&f)?;
                    let faces = engine.detect(&img, false)?;
                    if let Some(det) = FaceEngine::subject(&faces) {
                        chips.push(Sample {
                            identity: i,
                            template: engine.embed(&img, det, model, true)?,
                        });
                    }
                }
            }
            if !chips.is_empty() {
                let grey = par_map(&acquired, |(i, img, d)| {
                    Ok(Sample {
                        identity: *i,
                        template: engine.embed(img, d, model, true)?,
                    })
                })?;
                let mut pairs = Vec::new();
                for c in &chips {
                    for g in &grey {
                        pairs.push((c.identity == g.identity, c.template.score(&g.template)?));
                    }
                }
                results.push(model_result(engine, model, "chip", pairs.into_iter()));
            }
        }
    }
    let pad = if opts.pad {
        pad_eval(
            engine,
            dir,
            &identities,
            opts.pad_limit.unwrap_or(usize::MAX),
        )?
    } else {
        None
    };
    let challenge = if opts.challenge {
        let photos: Vec<PathBuf> = identities
            .iter()
            .flat_map(|(_, fs)| fs.iter().filter(|f| is_original(f)).cloned())
            .take(opts.pad_limit.unwrap_or(usize::MAX))
            .collect();
        Some(crate::challenge_eval::run(engine, &photos)?)
    } else {
        None
    };
    let report = Report {
        identities: identities.len(),
        images,
        fta_failures,
        fta: fta_failures as f64 / images.max(1) as f64,
        results,
        pad,
        challenge,
        seconds: started.elapsed().as_secs_f64(),
        thresholds_source: engine.thresholds().source.clone(),
    };
    write_outputs(engine, &report, &opts.out)?;
    Ok(report)
}

/// PAD on bona fide images (the first image of each identity, i.e. the original photos in
/// the fixture set) and on every attack presentation.
fn pad_eval(
    engine: &FaceEngine,
    dir: &Path,
    identities: &[(String, Vec<PathBuf>)],
    limit: usize,
) -> Result<Option<PadResult>, FaceError> {
    let attacks_dir = dir.join("attacks");
    if !attacks_dir.is_dir() {
        return Ok(None);
    }
    let depth_of = |f: &Path| -> Result<Option<crate::engine::Liveness>, FaceError> {
        let img = open_any(f)?;
        let faces = engine.detect(&img, false)?;
        match FaceEngine::subject(&faces) {
            Some(d) => engine.liveness(&img, d),
            None => Ok(None),
        }
    };
    let originals: Vec<&PathBuf> = identities
        .iter()
        .flat_map(|(_, fs)| fs.iter().filter(|f| is_original(f)))
        .take(limit)
        .collect();
    let bona: Vec<crate::engine::Liveness> = par_map(&originals, |f| depth_of(f))?
        .into_iter()
        .flatten()
        .collect();
    if bona.is_empty()
        && engine
            .liveness(&RgbImage::new(8, 8), &dummy_det())?
            .is_none()
    {
        return Ok(None);
    }
    let mut attacks = Vec::new();
    for d in subdirs(&attacks_dir)? {
        let kind = d
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let (mut live, mut n, mut no_face, mut depth) = (0usize, 0usize, 0usize, 0f32);
        let files: Vec<PathBuf> = list_images(&d)?.into_iter().take(limit).collect();
        for l in par_map(&files, |f| depth_of(f))? {
            match l {
                Some(l) => {
                    n += 1;
                    depth += l.depth;
                    live += usize::from(l.live);
                }
                None => no_face += 1,
            }
        }
        attacks.push(AttackResult {
            kind,
            n,
            no_face,
            apcer: live as f64 / n.max(1) as f64,
            mean_depth: depth / n.max(1) as f32,
        });
    }
    let rejected = bona.iter().filter(|l| !l.live).count();
    Ok(Some(PadResult {
        threshold: engine.thresholds().pad_cdcn_min_depth,
        bona_fide: bona.len(),
        bpcer: rejected as f64 / bona.len().max(1) as f64,
        bona_fide_mean_depth: bona.iter().map(|l| l.depth).sum::<f32>() / bona.len().max(1) as f32,
        max_apcer: attacks.iter().map(|a| a.apcer).fold(0.0, f64::max),
        attacks,
    }))
}

/// Maps `f` over `items` on up to as many threads as there are cores, keeping the order.
fn par_map<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&T) -> Result<R, FaceError> + Sync,
) -> Result<Vec<R>, FaceError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4);
    let chunk = items.len().div_ceil(threads).max(1);
    let f = &f;
    let parts: Vec<Result<Vec<R>, FaceError>> = std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Result<Vec<R>, FaceError>>()))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or(Err(FaceError::WorkerStopped)))
            .collect()
    });
    let mut out = Vec::with_capacity(items.len());
    for p in parts {
        out.extend(p?);
    }
    Ok(out)
}

fn dummy_det() -> crate::detect::Detection {
    crate::detect::Detection {
        bbox: [0.0, 0.0, 8.0, 8.0],
        score: 1.0,
        landmarks: [[1.0, 1.0], [6.0, 1.0], [4.0, 4.0], [2.0, 6.0], [6.0, 6.0]],
    }
}

/// Bona fide originals in the fixture set are named `orig*` (augmentations are not used
/// for PAD: blur and noise are not what a live face at the kiosk looks like). Folders without
/// such names use every image.
fn is_original(f: &Path) -> bool {
    let name = f
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir_has_orig = f
        .parent()
        .and_then(|p| std::fs::read_dir(p).ok())
        .is_some_and(|mut r| {
            r.any(|e| e.is_ok_and(|e| e.file_name().to_string_lossy().starts_with("orig")))
        });
    !dir_has_orig || name.starts_with("orig")
}

fn write_outputs(engine: &FaceEngine, r: &Report, out: &Path) -> Result<(), FaceError> {
    std::fs::create_dir_all(out).map_err(|e| FaceError::io(out, e))?;
    let json = serde_json::to_string_pretty(r).map_err(|e| FaceError::Invalid(e.to_string()))?;
    let p = out.join("report.json");
    std::fs::write(&p, json).map_err(|e| FaceError::io(&p, e))?;
    let p = out.join("report.md");
    std::fs::write(&p, markdown(r)).map_err(|e| FaceError::io(&p, e))?;
    crate::eval_plot::det_png(r, &out.join("det.png"))?;
    let p = out.join("thresholds.toml");
    std::fs::write(&p, proposed_thresholds(engine, r)).map_err(|e| FaceError::io(&p, e))?;
    Ok(())
}

fn proposed_thresholds(engine: &FaceEngine, r: &Report) -> String {
    let t = engine.thresholds();
    let get = |m: EmbedderKind, c: &str, cur: f32| {
        r.results
            .iter()
            .find(|x| x.model == m && x.condition == c)
            .map_or(cur, |x| x.proposed_threshold)
    };
    let mut s = String::new();
    s.push_str("# Decision thresholds of the face pipeline (crates/face/src/thresholds.rs reads this file).\n");
    s.push_str("# Written by `madoguchi face eval`: each match threshold is the model's published operating\n");
    s.push_str("# point, made stricter when an impostor of the evaluation set reaches it. See report.md.\n");
    s.push_str(&format!(
        "source = \"face eval: {} identities, {} images, FTA {:.3}\"\n",
        r.identities, r.images, r.fta
    ));
    s.push_str(&format!(
        "detector_min_score = {:?}\n",
        t.detector_min_score
    ));
    s.push_str(&format!("quality_min = {:?}\n", t.quality_min));
    s.push_str(&format!(
        "pad_cdcn_min_depth = {:?}\n",
        t.pad_cdcn_min_depth
    ));
    s.push_str(&format!(
        "challenge_turn_degrees = {:?}\n",
        t.challenge_turn_degrees
    ));
    for (name, m, cur) in [
        ("sface", EmbedderKind::Sface, t.sface),
        ("dlib", EmbedderKind::Dlib, t.dlib),
    ] {
        s.push_str(&format!(
            "\n[{name}]\nthreshold = {:?}\nchip_threshold = {:?}\n",
            round3(get(m, "colour", cur.threshold)),
            round3(get(m, "chip", cur.chip_threshold))
        ));
    }
    s
}

fn round3(v: f32) -> f32 {
    (v * 1000.0).round() / 1000.0
}

fn pct(v: f64) -> String {
    format!("{:.2} %", 100.0 * v)
}

/// The Markdown report.
pub fn markdown(r: &Report) -> String {
    let mut s = String::new();
    s.push_str("# Face evaluation report\n\n");
    s.push_str(&format!(
        "{} identities, {} images; failure to acquire (no face, or quality below the minimum): {} ({}). Took {:.1} s. Thresholds: {}.\n\n",
        r.identities, r.images, r.fta_failures, pct(r.fta), r.seconds, r.thresholds_source
    ));
    s.push_str("## Verification\n\n");
    s.push_str("| model | condition | metric | genuine n / min / mean / max | impostor n / min / mean / max | separated | EER | threshold | FMR@thr | FNMR@thr | FNMR@FMR 1e-2 | 1e-3 | 1e-4 | proposed |\n");
    s.push_str("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for m in &r.results {
        let f = |i: usize| {
            m.fnmr_at_fmr.get(i).map_or("-".into(), |a| match a.fnmr {
                Some(v) => pct(v),
                None => format!("n/a ({})", a.note.clone().unwrap_or_default()),
            })
        };
        let st = |x: &Stats| format!("{} / {:.3} / {:.3} / {:.3}", x.n, x.min, x.mean, x.max);
        s.push_str(&format!(
            "| {:?} | {} | {:?} | {} | {} | {} | {} | {:.3} | {} | {} | {} | {} | {} | {:.3} |\n",
            m.model,
            m.condition,
            m.metric,
            st(&m.genuine),
            st(&m.impostor),
            if m.separated { "yes" } else { "no" },
            pct(m.eer),
            m.threshold,
            pct(m.fmr_at_threshold),
            pct(m.fnmr_at_threshold),
            f(0),
            f(1),
            f(2),
            m.proposed_threshold
        ));
    }
    s.push_str(
        "\nFNMR at an FMR is only given when the set has at least 1/FMR impostor comparisons. ",
    );
    s.push_str("The `chip` condition compares greyscale JPEG 2000 chip-photo references with greyscaled live images. ");
    s.push_str("DET curve: `det.png`.\n\n");
    if let Some(p) = &r.pad {
        s.push_str("## Presentation-attack detection (passive, CDCN)\n\n");
        s.push_str(&format!(
            "Threshold (mean depth) {:.4}. Bona fide: {} presentations, BPCER {} (mean depth {:.4}).\n\n",
            p.threshold, p.bona_fide, pct(p.bpcer), p.bona_fide_mean_depth
        ));
        s.push_str("| attack type | presentations | no face found | APCER | mean depth |\n|---|---|---|---|---|\n");
        for a in &p.attacks {
            s.push_str(&format!(
                "| {} | {} | {} | {} | {:.4} |\n",
                a.kind,
                a.n,
                a.no_face,
                pct(a.apcer),
                a.mean_depth
            ));
        }
        s.push_str(&format!(
            "\nWorst APCER over attack types: {}.\n",
            pct(p.max_apcer)
        ));
    }
    if let Some(c) = &r.challenge {
        s.push('\n');
        s.push_str(&crate::challenge_eval::markdown(c));
    }
    s
}

/// Groups scores by identity pair kind for tests (genuine, impostor counts per model).
pub fn pair_counts(r: &Report) -> BTreeMap<String, (usize, usize)> {
    r.results
        .iter()
        .map(|m| {
            (
                format!("{:?}/{}", m.model, m.condition),
                (m.genuine.n, m.impostor.n),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_eer_and_fmr_points() {
        let genu = [0.9, 0.8, 0.7, 0.4];
        let imp = [0.1, 0.2, 0.3, 0.5];
        let (fm, fnm) = rates(&genu, &imp, 0.45);
        assert_eq!((fm, fnm), (0.25, 0.25));
        assert!((eer(&genu, &imp) - 0.25).abs() < 1e-9);
        let a = at_fmr(&genu, &imp, 1e-2);
        assert!(a.fnmr.is_none(), "4 impostors cannot measure FMR 1e-2");
        let imp: Vec<f32> = (0..200).map(|i| i as f32 / 1000.0).collect();
        let a = at_fmr(&genu, &imp, 1e-2);
        assert_eq!(a.fnmr, Some(0.0));
        assert!(a.threshold.is_some_and(|t| t > 0.19));
    }
}
