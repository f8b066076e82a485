//! One customer's time with the card, with the PIN policy in the types.
//!
//! A [`CardSession`] owns the link for one customer and cuts the card's power when it ends
//! (explicitly with [`CardSession::end`], or on drop, also after an error or a panic
//! elsewhere), so no verified PIN outlives the customer. Sending a PIN is only possible on a
//! `CardSession<_, Exclusive>`, which can only be built over a link that keeps every other
//! program away from the card. Every VERIFY goes through `guarded_verify`: the retry counter
//! is read first (it costs no try), a PIN is never sent when one try or none is left, and the
//! card's answer becomes [`CardError::WrongPin`] / [`CardError::Locked`].
//! Cards are identified by SELECTing the applications, never by ATR.
//! This module does not know what is read for a procedure (see `identity`, `evidence`).

use std::marker::PhantomData;

use myna_card::ap::{jpki, surface, text};
use myna_card::{Card, Retries, ShortEfId};
use serde::Serialize;

use crate::error::{CardError, Result, from_myna};
use crate::link::{CardLink, PcscLink};
use crate::progress::{Progress, Step};
use crate::secret::PinKind;

/// Type-state marker: the link is exclusive, PINs may be sent.
#[derive(Debug)]
pub struct Exclusive;
/// Type-state marker: the link may be shared, no PIN can be sent.
#[derive(Debug)]
pub struct Shared;

/// The card's applications the kiosk uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum App {
    /// 公的個人認証AP.
    Jpki,
    /// 券面事項入力補助AP.
    Text,
    /// 券面事項確認AP.
    Surface,
}

impl App {
    /// The application identifier (DF name).
    pub fn aid(self) -> &'static [u8] {
        match self {
            App::Jpki => &jpki::DF,
            App::Text => &text::DF,
            App::Surface => &surface::DF,
        }
    }
    /// A name for messages.
    pub fn name(self) -> &'static str {
        match self {
            App::Jpki => "JPKI",
            App::Text => "text (券面事項入力補助)",
            App::Surface => "card-face (券面事項確認)",
        }
    }
}

impl PinKind {
    /// The application and key EF this PIN lives in.
    pub fn location(self) -> (App, u16) {
        match self {
            PinKind::TextPin => (App::Text, text::ef::PIN),
            PinKind::AuthPin => (App::Jpki, jpki::ef::AUTH_PIN),
            PinKind::SignPassword => (App::Jpki, jpki::ef::SIGN_PIN),
            PinKind::CodeA => (App::Surface, surface::ef::CODE_A),
            PinKind::CodeB => (App::Surface, surface::ef::CODE_B),
        }
    }
}

/// The card for one customer.
pub struct CardSession<L: CardLink, S> {
    card: Card<L>,
    selected: Option<App>,
    ended: bool,
    _sharing: PhantomData<S>,
}

impl<L: CardLink> CardSession<L, Exclusive> {
    /// A session over an exclusive link; [`CardError::CardInUse`] if the link is shared.
    pub fn exclusive(link: L) -> Result<Self> {
        if !link.is_exclusive() {
            return Err(CardError::CardInUse);
        }
        Ok(Self::over(link))
    }
}

impl<L: CardLink> CardSession<L, Shared> {
    /// A session over any link; it can read what needs no PIN.
    pub fn shared(link: L) -> Self {
        Self::over(link)
    }
}

impl CardSession<PcscLink, Exclusive> {
    /// Connects exclusively to the card in `reader` (or the first reader holding a card).
    pub fn open_exclusive(reader: Option<&str>) -> Result<Self> {
        Self::exclusive(PcscLink::connect(reader, true)?)
    }
}

impl CardSession<PcscLink, Shared> {
    /// Connects (shared) to the card in `reader` (or the first reader holding a card).
    pub fn open_shared(reader: Option<&str>) -> Result<Self> {
        Ok(Self::shared(PcscLink::connect(reader, false)?))
    }
}

impl<L: CardLink, S> CardSession<L, S> {
    fn over(link: L) -> Self {
        CardSession {
            card: Card::new(link),
            selected: None,
            ended: false,
            _sharing: PhantomData,
        }
    }

