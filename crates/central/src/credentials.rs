//! Face credentials at the backend: what the kiosks report with `face_credential.issued`
//! events (body [`madoguchi_wire::CredentialIssued`]), kept in `face_credentials` (schema
//! version 4) so that the backend knows which template keys still protect a live credential
//! (a retired template key is served until the last credential under it expires, see
//! [`crate::trust`]).
//!
//! Ingest, as for the confirmation records: in the transaction of a newly stored event (a
//! re-sent event is a duplicate and never reaches this code), the payload is read as a
//! `CredentialIssued` (its other members, such as the kiosk ledger's `"audit"` anchor, are
//! ignored) and validated; the credential is stored with the authenticated kiosk as `kiosk_id` (never a
//! claim of the payload). An event that cannot be used is stored as an event like any other
//! and counted in `face_credentials_malformed` with a reason code ([`MALFORMED_REASONS`]):
//! unreadable, invalid (ids, times), an issuer key registered to another kiosk (or made by an
//! older backend, whose private half no kiosk held), or a credential id already recorded. An
//! issuer key id the backend does not know yet is accepted (the kiosk may have issued before
//! its key registration arrived).
//!
//! A recorded credential, while not revoked nor expired, is a proof on which a kiosk may ask
//! for a binding code ([`crate::binding`]).
//!
//! What it does NOT do: verify the credential itself (the backend never sees it), hold
//! personal data (ids, keys and times only), or refuse an event.

use madoguchi_wire::CredentialIssued;

use crate::CentralError;
use crate::store::{Db, Store, pg};

/// Event kind of an issued face credential.
pub const KIND: &str = madoguchi_wire::events::CREDENTIAL_ISSUED;

/// Reason codes of unusable `face_credential.issued` events, as counted by `stats`.
pub const MALFORMED_REASONS: [&str; 4] = [
    "unreadable",
    "invalid",
    "foreign_issuer",
    "duplicate_credential_id",
];

/// A recorded face credential.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaceCredential {
    /// Credential id (hex).
    pub credential_id: String,
    /// The kiosk that reported it (authenticated).
    pub kiosk_id: String,
    /// Its issuer key id (hex).
    pub issuer_kid: String,
    /// Its template key id (hex).
    pub template_kid: String,
    /// Issued (Unix ms, the kiosk's clock).
    pub issued_at_ms: i64,
    /// Expires (Unix ms).
    pub expires_at_ms: i64,
    /// The identity verification's ledger session.
    pub identity_session_id: String,
    /// That verification's confirmation record id.
    pub confirmation_record_id: String,
    /// When the backend received it.
    pub received_at_ms: i64,
}

/// Face credential counts for `stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CredentialCounts {
    /// Credentials recorded.
    pub recorded: u64,
    /// Events that could not be used (stored as events).
    pub malformed: u64,
    /// Per reason code (reasons with none are absent).
    pub malformed_reasons: std::collections::BTreeMap<String, u64>,
}

/// Reads a `face_credential.issued` payload; `None` for other kinds, `Err` for a
/// [`MALFORMED_REASONS`] code.
pub(crate) fn extract(kind: &str, payload: &str) -> Option<Result<CredentialIssued, &'static str>> {
    (kind == KIND).then(|| read(payload))
}

fn read(payload: &str) -> Result<CredentialIssued, &'static str> {
    let c: CredentialIssued = serde_json::from_str(payload).map_err(|_| "unreadable")?;
    c.validate().map_err(|_| "invalid")?;
    Ok(c)
}

/// Where a newly stored event came from.
pub(crate) struct Arrival<'a> {
    /// The authenticated kiosk.
    pub kiosk: &'a str,
    /// The event's id.
    pub event_id: &'a str,
    /// When the backend received it.
    pub received_at_ms: i64,
}

const OWNER_SQL: &str = "SELECT kiosk_id FROM keys WHERE kid = ?1 AND purpose = 'issuer'";
const INSERT_SQL: &str = "INSERT INTO face_credentials (credential_id, kiosk_id, issuer_kid,
       template_kid, issued_at_ms, expires_at_ms, identity_session_id, confirmation_record_id,
       received_at_ms)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (credential_id) DO NOTHING";
