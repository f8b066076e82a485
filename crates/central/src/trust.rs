//! The trust data the backend publishes, in the shared formats of [`madoguchi_wire`]: the
//! list signing key, the kiosks' registered keys, the face-credential trust list, the
//! revocation list and the template keys wrapped for each kiosk.
//!
//! Keys (table `keys`, one row per key id, `purpose` = `list`, `template` or `issuer`):
//! - The list signing key ([`madoguchi_wire::ListSigningKey`], purpose `list`): one per
//!   backend, made on the first open of the store, its secret sealed under the
//!   [`crate::master_key::MasterKey`] (associated data: purpose and key id). Kiosks pin its
//!   public half (`GET /v1/list-key`, or `madoguchi-central list-key` when provisioning).
//! - Template keys (purpose `template`): AES-256 keys that encrypt the templates inside face
//!   credentials, ids of 4 random bytes in lowercase hex, secrets sealed. `rotate-keys` makes
//!   a new active one and retires the previous one. A retired key is served while a recorded
//!   credential under it has not expired ([`crate::credentials`]); one with no recorded
//!   credential at all is not served. Whether a key is on the published list is kept in
//!   `keys.served`, brought up to date (and the `template_keys` version bumped when it
//!   changed) by every rotation and every `GET /v1/template-keys`, so a kiosk sees a new
//!   version whenever the list's content changes, expiry included.
//! - Issuer keys (purpose `issuer`): the kiosks' own Ed25519 face-credential keys, public
//!   halves only, each with its `kiosk_id`. A kiosk registers its keys with
//!   `PUT /v1/kiosk-keys` ([`madoguchi_wire::KioskKeys`], tied to the authenticated kiosk):
//!   its wrap public key is stored in `kiosk_keys`, its issuer key becomes active on the
//!   trust list and retires that kiosk's previous active issuer key. Registering the same
//!   keys again changes nothing; an issuer key id held by another kiosk (or another key), or
//!   registered before with another public key, or retired or revoked, is a conflict (409).
//!   `revoke --issuer-kid` revokes one. Issuer keys made by backends before schema version 4
//!   (no kiosk ever held their private halves) are kept with their secrets wiped, retired,
//!   and are not listed.
//!
//! Lists: `GET /v1/trust-list` (every kiosk issuer key: active, retired, revoked),
//! `GET /v1/revocations` (revoked credential ids and times; the reasons stay here) and
//! `GET /v1/template-keys` (the served template keys, active first, wrapped with
//! [`madoguchi_wire::wrap()`] for the requesting kiosk's registered wrap key) answer a
//! [`madoguchi_wire::SignedList`] signed by the list key; the version is the resource's
//! `resource_versions` counter and `issued_at_ms` the time of the request. Every change bumps
//! its counter in the change's transaction (`trust_list`, `revocations`, `template_keys`;
//! a kiosk's new wrap key bumps `template_keys`).
//!
//! What it does NOT do: hold any kiosk's private key, check that a kiosk possesses the
//! private halves it registers (its token authenticates it), serve a template key in clear,
//! print or log a secret, or delete keys (they are retired or revoked).

use madoguchi_wire::{
    Issuer, IssuerStatus, KioskKeys, ListBody, ListPublicKey, ListSigningKey, RevocationList,
    RevokedCredential, SignedList, TemplateKeyList, TemplateKeyStatus, TrustList,
    WrappedTemplateKey,
};
use rusqlite::OptionalExtension as _;
use zeroize::Zeroizing;

use crate::master_key::{MasterKey, SEALED_PREFIX};
use crate::store::{Db, Store, pg};
use crate::{CentralError, random_bytes};

/// `keys.purpose` of kiosk issuer keys.
pub const PURPOSE_ISSUER: &str = "issuer";
/// `keys.purpose` of template keys.
pub const PURPOSE_TEMPLATE: &str = "template";
/// `keys.purpose` of the list signing key.
pub const PURPOSE_LIST: &str = "list";

/// The `resource_versions` entry of the trust list.
pub const TRUST_LIST: &str = "trust_list";
/// The `resource_versions` entry of the revocation list.
pub const REVOCATIONS: &str = "revocations";
/// The `resource_versions` entry of the template key list.
pub const TEMPLATE_KEYS: &str = "template_keys";

/// Bytes of a template key id (as faceqr's `TEMPLATE_KID_LEN`).
pub const TEMPLATE_KID_LEN: usize = 4;

/// Longest revocation reason, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A revoked face credential, with the operator's reason (not published).
#[derive(Debug, Clone, serde::Serialize)]
pub struct Revocation {
    /// The credential id (hex).
    pub credential_id: String,
    /// Why (operator text, no personal data).
    pub reason: String,
    /// When.
    pub revoked_at_ms: i64,
}

/// A template key without its secret (for `stats` and audits).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateKeyInfo {
    /// Key id (hex).
    pub kid: String,
    /// `active` or `retired`.
    pub status: String,
    /// Made.
    pub created_at_ms: i64,
    /// Status last changed.
    pub since_ms: i64,
    /// On the list last published.
    pub served: bool,
}

/// What a kiosk key registration did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Registered {
    /// The trust list version after it.
    pub trust_list_version: u64,
    /// Whether anything changed (a new issuer key or wrap key).
    pub changed: bool,
}