    /// The link (e.g. to read a [`crate::CountingLink`]'s traffic).
    pub fn link(&self) -> &L {
        self.card.transport()
    }

    pub(crate) fn card(&mut self) -> &mut Card<L> {
        &mut self.card
    }

    /// SELECTs `app` (unless it is current). A card without it is
    /// [`CardError::NotMyNumberCard`].
    pub fn select(&mut self, app: App) -> Result<()> {
        if self.selected == Some(app) {
            return Ok(());
        }
        self.selected = None;
        match self.card.select_df(app.aid()) {
            Ok(()) => {
                self.selected = Some(app);
                Ok(())
            }
            Err(myna_card::Error::Status(sw))
                if matches!(
                    sw.value(),
                    0x6A82 | 0x6A86 | 0x6A87 | 0x6A80 | 0x6D00 | 0x6E00
                ) =>
            {
                Err(CardError::NotMyNumberCard {
                    missing: app.name(),
                })
            }
            Err(e) => Err(from_myna(e, "selecting an application", None)),
        }
    }

    /// Which of the three applications the card has (one SELECT each).
    pub fn applications(&mut self) -> Result<Vec<App>> {
        let mut present = Vec::new();
        for app in [App::Jpki, App::Text, App::Surface] {
            match self.select(app) {
                Ok(()) => present.push(app),
                Err(CardError::NotMyNumberCard { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(present)
    }

    /// Tries left for `which`, read without spending one.
    pub fn tries_left(&mut self, which: PinKind) -> Result<Retries> {
        let (app, ef) = which.location();
        self.select(app)?;
        query_retries(&mut self.card, which, ef)
    }

    /// Reads a transparent EF of the current application in short READ BINARYs, reporting
    /// progress. The length comes from the BER-TLV header in the first chunk; a file that is
    /// not TLV is read until the card reports its end.
    pub(crate) fn read_file(
        &mut self,
        ef: u16,
        step: Step,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<u8>> {
        read_file(&mut self.card, ef, step, progress)
    }

    /// Reads a transparent EF of the current application whole, filler included (for files whose
    /// signed digest covers the stored bytes, like the My Number file).
    pub(crate) fn read_physical(
        &mut self,
        ef: u16,
        step: Step,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<Vec<u8>> {
        let what = step.what();
        let mut data = self
            .card
            .read_binary_chunk_sfi(sfi(ef, what)?, 0, 256)
            .map_err(|e| from_myna(e, what, None))?;
        if data.len() == 256 {
            let rest = self
                .card
                .read_binary(256, 0x7FFF - 256)
                .map_err(|e| from_myna(e, what, None))?;
            data.extend_from_slice(&rest);
        }
        progress(Progress {
            step,
            bytes_read: data.len(),
            bytes_expected: Some(data.len()),
        });
        Ok(data)
    }

    /// Ends the customer: the card is unpowered (clearing every verified PIN) and the link closed.
    pub fn end(mut self) -> Result<()> {
        self.ended = true;
        self.card.transport_mut().unpower()
    }
}

impl<L: CardLink> CardSession<L, Exclusive> {
    /// VERIFY under the PIN policy, in the application that holds `which`.
    /// Returns the tries that were left before the VERIFY.
    pub(crate) fn verify(&mut self, which: PinKind, pin: &myna_card::Pin) -> Result<Retries> {
        let (app, _) = which.location();
        self.select(app)?;
        guarded_verify(&mut self.card, which, pin)
    }
}

impl<L: CardLink, S> Drop for CardSession<L, S> {
    fn drop(&mut self) {
        if !self.ended
            && let Err(e) = self.card.transport_mut().unpower()
        {
            tracing::warn!(code = e.code(), "could not unpower the card: {e}");
        }
    }
}

impl<L: CardLink, S> std::fmt::Debug for CardSession<L, S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CardSession")
            .field("selected", &self.selected)
            .field("ended", &self.ended)
            .finish_non_exhaustive()
    }
}

fn sfi(ef: u16, what: &'static str) -> Result<ShortEfId> {
    ShortEfId::from_ef_id(ef).map_err(|_| CardError::Malformed { what })
}

fn query_retries<L: CardLink>(card: &mut Card<L>, which: PinKind, ef: u16) -> Result<Retries> {
    // VERIFY with no data and P2 = 80|SFI: names the key without a SELECT, spends no try.
    card.pin_retries_sfi(sfi(ef, "PIN reference")?)
        .map_err(|e| from_myna(e, "reading the tries left", None))
        .map_err(|e| match e {
            CardError::CardStatus { .. } => CardError::RetriesUnknown { which },
            other => other,
        })
}

/// The PIN policy for one VERIFY in the current application: read the counter (free); refuse
/// when it is unknown, locked, or at one try; else send the PIN once.
pub(crate) fn guarded_verify<L: CardLink>(
    card: &mut Card<L>,
    which: PinKind,
    pin: &myna_card::Pin,
) -> Result<Retries> {
    if !card.transport().is_exclusive() {
        return Err(CardError::CardInUse);
    }
    let (_, ef) = which.location();
    let retries = query_retries(card, which, ef)?;
    match retries {
        Retries::Remaining(n) if n >= 2 => {}
        Retries::Remaining(1) => return Err(CardError::OneTryLeft { which }),
        Retries::Remaining(_) | Retries::Blocked => return Err(CardError::Locked { which }),
        // 6300 ("no retry limit") is not an answer a My Number card's PINs give: every one
        // has a counter. An unknown count is refused, as the module's rule says.
        Retries::Unlimited | Retries::NotReported => {
            return Err(CardError::RetriesUnknown { which });
        }
    }
    card.verify_sfi(sfi(ef, "PIN reference")?, pin)
        .map_err(|e| from_myna(e, "verifying a PIN", Some(which)))?;
    Ok(retries)
}

pub(crate) fn read_file<L: CardLink>(
    card: &mut Card<L>,
    ef: u16,
    step: Step,
    progress: &mut dyn FnMut(Progress),
) -> Result<Vec<u8>> {
    const CHUNK: usize = 256;
    const MAX: usize = 0x7FFF;
    let what = step.what();
    // The first chunk names the file by short EF id (P1 = 80|SFI), which also makes it the
    // current EF for the offset reads that follow: no SELECT EF needed.
    let mut out = match card.read_binary_chunk_sfi(sfi(ef, what)?, 0, CHUNK as u32) {
        Ok(head) => head,
        Err(myna_card::Error::Status(sw)) if matches!(sw.value(), 0x6B00 | 0x6282) => Vec::new(),
        Err(e) => return Err(from_myna(e, what, None)),
    };
    let total = match myna_card::tlv::ber::parse_header(&out) {
        Ok(h) if h.total_len() <= MAX + 1 => Some(h.total_len()),
        Ok(_) => return Err(CardError::Malformed { what }),
        Err(_) => None,
    };
    progress(Progress {
        step,
        bytes_read: out.len().min(total.unwrap_or(usize::MAX)),
        bytes_expected: total,
    });
    match total {
        Some(total) if total <= out.len() => out.truncate(total),
        Some(total) => {
            while out.len() < total {
                let want = (total - out.len()).min(CHUNK);
                let chunk = card
                    .read_binary_chunk(out.len(), want as u32)
                    .map_err(|e| from_myna(e, what, None))?;
                if chunk.is_empty() {
                    return Err(CardError::Malformed { what });
                }
                out.extend_from_slice(&chunk);
                progress(Progress {
                    step,
                    bytes_read: out.len().min(total),
                    bytes_expected: Some(total),
                });
            }
            out.truncate(total);
        }
        None => {
            // Not TLV: read until the card reports the end (a short chunk or 6B00).
            let mut last = out.len();
            while last == CHUNK && out.len() < MAX {
                match card.read_binary_chunk(out.len(), CHUNK as u32) {
                    Ok(chunk) => {
                        last = chunk.len();
                        out.extend_from_slice(&chunk);
                    }
                    Err(myna_card::Error::Status(sw)) if matches!(sw.value(), 0x6B00 | 0x6282) => {
                        break;
                    }
                    Err(e) => return Err(from_myna(e, what, None)),
                }
                progress(Progress {
                    step,
                    bytes_read: out.len(),
                    bytes_expected: None,
                });
            }
        }
    }
    Ok(out)
}
