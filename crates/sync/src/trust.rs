//! The face-credential trust the kiosk verifies with, read from its ledger: the cached signed
//! lists, checked again against the pinned list key every time they are loaded (a row edited
//! in the database does not become trusted), and the template keys opened with the kiosk's
//! own wrap key.
//!
//! Freshness: a list's age is measured from the time the backend signed it (`issued_at_ms`;
//! every pull stores the newest signature, see [`crate::pull`]); the age of the trust data
//! is that of the older of the trust list and the revocation list. A kiosk whose lists are
//! older than the configured limit must refuse to verify ([`CachedTrust::check_fresh`]).
//!
//! What it does not do: fetch (see [`crate::pull`]), decide a credential (the `faceqr`
//! crate's verifier does, with what this returns), or keep a template key longer than the
//! caller keeps the [`CachedTrust`] (keys are zeroed on drop).

use madoguchi_ledger::{CacheKind, Ledger};
use madoguchi_wire::{
    ListBody, RevocationList, SignedList, TemplateKeyList, TemplateKeyStatus, TrustList,
};
use zeroize::Zeroizing;

use crate::SyncError;
use crate::pull::{kiosk_identity, pinned_list_key};

/// Why the kiosk has no usable trust data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TrustProblem {
    /// Nothing pulled yet (no list key pinned, or a list missing).
    #[error("the kiosk has no {0} from the backend yet")]
    Missing(&'static str),
    /// A cached list does not verify or does not open (a damaged or edited cache).
    #[error("the cached {what} is not valid: {detail}")]
    Invalid {
        /// Which list.
        what: &'static str,
        /// Why.
        detail: String,
    },
    /// Older than allowed.
    #[error("the trust lists are {age_minutes} minutes old (limit {limit_minutes})")]
    Stale {
        /// Age in minutes.
        age_minutes: i64,
        /// Limit in minutes.
        limit_minutes: i64,
    },
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(String),
}

impl TrustProblem {
    /// A stable code for the screens and logs.
    pub fn code(&self) -> &'static str {
        match self {
            TrustProblem::Missing(_) => "trust.missing",
            TrustProblem::Invalid { .. } => "trust.invalid",
            TrustProblem::Stale { .. } => "trust.stale",
            TrustProblem::Ledger(_) => "trust.ledger",
        }
    }
}

/// One template key, open (zeroed on drop).
pub struct OpenTemplateKey {
    /// Key id bytes.
    pub kid: Vec<u8>,
    /// Whether new credentials use it.
    pub status: TemplateKeyStatus,
    /// The AES-256 key.
    pub key: Zeroizing<[u8; 32]>,
}

impl std::fmt::Debug for OpenTemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "OpenTemplateKey {{ kid: {}, status: {:?}, key: <redacted> }}",
            hex::encode(&self.kid),
            self.status
        )
    }
}

/// The verified trust data of this kiosk.
#[derive(Debug)]
pub struct CachedTrust {
    /// Issuer keys.
    pub trust: TrustList,
    /// Revoked credentials.
    pub revocations: RevocationList,
    /// Template keys, open (empty if none were pulled yet).
    pub template_keys: Vec<OpenTemplateKey>,
    /// The kiosk's own issuer key id (bytes) — which may or may not be on the trust list.
    pub own_issuer_kid: Vec<u8>,
    /// The kiosk's issuer secret (what signs credentials it issues).
    pub own_issuer_seed: Zeroizing<[u8; 32]>,
    /// When the older of the two lists was signed (Unix ms).
    pub signed_at_ms: i64,
}

impl CachedTrust {
    /// The age of the lists at `now_ms`, in ms (never negative).
    pub fn age_ms(&self, now_ms: i64) -> i64 {
        now_ms.saturating_sub(self.signed_at_ms).max(0)
    }

    /// Refuses lists older than `max_age_ms`.
    pub fn check_fresh(&self, now_ms: i64, max_age_ms: i64) -> Result<(), TrustProblem> {
        let age = self.age_ms(now_ms);
        if age > max_age_ms {
            return Err(TrustProblem::Stale {
                age_minutes: age / 60_000,
                limit_minutes: max_age_ms / 60_000,
            });
        }
        Ok(())
    }
}

fn open_cached<T: ListBody>(
    ledger: &Ledger,
    kind: CacheKind,
    key: &madoguchi_wire::ListPublicKey,
) -> Result<Option<T>, TrustProblem> {
    let what = kind.as_str();
    let Some(entry) = ledger
        .cache_get(kind)
        .map_err(|e| TrustProblem::Ledger(e.to_string()))?
    else {
        return Ok(None);
    };
    SignedList::from_json(&entry.body)
        .and_then(|s| s.open::<T>(key))
        .map(Some)
        .map_err(|e| TrustProblem::Invalid {
            what,
            detail: e.to_string(),
        })
}

/// Loads and checks the trust data cached in `ledger` for kiosk `kiosk_id` (not its age: see
/// [`CachedTrust::check_fresh`]).
pub fn load(ledger: &Ledger, kiosk_id: &str) -> Result<CachedTrust, TrustProblem> {
    let ledger_err = |e: SyncError| TrustProblem::Ledger(e.to_string());
    let key = pinned_list_key(ledger)
        .map_err(|e| TrustProblem::Invalid {
            what: "list_key",
            detail: e.to_string(),
        })?
        .ok_or(TrustProblem::Missing("list key"))?;
    let trust: TrustList = open_cached(ledger, CacheKind::TrustList, &key)?
        .ok_or(TrustProblem::Missing("trust list"))?;
    let revocations: RevocationList = open_cached(ledger, CacheKind::Revocations, &key)?
        .ok_or(TrustProblem::Missing("revocation list"))?;
    let identity = kiosk_identity(ledger).map_err(ledger_err)?;
    let mut template_keys = Vec::new();
    if let Some(list) = open_cached::<TemplateKeyList>(ledger, CacheKind::TemplateKeys, &key)? {
        let invalid = |detail: String| TrustProblem::Invalid {
            what: "template_keys",
            detail,
        };
        if list.kiosk_id != kiosk_id {
            return Err(invalid("wrapped for another kiosk".into()));
        }
        for k in &list.keys {
            let open = identity
                .wrap_key()
                .unwrap(kiosk_id, k)
                .map_err(|e| invalid(e.to_string()))?;
            let kid = madoguchi_wire::parse_id("template keys", "kid", &k.kid)
                .map_err(|e| invalid(e.to_string()))?;
            template_keys.push(OpenTemplateKey {
                kid,
                status: k.status,
                key: open,
            });
        }
    }
    Ok(CachedTrust {
        signed_at_ms: trust.issued_at_ms.min(revocations.issued_at_ms),
        trust,
        revocations,
        template_keys,
        own_issuer_kid: identity.issuer_kid(),
        own_issuer_seed: Zeroizing::new(*identity.issuer_seed()),
    })
}
