//! The kiosk's ledger in SQLite (rusqlite, bundled): ordered migrations, tellers (with the
//! display name and enabled state the backend gives them), tellers' FIDO2 credentials cached
//! for offline sign-in (`teller_credentials`: the credential JSON sealed, its signature
//! counter, last use and revocation, see [`Ledger::sign_in_candidates`]), sessions,
//! outcomes, encrypted evidence, confirmation records (確認記録, sealed until the backend
//! acknowledges them, then purged), a hash-chained audit trail, the transactional outbox,
//! caches of trust data, the kiosk's own secrets (sealed seeds of its key pairs, see
//! [`Ledger::kiosk_secret`]), retention and key rotation.
//!
//! Every write runs in one `BEGIN IMMEDIATE` transaction that holds the record, its audit
//! entry and its outbox event together: a power cut leaves all three or none. The database
//! is in WAL mode with `synchronous=FULL` (a committed write survives power loss),
//! `foreign_keys=ON` and `secure_delete=ON` (purged content is overwritten in the file).
//! Photos, templates, signatures, any My Number, free-text reasons, confirmation records,
//! cached teller credentials, the kiosk's own secrets and every outbox payload are sealed with AES-256-GCM under the
//! [`DataKey`], with the record's identity as associated data.
//!
//! What it must not do: store a PIN ever (no API takes one), or a photo, template or My
//! Number in clear; write a record without its outbox event in the same transaction; speak
//! HTTP (the `sync` crate drains the outbox); verify a FIDO2 assertion (the `tellers` crate
//! does; the ledger keeps its credentials as opaque JSON and refuses a counter that does not
//! move forward); or know about Tauri or the UI.
//!
//! Several processes may open the same file (the kiosk records, `madoguchi sync run`
//! drains): writers serialise on SQLite's write lock, so the audit chain stays linear.
//!
//! Keys: the data key is provisioned at install into a 0600 key file
//! ([`DataKey::provision`], `madoguchi ledger provision-key`) and loaded at start
//! ([`DataKey::load`] refuses wider permissions). Rotation re-encrypts every sealed value
//! under a new key in one transaction ([`Ledger::rotate_key`]); the operator's procedure is
//! in [`cli`] (`madoguchi ledger rotate-key`).
//!
//! Durability costs one fsync per commit: on this project's reference machine that is about
//! 220 commits/s, so bulk writers (load generators) use [`Ledger::append_events`] or
//! [`Durability::Normal`]; `src/bin/ledger-bench.rs` measures it.

mod audit;
mod cache;
pub mod cli;
mod confirmation;
mod credentials;
mod crypto;
mod error;
mod face_credentials;
mod key;
pub mod migrate;
mod outbox;
mod records;
mod retention;
mod secrets;

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, TransactionBehavior, params};
use serde::Serialize;

pub use audit::{AuditEntry, AuditReport, BrokenLink, BrokenReason};
pub use cache::{CacheEntry, CacheKind};
pub use confirmation::{CONFIRMATION_FORMAT, ConfirmationCounts, MAX_CONFIRMATION_BYTES};
pub use credentials::{
    CachedCredential, CachedTeller, MAX_CREDENTIAL_BODY_BYTES, MAX_DISPLAY_NAME_CHARS,
};
pub use error::LedgerError;
pub use key::DataKey;
pub use outbox::{OutboxEvent, SyncState};
pub use records::{
    Decision, Evidence, EvidenceKind, NewOutcome, Procedure, Recorded, SessionEnd, SessionSummary,
    TellerRole,
};
pub use retention::{PurgeReport, RotationReport};

/// How hard a commit waits for the disk.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// `synchronous=FULL`: a committed write survives a power cut (one fsync per commit).
    /// The default, and what the kiosk uses.
    #[default]
    Full,
    /// `synchronous=NORMAL`: a power cut may undo the last commits (never corrupts, never
    /// splits a record from its event; a killed process loses nothing). For load generators
    /// and benchmarks, not for the kiosk.
    Normal,
}

