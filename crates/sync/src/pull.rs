//! Pulling what the kiosk needs offline, and the clock-skew check.
//!
//! The trust list, the revocation list and the thresholds go into the ledger's caches (the
//! [`TrustCache`] seam; the ledger implements it), only when their version changed, so that
//! the audit trail records real changes. Template keys are secret: they are returned in a
//! zeroizing [`TemplateKeys`] held in memory.
//!
//! What it does NOT do: verify signatures on the pulled documents (the transport is
//! authenticated TLS to the bank; signed trust documents are a later step), or persist the
//! template keys (the ledger has no sealed cache for them yet).

use std::time::{Duration, Instant};

use base64::Engine as _;
use madoguchi_ledger::{CacheKind, Ledger};
use serde::{Deserialize, Serialize};
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
    Ok(r)
}
