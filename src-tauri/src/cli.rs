//! The command line: argument parsing (clap), configuration loading, and the subcommands
//! that need no display. It opens no window itself; with no subcommand it hands over to
//! [`crate::kiosk`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use madoguchi_config::Config;

/// Where the configuration is looked for when neither `--config` nor `MADOGUCHI_CONFIG`
/// names one.
pub const SYSTEM_CONFIG: &str = "/etc/madoguchi/madoguchi.toml";

/// madoguchi (窓口): identity kiosk for the teller counter.
#[derive(Debug, Parser)]
#[command(name = "madoguchi", version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (default: $MADOGUCHI_CONFIG, else /etc/madoguchi/madoguchi.toml if
    /// present, else built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Run on the simulators (virtual card, recorded camera) instead of hardware.
    #[arg(long)]
    pub simulate: bool,

    /// Put the teller console and the customer display side by side in one window.
    #[arg(long)]
    pub single_screen: bool,

    /// Fullscreen kiosk mode (overrides kiosk.fullscreen).
    #[arg(long)]
    pub fullscreen: bool,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands that need no display.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Configuration tools.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// The My Number card: readers, a PIN-less probe, a full identity read (JSON).
    Card {
        #[command(subcommand)]
        action: madoguchi_card::cli::CardCommand,
    },
    /// Face analysis: compare two images, evaluate a labelled folder (JSON reports).
    Face {
        #[command(subcommand)]
        action: madoguchi_face::cli::FaceCommand,
    },
    /// The face credential QR: decode images, issue, verify offline.
    Qr {
        #[command(subcommand)]
        action: madoguchi_faceqr::cli::QrCommand,
    },
    /// The local ledger: status, integrity, audit-chain check, retention purge, data keys.
    Ledger {
        #[command(subcommand)]
        action: madoguchi_ledger::cli::LedgerCommand,
    },
    /// The link to the central backend: status (JSON) and draining the outbox.
    Sync {
        #[command(subcommand)]
        action: madoguchi_sync::cli::SyncCommand,
    },
    /// A counter procedure without a display (technicians, CI): the kiosk's own flow and
    /// ports, steps as JSON lines, the outcome as JSON.
    Procedure {
        #[command(subcommand)]
        action: crate::procedure_cli::ProcedureCommand,
    },
}

/// `madoguchi config …`
#[derive(Debug, Subcommand)]
pub enum ConfigAction {
    /// Validate the configuration and print the effective one (secrets redacted).
    Check,
}

/// Parses the arguments and runs.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Config {
            action: ConfigAction::Check,
        }) => config_check(cli.config.as_deref()),
        Some(Command::Card { action }) => madoguchi_card::cli::run(action),
        Some(Command::Face { action }) => madoguchi_face::cli::run(action),
        Some(Command::Qr { action }) => madoguchi_faceqr::cli::run(action),
        Some(Command::Ledger { action }) => {
            // The technician's commands work on the kiosk as configured.
            let action = match load_config(cli.config.as_deref()) {
                Ok((config, _)) => {
                    let dir = config.data_dir();
                    action.or_default_paths(
                        &dir.join(crate::backend::LEDGER_FILE),
                        &dir.join(crate::backend::KEY_FILE),
                    )
                }
                Err(_) => action,
            };
            madoguchi_ledger::cli::run(action)
        }
        Some(Command::Sync { action }) => {
            let action = match load_config(cli.config.as_deref()) {
                Ok((config, _)) => {
                    let dir = config.data_dir();
                    action.or_defaults(&madoguchi_sync::cli::SyncDefaults {
                        db: dir.join(crate::backend::LEDGER_FILE),
                        key_file: dir.join(crate::backend::KEY_FILE),
                        backend_url: Some(config.backend.url.as_str().to_owned())
                            .filter(|u| !u.is_empty()),
                        token_file: config.backend.token_file.clone(),
                        ca_file: config.backend.ca_file.clone(),
                        kiosk_id: Some(config.kiosk.id.to_string()),
                        list_public_key: Some(config.backend.list_public_key.as_str().to_owned())
                            .filter(|k| !k.is_empty()),
                    })
                }
                Err(_) => action,
            };
            madoguchi_sync::cli::run(action)
        }
        Some(Command::Procedure { action }) => {
            crate::procedure_cli::run(action, cli.config.as_deref())
        }
        None => match load_config(cli.config.as_deref()) {
            Ok((mut config, source)) => {
                config.devices.simulate |= cli.simulate;
                config.kiosk.single_screen |= cli.single_screen;
                config.kiosk.fullscreen |= cli.fullscreen;
                crate::kiosk::run(config, source)
            }
            Err(e) => {
                eprintln!("madoguchi: configuration error: {e}");
                ExitCode::from(2)
            }
        },
    }
}

/// Where the configuration comes from.
#[derive(Debug, Clone)]
pub enum ConfigSource {
    /// A file.
    File(PathBuf),
    /// Built-in defaults (plus environment overrides).
    Defaults,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::File(p) => write!(f, "{}", p.display()),
            ConfigSource::Defaults => f.write_str("built-in defaults"),
        }
    }
}

fn config_path(explicit: Option<&Path>) -> Option<PathBuf> {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("MADOGUCHI_CONFIG").map(PathBuf::from))
        .or_else(|| {
            let system = PathBuf::from(SYSTEM_CONFIG);
            system.exists().then_some(system)
        })
}

/// Loads the configuration the way every mode of the binary does.
pub fn load_config(
    explicit: Option<&Path>,
) -> Result<(Config, ConfigSource), madoguchi_config::ConfigError> {
    let path = config_path(explicit);
    let config = Config::load(path.as_deref(), std::env::vars())?;
    let source = path.map_or(ConfigSource::Defaults, ConfigSource::File);
    Ok((config, source))
}

fn config_check(explicit: Option<&Path>) -> ExitCode {
    match load_config(explicit) {
        Ok((config, source)) => {
            println!("# configuration OK ({source}); effective configuration, secrets redacted:");
            print!("{}", config.to_redacted_toml());
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("madoguchi config check: {e}");
            ExitCode::from(2)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from(["madoguchi", "--simulate", "--single-screen"]).unwrap();
        assert!(cli.simulate && cli.single_screen && !cli.fullscreen);
        assert!(cli.command.is_none());
        let cli =
            Cli::try_parse_from(["madoguchi", "config", "check", "--config", "x.toml"]).unwrap();
        assert_eq!(cli.config.as_deref(), Some(Path::new("x.toml")));
        assert!(matches!(
            cli.command,
            Some(Command::Config {
                action: ConfigAction::Check
            })
        ));
    }

    #[test]
    fn unknown_subcommand_is_rejected() {
        assert!(Cli::try_parse_from(["madoguchi", "frobnicate"]).is_err());
    }
}
