//! The commands the windows may call, each a few lines: check which side of the counter the
//! calling webview is on, turn the request into a flow input, and hand it to the runner.
//!
//! Two locks on every command: the window's capability (`capabilities/*.json`: the customer
//! display may only subscribe, read its view and press keys; the teller console may not press
//! keys) and the label check here, so a mistake in one is caught by the other — also in
//! `--single-screen`, where the two sides are two webviews of one window.
//! What they must not do: block the UI thread for long (the runner answers within a card
//! read), or return personal data to the customer side.

use std::sync::Arc;

use madoguchi_face::challenge_eval::Presenter;
use madoguchi_flow::ports::{CodeBInput, Route};
use madoguchi_flow::{
    ChallengeChoice, IdentityStart, Input, Key, QrAuthStart, Refusal, Secret, Start,
};
use madoguchi_ledger::Ledger;
use serde::Deserialize;
use serde_json::{Value, json};
use tauri::ipc::Channel;
use tauri::{Runtime, State, Webview};
use zeroize::Zeroizing;

use crate::desk::{Desk, DeskView, KeyChoice, TellerEntry};
use crate::dto::UiError;
use crate::runner::RunnerHandle;
use crate::screens::{Hub, Side};
use crate::simulators::Simulators;

/// What the procedure commands need.
pub struct Procedures {
    /// The runner's inbox.
    pub runner: RunnerHandle,
    /// The windows' subscriptions.
    pub hub: Hub,
    /// The simulators (simulation only).
    pub sims: Option<Arc<Simulators>>,
    /// The ledger (history).
    pub ledger: Arc<Ledger>,
    /// Who is signed in.
    pub desk: Arc<Desk>,
}

fn side<R: Runtime>(w: &Webview<R>) -> Result<Side, UiError> {
    Side::of_label(w.label()).ok_or_else(|| UiError {
        code: "window.not_allowed",
        message: format!("webview {:?} is not a counter window", w.label()),
    })
}

fn only<R: Runtime>(w: &Webview<R>, wanted: Side) -> Result<(), UiError> {
    if side(w)? == wanted {
        Ok(())
    } else {
        Err(UiError {
            code: "window.not_allowed",
            message: format!("this command is not for the {:?} window", w.label()),
        })
    }
}

fn refused(r: Refusal) -> UiError {
    UiError {
        code: r.0,
        message: format!("refused: {}", r.0),
    }
}

fn bad(message: &str) -> UiError {
    UiError {
        code: "request.invalid",
        message: message.to_owned(),
    }
}

/// Subscribes the calling window to its side's messages (views, progress, preview).
#[tauri::command]
pub fn procedure_subscribe<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    channel: Channel<Value>,
) -> Result<(), UiError> {
    let s = side(&webview)?;
    state
        .hub
        .subscribe(s, Box::new(move |m| channel.send(m.clone()).is_ok()));
    if s == Side::Teller
        && let Some(sims) = &state.sims
    {
        state.hub.send(Side::Teller, &sim_message(sims));
    }
    Ok(())
}

/// The current view of the calling window's side.
#[tauri::command]
pub fn procedure_view<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<Value, UiError> {
    let s = side(&webview)?;
    Ok(state
        .hub
        .latest(s)
        .and_then(|m| m.get("view").cloned())
        .unwrap_or(Value::Null))
}

/// 照合番号B as the teller typed it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CodeBRequest {
    birth_date: String,
    expiry_year: u16,
    security_code: String,
}

impl CodeBRequest {
    fn into_input(self) -> Result<CodeBInput, UiError> {
        let parts: Vec<&str> = self.birth_date.split('-').collect();
        let [y, m, d] = parts.as_slice() else {
            return Err(bad("birthDate must be YYYY-MM-DD"));
        };
        let (Ok(y), Ok(m), Ok(d)) = (y.parse::<u16>(), m.parse::<u8>(), d.parse::<u8>()) else {
            return Err(bad("birthDate must be YYYY-MM-DD"));
        };
        Ok(CodeBInput {
            birth_date: (y, m, d),
            expiry_year: self.expiry_year,
            security_code: Secret::new(self.security_code),
        })
    }
}

