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
use std::sync::atomic::{AtomicBool, Ordering};
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
    // One kiosk per data directory: a second start would fight over the reader, the camera
    // and the ledger. The lock is held until the process ends.
    let _instance = match single_instance(&data_dir) {
        Ok(f) => f,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("madoguchi: {e}");
            return ExitCode::from(3);
        }
    };
    match run_app(tauri::Builder::default(), config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "kiosk stopped with an error");
            eprintln!("madoguchi: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The kiosk's instance lock file in the data directory.
pub const INSTANCE_LOCK: &str = "kiosk.lock";

/// Takes the data directory's instance lock, or says that a kiosk already runs on it.
fn single_instance(data_dir: &std::path::Path) -> Result<std::fs::File, String> {
    let path = data_dir.join(INSTANCE_LOCK);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(format!(
            "another madoguchi kiosk is already running on {} (kiosk.already_running)",
            data_dir.display()
        )),
        Err(std::fs::TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
    }
}

/// The page a webview may show: the app's own bundle, nothing else.
fn own_page(url: &tauri::Url) -> bool {
    let own = url.scheme() == "tauri" || url.host_str() == Some("tauri.localhost");
    if !own {
        tracing::warn!(
            scheme = url.scheme(),
            "navigation away from the kiosk refused"
        );
    }
    own
}

/// Builds and runs the app on any runtime.
pub fn run_app<R: tauri::Runtime>(builder: tauri::Builder<R>, config: Config) -> tauri::Result<()> {
    let snapshot: SharedSnapshot = Arc::new(Mutex::new(Snapshot::default()));
    // Whether the kiosk is locked now (no close); a technician's sign-in clears it.
    let locked = Arc::new(AtomicBool::new(config.kiosk.lock));
    let locked_for_events = locked.clone();
    builder
        .on_window_event(move |window, event| {
            if let tauri::WindowEvent::CloseRequested { api, .. } = event
                && locked_for_events.load(Ordering::SeqCst)
            {
                tracing::info!(
                    window = window.label(),
                    "close refused: the kiosk is locked"
                );
                api.prevent_close();
            }
        })
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
            cmd::procedure_confirm_enroll,
            cmd::procedure_confirm_rebind,
            cmd::qr_auth_start,
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
            cmd::sim_phone_clear,
            cmd::sim_phone_show,
            cmd::desk_state,
            cmd::desk_sign_in,
            cmd::desk_sign_out,
            cmd::desk_touch,
            cmd::desk_tellers,
            cmd::desk_register_key,
            cmd::sim_key_plug,
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
            let current = crate::desk::CurrentTeller::default();
            let counter = crate::counter::start(
                &config,
                backend.ledger.clone(),
                backend.client.clone(),
                camera,
                Box::new(WindowScreens::new(hub.clone(), current.clone())),
                preview,
            )?;
            let sim_keys = config
                .devices
                .simulate
                .then(|| config.data_dir().join(crate::desk::SIM_KEYS_DIR));
            if let Some(dir) = &sim_keys {
                crate::desk::seed_simulation(&backend.ledger, dir)?;
            }
            let desk = Arc::new(crate::desk::Desk::new(
                backend.ledger.clone(),
                hub.clone(),
                current,
                sim_keys,
                config.tellers.idle_timeout_seconds.duration(),
                config.tellers.sign_out_on_key_removal,
            )?);
            desk.publish();
            spawn_idle_watch(desk.clone(), hub.clone())?;
            app.manage(Procedures {
                runner: counter.runner.clone(),
                hub: hub.clone(),
                sims,
                ledger: backend.ledger.clone(),
                desk: desk.clone(),
            });
            let link = status::Link {
                url: backend.url.clone(),
                embedded: backend.embedded,
                ledger: Some(backend.ledger.clone()),
                kiosk_id: config.kiosk.id.to_string(),
                max_list_age_ms: config.face_credential.max_list_age_hours.millis(),
            };
            app.manage(backend);
            open_windows(app, &config)?;
            if config.kiosk.lock {
                let handle = app.handle().clone();
                let fullscreen = config.kiosk.fullscreen;
                desk.on_lock(Box::new(move |now_locked| {
                    locked.store(now_locked, Ordering::SeqCst);
                    let h = handle.clone();
                    let _ =
                        handle.run_on_main_thread(move || apply_lock(&h, now_locked, fullscreen));
                }));
            }
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

/// Signs out an idle teller (checked every second; a running procedure is not idle), and one
/// whose USB key was pulled out, who was disabled or whose key was revoked (every 3 s).
fn spawn_idle_watch(desk: Arc<crate::desk::Desk>, hub: Hub) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("desk-idle".into())
        .spawn(move || {
            for tick in 0u64.. {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if tick % 3 == 0 {
                    desk.check_key_removed();
                    desk.check_still_allowed();
                }
                let step = hub.latest(Side::Teller).and_then(|m| {
                    m.get("view")
                        .and_then(|v| v.get("step"))
                        .and_then(|s| s.as_str().map(str::to_owned))
                });
                let busy = step.is_some_and(|s| s != "idle" && s != "result");
                desk.check_idle(busy);
            }
        })
        .map(drop)
}

/// Locked: fullscreen as configured, no decorations; unlocked (a technician): an ordinary
/// window the technician may close.
fn apply_lock<R: tauri::Runtime>(app: &tauri::AppHandle<R>, locked: bool, fullscreen: bool) {
    for (label, window) in app.windows() {
        let result = window
            .set_fullscreen(locked && fullscreen)
            .and_then(|()| window.set_decorations(!(locked && fullscreen)))
            .and_then(|()| window.set_closable(!locked));
        if let Err(e) = result {
            tracing::warn!(window = %label, error = %e, "could not apply the kiosk lock");
        }
    }
    tracing::info!(locked, "kiosk lock applied");
}

/// Keeps the screen from blanking while the kiosk runs (GTK's idle inhibitor: the session
/// manager or screensaver honours it where one runs). Logs whether it took.
#[cfg(target_os = "linux")]
fn keep_awake(gtk_window: tauri::Result<gtk::ApplicationWindow>) {
    use gtk::prelude::{GtkApplicationExt, GtkWindowExt};
    let Ok(gtk_window) = gtk_window else {
        return;
    };
    let cookie = gtk_window.application().map_or(0, |a| {
        a.inhibit(
            Some(&gtk_window),
            gtk::ApplicationInhibitFlags::IDLE,
            Some("madoguchi: the counter is in service"),
        )
    });
    if cookie == 0 {
        tracing::warn!("the screen saver could not be inhibited (no session manager answered)");
    } else {
        tracing::info!("screen kept awake (idle inhibited)");
    }
}

/// The monitor named `name`, if one is attached.
fn monitor_named(monitors: &[tauri::Monitor], name: &str) -> Option<tauri::Monitor> {
    if name.is_empty() {
        return None;
    }
    let found = monitors
        .iter()
        .find(|m| m.name().is_some_and(|n| n == name))
        .cloned();
    if found.is_none() {
        let names: Vec<&str> = monitors
            .iter()
            .filter_map(|m| m.name().map(String::as_str))
            .collect();
        tracing::warn!(wanted = name, available = ?names, "configured monitor not attached");
    }
    found
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
                    .auto_resize()
                    .devtools(false)
                    .on_navigation(own_page)
                    .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny),
                LogicalPosition::new(i as f64 * w / 2.0, 0.0),
                LogicalSize::new(w / 2.0, h),
            )?;
        }
        if let Some(m) = monitor_named(
            &window.available_monitors().unwrap_or_default(),
            &config.kiosk.teller_monitor,
        ) {
            window.set_position(*m.position())?;
            window.set_fullscreen(fullscreen)?;
        }
        if config.kiosk.lock {
            window.set_closable(false)?;
        }
        #[cfg(target_os = "linux")]
        keep_awake(window.gtk_window());
        return Ok(());
    }
    let teller =
        WebviewWindowBuilder::new(app, "teller", WebviewUrl::App("index.html#teller".into()))
            .title("madoguchi — 窓口端末 / teller console")
            .inner_size(1024.0, 768.0)
            .min_inner_size(800.0, 600.0)
            .fullscreen(fullscreen)
            .devtools(false)
            .on_navigation(own_page)
            .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny)
            .build()?;
    let customer = WebviewWindowBuilder::new(
        app,
        "customer",
        WebviewUrl::App("index.html#customer".into()),
    )
    .title("madoguchi — お客さま表示 / customer display")
    .inner_size(1024.0, 768.0)
    .min_inner_size(640.0, 480.0)
    .devtools(false)
    .on_navigation(own_page)
    .on_new_window(|_, _| tauri::webview::NewWindowResponse::Deny)
    .build()?;
    // The configured monitors by name, so that each screen opens on the same monitor after
    // every restart; without names the customer display goes to the first monitor that is not
    // the console's, or beside the console (fullscreen then applies to the console only).
    let monitors = teller.available_monitors().unwrap_or_default();
    if let Some(m) = monitor_named(&monitors, &config.kiosk.teller_monitor) {
        teller.set_position(*m.position())?;
        teller.set_fullscreen(fullscreen)?;
    }
    let teller_at = teller
        .current_monitor()
        .ok()
        .flatten()
        .or_else(|| teller.primary_monitor().ok().flatten());
    let target = monitor_named(&monitors, &config.kiosk.customer_monitor).or_else(|| {
        monitors
            .iter()
            .find(|m| {
                teller_at
                    .as_ref()
                    .is_none_or(|p| p.position() != m.position())
            })
            .cloned()
    });
    if let Some(m) = target {
        customer.set_position(*m.position())?;
        customer.set_fullscreen(fullscreen)?;
    }
    if config.kiosk.lock {
        teller.set_closable(false)?;
        customer.set_closable(false)?;
    }
    #[cfg(target_os = "linux")]
    keep_awake(teller.gtk_window());
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
