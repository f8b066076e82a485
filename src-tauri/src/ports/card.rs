//! The card port over PC/SC: one exclusive [`CardSession`] per customer on the configured
//! reader, the card crate's reads and signing, and the conversion of its results and errors
//! into the procedure engine's terms ([`ChipData`], [`CardFault`]).
//!
//! The session is opened at the first card call of a customer and ended (card unpowered) by
//! [`CardPort::release`] or as soon as the card is gone. What it does not do: decide anything
//! (the flow does) or keep a PIN (each call gets it, builds the card crate's zeroizing type
//! and drops it).

use madoguchi_card::{
    CardError, CardFaceReading, CardPin, CardReading, CardSession, CodeB, Date, EvidenceStatement,
    Exclusive, PcscLink, PinKind, ReadOptions, Retries, SignPassword, Step, TrustAnchors,
};
use madoguchi_flow::Secret;
use madoguchi_flow::ports::{
    AuthCertificateSummary, CardFault, CardPort, Checks, ChipData, ChipPhoto, CodeBInput,
    EvidenceBinding, Holder, Private, PrivateBytes, ReadProgress, Route, Sex, SignedEvidence,
    Tries,
};
use sha2::{Digest, Sha256};

/// The reader named in the configuration (a substring of its PC/SC name), or in simulation
/// the virtual one.
#[derive(Debug, Clone)]
pub struct ReaderChoice(pub String);

impl ReaderChoice {
    /// The PC/SC name of the first reader matching the choice.
    pub fn resolve(&self) -> Result<String, CardFault> {
        let readers = madoguchi_card::list_readers().map_err(|e| match e {
            madoguchi_card::ReadersError::ServiceUnavailable => {
                CardFault::Device("card.service_unavailable")
            }
            _ => CardFault::Device("card.pcsc"),
        })?;
        readers
            .into_iter()
            .find(|r| r.name.contains(&self.0))
            .map(|r| r.name)
            .ok_or(CardFault::Device("reader.none"))
    }
}

/// The kiosk's card port.
pub struct PcscCard {
    reader: ReaderChoice,
    trust: TrustAnchors,
    kiosk_id: String,
    session: Option<CardSession<PcscLink, Exclusive>>,
}

impl std::fmt::Debug for PcscCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PcscCard")
            .field("reader", &self.reader)
            .field("open", &self.session.is_some())
            .finish_non_exhaustive()
    }
}

/// The card crate's error in the flow's terms.
pub fn fault(e: &CardError) -> CardFault {
    match e {
        CardError::NoCard => CardFault::NoCard,
        CardError::CardRemoved | CardError::ReaderGone => CardFault::Removed,
        CardError::WrongPin { tries_left, .. } => CardFault::Wrong {
            tries_left: *tries_left,
        },
        CardError::OneTryLeft { .. } => CardFault::OneTryLeft,
        CardError::Locked { .. } => CardFault::Locked,
        CardError::RetriesUnknown { .. } => CardFault::TriesUnknown,
        CardError::NotMyNumberCard { .. } => CardFault::NotMyNumberCard,
        CardError::CloneSuspected { .. } => CardFault::CloneSuspected,
        CardError::Untrusted { .. } => CardFault::Untrusted,
        CardError::NoSignCertificate => CardFault::NoSignCertificate,
        other => CardFault::Device(other.code()),
    }
}

fn tries(r: Retries) -> Result<Tries, CardFault> {
    match r {
        Retries::Remaining(n) => Ok(Tries::Left(n)),
        Retries::Blocked => Ok(Tries::Left(0)),
        // No My Number card PIN is without a counter: 6300 is an unknown count, refused
        // before the customer types anything (the card crate refuses to send it anyway).
        Retries::Unlimited | Retries::NotReported => Err(CardFault::TriesUnknown),
    }
}

/// Where each file of a reading sits in the whole read, for one progress bar: (start, span).
fn share(step: Step, route: Route) -> (f32, f32) {
    match (route, step) {
        (Route::Pin, Step::Attributes) => (0.0, 0.05),
        (Route::Pin, Step::MyNumber) => (0.05, 0.03),
        (Route::Pin, Step::TextIntegrity) => (0.08, 0.04),
        (Route::Pin, Step::TextCertificate) => (0.12, 0.06),
        (Route::Pin, Step::CardFace) => (0.18, 0.57),
        (Route::Pin, Step::CardFaceCertificate) => (0.75, 0.08),
        (Route::Pin, Step::AuthCertificate) => (0.83, 0.17),
        (Route::CodeB, Step::CardFace) => (0.0, 0.85),
        (Route::CodeB, Step::CardFaceCertificate) => (0.85, 0.15),
        _ => (0.0, 1.0),
    }
}

