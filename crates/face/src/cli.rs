//! The `madoguchi face …` subcommands: `compare A B` (JSON: score, decision, threshold,
//! quality components, liveness), `eval DIR` (report files, JSON summary) and
//! `build-fixtures SRC OUT` (the evaluation fixture set), `enroll IMAGE --out T` (the template
//! file `qr issue --template` reads, behind the enrollment gates of [`crate::enroll`]),
//! `verify REFERENCE` (a live verification from a camera, a recorded clip or the synthetic
//! customer through the two-thread worker, with the turn challenge; guidance on stderr as
//! it changes, the decision as JSON).
//!
//! Exit codes: `compare` 0 = match, 1 = no match, 2 = error; `enroll` 0 = enrolled,
//! 1 = a gate refused the face, 2 = error; `verify` 0 = match, 1 = any other decision,
//! 2 = error; others 0 = done, 2 = error.
//! Output never contains image data or templates (`enroll` writes its template only to the
//! `--out` file, mode 0600); errors name files, not people.

use std::path::PathBuf;
use std::process::ExitCode;

use serde::Serialize;

use crate::embed::EmbedderKind;
use crate::engine::{EngineOptions, FaceEngine, Liveness};
use crate::enroll::{Gated, LivenessGate, gated_capture, template_json};
use crate::eval::EvalOptions;
use crate::guidance;
use crate::jp2::open_any;
use crate::pad::Turn;
use crate::quality::Quality;
use crate::verify::{Decision, decide};
use crate::worker::{Event, Outcome, Phase, VerifyOptions, spawn_verify};
use crate::{FaceError, models, thresholds};

/// Where models and thresholds come from.
#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// Models folder with manifest.toml (default: $MADOGUCHI_MODELS_DIR or assets/models).
    #[arg(long)]
    pub models_dir: Option<PathBuf>,
    /// Thresholds file (default: $MADOGUCHI_THRESHOLDS or assets/thresholds.toml).
    #[arg(long)]
    pub thresholds: Option<PathBuf>,
}

