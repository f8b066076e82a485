//! End-to-end tests of identity verification at the counter: the real `madoguchi` binary on
//! the simulators (the virtual card through a private `pcscd` + vpcd, the synthetic customer
//! on the simulated camera, the embedded backend), both windows driven through
//! WebKitWebDriver exactly as a teller and a customer use them. Each test checks what the
//! screens showed, what the kiosk's ledger recorded and what reached the backend, and that no
//! value of the virtual card's profile reached a log line. Screenshots of every step of both
//! windows go to `target/e2e-shots/identity-<test>-<step>-<window>.png`.
//!
//! In the nextest group `pcscd` (one pcscd per machine).

use std::path::{Path, PathBuf};

use madoguchi_e2e::{
    Display, Driver, STEP, TELLER, assert_logs_clean, backend_confirmations, backend_events,
    ledger, start_kiosk,
};
use madoguchi_virtual_card::harness::Pcscd;
use serde_json::{Value, json};

const KIOSK_ID: &str = "E2E-ID-01";

fn data_dir(name: &str) -> PathBuf {
    madoguchi_e2e::fresh_data_dir(&format!("identity-{name}"))
}

fn driver(display: &Display, data: &Path, lang: &str, env: &[(&str, &str)]) -> Driver {
    Driver::start_env(
        display,
        &madoguchi_e2e::kiosk_env(KIOSK_ID, data, lang, env),
    )
}

// ---- what the kiosk kept -----------------------------------------------------------------

/// The virtual card's text-PIN counter (EF 0011 of the 券面事項入力補助AP) after the run: its
/// state file, or — when the card never changed a counter, so wrote none — the profile's own.
fn pin_counter(data: &Path, profile: &str) -> u64 {
    let f = data
        .join("virtual-card")
        .join(format!("{profile}.counters.json"));
    match std::fs::read_to_string(&f) {
        Ok(text) => {
            let v: Value = serde_json::from_str(&text).expect("json");
            v["kenhojo/0011"].as_u64().expect("the text PIN counter")
        }
        Err(_) => u64::from(
            madoguchi_virtual_card::profile(profile)
                .expect("profile")
                .credentials
                .text_pin_tries,
        ),
    }
}

fn only_session(l: &madoguchi_ledger::Ledger) -> madoguchi_ledger::SessionSummary {
    let s = l.sessions_since(0, 10).expect("sessions");
    assert_eq!(s.len(), 1, "{s:?}");
    s.into_iter().next().expect("one")
}

fn kinds(events: &[(String, Value)]) -> Vec<&str> {
    events.iter().map(|(k, _)| k.as_str()).collect()
}

// ---- the tests ----------------------------------------------------------------------------

