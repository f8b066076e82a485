//! Everything the kiosk parses from card responses, in one entry point for the fuzz target
//! and the robustness tests: the chunked reader over arbitrary response APDUs, the My Number
//! file, the `myna-card` parsers the kiosk relies on (attributes, integrity record, card face,
//! CV certificate, X.509), and the JPEG 2000 decoder. None may panic on any input.
//! It decides nothing; it only exercises the parsers.

use std::collections::VecDeque;

use myna_card::Transmit;

use crate::error::Result;
use crate::link::CardLink;
use crate::progress::Step;

/// A link that answers with canned responses (then `6A82`); exclusive, unpower is a no-op.
#[derive(Debug, Default)]
pub struct ScriptedLink {
    responses: VecDeque<Vec<u8>>,
    /// Commands sent.
    pub sent: Vec<Vec<u8>>,
}

impl ScriptedLink {
    /// A link that answers `responses` in order.
    pub fn new(responses: impl IntoIterator<Item = Vec<u8>>) -> Self {
        ScriptedLink {
            responses: responses.into_iter().collect(),
            sent: Vec::new(),
        }
    }
}

impl Transmit for ScriptedLink {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        self.sent.push(command.to_vec());
        Ok(self
            .responses
            .pop_front()
            .unwrap_or_else(|| vec![0x6A, 0x82]))
    }
}

impl CardLink for ScriptedLink {
    fn is_exclusive(&self) -> bool {
        true
    }
    fn unpower(&mut self) -> Result<()> {
        Ok(())
    }
}

/// Runs every parser on `data` and returns how many accepted it. The first byte picks how
/// `data` is cut into response APDUs for the chunked reader; the whole input also goes to each
/// file parser.
pub fn parse_everything(data: &[u8]) -> usize {
    use myna_card::ap::{surface, text};
    let mut accepted = [
        crate::identity::parse_my_number(data).is_ok(),
        text::Attributes::parse(data).is_ok(),
        text::Attributes::digest_source(data).is_ok(),
        text::IntegrityRecord::parse(data).is_ok(),
        surface::CardFace::parse(data).is_ok(),
        myna_card::CardVerifiableCertificate::parse(data).is_ok(),
        myna_card::Certificate::parse(data).is_ok(),
        myna_card::ap::jpki::CertificateAvailability::parse(data).is_ok(),
        data.len() <= 64 * 1024 && crate::photo::decode_jp2(data).is_ok(),
    ]
    .iter()
    .filter(|ok| **ok)
    .count();
    // Cut the rest into responses of pseudo-random sizes and read a file through them.
    if let Some((&seed, rest)) = data.split_first() {
        let step = usize::from(seed % 7) * 50 + 1;
        let responses: Vec<Vec<u8>> = std::iter::once(vec![0x90, 0x00])
            .chain(rest.chunks(step).map(<[u8]>::to_vec))
            .collect();
        let mut card = myna_card::Card::new(ScriptedLink::new(responses));
        if crate::session::read_file(&mut card, 0x0002, Step::CardFace, &mut |_| {}).is_ok() {
            accepted += 1;
        }
    }
    accepted
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic pseudo-random inputs through every parser: none may panic.
    #[test]
    fn parsers_survive_random_and_truncated_inputs() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for len in 0..400usize {
            let data: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            parse_everything(&data);
        }
        // Valid inputs are accepted by their parser (the harness is not rejecting everything).
        let mut my_number = vec![0xFF, 0x10, 0x0C];
        my_number.extend_from_slice(b"123456789018\xFF\xFF");
        assert!(parse_everything(&my_number) >= 1);
        assert!(parse_everything(&[0x8F, 0x8F, 0x00]) >= 1);
        // Plausible prefixes: TLV headers with absurd lengths.
        for prefix in [
            &[0xFF, 0x20, 0x82, 0xFF, 0xFF][..],
            &[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF],
            &[0x7F, 0x21, 0x81],
            &[0xFF, 0x10, 0x0C],
        ] {
            for cut in 0..prefix.len() + 3 {
                let mut d = prefix.to_vec();
                d.extend(std::iter::repeat_n(0x41, cut));
                parse_everything(&d);
            }
        }
    }
}