fn conflict(code: &'static str, message: String) -> CentralError {
    CentralError::Conflict { code, message }
}

fn invalid(e: madoguchi_wire::WireError) -> CentralError {
    CentralError::Invalid(e.to_string())
}

/// A stored counter as a list version (never negative).
fn version_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn is_wire_id(kid: &str) -> bool {
    madoguchi_wire::parse_id("key", "kid", kid).is_ok()
}

const VERSION_SQL: &str = "SELECT COALESCE(MAX(version), 0) FROM resource_versions WHERE name = ?1";
const BUMP_SQL: &str = "INSERT INTO resource_versions (name, version) VALUES (?1, 1)
     ON CONFLICT (name) DO UPDATE SET version = resource_versions.version + 1";

// ---- schema version 4 -------------------------------------------------------------------

/// The columns step 4 adds to `keys`.
const V4_KEY_COLUMNS: [(&str, &str); 3] = [
    ("kiosk_id", "TEXT"),
    ("since_ms", "BIGINT"),
    ("served", "BOOLEAN NOT NULL DEFAULT FALSE"),
];

/// Step 4 after the columns: issuer keys made by older backends lose their private halves.
const V4_AFTER_COLUMNS_SQL: &str = "
CREATE INDEX IF NOT EXISTS keys_kiosk ON keys (kiosk_id);
UPDATE keys SET secret = '', status = CASE WHEN status = 'active' THEN 'retired' ELSE status END
    WHERE purpose = 'issuer' AND kiosk_id IS NULL;
UPDATE keys SET since_ms = created_at_ms WHERE since_ms IS NULL;
";

const TEMPLATE_SECRETS_SQL: &str =
    "SELECT kid, secret, status FROM keys WHERE purpose = 'template'";
const RESEAL_SQL: &str = "UPDATE keys SET secret = ?1, status = ?2 WHERE kid = ?3";

/// A template secret stored in clear by an older version (base64url of 32 bytes), sealed; its
/// status becomes `retired` when its id is not a wire key id (no credential can name it).
/// `None` when already sealed.
fn reseal_legacy(
    master: &MasterKey,
    kid: &str,
    secret: &str,
    status: &str,
) -> Result<Option<(String, String)>, CentralError> {
    use base64::Engine as _;
    if secret.starts_with(SEALED_PREFIX) {
        return Ok(None);
    }
    let plain = Zeroizing::new(
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(secret.as_bytes())
            .ok()
            .filter(|b| b.len() == 32)
            .ok_or_else(|| {
                CentralError::Invalid(format!(
                    "stored template key {kid} is neither sealed nor a 32-byte base64url key"
                ))
            })?,
    );
    let sealed = master.seal(PURPOSE_TEMPLATE, kid, &plain)?;
    let status = if is_wire_id(kid) { status } else { "retired" };
    Ok(Some((sealed, status.to_owned())))
}

/// Step 4's code on SQLite, in the upgrade's transaction.
pub(crate) fn upgrade_v4_sqlite(
    tx: &rusqlite::Transaction<'_>,
    master: &MasterKey,
) -> Result<(), CentralError> {
    for (col, ty) in V4_KEY_COLUMNS {
        let has: bool = tx.query_row(
            "SELECT COUNT(*) > 0 FROM pragma_table_info('keys') WHERE name = ?1",
            [col],
            |r| r.get(0),
        )?;
        if !has {
            tx.execute_batch(&format!("ALTER TABLE keys ADD COLUMN {col} {ty}"))?;
        }
    }
    tx.execute_batch(V4_AFTER_COLUMNS_SQL)?;
    let rows: Vec<(String, String, String)> = tx
        .prepare(TEMPLATE_SECRETS_SQL)?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<Result<_, _>>()?;
    for (kid, secret, status) in rows {
        let secret = Zeroizing::new(secret);
        if let Some((sealed, status)) = reseal_legacy(master, &kid, &secret, &status)? {
            tx.execute(RESEAL_SQL, rusqlite::params![sealed, status, kid])?;
        }
    }
    Ok(())
}

/// Step 4's code on PostgreSQL, in the upgrade's transaction.
pub(crate) async fn upgrade_v4_pg(
    tx: &tokio_postgres::Transaction<'_>,
    master: &MasterKey,
) -> Result<(), CentralError> {
    for (col, ty) in V4_KEY_COLUMNS {
        tx.batch_execute(&format!(
            "ALTER TABLE keys ADD COLUMN IF NOT EXISTS {col} {ty}"
        ))
        .await?;
    }
    tx.batch_execute(V4_AFTER_COLUMNS_SQL).await?;
    let rows = tx.query(TEMPLATE_SECRETS_SQL, &[]).await?;
    for r in rows {
        let (kid, status): (String, String) = (r.get(0), r.get(2));
        let secret = Zeroizing::new(r.get::<_, String>(1));
        if let Some((sealed, status)) = reseal_legacy(master, &kid, &secret, &status)? {
            tx.execute(&pg(RESEAL_SQL), &[&sealed, &status, &kid])
                .await?;
        }
    }
    Ok(())
}

// ---- the list signing key ---------------------------------------------------------------

const LIST_KEY_SQL: &str = "SELECT kid, public_key, secret FROM keys WHERE purpose = 'list'";
const INSERT_LIST_KEY_SQL: &str = "INSERT INTO keys (kid, purpose, public_key, secret, status,
       created_at_ms, since_ms)
     VALUES (?1, 'list', ?2, ?3, 'active', ?4, ?4) ON CONFLICT DO NOTHING";

