//! Makes a chip photo from an ordinary image file, as a real card holds it: greyscale,
//! 150×188, JPEG 2000 in a JP2 container, about 4–6 KB.
//!
//! The image (PNG or JPEG, recognised by content; an EXIF orientation is applied) is cropped
//! to the aspect 150:188 — the full height, centred, of a wide image; the full width, from the
//! top, of a tall one — converted to grey, resized (Lanczos) and encoded by OpenJPEG's
//! `opj_compress -r 6` (Debian `libopenjp2-tools`) through temporary files, as
//! `fixtures/make-images.sh` does for the committed photos.
//!
//! It does not look for a face (no detector in this crate): give it a head-and-shoulders
//! photo, such as those in `shared/faces/`, or the head will be small on the chip. It never
//! logs pixels, and the temporary files are deleted when it returns.

use std::io::Cursor;
use std::process::Command;

use image::imageops::FilterType;
use image::{DynamicImage, GrayImage, ImageDecoder, ImageReader};

use crate::Error;

/// Chip photo width.
pub(crate) const WIDTH: u32 = 150;
/// Chip photo height.
pub(crate) const HEIGHT: u32 = 188;
/// The OpenJPEG encoder.
pub(crate) const OPJ_COMPRESS: &str = "opj_compress";
/// The package that provides it.
pub(crate) const OPJ_PACKAGE: &str = "libopenjp2-tools";
/// Largest source image decoded (width × height).
const MAX_SOURCE_PIXELS: u64 = 64 * 1024 * 1024;

/// Why a photo could not be made: the image itself (reported against the profile file's
/// `photo` key) or the encoder.
#[derive(Debug)]
pub(crate) enum PhotoError {
    /// The file is not an image this crate decodes, or is unusable.
    Image(String),
    /// The encoder is missing or failed.
    Encoder(Error),
}

/// The chip photo (JP2) made from the image file content `bytes`.
pub(crate) fn chip_photo(bytes: &[u8]) -> Result<Vec<u8>, PhotoError> {
    let grey = decode_grey(bytes).map_err(PhotoError::Image)?;
    let (x, y, w, h) = crop_box(grey.width(), grey.height()).ok_or_else(|| {
        PhotoError::Image(format!(
            "the image is too small ({}×{}; at least 15×19)",
            grey.width(),
            grey.height()
        ))
    })?;
    let cropped = image::imageops::crop_imm(&grey, x, y, w, h).to_image();
    let small = image::imageops::resize(&cropped, WIDTH, HEIGHT, FilterType::Lanczos3);
    encode_jp2(OPJ_COMPRESS, &small).map_err(PhotoError::Encoder)
}

fn decode_grey(bytes: &[u8]) -> Result<GrayImage, String> {
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| e.to_string())?;
    if reader.format().is_none() {
        return Err("not an image format this crate reads (PNG or JPEG)".into());
    }
    let mut decoder = reader.into_decoder().map_err(|e| e.to_string())?;
    let (w, h) = decoder.dimensions();
    if u64::from(w) * u64::from(h) > MAX_SOURCE_PIXELS {
        return Err(format!("the image is too large ({w}×{h})"));
    }
    let orientation = decoder.orientation().map_err(|e| e.to_string())?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| e.to_string())?;
    image.apply_orientation(orientation);
    Ok(image.to_luma8())
}

/// The crop `(x, y, width, height)` of a `w`×`h` image at the aspect 150:188: the full height,
/// centred, when the image is wider; the full width, from the top, when it is taller. `None`
/// when the image is smaller than a tenth of the chip photo.
pub(crate) fn crop_box(w: u32, h: u32) -> Option<(u32, u32, u32, u32)> {
    let (w64, h64) = (u64::from(w), u64::from(h));
    let (cw, ch) = if w64 * u64::from(HEIGHT) > h64 * u64::from(WIDTH) {
        // Wider than 150:188.
        (
            (h64 * u64::from(WIDTH) + u64::from(HEIGHT) / 2) / u64::from(HEIGHT),
            h64,
        )
    } else {
        (
            w64,
            (w64 * u64::from(HEIGHT) + u64::from(WIDTH) / 2) / u64::from(WIDTH),
        )
    };
    let (cw, ch) = (cw.min(w64) as u32, ch.min(h64) as u32);
    if cw < WIDTH / 10 || ch < HEIGHT / 10 {
        return None;
    }
    Some(((w - cw) / 2, 0, cw, ch))
}

