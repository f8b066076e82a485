//! The relying party: the kiosk verifies registrations and sign-ins itself, on `webauthn-rs`.
//!
//! [`SignInVerifier`] issues challenges and checks the answers against the credentials the
//! caller passes (from its ledger cache). Each challenge is single use: finishing a ceremony
//! removes it, whether the answer is accepted or not, so a replayed assertion finds nothing
//! ([`AuthError::ChallengeUnknown`]) and an old assertion sent to a new ceremony answers the
//! wrong challenge ([`AuthError::ChallengeMismatch`]). A challenge expires after
//! [`RpConfig::ceremony_timeout_ms`] on the clock the caller passes as [`Now`]; nothing here
//! reads a clock to decide (webauthn-rs reads the system time only to check attestation
//! certificates, which this crate does not request).
//!
//! Refused: a key not registered or not allowed for this ceremony, a revoked key, a disabled
//! teller (at the start and again at the finish), another origin or RP id, an answer without
//! user verification, a signature counter that did not move forward (a cloned key,
//! [`AuthError::CounterRegressed`]), a credential that may be synchronised between devices,
//! and software keys unless [`RpConfig::allow_soft_keys`] (simulation).
//!
//! Registration of a teller's key needs a [`SignIn`] of a role that may register keys: a
//! value only a successful sign-in makes. The very first supervisor key of an installation is
//! registered with [`SignInVerifier::start_first_registration`].
//!
//! Not here: storing credentials or accounts, session lifetime after sign-in, the audit
//! trail (the caller writes [`SignIn::record`]), attestation of key models.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};
use uuid::Uuid;
use webauthn_rs::prelude::{
    CreationChallengeResponse, PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential,
    RegisterPublicKeyCredential, RequestChallengeResponse, Url,
};
use webauthn_rs::{Webauthn, WebauthnBuilder};

use crate::account::{Role, TellerAccount, TellerId};
use crate::credential::{CredentialId, StoredCredential, attestation_auth_data, parse_auth_data};
use crate::error::AuthError;

/// The default relying party id. `.invalid` can never be a real domain, so no web site can
/// ever ask a teller's key for these credentials.
pub const DEFAULT_RP_ID: &str = "madoguchi.kiosk.invalid";
/// The default origin, `https://` + [`DEFAULT_RP_ID`].
pub const DEFAULT_ORIGIN: &str = "https://madoguchi.kiosk.invalid";

/// At most this many ceremonies wait at once; starting another drops the oldest.
const MAX_PENDING: usize = 16;

/// The relying party's configuration.
///
/// The RP id binds every registered credential: it must be the same on every kiosk and at the
/// backend of one bank, and it can never change without registering every key again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RpConfig {
    /// The relying party id (a domain name). Default [`DEFAULT_RP_ID`].
    pub rp_id: String,
    /// The origin the kiosk presents to the key: `https://` and the RP id or a subdomain of
    /// it. Default [`DEFAULT_ORIGIN`].
    pub origin: String,
    /// The name a key may show.
    pub rp_name: String,
    /// How long a challenge stays valid, in milliseconds (also the key's timeout).
    pub ceremony_timeout_ms: u64,
    /// Accept software keys ([`crate::SoftKey`]): only in simulation.
    pub allow_soft_keys: bool,
}

impl Default for RpConfig {
    fn default() -> Self {
        RpConfig {
            rp_id: DEFAULT_RP_ID.into(),
            origin: DEFAULT_ORIGIN.into(),
            rp_name: "madoguchi".into(),
            ceremony_timeout_ms: 120_000,
            allow_soft_keys: false,
        }
    }
}

/// The time a decision is made at, from the caller's clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Now {
    /// A millisecond clock that never goes back (expiry).
    pub monotonic_ms: u64,
    /// Wall clock, milliseconds since the UNIX epoch (records).
    pub unix_ms: i64,
}

