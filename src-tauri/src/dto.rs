//! What crosses to the web side, and only that: plain serialisable data with codes the UI
//! translates (the UI never matches English text), and errors as `{code, message}` with no
//! personal data in them.

use serde::Serialize;

/// An error as the UI receives it.
#[derive(Debug, Clone, Serialize, thiserror::Error)]
#[error("{code}: {message}")]
pub struct UiError {
    /// Stable machine-readable code, e.g. `status.unavailable`.
    pub code: &'static str,
    /// Human-readable English detail for the technician; the UI shows its own translation of
    /// `code` to tellers and customers.
    pub message: String,
}

impl From<&madoguchi_ledger::LedgerError> for UiError {
    /// A ledger refusal by its code; a signature counter that went back is the sign-in's
    /// `auth.counter_regressed` (a possibly cloned key), which the screens explain.
    fn from(e: &madoguchi_ledger::LedgerError) -> Self {
        let code = match e {
            madoguchi_ledger::LedgerError::SignCountRegressed { .. } => "auth.counter_regressed",
            other => other.code(),
        };
        UiError {
            code,
            message: e.to_string(),
        }
    }
}

/// The kiosk's identity and state, for both screens.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KioskStatus {
    /// `madoguchi` version.
    pub version: &'static str,
    /// Kiosk id.
    pub kiosk_id: String,
    /// Branch code.
    pub branch_code: String,
    /// Language the screens start in (`ja` / `en`).
    pub language: &'static str,
    /// Running on the simulators.
    pub simulate: bool,
    /// Screens share one window.
    pub single_screen: bool,
    /// The devices, in a fixed order: reader, camera, backend, trust lists. Empty until the first probe
    /// finished.
    pub devices: Vec<DeviceStatus>,
    /// Seconds since the UNIX epoch when `devices` was probed; 0 before the first probe.
    pub probed_at: u64,
}

/// Which device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceKind {
    /// The PC/SC card reader.
    Reader,
    /// The webcam.
    Camera,
    /// The central backend link.
    Backend,
    /// The face-credential trust lists the kiosk holds (their age).
    Trust,
}

/// Hardware or simulator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceMode {
    /// Real device.
    Hardware,
    /// Simulator.
    Simulated,
    /// A network link (the backend).
    Network,
}

/// How the device is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceState {
    /// Present and working.
    Ok,
    /// Not there (nothing attached, simulator not available, nothing configured).
    Missing,
    /// There but failing.
    Error,
}

/// One device's status. `detail` is a code the UI translates; `params` fills it in; `info`
/// is technician English (never personal data).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeviceStatus {
    /// Which device.
    pub kind: DeviceKind,
    /// Hardware or simulator.
    pub mode: DeviceMode,
    /// How it is.
    pub state: DeviceState,
    /// Translation code, e.g. `reader.none`.
    pub detail: &'static str,
    /// Values for the translation (reader name, latency …).
    pub params: serde_json::Map<String, serde_json::Value>,
}

// ---------------------------------------------------------------------------------------------
// Procedure views (see ui/src/lib/api.ts for the same shapes on the web side).

use base64::Engine as _;
use madoguchi_flow::ports::{ChipData, FaceResult, Holder};
use madoguchi_flow::view::{
    Actions, CustomerPanel, KeypadView, Msg, Outcome, ResultSummary, SignatureState, View,
};
use serde_json::{Value, json};

fn data_url(mime: &str, bytes: &[u8]) -> String {
    format!(
        "data:{mime};base64,{}",
        base64::engine::general_purpose::STANDARD.encode(bytes)
    )
}

/// A message code with its parameters.
pub fn msg(m: &Msg) -> Value {
    let params: serde_json::Map<String, Value> = m
        .params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), json!(v)))
        .collect();
    json!({ "code": m.code, "params": params })
}

