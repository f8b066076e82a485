//! `madoguchi procedure identity …`: the kiosk's identity verification without a display, for
//! technicians, CI and acceptance tests. It runs the same counter with the same ports as the
//! kiosk (the card through PC/SC — in simulation the virtual card in pcscd's vpcd reader —
//! the face engine and camera or the synthetic customer, the ledger in the configured data
//! directory, the sync thread and, in simulation, the embedded backend). A scripted customer
//! and teller answer the steps: the PIN from `$MADOGUCHI_PIN` (typed once: after a wrong PIN
//! the run ends, it never spends a second try), the signing password from
//! `$MADOGUCHI_SIGN_PASSWORD` with `--sign`, the teller confirms the kiosk's decision.
//!
//! Output: one JSON line per step on stdout, then one JSON object with the outcome. Exit code
//! 0 verified, 1 any other outcome, 2 usage or device error. Never prints a PIN, a password or
//! the customer's data (the step lines carry codes only).

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use crossbeam_channel::{Sender, unbounded};
use madoguchi_face::challenge_eval::Presenter;
use madoguchi_flow::ports::{CodeBInput, FaceProgress, ReadProgress, Route};
use madoguchi_flow::view::{Outcome, ResultSummary, StepId, View};
use madoguchi_flow::{ChallengeChoice, IdentityStart, Input, Key, Screens, Secret, Start};
use serde_json::json;

use crate::ports::face::{CameraSetup, PresenterChoice};

/// `madoguchi procedure …`
#[derive(Debug, Subcommand)]
pub enum ProcedureCommand {
    /// Identity verification with the My Number card and the face, as at the counter.
    Identity(IdentityArgs),
}

/// The routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RouteArg {
    /// The customer's 4-digit PIN ($MADOGUCHI_PIN).
    Pin,
    /// 照合番号B from the card face (--birth-date, --expiry-year, --security-code).
    CodeB,
}

/// The challenge choices.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ChallengeArg {
    /// Left or right at random.
    Random,
    /// Turn left.
    Left,
    /// Turn right.
    Right,
    /// No challenge (passive liveness decides).
    None,
}

/// `madoguchi procedure identity`
#[derive(Debug, Args)]
pub struct IdentityArgs {
    /// Run on the simulators: the virtual card in pcscd's vpcd reader, the synthetic customer.
    #[arg(long)]
    pub simulate: bool,
    /// PIN or 照合番号B.
    #[arg(long, value_enum)]
    pub route: RouteArg,
    /// Simulation: the synthetic customer made from this photo, who follows the prompts.
    #[arg(long, value_name = "PHOTO")]
    pub face: Option<PathBuf>,
    /// Simulation: the person holds this photo up still instead (a presentation attack).
    #[arg(long)]
    pub held_photo: bool,
    /// Simulation: a recorded clip (folder of frames) instead of the synthetic customer.
    #[arg(long, value_name = "DIR", conflicts_with = "face")]
    pub clip: Option<PathBuf>,
    /// The head-turn challenge.
    #[arg(long, value_enum, default_value = "random")]
    pub challenge: ChallengeArg,
    /// 照合番号B: the birth date on the card face.
    #[arg(long, value_name = "YYYY-MM-DD")]
    pub birth_date: Option<String>,
    /// 照合番号B: the card's expiry year.
    #[arg(long, value_name = "YYYY")]
    pub expiry_year: Option<u16>,
    /// 照合番号B: the 4-digit security code on the card face.
    #[arg(long, value_name = "NNNN")]
    pub security_code: Option<String>,
    /// Also the JPKI evidence signature (password from $MADOGUCHI_SIGN_PASSWORD).
    #[arg(long)]
    pub sign: bool,
    /// Simulation: the virtual card of this fake person (see madoguchi-virtual-card
    /// check-profile) instead of devices.virtual_card_profile.
    #[arg(long, value_name = "PERSON.toml")]
    pub profile_file: Option<PathBuf>,
}

/// The PIN's environment variable.
pub const PIN_ENV: &str = "MADOGUCHI_PIN";
/// The signing password's environment variable.
pub const SIGN_PASSWORD_ENV: &str = "MADOGUCHI_SIGN_PASSWORD";

