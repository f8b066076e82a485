//! Outbox event bodies both sides read. Only events whose body the backend interprets are
//! here; the kiosk's ledger wraps each in its event envelope (id, kind, kiosk, anchors).
//!
//! What it does not do: carry personal data — a credential event names ids, keys and times,
//! and points to the identity verification by the ids of its session and confirmation record.

use serde::{Deserialize, Serialize};

use crate::{Result, malformed, parse_id};

/// The event kind of [`CredentialIssued`].
pub const CREDENTIAL_ISSUED: &str = "face_credential.issued";

/// A face credential was issued at a kiosk (`face_credential.issued`). Other members of the
/// event's payload (the ledger adds its audit anchor) are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialIssued {
    /// The credential id (hex).
    pub credential_id: String,
    /// The issuer key that signed it (hex).
    pub issuer_kid: String,
    /// The template key that encrypts its template (hex).
    pub template_kid: String,
    /// Issued (Unix ms).
    pub issued_at_ms: i64,
    /// Expires (Unix ms).
    pub expires_at_ms: i64,
    /// The ledger session of the identity verification the credential is bound to.
    pub identity_session_id: String,
    /// The id of that verification's confirmation record (確認記録).
    pub confirmation_record_id: String,
}

impl CredentialIssued {
    /// Checks ids and times.
    pub fn validate(&self) -> Result<()> {
        const W: &str = "face_credential.issued";
        parse_id(W, "credential_id", &self.credential_id)?;
        parse_id(W, "issuer_kid", &self.issuer_kid)?;
        parse_id(W, "template_kid", &self.template_kid)?;
        if self.expires_at_ms <= self.issued_at_ms {
            return Err(malformed(W, "`expires_at_ms` must be after `issued_at_ms`"));
        }
        for (f, v) in [
            ("identity_session_id", &self.identity_session_id),
            ("confirmation_record_id", &self.confirmation_record_id),
        ] {
            if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
                return Err(malformed(
                    W,
                    format!("`{f}` must be 1 to 128 printable characters"),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_events_are_checked() {
        let e = CredentialIssued {
            credential_id: "0011223344556677".into(),
            issuer_kid: "8899aabbccddeeff".into(),
            template_kid: "01020304".into(),
            issued_at_ms: 10,
            expires_at_ms: 20,
            identity_session_id: "s-1".into(),
            confirmation_record_id: "r-1".into(),
        };
        e.validate().expect("valid");
        let mut bad = e.clone();
        bad.expires_at_ms = 10;
        assert!(bad.validate().is_err());
        let mut bad = e;
        bad.template_kid = "nothex".into();
        assert!(bad.validate().is_err());
    }
}
