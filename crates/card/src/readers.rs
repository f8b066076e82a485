//! The PC/SC readers attached to this machine and whether each holds a card.
//!
//! [`list_readers`] asks `pcscd` once per call (one short-lived context, no card connection,
//! no APDU), so it is safe to call from a status poll. [`ReaderWatcher`] waits for card
//! insert/remove and reader hot-plug with `SCardGetStatusChange`. Neither connects to a card,
//! reads an ATR to decide what a card is, or sends an APDU: identification is by SELECT in
//! `session`.

use std::ffi::CString;

use serde::Serialize;

/// One reader as PC/SC reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReaderInfo {
    /// The reader's PC/SC name.
    pub name: String,
    /// A card is present in (on) the reader.
    pub card_present: bool,
}

/// Why the readers could not be listed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadersError {
    /// The PC/SC service is not running (on Linux: `pcscd`).
    #[error("the PC/SC service is not running (start pcscd)")]
    ServiceUnavailable,
    /// Any other PC/SC failure.
    #[error("PC/SC error: {0}")]
    Pcsc(#[from] pcsc::Error),
}

/// Lists the readers. No readers is an empty list, not an error.
pub fn list_readers() -> Result<Vec<ReaderInfo>, ReadersError> {
    let ctx = match pcsc::Context::establish(pcsc::Scope::User) {
        Ok(ctx) => ctx,
        Err(pcsc::Error::NoService | pcsc::Error::ServiceStopped) => {
            return Err(ReadersError::ServiceUnavailable);
        }
        Err(e) => return Err(e.into()),
    };
    let names: Vec<CString> = match ctx.list_readers_owned() {
        Ok(names) => names,
        Err(pcsc::Error::NoReadersAvailable) => return Ok(Vec::new()),
        Err(pcsc::Error::NoService | pcsc::Error::ServiceStopped) => {
            return Err(ReadersError::ServiceUnavailable);
        }
        Err(e) => return Err(e.into()),
    };
    let mut states: Vec<pcsc::ReaderState> = names
        .iter()
        .map(|n| pcsc::ReaderState::new(n.clone(), pcsc::State::UNAWARE))
        .collect();
    if !states.is_empty() {
        ctx.get_status_change(std::time::Duration::ZERO, &mut states)?;
    }
    Ok(states
        .iter()
        .map(|s| ReaderInfo {
            name: s.name().to_string_lossy().into_owned(),
            card_present: s.event_state().contains(pcsc::State::PRESENT),
        })
        .collect())
}

/// A change seen by [`ReaderWatcher`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", content = "reader", rename_all = "snake_case")]
pub enum ReaderEvent {
    /// A reader was plugged in.
    ReaderAdded(String),
    /// A reader was unplugged.
    ReaderRemoved(String),
    /// A card was put on a reader.
    CardInserted(String),
    /// A card was taken off a reader.
    CardRemoved(String),
}

/// The PC/SC pseudo-reader whose state changes when readers are plugged in or out.
const PNP: &str = "\\\\?PnP?\\Notification";

/// Watches readers and cards with `SCardGetStatusChange` (reader hot-plug through the PnP
/// pseudo-reader). One context, owned by the thread that calls [`ReaderWatcher::wait`].
pub struct ReaderWatcher {
    ctx: pcsc::Context,
    readers: Vec<pcsc::ReaderState>,
    present: Vec<bool>,
    /// The PnP pseudo-reader's last state: kept between calls so that the service blocks
    /// until a reader really comes or goes (a fresh, "unaware" state returns at once).
    pnp: Option<pcsc::State>,
    /// When the reader list was last compared with the service's (a fallback for services
    /// whose PnP notification does not work).
    listed: std::time::Instant,
}

impl std::fmt::Debug for ReaderWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReaderWatcher")
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

fn service_err(e: pcsc::Error) -> ReadersError {
    match e {
        pcsc::Error::NoService | pcsc::Error::ServiceStopped => ReadersError::ServiceUnavailable,
        e => ReadersError::Pcsc(e),
    }
}

