//! Pulling what the kiosk needs offline, and the clock-skew check.
//!
//! The trust list, the revocation list and the thresholds go into the ledger's caches (the
//! [`TrustCache`] seam; the ledger implements it), only when their version changed, so that
//! the audit trail records real changes. Template keys are secret: they are returned in a
//! zeroizing [`TemplateKeys`] held in memory.
//!
//! The teller list ([`pull_tellers`], part of [`pull_all`]) is applied to the ledger at every
//! pull, whatever its version (each ledger call writes nothing when the ledger already
//! agrees): every account is upserted first (role, display name, enabled — a teller
//! disabled at the backend can no longer sign in here), then each of its credentials
//! (unknown ones cached, lower local counters raised, revocations applied). A teller the
//! ledger holds but the backend does not list is left alone: the ledger does not record
//! where a teller came from, the kiosk creates some itself (the `counter-unverified`
//! placeholder, the simulation's seeded tellers), and the backend never deletes an account
//! (it disables it, which does reach the kiosk). Likewise a local credential the backend
//! does not list yet (registered here, not drained yet) is kept. An entry the ledger refuses
//! (malformed id, name or body, unknown role) is skipped and counted, never stops the pull.
//! A backend without `/v1/tellers` (404) leaves the tellers untouched.
//!
//! What it does NOT do: verify signatures on the pulled documents (the transport is
//! authenticated TLS to the bank; signed trust documents are a later step), persist the
//! template keys (the ledger has no sealed cache for them yet), or log teller display names
//! (personal data).

use std::time::{Duration, Instant};

use base64::Engine as _;
use madoguchi_ledger::{CacheKind, Ledger, LedgerError, TellerRole};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::{Client, SyncError, now_ms};

/// Largest clock difference tolerated before the kiosk reports its clock as wrong.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// Where pulled trust data goes.
pub trait TrustCache {
    /// The cached version label of `kind`, if any.
    fn cached_version(&self, kind: CacheKind) -> Result<Option<String>, SyncError>;
    /// Stores the trust list or thresholds body.
    fn put(&self, kind: CacheKind, version: &str, body: &[u8]) -> Result<(), SyncError>;
    /// Replaces the revocation list.
    fn put_revocations(&self, version: &str, credential_ids: &[String]) -> Result<(), SyncError>;
    /// Creates or updates a teller from the backend's list; whether something changed.
    fn upsert_teller(
        &self,
        teller_id: &str,
        role: TellerRole,
        display_name: Option<&str>,
        enabled: bool,
    ) -> Result<bool, SyncError>;
    /// Applies one credential of the backend's teller list; whether something changed.
    fn sync_teller_credential(
        &self,
        credential_id: &str,
        teller_id: &str,
        body_json: &[u8],
        sign_count: u32,
        revoked: bool,
    ) -> Result<bool, SyncError>;
}

impl TrustCache for Ledger {
    fn cached_version(&self, kind: CacheKind) -> Result<Option<String>, SyncError> {
        Ok(self.cache_get(kind)?.map(|e| e.version))
    }
    fn put(&self, kind: CacheKind, version: &str, body: &[u8]) -> Result<(), SyncError> {
        Ok(self.cache_put(kind, version, body)?)
    }
    fn put_revocations(&self, version: &str, ids: &[String]) -> Result<(), SyncError> {
        Ok(self.replace_revocations(version, ids)?)
    }
    fn upsert_teller(
        &self,
        teller_id: &str,
        role: TellerRole,
        display_name: Option<&str>,
        enabled: bool,
    ) -> Result<bool, SyncError> {
        Ok(self
            .upsert_teller_from_backend(teller_id, role, display_name, enabled)?
            .is_some())
    }
    fn sync_teller_credential(
        &self,
        credential_id: &str,
        teller_id: &str,
        body_json: &[u8],
        sign_count: u32,
        revoked: bool,
    ) -> Result<bool, SyncError> {
        Ok(self.sync_teller_credential_from_backend(
            credential_id,
            teller_id,
            body_json,
            sign_count,
            revoked,
        )?)
    }
}

/// The kiosk's clock against the backend's.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockSkew {
    /// Backend time minus kiosk time, in ms (positive: the kiosk is behind).
    pub skew_ms: i64,
    /// Round trip of the measurement, in ms (the uncertainty is half of it).
    pub rtt_ms: u64,
    /// `|skew| <= MAX_CLOCK_SKEW`.
    pub ok: bool,
}

#[derive(Deserialize)]
struct TimeAnswer {
    server_time_ms: i64,
}