fn actions(a: &Actions) -> Value {
    json!({
        "start": a.start, "cancel": a.cancel, "confirm": a.confirm, "override": a.override_,
        "next": a.next, "codeB": a.code_b, "skipSign": a.skip_sign, "enroll": a.enroll, "rebind": a.rebind,
    })
}

/// The chip data for the teller console (personal data: that window only).
fn chip(c: &ChipData, my_number_read: bool) -> Value {
    let (name, address, name_img, address_img) = match &c.holder {
        Holder::Text { name, address } => (
            json!(name.expose()),
            json!(address.expose()),
            Value::Null,
            Value::Null,
        ),
        Holder::Images {
            name_png,
            address_png,
        } => (
            Value::Null,
            Value::Null,
            json!(data_url("image/png", name_png.expose())),
            json!(data_url("image/png", address_png.expose())),
        ),
    };
    json!({
        "route": c.route.as_str(),
        "name": name, "address": address, "nameImage": name_img, "addressImage": address_img,
        "birthDate": c.birth_date.expose(),
        "sex": c.sex.as_str(),
        "cardExpiry": c.card_expiry,
        "photo": data_url("image/png", c.photo.png.expose()),
        "checks": {
            "textIntegrity": c.checks.text_integrity,
            "cardFaceSignature": c.checks.card_face_signature,
            "chipChallenge": c.checks.chip_challenge,
            "authCertificate": c.checks.auth_certificate,
            "testHierarchy": c.checks.test_hierarchy,
        },
        "authCertificate": c.auth_certificate.as_ref().map(|a| json!({
            "serial": a.serial, "validTo": a.valid_to, "validToday": a.valid_today,
        })),
        "myNumberRead": my_number_read,
    })
}

fn face(f: &FaceResult) -> Value {
    json!({
        "decision": f.decision.as_str(),
        "reasons": f.reasons,
        "score": f.score,
        "threshold": f.threshold,
        "model": f.model,
        "quality": f.quality,
        "passive": f.passive.map(|(depth, threshold, live)| json!({
            "depth": depth, "threshold": threshold, "live": live,
        })),
        "challenge": f.challenge.map(|(t, r)| json!({ "turn": t.as_str(), "result": r.as_str() })),
        "capture": f.capture.as_ref().map(|c| data_url("image/jpeg", c.jpeg.expose())),
        "decisionMs": f.decision_ms,
    })
}

fn result(r: &ResultSummary) -> Value {
    json!({
        "outcome": r.outcome.as_str(),
        "reason": r.reason,
        "score": r.score,
        "threshold": r.threshold,
        "overridden": r.overridden,
        "sessionId": r.session_id,
        "confirmationId": r.confirmation_id,
        "triesLeft": r.tries_left,
    })
}

/// The credential just issued, for the teller (ids and dates; the QR is the customer's).
fn issued(i: &madoguchi_flow::ports::IssuedCredential) -> Value {
    json!({
        "credentialId": i.credential_id,
        "issuerKid": i.issuer_kid,
        "templateKid": i.template_kid,
        "issuedAtMs": i.issued_at_ms,
        "expiresAtMs": i.expires_at_ms,
    })
}

fn signature(s: SignatureState) -> Value {
    match s {
        SignatureState::Pending => json!({ "state": "pending", "reason": null }),
        SignatureState::Signed => json!({ "state": "signed", "reason": null }),
        SignatureState::Skipped(why) => json!({ "state": "skipped", "reason": why }),
    }
}

