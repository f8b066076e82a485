//! Frame sources for the kiosk's camera, behind the [`FrameSource`] trait this crate owns:
//!
//! - [`webcam::WebcamSource`]: a real camera through `nokhwa` (open by index or name,
//!   negotiate resolution and frame rate, MJPEG/YUYV decoded to RGB, reopened after an unplug
//!   through [`reconnect::Reconnecting`]);
//! - [`recorded::RecordedSource`]: a folder of frames with optional timing, looping;
//! - [`synthetic::SyntheticSource`]: a face photo composited onto a background with motion,
//!   scale and lighting changes, so that a simulated customer "moves";
//! - [`pump::Pumped`]: any source read on its own thread at the camera's pace, the newest
//!   frame for the reader and every frame for a tap (the live preview).
//!
//! Also [`list_cameras`] for the device status and diagnostics.
//!
//! What it must not do: judge faces (that is `face`), store or log frames (they show a
//! person: [`Frame`]'s `Debug` prints only its size), or know about Tauri, the UI, the
//! database or the network.

pub mod pump;
pub mod reconnect;
pub mod recorded;
pub mod synthetic;
pub mod webcam;

use std::time::Duration;

pub use image::RgbImage;
use serde::Serialize;

/// A camera the operating system offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CameraInfo {
    /// Index to open it by.
    pub index: String,
    /// Human-readable name.
    pub name: String,
}

/// Why a camera or frame source failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CameraError {
    /// The platform camera API failed.
    #[error("camera API error: {0}")]
    Backend(String),
    /// No camera matches the selector (index or name substring).
    #[error("no camera matches `{0}`")]
    NotFound(String),
    /// The camera went away (unplugged) and could not be reopened.
    #[error("camera disconnected: {0}")]
    Disconnected(String),
    /// A frame could not be decoded.
    #[error("frame decode failed: {0}")]
    Decode(String),
    /// A recorded clip or synthetic source is unusable (empty folder, bad timing file…).
    #[error("bad frame source: {0}")]
    BadSource(String),
    /// Reading a file failed.
    #[error("i/o error on {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        source: std::io::Error,
    },
}

/// One RGB frame. Its pixels show a person: `Debug` prints only the size and timing.
#[derive(Clone)]
pub struct Frame {
    /// The picture, RGB8.
    pub image: RgbImage,
    /// Time since the source started (recorded: the clip's timing).
    pub timestamp: Duration,
    /// Frame number from the source's start, counting across loops.
    pub seq: u64,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.image.width())
            .field("height", &self.image.height())
            .field("timestamp", &self.timestamp)
            .field("seq", &self.seq)
            .field("pixels", &"<redacted>")
            .finish()
    }
}

/// What kind of source produces the frames (shown on the device status).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    /// A real camera.
    Webcam,
    /// Recorded frames.
    Recorded,
    /// A synthetic customer.
    Synthetic,
}

/// Description of an open source.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SourceInfo {
    /// Kind of source.
    pub kind: SourceKind,
    /// Camera name, or folder/photo name (no personal data: file names of fixtures).
    pub name: String,
    /// Frame width in pixels.
    pub width: u32,
    /// Frame height in pixels.
    pub height: u32,
    /// Nominal frames per second.
    pub fps: f32,
}

/// Pacing of played-back sources (recorded, synthetic): sleeps until `timestamp` after the
/// first call (`started` is set then), so frames come at camera speed.
pub(crate) fn wait_until_due(started: &mut Option<std::time::Instant>, timestamp: Duration) {
    let start = *started.get_or_insert_with(std::time::Instant::now);
    let due = start + timestamp;
    let now = std::time::Instant::now();
    if due > now {
        std::thread::sleep(due - now);
    }
}

/// A source of frames. `next_frame` blocks until the next frame is due (a webcam waits for
/// the device; recorded and synthetic sources wait only when paced).
pub trait FrameSource: Send {
    /// The next frame.
    fn next_frame(&mut self) -> Result<Frame, CameraError>;
    /// What this source is.
    fn info(&self) -> SourceInfo;
}

impl<S: FrameSource + ?Sized> FrameSource for Box<S> {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        (**self).next_frame()
    }
    fn info(&self) -> SourceInfo {
        (**self).info()
    }
}

/// The source `--simulate` uses: the recorded clip in `clip_dir` when given (paced at its
/// timing, 15 frames/s without `timing.txt`), else a synthetic customer made from `photo`
/// at 640×480, 15 frames/s, paced.
pub fn simulated_source(
    clip_dir: Option<&std::path::Path>,
    photo: &std::path::Path,
) -> Result<Box<dyn FrameSource>, CameraError> {
    if let Some(dir) = clip_dir {
        return Ok(Box::new(recorded::RecordedSource::open(dir, 15.0, true)?));
    }
    let img = image::open(photo)
        .map_err(|e| CameraError::Decode(format!("{}: {e}", photo.display())))?
        .to_rgb8();
    Ok(Box::new(synthetic::SyntheticSource::new(
        img, None, 640, 480, 15.0, true,
    )?))
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

    #[test]
    fn simulated_source_prefers_the_clip_then_the_photo() {
        let dir = tempfile::tempdir().expect("tempdir");
        let photo = dir.path().join("p.png");
        RgbImage::from_pixel(40, 50, image::Rgb([9, 9, 9]))
            .save(&photo)
            .expect("save");
        let s = simulated_source(None, &photo).expect("synthetic");
        assert_eq!(s.info().kind, SourceKind::Synthetic);
        assert_eq!((s.info().width, s.info().height), (640, 480));
        let s = simulated_source(Some(dir.path()), &photo).expect("recorded");
        assert_eq!(s.info().kind, SourceKind::Recorded);
        assert!(simulated_source(None, &dir.path().join("missing.png")).is_err());
    }

    #[test]
    fn frame_debug_shows_no_pixels() {
        let f = Frame {
            image: RgbImage::from_pixel(3, 2, image::Rgb([200, 100, 50])),
            timestamp: Duration::from_millis(5),
            seq: 7,
        };
        let s = format!("{f:?}");
        assert!(s.contains("width: 3") && s.contains("<redacted>"));
        assert!(!s.contains("200"), "pixel values leaked: {s}");
    }
}
