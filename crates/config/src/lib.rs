//! The kiosk's configuration: one TOML file, environment overrides on top, validation that
//! names the bad key and its line, and a printable effective configuration with secrets
//! redacted.
//!
//! What it does not do: it does not read devices, open the database, or touch the network;
//! it does not know Tauri or the UI. It never logs or prints a secret: [`Secret`] has no
//! `Display`, its `Debug` is redacted, and [`Config::to_redacted_toml`] masks it.
//!
//! Precedence, lowest first: built-in defaults, the file, then `MADOGUCHI__SECTION__KEY`
//! environment variables (for example `MADOGUCHI__KIOSK__ID=K-0002`,
//! `MADOGUCHI__DEVICES__SIMULATE=true`). Every key and its default is documented on the
//! field below and in `installer/madoguchi.example.toml`.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use zeroize::Zeroizing;

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "MADOGUCHI__";

/// The whole configuration. Unknown keys are errors, never silently ignored: a typo in a
/// bank's kiosk config must not quietly fall back to a default.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Identity and presentation of this kiosk.
    pub kiosk: KioskConfig,
    /// Which reader and camera to use, or the simulators.
    pub devices: DevicesConfig,
    /// The bank's central backend.
    pub backend: BackendConfig,
    /// Where the kiosk keeps its data (database, logs, keys).
    pub storage: StorageConfig,
    /// Face matching settings.
    pub face: FaceConfig,
    /// The face credential (QR).
    pub face_credential: FaceCredentialConfig,
    /// The counter procedures: step time limits.
    pub procedure: ProcedureConfig,
    /// Teller sessions.
    pub tellers: TellersConfig,
    /// Logging.
    pub log: LogConfig,
}

/// `[kiosk]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct KioskConfig {
    /// Kiosk id, 1–32 of `A–Z a–z 0–9 - _`. Default `KIOSK-0001`.
    pub id: KioskId,
    /// Branch code (店番): exactly three digits. Default `001`.
    pub branch_code: BranchCode,
    /// Fullscreen kiosk mode. Default `false` (windowed), which is what simulation wants.
    pub fullscreen: bool,
    /// Teller console and customer display in one window, side by side. Default `false`.
    pub single_screen: bool,
    /// Language both screens start in: `ja` or `en`. Default `ja`.
    pub language: Language,
    /// Kiosk lock: the windows cannot be closed, and reload, devtools, the context menu,
    /// browser shortcuts and navigation away do nothing, unless a technician is signed in.
    /// Default `true`.
    pub lock: bool,
    /// The monitor the teller console opens on, by name (as the windowing system names it,
    /// e.g. `HDMI-1`). Empty: the primary monitor.
    pub teller_monitor: String,
    /// The monitor the customer display opens on, by name. Empty: the first monitor that is
    /// not the teller's (none: beside the console).
    pub customer_monitor: String,
}

impl Default for KioskConfig {
    fn default() -> Self {
        Self {
            id: KioskId("KIOSK-0001".into()),
            branch_code: BranchCode("001".into()),
            fullscreen: false,
            single_screen: false,
            language: Language::Ja,
            lock: true,
            teller_monitor: String::new(),
            customer_monitor: String::new(),
        }
    }
}

/// `[tellers]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct TellersConfig {
    /// A signed-in teller is signed out after this long without using the console while no
    /// procedure runs: 10–86400 seconds. Default 600.
    pub idle_timeout_seconds: IdleSeconds,
    /// Sign the teller out when their security key is unplugged. Default `true`.
    pub sign_out_on_key_removal: bool,
}

impl Default for TellersConfig {
    fn default() -> Self {
        Self {
            idle_timeout_seconds: IdleSeconds(600),
            sign_out_on_key_removal: true,
        }
    }
}

/// The idle time before an automatic sign-out: 10–86400 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct IdleSeconds(u32);

impl IdleSeconds {
    /// As a duration.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl<'de> Deserialize<'de> for IdleSeconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (10..=86_400).contains(&n) {
            Ok(IdleSeconds(n as u32))
        } else {
            Err(serde::de::Error::custom(format!(
                "the idle time must be between 10 and 86400 seconds, got {n}"
            )))
        }
    }
}

/// How often the kiosk pulls from the backend (trust lists, tellers): 1–86400 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct PullSeconds(u32);

impl Default for PullSeconds {
    fn default() -> Self {
        PullSeconds(300)
    }
}

impl PullSeconds {
    /// As a duration.
    pub fn duration(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.0))
    }
}