const MALFORMED_SQL: &str = "INSERT INTO face_credentials_malformed (event_id, kiosk_id, reason,
       received_at_ms) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (event_id) DO NOTHING";

/// Whether the issuer key's registered owner (`None`: unknown key) forbids `kiosk` to report
/// credentials under it.
fn foreign(owner: Option<Option<String>>, kiosk: &str) -> bool {
    match owner {
        None => false,
        Some(Some(o)) => o != kiosk,
        // An issuer key made by a backend before schema version 4.
        Some(None) => true,
    }
}

fn log_unusable(reason: &str) {
    tracing::warn!(
        kind = KIND,
        reason,
        "face credential event stored but not recorded"
    );
}

/// Keeps the credential of a newly stored event (or counts the event as malformed), in the
/// ingest transaction.
pub(crate) fn keep_sqlite(
    tx: &rusqlite::Transaction<'_>,
    at: &Arrival<'_>,
    c: &Result<CredentialIssued, &'static str>,
) -> rusqlite::Result<()> {
    let reason = match c {
        Ok(c) => {
            let owner: Option<Option<String>> = tx
                .prepare_cached(OWNER_SQL)?
                .query_row([&c.issuer_kid], |r| r.get(0))
                .map(Some)
                .or_else(|e| match e {
                    rusqlite::Error::QueryReturnedNoRows => Ok(None),
                    e => Err(e),
                })?;
            if foreign(owner, at.kiosk) {
                "foreign_issuer"
            } else {
                let n = tx.prepare_cached(INSERT_SQL)?.execute(rusqlite::params![
                    c.credential_id,
                    at.kiosk,
                    c.issuer_kid,
                    c.template_kid,
                    c.issued_at_ms,
                    c.expires_at_ms,
                    c.identity_session_id,
                    c.confirmation_record_id,
                    at.received_at_ms
                ])?;
                if n == 1 {
                    return Ok(());
                }
                "duplicate_credential_id"
            }
        }
        Err(reason) => reason,
    };
    log_unusable(reason);
    tx.prepare_cached(MALFORMED_SQL)?
        .execute(rusqlite::params![
            at.event_id,
            at.kiosk,
            reason,
            at.received_at_ms
        ])?;
    Ok(())
}

/// [`keep_sqlite`] on PostgreSQL.
pub(crate) async fn keep_pg(
    tx: &tokio_postgres::Transaction<'_>,
    at: &Arrival<'_>,
    c: &Result<CredentialIssued, &'static str>,
) -> Result<(), tokio_postgres::Error> {
    let reason = match c {
        Ok(c) => {
            let owner: Option<Option<String>> = tx
                .query_opt(&pg(OWNER_SQL), &[&c.issuer_kid])
                .await?
                .map(|r| r.get(0));
            if foreign(owner, at.kiosk) {
                "foreign_issuer"
            } else {
                let n = tx
                    .execute(
                        &pg(INSERT_SQL),
                        &[
                            &c.credential_id,
                            &at.kiosk,
                            &c.issuer_kid,
                            &c.template_kid,
                            &c.issued_at_ms,
                            &c.expires_at_ms,
                            &c.identity_session_id,
                            &c.confirmation_record_id,
                            &at.received_at_ms,
                        ],
                    )
                    .await?;
                if n == 1 {
                    return Ok(());
                }
                "duplicate_credential_id"
            }
        }
        Err(reason) => reason,
    };
    log_unusable(reason);
    tx.execute(
        &pg(MALFORMED_SQL),
        &[&at.event_id, &at.kiosk, &reason, &at.received_at_ms],
    )
    .await?;
    Ok(())
}

const SELECT_SQL: &str = "SELECT credential_id, kiosk_id, issuer_kid, template_kid, issued_at_ms,
       expires_at_ms, identity_session_id, confirmation_record_id, received_at_ms
     FROM face_credentials WHERE credential_id > ?1 ORDER BY credential_id LIMIT ?2";

