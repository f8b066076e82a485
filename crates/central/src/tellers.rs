//! Teller accounts and their FIDO2 credentials at the backend: the list the kiosks cache for
//! offline sign-in (`GET /v1/tellers`), the admin actions on it, and the teller events the
//! kiosks send.
//!
//! Tables (schema version 3): `tellers` (id, display name, role, enabled, last change) and
//! `teller_credentials` (credential id, teller, the credential's JSON as the kiosk sent it —
//! the `tellers` crate's `StoredCredential`, a public key —, signature counter, registered
//! by whom, when and at which kiosk, revoked). Every change of either table bumps the
//! `tellers` entry of `resource_versions` in the same transaction, so kiosks see the list
//! changed.
//!
//! Admin actions ([`Store::add_teller`], [`Store::set_teller_enabled`],
//! [`Store::revoke_teller_credential`]) run in one transaction each; the list is read by
//! [`Store::tellers_list`] in one transaction (version and rows agree).
//!
//! Ingest: in the transaction of a newly stored event (a re-sent event is a duplicate and
//! never reaches these handlers; the statements are idempotent anyway):
//! - `teller.key_registered`: the credential is inserted (an id already held changes
//!   nothing). A teller id the backend has no account for is stored all the same: it is not
//!   served until such an account exists.
//! - `teller.signed_in`: the counter becomes the higher of the stored and the sent one, and
//!   the credential JSON is replaced only when the sent counter is higher (and the event
//!   names the teller the credential belongs to); a credential the
//!   backend does not hold yet is inserted from the event (registered by unknown, at the
//!   event's time).
//! - `teller.key_revoked`: `revoked_at_ms` is set (once; the first revocation is kept).
//!
//! A payload that cannot be read (wrong shape, bad ids, counter out of range) is logged by
//! kind and reason code and otherwise ignored: the event itself is stored and acknowledged
//! like any other, never refused.
//!
//! What it does NOT do: verify a credential or an assertion (the kiosk's `tellers` crate
//! does), check that a credential's JSON agrees with its columns, delete tellers or
//! credentials (accounts are disabled, keys revoked), re-enable a revoked key, replay events
//! stored before schema version 3, or log display names (personal data: `Debug` of
//! [`Teller`] leaves them out).

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::Value;

use crate::CentralError;
use crate::store::{Db, Store, pg};

/// Event kind of a key registered at a kiosk.
pub const KEY_REGISTERED: &str = "teller.key_registered";
/// Event kind of an accepted sign-in at a kiosk.
pub const SIGNED_IN: &str = "teller.signed_in";
/// Event kind of a key revoked at a kiosk.
pub const KEY_REVOKED: &str = "teller.key_revoked";

/// The `resource_versions` entry of the teller list.
pub const RESOURCE: &str = "tellers";

/// Longest display name, in characters (as the kiosk's ledger).
pub const MAX_DISPLAY_NAME_CHARS: usize = 100;

/// Largest credential JSON accepted from a kiosk (as the kiosk's ledger).
pub const MAX_CREDENTIAL_BYTES: usize = 64 * 1024;

/// A teller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves customers.
    Teller,
    /// May also approve overrides.
    Supervisor,
    /// Field technician (diagnostics only).
    Technician,
}

impl Role {
    /// The stable text stored and served.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teller => "teller",
            Role::Supervisor => "supervisor",
            Role::Technician => "technician",
        }
    }

    /// Parses the stable text.
    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "teller" => Some(Role::Teller),
            "supervisor" => Some(Role::Supervisor),
            "technician" => Some(Role::Technician),
            _ => None,
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Role, String> {
        Role::parse(s).ok_or_else(|| "role must be teller, supervisor or technician".to_owned())
    }
}