/// The PIN route from an empty reader to the backend, with screenshots of every step.
fn pin_route(lang: &'static str, name: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(name);
    let d = driver(&display, &data, lang, &[]);
    let (s, run) = start_kiosk("identity", name, &d, &["--simulate"]);
    run.shots(&s, "01-idle");
    // The customer has not put the card down yet.
    run.invoke_teller(&s, "sim_card", json!({ "insert": false }));
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "wait_card");
    run.wait_step(&s, "teller", "wait_card");
    run.shots(&s, "02-wait-card");
    run.invoke_teller(
        &s,
        "sim_card",
        json!({ "insert": true, "profile": "hopper" }),
    );
    run.wait_step(&s, "customer", "pin_entry");
    run.assert_customer(&s, "keypad", "data-kind", "pin");
    assert_eq!(
        run.on_customer(&s)
            .text("[data-screen=customer] [data-testid=tries-left]")
            .trim()
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>(),
        "3",
        "tries left shown before the PIN"
    );
    for k in ['1', '2'] {
        s.click(&format!("[data-screen=customer] [data-testid=key-{k}]"));
    }
    s.wait_for(
        "return document.querySelector('[data-screen=customer] [data-testid=pin-dots]')?.dataset.typed === '2';",
        STEP,
        "two dots",
    );
    // The page holds no digit of what was typed.
    assert!(!run.html(&s, "customer").contains("\"12\""));
    run.shots(&s, "03-pin-entry");
    for k in ['3', '4'] {
        s.click(&format!("[data-screen=customer] [data-testid=key-{k}]"));
    }
    s.click("[data-screen=customer] [data-testid=key-enter]");
    run.wait_step(&s, "customer", "face");
    run.wait_step(&s, "teller", "face");
    s.wait_for(
        "const i = document.querySelector('[data-screen=teller] [data-testid=preview]'); return !!i && (i.getAttribute('src') || '').startsWith('data:image/jpeg');",
        STEP,
        "the live preview on the teller console",
    );
    run.on_customer(&s).wait_for(
        "const i = document.querySelector('[data-screen=customer] [data-testid=preview]'); return !!i && (i.getAttribute('src') || '').startsWith('data:image/jpeg');",
        STEP,
        "the live preview on the customer display",
    );
    run.shots(&s, "04-face");
    run.wait_step(&s, "teller", "review");
    run.wait_step(&s, "customer", "review");
    run.shots(&s, "05-review");
    run.assert_teller(&s, "proposed-outcome", "data-outcome", "verified");
    run.assert_teller(&s, "face-decision", "data-decision", "match");
    let shown_name = run
        .on_teller(&s)
        .text("[data-screen=teller] [data-testid=chip-name]");
    assert_eq!(shown_name.trim(), "試験\u{3000}花子");
    assert!(
        run.teller_attr(&s, "chip-photo", "src")
            .starts_with("data:image/png")
    );
    assert!(
        run.teller_attr(&s, "live-photo", "src")
            .starts_with("data:image/jpeg")
    );
    // The customer display got no chip data.
    let customer_html = run.html(&s, "customer");
    assert!(!customer_html.contains("試験"));
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.wait_step(&s, "customer", "result");
    run.shots(&s, "06-result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "verified");
    run.assert_customer(&s, "customer-outcome", "data-outcome", "verified");
    run.wait_synced(&s);
    s.close();

    let l = ledger(&data);
    let session = only_session(&l);
    assert_eq!(session.end, Some(madoguchi_ledger::SessionEnd::Completed));
    assert_eq!(session.reason.as_deref(), Some("face.match"));
    assert_eq!(session.decision, Some(madoguchi_ledger::Decision::Accepted));
    assert_eq!(
        l.confirmations_for_session(&session.id)
            .expect("confirmations")
            .len(),
        1
    );
    let events = backend_events(&data);
    let k = kinds(&events);
    for want in [
        "session.started",
        "evidence.stored",
        "outcome.recorded",
        "confirmation.recorded",
        "session.ended",
    ] {
        assert!(k.contains(&want), "{want} did not reach the backend: {k:?}");
    }
    let records = backend_confirmations(&data);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["outcome"], "verified");
    assert_eq!(r["method"]["route"], "pin");
    assert_eq!(r["subject"]["name"], "試験\u{3000}花子");
    assert_eq!(r["face_match"]["outcome"], "match");
    assert_eq!(r["liveness"]["challenge_result"], "passed");
    // The record names the teller signed in with her key.
    assert_eq!(r["verified_by"]["teller_id"], TELLER);
    assert_eq!(r["verified_by"]["teller_verified"], true);
    assert!(
        !r.to_string().contains("123456789018"),
        "never the My Number"
    );
    assert_logs_clean(&data, "hopper", &[]);
}

#[test]
fn identity_pin_route_verifies_and_reaches_the_backend_ja() {
    pin_route("ja", "pin-ja");
}

#[test]
fn identity_pin_route_verifies_and_reaches_the_backend_en() {
    pin_route("en", "pin-en");
}

#[test]
fn identity_code_b_route_verifies_without_the_pin() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("code-b");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("identity", "code-b", &d, &["--simulate"]);
    run.start(&s, "code-b", Some(("1946-12-09", "2031", "2285")));
    run.wait_step(&s, "teller", "face");
    run.shots(&s, "01-face");
    run.wait_step(&s, "teller", "review");
    run.shots(&s, "02-review");
    assert!(
        run.teller_attr(&s, "chip-name-image", "src")
            .starts_with("data:image/png")
    );
    run.assert_teller(&s, "proposed-outcome", "data-outcome", "verified");
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.shots(&s, "03-result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "verified");
    run.wait_synced(&s);
    s.close();
    // The PIN counter was never touched.
    assert_eq!(pin_counter(&data, "hopper"), 3);
    let r = &backend_confirmations(&data)[0];
    assert_eq!(r["method"]["route"], "code_b");
    assert!(r["subject"].get("name").is_none());
    assert!(
        r["subject"]["name_image_png_b64"]
            .as_str()
            .is_some_and(|s| s.len() > 100)
    );
    assert_logs_clean(&data, "hopper", &[]);
}

