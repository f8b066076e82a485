//! A software My Number card that answers the real APDUs with TEST keys and a TEST CA, and a
//! bridge that serves it to the real `pcscd` through the `vsmartcard-vpcd` driver. Written
//! from the protocol facts (`shared/design/research/card-and-metrics-notes.md`),
//! independently of the reader-side code in `card`, so that the two check each other.
//!
//! - [`VirtualCard`]: one card (power, reset, `transmit(APDU) -> response`), with the JPKI AP,
//!   券面事項入力補助AP and 券面事項確認AP, retry counters that persist in a state directory.
//! - [`profiles`] / [`profile`]: the fake people and special cards (one try left, locked, no
//!   signing certificate, cloned, expired signing certificate).
//! - [`profile_from_file`]: a card for any fake person described in a TOML file; its per-card
//!   keys, certificates, chip photo and card-face images are made when it is loaded (`person`,
//!   `issue`, `photo`, `render`), signed by the same TEST hierarchy.
//! - [`transport::InProcess`]: `myna_card::Transmit` over a card in the same process, with
//!   "remove after the Nth APDU", for fast tests.
//! - [`vpcd`]: the vpcd TCP protocol (the card side), with insert/remove control.
//! - [`harness`]: starts `pcscd` with vpcd on loopback for integration tests.
//!
//! What it must not do: hold a real person's data or a production key, be linked into the
//! kiosk's production code paths other than behind `--simulate`, share parsing code with
//! `card`, or log APDU data (PINs travel in it).

pub mod apdu;
mod card;
pub mod cli;
pub mod files;
pub mod fuzzing;
pub mod harness;
mod issue;
mod person;
mod photo;
mod profile;
mod render;
pub mod spec;
pub mod transport;
pub mod vpcd;

use std::path::{Path, PathBuf};

pub use card::{ATR, VirtualCard};
pub use files::{TestAnchorMaterial, test_anchor_material, test_cv_ca_keys};
pub use person::profile_from_file;
pub use profile::{Credentials, Identity, Profile, profile, profiles, test_jpki_roots};

/// What went wrong in the virtual card or its bridge.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An embedded fixture is missing or unusable (a build problem).
    #[error("fixture: {0}")]
    Fixture(String),
    /// The state directory could not be read or written.
    #[error("state file {path}: {reason}")]
    State {
        /// The file or directory.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
    /// No profile with this name.
    #[error("no profile named `{0}` (see `madoguchi-virtual-card profiles`)")]
    UnknownProfile(String),
    /// Talking to vpcd failed.
    #[error("vpcd at {addr}: {reason}")]
    Vpcd {
        /// Address.
        addr: String,
        /// What failed.
        reason: String,
    },
    /// The pcscd test harness could not do its job.
    #[error("pcscd harness: {0}")]
    Harness(String),
    /// A profile file is unreadable or invalid. The message names the key (and its line when
    /// known) and never contains the value.
    #[error("{}", located(.path, *.line, .key.as_deref(), .message))]
    ProfileFile {
        /// The profile file.
        path: PathBuf,
        /// 1-based line of the offending key or value, when known.
        line: Option<usize>,
        /// The offending key, when known.
        key: Option<String>,
        /// What is wrong (never the value).
        message: String,
    },
    /// A system tool or data file the crate needs at run time is missing or failed.
    #[error("{what}: {reason} (Debian package {package}; installer/deps.sh installs it)")]
    MissingDependency {
        /// The tool or file.
        what: String,
        /// The Debian package that provides it.
        package: &'static str,
        /// What failed.
        reason: String,
    },
}

/// `path:line: key `k`: message`, leaving out what is unknown (as the configuration does).
fn located(path: &Path, line: Option<usize>, key: Option<&str>, message: &str) -> String {
    let mut out = path.display().to_string();
    if let Some(line) = line {
        out.push_str(&format!(":{line}"));
    }
    out.push_str(": ");
    if let Some(key) = key {
        out.push_str(&format!("key `{key}`: "));
    }
    out.push_str(message);
    out
}