/// A new list key, sealed: `(kid, public key, sealed secret)`.
fn new_list_key(master: &MasterKey) -> Result<(String, String, String), CentralError> {
    let key = ListSigningKey::generate()?;
    let kid = key.public().key_id();
    let sealed = master.seal(PURPOSE_LIST, &kid, key.secret().as_slice())?;
    tracing::info!(key_id = %kid, "list signing key made");
    Ok((kid, key.public().to_base64(), sealed))
}

/// Opens the stored list key and checks it is the key its row names.
fn open_list_key(
    master: &MasterKey,
    row: Option<(String, String, String)>,
) -> Result<ListSigningKey, CentralError> {
    let (kid, public, sealed) = row
        .ok_or_else(|| CentralError::Invalid("the list signing key could not be stored".into()))?;
    let secret = master.open_32(PURPOSE_LIST, &kid, &sealed)?;
    let key = ListSigningKey::from_secret(&secret);
    if key.public().key_id() != kid || key.public().to_base64() != public {
        return Err(CentralError::Unseal {
            purpose: PURPOSE_LIST.into(),
            kid,
            master_key_id: master.id(),
        });
    }
    Ok(key)
}

/// The list key on SQLite (made when there is none), in the open's transaction.
pub(crate) fn list_key_sqlite(
    tx: &rusqlite::Transaction<'_>,
    master: &MasterKey,
) -> Result<ListSigningKey, CentralError> {
    let read = |tx: &rusqlite::Transaction<'_>| {
        tx.query_row(LIST_KEY_SQL, [], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
    };
    let mut row = read(tx)?;
    if row.is_none() {
        let (kid, public, sealed) = new_list_key(master)?;
        tx.execute(
            INSERT_LIST_KEY_SQL,
            rusqlite::params![kid, public, sealed, crate::now_ms()],
        )?;
        row = read(tx)?;
    }
    open_list_key(master, row)
}

/// [`list_key_sqlite`] on PostgreSQL.
pub(crate) async fn list_key_pg(
    tx: &tokio_postgres::Transaction<'_>,
    master: &MasterKey,
) -> Result<ListSigningKey, CentralError> {
    let read = async |tx: &tokio_postgres::Transaction<'_>| {
        tx.query_opt(LIST_KEY_SQL, &[])
            .await
            .map(|r| r.map(|r| (r.get(0), r.get(1), r.get(2))))
    };
    let mut row = read(tx).await?;
    if row.is_none() {
        let (kid, public, sealed) = new_list_key(master)?;
        tx.execute(
            &pg(INSERT_LIST_KEY_SQL),
            &[&kid, &public, &sealed, &crate::now_ms()],
        )
        .await?;
        row = read(tx).await?;
    }
    open_list_key(master, row)
}

// ---- kiosk keys ---------------------------------------------------------------------------

/// Checks a registration beyond its encodings ([`KioskKeys::validate`]): the issuer key is not
/// a weak (small-order) Ed25519 key, and the wrap key is an X25519 key template keys can be
/// wrapped for (not of small order). The message names fields, never values.
pub fn check_kiosk_keys(keys: &KioskKeys) -> Result<(), String> {
    keys.validate().map_err(|e| e.to_string())?;
    let issuer = keys
        .issuer(String::new(), 0)
        .verifying_key()
        .map_err(|e| e.to_string())?;
    if issuer.is_weak() {
        return Err("`issuer_public_key` is a weak (small-order) Ed25519 key".into());
    }
    madoguchi_wire::wrap(
        &keys.wrap_public_key,
        "probe",
        "00",
        TemplateKeyStatus::Active,
        &[0; 32],
    )
    .map_err(|_| "`wrap_public_key` is not a usable X25519 public key (small order)".to_owned())?;
    Ok(())
}

const KEY_ROW_SQL: &str = "SELECT purpose, kiosk_id, public_key, status FROM keys WHERE kid = ?1";
const RETIRE_ISSUERS_SQL: &str = "UPDATE keys SET status = 'retired', since_ms = ?2
     WHERE purpose = 'issuer' AND kiosk_id = ?1 AND status = 'active'";
const INSERT_ISSUER_SQL: &str = "INSERT INTO keys (kid, purpose, public_key, secret, status,
       created_at_ms, kiosk_id, since_ms)
     VALUES (?1, 'issuer', ?2, '', 'active', ?3, ?4, ?3) ON CONFLICT DO NOTHING";
const WRAP_KEY_SQL: &str = "SELECT wrap_public_key FROM kiosk_keys WHERE kiosk_id = ?1";
const UPSERT_WRAP_SQL: &str = "INSERT INTO kiosk_keys (kiosk_id, wrap_public_key, updated_at_ms)
     VALUES (?1, ?2, ?3) ON CONFLICT (kiosk_id) DO UPDATE
       SET wrap_public_key = excluded.wrap_public_key, updated_at_ms = excluded.updated_at_ms";

type KeyRow = (String, Option<String>, String, String);

fn taken(kid: &str) -> CentralError {
    conflict(
        "issuer_kid_taken",
        format!("issuer key id {kid} is already in use by another kiosk or key"),
    )
}

