//! The duplicate-face check at enrollment (issue 12 §C): when a kiosk enrolls a customer's
//! face credential it sends the backend the face template, and the backend searches every
//! enrolled template (1:N, exact, [`crate::faceindex`]) for the same face under another
//! *person*; a hit flags the enrollment for teller review.
//!
//! The check (`POST /v1/duplicate-checks`, kiosk token; [`DuplicateIndex::check`]): the kiosk
//! names its enrollment session (`session_id`), the identity verification the customer was
//! verified in (`identity_session_id`) and the int8 template values. The identity session must
//! have a confirmation record (確認記録) from the same kiosk whose `outcome` is `verified`
//! (else [`CheckRefusal`]: `unknown_proof`, 404; `not_verified`, 409). The enrollment
//! (the kiosk and its `session_id`) gets the template — a repeated check of the same
//! enrollment replaces it, one row — and the index is searched for templates of *other*
//! identities whose cosine reaches the threshold. The answer: a fresh check id, whether it was
//! flagged, how many templates of other identities matched, the best such score and the
//! threshold; never another customer's ids or attributes. A flagged check is kept in
//! `duplicate_flags` (one row per enrollment: a repeated flagged check replaces it with its own
//! counts; a repeated check that no longer matches leaves the flag for the teller, who alone
//! clears it), listed by `madoguchi-central duplicates`.
//!
//! Identity ("another identity" means another person, not another visit): the identity key
//! is HMAC-SHA256, under a key derived from the master key ([`crate::master_key`]), of the
//! verified record's 本人特定事項 — the name (normalised: white space, including U+3000,
//! dropped, full-width ASCII folded to ASCII, lower case) and the birth date, as the My Number
//! card's chip gives them on the PIN route. On the 照合番号B route the record holds the name
//! as the chip's image, not text: the key is then made of that image (as sent, base64) and the
//! birth date, which is the same for the same card; a renewed card's image may differ, so the
//! same person may then count as another identity (flagged for the teller: a false alarm, not
//! a missed duplicate). A record without a name or birth date (older or partial records) falls
//! back to the kiosk and identity session themselves: each verification is its own identity,
//! so the same person enrolling again is flagged rather than a duplicate missed. The key
//! reveals nothing without the master key, and the attributes are never stored or logged here.
//!
//! Templates at rest: `face_templates.template_sealed` is `a256gcm1:` + base64url of the
//! AES-256-GCM nonce, ciphertext and tag ([`crate::master_key::MasterKey`]'s sealing), under a
//! key derived from the master key for this purpose only (`face template seal/1`), with the
//! enrollment id (`kiosk/session`) as associated data: a sealed template moved to another row
//! does not open. The index holds them in clear in memory (it must, to search), built at the
//! server's start by opening every row ([`DuplicateIndex::load`]); its memory is zeroed when
//! let go of.
//!
//! Threshold: [`DEFAULT_DUPLICATE_THRESHOLD`] = 0.48, the cosine at which the face-credential
//! model (SFace, 128-d) matches a live face against a credential's template (`[sface]
//! threshold` of `assets/thresholds.toml`, the colour condition the credential's own match
//! uses). A duplicate is the same face matched against another enrollment's template, so the
//! same operating point applies; a lower one would flag look-alikes the credential itself would
//! refuse, a higher one would miss faces it would accept. `serve --duplicate-threshold`.
//!
//! What it does NOT do: decide anything (a flag is for teller review; enrollment goes on),
//! clear flags, take templates from ingest (only from this endpoint), check that the template
//! was made by the credential model (it compares templates of the same length only: one index
//! per length), share the index between backend processes (each builds its own at start and
//! sees only its own checks after that: one backend process per database), delete templates
//! (no retention period is defined for them yet), or log template values, identity keys or
//! attributes.

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::faceindex::{FaceIndex, MAX_DIM};
use crate::master_key::{MasterKey, hmac_sha256};
use crate::store::{Db, Store, pg};
use crate::{CentralError, random_bytes};

/// The default cosine threshold of a duplicate (the credential model's match threshold, see
/// the module docs).
pub const DEFAULT_DUPLICATE_THRESHOLD: f32 = 0.48;

