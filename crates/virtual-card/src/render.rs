//! Renders the card-face texts (氏名, 住所, セキュリティコード, 個人番号) as 1-bit greyscale PNG
//! images for a profile file's card, in pure Rust: `ab_glyph` rasterises Noto Sans CJK (face 0
//! of the system's `NotoSansCJK-Regular.ttc`, Debian `fonts-noto-cjk`), coverage is
//! thresholded at 50 %, `png` writes the image.
//!
//! Sizes follow the committed fixtures (`fixtures/make-images.sh`, ImageMagick at 72 dpi):
//! name 20 pt and address 14 pt on a canvas fitted to the text; security code 24×12 and
//! My Number 72×12 at 10 pt, centred. Like the fixtures it is a stand-in for the card's own
//! font. It does not lay out lines (one line, no wrapping), shape complex scripts or log the
//! text it renders.

use std::path::Path;

use ab_glyph::{Font, FontRef, PxScale, ScaleFont, point};

use crate::Error;

/// Where Debian's fonts-noto-cjk installs the font.
pub(crate) const FONT_PATH: &str = "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc";
/// The package that provides it.
pub(crate) const FONT_PACKAGE: &str = "fonts-noto-cjk";

/// Which card-face text (each has its own size).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TextKind {
    /// 氏名: 20 pt, canvas fitted to the text.
    Name,
    /// 住所: 14 pt, canvas fitted to the text.
    Address,
    /// セキュリティコード: 10 pt centred on 24×12.
    SecurityCode,
    /// 個人番号: 10 pt centred on 72×12.
    MyNumber,
}

impl TextKind {
    /// Point size (at 72 dpi: pixels per em) and fixed canvas, if any.
    fn layout(self) -> (f32, Option<(u32, u32)>) {
        match self {
            TextKind::Name => (20.0, None),
            TextKind::Address => (14.0, None),
            TextKind::SecurityCode => (10.0, Some((24, 12))),
            TextKind::MyNumber => (10.0, Some((72, 12))),
        }
    }
}

/// Why a text could not be rendered.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RenderError {
    /// A character the font has no glyph for (the character is not reported: it is personal
    /// data).
    MissingGlyph,
    /// The text is too long for an image.
    TooLong,
    /// PNG encoding failed.
    Png(String),
}

/// The card-face font, loaded once per profile file.
pub(crate) struct Renderer {
    data: Vec<u8>,
}

impl Renderer {
    /// Loads the system font ([`FONT_PATH`]).
    pub(crate) fn load() -> Result<Self, Error> {
        Self::load_from(Path::new(FONT_PATH))
    }

    /// Loads face 0 of the font collection at `path`; a missing or unusable file is an error
    /// naming the package.
    pub(crate) fn load_from(path: &Path) -> Result<Self, Error> {
        let missing = |reason: String| Error::MissingDependency {
            what: format!("the card-face font {}", path.display()),
            package: FONT_PACKAGE,
            reason,
        };
        let data = std::fs::read(path).map_err(|e| missing(e.to_string()))?;
        FontRef::try_from_slice_and_index(&data, 0)
            .map_err(|e| missing(format!("not a usable font: {e}")))?;
        Ok(Renderer { data })
    }

    fn font(&self) -> Result<FontRef<'_>, RenderError> {
        // Checked in `load_from`; cannot fail on the same bytes.
        FontRef::try_from_slice_and_index(&self.data, 0)
            .map_err(|e| RenderError::Png(format!("font: {e}")))
    }

    /// The text as a 1-bit greyscale PNG (black text on white).
    pub(crate) fn render(&self, kind: TextKind, text: &str) -> Result<Vec<u8>, RenderError> {
        let font = self.font()?;
        let (pt, canvas) = kind.layout();
        let units_per_em = font.units_per_em().unwrap_or(1000.0);
        // ImageMagick's -pointsize at 72 dpi: one em is `pt` pixels.
        let scale = PxScale::from(pt * font.height_unscaled() / units_per_em);
        let scaled = font.as_scaled(scale);
        let ascent = scaled.ascent();
        let line_height = scaled.ascent() - scaled.descent();

        // Lay out one line from x = 0 on the baseline y = 0.
        let mut glyphs = Vec::new();
        let mut caret = 0.0f32;
        let mut previous = None;
        for c in text.chars() {
            let id = font.glyph_id(c);
            if id.0 == 0 && !c.is_whitespace() {
                return Err(RenderError::MissingGlyph);
            }
            if let Some(p) = previous {
                caret += scaled.kern(p, id);
            }
            glyphs.push((id, caret));
            caret += scaled.h_advance(id);
            previous = Some(id);
        }
        let text_width = caret;

        let (width, height, origin_x, baseline) = match canvas {
            None => (
                text_width.ceil() as u32 + 1,
                line_height.ceil() as u32 + 2,
                0.5,
                1.0 + ascent,
            ),
            Some((w, h)) => (
                w,
                h,
                (w as f32 - text_width) / 2.0,
                (h as f32 - line_height) / 2.0 + ascent,
            ),
        };
        if width > 4096 || height > 256 {
            return Err(RenderError::TooLong);
        }

        let (w, h) = (width as usize, height as usize);
        let mut coverage = vec![0.0f32; w * h];
        for (id, x) in glyphs {
            let glyph = id.with_scale_and_position(scale, point(origin_x + x, baseline));
            let Some(outline) = font.outline_glyph(glyph) else {
                continue; // a space
            };
            let bounds = outline.px_bounds();
            outline.draw(|gx, gy, c| {
                let x = bounds.min.x as i64 + i64::from(gx);
                let y = bounds.min.y as i64 + i64::from(gy);
                if (0..w as i64).contains(&x) && (0..h as i64).contains(&y) {
                    let cell = &mut coverage[y as usize * w + x as usize];
                    *cell = (*cell + c).min(1.0);
                }
            });
        }
        let ink: Vec<bool> = coverage.iter().map(|&c| c >= 0.5).collect();
        png_1bit(width, height, &ink).map_err(RenderError::Png)
    }
}

