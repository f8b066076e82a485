//! `madoguchi ledger …`: diagnostics and maintenance of the ledger from the command line.
//!
//! Every subcommand prints one JSON object on stdout. Exit codes: 0 success, 1 the check ran
//! and found a problem (integrity not `ok`, audit chain broken, records without events),
//! 2 the command could not run (bad key file, newer database, I/O). Errors go to stderr as
//! `{"error": {"code", "message"}}` without personal data.
//!
//! Key rotation, step by step (the documented rotation path):
//! 1. stop the kiosk; back up the ledger file and the key file;
//! 2. `madoguchi ledger rotate-key --db LEDGER --key-file KEY --new-key-file KEY.new`
//!    provisions `KEY.new` (0600, never overwriting), re-encrypts every sealed value under it
//!    in one transaction, then renames `KEY.new` over `KEY`;
//! 3. if the machine stops between the commit and the rename, `KEY.new` holds the key the
//!    database now needs: `status` and the `ledger.wrong_key` error name both key ids, and
//!    `key-id --key-file KEY.new` tells which file matches; rename it by hand.
//!
//! What it does not do: show record contents (no subcommand opens evidence or payloads).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::json;

use crate::{DataKey, Ledger, LedgerError};

/// Paths every ledger command needs. Either may be left out when the caller supplies the
/// kiosk's configured ones ([`LedgerPaths::or_defaults`]: `madoguchi` uses the configured
/// data directory).
#[derive(Debug, Clone, clap::Args)]
pub struct LedgerPaths {
    /// The ledger database file (default: the configured data directory's).
    #[arg(long, env = "MADOGUCHI_LEDGER_DB")]
    pub db: Option<PathBuf>,
    /// The data key file, 64 hex digits, mode 0600 (default: the configured data
    /// directory's).
    #[arg(long, env = "MADOGUCHI_LEDGER_KEY_FILE")]
    pub key_file: Option<PathBuf>,
}

impl LedgerPaths {
    /// Fills what was not given with `db` and `key_file`.
    pub fn or_defaults(self, db: &Path, key_file: &Path) -> Self {
        LedgerPaths {
            db: self.db.or_else(|| Some(db.to_path_buf())),
            key_file: self.key_file.or_else(|| Some(key_file.to_path_buf())),
        }
    }

    /// The database file, or an error naming the missing option.
    pub fn db(&self) -> Result<&Path, LedgerError> {
        self.db.as_deref().ok_or_else(|| {
            LedgerError::InvalidInput(
                "no ledger database: give --db (or MADOGUCHI_LEDGER_DB)".into(),
            )
        })
    }

    /// The key file, or an error naming the missing option.
    pub fn key_file(&self) -> Result<&Path, LedgerError> {
        self.key_file.as_deref().ok_or_else(|| {
            LedgerError::InvalidInput(
                "no ledger key file: give --key-file (or MADOGUCHI_LEDGER_KEY_FILE)".into(),
            )
        })
    }
}

impl LedgerCommand {
    /// The command with the database and key file it was not given taken from the kiosk's
    /// configuration.
    pub fn or_default_paths(self, db: &Path, key_file: &Path) -> Self {
        match self {
            LedgerCommand::Status { paths } => LedgerCommand::Status {
                paths: paths.or_defaults(db, key_file),
            },
            LedgerCommand::Integrity { paths } => LedgerCommand::Integrity {
                paths: paths.or_defaults(db, key_file),
            },
            LedgerCommand::VerifyAudit { paths } => LedgerCommand::VerifyAudit {
                paths: paths.or_defaults(db, key_file),
            },
            LedgerCommand::Purge { paths, days } => LedgerCommand::Purge {
                paths: paths.or_defaults(db, key_file),
                days,
            },
            LedgerCommand::RotateKey {
                paths,
                new_key_file,
            } => LedgerCommand::RotateKey {
                paths: paths.or_defaults(db, key_file),
                new_key_file,
            },
            other => other,
        }
    }
}

