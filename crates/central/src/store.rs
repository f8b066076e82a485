//! Persistence of the central backend: SQLite (embedded, the default) or PostgreSQL.
//!
//! Both keep the same tables: `kiosks` (token digests, never tokens), `events` (one row per
//! event id: the primary key is what makes ingest idempotent), `revocations`, `keys` (the list
//! signing key, template keys — both with their secrets sealed under the [`MasterKey`] — and the
//! kiosks' issuer public keys, see [`crate::trust`]), `thresholds` (one JSON document),
//! `resource_versions` (a counter per pulled resource, so kiosks see when something changed),
//! and since schema version 2 the confirmation records (確認記録, see [`crate::confirmation`]):
//! `confirmation_records` (one row per record id, written in the transaction of its event),
//! `confirmation_malformed` (events of that kind that could not be read, with a reason code)
//! and `confirmation_purged` (ids and dates of records purged after their retention period),
//! since schema version 3 the teller accounts and their FIDO2 credentials (`tellers`,
//! `teller_credentials`, see [`crate::tellers`]), whose list version is the `tellers` entry
//! of `resource_versions`, and since schema version 4 the kiosks' keys and face credentials:
//! `keys.kiosk_id` (the kiosk an issuer key belongs to), `keys.since_ms` (when its status last
//! changed), `keys.served` (whether a template key is on the published list), `kiosk_keys`
//! (each kiosk's wrap public key), `face_credentials` (from `face_credential.issued` events,
//! see [`crate::credentials`]) and `face_credentials_malformed`, and since schema version 5
//! the one-time codes for re-binding a customer's passkey device (see [`crate::binding`]):
//! `binding_codes` (keyed by the SHA-256 of the code, never the code itself) and `services`
//! (the bank's services that redeem them, by token digest like the kiosks; a token is a
//! kiosk's or a service's, never both), and since schema version 6 the duplicate-face check
//! (see [`crate::duplicates`]): `face_templates` (one row per enrollment, the kiosk and its
//! session: the customer's identity key, an HMAC, and the int8 template sealed with
//! AES-256-GCM under a key derived from the [`MasterKey`]) and `duplicate_flags` (the checks
//! that found the face under another identity: counts and score, no template, no person).
//!
//! Schema changes: the base schema and every later step are idempotent `CREATE … IF NOT
//! EXISTS`; opening a database applies the steps above its stored version and records
//! [`SCHEMA_VERSION`] in one transaction; a database from a newer program is refused. Step 4
//! also adds the `keys` columns, seals template secrets stored in clear by older versions and
//! wipes the issuer private keys older backends made (issuer keys now belong to kiosks: the
//! backend holds public halves only). Every open then makes the list signing key if there is
//! none yet and opens it, which checks that the master key is the one this database's
//! secrets are sealed with. SQLite runs with `secure_delete=ON` so purged personal data and
//! replaced secrets are overwritten in the file (PostgreSQL keeps dead row versions until
//! VACUUM reuses their space: the bank's autovacuum).
//!
//! What it does NOT do: keep key material in an HSM (a bank deployment would), or talk TLS to
//! PostgreSQL (the reference setup reaches it over loopback or a Unix socket).

use std::collections::HashSet;
use std::path::Path;
use std::sync::Arc;

use madoguchi_wire::{CredentialIssued, ListSigningKey};
use sha2::Digest as _;

use crate::CentralError;
use crate::confirmation::{self, ConfirmationCounts, ConfirmationRecord, Extracted, Retention};
use crate::credentials;
use crate::master_key::MasterKey;
use crate::tellers::{self, TellerEvent};
use crate::trust;

/// The schema version this program writes.
pub const SCHEMA_VERSION: i64 = 6;