/// Encodes `grey` with `tool` (`opj_compress`) at compression ratio 6, through a PGM and a JP2
/// file in a private temporary directory.
pub(crate) fn encode_jp2(tool: &str, grey: &GrayImage) -> Result<Vec<u8>, Error> {
    let failed = |reason: String| Error::MissingDependency {
        what: format!("the JPEG 2000 encoder `{tool}` (OpenJPEG)"),
        package: OPJ_PACKAGE,
        reason,
    };
    let dir = tempfile::Builder::new()
        .prefix("madoguchi-vc-photo-")
        .tempdir()
        .map_err(|e| Error::State {
            path: std::env::temp_dir(),
            reason: format!("cannot make a temporary directory: {e}"),
        })?;
    let pgm = dir.path().join("photo.pgm");
    let jp2 = dir.path().join("photo.jp2");
    let mut data = format!("P5\n{} {}\n255\n", grey.width(), grey.height()).into_bytes();
    data.extend_from_slice(grey.as_raw());
    std::fs::write(&pgm, data).map_err(|e| Error::State {
        path: pgm.clone(),
        reason: e.to_string(),
    })?;
    let output = Command::new(tool)
        .arg("-i")
        .arg(&pgm)
        .arg("-o")
        .arg(&jp2)
        .args(["-r", "6"])
        .output()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                failed("not found on PATH".into())
            } else {
                failed(format!("cannot run it: {e}"))
            }
        })?;
    let result = std::fs::read(&jp2);
    match result {
        Ok(bytes) if output.status.success() && is_jp2(&bytes) => Ok(bytes),
        _ => Err(failed(format!(
            "it did not write a JP2 file ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .chain(String::from_utf8_lossy(&output.stdout).lines())
                .find(|l| l.contains("ERROR") || l.contains("error"))
                .unwrap_or("no error message")
                .trim()
        ))),
    }
}

/// Whether `bytes` start with the JP2 signature box.
fn is_jp2(bytes: &[u8]) -> bool {
    bytes.len() > 12 && bytes[..12] == *b"\x00\x00\x00\x0CjP  \r\n\x87\n"
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn crop_keeps_the_aspect_and_the_upper_centre() {
        // Square: full height would be too wide, so full height, centred.
        assert_eq!(crop_box(512, 512), Some((51, 0, 409, 512)));
        // Tall (full body): full width from the top.
        assert_eq!(crop_box(970, 2204), Some((0, 0, 970, 1216)));
        // Exactly the aspect.
        assert_eq!(crop_box(150, 188), Some((0, 0, 150, 188)));
        assert_eq!(crop_box(300, 376), Some((0, 0, 300, 376)));
        // Very wide.
        assert_eq!(crop_box(2000, 100), Some((960, 0, 80, 100)));
        // Too small.
        assert_eq!(crop_box(10, 10), None);
        for (w, h) in [(1, 1000), (1000, 1), (15, 19), (4000, 3000)] {
            if let Some((x, y, cw, ch)) = crop_box(w, h) {
                assert!(x + cw <= w && y + ch <= h, "{w}×{h}");
            }
        }
    }

    #[test]
    fn a_missing_encoder_names_the_package() {
        let grey = GrayImage::new(WIDTH, HEIGHT);
        let e = encode_jp2("opj_compress-not-installed", &grey).unwrap_err();
        let text = e.to_string();
        assert!(text.contains("libopenjp2-tools"), "{text}");
        assert!(text.contains("not found"), "{text}");
    }

    #[test]
    fn garbage_is_an_image_error() {
        match chip_photo(b"definitely not an image") {
            Err(PhotoError::Image(m)) => assert!(m.contains("PNG or JPEG"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_synthetic_image_becomes_a_small_jp2() {
        // A 600×400 gradient with a dark disc: wide, so cropped to 319×400 in the middle.
        let img = image::RgbImage::from_fn(600, 400, |x, y| {
            let d = (x as i32 - 300).pow(2) + (y as i32 - 150).pow(2);
            if d < 80 * 80 {
                image::Rgb([20, 20, 20])
            } else {
                image::Rgb([(x / 3) as u8, (y / 2) as u8, 128])
            }
        });
        let mut png = Vec::new();
        img.write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        let jp2 = chip_photo(&png).unwrap();
        assert!(is_jp2(&jp2));
        assert!((1_000..8_000).contains(&jp2.len()), "{}", jp2.len());
    }
}
