//! Tellers' FIDO2 credentials cached in the ledger, so the kiosk verifies a teller's sign-in
//! itself when the network is down; and the teller accounts the sync pulls from the backend.
//!
//! A credential is stored as opaque JSON bytes (the `tellers` crate's `StoredCredential`: the
//! public key, its counter, labels), sealed with the data key like every other body
//! (associated data: the credential id), next to the columns the ledger needs to decide
//! without opening it: the teller, the signature counter, when it was registered, last used
//! and revoked. Each write goes with its audit entry and outbox event in one transaction:
//!
//! - [`Ledger::put_teller_credential`]: a newly registered key, for an existing, enabled
//!   teller; an id already stored is refused. Event `teller.key_registered` carrying the
//!   credential's JSON (`"credential"`) so the backend can store it: it holds a public key,
//!   not a secret.
//! - [`Ledger::record_sign_in`]: a sign-in the caller has verified. The new counter must move
//!   forward from the stored one, unless both are 0 (authenticators that do not count), as in
//!   WebAuthn §6.1.1; otherwise [`LedgerError::SignCountRegressed`], nothing about the
//!   credential changes, and a `teller.sign_in_refused` audit entry and event are committed
//!   (a possibly cloned key is worth telling the backend). On success the counter, body and
//!   last use are updated and a `teller.signed_in` event carries the updated credential.
//! - [`Ledger::revoke_teller_credential`]: `teller.key_revoked`. A revoked key stays in the
//!   table (listed by [`Ledger::teller_credentials`]) but is never a sign-in candidate.
//! - [`Ledger::upsert_teller_from_backend`]: creates or updates a teller from the backend's
//!   list (role, display name, enabled); audited as `teller.synced` only when something
//!   changed. The display name is not written to the audit trail (it is stored in clear in
//!   `tellers` and goes in the sealed event).
//! - [`Ledger::sync_teller_credential_from_backend`]: applies one credential of the backend's
//!   list: an unknown one is cached (for an existing teller), a lower local counter is raised
//!   to the backend's (with the backend's body; never lowered), a revocation is applied
//!   (never undone). Audited as `teller.key_synced` only when something changed. Records from
//!   the backend do not go back to it: the outbox row written with it (every cached
//!   credential has one, see [`Ledger::check_consistency`]) is acknowledged at once and
//!   carries no payload, so the sync never sends it.
//!
//! Reads: [`Ledger::teller_credential`], [`Ledger::teller_credentials`] and
//! [`Ledger::sign_in_candidates`] (enabled tellers with their unrevoked keys) open the bodies.
//!
//! What it does not do: verify anything cryptographic (the `tellers` crate's verifier checks
//! the assertion, the origin and user verification before [`Ledger::record_sign_in`] is
//! called), parse the credential JSON beyond checking it is a JSON object (the ledger does
//! not depend on `madoguchi-tellers`, and does not check that the body's own counter or id
//! match the columns), delete credentials, or decide who may register a key.

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Value, json};

use crate::outbox::{RecordRef, emit};
use crate::records::check_id;
use crate::{DataKey, Ledger, LedgerError, OutboxEvent, Recorded, TellerRole, crypto, now_ms};

/// Table name (and associated-data table) of cached credentials.
const TABLE: &str = "teller_credentials";

/// Largest credential JSON accepted (a passkey's JSON is about a kilobyte).
pub const MAX_CREDENTIAL_BODY_BYTES: usize = 64 * 1024;

/// Longest teller display name accepted, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// One cached credential, opened. `Debug` shows the body's size only.
#[derive(Clone, PartialEq, Eq, Serialize)]
pub struct CachedCredential {
    /// The credential id, base64url without padding.
    pub credential_id: String,
    /// The teller it belongs to.
    pub teller_id: String,
    /// The credential's JSON as stored (a public key: not secret, not zeroized).
    pub body: Vec<u8>,
    /// The signature counter after the last accepted sign-in.
    pub sign_count: u32,
    /// Registered (cached here), UNIX ms.
    pub registered_at_ms: i64,
    /// Teller id of whoever registered it, if known.
    pub registered_by: Option<String>,
    /// Last accepted sign-in, UNIX ms.
    pub last_used_at_ms: Option<i64>,
    /// Revoked, UNIX ms.
    pub revoked_at_ms: Option<i64>,
}

