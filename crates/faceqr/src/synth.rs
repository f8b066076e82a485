//! Synthetic phone-screen photos of QR symbols for the robustness tests and the benchmark:
//! a symbol shown on a phone screen, photographed by a webcam with perspective, rotation,
//! blur, glare, moiré, sensor noise and a lifted black level, at several sizes. Everything is
//! derived from a seed (SplitMix64), so a set is reproducible bit for bit.
//!
//! It is a test-data generator, not a camera model: it does not simulate lens distortion,
//! rolling shutter, colour or JPEG artefacts.

use image::GrayImage;

use crate::error::Result;
use crate::render;

/// SplitMix64: small, fast, good enough for test data, reproducible everywhere.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// From a seed.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in `[lo, hi)`.
    pub fn range(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * ((self.next_u64() >> 40) as f32 / (1u64 << 24) as f32)
    }
    /// Approximately standard normal (sum of four uniforms).
    pub fn normal(&mut self) -> f32 {
        (0..4).map(|_| self.range(-1.0, 1.0)).sum::<f32>() * 0.866
    }
}

/// The parameters of one scene.
#[derive(Clone, Debug)]
pub struct Scene {
    /// Frame width and height.
    pub size: (u32, u32),
    /// Average frame pixels per QR module.
    pub px_per_module: f32,
    /// In-plane rotation, degrees.
    pub rotation_deg: f32,
    /// Corner jitter for perspective, fraction of the symbol size.
    pub perspective: f32,
    /// Box-blur passes (≈ Gaussian).
    pub blur_passes: u32,
    /// Glare peak brightness added (0 = none).
    pub glare: f32,
    /// Moiré amplitude (0 = none).
    pub moire: f32,
    /// Sensor noise standard deviation (grey levels).
    pub noise: f32,
    /// Screen black and white levels.
    pub levels: (f32, f32),
}

impl Scene {
    /// A random scene from the generator's distribution.
    pub fn random(rng: &mut Rng) -> Self {
        let size = if rng.range(0.0, 1.0) < 0.5 {
            (640, 480)
        } else {
            (1280, 720)
        };
        Self {
            size,
            px_per_module: rng.range(2.2, 6.0),
            rotation_deg: rng.range(-25.0, 25.0),
            perspective: rng.range(0.0, 0.12),
            blur_passes: (rng.range(0.0, 3.0)) as u32,
            glare: if rng.range(0.0, 1.0) < 0.4 {
                rng.range(40.0, 160.0)
            } else {
                0.0
            },
            moire: if rng.range(0.0, 1.0) < 0.4 {
                rng.range(0.05, 0.25)
            } else {
                0.0
            },
            noise: rng.range(1.0, 10.0),
            levels: (rng.range(10.0, 70.0), rng.range(170.0, 250.0)),
        }
    }
}

/// Solves the 8×8 system for the homography mapping `from[i]` to `to[i]`.
fn homography(from: [(f32, f32); 4], to: [(f32, f32); 4]) -> Option<[f64; 9]> {
    let mut a = [[0f64; 9]; 8];
    for i in 0..4 {
        let (x, y) = (f64::from(from[i].0), f64::from(from[i].1));
        let (u, v) = (f64::from(to[i].0), f64::from(to[i].1));
        a[2 * i] = [x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u];
        a[2 * i + 1] = [0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v];
    }
    for c in 0..8 {
        let p = (c..8).max_by(|&i, &j| a[i][c].abs().total_cmp(&a[j][c].abs()))?;
        if a[p][c].abs() < 1e-12 {
            return None;
        }
        a.swap(c, p);
        let pivot = a[c];
        for (r, row) in a.iter_mut().enumerate() {
            if r != c {
                let f = row[c] / pivot[c];
                for (x, p) in row.iter_mut().zip(pivot).skip(c) {
                    *x -= f * p;
                }
            }
        }
    }
    let mut h = [0f64; 9];
    for i in 0..8 {
        h[i] = a[i][8] / a[i][i];
    }
    h[8] = 1.0;
    Some(h)
}

