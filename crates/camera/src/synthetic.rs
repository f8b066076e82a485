//! A synthetic customer for simulation: a face photo composited onto a background with
//! slow motion (sway), scale (leaning in and out) and lighting changes, so that a simulated
//! customer "moves" in front of the kiosk.
//!
//! Each frame is a pure function of its number (time = number / fps): the same source gives
//! the same frames, which the tests rely on. It does not model a real camera's noise or
//! blur; it does not make presentation attacks (the face crate's evaluation does).

use std::time::{Duration, Instant};

use image::{Rgb, RgbImage, imageops};

use crate::{CameraError, Frame, FrameSource, SourceInfo, SourceKind};

/// How much the synthetic customer moves.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Motion {
    /// Horizontal sway amplitude, fraction of frame width.
    pub sway: f32,
    /// Relative scale amplitude (0.15 = ±15 %).
    pub scale: f32,
    /// Relative brightness amplitude (0.25 = ±25 %).
    pub light: f32,
}

impl Default for Motion {
    fn default() -> Self {
        Self {
            sway: 0.06,
            scale: 0.12,
            light: 0.25,
        }
    }
}

/// A face photo moving over a background.
pub struct SyntheticSource {
    photo: RgbImage,
    background: RgbImage,
    motion: Motion,
    fps: f32,
    paced: bool,
    seq: u64,
    started: Option<Instant>,
    name: String,
}

impl SyntheticSource {
    /// `photo` is a portrait (the subject's head and shoulders); `background` is scaled to
    /// `width`×`height`, or a plain office-like gradient is drawn when `None`.
    pub fn new(
        photo: RgbImage,
        background: Option<RgbImage>,
        width: u32,
        height: u32,
        fps: f32,
        paced: bool,
    ) -> Result<Self, CameraError> {
        if width < 32 || height < 32 || photo.width() < 8 || photo.height() < 8 {
            return Err(CameraError::BadSource(
                "synthetic source: image too small".into(),
            ));
        }
        if !(fps.is_finite() && fps > 0.0) {
            return Err(CameraError::BadSource(format!(
                "frame rate {fps} is not > 0"
            )));
        }
        let background = match background {
            Some(b) => imageops::resize(&b, width, height, imageops::FilterType::Triangle),
            None => gradient(width, height),
        };
        // Pre-scale the photo so that at scale 1 it fills 75 % of the frame height.
        let base_h = (height as f32 * 0.75 * (1.0 + Motion::default().scale)) as u32;
        let base_w = (photo.width() as f32 * base_h as f32 / photo.height() as f32).max(1.0) as u32;
        let photo = imageops::resize(&photo, base_w, base_h, imageops::FilterType::Triangle);
        Ok(Self {
            photo,
            background,
            motion: Motion::default(),
            fps,
            paced,
            seq: 0,
            started: None,
            name: "synthetic".into(),
        })
    }

    /// Sets the motion amplitudes.
    pub fn with_motion(mut self, motion: Motion) -> Self {
        self.motion = motion;
        self
    }