/// Options for [`Ledger::open_with`].
#[derive(Debug, Clone, Copy, Default)]
pub struct OpenOptions {
    /// Commit durability (default [`Durability::Full`]).
    pub durability: Durability,
}

/// The ledger: one SQLite connection behind a mutex (so `Ledger` is `Send + Sync`) and the
/// data key.
pub struct Ledger {
    conn: Mutex<Connection>,
    key: DataKey,
}

impl std::fmt::Debug for Ledger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ledger")
            .field("key", &self.key)
            .finish_non_exhaustive()
    }
}

/// Result of `PRAGMA integrity_check`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IntegrityReport {
    /// Whether SQLite answered exactly `ok`.
    pub ok: bool,
    /// SQLite's messages (`["ok"]` when fine; at most 100).
    pub messages: Vec<String>,
}

/// Records and events that do not match (should always be empty: they are written together).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ConsistencyReport {
    /// Outbox events whose record is missing (`table:id`).
    pub events_without_record: Vec<String>,
    /// Records that have no outbox event (`table:id`).
    pub records_without_event: Vec<String>,
}

impl ConsistencyReport {
    /// Whether every record has its event and every event its record.
    pub fn is_consistent(&self) -> bool {
        self.events_without_record.is_empty() && self.records_without_event.is_empty()
    }
}

/// Milliseconds since the Unix epoch (0 if the clock is before 1970).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Tables whose rows are records with an outbox event, with their id column (the consistency
/// check walks them).
const RECORD_TABLES: &[(&str, &str)] = &[
    ("tellers", "id"),
    ("sessions", "id"),
    ("outcomes", "id"),
    ("overrides", "id"),
    ("evidence", "id"),
    ("confirmations", "id"),
    ("teller_credentials", "credential_id"),
    ("face_credentials", "credential_id"),
];

impl Ledger {
    /// Opens (creating if needed) the ledger file, refuses a database from a newer version,
    /// applies pending migrations and checks that `key` is the database's data key.
    pub fn open(path: &Path, key: DataKey) -> Result<Ledger, LedgerError> {
        Self::open_with(path, key, OpenOptions::default())
    }