/// Measures the clock skew against `/v1/time`.
pub fn measure_skew(client: &Client) -> Result<ClockSkew, SyncError> {
    let t0 = now_ms();
    let started = Instant::now();
    let body = client.get("/v1/time")?;
    let rtt = started.elapsed();
    let a: TimeAnswer = serde_json::from_slice(&body)
        .map_err(|e| SyncError::Protocol(format!("time answer: {e}")))?;
    let rtt_ms = i64::try_from(rtt.as_millis()).unwrap_or(i64::MAX);
    let skew_ms = a
        .server_time_ms
        .saturating_sub(t0.saturating_add(rtt_ms / 2));
    Ok(ClockSkew {
        skew_ms,
        rtt_ms: u64::try_from(rtt_ms).unwrap_or(0),
        ok: skew_ms.unsigned_abs() <= MAX_CLOCK_SKEW.as_millis() as u64,
    })
}

/// One template key (secret).
pub struct TemplateKey {
    /// Key id.
    pub kid: String,
    /// `active` or `retired`.
    pub status: String,
    /// The 32-byte AES-256 key.
    pub key: Zeroizing<Vec<u8>>,
}

impl std::fmt::Debug for TemplateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TemplateKey")
            .field("kid", &self.kid)
            .field("status", &self.status)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// The template keys the backend served.
#[derive(Debug, Default)]
pub struct TemplateKeys {
    /// Version of the set.
    pub version: i64,
    /// Newest first.
    pub keys: Vec<TemplateKey>,
}

#[derive(Deserialize)]
struct Versioned {
    version: i64,
}

#[derive(Deserialize)]
struct RevocationsAnswer {
    version: i64,
    revocations: Vec<RevokedEntry>,
}

#[derive(Deserialize)]
struct RevokedEntry {
    credential_id: String,
}

#[derive(Deserialize)]
struct TemplateKeysAnswer {
    version: i64,
    keys: Vec<WireTemplateKey>,
}

#[derive(Deserialize)]
struct WireTemplateKey {
    kid: String,
    status: String,
    key: String,
}

/// What a pull did.
#[derive(Debug, Default, Serialize)]
pub struct PullReport {
    /// Trust list version now cached.
    pub trust_list_version: i64,
    /// Revocation list version now cached.
    pub revocations_version: i64,
    /// Revoked credentials in it.
    pub revoked: usize,
    /// Thresholds version now cached.
    pub thresholds_version: i64,
    /// Template key set version.
    pub template_keys_version: i64,
    /// Teller list version served by the backend (0: none).
    pub tellers_version: i64,
    /// Teller accounts and credentials this pull changed in the ledger.
    pub tellers_changed: usize,
    /// Teller accounts and credentials of the list the ledger refused (skipped).
    pub tellers_skipped: usize,
    /// Caches that changed in this pull.
    pub updated: Vec<&'static str>,
    /// The template keys (never serialised).
    #[serde(skip)]
    pub template_keys: TemplateKeys,
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::Protocol(format!("{what}: {e}")))
}

/// Pulls the trust list, revocations, thresholds and template keys.
pub fn pull_all<C: TrustCache + ?Sized>(
    client: &Client,
    cache: &C,
) -> Result<PullReport, SyncError> {
    let mut r = PullReport::default();
    for (path, kind, name) in [
        ("/v1/trust-list", CacheKind::TrustList, "trust_list"),
        ("/v1/thresholds", CacheKind::Thresholds, "thresholds"),
    ] {
        let body = client.get(path)?;
        let v: Versioned = json(&body, name)?;
        let label = v.version.to_string();
        if cache.cached_version(kind)?.as_deref() != Some(label.as_str()) {
            cache.put(kind, &label, &body)?;
            r.updated.push(name);
        }
        match kind {
            CacheKind::TrustList => r.trust_list_version = v.version,
            _ => r.thresholds_version = v.version,
        }
    }
    let rev: RevocationsAnswer = json(&client.get("/v1/revocations")?, "revocations")?;
    let label = rev.version.to_string();
    r.revocations_version = rev.version;
    r.revoked = rev.revocations.len();
    if cache.cached_version(CacheKind::Revocations)?.as_deref() != Some(label.as_str()) {
        let ids: Vec<String> = rev
            .revocations
            .into_iter()
            .map(|e| e.credential_id)
            .collect();
        cache.put_revocations(&label, &ids)?;
        r.updated.push("revocations");
    }
    let tk: TemplateKeysAnswer = json(&client.get("/v1/template-keys")?, "template keys")?;
    r.template_keys_version = tk.version;
    let mut keys = Vec::with_capacity(tk.keys.len());
    for k in tk.keys {
        let text = Zeroizing::new(k.key);
        let key = Zeroizing::new(
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.as_bytes())
                .map_err(|_| {
                    SyncError::Protocol(format!("template key {} is not base64url", k.kid))
                })?,
        );
        if key.len() != 32 {
            return Err(SyncError::Protocol(format!(
                "template key {} is not 32 bytes",
                k.kid
            )));
        }
        keys.push(TemplateKey {
            kid: k.kid,
            status: k.status,
            key,
        });
    }
    r.template_keys = TemplateKeys {
        version: tk.version,
        keys,
    };
    let t = pull_tellers(client, cache)?;
    r.tellers_version = t.version;
    r.tellers_changed = t.changed;
    r.tellers_skipped = t.skipped;
    if t.changed > 0 {
        r.updated.push("tellers");
    }
    Ok(r)
}