fn file_name(step: Step) -> &'static str {
    match step {
        Step::Attributes => "attributes",
        Step::MyNumber => "my_number",
        Step::TextIntegrity => "text_integrity",
        Step::TextCertificate => "text_certificate",
        Step::CardFace => "card_face",
        Step::CardFaceCertificate => "card_face_certificate",
        Step::AuthCertificate => "auth_certificate",
        Step::SignCertificate => "sign_certificate",
        Step::CertificateAvailability => "certificate_availability",
        _ => "card",
    }
}

fn progress_of(
    route: Route,
    sink: &mut dyn FnMut(ReadProgress),
) -> impl FnMut(madoguchi_card::Progress) + '_ {
    move |p| {
        let (start, span) = share(p.step, route);
        let within = match p.bytes_expected {
            Some(n) if n > 0 => (p.bytes_read as f32 / n as f32).clamp(0.0, 1.0),
            _ => 0.5,
        };
        sink(ReadProgress {
            file: file_name(p.step),
            fraction: (start + span * within).clamp(0.0, 1.0),
        });
    }
}

fn png_of_gray(img: &madoguchi_card::GrayImage) -> Vec<u8> {
    let mut out = Vec::new();
    if let Some(gray) = image::GrayImage::from_raw(img.width, img.height, img.pixels.clone()) {
        let _ = gray.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png);
    }
    out
}

fn sex(g: madoguchi_card::Gender) -> Sex {
    match g {
        madoguchi_card::Gender::Male => Sex::Male,
        madoguchi_card::Gender::Female => Sex::Female,
        _ => Sex::Other,
    }
}

fn photo(p: &madoguchi_card::ChipPhoto) -> ChipPhoto {
    ChipPhoto {
        png: PrivateBytes::new(png_of_gray(&p.image)),
        width: p.image.width,
        height: p.image.height,
        gray: PrivateBytes::new(p.image.pixels.clone()),
        jp2_sha256: Sha256::digest(&p.jp2).into(),
    }
}

/// A PIN-route reading in the flow's terms.
pub fn chip_from_reading(r: CardReading) -> ChipData {
    let test = r.hierarchy == madoguchi_card::Hierarchy::Test;
    ChipData {
        route: Route::Pin,
        holder: Holder::Text {
            name: Private::new(r.attributes.name.clone()),
            address: Private::new(r.attributes.address.clone()),
        },
        birth_date: Private::new(r.attributes.birth_date.to_string()),
        sex: sex(r.attributes.gender),
        card_expiry: r.card_face.expiry.to_string(),
        photo: photo(&r.photo),
        card_face_sha256: r.card_face.signed_group_hashes,
        auth_certificate: Some(AuthCertificateSummary {
            serial: r.auth_certificate.serial.clone(),
            valid_to: r.auth_certificate.valid_to.to_string(),
            valid_today: r.auth_certificate.valid_today,
        }),
        checks: Checks {
            text_integrity: true,
            card_face_signature: true,
            chip_challenge: true,
            auth_certificate: true,
            test_hierarchy: test,
        },
        tries_before: r.pin_tries_before,
        my_number: r
            .my_number
            .as_ref()
            .map(|n| Secret::new(n.expose().to_owned())),
    }
}

/// A 照合番号B-route reading in the flow's terms.
pub fn chip_from_card_face(r: CardFaceReading) -> ChipData {
    ChipData {
        route: Route::CodeB,
        holder: Holder::Images {
            name_png: PrivateBytes::new(r.name_image.data.clone()),
            address_png: PrivateBytes::new(r.address_image.data.clone()),
        },
        birth_date: Private::new(r.birth_date.to_string()),
        sex: sex(r.gender),
        card_expiry: r.card_face.expiry.to_string(),
        photo: photo(&r.photo),
        card_face_sha256: r.card_face.signed_group_hashes,
        auth_certificate: None,
        checks: Checks {
            text_integrity: false,
            card_face_signature: true,
            chip_challenge: true,
            auth_certificate: false,
            test_hierarchy: r.hierarchy == madoguchi_card::Hierarchy::Test,
        },
        tries_before: r.code_b_tries_before,
        my_number: None,
    }
}

impl PcscCard {
    /// A card port on `reader`, checking cards against `trust`.
    pub fn new(reader: ReaderChoice, trust: TrustAnchors, kiosk_id: String) -> Self {
        PcscCard {
            reader,
            trust,
            kiosk_id,
            session: None,
        }
    }

    /// Runs `f` on the customer's session (opened exclusively on first use); a card that is
    /// gone ends the session.
    fn with<T>(
        &mut self,
        f: impl FnOnce(&mut CardSession<PcscLink, Exclusive>, &TrustAnchors) -> Result<T, CardError>,
    ) -> Result<T, CardFault> {
        if self.session.is_none() {
            let name = self.reader.resolve()?;
            let s = CardSession::open_exclusive(Some(&name)).map_err(|e| fault(&e))?;
            self.session = Some(s);
        }
        let Some(session) = self.session.as_mut() else {
            return Err(CardFault::NoCard);
        };
        match f(session, &self.trust) {
            Ok(v) => Ok(v),
            Err(e) => {
                if (e.card_gone() || matches!(e, CardError::CardUnresponsive))
                    && let Some(s) = self.session.take()
                {
                    let _ = s.end();
                }
                Err(fault(&e))
            }
        }
    }
}

