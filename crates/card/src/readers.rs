//! The PC/SC readers attached to this machine and whether each holds a card.
//!
//! It asks `pcscd` once per call (one short-lived context, no card connection, no APDU), so
//! it is safe to call from a status poll. It does not watch for changes: insert/remove
//! watching arrives with the card reading.

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