fn box_blur(img: &mut [f32], w: usize, h: usize) {
    let src = img.to_vec();
    for y in 0..h {
        for x in 0..w {
            let mut s = 0.0;
            let mut n = 0.0;
            for dy in y.saturating_sub(1)..(y + 2).min(h) {
                for dx in x.saturating_sub(1)..(x + 2).min(w) {
                    s += src[dy * w + dx];
                    n += 1.0;
                }
            }
            img[y * w + x] = s / n;
        }
    }
}

/// Renders `text` as a QR symbol (EC level Q) shown on a phone screen in the given scene;
/// returns the photo and the pixels per module actually used (smaller than asked when the
/// symbol would not fit the frame).
pub fn render_scene(text: &str, scene: &Scene, rng: &mut Rng) -> Result<(GrayImage, f32)> {
    let code = render::symbol(text)?;
    let modules = render::to_image(&code, 1); // one pixel per module, quiet zone included
    let n = modules.width() as f32;
    let (fw, fh) = (scene.size.0 as usize, scene.size.1 as usize);
    // The screen shows the symbol with a white margin of 3 modules around the quiet zone.
    let screen = n + 6.0;
    let (s, c) = scene.rotation_deg.to_radians().sin_cos();
    let mut side = screen * scene.px_per_module;
    let mut rel = [(0f32, 0f32); 4];
    for (i, (ux, uy)) in [(-0.5f32, -0.5f32), (0.5, -0.5), (0.5, 0.5), (-0.5, 0.5)]
        .into_iter()
        .enumerate()
    {
        let jx = ux + rng.range(-scene.perspective, scene.perspective);
        let jy = uy + rng.range(-scene.perspective, scene.perspective);
        rel[i] = (jx * c - jy * s, jx * s + jy * c);
    }
    // The whole phone screen stays in the frame: shrink the symbol if it would not fit.
    let (mut x0, mut y0, mut x1, mut y1) = (f32::MAX, f32::MAX, f32::MIN, f32::MIN);
    for (x, y) in rel {
        (x0, y0, x1, y1) = (x0.min(x), y0.min(y), x1.max(x), y1.max(y));
    }
    side = side
        .min(0.96 * fw as f32 / (x1 - x0))
        .min(0.96 * fh as f32 / (y1 - y0));
    let cx = rng.range(-x0 * side + 2.0, fw as f32 - x1 * side - 2.0);
    let cy = rng.range(-y0 * side + 2.0, fh as f32 - y1 * side - 2.0);
    let quad = rel.map(|(x, y)| (cx + x * side, cy + y * side));
    // Frame → screen coordinates (in modules, 0..screen).
    let h = homography(
        quad,
        [(0.0, 0.0), (screen, 0.0), (screen, screen), (0.0, screen)],
    )
    .ok_or_else(|| crate::Error::Render("degenerate scene".into()))?;
    let (black, white) = scene.levels;
    let bg_a = rng.range(40.0, 140.0);
    let bg_b = rng.range(-40.0, 40.0);
    let mut img = vec![0f32; fw * fh];
    let sample = |x: f64, y: f64| -> f32 {
        let w = h[6] * x + h[7] * y + h[8];
        let (u, v) = (
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        );
        if u < 0.0 || v < 0.0 || u >= f64::from(screen) || v >= f64::from(screen) {
            return -1.0; // outside the phone screen
        }
        let (mx, my) = (u - 3.0, v - 3.0);
        if mx < 0.0 || my < 0.0 || mx >= f64::from(n) || my >= f64::from(n) {
            return white;
        }
        if modules.get_pixel(mx as u32, my as u32).0[0] < 128 {
            black
        } else {
            white
        }
    };
    for y in 0..fh {
        for x in 0..fw {
            // 2×2 supersampling for anti-aliased module edges.
            let mut acc = 0.0;
            let mut inside = 0;
            for (ox, oy) in [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)] {
                let v = sample(x as f64 + ox, y as f64 + oy);
                if v >= 0.0 {
                    acc += v;
                    inside += 1;
                }
            }
            let bg = bg_a + bg_b * (x as f32 / fw as f32) + 10.0 * ((y as f32) * 0.05).sin();
            img[y * fw + x] = (acc + bg * (4 - inside) as f32) / 4.0;
        }
    }
    // Moiré: interference of the screen's pixel grid with the sensor's.
    if scene.moire > 0.0 {
        let (fx, fy) = (rng.range(0.2, 0.45), rng.range(0.2, 0.45));
        let ph = rng.range(0.0, std::f32::consts::TAU);
        for y in 0..fh {
            for x in 0..fw {
                let m = 1.0
                    + scene.moire
                        * (fx * x as f32 + fy * y as f32 + ph).sin()
                        * ((0.013 * x as f32).cos());
                img[y * fw + x] *= m;
            }
        }
    }
    // Glare: a bright elliptical reflection.
    if scene.glare > 0.0 {
        let (gx, gy) = (
            cx + rng.range(-0.4, 0.4) * side,
            cy + rng.range(-0.4, 0.4) * side,
        );
        let (sx, sy) = (rng.range(0.1, 0.35) * side, rng.range(0.1, 0.35) * side);
        for y in 0..fh {
            for x in 0..fw {
                let dx = (x as f32 - gx) / sx;
                let dy = (y as f32 - gy) / sy;
                img[y * fw + x] += scene.glare * (-(dx * dx + dy * dy)).exp();
            }
        }
    }
    for _ in 0..scene.blur_passes {
        box_blur(&mut img, fw, fh);
    }
    let mut out = GrayImage::new(scene.size.0, scene.size.1);
    for (o, v) in out.as_mut().iter_mut().zip(&img) {
        *o = (v + scene.noise * rng.normal()).clamp(0.0, 255.0) as u8;
    }
    Ok((out, side / screen))
}

