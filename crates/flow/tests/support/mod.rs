//! In-memory ports for the flow tests: a card with counters and scripted faults, a face check
//! driven by the test, a record sink that keeps everything, screens that keep the last view,
//! a clock the test moves.
#![allow(dead_code, clippy::unwrap_used)]

use std::cell::Cell;
use std::collections::BTreeMap;

use madoguchi_flow::ports::{
    AuthCertificateSummary, CapturedFace, CardFault, CardPort, ChallengeResult, CheckedCredential,
    Checks, ChipData, ChipPhoto, Clock, CodeBInput, Coin, CredentialFault, CredentialPort,
    CredentialRequest, EvidenceBinding, EvidenceKind, FaceDecision, FaceEvent, FaceFault, FacePort,
    FaceProgress, FaceReference, FaceRequest, FaceResult, Holder, IssuedCredential, LiveTemplate,
    Millis, OutcomeRecord, Ports, Private, PrivateBytes, ProcedureKind, ReadProgress,
    RecordDecision, RecordFault, RecordSink, Route, Screens, SessionEnd, Sex, SignedEvidence,
    TellerRef, Tries, Turn,
};
use madoguchi_flow::view::{Outcome, Picture, StepId, View};
use madoguchi_flow::{ConfirmationRecord, Counter, Input, Refusal, Settings, Timeouts};

pub const PIN: &str = "1234";
pub const PASSWORD: &str = "HOPPER2024";
pub const SECURITY_CODE: &str = "2285";
pub const NAME: &str = "試験\u{3000}花子";
pub const ADDRESS: &str = "東京都千代田区霞が関試験一丁目１番１号";
pub const MY_NUMBER: &str = "123456789018";

/// What the next card operation does besides its normal answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardScript {
    Normal,
    RemovedDuringRead,
    Clone,
    DeviceError,
}

#[derive(Debug)]
pub struct FakeCard {
    pub present: bool,
    pub open: bool,
    pub pin_tries: u8,
    pub code_b_tries: u8,
    pub sign_tries: u8,
    pub has_sign: bool,
    pub script: CardScript,
    pub reads: u32,
    pub releases: u32,
    /// A read or VERIFY was attempted while the counter was at 1 or 0 (must never happen).
    pub sent_on_last_try: bool,
    pub my_number_reads: u32,
}

impl Default for FakeCard {
    fn default() -> Self {
        FakeCard {
            present: false,
            open: false,
            pin_tries: 3,
            code_b_tries: 10,
            sign_tries: 5,
            has_sign: true,
            script: CardScript::Normal,
            reads: 0,
            releases: 0,
            sent_on_last_try: false,
            my_number_reads: 0,
        }
    }
}

pub fn chip(route: Route, with_my_number: bool) -> ChipData {
    ChipData {
        route,
        holder: match route {
            Route::Pin => Holder::Text {
                name: Private::new(NAME),
                address: Private::new(ADDRESS),
            },
            Route::CodeB => Holder::Images {
                name_png: PrivateBytes::new(b"\x89PNG name".to_vec()),
                address_png: PrivateBytes::new(b"\x89PNG address".to_vec()),
            },
        },
        birth_date: Private::new("1946-12-09"),
        sex: Sex::Female,
        card_expiry: "2031-12-09".into(),
        photo: ChipPhoto {
            png: PrivateBytes::new(vec![1, 2, 3]),
            width: 2,
            height: 2,
            gray: PrivateBytes::new(vec![0, 0, 0, 0]),
            jp2_sha256: [7; 32],
        },
        card_face_sha256: [[1; 32], [2; 32], [3; 32]],
        auth_certificate: (route == Route::Pin).then(|| AuthCertificateSummary {
            serial: "01".into(),
            valid_to: "2031-12-09".into(),
            valid_today: true,
        }),
        checks: Checks {
            text_integrity: route == Route::Pin,
            card_face_signature: true,
            chip_challenge: true,
            auth_certificate: route == Route::Pin,
            test_hierarchy: true,
        },
        tries_before: Some(3),
        my_number: with_my_number.then(|| madoguchi_flow::Secret::new(MY_NUMBER.into())),
    }
}

