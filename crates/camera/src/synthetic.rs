//! A synthetic customer for simulation: a face photo composited onto a background with
//! slow motion (sway), scale (leaning in and out) and lighting changes, so that a simulated
//! customer "moves" in front of the kiosk.
//!
//! It can also turn the head ([`Turn::Head`]: a depth-dependent warp of the face, so the
//! nose moves further than the eyes, as when a real head turns — what the kiosk's "turn your
//! head" challenge looks for) or tilt the whole photo like a print held up and rotated
//! ([`Turn::FlatPrint`]: every point of the flat picture foreshortened alike — the attack the
//! challenge must reject).
//!
//! Each frame is a pure function of its number (time = number / fps): the same source gives
//! the same frames, which the tests rely on. It does not model a real camera's noise or
//! blur; the still-image attacks (prints, screens, cut-outs) are made by the face crate's
//! evaluation.

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

/// What turns during a [`TurnSchedule`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Turn {
    /// The head turns: points of the face move by their depth × sin(angle). `face` is the
    /// face box `[x, y, w, h]` in the original photo's pixels.
    Head {
        /// Face box in the photo given to [`SyntheticSource::new`].
        face: [f32; 4],
    },
    /// The whole flat picture rotates about its vertical axis (a print held up and turned).
    FlatPrint,
}

/// A turn over time: from `start` the angle rises to `degrees` over `ramp`, holds for
/// `hold`, and returns over `ramp`. Positive degrees move the nose toward the image's right.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TurnSchedule {
    /// What turns.
    pub turn: Turn,
    /// Peak angle, degrees (signed).
    pub degrees: f32,
    /// When the turn starts.
    pub start: Duration,
    /// Time to reach the peak (and to come back).
    pub ramp: Duration,
    /// Time held at the peak.
    pub hold: Duration,
}

impl TurnSchedule {
    /// A customer's turn following a prompt: from `start`, half a second to turn to
    /// `degrees`, 0.3 s held, half a second back.
    pub fn customer(turn: Turn, degrees: f32, start: Duration) -> Self {
        Self {
            turn,
            degrees,
            start,
            ramp: Duration::from_millis(500),
            hold: Duration::from_millis(300),
        }
    }

    /// The angle at time `t`, degrees.
    pub fn angle(&self, t: Duration) -> f32 {
        let (t, s) = (t.as_secs_f32(), self.start.as_secs_f32());
        let (r, h) = (self.ramp.as_secs_f32().max(1e-3), self.hold.as_secs_f32());
        let k = if t < s {
            0.0
        } else if t < s + r {
            (t - s) / r
        } else if t < s + r + h {
            1.0
        } else if t < s + 2.0 * r + h {
            1.0 - (t - s - r - h) / r
        } else {
            0.0
        };
        // Smooth start and stop, like a neck.
        let k = 0.5 - 0.5 * (std::f32::consts::PI * k).cos();
        self.degrees * k
    }
}