/// The teller's review with a different person, or a photo held up, in front of the camera.
fn not_the_person(name: &'static str, face: &str, kind: &str, proposed: &str, decision: &str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(name);
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("identity", name, &d, &["--simulate"]);
    run.invoke_teller(&s, "sim_presenter", json!({ "face": face, "kind": kind }));
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    run.type_keys(&s, "1234");
    run.wait_step(&s, "teller", "face");
    run.shots(&s, "01-face");
    run.wait_step(&s, "teller", "review");
    run.shots(&s, "02-review");
    run.assert_teller(&s, "proposed-outcome", "data-outcome", proposed);
    run.assert_teller(&s, "face-decision", "data-decision", decision);
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.shots(&s, "03-result");
    run.assert_teller(&s, "result-outcome", "data-outcome", proposed);
    run.assert_customer(&s, "customer-outcome", "data-outcome", proposed);
    run.wait_synced(&s);
    s.close();
    let l = ledger(&data);
    let session = only_session(&l);
    assert_eq!(session.decision, Some(madoguchi_ledger::Decision::Rejected));
    let r = &backend_confirmations(&data)[0];
    assert_eq!(r["outcome"], proposed);
    assert_eq!(r["face_match"]["outcome"], decision);
    assert_logs_clean(&data, "hopper", &[]);
}

#[test]
fn identity_face_mismatch_is_not_verified() {
    not_the_person("mismatch", "obama", "customer", "not_verified", "no_match");
}

#[test]
fn identity_photo_held_still_is_an_attack() {
    not_the_person(
        "held-photo",
        "customer",
        "held_photo",
        "attack_suspected",
        "attack_suspected",
    );
}

#[test]
fn identity_wrong_pin_shows_the_tries_left() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("wrong-pin");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("identity", "wrong-pin", &d, &["--simulate"]);
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    run.type_keys(&s, "9999");
    run.on_customer(&s).wait_for(
        "return document.querySelector('[data-screen=customer] [data-testid=customer-notice]')?.dataset.code === 'notice.pin_wrong';",
        STEP,
        "the wrong-PIN notice on the customer display",
    );
    run.wait_step(&s, "customer", "pin_entry");
    let tries = run
        .on_customer(&s)
        .text("[data-screen=customer] [data-testid=tries-left]");
    assert!(tries.contains('2'), "tries left shown: {tries:?}");
    run.assert_teller(&s, "notice", "data-code", "notice.pin_wrong");
    run.shots(&s, "01-wrong-pin");
    run.click_teller(&s, "cancel-button");
    run.wait_step(&s, "teller", "result");
    run.shots(&s, "02-cancelled");
    run.assert_teller(&s, "result-outcome", "data-outcome", "cancelled");
    run.wait_synced(&s);
    s.close();
    assert_eq!(pin_counter(&data, "hopper"), 2, "one try was spent");
    let session = only_session(&ledger(&data));
    assert_eq!(session.end, Some(madoguchi_ledger::SessionEnd::Cancelled));
    assert_eq!(session.reason.as_deref(), Some("cancelled.teller"));
    let events = backend_events(&data);
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "session.ended" && p["reason"] == "cancelled.teller")
    );
    assert_logs_clean(&data, "hopper", &[]);
}

fn refused(name: &'static str, profile: &'static str, reason: &str, tries: u64) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(name);
    let d = driver(
        &display,
        &data,
        "ja",
        &[("MADOGUCHI__DEVICES__VIRTUAL_CARD_PROFILE", profile)],
    );
    let (s, run) = start_kiosk("identity", name, &d, &["--simulate"]);
    run.start(&s, "pin", None);
    run.wait_step(&s, "teller", "result");
    run.wait_step(&s, "customer", "result");
    run.shots(&s, "01-refused");
    run.assert_teller(&s, "result-outcome", "data-outcome", "refused");
    run.assert_teller(&s, "result-reason", "data-code", reason);
    run.assert_customer(&s, "customer-outcome", "data-outcome", "refused");
    run.wait_synced(&s);
    s.close();
    // Refused before any VERIFY: the card's counter is what it was.
    assert_eq!(pin_counter(&data, profile), tries);
    let session = only_session(&ledger(&data));
    assert_eq!(session.decision, Some(madoguchi_ledger::Decision::Referred));
    assert_eq!(session.reason.as_deref(), Some(reason));
    let events = backend_events(&data);
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "outcome.recorded" && p["decision"] == "referred"),
        "{:?}",
        kinds(&events)
    );
    assert_logs_clean(&data, profile, &[]);
}

#[test]
fn identity_one_try_left_is_refused_with_the_counter_unchanged() {
    refused("one-try-left", "one-try-left", "card.pin.one_try_left", 1);
}