impl FakeCard {
    fn gone(&mut self) -> Option<CardFault> {
        if !self.present {
            self.open = false;
            return Some(CardFault::NoCard);
        }
        self.open = true;
        None
    }
    fn scripted(&mut self) -> Option<CardFault> {
        match std::mem::replace(&mut self.script, CardScript::Normal) {
            CardScript::Normal => None,
            CardScript::RemovedDuringRead => {
                self.present = false;
                self.open = false;
                Some(CardFault::Removed)
            }
            CardScript::Clone => Some(CardFault::CloneSuspected),
            CardScript::DeviceError => Some(CardFault::Device("reader.gone")),
        }
    }
}

impl CardPort for FakeCard {
    fn pin_tries(&mut self) -> Result<Tries, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        Ok(Tries::Left(self.pin_tries))
    }
    fn code_b_tries(&mut self) -> Result<Tries, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        Ok(Tries::Left(self.code_b_tries))
    }
    fn read_with_pin(
        &mut self,
        pin: &madoguchi_flow::Secret,
        with_my_number: bool,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        // The real port's PIN policy refuses here too; the flow must never get this far.
        if self.pin_tries <= 1 {
            self.sent_on_last_try = true;
            return Err(if self.pin_tries == 0 {
                CardFault::Locked
            } else {
                CardFault::OneTryLeft
            });
        }
        progress(ReadProgress {
            file: "attributes",
            fraction: 0.2,
        });
        if let Some(f) = self.scripted() {
            return Err(f);
        }
        if pin.expose() != PIN {
            self.pin_tries -= 1;
            return Err(CardFault::Wrong {
                tries_left: self.pin_tries,
            });
        }
        self.pin_tries = 3;
        self.reads += 1;
        if with_my_number {
            self.my_number_reads += 1;
        }
        progress(ReadProgress {
            file: "card_face",
            fraction: 1.0,
        });
        Ok(chip(Route::Pin, with_my_number))
    }
    fn read_with_code_b(
        &mut self,
        code: &CodeBInput,
        progress: &mut dyn FnMut(ReadProgress),
    ) -> Result<ChipData, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        if self.code_b_tries <= 1 {
            self.sent_on_last_try = true;
            return Err(CardFault::OneTryLeft);
        }
        progress(ReadProgress {
            file: "card_face",
            fraction: 0.5,
        });
        if let Some(f) = self.scripted() {
            return Err(f);
        }
        if code.security_code.expose() != SECURITY_CODE || code.expiry_year != 2031 {
            self.code_b_tries -= 1;
            return Err(CardFault::Wrong {
                tries_left: self.code_b_tries,
            });
        }
        self.code_b_tries = 10;
        self.reads += 1;
        Ok(chip(Route::CodeB, false))
    }
    fn sign_tries(&mut self) -> Result<Tries, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        if !self.has_sign {
            return Err(CardFault::NoSignCertificate);
        }
        Ok(Tries::Left(self.sign_tries))
    }
    fn sign(
        &mut self,
        password: &madoguchi_flow::Secret,
        binding: &EvidenceBinding,
    ) -> Result<SignedEvidence, CardFault> {
        if let Some(f) = self.gone() {
            return Err(f);
        }
        if self.sign_tries <= 1 {
            self.sent_on_last_try = true;
            return Err(CardFault::OneTryLeft);
        }
        if let Some(f) = self.scripted() {
            return Err(f);
        }
        if password.expose() != PASSWORD {
            self.sign_tries -= 1;
            return Err(CardFault::Wrong {
                tries_left: self.sign_tries,
            });
        }
        self.sign_tries = 5;
        Ok(SignedEvidence {
            document: PrivateBytes::new(
                format!("{{\"session\":\"{}\"}}", binding.session_id).into_bytes(),
            ),
        })
    }
    fn release(&mut self) {
        self.open = false;
        self.releases += 1;
    }
}