impl std::fmt::Debug for CachedCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CachedCredential")
            .field("credential_id", &self.credential_id)
            .field("teller_id", &self.teller_id)
            .field("body", &format_args!("<{} bytes>", self.body.len()))
            .field("sign_count", &self.sign_count)
            .field("registered_at_ms", &self.registered_at_ms)
            .field("registered_by", &self.registered_by)
            .field("last_used_at_ms", &self.last_used_at_ms)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish()
    }
}

/// A teller account as the ledger holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CachedTeller {
    /// Teller id.
    pub id: String,
    /// Role.
    pub role: TellerRole,
    /// Name shown on the sign-in screen, if the backend gave one.
    pub display_name: Option<String>,
    /// Whether the teller may sign in and start sessions (`disabled_at_ms` is unset).
    pub enabled: bool,
    /// Created in this ledger, UNIX ms.
    pub created_at_ms: i64,
    /// Disabled, UNIX ms.
    pub disabled_at_ms: Option<i64>,
}

fn invalid(msg: impl Into<String>) -> LedgerError {
    LedgerError::InvalidInput(msg.into())
}

/// A credential id: 16 to 1023 characters of base64url (`A-Z a-z 0-9 - _`, no padding).
fn check_credential_id(id: &str) -> Result<(), LedgerError> {
    if !(16..=1023).contains(&id.len())
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(invalid(
            "credential id must be 16 to 1023 characters of base64url (A-Z a-z 0-9 - _)",
        ));
    }
    Ok(())
}

/// The credential JSON: a JSON object of at most [`MAX_CREDENTIAL_BODY_BYTES`].
fn check_body(body: &[u8]) -> Result<Value, LedgerError> {
    if body.is_empty() || body.len() > MAX_CREDENTIAL_BODY_BYTES {
        return Err(invalid(format!(
            "a credential body must be 1 to {MAX_CREDENTIAL_BODY_BYTES} bytes of JSON"
        )));
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(invalid("a credential body must be a JSON object")),
    }
}

fn check_display_name(name: &str) -> Result<(), LedgerError> {
    let n = name.chars().count();
    if n == 0
        || n > MAX_DISPLAY_NAME_CHARS
        || name.trim() != name
        || name.chars().any(char::is_control)
    {
        return Err(invalid(format!(
            "a display name must be 1 to {MAX_DISPLAY_NAME_CHARS} characters, without control \
             characters or surrounding spaces"
        )));
    }
    Ok(())
}

/// The teller's `disabled_at_ms`, or `NotFound`.
fn teller_disabled_at(tx: &Transaction<'_>, teller_id: &str) -> Result<Option<i64>, LedgerError> {
    tx.prepare_cached("SELECT disabled_at_ms FROM tellers WHERE id = ?1")?
        .query_row(params![teller_id], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .ok_or_else(|| LedgerError::NotFound {
            what: "tellers",
            id: teller_id.to_owned(),
        })
}

fn refuse_disabled(tx: &Transaction<'_>, teller_id: &str) -> Result<(), LedgerError> {
    match teller_disabled_at(tx, teller_id)? {
        Some(_) => Err(invalid(format!("teller {teller_id} is disabled"))),
        None => Ok(()),
    }
}

fn not_found(id: &str) -> LedgerError {
    LedgerError::NotFound {
        what: TABLE,
        id: id.to_owned(),
    }
}

fn record(id: &str) -> Option<RecordRef<'_>> {
    Some(RecordRef { table: TABLE, id })
}