/// Most template values (bytes) a check carries.
pub const MAX_TEMPLATE_BYTES: usize = MAX_DIM;

/// The sealing purpose of templates (associated data, with the enrollment id).
const SEAL_PURPOSE: &str = "face_template";

/// Why a check was refused (each an HTTP status and a stable code).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CheckRefusal {
    /// No confirmation record of that identity session from this kiosk.
    UnknownProof,
    /// The identity session's records did not end `verified`.
    NotVerified,
}

impl CheckRefusal {
    /// The stable error code.
    pub fn code(self) -> &'static str {
        match self {
            CheckRefusal::UnknownProof => "unknown_proof",
            CheckRefusal::NotVerified => "not_verified",
        }
    }

    /// What is wrong (no value from the request).
    pub fn message(self) -> &'static str {
        match self {
            CheckRefusal::UnknownProof => {
                "no confirmation record of this identity session from this kiosk"
            }
            CheckRefusal::NotVerified => {
                "the identity verification of this session did not end verified"
            }
        }
    }
}

/// The outcome of one check (nothing about the other customers but counts and a score).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicateCheck {
    /// This check's id (16 random bytes, hex).
    pub check_id: String,
    /// Whether the face was found under another identity.
    pub flagged: bool,
    /// Templates of other identities at or above the threshold.
    pub matches: u64,
    /// The best of their scores (cosine), if any.
    pub best_score: Option<f32>,
    /// The threshold searched at.
    pub threshold: f32,
}

/// A flagged enrollment, for teller review (no template, no identity).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DuplicateFlag {
    /// The check that flagged it (the latest one).
    pub check_id: String,
    /// The enrolling kiosk.
    pub kiosk_id: String,
    /// Its enrollment session.
    pub session_id: String,
    /// Templates of other identities that matched.
    pub matches: i64,
    /// The best score.
    pub best_score: f64,
    /// When it was flagged.
    pub created_at_ms: i64,
}

/// Reads a template: unpadded base64url of 1 to [`MAX_TEMPLATE_BYTES`] bytes, each an `i8`,
/// not all zero. The error says what is wrong, never the values.
pub fn decode_template(b64: &str) -> Result<Zeroizing<Vec<i8>>, String> {
    let bad =
        || format!("`template` must be unpadded base64url of 1 to {MAX_TEMPLATE_BYTES} bytes");
    if b64.is_empty() || b64.len() > MAX_TEMPLATE_BYTES.div_ceil(3) * 4 {
        return Err(bad());
    }
    let bytes = Zeroizing::new(B64.decode(b64).map_err(|_| bad())?);
    if bytes.is_empty() || bytes.len() > MAX_TEMPLATE_BYTES {
        return Err(bad());
    }
    if bytes.iter().all(|&b| b == 0) {
        return Err("`template` is all zero: it has no direction to compare".into());
    }
    Ok(Zeroizing::new(
        bytes.iter().map(|&b| i8::from_ne_bytes([b])).collect(),
    ))
}

/// The enrollment id of a kiosk's session (unambiguous: a session id has no `/`).
pub fn enrollment_id(kiosk_id: &str, session_id: &str) -> String {
    format!("{kiosk_id}/{session_id}")
}

/// A name as compared: white space (also U+3000) dropped, full-width ASCII folded, lower case.
fn normalise_name(name: &str) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(name.len()));
    for c in name.chars() {
        if c.is_whitespace() {
            continue;
        }
        let c = match u32::from(c) {
            u @ 0xFF01..=0xFF5E => char::from_u32(u - 0xFEE0).unwrap_or(c),
            _ => c,
        };
        out.extend(c.to_lowercase());
    }
    out
}

