//! The frame reader: clean symbols of every size we issue, a small slice of the synthetic
//! phone-screen set, region tracking between frames, and randomized decode round trips.

use std::time::Duration;

use image::GrayImage;
use madoguchi_faceqr::read::{
    QrReader, ReaderConfig, adaptive_threshold, decode_rqrr, decode_rxing, normalise_local,
};
use madoguchi_faceqr::{render, synth};
use proptest::prelude::*;

fn reader() -> QrReader {
    QrReader::new(ReaderConfig {
        budget: Duration::from_secs(2),
    })
}

fn on_canvas(sym: &GrayImage, w: u32, h: u32, x: i64, y: i64) -> GrayImage {
    let mut canvas = GrayImage::from_pixel(w, h, image::Luma([120]));
    image::imageops::overlay(&mut canvas, sym, x, y);
    canvas
}

#[test]
fn clean_symbols_of_every_issued_size_decode() {
    let mut rng = synth::Rng::new(11);
    let mut n = 0;
    for bytes in [280, 310, 420, 520, 640] {
        let text = synth::credential_like_text(&mut rng, bytes);
        let code = render::symbol(&text).expect("fits");
        for px in [3, 4, 6] {
            let img = render::to_image(&code, px);
            let frame = on_canvas(&img, img.width() + 80, img.height() + 60, 40, 30);
            let got = reader().read(&frame).map(|r| r.text);
            assert_eq!(
                got.as_deref(),
                Some(text.as_str()),
                "v{} at {px} px/module",
                render::version(&code)
            );
            n += 1;
        }
    }
    println!("{n} clean symbols decoded");
}

#[test]
fn phone_screen_slice_decodes_and_beats_single_decoders() {
    // The first 16 samples of the benchmark's distribution with another seed.
    let set = synth::robustness_set(0x5EED, 16).expect("set");
    let (mut ours, mut rx, mut rq) = (0, 0, 0);
    for s in &set {
        if reader().read(&s.image).map(|r| r.text).as_deref() == Some(s.text.as_str()) {
            ours += 1;
        }
        if decode_rxing(&s.image).map(|r| r.0).as_deref() == Some(s.text.as_str()) {
            rx += 1;
        }
        if decode_rqrr(&s.image).as_deref() == Some(s.text.as_str()) {
            rq += 1;
        }
    }
    println!("phone-screen slice: ours {ours}/16, rxing alone {rx}/16, rqrr alone {rq}/16");
    assert!(
        ours >= rx && ours >= rq,
        "the pipeline lost to a single decoder"
    );
    assert!(ours >= 10, "pipeline decoded only {ours}/16");
}

#[test]
fn tracked_region_is_used_on_the_next_frame() {
    let mut rng = synth::Rng::new(3);
    let text = synth::credential_like_text(&mut rng, 305);
    let img = render::to_image(&render::symbol(&text).expect("fits"), 4);
    let mut r = reader();
    let first = r
        .read(&on_canvas(&img, 1280, 720, 500, 150))
        .expect("first frame");
    assert_eq!(first.stage, "rxing");
    let region = r.tracked().expect("region tracked");
    assert!(
        region.x >= 500 && region.x < 560 && region.y >= 150 && region.y < 210,
        "{region:?}"
    );
    // The phone moved a little.
    let second = r
        .read(&on_canvas(&img, 1280, 720, 520, 160))
        .expect("second frame");
    assert_eq!(second.stage, "tracked");
    assert_eq!(second.text, text);
    // Gone: tracking is dropped and the whole frame searched.
    assert!(
        r.read(&GrayImage::from_pixel(640, 480, image::Luma([90])))
            .is_none()
    );
    assert!(r.tracked().is_none());
}