fn count_from_db(id: &str, v: i64) -> Result<u32, LedgerError> {
    u32::try_from(v).map_err(|_| LedgerError::Corrupt {
        table: TABLE,
        detail: format!("sign_count of {id} is out of range"),
    })
}

/// Columns read by [`load`], in order.
const COLUMNS: &str = "c.credential_id, c.teller_id, c.body, c.sign_count, c.registered_at_ms, \
                       c.registered_by, c.last_used_at_ms, c.revoked_at_ms";

type RawCredential = (
    String,
    String,
    Vec<u8>,
    i64,
    i64,
    Option<String>,
    Option<i64>,
    Option<i64>,
);

fn raw(r: &rusqlite::Row<'_>, at: usize) -> rusqlite::Result<RawCredential> {
    Ok((
        r.get(at)?,
        r.get(at + 1)?,
        r.get(at + 2)?,
        r.get(at + 3)?,
        r.get(at + 4)?,
        r.get(at + 5)?,
        r.get(at + 6)?,
        r.get(at + 7)?,
    ))
}

fn open_raw(key: &DataKey, raw: RawCredential) -> Result<CachedCredential, LedgerError> {
    let (credential_id, teller_id, sealed, count, registered_at_ms, by, used, revoked) = raw;
    let body = crypto::open(key, TABLE, &credential_id, &sealed)?.to_vec();
    Ok(CachedCredential {
        sign_count: count_from_db(&credential_id, count)?,
        credential_id,
        teller_id,
        body,
        registered_at_ms,
        registered_by: by,
        last_used_at_ms: used,
        revoked_at_ms: revoked,
    })
}

/// Credentials matching `filter` (SQL over `c`), opened, in registration order.
fn load(
    c: &Connection,
    key: &DataKey,
    filter: &str,
    arg: &str,
) -> Result<Vec<CachedCredential>, LedgerError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM teller_credentials c WHERE {filter}
         ORDER BY c.registered_at_ms, c.rowid"
    );
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![arg], |r| raw(r, 0))?
        .collect::<Result<Vec<_>, _>>()?;
    rows.into_iter().map(|r| open_raw(key, r)).collect()
}

