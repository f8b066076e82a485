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
use crate::guidance::Guidance;
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
        /// Fraction of the capture window elapsed, 0..1.
        progress: f32,
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
    /// Frames tracked.
    pub frames: u64,
    /// Frames embedded by the matcher.
    pub embedded: u64,
    /// Wall time from start to decision, ms.
    pub elapsed_ms: u64,
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
    let cancel = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let tracker = {
        let engine = engine.clone();
        let ev = ev_tx.clone();
        let cancel = cancel.clone();
        let opts = opts.clone();
        std::thread::Builder::new()
            .name("face-tracker".into())
            .spawn(move || track(&engine, source.as_mut(), &opts, &ev, &m_tx, &cancel))
    };
    let matcher = std::thread::Builder::new()
        .name("face-matcher".into())
        .spawn(move || matcher(&engine, &reference, &opts, &ev_tx, &m_rx, started));
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
    m_tx: &Sender<ToMatcher>,
    cancel: &AtomicBool,
) {
    let mut window = CaptureWindow::new(opts.window, engine.thresholds().quality_min);
    let mut pending: Option<Box<Candidate>> = None;
    let mut first: Option<Duration> = None;
    loop {
        if cancel.load(Ordering::SeqCst) {
            let _ = ev.send(Event::Failed {
                message: "cancelled".into(),
            });
            return;
        }
        let frame = match source.next_frame() {
            Ok(f) => f,
            Err(e) => {
                let _ = ev.send(Event::Failed {
                    message: format!("camera: {e}"),
                });
                return;
            }
        };
        let faces = match engine.detect(&frame.image, true) {
            Ok(f) => f,
            Err(e) => {
                let _ = ev.send(Event::Failed {
                    message: e.to_string(),
                });
                return;
            }
        };
        let subject = FaceEngine::subject(&faces).copied().and_then(|d| {
            engine
                .quality(&frame.image, &d, &faces)
                .ok()
                .map(|q| (d, q))
        });
        let quality = subject.map(|s| s.1);
        let o = window.offer(&frame, &faces, subject);
        let t0 = *first.get_or_insert(frame.timestamp);
        let elapsed =
            frame.timestamp.saturating_sub(t0).as_secs_f32() / opts.window.as_secs_f32().max(1e-3);
        let _ = ev.send(Event::Progress {
            seq: frame.seq,
            faces: faces.len(),
            quality,
            guidance: o.guidance,
            progress: elapsed.min(1.0),
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
            let _ = m_tx.send(ToMatcher::Finish {
                frames: window.frames(),
                best: window.take_best().map(Box::new),
            });
            return;
        }
    }
}

fn matcher(
    engine: &FaceEngine,
    reference: &FaceTemplate,
    opts: &VerifyOptions,
    ev: &Sender<Event>,
    rx: &Receiver<ToMatcher>,
    started: Instant,
) {
    let mut last: Option<(u64, Comparison)> = None;
    let mut embedded = 0u64;
    let compare = |c: &Candidate| -> Result<Comparison, crate::FaceError> {
        let t = engine.embed(&c.frame.image, &c.detection, opts.model, opts.chip)?;
        engine.compare(&t, reference, opts.chip)
    };
    for msg in rx.iter() {
        match msg {
            ToMatcher::Candidate(c) => match compare(&c) {
                Ok(cmp) => {
                    embedded += 1;
                    last = Some((c.frame.seq, cmp));
                }
                Err(e) => {
                    let _ = ev.send(Event::Failed {
                        message: e.to_string(),
                    });
                    return;
                }
            },
            ToMatcher::Finish { frames, best } => {
                let mut outcome = Outcome {
                    comparison: None,
                    quality: None,
                    liveness: None,
                    frames,
                    embedded,
                    elapsed_ms: 0,
                };
                if let Some(b) = best {
                    // The best frame may be newer than the last one embedded.
                    let cached = match last {
                        Some((seq, cmp)) if seq == b.frame.seq => Some(cmp),
                        _ => None,
                    };
                    if cached.is_none() {
                        outcome.embedded += 1;
                    }
                    // The capture thread has finished: the PAD model runs on the other core
                    // while this one embeds the best frame (when not embedded yet).
                    let (cmp, live) = std::thread::scope(|s| {
                        let pad = opts
                            .pad
                            .then(|| s.spawn(|| engine.liveness(&b.frame.image, &b.detection)));
                        let cmp = cached.map_or_else(|| compare(&b), Ok);
                        let live = match pad {
                            Some(h) => h.join().unwrap_or_else(|_| {
                                Err(crate::FaceError::infer("cdcn", "PAD thread panicked"))
                            }),
                            None => Ok(None),
                        };
                        (cmp, live)
                    });
                    match (cmp, live) {
                        (Ok(c), Ok(l)) => {
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
                outcome.elapsed_ms = started.elapsed().as_millis() as u64;
                let _ = ev.send(Event::Done(outcome));
                return;
            }
        }
    }
}