/// The template every fake credential carries.
pub const CREDENTIAL_TEMPLATE: &[u8] = b"int8-template-of-the-holder";

#[derive(Debug, Default)]
pub struct FakeFace {
    /// The camera is on (a face check or a QR scan).
    pub running: bool,
    pub scanning: bool,
    pub starts: u32,
    pub scans: u32,
    pub last_turn: Option<Turn>,
    pub last_want_template: bool,
    /// The credential template the last check was against (None: the chip photo).
    pub last_template: Option<Vec<u8>>,
    pub camera_missing: bool,
}

impl FacePort for FakeFace {
    fn start(&mut self, request: FaceRequest<'_>) -> Result<(), FaceFault> {
        if self.camera_missing {
            return Err(FaceFault::NoCamera);
        }
        assert!(!self.running, "a second face check while one runs");
        match request.reference {
            FaceReference::Chip(p) => {
                assert_eq!(p.jp2_sha256, [7; 32]);
                self.last_template = None;
            }
            FaceReference::Credential(t) => {
                assert_eq!(t.0.expose(), CREDENTIAL_TEMPLATE);
                self.last_template = Some(t.0.expose().to_vec());
            }
        }
        self.running = true;
        self.starts += 1;
        self.last_turn = request.challenge;
        self.last_want_template = request.want_template;
        Ok(())
    }
    fn scan_qr(&mut self) -> Result<(), FaceFault> {
        if self.camera_missing {
            return Err(FaceFault::NoCamera);
        }
        assert!(!self.running, "a QR scan while the camera runs");
        self.running = true;
        self.scanning = true;
        self.scans += 1;
        Ok(())
    }
    fn stop(&mut self) {
        self.running = false;
        self.scanning = false;
    }
}

/// QR texts the fake credential port knows.
pub const QR_GOOD: &str = "MQ1:GOOD";
pub const QR_REVOKED: &str = "MQ1:REVOKED";

/// The credential port: issues numbered credentials, knows two QR texts.
#[derive(Debug, Default)]
pub struct FakeCredentials {
    /// The next issue fails with this code.
    pub issue_fault: Option<&'static str>,
    pub issued: Vec<IssuedCredential>,
    pub checked: Vec<String>,
}

impl CredentialPort for FakeCredentials {
    fn issue(
        &mut self,
        request: &CredentialRequest<'_>,
    ) -> Result<IssuedCredential, CredentialFault> {
        assert_eq!(request.template.0.expose(), b"live-template");
        if let Some(code) = self.issue_fault.take() {
            return Err(CredentialFault(code));
        }
        let c = IssuedCredential {
            credential_id: format!("{:016x}", self.issued.len() + 1),
            issuer_kid: "0102030405060708".into(),
            template_kid: "0a0b0c0d".into(),
            issued_at_ms: 1_796_000_000_000,
            expires_at_ms: 1_827_536_000_000,
            qr_png: PrivateBytes::new(b"\x89PNG qr".to_vec()),
        };
        self.issued.push(c.clone());
        Ok(c)
    }
    fn check(&mut self, text: &Private) -> Result<CheckedCredential, CredentialFault> {
        self.checked.push(text.expose().to_owned());
        match text.expose() {
            QR_GOOD => Ok(CheckedCredential {
                credential_id: "00000000000000aa".into(),
                issuer_kid: "0102030405060708".into(),
                expires_at_ms: 1_827_536_000_000,
                template: LiveTemplate(PrivateBytes::new(CREDENTIAL_TEMPLATE.to_vec())),
            }),
            QR_REVOKED => Err(CredentialFault("faceqr.revoked")),
            _ => Err(CredentialFault("faceqr.some_code_nobody_translates")),
        }
    }
}

