//! The link to one card: the only seam between the kiosk logic and a device.
//!
//! [`CardLink`] is `myna_card::Transmit` plus what the PIN policy needs from the link: whether
//! nothing else can reach the card (exclusive sharing) and a way to cut its power, which is the
//! only thing that reliably clears a verified PIN. [`PcscLink`] is the PC/SC implementation
//! (exclusive or shared connection, `SCardDisconnect(SCARD_UNPOWER_CARD)` at the end);
//! [`CountingLink`] counts APDUs and bytes for the benchmark and the tests. Simulators are
//! ordinary implementations (the virtual card's in-process transport). This module does not
//! interpret APDUs and never logs them (they carry PINs).

use std::ffi::CString;

use myna_card::Transmit;

use crate::error::{CardError, Result};

/// A link to one card.
pub trait CardLink: Transmit {
    /// Whether nothing else on this machine can send commands to the card while the link lives.
    fn is_exclusive(&self) -> bool;
    /// Cut the card's power (clears every verified PIN). Idempotent; after it, the link is
    /// closed and every transmit fails.
    fn unpower(&mut self) -> Result<()>;
}

impl<L: CardLink + ?Sized> CardLink for &mut L {
    fn is_exclusive(&self) -> bool {
        (**self).is_exclusive()
    }
    fn unpower(&mut self) -> Result<()> {
        (**self).unpower()
    }
}

impl<L: CardLink + ?Sized> CardLink for Box<L> {
    fn is_exclusive(&self) -> bool {
        (**self).is_exclusive()
    }
    fn unpower(&mut self) -> Result<()> {
        (**self).unpower()
    }
}

/// A PC/SC connection to the card in one reader.
pub struct PcscLink {
    card: Option<pcsc::Card>,
    exclusive: bool,
    buffer: Vec<u8>,
    reader: String,
}

impl PcscLink {
    /// Connects to the card in `reader` (or the first reader holding a card when `None`).
    /// `exclusive` asks PC/SC to keep every other program away from the card.
    pub fn connect(reader: Option<&str>, exclusive: bool) -> Result<Self> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User)?;
        let names: Vec<CString> = ctx.list_readers_owned()?;
        if names.is_empty() {
            return Err(CardError::NoReader);
        }
        let chosen = match reader {
            Some(wanted) => names
                .into_iter()
                .find(|n| n.to_string_lossy() == wanted)
                .ok_or_else(|| CardError::ReaderNotFound(wanted.to_owned()))?,
            None => first_with_card(&ctx, names)?,
        };
        let mode = if exclusive {
            pcsc::ShareMode::Exclusive
        } else {
            pcsc::ShareMode::Shared
        };
        let card = ctx.connect(&chosen, mode, pcsc::Protocols::ANY)?;
        Ok(PcscLink {
            card: Some(card),
            exclusive,
            buffer: vec![0; pcsc::MAX_BUFFER_SIZE_EXTENDED],
            reader: chosen.to_string_lossy().into_owned(),
        })
    }

    /// The reader's PC/SC name.
    pub fn reader(&self) -> &str {
        &self.reader
    }
}

impl PcscLink {
    /// `RemovedCard` if the card is no longer there, else `other`. A failed exchange is often
    /// the first sign of a card leaving the field, before pcscd has noticed: look for up to 1 s.
    fn gone_or(&self, other: myna_card::Error) -> myna_card::Error {
        for _ in 0..10 {
            match self.check_gone() {
                Some(gone) => return gone,
                None => std::thread::sleep(std::time::Duration::from_millis(100)),
            }
        }
        other
    }

    fn check_gone(&self) -> Option<myna_card::Error> {
        let card = self.card.as_ref()?;
        match card.status2_owned() {
            Ok(s) if !s.status().contains(pcsc::Status::PRESENT) => {
                Some(myna_card::Error::Pcsc(pcsc::Error::RemovedCard))
            }
            Ok(_) => None,
            Err(e @ (pcsc::Error::RemovedCard | pcsc::Error::NoSmartcard)) => {
                Some(myna_card::Error::Pcsc(e))
            }
            Err(e @ (pcsc::Error::ReaderUnavailable | pcsc::Error::UnknownReader)) => {
                Some(myna_card::Error::Pcsc(e))
            }
            Err(_) => None,
        }
    }
}

