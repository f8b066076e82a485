//! Rendering a credential as a QR symbol (EC level Q, alphanumeric mode) to a greyscale image,
//! PNG or SVG. It does not choose what to encode and refuses symbols above the size budget.

use image::{GrayImage, Luma};
use qrcode::{EcLevel, QrCode, Version};

use crate::error::{Error, Result};

/// Largest QR version a credential may need (readability from a phone screen).
pub const MAX_VERSION: i16 = 25;

/// Builds the symbol at EC level Q; errors when it needs a version above [`MAX_VERSION`].
pub fn symbol(text: &str) -> Result<QrCode> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::Q)
        .map_err(|e| Error::Render(e.to_string()))?;
    let v = version(&code);
    if v > MAX_VERSION {
        return Err(Error::Render(format!(
            "needs QR version {v}, above the budget of {MAX_VERSION}"
        )));
    }
    Ok(code)
}

/// The QR version number of a symbol (micro QR reported as 0).
pub fn version(code: &QrCode) -> i16 {
    match code.version() {
        Version::Normal(v) => v,
        Version::Micro(_) => 0,
    }
}

/// Renders with `module_px` pixels per module and a 4-module quiet zone.
pub fn to_image(code: &QrCode, module_px: u32) -> GrayImage {
    let px = module_px.max(1);
    code.render::<Luma<u8>>()
        .quiet_zone(true)
        .module_dimensions(px, px)
        .build()
}

/// PNG bytes of the symbol.
pub fn to_png(code: &QrCode, module_px: u32) -> Result<Vec<u8>> {
    let img = to_image(code, module_px);
    let mut out = std::io::Cursor::new(Vec::new());
    img.write_to(&mut out, image::ImageFormat::Png)
        .map_err(|e| Error::Image(e.to_string()))?;
    Ok(out.into_inner())
}

/// SVG text of the symbol.
pub fn to_svg(code: &QrCode, module_px: u32) -> String {
    let px = module_px.max(1);
    code.render::<qrcode::render::svg::Color<'_>>()
        .quiet_zone(true)
        .module_dimensions(px, px)
        .build()
}

/// Writes PNG or SVG according to the file extension (`.svg`, otherwise PNG).
pub fn export(code: &QrCode, path: &std::path::Path, module_px: u32) -> Result<()> {
    let svg = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let bytes = if svg {
        to_svg(code, module_px).into_bytes()
    } else {
        to_png(code, module_px)?
    };
    std::fs::write(path, bytes).map_err(|source| Error::Io {
        path: path.display().to_string(),
        source,
    })
}
