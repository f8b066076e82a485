//! Teller accounts and roles.
//!
//! The central backend holds the accounts; the kiosk caches them in its ledger. This module is
//! only the data and the role rules: who may approve an override, register keys, run
//! diagnostics or leave the kiosk. It does not store, sync or authenticate anything.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

/// What a teller may do at the kiosk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Serves customers: runs the counter procedures.
    Teller,
    /// A teller who also approves overrides and registers tellers' keys.
    Supervisor,
    /// Maintenance: diagnostics and leaving the kiosk (to the desktop); serves no customers.
    Technician,
}

impl Role {
    /// Every role, for listings and tests.
    pub const ALL: [Role; 3] = [Role::Teller, Role::Supervisor, Role::Technician];

    /// The serde name (`teller`, `supervisor`, `technician`).
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teller => "teller",
            Role::Supervisor => "supervisor",
            Role::Technician => "technician",
        }
    }

    /// Runs the counter procedures with customers.
    pub fn can_serve_customers(self) -> bool {
        matches!(self, Role::Teller | Role::Supervisor)
    }

    /// Approves a teller's override of a failed check.
    pub fn can_approve_override(self) -> bool {
        matches!(self, Role::Supervisor)
    }

    /// Registers a security key for a teller at the kiosk.
    pub fn can_register_keys(self) -> bool {
        matches!(self, Role::Supervisor)
    }

    /// Opens the diagnostics screens.
    pub fn can_run_diagnostics(self) -> bool {
        matches!(self, Role::Technician)
    }

    /// Leaves the kiosk shell for the operating system.
    pub fn can_leave_kiosk(self) -> bool {
        matches!(self, Role::Technician)
    }
}

/// A teller's id as the central backend issues it: 1 to 64 characters from `A-Z a-z 0-9 . _ -`.
///
/// It names the account in records and audit lines; it is not personal data beyond that.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TellerId(String);

impl TellerId {
    /// Checks and wraps an id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidTellerId> {
        let id = id.into();
        let ok = !id.is_empty()
            && id.len() <= 64
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if ok {
            Ok(TellerId(id))
        } else {
            Err(InvalidTellerId)
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The WebAuthn user handle for this teller: the first 16 bytes of
    /// SHA-256("madoguchi teller\0" ‖ id). Stable, so that every kiosk and the backend derive
    /// the same handle without storing it; it reveals nothing a teller id does not.
    pub fn user_handle(&self) -> Uuid {
        let digest = Sha256::new()
            .chain_update(b"madoguchi teller\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        let mut bytes = [0u8; 16];
        bytes.copy_from_slice(&digest[..16]);
        Uuid::from_bytes(bytes)
    }
}

impl std::fmt::Display for TellerId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for TellerId {
    type Error = InvalidTellerId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TellerId::new(value)
    }
}

impl From<TellerId> for String {
    fn from(value: TellerId) -> Self {
        value.0
    }
}

/// A teller id that breaks the rule of [`TellerId`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a teller id is 1 to 64 characters from A-Z a-z 0-9 . _ -")]
pub struct InvalidTellerId;

/// One teller account, as the backend holds it and the kiosk caches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TellerAccount {
    /// The backend's id.
    pub id: TellerId,
    /// The name the console shows (and the key may store as the WebAuthn display name).
    pub display_name: String,
    /// What the teller may do.
    pub role: Role,
    /// A disabled teller can neither sign in nor get a key registered.
    pub enabled: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_issue_says() {
        assert!(Role::Supervisor.can_approve_override());
        assert!(Role::Supervisor.can_register_keys());
        assert!(!Role::Supervisor.can_leave_kiosk());
        assert!(Role::Technician.can_leave_kiosk());
        assert!(Role::Technician.can_run_diagnostics());
        assert!(!Role::Technician.can_serve_customers());
        assert!(!Role::Technician.can_register_keys());
        for power in [
            Role::can_approve_override,
            Role::can_register_keys,
            Role::can_leave_kiosk,
            Role::can_run_diagnostics,
        ] {
            assert!(!power(Role::Teller));
        }
        assert!(Role::Teller.can_serve_customers());
    }

    #[test]
    fn roles_serialise_snake_case() {
        for role in Role::ALL {
            let json = serde_json::to_string(&role).expect("role serialises");
            assert_eq!(json, format!("\"{}\"", role.as_str()));
            let back: Role = serde_json::from_str(&json).expect("role parses");
            assert_eq!(back, role);
        }
        assert!(serde_json::from_str::<Role>("\"Supervisor\"").is_err());
    }

    #[test]
    fn teller_ids_are_checked() {
        assert!(TellerId::new("t-0001.tokyo_2").is_ok());
        assert!(TellerId::new("").is_err());
        assert!(TellerId::new("a b").is_err());
        assert!(TellerId::new("x".repeat(65)).is_err());
        assert!(serde_json::from_str::<TellerId>("\"bad id\"").is_err());
    }

    #[test]
    fn user_handle_is_stable_and_distinct() {
        let a = TellerId::new("t1").expect("valid");
        let b = TellerId::new("t2").expect("valid");
        assert_eq!(a.user_handle(), a.clone().user_handle());
        assert_ne!(a.user_handle(), b.user_handle());
    }

    #[test]
    fn account_json_rejects_unknown_keys() {
        let ok = r#"{"id":"t1","display_name":"Sato","role":"teller","enabled":true}"#;
        let account: TellerAccount = serde_json::from_str(ok).expect("parses");
        assert_eq!(account.role, Role::Teller);
        let bad = r#"{"id":"t1","display_name":"Sato","role":"teller","enabled":true,"x":1}"#;
        assert!(serde_json::from_str::<TellerAccount>(bad).is_err());
    }
}