impl Ledger {
    /// Caches a newly registered key of `teller_id` (see the module docs). `body_json` is the
    /// credential's JSON (a JSON object); `registered_by` the teller id of whoever registered
    /// it, if known (checked for form only: it may be a backend administrator). Errors:
    /// `InvalidInput` for a malformed id or body, a credential id already stored (revoked or
    /// not) or a disabled teller; `NotFound` for an unknown teller. The returned id is the
    /// credential id; the event is `teller.key_registered`.
    pub fn put_teller_credential(
        &self,
        teller_id: &str,
        credential_id: &str,
        body_json: &[u8],
        sign_count: u32,
        registered_by: Option<&str>,
    ) -> Result<Recorded, LedgerError> {
        check_id("teller id", teller_id)?;
        check_credential_id(credential_id)?;
        if let Some(by) = registered_by {
            check_id("registered_by", by)?;
        }
        let body = check_body(body_json)?;
        self.write(|tx, key| {
            refuse_disabled(tx, teller_id)?;
            let at = now_ms();
            let sealed = crypto::seal(key, TABLE, credential_id, body_json)?;
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO teller_credentials
                     (credential_id, teller_id, body, sign_count, registered_at_ms, registered_by)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                )?
                .execute(params![
                    credential_id,
                    teller_id,
                    sealed,
                    sign_count,
                    at,
                    registered_by
                ])?;
            if n == 0 {
                return Err(invalid(format!(
                    "credential {credential_id} is already registered"
                )));
            }
            let event = emit(
                tx,
                key,
                at,
                registered_by,
                "teller.key_registered",
                record(credential_id),
                &json!({ "teller_id": teller_id, "registered_by": registered_by }),
                &json!({
                    "teller_id": teller_id, "credential_id": credential_id,
                    "registered_by": registered_by, "sign_count": sign_count, "at_ms": at,
                    "credential": body,
                }),
                true,
            )?;
            Ok(Recorded {
                id: credential_id.to_owned(),
                event,
            })
        })
    }

    /// Records a sign-in the caller has verified with `credential_id`: the counter becomes
    /// `new_sign_count`, the body `body_json` (the updated credential) and the last use now;
    /// event `teller.signed_in` (teller id, credential id, counter, the updated credential).
    /// Refused with [`LedgerError::SignCountRegressed`] when the counter does not move forward
    /// (unless stored and new are both 0), leaving the credential unchanged and committing a
    /// `teller.sign_in_refused` event; `InvalidInput` for a revoked key, a disabled teller or
    /// a malformed body; `NotFound` for an unknown credential.
    pub fn record_sign_in(
        &self,
        credential_id: &str,
        new_sign_count: u32,
        body_json: &[u8],
    ) -> Result<OutboxEvent, LedgerError> {
        check_credential_id(credential_id)?;
        let body = check_body(body_json)?;
        self.write(|tx, key| {
            let row: Option<(String, i64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT teller_id, sign_count, revoked_at_ms FROM teller_credentials
                     WHERE credential_id = ?1",
                )?
                .query_row(params![credential_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let (teller_id, stored, revoked) = row.ok_or_else(|| not_found(credential_id))?;
            let stored = count_from_db(credential_id, stored)?;
            if revoked.is_some() {
                return Err(invalid(format!("credential {credential_id} is revoked")));
            }
            refuse_disabled(tx, &teller_id)?;
            let at = now_ms();
            let counts = stored == 0 && new_sign_count == 0;
            if !counts && new_sign_count <= stored {
                let detail = json!({
                    "teller_id": teller_id, "reason": "sign_count_regressed",
                    "stored_sign_count": stored, "presented_sign_count": new_sign_count,
                });
                let mut payload = detail.clone();
                payload["credential_id"] = json!(credential_id);
                payload["at_ms"] = json!(at);
                emit(
                    tx,
                    key,
                    at,
                    Some(&teller_id),
                    "teller.sign_in_refused",
                    record(credential_id),
                    &detail,
                    &payload,
                    true,
                )?;
                // Commit the refusal's audit entry and event; the credential is untouched.
                return Ok(Err(LedgerError::SignCountRegressed {
                    credential_id: credential_id.to_owned(),
                    stored,
                    presented: new_sign_count,
                }));
            }
            let sealed = crypto::seal(key, TABLE, credential_id, body_json)?;
            tx.prepare_cached(
                "UPDATE teller_credentials SET sign_count = ?1, body = ?2, last_used_at_ms = ?3
                 WHERE credential_id = ?4",
            )?
            .execute(params![new_sign_count, sealed, at, credential_id])?;
            let event = emit(
                tx,
                key,
                at,
                Some(&teller_id),
                "teller.signed_in",
                record(credential_id),
                &json!({ "teller_id": teller_id, "sign_count": new_sign_count }),
                &json!({
                    "teller_id": teller_id, "credential_id": credential_id,
                    "sign_count": new_sign_count, "at_ms": at, "credential": body,
                }),
                true,
            )?;
            Ok(Ok(event))
        })?
    }

    /// Revokes a credential: it stays listed but is never a sign-in candidate again. Event
    /// `teller.key_revoked`. `InvalidInput` if already revoked, `NotFound` if unknown.
    pub fn revoke_teller_credential(
        &self,
        credential_id: &str,
    ) -> Result<OutboxEvent, LedgerError> {
        check_credential_id(credential_id)?;
        self.write(|tx, key| {
            let row: Option<(String, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT teller_id, revoked_at_ms FROM teller_credentials
                     WHERE credential_id = ?1",
                )?
                .query_row(params![credential_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let (teller_id, revoked) = row.ok_or_else(|| not_found(credential_id))?;
            if revoked.is_some() {
                return Err(invalid(format!(
                    "credential {credential_id} is already revoked"
                )));
            }
            let at = now_ms();
            tx.prepare_cached(
                "UPDATE teller_credentials SET revoked_at_ms = ?1 WHERE credential_id = ?2",
            )?
            .execute(params![at, credential_id])?;
            emit(
                tx,
                key,
                at,
                None,
                "teller.key_revoked",
                record(credential_id),
                &json!({ "teller_id": teller_id }),
                &json!({ "teller_id": teller_id, "credential_id": credential_id, "at_ms": at }),
                true,
            )
        })
    }

    /// One cached credential, opened (`Ok(None)` if unknown), revoked or not.
    pub fn teller_credential(
        &self,
        credential_id: &str,
    ) -> Result<Option<CachedCredential>, LedgerError> {
        self.read(|c, key| Ok(load(c, key, "c.credential_id = ?1", credential_id)?.pop()))
    }

    /// Every credential of a teller (revoked ones included), opened, oldest first.
    /// `NotFound` for an unknown teller.
    pub fn teller_credentials(
        &self,
        teller_id: &str,
    ) -> Result<Vec<CachedCredential>, LedgerError> {
        self.read(|c, key| {
            let known: Option<i64> = c
                .prepare_cached("SELECT 1 FROM tellers WHERE id = ?1")?
                .query_row(params![teller_id], |r| r.get(0))
                .optional()?;
            if known.is_none() {
                return Err(LedgerError::NotFound {
                    what: "tellers",
                    id: teller_id.to_owned(),
                });
            }
            load(c, key, "c.teller_id = ?1", teller_id)
        })
    }

    /// Who can sign in: every enabled teller that has at least one unrevoked key, with those
    /// keys (opened, oldest first), ordered by teller id.
    pub fn sign_in_candidates(
        &self,
    ) -> Result<Vec<(CachedTeller, Vec<CachedCredential>)>, LedgerError> {
        self.read(|c, key| {
            let sql = format!(
                "SELECT t.id, t.role, t.display_name, t.created_at_ms, {COLUMNS}
                 FROM tellers t JOIN teller_credentials c ON c.teller_id = t.id
                 WHERE t.disabled_at_ms IS NULL AND c.revoked_at_ms IS NULL
                 ORDER BY t.id, c.registered_at_ms, c.rowid"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                        raw(r, 4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            let mut out: Vec<(CachedTeller, Vec<CachedCredential>)> = Vec::new();
            for (id, role, display_name, created_at_ms, cred) in rows {
                let cred = open_raw(key, cred)?;
                match out.last_mut() {
                    Some((t, creds)) if t.id == id => creds.push(cred),
                    _ => {
                        let role =
                            TellerRole::parse(&role).ok_or_else(|| LedgerError::Corrupt {
                                table: "tellers",
                                detail: format!("unknown role of {id}"),
                            })?;
                        out.push((
                            CachedTeller {
                                id,
                                role,
                                display_name,
                                enabled: true,
                                created_at_ms,
                                disabled_at_ms: None,
                            },
                            vec![cred],
                        ));
                    }
                }
            }
            Ok(out)
        })
    }

    /// Applies one credential of the backend's teller list (the sync pull, after the teller
    /// itself was upserted with [`Ledger::upsert_teller_from_backend`]):
    /// - unknown here: cached with `body_json`, `sign_count` and, if `revoked`, revoked now
    ///   (`NotFound` if the teller does not exist here; a disabled teller's keys are cached
    ///   all the same, they are never candidates);
    /// - known, and the backend's counter is higher: the counter and the body become the
    ///   backend's (a sign-in at another kiosk); a higher or equal local counter is kept;
    /// - `revoked` and not revoked here: revoked now (a local revocation is never undone).
    ///
    /// Returns whether something changed. A change is audited as `teller.key_synced` (what
    /// changed, never the body) with an outbox row that is acknowledged at once and has no
    /// payload, so nothing goes back to the backend; no change writes nothing. `InvalidInput`
    /// for a malformed id or body, or a credential the ledger holds for another teller.
    pub fn sync_teller_credential_from_backend(
        &self,
        credential_id: &str,
        teller_id: &str,
        body_json: &[u8],
        sign_count: u32,
        revoked: bool,
    ) -> Result<bool, LedgerError> {
        check_id("teller id", teller_id)?;
        check_credential_id(credential_id)?;
        check_body(body_json)?;
        self.write(|tx, key| {
            let row: Option<(String, i64, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT teller_id, sign_count, revoked_at_ms FROM teller_credentials
                     WHERE credential_id = ?1",
                )?
                .query_row(params![credential_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let at = now_ms();
            let detail = match row {
                None => {
                    teller_disabled_at(tx, teller_id)?;
                    let sealed = crypto::seal(key, TABLE, credential_id, body_json)?;
                    tx.prepare_cached(
                        "INSERT INTO teller_credentials (credential_id, teller_id, body,
                           sign_count, registered_at_ms, revoked_at_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        credential_id,
                        teller_id,
                        sealed,
                        sign_count,
                        at,
                        revoked.then_some(at)
                    ])?;
                    json!({
                        "teller_id": teller_id, "created": true, "sign_count": sign_count,
                        "revoked": revoked,
                    })
                }
                Some((owner, stored, revoked_at)) => {
                    if owner != teller_id {
                        return Err(invalid(format!(
                            "credential {credential_id} belongs to another teller here"
                        )));
                    }
                    let stored = count_from_db(credential_id, stored)?;
                    let raise = sign_count > stored;
                    let revoke = revoked && revoked_at.is_none();
                    if !(raise || revoke) {
                        return Ok(false);
                    }
                    if raise {
                        let sealed = crypto::seal(key, TABLE, credential_id, body_json)?;
                        tx.prepare_cached(
                            "UPDATE teller_credentials SET sign_count = ?1, body = ?2
                             WHERE credential_id = ?3",
                        )?
                        .execute(params![
                            sign_count,
                            sealed,
                            credential_id
                        ])?;
                    }
                    if revoke {
                        tx.prepare_cached(
                            "UPDATE teller_credentials SET revoked_at_ms = ?1
                             WHERE credential_id = ?2",
                        )?
                        .execute(params![at, credential_id])?;
                    }
                    json!({
                        "teller_id": teller_id, "created": false,
                        "sign_count_raised_from": raise.then_some(stored),
                        "sign_count": sign_count.max(stored), "revoked": revoke,
                    })
                }
            };
            local_only(tx, key, at, "teller.key_synced", credential_id, &detail)?;
            Ok(true)
        })
    }

    /// Creates or updates a teller from the backend's list (the sync pull): the role, the
    /// display name (`None` clears it) and whether it is enabled (disabling sets
    /// `disabled_at_ms` to now, re-enabling clears it) become the backend's. Audited with a
    /// `teller.synced` event when something changed; `Ok(None)` and nothing written when the
    /// ledger already agrees, so a sync loop does not feed itself events.
    pub fn upsert_teller_from_backend(
        &self,
        teller_id: &str,
        role: TellerRole,
        display_name: Option<&str>,
        enabled: bool,
    ) -> Result<Option<OutboxEvent>, LedgerError> {
        check_id("teller id", teller_id)?;
        if let Some(n) = display_name {
            check_display_name(n)?;
        }
        self.write(|tx, key| {
            let at = now_ms();
            let row: Option<(String, Option<String>, Option<i64>)> = tx
                .prepare_cached(
                    "SELECT role, display_name, disabled_at_ms FROM tellers WHERE id = ?1",
                )?
                .query_row(params![teller_id], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                })
                .optional()?;
            let created = row.is_none();
            let (name_changed, enabled_changed, role_changed) = match row {
                None => {
                    tx.prepare_cached(
                        "INSERT INTO tellers (id, role, created_at_ms, disabled_at_ms, display_name)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )?
                    .execute(params![
                        teller_id,
                        role.as_str(),
                        at,
                        (!enabled).then_some(at),
                        display_name
                    ])?;
                    (display_name.is_some(), false, false)
                }
                Some((old_role, old_name, disabled_at)) => {
                    let role_changed = old_role != role.as_str();
                    let name_changed = old_name.as_deref() != display_name;
                    let enabled_changed = disabled_at.is_none() != enabled;
                    if !(role_changed || name_changed || enabled_changed) {
                        return Ok(None);
                    }
                    let disabled_at = match (enabled, disabled_at) {
                        (true, _) => None,
                        (false, Some(t)) => Some(t),
                        (false, None) => Some(at),
                    };
                    tx.prepare_cached(
                        "UPDATE tellers SET role = ?1, display_name = ?2, disabled_at_ms = ?3
                         WHERE id = ?4",
                    )?
                    .execute(params![
                        role.as_str(),
                        display_name,
                        disabled_at,
                        teller_id
                    ])?;
                    (name_changed, enabled_changed, role_changed)
                }
            };
            let event = emit(
                tx,
                key,
                at,
                None,
                "teller.synced",
                Some(RecordRef {
                    table: "tellers",
                    id: teller_id,
                }),
                &json!({
                    "role": role.as_str(), "enabled": enabled, "created": created,
                    "role_changed": role_changed, "enabled_changed": enabled_changed,
                    "display_name_changed": name_changed,
                }),
                &json!({
                    "teller_id": teller_id, "role": role.as_str(), "enabled": enabled,
                    "display_name": display_name, "created": created, "at_ms": at,
                }),
                true,
            )?;
            Ok(Some(event))
        })
    }
}

/// Audits a change that came from the backend, with the outbox row every cached credential
/// has, acknowledged at once and without a payload: the sync never sends it back.
fn local_only(
    tx: &Transaction<'_>,
    key: &DataKey,
    at: i64,
    kind: &str,
    credential_id: &str,
    detail: &Value,
) -> Result<(), LedgerError> {
    let event = emit(
        tx,
        key,
        at,
        None,
        kind,
        record(credential_id),
        detail,
        &json!({}),
        false,
    )?;
    tx.prepare_cached("UPDATE outbox SET acked_at_ms = ?1, payload = NULL WHERE seq = ?2")?
        .execute(params![at, event.seq])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_ids_are_base64url_of_bounded_length() {
        assert!(check_credential_id("AAAAAAAAAAAAAAAA").is_ok());
        assert!(check_credential_id("abc-_XYZ0123456789").is_ok());
        assert!(check_credential_id(&"a".repeat(1023)).is_ok());
        for bad in [
            "",
            "AAAAAAAAAAAAAAA",
            "AAAAAAAAAAAAAAA=",
            "AAAAAAAAAAAAAAA+",
            "AAAAAAAA/AAAAAAA",
            "AAAAAAAA AAAAAAA",
            "ＡAAAAAAAAAAAAAAA",
        ] {
            assert!(check_credential_id(bad).is_err(), "{bad:?}");
        }
        assert!(check_credential_id(&"a".repeat(1024)).is_err());
    }

    #[test]
    fn bodies_must_be_json_objects() {
        assert!(check_body(br#"{"id":"x"}"#).is_ok());
        for bad in [&b""[..], b"[]", b"\"x\"", b"{", b"null"] {
            assert!(check_body(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn display_names_are_bounded_and_clean() {
        assert!(check_display_name("山田 花子").is_ok());
        for bad in ["", " a", "a ", "a\nb", "a\u{0}"] {
            assert!(check_display_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_display_name(&"名".repeat(MAX_DISPLAY_NAME_CHARS)).is_ok());
        assert!(check_display_name(&"名".repeat(MAX_DISPLAY_NAME_CHARS + 1)).is_err());
    }
}