/// Whether a registration brings a new issuer key (`Ok(true)`), re-sends the kiosk's active
/// one (`Ok(false)`), or conflicts with the key row already holding its id.
fn judge(kiosk: &str, keys: &KioskKeys, row: Option<KeyRow>) -> Result<bool, CentralError> {
    let kid = &keys.issuer_kid;
    let Some((purpose, owner, public, status)) = row else {
        return Ok(true);
    };
    if purpose != PURPOSE_ISSUER || owner.as_deref() != Some(kiosk) {
        return Err(taken(kid));
    }
    if public != keys.issuer_public_key {
        return Err(conflict(
            "issuer_kid_mismatch",
            format!("issuer key id {kid} is registered with another public key"),
        ));
    }
    match status.as_str() {
        "active" => Ok(false),
        "retired" => Err(conflict(
            "issuer_key_retired",
            format!("issuer key {kid} was retired by a newer key of this kiosk"),
        )),
        _ => Err(conflict(
            "issuer_key_revoked",
            format!("issuer key {kid} is revoked"),
        )),
    }
}

// ---- lists -------------------------------------------------------------------------------

const ISSUERS_SQL: &str = "SELECT kid, public_key, status, kiosk_id,
       COALESCE(since_ms, created_at_ms)
     FROM keys WHERE purpose = 'issuer' AND kiosk_id IS NOT NULL ORDER BY created_at_ms, kid";
const REVOKED_SQL: &str =
    "SELECT credential_id, revoked_at_ms FROM revocations ORDER BY revoked_at_ms, credential_id";

/// Marks the template keys the list serves now: the active one, and each retired one under
/// which a recorded credential has not expired at `?1`. Changes only rows that differ: its
/// row count says whether the served list changed.
const RECONCILE_SQL: &str = "UPDATE keys SET served = NOT served
     WHERE purpose = 'template'
       AND served <> (status = 'active' OR EXISTS (SELECT 1 FROM face_credentials f
                                                   WHERE f.template_kid = keys.kid
                                                     AND f.expires_at_ms > ?1))";
const SERVED_SQL: &str =
    "SELECT kid, secret, status FROM keys WHERE purpose = 'template' AND served
     ORDER BY CASE WHEN status = 'active' THEN 0 ELSE 1 END, created_at_ms DESC, kid";

type IssuerRow = (String, String, String, String, i64);

fn issuer_status(s: &str) -> Option<IssuerStatus> {
    match s {
        "active" => Some(IssuerStatus::Active),
        "retired" => Some(IssuerStatus::Retired),
        "revoked" => Some(IssuerStatus::Revoked),
        _ => None,
    }
}

fn assemble_trust(version: i64, rows: Vec<IssuerRow>, now_ms: i64) -> TrustList {
    let issuers = rows
        .into_iter()
        .filter_map(|(kid, public_key, status, kiosk_id, since_ms)| {
            let Some(status) = issuer_status(&status) else {
                tracing::warn!(kid = %kid, "issuer key with an unknown status left off the trust list");
                return None;
            };
            let issuer = Issuer {
                kid,
                public_key,
                status,
                kiosk_id,
                since_ms,
            };
            if issuer.kid_bytes().is_err() || issuer.verifying_key().is_err() {
                tracing::warn!(kid = %issuer.kid, "malformed issuer key left off the trust list");
                return None;
            }
            Some(issuer)
        })
        .collect();
    TrustList {
        version: version_u64(version),
        issued_at_ms: now_ms,
        issuers,
    }
}

fn assemble_revocations(version: i64, rows: Vec<(String, i64)>, now_ms: i64) -> RevocationList {
    let credentials = rows
        .into_iter()
        .filter(|(id, _)| {
            // Only revocations stored before ids were checked can fail this.
            let ok = is_wire_id(id);
            if !ok {
                tracing::warn!("a revocation with a malformed credential id left off the list");
            }
            ok
        })
        .map(|(credential_id, revoked_at_ms)| RevokedCredential {
            credential_id,
            revoked_at_ms,
        })
        .collect();
    RevocationList {
        version: version_u64(version),
        issued_at_ms: now_ms,
        credentials,
    }
}

/// What the template key list is made of, as read: the kiosk's wrap key, the version and the
/// served keys `(kid, sealed secret, status)`.
type TemplateRows = (String, i64, Vec<(String, String, String)>);

fn assemble_template_keys(
    master: &MasterKey,
    kiosk_id: &str,
    (wrap_public_key, version, rows): TemplateRows,
    now_ms: i64,
) -> Result<TemplateKeyList, CentralError> {
    let mut keys: Vec<WrappedTemplateKey> = Vec::with_capacity(rows.len());
    for (kid, sealed, status) in rows {
        let status = if status == "active" {
            TemplateKeyStatus::Active
        } else {
            TemplateKeyStatus::Retired
        };
        let secret = master.open_32(PURPOSE_TEMPLATE, &kid, &sealed)?;
        keys.push(madoguchi_wire::wrap(
            &wrap_public_key,
            kiosk_id,
            &kid,
            status,
            &secret,
        )?);
    }
    Ok(TemplateKeyList {
        version: version_u64(version),
        issued_at_ms: now_ms,
        kiosk_id: kiosk_id.to_owned(),
        keys,
    })
}

// ---- template keys -----------------------------------------------------------------------

const RETIRE_TEMPLATE_SQL: &str = "UPDATE keys SET status = 'retired', since_ms = ?1
     WHERE purpose = 'template' AND status = 'active'";
