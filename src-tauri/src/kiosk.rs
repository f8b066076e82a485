//! The kiosk: Tauri windows (teller console and customer display as two windows, or with
//! `--single-screen` as two webviews side by side in one window — each side keeps its own
//! label and capability), the commands the web side may call ([`crate::commands`]), and the
//! threads that feed them: the device status poller, the sync thread, the procedure runner.
//!
//! Commands are a few lines each and never block the main thread; device work runs on its
//! own threads ([`crate::status`], [`crate::runner`]). What it must not do: hold product logic
//! (that lives in the library crates), pass personal data to the web side beyond what a
//! screen shows, or load remote content.

use std::process::ExitCode;
use std::sync::{Arc, Mutex};

use madoguchi_config::Config;
use tauri::{Emitter, Manager, WebviewUrl, WebviewWindowBuilder};

use crate::commands::{self as cmd, Procedures};
use crate::screens::{Hub, Side, WindowScreens};

use crate::cli::ConfigSource;
use crate::dto::{KioskStatus, UiError};
use crate::status::{self, SharedSnapshot, Snapshot};

/// Event carrying a fresh [`KioskStatus`] to every window.
pub const STATUS_EVENT: &str = "device-status";

/// State the commands read.
struct AppState {
    config: Config,
    snapshot: SharedSnapshot,
}

fn kiosk_status_of(config: &Config, snap: &Snapshot) -> KioskStatus {
    KioskStatus {
        version: env!("CARGO_PKG_VERSION"),
        kiosk_id: config.kiosk.id.to_string(),
        branch_code: config.kiosk.branch_code.to_string(),
        language: config.kiosk.language.tag(),
        simulate: config.devices.simulate,
        single_screen: config.kiosk.single_screen,
        devices: snap.devices.clone(),
        probed_at: snap.probed_at,
    }
}

/// The kiosk's identity and the latest device snapshot.
#[tauri::command]
fn kiosk_status(state: tauri::State<'_, AppState>) -> Result<KioskStatus, UiError> {
    let snap = state.snapshot.lock().map_err(|_| UiError {
        code: "status.unavailable",
        message: "the device status is unavailable (poller failed)".into(),
    })?;
    Ok(kiosk_status_of(&state.config, &snap))
}

