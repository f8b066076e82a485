//! Evaluation of the active "turn your head" challenge on synthetic video, through the real
//! two-thread verification worker: for each bona fide photo, a clip of the photo's face
//! turning the asked way and back (the synthetic camera's depth warp of the face) is the
//! bona fide presentation, and three clips made from the same photo are attacks:
//!
//! - `print_still`: the photo held in front of the camera (it sways and rescales, it does not
//!   turn);
//! - `print_tilted`: the photo turned about its vertical axis like a print — the whole flat
//!   picture foreshortens, so the landmarks keep their proportions;
//! - `replay_wrong_way`: a recording of the face turning, but not the way the kiosk asked;
//! - `swap_after_capture`: the photo is held up for the capture window, then somebody else
//!   (the next photo's face) steps in and turns the asked way — caught by the jump and
//!   same-face checks, or by not coming back to the captured face's starting yaw.
//!
//! It reports BPCER and APCER per attack type (ISO/IEC 30107-3 terms). The "bona fide" clips
//! are synthetic too (a warped photograph, not a person), so the numbers measure the check's
//! logic on landmark motion, not its rate on people. It does not evaluate the passive model
//! (that is `eval`'s PAD section) and makes no screen or mask attacks.

use std::path::PathBuf;
use std::time::Duration;

use madoguchi_camera::synthetic::{Motion, SyntheticSource, Turn as Motion3d, TurnSchedule};
use madoguchi_camera::{CameraError, Frame, FrameSource, SourceInfo};
use serde::Serialize;

use crate::FaceError;
use crate::embed::EmbedderKind;
use crate::engine::FaceEngine;
use crate::jp2::open_any;
use crate::pad::{ChallengeResult, Turn};
use crate::worker::{VerifyOptions, spawn_verify};

/// How far the simulated customer turns, degrees (the check asks for the thresholds file's
/// `challenge_turn_degrees` of yaw measured from the landmarks).
pub const SIMULATED_TURN_DEGREES: f32 = 35.0;

/// Results for one class of clips.
#[derive(Debug, Clone, Serialize)]
pub struct ClipClass {
    /// `bona_fide` or the attack type.
    pub kind: String,
    /// Clips that reached the challenge (a usable face was captured).
    pub n: usize,
    /// Clips without a usable face in the capture window (not counted in the rates).
    pub no_face: usize,
    /// Challenges passed.
    pub passed: usize,
    /// Challenges failed (wrong way, face lost or swapped).
    pub failed: usize,
    /// Challenges that timed out.
    pub timed_out: usize,
    /// Mean of the largest yaw seen the asked way, degrees.
    pub mean_peak_yaw: f32,
    /// Bona fide: share not passed (BPCER). Attacks: share passed (APCER).
    pub rate: f64,
}

/// The challenge evaluation.
#[derive(Debug, Clone, Serialize)]
pub struct ChallengeEval {
    /// Yaw the check asks for, degrees.
    pub threshold_degrees: f32,
    /// Yaw of the simulated turns, degrees.
    pub simulated_degrees: f32,
    /// Bona fide clips.
    pub bona_fide: ClipClass,
    /// Attack clips per type.
    pub attacks: Vec<ClipClass>,
    /// The worst APCER.
    pub max_apcer: f64,
}

/// The synthetic clip of `photo` the evaluation uses: 640×480 at 15 frames/s, unpaced, a
/// customer standing fairly still (small sway, scale and light changes), with `turn`.
pub fn clip(
    photo: &image::RgbImage,
    turn: Option<TurnSchedule>,
) -> Result<SyntheticSource, FaceError> {
    let src = SyntheticSource::new(photo.clone(), None, 640, 480, 15.0, false)
        .map_err(|e| FaceError::Invalid(e.to_string()))?
        .with_motion(Motion {
            sway: 0.02,
            scale: 0.04,
            light: 0.1,
        });
    Ok(match turn {
        Some(t) => src.with_turn(t),
        None => src,
    })
}

