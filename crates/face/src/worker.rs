//! Verification off the UI thread, on two threads so that both cores work:
//!
//! - the **tracker** reads frames from the [`FrameSource`], detects with YuNet at 320,
//!   assesses quality, reports progress (guidance code, quality) and keeps the best frame of
//!   the capture window; every new best frame is handed to
//! - the **matcher**, which embeds it and compares it with the reference while the tracker
//!   goes on detecting the next frames (detect N+1 while embedding N). When the window ends
//!   the matcher runs the passive PAD once on the chosen frame, on a second scoped thread
//!   (the tracker has stopped, so that core is free) while it embeds that frame if it was
//!   not embedded yet, and reports the outcome.
//! - with a **challenge** ([`VerifyOptions::challenge`]), the tracker goes on after the
//!   window: it asks the customer to turn the head one way and back and follows the yaw from
//!   the landmarks frame by frame ([`TurnChallenge`]), while the matcher embeds and runs the
//!   passive PAD on the other core — the slow model's time is hidden behind the customer's
//!   movement. The outcome waits for both.
//!
//! The caller gets a [`VerifyHandle`]: a channel of [`Event`]s and a cancel switch. No frame
//! or template leaves the worker except the decision and the numbers.
//! It does not decide what the procedure does with the outcome (that is `flow`).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use madoguchi_camera::FrameSource;
use serde::Serialize;

use crate::capture::{Candidate, CaptureWindow};
use crate::embed::{EmbedderKind, FaceTemplate};
use crate::engine::{Comparison, FaceEngine, Liveness};
use crate::guidance::{self, Guidance};
use crate::pad::{ChallengeResult, Turn, TurnChallenge};
use crate::quality::Quality;

/// How to verify.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    /// Embedding model (must match the reference template's).
    pub model: EmbedderKind,
    /// Capture window.
    pub window: Duration,
    /// The reference is a chip photo (compare greyscale).
    pub chip: bool,
    /// Run the passive PAD on the chosen frame.
    pub pad: bool,
    /// After the capture window, ask for this head turn (the active presentation-attack
    /// cue; take it from [`Turn::random`] so that a replay cannot know it); `None`: no
    /// challenge.
    pub challenge: Option<Turn>,
    /// Time the customer has for the challenge, from the end of the capture window.
    pub challenge_timeout: Duration,
    /// The camera delivers mirrored frames (some webcams flip in hardware): the customer's
    /// left then moves the nose toward the image's left, and the challenge follows that.
    pub mirrored: bool,
    /// Hand the chosen frame's face back in [`Outcome::capture`] (JPEG of the head region),
    /// for a procedure that keeps it as sealed evidence. Off by default: nothing leaves the
    /// worker but numbers.
    pub keep_capture: bool,
    /// Hand back the chosen frame's template in [`Outcome::template`] (enrollment): embedded
    /// in the colour condition whatever [`VerifyOptions::chip`] says (it is the template a
    /// later live face is compared with), only when the frame passed the enrollment quality
    /// gate (`quality_min`, a single face). Off by default.
    pub keep_template: bool,
}

impl VerifyOptions {
    /// SFace, a 0.5 s window, colour reference, passive PAD on, no challenge.
    pub fn new(model: EmbedderKind) -> Self {
        Self {
            model,
            window: Duration::from_millis(500),
            chip: false,
            pad: true,
            challenge: None,
            challenge_timeout: Duration::from_secs(6),
            mirrored: false,
            keep_capture: false,
            keep_template: false,
        }
    }
}

/// Which part of the verification a progress event belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Looking for the best frontal frame.
    Capture,
    /// Following the asked head turn.
    Challenge,
}

/// How the active challenge ended.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ChallengeOutcome {
    /// The turn asked for.
    pub turn: Turn,
    /// `passed`, `failed` (wrong way, face lost or swapped, or another face at the end), or
    /// `timed_out`.
    pub result: ChallengeResult,
    /// Frames observed during the challenge.
    pub frames: u64,
    /// Largest yaw seen in the asked direction, from the customer's starting yaw, degrees.
    pub peak_yaw: f32,
    /// Time from the end of the capture window to the result, ms (camera time).
    pub elapsed_ms: u64,
    /// The face at the end of the turn matched the captured (best) frame's face; `None`
    /// when not checked (the turn was not completed). `false` fails the challenge: someone
    /// else turned their head for the face that was matched.
    pub same_face: Option<bool>,
    /// The score of that comparison (the model's metric).
    pub same_face_score: Option<f32>,
}