#[derive(Debug)]
pub struct SessionRow {
    pub procedure: ProcedureKind,
    pub teller: String,
    pub end: Option<(SessionEnd, String)>,
}

#[derive(Debug, Default)]
pub struct FakeRecords {
    pub sessions: BTreeMap<String, SessionRow>,
    pub evidence: Vec<(String, EvidenceKind, Vec<u8>)>,
    pub outcomes: Vec<(String, String, OutcomeRecord)>,
    /// (outcome id, decision, reason, approver id).
    pub overrides: Vec<(String, RecordDecision, String, String)>,
    pub confirmations: Vec<(String, String)>,
    /// (enrollment session, what was issued).
    pub credentials: Vec<(String, madoguchi_wire::CredentialIssued)>,
    pub fail_writes: u32,
    next: u32,
}

impl FakeRecords {
    fn id(&mut self, what: &str) -> String {
        self.next += 1;
        format!("{what}-{}", self.next)
    }
    fn fail(&mut self) -> Result<(), RecordFault> {
        if self.fail_writes > 0 {
            self.fail_writes -= 1;
            return Err(RecordFault("ledger.io"));
        }
        Ok(())
    }
    pub fn open_sessions(&self) -> usize {
        self.sessions.values().filter(|s| s.end.is_none()).count()
    }
    pub fn last_session(&self) -> Option<(&String, &SessionRow)> {
        self.sessions.iter().last()
    }
}

impl RecordSink for FakeRecords {
    fn open_session(
        &mut self,
        procedure: ProcedureKind,
        teller: &TellerRef,
    ) -> Result<String, RecordFault> {
        self.fail()?;
        // Ids sort in creation order.
        let id = format!("s{:04}", self.sessions.len() + 1);
        self.sessions.insert(
            id.clone(),
            SessionRow {
                procedure,
                teller: teller.id.clone(),
                end: None,
            },
        );
        Ok(id)
    }
    fn store_evidence(
        &mut self,
        session_id: &str,
        kind: EvidenceKind,
        content: &[u8],
    ) -> Result<String, RecordFault> {
        self.fail()?;
        assert!(
            self.sessions[session_id].end.is_none(),
            "evidence after the end"
        );
        let id = self.id("ev");
        self.evidence
            .push((session_id.into(), kind, content.to_vec()));
        Ok(id)
    }
    fn record_outcome(
        &mut self,
        session_id: &str,
        teller: &TellerRef,
        outcome: &OutcomeRecord,
    ) -> Result<String, RecordFault> {
        self.fail()?;
        assert!(
            self.sessions[session_id].end.is_none(),
            "outcome after the end"
        );
        let id = self.id("out");
        self.outcomes
            .push((session_id.into(), teller.id.clone(), outcome.clone()));
        Ok(id)
    }
    fn record_override(
        &mut self,
        outcome_id: &str,
        _teller: &TellerRef,
        approver: &TellerRef,
        decision: RecordDecision,
        reason: &str,
    ) -> Result<String, RecordFault> {
        self.fail()?;
        self.overrides.push((
            outcome_id.into(),
            decision,
            reason.into(),
            approver.id.clone(),
        ));
        Ok(self.id("ovr"))
    }
    fn record_confirmation(
        &mut self,
        session_id: &str,
        record: &ConfirmationRecord,
    ) -> Result<String, RecordFault> {
        self.fail()?;
        assert!(
            self.sessions[session_id].end.is_none(),
            "record after the end"
        );
        let json = serde_json::to_string(record).unwrap();
        assert!(
            !json.contains(MY_NUMBER),
            "the My Number in a confirmation record"
        );
        self.confirmations.push((session_id.into(), json));
        Ok(record.record_id.clone())
    }
    fn record_credential_issued(
        &mut self,
        session_id: &str,
        issued: &madoguchi_wire::CredentialIssued,
    ) -> Result<String, RecordFault> {
        self.fail()?;
        assert!(
            self.sessions[session_id].end.is_none(),
            "credential after the end"
        );
        assert_eq!(
            self.sessions[session_id].procedure,
            ProcedureKind::Enrollment
        );
        issued.validate().unwrap();
        self.credentials.push((session_id.into(), issued.clone()));
        Ok(issued.credential_id.clone())
    }
    fn close_session(
        &mut self,
        session_id: &str,
        end: SessionEnd,
        reason: &str,
    ) -> Result<(), RecordFault> {
        self.fail()?;
        let row = self.sessions.get_mut(session_id).unwrap();
        assert!(row.end.is_none(), "session {session_id} closed twice");
        row.end = Some((end, reason.into()));
        Ok(())
    }
}

