//! Fuzzes the frame reader: arbitrary bytes as a small greyscale frame (first byte picks the
//! width) must decode or not without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use madoguchi_faceqr::read::{QrReader, ReaderConfig};

fuzz_target!(|data: &[u8]| {
    let Some((&w, rest)) = data.split_first() else {
        return;
    };
    let w = u32::from(w % 96) + 8;
    let h = (rest.len() as u32 / w).min(128);
    if h < 8 {
        return;
    }
    let pixels = rest[..(w * h) as usize].to_vec();
    let Some(img) = image::GrayImage::from_raw(w, h, pixels) else {
        return;
    };
    let mut reader = QrReader::new(ReaderConfig {
        budget: std::time::Duration::from_millis(50),
    });
    let _ = reader.read(&img);
});
