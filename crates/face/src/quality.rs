//! Face image quality, following the ISO/IEC 29794-5 measures that can be computed from a
//! frame, the detector's output and the aligned chip (OFIQ is the reference implementation;
//! these are simpler approximations, each mapped to 0–100):
//! single face present, face size (inter-eye distance), head pose (yaw/pitch/roll estimated
//! from the 5 landmarks), sharpness (variance of the Laplacian), exposure (mean luma and
//! clipping), illumination uniformity (left/right luma balance), crop margins.
//!
//! It does not judge liveness (that is `pad`) or identity.

use image::RgbImage;
use serde::Serialize;

use crate::detect::Detection;
use crate::imgops::luma;

/// The quality components, each 0–100 (100 best), and the estimated pose.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Quality {
    /// 100 when exactly one face; lower when other faces are visible.
    pub single_face: f32,
    /// From the inter-eye distance (100 at ≥ 60 px).
    pub face_size: f32,
    /// From yaw, pitch, roll (100 frontal).
    pub pose: f32,
    /// Sharpness of the face chip.
    pub sharpness: f32,
    /// Brightness of the face (100 for mid-grey faces, low when dark, bright or clipped).
    pub exposure: f32,
    /// Balance of the left and right halves of the face.
    pub illumination: f32,
    /// Distance of the face box from the frame edges.
    pub margins: f32,
    /// Combined score: the mean of the components, capped at 20 above the worst one.
    pub overall: f32,
    /// Estimated yaw in degrees (+ = the face turned toward the image's right).
    pub yaw: f32,
    /// Estimated pitch in degrees (+ = looking down).
    pub pitch: f32,
    /// Roll in degrees (eye line angle).
    pub roll: f32,
    /// Inter-eye distance in pixels.
    pub inter_eye_px: f32,
    /// Whether a poor exposure is on the dark side (else bright).
    pub exposure_dark: bool,
}

fn ramp(v: f32, lo: f32, hi: f32) -> f32 {
    (100.0 * (v - lo) / (hi - lo)).clamp(0.0, 100.0)
}

/// Head pose from the 5 landmarks: (yaw, pitch, roll) in degrees. A geometric estimate
/// (nose offset from the eye–mouth midline), good to a few degrees near frontal.
pub fn pose(d: &Detection) -> (f32, f32, f32) {
    let [re, le, nose, rm, lm] = d.landmarks;
    let roll = (le[1] - re[1]).atan2(le[0] - re[0]).to_degrees();
    // Rotate into the eye-line frame.
    let (c, s) = (roll.to_radians().cos(), roll.to_radians().sin());
    let rot = |p: [f32; 2]| [c * p[0] + s * p[1], -s * p[0] + c * p[1]];
    let (re, le, nose, rm, lm) = (rot(re), rot(le), rot(nose), rot(rm), rot(lm));
    let eye_mid = [(re[0] + le[0]) / 2.0, (re[1] + le[1]) / 2.0];
    let mouth_mid = [(rm[0] + lm[0]) / 2.0, (rm[1] + lm[1]) / 2.0];
    let ied = (le[0] - re[0]).abs().max(1.0);
    let mid_x = (eye_mid[0] + mouth_mid[0]) / 2.0;
    // Nose tip about 0.55 IED in front of the eye–mouth plane.
    let yaw = ((nose[0] - mid_x) / (0.55 * ied))
        .clamp(-1.0, 1.0)
        .asin()
        .to_degrees();
    let face_h = (mouth_mid[1] - eye_mid[1]).max(1.0);
    // Frontal faces have the nose tip ~55 % of the way from eyes to mouth.
    let rel = (nose[1] - eye_mid[1]) / face_h - 0.55;
    let pitch = (rel / 0.5).clamp(-1.0, 1.0).asin().to_degrees();
    (yaw, pitch, roll)
}

/// Variance of the 4-neighbour Laplacian over a luma buffer.
pub fn laplacian_variance(l: &[f32], w: usize, h: usize) -> f32 {
    if w < 3 || h < 3 {
        return 0.0;
    }
    let mut sum = 0.0f64;
    let mut sum2 = 0.0f64;
    let mut n = 0.0f64;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let v = (4.0 * l[i] - l[i - 1] - l[i + 1] - l[i - w] - l[i + w]) as f64;
            sum += v;
            sum2 += v * v;
            n += 1.0;
        }
    }
    let m = sum / n;
    (sum2 / n - m * m) as f32
}