/// What identifies the person of a confirmation document (see the module docs), as the
/// canonical bytes the identity key is made of.
fn identity_material(doc: &Value, kiosk_id: &str, identity_session_id: &str) -> Zeroizing<Vec<u8>> {
    let subject = doc.get("subject");
    let text = |k: &str| {
        subject
            .and_then(|s| s.get(k))
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let mut m = Zeroizing::new(Vec::new());
    let birth = text("birth_date");
    let name = text("name").map(normalise_name).filter(|n| !n.is_empty());
    match (birth, name, text("name_image_png_b64")) {
        (Some(birth), Some(name), _) => {
            m.extend_from_slice(b"person/1\0name\0");
            m.extend_from_slice(name.as_bytes());
            m.extend_from_slice(b"\0birth\0");
            m.extend_from_slice(birth.as_bytes());
        }
        (Some(birth), None, Some(image)) => {
            m.extend_from_slice(b"person/1\0name-image\0");
            m.extend(image.bytes().filter(|b| !b.is_ascii_whitespace()));
            m.extend_from_slice(b"\0birth\0");
            m.extend_from_slice(birth.as_bytes());
        }
        _ => {
            m.extend_from_slice(b"session/1\0");
            m.extend_from_slice(&(kiosk_id.len() as u64).to_be_bytes());
            m.extend_from_slice(kiosk_id.as_bytes());
            m.extend_from_slice(identity_session_id.as_bytes());
        }
    }
    m
}

/// The identity key of a confirmation document: HMAC-SHA256 under the master key's
/// `identity key/1` key, hex.
pub(crate) fn identity_key(
    master: &MasterKey,
    doc: &Value,
    kiosk_id: &str,
    identity_session_id: &str,
) -> String {
    let key = master.derive("identity key/1");
    let material = identity_material(doc, kiosk_id, identity_session_id);
    hex::encode(hmac_sha256(key.as_slice(), &[&material]))
}

/// The key templates are sealed with.
fn template_sealer(master: &MasterKey) -> MasterKey {
    MasterKey::from_bytes(*master.derive("face template seal/1"))
}

/// The identity key of the session's verified record (the first verified one, in time order).
fn judge_records(
    master: &MasterKey,
    kiosk_id: &str,
    identity_session_id: &str,
    payloads: &[Zeroizing<String>],
) -> Result<String, CheckRefusal> {
    if payloads.is_empty() {
        return Err(CheckRefusal::UnknownProof);
    }
    payloads
        .iter()
        .filter_map(|p| serde_json::from_str::<Value>(p).ok())
        .find(|d| d.get("outcome").and_then(Value::as_str) == Some("verified"))
        .map(|d| identity_key(master, &d, kiosk_id, identity_session_id))
        .ok_or(CheckRefusal::NotVerified)
}

/// One row of `face_templates`, opened.
struct OpenedTemplate {
    enrollment_id: String,
    identity_key: String,
    values: Zeroizing<Vec<i8>>,
}

fn open_row(
    sealer: &MasterKey,
    kiosk_id: &str,
    session_id: &str,
    identity_key: String,
    sealed: &str,
) -> Result<OpenedTemplate, CentralError> {
    let enrollment_id = enrollment_id(kiosk_id, session_id);
    let plain = sealer.open(SEAL_PURPOSE, &enrollment_id, sealed)?;
    Ok(OpenedTemplate {
        enrollment_id,
        identity_key,
        values: Zeroizing::new(plain.iter().map(|&b| i8::from_ne_bytes([b])).collect()),
    })
}

const RECORDS_SQL: &str = "SELECT payload FROM confirmation_records
     WHERE session_id = ?1 AND kiosk_id = ?2 ORDER BY verified_at_ms, record_id";
const PUT_TEMPLATE_SQL: &str = "INSERT INTO face_templates (kiosk_id, session_id, identity_key,
       template_sealed, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)
     ON CONFLICT (kiosk_id, session_id) DO UPDATE SET identity_key = excluded.identity_key,
       template_sealed = excluded.template_sealed, created_at_ms = excluded.created_at_ms";
const TEMPLATES_SQL: &str = "SELECT kiosk_id, session_id, identity_key, template_sealed
     FROM face_templates ORDER BY kiosk_id, session_id";
const PUT_FLAG_SQL: &str = "INSERT INTO duplicate_flags (check_id, kiosk_id, session_id, matches,
       best_score, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
     ON CONFLICT (kiosk_id, session_id) DO UPDATE SET check_id = excluded.check_id,
       matches = excluded.matches, best_score = excluded.best_score,
       created_at_ms = excluded.created_at_ms";
