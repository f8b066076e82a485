//! Re-binding a customer's passkey device (the GMO Aozora × Liquid scheme): after a face proof
//! at the bank counter, the kiosk asks the backend for a one-time binding code, shows it as a
//! QR, and the customer's new phone hands it to the bank's passkey registration service, which
//! redeems it here to learn whom the new passkey belongs to.
//!
//! Issue (`POST /v1/binding-codes`, kiosk token; [`Store::issue_binding_code`]): the kiosk
//! names its session and the proof the customer just gave ([`Proof`]):
//! - `credential`: a face credential the backend holds in `face_credentials` (reported by any
//!   kiosk with `face_credential.issued`), not revoked (`revocations`, or its issuer key
//!   revoked), not expired. The customer is the credential's `identity_session_id`.
//! - `identity`: a confirmation record (確認記録) the backend holds for that identity
//!   verification session, sent by the same kiosk, whose `outcome` is `verified`. The customer
//!   is that session id.
//!
//! The customer reference (`customer_ref`) is thus always the session id of the identity
//! verification the customer was known by. Refusals ([`Refusal`]): `unknown_proof`, `revoked`,
//! `expired_credential`, `not_verified`, and `too_many_codes` when [`MAX_LIVE_CODES`] codes
//! of that customer are live (issued, not redeemed, not expired). The code is 20 random bytes
//! from the operating system in RFC 4648 base32, upper case, no padding: [`CODE_CHARS`]
//! characters. It lives [`CODE_LIFETIME_MS`] (300 s) from its issue. The count and the insert
//! are one transaction (on PostgreSQL under an advisory lock per customer, so that two backend
//! processes cannot both pass the count).
//!
//! Redeem (`POST /v1/binding-codes/redeem`, service token; [`Store::redeem_binding_code`]): the
//! code is normalised (ASCII spaces and `-` dropped, upper case) and looked up by its SHA-256,
//! the only form stored. One `UPDATE … WHERE redeemed_at_ms IS NULL AND expires_at_ms > now`
//! marks it redeemed and returns its row: only the redeem that changed the row succeeds, so
//! two concurrent redeems cannot both succeed. Otherwise it is `already_redeemed`, `expired`,
//! or `unknown_code` (never issued here, or not a code at all). Both store methods take the
//! time (`now_ms`) as an argument: the server passes the clock, tests pass any time (e.g. a
//! code issued 301 s ago is expired).
//!
//! Services (`services`, `madoguchi-central service-add ID --token-file PATH`): the bank's
//! services that redeem codes, authenticated by bearer token stored as a SHA-256 like the
//! kiosks'. A token is a kiosk's or a service's, never both: a kiosk token cannot redeem
//! (403 `not_a_service`) and a service token is no kiosk token (401 at the kiosk endpoints).
//!
//! What it does NOT do: store, log or return in an error the code itself (only its digest is
//! kept; `madoguchi-central binding-codes` lists metadata), register the passkey (the bank's
//! service does), judge how recent the identity verification behind a proof is (the kiosk
//! asks right after its face proof), or delete old codes (they stay as a record of who issued
//! and who redeemed them).

use rusqlite::OptionalExtension as _;
use serde::Deserialize;
use sha2::Digest as _;
use zeroize::Zeroizing;

use crate::store::{Db, Store, pg};
use crate::{CentralError, random_bytes};

/// How long a binding code can be redeemed after its issue: 300 s.
pub const CODE_LIFETIME_MS: i64 = 300_000;
/// Most live (issued, unredeemed, unexpired) codes per customer.
pub const MAX_LIVE_CODES: i64 = 5;
/// Random bytes in a code.
pub const CODE_BYTES: usize = 20;
/// Characters of a code (base32 of [`CODE_BYTES`], no padding).
pub const CODE_CHARS: usize = 32;

/// RFC 4648 base32 alphabet.
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// The proof a kiosk gives for a binding code.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Proof {
    /// The customer's face credential, just verified at the kiosk.
    Credential {
        /// Its id (lowercase hex).
        credential_id: String,
    },
    /// The identity verification just completed at the kiosk.
    Identity {
        /// Its ledger session (the confirmation record's `session_id`).
        identity_session_id: String,
    },
}