const SCHEMA_SQL: &str = "
CREATE TABLE IF NOT EXISTS kiosks (
    kiosk_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    payload TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    digest TEXT NOT NULL,
    verification TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS revocations (
    credential_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    revoked_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS keys (
    kid TEXT PRIMARY KEY,
    purpose TEXT NOT NULL,
    public_key TEXT NOT NULL,
    secret TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS thresholds (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resource_versions (
    name TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS central_schema (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    version BIGINT NOT NULL
);
";

/// Schema version 2: confirmation records (確認記録).
const SCHEMA_V2_SQL: &str = "
CREATE TABLE IF NOT EXISTS confirmation_records (
    record_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    kiosk_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    payload TEXT NOT NULL,
    verified_at_ms BIGINT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    retain_until_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS confirmation_records_due ON confirmation_records (retain_until_ms);
CREATE TABLE IF NOT EXISTS confirmation_malformed (
    event_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL,
    retain_until_ms BIGINT NOT NULL,
    purged_at_ms BIGINT
);
CREATE TABLE IF NOT EXISTS confirmation_purged (
    record_id TEXT PRIMARY KEY,
    event_id TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    verified_at_ms BIGINT NOT NULL,
    retain_until_ms BIGINT NOT NULL,
    purged_at_ms BIGINT NOT NULL
);
";

/// Schema version 3: teller accounts and their FIDO2 credentials (see [`crate::tellers`]).
const SCHEMA_V3_SQL: &str = "
CREATE TABLE IF NOT EXISTS tellers (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('teller', 'supervisor', 'technician')),
    enabled BOOLEAN NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS teller_credentials (
    credential_id TEXT PRIMARY KEY,
    teller_id TEXT NOT NULL,
    credential TEXT NOT NULL,
    sign_count BIGINT NOT NULL,
    registered_by TEXT,
    registered_at_ms BIGINT NOT NULL,
    kiosk_id TEXT NOT NULL,
    revoked_at_ms BIGINT
);
CREATE INDEX IF NOT EXISTS teller_credentials_teller ON teller_credentials (teller_id);
";

/// Schema version 4: the kiosks' wrap keys and the face credentials they issued (see
/// [`crate::trust`] and [`crate::credentials`]). The new `keys` columns and the sealing of
/// older secrets need code: [`crate::trust::upgrade_v4_sqlite`] / `upgrade_v4_pg`.
const SCHEMA_V4_SQL: &str = "
CREATE TABLE IF NOT EXISTS kiosk_keys (
    kiosk_id TEXT PRIMARY KEY,
    wrap_public_key TEXT NOT NULL,
    updated_at_ms BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS face_credentials (
    credential_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    issuer_kid TEXT NOT NULL,
    template_kid TEXT NOT NULL,
    issued_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    identity_session_id TEXT NOT NULL,
    confirmation_record_id TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS face_credentials_template
    ON face_credentials (template_kid, expires_at_ms);
CREATE TABLE IF NOT EXISTS face_credentials_malformed (
    event_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    reason TEXT NOT NULL,
    received_at_ms BIGINT NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS keys_one_list_key ON keys (purpose) WHERE purpose = 'list';
";

/// Schema version 5: one-time binding codes and the services that redeem them (see
/// [`crate::binding`]).
const SCHEMA_V5_SQL: &str = "
CREATE TABLE IF NOT EXISTS binding_codes (
    code_sha256 TEXT PRIMARY KEY,
    customer_ref TEXT NOT NULL,
    kiosk_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    proof_kind TEXT NOT NULL CHECK (proof_kind IN ('credential', 'identity')),
    created_at_ms BIGINT NOT NULL,
    expires_at_ms BIGINT NOT NULL,
    redeemed_at_ms BIGINT,
    redeemed_by TEXT
);
CREATE INDEX IF NOT EXISTS binding_codes_customer
    ON binding_codes (customer_ref, expires_at_ms);
CREATE TABLE IF NOT EXISTS services (
    service_id TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    created_at_ms BIGINT NOT NULL
);
";

/// Schema version 6: the enrolled face templates and the duplicate-face flags (see
/// [`crate::duplicates`]).
const SCHEMA_V6_SQL: &str = "
CREATE TABLE IF NOT EXISTS face_templates (
    kiosk_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    identity_key TEXT NOT NULL,
    template_sealed TEXT NOT NULL,
    created_at_ms BIGINT NOT NULL,
    PRIMARY KEY (kiosk_id, session_id)
);
CREATE TABLE IF NOT EXISTS duplicate_flags (
    check_id TEXT PRIMARY KEY,
    kiosk_id TEXT NOT NULL,
    session_id TEXT NOT NULL,
    matches BIGINT NOT NULL,
    best_score DOUBLE PRECISION NOT NULL,
    created_at_ms BIGINT NOT NULL,
    UNIQUE (kiosk_id, session_id)
);
";

/// The steps after the base schema (version 1), in order: `(version, SQL)`. Append only; each
/// statement must be idempotent.
const MIGRATIONS: &[(i64, &str)] = &[
    (2, SCHEMA_V2_SQL),
    (3, SCHEMA_V3_SQL),
    (4, SCHEMA_V4_SQL),
    (5, SCHEMA_V5_SQL),
    (6, SCHEMA_V6_SQL),
];

/// Whether a database at `found` (None: new) still needs step 4's code.
fn needs_v4(found: Option<i64>) -> bool {
    found.is_none_or(|f| f < 4)
}

/// The SQL of the steps a database at `found` (None: new) still needs.
fn pending_steps(found: Option<i64>) -> impl Iterator<Item = &'static str> {
    MIGRATIONS
        .iter()
        .filter(move |(v, _)| found.is_none_or(|f| f < *v))
        .map(|(_, sql)| *sql)
}

const ADD_KIOSK_SQL: &str = "INSERT INTO kiosks (kiosk_id, token_sha256, created_at_ms)
     VALUES (?1, ?2, ?3)
     ON CONFLICT (kiosk_id) DO UPDATE SET token_sha256 = excluded.token_sha256";
const TOKEN_IS_SERVICE_SQL: &str = "SELECT EXISTS (SELECT 1 FROM services WHERE token_sha256 = ?1)";

/// The refusal of a token already held by `holder` for a `what` (`kiosk`, `service`).
/// `?n` placeholders of the SQLite statements as PostgreSQL's `$n`.
pub(crate) fn pg(sql: &str) -> String {
    sql.replace('?', "$")
}

pub(crate) fn token_taken(holder: &str, what: &str) -> CentralError {
    CentralError::Invalid(format!(
        "this token is already {holder}'s: give the {what} a token file of its own"
    ))
}

const SET_VERSION: &str = "INSERT INTO central_schema (id, version) VALUES (1, $1)
     ON CONFLICT (id) DO UPDATE SET version = excluded.version";

/// An event as accepted by the API, ready to store.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// The kiosk's idempotency key (a UUID).
    pub event_id: String,
    /// Event kind.
    pub kind: String,
    /// The payload, as the JSON text the kiosk sent.
    pub payload: String,
    /// When the kiosk recorded it.
    pub created_at_ms: i64,
    /// Outcome of evidence verification (`not_checked`, …).
    pub verification: String,
}

/// What ingest did with one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum IngestStatus {
    /// First time seen: stored.
    Stored,
    /// Already stored with the same content: acknowledged, not stored again.
    Duplicate,
    /// Already stored under this id with different content (or from another kiosk):
    /// acknowledged, not stored again, reported so that the kiosk can raise it.
    Conflict,
}

/// A stored event (for audits and tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    /// Event id.
    pub event_id: String,
    /// The kiosk that sent it.
    pub kiosk_id: String,
    /// Kind.
    pub kind: String,
    /// JSON text.
    pub payload: String,
    /// When the kiosk recorded it.
    pub created_at_ms: i64,
    /// The evidence verdict stored with it (`verified`, `not_checked`, …).
    pub verification: String,
}

/// The database (SQLite or PostgreSQL) with the keys the backend seals and signs with.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    pub(crate) keys: Arc<StoreKeys>,
}

/// The master key and the list signing key, opened once per [`Store`].
pub(crate) struct StoreKeys {
    /// Seals and opens every secret in `keys`.
    pub(crate) master: MasterKey,
    /// Signs the lists the kiosks pull.
    pub(crate) list: ListSigningKey,
}

/// The connection.
#[derive(Clone)]
pub(crate) enum Db {
    /// Embedded SQLite, one connection behind a mutex (used from blocking tasks).
    Sqlite(Arc<std::sync::Mutex<rusqlite::Connection>>),
    /// A PostgreSQL server.
    Postgres(Arc<tokio::sync::Mutex<tokio_postgres::Client>>),
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match &self.db {
            Db::Sqlite(_) => "Store::Sqlite",
            Db::Postgres(_) => "Store::Postgres",
        })
    }
}

fn digest(kiosk_id: &str, e: &NewEvent) -> String {
    let mut h = sha2::Sha256::new();
    for part in [kiosk_id, &e.kind, &e.created_at_ms.to_string(), &e.payload] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(h.finalize())
}

fn status_of(stored_digest: Option<&str>, expected: &str) -> IngestStatus {
    match stored_digest {
        Some(d) if d == expected => IngestStatus::Duplicate,
        _ => IngestStatus::Conflict,
    }
}

fn lock(
    c: &std::sync::Mutex<rusqlite::Connection>,
) -> std::sync::MutexGuard<'_, rusqlite::Connection> {
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Store {
    /// Opens (creating if needed) a SQLite database file whose secrets are sealed with
    /// `master` (see [`Store::open`]).
    pub async fn open_sqlite(path: &Path, master: MasterKey) -> Result<Store, CentralError> {
        let conn = rusqlite::Connection::open(path)?;
        Self::init_sqlite(conn, master)
    }

    /// An in-memory SQLite database (tests, throwaway demo).
    pub async fn open_sqlite_in_memory(master: MasterKey) -> Result<Store, CentralError> {
        Self::init_sqlite(rusqlite::Connection::open_in_memory()?, master)
    }

    fn init_sqlite(
        mut conn: rusqlite::Connection,
        master: MasterKey,
    ) -> Result<Store, CentralError> {
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "secure_delete", "ON")?;
        conn.execute_batch(SCHEMA_SQL)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let found: Option<i64> = tx
            .query_row("SELECT version FROM central_schema WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map(Some)
            .or_else(|e| match e {
                rusqlite::Error::QueryReturnedNoRows => Ok(None),
                e => Err(e),
            })?;
        check_version(found)?;
        let upgraded = found != Some(SCHEMA_VERSION);
        if upgraded {
            for sql in pending_steps(found) {
                tx.execute_batch(sql)?;
            }
            if needs_v4(found) {
                trust::upgrade_v4_sqlite(&tx, &master)?;
            }
            tx.execute(&SET_VERSION.replace('$', "?"), [SCHEMA_VERSION])?;
        }
        let list = trust::list_key_sqlite(&tx, &master)?;
        tx.commit()?;
        if upgraded && found.is_some() {
            // Old page images in the WAL hold the secrets replaced by step 4 until a checkpoint.
            if let Err(e) = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(())) {
                tracing::warn!(error = %e, "checkpoint after the schema upgrade");
            }
        }
        Ok(Store {
            db: Db::Sqlite(Arc::new(std::sync::Mutex::new(conn))),
            keys: Arc::new(StoreKeys { master, list }),
        })
    }

    /// Connects to PostgreSQL (`postgres://user@host:port/db`), creates or upgrades the
    /// tables, and opens the keys with `master` (see [`Store::open`]).
    pub async fn connect_postgres(url: &str, master: MasterKey) -> Result<Store, CentralError> {
        let (mut client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::error!(error = %e, "postgres connection ended");
            }
        });
        client.batch_execute(SCHEMA_SQL).await?;
        let tx = client.transaction().await?;
        let found: Option<i64> = tx
            .query_opt("SELECT version FROM central_schema WHERE id = 1", &[])
            .await?
            .map(|r| r.get(0));
        check_version(found)?;
        if found != Some(SCHEMA_VERSION) {
            for sql in pending_steps(found) {
                tx.batch_execute(sql).await?;
            }
            if needs_v4(found) {
                trust::upgrade_v4_pg(&tx, &master).await?;
            }
            tx.execute(SET_VERSION, &[&SCHEMA_VERSION]).await?;
        }
        let list = trust::list_key_pg(&tx, &master).await?;
        tx.commit().await?;
        Ok(Store {
            db: Db::Postgres(Arc::new(tokio::sync::Mutex::new(client))),
            keys: Arc::new(StoreKeys { master, list }),
        })
    }

    /// Opens what `database_url` names: `postgres://…`/`postgresql://…` is PostgreSQL,
    /// anything else (`sqlite://PATH`, or a plain path) a SQLite file, `:memory:` a throwaway
    /// SQLite database. Its secrets are sealed with `master`: the list signing key is made on
    /// the first open, and opening with another master key than the database's fails with
    /// [`CentralError::Unseal`].
    pub async fn open(database_url: &str, master: MasterKey) -> Result<Store, CentralError> {
        if database_url.starts_with("postgres://") || database_url.starts_with("postgresql://") {
            Self::connect_postgres(database_url, master).await
        } else if database_url == ":memory:" {
            Self::open_sqlite_in_memory(master).await
        } else {
            let path = database_url
                .strip_prefix("sqlite://")
                .unwrap_or(database_url);
            Self::open_sqlite(Path::new(path), master).await
        }
    }

    /// Whether this is a PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        matches!(self.db, Db::Postgres(_))
    }

    pub(crate) async fn sqlite<T: Send + 'static>(
        c: &Arc<std::sync::Mutex<rusqlite::Connection>>,
        f: impl FnOnce(&mut rusqlite::Connection) -> Result<T, CentralError> + Send + 'static,
    ) -> Result<T, CentralError> {
        let c = Arc::clone(c);
        tokio::task::spawn_blocking(move || f(&mut lock(&c)))
            .await
            .map_err(|e| CentralError::Task(e.to_string()))?
    }

    /// Registers (or re-keys) a kiosk with the digest of its token. `Invalid` when a service
    /// holds that token (a token is a kiosk's or a service's, never both).
    pub async fn add_kiosk(&self, kiosk_id: &str, token_sha256: &str) -> Result<(), CentralError> {
        self.add_token_holder(
            TOKEN_IS_SERVICE_SQL,
            ("a service", "kiosk"),
            ADD_KIOSK_SQL,
            kiosk_id,
            token_sha256,
        )
        .await
    }

    /// Inserts a token holder (`insert_sql`: id, token digest, time) in one transaction with
    /// the check that the other kind of holder does not have the token (`taken_sql` answers
    /// whether it does; `taken` names the holder and what was being added, for the error).
    pub(crate) async fn add_token_holder(
        &self,
        taken_sql: &'static str,
        taken: (&'static str, &'static str),
        insert_sql: &'static str,
        id: &str,
        token_sha256: &str,
    ) -> Result<(), CentralError> {
        let (id, t, now) = (id.to_owned(), token_sha256.to_owned(), crate::now_ms());
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let held: bool = tx.query_row(taken_sql, [&t], |r| r.get(0))?;
                    if held {
                        return Err(token_taken(taken.0, taken.1));
                    }
                    tx.execute(insert_sql, rusqlite::params![id, t, now])?;
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let held: bool = tx.query_one(&pg(taken_sql), &[&t]).await?.get(0);
                if held {
                    return Err(token_taken(taken.0, taken.1));
                }
                tx.execute(&pg(insert_sql), &[&id, &t, &now]).await?;
                tx.commit().await?;
                Ok(())
            }
        }
    }

    /// The kiosk whose token has this digest.
    pub async fn kiosk_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, CentralError> {
        let t = token_sha256.to_owned();
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let mut st =
                        c.prepare_cached("SELECT kiosk_id FROM kiosks WHERE token_sha256 = ?1")?;
                    let mut rows = st.query([t])?;
                    Ok(match rows.next()? {
                        Some(r) => Some(r.get(0)?),
                        None => None,
                    })
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query_opt("SELECT kiosk_id FROM kiosks WHERE token_sha256 = $1", &[&t])
                .await?
                .map(|r| r.get(0))),
        }
    }

    /// Stores a batch idempotently: each event id is stored at most once, whatever is re-sent.
    /// Returns one status per input event, in order. Confirmation records are kept for the
    /// default retention period; see [`Store::ingest_with_retention`].
    pub async fn ingest(
        &self,
        kiosk_id: &str,
        events: Vec<NewEvent>,
        received_at_ms: i64,
    ) -> Result<Vec<IngestStatus>, CentralError> {
        self.ingest_with_retention(kiosk_id, events, received_at_ms, Retention::default())
            .await
    }

    /// [`Store::ingest`], keeping the confirmation record of each newly stored
    /// `confirmation.recorded` event in `confirmation_records` (or counting it as malformed)
    /// in the same transaction, due for purging `retention` after its `verified_at_ms`;
    /// teller events update the teller list and `face_credential.issued` events are kept in
    /// `face_credentials` (see [`crate::credentials`]), in the same transaction.
    pub async fn ingest_with_retention(
        &self,
        kiosk_id: &str,
        events: Vec<NewEvent>,
        received_at_ms: i64,
        retention: Retention,
    ) -> Result<Vec<IngestStatus>, CentralError> {
        let kiosk = kiosk_id.to_owned();
        let digests: Vec<String> = events.iter().map(|e| digest(&kiosk, e)).collect();
        let confirmations: Vec<Option<Result<Extracted, &'static str>>> = events
            .iter()
            .map(|e| (e.kind == confirmation::KIND).then(|| confirmation::extract(&e.payload)))
            .collect();
        let teller_events: Vec<Option<Result<TellerEvent, &'static str>>> = events
            .iter()
            .map(|e| tellers::extract(&e.kind, &e.payload))
            .collect();
        let issued: Vec<Option<Result<CredentialIssued, &'static str>>> = events
            .iter()
            .map(|e| credentials::extract(&e.kind, &e.payload))
            .collect();
        let malformed_until = retention.until(received_at_ms);
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let mut out = Vec::with_capacity(events.len());
                    let mut tellers_changed = false;
                    {
                        let mut ins = tx.prepare_cached(
                            "INSERT INTO events (event_id, kiosk_id, kind, payload, created_at_ms,
                               received_at_ms, digest, verification)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(event_id) DO NOTHING",
                        )?;
                        let mut get =
                            tx.prepare_cached("SELECT digest FROM events WHERE event_id = ?1")?;
                        for ((((e, d), conf), teller), cred) in events
                            .iter()
                            .zip(&digests)
                            .zip(&confirmations)
                            .zip(&teller_events)
                            .zip(&issued)
                        {
                            let n = ins.execute(rusqlite::params![
                                e.event_id,
                                kiosk,
                                e.kind,
                                e.payload,
                                e.created_at_ms,
                                received_at_ms,
                                d,
                                e.verification
                            ])?;
                            if n == 1 {
                                out.push(IngestStatus::Stored);
                                if let Some(conf) = conf {
                                    let keep = Keep {
                                        kiosk: &kiosk,
                                        event_id: &e.event_id,
                                        received_at_ms,
                                        retention,
                                        malformed_until,
                                    };
                                    keep_confirmation_sqlite(&tx, &keep, conf)?;
                                }
                                match teller {
                                    Some(Ok(t)) => {
                                        tellers_changed |= tellers::apply_sqlite(&tx, &kiosk, t)?;
                                    }
                                    Some(Err(reason)) => tellers::log_unreadable(&e.kind, reason),
                                    None => {}
                                }
                                if let Some(cred) = cred {
                                    let at = credentials::Arrival {
                                        kiosk: &kiosk,
                                        event_id: &e.event_id,
                                        received_at_ms,
                                    };
                                    credentials::keep_sqlite(&tx, &at, cred)?;
                                }
                            } else {
                                let stored: Option<String> = get
                                    .query_row([&e.event_id], |r| r.get(0))
                                    .map(Some)
                                    .or_else(|e| match e {
                                        rusqlite::Error::QueryReturnedNoRows => Ok(None),
                                        e => Err(e),
                                    })?;
                                out.push(status_of(stored.as_deref(), d));
                            }
                        }
                    }
                    if tellers_changed {
                        tellers::bump_sqlite(&tx)?;
                    }
                    tx.commit()?;
                    Ok(out)
                })
                .await
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let ids: Vec<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
                let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
                let payloads: Vec<&str> = events.iter().map(|e| e.payload.as_str()).collect();
                let created: Vec<i64> = events.iter().map(|e| e.created_at_ms).collect();
                let ds: Vec<&str> = digests.iter().map(String::as_str).collect();
                let ver: Vec<&str> = events.iter().map(|e| e.verification.as_str()).collect();
                // One statement for the events, and duplicates inside the batch are skipped by
                // ON CONFLICT like any other (the first copy is the one stored).
                let inserted: HashSet<String> = tx
                    .query(
                        "INSERT INTO events (event_id, kiosk_id, kind, payload, created_at_ms,
                           received_at_ms, digest, verification)
                         SELECT t.id, $2, t.kind, t.payload, t.created, $3, t.digest, t.ver
                         FROM UNNEST($1::text[], $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[])
                           AS t(id, kind, payload, created, digest, ver)
                         ON CONFLICT (event_id) DO NOTHING
                         RETURNING event_id",
                        &[
                            &ids,
                            &kiosk,
                            &received_at_ms,
                            &kinds,
                            &payloads,
                            &created,
                            &ds,
                            &ver,
                        ],
                    )
                    .await?
                    .into_iter()
                    .map(|r| r.get(0))
                    .collect();
                // The confirmation records of the events just stored (first copies only).
                let mut kept = HashSet::new();
                for (e, conf) in events.iter().zip(&confirmations) {
                    if let Some(conf) = conf
                        && inserted.contains(&e.event_id)
                        && kept.insert(e.event_id.as_str())
                    {
                        let keep = Keep {
                            kiosk: &kiosk,
                            event_id: &e.event_id,
                            received_at_ms,
                            retention,
                            malformed_until,
                        };
                        keep_confirmation_pg(&tx, &keep, conf).await?;
                    }
                }
                // The teller events just stored (first copies only, in batch order).
                let mut applied = HashSet::new();
                let mut tellers_changed = false;
                for (e, teller) in events.iter().zip(&teller_events) {
                    if let Some(teller) = teller
                        && inserted.contains(&e.event_id)
                        && applied.insert(e.event_id.as_str())
                    {
                        match teller {
                            Ok(t) => tellers_changed |= tellers::apply_pg(&tx, &kiosk, t).await?,
                            Err(reason) => tellers::log_unreadable(&e.kind, reason),
                        }
                    }
                }
                if tellers_changed {
                    tellers::bump_pg(&tx).await?;
                }
                // The face credentials of the events just stored (first copies only).
                let mut recorded = HashSet::new();
                for (e, cred) in events.iter().zip(&issued) {
                    if let Some(cred) = cred
                        && inserted.contains(&e.event_id)
                        && recorded.insert(e.event_id.as_str())
                    {
                        let at = credentials::Arrival {
                            kiosk: &kiosk,
                            event_id: &e.event_id,
                            received_at_ms,
                        };
                        credentials::keep_pg(&tx, &at, cred).await?;
                    }
                }
                let others: Vec<&str> = ids
                    .iter()
                    .copied()
                    .filter(|id| !inserted.contains(*id))
                    .collect();
                let stored_digests: std::collections::HashMap<String, String> = if others.is_empty()
                {
                    Default::default()
                } else {
                    tx.query(
                        "SELECT event_id, digest FROM events WHERE event_id = ANY($1)",
                        &[&others],
                    )
                    .await?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect()
                };
                tx.commit().await?;
                let mut first_seen = HashSet::new();
                Ok(events
                    .iter()
                    .zip(&digests)
                    .map(|(e, d)| {
                        if inserted.contains(&e.event_id) && first_seen.insert(e.event_id.as_str())
                        {
                            IngestStatus::Stored
                        } else if inserted.contains(&e.event_id) {
                            // A second copy inside the same batch as the stored one.
                            status_of(Some(d), d)
                        } else {
                            status_of(stored_digests.get(&e.event_id).map(String::as_str), d)
                        }
                    })
                    .collect())
            }
        }
    }

    /// Deletes every confirmation record whose `retain_until_ms` is before `now_ms`, keeping
    /// its ids and dates in `confirmation_purged` and replacing its event's payload by a
    /// [tombstone](confirmation::tombstone); clears the event payload of malformed
    /// confirmation events whose period (from their arrival) has passed. One transaction.
    /// Returns how many events lost their personal data (records purged plus malformed
    /// payloads cleared).
    pub async fn purge_expired_confirmations(&self, now_ms: i64) -> Result<u64, CentralError> {
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let due: Vec<(String, String, String, String, i64, i64)> = {
                        let mut st = tx.prepare(
                            "SELECT record_id, event_id, kiosk_id, session_id, verified_at_ms,
                               retain_until_ms FROM confirmation_records
                             WHERE retain_until_ms < ?1 ORDER BY record_id",
                        )?;
                        st.query_map([now_ms], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?))
                        })?
                        .collect::<Result<_, _>>()?
                    };
                    let malformed: Vec<String> = {
                        let mut st = tx.prepare(
                            "SELECT event_id FROM confirmation_malformed
                             WHERE purged_at_ms IS NULL AND retain_until_ms < ?1",
                        )?;
                        st.query_map([now_ms], |r| r.get(0))?
                            .collect::<Result<_, _>>()?
                    };
                    let n = (due.len() + malformed.len()) as u64;
                    let payload_of = |event_id: &str| -> rusqlite::Result<String> {
                        tx.query_row(
                            "SELECT payload FROM events WHERE event_id = ?1",
                            [event_id],
                            |r| r.get(0),
                        )
                        .or_else(|e| match e {
                            rusqlite::Error::QueryReturnedNoRows => Ok(String::new()),
                            e => Err(e),
                        })
                    };
                    for (record_id, event_id, kiosk_id, session_id, verified, until) in &due {
                        let tomb =
                            confirmation::tombstone(&payload_of(event_id)?, Some(record_id), now_ms);
                        tx.execute(
                            "INSERT INTO confirmation_purged (record_id, event_id, kiosk_id,
                               session_id, verified_at_ms, retain_until_ms, purged_at_ms)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(record_id) DO NOTHING",
                            rusqlite::params![
                                record_id, event_id, kiosk_id, session_id, verified, until, now_ms
                            ],
                        )?;
                        tx.execute(
                            "UPDATE events SET payload = ?1 WHERE event_id = ?2",
                            rusqlite::params![tomb, event_id],
                        )?;
                        tx.execute(
                            "DELETE FROM confirmation_records WHERE record_id = ?1",
                            [record_id],
                        )?;
                    }
                    for event_id in &malformed {
                        let tomb = confirmation::tombstone(&payload_of(event_id)?, None, now_ms);
                        tx.execute(
                            "UPDATE events SET payload = ?1 WHERE event_id = ?2",
                            rusqlite::params![tomb, event_id],
                        )?;
                        tx.execute(
                            "UPDATE confirmation_malformed SET purged_at_ms = ?1 WHERE event_id = ?2",
                            rusqlite::params![now_ms, event_id],
                        )?;
                    }
                    tx.commit()?;
                    if n > 0 {
                        // Old page images in the WAL hold the deleted text until a checkpoint.
                        if let Err(e) =
                            c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
                        {
                            tracing::warn!(error = %e, "checkpoint after the confirmation purge");
                        }
                    }
                    Ok(n)
                })
                .await
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let due = tx
                    .query(
                        "SELECT c.record_id, c.event_id, c.kiosk_id, c.session_id,
                           c.verified_at_ms, c.retain_until_ms, COALESCE(e.payload, '')
                         FROM confirmation_records c LEFT JOIN events e ON e.event_id = c.event_id
                         WHERE c.retain_until_ms < $1 ORDER BY c.record_id",
                        &[&now_ms],
                    )
                    .await?;
                let malformed = tx
                    .query(
                        "SELECT m.event_id, COALESCE(e.payload, '')
                         FROM confirmation_malformed m LEFT JOIN events e ON e.event_id = m.event_id
                         WHERE m.purged_at_ms IS NULL AND m.retain_until_ms < $1",
                        &[&now_ms],
                    )
                    .await?;
                for r in &due {
                    let (record_id, event_id): (String, String) = (r.get(0), r.get(1));
                    let tomb = confirmation::tombstone(r.get(6), Some(&record_id), now_ms);
                    tx.execute(
                        "INSERT INTO confirmation_purged (record_id, event_id, kiosk_id,
                           session_id, verified_at_ms, retain_until_ms, purged_at_ms)
                         VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (record_id) DO NOTHING",
                        &[
                            &record_id,
                            &event_id,
                            &r.get::<_, String>(2),
                            &r.get::<_, String>(3),
                            &r.get::<_, i64>(4),
                            &r.get::<_, i64>(5),
                            &now_ms,
                        ],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE events SET payload = $1 WHERE event_id = $2",
                        &[&tomb, &event_id],
                    )
                    .await?;
                    tx.execute(
                        "DELETE FROM confirmation_records WHERE record_id = $1",
                        &[&record_id],
                    )
                    .await?;
                }
                for r in &malformed {
                    let event_id: String = r.get(0);
                    let tomb = confirmation::tombstone(r.get(1), None, now_ms);
                    tx.execute(
                        "UPDATE events SET payload = $1 WHERE event_id = $2",
                        &[&tomb, &event_id],
                    )
                    .await?;
                    tx.execute(
                        "UPDATE confirmation_malformed SET purged_at_ms = $1 WHERE event_id = $2",
                        &[&now_ms, &event_id],
                    )
                    .await?;
                }
                tx.commit().await?;
                Ok((due.len() + malformed.len()) as u64)
            }
        }
    }

    /// Stored confirmation records in record-id order after `after` (exclusive; `""` from the
    /// start), at most `limit`: for the bank's auditors (`madoguchi-central confirmations`)
    /// and tests. Not served over HTTP.
    pub async fn confirmation_records(
        &self,
        limit: u32,
        after: &str,
    ) -> Result<Vec<ConfirmationRecord>, CentralError> {
        let after = after.to_owned();
        let lim = i64::from(limit);
        let sql = |p: &str| {
            format!(
                "SELECT record_id, event_id, kiosk_id, session_id, payload, verified_at_ms,
                   received_at_ms, retain_until_ms FROM confirmation_records
                 WHERE record_id > {p}1 ORDER BY record_id LIMIT {p}2"
            )
        };
        match &self.db {
            Db::Sqlite(c) => {
                let q = sql("?");
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare(&q)?;
                    let rows = st.query_map(rusqlite::params![after, lim], |r| {
                        Ok(ConfirmationRecord {
                            record_id: r.get(0)?,
                            event_id: r.get(1)?,
                            kiosk_id: r.get(2)?,
                            session_id: r.get(3)?,
                            payload: r.get(4)?,
                            verified_at_ms: r.get(5)?,
                            received_at_ms: r.get(6)?,
                            retain_until_ms: r.get(7)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query(&sql("$"), &[&after, &lim])
                .await?
                .into_iter()
                .map(|r| ConfirmationRecord {
                    record_id: r.get(0),
                    event_id: r.get(1),
                    kiosk_id: r.get(2),
                    session_id: r.get(3),
                    payload: r.get(4),
                    verified_at_ms: r.get(5),
                    received_at_ms: r.get(6),
                    retain_until_ms: r.get(7),
                })
                .collect()),
        }
    }

    /// Confirmation records held and purged, and malformed confirmation events per reason.
    pub async fn confirmation_counts(&self) -> Result<ConfirmationCounts, CentralError> {
        let totals = self
            .rows(
                "SELECT CAST((SELECT COUNT(*) FROM confirmation_records) AS TEXT),
                        CAST((SELECT COUNT(*) FROM confirmation_purged) AS TEXT)",
                2,
            )
            .await?;
        let malformed_reasons: std::collections::BTreeMap<String, u64> = self
            .rows(
                "SELECT reason, CAST(COUNT(*) AS TEXT) FROM confirmation_malformed
                 GROUP BY reason",
                2,
            )
            .await?
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap_or(0)))
            .collect();
        let count = |i: usize| {
            totals
                .first()
                .and_then(|r| r.get(i))
                .and_then(|n| n.parse().ok())
                .unwrap_or(0)
        };
        Ok(ConfirmationCounts {
            records: count(0),
            purged: count(1),
            malformed: malformed_reasons.values().sum(),
            malformed_reasons,
        })
    }

    /// Number of stored events.
    pub async fn event_count(&self) -> Result<u64, CentralError> {
        let n: i64 = match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, |c| {
                    Ok(c.query_row("SELECT COUNT(*) FROM events", [], |r| r.get(0))?)
                })
                .await?
            }
            Db::Postgres(c) => c
                .lock()
                .await
                .query_one("SELECT COUNT(*) FROM events", &[])
                .await?
                .get(0),
        };
        Ok(u64::try_from(n).unwrap_or(0))
    }

    /// Number of stored events per evidence verdict (`verified`, `not_checked`, …), sorted by
    /// verdict; verdicts with no event are absent.
    pub async fn verification_counts(
        &self,
    ) -> Result<std::collections::BTreeMap<String, u64>, CentralError> {
        Ok(self
            .rows(
                "SELECT verification, CAST(COUNT(*) AS TEXT) FROM events GROUP BY verification",
                2,
            )
            .await?
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap_or(0)))
            .collect())
    }

    /// Stored events in id order after `after` (exclusive), at most `limit` (audits, tests).
    pub async fn list_events(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, CentralError> {
        let after = after.to_owned();
        let lim = i64::from(limit);
        let sql = |p: &str| {
            format!(
                "SELECT event_id, kiosk_id, kind, payload, created_at_ms, verification FROM events
                 WHERE event_id > {p}1 ORDER BY event_id LIMIT {p}2"
            )
        };
        match &self.db {
            Db::Sqlite(c) => {
                let q = sql("?");
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare(&q)?;
                    let rows = st.query_map(rusqlite::params![after, lim], |r| {
                        Ok(StoredEvent {
                            event_id: r.get(0)?,
                            kiosk_id: r.get(1)?,
                            kind: r.get(2)?,
                            payload: r.get(3)?,
                            created_at_ms: r.get(4)?,
                            verification: r.get(5)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query(&sql("$"), &[&after, &lim])
                .await?
                .into_iter()
                .map(|r| StoredEvent {
                    event_id: r.get(0),
                    kiosk_id: r.get(1),
                    kind: r.get(2),
                    payload: r.get(3),
                    created_at_ms: r.get(4),
                    verification: r.get(5),
                })
                .collect()),
        }
    }

    /// Runs admin statements (one transaction) on either database. `stmts` are written with
    /// `$n` placeholders and text parameters only.
    async fn admin_tx(&self, stmts: Vec<(&'static str, Vec<String>)>) -> Result<(), CentralError> {
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    for (sql, params) in &stmts {
                        let sql = sql.replace('$', "?");
                        tx.execute(&sql, rusqlite::params_from_iter(params.iter()))?;
                    }
                    tx.commit()?;
                    Ok(())
                })
                .await
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                for (sql, params) in &stmts {
                    let refs: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = params
                        .iter()
                        .map(|p| p as &(dyn tokio_postgres::types::ToSql + Sync))
                        .collect();
                    tx.execute(*sql, &refs).await?;
                }
                tx.commit().await?;
                Ok(())
            }
        }
    }

    fn bump(resource: &str) -> (&'static str, Vec<String>) {
        (
            "INSERT INTO resource_versions (name, version) VALUES ($1, 1)
             ON CONFLICT(name) DO UPDATE SET version = resource_versions.version + 1",
            vec![resource.to_owned()],
        )
    }

    /// Replaces the thresholds document (a JSON object).
    pub async fn set_thresholds(&self, doc: &serde_json::Value) -> Result<(), CentralError> {
        if !doc.is_object() {
            return Err(CentralError::Invalid(
                "thresholds must be a JSON object".into(),
            ));
        }
        self.admin_tx(vec![
            (
                "INSERT INTO thresholds (id, doc) VALUES (1, $1)
                 ON CONFLICT(id) DO UPDATE SET doc = excluded.doc",
                vec![doc.to_string()],
            ),
            Self::bump("thresholds"),
        ])
        .await
    }

    /// The version counter of a pulled resource (0: never changed).
    pub async fn version(&self, resource: &str) -> Result<i64, CentralError> {
        let r = resource.to_owned();
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    Ok(c.query_row(
                        "SELECT COALESCE(MAX(version), 0) FROM resource_versions WHERE name = ?1",
                        [r],
                        |row| row.get(0),
                    )?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM resource_versions WHERE name = $1",
                    &[&r],
                )
                .await?
                .get(0)),
        }
    }

    /// Text rows of a fixed admin query (all columns TEXT or BIGINT, read as text).
    pub(crate) async fn rows(
        &self,
        sql: &'static str,
        cols: usize,
    ) -> Result<Vec<Vec<String>>, CentralError> {
        match &self.db {
            Db::Sqlite(c) => {
                Self::sqlite(c, move |c| {
                    let mut st = c.prepare(sql)?;
                    let rows = st.query_map([], |r| {
                        (0..cols)
                            .map(|i| {
                                let v: rusqlite::types::Value = r.get(i)?;
                                Ok(match v {
                                    rusqlite::types::Value::Integer(n) => n.to_string(),
                                    rusqlite::types::Value::Text(s) => s,
                                    _ => String::new(),
                                })
                            })
                            .collect::<Result<Vec<String>, rusqlite::Error>>()
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => {
                let rows = c.lock().await.query(sql, &[]).await?;
                Ok(rows
                    .iter()
                    .map(|r| (0..cols).map(|i| r.get::<_, String>(i)).collect())
                    .collect())
            }
        }
    }

    /// The thresholds document (`{}` when never set).
    pub async fn thresholds(&self) -> Result<serde_json::Value, CentralError> {
        let rows = self
            .rows("SELECT doc FROM thresholds WHERE id = 1", 1)
            .await?;
        match rows.first() {
            Some(r) => serde_json::from_str(&r[0])
                .map_err(|e| CentralError::Invalid(format!("stored thresholds: {e}"))),
            None => Ok(serde_json::json!({})),
        }
    }
}

/// Where a newly stored `confirmation.recorded` event came from, for its record.
struct Keep<'a> {
    kiosk: &'a str,
    event_id: &'a str,
    received_at_ms: i64,
    retention: Retention,
    /// When a malformed event's payload is due for clearing.
    malformed_until: i64,
}

/// Keeps the record of a newly stored confirmation event (or counts it as malformed), in the
/// event's transaction. A record id already held or purged is `duplicate_record_id`.
fn keep_confirmation_sqlite(
    tx: &rusqlite::Transaction<'_>,
    k: &Keep<'_>,
    conf: &Result<Extracted, &'static str>,
) -> rusqlite::Result<()> {
    let reason = match conf {
        Ok(c) => {
            let purged: bool = tx
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM confirmation_purged WHERE record_id = ?1)",
                )?
                .query_row([&c.record_id], |r| r.get(0))?;
            let n = if purged {
                0
            } else {
                tx.prepare_cached(
                    "INSERT INTO confirmation_records (record_id, event_id, kiosk_id, session_id,
                       payload, verified_at_ms, received_at_ms, retain_until_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT(record_id) DO NOTHING",
                )?
                .execute(rusqlite::params![
                    c.record_id,
                    k.event_id,
                    k.kiosk,
                    c.session_id,
                    c.document,
                    c.verified_at_ms,
                    k.received_at_ms,
                    k.retention.until(c.verified_at_ms)
                ])?
            };
            if n == 1 {
                return Ok(());
            }
            "duplicate_record_id"
        }
        Err(reason) => reason,
    };
    tx.prepare_cached(
        "INSERT INTO confirmation_malformed (event_id, kiosk_id, reason, received_at_ms,
           retain_until_ms) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(event_id) DO NOTHING",
    )?
    .execute(rusqlite::params![
        k.event_id,
        k.kiosk,
        reason,
        k.received_at_ms,
        k.malformed_until
    ])?;
    Ok(())
}

