//! End-to-end smoke test: the real `madoguchi` binary on simulators, under Xvfb with a window
//! manager, driven through WebKitWebDriver, with a private `pcscd` + vpcd running (the
//! virtual-card harness, without a card: the app inserts its own virtual card). Both screens
//! must reach their ready state with the configured kiosk id and branch, show the three devices
//! and the trust lists honestly — the reader found through the real PC/SC stack with the card
//! present, the lists pulled from the embedded backend — and switch language. Screenshots land in `target/e2e-shots/`. These tests are in the nextest group
//! `pcscd` (one pcscd per machine).

use std::time::Duration;

use madoguchi_e2e::{Display, Driver, app_binary};
use madoguchi_virtual_card::harness::Pcscd;

const READY: Duration = Duration::from_secs(60);
const KIOSK_ID: &str = "E2E-KIOSK-07";
const BRANCH: &str = "042";

fn driver(display: &Display, data_dir: &std::path::Path) -> Driver {
    Driver::start(
        display,
        &[
            ("MADOGUCHI__KIOSK__ID", KIOSK_ID),
            ("MADOGUCHI__KIOSK__BRANCH_CODE", BRANCH),
            ("MADOGUCHI__STORAGE__DATA_DIR", &data_dir.to_string_lossy()),
            ("MADOGUCHI_CONFIG", "/dev/null"),
        ],
    )
}

/// Ready, with its three devices and the trust lists, the reader showing the virtual card
/// inserted and the lists pulled (the status poller runs every 3 s, so either can take a poll
/// or two to appear).
fn screen_ready(screen: &str) -> String {
    format!(
        "const s = document.querySelector('[data-screen={screen}]'); \
         return !!s && s.dataset.state === 'ready' && s.querySelectorAll('.device[data-kind]').length === 4 \
           && !!s.querySelector('.device[data-kind=reader][data-state=ok]') \
           && !!s.querySelector('.device[data-kind=trust][data-state=ok]');"
    )
}

/// Checks one screen (already the current window): ready, identity, devices, language switch.
fn check_screen(
    session: &madoguchi_e2e::Session<'_>,
    screen: &str,
    ja_title: &str,
    en_title: &str,
    shot: &str,
) {
    let sel = |s: &str| format!("[data-screen={screen}] {s}");
    session.wait_for(
        &screen_ready(screen),
        READY,
        &format!("the {screen} screen to be ready"),
    );
    assert_eq!(session.text(&sel("[data-testid=kiosk-id]")), KIOSK_ID);
    assert_eq!(session.text(&sel("[data-testid=branch]")), BRANCH);
    assert!(!session.text(&sel("[data-testid=clock]")).is_empty());
    // Simulation: the virtual card is found through pcscd, the synthetic customer gives
    // frames, the embedded backend answers on loopback and signed the trust lists.
    let states = session.script(&format!(
        "return [...document.querySelectorAll('[data-screen={screen}] .device[data-kind]')]\
         .map(e => e.dataset.kind + ':' + e.dataset.state).join(',');"
    ));
    assert_eq!(
        states, "reader:ok,camera:ok,backend:ok,trust:ok",
        "{screen}"
    );

    assert_eq!(session.text(&sel("[data-testid=title]")), ja_title);
    session.screenshot(&format!("{shot}-ja"));
    session.click(&sel("[data-testid=lang-switch]"));
    session.wait_for(
        &format!(
            "return document.querySelector('[data-screen={screen}] [data-testid=title]')?.textContent === {};",
            serde_json::json!(en_title)
        ),
        Duration::from_secs(10),
        &format!("the {screen} screen to switch to English"),
    );
    assert_eq!(
        session.script(&format!(
            "return document.querySelector('[data-screen={screen}]').getAttribute('lang');"
        )),
        "en"
    );
    session.screenshot(&format!("{shot}-en"));
}

#[test]
fn two_windows_reach_ready_and_switch_language() {
    let _pcscd = Pcscd::start().expect("start a private pcscd with vpcd");
    let display = Display::start(1600, 900);
    let data = madoguchi_e2e::fresh_data_dir("two");
    let driver = driver(&display, &data);
    let session = driver.session(&app_binary(), &["--simulate"]);

    let mut handles = Vec::new();
    let deadline = std::time::Instant::now() + READY;
    while handles.len() < 2 && std::time::Instant::now() < deadline {
        handles = session.window_handles();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        handles.len(),
        2,
        "expected the teller and customer windows: {handles:?}"
    );

    let mut seen = Vec::new();
    for h in &handles {
        session.switch_to(h);
        session.wait_for(
            "return !!document.querySelector('[data-screen]');",
            READY,
            "a screen to mount",
        );
        let screen = session
            .script("return document.querySelector('[data-screen]').dataset.screen;")
            .as_str()
            .unwrap_or_default()
            .to_string();
        match screen.as_str() {
            "teller" => {
                check_screen(&session, "teller", "窓口端末", "Teller console", "teller");
                assert!(
                    !session.text("[data-testid=sim-badge]").is_empty(),
                    "simulation badge"
                );
            }
            "customer" => check_screen(
                &session,
                "customer",
                "いらっしゃいませ",
                "Welcome",
                "customer",
            ),
            other => panic!("unexpected screen {other:?}"),
        }
        seen.push(screen);
    }
    seen.sort();
    assert_eq!(seen, ["customer", "teller"]);
    session.close();
}

