//! Fuzz target: every parser the kiosk runs on bytes from a card (chunked reads over arbitrary
//! response APDUs, My Number file, attributes, integrity record, card face, CV and X.509
//! certificates, the JPEG 2000 photo). Run: `cd crates/card/fuzz && cargo +nightly fuzz run
//! card_responses`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _accepted = madoguchi_card::parse::parse_everything(data);
});