/// A credential of a teller as the backend holds it. `Debug` shows the JSON's size only.
#[derive(Clone, PartialEq, Eq)]
pub struct TellerCredential {
    /// The credential id, base64url.
    pub credential_id: String,
    /// Its teller.
    pub teller_id: String,
    /// The credential's JSON text, as the kiosk sent it (a JSON object).
    pub credential: String,
    /// The highest signature counter seen.
    pub sign_count: i64,
    /// Teller id of whoever registered it, if known.
    pub registered_by: Option<String>,
    /// When the kiosk registered it (its clock), UNIX ms.
    pub registered_at_ms: i64,
    /// The kiosk that sent it.
    pub kiosk_id: String,
    /// Revoked, UNIX ms.
    pub revoked_at_ms: Option<i64>,
}

impl std::fmt::Debug for TellerCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TellerCredential")
            .field("credential_id", &self.credential_id)
            .field("teller_id", &self.teller_id)
            .field(
                "credential",
                &format_args!("<{} bytes>", self.credential.len()),
            )
            .field("sign_count", &self.sign_count)
            .field("kiosk_id", &self.kiosk_id)
            .field("revoked_at_ms", &self.revoked_at_ms)
            .finish_non_exhaustive()
    }
}

/// A teller account with its credentials. `Debug` leaves the display name out.
#[derive(Clone, PartialEq, Eq)]
pub struct Teller {
    /// Teller id.
    pub id: String,
    /// The name shown at the kiosk (personal data: never logged).
    pub display_name: String,
    /// Role.
    pub role: Role,
    /// Whether the teller may sign in.
    pub enabled: bool,
    /// Last change of the account, UNIX ms.
    pub updated_at_ms: i64,
    /// Its credentials (revoked ones included), oldest first.
    pub credentials: Vec<TellerCredential>,
}

impl std::fmt::Debug for Teller {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Teller")
            .field("id", &self.id)
            .field("display_name", &"<redacted>")
            .field("role", &self.role)
            .field("enabled", &self.enabled)
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

/// The teller list and its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TellersList {
    /// Grows on every change of the accounts or their credentials (0: never changed).
    pub version: i64,
    /// Every account, by id.
    pub tellers: Vec<Teller>,
}

fn invalid(msg: impl Into<String>) -> CentralError {
    CentralError::Invalid(msg.into())
}

fn is_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
}

fn is_credential_id(id: &str) -> bool {
    (1..=1023).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// A teller id: 1 to 128 characters of `A-Z a-z 0-9 - _ . : @` (as the kiosk's ledger).
pub fn check_teller_id(id: &str) -> Result<(), CentralError> {
    if is_id(id) {
        Ok(())
    } else {
        Err(invalid(
            "teller id must be 1 to 128 characters of A-Z a-z 0-9 - _ . : @",
        ))
    }
}

/// A display name: 1 to 100 characters, no control characters, no surrounding spaces (as the
/// kiosk's ledger, which refuses anything else).
pub fn check_display_name(name: &str) -> Result<(), CentralError> {
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

/// A credential id: 1 to 1023 characters of base64url.
pub fn check_credential_id(id: &str) -> Result<(), CentralError> {
    if is_credential_id(id) {
        Ok(())
    } else {
        Err(invalid(
            "credential id must be 1 to 1023 characters of base64url",
        ))
    }
}

/// A teller event read from its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TellerEvent {
    /// `teller.key_registered`, or `teller.signed_in` (`registration == false`).
    Credential {
        registration: bool,
        teller_id: String,
        credential_id: String,
        registered_by: Option<String>,
        sign_count: i64,
        at_ms: i64,
        credential: String,
    },
    /// `teller.key_revoked`.
    Revoked { credential_id: String, at_ms: i64 },
}

/// Reads a teller event; `None` for other kinds, `Err(reason)` for an unreadable payload.
pub(crate) fn extract(kind: &str, payload: &str) -> Option<Result<TellerEvent, &'static str>> {
    if ![KEY_REGISTERED, SIGNED_IN, KEY_REVOKED].contains(&kind) {
        return None;
    }
    Some(read(kind, payload))
}

