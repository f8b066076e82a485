//! Builds the evaluation fixture set from the licence-clean face photos (see
//! `crates/face/fixtures/eval/README.md` for the recipe and what each file is):
//!
//! - identity folders: every source photo (`orig_*`, longest side ≤ 800 px) and five
//!   augmentations of it (dark, blur, small, rotated, noisy);
//! - `chip/<identity>/`: a chip-photo reference per source photo — a portrait crop around
//!   the face, greyscale, 150×188, JPEG 2000 at 20:1 through `opj_compress` (Debian
//!   `libopenjp2-tools`);
//! - `attacks/{print,screen,cutout}/`: synthetic attack presentations made from each source
//!   photo, re-captured in a 640×480 frame.
//!
//! Everything is deterministic (fixed seed). It does not run at kiosk run time.

use std::path::{Path, PathBuf};
use std::process::Command;

use image::{Rgb, RgbImage};

use crate::FaceError;
use crate::engine::FaceEngine;
use crate::imgops::{grey_rgb, resize, sample};

/// Which source photo goes to which identity folder.
pub const IDENTITIES: &[(&str, &[&str])] = &[
    (
        "obama",
        &[
            "obama.jpg",
            "obama2.jpg",
            "obama3.jpg",
            "obama_partial_face.jpg",
        ],
    ),
    (
        "similarfaces_a",
        &["similarfaces_image1.png", "similarfaces_image2.png"],
    ),
    ("biden", &["biden.jpg"]),
    ("similarfaces_b", &["similarfaces_image3.png"]),
    ("grace_hopper", &["grace_hopper_512x512.jpg"]),
];

