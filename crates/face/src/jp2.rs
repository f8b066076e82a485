//! JPEG 2000 decoding (pure Rust, `hayro-jpeg2000`) to RGB: the My Number card's chip photo
//! is a small greyscale JPEG 2000, and the evaluation's chip-photo condition round-trips
//! fixtures through it.
//!
//! It does not encode JPEG 2000: the fixture builder uses `opj_compress`
//! (Debian `libopenjp2-tools`) once, and the results are committed.

use image::{Rgb, RgbImage};

use crate::FaceError;

/// Decodes a JP2 file or a raw J2K codestream into RGB (grey images get three equal channels).
pub fn decode(data: &[u8]) -> Result<RgbImage, FaceError> {
    let img = hayro_jpeg2000::Image::new(data, &hayro_jpeg2000::DecodeSettings::default())
        .map_err(|e| FaceError::Image(format!("JPEG 2000: {e:?}")))?;
    let (w, h) = (img.width(), img.height());
    let alpha = usize::from(img.has_alpha());
    let ch = img.color_space().num_channels() as usize;
    let mut ctx = hayro_jpeg2000::DecoderContext::default();
    let decoded = img
        .decode(&mut ctx)
        .map_err(|e| FaceError::Image(format!("JPEG 2000: {e:?}")))?;
    let px = decoded.data_u8();
    let stride = ch + alpha;
    if px.len() < (w as usize) * (h as usize) * stride || !(ch == 1 || ch == 3) {
        return Err(FaceError::Image(format!(
            "JPEG 2000: unsupported layout ({ch} channels)"
        )));
    }
    Ok(RgbImage::from_fn(w, h, |x, y| {
        let i = (y as usize * w as usize + x as usize) * stride;
        if ch == 1 {
            Rgb([px[i]; 3])
        } else {
            Rgb([px[i], px[i + 1], px[i + 2]])
        }
    }))
}

/// Reads an image file of any supported kind (`.jp2`/`.j2k`/`.jpc` through [`decode`],
/// the rest through `image`).
pub fn open_any(path: &std::path::Path) -> Result<RgbImage, FaceError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    if matches!(ext.as_str(), "jp2" | "j2k" | "j2c" | "jpc") {
        let data = std::fs::read(path).map_err(|e| FaceError::io(path, e))?;
        decode(&data)
    } else {
        // By content, not extension: some packaged `.png` files are JPEG.
        let bad = |e: &dyn std::fmt::Display| FaceError::Image(format!("{}: {e}", path.display()));
        Ok(image::ImageReader::open(path)
            .map_err(|e| FaceError::io(path, e))?
            .with_guessed_format()
            .map_err(|e| FaceError::io(path, e))?
            .decode()
            .map_err(|e| bad(&e))?
            .to_rgb8())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(decode(b"not a jpeg 2000 file").is_err());
        assert!(decode(&[]).is_err());
    }
}
