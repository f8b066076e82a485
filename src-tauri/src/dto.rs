//! What crosses to the web side, and only that: plain serialisable data with codes the UI
//! translates (the UI never matches English text), and errors as `{code, message}` with no
//! personal data in them.

use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UiError {
    /// Stable machine-readable code, e.g. `status.unavailable`.
    pub code: &'static str,
    /// Human-readable English detail for the technician; the UI shows its own translation of
    /// `code` to tellers and customers.
    pub message: String,
}

/// The kiosk's identity and state, for both screens.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KioskStatus {
    /// `madoguchi` version.
    pub version: &'static str,
    /// Kiosk id.
    pub kiosk_id: String,
    /// Branch code.
    pub branch_code: String,
    /// Language the screens start in (`ja` / `en`).
    pub language: &'static str,
    /// Running on the simulators.
    pub simulate: bool,
    /// Screens share one window.
    pub single_screen: bool,
    /// The devices, in a fixed order: reader, camera, backend. Empty until the first probe
    /// finished.
    pub devices: Vec<DeviceStatus>,
    /// Seconds since the UNIX epoch when `devices` was probed; 0 before the first probe.
    pub probed_at: u64,
}

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// The PC/SC card reader.
    Reader,
    /// The webcam.
    Camera,
    /// The central backend link.
    Backend,
}

/// Hardware or simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceMode {
    /// Real device.
    Hardware,
    /// Simulator.
    Simulated,
    /// A network link (the backend).
    Network,
}

/// How the device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Present and working.
    Ok,
    /// Not there (nothing attached, simulator not available, nothing configured).
    Missing,
    /// There but failing.
    Error,
}

/// One device's status. `detail` is a code the UI translates; `params` fills it in; `info`
/// is technician English (never personal data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    /// Which device.
    pub kind: DeviceKind,
    /// Hardware or simulator.
    pub mode: DeviceMode,
    /// How it is.
    pub state: DeviceState,
    /// Translation code, e.g. `reader.none`.
    pub detail: &'static str,
    /// Values for the translation (reader name, latency …).
    pub params: serde_json::Map<String, serde_json::Value>,
}
