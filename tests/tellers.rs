//! End-to-end tests of the teller's desk: sign-in with a security key, the four-eyes override,
//! key registration by a supervisor, the idle sign-out and the kiosk lock — the real
//! `madoguchi` binary in simulation under Xvfb, driven through WebKitWebDriver where a person
//! would click or type (commands are called directly only to set a scene up and to check).
//!
//! Every key here is a simulated software key (`<data_dir>/sim-keys/*.softkey`, key PIN
//! 2580), seeded by the kiosk on its first start: `sim:suzuki` (s-suzuki, supervisor),
//! `sim:sato` (t-sato, teller), `sim:tanaka` (e-tanaka, technician) and `sim:stranger`
//! (registered to nobody); t-ito has no key until a test registers one. No hardware key is
//! used or needed: the test names say so.
//!
//! Each test checks what the screens showed, then — after the app has exited — what the
//! kiosk's ledger recorded (its audit chain, which also says which events went to the outbox)
//! and what reached the embedded backend. Screenshots of the teller console go to
//! `target/e2e-shots/{signin,register,lock}-…-{ja,en}.png`.
//!
//! In the nextest group `pcscd` (one pcscd per machine).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use madoguchi_e2e::{
    Display, Driver, Session, app_binary, backend_confirmations, backend_events, counter_windows,
    keys, ledger,
};
use madoguchi_virtual_card::harness::Pcscd;
use serde_json::{Value, json};

const READY: Duration = Duration::from_secs(90);
const STEP: Duration = Duration::from_secs(60);
const KIOSK_ID: &str = "E2E-TL-01";
/// The simulated keys' PIN.
const PIN: &str = "2580";
const TELLER_TITLE: &str = "madoguchi — 窓口端末 / teller console";
const CUSTOMER_TITLE: &str = "madoguchi — お客さま表示 / customer display";

/// The kiosk's environment (see [`madoguchi_e2e::kiosk_env`]).
fn kiosk_env(data: &Path, lang: &str, extra: &[(&str, &str)]) -> Vec<(String, String)> {
    madoguchi_e2e::kiosk_env(KIOSK_ID, data, lang, extra)
}

fn data_dir(name: &str) -> PathBuf {
    madoguchi_e2e::fresh_data_dir(&format!("tellers-{name}"))
}

fn driver(display: &Display, env: &[(String, String)]) -> Driver {
    Driver::start_env(display, env)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// One run of the kiosk: its session and the handles of both windows.
struct Kiosk<'d> {
    name: String,
    s: Session<'d>,
    teller: String,
    customer: String,
}

impl<'d> Kiosk<'d> {
    /// Launches the kiosk in simulation and waits until both screens are ready.
    fn start(name: &str, driver: &'d Driver) -> Kiosk<'d> {
        let s = driver.session(&app_binary(), &["--simulate"]);
        let (teller, customer) = counter_windows(&s, READY, "true");
        Kiosk {
            name: name.to_owned(),
            s,
            teller,
            customer,
        }
    }

    fn t(&self) -> &Session<'d> {
        self.s.switch_to(&self.teller);
        &self.s
    }