/// `madoguchi face …`
#[derive(Debug, Clone, clap::Subcommand)]
pub enum FaceCommand {
    /// Compare the faces in two images; prints JSON.
    Compare {
        /// First image (the live capture).
        a: PathBuf,
        /// Second image (the reference; `.jp2` chip photos are read too).
        b: PathBuf,
        /// Embedding model.
        #[arg(long, value_enum, default_value = "sface")]
        model: EmbedderKind,
        /// B is a chip photo: compare greyscale with the chip threshold.
        #[arg(long)]
        chip: bool,
        /// Skip the passive liveness check (it takes about a second per image).
        #[arg(long)]
        no_pad: bool,
        /// Models and thresholds.
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Evaluate on a labelled folder (one sub-folder per identity, optional attacks/ and
    /// chip/); writes report.json, report.md, det.png, thresholds.toml into --out.
    Eval {
        /// The labelled folder.
        dir: PathBuf,
        /// Output folder for the report.
        #[arg(long, default_value = "face-eval")]
        out: PathBuf,
        /// Models to evaluate (repeatable).
        #[arg(long = "model", value_enum, default_values = ["sface", "dlib"])]
        models_to_eval: Vec<EmbedderKind>,
        /// Skip presentation-attack evaluation.
        #[arg(long)]
        no_pad: bool,
        /// At most N bona fide images and N per attack type through PAD (~0.3 s each), and
        /// N photos for the challenge clips.
        #[arg(long)]
        pad_limit: Option<usize>,
        /// Skip the active turn challenge on synthetic clips of the bona fide photos.
        #[arg(long)]
        no_challenge: bool,
        /// Models and thresholds.
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Enroll the face in an image: quality and liveness gates, then write the template file
    /// (JSON {"model_id", "template_version", "embedding"}, mode 0600) for `qr issue`.
    /// Prints JSON {enrolled, reason, quality, liveness, model_id, template_version}.
    Enroll {
        /// The image (a frame from the enrollment capture).
        image: PathBuf,
        /// Template file to write.
        #[arg(long)]
        out: PathBuf,
        /// Embedding model.
        #[arg(long, value_enum, default_value = "sface")]
        model: EmbedderKind,
        /// Skip the passive liveness gate (development only).
        #[arg(long)]
        no_pad: bool,
        /// Models and thresholds.
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Verify the live face against a reference image: capture window → best frame →
    /// match, passive PAD and the turn challenge. Prints the customer guidance (JA/EN) on
    /// stderr as it changes and the decision as JSON on stdout.
    Verify {
        /// The reference: a photo, or with --chip a chip photo (JPEG 2000 or any image).
        reference: PathBuf,
        /// Camera: index or name (default: the first camera).
        #[arg(long, conflicts_with_all = ["clip", "simulate"])]
        camera: Option<String>,
        /// A recorded clip (folder of frames, optional timing.txt) instead of a camera.
        #[arg(long, conflicts_with = "simulate")]
        clip: Option<PathBuf>,
        /// The synthetic customer made from this photo instead of a camera; it turns its
        /// head when the challenge asks (a photo held up would not).
        #[arg(long)]
        simulate: Option<PathBuf>,
        /// The reference is a chip photo: compare greyscale with the chip threshold.
        #[arg(long)]
        chip: bool,
        /// Embedding model.
        #[arg(long, value_enum, default_value = "sface")]
        model: EmbedderKind,
        /// Capture window, ms.
        #[arg(long, default_value_t = 800)]
        window_ms: u64,
        /// Head-turn challenge after the window.
        #[arg(long, value_enum, default_value = "random")]
        challenge: ChallengeArg,
        /// Time the customer has for the challenge, ms.
        #[arg(long, default_value_t = 6000)]
        challenge_timeout_ms: u64,
        /// The camera delivers mirrored frames (the challenge swaps image left and right).
        #[arg(long)]
        mirrored: bool,
        /// Skip the passive PAD (development only). With a challenge the passive result is
        /// advisory (reported, not deciding: its error rates are in the eval report); without
        /// one it is the only PAD and decides.
        #[arg(long)]
        no_pad: bool,
        /// Models and thresholds.
        #[command(flatten)]
        models: ModelArgs,
    },
    /// Build the evaluation fixture set from a folder of source photos (needs opj_compress
    /// from libopenjp2-tools).
    BuildFixtures {
        /// Folder with the source photos (see fixtures::IDENTITIES).
        src: PathBuf,
        /// Output folder.
        out: PathBuf,
        /// Models and thresholds.
        #[command(flatten)]
        models: ModelArgs,
    },
}

/// The `verify --challenge` choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ChallengeArg {
    /// No challenge.
    None,
    /// Ask to turn left.
    Left,
    /// Ask to turn right.
    Right,
    /// Left or right at random (what a kiosk should ask).
    Random,
}

/// Where `verify` takes its frames from.
#[derive(Debug, Clone)]
pub struct SourceArg {
    /// Camera index or name.
    pub camera: Option<String>,
    /// Recorded clip folder.
    pub clip: Option<PathBuf>,
    /// Photo of the synthetic customer.
    pub simulate: Option<PathBuf>,
}

/// The `verify` output: the decision, its reasons and the worker's numbers (no image, no
/// template).
#[derive(Debug, Serialize)]
pub struct VerifyReport {
    /// The verdict.
    pub decision: Decision,
    /// Stable reason codes (empty for a match).
    pub reasons: Vec<&'static str>,
    /// Signs that did not decide: `pad.not_live` when the passive PAD judged the face not
    /// live but the challenge was the deciding cue.
    pub advisories: Vec<&'static str>,
    /// `colour` or `chip`.
    pub condition: &'static str,
    /// Where the frames came from.
    pub source: madoguchi_camera::SourceInfo,
    /// The worker's outcome: comparison, quality, liveness, challenge, timings.
    pub outcome: Outcome,
}

/// Opens the frame source for `verify`. The synthetic customer follows the asked turn.
fn open_source(
    src: &SourceArg,
    turn: Option<Turn>,
    mirrored: bool,
    engine: &FaceEngine,
) -> Result<Box<dyn madoguchi_camera::FrameSource>, FaceError> {
    let cam = |e: madoguchi_camera::CameraError| FaceError::Invalid(format!("camera: {e}"));
    if let Some(photo) = &src.simulate {
        return Ok(Box::new(crate::challenge_eval::simulated_camera(
            engine,
            &open_any(photo)?,
            turn,
            mirrored,
            crate::challenge_eval::Presenter::Customer,
        )?));
    }
    if let Some(dir) = &src.clip {
        return Ok(Box::new(
            madoguchi_camera::recorded::RecordedSource::open(dir, 15.0, true).map_err(cam)?,
        ));
    }
    let selector =
        madoguchi_camera::webcam::CameraSelector::parse(src.camera.as_deref().unwrap_or(""));
    let r =
        madoguchi_camera::webcam::open_reconnecting(selector, Default::default()).map_err(|e| {
            FaceError::Invalid(format!(
                "camera: {e} (no camera here? use --simulate PHOTO or --clip DIR)"
            ))
        })?;
    Ok(Box::new(r))
}

/// Runs `verify`: the reference's template, then the worker on the source, then the
/// decision. Guidance goes to stderr each time it changes.
pub fn verify_cmd(
    reference: &std::path::Path,
    src: &SourceArg,
    opts: VerifyOptions,
    models: &ModelArgs,
) -> Result<VerifyReport, FaceError> {
    let engine = load_one(models, opts.model, opts.pad)?;
    let refimg = open_any(reference)?;
    let template = engine.analyse(&refimg, opts.model, opts.chip)?.template;
    let source = open_source(src, opts.challenge, opts.mirrored, &engine)?;
    let info = source.info();
    let chip = opts.chip;
    // The passive model decides only when it is the only PAD.
    let passive_decides = opts.pad && opts.challenge.is_none();
    let h = spawn_verify(engine, source, template, opts);
    let mut last = "";
    let mut outcome = None;
    for ev in h.events.iter() {
        match ev {
            Event::Progress {
                guidance, phase, ..
            } => {
                if guidance.code != last {
                    last = guidance.code;
                    let phase = match phase {
                        Phase::Capture => "capture",
                        Phase::Challenge => "challenge",
                    };
                    eprintln!(
                        "[{phase}] {}  {} / {}",
                        guidance.code, guidance.ja, guidance.en
                    );
                }
            }
            Event::Done(o) => outcome = Some(o),
            Event::Failed { message } => return Err(FaceError::Invalid(message)),
        }
    }
    let outcome = outcome.ok_or(FaceError::WorkerStopped)?;
    let (decision, reasons) = decide(&outcome, passive_decides);
    let advisories = match outcome.liveness {
        Some(l) if !l.live && !passive_decides => vec!["pad.not_live"],
        _ => vec![],
    };
    Ok(VerifyReport {
        decision,
        reasons,
        advisories,
        condition: if chip { "chip" } else { "colour" },
        source: info,
        outcome,
    })
}

/// One side of a comparison, as printed.
#[derive(Debug, Serialize)]
pub struct ImageReport {
    /// Faces found.
    pub faces: usize,
    /// Quality components.
    pub quality: Quality,
    /// Guidance code for this image.
    pub guidance: &'static str,
    /// Passive liveness (absent with --no-pad or for chip photos).
    pub liveness: Option<Liveness>,
}

/// The `compare` output.
#[derive(Debug, Serialize)]
pub struct CompareReport {
    /// Model.
    pub model: EmbedderKind,
    /// `colour` or `chip`.
    pub condition: &'static str,
    /// `cosine` or `l2`.
    pub metric: crate::embed::Metric,
    /// Score.
    pub score: f32,
    /// Threshold from the thresholds file.
    pub threshold: f32,
    /// `match` or `no_match`.
    pub decision: &'static str,
    /// Live capture.
    pub a: ImageReport,
    /// Reference.
    pub b: ImageReport,
}

fn load(models: &ModelArgs, opts: &EngineOptions) -> Result<FaceEngine, FaceError> {
    FaceEngine::load(
        &models
            .models_dir
            .clone()
            .unwrap_or_else(models::default_models_dir),
        &models
            .thresholds
            .clone()
            .unwrap_or_else(thresholds::default_thresholds_path),
        opts,
    )
}

/// The engine with one embedding model (and the PAD when `pad`).
fn load_one(models: &ModelArgs, model: EmbedderKind, pad: bool) -> Result<FaceEngine, FaceError> {
    load(
        models,
        &EngineOptions {
            embedders: vec![model],
            pad,
        },
    )
}

/// Runs `compare`.
pub fn compare(
    a: &std::path::Path,
    b: &std::path::Path,
    model: EmbedderKind,
    chip: bool,
    pad: bool,
    models: &ModelArgs,
) -> Result<CompareReport, FaceError> {
    let engine = load_one(models, model, pad)?;
    let side = |p: &std::path::Path,
                live: bool|
     -> Result<(ImageReport, crate::FaceTemplate), FaceError> {
        let img = open_any(p)?;
        let an = engine.analyse(&img, model, chip)?;
        let liveness = if live {
            engine.liveness(&img, &an.detection)?
        } else {
            None
        };
        Ok((
            ImageReport {
                faces: an.faces,
                quality: an.quality,
                guidance: guidance::for_quality(an.faces, Some(&an.quality)).code,
                liveness,
            },
            an.template,
        ))
    };
    let (ra, ta) = side(a, pad)?;
    let (rb, tb) = side(b, pad && !chip)?;
    let c = engine.compare(&ta, &tb, chip)?;
    Ok(CompareReport {
        model,
        condition: if chip { "chip" } else { "colour" },
        metric: c.metric,
        score: c.score,
        threshold: c.threshold,
        decision: if c.matched { "match" } else { "no_match" },
        a: ra,
        b: rb,
    })
}

/// Runs `enroll`: the JSON report, and whether the face was enrolled (file written).
pub fn enroll(
    image: &std::path::Path,
    out: &std::path::Path,
    model: EmbedderKind,
    pad: bool,
    models: &ModelArgs,
) -> Result<(serde_json::Value, bool), FaceError> {
    let engine = load_one(models, model, pad)?;
    let img = open_any(image)?;
    let gate = if pad {
        LivenessGate::Passive
    } else {
        LivenessGate::Off
    };
    let g = gated_capture(&engine, &img, model, gate)?;
    let report = match &g {
        Gated::Passed(e) => {
            write_private(out, template_json(e).as_bytes())?;
            serde_json::json!({
                "enrolled": true, "model_id": e.model_id, "template_version": e.template_version,
                "quality": e.quality, "liveness": e.liveness, "out": out.display().to_string(),
            })
        }
        Gated::NoFace => serde_json::json!({
            "enrolled": false, "reason": g.code(), "guidance": guidance::NO_FACE.code,
        }),
        Gated::Quality { quality, guidance } => serde_json::json!({
            "enrolled": false, "reason": g.code(), "quality": quality, "guidance": guidance,
        }),
        Gated::Liveness(l) => serde_json::json!({
            "enrolled": false, "reason": g.code(), "liveness": l,
        }),
    };
    Ok((report, matches!(g, Gated::Passed(_))))
}

/// Writes a file readable by its owner only (it holds a template).
fn write_private(path: &std::path::Path, bytes: &[u8]) -> Result<(), FaceError> {
    use std::io::Write;
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        o.mode(0o600);
    }
    let io = |e| FaceError::Io {
        path: path.display().to_string(),
        source: e,
    };
    let mut f = o.open(path).map_err(io)?;
    f.write_all(bytes).map_err(io)
}

fn print_json<T: Serialize>(v: &T) -> bool {
    match serde_json::to_string_pretty(v) {
        Ok(s) => {
            println!("{s}");
            true
        }
        Err(e) => {
            eprintln!("madoguchi face: {e}");
            false
        }
    }
}

/// Runs a `face` subcommand.
pub fn run(cmd: FaceCommand) -> ExitCode {
    let fail = |e: FaceError| {
        eprintln!("madoguchi face: {e}");
        ExitCode::from(2)
    };
    match cmd {
        FaceCommand::Compare {
            a,
            b,
            model,
            chip,
            no_pad,
            models,
        } => match compare(&a, &b, model, chip, !no_pad, &models) {
            Ok(r) => {
                if !print_json(&r) {
                    return ExitCode::from(2);
                }
                if r.decision == "match" {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        },
        FaceCommand::Eval {
            dir,
            out,
            models_to_eval,
            no_pad,
            pad_limit,
            no_challenge,
            models,
        } => {
            let engine = match load(
                &models,
                &EngineOptions {
                    embedders: models_to_eval.clone(),
                    pad: !no_pad,
                },
            ) {
                Ok(e) => e,
                Err(e) => return fail(e),
            };
            let opts = EvalOptions {
                models: models_to_eval,
                pad: !no_pad,
                out: out.clone(),
                pad_limit,
                challenge: !no_challenge,
            };
            match crate::eval::run(&engine, &dir, &opts) {
                Ok(r) => {
                    let summary = serde_json::json!({
                        "out": out.display().to_string(),
                        "identities": r.identities,
                        "images": r.images,
                        "fta": r.fta,
                        "results": r.results.iter().map(|m| serde_json::json!({
                            "model": m.model, "condition": m.condition, "eer": m.eer,
                            "separated": m.separated, "threshold": m.threshold,
                            "fmr_at_threshold": m.fmr_at_threshold, "fnmr_at_threshold": m.fnmr_at_threshold,
                            "fnmr_at_fmr": m.fnmr_at_fmr,
                        })).collect::<Vec<_>>(),
                        "pad": r.pad.as_ref().map(|p| serde_json::json!({
                            "bpcer": p.bpcer, "attacks": p.attacks.iter().map(|a| serde_json::json!({"type": a.kind, "apcer": a.apcer, "n": a.n})).collect::<Vec<_>>(),
                        })),
                    });
                    if print_json(&summary) {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(2)
                    }
                }
                Err(e) => fail(e),
            }
        }
        FaceCommand::Enroll {
            image,
            out,
            model,
            no_pad,
            models,
        } => match enroll(&image, &out, model, !no_pad, &models) {
            Ok((r, enrolled)) => {
                if !print_json(&r) {
                    return ExitCode::from(2);
                }
                if enrolled {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(1)
                }
            }
            Err(e) => fail(e),
        },
        FaceCommand::Verify {
            reference,
            camera,
            clip,
            simulate,
            chip,
            model,
            window_ms,
            challenge,
            challenge_timeout_ms,
            mirrored,
            no_pad,
            models,
        } => {
            let turn = match challenge {
                ChallengeArg::None => None,
                ChallengeArg::Left => Some(Turn::Left),
                ChallengeArg::Right => Some(Turn::Right),
                ChallengeArg::Random => Some(Turn::random()),
            };
            let opts = VerifyOptions {
                window: std::time::Duration::from_millis(window_ms.max(100)),
                chip,
                pad: !no_pad,
                challenge: turn,
                challenge_timeout: std::time::Duration::from_millis(challenge_timeout_ms),
                mirrored,
                ..VerifyOptions::new(model)
            };
            let src = SourceArg {
                camera,
                clip,
                simulate,
            };
            match verify_cmd(&reference, &src, opts, &models) {
                Ok(r) => {
                    if !print_json(&r) {
                        return ExitCode::from(2);
                    }
                    if r.decision == Decision::Match {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::from(1)
                    }
                }
                Err(e) => fail(e),
            }
        }
        FaceCommand::BuildFixtures { src, out, models } => {
            let engine = match load(
                &models,
                &EngineOptions {
                    embedders: vec![],
                    pad: false,
                },
            ) {
                Ok(e) => e,
                Err(e) => return fail(e),
            };
            match crate::fixtures::build(&engine, &src, &out) {
                Ok(n) => {
                    println!(
                        "{}",
                        serde_json::json!({ "written": n, "out": out.display().to_string() })
                    );
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
    }
}
