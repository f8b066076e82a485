//! Device status: probes the reader (PC/SC), the camera (nokhwa), the backend link and the
//! age of the face-credential trust lists in the ledger, and turns what each reports into
//! [`DeviceStatus`] for the screens.
//!
//! It runs on its own thread ([`spawn_poller`]), never on the UI thread, and publishes each
//! snapshot as a `device-status` event. In simulation it reports the simulators; those not
//! built yet are reported as missing, never as working.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use madoguchi_config::Config;
use serde_json::{Map, Value, json};

use crate::dto::{DeviceKind, DeviceMode, DeviceState, DeviceStatus};

/// The synthetic customer's photo, under the asset roots.
pub const SIM_CUSTOMER: &str = "sim/customer.jpg";

/// How often the devices are probed.
pub const POLL_EVERY: Duration = Duration::from_secs(3);
/// The backend probe's time limit.
pub const BACKEND_TIMEOUT: Duration = Duration::from_secs(2);

/// The latest snapshot, shared with the commands.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Devices in order reader, camera, backend, trust lists.
    pub devices: Vec<DeviceStatus>,
    /// When they were probed (UNIX seconds).
    pub probed_at: u64,
}

/// Shared handle to the latest snapshot.
pub type SharedSnapshot = Arc<Mutex<Snapshot>>;

fn params(pairs: &[(&str, Value)]) -> Map<String, Value> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_string(), v.clone()))
        .collect()
}

fn status(
    kind: DeviceKind,
    mode: DeviceMode,
    state: DeviceState,
    detail: &'static str,
    p: Map<String, Value>,
) -> DeviceStatus {
    DeviceStatus {
        kind,
        mode,
        state,
        detail,
        params: p,
    }
}

/// The reader name prefix vpcd's readers get in PC/SC (the simulated reader).
pub const VIRTUAL_READER: &str = "Virtual PCD";

/// The card reader, through PC/SC in both modes: in simulation the virtual card sits in the
/// vpcd reader of the real `pcscd`, so this reports what the kiosk would really see.
pub fn probe_reader(config: &Config) -> DeviceStatus {
    let mode = if config.devices.simulate {
        DeviceMode::Simulated
    } else {
        DeviceMode::Hardware
    };
    let wanted = match (config.devices.simulate, config.devices.reader.as_str()) {
        (true, "") => VIRTUAL_READER,
        (_, name) => name,
    };
    let st = |state, detail, p| status(DeviceKind::Reader, mode, state, detail, p);
    match madoguchi_card::list_readers() {
        Err(madoguchi_card::ReadersError::ServiceUnavailable) => {
            st(DeviceState::Error, "reader.service_down", Map::new())
        }
        Err(e) => st(
            DeviceState::Error,
            "reader.error",
            params(&[("info", json!(e.to_string()))]),
        ),
        Ok(readers) => match readers.iter().find(|r| r.name.contains(wanted)) {
            None if readers.is_empty() => st(DeviceState::Missing, "reader.none", Map::new()),
            None => st(
                DeviceState::Missing,
                "reader.not_matching",
                params(&[("wanted", json!(wanted))]),
            ),
            Some(r) => st(
                DeviceState::Ok,
                if r.card_present {
                    "reader.card_present"
                } else {
                    "reader.ready"
                },
                params(&[("name", json!(r.name))]),
            ),
        },
    }
}