impl<'de> Deserialize<'de> for PullSeconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (1..=86_400).contains(&n) {
            Ok(PullSeconds(n as u32))
        } else {
            Err(serde::de::Error::custom(format!(
                "the pull interval must be between 1 and 86400 seconds, got {n}"
            )))
        }
    }
}

/// `[devices]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct DevicesConfig {
    /// Use the virtual card and the recorded camera instead of hardware. Default `false`;
    /// `madoguchi --simulate` sets it.
    pub simulate: bool,
    /// PC/SC reader to use: empty for the first reader, otherwise a substring of its name.
    pub reader: String,
    /// Camera to use: empty for the first camera, a number for an index, otherwise a
    /// substring of its name.
    pub camera: String,
    /// Simulation only: the virtual card's profile (`madoguchi-virtual-card profiles`).
    /// Default `hopper`.
    pub virtual_card_profile: String,
    /// Simulation only: the vpcd driver's address the virtual card connects to, on loopback.
    /// Default `127.0.0.1:35963` (`Virtual PCD 00 00`).
    pub vpcd: VpcdAddr,
    /// Simulation only: a recorded clip (folder of frames, optional `timing.txt`) for the
    /// camera. Empty: the synthetic customer made from `assets/sim/customer.jpg`.
    pub camera_clip: Option<PathBuf>,
    /// Simulation only: a folder of face images (JPEG/PNG) the simulator panel offers as the
    /// person in front of the camera, besides `assets/sim/customer.jpg`.
    pub sim_faces_dir: Option<PathBuf>,
}

impl Default for DevicesConfig {
    fn default() -> Self {
        Self {
            simulate: false,
            reader: String::new(),
            camera: String::new(),
            virtual_card_profile: "hopper".into(),
            vpcd: VpcdAddr("127.0.0.1:35963".into()),
            camera_clip: None,
            sim_faces_dir: None,
        }
    }
}

/// `[backend]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BackendConfig {
    /// Base URL of the central backend. Empty: none configured (the demo starts an embedded
    /// one on loopback). Must be `https://`, or `http://` to a loopback host.
    pub url: BackendUrl,
    /// Per-kiosk API token. Prefer `token_file`; this key exists for tests and is redacted
    /// whenever the configuration is printed.
    pub token: Option<Secret>,
    /// File holding the per-kiosk API token (mode 0600).
    pub token_file: Option<PathBuf>,
    /// PEM file with the bank's CA certificates for the backend's TLS. Empty: system roots.
    pub ca_file: Option<PathBuf>,
    /// How often trust lists, thresholds and teller accounts are pulled: 1–86400 seconds.
    /// Default 300.
    pub pull_interval_seconds: PullSeconds,
    /// The backend's list signing key (unpadded base64url, 43 characters), as printed by
    /// `madoguchi-central list-key`. Empty: the key the backend serves at the first contact
    /// is pinned in the ledger.
    pub list_public_key: ListKeyText,
}

/// `[face_credential]`: the face credential the customer carries as a QR code.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaceCredentialConfig {
    /// The kiosk refuses to verify or issue credentials with trust lists older than this:
    /// 1–720 hours. Default 24.
    pub max_list_age_hours: ListAgeHours,
    /// How long a credential issued at this kiosk is valid: 1–1825 days. Default 365.
    pub validity_days: ValidityDays,
}

impl Default for FaceCredentialConfig {
    fn default() -> Self {
        Self {
            max_list_age_hours: ListAgeHours(24),
            validity_days: ValidityDays(365),
        }
    }
}

/// How long an issued face credential is valid: 1–1825 days (five years).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ValidityDays(u16);

impl ValidityDays {
    /// In days.
    pub fn days(self) -> i64 {
        i64::from(self.0)
    }
}

impl<'de> Deserialize<'de> for ValidityDays {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (1..=1825).contains(&n) {
            Ok(ValidityDays(n as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "the credential validity must be between 1 and 1825 days, got {n}"
            )))
        }
    }
}

/// The oldest trust lists the kiosk uses: 1–720 hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct ListAgeHours(u16);

impl ListAgeHours {
    /// In milliseconds.
    pub fn millis(self) -> i64 {
        i64::from(self.0) * 3_600_000
    }
}

impl<'de> Deserialize<'de> for ListAgeHours {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (1..=720).contains(&n) {
            Ok(ListAgeHours(n as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "the list age must be between 1 and 720 hours, got {n}"
            )))
        }
    }
}

