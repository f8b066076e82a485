//! The face port: a thread of its own ("face") that owns the face engine, opens the camera
//! for each check (the webcam, a recorded clip, or in simulation the synthetic person chosen
//! on the simulator panel), runs the face crate's two-thread worker with the head-turn
//! challenge against the chip photo, and reports back to the procedure runner as
//! [`FaceEvent`]s. While a check runs the camera is pumped at its own pace
//! ([`madoguchi_camera::pump::Pumped`]): the check takes the newest frame, and every frame is
//! offered to the preview thread, which shrinks it to 320×240 JPEG for the screens — with
//! `try_send` on a one-slot channel, so the preview can never slow the check.
//!
//! A camera that fails during a check is reported as lost and watched until it is back. What
//! it does not do: decide the procedure's outcome (the flow does), keep a frame (only the
//! chosen frame's head region travels, once, inside the result), or log anything personal.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use crossbeam_channel::{Receiver, Sender, bounded, never, unbounded};
use madoguchi_camera::{CameraError, Frame, FrameSource, RgbImage, SourceInfo};
use madoguchi_face::challenge_eval::{Presenter, simulated_camera};
use madoguchi_face::verify::{Decision, decide};
use madoguchi_face::worker::{Event, Phase, VerifyHandle, VerifyOptions, spawn_verify};
use madoguchi_face::{EmbedderKind, FaceEngine};
use madoguchi_faceqr::read::{QrReader, ReaderConfig};
use madoguchi_faceqr::template::Template;
use madoguchi_flow::ports::{
    CapturedFace, ChallengeResult, FaceDecision, FaceEvent, FaceFault, FacePort, FaceProgress,
    FaceReference, FaceRequest, FaceResult, LiveTemplate, Private, PrivateBytes, Turn,
};

use crate::ports::credential::SimPhone;
use serde::Serialize;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// Who the simulated camera shows.
#[derive(Debug, Clone)]
pub struct PresenterChoice {
    /// The face image.
    pub photo: PathBuf,
    /// A live person or a held-up photo.
    pub kind: Presenter,
}

/// Where the frames come from.
#[derive(Debug, Clone)]
pub enum CameraSetup {
    /// The simulators: a recorded clip, or the synthetic person of the simulator panel; the
    /// panel can also unplug the camera.
    Simulated {
        /// Who stands in front of the camera.
        presenter: Arc<Mutex<PresenterChoice>>,
        /// The simulated camera is plugged in.
        plugged: Arc<AtomicBool>,
        /// A recorded clip instead of the synthetic person.
        clip: Option<PathBuf>,
        /// The simulated customer's phone, shown to the camera when a QR is scanned.
        phone: SimPhone,
    },
    /// A real camera (index or name substring; empty: the first).
    Webcam {
        /// The selector.
        selector: String,
    },
}

impl CameraSetup {
    /// A camera is there to open.
    pub fn available(&self) -> bool {
        match self {
            CameraSetup::Simulated { plugged, .. } => plugged.load(Ordering::SeqCst),
            CameraSetup::Webcam { .. } => {
                madoguchi_camera::list_cameras().is_ok_and(|c| !c.is_empty())
            }
        }
    }
}

/// One preview picture for the screens.
#[derive(Debug, Clone, Serialize)]
pub struct PreviewFrame {
    /// Frame number.
    pub seq: u64,
    /// `data:image/jpeg;base64,…`
    pub jpeg: String,
    /// Width.
    pub width: u32,
    /// Height.
    pub height: u32,
}

/// Where preview frames go (the windows).
pub type PreviewSink = Arc<dyn Fn(PreviewFrame) + Send + Sync>;

/// Starts the preview thread: frames offered on the returned sender are shrunk, encoded and
/// given to `sink`. Also returns a counter of frames delivered (for the benchmark).
pub fn spawn_preview(
    sink: PreviewSink,
) -> std::io::Result<(Sender<Frame>, Arc<std::sync::atomic::AtomicU64>)> {
    let (tx, rx) = bounded::<Frame>(1);
    let delivered = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let count = delivered.clone();
    std::thread::Builder::new()
        .name("preview".into())
        .spawn(move || {
            for frame in rx.iter() {
                let small = image::imageops::resize(
                    &frame.image,
                    320,
                    240,
                    image::imageops::FilterType::Triangle,
                );
                let mut jpeg = Vec::with_capacity(24 * 1024);
                if image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 75)
                    .encode_image(&small)
                    .is_err()
                {
                    continue;
                }
                let b64 = base64::engine::general_purpose::STANDARD.encode(&jpeg);
                jpeg.iter_mut().for_each(|b| *b = 0);
                sink(PreviewFrame {
                    seq: frame.seq,
                    jpeg: format!("data:image/jpeg;base64,{b64}"),
                    width: small.width(),
                    height: small.height(),
                });
                count.fetch_add(1, Ordering::Relaxed);
            }
        })?;
    Ok((tx, delivered))
}