/// The teller's start of an identity verification.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    route: String,
    sign: bool,
    challenge: String,
    code_b: Option<CodeBRequest>,
}

/// Starts an identity verification (teller console).
#[tauri::command]
pub fn identity_start<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    request: StartRequest,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let route = match request.route.as_str() {
        "pin" => Route::Pin,
        "code_b" => Route::CodeB,
        _ => return Err(bad("route must be pin or code_b")),
    };
    let challenge = challenge_choice(&request.challenge)?;
    let code_b = request.code_b.map(CodeBRequest::into_input).transpose()?;
    let teller = state.desk.teller()?;
    state
        .runner
        .send(Input::Start(Start::Identity(IdentityStart {
            teller,
            route,
            code_b,
            sign: request.sign,
            challenge,
            with_my_number: false,
        })))
        .map_err(refused)
}

/// 照合番号B typed again after a wrong one (teller console).
#[tauri::command]
pub fn procedure_code_b<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    code: CodeBRequest,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let code = code.into_input()?;
    state.runner.send(Input::CodeB(code)).map_err(refused)
}

fn teller_input<R: Runtime>(
    webview: &Webview<R>,
    state: &Procedures,
    input: Input,
) -> Result<(), UiError> {
    only(webview, Side::Teller)?;
    state.desk.teller()?;
    state.runner.send(input).map_err(refused)
}

/// Confirms the kiosk's decision, or finishes the step that waits for the teller (teller
/// console).
#[tauri::command]
pub fn procedure_confirm<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(&webview, &state, Input::Confirm)
}

/// Confirms a verified identity and issues the customer a face credential (teller console).
#[tauri::command]
pub fn procedure_confirm_enroll<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(&webview, &state, Input::ConfirmEnroll)
}

/// Confirms a verified identity and re-binds the customer's passkey device (teller console).
#[tauri::command]
pub fn procedure_confirm_rebind<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(&webview, &state, Input::ConfirmRebind)
}

fn challenge_choice(c: &str) -> Result<ChallengeChoice, UiError> {
    Ok(match c {
        "random" => ChallengeChoice::Random,
        "left" => ChallengeChoice::Left,
        "right" => ChallengeChoice::Right,
        "none" => ChallengeChoice::None,
        _ => return Err(bad("challenge must be random, left, right or none")),
    })
}

/// Starts an authentication with the customer's face credential QR (teller console); with
/// `rebind`, a verified one goes on to re-bind the customer's passkey device.
#[tauri::command]
pub fn qr_auth_start<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    challenge: String,
    rebind: Option<bool>,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let challenge = challenge_choice(&challenge)?;
    let teller = state.desk.teller()?;
    state
        .runner
        .send(Input::Start(Start::QrAuth(QrAuthStart {
            teller,
            challenge,
            rebind: rebind.unwrap_or(false),
        })))
        .map_err(refused)
}

/// A security key and the PIN it verifies its holder with (teller console). The PIN goes
/// to the key once and is zeroized; it is never logged or kept.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeyRequest {
    key: String,
    pin: String,
}

impl std::fmt::Debug for KeyRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyRequest")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

impl KeyRequest {
    fn into_parts(self) -> Result<(KeyChoice, Zeroizing<String>), UiError> {
        let pin = Zeroizing::new(self.pin);
        Ok((KeyChoice::parse(&self.key)?, pin))
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    tauri::async_runtime::spawn_blocking(f)
        .await
        .map_err(|e| UiError {
            code: "runner.stopped",
            message: format!("key task: {e}"),
        })?
}

/// Overrides it with a written reason, approved by a supervisor's key (teller console).
#[tauri::command]
pub async fn procedure_override<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    accept: bool,
    reason: String,
    approval: Option<KeyRequest>,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let approver = match approval {
        Some(a) => {
            let (choice, pin) = a.into_parts()?;
            let desk = state.desk.clone();
            Some(blocking(move || desk.approve(choice, pin)).await?)
        }
        None => None,
    };
    teller_input(
        &webview,
        &state,
        Input::Override {
            accept,
            reason,
            approver,
        },
    )
}