/// `[storage]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct StorageConfig {
    /// Data directory (database, logs, keys). Empty: `$XDG_DATA_HOME/madoguchi`, else
    /// `$HOME/.local/share/madoguchi`, else `/var/lib/madoguchi`.
    pub data_dir: Option<PathBuf>,
}

/// `[face]`
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaceConfig {
    /// Thresholds file produced by the face evaluation. Empty: the one shipped in
    /// `assets/`.
    pub thresholds_file: Option<PathBuf>,
}

/// `[procedure]`: how long each step of a counter procedure may take, in seconds (1–3600).
/// A step that runs out ends the procedure as cancelled and wipes the customer's data.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct ProcedureConfig {
    /// For the card to be placed. Default 120.
    pub wait_card_seconds: StepSeconds,
    /// For the customer to type the PIN. Default 90.
    pub pin_entry_seconds: StepSeconds,
    /// For a card taken off mid-read to come back. Default 45.
    pub card_back_seconds: StepSeconds,
    /// For the teller to type 照合番号B again after a wrong one. Default 120.
    pub code_b_entry_seconds: StepSeconds,
    /// For the live face check (capture, challenge, decision). Default 45.
    pub face_seconds: StepSeconds,
    /// For a lost camera to come back. Default 60.
    pub camera_back_seconds: StepSeconds,
    /// For the customer to type the signing password. Default 120.
    pub sign_entry_seconds: StepSeconds,
    /// For the teller's review; then the customer's data is wiped (inactivity). Default 180.
    pub review_seconds: StepSeconds,
    /// How long the result stays on the screens. Default 30.
    pub result_seconds: StepSeconds,
}

impl Default for ProcedureConfig {
    fn default() -> Self {
        Self {
            wait_card_seconds: StepSeconds(120),
            pin_entry_seconds: StepSeconds(90),
            card_back_seconds: StepSeconds(45),
            code_b_entry_seconds: StepSeconds(120),
            face_seconds: StepSeconds(45),
            camera_back_seconds: StepSeconds(60),
            sign_entry_seconds: StepSeconds(120),
            review_seconds: StepSeconds(180),
            result_seconds: StepSeconds(30),
        }
    }
}

/// A step's time limit: 1–3600 seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct StepSeconds(u16);

impl StepSeconds {
    /// In milliseconds.
    pub fn millis(self) -> u64 {
        u64::from(self.0) * 1000
    }
}

impl<'de> Deserialize<'de> for StepSeconds {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (1..=3600).contains(&n) {
            Ok(StepSeconds(n as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "a step time limit must be between 1 and 3600 seconds, got {n}"
            )))
        }
    }
}

/// `[log]`
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    /// Minimum level: `trace`, `debug`, `info`, `warn` or `error`. Default `info`.
    pub level: LogLevel,
    /// Daily log files kept in `<data_dir>/logs` before the oldest is deleted: 1–366.
    /// Default 30.
    pub max_files: MaxFiles,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: LogLevel::Info,
            max_files: MaxFiles(30),
        }
    }
}

macro_rules! validated_string {
    ($(#[$m:meta])* $name:ident, $check:expr) => {
        $(#[$m])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                let check: fn(&str) -> Result<(), String> = $check;
                check(&s).map_err(serde::de::Error::custom)?;
                Ok($name(s))
            }
        }
    };
}

validated_string!(
    /// An Ed25519 public key as unpadded base64url (43 characters), or empty (the default).
    #[derive(Default)]
    ListKeyText,
    |s| {
        if s.is_empty()
            || (s.len() == 43
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
        {
            Ok(())
        } else {
            Err("the list key must be 43 characters of unpadded base64url".into())
        }
    }
);

validated_string!(
    /// A kiosk id: 1–32 of `A–Z a–z 0–9 - _`.
    KioskId,
    |s| {
        if !s.is_empty()
            && s.len() <= 32
            && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            Ok(())
        } else {
            Err(format!(
                "kiosk id must be 1–32 characters of A–Z a–z 0–9 - _, got {s:?}"
            ))
        }
    }
);

validated_string!(
    /// A branch code (店番): three digits.
    BranchCode,
    |s| {
        if s.len() == 3 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("branch code must be exactly 3 digits, got {s:?}"))
        }
    }
);