/// A 1-bit greyscale PNG: `ink` pixels (row-major) black, the rest white.
pub(crate) fn png_1bit(width: u32, height: u32, ink: &[bool]) -> Result<Vec<u8>, String> {
    let w = width as usize;
    let row_bytes = w.div_ceil(8);
    let mut packed = vec![0u8; row_bytes * height as usize];
    for (y, row) in ink.chunks(w.max(1)).enumerate() {
        for (x, &black) in row.iter().enumerate() {
            if !black {
                // 1 = white in a 1-bit greyscale PNG.
                packed[y * row_bytes + x / 8] |= 0x80 >> (x % 8);
            }
        }
    }
    let mut out = Vec::new();
    let mut enc = png::Encoder::new(&mut out, width, height);
    enc.set_color(png::ColorType::Grayscale);
    enc.set_depth(png::BitDepth::One);
    let mut writer = enc.write_header().map_err(|e| format!("PNG: {e}"))?;
    writer
        .write_image_data(&packed)
        .map_err(|e| format!("PNG: {e}"))?;
    writer.finish().map_err(|e| format!("PNG: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Width, height, colour type and bit depth from the IHDR chunk.
    fn ihdr(png: &[u8]) -> (u32, u32, u8, u8) {
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let w = u32::from_be_bytes(png[16..20].try_into().unwrap());
        let h = u32::from_be_bytes(png[20..24].try_into().unwrap());
        (w, h, png[25], png[24])
    }

    fn black_pixels(png: &[u8]) -> usize {
        let mut decoder = png::Decoder::new(std::io::Cursor::new(png));
        decoder.set_transformations(png::Transformations::IDENTITY);
        let mut reader = decoder.read_info().unwrap();
        let mut buf = vec![0; reader.output_buffer_size().unwrap()];
        let info = reader.next_frame(&mut buf).unwrap();
        let row_bytes = (info.width as usize).div_ceil(8);
        (0..info.height as usize)
            .flat_map(|y| (0..info.width as usize).map(move |x| (x, y)))
            .filter(|&(x, y)| buf[y * row_bytes + x / 8] & (0x80 >> (x % 8)) == 0)
            .count()
    }

    #[test]
    fn sizes_match_the_committed_fixtures() {
        let r = Renderer::load().unwrap();
        // fixtures/text/hopper-*.png, rendered by ImageMagick: 101×31, 267×23, 24×12, 72×12.
        let name = r.render(TextKind::Name, "試験\u{3000}花子").unwrap();
        assert_eq!(ihdr(&name), (101, 31, 0, 1));
        let address = r
            .render(TextKind::Address, "東京都千代田区霞が関試験一丁目１番１号")
            .unwrap();
        assert_eq!(ihdr(&address), (267, 23, 0, 1));
        let code = r.render(TextKind::SecurityCode, "2285").unwrap();
        assert_eq!(ihdr(&code), (24, 12, 0, 1));
        let number = r.render(TextKind::MyNumber, "123456789018").unwrap();
        assert_eq!(ihdr(&number), (72, 12, 0, 1));
        for png in [&name, &address, &code, &number] {
            let black = black_pixels(png);
            assert!(black > 20, "{black} black pixels");
        }
        // Deterministic.
        assert_eq!(r.render(TextKind::Name, "試験\u{3000}花子").unwrap(), name);
    }

    #[test]
    fn a_character_without_a_glyph_is_an_error_not_a_box() {
        let r = Renderer::load().unwrap();
        assert_eq!(
            r.render(TextKind::Name, "試験\u{3000}\u{E000}"),
            Err(RenderError::MissingGlyph)
        );
    }

    #[test]
    fn a_missing_font_names_the_package() {
        let Err(e) = Renderer::load_from(Path::new("/nonexistent/NotoSansCJK-Regular.ttc")) else {
            panic!("loaded a missing font");
        };
        assert!(e.to_string().contains("fonts-noto-cjk"), "{e}");
    }

    #[test]
    fn one_bit_png_packs_rows_msb_first() {
        // 9×2: the first pixel of each row and the last of the second are black.
        let mut ink = vec![false; 18];
        ink[0] = true;
        ink[9] = true;
        ink[17] = true;
        let png = png_1bit(9, 2, &ink).unwrap();
        assert_eq!(ihdr(&png), (9, 2, 0, 1));
        assert_eq!(black_pixels(&png), 3);
    }
}