impl Now {
    /// Explicit times.
    pub fn at(monotonic_ms: u64, unix_ms: i64) -> Self {
        Now {
            monotonic_ms,
            unix_ms,
        }
    }

    /// The system clocks (monotonic since the first call in this process).
    pub fn system() -> Self {
        static START: OnceLock<Instant> = OnceLock::new();
        let start = *START.get_or_init(Instant::now);
        let monotonic_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
        let unix_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        Now {
            monotonic_ms,
            unix_ms,
        }
    }

    /// `ms` later on both clocks.
    pub fn plus_ms(self, ms: u64) -> Self {
        Now {
            monotonic_ms: self.monotonic_ms.saturating_add(ms),
            unix_ms: self
                .unix_ms
                .saturating_add(i64::try_from(ms).unwrap_or(i64::MAX)),
        }
    }
}

/// Names one pending ceremony.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CeremonyId(Uuid);

impl CeremonyId {
    fn random() -> Self {
        CeremonyId(Uuid::new_v4())
    }
}

impl std::fmt::Display for CeremonyId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// One teller and their registered keys, as the ledger holds them.
#[derive(Clone, Debug)]
pub struct TellerKeys {
    /// The account.
    pub account: TellerAccount,
    /// The teller's registered keys (revoked ones are skipped).
    pub credentials: Vec<StoredCredential>,
}

/// What a key needs to create a credential.
#[derive(Clone, Debug)]
pub struct RegistrationRequest {
    /// The ceremony to answer.
    pub ceremony: CeremonyId,
    /// The origin the key signs for.
    pub origin: Url,
    /// The WebAuthn creation options (RP, user, challenge, excluded credentials, UV required).
    pub options: CreationChallengeResponse,
    /// The teller the key is for.
    pub teller: TellerId,
}

/// A key's answer to a [`RegistrationRequest`].
#[derive(Clone, Debug)]
pub struct RegistrationResponse {
    /// The ceremony answered.
    pub ceremony: CeremonyId,
    /// The new credential and its attestation.
    pub credential: RegisterPublicKeyCredential,
}

/// What a key needs to sign in.
#[derive(Clone, Debug)]
pub struct SignInRequest {
    /// The ceremony to answer.
    pub ceremony: CeremonyId,
    /// The origin the key signs for.
    pub origin: Url,
    /// The WebAuthn request options (RP id, challenge, allowed credentials, UV required).
    pub options: RequestChallengeResponse,
}

/// A key's answer to a [`SignInRequest`].
#[derive(Clone, Debug)]
pub struct SignInResponse {
    /// The ceremony answered.
    pub ceremony: CeremonyId,
    /// The assertion.
    pub credential: PublicKeyCredential,
}

/// A successful sign-in. Only [`SignInVerifier::finish_sign_in`] makes one, so holding one is
/// proof that the teller signed in (it approves a key registration).
#[derive(Clone, Debug)]
pub struct SignIn {
    account: TellerAccount,
    credential: StoredCredential,
    previous_counter: u32,
    at: Now,
}

impl SignIn {
    /// The teller's account as it was at sign-in.
    pub fn account(&self) -> &TellerAccount {
        &self.account
    }

    /// The teller.
    pub fn teller(&self) -> &TellerId {
        &self.account.id
    }

    /// The teller's role.
    pub fn role(&self) -> Role {
        self.account.role
    }

    /// The key used.
    pub fn credential_id(&self) -> &CredentialId {
        self.credential.id()
    }

    /// The key's new signature counter.
    pub fn counter(&self) -> u32 {
        self.credential.sign_count()
    }

    /// The counter the kiosk had before.
    pub fn previous_counter(&self) -> u32 {
        self.previous_counter
    }

    /// When.
    pub fn at(&self) -> Now {
        self.at
    }

    /// The credential with its counter and last use moved on: the caller stores it.
    pub fn updated_credential(&self) -> &StoredCredential {
        &self.credential
    }