/// [`keep_confirmation_sqlite`] on PostgreSQL.
async fn keep_confirmation_pg(
    tx: &tokio_postgres::Transaction<'_>,
    k: &Keep<'_>,
    conf: &Result<Extracted, &'static str>,
) -> Result<(), tokio_postgres::Error> {
    let reason = match conf {
        Ok(c) => {
            let purged: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM confirmation_purged WHERE record_id = $1)",
                    &[&c.record_id],
                )
                .await?
                .get(0);
            let n = if purged {
                0
            } else {
                tx.execute(
                    "INSERT INTO confirmation_records (record_id, event_id, kiosk_id, session_id,
                       payload, verified_at_ms, received_at_ms, retain_until_ms)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT (record_id) DO NOTHING",
                    &[
                        &c.record_id,
                        &k.event_id,
                        &k.kiosk,
                        &c.session_id,
                        &c.document,
                        &c.verified_at_ms,
                        &k.received_at_ms,
                        &k.retention.until(c.verified_at_ms),
                    ],
                )
                .await?
            };
            if n == 1 {
                return Ok(());
            }
            "duplicate_record_id"
        }
        Err(reason) => reason,
    };
    tx.execute(
        "INSERT INTO confirmation_malformed (event_id, kiosk_id, reason, received_at_ms,
           retain_until_ms) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
        &[
            &k.event_id,
            &k.kiosk,
            &reason,
            &k.received_at_ms,
            &k.malformed_until,
        ],
    )
    .await?;
    Ok(())
}

