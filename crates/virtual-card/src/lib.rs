//! A software My Number card that answers the real APDUs with test keys and a test CA, and a
//! bridge that serves it to the real `pcscd` through the `vsmartcard-vpcd` driver. Written
//! from the protocol facts (`shared/design/research/card-and-metrics-notes.md`),
//! independently of the reader-side code in `card`, so that the two check each other.
//!
//! Status: empty. The virtual card arrives with the card issue; until then the kiosk reports
//! the simulated reader as missing rather than pretending.
//!
//! What it must not do: hold a real person's data or a production key, be linked into the
//! kiosk's production code paths other than behind `--simulate`, or share parsing code with
//! `card`.