#[test]
fn identity_locked_card_is_refused() {
    refused("locked", "locked", "card.pin.locked", 0);
}

#[test]
fn identity_card_pulled_mid_read_resumes_when_put_back() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("card-pulled");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("identity", "card-pulled", &d, &["--simulate"]);
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    // The card leaves the reader a few APDUs into the read.
    run.invoke_teller(
        &s,
        "sim_card",
        json!({ "insert": true, "profile": "hopper", "removeAfter": 8 }),
    );
    run.type_keys(&s, "1234");
    run.wait_step(&s, "customer", "card_back");
    run.wait_step(&s, "teller", "card_back");
    run.shots(&s, "01-card-back");
    run.invoke_teller(
        &s,
        "sim_card",
        json!({ "insert": true, "profile": "hopper" }),
    );
    run.wait_step(&s, "teller", "face");
    run.wait_step(&s, "teller", "review");
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "verified");
    run.wait_synced(&s);
    s.close();
    // The PIN was sent again after the card came back; the card counted no wrong try.
    assert_eq!(pin_counter(&data, "hopper"), 3);
    let session = only_session(&ledger(&data));
    assert_eq!(session.decision, Some(madoguchi_ledger::Decision::Accepted));
    assert_eq!(backend_confirmations(&data).len(), 1);
    assert_logs_clean(&data, "hopper", &[]);
}

#[test]
fn identity_inactivity_at_review_wipes_the_customer() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("inactivity");
    let d = driver(
        &display,
        &data,
        "ja",
        &[("MADOGUCHI__PROCEDURE__REVIEW_SECONDS", "6")],
    );
    let (s, run) = start_kiosk("identity", "inactivity", &d, &["--simulate"]);
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    run.type_keys(&s, "1234");
    run.wait_step(&s, "teller", "review");
    assert!(
        !run.on_teller(&s)
            .text("[data-screen=teller] [data-testid=chip-name]")
            .is_empty()
    );
    // Nobody does anything: after the review time the customer's data is gone.
    run.wait_step(&s, "teller", "result");
    run.shots(&s, "01-wiped");
    run.assert_teller(&s, "result-outcome", "data-outcome", "cancelled");
    run.assert_teller(&s, "result-reason", "data-code", "timeout.inactivity");
    let teller_html = run.html(&s, "teller");
    assert!(!teller_html.contains("試験"), "the name is gone");
    let view = run.invoke_teller(&s, "procedure_view", json!({}));
    assert!(view["chip"].is_null() && view["face"].is_null(), "{view}");
    run.wait_synced(&s);
    s.close();
    let l = ledger(&data);
    let session = only_session(&l);
    assert_eq!(session.end, Some(madoguchi_ledger::SessionEnd::Cancelled));
    assert_eq!(session.reason.as_deref(), Some("timeout.inactivity"));
    assert!(
        l.confirmations_for_session(&session.id)
            .expect("c")
            .is_empty()
    );
    let events = backend_events(&data);
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "session.ended" && p["reason"] == "timeout.inactivity")
    );
    assert!(!kinds(&events).contains(&"confirmation.recorded"));
    assert_logs_clean(&data, "hopper", &[]);
}