/// What the screens were last told (owned copies, no borrowed data).
#[derive(Debug, Clone, Default)]
pub struct Shown {
    pub step: Option<StepId>,
    pub teller: String,
    pub teller_notice: Option<String>,
    pub customer: String,
    pub customer_notice: Option<String>,
    pub picture: Option<Picture>,
    pub keypad_typed: Option<usize>,
    pub tries: Option<u8>,
    pub camera: bool,
    pub qr_guide: bool,
    pub qr_shown: bool,
    pub chip_shown: bool,
    pub outcome: Option<Outcome>,
    pub reason: Option<String>,
    pub actions: madoguchi_flow::view::Actions,
}

#[derive(Debug, Default)]
pub struct FakeScreens {
    pub last: Shown,
    pub shows: u32,
    pub read_progress: Vec<f32>,
    pub face_progress: u32,
    pub steps: Vec<StepId>,
}

impl Screens for FakeScreens {
    fn show(&mut self, v: &View<'_>) {
        self.shows += 1;
        if self.steps.last() != Some(&v.step) {
            self.steps.push(v.step);
        }
        // Every step the customer sees has a message and a picture; no chip data reaches the
        // customer panel (its type has no field for it).
        self.last = Shown {
            step: Some(v.step),
            teller: v.teller.message.code.into(),
            teller_notice: v.teller.notice.as_ref().map(|n| n.code.into()),
            customer: v.customer.message.code.into(),
            customer_notice: v.customer.notice.as_ref().map(|n| n.code.into()),
            picture: Some(v.customer.picture),
            keypad_typed: v.customer.keypad.map(|k| k.typed),
            tries: v.customer.keypad.and_then(|k| k.tries_left),
            camera: v.customer.camera,
            qr_guide: v.customer.qr_guide,
            qr_shown: v.customer.qr_png.is_some(),
            chip_shown: v.teller.chip.is_some(),
            outcome: v.teller.result.map(|r| r.outcome),
            reason: v.teller.result.map(|r| r.reason.to_owned()),
            actions: v.teller.actions,
        };
        for code in [v.teller.message.code, v.customer.message.code] {
            assert!(
                madoguchi_flow::messages::ALL.contains(&code),
                "{code} is not in messages::ALL"
            );
        }
    }
    fn read_progress(&mut self, p: ReadProgress) {
        self.read_progress.push(p.fraction);
    }
    fn face_progress(&mut self, _p: &FaceProgress) {
        self.face_progress += 1;
    }
}

#[derive(Debug, Default)]
pub struct FakeClock(pub Cell<Millis>);

impl Clock for FakeClock {
    fn now_ms(&self) -> Millis {
        self.0.get()
    }
    fn unix_ms(&self) -> i64 {
        1_796_000_000_000 + self.0.get() as i64
    }
}

#[derive(Debug, Default)]
pub struct FakeCoin(pub bool);

impl Coin for FakeCoin {
    fn flip(&mut self) -> bool {
        self.0 = !self.0;
        self.0
    }
}

