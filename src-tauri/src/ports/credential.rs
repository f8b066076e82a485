//! The credential port over the kiosk's ledger: issues face credentials offline with the
//! kiosk's own issuer key (listed active by the backend) and the active template key, and
//! runs the offline checks of a QR read at the counter — both with the signed trust lists the
//! sync pulled into the ledger, verified again at every use and refused when older than
//! `face_credential.max_list_age_hours`.
//!
//! In simulation the last issued credential's text is also put in the simulated customer's
//! phone ([`SimPhone`]), which the simulated camera then shows when a QR is scanned.
//!
//! What it does not do: read the camera (the face port does), keep a template or a QR text
//! after the call, or log either.

use std::sync::{Arc, Mutex};

use madoguchi_faceqr::format::{IssueRequest, issue};
use madoguchi_faceqr::keys::{IssuerKey, TemplateKeyring, TrustList};
use madoguchi_faceqr::template::{ModelRef, Template};
use madoguchi_faceqr::verify::{Policy, verify_claims, verify_credential};
use madoguchi_flow::messages as m;
use madoguchi_flow::ports::{
    CheckedCredential, CredentialFault, CredentialPort, CredentialRequest, IssuedCredential,
    LiveTemplate, Private, PrivateBytes,
};
use madoguchi_ledger::Ledger;
use madoguchi_sync::trust::{CachedTrust, load};
use madoguchi_wire::{IssuerStatus, TemplateKeyStatus};
use zeroize::Zeroizing;

/// The simulated customer's phone: the credential it holds (QR text), if any.
pub type SimPhone = Arc<Mutex<Option<Zeroizing<String>>>>;

/// Allowed clock difference for a credential's issue time (seconds).
const CLOCK_SKEW_S: i64 = 300;
/// QR module size in the PNG (pixels): a version ≤ 25 symbol is under 1000 px wide.
const MODULE_PX: u32 = 8;

/// The credential port.
pub struct LedgerCredentials {
    ledger: Arc<Ledger>,
    kiosk_id: String,
    max_age_ms: i64,
    validity_days: i64,
    model: Option<ModelRef>,
    phone: Option<SimPhone>,
}

impl std::fmt::Debug for LedgerCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LedgerCredentials")
            .field("kiosk_id", &self.kiosk_id)
            .field("model", &self.model)
            .finish_non_exhaustive()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl LedgerCredentials {
    /// Over `ledger` for kiosk `kiosk_id`; `model` is the embedding model the face port runs
    /// (from the manifest; `None` when the models are missing: nothing is issued or checked);
    /// credentials issued here are valid `validity_days` (`face_credential.validity_days`).
    pub fn new(
        ledger: Arc<Ledger>,
        kiosk_id: String,
        max_age_ms: i64,
        validity_days: i64,
        model: Option<ModelRef>,
        phone: Option<SimPhone>,
    ) -> Self {
        LedgerCredentials {
            ledger,
            kiosk_id,
            max_age_ms,
            validity_days,
            model,
            phone,
        }
    }

    fn trust(&self, now: i64) -> Result<CachedTrust, CredentialFault> {
        let fault = |p: madoguchi_sync::TrustProblem| {
            tracing::warn!(code = p.code(), "face credential trust: {p}");
            CredentialFault(match p {
                madoguchi_sync::TrustProblem::Missing(_) => m::R_TRUST_MISSING,
                madoguchi_sync::TrustProblem::Stale { .. } => m::R_TRUST_STALE,
                _ => m::R_TRUST_INVALID,
            })
        };
        let t = load(&self.ledger, &self.kiosk_id).map_err(fault)?;
        t.check_fresh(now, self.max_age_ms).map_err(fault)?;
        Ok(t)
    }

    fn model(&self) -> Result<ModelRef, CredentialFault> {
        self.model
            .clone()
            .ok_or(CredentialFault("face.unavailable"))
    }
}

