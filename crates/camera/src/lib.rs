//! Frame sources for the kiosk's camera: webcams through `nokhwa`; recorded clips and a
//! synthetic customer for simulation arrive with the face issue, behind a `FrameSource`
//! trait this crate owns.
//!
//! Today: listing the cameras the operating system offers ([`list_cameras`]), for the
//! device status and diagnostics.
//!
//! What it must not do: judge faces (that is `face`), store frames, or know about Tauri,
//! the UI, the database or the network.

use serde::Serialize;

/// A camera the operating system offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Index to open it by.
    pub index: String,
    /// Human-readable name.
    pub name: String,
}

/// Why cameras could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// The platform camera API failed.
    #[error("camera API error: {0}")]
    Backend(String),
}

/// Lists the cameras. No camera is an empty list, not an error (machines without
/// `/dev/video*` give exactly that).
pub fn list_cameras() -> Result<Vec<CameraInfo>, CameraError> {
    let found = nokhwa::query(nokhwa::utils::ApiBackend::Auto)
        .map_err(|e| CameraError::Backend(e.to_string()))?;
    Ok(found
        .into_iter()
        .map(|c| CameraInfo {
            index: c.index().to_string(),
            name: c.human_name(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// These machines have no camera: listing must still succeed, and every entry it
    /// gives (on a machine with cameras) must have a name.
    #[test]
    fn listing_cameras_succeeds_without_hardware() {
        let cams = list_cameras().expect("listing cameras must not fail without a camera");
        assert!(cams.iter().all(|c| !c.name.is_empty()));
    }
}
