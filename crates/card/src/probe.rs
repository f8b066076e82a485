//! `probe`: what a card is, without any PIN — which applications answer SELECT, the JPKI
//! authentication certificate's subject and validity, and the tries left on each PIN (read
//! with the free, non-consuming VERIFY query). Connects shared (no PIN is sent), and the card
//! is unpowered at the end. It does not check authenticity (that needs 照合番号A).

use serde::Serialize;

use myna_card::ap::jpki;
use myna_card::{Certificate, Retries};

use crate::error::{CardError, Result};
use crate::link::CardLink;
use crate::progress::Step;
use crate::secret::PinKind;
use crate::session::{App, CardSession};

/// Tries left on one PIN.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TriesLeft {
    /// Which PIN.
    pub pin: PinKind,
    /// Tries left; `None` if the card does not report them.
    pub tries_left: Option<u8>,
    /// The PIN is locked.
    pub locked: bool,
}

/// The result of [`probe`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProbeReport {
    /// Applications that answered SELECT.
    pub applications: Vec<App>,
    /// All three applications are present.
    pub is_my_number_card: bool,
    /// Subject DN of the authentication certificate (no personal attributes in it).
    pub auth_certificate_subject: Option<String>,
    /// Its expiry date.
    pub auth_certificate_valid_to: Option<String>,
    /// Tries left per PIN.
    pub tries: Vec<TriesLeft>,
}

/// Probes the card on `session` (any sharing; no PIN is sent).
pub fn probe<L: CardLink, S>(session: &mut CardSession<L, S>) -> Result<ProbeReport> {
    let applications = session.applications()?;
    let is_my_number_card = applications.len() == 3;
    let mut report = ProbeReport {
        is_my_number_card,
        applications,
        auth_certificate_subject: None,
        auth_certificate_valid_to: None,
        tries: Vec::new(),
    };
    if !is_my_number_card {
        return Ok(report);
    }
    session.select(App::Jpki)?;
    let der = session.read_file(
        jpki::ef::AUTH_CERTIFICATE,
        Step::AuthCertificate,
        &mut |_| {},
    )?;
    let cert = Certificate::parse(&der).map_err(|_| CardError::Malformed {
        what: "authentication certificate",
    })?;
    report.auth_certificate_subject = Some(cert.subject());
    report.auth_certificate_valid_to = Some(cert.validity().1.to_string());
    for pin in [PinKind::AuthPin, PinKind::SignPassword, PinKind::TextPin] {
        let r = session.tries_left(pin)?;
        report.tries.push(TriesLeft {
            pin,
            tries_left: r.count(),
            locked: r == Retries::Blocked,
        });
    }
    Ok(report)
}
