//! My Number card access for the kiosk, through the system's PC/SC service (`pcscd` on
//! Linux) with the `pcsc` crate. The `myna-card` crate will carry the card protocol; this
//! crate adds what the kiosk needs on top of it.
//!
//! Today: listing the readers and whether a card is present, for the device status and
//! diagnostics ([`readers`]). Coming with the card issue: PIN-safety policy, reading one
//! customer's card into a `CardReading`, the chip photo, evidence signing.
//!
//! What it must not do: identify a card by its ATR (cards are identified by SELECTing the
//! applications), send a PIN when one try is left, keep a PIN after use, log a PIN or any
//! card data, or know about Tauri, the UI, the database or the network.

pub mod readers;

pub use readers::{ReaderInfo, ReadersError, list_readers};