/// The simulated camera's plug: unplugged, every frame fails as a real unplugged camera's.
struct Pluggable {
    inner: Box<dyn FrameSource>,
    plugged: Arc<AtomicBool>,
}

impl FrameSource for Pluggable {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        if !self.plugged.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
            return Err(CameraError::Disconnected(
                "the simulated camera is unplugged".into(),
            ));
        }
        self.inner.next_frame()
    }
    fn info(&self) -> SourceInfo {
        self.inner.info()
    }
}

/// What a check matches against, owned by the face thread.
enum Reference {
    /// The chip photo, greyscale.
    Chip {
        gray: Zeroizing<Vec<u8>>,
        width: u32,
        height: u32,
    },
    /// A credential's template ([`Template::to_bytes`]).
    Template(Zeroizing<Vec<u8>>),
}

enum FaceCmd {
    Start {
        reference: Reference,
        turn: Option<Turn>,
        want_template: bool,
    },
    ScanQr,
    Stop,
    WatchCamera,
}

/// Where the face thread's events go (the runner's inbox); shared with the QR scan thread.
pub type Report = Arc<dyn Fn(FaceEvent) + Send + Sync>;

/// The face port the runner holds; the work happens on the face thread.
pub struct FaceService {
    cmd: Sender<FaceCmd>,
    camera: CameraSetup,
}

impl std::fmt::Debug for FaceService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceService").finish_non_exhaustive()
    }
}

/// How the face thread loads its engine.
pub type EngineLoader = Box<dyn FnOnce() -> Result<FaceEngine, String> + Send>;

impl FaceService {
    /// Starts the face thread. `report` gets every event for the runner.
    pub fn start(
        load: EngineLoader,
        camera: CameraSetup,
        preview: Sender<Frame>,
        report: Report,
    ) -> std::io::Result<FaceService> {
        let (cmd, rx) = unbounded();
        let setup = camera.clone();
        std::thread::Builder::new()
            .name("face".into())
            .spawn(move || face_thread(load, rx, setup, preview, report))?;
        Ok(FaceService { cmd, camera })
    }
}

impl FaceService {
    /// Sends a command that needs the camera: without one, the face thread watches for it
    /// and the procedure is told there is none.
    fn with_camera(&self, cmd: FaceCmd) -> Result<(), FaceFault> {
        if !self.camera.available() {
            let _ = self.cmd.send(FaceCmd::WatchCamera);
            return Err(FaceFault::NoCamera);
        }
        self.cmd
            .send(cmd)
            .map_err(|_| FaceFault::Unavailable("face.unavailable"))
    }
}

impl FacePort for FaceService {
    fn start(&mut self, request: FaceRequest<'_>) -> Result<(), FaceFault> {
        let reference = match request.reference {
            FaceReference::Chip(p) => Reference::Chip {
                gray: Zeroizing::new(p.gray.expose().to_vec()),
                width: p.width,
                height: p.height,
            },
            FaceReference::Credential(t) => {
                Reference::Template(Zeroizing::new(t.0.expose().to_vec()))
            }
        };
        self.with_camera(FaceCmd::Start {
            reference,
            turn: request.challenge,
            want_template: request.want_template,
        })
    }

    fn scan_qr(&mut self) -> Result<(), FaceFault> {
        self.with_camera(FaceCmd::ScanQr)
    }

    fn stop(&mut self) {
        let _ = self.cmd.send(FaceCmd::Stop);
    }
}

struct Running {
    handle: VerifyHandle,
    passive_decides: bool,
    last_challenge_frame: Option<Instant>,
}

