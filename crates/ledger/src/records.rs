//! Typed records: tellers, procedure sessions, outcomes, teller overrides, evidence.
//!
//! Each call writes the record, its audit entry and its outbox event in one transaction and
//! returns a [`Recorded`] (the new record's id and the event). Inputs are validated first, so
//! bad input is an error and nothing is written.
//!
//! Personal data: evidence content (chip-photo hash, captured face image, signatures,
//! templates, card data, any My Number) and a teller's written override reason are sealed
//! under the data key with the record id as associated data; the audit trail holds only ids,
//! kinds, decisions and sizes. No API takes a PIN.
//!
//! What it does not do: decide anything (the `flow` crate does), or check scores against
//! thresholds.

use std::collections::BTreeMap;

use base64::Engine;
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::json;
use zeroize::Zeroizing;

use crate::outbox::{RecordRef, emit};
use crate::{Ledger, LedgerError, OutboxEvent, crypto, now_ms};

/// What a write produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    /// Id of the new record (a UUID; the teller id for tellers).
    pub id: String,
    /// The outbox event written with it.
    pub event: OutboxEvent,
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $v:ident = $s:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $s)] $v),+ }
        impl $name {
            /// The stable text stored in the database and sent to the backend.
            pub fn as_str(self) -> &'static str { match self { $($name::$v => $s),+ } }
            /// Parses the stable text.
            pub fn parse(s: &str) -> Option<Self> { match s { $($s => Some($name::$v),)+ _ => None } }
        }
    };
}

text_enum!(
    /// A teller's role.
    TellerRole {
        /// Serves customers.
        Teller = "teller",
        /// May also approve overrides.
        Supervisor = "supervisor",
        /// Field technician (diagnostics only).
        Technician = "technician",
    }
);

text_enum!(
    /// The procedure a session runs.
    Procedure {
        /// Identity verification with the My Number card (JPKI + face).
        IdentityVerification = "identity_verification",
        /// Face-QR counter authentication.
        FaceQrAuthentication = "face_qr_authentication",
        /// Face credential enrollment.
        Enrollment = "enrollment",
        /// Passkey device re-binding.
        DeviceRebinding = "device_rebinding",
    }
);

text_enum!(
    /// How a session ended.
    SessionEnd {
        /// Ran to an outcome.
        Completed = "completed",
        /// Stopped by the teller or customer.
        Cancelled = "cancelled",
        /// Stopped by an error (device, card).
        Failed = "failed",
    }
);

text_enum!(
    /// An outcome's decision.
    Decision {
        /// Identity confirmed / authenticated.
        Accepted = "accepted",
        /// Not confirmed.
        Rejected = "rejected",
        /// Sent elsewhere (e.g. the municipal office when one PIN try is left).
        Referred = "referred",
    }
);

text_enum!(
    /// What a piece of evidence is. Everything is sealed at rest.
    EvidenceKind {
        /// SHA-256 of the chip's face photo.
        ChipPhotoHash = "chip_photo_hash",
        /// The captured live face image.
        FaceImage = "face_image",
        /// A JPKI evidence signature: the JSON of `madoguchi_card::Evidence` (statement,
        /// signature, signing certificate), which the central backend verifies on arrival.
        Signature = "signature",
        /// A face template.
        Template = "template",
        /// Card data a procedure needed (e.g. the 券面 text items).
        CardData = "card_data",
        /// A My Number, only where a procedure needs it.
        MyNumber = "my_number",
    }
);

impl EvidenceKind {
    /// Whether the content travels to the backend in the outbox event (sealed in the file).
    /// Templates, card data and My Numbers stay on the kiosk.
    pub fn travels(self) -> bool {
        matches!(
            self,
            EvidenceKind::ChipPhotoHash | EvidenceKind::FaceImage | EvidenceKind::Signature
        )
    }
}

/// A piece of evidence opened from the ledger. `Debug` shows the kind and size only.
pub struct Evidence {
    /// What it is.
    pub kind: EvidenceKind,
    /// The content, zeroized on drop.
    pub content: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for Evidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Evidence({:?}, <{} bytes>)",
            self.kind,
            self.content.len()
        )
    }
}