/// A small deterministic generator (SplitMix64), seeded by the caller.
pub struct Rng(pub u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    fn f(&mut self) -> f32 {
        (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
    /// Roughly normal (sum of uniforms), mean 0, sd 1.
    fn n(&mut self) -> f32 {
        (0..4).map(|_| self.f()).sum::<f32>() * 1.732 - 3.464
    }
}

fn map_px(img: &RgbImage, f: impl Fn(u32, u32, [f32; 3]) -> [f32; 3]) -> RgbImage {
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let p = img.get_pixel(x, y);
        let o = f(x, y, [p[0] as f32, p[1] as f32, p[2] as f32]);
        Rgb(o.map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

fn box_blur(img: &RgbImage, r: i32) -> RgbImage {
    let (w, h) = (img.width() as i32, img.height() as i32);
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let mut acc = [0u32; 3];
        let mut n = 0;
        for dy in -r..=r {
            for dx in -r..=r {
                let (xx, yy) = (
                    (x as i32 + dx).clamp(0, w - 1),
                    (y as i32 + dy).clamp(0, h - 1),
                );
                let p = img.get_pixel(xx as u32, yy as u32);
                for c in 0..3 {
                    acc[c] += p[c] as u32;
                }
                n += 1;
            }
        }
        Rgb(acc.map(|a| (a / n) as u8))
    })
}

fn rotate(img: &RgbImage, deg: f32) -> RgbImage {
    let (w, h) = (img.width() as f32, img.height() as f32);
    let (c, s) = (deg.to_radians().cos(), deg.to_radians().sin());
    RgbImage::from_fn(img.width(), img.height(), |x, y| {
        let (dx, dy) = (x as f32 - w / 2.0, y as f32 - h / 2.0);
        sample(img, c * dx + s * dy + w / 2.0, -s * dx + c * dy + h / 2.0)
    })
}

fn background(w: u32, h: u32, rng: &mut Rng) -> RgbImage {
    let tint = [rng.f() * 30.0, rng.f() * 30.0, rng.f() * 30.0];
    RgbImage::from_fn(w, h, |x, y| {
        let v = 120.0 + 70.0 * (y as f32 / h as f32) - 30.0 * (x as f32 / w as f32);
        Rgb([
            (v + tint[0]) as u8,
            (v + tint[1]) as u8,
            (v + tint[2]) as u8,
        ])
    })
}

fn paste(dst: &mut RgbImage, src: &RgbImage, x0: i64, y0: i64, mask: impl Fn(u32, u32) -> bool) {
    for (x, y, p) in src.enumerate_pixels() {
        let (dx, dy) = (x0 + x as i64, y0 + y as i64);
        if dx >= 0
            && dy >= 0
            && (dx as u32) < dst.width()
            && (dy as u32) < dst.height()
            && mask(x, y)
        {
            dst.put_pixel(dx as u32, dy as u32, *p);
        }
    }
}

/// Fits `img` into a box of `max_w`×`max_h` keeping the aspect ratio.
fn fit(img: &RgbImage, max_w: u32, max_h: u32) -> RgbImage {
    let s = (max_w as f32 / img.width() as f32).min(max_h as f32 / img.height() as f32);
    resize(
        img,
        ((img.width() as f32 * s) as u32).max(1),
        ((img.height() as f32 * s) as u32).max(1),
    )
}

/// A printed photo held up to the camera: paper margin, desaturated and compressed
/// colours, halftone dots, paper grain, slight blur and tilt, in a room.
pub fn print_attack(photo: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (fw, fh) = (640, 480);
    let mut frame = background(fw, fh, rng);
    let pic = fit(photo, 400, 330);
    let margin = 24;
    let mut sheet = RgbImage::from_pixel(
        pic.width() + 2 * margin,
        pic.height() + 2 * margin,
        Rgb([236, 232, 222]),
    );
    paste(&mut sheet, &pic, margin as i64, margin as i64, |_, _| true);
    let grain_seed = rng.next();
    let sheet = map_px(&sheet, |x, y, p| {
        let grey = (p[0] + p[1] + p[2]) / 3.0;
        let mut g = Rng(grain_seed ^ ((x as u64) << 32 | y as u64));
        let grain = 7.0 * g.n();
        let halftone = 10.0 * (((x % 4) as f32 - 1.5).abs() + ((y % 4) as f32 - 1.5).abs() - 1.5);
        [0, 1, 2].map(|c| {
            let sat = grey + 0.7 * (p[c] - grey);
            let warm = [6.0, 2.0, -8.0][c];
            25.0 + sat * 0.78 + warm + grain + halftone * 0.4
        })
    });
    let sheet = rotate(&box_blur(&sheet, 1), 4.0 + 6.0 * rng.f());
    let (x0, y0) = ((fw - sheet.width()) / 2, (fh - sheet.height()) / 2);
    let (sw, sh) = (sheet.width(), sheet.height());
    paste(&mut frame, &sheet, x0 as i64, y0 as i64, |x, y| {
        // Drop the black corners the rotation leaves.
        let p = sheet.get_pixel(x, y);
        !(p[0] < 5 && p[1] < 5 && p[2] < 5 && (x < 20 || y < 20 || x > sw - 20 || y > sh - 20))
    });
    frame
}

/// A photo shown on a phone or monitor: dark bezel, RGB sub-pixel stripes and moiré
/// (beat between the screen grid and the camera sampling), blue cast, glare spot.
pub fn screen_attack(photo: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (fw, fh) = (640, 480);
    let mut frame = background(fw, fh, rng);
    let pic = fit(photo, 440, 360);
    let bezel = 18;
    let mut dev = RgbImage::from_pixel(
        pic.width() + 2 * bezel,
        pic.height() + 2 * bezel,
        Rgb([18, 18, 22]),
    );
    paste(&mut dev, &pic, bezel as i64, bezel as i64, |_, _| true);
    let period = 3.3 + rng.f();
    let angle = (8.0 + 10.0 * rng.f()).to_radians();
    let (gx, gy) = (
        dev.width() as f32 * (0.2 + 0.6 * rng.f()),
        dev.height() as f32 * (0.15 + 0.3 * rng.f()),
    );
    let dev = map_px(&dev, |x, y, p| {
        let (xf, yf) = (x as f32, y as f32);
        let phase = (xf * angle.cos() + yf * angle.sin()) / period;
        let moire = 1.0 + 0.16 * (std::f32::consts::TAU * phase).sin();
        let stripe = [1.08, 0.96, 1.0][(x % 3) as usize];
        let glare =
            150.0 * (-(((xf - gx).powi(2) + (yf - gy).powi(2)) / (2.0 * 45.0f32.powi(2)))).exp();
        [0, 1, 2].map(|c| {
            let cast = [0.88, 0.97, 1.12][c];
            p[c] * moire * cast * if c == (x % 3) as usize { stripe } else { 1.0 } + glare + 8.0
        })
    });
    let (x0, y0) = ((fw - dev.width()) / 2, (fh - dev.height()) / 2);
    paste(&mut frame, &dev, x0 as i64, y0 as i64, |_, _| true);
    frame
}

/// A cut-out: the face and hair cut along an ellipse with scissors (hard white rim), held
/// in front of a different background, slightly tilted.
pub fn cutout_attack(photo: &RgbImage, d: &crate::detect::Detection, rng: &mut Rng) -> RgbImage {
    let (fw, fh) = (640, 480);
    let mut frame = background(fw, fh, rng);
    let [bx, by, bw, bh] = d.bbox;
    let (cx, cy) = (bx + bw / 2.0, by + bh / 2.0);
    let (rx, ry) = (bw * 0.75, bh * 0.8);
    let x0 = (cx - rx).max(0.0) as u32;
    let y0 = (cy - ry).max(0.0) as u32;
    let x1 = ((cx + rx) as u32).min(photo.width());
    let y1 = ((cy + ry) as u32).min(photo.height());
    let crop = image::imageops::crop_imm(
        photo,
        x0,
        y0,
        x1.saturating_sub(x0).max(1),
        y1.saturating_sub(y0).max(1),
    )
    .to_image();
    let piece = fit(&crop, 300, 340);
    let (pw, ph) = (piece.width() as f32, piece.height() as f32);
    let piece = rotate(&piece, -5.0 + 10.0 * rng.f());
    let mut out = piece.clone();
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (dx, dy) = (
            (x as f32 - pw / 2.0) / (pw / 2.0),
            (y as f32 - ph / 2.0) / (ph / 2.0),
        );
        let r = (dx * dx + dy * dy).sqrt();
        if r > 0.97 && r <= 1.0 {
            *p = Rgb([240, 240, 236]);
        }
    }
    let (ox, oy) = ((fw - out.width()) / 2, (fh - out.height()) / 2);
    paste(&mut frame, &out, ox as i64, oy as i64, |x, y| {
        let (dx, dy) = (
            (x as f32 - pw / 2.0) / (pw / 2.0),
            (y as f32 - ph / 2.0) / (ph / 2.0),
        );
        dx * dx + dy * dy <= 1.0
    });
    frame
}

/// The chip-photo reference: portrait crop around the face, grey, 150×188.
pub fn chip_crop(photo: &RgbImage, d: &crate::detect::Detection) -> RgbImage {
    let [bx, by, bw, bh] = d.bbox;
    let w = bw * 1.7;
    let h = w * 188.0 / 150.0;
    let (cx, cy) = (bx + bw / 2.0, by + bh * 0.45);
    let (x0, y0) = (cx - w / 2.0, cy - h / 2.0);
    let chip = RgbImage::from_fn(150, 188, |u, v| {
        sample(
            photo,
            x0 + (u as f32 + 0.5) * w / 150.0,
            y0 + (v as f32 + 0.5) * h / 188.0,
        )
    });
    grey_rgb(&chip)
}

fn save_jpeg(img: &RgbImage, path: &Path, q: u8) -> Result<(), FaceError> {
    let f = std::fs::File::create(path).map_err(|e| FaceError::io(path, e))?;
    let mut enc = image::codecs::jpeg::JpegEncoder::new_with_quality(std::io::BufWriter::new(f), q);
    enc.encode_image(img)
        .map_err(|e| FaceError::Image(format!("{}: {e}", path.display())))
}

/// Encodes a greyscale image to JPEG 2000 with `opj_compress` at `ratio`:1.
pub fn opj_encode(img: &RgbImage, out: &Path, ratio: u32) -> Result<(), FaceError> {
    let dir = tempfile_dir()?;
    let pgm = dir.join("chip.pgm");
    let mut data = format!("P5\n{} {}\n255\n", img.width(), img.height()).into_bytes();
    data.extend(img.pixels().map(|p| p[0]));
    std::fs::write(&pgm, data).map_err(|e| FaceError::io(&pgm, e))?;
    let st = Command::new("opj_compress")
        .arg("-i")
        .arg(&pgm)
        .arg("-o")
        .arg(out)
        .arg("-r")
        .arg(ratio.to_string())
        .output()
        .map_err(|e| {
            FaceError::Invalid(format!(
                "opj_compress not runnable ({e}): install the Debian package libopenjp2-tools"
            ))
        })?;
    let _ = std::fs::remove_dir_all(&dir);
    if !st.status.success() {
        return Err(FaceError::Invalid(format!(
            "opj_compress failed: {}",
            String::from_utf8_lossy(&st.stderr)
                .lines()
                .last()
                .unwrap_or("")
        )));
    }
    Ok(())
}

fn tempfile_dir() -> Result<PathBuf, FaceError> {
    let d = std::env::temp_dir().join(format!("madoguchi-opj-{}", std::process::id()));
    std::fs::create_dir_all(&d).map_err(|e| FaceError::io(&d, e))?;
    Ok(d)
}

/// Builds the fixture set from `src` (the folder of source photos) into `out`.
/// Returns the number of files written.
pub fn build(engine: &FaceEngine, src: &Path, out: &Path) -> Result<usize, FaceError> {
    let mut rng = Rng(0x6d61_646f_6775_6368);
    let mut written = 0;
    let mk = |p: &Path| std::fs::create_dir_all(p).map_err(|e| FaceError::io(p, e));
    for kind in ["print", "screen", "cutout"] {
        mk(&out.join("attacks").join(kind))?;
    }
    for (ident, files) in IDENTITIES {
        let idir = out.join(ident);
        let cdir = out.join("chip").join(ident);
        mk(&idir)?;
        mk(&cdir)?;
        for file in *files {
            let path = src.join(file);
            let photo = crate::jp2::open_any(&path)?;
            let photo = if photo.width().max(photo.height()) > 800 {
                fit(&photo, 800, 800)
            } else {
                photo
            };
            let stem = Path::new(file)
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            save_jpeg(&photo, &idir.join(format!("orig_{stem}.jpg")), 90)?;
            let dark = map_px(&photo, |_, _, p| {
                p.map(|v| 255.0 * (v / 255.0).powf(1.6) * 0.8)
            });
            save_jpeg(&dark, &idir.join(format!("aug_dark_{stem}.jpg")), 90)?;
            save_jpeg(
                &box_blur(&photo, 2),
                &idir.join(format!("aug_blur_{stem}.jpg")),
                90,
            )?;
            let small = resize(&photo, photo.width() * 2 / 5, photo.height() * 2 / 5);
            save_jpeg(&small, &idir.join(format!("aug_small_{stem}.jpg")), 60)?;
            save_jpeg(
                &rotate(&photo, 12.0),
                &idir.join(format!("aug_rot_{stem}.jpg")),
                90,
            )?;
            let seed = rng.next();
            let noisy = map_px(&photo, |x, y, p| {
                let mut g = Rng(seed ^ ((x as u64) << 32 | y as u64));
                p.map(|v| v + 12.0 * g.n())
            });
            save_jpeg(&noisy, &idir.join(format!("aug_noise_{stem}.jpg")), 90)?;
            written += 6;
            let faces = engine.detect(&photo, false)?;
            let Some(d) = FaceEngine::subject(&faces).copied() else {
                continue;
            };
            opj_encode(
                &chip_crop(&photo, &d),
                &cdir.join(format!("chip_{stem}.jp2")),
                20,
            )?;
            let a = out.join("attacks");
            save_jpeg(
                &print_attack(&photo, &mut rng),
                &a.join("print").join(format!("{stem}.jpg")),
                90,
            )?;
            save_jpeg(
                &screen_attack(&photo, &mut rng),
                &a.join("screen").join(format!("{stem}.jpg")),
                90,
            )?;
            save_jpeg(
                &cutout_attack(&photo, &d, &mut rng),
                &a.join("cutout").join(format!("{stem}.jpg")),
                90,
            )?;
            written += 4;
        }
    }
    Ok(written)
}