const INSERT_TEMPLATE_SQL: &str = "INSERT INTO keys (kid, purpose, public_key, secret, status,
       created_at_ms, since_ms, served)
     VALUES (?1, 'template', '', ?2, 'active', ?3, ?3, TRUE) ON CONFLICT DO NOTHING";
const KID_EXISTS_SQL: &str = "SELECT COUNT(*) FROM keys WHERE kid = ?1";

/// A new template key: its id and its sealed secret.
fn new_template_key(master: &MasterKey) -> Result<(String, String), CentralError> {
    let kid = hex::encode(random_bytes::<TEMPLATE_KID_LEN>()?);
    let secret = Zeroizing::new(random_bytes::<32>()?);
    let sealed = master.seal(PURPOSE_TEMPLATE, &kid, secret.as_slice())?;
    Ok((kid, sealed))
}

// ---- revocation --------------------------------------------------------------------------

const REVOKE_SQL: &str = "INSERT INTO revocations (credential_id, reason, revoked_at_ms)
     VALUES (?1, ?2, ?3) ON CONFLICT (credential_id) DO NOTHING";
const ISSUER_STATUS_SQL: &str = "SELECT status FROM keys WHERE kid = ?1 AND purpose = 'issuer'";
const REVOKE_ISSUER_SQL: &str = "UPDATE keys SET status = 'revoked', since_ms = ?2
     WHERE kid = ?1 AND purpose = 'issuer' AND status <> 'revoked'";

fn check_reason(reason: &str) -> Result<(), CentralError> {
    if reason.chars().count() > MAX_REASON_CHARS || reason.chars().any(char::is_control) {
        return Err(CentralError::Invalid(format!(
            "a revocation reason has at most {MAX_REASON_CHARS} characters and no control characters"
        )));
    }
    Ok(())
}

/// The outcome of revoking an issuer key that may not exist.
fn issuer_outcome(found: Option<String>, changed: bool, kid: &str) -> Result<bool, CentralError> {
    match found {
        None => Err(CentralError::Invalid(format!("no issuer key {kid}"))),
        Some(_) => Ok(changed),
    }
}

impl Store {
    /// The public half of the list signing key (what kiosks pin).
    pub fn list_public_key(&self) -> ListPublicKey {
        self.keys.list.public()
    }

    /// Signs a list body with the list key.
    pub fn sign<T: ListBody>(&self, body: &T) -> Result<SignedList, CentralError> {
        Ok(SignedList::sign(&self.keys.list, body)?)
    }

