//! Parsing command APDUs (ISO/IEC 7816-3 cases 1–4, short and extended) and the status words
//! the virtual card answers with.
//!
//! This is the card's only parser of untrusted bytes and the target of the fuzzer
//! (`fuzz/fuzz_targets/apdu.rs`): it never panics and never allocates from a length field.
//! It does not interpret instructions (see `card`).

/// Status words the card uses (JICSAP / ISO 7816-4), named.
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// Wrong length (Lc/Le, or an APDU shorter than its header says).
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Logical channel not supported.
    pub const CHANNEL_NOT_SUPPORTED: u16 = 0x6881;
    /// Secure messaging not supported.
    pub const SM_NOT_SUPPORTED: u16 = 0x6882;
    /// Command incompatible with the file structure.
    pub const INCOMPATIBLE_FILE: u16 = 0x6981;
    /// Security status not satisfied.
    pub const SECURITY_NOT_SATISFIED: u16 = 0x6982;
    /// Authentication method (key) blocked.
    pub const BLOCKED: u16 = 0x6984;
    /// Conditions of use not satisfied.
    pub const CONDITIONS_NOT_SATISFIED: u16 = 0x6985;
    /// Command not allowed: no current EF.
    pub const NO_CURRENT_EF: u16 = 0x6986;
    /// Incorrect data field.
    pub const WRONG_DATA: u16 = 0x6A80;
    /// Function not supported.
    pub const FUNCTION_NOT_SUPPORTED: u16 = 0x6A81;
    /// File or application not found.
    pub const FILE_NOT_FOUND: u16 = 0x6A82;
    /// Incorrect P1-P2.
    pub const WRONG_P1P2: u16 = 0x6A86;
    /// Referenced data (key) not found.
    pub const REFERENCED_DATA_NOT_FOUND: u16 = 0x6A88;
    /// Offset beyond the end of the EF (JICSAP).
    pub const OFFSET_BEYOND_EOF: u16 = 0x6B00;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6D00;
    /// Class not supported.
    pub const CLA_NOT_SUPPORTED: u16 = 0x6E00;
    /// No SM key configured for SET SESSION KEY (券面事項確認AP).
    pub const NO_SM_KEY: u16 = 0x66F1;
    /// Verification failed with `n` tries left (`n` ≤ 15).
    pub const fn tries_left(n: u8) -> u16 {
        0x63C0 | (n as u16 & 0x0F)
    }
    /// Wrong Le: resend with Le = `n`.
    pub const fn correct_le(n: u8) -> u16 {
        0x6C00 | n as u16
    }
}

/// A parsed command APDU, borrowing its data field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command<'a> {
    /// Class byte.
    pub cla: u8,
    /// Instruction byte.
    pub ins: u8,
    /// Parameter 1.
    pub p1: u8,
    /// Parameter 2.
    pub p2: u8,
    /// Command data (empty for cases 1 and 2).
    pub data: &'a [u8],
    /// Expected response length with 0 already mapped to 256 (short) or 65536 (extended);
    /// `None` for cases 1 and 3.
    pub le: Option<usize>,
    /// Whether the extended-length form was used.
    pub extended: bool,
}

/// Why bytes are not a command APDU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Fewer than the 4 header bytes.
    TooShort,
    /// The length fields do not match the number of bytes.
    BadLength,
}

/// Parses one command APDU.
pub fn parse(raw: &[u8]) -> Result<Command<'_>, ParseError> {
    let [cla, ins, p1, p2, body @ ..] = raw else {
        return Err(ParseError::TooShort);
    };
    let mut cmd = Command {
        cla: *cla,
        ins: *ins,
        p1: *p1,
        p2: *p2,
        data: &[],
        le: None,
        extended: false,
    };
    match body {
        // Case 1.
        [] => {}
        // Case 2S.
        [le] => cmd.le = Some(short_le(*le)),
        // Extended: a zero byte then two length bytes.
        [0, rest @ ..] if rest.len() >= 2 => {
            cmd.extended = true;
            let n = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
            let tail = &rest[2..];
            if tail.is_empty() {
                // Case 2E.
                cmd.le = Some(if n == 0 { 65536 } else { n });
            } else {
                if n == 0 {
                    return Err(ParseError::BadLength);
                }
                match tail.len().checked_sub(n) {
                    // Case 3E.
                    Some(0) => cmd.data = tail,
                    // Case 4E.
                    Some(2) => {
                        cmd.data = &tail[..n];
                        let le = usize::from(u16::from_be_bytes([tail[n], tail[n + 1]]));
                        cmd.le = Some(if le == 0 { 65536 } else { le });
                    }
                    _ => return Err(ParseError::BadLength),
                }
            }
        }
        [0, ..] => return Err(ParseError::BadLength),
        [lc, rest @ ..] => {
            let n = usize::from(*lc);
            match rest.len().checked_sub(n) {
                // Case 3S.
                Some(0) => cmd.data = rest,
                // Case 4S.
                Some(1) => {
                    cmd.data = &rest[..n];
                    cmd.le = Some(short_le(rest[n]));
                }
                _ => return Err(ParseError::BadLength),
            }
        }
    }
    Ok(cmd)
}

fn short_le(b: u8) -> usize {
    if b == 0 { 256 } else { usize::from(b) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_cases_short() {
        let c = parse(&[0x00, 0x20, 0x00, 0x80]).expect("case 1");
        assert_eq!((c.data, c.le), (&[][..], None));
        let c = parse(&[0x00, 0xB0, 0x00, 0x00, 0x00]).expect("case 2");
        assert_eq!(c.le, Some(256));
        let c = parse(&[0x00, 0xA4, 0x02, 0x0C, 0x02, 0x00, 0x0A]).expect("case 3");
        assert_eq!((c.data, c.le), (&[0x00, 0x0A][..], None));
        let c = parse(&[0x80, 0x2A, 0x00, 0x80, 0x02, 0xAA, 0xBB, 0x00]).expect("case 4");
        assert_eq!((c.data, c.le), (&[0xAA, 0xBB][..], Some(256)));
        assert!(!c.extended);
    }

    #[test]
    fn parses_the_extended_cases() {
        let c = parse(&[0x00, 0xB0, 0x81, 0x00, 0x00, 0x00, 0x00]).expect("case 2E");
        assert_eq!(c.le, Some(65536));
        assert!(c.extended);
        let c = parse(&[0x00, 0x20, 0x00, 0x80, 0x00, 0x00, 0x02, 0x31, 0x32]).expect("3E");
        assert_eq!(c.data, b"12");
        let c = parse(&[0x80, 0x2A, 0x00, 0x80, 0x00, 0x00, 0x01, 0xAA, 0x01, 0x00]).expect("4E");
        assert_eq!((c.data, c.le), (&[0xAA][..], Some(256)));
    }

    #[test]
    fn rejects_inconsistent_lengths() {
        assert_eq!(parse(&[0x00, 0xA4, 0x02]), Err(ParseError::TooShort));
        assert_eq!(parse(&[]), Err(ParseError::TooShort));
        assert_eq!(parse(&[0, 0xA4, 2, 0x0C, 2, 0]), Err(ParseError::BadLength));
        assert_eq!(
            parse(&[0, 0xA4, 2, 0x0C, 2, 0, 1, 2, 3]),
            Err(ParseError::BadLength)
        );
        assert_eq!(parse(&[0, 0xA4, 2, 0x0C, 0, 0]), Err(ParseError::BadLength));
        assert_eq!(
            parse(&[0, 0xA4, 2, 0x0C, 0, 0, 0, 1]),
            Err(ParseError::BadLength)
        );
    }
}
