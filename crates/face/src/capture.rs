//! The capture loop's frame choice: within a time window, keep the frame whose face has the
//! best overall quality, and say what to tell the customer meanwhile.
//!
//! It does not run models (it is fed detections and quality by the worker) and does not
//! keep more than the one best frame.

use std::time::Duration;

use madoguchi_camera::Frame;

use crate::detect::Detection;
use crate::guidance::{self, Guidance};
use crate::quality::Quality;

/// A frame with its analysed face. Holds a picture of a person: `Debug` shows no pixels.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// The frame.
    pub frame: Frame,
    /// The subject's detection.
    pub detection: Detection,
    /// Its quality.
    pub quality: Quality,
}

/// Best-frame selection over a window starting at the first frame offered.
#[derive(Debug)]
pub struct CaptureWindow {
    window: Duration,
    min_quality: f32,
    start: Option<Duration>,
    best: Option<Candidate>,
    frames: u64,
}

/// What one frame did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Offered {
    /// Message for the customer.
    pub guidance: Guidance,
    /// This frame is now the best.
    pub new_best: bool,
    /// The window is over (choose [`CaptureWindow::best`]).
    pub done: bool,
}

impl CaptureWindow {
    /// A window of `window` length; frames below `min_quality` (thresholds file) are never
    /// chosen.
    pub fn new(window: Duration, min_quality: f32) -> Self {
        Self {
            window,
            min_quality,
            start: None,
            best: None,
            frames: 0,
        }
    }

    /// Offers a frame with the faces found in it (best first) and the subject's quality.
    pub fn offer(
        &mut self,
        frame: &Frame,
        faces: &[Detection],
        subject: Option<(Detection, Quality)>,
    ) -> Offered {
        self.frames += 1;
        let start = *self.start.get_or_insert(frame.timestamp);
        let done = frame.timestamp.saturating_sub(start) >= self.window;
        let guidance = guidance::for_quality(faces.len(), subject.as_ref().map(|s| &s.1));
        let mut new_best = false;
        if let Some((d, q)) = subject {
            let better = self
                .best
                .as_ref()
                .is_none_or(|b| q.overall > b.quality.overall);
            if q.overall >= self.min_quality && q.single_face >= 50.0 && better {
                self.best = Some(Candidate {
                    frame: frame.clone(),
                    detection: d,
                    quality: q,
                });
                new_best = true;
            }
        }
        Offered {
            guidance,
            new_best,
            done,
        }
    }

    /// The best frame so far.
    pub fn best(&self) -> Option<&Candidate> {
        self.best.as_ref()
    }

    /// Takes the best frame, ending the window.
    pub fn take_best(&mut self) -> Option<Candidate> {
        self.best.take()
    }

    /// Frames offered.
    pub fn frames(&self) -> u64 {
        self.frames
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::Template;

    fn det() -> Detection {
        Detection {
            bbox: [200.0, 100.0, 100.0, 120.0],
            score: 0.9,
            landmarks: Template::ArcFace112.points(),
        }
    }

    fn q(overall: f32) -> Quality {
        Quality {
            single_face: 100.0,
            face_size: overall,
            pose: 100.0,
            sharpness: 100.0,
            exposure: 100.0,
            illumination: 100.0,
            margins: 100.0,
            overall,
            yaw: 0.0,
            pitch: 0.0,
            roll: 0.0,
            inter_eye_px: 40.0,
            exposure_dark: false,
        }
    }

    fn frame(ms: u64) -> Frame {
        Frame {
            image: image::RgbImage::new(4, 4),
            timestamp: Duration::from_millis(ms),
            seq: ms,
        }
    }

    #[test]
    fn keeps_the_best_frame_and_ends_with_the_window() {
        let mut w = CaptureWindow::new(Duration::from_millis(300), 40.0);
        assert!(
            w.offer(&frame(0), &[det()], Some((det(), q(50.0))))
                .new_best
        );
        assert!(
            !w.offer(&frame(100), &[det()], Some((det(), q(45.0))))
                .new_best
        );
        assert!(
            !w.offer(&frame(150), &[det()], Some((det(), q(30.0))))
                .new_best,
            "below minimum"
        );
        let o = w.offer(&frame(200), &[det()], Some((det(), q(80.0))));
        assert!(o.new_best && !o.done);
        assert!(w.offer(&frame(300), &[], None).done);
        assert_eq!(w.best().map(|b| b.frame.seq), Some(200));
        assert_eq!(w.frames(), 5);
    }

    #[test]
    fn no_face_asks_to_face_the_camera() {
        let mut w = CaptureWindow::new(Duration::from_secs(1), 40.0);
        assert_eq!(w.offer(&frame(0), &[], None).guidance.code, "face.none");
        assert!(w.best().is_none());
    }
}