    /// The audit trail entry.
    pub fn record(&self) -> SignInRecord {
        SignInRecord {
            teller: self.account.id.clone(),
            role: self.account.role,
            credential: self.credential.id().clone(),
            key_label: self.credential.label().to_owned(),
            soft_key: self.credential.is_soft(),
            counter: self.credential.sign_count(),
            user_verified: true,
            at_unix_ms: self.at.unix_ms,
        }
    }
}

/// A sign-in, as the audit trail records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignInRecord {
    /// Who.
    pub teller: TellerId,
    /// As what.
    pub role: Role,
    /// With which key.
    pub credential: CredentialId,
    /// The key's label.
    pub key_label: String,
    /// A simulated key.
    pub soft_key: bool,
    /// The key's signature counter.
    pub counter: u32,
    /// The key verified the user (always true for an accepted sign-in).
    pub user_verified: bool,
    /// When (UNIX ms).
    pub at_unix_ms: i64,
}

enum Pending {
    Registration {
        state: Box<PasskeyRegistration>,
        teller: TellerId,
        label: String,
        registered_by: Option<TellerId>,
        exclude: Vec<CredentialId>,
    },
    SignIn {
        state: Box<PasskeyAuthentication>,
    },
}

struct Entry {
    issued_ms: u64,
    pending: Pending,
}

/// The relying party. See the module docs.
pub struct SignInVerifier {
    webauthn: Webauthn,
    config: RpConfig,
    origin: Url,
    pending: HashMap<CeremonyId, Entry>,
}

impl std::fmt::Debug for SignInVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignInVerifier")
            .field("config", &self.config)
            .field("pending", &self.pending.len())
            .finish()
    }
}