impl Proof {
    /// `credential` or `identity` (as stored in `binding_codes.proof_kind`).
    pub fn kind(&self) -> &'static str {
        match self {
            Proof::Credential { .. } => "credential",
            Proof::Identity { .. } => "identity",
        }
    }

    /// Checks the ids' shapes; the message names the field, never its value.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Proof::Credential { credential_id } => {
                madoguchi_wire::parse_id("proof", "credential_id", credential_id)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
            Proof::Identity {
                identity_session_id,
            } => check_session_id("proof.identity_session_id", identity_session_id),
        }
    }
}

/// A session id: 1 to 128 characters of `A-Z a-z 0-9 - _ . : @` (as the confirmation records').
pub fn check_session_id(field: &str, s: &str) -> Result<(), String> {
    let ok = !s.is_empty()
        && s.len() <= 128
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "`{field}` must have 1 to 128 characters of A-Z a-z 0-9 - _ . : @"
        ))
    }
}

/// A newly issued code. `Debug` does not show the code.
pub struct IssuedCode {
    /// The code (shown once, as a QR, by the kiosk).
    pub code: Zeroizing<String>,
    /// When it stops being redeemable.
    pub expires_at_ms: i64,
    /// Whom it binds (see the module docs).
    pub customer_ref: String,
}

impl std::fmt::Debug for IssuedCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedCode")
            .field("code", &"<redacted>")
            .field("expires_at_ms", &self.expires_at_ms)
            .field("customer_ref", &self.customer_ref)
            .finish()
    }
}

/// What a successful redeem tells the service.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Redeemed {
    /// Whom the code binds.
    pub customer_ref: String,
    /// The kiosk that issued it.
    pub kiosk_id: String,
    /// That kiosk's session.
    pub session_id: String,
    /// `credential` or `identity`.
    pub proof_kind: String,
    /// When it was issued.
    pub issued_at_ms: i64,
}

/// A binding code's metadata (the code itself is not stored).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct BindingCodeInfo {
    /// SHA-256 of the code, hex.
    pub code_sha256: String,
    /// Whom it binds.
    pub customer_ref: String,
    /// The kiosk that issued it.
    pub kiosk_id: String,
    /// That kiosk's session.
    pub session_id: String,
    /// `credential` or `identity`.
    pub proof_kind: String,
    /// Issued.
    pub created_at_ms: i64,
    /// Expires.
    pub expires_at_ms: i64,
    /// Redeemed, if it was.
    pub redeemed_at_ms: Option<i64>,
    /// The service that redeemed it.
    pub redeemed_by: Option<String>,
}

impl BindingCodeInfo {
    /// `redeemed`, `expired` or `live` at `now_ms`.
    pub fn status(&self, now_ms: i64) -> &'static str {
        if self.redeemed_at_ms.is_some() {
            "redeemed"
        } else if self.expires_at_ms <= now_ms {
            "expired"
        } else {
            "live"
        }
    }
}

/// Why a code was not issued or not redeemed (each an HTTP status and a stable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// No such face credential, or no confirmation record of that session from this kiosk.
    UnknownProof,
    /// The credential, or its issuer key, is revoked.
    Revoked,
    /// The credential has expired.
    ExpiredCredential,
    /// The confirmation record's outcome is not `verified`.
    NotVerified,
    /// [`MAX_LIVE_CODES`] codes of this customer are live; the oldest expires in this many ms.
    TooManyCodes {
        /// Until the oldest live code expires.
        retry_after_ms: i64,
    },
    /// Not a code issued here (or not a code at all).
    UnknownCode,
    /// Redeemed before.
    AlreadyRedeemed,
    /// Past its lifetime.
    Expired,
}

impl Refusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            Refusal::UnknownProof => "unknown_proof",
            Refusal::Revoked => "revoked",
            Refusal::ExpiredCredential => "expired_credential",
            Refusal::NotVerified => "not_verified",
            Refusal::TooManyCodes { .. } => "too_many_codes",
            Refusal::UnknownCode => "unknown_code",
            Refusal::AlreadyRedeemed => "already_redeemed",
            Refusal::Expired => "expired",
        }
    }

    /// What is wrong, for the technician (no code, no value from the request).
    pub fn message(self) -> String {
        match self {
            Refusal::UnknownProof => "the proof is unknown to the backend: no face credential \
                with this id, or no confirmation record of this session from this kiosk"
                .into(),
            Refusal::Revoked => "the face credential, or its issuer key, is revoked".into(),
            Refusal::ExpiredCredential => "the face credential has expired".into(),
            Refusal::NotVerified => {
                "the identity verification of this session did not end verified".into()
            }
            Refusal::TooManyCodes { .. } => format!(
                "this customer already has {MAX_LIVE_CODES} live binding codes: redeem one or \
                 wait until one expires"
            ),
            Refusal::UnknownCode => "no such binding code was issued here".into(),
            Refusal::AlreadyRedeemed => "this binding code was already redeemed".into(),
            Refusal::Expired => format!(
                "this binding code has expired (codes live {} s)",
                CODE_LIFETIME_MS / 1000
            ),
        }
    }
}