/// The backend: records each request; the test answers a binding code with
/// [`World::answer_binding`]; a duplicate check is answered with `auto_duplicate` right after
/// the input that asked (default: no duplicate), or, when that is `None`, by the test with
/// [`World::answer_duplicate`].
#[derive(Debug)]
pub struct FakeBackend {
    pub requests: Vec<madoguchi_flow::ports::BindingRequest>,
    pub duplicates: Vec<madoguchi_flow::ports::DuplicateRequest>,
    pub auto_duplicate: Option<madoguchi_flow::ports::DuplicateAnswer>,
    unanswered: bool,
}

impl Default for FakeBackend {
    fn default() -> Self {
        FakeBackend {
            requests: Vec::new(),
            duplicates: Vec::new(),
            auto_duplicate: Some(madoguchi_flow::ports::DuplicateAnswer {
                flagged: false,
                matches: 0,
                best_score: None,
            }),
            unanswered: false,
        }
    }
}

impl madoguchi_flow::ports::BackendPort for FakeBackend {
    fn request_binding_code(&mut self, request: madoguchi_flow::ports::BindingRequest) {
        self.requests.push(request);
    }
    fn check_duplicate(&mut self, request: madoguchi_flow::ports::DuplicateRequest) {
        self.duplicates.push(request);
        self.unanswered = true;
    }
}

/// A counter with in-memory ports.
pub struct World {
    pub counter: Counter,
    pub card: FakeCard,
    pub face: FakeFace,
    pub credentials: FakeCredentials,
    pub backend: FakeBackend,
    pub records: FakeRecords,
    pub screens: FakeScreens,
    pub clock: FakeClock,
    pub coin: FakeCoin,
}

pub fn teller() -> TellerRef {
    TellerRef {
        id: "t-001".into(),
        verified: true,
    }
}

/// A supervisor whose key the caller verified.
pub fn supervisor() -> TellerRef {
    TellerRef {
        id: "sup-1".into(),
        verified: true,
    }
}

impl World {
    pub fn new() -> Self {
        World {
            counter: Counter::new(Settings {
                kiosk_id: "K-TEST".into(),
                branch_code: "001".into(),
                timeouts: Timeouts::default(),
            }),
            card: FakeCard::default(),
            face: FakeFace::default(),
            credentials: FakeCredentials::default(),
            backend: FakeBackend::default(),
            records: FakeRecords::default(),
            screens: FakeScreens::default(),
            clock: FakeClock::default(),
            coin: FakeCoin::default(),
        }
    }

    pub fn send(&mut self, input: Input) -> Result<(), Refusal> {
        let result = self.send_one(input);
        if std::mem::take(&mut self.backend.unanswered)
            && let Some(a) = self.backend.auto_duplicate
        {
            let _ = self.answer_duplicate(Ok(a));
        }
        result
    }

    /// The backend answers the last duplicate check.
    pub fn answer_duplicate(
        &mut self,
        result: Result<madoguchi_flow::ports::DuplicateAnswer, &'static str>,
    ) -> Result<(), Refusal> {
        use madoguchi_flow::ports::{BackendEvent, BackendFault};
        self.backend.unanswered = false;
        let session_id = self
            .backend
            .duplicates
            .last()
            .expect("a duplicate check")
            .session_id
            .clone();
        self.send_one(Input::Backend(BackendEvent::Duplicate {
            session_id,
            result: result.map_err(BackendFault),
        }))
    }

    fn send_one(&mut self, input: Input) -> Result<(), Refusal> {
        let mut ports = Ports {
            card: &mut self.card,
            face: &mut self.face,
            credentials: &mut self.credentials,
            backend: &mut self.backend,
            records: &mut self.records,
            screens: &mut self.screens,
            clock: &self.clock,
            coin: &mut self.coin,
        };
        self.counter.handle(input, &mut ports)
    }

    pub fn advance(&mut self, ms: Millis) {
        self.clock.0.set(self.clock.0.get() + ms);
        let _ = self.send(Input::Tick);
    }

    pub fn insert_card(&mut self) {
        self.card.present = true;
        self.send(Input::CardInserted).unwrap();
    }

    pub fn remove_card(&mut self) {
        self.card.present = false;
        self.card.open = false;
        self.send(Input::CardRemoved).unwrap();
    }