impl Store {
    /// Recorded face credentials in id order after `after` (exclusive; `""` from the start),
    /// at most `limit` (audits, tests).
    pub async fn face_credentials(
        &self,
        after: &str,
        limit: u32,
    ) -> Result<Vec<FaceCredential>, CentralError> {
        let (after, lim) = (after.to_owned(), i64::from(limit));
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    let mut st = c.prepare(SELECT_SQL)?;
                    let rows = st.query_map(rusqlite::params![after, lim], |r| {
                        Ok(FaceCredential {
                            credential_id: r.get(0)?,
                            kiosk_id: r.get(1)?,
                            issuer_kid: r.get(2)?,
                            template_kid: r.get(3)?,
                            issued_at_ms: r.get(4)?,
                            expires_at_ms: r.get(5)?,
                            identity_session_id: r.get(6)?,
                            confirmation_record_id: r.get(7)?,
                            received_at_ms: r.get(8)?,
                        })
                    })?;
                    Ok(rows.collect::<Result<Vec<_>, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query(&pg(SELECT_SQL), &[&after, &lim])
                .await?
                .into_iter()
                .map(|r| FaceCredential {
                    credential_id: r.get(0),
                    kiosk_id: r.get(1),
                    issuer_kid: r.get(2),
                    template_kid: r.get(3),
                    issued_at_ms: r.get(4),
                    expires_at_ms: r.get(5),
                    identity_session_id: r.get(6),
                    confirmation_record_id: r.get(7),
                    received_at_ms: r.get(8),
                })
                .collect()),
        }
    }

    /// Credentials recorded, and unusable `face_credential.issued` events per reason.
    pub async fn credential_counts(&self) -> Result<CredentialCounts, CentralError> {
        let recorded = self
            .rows("SELECT CAST(COUNT(*) AS TEXT) FROM face_credentials", 1)
            .await?
            .first()
            .and_then(|r| r.first())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0);
        let malformed_reasons: std::collections::BTreeMap<String, u64> = self
            .rows(
                "SELECT reason, CAST(COUNT(*) AS TEXT) FROM face_credentials_malformed
                 GROUP BY reason",
                2,
            )
            .await?
            .into_iter()
            .map(|r| (r[0].clone(), r[1].parse().unwrap_or(0)))
            .collect();
        Ok(CredentialCounts {
            recorded,
            malformed: malformed_reasons.values().sum(),
            malformed_reasons,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn good() -> Value {
        serde_json::json!({
            "credential_id": "0011223344556677", "issuer_kid": "8899aabbccddeeff",
            "template_kid": "01020304", "issued_at_ms": 10, "expires_at_ms": 20,
            "identity_session_id": "s-1", "confirmation_record_id": "r-1",
            "audit": {"seq": 3, "hash": "00ff"}
        })
    }

    #[test]
    fn payloads_are_read_and_bad_ones_get_their_reason() {
        let c = extract(KIND, &good().to_string())
            .expect("kind")
            .expect("good");
        assert_eq!(c.template_kid, "01020304");
        assert_eq!(extract("teller.signed_in", "{}"), None);
        let with = |k: &str, v: Value| {
            let mut p = good();
            p[k] = v;
            p.to_string()
        };
        for (p, want) in [
            ("[1]".to_owned(), "unreadable"),
            ("{".to_owned(), "unreadable"),
            (with("credential_id", Value::Null), "unreadable"),
            (with("issued_at_ms", "today".into()), "unreadable"),
            (with("credential_id", "0A".into()), "invalid"),
            (with("expires_at_ms", 5.into()), "invalid"),
            (with("identity_session_id", "".into()), "invalid"),
        ] {
            assert_eq!(extract(KIND, &p), Some(Err(want)), "{p}");
            assert!(MALFORMED_REASONS.contains(&want));
        }
        assert!(foreign(Some(Some("K-2".into())), "K-1"));
        assert!(foreign(Some(None), "K-1"));
        assert!(!foreign(Some(Some("K-1".into())), "K-1"));
        assert!(!foreign(None, "K-1"));
    }
}