/// One session as the teller's history shows it (no personal data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionSummary {
    /// Session id.
    pub id: String,
    /// The procedure's stable name.
    pub procedure: String,
    /// The teller.
    pub teller_id: String,
    /// Started, UNIX ms.
    pub started_at_ms: i64,
    /// Ended, UNIX ms.
    pub ended_at_ms: Option<i64>,
    /// How it ended.
    pub end: Option<SessionEnd>,
    /// The reason code it ended with.
    pub reason: Option<String>,
    /// The latest outcome's decision.
    pub decision: Option<Decision>,
    /// A teller overrode an outcome.
    pub overridden: bool,
}

/// An outcome to record.
#[derive(Debug, Clone, PartialEq)]
pub struct NewOutcome<'a> {
    /// The session it concludes.
    pub session_id: &'a str,
    /// The teller at the counter.
    pub teller_id: &'a str,
    /// The decision.
    pub decision: Decision,
    /// Named scores (`face_similarity`, `liveness`, `quality`, …): finite numbers.
    pub scores: &'a BTreeMap<String, f64>,
    /// Reason codes (`face.match_below_threshold`, …): short codes, not sentences.
    pub reasons: &'a [String],
}

pub(crate) fn check_id(what: &str, id: &str) -> Result<(), LedgerError> {
    if id.is_empty()
        || id.len() > 128
        || !id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b))
    {
        return Err(LedgerError::InvalidInput(format!(
            "{what} must be 1 to 128 characters of A-Z a-z 0-9 - _ . : @"
        )));
    }
    Ok(())
}

fn check_code(what: &str, c: &str) -> Result<(), LedgerError> {
    if c.is_empty()
        || c.len() > 64
        || !c
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b))
    {
        return Err(LedgerError::InvalidInput(format!(
            "{what} must be a code of 1 to 64 characters a-z 0-9 _ . -"
        )));
    }
    Ok(())
}

fn exists(tx: &Transaction<'_>, table: &'static str, id: &str) -> Result<(), LedgerError> {
    let sql = format!("SELECT 1 FROM {table} WHERE id = ?1");
    let found: Option<i64> = tx
        .prepare_cached(&sql)?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    found.map(|_| ()).ok_or_else(|| LedgerError::NotFound {
        what: table,
        id: id.to_owned(),
    })
}

pub(crate) fn session_open(tx: &Transaction<'_>, id: &str) -> Result<(), LedgerError> {
    let ended: Option<Option<i64>> = tx
        .prepare_cached("SELECT ended_at_ms FROM sessions WHERE id = ?1")?
        .query_row(params![id], |r| r.get(0))
        .optional()?;
    match ended {
        None => Err(LedgerError::NotFound {
            what: "sessions",
            id: id.to_owned(),
        }),
        Some(Some(_)) => Err(LedgerError::InvalidInput(format!(
            "session {id} has already ended"
        ))),
        Some(None) => Ok(()),
    }
}

/// Largest evidence item accepted (a face image is tens of KiB).
pub const MAX_EVIDENCE_BYTES: usize = 8 * 1024 * 1024;

impl Ledger {
    /// Registers a teller. Registering an id twice is an error (`InvalidInput`).
    pub fn register_teller(
        &self,
        teller_id: &str,
        role: TellerRole,
    ) -> Result<Recorded, LedgerError> {
        check_id("teller id", teller_id)?;
        self.write(|tx, key| {
            let at = now_ms();
            let n = tx.execute(
                "INSERT OR IGNORE INTO tellers (id, role, created_at_ms) VALUES (?1, ?2, ?3)",
                params![teller_id, role.as_str(), at],
            )?;
            if n == 0 {
                return Err(LedgerError::InvalidInput(format!(
                    "teller {teller_id} is already registered"
                )));
            }
            let event = emit(
                tx,
                key,
                at,
                Some(teller_id),
                "teller.registered",
                Some(RecordRef {
                    table: "tellers",
                    id: teller_id,
                }),
                &json!({ "role": role.as_str() }),
                &json!({ "teller_id": teller_id, "role": role.as_str(), "at_ms": at }),
                true,
            )?;
            Ok(Recorded {
                id: teller_id.to_owned(),
                event,
            })
        })
    }