fn keyring(t: &CachedTrust, current: Option<&[u8]>) -> Option<TemplateKeyring> {
    let current = current
        .map(<[u8]>::to_vec)
        .or_else(|| t.template_keys.first().map(|k| k.kid.clone()))?;
    TemplateKeyring::from_keys(
        current,
        t.template_keys
            .iter()
            .map(|k| (k.kid.clone(), Zeroizing::new(*k.key))),
    )
}

impl CredentialPort for LedgerCredentials {
    fn issue(
        &mut self,
        request: &CredentialRequest<'_>,
    ) -> Result<IssuedCredential, CredentialFault> {
        let model = self.model()?;
        let now = now_ms();
        let t = self.trust(now)?;
        match t.trust.issuer(&t.own_issuer_kid) {
            Some(i) if i.status == IssuerStatus::Active => {}
            _ => return Err(CredentialFault(m::R_ISSUER_INACTIVE)),
        }
        let active = t
            .template_keys
            .iter()
            .find(|k| k.status == TemplateKeyStatus::Active)
            .ok_or(CredentialFault(m::R_NO_TEMPLATE_KEY))?;
        let keys = keyring(&t, Some(&active.kid)).ok_or(CredentialFault(m::R_NO_TEMPLATE_KEY))?;
        let issuer = IssuerKey::from_secret(t.own_issuer_kid.clone(), &t.own_issuer_seed);
        let template = Template::from_bytes(request.template.0.expose())
            .ok_or(CredentialFault(m::R_NO_TEMPLATE))?;
        let issued_at = now / 1000;
        let expires_at = issued_at + self.validity_days * 86_400;
        let failed = |e: madoguchi_faceqr::Error| {
            tracing::error!(error = %e, "the credential could not be issued");
            CredentialFault("credential.issue_failed")
        };
        let issued = issue(
            &IssueRequest {
                template: &template,
                model,
                issued_at,
                expires_at,
                subject: None,
            },
            &issuer,
            &keys,
        )
        .map_err(failed)?;
        let png = madoguchi_faceqr::render::symbol(&issued.text)
            .and_then(|code| madoguchi_faceqr::render::to_png(&code, MODULE_PX))
            .map_err(failed)?;
        if let Some(phone) = &self.phone
            && let Ok(mut p) = phone.lock()
        {
            *p = Some(Zeroizing::new(issued.text.clone()));
        }
        Ok(IssuedCredential {
            credential_id: hex::encode(&issued.credential_id),
            issuer_kid: hex::encode(&t.own_issuer_kid),
            template_kid: hex::encode(&active.kid),
            issued_at_ms: issued_at * 1000,
            expires_at_ms: expires_at * 1000,
            qr_png: PrivateBytes::new(png),
        })
    }

    fn check(&mut self, text: &Private) -> Result<CheckedCredential, CredentialFault> {
        let model = self.model()?;
        let now = now_ms();
        let t = self.trust(now)?;
        let list = TrustList::from_wire(&t.trust, &t.revocations)
            .map_err(|_| CredentialFault(m::R_TRUST_INVALID))?;
        let policy = Policy {
            now: now / 1000,
            clock_skew: CLOCK_SKEW_S,
            model,
        };
        let reject = |r: madoguchi_faceqr::verify::Rejection| {
            tracing::info!(
                code = r.reason.code(),
                detail = r.detail,
                "credential rejected"
            );
            CredentialFault(r.reason.code())
        };
        let Some(keys) = keyring(&t, None) else {
            // No template key here: the signed checks still say what is wrong first.
            verify_claims(text.expose(), &list, &policy).map_err(reject)?;
            return Err(CredentialFault(m::R_QR_TEMPLATE_KEY));
        };
        let v = verify_credential(text.expose(), &list, &keys, &policy).map_err(reject)?;
        Ok(CheckedCredential {
            credential_id: v.claims.credential_id.clone(),
            issuer_kid: v.claims.issuer_kid.clone(),
            expires_at_ms: v.claims.expires_at * 1000,
            template: LiveTemplate(PrivateBytes(v.template.to_bytes())),
        })
    }
}
