//! The record sink over the kiosk's ledger: each flow record becomes the ledger's typed
//! record (sealed where it holds personal data), with its audit entry and outbox event in the
//! same transaction, so that it reaches the backend through the sync thread.
//!
//! What it does not do: decide what is recorded (the flow does) or talk to the network.

use std::collections::BTreeMap;
use std::sync::Arc;

use madoguchi_flow::ConfirmationRecord;
use madoguchi_flow::ports::{
    EvidenceKind, OutcomeRecord, ProcedureKind, RecordDecision, RecordFault, RecordSink,
    SessionEnd, TellerRef,
};
use madoguchi_ledger::{Decision, Ledger, LedgerError, NewOutcome, Procedure, TellerRole};

/// The id records carry when nobody signs in (the headless `madoguchi procedure` command):
/// an account nobody signs in to, so such records say plainly that no verified teller is
/// behind them. The kiosk's records carry the signed-in teller.
pub const UNVERIFIED_TELLER: &str = "counter-unverified";

/// The ledger as the flow's record sink.
#[derive(Debug, Clone)]
pub struct LedgerRecords {
    ledger: Arc<Ledger>,
}

fn fault(e: &LedgerError) -> RecordFault {
    tracing::error!(code = e.code(), "ledger write refused: {e}");
    RecordFault(e.code())
}

impl LedgerRecords {
    /// Over `ledger`.
    pub fn new(ledger: Arc<Ledger>) -> Self {
        LedgerRecords { ledger }
    }

    /// Makes sure the placeholder teller exists (first start).
    pub fn ensure_teller(&self, id: &str) -> Result<(), LedgerError> {
        match self.ledger.register_teller(id, TellerRole::Teller) {
            Ok(_) => Ok(()),
            Err(LedgerError::InvalidInput(m)) if m.contains("already registered") => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn decision(d: RecordDecision) -> Decision {
    match d {
        RecordDecision::Accepted => Decision::Accepted,
        RecordDecision::Rejected => Decision::Rejected,
        RecordDecision::Referred => Decision::Referred,
    }
}

impl RecordSink for LedgerRecords {
    fn open_session(
        &mut self,
        procedure: ProcedureKind,
        teller: &TellerRef,
    ) -> Result<String, RecordFault> {
        let p = match procedure {
            ProcedureKind::IdentityVerification => Procedure::IdentityVerification,
            ProcedureKind::Enrollment => Procedure::Enrollment,
            ProcedureKind::FaceQrAuthentication => Procedure::FaceQrAuthentication,
            ProcedureKind::DeviceRebinding => Procedure::DeviceRebinding,
        };
        self.ledger
            .start_session(p, &teller.id)
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn store_evidence(
        &mut self,
        session_id: &str,
        kind: EvidenceKind,
        content: &[u8],
    ) -> Result<String, RecordFault> {
        let kind = match kind {
            EvidenceKind::ChipPhotoHash => madoguchi_ledger::EvidenceKind::ChipPhotoHash,
            EvidenceKind::FaceImage => madoguchi_ledger::EvidenceKind::FaceImage,
            EvidenceKind::Signature => madoguchi_ledger::EvidenceKind::Signature,
            EvidenceKind::MyNumber => madoguchi_ledger::EvidenceKind::MyNumber,
        };
        self.ledger
            .store_evidence(session_id, kind, content)
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn record_outcome(
        &mut self,
        session_id: &str,
        teller: &TellerRef,
        outcome: &OutcomeRecord,
    ) -> Result<String, RecordFault> {
        let scores: BTreeMap<String, f64> = outcome
            .scores
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect();
        self.ledger
            .record_outcome(&NewOutcome {
                session_id,
                teller_id: &teller.id,
                decision: decision(outcome.decision),
                scores: &scores,
                reasons: &outcome.reasons,
            })
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn record_override(
        &mut self,
        outcome_id: &str,
        teller: &TellerRef,
        approver: &TellerRef,
        d: RecordDecision,
        reason: &str,
    ) -> Result<String, RecordFault> {
        self.ledger
            .record_approved_override(outcome_id, &teller.id, &approver.id, decision(d), reason)
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn record_confirmation(
        &mut self,
        session_id: &str,
        record: &ConfirmationRecord,
    ) -> Result<String, RecordFault> {
        let doc = serde_json::to_value(record).map_err(|_| RecordFault("record.encoding"))?;
        self.ledger
            .record_confirmation(session_id, &doc)
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn record_credential_issued(
        &mut self,
        session_id: &str,
        issued: &madoguchi_wire::CredentialIssued,
    ) -> Result<String, RecordFault> {
        self.ledger
            .record_credential_issued(session_id, issued)
            .map(|r| r.id)
            .map_err(|e| fault(&e))
    }

    fn close_session(
        &mut self,
        session_id: &str,
        end: SessionEnd,
        reason: &str,
    ) -> Result<(), RecordFault> {
        let end = match end {
            SessionEnd::Completed => madoguchi_ledger::SessionEnd::Completed,
            SessionEnd::Cancelled => madoguchi_ledger::SessionEnd::Cancelled,
            SessionEnd::Failed => madoguchi_ledger::SessionEnd::Failed,
        };
        self.ledger
            .end_session_with_reason(session_id, end, Some(reason))
            .map(|_| ())
            .map_err(|e| fault(&e))
    }
}