const FLAGS_SQL: &str = "SELECT check_id, kiosk_id, session_id, matches, best_score, created_at_ms
     FROM duplicate_flags ORDER BY created_at_ms DESC, check_id LIMIT ?1";

impl Store {
    /// The identity key of `kiosk_id`'s verified identity session, or why there is none.
    async fn verified_identity(
        &self,
        kiosk_id: &str,
        identity_session_id: &str,
    ) -> Result<Result<String, CheckRefusal>, CentralError> {
        let (kiosk, session) = (kiosk_id.to_owned(), identity_session_id.to_owned());
        let payloads: Vec<Zeroizing<String>> = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    Ok(c.prepare_cached(RECORDS_SQL)?
                        .query_map([&session, &kiosk], |r| r.get::<_, String>(0))?
                        .map(|r| r.map(Zeroizing::new))
                        .collect::<Result<_, _>>()?)
                })
                .await?
            }
            Db::Postgres(c) => c
                .lock()
                .await
                .query(&pg(RECORDS_SQL), &[&session, &kiosk])
                .await?
                .into_iter()
                .map(|r| Zeroizing::new(r.get::<_, String>(0)))
                .collect(),
        };
        Ok(judge_records(
            &self.keys.master,
            kiosk_id,
            identity_session_id,
            &payloads,
        ))
    }

    /// Stores (or replaces) an enrollment's template, sealed.
    async fn put_face_template(
        &self,
        kiosk_id: &str,
        session_id: &str,
        identity_key: &str,
        values: &[i8],
        now_ms: i64,
    ) -> Result<(), CentralError> {
        let plain = Zeroizing::new(
            values
                .iter()
                .map(|v| v.to_ne_bytes()[0])
                .collect::<Vec<u8>>(),
        );
        let sealed = template_sealer(&self.keys.master).seal(
            SEAL_PURPOSE,
            &enrollment_id(kiosk_id, session_id),
            &plain,
        )?;
        let (kiosk, session, identity) = (
            kiosk_id.to_owned(),
            session_id.to_owned(),
            identity_key.to_owned(),
        );
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    c.prepare_cached(PUT_TEMPLATE_SQL)?
                        .execute(rusqlite::params![kiosk, session, identity, sealed, now_ms])?;
                    Ok(())
                })
                .await
            }
            Db::Postgres(c) => {
                c.lock()
                    .await
                    .execute(
                        &pg(PUT_TEMPLATE_SQL),
                        &[&kiosk, &session, &identity, &sealed, &now_ms],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// Every stored template, opened (the index's start).
    async fn face_templates(&self) -> Result<Vec<OpenedTemplate>, CentralError> {
        let sealer = template_sealer(&self.keys.master);
        let rows: Vec<(String, String, String, String)> = match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    Ok(c.prepare(TEMPLATES_SQL)?
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                        .collect::<Result<_, _>>()?)
                })
                .await?
            }
            Db::Postgres(c) => c
                .lock()
                .await
                .query(TEMPLATES_SQL, &[])
                .await?
                .into_iter()
                .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
                .collect(),
        };
        rows.into_iter()
            .map(|(kiosk, session, identity, sealed)| {
                open_row(&sealer, &kiosk, &session, identity, &sealed)
            })
            .collect()
    }

    /// Keeps (or replaces) the flag of an enrollment.
    async fn put_duplicate_flag(&self, flag: DuplicateFlag) -> Result<(), CentralError> {
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    c.prepare_cached(PUT_FLAG_SQL)?.execute(rusqlite::params![
                        flag.check_id,
                        flag.kiosk_id,
                        flag.session_id,
                        flag.matches,
                        flag.best_score,
                        flag.created_at_ms
                    ])?;
                    Ok(())
                })
                .await
            }
            Db::Postgres(c) => {
                c.lock()
                    .await
                    .execute(
                        &pg(PUT_FLAG_SQL),
                        &[
                            &flag.check_id,
                            &flag.kiosk_id,
                            &flag.session_id,
                            &flag.matches,
                            &flag.best_score,
                            &flag.created_at_ms,
                        ],
                    )
                    .await?;
                Ok(())
            }
        }
    }

    /// The duplicate flags, newest first, at most `limit` (teller review, audits).
    pub async fn duplicate_flags(&self, limit: u32) -> Result<Vec<DuplicateFlag>, CentralError> {
        let lim = i64::from(limit);
        let row =
            |check_id, kiosk_id, session_id, matches, best_score, created_at_ms| DuplicateFlag {
                check_id,
                kiosk_id,
                session_id,
                matches,
                best_score,
                created_at_ms,
            };
        match &self.db {
            Db::Sqlite(c) => {
                Store::sqlite(c, move |c| {
                    Ok(c.prepare(FLAGS_SQL)?
                        .query_map([lim], |r| {
                            Ok(row(
                                r.get(0)?,
                                r.get(1)?,
                                r.get(2)?,
                                r.get(3)?,
                                r.get(4)?,
                                r.get(5)?,
                            ))
                        })?
                        .collect::<Result<_, _>>()?)
                })
                .await
            }
            Db::Postgres(c) => Ok(c
                .lock()
                .await
                .query(&pg(FLAGS_SQL), &[&lim])
                .await?
                .into_iter()
                .map(|r| row(r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5)))
                .collect()),
        }
    }
}

