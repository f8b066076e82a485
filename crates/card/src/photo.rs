//! The chip photo: JPEG 2000 (JP2, greyscale) from the card face, decoded to 8-bit grey pixels,
//! and written as PNG on request.
//!
//! Decoder choice: `hayro-jpeg2000`, pure Rust with `#![forbid(unsafe_code)]`, rather than
//! OpenJPEG through C bindings. The photo is bytes from an untrusted card, so a memory-safe
//! parser matters more than speed (a 3–6 KB chip photo decodes in milliseconds either way); it
//! adds no system library to install or patch, and it matched OpenJPEG within one grey level on
//! the 29 chip-like test photos measured (design/platform.md). As belt and braces the decode
//! runs under `catch_unwind` and images above [`MAX_PIXELS`] are refused before decoding.
//! This module does not compare faces (that is `face`) and never logs pixels.

use std::fmt;

use crate::error::{CardError, Result};

/// Largest photo decoded (width × height); chip photos are about 100×130.
pub const MAX_PIXELS: u64 = 2048 * 2048;

/// An 8-bit greyscale image (personal data: `Debug` shows only the size).
#[derive(Clone, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Row-major pixels, one byte each.
    pub pixels: Vec<u8>,
}

impl fmt::Debug for GrayImage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "GrayImage({}x{}, <pixels redacted>)",
            self.width, self.height
        )
    }
}

impl GrayImage {
    /// Encodes as an 8-bit greyscale PNG.
    pub fn to_png(&self) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc
            .write_header()
            .map_err(|e| CardError::Photo(format!("PNG: {e}")))?;
        w.write_image_data(&self.pixels)
            .map_err(|e| CardError::Photo(format!("PNG: {e}")))?;
        w.finish()
            .map_err(|e| CardError::Photo(format!("PNG: {e}")))?;
        Ok(out)
    }
}

/// Decodes a JPEG 2000 image (JP2 container or raw codestream) to greyscale. Colour images are
/// converted with the Rec. 601 luma weights; an alpha channel is dropped.
pub fn decode_jp2(data: &[u8]) -> Result<GrayImage> {
    match std::panic::catch_unwind(|| decode_inner(data)) {
        Ok(r) => r,
        Err(_) => Err(CardError::Photo("the decoder failed on this image".into())),
    }
}

fn decode_inner(data: &[u8]) -> Result<GrayImage> {
    use hayro_jpeg2000::{ColorSpace, DecodeSettings, DecoderContext, Image};
    let image = Image::new(data, &DecodeSettings::default())
        .map_err(|e| CardError::Photo(format!("{e:?}")))?;
    let (width, height) = (image.width(), image.height());
    if width == 0 || height == 0 || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(CardError::Photo(format!(
            "unexpected size {width}x{height}"
        )));
    }
    let colour = match image.color_space() {
        ColorSpace::Gray => false,
        ColorSpace::RGB => true,
        ColorSpace::Icc {
            num_channels: 1, ..
        } => false,
        ColorSpace::Icc {
            num_channels: 3, ..
        } => true,
        other => {
            return Err(CardError::Photo(format!(
                "unsupported colour space {other:?}"
            )));
        }
    };
    let alpha = usize::from(image.has_alpha());
    let mut ctx = DecoderContext::default();
    let decoded = image
        .decode(&mut ctx)
        .map_err(|e| CardError::Photo(format!("{e:?}")))?;
    let data = decoded.data_u8();
    let channels = if colour { 3 } else { 1 } + alpha;
    let n = width as usize * height as usize;
    if data.len() != n * channels {
        return Err(CardError::Photo(format!(
            "decoder returned {} bytes for {width}x{height}x{channels}",
            data.len()
        )));
    }
    let pixels = data
        .chunks_exact(channels)
        .map(|px| {
            if colour {
                let y = 299 * u32::from(px[0]) + 587 * u32::from(px[1]) + 114 * u32::from(px[2]);
                (y / 1000) as u8
            } else {
                px[0]
            }
        })
        .collect();
    Ok(GrayImage {
        width,
        height,
        pixels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            &b""[..],
            b"\x00\x00\x00\x0CjP  \r\n\x87\n",
            b"\xFF\x4F\xFF\x51\x00\x29",
            &[0u8; 64],
        ] {
            assert_eq!(decode_jp2(bad).unwrap_err().code(), "card.photo");
        }
    }

    #[test]
    fn png_round_trip_keeps_size() {
        let img = GrayImage {
            width: 3,
            height: 2,
            pixels: vec![0, 50, 100, 150, 200, 250],
        };
        let png = img.to_png().unwrap();
        let dec = png::Decoder::new(std::io::Cursor::new(png));
        let mut r = dec.read_info().unwrap();
        let mut buf = vec![0; r.output_buffer_size().unwrap()];
        let info = r.next_frame(&mut buf).unwrap();
        assert_eq!((info.width, info.height), (3, 2));
        assert_eq!(&buf[..6], &img.pixels[..]);
        assert_eq!(format!("{img:?}"), "GrayImage(3x2, <pixels redacted>)");
    }
}
