//! The procedure engine's ports as the kiosk implements them: the card over PC/SC
//! ([`card`]), the face check over the camera and the face engine ([`face`]), the records
//! over the ledger ([`records`]), the face credential over the ledger's signed trust lists
//! ([`credential`]), the calls to the bank's backend a procedure waits for ([`backend`]).
//! The screens port is [`crate::screens`].

pub mod backend;
pub mod card;
pub mod credential;
pub mod face;
pub mod records;