fn face_thread(
    load: EngineLoader,
    rx: Receiver<FaceCmd>,
    camera: CameraSetup,
    preview: Sender<Frame>,
    report: Report,
) {
    let started = Instant::now();
    let engine = load();
    match &engine {
        Ok(_) => tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "face engine loaded"
        ),
        Err(e) => tracing::error!(error = %e, "the face engine could not be loaded"),
    }
    let mut running: Option<Running> = None;
    let mut scanning: Option<Arc<AtomicBool>> = None;
    let mut watching = false;
    let stop_scan = |scanning: &mut Option<Arc<AtomicBool>>| {
        if let Some(flag) = scanning.take() {
            flag.store(true, Ordering::SeqCst);
        }
    };
    loop {
        let events = running
            .as_ref()
            .map_or_else(never, |r| r.handle.events.clone());
        crossbeam_channel::select! {
            recv(rx) -> cmd => match cmd {
                Err(_) => break,
                Ok(FaceCmd::Stop) => {
                    if let Some(r) = running.take() {
                        r.handle.cancel();
                    }
                    stop_scan(&mut scanning);
                }
                Ok(FaceCmd::WatchCamera) => watching = true,
                Ok(FaceCmd::ScanQr) => {
                    if let Some(r) = running.take() {
                        r.handle.cancel();
                    }
                    stop_scan(&mut scanning);
                    match scan_source(&camera).and_then(|s| {
                        spawn_scan(s, preview.clone(), report.clone()).map_err(|_| Begin::Failed("face.camera"))
                    }) {
                        Ok(flag) => scanning = Some(flag),
                        Err(Begin::Camera) => {
                            watching = true;
                            report(FaceEvent::CameraLost);
                        }
                        Err(Begin::Failed(code)) => report(FaceEvent::Failed(code)),
                    }
                }
                Ok(FaceCmd::Start { reference, turn, want_template }) => {
                    if let Some(r) = running.take() {
                        r.handle.cancel();
                    }
                    stop_scan(&mut scanning);
                    match &engine {
                        Err(_) => report(FaceEvent::Failed("face.unavailable")),
                        Ok(engine) => match begin(engine, &camera, &preview, &reference, turn, want_template) {
                            Ok(r) => running = Some(r),
                            Err(Begin::Camera) => {
                                watching = true;
                                report(FaceEvent::CameraLost);
                            }
                            Err(Begin::Failed(code)) => report(FaceEvent::Failed(code)),
                        },
                    }
                }
            },
            recv(events) -> ev => match ev {
                Err(_) => running = None,
                Ok(ev) => {
                    let Some(r) = running.as_mut() else { continue };
                    match forward(ev, r) {
                        Some(FaceEvent::CameraLost) => {
                            running = None;
                            watching = true;
                            report(FaceEvent::CameraLost);
                        }
                        Some(e @ (FaceEvent::Done(_) | FaceEvent::Failed(_))) => {
                            running = None;
                            report(e);
                        }
                        Some(e) => report(e),
                        None => {}
                    }
                }
            },
            default(Duration::from_millis(300)) => {
                if watching && camera.available() {
                    watching = false;
                    report(FaceEvent::CameraBack);
                }
            }
        }
    }
}