/// Computes the components. `chip` is the aligned 112×112 (or 150×150) face; `faces` are
/// all detections in the frame (best first); `d` is the one judged.
pub fn assess(frame: (u32, u32), d: &Detection, faces: &[Detection], chip: &RgbImage) -> Quality {
    let ied = d.inter_eye();
    // Another face at least half as large as the subject's makes the capture ambiguous.
    let others = faces
        .iter()
        .filter(|o| *o != d && o.bbox[2] >= 0.5 * d.bbox[2])
        .count();
    let single_face = if others == 0 {
        100.0
    } else if faces.len() > 1 {
        0.0
    } else {
        100.0
    };
    let face_size = ramp(ied, 20.0, 60.0);
    let (yaw, pitch, roll) = pose(d);
    let pose_q = (100.0
        - 100.0
            * (yaw.abs() / 35.0)
                .max(pitch.abs() / 35.0)
                .max(roll.abs() / 30.0))
    .clamp(0.0, 100.0);
    let (cw, ch) = (chip.width() as usize, chip.height() as usize);
    let l = luma(chip);
    // Inner face region (avoid background corners of the chip).
    let (x0, x1, y0, y1) = (cw / 5, cw - cw / 5, ch / 5, ch - ch / 10);
    let mut inner = Vec::with_capacity((x1 - x0) * (y1 - y0));
    let (mut left, mut right, mut nl, mut nr) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    let mut clipped = 0usize;
    for y in y0..y1 {
        for x in x0..x1 {
            let v = l[y * cw + x];
            inner.push(v);
            if !(8.0..=247.0).contains(&v) {
                clipped += 1;
            }
            if x < cw / 2 {
                left += v;
                nl += 1.0;
            } else {
                right += v;
                nr += 1.0;
            }
        }
    }
    let mean = inner.iter().sum::<f32>() / inner.len().max(1) as f32;
    let clip_frac = clipped as f32 / inner.len().max(1) as f32;
    let exposure = (ramp(mean, 30.0, 90.0).min(ramp(mean, 235.0, 175.0)) - 300.0 * clip_frac)
        .clamp(0.0, 100.0);
    let (ml, mr) = (left / nl.max(1.0), right / nr.max(1.0));
    let imbalance = (ml - mr).abs() / (ml + mr).max(1.0);
    let illumination = (100.0 - 250.0 * imbalance).clamp(0.0, 100.0);
    // Sharpness normalised by contrast so that dim but sharp faces are not penalised.
    let lv = laplacian_variance(&l, cw, ch);
    let sharp_norm = lv.sqrt() / (mean.max(20.0) / 128.0);
    let sharpness = ramp(sharp_norm, 3.0, 12.0);
    let (fw, fh) = (frame.0 as f32, frame.1 as f32);
    let [bx, by, bw, bh] = d.bbox;
    let margin = (bx / bw)
        .min(by / bh)
        .min((fw - bx - bw) / bw)
        .min((fh - by - bh) / bh);
    let margins = ramp(margin, -0.1, 0.15);
    let comps = [
        single_face,
        face_size,
        pose_q,
        sharpness,
        exposure,
        illumination,
        margins,
    ];
    let avg = comps.iter().sum::<f32>() / comps.len() as f32;
    let worst = comps.iter().copied().fold(f32::INFINITY, f32::min);
    Quality {
        single_face,
        face_size,
        pose: pose_q,
        sharpness,
        exposure,
        illumination,
        margins,
        overall: avg.min(worst + 20.0),
        yaw,
        pitch,
        roll,
        inter_eye_px: ied,
        exposure_dark: mean < 128.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::align::Template;

    fn frontal(scale: f32) -> Detection {
        let lm = Template::ArcFace112
            .points()
            .map(|[x, y]| [x * scale + 200.0, y * scale + 100.0]);
        Detection {
            bbox: [200.0 + 10.0 * scale, 100.0, 92.0 * scale, 112.0 * scale],
            score: 0.9,
            landmarks: lm,
        }
    }

    #[test]
    fn frontal_template_pose_is_near_zero() {
        let (yaw, pitch, roll) = pose(&frontal(1.0));
        assert!(
            yaw.abs() < 5.0 && pitch.abs() < 10.0 && roll.abs() < 1.0,
            "{yaw} {pitch} {roll}"
        );
        let mut turned = frontal(1.0);
        turned.landmarks[2][0] += 15.0;
        assert!(pose(&turned).0 > 15.0);
    }

    #[test]
    fn small_faces_and_dark_chips_score_low() {
        let chip = RgbImage::from_fn(112, 112, |x, y| {
            image::Rgb([((x * 7 + y * 13) % 200) as u8 + 20; 3])
        });
        let big = assess((640, 480), &frontal(1.5), &[frontal(1.5)], &chip);
        let small = assess((640, 480), &frontal(0.3), &[frontal(0.3)], &chip);
        assert!(big.face_size > small.face_size);
        let dark = RgbImage::from_pixel(112, 112, image::Rgb([5, 5, 5]));
        let q = assess((640, 480), &frontal(1.5), &[frontal(1.5)], &dark);
        assert!(q.exposure < 10.0 && q.sharpness < 10.0);
        let two = assess(
            (640, 480),
            &frontal(1.5),
            &[frontal(1.5), frontal(1.4)],
            &chip,
        );
        assert_eq!(two.single_face, 0.0);
    }
}
