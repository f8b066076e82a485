//! Pulling what the kiosk needs offline, and the clock-skew check.
//!
//! A pull first makes sure of the backend's list key (the provisioned
//! `backend.list_public_key`, else the key pinned in the ledger, else — at the first contact
//! only — the key the backend serves, pinned from then on) and registers the kiosk's own
//! public keys (`PUT /v1/kiosk-keys`: its template-key wrap key and its face-credential
//! issuer key, made from secrets sealed in the ledger, see [`kiosk_identity`]). Then the
//! signed trust list, revocation list and template-key list (`madoguchi-wire` formats) are
//! each verified against the list key, refused if older than the version held (a rollback),
//! and stored in the ledger's caches as received (the [`TrustCache`] seam; the ledger
//! implements it): a new version is audited, the same version again only marks the cache
//! refreshed, which is what the list age is measured from. The template keys stay wrapped
//! for this kiosk at rest; the pull checks that each opens. The thresholds are cached as
//! before (unsigned).
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
//! What it does NOT do: open the template keys for use or decide whether lists are fresh
//! enough (see [`crate::trust`]), rotate the list key (a new key needs provisioning), or log
//! teller display names (personal data).

use std::time::{Duration, Instant};

use madoguchi_ledger::{CacheEntry, CacheKind, Ledger, LedgerError, TellerRole};
use madoguchi_wire::{
    ISSUER_SECRET, KioskIdentity, ListBody, ListPublicKey, RevocationList, SignedList,
    TemplateKeyList, TrustList, WRAP_SECRET, WireError, check_newer,
};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use zeroize::Zeroizing;

use crate::{Client, SyncError, now_ms};

/// Largest clock difference tolerated before the kiosk reports its clock as wrong.
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(120);