/// The camera. In simulation: the recorded clip or the synthetic customer, opened and asked for
/// one frame, so "ok" means frames really come.
pub fn probe_camera(config: &Config) -> DeviceStatus {
    use DeviceKind::Camera;
    if config.devices.simulate {
        let sim = |state, detail, p| status(Camera, DeviceMode::Simulated, state, detail, p);
        let Some(photo) = crate::assets::find(SIM_CUSTOMER) else {
            return sim(
                DeviceState::Missing,
                "camera.sim_missing",
                params(&[("file", json!(SIM_CUSTOMER))]),
            );
        };
        let clip = config.devices.camera_clip.as_deref();
        return match madoguchi_camera::simulated_source(clip, &photo)
            .and_then(|mut s| s.next_frame().map(|f| (s.info(), f)))
        {
            Ok((info, frame)) => sim(
                DeviceState::Ok,
                if clip.is_some() {
                    "camera.sim_recorded"
                } else {
                    "camera.sim_synthetic"
                },
                params(&[
                    ("width", json!(frame.image.width())),
                    ("height", json!(frame.image.height())),
                    ("fps", json!(info.fps)),
                ]),
            ),
            Err(e) => sim(
                DeviceState::Error,
                "camera.error",
                params(&[("info", json!(e.to_string()))]),
            ),
        };
    }
    let hw = |state, detail, p| status(Camera, DeviceMode::Hardware, state, detail, p);
    match madoguchi_camera::list_cameras() {
        Err(e) => hw(
            DeviceState::Error,
            "camera.error",
            params(&[("info", json!(e.to_string()))]),
        ),
        Ok(cams) if cams.is_empty() => hw(DeviceState::Missing, "camera.none", Map::new()),
        Ok(cams) => {
            let wanted = &config.devices.camera;
            let pick = cams.iter().find(|c| {
                wanted.is_empty() || c.index == *wanted || c.name.contains(wanted.as_str())
            });
            match pick {
                Some(c) => hw(
                    DeviceState::Ok,
                    "camera.ready",
                    params(&[("name", json!(c.name))]),
                ),
                None => hw(
                    DeviceState::Missing,
                    "camera.not_matching",
                    params(&[("wanted", json!(wanted))]),
                ),
            }
        }
    }
}

/// What the status needs to know of the backend link the app started.
#[derive(Debug, Clone, Default)]
pub struct Link {
    /// The backend base URL in use, if any.
    pub url: Option<String>,
    /// It is the embedded demo backend.
    pub embedded: bool,
    /// The ledger whose outbox backlog is shown.
    pub ledger: Option<std::sync::Arc<madoguchi_ledger::Ledger>>,
    /// This kiosk's id (its template keys are wrapped for it).
    pub kiosk_id: String,
    /// The oldest trust lists the kiosk uses (`face_credential.max_list_age_hours`), ms.
    pub max_list_age_ms: i64,
}