    /// Renders frame `n` (without advancing the source).
    pub fn render(&self, n: u64) -> RgbImage {
        let t = n as f32 / self.fps;
        let tau = std::f32::consts::TAU;
        let (w, h) = self.background.dimensions();
        let m = self.motion;
        let s = (1.0 + m.scale * (tau * t / 6.0).sin()) / (1.0 + Motion::default().scale);
        let ph = (self.photo.height() as f32 * s).max(8.0) as u32;
        let pw = (self.photo.width() as f32 * s).max(8.0) as u32;
        let face = imageops::resize(&self.photo, pw, ph, imageops::FilterType::Triangle);
        let cx = w as f32 / 2.0 + m.sway * w as f32 * (tau * t / 7.0).sin();
        let cy = h as f32 / 2.0 + 0.3 * m.sway * h as f32 * (tau * t / 3.3).sin();
        let gain = 1.0 + m.light * (tau * t / 9.0).sin();
        let x0 = cx - pw as f32 / 2.0;
        let y0 = cy - ph as f32 / 2.0;
        let mut out = self.background.clone();
        // Soft-edged ellipse: the portrait blends into the background at its border.
        let (rx, ry) = (pw as f32 / 2.0, ph as f32 / 2.0);
        for (fx, fy, p) in face.enumerate_pixels() {
            let (ox, oy) = (x0 + fx as f32, y0 + fy as f32);
            if ox < 0.0 || oy < 0.0 || ox >= w as f32 || oy >= h as f32 {
                continue;
            }
            let dx = (fx as f32 - rx) / rx;
            let dy = (fy as f32 - ry) / ry;
            let r = (dx * dx + dy * dy).sqrt();
            let alpha = ((1.0 - r) / 0.12).clamp(0.0, 1.0);
            if alpha <= 0.0 {
                continue;
            }
            let dst = out.get_pixel_mut(ox as u32, oy as u32);
            for c in 0..3 {
                let v = alpha * p[c] as f32 + (1.0 - alpha) * dst[c] as f32;
                dst[c] = v.round().clamp(0.0, 255.0) as u8;
            }
        }
        for p in out.pixels_mut() {
            for c in 0..3 {
                p[c] = (p[c] as f32 * gain).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }
}

fn gradient(w: u32, h: u32) -> RgbImage {
    RgbImage::from_fn(w, h, |x, y| {
        let v = 150.0 + 60.0 * (y as f32 / h as f32) - 20.0 * (x as f32 / w as f32);
        let v = v as u8;
        // A darker "door frame" to the left, so the background is not flat.
        if x > w / 12 && x < w / 12 + w / 20 {
            Rgb([v / 2, v / 2, v / 2 + 10])
        } else {
            Rgb([v, v.saturating_sub(6), v.saturating_sub(16)])
        }
    })
}

impl FrameSource for SyntheticSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let n = self.seq;
        let timestamp = Duration::from_secs_f64(n as f64 / self.fps as f64);
        if self.paced {
            let start = *self.started.get_or_insert_with(Instant::now);
            let due = start + timestamp;
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            }
        }
        let image = self.render(n);
        self.seq += 1;
        Ok(Frame {
            image,
            timestamp,
            seq: n,
        })
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::Synthetic,
            name: self.name.clone(),
            width: self.background.width(),
            height: self.background.height(),
            fps: self.fps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn photo() -> RgbImage {
        RgbImage::from_fn(60, 80, |x, y| Rgb([(x * 4) as u8, (y * 3) as u8, 128]))
    }

    fn mean(img: &RgbImage) -> f64 {
        img.pixels()
            .map(|p| p[0] as f64 + p[1] as f64 + p[2] as f64)
            .sum::<f64>()
            / (img.width() * img.height() * 3) as f64
    }

    #[test]
    fn frames_have_the_requested_size_and_change_over_time() {
        let mut src = SyntheticSource::new(photo(), None, 160, 120, 10.0, false).expect("new");
        let a = src.next_frame().expect("f0");
        assert_eq!(a.image.dimensions(), (160, 120));
        for _ in 0..14 {
            src.next_frame().expect("frame");
        }
        let b = src.next_frame().expect("f15");
        assert_eq!(b.seq, 15);
        assert_eq!(b.timestamp, Duration::from_millis(1500));
        assert_ne!(a.image, b.image, "the customer moves");
        assert!(
            (mean(&a.image) - mean(&b.image)).abs() > 1.0,
            "lighting changes"
        );
    }

    #[test]
    fn rendering_is_deterministic() {
        let src = SyntheticSource::new(photo(), None, 96, 64, 15.0, false).expect("new");
        assert_eq!(src.render(33), src.render(33));
    }

    #[test]
    fn the_photo_is_visible_in_the_centre() {
        let src = SyntheticSource::new(photo(), None, 200, 150, 15.0, false)
            .expect("new")
            .with_motion(Motion {
                sway: 0.0,
                scale: 0.0,
                light: 0.0,
            });
        let f = src.render(0);
        // The photo's blue channel is 128 everywhere; the gradient's blue is lower or
        // higher but never exactly the photo's red/green ramp at the centre.
        let c = f.get_pixel(100, 75);
        assert_eq!(c[2], 128);
    }

    #[test]
    fn too_small_or_bad_rate_is_rejected() {
        assert!(SyntheticSource::new(photo(), None, 8, 8, 15.0, false).is_err());
        assert!(SyntheticSource::new(photo(), None, 64, 64, f32::NAN, false).is_err());
    }
}