/// Where pulled trust data goes.
pub trait TrustCache {
    /// The cached entry of `kind`, if any.
    fn cached(&self, kind: CacheKind) -> Result<Option<CacheEntry>, SyncError>;
    /// Stores a body the backend served (see [`Ledger::cache_store`]); whether the version
    /// changed.
    fn store(&self, kind: CacheKind, version: &str, body: &[u8]) -> Result<bool, SyncError>;
    /// The kiosk's secret called `name` (made on first use).
    fn kiosk_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, SyncError>;
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
    fn cached(&self, kind: CacheKind) -> Result<Option<CacheEntry>, SyncError> {
        Ok(self.cache_get(kind)?)
    }
    fn store(&self, kind: CacheKind, version: &str, body: &[u8]) -> Result<bool, SyncError> {
        Ok(self.cache_store(kind, version, body)?)
    }
    fn kiosk_secret(&self, name: &str) -> Result<Zeroizing<[u8; 32]>, SyncError> {
        Ok(Ledger::kiosk_secret(self, name)?)
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

/// How the kiosk checks what it pulls.
#[derive(Debug, Clone, Default)]
pub struct TrustOptions {
    /// The kiosk's id (`kiosk.id`): template keys are wrapped for it.
    pub kiosk_id: String,
    /// The backend's list key as provisioned (`backend.list_public_key`). `None`: the key the
    /// backend serves at the first contact is pinned (trust on first use, over the
    /// authenticated TLS connection) and every later list must be signed by it.
    pub list_key: Option<ListPublicKey>,
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

/// What a pull did.
#[derive(Debug, Default, Serialize)]
pub struct PullReport {
    /// Id of the list key the lists were verified with.
    pub list_key_id: String,
    /// The backend refused the kiosk's key registration with this code (a revoked or retired
    /// issuer key, a key id taken): the lists are pulled all the same — they say why.
    pub registration_refused: Option<String>,
    /// Trust list version now cached.
    pub trust_list_version: u64,
    /// Issuer keys on it.
    pub issuers: usize,
    /// Revocation list version now cached.
    pub revocations_version: u64,
    /// Revoked credentials in it.
    pub revoked: usize,
    /// Template key list version now cached.
    pub template_keys_version: u64,
    /// Template keys on it (wrapped for this kiosk; checked to open).
    pub template_keys: usize,
    /// Thresholds version now cached.
    pub thresholds_version: i64,
    /// Teller list version served by the backend (0: none).
    pub tellers_version: i64,
    /// Teller accounts and credentials this pull changed in the ledger.
    pub tellers_changed: usize,
    /// Teller accounts and credentials of the list the ledger refused (skipped).
    pub tellers_skipped: usize,
    /// Caches whose version changed in this pull.
    pub updated: Vec<&'static str>,
}

#[derive(Deserialize)]
struct Versioned {
    version: i64,
}

#[derive(Deserialize)]
struct ListKeyAnswer {
    key_id: String,
    public_key: String,
}

fn json<T: for<'de> Deserialize<'de>>(body: &[u8], what: &str) -> Result<T, SyncError> {
    serde_json::from_slice(body).map_err(|e| SyncError::Protocol(format!("{what}: {e}")))
}

fn wire(e: WireError) -> SyncError {
    SyncError::Protocol(e.to_string())
}

/// The list key in the ledger, if one is pinned.
pub fn pinned_list_key<C: TrustCache + ?Sized>(
    cache: &C,
) -> Result<Option<ListPublicKey>, SyncError> {
    cache
        .cached(CacheKind::ListKey)?
        .map(|e| {
            ListPublicKey::from_base64(&String::from_utf8_lossy(&e.body))
                .map_err(|e| SyncError::Protocol(format!("pinned list key: {e}")))
        })
        .transpose()
}

/// The list key to verify with: the provisioned one (pinned if the ledger held another or
/// none), else the pinned one, else the one the backend serves now (then pinned).
fn list_key<C: TrustCache + ?Sized>(
    client: &Client,
    cache: &C,
    opts: &TrustOptions,
) -> Result<ListPublicKey, SyncError> {
    let pinned = pinned_list_key(cache)?;
    let key = match (opts.list_key, pinned) {
        (Some(k), Some(p)) if k == p => return Ok(k),
        (Some(k), _) => k,
        (None, Some(p)) => return Ok(p),
        (None, None) => {
            let a: ListKeyAnswer = json(&client.get("/v1/list-key")?, "list key")?;
            let k = ListPublicKey::from_base64(&a.public_key).map_err(wire)?;
            if k.key_id() != a.key_id {
                return Err(SyncError::Protocol(
                    "list key: the key id does not match the key".into(),
                ));
            }
            tracing::info!(key_id = %k.key_id(), "backend list key pinned at first contact");
            k
        }
    };
    cache.store(
        CacheKind::ListKey,
        &key.key_id(),
        key.to_base64().as_bytes(),
    )?;
    Ok(key)
}

/// The kiosk's own key pairs, from its sealed secrets.
pub fn kiosk_identity<C: TrustCache + ?Sized>(cache: &C) -> Result<KioskIdentity, SyncError> {
    let wrap = cache.kiosk_secret(WRAP_SECRET)?;
    let issuer = cache.kiosk_secret(ISSUER_SECRET)?;
    KioskIdentity::from_secrets(&wrap, &issuer).map_err(wire)
}

/// Fetches one signed list, checks it against the list key and the version held, and stores
/// it; returns the body.
fn pull_list<T: ListBody, C: TrustCache + ?Sized>(
    client: &Client,
    cache: &C,
    key: &ListPublicKey,
    path: &str,
    kind: CacheKind,
    check: impl FnOnce(&T) -> Result<(), SyncError>,
    updated: &mut Vec<&'static str>,
) -> Result<T, SyncError> {
    let bytes = client.get(path)?;
    let body: T = SignedList::from_json(&bytes)
        .and_then(|s| s.open::<T>(key))
        .map_err(wire)?;
    check(&body)?;
    let held = cache
        .cached(kind)?
        .and_then(|e| e.version.parse::<u64>().ok());
    check_newer(T::KIND, held, body.version()).map_err(wire)?;
    if cache.store(kind, &body.version().to_string(), &bytes)? {
        updated.push(kind.as_str());
    }
    Ok(body)
}

/// Registers the kiosk's keys, then pulls the signed trust list, revocation list and
/// template keys (each checked against the list key, never older than the one held), the
/// thresholds and the teller list.
pub fn pull_all<C: TrustCache + ?Sized>(
    client: &Client,
    cache: &C,
    opts: &TrustOptions,
) -> Result<PullReport, SyncError> {
    let mut r = PullReport::default();
    let key = list_key(client, cache, opts)?;
    r.list_key_id = key.key_id();
    let identity = kiosk_identity(cache)?;
    let registration = serde_json::to_vec(&identity.registration())
        .map_err(|e| SyncError::Protocol(e.to_string()))?;
    match client.put_json("/v1/kiosk-keys", registration) {
        Ok(_) => {}
        Err(SyncError::Status {
            status: 409 | 422,
            code,
            ..
        }) => {
            tracing::warn!(code = %code, "the backend refused this kiosk's keys");
            r.registration_refused = Some(code);
        }
        Err(e) => return Err(e),
    }

    let trust: TrustList = pull_list(
        client,
        cache,
        &key,
        "/v1/trust-list",
        CacheKind::TrustList,
        |_| Ok(()),
        &mut r.updated,
    )?;
    r.trust_list_version = trust.version;
    r.issuers = trust.issuers.len();
    let rev: RevocationList = pull_list(
        client,
        cache,
        &key,
        "/v1/revocations",
        CacheKind::Revocations,
        |_| Ok(()),
        &mut r.updated,
    )?;
    r.revocations_version = rev.version;
    r.revoked = rev.credentials.len();
    let tk: TemplateKeyList = pull_list(
        client,
        cache,
        &key,
        "/v1/template-keys",
        CacheKind::TemplateKeys,
        |l: &TemplateKeyList| {
            if l.kiosk_id != opts.kiosk_id {
                return Err(SyncError::Protocol(
                    "template keys: wrapped for another kiosk".into(),
                ));
            }
            for k in &l.keys {
                identity
                    .wrap_key()
                    .unwrap(&opts.kiosk_id, k)
                    .map_err(wire)?;
            }
            Ok(())
        },
        &mut r.updated,
    )?;
    r.template_keys_version = tk.version;
    r.template_keys = tk.keys.len();

    let body = client.get("/v1/thresholds")?;
    let v: Versioned = json(&body, "thresholds")?;
    if cache.store(CacheKind::Thresholds, &v.version.to_string(), &body)? {
        r.updated.push("thresholds");
    }
    r.thresholds_version = v.version;

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