/// RFC 4648 base32 of `bytes`, upper case, no padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity((bytes.len() * 8).div_ceil(5));
    let (mut buf, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buf = ((buf << 8) | u32::from(b)) & 0xfff;
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

/// A code as typed or scanned, normalised (ASCII spaces and `-` dropped, upper case); `None`
/// when it cannot be a code.
pub fn normalise(code: &str) -> Option<Zeroizing<String>> {
    if code.len() > 4 * CODE_CHARS {
        return None;
    }
    let s = Zeroizing::new(
        code.chars()
            .filter(|c| !c.is_ascii_whitespace() && *c != '-')
            .map(|c| c.to_ascii_uppercase())
            .collect::<String>(),
    );
    (s.len() == CODE_CHARS && s.bytes().all(|b| ALPHABET.contains(&b))).then_some(s)
}

/// SHA-256 of a normalised code, hex: the only form stored.
pub fn code_digest(code: &str) -> String {
    hex::encode(sha2::Sha256::digest(code.as_bytes()))
}

/// A fresh code and its digest.
fn new_code() -> Result<(Zeroizing<String>, String), CentralError> {
    let bytes = Zeroizing::new(random_bytes::<CODE_BYTES>()?);
    let code = Zeroizing::new(base32(bytes.as_slice()));
    let digest = code_digest(&code);
    Ok((code, digest))
}

fn check_service_id(id: &str) -> Result<(), CentralError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(CentralError::Invalid(
            "service id must have 1 to 64 characters of A-Z a-z 0-9 - _ . : @".into(),
        ))
    }
}

const CREDENTIAL_SQL: &str =
    "SELECT identity_session_id, expires_at_ms, issuer_kid FROM face_credentials
     WHERE credential_id = ?1";
const CREDENTIAL_REVOKED_SQL: &str = "SELECT
       EXISTS (SELECT 1 FROM revocations WHERE credential_id = ?1)
       OR EXISTS (SELECT 1 FROM keys WHERE kid = ?2 AND purpose = 'issuer' AND status = 'revoked')";
const RECORDS_SQL: &str =
    "SELECT payload FROM confirmation_records WHERE session_id = ?1 AND kiosk_id = ?2";
const LIVE_SQL: &str = "SELECT COUNT(*), COALESCE(MIN(expires_at_ms), 0) FROM binding_codes
     WHERE customer_ref = ?1 AND redeemed_at_ms IS NULL AND expires_at_ms > ?2";
const INSERT_SQL: &str = "INSERT INTO binding_codes (code_sha256, customer_ref, kiosk_id,
       session_id, proof_kind, created_at_ms, expires_at_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
/// Serialises issues per customer across backend processes (PostgreSQL; the first key is
/// this lock's namespace).
const LOCK_CUSTOMER_PG: &str = "SELECT pg_advisory_xact_lock(5, hashtext($1))";
const REDEEM_SQL: &str = "UPDATE binding_codes SET redeemed_at_ms = ?2, redeemed_by = ?3
     WHERE code_sha256 = ?1 AND redeemed_at_ms IS NULL AND expires_at_ms > ?2
     RETURNING customer_ref, kiosk_id, session_id, proof_kind, created_at_ms";
const REDEEMED_AT_SQL: &str = "SELECT redeemed_at_ms FROM binding_codes WHERE code_sha256 = ?1";
const LIST_SQL: &str = "SELECT code_sha256, customer_ref, kiosk_id, session_id, proof_kind,
       created_at_ms, expires_at_ms, redeemed_at_ms, redeemed_by
     FROM binding_codes ORDER BY created_at_ms DESC, code_sha256 LIMIT ?1";
const ADD_SERVICE_SQL: &str = "INSERT INTO services (service_id, token_sha256, created_at_ms)
     VALUES (?1, ?2, ?3)
     ON CONFLICT (service_id) DO UPDATE SET token_sha256 = excluded.token_sha256";
