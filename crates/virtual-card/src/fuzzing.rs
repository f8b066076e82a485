//! The body of the fuzz target, shared by `fuzz/fuzz_targets/apdu.rs` (cargo-fuzz, libFuzzer)
//! and the corpus replay test (`tests/fuzz_corpus.rs`), so the same checks run in both.
//!
//! An input is a sequence of command APDUs, each prefixed by one length byte, sent to a freshly
//! powered card; a length byte of 0xFF power-cycles the card instead. The checks: the parser
//! never panics, every response ends in a status word, no response is longer than 256 data
//! bytes + SW for a short command (65536 for extended), and a card answers `6F00` only when
//! unpowered. It does not generate inputs.

use crate::{VirtualCard, apdu};

/// Runs one fuzz input against `pristine` (cloned, so every input starts from the same card).
/// Returns the number of APDUs sent. Panics (the fuzzer's crash signal) when a check fails.
pub fn run_input(pristine: &VirtualCard, input: &[u8]) -> usize {
    let mut card = pristine.clone();
    card.power_on();
    let mut rest = input;
    let mut sent = 0;
    while let Some((&len, tail)) = rest.split_first() {
        if len == 0xFF {
            card.power_off();
            card.power_on();
            rest = tail;
            continue;
        }
        let n = usize::from(len).min(tail.len());
        let (cmd, next) = tail.split_at(n);
        rest = next;
        let parsed = apdu::parse(cmd);
        let response = card.transmit(cmd);
        sent += 1;
        assert!(response.len() >= 2, "response without a status word");
        let sw = u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]]);
        assert_ne!(sw, 0x6F00, "powered card answered 6F00");
        let max = match &parsed {
            Ok(c) if c.extended => 65536,
            _ => 256,
        };
        assert!(response.len() - 2 <= max, "response longer than Le allows");
        if parsed.is_err() {
            assert_eq!(sw, apdu::sw::WRONG_LENGTH, "malformed APDU must get 6700");
        }
    }
    sent
}
