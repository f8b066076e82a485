//! Face credentials issued at this kiosk: one row per credential (ids, keys, times — never
//! the QR or its template) with its `face_credential.issued` outbox event, whose payload is
//! the shared [`madoguchi_wire::CredentialIssued`], so the backend learns which verified
//! identity the credential belongs to.
//!
//! What it does not do: issue (the `faceqr` crate does), or revoke (the backend does).

use rusqlite::params;
use serde_json::json;

use crate::outbox::{RecordRef, emit};
use crate::records::Recorded;
use crate::{Ledger, LedgerError, now_ms};

const TABLE: &str = "face_credentials";

impl Ledger {
    /// Records a credential issued in session `session_id` (its enrollment session).
    pub fn record_credential_issued(
        &self,
        session_id: &str,
        issued: &madoguchi_wire::CredentialIssued,
    ) -> Result<Recorded, LedgerError> {
        issued
            .validate()
            .map_err(|e| LedgerError::InvalidInput(e.to_string()))?;
        let payload = serde_json::to_value(issued)?;
        self.write(|tx, key| {
            crate::records::session_open(tx, session_id)?;
            let n = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO face_credentials (credential_id, session_id,
                       identity_session_id, record_id, issuer_kid, template_kid, issued_at_ms,
                       expires_at_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?
                .execute(params![
                    issued.credential_id,
                    session_id,
                    issued.identity_session_id,
                    issued.confirmation_record_id,
                    issued.issuer_kid,
                    issued.template_kid,
                    issued.issued_at_ms,
                    issued.expires_at_ms,
                ])?;
            if n == 0 {
                return Err(LedgerError::InvalidInput(format!(
                    "face credential {} is already recorded",
                    issued.credential_id
                )));
            }
            let event = emit(
                tx,
                key,
                now_ms(),
                None,
                madoguchi_wire::events::CREDENTIAL_ISSUED,
                Some(RecordRef {
                    table: TABLE,
                    id: &issued.credential_id,
                }),
                &json!({ "session_id": session_id, "credential_id": issued.credential_id }),
                &payload,
                true,
            )?;
            Ok(Recorded {
                id: issued.credential_id.clone(),
                event,
            })
        })
    }
}