impl ReaderWatcher {
    /// Starts watching. The readers present now and their cards are reported by the first
    /// [`ReaderWatcher::wait`] as added / inserted.
    pub fn new() -> Result<Self, ReadersError> {
        let ctx = pcsc::Context::establish(pcsc::Scope::User).map_err(service_err)?;
        Ok(ReaderWatcher {
            ctx,
            readers: Vec::new(),
            present: Vec::new(),
            pnp: None,
            listed: std::time::Instant::now(),
        })
    }

    /// A handle that makes a blocked [`ReaderWatcher::wait`] return early (from another thread).
    pub fn canceller(&self) -> pcsc::Context {
        self.ctx.clone()
    }

    fn names(&self) -> Result<Vec<CString>, ReadersError> {
        match self.ctx.list_readers_owned() {
            Ok(n) => Ok(n),
            Err(pcsc::Error::NoReadersAvailable) => Ok(Vec::new()),
            Err(e) => Err(service_err(e)),
        }
    }

    fn sync_readers(&mut self, events: &mut Vec<ReaderEvent>) -> Result<(), ReadersError> {
        let names = self.names()?;
        let mut i = 0;
        while i < self.readers.len() {
            if names.iter().any(|n| n.as_c_str() == self.readers[i].name()) {
                i += 1;
            } else {
                let name = self.readers[i].name().to_string_lossy().into_owned();
                if self.present[i] {
                    events.push(ReaderEvent::CardRemoved(name.clone()));
                }
                events.push(ReaderEvent::ReaderRemoved(name));
                self.readers.remove(i);
                self.present.remove(i);
            }
        }
        for n in names {
            if !self.readers.iter().any(|r| r.name() == n.as_c_str()) {
                events.push(ReaderEvent::ReaderAdded(n.to_string_lossy().into_owned()));
                self.readers
                    .push(pcsc::ReaderState::new(n, pcsc::State::UNAWARE));
                self.present.push(false);
            }
        }
        Ok(())
    }

    /// Waits up to `timeout` for changes and returns them (empty on timeout or cancel).
    pub fn wait(&mut self, timeout: std::time::Duration) -> Result<Vec<ReaderEvent>, ReadersError> {
        let mut events = Vec::new();
        let first = self.readers.is_empty() && self.present.is_empty();
        if first {
            self.sync_readers(&mut events)?;
        }
        let mut states: Vec<pcsc::ReaderState> = self
            .readers
            .iter()
            .map(|r| pcsc::ReaderState::new(r.name().to_owned(), r.current_state()))
            .collect();
        let pnp = CString::new(PNP).map_err(|_| ReadersError::ServiceUnavailable)?;
        states.push(pcsc::ReaderState::new(
            pnp,
            self.pnp.unwrap_or(pcsc::State::UNAWARE),
        ));
        // With only fresh (UNAWARE) states the call returns at once with the current state.
        let wait = if first {
            std::time::Duration::ZERO
        } else {
            timeout
        };
        match self.ctx.get_status_change(wait, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout | pcsc::Error::Cancelled) => {}
            Err(pcsc::Error::UnknownReader | pcsc::Error::ReaderUnavailable) => {
                self.sync_readers(&mut events)?;
                return Ok(events);
            }
            Err(e) => return Err(service_err(e)),
        }
        let pnp_changed = states
            .last()
            .map(|s| s.event_state().contains(pcsc::State::CHANGED) && !first)
            .unwrap_or(false);
        if let Some(p) = states.last() {
            self.pnp = Some(p.event_state() - pcsc::State::CHANGED);
        }
        for (i, s) in states.iter().take(self.readers.len()).enumerate() {
            let ev = s.event_state();
            let now = ev.contains(pcsc::State::PRESENT);
            let gone = ev.intersects(pcsc::State::UNKNOWN | pcsc::State::UNAVAILABLE);
            let name = s.name().to_string_lossy().into_owned();
            if now != self.present[i] && !gone {
                events.push(if now {
                    ReaderEvent::CardInserted(name)
                } else {
                    ReaderEvent::CardRemoved(name)
                });
                self.present[i] = now;
            }
            self.readers[i] =
                pcsc::ReaderState::new(s.name().to_owned(), ev - pcsc::State::CHANGED);
        }
        if pnp_changed || self.listed.elapsed() >= std::time::Duration::from_secs(5) {
            self.listed = std::time::Instant::now();
            self.sync_readers(&mut events)?;
        }
        Ok(events)
    }
}