fn read(kind: &str, payload: &str) -> Result<TellerEvent, &'static str> {
    let v: Value = serde_json::from_str(payload).map_err(|_| "not_json")?;
    let obj = v.as_object().ok_or("not_an_object")?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str);
    let credential_id = text("credential_id")
        .filter(|c| is_credential_id(c))
        .ok_or("bad_credential_id")?
        .to_owned();
    let at_ms = obj
        .get("at_ms")
        .and_then(Value::as_i64)
        .filter(|t| *t >= 0)
        .ok_or("bad_at_ms")?;
    if kind == KEY_REVOKED {
        return Ok(TellerEvent::Revoked {
            credential_id,
            at_ms,
        });
    }
    let teller_id = text("teller_id")
        .filter(|t| is_id(t))
        .ok_or("bad_teller_id")?
        .to_owned();
    let registered_by = match obj.get("registered_by") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if is_id(s) => Some(s.clone()),
        Some(_) => return Err("bad_registered_by"),
    };
    let sign_count = obj
        .get("sign_count")
        .and_then(Value::as_u64)
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("bad_sign_count")?;
    let credential = match obj.get("credential") {
        Some(c @ Value::Object(_)) => c.to_string(),
        _ => return Err("bad_credential"),
    };
    if credential.len() > MAX_CREDENTIAL_BYTES {
        return Err("credential_too_large");
    }
    Ok(TellerEvent::Credential {
        registration: kind == KEY_REGISTERED,
        teller_id,
        credential_id,
        registered_by,
        sign_count: i64::from(sign_count),
        at_ms,
        credential,
    })
}

/// Logs an unreadable teller event (kind and reason code only).
pub(crate) fn log_unreadable(kind: &str, reason: &str) {
    tracing::warn!(kind, reason, "teller event stored but not applied");
}

const BUMP_SQLITE: &str = "INSERT INTO resource_versions (name, version) VALUES ('tellers', 1)
     ON CONFLICT(name) DO UPDATE SET version = resource_versions.version + 1";

const REGISTER_SQLITE: &str = "INSERT INTO teller_credentials (credential_id, teller_id,
       credential, sign_count, registered_by, registered_at_ms, kiosk_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(credential_id) DO NOTHING";

const SIGNED_IN_SQLITE: &str = "INSERT INTO teller_credentials (credential_id, teller_id,
       credential, sign_count, registered_by, registered_at_ms, kiosk_id)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(credential_id) DO UPDATE
       SET sign_count = excluded.sign_count, credential = excluded.credential
       WHERE excluded.sign_count > teller_credentials.sign_count
         AND excluded.teller_id = teller_credentials.teller_id";

const REVOKE_SQLITE: &str = "UPDATE teller_credentials SET revoked_at_ms = ?1
     WHERE credential_id = ?2 AND revoked_at_ms IS NULL";

/// Applies a newly stored teller event in the ingest transaction; whether the list changed
/// (the caller bumps the version once per batch, see [`bump_sqlite`]).
pub(crate) fn apply_sqlite(
    tx: &rusqlite::Transaction<'_>,
    kiosk: &str,
    ev: &TellerEvent,
) -> rusqlite::Result<bool> {
    let n = match ev {
        TellerEvent::Credential {
            registration,
            teller_id,
            credential_id,
            registered_by,
            sign_count,
            at_ms,
            credential,
        } => tx
            .prepare_cached(if *registration {
                REGISTER_SQLITE
            } else {
                SIGNED_IN_SQLITE
            })?
            .execute(rusqlite::params![
                credential_id,
                teller_id,
                credential,
                sign_count,
                registered_by,
                at_ms,
                kiosk
            ])?,
        TellerEvent::Revoked {
            credential_id,
            at_ms,
        } => tx
            .prepare_cached(REVOKE_SQLITE)?
            .execute(rusqlite::params![at_ms, credential_id])?,
    };
    Ok(n > 0)
}