    /// The trust list as of now (one read transaction: version and keys agree).
    pub async fn trust_list(&self, now_ms: i64) -> Result<TrustList, CentralError> {
        let (version, rows) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let version: i64 = tx.query_row(VERSION_SQL, [TRUST_LIST], |r| r.get(0))?;
                    let rows: Vec<IssuerRow> = tx
                        .prepare(ISSUERS_SQL)?
                        .query_map([], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                        })?
                        .collect::<Result<_, _>>()?;
                    tx.commit()?;
                    Ok((version, rows))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let version: i64 = tx.query_one(&pg(VERSION_SQL), &[&TRUST_LIST]).await?.get(0);
                let rows: Vec<IssuerRow> = tx
                    .query(ISSUERS_SQL, &[])
                    .await?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4)))
                    .collect();
                tx.commit().await?;
                (version, rows)
            }
        };
        Ok(assemble_trust(version, rows, now_ms))
    }

    /// The revocation list as of now (one read transaction).
    pub async fn revocation_list(&self, now_ms: i64) -> Result<RevocationList, CentralError> {
        let (version, rows) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx = c.transaction()?;
                    let version: i64 = tx.query_row(VERSION_SQL, [REVOCATIONS], |r| r.get(0))?;
                    let rows: Vec<(String, i64)> = tx
                        .prepare(REVOKED_SQL)?
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<Result<_, _>>()?;
                    tx.commit()?;
                    Ok((version, rows))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client
                    .build_transaction()
                    .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                    .read_only(true)
                    .start()
                    .await?;
                let version: i64 = tx
                    .query_one(&pg(VERSION_SQL), &[&REVOCATIONS])
                    .await?
                    .get(0);
                let rows = tx
                    .query(REVOKED_SQL, &[])
                    .await?
                    .into_iter()
                    .map(|r| (r.get(0), r.get(1)))
                    .collect();
                tx.commit().await?;
                (version, rows)
            }
        };
        Ok(assemble_revocations(version, rows, now_ms))
    }

    /// The template keys served at `now_ms`, wrapped for `kiosk_id`'s registered wrap key;
    /// `None` when that kiosk registered none. Brings the served set up to date first (a
    /// retired key whose last credential expired goes, one a newly reported credential needs
    /// comes back), bumping the version when it changed.
    pub async fn template_key_list(
        &self,
        kiosk_id: &str,
        now_ms: i64,
    ) -> Result<Option<TemplateKeyList>, CentralError> {
        let kiosk = kiosk_id.to_owned();
        let read: Option<TemplateRows> = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let wrap: Option<String> = tx
                        .query_row(WRAP_KEY_SQL, [&kiosk], |r| r.get(0))
                        .optional()?;
                    let Some(wrap) = wrap else {
                        return Ok(None);
                    };
                    if tx.execute(RECONCILE_SQL, [now_ms])? > 0 {
                        tx.execute(BUMP_SQL, [TEMPLATE_KEYS])?;
                    }
                    let version: i64 = tx.query_row(VERSION_SQL, [TEMPLATE_KEYS], |r| r.get(0))?;
                    let rows = tx
                        .prepare(SERVED_SQL)?
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<Result<_, _>>()?;
                    tx.commit()?;
                    Ok(Some((wrap, version, rows)))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                match tx.query_opt(&pg(WRAP_KEY_SQL), &[&kiosk]).await? {
                    None => None,
                    Some(w) => {
                        if tx.execute(&pg(RECONCILE_SQL), &[&now_ms]).await? > 0 {
                            tx.execute(&pg(BUMP_SQL), &[&TEMPLATE_KEYS]).await?;
                        }
                        let version: i64 = tx
                            .query_one(&pg(VERSION_SQL), &[&TEMPLATE_KEYS])
                            .await?
                            .get(0);
                        let rows = tx
                            .query(SERVED_SQL, &[])
                            .await?
                            .into_iter()
                            .map(|r| (r.get(0), r.get(1), r.get(2)))
                            .collect();
                        tx.commit().await?;
                        Some((w.get(0), version, rows))
                    }
                }
            }
        };
        read.map(|r| assemble_template_keys(&self.keys.master, kiosk_id, r, now_ms))
            .transpose()
    }

    /// Registers the authenticated kiosk's keys (see the module docs): `Conflict` when the
    /// issuer key id is held otherwise, `Invalid` when [`check_kiosk_keys`] refuses them.
    pub async fn register_kiosk_keys(
        &self,
        kiosk_id: &str,
        keys: &KioskKeys,
    ) -> Result<Registered, CentralError> {
        check_kiosk_keys(keys).map_err(CentralError::Invalid)?;
        let (kiosk, keys, now) = (kiosk_id.to_owned(), keys.clone(), crate::now_ms());
        let (version, changed) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let row: Option<KeyRow> = tx
                        .query_row(KEY_ROW_SQL, [&keys.issuer_kid], |r| {
                            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                        })
                        .optional()?;
                    let new_issuer = judge(&kiosk, &keys, row)?;
                    if new_issuer {
                        tx.execute(RETIRE_ISSUERS_SQL, rusqlite::params![kiosk, now])?;
                        let n = tx.execute(
                            INSERT_ISSUER_SQL,
                            rusqlite::params![keys.issuer_kid, keys.issuer_public_key, now, kiosk],
                        )?;
                        if n == 0 {
                            return Err(taken(&keys.issuer_kid));
                        }
                        tx.execute(BUMP_SQL, [TRUST_LIST])?;
                    }
                    let wrap: Option<String> = tx
                        .query_row(WRAP_KEY_SQL, [&kiosk], |r| r.get(0))
                        .optional()?;
                    let new_wrap = wrap.as_deref() != Some(keys.wrap_public_key.as_str());
                    if new_wrap {
                        tx.execute(
                            UPSERT_WRAP_SQL,
                            rusqlite::params![kiosk, keys.wrap_public_key, now],
                        )?;
                        tx.execute(BUMP_SQL, [TEMPLATE_KEYS])?;
                    }
                    let version: i64 = tx.query_row(VERSION_SQL, [TRUST_LIST], |r| r.get(0))?;
                    tx.commit()?;
                    Ok((version, new_issuer || new_wrap))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let row: Option<KeyRow> = tx
                    .query_opt(&pg(KEY_ROW_SQL), &[&keys.issuer_kid])
                    .await?
                    .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)));
                let new_issuer = judge(&kiosk, &keys, row)?;
                if new_issuer {
                    tx.execute(&pg(RETIRE_ISSUERS_SQL), &[&kiosk, &now]).await?;
                    let n = tx
                        .execute(
                            &pg(INSERT_ISSUER_SQL),
                            &[&keys.issuer_kid, &keys.issuer_public_key, &now, &kiosk],
                        )
                        .await?;
                    if n == 0 {
                        return Err(taken(&keys.issuer_kid));
                    }
                    tx.execute(&pg(BUMP_SQL), &[&TRUST_LIST]).await?;
                }
                let wrap: Option<String> = tx
                    .query_opt(&pg(WRAP_KEY_SQL), &[&kiosk])
                    .await?
                    .map(|r| r.get(0));
                let new_wrap = wrap.as_deref() != Some(keys.wrap_public_key.as_str());
                if new_wrap {
                    tx.execute(&pg(UPSERT_WRAP_SQL), &[&kiosk, &keys.wrap_public_key, &now])
                        .await?;
                    tx.execute(&pg(BUMP_SQL), &[&TEMPLATE_KEYS]).await?;
                }
                let version: i64 = tx.query_one(&pg(VERSION_SQL), &[&TRUST_LIST]).await?.get(0);
                tx.commit().await?;
                (version, new_issuer || new_wrap)
            }
        };
        if changed {
            tracing::info!(kiosk = %kiosk_id, "kiosk keys registered");
        }
        Ok(Registered {
            trust_list_version: version_u64(version),
            changed,
        })
    }

    /// The wrap public key a kiosk registered, if any.
    pub async fn kiosk_wrap_key(&self, kiosk_id: &str) -> Result<Option<String>, CentralError> {
        let kiosk = kiosk_id.to_owned();
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    Ok(c.query_row(WRAP_KEY_SQL, [&kiosk], |r| r.get(0))
                        .optional()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query_opt(&pg(WRAP_KEY_SQL), &[&kiosk])
                .await?
                .map(|r| r.get(0))),
        }
    }

    /// Makes a new active template key (AES-256, 4-byte id, sealed) and retires the active
    /// one (served on while credentials under it live). Returns the new key id.
    pub async fn rotate_template_key(&self) -> Result<String, CentralError> {
        // A 4-byte id may collide with a key id already held: draw again.
        for _ in 0..16 {
            let (kid, sealed) = new_template_key(&self.keys.master)?;
            let now = crate::now_ms();
            let made = match &self.db {
                Db::Sqlite(c) => {
                    let kid = kid.clone();
                    Store::sqlite(c, move |c| {
                        let tx =
                            c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                        let held: i64 = tx.query_row(KID_EXISTS_SQL, [&kid], |r| r.get(0))?;
                        if held > 0 {
                            return Ok(false);
                        }
                        tx.execute(RETIRE_TEMPLATE_SQL, [now])?;
                        tx.execute(INSERT_TEMPLATE_SQL, rusqlite::params![kid, sealed, now])?;
                        tx.execute(RECONCILE_SQL, [now])?;
                        tx.execute(BUMP_SQL, [TEMPLATE_KEYS])?;
                        tx.commit()?;
                        Ok(true)
                    })
                    .await?
                }
                Db::Postgres(c) => {
                    let mut client = c.lock().await;
                    let tx = client.transaction().await?;
                    let held: i64 = tx.query_one(&pg(KID_EXISTS_SQL), &[&kid]).await?.get(0);
                    if held > 0 {
                        false
                    } else {
                        tx.execute(&pg(RETIRE_TEMPLATE_SQL), &[&now]).await?;
                        let n = tx
                            .execute(&pg(INSERT_TEMPLATE_SQL), &[&kid, &sealed, &now])
                            .await?;
                        if n == 0 {
                            false
                        } else {
                            tx.execute(&pg(RECONCILE_SQL), &[&now]).await?;
                            tx.execute(&pg(BUMP_SQL), &[&TEMPLATE_KEYS]).await?;
                            tx.commit().await?;
                            true
                        }
                    }
                }
            };
            if made {
                tracing::info!(template_kid = %kid, "template key rotated");
                return Ok(kid);
            }
        }
        Err(CentralError::Invalid(
            "no free template key id found; try again".into(),
        ))
    }

    /// Every template key without its secret, newest first.
    pub async fn template_keys(&self) -> Result<Vec<TemplateKeyInfo>, CentralError> {
        Ok(self
            .rows(
                "SELECT kid, status, CAST(created_at_ms AS TEXT),
                   CAST(COALESCE(since_ms, created_at_ms) AS TEXT),
                   CASE WHEN served THEN '1' ELSE '0' END
                 FROM keys WHERE purpose = 'template' ORDER BY created_at_ms DESC, kid",
                5,
            )
            .await?
            .into_iter()
            .map(|r| TemplateKeyInfo {
                kid: r[0].clone(),
                status: r[1].clone(),
                created_at_ms: r[2].parse().unwrap_or(0),
                since_ms: r[3].parse().unwrap_or(0),
                served: r[4] == "1",
            })
            .collect())
    }

    /// Revokes a face credential (lowercase hex id). `Ok(true)` when revoked now, `Ok(false)`
    /// when it already was (the first revocation is kept, nothing written); `Invalid` for a
    /// malformed id or reason.
    pub async fn revoke(&self, credential_id: &str, reason: &str) -> Result<bool, CentralError> {
        madoguchi_wire::parse_id("revocation", "credential_id", credential_id).map_err(invalid)?;
        check_reason(reason)?;
        let (id, reason, now) = (credential_id.to_owned(), reason.to_owned(), crate::now_ms());
        let n = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let n = tx.execute(REVOKE_SQL, rusqlite::params![id, reason, now])?;
                    if n > 0 {
                        tx.execute(BUMP_SQL, [REVOCATIONS])?;
                    }
                    tx.commit()?;
                    Ok(n as u64)
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let n = tx.execute(&pg(REVOKE_SQL), &[&id, &reason, &now]).await?;
                if n > 0 {
                    tx.execute(&pg(BUMP_SQL), &[&REVOCATIONS]).await?;
                }
                tx.commit().await?;
                n
            }
        };
        Ok(n > 0)
    }

    /// Revokes a kiosk's issuer key: every credential it signed is rejected once kiosks have
    /// the new trust list. `Ok(true)` when revoked now, `Ok(false)` when it already was;
    /// `Invalid` for a malformed or unknown key id.
    pub async fn revoke_issuer(&self, kid: &str) -> Result<bool, CentralError> {
        madoguchi_wire::parse_id("issuer revocation", "issuer_kid", kid).map_err(invalid)?;
        let (id, now) = (kid.to_owned(), crate::now_ms());
        let (found, changed) = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let found: Option<String> = tx
                        .query_row(ISSUER_STATUS_SQL, [&id], |r| r.get(0))
                        .optional()?;
                    let n = tx.execute(REVOKE_ISSUER_SQL, rusqlite::params![id, now])?;
                    if n > 0 {
                        tx.execute(BUMP_SQL, [TRUST_LIST])?;
                    }
                    tx.commit()?;
                    Ok((found, n > 0))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let found: Option<String> = tx
                    .query_opt(&pg(ISSUER_STATUS_SQL), &[&id])
                    .await?
                    .map(|r| r.get(0));
                let n = tx.execute(&pg(REVOKE_ISSUER_SQL), &[&id, &now]).await?;
                if n > 0 {
                    tx.execute(&pg(BUMP_SQL), &[&TRUST_LIST]).await?;
                }
                tx.commit().await?;
                (found, n > 0)
            }
        };
        issuer_outcome(found, changed, kid)
    }

    /// Revoked credentials with their reasons, oldest first (admin, audits).
    pub async fn revocations(&self) -> Result<Vec<Revocation>, CentralError> {
        Ok(self
            .rows(
                "SELECT credential_id, reason, CAST(revoked_at_ms AS TEXT) FROM revocations
                 ORDER BY revoked_at_ms, credential_id",
                3,
            )
            .await?
            .into_iter()
            .map(|r| Revocation {
                credential_id: r[0].clone(),
                reason: r[1].clone(),
                revoked_at_ms: r[2].parse().unwrap_or(0),
            })
            .collect())
    }

    /// Number of kiosks with registered keys.
    pub async fn kiosk_keys_count(&self) -> Result<u64, CentralError> {
        Ok(self
            .rows("SELECT CAST(COUNT(*) AS TEXT) FROM kiosk_keys", 1)
            .await?
            .first()
            .and_then(|r| r.first())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use madoguchi_wire::KioskWrapKey;

    fn keys(kid: &str) -> KioskKeys {
        KioskKeys {
            wrap_public_key: KioskWrapKey::generate().public_base64(),
            issuer_kid: kid.into(),
            issuer_public_key: ListSigningKey::generate()
                .expect("key")
                .public()
                .to_base64(),
        }
    }

    #[test]
    fn registrations_refuse_weak_and_small_order_keys() {
        let good = keys("0102030405060708");
        check_kiosk_keys(&good).expect("good");
        let zero = "A".repeat(43);
        let mut weak = good.clone();
        // The identity point (y = 1): a valid encoding of a small-order point.
        let mut one = [0u8; 32];
        one[0] = 1;
        weak.issuer_public_key = {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(one)
        };
        let e = check_kiosk_keys(&weak).expect_err("weak");
        assert!(e.contains("issuer_public_key"), "{e}");
        let mut low = good.clone();
        low.wrap_public_key = zero;
        let e = check_kiosk_keys(&low).expect_err("small order");
        assert!(e.contains("wrap_public_key"), "{e}");
        let mut bad = good;
        bad.issuer_kid = "0A".into();
        assert!(check_kiosk_keys(&bad).is_err());
    }

    #[test]
    fn a_registration_is_judged_against_the_row_holding_its_id() {
        let k = keys("0102030405060708");
        let row = |purpose: &str, owner: Option<&str>, public: &str, status: &str| {
            Some((
                purpose.to_owned(),
                owner.map(str::to_owned),
                public.to_owned(),
                status.to_owned(),
            ))
        };
        let pk = k.issuer_public_key.as_str();
        assert!(judge("K-1", &k, None).expect("new"));
        assert!(!judge("K-1", &k, row("issuer", Some("K-1"), pk, "active")).expect("same"));
        let code = |r: Result<bool, CentralError>| match r {
            Err(CentralError::Conflict { code, .. }) => code,
            other => panic!("{other:?}"),
        };
        assert_eq!(
            code(judge("K-1", &k, row("issuer", Some("K-2"), pk, "active"))),
            "issuer_kid_taken"
        );
        assert_eq!(
            code(judge("K-1", &k, row("template", None, "", "active"))),
            "issuer_kid_taken"
        );
        assert_eq!(
            code(judge(
                "K-1",
                &k,
                row("issuer", Some("K-1"), "other", "active")
            )),
            "issuer_kid_mismatch"
        );
        assert_eq!(
            code(judge("K-1", &k, row("issuer", Some("K-1"), pk, "retired"))),
            "issuer_key_retired"
        );
        assert_eq!(
            code(judge("K-1", &k, row("issuer", Some("K-1"), pk, "revoked"))),
            "issuer_key_revoked"
        );
    }

    #[test]
    fn legacy_template_secrets_are_sealed_and_legacy_ids_retired() {
        use base64::Engine as _;
        let m = MasterKey::from_bytes([3; 32]);
        let clear = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode([9u8; 32]);
        let (sealed, status) = reseal_legacy(&m, "tpl-1-ab", &clear, "active")
            .expect("reseal")
            .expect("was clear");
        assert_eq!(status, "retired");
        assert_eq!(
            *m.open_32(PURPOSE_TEMPLATE, "tpl-1-ab", &sealed)
                .expect("open"),
            [9; 32]
        );
        assert!(
            reseal_legacy(&m, "tpl-1-ab", &sealed, "retired")
                .expect("ok")
                .is_none()
        );
        let (_, status) = reseal_legacy(&m, "0a0b0c0d", &clear, "active")
            .expect("reseal")
            .expect("was clear");
        assert_eq!(status, "active");
        assert!(reseal_legacy(&m, "0a0b0c0d", "short", "active").is_err());
    }
}
