//! Small image operations the pipeline needs: area/bilinear resize, bilinear sampling,
//! greyscale. Written for speed on RGB8 without allocation beyond the output.
//!
//! It does not decode or encode files (that is `image` and `jp2`).

use image::{Rgb, RgbImage};

/// Resizes with bilinear sampling (box-averaged when shrinking by more than 2×).
pub fn resize(img: &RgbImage, w: u32, h: u32) -> RgbImage {
    let (sw, sh) = img.dimensions();
    if sw >= 2 * w && sh >= 2 * h {
        // Box filter for large reductions (avoids aliasing, fast).
        let fx = sw as f32 / w as f32;
        let fy = sh as f32 / h as f32;
        return RgbImage::from_fn(w, h, |x, y| {
            let x0 = (x as f32 * fx) as u32;
            let x1 = (((x + 1) as f32 * fx) as u32).clamp(x0 + 1, sw);
            let y0 = (y as f32 * fy) as u32;
            let y1 = (((y + 1) as f32 * fy) as u32).clamp(y0 + 1, sh);
            let mut acc = [0u32; 3];
            for yy in y0..y1 {
                for xx in x0..x1 {
                    let p = img.get_pixel(xx, yy);
                    acc[0] += p[0] as u32;
                    acc[1] += p[1] as u32;
                    acc[2] += p[2] as u32;
                }
            }
            let n = (x1 - x0) * (y1 - y0);
            Rgb([(acc[0] / n) as u8, (acc[1] / n) as u8, (acc[2] / n) as u8])
        });
    }
    let fx = sw as f32 / w as f32;
    let fy = sh as f32 / h as f32;
    RgbImage::from_fn(w, h, |x, y| {
        sample(
            img,
            (x as f32 + 0.5) * fx - 0.5,
            (y as f32 + 0.5) * fy - 0.5,
        )
    })
}

/// Bilinear sample at (x, y); outside the image the border pixel is repeated.
pub fn sample(img: &RgbImage, x: f32, y: f32) -> Rgb<u8> {
    let (w, h) = img.dimensions();
    let x = x.clamp(0.0, (w - 1) as f32);
    let y = y.clamp(0.0, (h - 1) as f32);
    let x0 = x.floor() as u32;
    let y0 = y.floor() as u32;
    let x1 = (x0 + 1).min(w - 1);
    let y1 = (y0 + 1).min(h - 1);
    let (ax, ay) = (x - x0 as f32, y - y0 as f32);
    let p00 = img.get_pixel(x0, y0);
    let p10 = img.get_pixel(x1, y0);
    let p01 = img.get_pixel(x0, y1);
    let p11 = img.get_pixel(x1, y1);
    let mut out = [0u8; 3];
    for c in 0..3 {
        let top = p00[c] as f32 * (1.0 - ax) + p10[c] as f32 * ax;
        let bot = p01[c] as f32 * (1.0 - ax) + p11[c] as f32 * ax;
        out[c] = (top * (1.0 - ay) + bot * ay).round() as u8;
    }
    Rgb(out)
}

/// Luma (BT.601) of every pixel, as f32 0..255, row-major.
pub fn luma(img: &RgbImage) -> Vec<f32> {
    img.pixels()
        .map(|p| 0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32)
        .collect()
}

/// The image in grey, kept as RGB (three equal channels) so models see the same layout.
pub fn grey_rgb(img: &RgbImage) -> RgbImage {
    let mut out = img.clone();
    for p in out.pixels_mut() {
        let v = (0.299 * p[0] as f32 + 0.587 * p[1] as f32 + 0.114 * p[2] as f32).round() as u8;
        *p = Rgb([v, v, v]);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resize_keeps_flat_colour_and_size() {
        let img = RgbImage::from_pixel(100, 80, Rgb([10, 20, 30]));
        for (w, h) in [(30, 20), (70, 60), (150, 100)] {
            let r = resize(&img, w, h);
            assert_eq!(r.dimensions(), (w, h));
            assert!(r.pixels().all(|p| *p == Rgb([10, 20, 30])));
        }
    }

    #[test]
    fn grey_has_equal_channels() {
        let img = RgbImage::from_pixel(2, 2, Rgb([255, 0, 0]));
        let g = grey_rgb(&img);
        let p = g.get_pixel(0, 0);
        assert_eq!((p[0], p[1], p[2]), (76, 76, 76));
    }
}