/// Who is signed in, and the keys to pick from (teller console).
#[tauri::command]
pub fn desk_state<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<DeskView, UiError> {
    only(&webview, Side::Teller)?;
    Ok(state.desk.view())
}

/// Signs a teller in with a security key (teller console).
#[tauri::command]
pub async fn desk_sign_in<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    request: KeyRequest,
) -> Result<DeskView, UiError> {
    only(&webview, Side::Teller)?;
    let (choice, pin) = request.into_parts()?;
    let desk = state.desk.clone();
    blocking(move || desk.sign_in(choice, pin)).await
}

/// Signs the teller out, cancelling a running procedure first (teller console).
#[tauri::command]
pub fn desk_sign_out<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<DeskView, UiError> {
    only(&webview, Side::Teller)?;
    // Nothing may go on without the teller: a running procedure is cancelled (and wipes the
    // customer's data); "not now" just means nothing was running.
    let _ = state
        .runner
        .send(Input::Cancel(madoguchi_flow::messages::R_CANCELLED_TELLER));
    state.desk.sign_out("sign_out");
    Ok(state.desk.view())
}

/// The teller used the console (keeps the session from going idle).
#[tauri::command]
pub fn desk_touch<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    state.desk.touch();
    Ok(())
}

/// The tellers of this kiosk, for key registration (a signed-in supervisor only).
#[tauri::command]
pub fn desk_tellers<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<Vec<TellerEntry>, UiError> {
    only(&webview, Side::Teller)?;
    state.desk.tellers()
}

/// A new key for a teller, registered by the signed-in supervisor.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegisterRequest {
    teller_id: String,
    label: String,
    key: KeyRequest,
}

/// Registers a teller's security key (a signed-in supervisor only).
#[tauri::command]
pub async fn desk_register_key<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    request: RegisterRequest,
) -> Result<TellerEntry, UiError> {
    only(&webview, Side::Teller)?;
    let (choice, pin) = request.key.into_parts()?;
    let desk = state.desk.clone();
    let (teller, label) = (request.teller_id, request.label);
    blocking(move || desk.register(&teller, &label, choice, pin)).await
}

/// Simulator: plugs a simulated security key in or out (teller console, simulation only).
#[tauri::command]
pub fn sim_key_plug<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    key: String,
    plugged: bool,
) -> Result<DeskView, UiError> {
    only(&webview, Side::Teller)?;
    let KeyChoice::Sim(name) = KeyChoice::parse(&key)? else {
        return Err(bad("key must be sim:NAME"));
    };
    state.desk.sim_plug(&name, plugged)?;
    Ok(state.desk.view())
}

/// Cancels the running procedure (teller console).
#[tauri::command]
pub fn procedure_cancel<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(
        &webview,
        &state,
        Input::Cancel(madoguchi_flow::messages::R_CANCELLED_TELLER),
    )
}

/// Clears the result (teller console).
#[tauri::command]
pub fn procedure_next<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(&webview, &state, Input::Next)
}

/// Goes on without the JPKI signature (teller console).
#[tauri::command]
pub fn procedure_skip_sign<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    teller_input(&webview, &state, Input::SkipSign)
}

/// One key of the customer keypad (customer display only). The page never holds the value:
/// this is the only way a character reaches the PIN buffer, which lives in Rust.
#[tauri::command]
pub fn keypad_press<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    key: String,
) -> Result<(), UiError> {
    only(&webview, Side::Customer)?;
    let key = match key.as_str() {
        "backspace" => Key::Backspace,
        "clear" => Key::Clear,
        "enter" => Key::Enter,
        k => {
            let mut chars = k.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) if c.is_ascii_alphanumeric() => Key::Char(c),
                _ => {
                    return Err(bad(
                        "a key is one letter or digit, backspace, clear or enter",
                    ));
                }
            }
        }
    };
    state.runner.send(Input::Key(key)).map_err(refused)
}