/// How often the first contact with a card is tried again when the card does not answer yet.
const FIRST_CONTACT_TRIES: u32 = 4;
/// The pause between those tries.
const FIRST_CONTACT_PAUSE: std::time::Duration = std::time::Duration::from_millis(250);

impl PcscCard {
    /// The tries counter of `kind`: the first contact with a customer's card. A card that has
    /// just been put on the reader may not answer yet (the reader is still powering it, or
    /// resets it once): that is tried again, on a fresh connection, a few times. Safe to
    /// repeat because reading a counter sends no secret and spends no try.
    fn first_contact(&mut self, kind: PinKind) -> Result<Tries, CardFault> {
        let mut attempt = 1;
        loop {
            match self.with(|s, _| s.tries_left(kind)) {
                Ok(r) => return tries(r),
                Err(CardFault::Device("card.unresponsive") | CardFault::Removed)
                    if attempt < FIRST_CONTACT_TRIES =>
                {
                    tracing::debug!(attempt, "the card did not answer yet; trying again");
                    attempt += 1;
                    std::thread::sleep(FIRST_CONTACT_PAUSE);
                }
                Err(f) => return Err(f),
            }
        }
    }
}

impl CardPort for PcscCard {
    fn pin_tries(&mut self) -> Result<Tries, CardFault> {
        self.first_contact(PinKind::TextPin)
    }

    fn code_b_tries(&mut self) -> Result<Tries, CardFault> {
        self.first_contact(PinKind::CodeB)
    }

    fn read_with_pin(
        &mut self,
        pin: &Secret,
        with_my_number: bool,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault> {
        let pin = CardPin::new(pin.expose().to_owned()).map_err(|e| fault(&e))?;
        let mut p = progress_of(Route::Pin, progress);
        let reading = self.with(|s, trust| {
            madoguchi_card::read_identity(
                s,
                &pin,
                ReadOptions { with_my_number },
                trust,
                madoguchi_card::today(),
                &mut p,
            )
        })?;
        Ok(chip_from_reading(reading))
    }

    fn read_with_code_b(
        &mut self,
        code: &CodeBInput,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault> {
        let (y, m, d) = code.birth_date;
        let code = CodeB::new(
            Date {
                year: y,
                month: m,
                day: d,
            },
            code.expiry_year,
            code.security_code.expose().to_owned(),
        )
        .map_err(|e| fault(&e))?;
        if self.session.is_none() {
            // The first contact with this card: wait until it answers before the code goes out.
            self.first_contact(PinKind::CodeB)?;
        }
        let mut p = progress_of(Route::CodeB, progress);
        let reading =
            self.with(|s, trust| madoguchi_card::read_card_face_code_b(s, &code, trust, &mut p))?;
        Ok(chip_from_card_face(reading))
    }

    fn sign_tries(&mut self) -> Result<Tries, CardFault> {
        tries(self.with(|s, _| s.tries_left(PinKind::SignPassword))?)
    }

    fn sign(
        &mut self,
        password: &Secret,
        binding: &EvidenceBinding,
    ) -> Result<SignedEvidence, CardFault> {
        let password = SignPassword::new(password.expose().to_owned()).map_err(|e| fault(&e))?;
        let statement = EvidenceStatement::new(
            binding.face_image_sha256,
            binding.card_face_sha256,
            &self.kiosk_id,
            &binding.session_id,
            binding.time_unix,
        );
        let evidence =
            self.with(|s, _| madoguchi_card::sign_evidence(s, &password, &statement, &mut |_| {}))?;
        let json =
            serde_json::to_vec(&evidence).map_err(|_| CardFault::Device("evidence.encoding"))?;
        Ok(SignedEvidence {
            document: PrivateBytes::new(json),
        })
    }

    fn release(&mut self) {
        if let Some(s) = self.session.take()
            && let Err(e) = s.end()
        {
            tracing::warn!(code = e.code(), "the card could not be unpowered cleanly");
        }
    }
}

/// The TEST anchors of the virtual card (simulation only).
pub fn simulation_anchors() -> Result<TrustAnchors, CardError> {
    let m = madoguchi_virtual_card::test_anchor_material()
        .map_err(|e| CardError::TrustAnchors(e.to_string()))?;
    TrustAnchors::simulation(
        &[
            (madoguchi_card::RootPurpose::Auth, m.auth_root.to_vec()),
            (madoguchi_card::RootPurpose::Sign, m.sign_root.to_vec()),
        ],
        &m.cv_keys,
    )
}