    fn c(&self) -> &Session<'d> {
        self.s.switch_to(&self.customer);
        &self.s
    }

    /// Calls a teller command that must succeed; its value.
    fn ok(&self, command: &str, args: Value) -> Value {
        let r = self.t().invoke(command, args);
        assert!(r.get("err").is_none(), "{}: {command}: {r}", self.name);
        r["ok"].clone()
    }

    /// Calls a teller command that must fail; its error code.
    fn refused(&self, command: &str, args: Value) -> String {
        let r = self.t().invoke(command, args);
        assert!(
            r.get("ok").is_none(),
            "{}: {command} succeeded: {r}",
            self.name
        );
        r["err"]["code"].as_str().unwrap_or_default().to_owned()
    }

    fn desk(&self) -> Value {
        self.ok("desk_state", json!({}))
    }

    /// Signs in through the command (scene setup).
    fn sign_in(&self, key: &str) -> Value {
        self.ok(
            "desk_sign_in",
            json!({ "request": { "key": key, "pin": PIN } }),
        )
    }

    /// The teller screen's `data-signed-in` (empty: nobody).
    fn signed_in_attr(&self) -> String {
        self.t().attr("[data-screen=teller]", "data-signed-in")
    }

    /// Waits until the console shows `id` signed in (`""`: the sign-in screen).
    fn wait_signed_in(&self, id: &str) {
        let what = if id.is_empty() {
            "the sign-in screen".to_owned()
        } else {
            format!("{id} signed in on the console")
        };
        let script = if id.is_empty() {
            "const s = document.querySelector('[data-screen=teller]'); \
             return !!s && s.dataset.signedIn === '' \
               && !!s.querySelector('[data-testid=signin]');"
                .to_owned()
        } else {
            format!(
                "const s = document.querySelector('[data-screen=teller]'); \
                 return !!s && s.dataset.signedIn === {} \
                   && !s.querySelector('[data-testid=signin]');",
                json!(id)
            )
        };
        self.wait(&script, STEP, &what);
    }

    /// Polls a script on the teller console; a screenshot when it times out.
    fn wait(&self, script: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.t().script(script) == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                self.t()
                    .screenshot(&format!("tellers-{}-failed-teller", self.name));
                panic!("{}: timed out waiting for {what}", self.name);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Like [`Kiosk::wait`] on the customer display.
    fn wait_customer(&self, script: &str, what: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            if self.c().script(script) == Value::Bool(true) {
                return;
            }
            if Instant::now() >= deadline {
                self.c()
                    .screenshot(&format!("tellers-{}-failed-customer", self.name));
                panic!("{}: timed out waiting for {what}", self.name);
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// The customer display says whether anyone serves customers.
    fn wait_customer_open(&self, open: bool) {
        let script = format!(
            "const s = document.querySelector('[data-screen=customer]'); \
             return !!s && s.dataset.deskOpen === {} \
               && !!s.querySelector('[data-testid=customer-closed]') === {};",
            json!(open.to_string()),
            !open
        );
        self.wait_customer(
            &script,
            if open {
                "the customer display to open"
            } else {
                "the customer display to show the counter closed"
            },
        );
    }

    /// Signs in on the sign-in screen as a teller does: picks the key, types its PIN,
    /// presses the button.
    fn sign_in_ui(&self, key: &str, pin: &str) {
        let t = self.t();
        t.click(&format!(
            "[data-screen=teller] [data-testid=signin] [data-testid=key-option][data-key={}]",
            json!(key)
        ));
        t.type_into("[data-screen=teller] [data-testid=key-pin]", pin);
        t.click("[data-screen=teller] [data-testid=sign-in]");
    }

    /// Waits for the sign-in screen's error `code`.
    fn wait_signin_error(&self, code: &str) {
        self.wait(
            &format!(
                "return document.querySelector('[data-screen=teller] [data-testid=signin-error]')\
                   ?.dataset.code === {};",
                json!(code)
            ),
            STEP,
            &format!("the sign-in error {code}"),
        );
    }

    /// Waits for the console's command error `code`.
    fn wait_command_error(&self, code: &str) {
        self.wait(
            &format!(
                "return document.querySelector('[data-screen=teller] [data-testid=command-error]')\
                   ?.dataset.code === {};",
                json!(code)
            ),
            STEP,
            &format!("the command error {code}"),
        );
    }

    /// Waits until `screen` shows `step`.
    fn wait_step(&self, screen: &str, step: &str) {
        let script = format!(
            "return document.querySelector('[data-screen={screen}]')?.dataset.step === {};",
            json!(step)
        );
        match screen {
            "teller" => self.wait(&script, STEP, &format!("the teller screen at {step}")),
            _ => self.wait_customer(&script, &format!("the customer screen at {step}")),
        }
    }

    /// Waits until the sync thread has handed every record to the backend.
    fn wait_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.ok("history_today", json!({}));
            if h["backlog"] == json!(0) {
                return;
            }
            assert!(Instant::now() < deadline, "the outbox did not drain: {h}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    fn shot(&self, name: &str) {
        self.t().screenshot(name);
    }

    /// Ends the session and waits until the app has exited (its instance lock is free), so
    /// that the ledger and the backend can be read as the run left them.
    fn close(self, data: &Path) {
        self.s.close();
        madoguchi_e2e::wait_exited(data);
    }
}

// ---- what the kiosk kept -----------------------------------------------------------------

/// The ledger's audit chain (every recorded event has its entry: action = event kind).
fn audit(l: &madoguchi_ledger::Ledger) -> Vec<madoguchi_ledger::AuditEntry> {
    let entries = l.audit_entries(0, 1_000_000).expect("audit entries");
    assert!(
        l.verify_audit().expect("verify").is_intact(),
        "audit chain intact"
    );
    entries
}

fn detail(e: &madoguchi_ledger::AuditEntry) -> Value {
    serde_json::from_str(&e.detail).unwrap_or(Value::Null)
}

/// The kiosk's JSON log lines.
fn log_lines(data: &Path) -> Vec<Value> {
    let Ok(dir) = std::fs::read_dir(data.join("logs")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for entry in dir.flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
        out.extend(
            text.lines()
                .filter_map(|l| serde_json::from_str::<Value>(l).ok()),
        );
    }
    out
}

/// Waits until the kiosk has logged a line whose text contains `message` and whose fields
/// satisfy `also`; how many such lines there are.
fn wait_logged(data: &Path, message: &str, also: impl Fn(&Value) -> bool, what: &str) -> usize {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = log_lines(data)
            .iter()
            .filter(|l| l.to_string().contains(message) && also(l))
            .count();
        if n > 0 {
            return n;
        }
        assert!(Instant::now() < deadline, "the kiosk never logged {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The simulated key files' stems.
fn key_stems(data: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(data.join("sim-keys"))
        .expect("sim-keys")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "softkey"))
        .filter_map(|p| p.file_stem()?.to_str().map(str::to_owned))
        .collect();
    v.sort();
    v
}

// ---- the tests ----------------------------------------------------------------------------

/// Sign-in through the console: a wrong key PIN and an unregistered key are refused and said
/// so, the right key PIN signs the teller in; only that sign-in is recorded.
fn sign_in_through_the_console(lang: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(&format!("signin-{lang}"));
    let d = driver(&display, &kiosk_env(&data, lang, &[]));
    let k = Kiosk::start(&format!("signin-{lang}"), &d);

    // Nobody is signed in: the console asks for a key, the customer display is closed, and
    // no procedure starts.
    k.wait_signed_in("");
    assert_eq!(k.t().attr("[data-screen=teller]", "data-unlocked"), "false");
    let desk = k.desk();
    assert!(desk["signedIn"].is_null(), "{desk}");
    assert_eq!(desk["unlocked"], false);
    let offered: Vec<&str> = desk["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .filter_map(|k| k["id"].as_str())
        .collect();
    for key in ["sim:suzuki", "sim:sato", "sim:tanaka", "sim:stranger"] {
        assert!(offered.contains(&key), "{key} offered: {offered:?}");
        assert!(
            k.t().exists(&format!(
                "[data-screen=teller] [data-testid=key-option][data-key={}]",
                json!(key)
            )),
            "{key} on the sign-in screen"
        );
    }
    assert!(
        desk["keys"]
            .as_array()
            .expect("keys")
            .iter()
            .all(|k| (k["simulated"] == true || k["id"] == "usb") && k["plugged"] == true),
        "{desk}"
    );
    k.wait_customer_open(false);
    let code = k.refused(
        "identity_start",
        json!({ "request": { "route": "pin", "sign": false, "challenge": "random", "codeB": null } }),
    );
    assert_eq!(code, "auth.signed_out");
    k.shot(&format!("signin-{lang}"));
    let t0 = now_ms();

    // A wrong key PIN.
    k.sign_in_ui("sim:sato", "0000");
    k.wait_signin_error("auth.pin_wrong");
    k.shot(&format!("signin-wrong-pin-{lang}"));
    assert_eq!(k.signed_in_attr(), "");
    assert!(k.desk()["signedIn"].is_null());
    // A key nobody registered.
    k.sign_in_ui("sim:stranger", PIN);
    k.wait_signin_error("auth.unknown_key");
    k.shot(&format!("signin-unknown-key-{lang}"));
    assert_eq!(k.signed_in_attr(), "");
    assert!(k.desk()["signedIn"].is_null());
    k.wait_customer_open(false);

    // The right one.
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signed_in("t-sato");
    assert_eq!(
        k.t().attr(
            "[data-screen=teller] [data-testid=signed-in-teller]",
            "data-teller"
        ),
        "t-sato"
    );
    assert!(
        k.t()
            .text("[data-screen=teller] [data-testid=signed-in-teller]")
            .contains("佐藤"),
        "the teller's name in the header"
    );
    assert_eq!(
        k.t().attr("[data-screen=teller]", "data-unlocked"),
        "false",
        "a teller does not unlock the kiosk"
    );
    let desk = k.desk();
    assert_eq!(desk["signedIn"]["id"], "t-sato", "{desk}");
    assert_eq!(desk["signedIn"]["role"], "teller");
    assert_eq!(desk["signedIn"]["softKey"], true);
    assert_eq!(desk["unlocked"], false);
    k.wait_customer_open(true);
    // Signed in twice is refused.
    let code = k.refused(
        "desk_sign_in",
        json!({ "request": { "key": "sim:suzuki", "pin": PIN } }),
    );
    assert_eq!(code, "auth.already_signed_in");
    k.shot(&format!("signin-signed-in-{lang}"));
    k.wait_synced();
    k.close(&data);

    // Only the good sign-in was recorded (and no refusal: the key refused the wrong PIN,
    // and the stranger's key held no credential of this kiosk).
    let l = ledger(&data);
    let entries = audit(&l);
    let since: Vec<&madoguchi_ledger::AuditEntry> =
        entries.iter().filter(|e| e.at_ms >= t0).collect();
    let signed_in: Vec<Option<&str>> = since
        .iter()
        .filter(|e| e.action == "teller.signed_in")
        .map(|e| e.actor.as_deref())
        .collect();
    assert_eq!(signed_in, vec![Some("t-sato")], "teller.signed_in entries");
    let e = since
        .iter()
        .find(|e| e.action == "teller.signed_in")
        .expect("entry");
    assert_eq!(detail(e)["teller_id"], "t-sato");
    assert!(
        !since
            .iter()
            .any(|e| e.action.starts_with("teller.sign_in_refused")),
        "no refusal recorded"
    );
    // And it reached the backend.
    let events = backend_events(&data);
    let at_backend: Vec<&Value> = events
        .iter()
        .filter(|(k, p)| k == "teller.signed_in" && p["teller_id"] == "t-sato")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(at_backend.len(), 1, "t-sato's sign-in at the backend");
}

#[test]
fn tellers_sign_in_with_a_soft_key_no_hardware_key_here_ja() {
    sign_in_through_the_console("ja");
}

#[test]
fn tellers_sign_in_with_a_soft_key_no_hardware_key_here_en() {
    sign_in_through_the_console("en");
}

#[test]
fn tellers_sign_in_with_the_backend_stopped_soft_key_no_hardware_key_here() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("backend-stopped");
    // Port 9 (discard): nothing listens; no embedded backend starts with a URL configured.
    let d = driver(
        &display,
        &kiosk_env(
            &data,
            "ja",
            &[("MADOGUCHI__BACKEND__URL", "http://127.0.0.1:9")],
        ),
    );
    let k = Kiosk::start("backend-stopped", &d);
    k.wait_signed_in("");
    let t0 = now_ms();
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signed_in("t-sato");
    k.wait_customer_open(true);
    // Nothing reached a backend.
    let h = k.ok("history_today", json!({}));
    assert!(h["backlog"].as_u64().is_some_and(|n| n > 0), "{h}");
    k.close(&data);
    assert!(
        !data.join("central-demo.sqlite").exists(),
        "no embedded backend with a backend URL configured"
    );
    // The sign-in waits in the outbox for the backend.
    let l = ledger(&data);
    let waiting: Vec<Value> = l
        .outbox_peek(100_000)
        .expect("outbox")
        .into_iter()
        .filter(|e| e.kind == "teller.signed_in" && e.created_at_ms >= t0)
        .map(|e| serde_json::from_slice(&e.payload).expect("json"))
        .collect();
    assert_eq!(waiting.len(), 1, "one sign-in waiting in the outbox");
    assert_eq!(waiting[0]["teller_id"], "t-sato");
}

/// Disables `teller` in the embedded backend's database (as its admin's `teller-disable`).
fn disable_at_backend(data: &Path, teller: &str) {
    let id = teller.to_owned();
    let changed = madoguchi_e2e::backend_admin(data, |store| async move {
        store.set_teller_enabled(&id, false).await
    });
    match changed {
        Ok(true) => {}
        Ok(false) => panic!("{teller} was already disabled at the backend"),
        Err(e) => panic!(
            "the embedded backend cannot disable {teller} ({e}): does the kiosk seed its \
             simulated tellers into it?"
        ),
    }
}

#[test]
fn tellers_disabled_at_the_backend_cannot_sign_in_soft_key_no_hardware_key_here() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("disabled");
    let d = driver(
        &display,
        &kiosk_env(
            &data,
            "ja",
            &[("MADOGUCHI__BACKEND__PULL_INTERVAL_SECONDS", "2")],
        ),
    );
    let k = Kiosk::start("disabled", &d);
    k.wait_signed_in("");
    // Enabled: she signs in and out.
    assert_eq!(k.sign_in("sim:sato")["signedIn"]["id"], "t-sato");
    k.wait_signed_in("t-sato");
    k.ok("desk_sign_out", json!({}));
    k.wait_signed_in("");
    k.wait_synced();

    disable_at_backend(&data, "t-sato");
    // A supervisor watches the kiosk's list until the pull has brought the change.
    k.sign_in("sim:suzuki");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let list = k.ok("desk_tellers", json!({}));
        let sato = list
            .as_array()
            .expect("tellers")
            .iter()
            .find(|t| t["id"] == "t-sato")
            .cloned()
            .unwrap_or_else(|| panic!("t-sato in {list}"));
        if sato["enabled"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the kiosk did not learn within 30 s that t-sato is disabled: {sato}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    k.ok("desk_sign_out", json!({}));
    k.wait_signed_in("");
    // Her key still works, but her account does not.
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signin_error("auth.disabled");
    k.shot("signin-disabled-ja");
    assert_eq!(k.signed_in_attr(), "");
    assert!(k.desk()["signedIn"].is_null());
    // Others still sign in.
    k.sign_in_ui("sim:suzuki", PIN);
    k.wait_signed_in("s-suzuki");
    // Disabled while signed in: the console goes back to the sign-in screen once the next
    // pull has brought the change (pull every 2 s, checked every 3 s).
    disable_at_backend(&data, "s-suzuki");
    k.wait_signed_in("");
    k.close(&data);
    let l = ledger(&data);
    let sato = l
        .tellers()
        .expect("tellers")
        .into_iter()
        .find(|t| t.id == "t-sato")
        .expect("t-sato cached");
    assert!(!sato.enabled, "the ledger has t-sato disabled");
    let signed_in = audit(&l)
        .iter()
        .filter(|e| e.action == "teller.signed_in" && e.actor.as_deref() == Some("t-sato"))
        .count();
    assert_eq!(signed_in, 1, "only the sign-in before she was disabled");
}

#[test]
fn tellers_override_needs_a_supervisors_soft_key_no_hardware_key_here() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("override");
    let d = driver(&display, &kiosk_env(&data, "ja", &[]));
    let k = Kiosk::start("override", &d);
    k.wait_signed_in("");
    k.sign_in("sim:sato");
    k.wait_signed_in("t-sato");
    // Somebody else than the card's holder is in front of the camera.
    k.ok(
        "sim_presenter",
        json!({ "face": "obama", "kind": "customer" }),
    );
    let t = k.t();
    t.click("[data-screen=teller] [data-testid=start-route-pin]");
    t.click("[data-screen=teller] [data-testid=start-button]");
    k.wait_step("customer", "pin_entry");
    let c = k.c();
    for key in ["1", "2", "3", "4", "enter"] {
        c.click(&format!("[data-screen=customer] [data-testid=key-{key}]"));
    }
    k.wait_step("teller", "review");
    let t = k.t();
    assert_eq!(
        t.attr(
            "[data-screen=teller] [data-testid=proposed-outcome]",
            "data-outcome"
        ),
        "not_verified"
    );
    t.type_into(
        "[data-screen=teller] [data-testid=override-reason]",
        "運転免許証の写真で本人と確認",
    );
    // Without a supervisor's key: refused, still at review.
    t.click("[data-screen=teller] [data-testid=override-accept]");
    k.wait_command_error("notice.approval_required");
    assert_eq!(k.t().attr("[data-screen=teller]", "data-step"), "review");
    // Her own key cannot approve her override.
    let t = k.t();
    t.select(
        "[data-screen=teller] [data-testid=approval-key]",
        "sim:sato",
    );
    t.type_into("[data-screen=teller] [data-testid=approval-pin]", PIN);
    t.click("[data-screen=teller] [data-testid=override-accept]");
    k.wait_command_error("notice.approver_same");
    k.shot("override-own-key-ja");
    assert_eq!(k.t().attr("[data-screen=teller]", "data-step"), "review");
    // The supervisor's key, with its PIN.
    let t = k.t();
    t.select(
        "[data-screen=teller] [data-testid=approval-key]",
        "sim:suzuki",
    );
    t.type_into("[data-screen=teller] [data-testid=approval-pin]", PIN);
    k.shot("override-approval-ja");
    if t.text("[data-screen=teller] [data-testid=override-reason]")
        .is_empty()
    {
        t.type_into(
            "[data-screen=teller] [data-testid=override-reason]",
            "運転免許証の写真で本人と確認",
        );
    }
    t.click("[data-screen=teller] [data-testid=override-accept]");
    k.wait_step("teller", "result");
    assert_eq!(
        k.t().attr(
            "[data-screen=teller] [data-testid=result-outcome]",
            "data-outcome"
        ),
        "verified"
    );
    k.wait_synced();
    k.close(&data);

    // The ledger: one override by t-sato approved by s-suzuki.
    let l = ledger(&data);
    let overrides: Vec<(Option<String>, Value)> = audit(&l)
        .iter()
        .filter(|e| e.action == "outcome.overridden")
        .map(|e| (e.actor.clone(), detail(e)))
        .collect();
    assert_eq!(overrides.len(), 1, "{overrides:?}");
    assert_eq!(overrides[0].0.as_deref(), Some("t-sato"));
    assert_eq!(overrides[0].1["approved_by"], "s-suzuki");
    assert_eq!(overrides[0].1["decision"], "accepted");
    // The backend: the event with both, and the confirmation record naming both.
    let events = backend_events(&data);
    let ov: Vec<&Value> = events
        .iter()
        .filter(|(k, _)| k == "outcome.overridden")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(ov.len(), 1, "one override at the backend");
    assert_eq!(ov[0]["teller_id"], "t-sato");
    assert_eq!(ov[0]["approved_by"], "s-suzuki");
    assert_eq!(ov[0]["decision"], "accepted");
    let records = backend_confirmations(&data);
    assert_eq!(records.len(), 1);
    let r = &records[0];
    assert_eq!(r["outcome"], "verified");
    assert_eq!(r["verified_by"]["teller_id"], "t-sato");
    assert_eq!(r["verified_by"]["teller_verified"], true);
    assert_eq!(r["override"]["teller_id"], "t-sato");
    assert_eq!(r["override"]["approved_by"], "s-suzuki");
    assert_eq!(r["face_match"]["outcome"], "no_match");
}

#[test]
fn tellers_idle_and_key_removal_sign_out_soft_key_no_hardware_key_here() {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir("idle");
    let d = driver(
        &display,
        &kiosk_env(
            &data,
            "ja",
            &[("MADOGUCHI__TELLERS__IDLE_TIMEOUT_SECONDS", "10")],
        ),
    );
    let k = Kiosk::start("idle", &d);
    k.wait_signed_in("");
    assert_eq!(k.desk()["idleSeconds"], 10);
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signed_in("t-sato");
    let signed_in_at = Instant::now();
    k.wait_customer_open(true);
    // Nobody touches the console: back to the sign-in screen after the idle time.
    k.wait(
        "const s = document.querySelector('[data-screen=teller]'); \
         return !!s && s.dataset.signedIn === '' && !!s.querySelector('[data-testid=signin]');",
        Duration::from_secs(25),
        "the idle sign-out",
    );
    let idle = signed_in_at.elapsed();
    assert!(
        idle >= Duration::from_secs(8),
        "signed out after {idle:?}, before the idle time of 10 s"
    );
    assert!(k.desk()["signedIn"].is_null());
    k.wait_customer_open(false);

    // The key pulled out of the kiosk signs the teller out at once.
    k.sign_in("sim:sato");
    k.wait_signed_in("t-sato");
    k.ok(
        "sim_key_plug",
        json!({ "key": "sim:sato", "plugged": false }),
    );
    k.wait_signed_in("");
    k.wait_customer_open(false);
    let desk = k.desk();
    assert!(desk["signedIn"].is_null(), "{desk}");
    let sato = desk["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .find(|k| k["id"] == "sim:sato")
        .cloned()
        .expect("sim:sato listed");
    assert_eq!(sato["plugged"], false, "{sato}");
    // Unplugged, it cannot sign in; plugged back, it can.
    let code = k.refused(
        "desk_sign_in",
        json!({ "request": { "key": "sim:sato", "pin": PIN } }),
    );
    assert_eq!(code, "auth.no_device");
    k.ok(
        "sim_key_plug",
        json!({ "key": "sim:sato", "plugged": true }),
    );
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signed_in("t-sato");
    k.close(&data);
    let signed_out: Vec<String> = log_lines(&data)
        .iter()
        .filter(|l| l.to_string().contains("teller signed out"))
        .map(|l| l.to_string())
        .collect();
    assert!(
        signed_out.iter().any(|l| l.contains("idle")),
        "an idle sign-out logged: {signed_out:?}"
    );
    assert!(
        signed_out.iter().any(|l| l.contains("key_removed")),
        "a key-removal sign-out logged: {signed_out:?}"
    );
}

/// The page's record of what keys and right clicks did: every `keydown` and `contextmenu`
/// event is kept (captured first, on the window), so that after dispatch the test can read
/// whether the page refused its default action.
const RECORDER: &str = "
    window.__marker = Math.random();
    window.__events = [];
    for (const kind of ['keydown', 'contextmenu']) {
      window.addEventListener(kind, e => window.__events.push(e), true);
    }
    return window.__marker;";

/// What the recorder saw: [kind, key (lower case), ctrl, shift, defaultPrevented, trusted].
fn recorded(s: &Session<'_>) -> Vec<Value> {
    s.script(
        "return (window.__events || []).map(e => [e.type, (e.key || '').toLowerCase(), \
           !!e.ctrlKey, !!e.shiftKey, e.defaultPrevented, e.isTrusted]);",
    )
    .as_array()
    .cloned()
    .unwrap_or_default()
}

fn clear_recorded(s: &Session<'_>) {
    s.script("window.__events = []; return true;");
}

/// The combinations the kiosk must swallow: (key as `KeyboardEvent.key` in lower case, ctrl,
/// shift).
const BLOCKED: &[(&str, bool, bool)] = &[
    ("f5", false, false),
    ("r", true, false),
    ("i", true, true),
    ("f12", false, false),
    ("w", true, false),
];

/// Every combination of [`BLOCKED`] reached the page and had its default action prevented.
fn assert_blocked(events: &[Value], how: &str) {
    for (key, ctrl, shift) in BLOCKED {
        let seen: Vec<&Value> = events
            .iter()
            .filter(|e| e[0] == "keydown" && e[1] == *key && e[2] == *ctrl && e[3] == *shift)
            .collect();
        assert!(
            !seen.is_empty(),
            "{how}: {key} (ctrl {ctrl}, shift {shift}) never reached the page: {events:?}"
        );
        assert!(
            seen.iter().all(|e| e[4] == true),
            "{how}: the page let {key} (ctrl {ctrl}, shift {shift}) through: {seen:?}"
        );
    }
}

fn lock(lang: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(&format!("lock-{lang}"));
    let env = kiosk_env(&data, lang, &[]);
    let d = driver(&display, &env);
    let k = Kiosk::start(&format!("lock-{lang}"), &d);
    k.wait_signed_in("");
    k.sign_in_ui("sim:sato", PIN);
    k.wait_signed_in("t-sato");
    assert_eq!(k.t().attr("[data-screen=teller]", "data-unlocked"), "false");
    let handles = k.s.window_handles();
    assert_eq!(handles.len(), 2);
    for title in [TELLER_TITLE, CUSTOMER_TITLE] {
        assert!(
            !display.windows_titled(title).is_empty(),
            "an X window titled {title:?}"
        );
    }
    let marker = k.t().script(RECORDER);
    assert!(marker.is_number(), "{marker}");
    let body_children = k.t().script("return document.body.childElementCount;");

    // Reload, developer tools, close tab: WebDriver key events…
    let t = k.t();
    t.click("[data-screen=teller] [data-testid=title]");
    t.press_keys(&[keys::F5]);
    t.press_keys(&[keys::CONTROL, "r"]);
    t.press_keys(&[keys::CONTROL, keys::SHIFT, "i"]);
    t.press_keys(&[keys::F12]);
    t.press_keys(&[keys::CONTROL, "w"]);
    assert_blocked(&recorded(k.t()), "WebDriver keys");
    assert_eq!(k.t().script("return window.__marker;"), marker, "no reload");
    clear_recorded(k.t());

    // …and real X key events to the console's window.
    let ids = display.windows_titled(TELLER_TITLE);
    let id = ids.first().expect("the teller console's X window");
    display.x_keys(id, &["F5", "ctrl+r", "ctrl+shift+i", "F12", "ctrl+w"]);
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let events = recorded(k.t());
        let all = BLOCKED.iter().all(|(key, ctrl, shift)| {
            events
                .iter()
                .any(|e| e[0] == "keydown" && e[1] == *key && e[2] == *ctrl && e[3] == *shift)
        });
        if all {
            assert_blocked(&events, "X key events");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the X key events did not all reach the console: {events:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(k.t().script("return window.__marker;"), marker, "no reload");
    clear_recorded(k.t());

    // A right click: no context menu.
    k.t()
        .context_click("[data-screen=teller] [data-testid=title]");
    k.wait(
        "return (window.__events || []).some(e => e.type === 'contextmenu');",
        Duration::from_secs(10),
        "the right click to reach the page",
    );
    let menus: Vec<Value> = recorded(k.t())
        .into_iter()
        .filter(|e| e[0] == "contextmenu")
        .collect();
    assert!(
        menus.iter().all(|e| e[4] == true),
        "the page let the context menu open: {menus:?}"
    );
    assert_eq!(
        k.t().script("return document.body.childElementCount;"),
        body_children
    );
    assert_eq!(k.s.window_handles().len(), 2, "no new window");

    // The window manager asked to close both windows: refused while locked.
    display.request_close(TELLER_TITLE);
    display.request_close(CUSTOMER_TITLE);
    for label in ["teller", "customer"] {
        wait_logged(
            &data,
            "close refused: the kiosk is locked",
            |l| l.to_string().contains(&format!("\"{label}\"")),
            &format!("the refused close of the {label} window"),
        );
    }
    assert_eq!(k.s.window_handles().len(), 2, "both windows still open");
    for title in [TELLER_TITLE, CUSTOMER_TITLE] {
        assert!(
            !display.windows_titled(title).is_empty(),
            "{title:?} still on the screen"
        );
    }
    assert_eq!(k.t().script("return window.__marker;"), marker, "no reload");

    // Navigation away from the app, from script: refused.
    let before = k.t().url();
    k.t().script(
        "setTimeout(() => { window.location.href = 'https://example.com/'; }, 0); return true;",
    );
    wait_logged(
        &data,
        "navigation away from the kiosk refused",
        |_| true,
        "the refused navigation",
    );
    let after = k.t().url();
    assert_eq!(after, before, "still on the app's page");
    assert!(!after.contains("example.com"), "{after}");
    assert_eq!(k.t().script("return window.__marker;"), marker, "no reload");
    display.screenshot_root(&format!("lock-{lang}"));
    k.shot(&format!("lock-console-{lang}"));

    // A second kiosk on the same data directory refuses to start.
    let mut second = Command::new(app_binary());
    second
        .arg("--simulate")
        .env("DISPLAY", &display.name)
        .env_remove("WAYLAND_DISPLAY")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (key, v) in &env {
        second.env(key, v);
    }
    let mut child = second.spawn().expect("start a second kiosk");
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("a second kiosk on the same data directory kept running");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let out = child.wait_with_output().expect("output");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(status.code(), Some(3), "exit code; stderr: {stderr}");
    assert!(stderr.contains("already running"), "stderr: {stderr}");
    // The first one is unaffected.
    assert_eq!(k.signed_in_attr(), "t-sato");

    // A technician's key unlocks the kiosk: the window may then be closed.
    k.t().click("[data-screen=teller] [data-testid=sign-out]");
    k.wait_signed_in("");
    k.sign_in_ui("sim:tanaka", PIN);
    k.wait_signed_in("e-tanaka");
    k.wait(
        "const s = document.querySelector('[data-screen=teller]'); \
         return s?.dataset.unlocked === 'true' \
           && !!s.querySelector('[data-testid=technician-panel]');",
        STEP,
        "the technician's panel, unlocked",
    );
    assert_eq!(k.desk()["unlocked"], true);
    // A technician serves no customers.
    k.wait_customer_open(false);
    let code = k.refused(
        "identity_start",
        json!({ "request": { "route": "pin", "sign": false, "challenge": "random", "codeB": null } }),
    );
    assert_eq!(code, "auth.not_permitted");
    wait_logged(
        &data,
        "kiosk lock applied",
        |l| l.to_string().contains("\"locked\":false"),
        "the lock lifted",
    );
    k.shot(&format!("lock-unlocked-{lang}"));
    display.request_close(TELLER_TITLE);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !display.windows_titled(TELLER_TITLE).is_empty() || k.s.window_handles().len() != 1 {
        assert!(
            Instant::now() < deadline,
            "the unlocked teller console did not close on the window manager's request"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    k.close(&data);
}

#[test]
fn tellers_kiosk_lock_holds_until_a_technicians_soft_key_no_hardware_key_here_ja() {
    lock("ja");
}

#[test]
fn tellers_kiosk_lock_holds_until_a_technicians_soft_key_no_hardware_key_here_en() {
    lock("en");
}

/// How many keys t-ito has (asked as the signed-in supervisor).
fn ito_keys(k: &Kiosk<'_>) -> u64 {
    let list = k.ok("desk_tellers", json!({}));
    let ito = list
        .as_array()
        .expect("tellers")
        .iter()
        .find(|t| t["id"] == "t-ito")
        .cloned()
        .unwrap_or_else(|| panic!("t-ito in {list}"));
    assert_eq!(ito["enabled"], true, "{ito}");
    ito["keys"]
        .as_u64()
        .unwrap_or_else(|| panic!("keys of {ito}"))
}

/// Fills the registration form for t-ito with a new simulated key, as the supervisor does.
fn fill_registration(k: &Kiosk<'_>, label: &str, pin: &str) {
    let t = k.t();
    t.select(
        "[data-screen=teller] [data-testid=register-teller]",
        "t-ito",
    );
    t.type_into("[data-screen=teller] [data-testid=register-label]", label);
    t.click("[data-screen=teller] [data-testid=register-key-option][data-key=\"sim:new\"]");
    t.type_into("[data-screen=teller] [data-testid=register-pin]", pin);
}

fn register(lang: &'static str) {
    let _pcscd = Pcscd::start().expect("a private pcscd with vpcd");
    let display = Display::start(1280, 800);
    let data = data_dir(&format!("register-{lang}"));
    let d = driver(&display, &kiosk_env(&data, lang, &[]));
    let k = Kiosk::start(&format!("register-{lang}"), &d);
    k.wait_signed_in("");
    // A teller may not register keys.
    k.sign_in("sim:sato");
    k.wait_signed_in("t-sato");
    assert!(
        !k.t()
            .exists("[data-screen=teller] [data-testid=open-register]"),
        "no registration for a teller"
    );
    assert_eq!(k.refused("desk_tellers", json!({})), "auth.not_permitted");
    k.t().click("[data-screen=teller] [data-testid=sign-out]");
    k.wait_signed_in("");

    // The supervisor signs in and opens the registration.
    k.sign_in_ui("sim:suzuki", PIN);
    k.wait_signed_in("s-suzuki");
    assert_eq!(ito_keys(&k), 0, "t-ito has no key yet");
    k.t()
        .click("[data-screen=teller] [data-testid=open-register]");
    k.wait(
        "return !!document.querySelector('[data-screen=teller] [data-testid=register] \
           [data-testid=register-teller] option[value=\"t-ito\"]');",
        STEP,
        "the registration form listing t-ito",
    );
    let label = if lang == "ja" {
        "伊藤さんの鍵"
    } else {
        "Ito's key"
    };
    // A wrong PIN for the new key first.
    let before = key_stems(&data);
    fill_registration(&k, label, "0000");
    k.t()
        .click("[data-screen=teller] [data-testid=register-submit]");
    k.wait(
        "return !!document.querySelector('[data-screen=teller] [data-testid=register-error]')\
           ?.dataset.code;",
        STEP,
        "the registration's error",
    );
    let code = k.t().attr(
        "[data-screen=teller] [data-testid=register-error]",
        "data-code",
    );
    assert_eq!(code, "auth.pin_wrong", "a new simulated key has PIN {PIN}");
    assert_eq!(ito_keys(&k), 0, "nothing registered with a wrong PIN");
    // A refused registration leaves no new key behind.
    let after_refusal = key_stems(&data);
    assert_eq!(after_refusal, before, "no stray key file after the refusal");
    // Then the right one.
    fill_registration(&k, label, PIN);
    k.shot(&format!("register-{lang}"));
    k.t()
        .click("[data-screen=teller] [data-testid=register-submit]");
    k.wait(
        "return !!document.querySelector('[data-screen=teller] [data-testid=register-done]');",
        STEP,
        "the registration to be done",
    );
    k.shot(&format!("register-done-{lang}"));
    let after = key_stems(&data);
    let new: Vec<&String> = after
        .iter()
        .filter(|s| !after_refusal.contains(s))
        .collect();
    assert_eq!(new.len(), 1, "one new key file: {before:?} → {after:?}");
    let stem = new[0].clone();
    assert_eq!(ito_keys(&k), 1, "t-ito has her key");
    k.t().click("[data-screen=teller] [data-testid=sign-out]");
    k.wait_signed_in("");

    // t-ito signs in with her new key.
    let desk = k.sign_in(&format!("sim:{stem}"));
    assert_eq!(desk["signedIn"]["id"], "t-ito", "{desk}");
    k.wait_signed_in("t-ito");
    k.wait_synced();
    k.close(&data);

    let l = ledger(&data);
    let entries = audit(&l);
    let registered: Vec<Value> = entries
        .iter()
        .filter(|e| e.action == "teller.key_registered" && e.detail.contains("\"t-ito\""))
        .map(detail)
        .collect();
    assert_eq!(registered.len(), 1, "{registered:?}");
    assert_eq!(registered[0]["registered_by"], "s-suzuki");
    assert_eq!(
        entries
            .iter()
            .filter(|e| e.action == "teller.signed_in" && e.actor.as_deref() == Some("t-ito"))
            .count(),
        1
    );
    let events = backend_events(&data);
    let at_backend: Vec<&Value> = events
        .iter()
        .filter(|(k, p)| k == "teller.key_registered" && p["teller_id"] == "t-ito")
        .map(|(_, p)| p)
        .collect();
    assert_eq!(at_backend.len(), 1, "the registration reached the backend");
    assert_eq!(at_backend[0]["registered_by"], "s-suzuki");
    assert!(
        events
            .iter()
            .any(|(k, p)| k == "teller.signed_in" && p["teller_id"] == "t-ito"),
        "t-ito's sign-in reached the backend"
    );
}

#[test]
fn tellers_supervisor_registers_a_soft_key_no_hardware_key_here_ja() {
    register("ja");
}

#[test]
fn tellers_supervisor_registers_a_soft_key_no_hardware_key_here_en() {
    register("en");
}
