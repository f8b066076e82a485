//! Recovery after an unplug: [`Reconnecting`] wraps a source opener and, when a frame fails
//! with a device error, drops the source and reopens it with back-off, up to a limit.
//!
//! It does not retry decode errors of a single frame forever: those are passed on after the
//! same limit, so that the caller can report the camera as broken.

use std::time::Duration;

use crate::{CameraError, Frame, FrameSource, SourceInfo};

/// Opens (or reopens) a source.
pub type Opener = Box<dyn FnMut() -> Result<Box<dyn FrameSource>, CameraError> + Send>;

/// A source that reopens its device after failures.
pub struct Reconnecting {
    open: Opener,
    current: Option<Box<dyn FrameSource>>,
    last_info: Option<SourceInfo>,
    /// Attempts to reopen before giving up with [`CameraError::Disconnected`].
    pub max_attempts: u32,
    /// Wait before the first reopen; doubled each further attempt.
    pub backoff: Duration,
    reconnects: u64,
}

impl Reconnecting {
    /// Opens the source once now (failing if it cannot be opened at all).
    pub fn new(mut open: Opener) -> Result<Self, CameraError> {
        let first = open()?;
        let info = first.info();
        Ok(Self {
            open,
            current: Some(first),
            last_info: Some(info),
            max_attempts: 5,
            backoff: Duration::from_millis(200),
            reconnects: 0,
        })
    }

    /// How many times the device was reopened.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }
}

impl FrameSource for Reconnecting {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let mut last_err = None;
        let mut wait = self.backoff;
        for attempt in 0..=self.max_attempts {
            if self.current.is_none() {
                if attempt > 0 {
                    std::thread::sleep(wait);
                    wait = wait.saturating_mul(2);
                }
                match (self.open)() {
                    Ok(s) => {
                        tracing::info!(attempt, "camera reopened");
                        self.last_info = Some(s.info());
                        self.current = Some(s);
                        self.reconnects += 1;
                    }
                    Err(e) => {
                        tracing::warn!(attempt, error = %e, "camera reopen failed");
                        last_err = Some(e);
                        continue;
                    }
                }
            }
            let Some(src) = self.current.as_mut() else {
                continue;
            };
            match src.next_frame() {
                Ok(f) => return Ok(f),
                Err(e) => {
                    tracing::warn!(error = %e, "camera frame failed; reopening");
                    self.current = None;
                    last_err = Some(e);
                }
            }
        }
        Err(CameraError::Disconnected(
            last_err.map_or_else(|| "no frame".to_owned(), |e| e.to_string()),
        ))
    }

    fn info(&self) -> SourceInfo {
        match (&self.current, &self.last_info) {
            (Some(s), _) => s.info(),
            (None, Some(i)) => i.clone(),
            (None, None) => SourceInfo {
                kind: crate::SourceKind::Webcam,
                name: String::new(),
                width: 0,
                height: 0,
                fps: 0.0,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Arc,
        atomic::{AtomicU32, Ordering},
    };

    use super::*;
    use crate::{RgbImage, SourceKind};

    /// A fake device that delivers `frames_before_unplug` frames, then fails like an
    /// unplugged camera.
    struct Flaky {
        left: u32,
    }
    impl FrameSource for Flaky {
        fn next_frame(&mut self) -> Result<Frame, CameraError> {
            if self.left == 0 {
                return Err(CameraError::Backend("device gone (ENODEV)".into()));
            }
            self.left -= 1;
            Ok(Frame {
                image: RgbImage::new(4, 4),
                timestamp: Duration::ZERO,
                seq: 0,
            })
        }
        fn info(&self) -> SourceInfo {
            SourceInfo {
                kind: SourceKind::Webcam,
                name: "fake".into(),
                width: 4,
                height: 4,
                fps: 30.0,
            }
        }
    }

    #[test]
    fn simulated_unplug_then_replug_recovers() {
        let opens = Arc::new(AtomicU32::new(0));
        let o = opens.clone();
        // First open works; the device then unplugs after 2 frames; the next two reopen
        // attempts fail (not yet replugged), the third works.
        let opener: Opener = Box::new(move || {
            let n = o.fetch_add(1, Ordering::SeqCst);
            match n {
                0 => Ok(Box::new(Flaky { left: 2 })),
                1 | 2 => Err(CameraError::NotFound("0".into())),
                _ => Ok(Box::new(Flaky { left: 10 })),
            }
        });
        let mut src = Reconnecting::new(opener).expect("first open");
        src.backoff = Duration::from_millis(1);
        for _ in 0..5 {
            src.next_frame().expect("frames continue across the unplug");
        }
        assert_eq!(src.reconnects(), 1);
        assert_eq!(opens.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn simulated_unplug_without_replug_reports_disconnected() {
        let mut first = true;
        let opener: Opener = Box::new(move || {
            if std::mem::take(&mut first) {
                Ok(Box::new(Flaky { left: 1 }))
            } else {
                Err(CameraError::NotFound("0".into()))
            }
        });
        let mut src = Reconnecting::new(opener).expect("first open");
        src.backoff = Duration::from_millis(1);
        src.max_attempts = 3;
        src.next_frame().expect("one frame before unplug");
        let err = src.next_frame().expect_err("no device after unplug");
        assert!(matches!(err, CameraError::Disconnected(_)), "{err}");
        assert_eq!(src.info().name, "fake", "last known info is kept");
    }
}