/// The `teller-view` event.
pub fn teller_view(
    seq: u64,
    v: &View<'_>,
    teller: Option<&madoguchi_flow::ports::TellerRef>,
) -> Value {
    let t = &v.teller;
    json!({
        "seq": seq,
        "step": v.step.as_str(),
        "procedure": v.procedure.map(|p| p.as_str()),
        "route": v.route.map(|r| r.as_str()),
        "remainingMs": v.remaining_ms,
        "message": msg(&t.message),
        "notice": t.notice.as_ref().map(msg),
        "actions": actions(&t.actions),
        "triesLeft": t.tries_left,
        "chip": t.chip.map(|c| chip(c, t.my_number_read)),
        "face": t.face.map(face),
        "proposed": t.proposed.map(|(o, r)| json!({ "outcome": o.as_str(), "reason": r })),
        "signature": t.signature.map(signature),
        "result": t.result.map(result),
        "issued": t.issued.map(issued),
        "teller": teller.map(|t| json!({ "id": t.id, "verified": t.verified })),
    })
}

fn keypad(k: &KeypadView) -> Value {
    json!({
        "kind": match k.kind {
            madoguchi_flow::KeypadKind::Pin => "pin",
            madoguchi_flow::KeypadKind::SignPassword => "password",
        },
        "typed": k.typed,
        "min": k.kind.min(),
        "max": k.kind.max(),
        "triesLeft": k.tries_left,
    })
}

/// The `customer-view` event: guidance only, no personal data.
pub fn customer_view(seq: u64, step: &str, remaining_ms: Option<u64>, c: &CustomerPanel) -> Value {
    json!({
        "seq": seq,
        "step": step,
        "remainingMs": remaining_ms,
        "message": msg(&c.message),
        "notice": c.notice.as_ref().map(msg),
        "picture": c.picture.as_str(),
        "keypad": c.keypad.as_ref().map(keypad),
        "camera": c.camera,
        "qrGuide": c.qr_guide,
        "qr": c.qr_png.as_ref().map(|p| data_url("image/png", p.expose())),
        "outcome": c.outcome.map(Outcome::as_str),
    })
}

#[cfg(test)]
mod tests {
    /// Codes the kiosk may send to the screens besides the flow's message codes and the face
    /// guidance: refusals of the commands, the device and record failures a step can end with, the
    /// face decision's reasons and the signature's skip reasons. With those, the list the UI's
    /// translation test reads (`ui/src/generated-codes.json`) is built by a test below.
    const UI_CODES: &[&str] = &[
        // Command refusals.
        "window.not_allowed",
        "request.invalid",
        "runner.busy",
        "runner.stopped",
        "flow.not_now",
        "flow.busy",
        "sim.not_simulation",
        "sim.unknown_profile",
        "sim.unknown_face",
        "sim.card",
        "code_b.missing",
        "code_b.not_for_pin_route",
        "code_b.birth_date_invalid",
        "code_b.expiry_year_invalid",
        "code_b.security_code_invalid",
        "code_b.wrong",
        // What the card port reports (madoguchi_card::CardError::code and the flow's faults).
        "card.service_unavailable",
        "reader.none",
        "reader.not_found",
        "reader.gone",
        "card.none",
        "card.removed",
        "card.unresponsive",
        "card.in_use",
        "card.not_my_number_card",
        "card.pin.wrong",
        "card.pin.one_try_left",
        "card.pin.locked",
        "card.pin.retries_unknown",
        "card.pin.invalid_format",
        "card.no_sign_certificate",
        "card.clone_suspected",
        "card.untrusted",
        "card.certificate_expired",
        "card.malformed",
        "card.status",
        "card.photo",
        "card.trust_anchors",
        "evidence.invalid",
        "evidence.encoding",
        "io",
        "card.pcsc",
        // The credential port (the rest are the flow's message codes).
        "credential.issue_failed",
        // The trust lists' status line.
        "trust.fresh",
        // The face port.
        "face.unavailable",
        "face.camera",
        "face.reference",
        // The face decision's reasons (madoguchi_face::verify::decide).
        "challenge.failed",
        "challenge.timed_out",
        "pad.not_live",
        "face.different_person",
        // Why a signature was not made.
        "sign.skipped",
        "sign.no_match",
        "sign.no_capture",
        // The desk's own refusals (the keys' are madoguchi_tellers::AuthError::ALL_CODES).
        "auth.signed_out",
        "auth.already_signed_in",
        "auth.no_supervisor",
        "auth.unknown_teller",
        // Records (the ledger's codes, when a start or a write is refused).
        "record.encoding",
        "ledger.db",
        "ledger.newer_schema",
        "ledger.io",
        "ledger.key_permissions",
        "ledger.key_format",
        "ledger.key_exists",
        "ledger.wrong_key",
        "ledger.decrypt",
        "ledger.random",
        "ledger.invalid_input",
        "ledger.not_found",
        "ledger.json",
        "ledger.corrupt",
    ];