validated_string!(
    /// The backend base URL: empty, `https://host…`, or `http://` to a loopback host.
    #[derive(Default)]
    BackendUrl,
    |s| {
        if s.is_empty() {
            return Ok(());
        }
        if let Some(rest) = s.strip_prefix("https://") {
            return if host_of(rest).is_empty() {
                Err(format!("backend url has no host: {s:?}"))
            } else {
                Ok(())
            };
        }
        if let Some(rest) = s.strip_prefix("http://") {
            let host = host_of(rest);
            return if host == "localhost" || host.starts_with("127.") || host == "[::1]" {
                Ok(())
            } else {
                Err(format!(
                    "backend url must use https:// (plain http:// only to a loopback host), got {s:?}"
                ))
            };
        }
        Err(format!("backend url must start with https://, got {s:?}"))
    }
);

validated_string!(
    /// A loopback `host:port` for the vpcd driver.
    VpcdAddr,
    |s| match s.parse::<std::net::SocketAddr>() {
        Ok(a) if a.ip().is_loopback() => Ok(()),
        Ok(_) => Err(format!("devices.vpcd must be a loopback address, got {s:?}")),
        Err(_) => Err(format!("devices.vpcd must be host:port like 127.0.0.1:35963, got {s:?}")),
    }
);

impl VpcdAddr {
    /// The socket address (validated at parse time).
    pub fn socket_addr(&self) -> std::net::SocketAddr {
        self.0
            .parse()
            .unwrap_or_else(|_| std::net::SocketAddr::from(([127, 0, 0, 1], 35963)))
    }
}

impl BackendUrl {
    /// `true` when no backend is configured.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn host_of(after_scheme: &str) -> &str {
    let authority = after_scheme.split(['/', '?', '#']).next().unwrap_or("");
    if authority.starts_with('[') {
        return authority.split_inclusive(']').next().unwrap_or("");
    }
    authority.split(':').next().unwrap_or("")
}

/// A screen language.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// 日本語
    Ja,
    /// English
    En,
}

impl Language {
    /// The BCP 47 tag.
    pub fn tag(self) -> &'static str {
        match self {
            Language::Ja => "ja",
            Language::En => "en",
        }
    }
}

/// A log level.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    /// Everything.
    Trace,
    /// Diagnostics.
    Debug,
    /// Normal operation.
    Info,
    /// Something is off.
    Warn,
    /// Something failed.
    Error,
}

impl LogLevel {
    /// The level as a `tracing` filter directive.
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "trace",
            LogLevel::Debug => "debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

/// Number of log files kept: 1–366.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct MaxFiles(u16);

impl MaxFiles {
    /// The number.
    pub fn get(self) -> usize {
        usize::from(self.0)
    }
}

impl<'de> Deserialize<'de> for MaxFiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = i64::deserialize(d)?;
        if (1..=366).contains(&n) {
            Ok(MaxFiles(n as u16))
        } else {
            Err(serde::de::Error::custom(format!(
                "log.max_files must be between 1 and 366, got {n}"
            )))
        }
    }
}

/// A secret string (API token and the like): zeroized on drop, redacted in `Debug` and in
/// the printed configuration, no `Display`.
#[derive(Clone, PartialEq)]
pub struct Secret(Zeroizing<String>);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: String) -> Self {
        Secret(Zeroizing::new(value))
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Secret::new(String::deserialize(d)?))
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(REDACTED)
    }
}

/// What a secret looks like when printed.
pub const REDACTED: &str = "<redacted>";

/// Where a configuration error came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A line and column (1-based) of a file.
    File {
        /// The file.
        path: PathBuf,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// An environment variable.
    Env(String),
    /// Reading the file failed before parsing.
    Io(PathBuf),
}

/// A configuration error that names where it is and what is wrong.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub struct ConfigError {
    /// Where the bad value is.
    pub origin: Origin,
    /// The key, as `section.key`, when it is known.
    pub key: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.origin {
            Origin::File { path, line, column } => {
                write!(f, "{}:{line}:{column}: ", path.display())?
            }
            Origin::Env(var) => write!(f, "environment variable {var}: ")?,
            Origin::Io(path) => write!(f, "{}: ", path.display())?,
        }
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

impl Config {
    /// Loads `path` (if given) and applies the environment overrides from `env`.
    pub fn load(
        path: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let (source, origin_path) = match path {
            Some(p) => (
                std::fs::read_to_string(p).map_err(|e| ConfigError {
                    origin: Origin::Io(p.to_path_buf()),
                    key: None,
                    message: format!("cannot read the configuration file: {e}"),
                })?,
                p.to_path_buf(),
            ),
            None => (String::new(), PathBuf::from("<defaults>")),
        };
        Self::from_toml(&source, &origin_path, env)
    }

