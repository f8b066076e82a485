//! `madoguchi card …`: readers, probe (no PIN), read (PIN from `MADOGUCHI_PIN` or a no-echo
//! prompt). Prints JSON on stdout; errors go to stderr as `{code, message}` JSON with exit
//! code 1. Never prints or logs the PIN. It does not configure logging (the binary does).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;

use crate::error::{CardError, Result};
use crate::identity::{ReadOptions, read_identity_from_reader, today};
use crate::secret::CardPin;
use crate::session::CardSession;
use crate::trust::TrustAnchors;

/// The environment variable the PIN may come from (for tests and scripted demos).
pub const PIN_ENV: &str = "MADOGUCHI_PIN";

/// `madoguchi card` subcommands.
#[derive(Debug, Clone, Subcommand)]
pub enum CardCommand {
    /// List PC/SC readers and whether each holds a card.
    Readers,
    /// Identify the card without a PIN: applications, auth certificate subject, tries left.
    Probe {
        /// Reader name (default: the first reader holding a card).
        #[arg(long)]
        reader: Option<String>,
    },
    /// Read the card with the 4-digit PIN (from $MADOGUCHI_PIN or a no-echo prompt) and print
    /// the verified identity as JSON.
    Read {
        /// Reader name (default: the first reader holding a card).
        #[arg(long)]
        reader: Option<String>,
        /// Also read and print the My Number.
        #[arg(long)]
        with_my_number: bool,
        /// Write the chip photo as PNG to this file.
        #[arg(long, value_name = "OUT.png")]
        photo: Option<PathBuf>,
        /// Simulation: trust the test anchors in this directory (anchors.json) instead of the
        /// J-LIS production anchors.
        #[arg(long, value_name = "DIR", env = "MADOGUCHI_CARD_TEST_ANCHORS")]
        test_anchors: Option<PathBuf>,
    },
}

/// Runs a `card` subcommand.
pub fn run(cmd: CardCommand) -> ExitCode {
    match run_inner(cmd) {
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_else(|_| "null".into())
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!(
                "{}",
                serde_json::json!({"code": e.code(), "message": e.to_string()})
            );
            ExitCode::FAILURE
        }
    }
}

/// The JSON a subcommand prints, or its error; the PIN comes from `MADOGUCHI_PIN` or a
/// no-echo prompt.
pub fn run_inner(cmd: CardCommand) -> Result<serde_json::Value> {
    execute(cmd, &mut read_pin)
}

/// [`run_inner`] with the PIN from `pin` (asked only by `read`, after the trust anchors
/// loaded): the seam tests and other front ends use.
pub fn execute(
    cmd: CardCommand,
    pin: &mut dyn FnMut() -> Result<CardPin>,
) -> Result<serde_json::Value> {
    match cmd {
        CardCommand::Readers => {
            let readers = crate::readers::list_readers().map_err(|e| match e {
                crate::readers::ReadersError::ServiceUnavailable => CardError::ServiceUnavailable,
                crate::readers::ReadersError::Pcsc(p) => p.into(),
            })?;
            Ok(serde_json::json!({ "readers": readers }))
        }
        CardCommand::Probe { reader } => {
            let mut session = CardSession::open_shared(reader.as_deref())?;
            let report = crate::probe::probe(&mut session);
            let ended = session.end();
            let report = report?;
            ended?;
            serde_json::to_value(report).map_err(|_| CardError::Malformed { what: "report" })
        }
        CardCommand::Read {
            reader,
            with_my_number,
            photo,
            test_anchors,
        } => {
            let trust = match &test_anchors {
                Some(dir) => TrustAnchors::simulation_from_dir(dir)?,
                None => TrustAnchors::production()?,
            };
            let pin = pin()?;
            let reading = read_identity_from_reader(
                reader.as_deref(),
                &pin,
                ReadOptions { with_my_number },
                &trust,
                today(),
                &mut |_| {},
            )?;
            drop(pin);
            if let Some(path) = &photo {
                let png = reading.photo.image.to_png()?;
                std::fs::write(path, png).map_err(|source| CardError::Io {
                    path: path.display().to_string(),
                    source,
                })?;
            }
            Ok(reading.to_json())
        }
    }
}

/// The PIN from `MADOGUCHI_PIN`, else a no-echo prompt on the terminal.
fn read_pin() -> Result<CardPin> {
    if let Ok(v) = std::env::var(PIN_ENV) {
        return CardPin::new(v);
    }
    if !std::io::stdin().is_terminal() {
        return Err(CardError::InvalidPinFormat {
            which: crate::secret::PinKind::TextPin,
            reason: "no PIN: set MADOGUCHI_PIN or run on a terminal",
        });
    }
    let typed =
        rpassword::prompt_password("Card PIN (4 digits): ").map_err(|source| CardError::Io {
            path: "terminal".into(),
            source,
        })?;
    CardPin::new(typed)
}