/// The face-credential trust lists in the ledger: verified as the credential port reads them,
/// with their age against the limit (older: no credential is issued or verified).
pub fn probe_trust(link: &Link) -> DeviceStatus {
    use madoguchi_sync::TrustProblem;
    let mode = if link.embedded {
        DeviceMode::Simulated
    } else {
        DeviceMode::Network
    };
    let Some(ledger) = &link.ledger else {
        return status(
            DeviceKind::Trust,
            mode,
            DeviceState::Missing,
            "trust.missing",
            Map::new(),
        );
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    let limit = json!(link.max_list_age_ms / 60_000);
    match madoguchi_sync::trust::load(ledger, &link.kiosk_id) {
        Ok(t) => {
            let age = json!(t.age_ms(now) / 60_000);
            let p = params(&[
                ("ageMinutes", age),
                ("limitMinutes", limit),
                ("trustVersion", json!(t.trust.version)),
                ("revocationsVersion", json!(t.revocations.version)),
                ("revoked", json!(t.revocations.credentials.len())),
            ]);
            match t.check_fresh(now, link.max_list_age_ms) {
                Ok(()) => status(DeviceKind::Trust, mode, DeviceState::Ok, "trust.fresh", p),
                Err(_) => status(
                    DeviceKind::Trust,
                    mode,
                    DeviceState::Error,
                    "trust.stale",
                    p,
                ),
            }
        }
        Err(TrustProblem::Missing(_)) => status(
            DeviceKind::Trust,
            mode,
            DeviceState::Missing,
            "trust.missing",
            Map::new(),
        ),
        Err(_) => status(
            DeviceKind::Trust,
            mode,
            DeviceState::Error,
            "trust.invalid",
            Map::new(),
        ),
    }
}

/// The backend link: reachability of the backend in use and the outbox backlog.
pub fn probe_backend(link: &Link) -> DeviceStatus {
    use DeviceKind::Backend;
    let mode = if link.embedded {
        DeviceMode::Simulated
    } else {
        DeviceMode::Network
    };
    let Some(url) = link.url.as_deref() else {
        return status(
            Backend,
            mode,
            DeviceState::Missing,
            "backend.not_configured",
            Map::new(),
        );
    };
    let backlog = link
        .ledger
        .as_ref()
        .and_then(|l| l.outbox_backlog().ok())
        .map_or(Value::Null, |n| json!(n));
    match madoguchi_sync::probe(url, BACKEND_TIMEOUT) {
        madoguchi_sync::BackendProbe::Reachable { latency_ms } => status(
            Backend,
            mode,
            DeviceState::Ok,
            "backend.reachable",
            params(&[
                ("url", json!(url)),
                ("latencyMs", json!(latency_ms)),
                ("backlog", backlog),
            ]),
        ),
        madoguchi_sync::BackendProbe::Unhealthy { status: code } => status(
            Backend,
            mode,
            DeviceState::Error,
            "backend.unhealthy",
            params(&[
                ("url", json!(url)),
                ("status", json!(code)),
                ("backlog", backlog),
            ]),
        ),
        madoguchi_sync::BackendProbe::Unreachable { reason } => status(
            Backend,
            mode,
            DeviceState::Error,
            "backend.unreachable",
            params(&[
                ("url", json!(url)),
                ("info", json!(reason)),
                ("backlog", backlog),
            ]),
        ),
    }
}

/// Probes everything once.
pub fn probe_all(config: &Config, link: &Link) -> Snapshot {
    let devices = vec![
        probe_reader(config),
        probe_camera(config),
        probe_backend(link),
        probe_trust(link),
    ];
    let probed_at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    Snapshot { devices, probed_at }
}

/// What the log said of a device last: its kind, mode, state and message code (not its
/// parameters, which change with every probe: latency, backlog).
type LoggedState = (DeviceKind, DeviceMode, DeviceState, &'static str);

/// The devices whose state changed since `logged`, which is updated: the log tells a change
/// once, not every probe.
fn changed_states<'a>(
    logged: &mut Vec<LoggedState>,
    devices: &'a [DeviceStatus],
) -> Vec<&'a DeviceStatus> {
    let mut changed = Vec::new();
    for d in devices {
        let now = (d.kind, d.mode, d.state, d.detail);
        match logged.iter_mut().find(|l| l.0 == d.kind) {
            Some(l) if *l == now => {}
            Some(l) => {
                *l = now;
                changed.push(d);
            }
            None => {
                logged.push(now);
                changed.push(d);
            }
        }
    }
    changed
}