#[test]
fn preprocessing_flattens_and_thresholds() {
    // A horizontal brightness ramp (glare-like) with a dark square on it.
    let img = GrayImage::from_fn(100, 60, |x, y| {
        let base = 60 + (x * 19 / 10) as u8;
        if (40..60).contains(&x) && (20..40).contains(&y) {
            image::Luma([base / 3])
        } else {
            image::Luma([base])
        }
    });
    let n = normalise_local(&img, 6);
    // Far from the square the ramp is flattened to mid-grey.
    assert!(
        (n.get_pixel(5, 5).0[0] as i32 - 128).abs() < 20,
        "{}",
        n.get_pixel(5, 5).0[0]
    );
    assert!(
        (n.get_pixel(95, 5).0[0] as i32 - 128).abs() < 20,
        "{}",
        n.get_pixel(95, 5).0[0]
    );
    let t = adaptive_threshold(&img, 8, 5.0);
    assert_eq!(t.get_pixel(42, 22).0[0], 0, "square edge is black");
    assert_eq!(t.get_pixel(5, 5).0[0], 255, "background is white");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    /// Any alphanumeric text up to our largest credential, rendered at 3–6 px/module, decodes
    /// back to itself.
    #[test]
    fn random_text_round_trips(text in "[0-9A-Z $%*+./:-]{1,600}", px in 3u32..=6, dx in 0i64..40, dy in 0i64..40) {
        let code = render::symbol(&text).expect("fits");
        let img = render::to_image(&code, px);
        let frame = on_canvas(&img, img.width() + 80, img.height() + 80, dx, dy);
        let got = reader().read(&frame).map(|r| r.text);
        prop_assert_eq!(got.as_deref(), Some(text.as_str()));
    }

    /// Arbitrary pixels never make the reader panic, and a small budget is respected.
    #[test]
    fn random_frames_do_not_panic(w in 8u32..200, h in 8u32..200, seed in any::<u64>()) {
        let mut rng = synth::Rng::new(seed);
        let img = GrayImage::from_fn(w, h, |_, _| image::Luma([rng.next_u64() as u8]));
        let mut r = QrReader::new(ReaderConfig { budget: Duration::from_millis(20) });
        let _ = r.read(&img);
    }
}

#[test]
fn locate_screen_finds_the_bright_phone_screen() {
    let mut rng = synth::Rng::new(5);
    let text = synth::credential_like_text(&mut rng, 300);
    let sym = render::to_image(&render::symbol(&text).expect("fits"), 3);
    let mut frame = GrayImage::from_pixel(1280, 720, image::Luma([60]));
    image::imageops::overlay(&mut frame, &sym, 700, 200);
    let r = madoguchi_faceqr::read::locate_screen(&frame).expect("screen found");
    let (sw, sh) = (sym.width(), sym.height());
    assert!(r.x <= 700 && r.y <= 200, "{r:?}");
    assert!(
        r.x + r.w >= 700 + sw && r.y + r.h >= 200 + sh,
        "{r:?} does not contain the symbol"
    );
    assert!(
        r.w < sw * 2 && r.h < sh * 2,
        "{r:?} is far larger than the screen"
    );
    assert!(
        madoguchi_faceqr::read::locate_screen(&GrayImage::from_pixel(640, 480, image::Luma([90])))
            .is_none()
    );
}

#[test]
fn tiny_and_shrinking_frames_are_safe() {
    let mut rng = synth::Rng::new(8);
    let text = synth::credential_like_text(&mut rng, 300);
    let sym = render::to_image(&render::symbol(&text).expect("fits"), 4);
    let mut r = reader();
    assert!(r.read(&on_canvas(&sym, 1280, 720, 800, 300)).is_some());
    assert!(r.tracked().is_some());
    // The next frame is smaller than the tracked region's position, then degenerate.
    assert!(
        r.read(&GrayImage::from_pixel(320, 240, image::Luma([128])))
            .is_none()
    );
    assert!(r.read(&GrayImage::new(0, 0)).is_none());
    assert!(r.read(&GrayImage::new(1, 5)).is_none());
    assert!(decode_rxing(&GrayImage::new(3, 3)).is_none());
    assert!(decode_rqrr(&GrayImage::new(3, 3)).is_none());
}