    /// Parses `source` (named `path` in errors) and applies the environment overrides.
    pub fn from_toml(
        source: &str,
        path: &Path,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        // First the file alone, so that its errors carry a line and a column.
        let from_file: Config = toml::from_str(source).map_err(|e| file_error(source, path, &e))?;
        let mut overrides: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        if overrides.is_empty() {
            return Ok(from_file);
        }
        overrides.sort();
        let mut table: toml::Table =
            toml::from_str(source).map_err(|e| file_error(source, path, &e))?;
        // One variable at a time, so a bad one is named.
        let mut config = from_file;
        for (var, value) in overrides {
            let keys: Vec<String> = var[ENV_PREFIX.len()..]
                .split("__")
                .map(|k| k.to_ascii_lowercase())
                .collect();
            let key = keys.join(".");
            let env_err = |message: String| ConfigError {
                origin: Origin::Env(var.clone()),
                key: Some(key.clone()),
                message,
            };
            if keys.len() != 2 || keys.iter().any(|k| k.is_empty()) {
                return Err(env_err(
                    "expected MADOGUCHI__SECTION__KEY, for example MADOGUCHI__KIOSK__ID".into(),
                ));
            }
            let section = table
                .entry(keys[0].clone())
                .or_insert_with(|| toml::Value::Table(toml::Table::new()));
            let Some(section) = section.as_table_mut() else {
                return Err(env_err(format!("`{}` is not a section", keys[0])));
            };
            section.insert(keys[1].clone(), env_value(&value));
            config = Config::deserialize(toml::Value::Table(table.clone()))
                .map_err(|e| env_err(e.message().to_string()))?;
        }
        Ok(config)
    }

    /// The data directory: the configured one, or the default for this user.
    pub fn data_dir(&self) -> PathBuf {
        if let Some(dir) = &self.storage.data_dir {
            return dir.clone();
        }
        default_data_dir(|k| std::env::var_os(k))
    }

    /// The effective configuration as TOML, every secret replaced by [`REDACTED`], the data
    /// directory resolved.
    pub fn to_redacted_toml(&self) -> String {
        let mut resolved = self.clone();
        resolved.storage.data_dir = Some(self.data_dir());
        toml::to_string_pretty(&resolved)
            .unwrap_or_else(|e| format!("# cannot print the configuration: {e}\n"))
    }
}

fn default_data_dir(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    if let Some(xdg) = var("XDG_DATA_HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(xdg).join("madoguchi");
    }
    if let Some(home) = var("HOME").filter(|v| !v.is_empty()) {
        return PathBuf::from(home).join(".local/share/madoguchi");
    }
    PathBuf::from("/var/lib/madoguchi")
}

/// An environment value is read as a TOML value when it is one (`true`, `30`), else as a
/// plain string (`K-0002`, `https://…`).
fn env_value(raw: &str) -> toml::Value {
    let probe = format!("v = {raw}");
    match toml::from_str::<toml::Table>(&probe) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(raw.into())),
        Err(_) => toml::Value::String(raw.to_string()),
    }
}

fn file_error(source: &str, path: &Path, e: &toml::de::Error) -> ConfigError {
    let (line, column) = match e.span() {
        Some(span) => line_col(source, span.start),
        None => (1, 1),
    };
    ConfigError {
        origin: Origin::File {
            path: path.to_path_buf(),
            line,
            column,
        },
        key: key_at(source, e.span().map(|s| s.start)),
        message: e.message().trim_end().to_string(),
    }
}

fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = &source[..offset.min(source.len())];
    let line = before.matches('\n').count() + 1;
    let column = before
        .rfind('\n')
        .map_or(before.len(), |nl| before.len() - nl - 1)
        + 1;
    (line, column)
}

/// The `section.key` the error points into, found from the TOML text around the span.
fn key_at(source: &str, offset: Option<usize>) -> Option<String> {
    let offset = offset?.min(source.len());
    let mut section: Option<&str> = None;
    let mut key: Option<&str> = None;
    let mut pos = 0;
    for line in source.split_inclusive('\n') {
        if pos > offset {
            break;
        }
        let trimmed = line.trim();
        if let Some(name) = trimmed.strip_prefix('[').and_then(|t| t.split(']').next()) {
            section = Some(name.trim());
            key = None;
        } else if let Some((k, _)) = trimmed.split_once('=') {
            key = Some(k.trim());
        }
        pos += line.len();
    }
    match (section, key) {
        (Some(s), Some(k)) => Some(format!("{s}.{k}")),
        (Some(s), None) => Some(s.to_string()),
        (None, Some(k)) => Some(k.to_string()),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests;