#[derive(Deserialize)]
struct TellersAnswer {
    version: i64,
    tellers: Vec<WireTeller>,
}

/// One account of the list (no `Debug`: it holds a display name).
#[derive(Deserialize)]
struct WireTeller {
    id: String,
    display_name: Option<String>,
    role: String,
    enabled: bool,
    #[serde(default)]
    credentials: Vec<WireCredential>,
}

#[derive(Deserialize)]
struct WireCredential {
    credential_id: String,
    revoked: bool,
    sign_count: u32,
    credential: Box<RawValue>,
}

/// What [`pull_tellers`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TellersPull {
    /// The list's version at the backend (0: never changed, or no teller list served).
    pub version: i64,
    /// Accounts and credentials that changed in the ledger.
    pub changed: usize,
    /// Accounts and credentials the ledger refused (malformed, unknown role), skipped.
    pub skipped: usize,
}

/// Whether a ledger error is about the entry itself (skip it) rather than the ledger.
fn refused_entry(e: &SyncError) -> bool {
    matches!(
        e,
        SyncError::Ledger(LedgerError::InvalidInput(_) | LedgerError::NotFound { .. })
    )
}

/// Counts one ledger call of [`pull_tellers`]: a change, a refused entry (logged by id and
/// code, skipped), or a ledger failure (returned).
fn tally(
    out: &mut TellersPull,
    r: Result<bool, SyncError>,
    what: &str,
    id: &str,
) -> Result<(), SyncError> {
    match r {
        Ok(changed) => {
            out.changed += usize::from(changed);
            Ok(())
        }
        Err(e) if refused_entry(&e) => {
            // Ids only: never the display name or the credential.
            tracing::warn!(code = e.code(), what, id, "teller list entry skipped");
            out.skipped += 1;
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// Pulls `/v1/tellers` and applies it to the ledger (see the module docs): accounts first,
/// then their credentials. Entries the ledger refuses are skipped and counted; a failure of
/// the ledger itself, or an answer that is not the documented JSON, is an error.
pub fn pull_tellers<C: TrustCache + ?Sized>(
    client: &Client,
    cache: &C,
) -> Result<TellersPull, SyncError> {
    let body = match client.get("/v1/tellers") {
        Ok(b) => b,
        Err(SyncError::Status { status: 404, .. }) => {
            tracing::debug!("the backend serves no teller list");
            return Ok(TellersPull::default());
        }
        Err(e) => return Err(e),
    };
    let list: TellersAnswer = json(&body, "tellers")?;
    let mut out = TellersPull {
        version: list.version,
        ..TellersPull::default()
    };
    for t in &list.tellers {
        let Some(role) = TellerRole::parse(&t.role) else {
            let unknown = LedgerError::InvalidInput("unknown role".into());
            tally(&mut out, Err(unknown.into()), "teller", &t.id)?;
            out.skipped += t.credentials.len();
            continue;
        };
        let upserted = cache.upsert_teller(&t.id, role, t.display_name.as_deref(), t.enabled);
        let applied = upserted.is_ok();
        tally(&mut out, upserted, "teller", &t.id)?;
        if !applied {
            // Its credentials would need the account: skipped with it.
            out.skipped += t.credentials.len();
            continue;
        }
        for c in &t.credentials {
            let r = cache.sync_teller_credential(
                &c.credential_id,
                &t.id,
                c.credential.get().as_bytes(),
                c.sign_count,
                c.revoked,
            );
            tally(&mut out, r, "credential", &c.credential_id)?;
        }
    }
    Ok(out)
}