fn usage(message: &str) -> ExitCode {
    eprintln!("{}", json!({ "code": "usage", "message": message }));
    ExitCode::from(2)
}

fn device(code: &str, message: &str) -> ExitCode {
    eprintln!("{}", json!({ "code": code, "message": message }));
    ExitCode::from(2)
}

/// What the scripted people see of a step.
struct Seen {
    step: StepId,
    at: Instant,
    decision_ms: Option<u64>,
    result: Option<ResultSummary>,
}

/// Step lines on stdout, and the step to the driver.
struct LineScreens {
    started: Instant,
    to_driver: Sender<Seen>,
    last: Option<serde_json::Value>,
}

impl Screens for LineScreens {
    fn show(&mut self, v: &View<'_>) {
        let line = json!({
            "step": v.step.as_str(),
            "teller": v.teller.message.code,
            "customer": v.customer.message.code,
            "notice": v.teller.notice.as_ref().map(|n| n.code),
            "tries_left": v.teller.tries_left,
            "face": v.teller.face.map(|f| json!({
                "decision": f.decision.as_str(),
                "score": f.score,
                "threshold": f.threshold,
                "challenge": f.challenge.map(|(t, r)| json!({"turn": t.as_str(), "result": r.as_str()})),
                "passive_live": f.passive.map(|p| p.2),
                "decision_ms": f.decision_ms,
            })),
        });
        // One line per step (and per notice within a step), not per key press.
        if self.last.as_ref() == Some(&line) {
            return;
        }
        self.last = Some(line.clone());
        let mut line = line;
        line["at_ms"] = json!(self.started.elapsed().as_millis() as u64);
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
        let _ = self.to_driver.send(Seen {
            step: v.step,
            at: Instant::now(),
            decision_ms: v.teller.face.and_then(|f| f.decision_ms),
            result: v.teller.result.cloned(),
        });
    }
    fn read_progress(&mut self, _: ReadProgress) {}
    fn face_progress(&mut self, _: &FaceProgress) {}
}

fn device_code(reason: &str) -> bool {
    reason.starts_with("reader.")
        || matches!(
            reason,
            "card.service_unavailable"
                | "card.pcsc"
                | "card.unresponsive"
                | "card.in_use"
                | "face.unavailable"
                | "face.camera"
                | "face.reference"
        )
}

/// The kiosk's own time per step (the scripted customer answers at once, so the customer's
/// time is nil): card work (tries read + read, or the 照合番号B read), the decision after the
/// challenge, the recording; and the preview frame rate during the face step.
fn timings(
    marks: &[(StepId, Instant)],
    decision_ms: Option<u64>,
    (frames_before, frames_after): (u64, u64),
) -> serde_json::Value {
    let at = |step: StepId| marks.iter().find(|m| m.0 == step).map(|m| m.1);
    let after = |step: StepId| {
        let i = marks.iter().position(|m| m.0 == step)?;
        marks.get(i + 1).map(|m| m.1)
    };
    let ms = |a: Option<Instant>, b: Option<Instant>| match (a, b) {
        (Some(a), Some(b)) if b >= a => Some(b.duration_since(a).as_millis() as u64),
        _ => None,
    };
    let start = marks.first().map(|m| m.1);
    let card_ms = match (
        ms(start, at(StepId::PinEntry)),
        ms(at(StepId::Reading), at(StepId::Face)),
    ) {
        (Some(tries), Some(read)) => Some(tries + read),
        (None, Some(read)) => ms(start, at(StepId::Reading)).map(|w| w + read),
        _ => None,
    };
    let face_ms = ms(at(StepId::Face), after(StepId::Face));
    let fps = face_ms
        .filter(|m| *m > 0 && frames_after >= frames_before)
        .map(|m| (frames_after - frames_before) as f64 * 1000.0 / m as f64);
    json!({
        "card_ms": card_ms,
        "face_step_ms": face_ms,
        "decision_ms": decision_ms,
        "record_ms": ms(at(StepId::Recording), at(StepId::Result)),
        "preview_fps": fps,
    })
}

