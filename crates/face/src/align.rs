//! Similarity-transform alignment from the 5 detector landmarks to a fixed template: the
//! ArcFace 112×112 template (SFace) and the dlib face chip (150×150, padding 0.25, the
//! template derived from dlib's mean face shape: eye centres, nose tip, mouth corners).
//!
//! A similarity transform (rotation, uniform scale, translation) is fitted by least squares
//! (closed form); the chip is sampled bilinearly. It does not correct pose out of the plane.

use image::RgbImage;

use crate::detect::Point;
use crate::imgops::sample;

/// Which template to align to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Template {
    /// ArcFace 5-point template at 112×112 (SFace).
    ArcFace112,
    /// dlib face chip 150×150 with padding 0.25 (dlib ResNet).
    DlibChip150,
}

/// ArcFace reference points for a 112×112 chip.
const ARCFACE: [Point; 5] = [
    [38.2946, 51.6963],
    [73.5318, 51.5014],
    [56.0252, 71.7366],
    [41.5493, 92.3655],
    [70.7299, 92.2041],
];

/// dlib's mean face (68-point model, unit square), reduced to our 5 points: the means of
/// the six points around each eye, the nose tip (point 30), the mouth corners (48, 54).
const DLIB_MEAN5: [Point; 5] = [
    [0.225_492, 0.215_990],
    [0.754_761, 0.215_990],
    [0.490_127, 0.515_625],
    [0.254_149, 0.780_233],
    [0.726_104, 0.780_233],
];

impl Template {
    /// Side of the square chip in pixels.
    pub fn size(self) -> u32 {
        match self {
            Self::ArcFace112 => 112,
            Self::DlibChip150 => 150,
        }
    }

    /// The 5 template points in chip pixels.
    pub fn points(self) -> [Point; 5] {
        match self {
            Self::ArcFace112 => ARCFACE,
            Self::DlibChip150 => {
                let (pad, size) = (0.25f32, 150.0f32);
                DLIB_MEAN5.map(|[x, y]| {
                    [
                        (pad + x) / (2.0 * pad + 1.0) * size,
                        (pad + y) / (2.0 * pad + 1.0) * size,
                    ]
                })
            }
        }
    }
}

/// A similarity transform `dst = [a -b; b a]·src + t`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Similarity {
    /// scale·cos θ
    pub a: f32,
    /// scale·sin θ
    pub b: f32,
    /// Translation.
    pub t: Point,
}

impl Similarity {
    /// Least-squares fit mapping `src` onto `dst`.
    pub fn fit(src: &[Point], dst: &[Point]) -> Option<Self> {
        let n = src.len().min(dst.len());
        if n < 2 {
            return None;
        }
        let mean = |p: &[Point]| {
            let (sx, sy) = p[..n]
                .iter()
                .fold((0.0, 0.0), |(x, y), q| (x + q[0], y + q[1]));
            [sx / n as f32, sy / n as f32]
        };
        let (ms, md) = (mean(src), mean(dst));
        let (mut num_a, mut num_b, mut den) = (0.0f32, 0.0f32, 0.0f32);
        for i in 0..n {
            let (sx, sy) = (src[i][0] - ms[0], src[i][1] - ms[1]);
            let (dx, dy) = (dst[i][0] - md[0], dst[i][1] - md[1]);
            num_a += sx * dx + sy * dy;
            num_b += sx * dy - sy * dx;
            den += sx * sx + sy * sy;
        }
        if den <= f32::EPSILON {
            return None;
        }
        let (a, b) = (num_a / den, num_b / den);
        let t = [
            md[0] - (a * ms[0] - b * ms[1]),
            md[1] - (b * ms[0] + a * ms[1]),
        ];
        Some(Self { a, b, t })
    }

    /// Applies the transform.
    pub fn apply(&self, p: Point) -> Point {
        [
            self.a * p[0] - self.b * p[1] + self.t[0],
            self.b * p[0] + self.a * p[1] + self.t[1],
        ]
    }

    /// The inverse transform.
    pub fn inverse(&self) -> Option<Self> {
        let d = self.a * self.a + self.b * self.b;
        if d <= f32::EPSILON {
            return None;
        }
        let (a, b) = (self.a / d, -self.b / d);
        let t = [
            -(a * self.t[0] - b * self.t[1]),
            -(b * self.t[0] + a * self.t[1]),
        ];
        Some(Self { a, b, t })
    }
}

/// Cuts the aligned chip for `template` out of `img` given the 5 landmarks. `None` when the
/// landmarks are degenerate (all at one point).
pub fn align(img: &RgbImage, landmarks: &[Point; 5], template: Template) -> Option<RgbImage> {
    let fwd = Similarity::fit(landmarks, &template.points())?;
    let inv = fwd.inverse()?;
    let size = template.size();
    Some(RgbImage::from_fn(size, size, |u, v| {
        let [x, y] = inv.apply([u as f32, v as f32]);
        sample(img, x, y)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_recovers_a_known_similarity() {
        let truth = Similarity {
            a: 0.8,
            b: 0.3,
            t: [5.0, -7.0],
        };
        let src = [
            [10.0, 10.0],
            [50.0, 12.0],
            [30.0, 30.0],
            [15.0, 45.0],
            [45.0, 47.0],
        ];
        let dst = src.map(|p| truth.apply(p));
        let fit = Similarity::fit(&src, &dst).expect("fit");
        assert!((fit.a - 0.8).abs() < 1e-4 && (fit.b - 0.3).abs() < 1e-4);
        let back = fit.inverse().expect("inverse").apply(dst[2]);
        assert!((back[0] - 30.0).abs() < 1e-3 && (back[1] - 30.0).abs() < 1e-3);
    }

    #[test]
    fn landmarks_land_on_the_template() {
        // An image where the landmarks are the template scaled ×2 and shifted.
        let tpl = Template::ArcFace112.points();
        let lm = tpl.map(|[x, y]| [2.0 * x + 40.0, 2.0 * y + 10.0]);
        let fit = Similarity::fit(&lm, &tpl).expect("fit");
        for (p, q) in lm.iter().zip(tpl.iter()) {
            let m = fit.apply(*p);
            assert!((m[0] - q[0]).abs() < 1e-3 && (m[1] - q[1]).abs() < 1e-3);
        }
        let img = RgbImage::new(400, 300);
        assert_eq!(
            align(&img, &lm, Template::DlibChip150).map(|c| c.width()),
            Some(150)
        );
        assert!(align(&img, &[[1.0, 1.0]; 5], Template::ArcFace112).is_none());
    }
}