/// A face photo moving over a background.
pub struct SyntheticSource {
    photo: RgbImage,
    /// Original photo pixels → pre-scaled photo pixels.
    photo_scale: f32,
    background: RgbImage,
    motion: Motion,
    turn: Option<TurnSchedule>,
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
        let photo_scale = base_h as f32 / photo.height() as f32;
        let photo = imageops::resize(&photo, base_w, base_h, imageops::FilterType::Triangle);
        Ok(Self {
            photo,
            photo_scale,
            background,
            motion: Motion::default(),
            turn: None,
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

    /// Adds a head turn or a flat-print tilt (see [`Turn`]).
    pub fn with_turn(mut self, turn: TurnSchedule) -> Self {
        self.turn = Some(turn);
        self
    }

    /// Renders frame `n` (without advancing the source).
    pub fn render(&self, n: u64) -> RgbImage {
        let t = n as f32 / self.fps;
        let tau = std::f32::consts::TAU;
        let (w, h) = self.background.dimensions();
        let m = self.motion;
        let s = (1.0 + m.scale * (tau * t / 6.0).sin()) / (1.0 + Motion::default().scale);
        let angle = self
            .turn
            .map_or(0.0, |tr| tr.angle(Duration::from_secs_f32(t)))
            .to_radians();
        // A flat print foreshortens as a whole.
        let squeeze = match self.turn {
            Some(TurnSchedule {
                turn: Turn::FlatPrint,
                ..
            }) => angle.cos(),
            _ => 1.0,
        };
        let ph = (self.photo.height() as f32 * s).max(8.0) as u32;
        let pw = (self.photo.width() as f32 * s * squeeze).max(8.0) as u32;
        let mut face = imageops::resize(&self.photo, pw, ph, imageops::FilterType::Triangle);
        if let Some(TurnSchedule {
            turn: Turn::Head { face: b },
            ..
        }) = self.turn
            && angle != 0.0
        {
            let k = self.photo_scale * s;
            face = turn_head(&face, [b[0] * k, b[1] * k, b[2] * k, b[3] * k], angle);
        }
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

/// Warps the head in `img` (face box `b`) as if it turned by `angle` radians about a vertical
/// axis: a point at depth z in front of that axis moves sideways by z·sin(angle). The head is
/// an ellipsoid as wide as the face box with a nose on it; the depth is 0 at the head's
/// outline, so the warp joins the unmoved picture around it without a seam.
fn turn_head(img: &RgbImage, b: [f32; 4], angle: f32) -> RgbImage {
    let (cx, cy) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
    let (a, bb) = (0.62 * b[2], 0.72 * b[3]);
    // The nose tip: a little below the box centre (YuNet boxes reach from brow to chin).
    let (nx, ny) = (cx, b[1] + 0.55 * b[3]);
    let sin = angle.sin();
    let depth = |x: f32, y: f32| {
        let (u, v) = ((x - cx) / a, (y - cy) / bb);
        let r = 1.0 - u * u - v * v;
        if r <= 0.0 {
            return 0.0;
        }
        let head = a * r.sqrt();
        let (du, dv) = ((x - nx) / (0.22 * b[2]), (y - ny) / (0.3 * b[3]));
        head + 0.22 * b[2] * (-(du * du + dv * dv)).exp() * r.sqrt()
    };
    let mut out = img.clone();
    let (w, h) = img.dimensions();
    let (y0, y1) = ((cy - bb).max(0.0) as u32, ((cy + bb) as u32).min(h));
    let (x0, x1) = (
        (cx - a * 1.5).max(0.0) as u32,
        ((cx + a * 1.5) as u32).min(w),
    );
    for y in y0..y1 {
        for x in x0..x1 {
            // Inverse map: the source point whose shifted position lands here (the depth
            // at the destination is close enough for angles of a few tens of degrees).
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let mut sx = xf - depth(xf, yf) * sin;
            sx = xf - depth(sx, yf) * sin;
            let px = (sx - 0.5).clamp(0.0, (w - 1) as f32);
            let (i, f) = (px.floor() as u32, px.fract());
            let j = (i + 1).min(w - 1);
            let (p, q) = (img.get_pixel(i, y), img.get_pixel(j, y));
            let dst = out.get_pixel_mut(x, y);
            for c in 0..3 {
                dst[c] = ((1.0 - f) * p[c] as f32 + f * q[c] as f32).round() as u8;
            }
        }
    }
    out
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
            crate::wait_until_due(&mut self.started, timestamp);
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
    fn a_turn_schedule_rises_holds_and_returns() {
        let s = TurnSchedule {
            turn: Turn::FlatPrint,
            degrees: -30.0,
            start: Duration::from_secs(1),
            ramp: Duration::from_millis(500),
            hold: Duration::from_millis(500),
        };
        assert_eq!(s.angle(Duration::ZERO), 0.0);
        assert!((s.angle(Duration::from_millis(1250)) + 15.0).abs() < 0.01);
        assert_eq!(s.angle(Duration::from_millis(1700)), -30.0);
        assert_eq!(s.angle(Duration::from_secs(3)), 0.0);
    }

    #[test]
    fn a_head_turn_moves_the_face_centre_more_than_its_edges_and_a_print_squeezes() {
        let still = Motion {
            sway: 0.0,
            scale: 0.0,
            light: 0.0,
        };
        let turn = |turn| TurnSchedule {
            turn,
            degrees: 25.0,
            start: Duration::ZERO,
            ramp: Duration::from_millis(100),
            hold: Duration::from_secs(10),
        };
        let src = |t| {
            SyntheticSource::new(photo(), None, 200, 150, 10.0, false)
                .expect("new")
                .with_motion(still)
                .with_turn(turn(t))
        };
        let head = src(Turn::Head {
            face: [10.0, 10.0, 40.0, 50.0],
        });
        let (a, b) = (head.render(0), head.render(20));
        assert_eq!(a, src(Turn::FlatPrint).render(0), "angle 0 at the start");
        // The photo's red channel ramps with x: at the centre of the face the turned
        // frame shows a pixel from further left (smaller red) — the face moved right.
        let (ca, cb) = (a.get_pixel(100, 75)[0], b.get_pixel(100, 75)[0]);
        assert!(cb + 8 < ca, "centre moved: {ca} → {cb}");
        let print = src(Turn::FlatPrint).render(20);
        let width = |f: &RgbImage| (0..200).filter(|x| f.get_pixel(*x, 75)[2] == 128).count();
        assert!(
            width(&print) < width(&a),
            "{} < {}",
            width(&print),
            width(&a)
        );
    }

    #[test]
    fn too_small_or_bad_rate_is_rejected() {
        assert!(SyntheticSource::new(photo(), None, 8, 8, 15.0, false).is_err());
        assert!(SyntheticSource::new(photo(), None, 64, 64, f32::NAN, false).is_err());
    }
}