/// Text with the alphabet and length of a credential (`MQ1:` + Base45 of `bytes` random
/// bytes), deterministic from the generator.
pub fn credential_like_text(rng: &mut Rng, bytes: usize) -> String {
    let data: Vec<u8> = (0..bytes).map(|_| rng.next_u64() as u8).collect();
    format!("{}{}", crate::format::PREFIX, base45::encode(&data))
}

/// One sample of the robustness set.
#[derive(Clone, Debug)]
pub struct Sample {
    /// Index in the set.
    pub index: usize,
    /// The encoded text.
    pub text: String,
    /// QR version of the symbol.
    pub version: i16,
    /// The scene.
    pub scene: Scene,
    /// Pixels per module in the photo (average over the symbol).
    pub px_per_module: f32,
    /// The photo.
    pub image: GrayImage,
}

/// The robustness set: `count` samples from `seed`. Three in four carry credential-sized
/// payloads (300–320 bytes, QR versions 16–17); one in four larger ones (400–620 bytes,
/// versions 19–25) to find where reading breaks.
pub fn robustness_set(seed: u64, count: usize) -> Result<Vec<Sample>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|index| {
            let bytes = if index % 4 == 3 {
                400 + (rng.next_u64() % 220) as usize
            } else {
                300 + (rng.next_u64() % 21) as usize
            };
            let text = credential_like_text(&mut rng, bytes);
            let version = render::version(&render::symbol(&text)?);
            let scene = Scene::random(&mut rng);
            let (image, px_per_module) = render_scene(&text, &scene, &mut rng)?;
            Ok(Sample {
                index,
                text,
                version,
                scene,
                px_per_module,
                image,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn homography_maps_corners() {
        let from = [(10.0, 20.0), (200.0, 30.0), (210.0, 190.0), (5.0, 180.0)];
        let to = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)];
        let h = homography(from, to).expect("solvable");
        for (f, t) in from.iter().zip(to) {
            let (x, y) = (f64::from(f.0), f64::from(f.1));
            let w = h[6] * x + h[7] * y + h[8];
            let u = (h[0] * x + h[1] * y + h[2]) / w;
            let v = (h[3] * x + h[4] * y + h[5]) / w;
            assert!(
                (u - f64::from(t.0)).abs() < 1e-6 && (v - f64::from(t.1)).abs() < 1e-6,
                "{u} {v}"
            );
        }
    }

    #[test]
    fn same_seed_same_set() {
        let a = robustness_set(7, 2).expect("set");
        let b = robustness_set(7, 2).expect("set");
        assert_eq!(a[0].image, b[0].image);
        assert_eq!(a[1].text, b[1].text);
        assert_ne!(a[0].image, a[1].image);
    }
}