/// Starts the polling thread: probes now and every [`POLL_EVERY`], stores the snapshot and
/// calls `publish` when anything changed (and on the first probe).
pub fn spawn_poller(
    config: Config,
    link: Link,
    shared: SharedSnapshot,
    publish: impl Fn(&Snapshot) + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("device-status".into())
        .spawn(move || {
            let mut last: Option<Vec<DeviceStatus>> = None;
            let mut logged: Vec<LoggedState> = Vec::new();
            loop {
                let snap = probe_all(&config, &link);
                for d in changed_states(&mut logged, &snap.devices) {
                    tracing::info!(device = ?d.kind, mode = ?d.mode, state = ?d.state, detail = d.detail, "device status");
                }
                if last.as_ref() != Some(&snap.devices) {
                    last = Some(snap.devices.clone());
                    publish(&snap);
                }
                if let Ok(mut s) = shared.lock() {
                    *s = snap;
                }
                std::thread::sleep(POLL_EVERY);
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(kind: DeviceKind, state: DeviceState, detail: &'static str, ms: u64) -> DeviceStatus {
        let mut params = Map::new();
        params.insert("latencyMs".into(), json!(ms));
        DeviceStatus {
            kind,
            mode: DeviceMode::Simulated,
            state,
            detail,
            params,
        }
    }

    #[test]
    fn a_device_is_logged_when_its_state_changes_not_every_probe() {
        let mut logged = Vec::new();
        let probe = |ms, backend: (DeviceState, &'static str)| {
            vec![
                status(DeviceKind::Reader, DeviceState::Ok, "reader.ready", 0),
                status(DeviceKind::Backend, backend.0, backend.1, ms),
            ]
        };
        let ok = (DeviceState::Ok, "backend.reachable");
        let first = probe(3, ok);
        assert_eq!(
            changed_states(&mut logged, &first).len(),
            2,
            "first probe: all"
        );
        // Only the latency changed: nothing to log.
        assert!(changed_states(&mut logged, &probe(7, ok)).is_empty());
        assert!(changed_states(&mut logged, &probe(2, ok)).is_empty());
        // The backend went away: that device only, once.
        let down = (DeviceState::Error, "backend.unreachable");
        let changed: Vec<DeviceKind> = changed_states(&mut logged, &probe(0, down))
            .iter()
            .map(|d| d.kind)
            .collect();
        assert_eq!(changed, [DeviceKind::Backend]);
        assert!(changed_states(&mut logged, &probe(0, down)).is_empty());
        assert_eq!(
            changed_states(&mut logged, &probe(4, ok)).len(),
            1,
            "and back"
        );
    }

    fn sim() -> Config {
        let mut c = Config::default();
        c.devices.simulate = true;
        c
    }

    #[test]
    fn simulation_reports_simulated_devices_and_never_pretends() {
        let snap = probe_all(&sim(), &Link::default());
        let kinds: Vec<_> = snap.devices.iter().map(|d| d.kind).collect();
        assert_eq!(
            kinds,
            [
                DeviceKind::Reader,
                DeviceKind::Camera,
                DeviceKind::Backend,
                DeviceKind::Trust
            ]
        );
        // No ledger: no trust lists, said as missing, never as fresh.
        assert_eq!(
            (snap.devices[3].state, snap.devices[3].detail),
            (DeviceState::Missing, "trust.missing")
        );
        assert_eq!(snap.devices[0].mode, DeviceMode::Simulated);
        // The virtual reader is only "ok" when pcscd really lists it.
        let listed = madoguchi_card::list_readers();
        match &listed {
            Err(madoguchi_card::ReadersError::ServiceUnavailable) => assert_eq!(
                (snap.devices[0].state, snap.devices[0].detail),
                (DeviceState::Error, "reader.service_down")
            ),
            Ok(rs) if !rs.iter().any(|r| r.name.contains(VIRTUAL_READER)) => {
                assert_eq!(snap.devices[0].state, DeviceState::Missing)
            }
            _ => {}
        }
        assert_eq!(snap.devices[1].mode, DeviceMode::Simulated);
        // The synthetic customer really gives 640×480 frames.
        assert_eq!(
            (snap.devices[1].state, snap.devices[1].detail),
            (DeviceState::Ok, "camera.sim_synthetic")
        );
        assert_eq!(snap.devices[1].params["width"], json!(640));
        assert_eq!(snap.devices[2].detail, "backend.not_configured");
        assert!(snap.probed_at > 0);
    }

    #[test]
    fn hardware_camera_on_a_machine_without_cameras_is_missing() {
        // No /dev/video* on CI: the hardware path must say "no camera", not fail.
        let s = probe_camera(&Config::default());
        assert_eq!(s.mode, DeviceMode::Hardware);
        if madoguchi_camera::list_cameras().unwrap().is_empty() {
            assert_eq!((s.state, s.detail), (DeviceState::Missing, "camera.none"));
        }
    }

    #[test]
    fn unreachable_backend_is_an_error_with_its_url_and_backlog() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let ledger = madoguchi_ledger::Ledger::open_in_memory(
            madoguchi_ledger::DataKey::generate().unwrap(),
        )
        .unwrap();
        ledger.append_event("test.event", &json!({})).unwrap();
        let link = Link {
            url: Some(format!("http://127.0.0.1:{port}")),
            embedded: false,
            ledger: Some(std::sync::Arc::new(ledger)),
            ..Link::default()
        };
        let s = probe_backend(&link);
        assert_eq!(
            (s.state, s.detail),
            (DeviceState::Error, "backend.unreachable")
        );
        assert_eq!(s.mode, DeviceMode::Network);
        assert_eq!(s.params["url"], json!(format!("http://127.0.0.1:{port}")));
        assert_eq!(s.params["backlog"], json!(1));
    }
}