/// Runs a `procedure` subcommand.
pub fn run(cmd: ProcedureCommand, config_path: Option<&std::path::Path>) -> ExitCode {
    let ProcedureCommand::Identity(a) = cmd;
    let (mut config, _) = match crate::cli::load_config(config_path) {
        Ok(c) => c,
        Err(e) => return usage(&format!("configuration: {e}")),
    };
    config.devices.simulate |= a.simulate;
    if let Some(clip) = &a.clip {
        config.devices.camera_clip = Some(clip.clone());
    }
    let route = match a.route {
        RouteArg::Pin => Route::Pin,
        RouteArg::CodeB => Route::CodeB,
    };
    let code_b = match (route, &a.birth_date, a.expiry_year, &a.security_code) {
        (Route::CodeB, Some(b), Some(y), Some(c)) => {
            let parts: Vec<Option<u16>> = b.split('-').map(|p| p.parse().ok()).collect();
            let [Some(yy), Some(mm), Some(dd)] = parts.as_slice() else {
                return usage("--birth-date must be YYYY-MM-DD");
            };
            let (Ok(m), Ok(d)) = (u8::try_from(*mm), u8::try_from(*dd)) else {
                return usage("--birth-date must be YYYY-MM-DD");
            };
            let code = CodeBInput {
                birth_date: (*yy, m, d),
                expiry_year: y,
                security_code: Secret::new(c.clone()),
            };
            if let Err(e) = code.check() {
                return usage(&format!("照合番号B: {e}"));
            }
            Some(code)
        }
        (Route::CodeB, ..) => {
            return usage("--route code-b needs --birth-date, --expiry-year and --security-code");
        }
        (Route::Pin, None, None, None) => None,
        (Route::Pin, ..) => {
            return usage("--birth-date, --expiry-year and --security-code are for --route code-b");
        }
    };
    let pin = match route {
        Route::Pin => match std::env::var(PIN_ENV) {
            Ok(p) => Some(Secret::new(p)),
            Err(_) => return usage("--route pin reads the PIN from $MADOGUCHI_PIN"),
        },
        Route::CodeB => None,
    };
    let password = if a.sign {
        std::env::var(SIGN_PASSWORD_ENV).ok().map(Secret::new)
    } else {
        None
    };
    if config.devices.simulate && a.face.is_none() && config.devices.camera_clip.is_none() {
        return usage("--simulate needs --face PHOTO (the synthetic customer) or --clip DIR");
    }
    if !config.devices.simulate && (a.face.is_some() || a.profile_file.is_some()) {
        return usage("--face and --profile-file are for --simulate");
    }

    let data_dir = config.data_dir();
    if let Err(e) = std::fs::create_dir_all(&data_dir) {
        return device("io", &format!("{}: {e}", data_dir.display()));
    }
    let _log = madoguchi_telemetry::init(&madoguchi_telemetry::LogOptions {
        dir: Some(data_dir.join("logs")),
        level: config.log.level.as_str().into(),
        max_files: config.log.max_files.get(),
        stderr: false,
    });
    let profile = match &a.profile_file {
        Some(f) => match madoguchi_virtual_card::profile_from_file(f) {
            Ok(p) => Some(p),
            Err(e) => return usage(&format!("--profile-file: {e}")),
        },
        None => None,
    };
    let backend = match crate::backend::Backend::start(&config) {
        Ok(b) => b,
        Err(e) => return device("backend", &e.to_string()),
    };
    let sims = match crate::simulators::Simulators::start(&config, profile) {
        Ok(s) => s,
        Err(e) => return device(e.code(), &e.to_string()),
    };
    let camera = match (&sims, &a.face) {
        (Some(s), Some(photo)) => {
            let CameraSetup::Simulated {
                plugged,
                clip,
                phone,
                ..
            } = s.camera()
            else {
                return device("face.camera", "no simulated camera");
            };
            CameraSetup::Simulated {
                presenter: Arc::new(std::sync::Mutex::new(PresenterChoice {
                    photo: photo.clone(),
                    kind: if a.held_photo {
                        Presenter::HeldPhoto
                    } else {
                        Presenter::Customer
                    },
                })),
                plugged,
                clip,
                phone,
            }
        }
        (Some(s), None) => s.camera(),
        (None, _) => CameraSetup::Webcam {
            selector: config.devices.camera.clone(),
        },
    };
    let (to_driver, seen) = unbounded();
    let screens = LineScreens {
        started: Instant::now(),
        to_driver,
        last: None,
    };
    let counter = match crate::counter::start(
        &config,
        backend.ledger.clone(),
        backend.client.clone(),
        camera,
        Box::new(screens),
        Arc::new(|_| {}),
    ) {
        Ok(c) => c,
        Err(e) => return device("counter", &e.to_string()),
    };
    let runner = counter.runner.clone();
    let challenge = match a.challenge {
        ChallengeArg::Random => ChallengeChoice::Random,
        ChallengeArg::Left => ChallengeChoice::Left,
        ChallengeArg::Right => ChallengeChoice::Right,
        ChallengeArg::None => ChallengeChoice::None,
    };
    // In simulation give pcscd a moment to see the virtual card the simulators just inserted.
    if sims.is_some() {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline && !runner.inspect(|c| c.card_present()).unwrap_or(false) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let started = Instant::now();
    if let Err(r) = runner.send(Input::Start(Start::Identity(IdentityStart {
        teller: counter.teller.clone(),
        route,
        code_b,
        sign: a.sign,
        challenge,
        with_my_number: false,
    }))) {
        return usage(&format!("the procedure did not start: {}", r.0));
    }
    let mut pin = pin;
    let mut password = password;
    let mut last = None;
    let mut marks: Vec<(StepId, Instant)> = vec![(StepId::Idle, started)];
    let mut decision_ms = None;
    let frames_at =
        |c: &crate::counter::Running| c.preview_frames.load(std::sync::atomic::Ordering::Relaxed);
    let mut face_frames = (0, 0);
    for s in seen.iter() {
        // The scripted people act when a step begins, not on every refresh of it.
        let entered = marks.last().map(|m| m.0) != Some(s.step);
        if !entered {
            continue;
        }
        {
            marks.push((s.step, s.at));
            if s.step == StepId::Face {
                face_frames.0 = frames_at(&counter);
            } else if marks
                .iter()
                .rev()
                .nth(1)
                .is_some_and(|m| m.0 == StepId::Face)
            {
                face_frames.1 = frames_at(&counter);
            }
        }
        decision_ms = decision_ms.or(s.decision_ms);
        match s.step {
            StepId::PinEntry => match pin.take() {
                Some(p) => {
                    for c in p.expose().chars() {
                        let _ = runner.send(Input::Key(Key::Char(c)));
                    }
                    drop(p);
                    let _ = runner.send(Input::Key(Key::Enter));
                }
                // Asked again: the PIN was wrong. Never spend another try.
                None => runner.post(Input::Cancel("card.pin.wrong")),
            },
            StepId::SignEntry => match password.take() {
                Some(p) => {
                    for c in p.expose().chars() {
                        let _ = runner.send(Input::Key(Key::Char(c)));
                    }
                    drop(p);
                    let _ = runner.send(Input::Key(Key::Enter));
                }
                None => runner.post(Input::SkipSign),
            },
            StepId::CodeBEntry => runner.post(Input::Cancel("code_b.wrong")),
            StepId::Review => runner.post(Input::Confirm),
            StepId::Result => {
                last = s.result.clone();
                break;
            }
            _ => {}
        }
    }
    let Some(ResultSummary {
        outcome,
        reason,
        score,
        threshold,
        session_id,
        confirmation_id,
        tries_left,
        ..
    }) = last
    else {
        return device("runner.stopped", "the procedure runner stopped");
    };
    // Let the sync thread hand the records to the backend before the process ends.
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut synced = false;
    while backend.url.is_some() && Instant::now() < deadline {
        if backend.ledger.outbox_backlog().unwrap_or(1) == 0 {
            synced = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let timings = timings(&marks, decision_ms, face_frames);
    println!(
        "{}",
        json!({
            "timings": timings,
            "outcome": outcome.as_str(),
            "reason": reason,
            "score": score,
            "threshold": threshold,
            "tries_left": tries_left,
            "session_id": session_id,
            "confirmation_id": confirmation_id,
            "synced": synced,
        })
    );
    drop(sims);
    match outcome {
        Outcome::Verified => ExitCode::SUCCESS,
        Outcome::Cancelled if device_code(reason) => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}