impl SignInVerifier {
    /// A relying party for `config`. Refuses an origin that is not `https://` on the RP id or a
    /// subdomain of it, and a zero timeout.
    pub fn new(config: RpConfig) -> Result<Self, AuthError> {
        let origin = Url::parse(&config.origin)
            .map_err(|e| AuthError::Config(format!("origin {:?}: {e}", config.origin)))?;
        if origin.scheme() != "https" {
            return Err(AuthError::Config("origin must be https://".into()));
        }
        if config.ceremony_timeout_ms == 0 {
            return Err(AuthError::Config("ceremony_timeout_ms must be > 0".into()));
        }
        let webauthn = WebauthnBuilder::new(&config.rp_id, &origin)
            .map_err(|_| {
                AuthError::Config(format!(
                    "rp_id {:?} is not the origin's domain or a parent of it",
                    config.rp_id
                ))
            })?
            .rp_name(&config.rp_name)
            .timeout(Duration::from_millis(config.ceremony_timeout_ms))
            .build()
            .map_err(|e| AuthError::Config(format!("{e:?}")))?;
        Ok(SignInVerifier {
            webauthn,
            config,
            origin,
            pending: HashMap::new(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RpConfig {
        &self.config
    }

    /// Ceremonies waiting for an answer.
    pub fn pending(&self) -> usize {
        self.pending.len()
    }

    /// Drops a pending ceremony (the teller cancelled). Unknown ids are ignored.
    pub fn cancel(&mut self, ceremony: CeremonyId) {
        self.pending.remove(&ceremony);
    }

    /// Starts registering a key for `teller`, approved by a signed-in supervisor.
    ///
    /// `existing` is every credential the caller knows (of this teller at least): a key that
    /// holds one of them is excluded. `label` names the key on screens (at most 64
    /// characters).
    pub fn start_registration(
        &mut self,
        approver: &SignIn,
        teller: &TellerAccount,
        existing: &[StoredCredential],
        label: &str,
        now: Now,
    ) -> Result<RegistrationRequest, AuthError> {
        if !approver.role().can_register_keys() {
            return Err(AuthError::NotPermitted {
                role: approver.role().as_str(),
            });
        }
        if !approver.account.enabled {
            return Err(AuthError::Disabled);
        }
        self.start_registration_inner(
            Some(approver.teller().clone()),
            teller,
            existing,
            label,
            now,
        )
    }

    /// Starts registering the first key of an installation, with no one to approve it: only
    /// for an account that may register keys (a supervisor), who then registers the others.
    ///
    /// The caller must allow this only while its store holds no enabled supervisor with a
    /// key (this crate cannot see the store); the registration records no approver.
    pub fn start_first_registration(
        &mut self,
        teller: &TellerAccount,
        existing: &[StoredCredential],
        label: &str,
        now: Now,
    ) -> Result<RegistrationRequest, AuthError> {
        if !teller.role.can_register_keys() {
            return Err(AuthError::NotPermitted {
                role: teller.role.as_str(),
            });
        }
        self.start_registration_inner(None, teller, existing, label, now)
    }

    fn start_registration_inner(
        &mut self,
        registered_by: Option<TellerId>,
        teller: &TellerAccount,
        existing: &[StoredCredential],
        label: &str,
        now: Now,
    ) -> Result<RegistrationRequest, AuthError> {
        if !teller.enabled {
            return Err(AuthError::Disabled);
        }
        if label.chars().count() > 64 || label.chars().any(char::is_control) {
            return Err(AuthError::Invalid(
                "key label: at most 64 characters, no control characters".into(),
            ));
        }
        let exclude: Vec<CredentialId> = existing.iter().map(|c| c.id().clone()).collect();
        let exclude_raw: Vec<Vec<u8>> = exclude.iter().filter_map(CredentialId::to_bytes).collect();
        let (options, state) = self
            .webauthn
            .start_passkey_registration(
                teller.id.user_handle(),
                teller.id.as_str(),
                &teller.display_name,
                (!exclude_raw.is_empty()).then_some(exclude_raw),
            )
            .map_err(|e| AuthError::from_webauthn(&e))?;
        let ceremony = self.insert(
            now,
            Pending::Registration {
                state: Box::new(state),
                teller: teller.id.clone(),
                label: label.to_owned(),
                registered_by,
                exclude,
            },
        );
        Ok(RegistrationRequest {
            ceremony,
            origin: self.origin.clone(),
            options,
            teller: teller.id.clone(),
        })
    }

    /// Checks a key's registration and returns the credential to store (and sync).
    ///
    /// `is_known` says whether a credential id is already registered to anyone: a key must
    /// not be registered twice.
    pub fn finish_registration(
        &mut self,
        response: &RegistrationResponse,
        is_known: impl Fn(&CredentialId) -> bool,
        now: Now,
    ) -> Result<StoredCredential, AuthError> {
        let result = self.finish_registration_inner(response, is_known, now);
        match &result {
            Ok(c) => info!(teller = %c.teller(), credential = %c.id(), "key registered"),
            Err(e) => warn!(code = e.code(), "key registration refused"),
        }
        result
    }

    fn finish_registration_inner(
        &mut self,
        response: &RegistrationResponse,
        is_known: impl Fn(&CredentialId) -> bool,
        now: Now,
    ) -> Result<StoredCredential, AuthError> {
        let Pending::Registration {
            state,
            teller,
            label,
            registered_by,
            exclude,
        } = self.take(response.ceremony, now, false)?
        else {
            return Err(AuthError::ChallengeUnknown);
        };

        let data = attestation_auth_data(&response.credential.response.attestation_object)?;
        let Some((aaguid, raw_id)) = data.attested.clone() else {
            return Err(AuthError::Invalid("no attested credential data".into()));
        };
        let id = CredentialId::from_bytes(&raw_id);
        if exclude.contains(&id) || is_known(&id) {
            return Err(AuthError::AlreadyRegistered);
        }
        let soft = aaguid == *webauthn_authenticator_rs::softtoken::AAGUID.as_bytes();
        if soft && !self.config.allow_soft_keys {
            return Err(AuthError::SoftKeyRefused);
        }

        let passkey = self
            .webauthn
            .finish_passkey_registration(&response.credential, &state)
            .map_err(|e| AuthError::from_webauthn(&e))?;

        // webauthn-rs enforced these already (UV required); checked again on the bytes.
        if !data.flags.user_present() {
            return Err(AuthError::PresenceMissing);
        }
        if !data.flags.user_verified() {
            return Err(AuthError::UvMissing);
        }
        if data.flags.backup_eligible() {
            return Err(AuthError::NotDeviceBound);
        }
        Ok(StoredCredential::new(
            teller,
            label,
            aaguid,
            data.counter,
            now.unix_ms,
            registered_by,
            passkey,
        ))
    }

    /// Starts a sign-in for the keys of one or more tellers (one: the teller picked their
    /// name; several: whoever touches a key). Disabled tellers and revoked keys are left out;
    /// if nothing is left, the error says why.
    pub fn start_sign_in(
        &mut self,
        tellers: &[TellerKeys],
        now: Now,
    ) -> Result<SignInRequest, AuthError> {
        let mut passkeys = Vec::new();
        let (mut disabled, mut enabled, mut soft_refused) = (false, false, false);
        for keys in tellers {
            if !keys.account.enabled {
                disabled = true;
                continue;
            }
            enabled = true;
            for cred in &keys.credentials {
                if cred.is_revoked() || cred.teller() != &keys.account.id {
                    continue;
                }
                if cred.is_soft() && !self.config.allow_soft_keys {
                    soft_refused = true;
                    continue;
                }
                passkeys.push(cred.passkey().clone());
            }
        }
        if passkeys.is_empty() {
            return Err(if disabled && !enabled {
                AuthError::Disabled
            } else if soft_refused {
                AuthError::SoftKeyRefused
            } else {
                AuthError::NoKeys
            });
        }
        let (options, state) = self
            .webauthn
            .start_passkey_authentication(&passkeys)
            .map_err(|e| AuthError::from_webauthn(&e))?;
        let ceremony = self.insert(
            now,
            Pending::SignIn {
                state: Box::new(state),
            },
        );
        Ok(SignInRequest {
            ceremony,
            origin: self.origin.clone(),
            options,
        })
    }

    /// Checks a key's assertion. `tellers` is the current state of the accounts and keys
    /// (read again from the ledger: a teller disabled since the start is refused).
    pub fn finish_sign_in(
        &mut self,
        response: &SignInResponse,
        tellers: &[TellerKeys],
        now: Now,
    ) -> Result<SignIn, AuthError> {
        let result = self.finish_sign_in_inner(response, tellers, now);
        match &result {
            Ok(s) => {
                info!(teller = %s.teller(), credential = %s.credential_id(), counter = s.counter(), "teller signed in")
            }
            Err(e) => warn!(code = e.code(), "sign-in refused"),
        }
        result
    }

    fn finish_sign_in_inner(
        &mut self,
        response: &SignInResponse,
        tellers: &[TellerKeys],
        now: Now,
    ) -> Result<SignIn, AuthError> {
        let Pending::SignIn { state } = self.take(response.ceremony, now, true)? else {
            return Err(AuthError::ChallengeUnknown);
        };
        let raw_id = &response.credential.raw_id;
        let (account, stored) = tellers
            .iter()
            .flat_map(|t| t.credentials.iter().map(move |c| (&t.account, c)))
            .find(|(_, c)| c.id().to_bytes().as_deref() == Some(raw_id.as_slice()))
            .ok_or(AuthError::UnknownKey)?;
        if stored.teller() != &account.id {
            return Err(AuthError::UnknownKey);
        }
        if !account.enabled {
            return Err(AuthError::Disabled);
        }
        if stored.is_revoked() {
            return Err(AuthError::Revoked);
        }
        if stored.is_soft() && !self.config.allow_soft_keys {
            return Err(AuthError::SoftKeyRefused);
        }
        let presented = parse_auth_data(&response.credential.response.authenticator_data)?;
        let regressed = AuthError::CounterRegressed {
            stored: stored.sign_count(),
            presented: presented.counter,
        };

        let result = self
            .webauthn
            .finish_passkey_authentication(&response.credential, &state)
            .map_err(|e| match AuthError::from_webauthn(&e) {
                AuthError::CounterRegressed { .. } => regressed.clone(),
                other => other,
            })?;

        if !result.user_verified() {
            return Err(AuthError::UvMissing);
        }
        if result.backup_eligible() {
            return Err(AuthError::NotDeviceBound);
        }
        // Against the ledger's current counter too (webauthn-rs checked the one from the start).
        let counter = result.counter();
        if (counter > 0 || stored.sign_count() > 0) && counter <= stored.sign_count() {
            return Err(regressed);
        }

        let mut credential = stored.clone();
        credential.record_use(&result, now.unix_ms);
        Ok(SignIn {
            account: account.clone(),
            credential,
            previous_counter: stored.sign_count(),
            at: now,
        })
    }

    fn insert(&mut self, now: Now, pending: Pending) -> CeremonyId {
        // Long-expired ceremonies go; recently expired ones stay to be reported as expired.
        let keep_ms = self.config.ceremony_timeout_ms.saturating_mul(2);
        self.pending
            .retain(|_, e| now.monotonic_ms.saturating_sub(e.issued_ms) <= keep_ms);
        while self.pending.len() >= MAX_PENDING {
            let Some(oldest) = self
                .pending
                .iter()
                .min_by_key(|(_, e)| e.issued_ms)
                .map(|(id, _)| *id)
            else {
                break;
            };
            self.pending.remove(&oldest);
        }
        let id = CeremonyId::random();
        self.pending.insert(
            id,
            Entry {
                issued_ms: now.monotonic_ms,
                pending,
            },
        );
        id
    }

    /// Removes the ceremony (single use) if it is of the wanted kind and not expired.
    fn take(&mut self, id: CeremonyId, now: Now, sign_in: bool) -> Result<Pending, AuthError> {
        let kind_matches = match self.pending.get(&id) {
            None => return Err(AuthError::ChallengeUnknown),
            Some(e) => matches!(e.pending, Pending::SignIn { .. }) == sign_in,
        };
        if !kind_matches {
            return Err(AuthError::ChallengeUnknown);
        }
        let entry = self
            .pending
            .remove(&id)
            .ok_or(AuthError::ChallengeUnknown)?;
        if now.monotonic_ms.saturating_sub(entry.issued_ms) > self.config.ceremony_timeout_ms {
            return Err(AuthError::Expired);
        }
        Ok(entry.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_builds() {
        let v = SignInVerifier::new(RpConfig::default()).expect("default config is valid");
        assert_eq!(v.config().rp_id, DEFAULT_RP_ID);
    }

    #[test]
    fn bad_configs_are_refused() {
        for config in [
            RpConfig {
                origin: "http://madoguchi.kiosk.invalid".into(),
                ..RpConfig::default()
            },
            RpConfig {
                rp_id: "other.invalid".into(),
                ..RpConfig::default()
            },
            RpConfig {
                origin: "not a url".into(),
                ..RpConfig::default()
            },
            RpConfig {
                ceremony_timeout_ms: 0,
                ..RpConfig::default()
            },
        ] {
            let err = SignInVerifier::new(config).expect_err("refused");
            assert_eq!(err.code(), "auth.config");
        }
    }

    #[test]
    fn config_json_has_defaults_and_rejects_unknown_keys() {
        let c: RpConfig = serde_json::from_str(r#"{"allow_soft_keys":true}"#).expect("parses");
        assert!(c.allow_soft_keys);
        assert_eq!(c.origin, DEFAULT_ORIGIN);
        assert!(serde_json::from_str::<RpConfig>(r#"{"rp":"x"}"#).is_err());
    }
}