enum Begin {
    Camera,
    Failed(&'static str),
}

fn to_face_turn(t: Turn) -> madoguchi_face::pad::Turn {
    match t {
        Turn::Left => madoguchi_face::pad::Turn::Left,
        Turn::Right => madoguchi_face::pad::Turn::Right,
    }
}

/// The reference template, and whether it is a chip photo (greyscale condition).
fn reference_template(
    engine: &FaceEngine,
    reference: &Reference,
) -> Result<(madoguchi_face::FaceTemplate, bool), Begin> {
    match reference {
        Reference::Chip {
            gray,
            width,
            height,
        } => {
            let img = image::GrayImage::from_raw(*width, *height, gray.to_vec())
                .map(|g| image::DynamicImage::ImageLuma8(g).to_rgb8())
                .ok_or(Begin::Failed("face.reference"))?;
            let t = engine
                .analyse(&img, EmbedderKind::Sface, true)
                .map_err(|_| Begin::Failed("face.reference"))?
                .template;
            Ok((t, true))
        }
        Reference::Template(bytes) => {
            let t = Template::from_bytes(bytes).ok_or(Begin::Failed("face.reference"))?;
            let values = t.dequantise();
            Ok((
                madoguchi_face::FaceTemplate::from_values(EmbedderKind::Sface, values.to_vec()),
                false,
            ))
        }
    }
}

fn begin(
    engine: &FaceEngine,
    camera: &CameraSetup,
    preview: &Sender<Frame>,
    reference: &Reference,
    turn: Option<Turn>,
    want_template: bool,
) -> Result<Running, Begin> {
    let (template, chip) = reference_template(engine, reference)?;
    let face_turn = turn.map(to_face_turn);
    let source = open_camera(camera, |presenter, _| {
        let choice = presenter
            .lock()
            .map_err(|_| Begin::Failed("face.camera"))?
            .clone();
        let photo: RgbImage = image::open(&choice.photo)
            .map_err(|_| Begin::Failed("face.camera"))?
            .to_rgb8();
        let s = simulated_camera(engine, &photo, face_turn, false, choice.kind)
            .map_err(|_| Begin::Failed("face.camera"))?;
        Ok(Box::new(s))
    })?;
    // Pumped at the camera's pace: the preview gets every frame, the check the newest one.
    let source = Box::new(
        madoguchi_camera::pump::Pumped::new(source, Some(preview.clone()))
            .map_err(|_| Begin::Failed("face.camera"))?,
    );
    let opts = VerifyOptions {
        window: Duration::from_millis(800),
        chip,
        pad: true,
        challenge: face_turn,
        challenge_timeout: Duration::from_secs(6),
        keep_capture: true,
        keep_template: want_template,
        ..VerifyOptions::new(EmbedderKind::Sface)
    };
    Ok(Running {
        handle: spawn_verify(engine.clone(), source, template, opts),
        passive_decides: face_turn.is_none(),
        last_challenge_frame: None,
    })
}

fn forward(ev: Event, r: &mut Running) -> Option<FaceEvent> {
    match ev {
        Event::Progress {
            faces,
            quality,
            guidance,
            progress,
            phase,
            face,
            ..
        } => {
            if phase == Phase::Challenge {
                r.last_challenge_frame = Some(Instant::now());
            }
            Some(FaceEvent::Progress(FaceProgress {
                challenge: phase == Phase::Challenge,
                guidance: guidance.code,
                progress,
                faces,
                quality: quality.map(|q| q.overall),
                face_box: face,
            }))
        }
        Event::Done(outcome) => {
            let (decision, reasons) = decide(&outcome, r.passive_decides);
            let decision = match decision {
                Decision::Match => FaceDecision::Match,
                Decision::NoMatch => FaceDecision::NoMatch,
                Decision::AttackSuspected => FaceDecision::AttackSuspected,
                Decision::NoFace => FaceDecision::NoFace,
            };
            let challenge = outcome.challenge.map(|c| {
                let turn = match c.turn {
                    madoguchi_face::pad::Turn::Left => Turn::Left,
                    madoguchi_face::pad::Turn::Right => Turn::Right,
                };
                let result = match c.result {
                    madoguchi_face::pad::ChallengeResult::Passed => ChallengeResult::Passed,
                    madoguchi_face::pad::ChallengeResult::Failed => ChallengeResult::Failed,
                    _ => ChallengeResult::TimedOut,
                };
                (turn, result)
            });
            let capture = outcome.capture.map(|c| CapturedFace {
                sha256: Sha256::digest(&c.jpeg).into(),
                jpeg: PrivateBytes::new(c.jpeg),
            });
            Some(FaceEvent::Done(Box::new(FaceResult {
                decision,
                reasons,
                score: outcome.comparison.map(|c| c.score),
                threshold: outcome.comparison.map(|c| c.threshold),
                model: EmbedderKind::Sface.model_id(),
                quality: outcome.quality.map(|q| q.overall),
                passive: outcome.liveness.map(|l| (l.depth, l.threshold, l.live)),
                challenge,
                capture,
                decision_ms: r
                    .last_challenge_frame
                    .map(|t| t.elapsed().as_millis() as u64),
                template: outcome
                    .template
                    .and_then(|t| Template::quantise(t.values()).ok())
                    .map(|t| LiveTemplate(PrivateBytes(t.to_bytes()))),
            })))
        }
        Event::Failed { message } if message == "cancelled" => None,
        Event::Failed { message } if message.starts_with("camera") => Some(FaceEvent::CameraLost),
        Event::Failed { message } => {
            tracing::warn!(error = %message, "the face check failed");
            Some(FaceEvent::Failed("face.unavailable"))
        }
    }
}

/// The camera as configured: the webcam, the recorded clip, or in simulation what `simulated`
/// makes of the simulator's presenter and phone (behind the simulated camera's plug).
fn open_camera(
    camera: &CameraSetup,
    simulated: impl FnOnce(
        &Arc<Mutex<PresenterChoice>>,
        &SimPhone,
    ) -> Result<Box<dyn FrameSource>, Begin>,
) -> Result<Box<dyn FrameSource>, Begin> {
    Ok(match camera {
        CameraSetup::Simulated {
            clip: Some(dir), ..
        } => Box::new(
            madoguchi_camera::recorded::RecordedSource::open(dir, 15.0, true)
                .map_err(|_| Begin::Camera)?,
        ),
        CameraSetup::Simulated {
            presenter,
            plugged,
            phone,
            ..
        } => Box::new(Pluggable {
            inner: simulated(presenter, phone)?,
            plugged: plugged.clone(),
        }),
        CameraSetup::Webcam { selector } => Box::new(
            madoguchi_camera::webcam::open_reconnecting(
                madoguchi_camera::webcam::CameraSelector::parse(selector),
                Default::default(),
            )
            .map_err(|_| Begin::Camera)?,
        ),
    })
}

/// The camera for a QR scan: the configured camera or clip, or in simulation the simulated
/// customer's phone held up to the camera.
fn scan_source(camera: &CameraSetup) -> Result<Box<dyn FrameSource>, Begin> {
    open_camera(camera, |_, phone| {
        Ok(Box::new(PhoneSource::new(phone.clone())))
    })
}

/// Reads QR symbols from the camera on a thread of its own ("qr-scan") at the camera's pace
/// (the preview gets every frame) until one decodes or the returned flag is set. Reports the
/// text once, or the camera lost.
fn spawn_scan(
    source: Box<dyn FrameSource>,
    preview: Sender<Frame>,
    report: Report,
) -> std::io::Result<Arc<AtomicBool>> {
    let cancel = Arc::new(AtomicBool::new(false));
    let flag = cancel.clone();
    let mut source = madoguchi_camera::pump::Pumped::new(source, Some(preview))?;
    std::thread::Builder::new()
        .name("qr-scan".into())
        .spawn(move || {
            // Under the camera's frame time, so that reading keeps up with it.
            let mut reader = QrReader::new(ReaderConfig {
                budget: Duration::from_millis(30),
            });
            while !flag.load(Ordering::SeqCst) {
                match source.next_frame() {
                    Ok(f) => {
                        let gray = image::DynamicImage::ImageRgb8(f.image).to_luma8();
                        if let Some(read) = reader.read(&gray) {
                            if !flag.load(Ordering::SeqCst) {
                                report(FaceEvent::QrRead(Private::new(read.text)));
                            }
                            return;
                        }
                    }
                    Err(_) => {
                        if !flag.load(Ordering::SeqCst) {
                            report(FaceEvent::CameraLost);
                        }
                        return;
                    }
                }
            }
        })?;
    Ok(cancel)
}

/// The simulated customer's phone held up to the camera: the QR it holds rendered on a phone
/// screen photographed by a webcam (mild perspective, blur and noise, from the QR generator
/// of the tests), 640×480 at 15 frames/s; an empty phone shows a blank screen.
struct PhoneSource {
    phone: SimPhone,
    frames: Vec<RgbImage>,
    shown: Option<Zeroizing<String>>,
    seq: u64,
    started: Option<Instant>,
}

impl PhoneSource {
    fn new(phone: SimPhone) -> Self {
        PhoneSource {
            phone,
            frames: Vec::new(),
            shown: None,
            seq: 0,
            started: None,
        }
    }