/// Today's sessions (Japan time) and the sync backlog, for the teller's history.
#[tauri::command]
pub fn history_today<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<Value, UiError> {
    only(&webview, Side::Teller)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64);
    const JST_MS: i64 = 9 * 3_600_000;
    let midnight = (now + JST_MS).div_euclid(86_400_000) * 86_400_000 - JST_MS;
    let ledger_err = |e: madoguchi_ledger::LedgerError| UiError::from(&e);
    let rows = state
        .ledger
        .sessions_since(midnight, 200)
        .map_err(ledger_err)?;
    let backlog = state.ledger.outbox_backlog().map_err(ledger_err)?;
    Ok(json!({
        "rows": rows.iter().map(|s| json!({
            "sessionId": s.id,
            "procedure": s.procedure,
            "startedAtMs": s.started_at_ms,
            "endedAtMs": s.ended_at_ms,
            "end": s.end.map(|e| e.as_str()),
            "reason": s.reason,
            "decision": s.decision.map(|d| d.as_str()),
            "overridden": s.overridden,
        })).collect::<Vec<_>>(),
        "backlog": backlog,
    }))
}

fn sims(state: &Procedures) -> Result<&Simulators, UiError> {
    state.sims.as_deref().ok_or(UiError {
        code: "sim.not_simulation",
        message: "the kiosk is not running on simulators".into(),
    })
}

fn sim_message(s: &Simulators) -> Value {
    let mut v = s.state();
    v["kind"] = json!("sim-state");
    v
}

fn sim_changed(state: &Procedures) {
    if let Some(s) = &state.sims {
        state.hub.send(Side::Teller, &sim_message(s));
    }
}

/// The simulator panel's state (teller console, simulation only).
#[tauri::command]
pub fn sim_state<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<Value, UiError> {
    only(&webview, Side::Teller)?;
    Ok(sims(&state)?.state())
}

fn sim_err(e: crate::simulators::SimError) -> UiError {
    UiError {
        code: e.code(),
        message: e.to_string(),
    }
}

/// Inserts (the named profile's) card or removes it; `removeAfter`: the card leaves after
/// that many more APDUs (pulled in the middle of a read).
#[tauri::command]
pub fn sim_card<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    insert: bool,
    profile: Option<String>,
    remove_after: Option<u64>,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let s = sims(&state)?;
    if insert {
        let name = profile.unwrap_or_else(|| s.card_profile().name);
        s.insert_named(&name, remove_after).map_err(sim_err)?;
    } else {
        s.remove();
    }
    sim_changed(&state);
    Ok(())
}

/// Who stands in front of the simulated camera.
#[tauri::command]
pub fn sim_presenter<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    face: String,
    kind: String,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    let kind = match kind.as_str() {
        "customer" => Presenter::Customer,
        "held_photo" => Presenter::HeldPhoto,
        _ => return Err(bad("kind must be customer or held_photo")),
    };
    sims(&state)?.set_presenter(&face, kind).map_err(sim_err)?;
    sim_changed(&state);
    Ok(())
}

/// Plugs the simulated camera in or out.
#[tauri::command]
pub fn sim_camera<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    plugged: bool,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    sims(&state)?.set_camera(plugged);
    sim_changed(&state);
    Ok(())
}

/// Shows `text` as a QR on the simulated customer's phone (simulation only: the tests bring
/// expired or forged credentials this way).
#[tauri::command]
pub fn sim_phone_show<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
    text: String,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    if text.is_empty() || text.len() > 4096 {
        return Err(bad("text must be 1 to 4096 bytes"));
    }
    sims(&state)?.show_on_phone(text);
    sim_changed(&state);
    Ok(())
}

/// Empties the simulated customer's phone (a customer without a face credential).
#[tauri::command]
pub fn sim_phone_clear<R: Runtime>(
    webview: Webview<R>,
    state: State<'_, Procedures>,
) -> Result<(), UiError> {
    only(&webview, Side::Teller)?;
    sims(&state)?.clear_phone();
    sim_changed(&state);
    Ok(())
}