fn check_version(found: Option<i64>) -> Result<(), CentralError> {
    match found {
        Some(v) if v > SCHEMA_VERSION => Err(CentralError::SchemaTooNew {
            found: v,
            supported: SCHEMA_VERSION,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(id: &str, payload: &str) -> NewEvent {
        NewEvent {
            event_id: id.into(),
            kind: "test".into(),
            payload: payload.into(),
            created_at_ms: 1,
            verification: "not_checked".into(),
        }
    }

    fn key() -> MasterKey {
        MasterKey::from_bytes([5; 32])
    }

    fn contains(hay: &[u8], needle: &[u8]) -> bool {
        hay.windows(needle.len()).any(|w| w == needle)
    }

    #[tokio::test]
    async fn ingest_is_idempotent_and_flags_conflicts() {
        let s = Store::open_sqlite_in_memory(key()).await.unwrap();
        let got = s
            .ingest("K1", vec![ev("a", "{}"), ev("b", "{}"), ev("a", "{}")], 5)
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                IngestStatus::Stored,
                IngestStatus::Stored,
                IngestStatus::Duplicate
            ]
        );
        let got = s
            .ingest("K1", vec![ev("b", "{}"), ev("c", "{}"), ev("a", "[1]")], 6)
            .await
            .unwrap();
        assert_eq!(
            got,
            [
                IngestStatus::Duplicate,
                IngestStatus::Stored,
                IngestStatus::Conflict
            ]
        );
        // Same id from another kiosk is a conflict too.
        let got = s.ingest("K2", vec![ev("c", "{}")], 7).await.unwrap();
        assert_eq!(got, [IngestStatus::Conflict]);
        assert_eq!(s.event_count().await.unwrap(), 3);
        let all = s.list_events("", 10).await.unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].payload, "{}");
        assert_eq!(all[0].verification, "not_checked");
        let counts = s.verification_counts().await.unwrap();
        assert_eq!(counts.get("not_checked"), Some(&3));
        assert_eq!(counts.len(), 1);
    }

    #[tokio::test]
    async fn refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.sqlite");
        drop(Store::open_sqlite(&p, key()).await.unwrap());
        let c = rusqlite::Connection::open(&p).unwrap();
        c.execute("UPDATE central_schema SET version = 99", [])
            .unwrap();
        drop(c);
        let e = Store::open_sqlite(&p, key()).await.unwrap_err();
        assert!(
            matches!(e, CentralError::SchemaTooNew { found: 99, .. }),
            "{e}"
        );
    }

    #[tokio::test]
    async fn a_version_1_database_is_upgraded_keeping_its_events() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.sqlite");
        {
            let c = rusqlite::Connection::open(&p).unwrap();
            c.execute_batch(SCHEMA_SQL).unwrap();
            c.execute("INSERT INTO central_schema (id, version) VALUES (1, 1)", [])
                .unwrap();
        }
        {
            let s = Store::open_sqlite(&p, key()).await.unwrap();
            s.ingest("K1", vec![ev("a", "{}")], 5).await.unwrap();
            assert_eq!(s.confirmation_counts().await.unwrap().records, 0);
            assert_eq!(s.credential_counts().await.unwrap().recorded, 0);
            assert!(s.binding_codes(10).await.unwrap().is_empty());
            assert_eq!(s.service_for_token("00").await.unwrap(), None);
        }
        let c = rusqlite::Connection::open(&p).unwrap();
        let v: i64 = c
            .query_row("SELECT version FROM central_schema", [], |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION);
        drop(c);
        // Opening again applies nothing and keeps everything.
        let s = Store::open_sqlite(&p, key()).await.unwrap();
        assert_eq!(s.event_count().await.unwrap(), 1);
    }

    /// A database as version 3 left it: template secrets and backend-made issuer private
    /// keys in clear.
    fn version_3_database(p: &Path, clear_template: &str, issuer_secret: &str) {
        let c = rusqlite::Connection::open(p).unwrap();
        c.execute_batch(SCHEMA_SQL).unwrap();
        c.execute_batch(SCHEMA_V2_SQL).unwrap();
        c.execute_batch(SCHEMA_V3_SQL).unwrap();
        c.execute("INSERT INTO central_schema (id, version) VALUES (1, 3)", [])
            .unwrap();
        let insert = "INSERT INTO keys (kid, purpose, public_key, secret, status, created_at_ms)
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
        c.execute(
            insert,
            rusqlite::params!["iss-1-aa", "issuer", "PUBLIC", issuer_secret, "active", 1],
        )
        .unwrap();
        c.execute(
            insert,
            rusqlite::params!["tpl-1-aa", "template", "", clear_template, "active", 1],
        )
        .unwrap();
        c.execute(
            "INSERT INTO revocations VALUES ('cred-legacy', 'lost', 1), ('00aa', 'lost', 2)",
            [],
        )
        .unwrap();
    }

    #[tokio::test]
    async fn a_version_3_database_gets_its_secrets_sealed_and_issuer_keys_wiped() {
        use base64::Engine as _;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.sqlite");
        let clear = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([0x5a; 32]);
        let issuer_secret = "ISSUER-PRIVATE-KEY-MARKER-0123456789";
        version_3_database(&p, &clear, issuer_secret);
        let s = Store::open_sqlite(&p, key()).await.unwrap();
        let (template_secret, issuer_left, issuer_status): (String, String, String) = {
            let Db::Sqlite(c) = &s.db else { panic!() };
            let c = lock(c);
            let t = c
                .query_row("SELECT secret FROM keys WHERE kid = 'tpl-1-aa'", [], |r| {
                    r.get(0)
                })
                .unwrap();
            let (i, st) = c
                .query_row(
                    "SELECT secret, status FROM keys WHERE kid = 'iss-1-aa'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .unwrap();
            (t, i, st)
        };
        assert!(template_secret.starts_with(crate::master_key::SEALED_PREFIX));
        assert_eq!(
            *key()
                .open_32("template", "tpl-1-aa", &template_secret)
                .unwrap(),
            [0x5a; 32]
        );
        assert_eq!(
            (issuer_left.as_str(), issuer_status.as_str()),
            ("", "retired")
        );
        // The legacy keys are not published: no kiosk holds the issuer's private half, and no
        // credential can name a template key id that is not hex.
        assert!(s.trust_list(10).await.unwrap().issuers.is_empty());
        let t = s.template_keys().await.unwrap();
        assert_eq!((t.len(), t[0].status.as_str()), (1, "retired"));
        // Only the revocation with a wire id is published.
        let r = s.revocation_list(10).await.unwrap();
        assert_eq!(r.credentials.len(), 1);
        assert_eq!(r.credentials[0].credential_id, "00aa");
        drop(s);
        // Nothing of the clear secrets is left in the files.
        for f in ["c.sqlite", "c.sqlite-wal"] {
            let bytes = std::fs::read(dir.path().join(f)).unwrap_or_default();
            assert!(!contains(&bytes, clear.as_bytes()), "{f}");
            assert!(!contains(&bytes, issuer_secret.as_bytes()), "{f}");
        }
        // Opening again changes nothing.
        let s = Store::open_sqlite(&p, key()).await.unwrap();
        assert_eq!(s.template_keys().await.unwrap(), t);
    }

    #[tokio::test]
    async fn the_list_key_is_made_once_and_opens_only_with_the_master_key() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("c.sqlite");
        let first = Store::open_sqlite(&p, key())
            .await
            .unwrap()
            .list_public_key();
        let again = Store::open_sqlite(&p, key())
            .await
            .unwrap()
            .list_public_key();
        assert_eq!(first, again);
        let wrong = MasterKey::from_bytes([6; 32]);
        let e = Store::open_sqlite(&p, wrong).await.unwrap_err();
        match &e {
            CentralError::Unseal { purpose, kid, .. } => {
                assert_eq!(
                    (purpose.as_str(), kid.as_str()),
                    ("list", first.key_id().as_str())
                );
            }
            other => panic!("{other}"),
        }
        assert!(!e.to_string().contains(&hex::encode([6u8; 32])), "{e}");
        // The secret is sealed in the database, the public half is not.
        let c = rusqlite::Connection::open(&p).unwrap();
        let (public, secret): (String, String) = c
            .query_row(
                "SELECT public_key, secret FROM keys WHERE purpose = 'list'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(public, first.to_base64());
        assert!(secret.starts_with(crate::master_key::SEALED_PREFIX));
    }

    #[tokio::test]
    async fn rotation_retires_the_previous_template_key_and_bumps_its_version() {
        let s = Store::open_sqlite_in_memory(key()).await.unwrap();
        assert_eq!(s.version(trust::TEMPLATE_KEYS).await.unwrap(), 0);
        let k1 = s.rotate_template_key().await.unwrap();
        let k2 = s.rotate_template_key().await.unwrap();
        assert_ne!(k1, k2);
        for k in [&k1, &k2] {
            assert_eq!(madoguchi_wire::parse_id("t", "kid", k).unwrap().len(), 4);
        }
        let t = s.template_keys().await.unwrap();
        assert_eq!(t.len(), 2);
        let active: Vec<_> = t.iter().filter(|k| k.status == "active").collect();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].kid, k2);
        assert_eq!(s.version(trust::TEMPLATE_KEYS).await.unwrap(), 2);
        assert_eq!(s.version(trust::TRUST_LIST).await.unwrap(), 0);
        let Db::Sqlite(c) = &s.db else { panic!() };
        let sealed: Vec<String> = lock(c)
            .prepare("SELECT secret FROM keys WHERE purpose = 'template'")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            sealed
                .iter()
                .all(|x| x.starts_with(crate::master_key::SEALED_PREFIX))
        );
    }

    #[tokio::test]
    async fn revocations_need_hex_ids_and_bump_only_on_change() {
        let s = Store::open_sqlite_in_memory(key()).await.unwrap();
        assert!(s.revoke("00112233", "lost phone").await.unwrap());
        assert!(!s.revoke("00112233", "again").await.unwrap());
        for bad in ["cred-1", "0A", "", "0"] {
            assert!(
                matches!(s.revoke(bad, "x").await, Err(CentralError::Invalid(_))),
                "{bad}"
            );
        }
        assert!(s.revoke("00", "a\nb").await.is_err());
        let r = s.revocations().await.unwrap();
        assert_eq!(r.len(), 1);
        assert_eq!(r[0].reason, "lost phone");
        assert_eq!(s.version(trust::REVOCATIONS).await.unwrap(), 1);
        s.set_thresholds(&serde_json::json!({"face_match": 0.42}))
            .await
            .unwrap();
        assert_eq!(s.thresholds().await.unwrap()["face_match"], 0.42);
        assert!(s.set_thresholds(&serde_json::json!([1])).await.is_err());
    }
}