/// Frames the photo as a kiosk camera frames a customer at the counter: head and shoulders
/// (a box three face widths wide around the face), and finds the face in it again; `None`
/// when the photo has no face. The synthetic customer of `face verify --simulate` uses it too.
pub fn head_and_shoulders(
    engine: &FaceEngine,
    photo: &image::RgbImage,
) -> Result<Option<(image::RgbImage, crate::detect::Detection)>, FaceError> {
    let faces = engine.detect(photo, false)?;
    let Some(d) = FaceEngine::subject(&faces) else {
        return Ok(None);
    };
    let [x, y, w, h] = d.bbox;
    let (pw, ph) = (photo.width() as f32, photo.height() as f32);
    let x0 = (x + w / 2.0 - 1.5 * w).clamp(0.0, pw - 1.0);
    let y0 = (y + h / 2.0 - 1.4 * h).clamp(0.0, ph - 1.0);
    let x1 = (x + w / 2.0 + 1.5 * w).clamp(x0 + 1.0, pw);
    let y1 = (y + h / 2.0 + 2.0 * h).clamp(y0 + 1.0, ph);
    let crop = image::imageops::crop_imm(
        photo,
        x0 as u32,
        y0 as u32,
        (x1 - x0) as u32,
        (y1 - y0) as u32,
    )
    .to_image();
    let faces = engine.detect(&crop, false)?;
    Ok(FaceEngine::subject(&faces).map(|d| (crop, *d)))
}

/// Who stands in front of a simulated camera.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presenter {
    /// A live customer: moves a little and turns the head when the challenge asks.
    Customer,
    /// A printed photo held up still: it cannot follow the prompt.
    HeldPhoto,
}

/// The simulated camera of `face verify --simulate` and of the kiosk's simulation: `photo`
/// framed head and shoulders at 640×480, 15 frames/s, paced. A [`Presenter::Customer`] turns
/// the head `turn`'s way 1.2 s after the source starts (the prompt comes after the capture
/// window); a [`Presenter::HeldPhoto`] only wobbles in the hand.
pub fn simulated_camera(
    engine: &FaceEngine,
    photo: &image::RgbImage,
    turn: Option<Turn>,
    mirrored: bool,
    presenter: Presenter,
) -> Result<SyntheticSource, FaceError> {
    let cam = |e: madoguchi_camera::CameraError| FaceError::Invalid(format!("camera: {e}"));
    let (img, d) = head_and_shoulders(engine, photo)?.ok_or(FaceError::NoFace)?;
    let s = SyntheticSource::new(img, None, 640, 480, 15.0, true).map_err(cam)?;
    Ok(match (presenter, turn) {
        (Presenter::Customer, Some(t)) => s.with_turn(TurnSchedule::customer(
            Motion3d::Head { face: d.bbox },
            t.image_degrees(35.0, mirrored),
            Duration::from_millis(1200),
        )),
        (Presenter::Customer, None) => s,
        (Presenter::HeldPhoto, _) => s.with_motion(Motion {
            sway: 0.01,
            scale: 0.02,
            light: 0.05,
        }),
    })
}

/// Frames from `a` until frame `switch`, then from `b` (timestamps continue at 15 frames/s):
/// somebody swaps in front of the camera. Unpaced.
pub struct Swap {
    a: SyntheticSource,
    b: SyntheticSource,
    switch: u64,
    n: u64,
}

impl Swap {
    /// `a` for frames 0..switch, `b` from then on.
    pub fn new(a: SyntheticSource, b: SyntheticSource, switch: u64) -> Self {
        Self { a, b, switch, n: 0 }
    }
}

impl FrameSource for Swap {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let n = self.n;
        self.n += 1;
        let mut f = if n < self.switch {
            self.a.next_frame()?
        } else {
            self.b.next_frame()?
        };
        f.seq = n;
        f.timestamp = Duration::from_secs_f64(n as f64 / 15.0);
        Ok(f)
    }

    fn info(&self) -> SourceInfo {
        self.a.info()
    }
}