/// The in-memory indexes, one per template length.
#[derive(Default)]
struct Indexes {
    by_dim: BTreeMap<usize, FaceIndex>,
}

impl Indexes {
    /// Puts an enrollment's template in, replacing the one it had (of any length).
    fn upsert(&mut self, enrollment: &str, identity: &str, values: &[i8]) -> Result<(), String> {
        for index in self.by_dim.values_mut() {
            index.remove(enrollment);
        }
        let index = match self.by_dim.entry(values.len()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                e.insert(FaceIndex::new(values.len()).map_err(|e| e.to_string())?)
            }
        };
        index
            .insert(enrollment, identity, values)
            .map_err(|e| e.to_string())
    }

    fn len(&self) -> usize {
        self.by_dim.values().map(FaceIndex::len).sum()
    }
}

/// What a kiosk asks a check for.
#[derive(Clone, Copy)]
pub struct Enrollment<'a> {
    /// The authenticated kiosk.
    pub kiosk_id: &'a str,
    /// Its enrollment session.
    pub session_id: &'a str,
    /// The identity verification the customer was verified in (at that kiosk).
    pub identity_session_id: &'a str,
    /// The int8 template values.
    pub template: &'a [i8],
}

impl std::fmt::Debug for Enrollment<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enrollment")
            .field("kiosk_id", &self.kiosk_id)
            .field("session_id", &self.session_id)
            .field("identity_session_id", &self.identity_session_id)
            .field(
                "template",
                &format_args!("<{} values>", self.template.len()),
            )
            .finish()
    }
}

/// The duplicate-face index of a running backend: built from `face_templates` at start (or
/// at the first check), updated by every check. Shared by the handlers behind a lock.
#[derive(Default)]
pub struct DuplicateIndex {
    inner: tokio::sync::RwLock<Option<Indexes>>,
}

impl std::fmt::Debug for DuplicateIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DuplicateIndex")
    }
}

async fn build(store: &Store) -> Result<Indexes, CentralError> {
    let mut indexes = Indexes::default();
    for t in store.face_templates().await? {
        indexes
            .upsert(&t.enrollment_id, &t.identity_key, &t.values)
            .map_err(|e| {
                CentralError::Invalid(format!(
                    "face template of enrollment {} not indexed: {e}",
                    t.enrollment_id
                ))
            })?;
    }
    Ok(indexes)
}

impl DuplicateIndex {
    /// An index not built yet.
    pub fn new() -> DuplicateIndex {
        DuplicateIndex::default()
    }

    /// Builds the index from `store`'s templates unless it was built; returns how many
    /// templates it holds.
    pub async fn load(&self, store: &Store) -> Result<usize, CentralError> {
        let mut guard = self.inner.write().await;
        if guard.is_none() {
            let built = build(store).await?;
            tracing::info!(templates = built.len(), "duplicate-face index built");
            *guard = Some(built);
        }
        Ok(guard.as_ref().map_or(0, Indexes::len))
    }

    /// Templates held (0 before it is built).
    pub async fn len(&self) -> usize {
        self.inner.read().await.as_ref().map_or(0, Indexes::len)
    }