/// Opens the kiosk and runs until its windows close.
pub fn run(config: Config, source: ConfigSource) -> ExitCode {
    let data_dir = config.data_dir();
    if let Err(e) = create_private_dir(&data_dir) {
        eprintln!(
            "madoguchi: cannot use the data directory {}: {e}",
            data_dir.display()
        );
        return ExitCode::from(2);
    }
    let _log = match madoguchi_telemetry::init(&madoguchi_telemetry::LogOptions {
        dir: Some(data_dir.join("logs")),
        level: config.log.level.as_str().into(),
        max_files: config.log.max_files.get(),
        stderr: true,
    }) {
        Ok(guard) => guard,
        Err(e) => {
            eprintln!("madoguchi: cannot start logging: {e}");
            return ExitCode::from(2);
        }
    };
    tracing::info!(
        version = env!("CARGO_PKG_VERSION"),
        kiosk_id = %config.kiosk.id,
        branch = %config.kiosk.branch_code,
        simulate = config.devices.simulate,
        single_screen = config.kiosk.single_screen,
        config = %source,
        "kiosk starting"
    );
    match run_app(tauri::Builder::default(), config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "kiosk stopped with an error");
            eprintln!("madoguchi: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Builds and runs the app on any runtime.
pub fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>, config: Config) -> tauri::Result<()> {
    let snapshot: SharedSnapshot = Arc::new(Mutex::new(Snapshot::default()));
    builder
        .manage(AppState {
            config: config.clone(),
            snapshot: snapshot.clone(),
        })
        .invoke_handler(tauri::generate_handler![
            kiosk_status,
            cmd::procedure_subscribe,
            cmd::procedure_view,
            cmd::identity_start,
            cmd::procedure_code_b,
            cmd::procedure_confirm,
            cmd::procedure_override,
            cmd::procedure_cancel,
            cmd::procedure_next,
            cmd::procedure_skip_sign,
            cmd::keypad_press,
            cmd::history_today,
            cmd::sim_state,
            cmd::sim_card,
            cmd::sim_presenter,
            cmd::sim_camera,
        ])
        .setup(move |app| {
            let sims = crate::simulators::Simulators::start(&config, None)?.map(Arc::new);
            let backend = crate::backend::Backend::start(&config)?;
            let hub = Hub::default();
            let camera = match &sims {
                Some(s) => s.camera(),
                None => crate::ports::face::CameraSetup::Webcam {
                    selector: config.devices.camera.clone(),
                },
            };
            let preview_hub = hub.clone();
            let preview: crate::ports::face::PreviewSink = Arc::new(move |f| {
                let mut m = serde_json::to_value(&f).unwrap_or_default();
                m["kind"] = serde_json::json!("preview-frame");
                preview_hub.send_both(&m);
            });
            let teller = madoguchi_flow::ports::TellerRef {
                id: crate::ports::records::UNVERIFIED_TELLER.to_owned(),
                verified: false,
            };
            let counter = crate::counter::start(
                &config,
                backend.ledger.clone(),
                camera,
                Box::new(WindowScreens::new(hub.clone(), teller)),
                preview,
            )?;
            app.manage(Procedures {
                runner: counter.runner.clone(),
                hub: hub.clone(),
                sims,
                ledger: backend.ledger.clone(),
                teller: counter.teller.clone(),
            });
            let link = status::Link {
                url: backend.url.clone(),
                embedded: backend.embedded,
                ledger: Some(backend.ledger.clone()),
            };
            app.manage(backend);
            open_windows(app, &config)?;
            let handle = app.handle().clone();
            let poller_config = config.clone();
            status::spawn_poller(config.clone(), link, snapshot, move |snap| {
                let payload = kiosk_status_of(&poller_config, snap);
                if let Err(e) = handle.emit(STATUS_EVENT, payload) {
                    tracing::warn!(error = %e, "could not publish device status");
                }
            })?;
            Ok(())
        })
        .run(tauri::generate_context!())
}

fn open_windows<R: tauri::Runtime>(app: &mut tauri::App<R>, config: &Config) -> tauri::Result<()> {
    let fullscreen = config.kiosk.fullscreen;
    if config.kiosk.single_screen {
        // One window, two webviews: the teller's half and the customer's half keep their own
        // labels, so each has its own capability and the command checks tell them apart.
        use tauri::{LogicalPosition, LogicalSize, WebviewBuilder};
        let (w, h) = (1600.0, 900.0);
        let window = tauri::window::WindowBuilder::new(app, "kiosk")
            .title("madoguchi — 窓口")
            .inner_size(w, h)
            .min_inner_size(1024.0, 600.0)
            .fullscreen(fullscreen)
            .build()?;
        // On Linux the webviews of a window are packed into its GTK box, which is vertical:
        // turn it so that the two halves sit side by side, equally wide.
        #[cfg(target_os = "linux")]
        {
            use gtk::prelude::{BoxExt, OrientableExt};
            let container = window.default_vbox()?;
            container.set_orientation(gtk::Orientation::Horizontal);
            container.set_homogeneous(true);
        }
        for (i, side) in [Side::Teller, Side::Customer].into_iter().enumerate() {
            let label = match side {
                Side::Teller => "teller",
                Side::Customer => "customer",
            };
            window.add_child(
                WebviewBuilder::new(label, WebviewUrl::App(format!("index.html#{label}").into()))
                    .auto_resize(),
                LogicalPosition::new(i as f64 * w / 2.0, 0.0),
                LogicalSize::new(w / 2.0, h),
            )?;
        }
        return Ok(());
    }
    let teller =
        WebviewWindowBuilder::new(app, "teller", WebviewUrl::App("index.html#teller".into()))
            .title("madoguchi — 窓口端末 / teller console")
            .inner_size(1024.0, 768.0)
            .min_inner_size(800.0, 600.0)
            .fullscreen(fullscreen)
            .build()?;
    let customer = WebviewWindowBuilder::new(
        app,
        "customer",
        WebviewUrl::App("index.html#customer".into()),
    )
    .title("madoguchi — お客さま表示 / customer display")
    .inner_size(1024.0, 768.0)
    .min_inner_size(640.0, 480.0)
    .build()?;
    // With a second monitor the customer display goes there; otherwise it opens beside the
    // console and fullscreen applies to the console only.
    let monitors = teller.available_monitors().unwrap_or_default();
    let primary = teller.primary_monitor().ok().flatten();
    let other = monitors.iter().find(|m| {
        primary
            .as_ref()
            .is_none_or(|p| p.position() != m.position())
    });
    if let Some(m) = other {
        customer.set_position(*m.position())?;
        customer.set_fullscreen(fullscreen)?;
    }
    if let Some(w) = app.get_webview_window("teller") {
        w.set_focus()?;
    }
    Ok(())
}

fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}