/// Ledger subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum LedgerCommand {
    /// Schema version, key id, outbox backlog, confirmation records (total, purged), sync
    /// state, audit head, integrity, consistency.
    Status {
        #[command(flatten)]
        /// Database and key file.
        paths: LedgerPaths,
    },
    /// Runs SQLite's `PRAGMA integrity_check`.
    Integrity {
        #[command(flatten)]
        /// Database and key file.
        paths: LedgerPaths,
    },
    /// Verifies the hash-chained audit trail and names the first broken link.
    VerifyAudit {
        #[command(flatten)]
        /// Database and key file.
        paths: LedgerPaths,
    },
    /// Purges evidence older than N days that the backend has acknowledged, and every
    /// acknowledged confirmation record (audited).
    Purge {
        #[command(flatten)]
        /// Database and key file.
        paths: LedgerPaths,
        /// Retention period in days.
        #[arg(long)]
        days: u32,
    },
    /// Creates a new data key file (mode 0600); refuses to overwrite one.
    ProvisionKey {
        /// Where to create it.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Prints the public id of a key file (to match a key to a database).
    KeyId {
        /// The key file.
        #[arg(long)]
        key_file: PathBuf,
    },
    /// Re-encrypts the ledger under a newly provisioned key, then installs that key file.
    RotateKey {
        #[command(flatten)]
        /// Database and current key file.
        paths: LedgerPaths,
        /// Where to provision the new key before it replaces `--key-file`.
        #[arg(long)]
        new_key_file: PathBuf,
    },
}

fn open(p: &LedgerPaths) -> Result<Ledger, LedgerError> {
    let db = p.db()?;
    if !db.exists() {
        return Err(LedgerError::Io {
            path: db.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "no ledger database here"),
        });
    }
    Ledger::open(db, DataKey::load(p.key_file()?)?)
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// Runs a command; returns the JSON to print and whether the check passed.
pub fn execute(cmd: LedgerCommand) -> Result<(serde_json::Value, bool), LedgerError> {
    match cmd {
        LedgerCommand::Status { paths } => {
            let l = open(&paths)?;
            let integrity = l.integrity_check()?;
            let audit = l.verify_audit()?;
            let consistency = l.check_consistency()?;
            let ok = integrity.ok && audit.is_intact() && consistency.is_consistent();
            let mut wal = paths.db()?.to_path_buf().into_os_string();
            wal.push("-wal");
            Ok((
                json!({
                    "schema_version": l.schema_version()?,
                    "schema_latest": crate::migrate::LATEST,
                    "key_id": l.key_id(),
                    "db_bytes": file_size(paths.db()?),
                    "wal_bytes": file_size(Path::new(&wal)),
                    "outbox_backlog": l.outbox_backlog()?,
                    "outbox_total": l.outbox_total()?,
                    "confirmations": l.confirmation_counts()?,
                    "sync": l.sync_state()?,
                    "integrity": integrity,
                    "audit": audit,
                    "consistency": consistency,
                    "ok": ok,
                }),
                ok,
            ))
        }
        LedgerCommand::Integrity { paths } => {
            let r = open(&paths)?.integrity_check()?;
            let ok = r.ok;
            Ok((serde_json::to_value(r)?, ok))
        }
        LedgerCommand::VerifyAudit { paths } => {
            let r = open(&paths)?.verify_audit()?;
            let ok = r.is_intact();
            Ok((serde_json::to_value(r)?, ok))
        }
        LedgerCommand::Purge { paths, days } => {
            let r = open(&paths)?.purge_evidence(days)?;
            Ok((serde_json::to_value(r)?, true))
        }
        LedgerCommand::ProvisionKey { key_file } => {
            let k = DataKey::provision(&key_file)?;
            Ok((json!({ "key_file": key_file, "key_id": k.id() }), true))
        }
        LedgerCommand::KeyId { key_file } => {
            let k = DataKey::load(&key_file)?;
            Ok((json!({ "key_file": key_file, "key_id": k.id() }), true))
        }
        LedgerCommand::RotateKey {
            paths,
            new_key_file,
        } => {
            let mut l = open(&paths)?;
            let new_key = DataKey::provision(&new_key_file)?;
            let report = l.rotate_key(new_key)?;
            drop(l);
            std::fs::rename(&new_key_file, paths.key_file()?).map_err(|source| {
                LedgerError::Io {
                    path: new_key_file.clone(),
                    source,
                }
            })?;
            Ok((serde_json::to_value(report)?, true))
        }
    }
}

/// Runs a command, prints its JSON, and maps the result to an exit code (0, 1 or 2).
pub fn run(cmd: LedgerCommand) -> ExitCode {
    match execute(cmd) {
        Ok((out, ok)) => {
            println!("{out}");
            if ok {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            }
        }
        Err(e) => {
            eprintln!(
                "{}",
                json!({ "error": { "code": e.code(), "message": e.to_string() } })
            );
            ExitCode::from(2)
        }
    }
}
