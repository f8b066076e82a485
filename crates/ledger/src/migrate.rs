//! Ordered, append-only schema migrations, tracked in `PRAGMA user_version`.
//!
//! Migration *n* takes the schema from version *n − 1* to *n* and runs in one transaction
//! together with the version bump, so a power cut leaves the database at one version or the
//! next, never between. A database whose version is above [`LATEST`] was written by a newer
//! madoguchi and is refused before anything is written to it.
//!
//! Append-only is enforced by a test: the SHA-256 of each released migration's SQL is pinned
//! in [`PINNED`]; changing a released migration fails the build's tests. To change the schema,
//! append a migration.
//!
//! What it does not do: downgrade, or migrate data between files.

use rusqlite::{Connection, TransactionBehavior};

use crate::LedgerError;

/// One schema step.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Version the schema has after this step (1-based, consecutive).
    pub version: u32,
    /// Short name for logs and diagnostics.
    pub name: &'static str,
    /// SQL run in the step's transaction.
    pub sql: &'static str,
}

/// All migrations, in order. Append only.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "core: meta, audit chain, outbox, sync state",
        sql: r#"
CREATE TABLE meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value TEXT NOT NULL
) STRICT;

-- Hash-chained audit trail. hash = SHA-256(domain ‖ prev_hash ‖ seq ‖ at_ms ‖ actor ‖ action
-- ‖ subject ‖ detail), see audit.rs. Never updated, never deleted.
CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY NOT NULL,
    at_ms     INTEGER NOT NULL,
    actor     TEXT,
    action    TEXT NOT NULL,
    subject   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash BLOB NOT NULL,
    hash      BLOB NOT NULL
) STRICT;

-- Transactional outbox. payload is AES-256-GCM sealed (associated data: event_id);
-- NULL once purged by retention after the backend acknowledged it.
CREATE TABLE outbox (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT NOT NULL UNIQUE,
    kind          TEXT NOT NULL,
    payload       BLOB,
    created_at_ms INTEGER NOT NULL,
    audit_seq     INTEGER NOT NULL REFERENCES audit(seq),
    record_table  TEXT,
    record_id     TEXT,
    acked_at_ms   INTEGER
) STRICT;
CREATE INDEX outbox_pending ON outbox(seq) WHERE acked_at_ms IS NULL;
CREATE INDEX outbox_record ON outbox(record_table, record_id);

CREATE TABLE sync_state (
    id               INTEGER PRIMARY KEY CHECK (id = 1),
    last_success_ms  INTEGER,
    last_attempt_ms  INTEGER,
    last_error_code  TEXT
) STRICT;
INSERT INTO sync_state (id) VALUES (1);
"#,
    },
    Migration {
        version: 2,
        name: "records: tellers, sessions, outcomes, overrides, evidence",
        sql: r#"
CREATE TABLE tellers (
    id            TEXT PRIMARY KEY NOT NULL,
    role          TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    disabled_at_ms INTEGER
) STRICT;

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    procedure     TEXT NOT NULL,
    teller_id     TEXT NOT NULL REFERENCES tellers(id),
    started_at_ms INTEGER NOT NULL,
    ended_at_ms   INTEGER,
    end_state     TEXT
) STRICT;

