//! Assembles the counter for a run of the app (the kiosk, or the headless `procedure`
//! command): the trust anchors, the reader, the face engine and camera, the face credential
//! port, the ledger sink and the screens become the procedure runner's ports; the runner and the reader watcher start.
//! The kiosk and the headless runner use exactly this, with different screens.
//!
//! What it does not do: open windows (kiosk.rs) or print (procedure_cli.rs).

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use madoguchi_config::Config;
use madoguchi_face::{EngineOptions, FaceEngine};
use madoguchi_flow::ports::TellerRef;
use madoguchi_flow::{Screens, Settings, Timeouts};
use madoguchi_ledger::Ledger;

use crate::ports::backend::BackendLink;
use crate::ports::card::{PcscCard, ReaderChoice};
use crate::ports::credential::LedgerCredentials;
use crate::ports::face::{CameraSetup, FaceService, PreviewSink, spawn_preview};
use crate::ports::records::{LedgerRecords, UNVERIFIED_TELLER};
use crate::runner::{RunnerHandle, RunnerPorts, inbox, spawn_card_watcher, spawn_runner};

/// A running counter.
#[derive(Debug, Clone)]
pub struct Running {
    /// The runner's inbox.
    pub runner: RunnerHandle,
    /// The teller the headless command's records carry (the kiosk's carry the signed-in
    /// teller instead).
    pub teller: TellerRef,
    /// Preview frames delivered so far (benchmark).
    pub preview_frames: Arc<AtomicU64>,
}

/// Why the counter could not start.
#[derive(Debug, thiserror::Error)]
pub enum CounterError {
    /// Trust anchors.
    #[error("trust anchors: {0}")]
    Trust(#[from] madoguchi_card::CardError),
    /// Ledger.
    #[error("ledger: {0}")]
    Ledger(#[from] madoguchi_ledger::LedgerError),
    /// A thread.
    #[error("thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The reader the counter uses.
pub fn reader_choice(config: &Config) -> ReaderChoice {
    match (config.devices.simulate, config.devices.reader.as_str()) {
        (true, "") => ReaderChoice(crate::status::VIRTUAL_READER.to_owned()),
        (_, name) => ReaderChoice(name.to_owned()),
    }
}

/// The step time limits of the configuration.
pub fn settings(config: &Config) -> Settings {
    let p = &config.procedure;
    Settings {
        kiosk_id: config.kiosk.id.to_string(),
        branch_code: config.kiosk.branch_code.to_string(),
        timeouts: Timeouts {
            wait_card: p.wait_card_seconds.millis(),
            pin_entry: p.pin_entry_seconds.millis(),
            card_back: p.card_back_seconds.millis(),
            code_b_entry: p.code_b_entry_seconds.millis(),
            face: p.face_seconds.millis(),
            camera_back: p.camera_back_seconds.millis(),
            sign_entry: p.sign_entry_seconds.millis(),
            review: p.review_seconds.millis(),
            result: p.result_seconds.millis(),
            ..Timeouts::default()
        },
    }
}

/// The embedding model the face port runs, as face credentials name it (from the model
/// manifest); `None` when the models are not installed.
pub fn credential_model() -> Option<madoguchi_faceqr::ModelRef> {
    let dir = crate::assets::find("models/manifest.toml")?
        .parent()?
        .to_path_buf();
    let manifest = madoguchi_face::models::Manifest::load(&dir).ok()?;
    let id = madoguchi_face::EmbedderKind::Sface.model_id();
    let entry = manifest.entry(id).ok()?;
    Some(madoguchi_faceqr::ModelRef {
        model_id: entry.id.clone(),
        template_version: entry.template_version?,
    })
}

/// Loads the face engine from the installed (or development) assets.
pub fn load_engine(config: &Config) -> Result<FaceEngine, String> {
    let models = crate::assets::find("models/manifest.toml")
        .and_then(|m| m.parent().map(std::path::Path::to_path_buf))
        .ok_or("the face models (models/manifest.toml) are not installed")?;
    let thresholds = config
        .face
        .thresholds_file
        .clone()
        .or_else(|| crate::assets::find("thresholds.toml"))
        .ok_or("the thresholds file (thresholds.toml) is not installed")?;
    FaceEngine::load(&models, &thresholds, &EngineOptions::default()).map_err(|e| e.to_string())
}

/// Starts the counter with these screens, camera and preview.
pub fn start(
    config: &Config,
    ledger: Arc<Ledger>,
    client: Option<Arc<madoguchi_sync::Client>>,
    camera: CameraSetup,
    screens: Box<dyn Screens + Send>,
    preview: PreviewSink,
) -> Result<Running, CounterError> {
    let trust = if config.devices.simulate {
        crate::ports::card::simulation_anchors()?
    } else {
        madoguchi_card::TrustAnchors::production()?
    };
    let phone = match &camera {
        CameraSetup::Simulated { phone, .. } => Some(phone.clone()),
        CameraSetup::Webcam { .. } => None,
    };
    let credentials = LedgerCredentials::new(
        ledger.clone(),
        config.kiosk.id.to_string(),
        config.face_credential.max_list_age_hours.millis(),
        config.face_credential.validity_days.days(),
        credential_model(),
        phone,
    );
    let records_ledger = ledger.clone();
    let records = LedgerRecords::new(ledger);
    records.ensure_teller(UNVERIFIED_TELLER)?;
    let teller = TellerRef {
        id: UNVERIFIED_TELLER.to_owned(),
        verified: false,
    };
    let (runner, rx) = inbox();
    let (preview_tx, preview_frames) = spawn_preview(preview)?;
    let report: crate::ports::face::Report = {
        let runner = runner.clone();
        Arc::new(move |ev| runner.post(madoguchi_flow::Input::Face(ev)))
    };
    let engine_config = config.clone();
    let face = FaceService::start(
        Box::new(move || load_engine(&engine_config)),
        camera,
        preview_tx,
        report,
    )?;
    let link = {
        let runner = runner.clone();
        BackendLink::new(client, records_ledger, Arc::new(move |i| runner.post(i)))
    };
    let reader = reader_choice(config);
    let card = PcscCard::new(reader.clone(), trust, config.kiosk.id.to_string());
    spawn_runner(
        settings(config),
        RunnerPorts {
            card: Box::new(card),
            face: Box::new(face),
            credentials: Box::new(credentials),
            backend: Box::new(link),
            records: Box::new(records),
            screens,
        },
        rx,
    )?;
    spawn_card_watcher(reader, runner.clone())?;
    Ok(Running {
        runner,
        teller,
        preview_frames,
    })
}