#[test]
fn single_screen_shows_both_side_by_side_as_two_webviews() {
    let _pcscd = Pcscd::start().expect("start a private pcscd with vpcd");
    let display = Display::start(1600, 900);
    let data = madoguchi_e2e::fresh_data_dir("single");
    let driver = driver(&display, &data);
    let session = driver.session(&app_binary(), &["--simulate", "--single-screen"]);
    // One window with two webviews: each half is its own page (its own label, capability and
    // channel), so the customer's half cannot reach the teller's.
    let mut handles = Vec::new();
    let deadline = std::time::Instant::now() + READY;
    while handles.len() < 2 && std::time::Instant::now() < deadline {
        handles = session.window_handles();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(handles.len(), 2, "two webviews: {handles:?}");
    let mut screens = Vec::new();
    let mut rects = Vec::new();
    for h in &handles {
        session.switch_to(h);
        session.wait_for(
            "return !!document.querySelector('[data-screen]');",
            READY,
            "a screen to mount",
        );
        let screen = session
            .script("return document.querySelector('[data-screen]').dataset.screen;")
            .as_str()
            .unwrap_or_default()
            .to_string();
        session.wait_for(
            &screen_ready(&screen),
            READY,
            &format!("the {screen} side to be ready"),
        );
        // Neither page holds the other side's screen.
        let others = session.script("return document.querySelectorAll('[data-screen]').length;");
        assert_eq!(others, serde_json::json!(1), "{screen}");
        rects.push(session.script("return [window.innerWidth, window.innerHeight];"));
        screens.push((screen, h.clone()));
    }
    screens.sort();
    let kinds: Vec<&str> = screens.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(kinds, ["customer", "teller"]);
    // Side by side: each half of the 1600 px window.
    for r in &rects {
        let w = r[0].as_f64().unwrap_or(0.0);
        assert!((700.0..=900.0).contains(&w), "a half-width webview: {r}");
    }
    display.screenshot_root("both-ja");
    // The teller's switch changes the teller's side only; the customer keeps theirs.
    let (customer, teller) = (&screens[0].1, &screens[1].1);
    session.switch_to(teller);
    session.click("[data-screen=teller] [data-testid=lang-switch]");
    session.wait_for(
        "return document.querySelector('[data-screen=teller] [data-testid=title]').textContent === 'Teller console';",
        Duration::from_secs(10),
        "the teller side to switch to English",
    );
    session.switch_to(customer);
    assert_eq!(
        session.text("[data-screen=customer] [data-testid=title]"),
        "いらっしゃいませ"
    );
    session.click("[data-screen=customer] [data-testid=lang-switch]");
    session.wait_for(
        "return document.querySelector('[data-screen=customer] [data-testid=title]').textContent === 'Welcome';",
        Duration::from_secs(10),
        "the customer side to switch to English",
    );
    display.screenshot_root("both-en");
    // Capabilities per webview, also in one window: the customer's half may press keys (the
    // runner answers, here "not now" with nothing running), nothing else.
    session.switch_to(customer);
    let key = session.invoke("keypad_press", serde_json::json!({ "key": "1" }));
    assert_ne!(
        key["err"]["code"],
        serde_json::json!("window.not_allowed"),
        "the customer half may press keys: {key}"
    );
    assert!(
        !key.to_string().contains("not allowed"),
        "the capability lets keypad presses through: {key}"
    );
    for (cmd, args) in [
        (
            "desk_sign_in",
            serde_json::json!({ "request": { "key": "sim:sato", "pin": "2580" } }),
        ),
        ("desk_state", serde_json::json!({})),
        ("desk_sign_out", serde_json::json!({})),
        (
            "identity_start",
            serde_json::json!({ "request": { "route": "pin", "sign": false, "challenge": "random", "codeB": null } }),
        ),
        ("sim_card", serde_json::json!({ "insert": false })),
        ("history_today", serde_json::json!({})),
    ] {
        let r = session.invoke(cmd, args);
        assert!(
            r.get("err").is_some(),
            "the customer half ran {cmd} in single-screen: {r}"
        );
    }
    session.switch_to(teller);
    let state = session.invoke("desk_state", serde_json::json!({}));
    assert_eq!(
        state["ok"]["signedIn"],
        serde_json::Value::Null,
        "the customer half's refused sign-in signed nobody in: {state}"
    );
    session.close();
}