-- scores and reasons are JSON (numbers and reason codes only, no personal data).
CREATE TABLE outcomes (
    id            TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    teller_id     TEXT NOT NULL REFERENCES tellers(id),
    decision      TEXT NOT NULL,
    scores        TEXT NOT NULL,
    reasons       TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;
CREATE INDEX outcomes_session ON outcomes(session_id);

-- A teller's override of an outcome; the written reason is free text and therefore sealed.
CREATE TABLE overrides (
    id            TEXT PRIMARY KEY NOT NULL,
    outcome_id    TEXT NOT NULL REFERENCES outcomes(id),
    teller_id     TEXT NOT NULL REFERENCES tellers(id),
    decision      TEXT NOT NULL,
    reason_sealed BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- Evidence content is always sealed (associated data: the evidence id); NULL once purged.
CREATE TABLE evidence (
    id            TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    kind          TEXT NOT NULL,
    content       BLOB,
    size          INTEGER NOT NULL,
    created_at_ms INTEGER NOT NULL,
    purged_at_ms  INTEGER
) STRICT;
CREATE INDEX evidence_created ON evidence(created_at_ms) WHERE content IS NOT NULL;
"#,
    },
    Migration {
        version: 3,
        name: "caches: trust list, revocations, thresholds, config",
        sql: r#"
CREATE TABLE cache_entries (
    kind          TEXT PRIMARY KEY NOT NULL,
    version       TEXT NOT NULL,
    body          BLOB NOT NULL,
    sha256        TEXT NOT NULL,
    fetched_at_ms INTEGER NOT NULL
) STRICT;

CREATE TABLE revocations (
    credential_id TEXT PRIMARY KEY NOT NULL,
    list_version  TEXT NOT NULL
) STRICT, WITHOUT ROWID;
"#,
    },
    Migration {
        version: 4,
        name: "audit: refuse UPDATE and DELETE",
        sql: r#"
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
"#,
    },
    Migration {
        version: 5,
        name: "confirmations: confirmation records (確認記録), sealed until acknowledged",
        sql: r#"
-- One confirmation record per completed identity verification (the document built by the
-- procedure engine). id is the document's record_id; content is the JSON document sealed
-- with the data key (associated data: the record id), NULL once purged after the backend
-- acknowledged its outbox event (acknowledgement is read from the outbox row).
CREATE TABLE confirmations (
    id            TEXT PRIMARY KEY NOT NULL,
    session_id    TEXT NOT NULL REFERENCES sessions(id),
    created_at_ms INTEGER NOT NULL,
    format        TEXT NOT NULL,
    content       BLOB,
    size          INTEGER NOT NULL,
    purged_at_ms  INTEGER
) STRICT;
CREATE INDEX confirmations_session ON confirmations(session_id);
CREATE INDEX confirmations_held ON confirmations(id) WHERE content IS NOT NULL;
"#,
    },
    Migration {
        version: 6,
        name: "sessions: the reason code a session ended with",
        sql: r#"
-- A reason code (cancelled.teller, timeout.pin, card.pin.one_try_left, face.match…), never
-- free text: the teller's written reasons live sealed in overrides.
ALTER TABLE sessions ADD COLUMN end_reason TEXT;
CREATE INDEX sessions_started ON sessions(started_at_ms);
"#,
    },
    Migration {
        version: 7,
        name: "teller credentials: FIDO2 keys cached for offline sign-in",
        sql: r#"
-- Each teller's registered FIDO2 keys, so the kiosk verifies sign-ins itself with the
-- network down. credential_id is the key's id in base64url; body is the credential's JSON
-- (public key, counter, labels) sealed with the data key (associated data: the credential
-- id). sign_count mirrors the counter in body so a regression is refused without opening
-- it; registered_by is the teller id of whoever registered the key, if known.
CREATE TABLE teller_credentials (
    credential_id    TEXT PRIMARY KEY NOT NULL,
    teller_id        TEXT NOT NULL REFERENCES tellers(id),
    body             BLOB NOT NULL,
    sign_count       INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    registered_at_ms INTEGER NOT NULL,
    registered_by    TEXT,
    last_used_at_ms  INTEGER,
    revoked_at_ms    INTEGER
) STRICT;
CREATE INDEX teller_credentials_teller ON teller_credentials(teller_id);

-- The teller's name as the backend knows it (shown on the sign-in screen).
ALTER TABLE tellers ADD COLUMN display_name TEXT;
"#,
    },
    Migration {
        version: 8,
        name: "overrides: the supervisor who approved an override",
        sql: r#"
-- The supervisor whose key approved the override (four eyes); NULL for overrides recorded
-- before approvals existed.
ALTER TABLE overrides ADD COLUMN approved_by TEXT REFERENCES tellers(id);
"#,
    },
    Migration {
        version: 9,
        name: "kiosk secrets, list refresh times, issued face credentials",
        sql: r#"
-- The kiosk's own key pairs (its template-key wrap key, its face-credential issuer key):
-- 32 random bytes each, sealed with the data key (associated data: the name). The private
-- halves never leave the kiosk; the backend learns the public halves.
CREATE TABLE kiosk_secrets (
    name          TEXT PRIMARY KEY NOT NULL,
    sealed        BLOB NOT NULL,
    created_at_ms INTEGER NOT NULL
) STRICT;

-- When a cached body was last confirmed by the backend (a pull that found the same version
-- re-signed); the list age the teller sees is measured from it.
ALTER TABLE cache_entries ADD COLUMN refreshed_at_ms INTEGER;

-- Face credentials this kiosk issued: ids, keys and times only (the QR itself and its
-- template are never stored). identity_session_id is the identity verification the
-- credential is bound to; the backend learns the same through the outbox event.
CREATE TABLE face_credentials (
    credential_id       TEXT PRIMARY KEY NOT NULL,
    session_id          TEXT NOT NULL REFERENCES sessions(id),
    identity_session_id TEXT NOT NULL REFERENCES sessions(id),
    record_id           TEXT NOT NULL,
    issuer_kid          TEXT NOT NULL,
    template_kid        TEXT NOT NULL,
    issued_at_ms        INTEGER NOT NULL,
    expires_at_ms       INTEGER NOT NULL CHECK (expires_at_ms > issued_at_ms)
) STRICT;
"#,
    },
];