    fn render(text: Option<&str>) -> Vec<RgbImage> {
        use madoguchi_faceqr::synth::{Rng, Scene, render_scene};
        let Some(text) = text else {
            return vec![RgbImage::from_pixel(640, 480, image::Rgb([40, 42, 48]))];
        };
        (0..6u64)
            .filter_map(|i| {
                let mut rng = Rng::new(0x5157_0000 + i);
                let scene = Scene {
                    size: (640, 480),
                    px_per_module: 4.0,
                    rotation_deg: rng.range(-6.0, 6.0),
                    perspective: rng.range(0.0, 0.03),
                    blur_passes: 1,
                    glare: 0.0,
                    moire: 0.0,
                    noise: 3.0,
                    levels: (30.0, 220.0),
                };
                render_scene(text, &scene, &mut rng)
                    .ok()
                    .map(|(g, _)| image::DynamicImage::ImageLuma8(g).to_rgb8())
            })
            .collect()
    }
}

impl FrameSource for PhoneSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let now = self
            .phone
            .lock()
            .map_err(|_| CameraError::Disconnected("the simulated phone".into()))?
            .clone();
        if self.frames.is_empty() || now.as_deref() != self.shown.as_deref() {
            self.frames = Self::render(now.as_deref().map(String::as_str));
            self.shown = now;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        let due = started + Duration::from_millis(self.seq * 1000 / 15);
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        let image = self.frames[(self.seq as usize) % self.frames.len().max(1)].clone();
        self.seq += 1;
        Ok(Frame {
            image,
            timestamp: started.elapsed(),
            seq: self.seq,
        })
    }
    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: madoguchi_camera::SourceKind::Synthetic,
            name: "simulated phone".into(),
            width: 640,
            height: 480,
            fps: 15.0,
        }
    }
}