fn first_with_card(ctx: &pcsc::Context, names: Vec<CString>) -> Result<CString> {
    let mut states: Vec<pcsc::ReaderState> = names
        .iter()
        .map(|n| pcsc::ReaderState::new(n.clone(), pcsc::State::UNAWARE))
        .collect();
    ctx.get_status_change(std::time::Duration::ZERO, &mut states)?;
    states
        .iter()
        .find(|s| s.event_state().contains(pcsc::State::PRESENT))
        .map(|s| s.name().to_owned())
        .ok_or(CardError::NoCard)
}

impl Transmit for PcscLink {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        let card = self
            .card
            .as_ref()
            .ok_or(myna_card::Error::Pcsc(pcsc::Error::InvalidHandle))?;
        match card.transmit(command, &mut self.buffer) {
            // A reply without even a status word: a card leaving the field can cause it.
            Ok(r) if r.len() < 2 => {
                let r = r.to_vec();
                Err(self.gone_or(myna_card::Error::ShortResponse(r.len())))
            }
            Ok(r) => Ok(r.to_vec()),
            Err(e) => Err(self.gone_or(myna_card::Error::Pcsc(e))),
        }
    }
}

impl CardLink for PcscLink {
    fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    fn unpower(&mut self) -> Result<()> {
        if let Some(card) = self.card.take()
            && let Err((card, e)) = card.disconnect(pcsc::Disposition::UnpowerCard)
        {
            // Removed cards and vanished readers are unpowered already.
            drop(card);
            let e = CardError::from(e);
            if !e.card_gone() {
                return Err(e);
            }
        }
        Ok(())
    }
}

impl Drop for PcscLink {
    fn drop(&mut self) {
        if let Err(e) = self.unpower() {
            tracing::warn!(code = e.code(), "could not unpower the card: {e}");
        }
    }
}

impl std::fmt::Debug for PcscLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscLink")
            .field("reader", &self.reader)
            .field("exclusive", &self.exclusive)
            .field("open", &self.card.is_some())
            .finish()
    }
}

/// APDU counts and sizes seen on a link.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Traffic {
    /// Command APDUs sent.
    pub commands: u32,
    /// Bytes sent (command APDUs).
    pub bytes_sent: u64,
    /// Bytes received (response APDUs, status words included).
    pub bytes_received: u64,
    /// VERIFY commands that carried a value (each may spend a try).
    pub verifies_with_data: u32,
}

/// Wraps a link and counts its traffic (never its content).
#[derive(Debug)]
pub struct CountingLink<L> {
    inner: L,
    traffic: Traffic,
}

impl<L> CountingLink<L> {
    /// Wraps `inner`.
    pub fn new(inner: L) -> Self {
        CountingLink {
            inner,
            traffic: Traffic::default(),
        }
    }
    /// What has been counted so far.
    pub fn traffic(&self) -> Traffic {
        self.traffic
    }
    /// The wrapped link.
    pub fn inner(&self) -> &L {
        &self.inner
    }
    /// The wrapped link, mutably.
    pub fn inner_mut(&mut self) -> &mut L {
        &mut self.inner
    }
}

impl<L: Transmit> Transmit for CountingLink<L> {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        self.traffic.commands += 1;
        self.traffic.bytes_sent += command.len() as u64;
        if command.len() > 5 && command[1] == 0x20 {
            self.traffic.verifies_with_data += 1;
        }
        let r = self.inner.transmit(command)?;
        self.traffic.bytes_received += r.len() as u64;
        Ok(r)
    }
}

impl<L: CardLink> CardLink for CountingLink<L> {
    fn is_exclusive(&self) -> bool {
        self.inner.is_exclusive()
    }
    fn unpower(&mut self) -> Result<()> {
        self.inner.unpower()
    }
}