/// The schema version this build writes.
pub const LATEST: u32 = MIGRATIONS.len() as u32;

/// SHA-256 (hex) of each released migration's SQL. Append a line with each new migration;
/// never edit one (the test `released_migrations_are_unchanged` checks).
pub const PINNED: &[&str] = &[
    "f25a625267ed67e691fd17013cebf2b7b54e4920f57072eed0e4a1b728a7bcb3",
    "2b9afabe7f78e702117a512a0276fded9b439e380b8c2226c09c6e5e346c2097",
    "48eb57d8fa21bddbe55784da4a59f3c7b151020dc3712ea847b42bba2ace498b",
    "eca9e613f7ae3c3e4a933a7695ef63c2089db514f27319fe5bb1fd09d07d6507",
    "b5e6ca8dfe069567a42b6ec1a93d73c864661bed5334bbc77ddd9ee3e5dafea8",
    "2407610fb7cc76ef80bbe3d9c857807a9cd81107eb6f5b76ab3473a15e148fd9",
    "51b0a29ba6fe2ffd2fa9b27bffc184586049a4307aa0dd30785d5aaf7540a29d",
    "4e36c7f42335ac3839a25d678b63e5c4bc30748b876c0710476ad8ea7417c6b5",
    "641304f1354caebf15b97d064a8fee0074962b069a0b5d3b589ad20cefa70c14",
];

/// The schema version of an open database.
pub fn schema_version(conn: &Connection) -> Result<u32, LedgerError> {
    let v: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    u32::try_from(v).map_err(|_| LedgerError::Corrupt {
        table: "pragma user_version",
        detail: format!("negative or huge version {v}"),
    })
}

/// Migrates to `target` (at most [`LATEST`]), one transaction per step. Refuses a database
/// newer than [`LATEST`] without writing to it. Returns the versions applied.
pub fn migrate_to(conn: &mut Connection, target: u32) -> Result<Vec<u32>, LedgerError> {
    if target > LATEST {
        return Err(LedgerError::InvalidInput(format!(
            "migration target {target} is beyond the latest known version {LATEST}"
        )));
    }
    let mut applied = Vec::new();
    loop {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current = schema_version(&tx)?;
        if current > LATEST {
            return Err(LedgerError::NewerSchema {
                found: current,
                supported: LATEST,
            });
        }
        if current >= target {
            return Ok(applied);
        }
        let m = &MIGRATIONS[current as usize];
        debug_assert_eq!(m.version, current + 1);
        tx.execute_batch(m.sql)?;
        tx.pragma_update(None, "user_version", m.version)?;
        tx.commit()?;
        applied.push(m.version);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    #[test]
    fn versions_are_consecutive_from_one() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
        }
    }

    #[test]
    fn released_migrations_are_unchanged() {
        assert_eq!(
            PINNED.len(),
            MIGRATIONS.len(),
            "pin the SHA-256 of every migration"
        );
        for (m, pinned) in MIGRATIONS.iter().zip(PINNED) {
            let h = hex::encode(Sha256::digest(m.sql.as_bytes()));
            assert_eq!(
                &h, pinned,
                "migration {} ({}) was edited; append a new one",
                m.version, m.name
            );
        }
    }
}