const TOKEN_IS_KIOSK_SQL: &str = "SELECT EXISTS (SELECT 1 FROM kiosks WHERE token_sha256 = ?1)";
const SERVICE_SQL: &str = "SELECT service_id FROM services WHERE token_sha256 = ?1";

/// The credential row a `credential` proof names: `(identity_session_id, expires_at_ms,
/// revoked)`.
type CredentialRow = (String, i64, bool);

/// The customer a proof names, or why it does not.
fn judge_credential(row: Option<CredentialRow>, now_ms: i64) -> Result<String, Refusal> {
    let (customer, expires_at_ms, revoked) = row.ok_or(Refusal::UnknownProof)?;
    if revoked {
        Err(Refusal::Revoked)
    } else if expires_at_ms <= now_ms {
        Err(Refusal::ExpiredCredential)
    } else {
        Ok(customer)
    }
}

/// Whether any of a session's confirmation records (documents as JSON text) ended verified.
fn judge_identity(session: &str, payloads: &[String]) -> Result<String, Refusal> {
    if payloads.is_empty() {
        return Err(Refusal::UnknownProof);
    }
    let verified = payloads.iter().any(|p| {
        serde_json::from_str::<serde_json::Value>(p)
            .ok()
            .is_some_and(|d| d.get("outcome").and_then(|o| o.as_str()) == Some("verified"))
    });
    if verified {
        Ok(session.to_owned())
    } else {
        Err(Refusal::NotVerified)
    }
}

/// Whether another code may be issued to a customer with `live` codes, the oldest expiring at
/// `oldest_expiry`.
fn judge_rate(live: i64, oldest_expiry: i64, now_ms: i64) -> Result<(), Refusal> {
    if live >= MAX_LIVE_CODES {
        Err(Refusal::TooManyCodes {
            retry_after_ms: (oldest_expiry - now_ms).max(1),
        })
    } else {
        Ok(())
    }
}

/// Why a redeem changed no row: the code's `redeemed_at_ms`, if it exists.
fn judge_unredeemable(row: Option<Option<i64>>) -> Refusal {
    match row {
        None => Refusal::UnknownCode,
        Some(Some(_)) => Refusal::AlreadyRedeemed,
        Some(None) => Refusal::Expired,
    }
}

fn log_refusal(what: &str, r: Refusal) {
    tracing::info!(refusal = r.code(), "binding code not {what}");
}