#[test]
fn identity_customer_window_cannot_send_teller_commands() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("capabilities");
    let d = driver(&display, &data, "ja", &[]);
    let (s, run) = start_kiosk("identity", "capabilities", &d, &["--simulate"]);
    let c = run.on_customer(&s);
    for (cmd, args) in [
        (
            "identity_start",
            json!({ "request": { "route": "pin", "sign": false, "challenge": "random", "codeB": null } }),
        ),
        ("procedure_confirm", json!({})),
        ("procedure_cancel", json!({})),
        ("history_today", json!({})),
        ("sim_card", json!({ "insert": false })),
        ("desk_state", json!({})),
        (
            "desk_sign_in",
            json!({ "request": { "key": "sim:suzuki", "pin": "2580" } }),
        ),
        ("desk_sign_out", json!({})),
        ("desk_touch", json!({})),
        ("desk_tellers", json!({})),
        (
            "desk_register_key",
            json!({ "request": { "tellerId": "t-ito", "label": "customer window", "key": { "key": "sim:new", "pin": "2580" } } }),
        ),
        (
            "sim_key_plug",
            json!({ "key": "sim:sato", "plugged": false }),
        ),
        (
            "procedure_override",
            json!({ "accept": true, "reason": "from the customer window", "approval": { "key": "sim:suzuki", "pin": "2580" } }),
        ),
    ] {
        let r = c.invoke(cmd, args);
        assert!(r.get("err").is_some(), "the customer window ran {cmd}: {r}");
    }
    let t = run.on_teller(&s);
    let r = t.invoke("keypad_press", json!({ "key": "1" }));
    assert!(
        r.get("err").is_some(),
        "the teller window pressed a key: {r}"
    );
    // Nothing the customer window tried changed the desk: the teller is still signed in,
    // her key still plugged in, no key was made for t-ito.
    let desk = run.invoke_teller(&s, "desk_state", json!({}));
    assert_eq!(desk["signedIn"]["id"], TELLER, "{desk}");
    let keys = desk["keys"].as_array().expect("keys");
    assert!(
        keys.iter()
            .any(|k| k["id"] == "sim:sato" && k["plugged"] == true),
        "{desk}"
    );
    let key_files = std::fs::read_dir(data.join("sim-keys"))
        .expect("sim-keys")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "softkey"))
        })
        .count();
    s.close();
    assert_eq!(
        key_files,
        keys.iter().filter(|k| k["simulated"] == true).count(),
        "one key file per simulated key offered, none made by the customer window"
    );
    let l = ledger(&data);
    let audit = l.audit_entries(0, 100_000).expect("audit");
    assert!(
        !audit
            .iter()
            .any(|e| e.action == "teller.key_registered" && e.detail.contains("t-ito")),
        "the customer window registered a key"
    );
}

#[test]
fn identity_jpki_signature_is_made_on_the_password_keypad_and_verified_by_the_backend() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("signature");
    let d = driver(&display, &data, "en", &[]);
    let (s, run) = start_kiosk("identity", "signature", &d, &["--simulate"]);
    let t = run.on_teller(&s);
    t.click("[data-screen=teller] [data-testid=start-sign]");
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    run.type_keys(&s, "1234");
    run.wait_step(&s, "customer", "sign_entry");
    run.assert_customer(&s, "keypad", "data-kind", "password");
    run.shots(&s, "01-sign-entry");
    // A wrong password first: the card counts it, the customer is told the tries left.
    run.type_keys(&s, "WRONG99");
    run.on_customer(&s).wait_for(
        "return document.querySelector('[data-screen=customer] [data-testid=customer-notice]')?.dataset.code === 'notice.password_wrong';",
        STEP,
        "the wrong-password notice",
    );
    run.shots(&s, "02-password-wrong");
    run.type_keys(&s, "HOPPER2024");
    run.wait_step(&s, "teller", "review");
    run.shots(&s, "03-review-signed");
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "verified");
    run.wait_synced(&s);
    s.close();
    let c = rusqlite::Connection::open(data.join("central-demo.sqlite")).expect("backend db");
    let verdict: String = c
        .query_row(
            "SELECT verification FROM events WHERE kind = 'evidence.stored' \
             AND payload LIKE '%\"kind\":\"signature\"%'",
            [],
            |r| r.get(0),
        )
        .expect("the signature evidence reached the backend");
    assert_eq!(
        verdict, "verified",
        "the backend checked the JPKI signature"
    );
    let r = &backend_confirmations(&data)[0];
    assert_eq!(r["method"]["signature_evidence"], true);
    assert_logs_clean(&data, "hopper", &[]);
}

#[test]
fn identity_camera_lost_waits_and_the_check_resumes() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("camera-lost");
    let d = driver(&display, &data, "en", &[]);
    let (s, run) = start_kiosk("identity", "camera-lost", &d, &["--simulate"]);
    run.start(&s, "pin", None);
    run.wait_step(&s, "customer", "pin_entry");
    run.type_keys(&s, "1234");
    run.wait_step(&s, "teller", "face");
    // The camera's cable comes out during the check.
    run.invoke_teller(&s, "sim_camera", json!({ "plugged": false }));
    run.wait_step(&s, "teller", "camera_lost");
    run.wait_step(&s, "customer", "camera_lost");
    run.shots(&s, "01-camera-lost");
    run.invoke_teller(&s, "sim_camera", json!({ "plugged": true }));
    run.wait_step(&s, "teller", "face");
    run.wait_step(&s, "teller", "review");
    run.click_teller(&s, "confirm-button");
    run.wait_step(&s, "teller", "result");
    run.assert_teller(&s, "result-outcome", "data-outcome", "verified");
    run.wait_synced(&s);
    s.close();
    let session = only_session(&ledger(&data));
    assert_eq!(session.decision, Some(madoguchi_ledger::Decision::Accepted));
    assert_logs_clean(&data, "hopper", &[]);
}