    pub fn type_keys(&mut self, s: &str) {
        for c in s.chars() {
            self.send(Input::Key(madoguchi_flow::Key::Char(c))).unwrap();
        }
        self.send(Input::Key(madoguchi_flow::Key::Enter)).unwrap();
    }

    pub fn step(&self) -> StepId {
        self.counter.step()
    }

    /// The backend answers the last binding-code request: a code valid `valid_ms` from now,
    /// or `fault`.
    pub fn answer_binding(
        &mut self,
        valid_ms: i64,
        fault: Option<&'static str>,
    ) -> Result<(), Refusal> {
        use madoguchi_flow::ports::{BackendEvent, BackendFault, BindingCode};
        let session_id = self
            .backend
            .requests
            .last()
            .expect("a binding-code request")
            .session_id
            .clone();
        let result = match fault {
            Some(f) => Err(BackendFault(f)),
            None => Ok(BindingCode {
                code: Private::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"),
                qr_png: PrivateBytes::new(b"\x89PNG code".to_vec()),
                expires_at_ms: madoguchi_flow::ports::Clock::unix_ms(&self.clock) + valid_ms,
            }),
        };
        self.send(Input::Backend(BackendEvent::BindingCode {
            session_id,
            result,
        }))
    }
}

/// A face check's result of this decision (a match carries the live template).
pub fn result(decision: FaceDecision) -> FaceResult {
    FaceResult {
        decision,
        reasons: match decision {
            FaceDecision::Match => vec![],
            FaceDecision::NoMatch => vec!["face.different_person"],
            FaceDecision::AttackSuspected => vec!["challenge.failed"],
            FaceDecision::NoFace => vec!["face.none"],
        },
        score: Some(if decision == FaceDecision::Match {
            0.71
        } else {
            0.12
        }),
        threshold: Some(0.48),
        model: "sface",
        quality: Some(82.0),
        passive: Some((0.3, 0.18, true)),
        challenge: Some((
            Turn::Left,
            if decision == FaceDecision::AttackSuspected {
                ChallengeResult::Failed
            } else {
                ChallengeResult::Passed
            },
        )),
        capture: Some(CapturedFace {
            jpeg: PrivateBytes::new(vec![0xFF, 0xD8, 1, 2]),
            sha256: [9; 32],
        }),
        decision_ms: Some(120),
        template: (decision == FaceDecision::Match)
            .then(|| LiveTemplate(PrivateBytes::new(b"live-template".to_vec()))),
    }
}

/// Progress, then the result.
pub fn face_done(w: &mut World, d: FaceDecision) {
    w.send(Input::Face(FaceEvent::Progress(FaceProgress {
        challenge: false,
        guidance: "face.hold_still",
        progress: 0.5,
        faces: 1,
        quality: Some(80.0),
        face_box: None,
    })))
    .unwrap();
    w.send(Input::Face(FaceEvent::Done(Box::new(result(d)))))
        .unwrap();
}

pub fn code_b(security: &str) -> CodeBInput {
    CodeBInput {
        birth_date: (1946, 12, 9),
        expiry_year: 2031,
        security_code: madoguchi_flow::Secret::new(security.into()),
    }
}

/// An identity verification (PIN route) up to the review, with this face decision.
pub fn at_review(w: &mut World, decision: madoguchi_flow::ports::FaceDecision) {
    w.send(Input::Start(madoguchi_flow::Start::Identity(
        madoguchi_flow::IdentityStart {
            teller: teller(),
            route: madoguchi_flow::ports::Route::Pin,
            code_b: None,
            sign: false,
            challenge: madoguchi_flow::ChallengeChoice::Random,
            with_my_number: false,
        },
    )))
    .unwrap();
    w.insert_card();
    w.type_keys(PIN);
    face_done(w, decision);
    assert_eq!(w.step(), madoguchi_flow::view::StepId::Review);
}