    /// Disables a teller: no new session can be started for them. Their records stay.
    pub fn disable_teller(&self, teller_id: &str) -> Result<OutboxEvent, LedgerError> {
        check_id("teller id", teller_id)?;
        self.write(|tx, key| {
            let at = now_ms();
            let n = tx.execute(
                "UPDATE tellers SET disabled_at_ms = ?1 WHERE id = ?2 AND disabled_at_ms IS NULL",
                params![at, teller_id],
            )?;
            if n == 0 {
                exists(tx, "tellers", teller_id)?;
                return Err(LedgerError::InvalidInput(format!(
                    "teller {teller_id} is already disabled"
                )));
            }
            emit(
                tx,
                key,
                at,
                Some(teller_id),
                "teller.disabled",
                Some(RecordRef {
                    table: "tellers",
                    id: teller_id,
                }),
                &json!({}),
                &json!({ "teller_id": teller_id, "at_ms": at }),
                true,
            )
        })
    }

    /// Every teller this ledger knows, enabled or not, ordered by id.
    pub fn tellers(&self) -> Result<Vec<crate::CachedTeller>, LedgerError> {
        self.read(|c, _key| {
            let mut stmt = c.prepare_cached(
                "SELECT id, role, display_name, created_at_ms, disabled_at_ms
                 FROM tellers ORDER BY id",
            )?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<i64>>(4)?,
                    ))
                })?
                .collect::<Result<Vec<_>, _>>()?;
            rows.into_iter()
                .map(|(id, role, display_name, created_at_ms, disabled_at_ms)| {
                    let role = TellerRole::parse(&role).ok_or_else(|| LedgerError::Corrupt {
                        table: "tellers",
                        detail: format!("unknown role of {id}"),
                    })?;
                    Ok(crate::CachedTeller {
                        id,
                        role,
                        display_name,
                        enabled: disabled_at_ms.is_none(),
                        created_at_ms,
                        disabled_at_ms,
                    })
                })
                .collect()
        })
    }

    /// Starts a procedure session for a registered, enabled teller.
    pub fn start_session(
        &self,
        procedure: Procedure,
        teller_id: &str,
    ) -> Result<Recorded, LedgerError> {
        check_id("teller id", teller_id)?;
        self.write(|tx, key| {
            let disabled: Option<Option<i64>> = tx
                .prepare_cached("SELECT disabled_at_ms FROM tellers WHERE id = ?1")?
                .query_row(params![teller_id], |r| r.get(0))
                .optional()?;
            match disabled {
                None => {
                    return Err(LedgerError::NotFound {
                        what: "tellers",
                        id: teller_id.to_owned(),
                    });
                }
                Some(Some(_)) => {
                    return Err(LedgerError::InvalidInput(format!(
                        "teller {teller_id} is disabled"
                    )));
                }
                Some(None) => {}
            }
            let at = now_ms();
            let id = uuid::Uuid::new_v4().to_string();
            tx.prepare_cached(
                "INSERT INTO sessions (id, procedure, teller_id, started_at_ms) VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![id, procedure.as_str(), teller_id, at])?;
            let event = emit(
                tx,
                key,
                at,
                Some(teller_id),
                "session.started",
                Some(RecordRef {
                    table: "sessions",
                    id: &id,
                }),
                &json!({ "procedure": procedure.as_str() }),
                &json!({ "session_id": id, "procedure": procedure.as_str(),
                         "teller_id": teller_id, "at_ms": at }), true,
            )?;
            Ok(Recorded { id, event })
        })
    }

    /// Ends a session. The event refers to the session record.
    pub fn end_session(
        &self,
        session_id: &str,
        end: SessionEnd,
    ) -> Result<OutboxEvent, LedgerError> {
        self.end_session_with_reason(session_id, end, None)
    }

    /// Ends a session with the reason code it ended with (`cancelled.teller`, `timeout.pin`,
    /// `face.match`, …: a code, never free text), kept in the session row, its audit entry and
    /// its event.
    pub fn end_session_with_reason(
        &self,
        session_id: &str,
        end: SessionEnd,
        reason: Option<&str>,
    ) -> Result<OutboxEvent, LedgerError> {
        check_id("session id", session_id)?;
        if let Some(r) = reason {
            check_code("reason code", r)?;
        }
        self.write(|tx, key| {
            session_open(tx, session_id)?;
            let at = now_ms();
            let teller: String = tx.query_row(
                "SELECT teller_id FROM sessions WHERE id = ?1",
                params![session_id],
                |r| r.get(0),
            )?;
            tx.prepare_cached(
                "UPDATE sessions SET ended_at_ms = ?1, end_state = ?2, end_reason = ?3 WHERE id = ?4",
            )?
            .execute(params![at, end.as_str(), reason, session_id])?;
            let mut audit = json!({ "end": end.as_str() });
            let mut payload = json!({ "session_id": session_id, "end": end.as_str(), "at_ms": at });
            if let Some(r) = reason {
                audit["reason"] = json!(r);
                payload["reason"] = json!(r);
            }
            emit(
                tx,
                key,
                at,
                Some(&teller),
                "session.ended",
                Some(RecordRef {
                    table: "sessions",
                    id: session_id,
                }),
                &audit,
                &payload,
                true,
            )
        })
    }

    /// Sessions started at or after `since_ms` (UNIX ms), newest first, at most `limit`, with
    /// how each ended and its latest outcome's decision: ids and codes only, for the teller's
    /// history of the day.
    pub fn sessions_since(
        &self,
        since_ms: i64,
        limit: u32,
    ) -> Result<Vec<SessionSummary>, LedgerError> {
        self.read(|c, _| {
            let mut st = c.prepare_cached(
                "SELECT s.id, s.procedure, s.teller_id, s.started_at_ms, s.ended_at_ms,
                        s.end_state, s.end_reason,
                        (SELECT o.decision FROM outcomes o WHERE o.session_id = s.id
                          ORDER BY o.created_at_ms DESC LIMIT 1),
                        EXISTS (SELECT 1 FROM overrides v JOIN outcomes o ON v.outcome_id = o.id
                                 WHERE o.session_id = s.id)
                 FROM sessions s WHERE s.started_at_ms >= ?1
                 ORDER BY s.started_at_ms DESC, s.rowid DESC LIMIT ?2",
            )?;
            let rows = st.query_map(params![since_ms, limit], |r| {
                Ok(SessionSummary {
                    id: r.get(0)?,
                    procedure: r.get(1)?,
                    teller_id: r.get(2)?,
                    started_at_ms: r.get(3)?,
                    ended_at_ms: r.get(4)?,
                    end: r
                        .get::<_, Option<String>>(5)?
                        .and_then(|s| SessionEnd::parse(&s)),
                    reason: r.get(6)?,
                    decision: r
                        .get::<_, Option<String>>(7)?
                        .and_then(|s| Decision::parse(&s)),
                    overridden: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        })
    }

    /// Records a procedure's outcome (scores, decision, reason codes).
    pub fn record_outcome(&self, o: &NewOutcome<'_>) -> Result<Recorded, LedgerError> {
        check_id("session id", o.session_id)?;
        check_id("teller id", o.teller_id)?;
        if o.scores.len() > 64 || o.reasons.len() > 64 {
            return Err(LedgerError::InvalidInput(
                "at most 64 scores and 64 reasons".into(),
            ));
        }
        for (name, v) in o.scores {
            check_code("score name", name)?;
            if !v.is_finite() {
                return Err(LedgerError::InvalidInput(format!(
                    "score {name} is not a finite number"
                )));
            }
        }
        for r in o.reasons {
            check_code("reason code", r)?;
        }
        let scores = serde_json::to_string(o.scores)?;
        let reasons = serde_json::to_string(o.reasons)?;
        self.write(|tx, key| {
            session_open(tx, o.session_id)?;
            exists(tx, "tellers", o.teller_id)?;
            let at = now_ms();
            let id = uuid::Uuid::new_v4().to_string();
            tx.prepare_cached(
                "INSERT INTO outcomes (id, session_id, teller_id, decision, scores, reasons, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![id, o.session_id, o.teller_id, o.decision.as_str(), scores, reasons, at])?;
            let event = emit(
                tx,
                key,
                at,
                Some(o.teller_id),
                "outcome.recorded",
                Some(RecordRef { table: "outcomes", id: &id }),
                &json!({ "session_id": o.session_id, "decision": o.decision.as_str() }),
                &json!({
                    "outcome_id": id, "session_id": o.session_id, "teller_id": o.teller_id,
                    "decision": o.decision.as_str(), "scores": o.scores, "reasons": o.reasons,
                    "at_ms": at,
                }), true,
            )?;
            Ok(Recorded { id, event })
        })
    }

    /// Records a teller's override of an outcome, with the teller's written reason (required,
    /// 1 to 2000 characters after trimming). The reason is sealed at rest: it is free text.
    pub fn record_override(
        &self,
        outcome_id: &str,
        teller_id: &str,
        decision: Decision,
        reason: &str,
    ) -> Result<Recorded, LedgerError> {
        self.override_inner(outcome_id, teller_id, None, decision, reason)
    }

    /// Records an override approved by a second teller (a supervisor whose key the kiosk has
    /// just verified: the ledger checks that `approved_by` is an enabled supervisor other than
    /// `teller_id`, not the key). Both are in the audit entry and the event.
    pub fn record_approved_override(
        &self,
        outcome_id: &str,
        teller_id: &str,
        approved_by: &str,
        decision: Decision,
        reason: &str,
    ) -> Result<Recorded, LedgerError> {
        self.override_inner(outcome_id, teller_id, Some(approved_by), decision, reason)
    }

    fn override_inner(
        &self,
        outcome_id: &str,
        teller_id: &str,
        approved_by: Option<&str>,
        decision: Decision,
        reason: &str,
    ) -> Result<Recorded, LedgerError> {
        check_id("outcome id", outcome_id)?;
        check_id("teller id", teller_id)?;
        if let Some(a) = approved_by {
            check_id("approver id", a)?;
            if a == teller_id {
                return Err(LedgerError::InvalidInput(
                    "an override cannot be approved by the teller who made it".into(),
                ));
            }
        }
        let reason = reason.trim();
        if reason.is_empty() || reason.chars().count() > 2000 {
            return Err(LedgerError::InvalidInput(
                "an override needs a written reason of 1 to 2000 characters".into(),
            ));
        }
        self.write(|tx, key| {
            exists(tx, "outcomes", outcome_id)?;
            exists(tx, "tellers", teller_id)?;
            if let Some(a) = approved_by {
                let ok: Option<i64> = tx
                    .prepare_cached(
                        "SELECT 1 FROM tellers WHERE id = ?1 AND role = 'supervisor'
                         AND disabled_at_ms IS NULL",
                    )?
                    .query_row(params![a], |r| r.get(0))
                    .optional()?;
                if ok.is_none() {
                    return Err(LedgerError::InvalidInput(format!(
                        "approver {a} is not an enabled supervisor"
                    )));
                }
            }
            let at = now_ms();
            let id = uuid::Uuid::new_v4().to_string();
            let sealed = crypto::seal(key, "overrides", &id, reason.as_bytes())?;
            tx.prepare_cached(
                "INSERT INTO overrides (id, outcome_id, teller_id, decision, reason_sealed, created_at_ms, approved_by)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            )?
            .execute(params![id, outcome_id, teller_id, decision.as_str(), sealed, at, approved_by])?;
            let event = emit(
                tx,
                key,
                at,
                Some(teller_id),
                "outcome.overridden",
                Some(RecordRef { table: "overrides", id: &id }),
                &json!({
                    "outcome_id": outcome_id, "decision": decision.as_str(),
                    "approved_by": approved_by,
                }),
                &json!({
                    "override_id": id, "outcome_id": outcome_id, "teller_id": teller_id,
                    "approved_by": approved_by, "decision": decision.as_str(),
                    "reason": reason, "at_ms": at,
                }), true,
            )?;
            Ok(Recorded { id, event })
        })
    }

    /// The written reason of an override (opened from its sealed form).
    pub fn override_reason(&self, override_id: &str) -> Result<Zeroizing<String>, LedgerError> {
        self.read(|c, key| {
            let sealed: Option<Vec<u8>> = c
                .query_row(
                    "SELECT reason_sealed FROM overrides WHERE id = ?1",
                    params![override_id],
                    |r| r.get(0),
                )
                .optional()?;
            let sealed = sealed.ok_or_else(|| LedgerError::NotFound {
                what: "overrides",
                id: override_id.to_owned(),
            })?;
            let plain = crypto::open(key, "overrides", override_id, &sealed)?;
            String::from_utf8(plain.to_vec())
                .map(Zeroizing::new)
                .map_err(|_| LedgerError::Corrupt {
                    table: "overrides",
                    detail: format!("reason of {override_id} is not UTF-8"),
                })
        })
    }

    /// Stores a piece of evidence for an open session, sealed. Content that
    /// [travels](EvidenceKind::travels) is also in the outbox event (base64), sealed there too.
    pub fn store_evidence(
        &self,
        session_id: &str,
        kind: EvidenceKind,
        content: &[u8],
    ) -> Result<Recorded, LedgerError> {
        check_id("session id", session_id)?;
        if content.is_empty() || content.len() > MAX_EVIDENCE_BYTES {
            return Err(LedgerError::InvalidInput(format!(
                "evidence must be 1 byte to {MAX_EVIDENCE_BYTES} bytes"
            )));
        }
        self.write(|tx, key| {
            session_open(tx, session_id)?;
            let at = now_ms();
            let id = uuid::Uuid::new_v4().to_string();
            let sealed = crypto::seal(key, "evidence", &id, content)?;
            tx.prepare_cached(
                "INSERT INTO evidence (id, session_id, kind, content, size, created_at_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?
            .execute(params![
                id,
                session_id,
                kind.as_str(),
                sealed,
                content.len() as i64,
                at
            ])?;
            let mut payload = json!({
                "evidence_id": id, "session_id": session_id, "kind": kind.as_str(),
                "size": content.len(), "at_ms": at,
            });
            if kind.travels()
                && let serde_json::Value::Object(m) = &mut payload
            {
                m.insert(
                    "content_b64".into(),
                    base64::engine::general_purpose::STANDARD
                        .encode(content)
                        .into(),
                );
            }
            let event = emit(
                tx,
                key,
                at,
                None,
                "evidence.stored",
                Some(RecordRef {
                    table: "evidence",
                    id: &id,
                }),
                &json!({ "session_id": session_id, "kind": kind.as_str(), "size": content.len() }),
                &payload,
                true,
            )?;
            Ok(Recorded { id, event })
        })
    }

    /// Opens a piece of evidence. `Ok(None)` once retention has purged it.
    pub fn load_evidence(&self, evidence_id: &str) -> Result<Option<Evidence>, LedgerError> {
        self.read(|c, key| {
            let row: Option<(String, Option<Vec<u8>>)> = c
                .query_row(
                    "SELECT kind, content FROM evidence WHERE id = ?1",
                    params![evidence_id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?;
            let (kind, content) = row.ok_or_else(|| LedgerError::NotFound {
                what: "evidence",
                id: evidence_id.to_owned(),
            })?;
            let kind = EvidenceKind::parse(&kind).ok_or_else(|| LedgerError::Corrupt {
                table: "evidence",
                detail: format!("unknown kind for {evidence_id}"),
            })?;
            match content {
                None => Ok(None),
                Some(sealed) => Ok(Some(Evidence {
                    kind,
                    content: crypto::open(key, "evidence", evidence_id, &sealed)?,
                })),
            }
        })
    }
}