    /// [`Ledger::open`] with options.
    /// A new file is created with mode 0600 on Unix (SQLite gives its `-wal` and `-shm`
    /// files the same mode).
    pub fn open_with(path: &Path, key: DataKey, opts: OpenOptions) -> Result<Ledger, LedgerError> {
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
            {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(source) => {
                    return Err(LedgerError::Io {
                        path: path.to_path_buf(),
                        source,
                    });
                }
            }
        }
        let conn = Connection::open(path)?;
        Self::init(conn, key, opts)
    }

    /// An in-memory ledger (tests, and dry runs). Not persistent; no WAL.
    pub fn open_in_memory(key: DataKey) -> Result<Ledger, LedgerError> {
        Self::init(Connection::open_in_memory()?, key, OpenOptions::default())
    }

    fn init(mut conn: Connection, key: DataKey, opts: OpenOptions) -> Result<Ledger, LedgerError> {
        conn.busy_timeout(Duration::from_secs(10))?;
        // Refuse a newer database before changing anything in it.
        let found = migrate::schema_version(&conn)?;
        if found > migrate::LATEST {
            return Err(LedgerError::NewerSchema {
                found,
                supported: migrate::LATEST,
            });
        }
        // "memory" for in-memory databases, "wal" for files.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        let sync = match opts.durability {
            Durability::Full => "FULL",
            Durability::Normal => "NORMAL",
        };
        conn.pragma_update(None, "synchronous", sync)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        migrate::migrate_to(&mut conn, migrate::LATEST)?;
        {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let stored: Option<String> = tx
                .query_row(
                    "SELECT value FROM meta WHERE key = 'data_key_id'",
                    [],
                    |r| r.get(0),
                )
                .optional()?;
            match stored {
                Some(id) if id != key.id() => {
                    return Err(LedgerError::WrongKey {
                        expected: id,
                        given: key.id(),
                    });
                }
                Some(_) => {}
                None => {
                    tx.execute(
                        "INSERT INTO meta (key, value) VALUES ('data_key_id', ?1)",
                        params![key.id()],
                    )?;
                }
            }
            tx.commit()?;
        }
        Ok(Ledger {
            conn: Mutex::new(conn),
            key,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-written transaction behind
        // (dropping a rusqlite Transaction rolls back), so a poisoned lock is safe to reuse.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in one IMMEDIATE transaction and commits it.
    pub(crate) fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>, &DataKey) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let out = f(&tx, &self.key)?;
        tx.commit()?;
        Ok(out)
    }

    /// Runs `f` with the connection (reads).
    pub(crate) fn read<T>(
        &self,
        f: impl FnOnce(&Connection, &DataKey) -> Result<T, LedgerError>,
    ) -> Result<T, LedgerError> {
        let conn = self.lock();
        f(&conn, &self.key)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<u32, LedgerError> {
        self.read(|c, _| migrate::schema_version(c))
    }

    /// The id of the data key in use (safe to show).
    pub fn key_id(&self) -> String {
        self.key.id()
    }

    /// `PRAGMA integrity_check` (first 100 messages).
    pub fn integrity_check(&self) -> Result<IntegrityReport, LedgerError> {
        self.read(|c, _| {
            let mut stmt = c.prepare("PRAGMA integrity_check(100)")?;
            let messages = stmt
                .query_map([], |r| r.get::<_, String>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok(IntegrityReport {
                ok: messages == ["ok"],
                messages,
            })
        })
    }

    /// Walks the audit chain and names the first broken link, if any.
    pub fn verify_audit(&self) -> Result<AuditReport, LedgerError> {
        self.read(|c, _| audit::verify(c))
    }

    /// Whether the local audit chain has entry `seq` with hash `hash_hex` (an anchor from an
    /// event's `"audit"` member, as the backend holds it).
    pub fn audit_anchor_matches(&self, seq: i64, hash_hex: &str) -> Result<bool, LedgerError> {
        let Ok(want) = hex::decode(hash_hex) else {
            return Ok(false);
        };
        self.read(|c, _| {
            let got: Option<Vec<u8>> = c
                .query_row("SELECT hash FROM audit WHERE seq = ?1", params![seq], |r| {
                    r.get(0)
                })
                .optional()?;
            Ok(got.is_some_and(|g| g == want))
        })
    }

    /// Audit entries from `from_seq` on (at most `limit`).
    pub fn audit_entries(
        &self,
        from_seq: i64,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, LedgerError> {
        self.read(|c, _| audit::read(c, from_seq, limit))
    }

    /// Checks that every record has its outbox event and every event with a record has it.
    pub fn check_consistency(&self) -> Result<ConsistencyReport, LedgerError> {
        self.read(|c, _| {
            let mut rep = ConsistencyReport::default();
            for (t, id) in RECORD_TABLES {
                let sql = format!(
                    "SELECT o.record_id FROM outbox o WHERE o.record_table = '{t}' \
                     AND NOT EXISTS (SELECT 1 FROM {t} r WHERE r.{id} = o.record_id) LIMIT 100"
                );
                let mut stmt = c.prepare(&sql)?;
                for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                    rep.events_without_record.push(format!("{t}:{}", id?));
                }
                let sql = format!(
                    "SELECT r.{id} FROM {t} r WHERE NOT EXISTS (SELECT 1 FROM outbox o \
                     WHERE o.record_table = '{t}' AND o.record_id = r.{id}) LIMIT 100"
                );
                let mut stmt = c.prepare(&sql)?;
                for id in stmt.query_map([], |r| r.get::<_, String>(0))? {
                    rep.records_without_event.push(format!("{t}:{}", id?));
                }
            }
            Ok(rep)
        })
    }

    /// Forces a WAL checkpoint (diagnostics and tests that inspect the main file).
    pub fn checkpoint(&self) -> Result<(), LedgerError> {
        self.read(|c, _| {
            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ledger_is_send_and_sync() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Ledger>();
    }
}
