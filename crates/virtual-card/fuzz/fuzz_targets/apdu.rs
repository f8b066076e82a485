//! Fuzz target: sequences of command APDUs against the virtual card (APDU parser and engine).
//! The input format and the checks are in `madoguchi_virtual_card::fuzzing`.
#![no_main]

use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use madoguchi_virtual_card::{VirtualCard, fuzzing, profile};

static CARD: OnceLock<VirtualCard> = OnceLock::new();

fuzz_target!(|data: &[u8]| {
    let card = CARD.get_or_init(|| {
        let p = profile("hopper").expect("profile");
        VirtualCard::new(&p, None).expect("card")
    });
    fuzzing::run_input(card, data);
});