/// What the tracker hands the matcher after the challenge: the outcome and the last frame
/// with a face (for the same-face check).
struct ChallengeEnd {
    outcome: ChallengeOutcome,
    last: Option<(image::RgbImage, crate::detect::Detection)>,
}

/// Where the subject's face is in a frame, as fractions of the frame's width and height
/// (left, top, width, height), for drawing the detected box over a preview.
pub type FaceBox = [f32; 4];

fn face_box(d: &crate::detect::Detection, w: u32, h: u32) -> FaceBox {
    let (w, h) = (w.max(1) as f32, h.max(1) as f32);
    [d.bbox[0] / w, d.bbox[1] / h, d.bbox[2] / w, d.bbox[3] / h]
}

/// The chosen frame's head region as JPEG: what a procedure keeps as the captured face.
/// Personal data: `Debug` shows the size only; it is never serialised.
#[derive(Clone)]
pub struct CapturedFace {
    /// JPEG bytes (quality 90) of the face box enlarged 1.8× (clipped to the frame).
    pub jpeg: Vec<u8>,
    /// Its width and height in pixels.
    pub size: (u32, u32),
}

impl std::fmt::Debug for CapturedFace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "CapturedFace({} bytes, {:?})",
            self.jpeg.len(),
            self.size
        )
    }
}

impl CapturedFace {
    fn of(img: &image::RgbImage, d: &crate::detect::Detection) -> Option<Self> {
        let [x, y, w, h] = d.bbox;
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        let side = w.max(h) * 1.8;
        let x0 = (cx - side / 2.0).max(0.0) as u32;
        let y0 = (cy - side / 2.0).max(0.0) as u32;
        let x1 = ((cx + side / 2.0) as u32).min(img.width());
        let y1 = ((cy + side / 2.0) as u32).min(img.height());
        if x1 <= x0 || y1 <= y0 {
            return None;
        }
        let crop = image::imageops::crop_imm(img, x0, y0, x1 - x0, y1 - y0).to_image();
        let mut jpeg = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
            .encode_image(&crop)
            .ok()?;
        Some(CapturedFace {
            jpeg,
            size: crop.dimensions(),
        })
    }
}

/// Progress and result events.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    /// One frame tracked.
    Progress {
        /// Frame number.
        seq: u64,
        /// Faces in the frame.
        faces: usize,
        /// Quality of the subject, when there is one.
        quality: Option<Quality>,
        /// Message for the customer.
        guidance: Guidance,
        /// Fraction of the phase's time elapsed, 0..1.
        progress: f32,
        /// Capture window or challenge.
        phase: Phase,
        /// The subject's face box in this frame, when there is one.
        face: Option<FaceBox>,
    },
    /// The final outcome.
    Done(Outcome),
    /// Verification failed (camera or model error); the message has no personal data.
    Failed {
        /// Technician message.
        message: String,
    },
}

/// The outcome of one verification.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// Comparison of the chosen frame with the reference; `None` when no usable face.
    pub comparison: Option<Comparison>,
    /// Quality of the chosen frame.
    pub quality: Option<Quality>,
    /// Passive liveness of the chosen frame.
    pub liveness: Option<Liveness>,
    /// The active challenge, when one was asked for.
    pub challenge: Option<ChallengeOutcome>,
    /// Frames tracked.
    pub frames: u64,
    /// Frames embedded by the matcher.
    pub embedded: u64,
    /// Wall time from start to decision, ms.
    pub elapsed_ms: u64,
    /// The chosen frame's face, when [`VerifyOptions::keep_capture`] asked for it.
    #[serde(skip)]
    pub capture: Option<CapturedFace>,
    /// The chosen frame's template, when [`VerifyOptions::keep_template`] asked for it and
    /// the frame passed the enrollment quality gate.
    #[serde(skip)]
    pub template: Option<FaceTemplate>,
}