/// Bumps the teller list version (SQLite, in the caller's transaction).
pub(crate) fn bump_sqlite(tx: &rusqlite::Transaction<'_>) -> rusqlite::Result<()> {
    tx.prepare_cached(BUMP_SQLITE)?.execute([])?;
    Ok(())
}

/// [`apply_sqlite`] on PostgreSQL.
pub(crate) async fn apply_pg(
    tx: &tokio_postgres::Transaction<'_>,
    kiosk: &str,
    ev: &TellerEvent,
) -> Result<bool, tokio_postgres::Error> {
    let n = match ev {
        TellerEvent::Credential {
            registration,
            teller_id,
            credential_id,
            registered_by,
            sign_count,
            at_ms,
            credential,
        } => {
            let sql = pg(if *registration {
                REGISTER_SQLITE
            } else {
                SIGNED_IN_SQLITE
            });
            tx.execute(
                &sql,
                &[
                    credential_id,
                    teller_id,
                    credential,
                    sign_count,
                    registered_by,
                    at_ms,
                    &kiosk,
                ],
            )
            .await?
        }
        TellerEvent::Revoked {
            credential_id,
            at_ms,
        } => {
            tx.execute(&pg(REVOKE_SQLITE), &[at_ms, credential_id])
                .await?
        }
    };
    Ok(n > 0)
}

/// [`bump_sqlite`] on PostgreSQL.
pub(crate) async fn bump_pg(
    tx: &tokio_postgres::Transaction<'_>,
) -> Result<(), tokio_postgres::Error> {
    tx.execute(BUMP_SQLITE, &[]).await?;
    Ok(())
}

/// What one admin statement found: whether it changed a row, and whether the row exists.
fn outcome(changed: u64, exists: bool, what: &str, id: &str) -> Result<bool, CentralError> {
    match (changed > 0, exists) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(invalid(format!("no {what} {id}"))),
    }
}

const TELLERS_SQL: &str = "SELECT id, display_name, role, enabled, updated_at_ms FROM tellers
     ORDER BY id";
const CREDENTIALS_SQL: &str = "SELECT c.credential_id, c.teller_id, c.credential, c.sign_count,
       c.registered_by, c.registered_at_ms, c.kiosk_id, c.revoked_at_ms
     FROM teller_credentials c JOIN tellers t ON t.id = c.teller_id
     ORDER BY c.registered_at_ms, c.credential_id";
const VERSION_SQL: &str =
    "SELECT COALESCE(MAX(version), 0) FROM resource_versions WHERE name = 'tellers'";

fn assemble(
    version: i64,
    tellers: Vec<(String, String, String, bool, i64)>,
    credentials: Vec<TellerCredential>,
) -> Result<TellersList, CentralError> {
    let mut by_teller: BTreeMap<String, Vec<TellerCredential>> = BTreeMap::new();
    for c in credentials {
        by_teller.entry(c.teller_id.clone()).or_default().push(c);
    }
    let tellers = tellers
        .into_iter()
        .map(|(id, display_name, role, enabled, updated_at_ms)| {
            let role = Role::parse(&role)
                .ok_or_else(|| invalid(format!("stored teller {id} has an unknown role")))?;
            Ok(Teller {
                credentials: by_teller.remove(&id).unwrap_or_default(),
                id,
                display_name,
                role,
                enabled,
                updated_at_ms,
            })
        })
        .collect::<Result<Vec<_>, CentralError>>()?;
    Ok(TellersList { version, tellers })
}