/// Runs the challenge clips for `photos` (bona fide portraits). The asked direction
/// alternates; every clip goes through [`spawn_verify`] with the passive PAD off.
pub fn run(engine: &FaceEngine, photos: &[PathBuf]) -> Result<ChallengeEval, FaceError> {
    let kinds = [
        "bona_fide",
        "print_still",
        "print_tilted",
        "replay_wrong_way",
        "swap_after_capture",
    ];
    let mut classes: Vec<ClipClass> = kinds
        .iter()
        .map(|k| ClipClass {
            kind: (*k).into(),
            n: 0,
            no_face: 0,
            passed: 0,
            failed: 0,
            timed_out: 0,
            mean_peak_yaw: 0.0,
            rate: 0.0,
        })
        .collect();
    let model = *engine
        .embedder_kinds()
        .first()
        .unwrap_or(&EmbedderKind::Sface);
    let mut framed = Vec::new();
    for path in photos {
        framed.push(head_and_shoulders(engine, &open_any(path)?)?);
    }
    for (i, f) in framed.iter().enumerate() {
        let Some((photo, d)) = f.clone() else {
            for c in &mut classes {
                c.no_face += 1;
            }
            continue;
        };
        // The attacker of the swap: the next photo with a face.
        let other = (1..framed.len())
            .map(|k| (i + k) % framed.len())
            .find_map(|j| framed[j].clone());
        let reference = engine.embed(&photo, &d, model, false)?;
        let asked = if i % 2 == 0 { Turn::Left } else { Turn::Right };
        // After the 0.4 s capture window, as a customer reacting to the prompt.
        let schedule =
            |turn, degrees: f32| TurnSchedule::customer(turn, degrees, Duration::from_millis(700));
        let head = Motion3d::Head { face: d.bbox };
        let deg = asked.image_degrees(SIMULATED_TURN_DEGREES, false);
        let mut clips: Vec<Box<dyn FrameSource>> = vec![
            Box::new(clip(&photo, Some(schedule(head, deg)))?),
            Box::new(clip(&photo, None)?),
            Box::new(clip(&photo, Some(schedule(Motion3d::FlatPrint, deg)))?),
            Box::new(clip(&photo, Some(schedule(head, -deg)))?),
        ];
        if let Some((img, od)) = other {
            clips.push(Box::new(Swap::new(
                clip(&photo, None)?,
                clip(&img, Some(schedule(Motion3d::Head { face: od.bbox }, deg)))?,
                9,
            )));
        }
        for (class, src) in classes.iter_mut().zip(clips) {
            let o = spawn_verify(
                engine.clone(),
                src,
                reference.clone(),
                VerifyOptions {
                    model,
                    window: Duration::from_millis(400),
                    pad: false,
                    challenge: Some(asked),
                    challenge_timeout: Duration::from_secs(3),
                    chip: false,
                    mirrored: false,
                    keep_capture: false,
                    keep_template: false,
                },
            )
            .wait()?;
            let Some(c) = o.challenge else {
                class.no_face += 1;
                continue;
            };
            class.n += 1;
            class.mean_peak_yaw += c.peak_yaw;
            match c.result {
                ChallengeResult::Passed => class.passed += 1,
                ChallengeResult::Failed => class.failed += 1,
                ChallengeResult::TimedOut | ChallengeResult::Pending => class.timed_out += 1,
            }
        }
    }
    for c in &mut classes {
        c.mean_peak_yaw /= c.n.max(1) as f32;
        let passed = c.passed as f64 / c.n.max(1) as f64;
        c.rate = if c.kind == "bona_fide" {
            1.0 - passed
        } else {
            passed
        };
    }
    let bona_fide = classes.remove(0);
    let max_apcer = classes.iter().map(|c| c.rate).fold(0.0, f64::max);
    Ok(ChallengeEval {
        threshold_degrees: engine.thresholds().challenge_turn_degrees,
        simulated_degrees: SIMULATED_TURN_DEGREES,
        bona_fide,
        attacks: classes,
        max_apcer,
    })
}

/// The report section (Markdown).
pub fn markdown(c: &ChallengeEval) -> String {
    let pct = |v: f64| format!("{:.1} %", v * 100.0);
    let mut s = String::from(
        "## Presentation-attack detection (active turn challenge, synthetic video)\n\n",
    );
    s.push_str(&format!(
        "The kiosk asks for a head turn (left or right, alternating here) after the capture window; the yaw from the 5 landmarks must reach {:.0}° the asked way and come back. \
         Clips are made from each bona fide photo by the synthetic camera: the bona fide clip warps the face by depth as a turning head ({:.0}°), which a photograph cannot do; \
         the attacks are the still print, the print tilted {:.0}° about its vertical axis, a replay turning the wrong way, and a swap (the photo held up for the capture, then another person turning). Every clip runs through the verification worker.\n\n",
        c.threshold_degrees, c.simulated_degrees, c.simulated_degrees
    ));
    s.push_str("| presentation | clips | no face | passed | failed | timed out | mean peak yaw | rate |\n|---|---|---|---|---|---|---|---|\n");
    for (label, k) in
        std::iter::once(("BPCER", &c.bona_fide)).chain(c.attacks.iter().map(|a| ("APCER", a)))
    {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {:.1}° | {} {} |\n",
            k.kind,
            k.n,
            k.no_face,
            k.passed,
            k.failed,
            k.timed_out,
            k.mean_peak_yaw,
            label,
            pct(k.rate)
        ));
    }
    s.push_str(&format!(
        "\nWorst APCER: {}. The bona fide clips are warped photographs, not people: these rates check the challenge logic on landmark motion; a real customer's turn or glasses are not covered (a mirrored camera is a setting, `mirrored`, tested separately).\n",
        pct(c.max_apcer)
    ));
    s
}