    /// Whether it holds no template.
    pub async fn is_empty(&self) -> bool {
        self.len().await == 0
    }

    /// The check of the enrollment `e` (the kiosk's session, for the customer verified in
    /// its identity session, with its template) at `threshold` (see the module docs).
    /// `Ok(Err(_))` is a [`CheckRefusal`]; `Err(Invalid)` a malformed id, template or
    /// threshold.
    pub async fn check(
        &self,
        store: &Store,
        e: Enrollment<'_>,
        threshold: f32,
        now_ms: i64,
    ) -> Result<Result<DuplicateCheck, CheckRefusal>, CentralError> {
        let Enrollment {
            kiosk_id,
            session_id,
            identity_session_id,
            template,
        } = e;
        crate::binding::check_session_id("session_id", session_id)
            .map_err(CentralError::Invalid)?;
        crate::binding::check_session_id("identity_session_id", identity_session_id)
            .map_err(CentralError::Invalid)?;
        if template.is_empty() || template.len() > MAX_TEMPLATE_BYTES {
            return Err(CentralError::Invalid(format!(
                "a template has 1 to {MAX_TEMPLATE_BYTES} values"
            )));
        }
        if template.iter().all(|&v| v == 0) {
            return Err(CentralError::Invalid("all-zero template".into()));
        }
        if !(threshold.is_finite() && (-1.0..=1.0).contains(&threshold)) {
            return Err(CentralError::Invalid(
                "the duplicate threshold is a cosine in [-1, 1]".into(),
            ));
        }
        let identity = match store
            .verified_identity(kiosk_id, identity_session_id)
            .await?
        {
            Ok(identity) => identity,
            Err(r) => {
                tracing::info!(kiosk = %kiosk_id, refusal = r.code(), "duplicate check refused");
                return Ok(Err(r));
            }
        };
        let enrollment = enrollment_id(kiosk_id, session_id);
        let hits = {
            let mut guard = self.inner.write().await;
            if guard.is_none() {
                *guard = Some(build(store).await?);
            }
            let indexes = guard.get_or_insert_with(Indexes::default);
            store
                .put_face_template(kiosk_id, session_id, &identity, template, now_ms)
                .await?;
            indexes
                .upsert(&enrollment, &identity, template)
                .map_err(CentralError::Invalid)?;
            match indexes.by_dim.get(&template.len()) {
                Some(index) => index
                    .search(template, &identity, threshold, index.len())
                    .map_err(|e| CentralError::Invalid(e.to_string()))?,
                None => Vec::new(),
            }
        };
        let check_id = hex::encode(random_bytes::<16>()?);
        let matches = hits.len() as u64;
        let best_score = hits.first().map(|h| h.score);
        drop(hits);
        if let Some(best) = best_score {
            store
                .put_duplicate_flag(DuplicateFlag {
                    check_id: check_id.clone(),
                    kiosk_id: kiosk_id.to_owned(),
                    session_id: session_id.to_owned(),
                    matches: i64::try_from(matches).unwrap_or(i64::MAX),
                    best_score: f64::from(best),
                    created_at_ms: now_ms,
                })
                .await?;
        }
        let flagged = matches > 0;
        tracing::info!(kiosk = %kiosk_id, flagged, matches, "duplicate-face check");
        Ok(Ok(DuplicateCheck {
            check_id,
            flagged,
            matches,
            best_score,
            threshold,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn templates_are_unpadded_base64url_of_1_to_1024_nonzero_bytes() {
        let t = decode_template(&B64.encode([1u8, 0xff, 0x80])).unwrap();
        assert_eq!(*t, [1i8, -1, -128]);
        assert_eq!(
            decode_template(&B64.encode([7u8; 1024])).unwrap().len(),
            1024
        );
        for bad in [
            String::new(),
            B64.encode([7u8; 1025]),
            B64.encode([0u8; 128]),
            "AAE=".into(),
            "AA+/".into(),
            "A".into(),
            "!!!!".into(),
        ] {
            assert!(decode_template(&bad).is_err(), "{bad}");
        }
        let e = decode_template(&B64.encode([0u8; 4])).unwrap_err();
        assert!(e.contains("all zero"), "{e}");
    }

    #[test]
    fn a_person_is_their_normalised_name_and_birth_date() {
        let m = MasterKey::from_bytes([3; 32]);
        let doc = |name: &str, birth: &str| {
            json!({"outcome": "verified", "subject": {"name": name, "birth_date": birth,
                   "address": "somewhere", "sex": "F"}})
        };
        let a = identity_key(&m, &doc("山田 花子", "1990-01-02"), "K1", "s1");
        assert_eq!(a.len(), 64);
        // Another visit, another kiosk, another spelling of the space: the same person.
        assert_eq!(
            a,
            identity_key(&m, &doc("山田\u{3000}花子", "1990-01-02"), "K2", "s2")
        );
        assert_eq!(
            identity_key(&m, &doc("ＹＡＭＡＤＡ Hanako", "1990-01-02"), "K1", "s1"),
            identity_key(&m, &doc("yamada  HANAKO", "1990-01-02"), "K1", "s9")
        );
        assert_ne!(
            a,
            identity_key(&m, &doc("山田 花子", "1990-01-03"), "K1", "s1")
        );
        assert_ne!(
            a,
            identity_key(&m, &doc("山田 太郎", "1990-01-02"), "K1", "s1")
        );
        // Another master key: another key for the same person.
        assert_ne!(
            a,
            identity_key(
                &MasterKey::from_bytes([4; 32]),
                &doc("山田 花子", "1990-01-02"),
                "K1",
                "s1"
            )
        );
        // The chip's name image (照合番号B route).
        let img =
            |b64: &str| json!({"subject": {"name_image_png_b64": b64, "birth_date": "1990-01-02"}});
        assert_eq!(
            identity_key(&m, &img("iVBORw0K"), "K1", "s1"),
            identity_key(&m, &img("iVBORw0K"), "K2", "s2")
        );
        assert_ne!(
            identity_key(&m, &img("iVBORw0K"), "K1", "s1"),
            identity_key(&m, &img("iVBORw0L"), "K1", "s1")
        );
        // No attributes: each verification is its own identity.
        let bare = json!({"outcome": "verified"});
        assert_eq!(
            identity_key(&m, &bare, "K1", "s1"),
            identity_key(&m, &bare, "K1", "s1")
        );
        assert_ne!(
            identity_key(&m, &bare, "K1", "s1"),
            identity_key(&m, &bare, "K1", "s2")
        );
        assert_ne!(
            identity_key(&m, &bare, "K1", "s1"),
            identity_key(&m, &bare, "K2", "s1")
        );
        // The key shows nothing of the name.
        assert!(!a.contains("山田"));
    }

    #[test]
    fn records_are_judged_by_their_outcome() {
        let m = MasterKey::from_bytes([3; 32]);
        let p = |s: &str| Zeroizing::new(s.to_owned());
        assert_eq!(
            judge_records(&m, "K", "s", &[]),
            Err(CheckRefusal::UnknownProof)
        );
        assert_eq!(
            judge_records(
                &m,
                "K",
                "s",
                &[p(r#"{"outcome": "refused"}"#), p("not json")]
            ),
            Err(CheckRefusal::NotVerified)
        );
        assert!(
            judge_records(
                &m,
                "K",
                "s",
                &[
                    p(r#"{"outcome": "refused"}"#),
                    p(r#"{"outcome": "verified"}"#)
                ]
            )
            .is_ok()
        );
    }

    #[test]
    fn a_sealed_template_opens_only_for_its_enrollment() {
        let m = MasterKey::from_bytes([5; 32]);
        let s = template_sealer(&m);
        let sealed = s
            .seal(SEAL_PURPOSE, &enrollment_id("K", "s1"), &[1, 2, 3])
            .unwrap();
        let t = open_row(&s, "K", "s1", "id".into(), &sealed).unwrap();
        assert_eq!(
            (t.enrollment_id.as_str(), &**t.values),
            ("K/s1", &[1i8, 2, 3][..])
        );
        assert!(open_row(&s, "K", "s2", "id".into(), &sealed).is_err());
        assert!(
            m.open(SEAL_PURPOSE, "K/s1", &sealed).is_err(),
            "sealed under the master key itself"
        );
    }
}
