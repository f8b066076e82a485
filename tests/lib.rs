//! The end-to-end harness: a private X server (Xvfb) with a window manager, WebKitWebDriver
//! (the WebDriver of the WebKitGTK engine the app itself runs on), and a small W3C WebDriver
//! client, to drive the real `madoguchi` binary.
//!
//! What it does not do: build the app (the test command builds it first), fake a display,
//! or skip: a missing tool is a failure with a message saying what to install.

use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// The cargo target directory.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .map(|p| {
            if p.is_absolute() {
                p
            } else {
                workspace().join(p)
            }
        })
        .unwrap_or_else(|| workspace().join("target"))
}

/// The app binary under test: `$MADOGUCHI_BIN`, else `target/debug/madoguchi`.
pub fn app_binary() -> PathBuf {
    let bin = std::env::var_os("MADOGUCHI_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| target_dir().join("debug/madoguchi"));
    assert!(
        bin.exists(),
        "{} does not exist: build the app first (`cargo build -p madoguchi`; tests/run.sh does)",
        bin.display()
    );
    bin
}

/// Where screenshots go: `target/e2e-shots/`.
pub fn shots_dir() -> PathBuf {
    let dir = target_dir().join("e2e-shots");
    std::fs::create_dir_all(&dir).expect("create target/e2e-shots");
    dir
}

/// Fails, naming the Debian package to install, when `name` is not on the `PATH`.
pub fn require_tool(name: &str, package: &str) {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
        .unwrap_or(false);
    assert!(
        found,
        "`{name}` is not installed: apt-get install {package} (installer/deps.sh does)"
    );
}

/// A child process killed on drop.
#[derive(Debug)]
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A private X display with a window manager.
#[derive(Debug)]
pub struct Display {
    /// `:N`
    pub name: String,
    _wm: Proc,
    _x: Proc,
}

impl Display {
    /// Starts `Xvfb -displayfd` (it picks a free display number) and matchbox.
    pub fn start(width: u32, height: u32) -> Display {
        require_tool("Xvfb", "xvfb");
        require_tool("matchbox-window-manager", "matchbox-window-manager");
        let mut x = Command::new("Xvfb")
            .args(["-displayfd", "1", "-nolisten", "tcp", "-screen", "0"])
            .arg(format!("{width}x{height}x24"))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Xvfb");
        let stdout = x.stdout.take().expect("Xvfb stdout");
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("read display number from Xvfb");
        let name = format!(":{}", line.trim());
        assert!(name.len() > 1, "Xvfb gave no display number");
        let x = Proc(x);
        let wm = Command::new("matchbox-window-manager")
            .args(["-use_titlebar", "no"])
            .env("DISPLAY", &name)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start matchbox-window-manager");
        std::thread::sleep(Duration::from_millis(500));
        Display {
            name,
            _wm: Proc(wm),
            _x: x,
        }
    }
}

impl Display {
    /// Saves a PNG of the whole screen (every window as the person in front of it sees it)
    /// to `target/e2e-shots/NAME.png`, with ImageMagick's `import`.
    pub fn screenshot_root(&self, name: &str) -> PathBuf {
        let path = shots_dir().join(format!("{name}.png"));
        // Let the windows paint.
        std::thread::sleep(Duration::from_millis(500));
        let import = Path::new("/usr/bin/import");
        assert!(
            import.exists(),
            "/usr/bin/import is missing: apt-get install imagemagick (installer/deps.sh does)"
        );
        let status = Command::new(import)
            .args(["-window", "root"])
            .arg(&path)
            .env("DISPLAY", &self.name)
            .status()
            .expect("run import");
        assert!(status.success(), "import -window root failed");
        path
    }

    /// Runs an X client (`xdotool`, `wmctrl`, …) from Debian package `package` on this
    /// display and returns its output; fails naming the package when it is missing.
    pub fn x_tool(&self, tool: &str, package: &str, args: &[&str]) -> std::process::Output {
        require_tool(tool, package);
        Command::new(tool)
            .args(args)
            .env("DISPLAY", &self.name)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"))
    }

    /// The X window ids of the top-level windows titled exactly `title` (`xdotool search`).
    pub fn windows_titled(&self, title: &str) -> Vec<String> {
        let pattern = format!("^{}$", regex_escape(title));
        let out = self.x_tool("xdotool", "xdotool", &["search", "--name", &pattern]);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()
    }

    /// Asks the window manager to close the window titled `title` (`wmctrl -c`: the
    /// `_NET_CLOSE_WINDOW` request a close button or Alt+F4 makes). Fails when wmctrl finds
    /// no such window.
    pub fn request_close(&self, title: &str) {
        let out = self.x_tool("wmctrl", "wmctrl", &["-F", "-c", title]);
        assert!(
            out.status.success(),
            "wmctrl -F -c {title:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Sends real X key events (`xdotool key`, keysym names like `F5`, `ctrl+r`) to the
    /// window `window_id` twice: addressed to the window (`--window`, XSendEvent), then, with
    /// the window focused, as typed on a keyboard (XTEST).
    pub fn x_keys(&self, window_id: &str, keys: &[&str]) {
        let _ = self.x_tool("xdotool", "xdotool", &["windowfocus", "--sync", window_id]);
        let mut args = vec![
            "key",
            "--clearmodifiers",
            "--delay",
            "60",
            "--window",
            window_id,
        ];
        args.extend_from_slice(keys);
        let out = self.x_tool("xdotool", "xdotool", &args);
        assert!(
            out.status.success(),
            "xdotool key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let mut args = vec!["key", "--clearmodifiers", "--delay", "60"];
        args.extend_from_slice(keys);
        let out = self.x_tool("xdotool", "xdotool", &args);
        assert!(
            out.status.success(),
            "xdotool key failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `s` with the characters of an extended regular expression escaped.
fn regex_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.^$|?*+()[]{}".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// W3C WebDriver key values for [`Session::press_keys`].
pub mod keys {
    /// Control.
    pub const CONTROL: &str = "\u{E009}";
    /// Shift.
    pub const SHIFT: &str = "\u{E008}";
    /// F5.
    pub const F5: &str = "\u{E035}";
    /// F12.
    pub const F12: &str = "\u{E03C}";
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// WebKitWebDriver, running on a display, ready for sessions.
#[derive(Debug)]
pub struct Driver {
    base: String,
    agent: ureq::Agent,
    _proc: Proc,
}

impl Driver {
    /// Starts `WebKitWebDriver` on `display` with extra environment for the app it launches.
    pub fn start(display: &Display, env: &[(&str, &str)]) -> Driver {
        require_tool("WebKitWebDriver", "webkit2gtk-driver");
        let port = free_port();
        let mut cmd = Command::new("WebKitWebDriver");
        cmd.arg(format!("--port={port}"))
            .env("DISPLAY", &display.name)
            .env("TAURI_WEBVIEW_AUTOMATION", "true")
            .env_remove("WAYLAND_DISPLAY")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let proc = Proc(cmd.spawn().expect("start WebKitWebDriver"));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(120)))
            .build()
            .into();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if agent.get(&format!("{base}/status")).call().is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "WebKitWebDriver did not start on port {port}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Driver {
            base,
            agent,
            _proc: proc,
        }
    }

    fn request(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}{path}", self.base);
        // The first request after a pause is sometimes reset; retry a few times.
        let mut last_err = String::new();
        for _ in 0..5 {
            let result = match (method, &body) {
                ("GET", _) => self.agent.get(&url).call(),
                ("DELETE", _) => self.agent.delete(&url).call(),
                (_, Some(b)) => self.agent.post(&url).send_json(b),
                (_, None) => self.agent.post(&url).send_json(json!({})),
            };
            match result {
                Ok(mut resp) => {
                    let v: Value = resp
                        .body_mut()
                        .read_json()
                        .unwrap_or_else(|e| panic!("{method} {path}: bad JSON: {e}"));
                    if let Some(err) = v["value"].get("error") {
                        panic!(
                            "{method} {path}: WebDriver error {err}: {}",
                            v["value"]["message"]
                        );
                    }
                    return v["value"].clone();
                }
                Err(e) => {
                    last_err = e.to_string();
                    std::thread::sleep(Duration::from_millis(300));
                }
            }
        }
        panic!("{method} {path}: {last_err}");
    }

    /// Launches the app with `args` and returns its session.
    pub fn session(&self, binary: &Path, args: &[&str]) -> Session<'_> {
        let caps = json!({
            "capabilities": {
                "alwaysMatch": {
                    "webkitgtk:browserOptions": {
                        "binary": binary.to_string_lossy(),
                        "args": args,
                    }
                }
            }
        });
        let v = self.request("POST", "/session", Some(caps));
        let id = v["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no sessionId in {v}"))
            .to_string();
        Session { driver: self, id }
    }
}

/// One WebDriver session: one run of the app.
#[derive(Debug)]
pub struct Session<'d> {
    driver: &'d Driver,
    id: String,
}

impl Session<'_> {
    fn path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.id)
    }

    /// The app's window handles.
    pub fn window_handles(&self) -> Vec<String> {
        let v = self
            .driver
            .request("GET", &self.path("/window/handles"), None);
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Switches to a window.
    pub fn switch_to(&self, handle: &str) {
        self.driver.request(
            "POST",
            &self.path("/window"),
            Some(json!({ "handle": handle })),
        );
    }

    /// Runs a script in the current window and returns its value.
    pub fn script(&self, script: &str) -> Value {
        self.driver.request(
            "POST",
            &self.path("/execute/sync"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Runs an asynchronous script (its last argument is the callback) and returns its value.
    pub fn script_async(&self, script: &str) -> Value {
        self.driver.request(
            "POST",
            &self.path("/execute/async"),
            Some(json!({ "script": script, "args": [] })),
        )
    }

    /// Calls a Tauri command from the current window, as its page would (the window's
    /// capability applies). Returns `{"ok": value}` or `{"err": {code, message} or text}`.
    pub fn invoke(&self, command: &str, args: Value) -> Value {
        self.script_async(&format!(
            "const done = arguments[arguments.length - 1]; \
             window.__TAURI_INTERNALS__.invoke({}, {}) \
               .then(v => done({{ ok: v === undefined ? null : v }}), e => done({{ err: e }}));",
            json!(command),
            args
        ))
    }

    /// Polls `script` until it returns `true`, failing after `timeout` with `what`.
    pub fn wait_for(&self, script: &str, timeout: Duration, what: &str) {
        let deadline = Instant::now() + timeout;
        loop {
            if self.script(script) == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Text of the first element matching `css` (empty when none).
    pub fn text(&self, css: &str) -> String {
        let script = format!(
            "const e = document.querySelector({}); return e ? e.textContent : '';",
            json!(css)
        );
        self.script(&script)
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// The WebDriver id of the first element matching `css`.
    fn element(&self, css: &str) -> String {
        let v = self.driver.request(
            "POST",
            &self.path("/element"),
            Some(json!({ "using": "css selector", "value": css })),
        );
        v.as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("no element for {css}: {v}"))
            .to_string()
    }

    /// Clicks the first element matching `css` through WebDriver (a real input event).
    pub fn click(&self, css: &str) {
        let id = self.element(css);
        self.driver.request(
            "POST",
            &self.path(&format!("/element/{id}/click")),
            Some(json!({})),
        );
    }

    /// Types `text` into the input matching `css`: real key events through WebDriver after
    /// clearing it (date and number inputs get their value set and an `input` event instead,
    /// as their key handling differs between engines).
    pub fn type_into(&self, css: &str, text: &str) {
        let kind = self.script(&format!(
            "return document.querySelector({})?.type ?? '';",
            json!(css)
        ));
        if matches!(kind.as_str(), Some("date" | "number" | "month")) {
            self.script(&format!(
                "const e = document.querySelector({}); e.value = {}; \
                 e.dispatchEvent(new Event('input', {{bubbles: true}})); \
                 e.dispatchEvent(new Event('change', {{bubbles: true}}));",
                json!(css),
                json!(text)
            ));
            return;
        }
        let id = self.element(css);
        self.driver.request(
            "POST",
            &self.path(&format!("/element/{id}/clear")),
            Some(json!({})),
        );
        self.driver.request(
            "POST",
            &self.path(&format!("/element/{id}/value")),
            Some(json!({ "text": text })),
        );
    }

    /// Saves a PNG screenshot of the current window to `target/e2e-shots/NAME.png`.
    pub fn screenshot(&self, name: &str) -> PathBuf {
        // Let the page paint what the DOM already holds: two animation frames.
        self.driver.request(
            "POST",
            &self.path("/execute/async"),
            Some(json!({
                "script": "const done = arguments[arguments.length - 1]; \
                           requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                "args": []
            })),
        );
        std::thread::sleep(Duration::from_millis(300));
        let v = self.driver.request("GET", &self.path("/screenshot"), None);
        let png = base64::engine::general_purpose::STANDARD
            .decode(v.as_str().expect("screenshot is base64"))
            .expect("valid base64");
        assert!(png.starts_with(b"\x89PNG"), "screenshot is not a PNG");
        let path = shots_dir().join(format!("{name}.png"));
        std::fs::write(&path, png).expect("write screenshot");
        path
    }

    /// Performs W3C WebDriver input actions (`{"actions": [...]}` sources) and releases
    /// every key and button afterwards.
    pub fn actions(&self, sources: Value) {
        self.driver.request(
            "POST",
            &self.path("/actions"),
            Some(json!({ "actions": sources })),
        );
        self.driver.request("DELETE", &self.path("/actions"), None);
    }

    /// Presses the chord `keys` (e.g. `[keys::CONTROL, "r"]`): each key down in order, then
    /// up in reverse, as real key events through WebDriver.
    pub fn press_keys(&self, chord: &[&str]) {
        let mut seq: Vec<Value> = chord
            .iter()
            .map(|k| json!({ "type": "keyDown", "value": k }))
            .collect();
        seq.extend(
            chord
                .iter()
                .rev()
                .map(|k| json!({ "type": "keyUp", "value": k })),
        );
        self.actions(json!([{ "type": "key", "id": "keyboard", "actions": seq }]));
    }

    /// A right click (the secondary button) in the middle of the first element matching
    /// `css`, as real pointer events through WebDriver.
    pub fn context_click(&self, css: &str) {
        let at = self.script(&format!(
            "const r = document.querySelector({}).getBoundingClientRect(); \
             return [Math.round(r.left + r.width / 2), Math.round(r.top + r.height / 2)];",
            json!(css)
        ));
        let (x, y) = (at[0].as_i64().unwrap_or(1), at[1].as_i64().unwrap_or(1));
        self.actions(json!([{
            "type": "pointer",
            "id": "mouse",
            "parameters": { "pointerType": "mouse" },
            "actions": [
                { "type": "pointerMove", "duration": 0, "x": x, "y": y, "origin": "viewport" },
                { "type": "pointerDown", "button": 2 },
                { "type": "pointerUp", "button": 2 }
            ]
        }]));
    }

    /// Whether an element matches `css` in the current window.
    pub fn exists(&self, css: &str) -> bool {
        self.script(&format!("return !!document.querySelector({});", json!(css)))
            == Value::Bool(true)
    }

    /// An attribute of the first element matching `css` (empty when none or unset).
    pub fn attr(&self, css: &str, attr: &str) -> String {
        self.script(&format!(
            "return document.querySelector({})?.getAttribute({}) ?? '';",
            json!(css),
            json!(attr)
        ))
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// The current window's document URL.
    pub fn url(&self) -> String {
        self.driver
            .request("GET", &self.path("/url"), None)
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Picks the option `value` of the `<select>` matching `css` by clicking it, as a person
    /// picks from the list.
    pub fn select(&self, css: &str, value: &str) {
        self.click(&format!("{css} option[value={}]", json!(value)));
    }

    /// Ends the session (the app closes).
    pub fn close(self) {
        self.driver.request("DELETE", &self.path(""), None);
    }
}

// ---- what a kiosk run kept ---------------------------------------------------------------

/// The kiosk's ledger in `data` after the run (the app is closed).
pub fn ledger(data: &Path) -> madoguchi_ledger::Ledger {
    let key = madoguchi_ledger::DataKey::load(&data.join("ledger.key")).expect("ledger key");
    madoguchi_ledger::Ledger::open(&data.join("ledger.sqlite"), key).expect("open the ledger")
}

/// The embedded backend's events in `data`: (kind, payload), oldest first.
pub fn backend_events(data: &Path) -> Vec<(String, Value)> {
    let c = rusqlite::Connection::open(data.join("central-demo.sqlite")).expect("backend db");
    let mut st = c
        .prepare("SELECT kind, payload FROM events ORDER BY created_at_ms, event_id")
        .expect("query");
    st.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
        .expect("rows")
        .map(|r| {
            let (k, p) = r.expect("row");
            (k, serde_json::from_str(&p).unwrap_or(Value::Null))
        })
        .collect()
}

/// Runs an administrator's action on the embedded backend's database in `data` (opened with
/// its master key beside it), as `madoguchi-central` would, while the kiosk runs.
pub fn backend_admin<T, F, Fut>(data: &Path, f: F) -> Result<T, madoguchi_central::CentralError>
where
    F: FnOnce(madoguchi_central::store::Store) -> Fut,
    Fut: std::future::Future<Output = Result<T, madoguchi_central::CentralError>>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    rt.block_on(async {
        let key = madoguchi_central::master_key::MasterKey::load(&data.join("central-demo.key"))?;
        let store =
            madoguchi_central::store::Store::open_sqlite(&data.join("central-demo.sqlite"), key)
                .await?;
        f(store).await
    })
}

/// No value of the profile (name, address, birth date, My Number, PINs, password) in any log
/// line; timestamps are left out of the search (digits collide by chance).
pub fn assert_logs_clean(data: &Path, profile: &str, extra: &[&str]) {
    let p = madoguchi_virtual_card::profile(profile).expect("profile");
    let mut needles = vec![
        p.identity.name.clone(),
        p.identity.name.replace('\u{3000}', " "),
        p.identity.address.clone(),
        p.identity.birth_date.clone(),
        p.identity.birth_date.replace('-', ""),
        p.identity.my_number.clone(),
        p.identity.security_code.clone(),
        p.credentials.text_pin.clone(),
        p.credentials.code_b.clone(),
    ];
    needles.extend(p.credentials.sign_password.clone());
    needles.extend(extra.iter().map(|e| (*e).to_owned()));
    let mut lines = 0;
    for entry in std::fs::read_dir(data.join("logs")).expect("logs") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).expect("log");
        for line in text.lines() {
            lines += 1;
            let mut v: Value = serde_json::from_str(line).expect("a JSON log line");
            if let Some(o) = v.as_object_mut() {
                o.remove("timestamp");
            }
            // Durations are numbers that collide with a PIN by chance (`ms=1234`): a
            // number-valued timing field is not a profile value.
            if let Some(f) = v.get_mut("fields").and_then(Value::as_object_mut) {
                f.retain(|k, val| !(val.is_number() && (k == "ms" || k.ends_with("_ms"))));
            }
            let flat = v.to_string();
            for n in &needles {
                assert!(
                    !flat.contains(n.as_str()),
                    "a profile value or secret in a log line: {flat}"
                );
            }
        }
    }
    assert!(lines > 5, "the kiosk logged ({lines} lines)");
}

/// Rows of a query on the embedded backend's database in `data`, every column as text.
pub fn backend_rows(data: &Path, sql: &str) -> Vec<Vec<String>> {
    let c = rusqlite::Connection::open(data.join("central-demo.sqlite")).expect("backend db");
    let mut st = c.prepare(sql).expect("query");
    let n = st.column_count();
    st.query_map([], |r| {
        (0..n)
            .map(|i| {
                Ok(match r.get::<_, rusqlite::types::Value>(i)? {
                    rusqlite::types::Value::Text(t) => t,
                    rusqlite::types::Value::Integer(n) => n.to_string(),
                    _ => String::new(),
                })
            })
            .collect()
    })
    .expect("rows")
    .map(|r| r.expect("row"))
    .collect()
}

/// The embedded backend's confirmation records in `data`.
pub fn backend_confirmations(data: &Path) -> Vec<Value> {
    let c = rusqlite::Connection::open(data.join("central-demo.sqlite")).expect("backend db");
    let mut st = c
        .prepare("SELECT payload FROM confirmation_records ORDER BY verified_at_ms")
        .expect("query");
    st.query_map([], |r| r.get::<_, String>(0))
        .expect("rows")
        .map(|r| serde_json::from_str(&r.expect("row")).expect("json"))
        .collect()
}

/// Waits for the kiosk's two windows (or webviews), tells which is the teller's and which the
/// customer's, and waits until each screen is ready and `also` holds (a JavaScript condition
/// on the screen element `s`, e.g. `s.dataset.step === 'idle'`; `true` for none). Returns the
/// (teller, customer) handles.
pub fn counter_windows(session: &Session<'_>, timeout: Duration, also: &str) -> (String, String) {
    let mut handles = Vec::new();
    let deadline = Instant::now() + timeout;
    while handles.len() < 2 && Instant::now() < deadline {
        handles = session.window_handles();
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        handles.len(),
        2,
        "the teller and customer windows: {handles:?}"
    );
    let (mut teller, mut customer) = (None, None);
    for h in handles {
        session.switch_to(&h);
        session.wait_for(
            "return !!document.querySelector('[data-screen]');",
            timeout,
            "a screen to mount",
        );
        let screen = session
            .script("return document.querySelector('[data-screen]').dataset.screen;")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        session.wait_for(
            &format!(
                "const s = document.querySelector('[data-screen={screen}]'); \
                 return !!s && s.dataset.state === 'ready' && ({also});"
            ),
            timeout,
            &format!("the {screen} screen to be ready"),
        );
        match screen.as_str() {
            "teller" => teller = Some(h),
            "customer" => customer = Some(h),
            other => panic!("unexpected screen {other:?}"),
        }
    }
    (
        teller.expect("teller window"),
        customer.expect("customer window"),
    )
}

/// Waits until no kiosk holds the data directory's instance lock.
pub fn wait_exited(data: &Path) {
    let f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(data.join("kiosk.lock"))
        .expect("open kiosk.lock");
    let deadline = Instant::now() + Duration::from_secs(30);
    while f.try_lock().is_err() {
        assert!(
            Instant::now() < deadline,
            "the kiosk did not exit within 30 s of the session's end"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let _ = f.unlock();
}

/// A fresh, empty data directory under `target/e2e-data/` for one app run (`name` makes it
/// unique within the test binary; the process id across runs).
pub fn fresh_data_dir(name: &str) -> PathBuf {
    let dir = target_dir()
        .join("e2e-data")
        .join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create e2e data dir");
    dir
}

/// The face fixtures (`../shared/faces` beside the repository); fails naming them when absent.
pub fn faces_dir() -> PathBuf {
    let d = workspace().join("../shared/faces");
    assert!(
        d.join("grace_hopper_512x512.jpg").exists(),
        "{} holds the face fixtures (../shared beside the repository)",
        d.display()
    );
    d
}

/// A simulated kiosk's environment, everything from variables (no configuration file): its
/// id, language and data directory, the face fixtures for the simulator, a result that stays
/// until the test has looked at it; then `extra`.
pub fn kiosk_env(
    kiosk_id: &str,
    data: &Path,
    lang: &str,
    extra: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = vec![
        ("MADOGUCHI_CONFIG".into(), "/dev/null".into()),
        ("MADOGUCHI__KIOSK__ID".into(), kiosk_id.into()),
        ("MADOGUCHI__KIOSK__LANGUAGE".into(), lang.into()),
        (
            "MADOGUCHI__STORAGE__DATA_DIR".into(),
            data.to_str().expect("utf-8 path").into(),
        ),
        (
            "MADOGUCHI__DEVICES__SIM_FACES_DIR".into(),
            faces_dir().to_str().expect("utf-8 path").into(),
        ),
        ("MADOGUCHI__PROCEDURE__RESULT_SECONDS".into(), "600".into()),
    ];
    all.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    all
}

impl Driver {
    /// [`Driver::start`] with an owned environment (as [`kiosk_env`] makes it).
    pub fn start_env(display: &Display, env: &[(String, String)]) -> Driver {
        let pairs: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Driver::start(display, &pairs)
    }
}

// ---- a signed-in counter ------------------------------------------------------------------

/// One run of the kiosk, signed in, with both windows found: what a test does at the counter.
pub struct Run {
    /// Screenshot prefix (`identity`, `enroll`, `qr-auth`…).
    pub prefix: &'static str,
    /// The test's name (screenshots, messages).
    pub name: &'static str,
    /// The teller console's window handle.
    pub teller: String,
    /// The customer display's window handle.
    pub customer: String,
}

impl Run {
    /// Switches to the teller console.
    pub fn on_teller<'a>(&self, s: &'a Session<'a>) -> &'a Session<'a> {
        s.switch_to(&self.teller);
        s
    }
    /// Switches to the customer display.
    pub fn on_customer<'a>(&self, s: &'a Session<'a>) -> &'a Session<'a> {
        s.switch_to(&self.customer);
        s
    }

    /// Waits until the screen shows `step`.
    pub fn wait_step(&self, s: &Session<'_>, screen: &str, step: &str) {
        match screen {
            "teller" => self.on_teller(s),
            _ => self.on_customer(s),
        };
        let deadline = Instant::now() + STEP;
        loop {
            let now = s.script(&format!(
                "return document.querySelector('[data-screen={screen}]')?.dataset.step ?? '';"
            ));
            if now == json!(step) {
                return;
            }
            if Instant::now() >= deadline {
                self.shots(s, "failed");
                self.on_teller(s);
                let reason = s.script(
                    "return document.querySelector('[data-testid=result-reason]')?.dataset.code \
                       ?? document.querySelector('[data-testid=notice]')?.dataset.code ?? '';",
                );
                panic!(
                    "{}: the {screen} screen stayed at {now} (reason {reason}) instead of reaching {step}",
                    self.name
                );
            }
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    /// Screenshots of both windows at this step.
    pub fn shots(&self, s: &Session<'_>, step: &str) {
        self.on_teller(s)
            .screenshot(&format!("{}-{}-{step}-teller", self.prefix, self.name));
        self.on_customer(s)
            .screenshot(&format!("{}-{}-{step}-customer", self.prefix, self.name));
    }

    /// Invokes a command from the teller console; fails the test on an error answer.
    pub fn invoke_teller(&self, s: &Session<'_>, command: &str, args: Value) -> Value {
        let r = self.on_teller(s).invoke(command, args);
        assert!(r.get("err").is_none(), "{command}: {r}");
        r["ok"].clone()
    }

    /// Clicks the teller console's element `testid`.
    pub fn click_teller(&self, s: &Session<'_>, testid: &str) {
        self.on_teller(s)
            .click(&format!("[data-screen=teller] [data-testid={testid}]"));
    }

    /// The customer types on the keypad of the customer display (real clicks).
    pub fn type_keys(&self, s: &Session<'_>, keys: &str) {
        let s = self.on_customer(s);
        for k in keys.chars() {
            s.click(&format!("[data-screen=customer] [data-testid=key-{k}]"));
        }
        s.click("[data-screen=customer] [data-testid=key-enter]");
    }

    /// Starts an identity verification from the teller console's form.
    pub fn start(&self, s: &Session<'_>, route: &str, code_b: Option<(&str, &str, &str)>) {
        let t = self.on_teller(s);
        t.click(&format!(
            "[data-screen=teller] [data-testid=start-route-{route}]"
        ));
        if let Some((birth, expiry, code)) = code_b {
            for (id, v) in [
                ("code-b-birth", birth),
                ("code-b-expiry", expiry),
                ("code-b-security", code),
            ] {
                t.type_into(&format!("[data-screen=teller] [data-testid={id}]"), v);
            }
        }
        t.click("[data-screen=teller] [data-testid=start-button]");
    }

    /// An attribute of the teller console's element `testid` (empty if absent).
    pub fn teller_attr(&self, s: &Session<'_>, testid: &str, attr: &str) -> String {
        self.on_teller(s)
            .script(&format!(
                "return document.querySelector('[data-screen=teller] [data-testid={testid}]')?.getAttribute({}) ?? '';",
                json!(attr)
            ))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// An attribute of the customer display's element `testid` (empty if absent).
    pub fn customer_attr(&self, s: &Session<'_>, testid: &str, attr: &str) -> String {
        self.on_customer(s)
            .script(&format!(
                "return document.querySelector('[data-screen=customer] [data-testid={testid}]')?.getAttribute({}) ?? '';",
                json!(attr)
            ))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The teller console's element `testid` has `attr` = `want`.
    pub fn assert_teller(&self, s: &Session<'_>, testid: &str, attr: &str, want: &str) {
        assert_eq!(
            self.teller_attr(s, testid, attr),
            want,
            "{}: teller {testid}",
            self.name
        );
    }

    /// The customer display's element `testid` has `attr` = `want`.
    pub fn assert_customer(&self, s: &Session<'_>, testid: &str, attr: &str, want: &str) {
        assert_eq!(
            self.customer_attr(s, testid, attr),
            want,
            "{}: customer {testid}",
            self.name
        );
    }

    /// The whole page of one side, as HTML.
    pub fn html(&self, s: &Session<'_>, screen: &str) -> String {
        match screen {
            "teller" => self.on_teller(s),
            _ => self.on_customer(s),
        }
        .script("return document.documentElement.outerHTML;")
        .as_str()
        .unwrap_or_default()
        .to_owned()
    }

    /// Waits until the sync thread has handed every record to the backend.
    pub fn wait_synced(&self, s: &Session<'_>) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let h = self.invoke_teller(s, "history_today", json!({}));
            if h["backlog"] == json!(0) {
                return;
            }
            assert!(Instant::now() < deadline, "the outbox did not drain: {h}");
            std::thread::sleep(Duration::from_millis(300));
        }
    }

    /// Ends the run: waits for the backend to hold every record, closes the windows and waits
    /// for the kiosk in `data` to exit (its ledger and logs can then be read).
    pub fn close_synced(&self, s: Session<'_>, data: &Path) {
        self.wait_synced(&s);
        s.close();
        wait_exited(data);
    }
}

/// The teller the counter tests sign in as (a simulated software key; no hardware key here).
pub const TELLER: &str = "t-sato";

/// How long the kiosk may take to show both windows ready.
pub const READY: Duration = Duration::from_secs(90);
/// How long one step may take to show.
pub const STEP: Duration = Duration::from_secs(60);

/// Starts the kiosk and signs the teller in with her simulated key (the kiosk starts no
/// procedure for nobody).
pub fn start_kiosk<'d>(
    prefix: &'static str,
    name: &'static str,
    driver: &'d Driver,
    args: &[&str],
) -> (Session<'d>, Run) {
    let session = driver.session(&app_binary(), args);
    let (teller, customer) = counter_windows(&session, READY, "s.dataset.step === 'idle'");
    let run = Run {
        prefix,
        name,
        teller,
        customer,
    };
    let desk = run.invoke_teller(
        &session,
        "desk_sign_in",
        json!({ "request": { "key": "sim:sato", "pin": "2580" } }),
    );
    assert_eq!(desk["signedIn"]["id"], TELLER, "{name}: signed in: {desk}");
    run.on_teller(&session).wait_for(
        &format!(
            "return document.querySelector('[data-screen=teller]')?.dataset.signedIn === {};",
            json!(TELLER)
        ),
        READY,
        "the console to show the signed-in teller",
    );
    (session, run)
}