/// A running verification.
pub struct VerifyHandle {
    /// Events, in order; ends after `Done` or `Failed`.
    pub events: Receiver<Event>,
    cancel: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl VerifyHandle {
    /// Asks the worker to stop; it ends with `Failed { "cancelled" }`.
    pub fn cancel(&self) {
        self.cancel.store(true, Ordering::SeqCst);
    }

    /// Waits for the outcome (draining progress events).
    pub fn wait(self) -> Result<Outcome, crate::FaceError> {
        let mut out = None;
        for e in self.events.iter() {
            match e {
                Event::Done(o) => out = Some(Ok(o)),
                Event::Failed { message } => out = Some(Err(crate::FaceError::Invalid(message))),
                Event::Progress { .. } => {}
            }
        }
        for t in self.threads {
            let _ = t.join();
        }
        out.unwrap_or(Err(crate::FaceError::WorkerStopped))
    }
}

enum ToMatcher {
    Candidate(Box<Candidate>),
    Finish {
        frames: u64,
        best: Option<Box<Candidate>>,
        /// A [`ChallengeOutcome`] follows on the challenge channel.
        challenge: bool,
    },
}

/// Starts verifying faces from `source` against `reference`.
pub fn spawn_verify(
    engine: FaceEngine,
    mut source: Box<dyn FrameSource>,
    reference: FaceTemplate,
    opts: VerifyOptions,
) -> VerifyHandle {
    let (ev_tx, events) = unbounded::<Event>();
    // One candidate in flight: the tracker never waits for the matcher.
    let (m_tx, m_rx) = bounded::<ToMatcher>(1);
    let (c_tx, c_rx) = bounded::<ChallengeEnd>(1);
    let cancel = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tracker = {
        let engine = engine.clone();
        let ev = ev_tx.clone();
        let cancel = cancel.clone();
        let opts = opts.clone();
        std::thread::Builder::new()
            .name("face-tracker".into())
            .spawn(move || {
                track(
                    &engine,
                    source.as_mut(),
                    &opts,
                    &ev,
                    (&m_tx, &c_tx),
                    &cancel,
                )
            })
    };
    let matcher = std::thread::Builder::new()
        .name("face-matcher".into())
        .spawn(move || matcher(&engine, &reference, &opts, &ev_tx, (&m_rx, &c_rx), started));
    let mut threads = Vec::new();
    for t in [tracker, matcher] {
        match t {
            Ok(h) => threads.push(h),
            Err(e) => tracing::error!(error = %e, "face worker thread did not start"),
        }
    }
    VerifyHandle {
        events,
        cancel,
        threads,
    }
}

fn track(
    engine: &FaceEngine,
    source: &mut dyn FrameSource,
    opts: &VerifyOptions,
    ev: &Sender<Event>,
    (m_tx, c_tx): (&Sender<ToMatcher>, &Sender<ChallengeEnd>),
    cancel: &AtomicBool,
) {
    let mut window = CaptureWindow::new(opts.window, engine.thresholds().quality_min);
    let mut pending: Option<Box<Candidate>> = None;
    let mut first: Option<Duration> = None;
    loop {
        let Some((frame, faces)) = next_detected(engine, source, ev, cancel) else {
            return;
        };
        let subject = FaceEngine::subject(&faces).copied().and_then(|d| {
            engine
                .quality(&frame.image, &d, &faces)
                .ok()
                .map(|q| (d, q))
        });
        let quality = subject.map(|s| s.1);
        let last_subject = subject.map(|s| (s.0, frame.timestamp));
        let o = window.offer(&frame, &faces, subject);
        let t0 = *first.get_or_insert(frame.timestamp);
        let elapsed =
            frame.timestamp.saturating_sub(t0).as_secs_f32() / opts.window.as_secs_f32().max(1e-3);
        let (fw, fh) = frame.image.dimensions();
        let _ = ev.send(Event::Progress {
            seq: frame.seq,
            faces: faces.len(),
            quality,
            guidance: o.guidance,
            progress: elapsed.min(1.0),
            phase: Phase::Capture,
            face: subject.map(|(d, _)| face_box(&d, fw, fh)),
        });
        if o.new_best {
            pending = window.best().cloned().map(Box::new);
        }
        if let Some(c) = pending.take() {
            match m_tx.try_send(ToMatcher::Candidate(c)) {
                Ok(()) => {}
                Err(crossbeam_channel::TrySendError::Full(ToMatcher::Candidate(c))) => {
                    pending = Some(c)
                }
                Err(_) => return,
            }
        }
        if o.done {
            let best = window.take_best().map(Box::new);
            let turn = opts.challenge.filter(|_| best.is_some());
            let _ = m_tx.send(ToMatcher::Finish {
                frames: window.frames(),
                best,
                challenge: turn.is_some(),
            });
            if let Some(turn) = turn
                && let Some(c) = challenge(engine, source, opts, turn, last_subject, ev, cancel)
            {
                let _ = c_tx.send(c);
            }
            return;
        }
    }
}

/// The next frame and its faces (YuNet at 320); `None` after reporting cancel or an error.
fn next_detected(
    engine: &FaceEngine,
    source: &mut dyn FrameSource,
    ev: &Sender<Event>,
    cancel: &AtomicBool,
) -> Option<(madoguchi_camera::Frame, Vec<crate::detect::Detection>)> {
    let fail = |message: String| {
        let _ = ev.send(Event::Failed { message });
    };
    if cancel.load(Ordering::SeqCst) {
        fail("cancelled".into());
        return None;
    }
    let frame = match source.next_frame() {
        Ok(f) => f,
        Err(e) => {
            fail(format!("camera: {e}"));
            return None;
        }
    };
    match engine.detect(&frame.image, true) {
        Ok(faces) => Some((frame, faces)),
        Err(e) => {
            fail(e.to_string());
            None
        }
    }
}

/// Follows the asked head turn after the capture window. The last face of the window seeds
/// the challenge, so the face that turns must be the one that was captured (a jump or a lost
/// face fails it); the matcher then checks that the face at the end of the turn is the
/// captured one. `None` when cancelled or the camera failed (already reported).
fn challenge(
    engine: &FaceEngine,
    source: &mut dyn FrameSource,
    opts: &VerifyOptions,
    turn: Turn,
    seed: Option<(crate::detect::Detection, Duration)>,
    ev: &Sender<Event>,
    cancel: &AtomicBool,
) -> Option<ChallengeEnd> {
    let degrees = engine.thresholds().challenge_turn_degrees;
    let mut check = TurnChallenge::new(turn.in_image(opts.mirrored), degrees);
    let mut start = None;
    if let Some((d, t)) = seed {
        check.observe(Some(&d));
        start = Some(t);
    }
    let asked = match turn {
        Turn::Left => guidance::TURN_LEFT,
        Turn::Right => guidance::TURN_RIGHT,
    };
    let mut frames = 0u64;
    let mut last = None;
    loop {
        let (frame, faces) = next_detected(engine, source, ev, cancel)?;
        let t0 = *start.get_or_insert(frame.timestamp);
        let elapsed = frame.timestamp.saturating_sub(t0);
        frames += 1;
        let subject = FaceEngine::subject(&faces).copied();
        let mut result = check.observe(subject.as_ref());
        if result == ChallengeResult::Pending && elapsed > opts.challenge_timeout {
            result = ChallengeResult::TimedOut;
        }
        let (fw, fh) = frame.image.dimensions();
        let _ = ev.send(Event::Progress {
            seq: frame.seq,
            faces: faces.len(),
            quality: None,
            face: subject.as_ref().map(|d| face_box(d, fw, fh)),
            guidance: asked,
            progress: (elapsed.as_secs_f32() / opts.challenge_timeout.as_secs_f32().max(1e-3))
                .min(1.0),
            phase: Phase::Challenge,
        });
        if let Some(d) = subject {
            last = Some((frame.image, d));
        }
        if result != ChallengeResult::Pending {
            return Some(ChallengeEnd {
                outcome: ChallengeOutcome {
                    turn,
                    result,
                    frames,
                    peak_yaw: check.peak(),
                    elapsed_ms: elapsed.as_millis() as u64,
                    same_face: None,
                    same_face_score: None,
                },
                last,
            });
        }
    }
}

fn matcher(
    engine: &FaceEngine,
    reference: &FaceTemplate,
    opts: &VerifyOptions,
    ev: &Sender<Event>,
    (rx, challenge_rx): (&Receiver<ToMatcher>, &Receiver<ChallengeEnd>),
    started: Instant,
) {
    let mut last: Option<(u64, FaceTemplate, Comparison)> = None;
    let mut embedded = 0u64;
    let compare = |c: &Candidate| -> Result<(FaceTemplate, Comparison), crate::FaceError> {
        let t = engine.embed(&c.frame.image, &c.detection, opts.model, opts.chip)?;
        let cmp = engine.compare(&t, reference, opts.chip)?;
        Ok((t, cmp))
    };
    for msg in rx.iter() {
        match msg {
            ToMatcher::Candidate(c) => match compare(&c) {
                Ok((t, cmp)) => {
                    embedded += 1;
                    last = Some((c.frame.seq, t, cmp));
                }
                Err(e) => {
                    let _ = ev.send(Event::Failed {
                        message: e.to_string(),
                    });
                    return;
                }
            },
            ToMatcher::Finish {
                frames,
                best,
                challenge,
            } => {
                let mut outcome = Outcome {
                    comparison: None,
                    quality: None,
                    liveness: None,
                    challenge: None,
                    frames,
                    embedded,
                    elapsed_ms: 0,
                    capture: None,
                    template: None,
                };
                let mut captured: Option<FaceTemplate> = None;
                if let Some(b) = best {
                    // The best frame may be newer than the last one embedded.
                    let cached = match last.take() {
                        Some((seq, t, cmp)) if seq == b.frame.seq => Some((t, cmp)),
                        _ => None,
                    };
                    if cached.is_none() {
                        outcome.embedded += 1;
                    }
                    // The capture thread has finished: the PAD model runs on the other core
                    // while this one embeds the best frame (when not embedded yet).
                    let t_pad = Instant::now();
                    let (cmp, live) = std::thread::scope(|s| {
                        let pad = opts
                            .pad
                            // With a challenge the tracker goes on on the other core: one
                            // core for the model, so that neither waits for the other.
                            .then(|| {
                                s.spawn(|| {
                                    engine.liveness_with(&b.frame.image, &b.detection, challenge)
                                })
                            });
                        let cmp = cached.map_or_else(|| compare(&b), Ok);
                        let live = match pad {
                            Some(h) => h.join().unwrap_or_else(|_| {
                                Err(crate::FaceError::infer("cdcn", "PAD thread panicked"))
                            }),
                            None => Ok(None),
                        };
                        (cmp, live)
                    });
                    tracing::debug!(
                        ms = t_pad.elapsed().as_millis() as u64,
                        "final embedding and passive PAD done"
                    );
                    match (cmp, live) {
                        (Ok((t, c)), Ok(l)) => {
                            if opts.keep_template
                                && b.quality.overall >= engine.thresholds().quality_min
                                && b.quality.single_face >= crate::enroll::SINGLE_FACE_MIN
                            {
                                let colour = if opts.chip {
                                    engine.embed(&b.frame.image, &b.detection, opts.model, false)
                                } else {
                                    Ok(t.clone())
                                };
                                match colour {
                                    Ok(e) => outcome.template = Some(e),
                                    Err(e) => {
                                        let _ = ev.send(Event::Failed {
                                            message: e.to_string(),
                                        });
                                        return;
                                    }
                                }
                            }
                            captured = Some(t);
                            if opts.keep_capture {
                                outcome.capture = CapturedFace::of(&b.frame.image, &b.detection);
                            }
                            outcome.comparison = Some(c);
                            outcome.liveness = l;
                            outcome.quality = Some(b.quality);
                        }
                        (Err(e), _) | (_, Err(e)) => {
                            let _ = ev.send(Event::Failed {
                                message: e.to_string(),
                            });
                            return;
                        }
                    }
                }
                if challenge {
                    // The tracker has reported cancel or a camera error when nothing comes.
                    let t_wait = Instant::now();
                    let Ok(end) = challenge_rx.recv() else {
                        return;
                    };
                    tracing::debug!(
                        waited_ms = t_wait.elapsed().as_millis() as u64,
                        "challenge end reached the matcher"
                    );
                    let mut c = end.outcome;
                    if let (ChallengeResult::Passed, Some((img, d)), Some(t)) =
                        (c.result, end.last, captured.as_ref())
                    {
                        let same = engine
                            .embed(&img, &d, opts.model, opts.chip)
                            .and_then(|e| engine.compare(&e, t, opts.chip));
                        match same {
                            Ok(s) => {
                                outcome.embedded += 1;
                                c.same_face = Some(s.matched);
                                c.same_face_score = Some(s.score);
                                if !s.matched {
                                    c.result = ChallengeResult::Failed;
                                }
                            }
                            Err(e) => {
                                let _ = ev.send(Event::Failed {
                                    message: e.to_string(),
                                });
                                return;
                            }
                        }
                    }
                    outcome.challenge = Some(c);
                }
                outcome.elapsed_ms = started.elapsed().as_millis() as u64;
                tracing::debug!(elapsed_ms = outcome.elapsed_ms, "verification decided");
                let _ = ev.send(Event::Done(outcome));
                return;
            }
        }
    }
}
