//! In-process transport: `myna_card::Transmit` over a [`VirtualCard`] in the same process, for
//! fast unit tests of reader code without pcscd.
//!
//! It powers the card on when created, counts APDUs, and can simulate the card leaving the
//! reader: [`InProcess::remove`] now, or [`InProcess::remove_after`] N more APDUs. A removed
//! card is unpowered (its security status is lost) and every `transmit` fails with
//! `myna_card::Error::ShortResponse(0)` — no bytes, no status word — until
//! [`InProcess::insert`]. It does not model timing or PC/SC sharing modes.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::VirtualCard;

/// A virtual card reachable through `myna_card::Transmit`. Clones share the same card.
#[derive(Clone, Debug)]
pub struct InProcess {
    card: Arc<Mutex<VirtualCard>>,
    link: Arc<Mutex<Link>>,
}

#[derive(Debug, Default)]
struct Link {
    removed: bool,
    remove_after: Option<u64>,
    answered: u64,
}

impl InProcess {
    /// Puts `card` in the reader and powers it on.
    pub fn new(mut card: VirtualCard) -> Self {
        card.power_on();
        InProcess {
            card: Arc::new(Mutex::new(card)),
            link: Arc::new(Mutex::new(Link::default())),
        }
    }

    /// The card, for inspecting counters or power state.
    pub fn card(&self) -> MutexGuard<'_, VirtualCard> {
        self.card.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn link(&self) -> MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes the card out of the reader now (it loses power).
    pub fn remove(&self) {
        self.link().removed = true;
        self.card().power_off();
    }

    /// Puts the card back and powers it on (fresh security status).
    pub fn insert(&self) {
        {
            let mut link = self.link();
            link.removed = false;
            link.remove_after = None;
        }
        self.card().power_on();
    }

    /// Removes the card right after it has answered `n` more APDUs (`0` = before the next).
    pub fn remove_after(&self, n: u64) {
        let mut link = self.link();
        link.remove_after = Some(link.answered + n);
        if n == 0 {
            link.removed = true;
            drop(link);
            self.card().power_off();
        }
    }

    /// APDUs answered so far through this transport.
    pub fn answered(&self) -> u64 {
        self.link().answered
    }

    /// Whether the card is in the reader.
    pub fn is_present(&self) -> bool {
        !self.link().removed
    }

    /// Powers the card off and on again (what `SCardReconnect(UNPOWER)` does).
    pub fn power_cycle(&self) {
        let mut card = self.card();
        card.power_off();
        card.power_on();
    }
}

impl myna_card::Transmit for InProcess {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        let mut link = self.link();
        if link.removed {
            return Err(myna_card::Error::ShortResponse(0));
        }
        let response = self.card().transmit(command);
        link.answered += 1;
        if link.remove_after.is_some_and(|n| link.answered >= n) {
            link.removed = true;
            drop(link);
            self.card().power_off();
        }
        Ok(response)
    }
}