impl Store {
    /// Issues a binding code at `now_ms` for `kiosk_id`'s session `session_id` on `proof` (see
    /// the module docs); `Ok(Err(_))` is a [`Refusal`], `Err(Invalid)` a malformed id.
    pub async fn issue_binding_code(
        &self,
        kiosk_id: &str,
        session_id: &str,
        proof: &Proof,
        now_ms: i64,
    ) -> Result<Result<IssuedCode, Refusal>, CentralError> {
        check_session_id("session_id", session_id).map_err(CentralError::Invalid)?;
        proof.validate().map_err(CentralError::Invalid)?;
        let (code, digest) = new_code()?;
        let (kiosk, session, proof_owned) =
            (kiosk_id.to_owned(), session_id.to_owned(), proof.clone());
        let expires_at_ms = now_ms.saturating_add(CODE_LIFETIME_MS);
        let kind = proof.kind();
        let outcome: Result<String, Refusal> = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let customer = match &proof_owned {
                        Proof::Credential { credential_id } => {
                            let row: Option<(String, i64, String)> = tx
                                .query_row(CREDENTIAL_SQL, [credential_id], |r| {
                                    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                                })
                                .optional()?;
                            let row = match row {
                                Some((customer, expires, issuer)) => {
                                    let revoked: bool = tx.query_row(
                                        CREDENTIAL_REVOKED_SQL,
                                        [credential_id, &issuer],
                                        |r| r.get(0),
                                    )?;
                                    Some((customer, expires, revoked))
                                }
                                None => None,
                            };
                            judge_credential(row, now_ms)
                        }
                        Proof::Identity {
                            identity_session_id,
                        } => {
                            let payloads: Vec<String> = tx
                                .prepare(RECORDS_SQL)?
                                .query_map([identity_session_id, &kiosk], |r| r.get(0))?
                                .collect::<Result<_, _>>()?;
                            judge_identity(identity_session_id, &payloads)
                        }
                    };
                    let Ok(customer) = customer else {
                        return Ok(customer);
                    };
                    let (live, oldest): (i64, i64) =
                        tx.query_row(LIVE_SQL, rusqlite::params![customer, now_ms], |r| {
                            Ok((r.get(0)?, r.get(1)?))
                        })?;
                    if let Err(r) = judge_rate(live, oldest, now_ms) {
                        return Ok(Err(r));
                    }
                    tx.execute(
                        INSERT_SQL,
                        rusqlite::params![
                            digest,
                            customer,
                            kiosk,
                            session,
                            kind,
                            now_ms,
                            expires_at_ms
                        ],
                    )?;
                    tx.commit()?;
                    Ok(Ok(customer))
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let customer = match &proof_owned {
                    Proof::Credential { credential_id } => {
                        let row = match tx.query_opt(&pg(CREDENTIAL_SQL), &[credential_id]).await? {
                            Some(r) => {
                                let issuer: String = r.get(2);
                                let revoked: bool = tx
                                    .query_one(
                                        &pg(CREDENTIAL_REVOKED_SQL),
                                        &[credential_id, &issuer],
                                    )
                                    .await?
                                    .get(0);
                                Some((r.get(0), r.get(1), revoked))
                            }
                            None => None,
                        };
                        judge_credential(row, now_ms)
                    }
                    Proof::Identity {
                        identity_session_id,
                    } => {
                        let payloads: Vec<String> = tx
                            .query(&pg(RECORDS_SQL), &[identity_session_id, &kiosk])
                            .await?
                            .into_iter()
                            .map(|r| r.get(0))
                            .collect();
                        judge_identity(identity_session_id, &payloads)
                    }
                };
                match customer {
                    Err(r) => Err(r),
                    Ok(customer) => {
                        tx.execute(LOCK_CUSTOMER_PG, &[&customer]).await?;
                        let row = tx.query_one(&pg(LIVE_SQL), &[&customer, &now_ms]).await?;
                        match judge_rate(row.get(0), row.get(1), now_ms) {
                            Err(r) => Err(r),
                            Ok(()) => {
                                tx.execute(
                                    &pg(INSERT_SQL),
                                    &[
                                        &digest,
                                        &customer,
                                        &kiosk,
                                        &session,
                                        &kind,
                                        &now_ms,
                                        &expires_at_ms,
                                    ],
                                )
                                .await?;
                                tx.commit().await?;
                                Ok(customer)
                            }
                        }
                    }
                }
            }
        };
        Ok(match outcome {
            Ok(customer_ref) => {
                tracing::info!(kiosk = %kiosk_id, proof_kind = kind, "binding code issued");
                Ok(IssuedCode {
                    code,
                    expires_at_ms,
                    customer_ref,
                })
            }
            Err(r) => {
                log_refusal("issued", r);
                Err(r)
            }
        })
    }

    /// Redeems `code` for `service_id` at `now_ms`, exactly once (see the module docs);
    /// `Ok(Err(_))` is a [`Refusal`] (`unknown_code`, `already_redeemed`, `expired`).
    pub async fn redeem_binding_code(
        &self,
        service_id: &str,
        code: &str,
        now_ms: i64,
    ) -> Result<Result<Redeemed, Refusal>, CentralError> {
        let Some(code) = normalise(code) else {
            log_refusal("redeemed", Refusal::UnknownCode);
            return Ok(Err(Refusal::UnknownCode));
        };
        let (digest, service) = (code_digest(&code), service_id.to_owned());
        drop(code);
        let outcome: Result<Redeemed, Refusal> = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let tx =
                        c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
                    let redeemed: Option<Redeemed> = tx
                        .query_row(
                            REDEEM_SQL,
                            rusqlite::params![digest, now_ms, service],
                            |r| {
                                Ok(Redeemed {
                                    customer_ref: r.get(0)?,
                                    kiosk_id: r.get(1)?,
                                    session_id: r.get(2)?,
                                    proof_kind: r.get(3)?,
                                    issued_at_ms: r.get(4)?,
                                })
                            },
                        )
                        .optional()?;
                    let outcome = match redeemed {
                        Some(r) => Ok(r),
                        None => Err(judge_unredeemable(
                            tx.query_row(REDEEMED_AT_SQL, [&digest], |r| r.get(0))
                                .optional()?,
                        )),
                    };
                    tx.commit()?;
                    Ok(outcome)
                })
                .await?
            }
            Db::Postgres(c) => {
                let mut client = c.lock().await;
                let tx = client.transaction().await?;
                let redeemed = tx
                    .query_opt(&pg(REDEEM_SQL), &[&digest, &now_ms, &service])
                    .await?
                    .map(|r| Redeemed {
                        customer_ref: r.get(0),
                        kiosk_id: r.get(1),
                        session_id: r.get(2),
                        proof_kind: r.get(3),
                        issued_at_ms: r.get(4),
                    });
                let outcome = match redeemed {
                    Some(r) => Ok(r),
                    None => Err(judge_unredeemable(
                        tx.query_opt(&pg(REDEEMED_AT_SQL), &[&digest])
                            .await?
                            .map(|r| r.get(0)),
                    )),
                };
                tx.commit().await?;
                outcome
            }
        };
        Ok(match outcome {
            Ok(r) => {
                tracing::info!(
                    service = %service_id,
                    kiosk = %r.kiosk_id,
                    proof_kind = %r.proof_kind,
                    "binding code redeemed"
                );
                Ok(r)
            }
            Err(r) => {
                log_refusal("redeemed", r);
                Err(r)
            }
        })
    }

    /// The binding codes' metadata, newest first, at most `limit` (admin, audits).
    pub async fn binding_codes(&self, limit: u32) -> Result<Vec<BindingCodeInfo>, CentralError> {
        let lim = i64::from(limit);
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let mut st = c.prepare(LIST_SQL)?;
                    let rows = st.query_map([lim], |r| {
                        Ok(BindingCodeInfo {
                            code_sha256: r.get(0)?,
                            customer_ref: r.get(1)?,
                            kiosk_id: r.get(2)?,
                            session_id: r.get(3)?,
                            proof_kind: r.get(4)?,
                            created_at_ms: r.get(5)?,
                            expires_at_ms: r.get(6)?,
                            redeemed_at_ms: r.get(7)?,
                            redeemed_by: r.get(8)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query(&pg(LIST_SQL), &[&lim])
                .await?
                .into_iter()
                .map(|r| BindingCodeInfo {
                    code_sha256: r.get(0),
                    customer_ref: r.get(1),
                    kiosk_id: r.get(2),
                    session_id: r.get(3),
                    proof_kind: r.get(4),
                    created_at_ms: r.get(5),
                    expires_at_ms: r.get(6),
                    redeemed_at_ms: r.get(7),
                    redeemed_by: r.get(8),
                })
                .collect()),
        }
    }

    /// Registers (or re-keys) a service that redeems binding codes, with the digest of its
    /// token. `Invalid` for a malformed id or a token a kiosk holds.
    pub async fn add_service(
        &self,
        service_id: &str,
        token_sha256: &str,
    ) -> Result<(), CentralError> {
        check_service_id(service_id)?;
        self.add_token_holder(
            TOKEN_IS_KIOSK_SQL,
            ("a kiosk", "service"),
            ADD_SERVICE_SQL,
            service_id,
            token_sha256,
        )
        .await
    }

    /// The service whose token has this digest.
    pub async fn service_for_token(
        &self,
        token_sha256: &str,
    ) -> Result<Option<String>, CentralError> {
        let t = token_sha256.to_owned();
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    Ok(c.prepare_cached(SERVICE_SQL)?
                        .query_row([t], |r| r.get(0))
                        .optional()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query_opt(&pg(SERVICE_SQL), &[&t])
                .await?
                .map(|r| r.get(0))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_follows_rfc_4648_without_padding() {
        for (plain, want) in [
            ("", ""),
            ("f", "MY"),
            ("fo", "MZXQ"),
            ("foo", "MZXW6"),
            ("foob", "MZXW6YQ"),
            ("fooba", "MZXW6YTB"),
            ("foobar", "MZXW6YTBOI"),
        ] {
            assert_eq!(base32(plain.as_bytes()), want, "{plain}");
        }
        assert_eq!(base32(&[0xff; CODE_BYTES]), "7".repeat(CODE_CHARS));
        assert_eq!(base32(&[0; CODE_BYTES]), "A".repeat(CODE_CHARS));
    }

    #[test]
    fn codes_are_32_base32_characters_and_differ() {
        let (a, da) = new_code().expect("random");
        let (b, db) = new_code().expect("random");
        assert_ne!(*a, *b);
        assert_ne!(da, db);
        for c in [&a, &b] {
            assert_eq!(c.len(), CODE_CHARS);
            assert_eq!(
                normalise(c).as_deref().map(String::as_str),
                Some(c.as_str())
            );
        }
        assert_eq!(da, code_digest(&a));
        assert_eq!(da.len(), 64);
        assert!(!da.contains(a.as_str()));
    }

    #[test]
    fn normalising_drops_spaces_and_dashes_and_refuses_other_text() {
        let code = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
        for typed in [
            code,
            "abcdefghijklmnopqrstuvwxyz234567",
            "ABCD-EFGH-IJKL-MNOP-QRST-UVWX-YZ23-4567",
            " abcd efgh ijkl mnop qrst uvwx yz23 4567\n",
        ] {
            assert_eq!(normalise(typed).as_deref().map(String::as_str), Some(code));
        }
        for bad in [
            "",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ2345678",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ234561",
            "ABCDEFGHIJKLMNOPQRSTUVWXYZ23456=",
            "ÀBCDEFGHIJKLMNOPQRSTUVWXYZ234567",
        ] {
            assert!(normalise(bad).is_none(), "{bad}");
        }
        assert!(normalise(&"-".repeat(1000)).is_none());
    }

    #[test]
    fn proofs_are_read_with_their_kind_and_nothing_else() {
        let p: Proof =
            serde_json::from_str(r#"{"kind": "credential", "credential_id": "00aa"}"#).unwrap();
        assert_eq!(p.kind(), "credential");
        assert!(p.validate().is_ok());
        let p: Proof =
            serde_json::from_str(r#"{"kind": "identity", "identity_session_id": "s-1"}"#).unwrap();
        assert_eq!(p.kind(), "identity");
        assert!(p.validate().is_ok());
        for bad in [
            r#"{"kind": "credential", "identity_session_id": "s-1"}"#,
            r#"{"kind": "credential", "credential_id": "00aa", "x": 1}"#,
            r#"{"kind": "passport", "credential_id": "00aa"}"#,
            r#"{"credential_id": "00aa"}"#,
        ] {
            assert!(serde_json::from_str::<Proof>(bad).is_err(), "{bad}");
        }
        for bad in [
            Proof::Credential {
                credential_id: "0A".into(),
            },
            Proof::Identity {
                identity_session_id: "a b".into(),
            },
            Proof::Identity {
                identity_session_id: "x".repeat(129),
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proofs_rates_and_failed_redeems_are_judged() {
        assert_eq!(judge_credential(None, 5), Err(Refusal::UnknownProof));
        assert_eq!(
            judge_credential(Some(("s".into(), 10, true)), 5),
            Err(Refusal::Revoked)
        );
        assert_eq!(
            judge_credential(Some(("s".into(), 5, false)), 5),
            Err(Refusal::ExpiredCredential)
        );
        assert_eq!(
            judge_credential(Some(("s".into(), 6, false)), 5),
            Ok("s".into())
        );
        let verified = r#"{"outcome": "verified"}"#.to_owned();
        let refused = r#"{"outcome": "refused"}"#.to_owned();
        assert_eq!(judge_identity("s", &[]), Err(Refusal::UnknownProof));
        assert_eq!(
            judge_identity("s", std::slice::from_ref(&refused)),
            Err(Refusal::NotVerified)
        );
        assert_eq!(judge_identity("s", &[refused, verified]), Ok("s".into()));
        assert_eq!(judge_rate(MAX_LIVE_CODES - 1, 0, 5), Ok(()));
        assert_eq!(
            judge_rate(MAX_LIVE_CODES, 1005, 5),
            Err(Refusal::TooManyCodes {
                retry_after_ms: 1000
            })
        );
        assert_eq!(judge_unredeemable(None), Refusal::UnknownCode);
        assert_eq!(judge_unredeemable(Some(Some(1))), Refusal::AlreadyRedeemed);
        assert_eq!(judge_unredeemable(Some(None)), Refusal::Expired);
    }

    #[test]
    fn issued_codes_do_not_show_in_debug() {
        let i = IssuedCode {
            code: Zeroizing::new("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567".into()),
            expires_at_ms: 1,
            customer_ref: "s".into(),
        };
        assert!(!format!("{i:?}").contains("ABCDEFGH"));
    }
}