    fn all_codes() -> Vec<String> {
        let mut all: std::collections::BTreeSet<String> = madoguchi_flow::messages::ALL
            .iter()
            .chain(UI_CODES)
            .chain(madoguchi_tellers::AuthError::ALL_CODES)
            .map(|c| (*c).to_owned())
            .collect();
        all.extend(
            madoguchi_face::guidance::ALL
                .iter()
                .map(|g| g.code.to_owned()),
        );
        all.into_iter().collect()
    }

    /// The UI's list of codes is exactly what the kiosk may send: run with
    /// `UPDATE_UI_CODES=1` after adding a code, then translate it in `ui/src/lib/i18n.ts`
    /// (the UI's test fails until both languages have it).
    #[test]
    fn the_ui_code_list_is_up_to_date() {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../ui/src/generated-codes.json");
        let want = all_codes();
        if std::env::var_os("UPDATE_UI_CODES").is_some() {
            let text = serde_json::to_string_pretty(&want).unwrap_or_default();
            std::fs::write(&path, text + "\n").expect("write generated-codes.json");
        }
        let have: Vec<String> =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("generated-codes.json"))
                .expect("a JSON list");
        let missing: Vec<_> = want.iter().filter(|c| !have.contains(c)).collect();
        let extra: Vec<_> = have.iter().filter(|c| !want.contains(c)).collect();
        assert!(
            missing.is_empty() && extra.is_empty(),
            "ui/src/generated-codes.json is stale (run UPDATE_UI_CODES=1 cargo test -p madoguchi \
             the_ui_code_list): missing {missing:?}, not sent {extra:?}"
        );
    }

    #[test]
    fn every_card_error_code_is_listed() {
        use madoguchi_card::{CardError, PinKind};
        let errors = [
            CardError::ServiceUnavailable,
            CardError::NoReader,
            CardError::ReaderNotFound(String::new()),
            CardError::ReaderGone,
            CardError::NoCard,
            CardError::CardRemoved,
            CardError::CardUnresponsive,
            CardError::CardInUse,
            CardError::NotMyNumberCard { missing: "" },
            CardError::WrongPin {
                which: PinKind::TextPin,
                tries_left: 2,
            },
            CardError::OneTryLeft {
                which: PinKind::TextPin,
            },
            CardError::Locked {
                which: PinKind::TextPin,
            },
            CardError::RetriesUnknown {
                which: PinKind::TextPin,
            },
            CardError::InvalidPinFormat {
                which: PinKind::TextPin,
                reason: "",
            },
            CardError::NoSignCertificate,
            CardError::CloneSuspected { reason: "" },
            CardError::Untrusted { what: "" },
            CardError::CertificateExpired { what: "" },
            CardError::Malformed { what: "" },
            CardError::CardStatus {
                status: 0x6A82,
                during: "",
            },
            CardError::Photo(String::new()),
            CardError::TrustAnchors(String::new()),
            CardError::EvidenceInvalid(""),
            CardError::Io {
                path: String::new(),
                source: std::io::Error::other("x"),
            },
            CardError::Pcsc(pcsc::Error::InternalError),
        ];
        for e in errors {
            assert!(
                UI_CODES.contains(&e.code()),
                "{} is not in UI_CODES",
                e.code()
            );
        }
    }
}