impl Store {
    /// Creates a teller account (enabled). `Invalid` for a malformed id or name, or an id
    /// already held (accounts are never replaced: disable and create another).
    pub async fn add_teller(
        &self,
        id: &str,
        role: Role,
        display_name: &str,
    ) -> Result<(), CentralError> {
        check_teller_id(id)?;
        check_display_name(display_name)?;
        let (id, name, now) = (id.to_owned(), display_name.to_owned(), crate::now_ms());
        let insert = "INSERT INTO tellers (id, display_name, role, enabled, updated_at_ms)
                      VALUES (?1, ?2, ?3, TRUE, ?4) ON CONFLICT(id) DO NOTHING";
        let n = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let n = tx.execute(insert, rusqlite::params![id, name, role.as_str(), now])?;
                    if n > 0 {
                        bump_sqlite(&tx)?;
                    }
                    tx.commit()?;
                    Ok((n as u64, id))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let n = tx
                    .execute(&pg(insert), &[&id, &name, &role.as_str(), &now])
                    .await?;
                if n > 0 {
                    bump_pg(&tx).await?;
                }
                tx.commit().await?;
                (n, id)
            }
        };
        match n {
            (0, id) => Err(invalid(format!("teller {id} already exists"))),
            _ => Ok(()),
        }
    }

    /// Enables or disables a teller. `Ok(true)` when it changed, `Ok(false)` when it already
    /// was so (nothing written); `Invalid` for an unknown teller.
    pub async fn set_teller_enabled(&self, id: &str, enabled: bool) -> Result<bool, CentralError> {
        let (id, now) = (id.to_owned(), crate::now_ms());
        let update = "UPDATE tellers SET enabled = ?1, updated_at_ms = ?2
                      WHERE id = ?3 AND enabled <> ?1";
        let exists = "SELECT COUNT(*) FROM tellers WHERE id = ?1";
        let (n, found, id) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let n = tx.execute(update, rusqlite::params![enabled, now, id])?;
                    let found: i64 = tx.query_row(exists, [&id], |r| r.get(0))?;
                    if n > 0 {
                        bump_sqlite(&tx)?;
                    }
                    tx.commit()?;
                    Ok((n as u64, found > 0, id))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let n = tx.execute(&pg(update), &[&enabled, &now, &id]).await?;
                let found: i64 = tx.query_one(&pg(exists), &[&id]).await?.get(0);
                if n > 0 {
                    bump_pg(&tx).await?;
                }
                tx.commit().await?;
                (n, found > 0, id)
            }
        };
        outcome(n, found, "teller", &id)
    }

    /// Revokes a teller's credential (kiosks stop offering it after their next sync).
    /// `Ok(true)` when revoked now, `Ok(false)` when it already was (the first revocation is
    /// kept); `Invalid` for an unknown credential.
    pub async fn revoke_teller_credential(
        &self,
        credential_id: &str,
    ) -> Result<bool, CentralError> {
        let (id, now) = (credential_id.to_owned(), crate::now_ms());
        let exists = "SELECT COUNT(*) FROM teller_credentials WHERE credential_id = ?1";
        let (n, found, id) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let n = tx.execute(REVOKE_SQLITE, rusqlite::params![now, id])?;
                    let found: i64 = tx.query_row(exists, [&id], |r| r.get(0))?;
                    if n > 0 {
                        bump_sqlite(&tx)?;
                    }
                    tx.commit()?;
                    Ok((n as u64, found > 0, id))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let n = tx.execute(&pg(REVOKE_SQLITE), &[&now, &id]).await?;
                let found: i64 = tx.query_one(&pg(exists), &[&id]).await?.get(0);
                if n > 0 {
                    bump_pg(&tx).await?;
                }
                tx.commit().await?;
                (n, found > 0, id)
            }
        };
        outcome(n, found, "teller credential", &id)
    }

    /// Every teller account with its credentials (revoked ones included), and the list's
    /// version, read in one transaction. Credentials of teller ids without an account are
    /// not listed.
    pub async fn tellers_list(&self) -> Result<TellersList, CentralError> {
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let version: i64 = tx.query_row(VERSION_SQL, [], |r| r.get(0))?;
                    let tellers = tx
                        .prepare(TELLERS_SQL)?
                        .query_map([], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    let creds = tx
                        .prepare(CREDENTIALS_SQL)?
                        .query_map([], |r| {
                            Ok(TellerCredential {
                                credential_id: r.get(0)?,
                                teller_id: r.get(1)?,
                                credential: r.get(2)?,
                                sign_count: r.get(3)?,
                                registered_by: r.get(4)?,
                                registered_at_ms: r.get(5)?,
                                kiosk_id: r.get(6)?,
                                revoked_at_ms: r.get(7)?,
                            })
                        })?
                        .collect::<Result<Vec<_>, _>>()?;
                    tx.commit()?;
                    assemble(version, tellers, creds)
                })
                .await
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let version: i64 = tx.query_one(VERSION_SQL, &[]).await?.get(0);
                let tellers = tx
                    .query(TELLERS_SQL, &[])
                    .await?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                    .collect();
                let creds = tx
                    .query(CREDENTIALS_SQL, &[])
                    .await?
                    .into_iter()
                    .map(|r| TellerCredential {
                        credential_id: r.get(0),
                        teller_id: r.get(1),
                        credential: r.get(2),
                        sign_count: r.get(3),
                        registered_by: r.get(4),
                        registered_at_ms: r.get(5),
                        kiosk_id: r.get(6),
                        revoked_at_ms: r.get(7),
                    })
                    .collect();
                tx.commit().await?;
                assemble(version, tellers, creds)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_are_read_or_given_a_reason() {
        let reg = r#"{"teller_id":"t-1","credential_id":"Y3JlZC1h","registered_by":null,
                      "sign_count":3,"at_ms":5,"credential":{"id":"x"},"audit":{"seq":1}}"#;
        match extract(KEY_REGISTERED, reg) {
            Some(Ok(TellerEvent::Credential {
                registration: true,
                sign_count: 3,
                registered_by: None,
                credential,
                ..
            })) => assert_eq!(credential, r#"{"id":"x"}"#),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            extract(SIGNED_IN, reg),
            Some(Ok(TellerEvent::Credential {
                registration: false,
                ..
            }))
        ));
        assert_eq!(
            extract(KEY_REVOKED, r#"{"credential_id":"Y3JlZC1h","at_ms":9}"#),
            Some(Ok(TellerEvent::Revoked {
                credential_id: "Y3JlZC1h".into(),
                at_ms: 9
            }))
        );
        assert_eq!(extract("test.event", "{}"), None);
        for (payload, reason) in [
            ("[1]", "not_an_object"),
            ("{", "not_json"),
            (r#"{"credential_id":"a/b","at_ms":1}"#, "bad_credential_id"),
            (r#"{"credential_id":"ab","at_ms":-1}"#, "bad_at_ms"),
            (r#"{"credential_id":"ab","at_ms":1}"#, "bad_teller_id"),
            (
                r#"{"credential_id":"ab","at_ms":1,"teller_id":"t","sign_count":4294967296}"#,
                "bad_sign_count",
            ),
            (
                r#"{"credential_id":"ab","at_ms":1,"teller_id":"t","sign_count":1,"credential":[]}"#,
                "bad_credential",
            ),
        ] {
            assert_eq!(extract(SIGNED_IN, payload), Some(Err(reason)), "{payload}");
        }
    }

    #[test]
    fn names_and_ids_follow_the_ledger_rules() {
        assert!(check_display_name("山田 花子").is_ok());
        for bad in ["", " a", "a ", "a\nb"] {
            assert!(check_display_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_display_name(&"名".repeat(101)).is_err());
        assert!(check_teller_id("t-001").is_ok());
        assert!(check_teller_id("t 1").is_err());
        assert!(check_credential_id("Y3JlZC1h").is_ok());
        assert!(check_credential_id("Y3J=").is_err());
        let t = Teller {
            id: "t-1".into(),
            display_name: "NAME-MARKER".into(),
            role: Role::Teller,
            enabled: true,
            updated_at_ms: 1,
            credentials: vec![],
        };
        assert!(!format!("{t:?}").contains("NAME-MARKER"));
    }
}
