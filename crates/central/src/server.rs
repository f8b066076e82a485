//! The HTTP API (axum), as documented in `openapi.yaml`.
//!
//! Every error is a JSON `{code, message}` with a 4xx status for anything the client sent
//! wrong (400 malformed, 401 no or unknown token, 403 a token of the wrong side, 404 an unknown
//! binding code or identity session, 409 a conflict with what the backend holds, 410 an expired binding code, 413
//! too large, 415 not JSON, 422 valid JSON that breaks the schema or the limits, 429 too many
//! live binding codes, with `Retry-After`); storage trouble is a 503 with `Retry-After`, so a
//! kiosk backs off and re-sends. Handlers never panic on input.
//!
//! Each event goes through the state's [`EvidenceVerifier`] (JPKI signature evidence is
//! checked by [`crate::evidence::JpkiVerifier`]) and is stored with the verdict. A
//! `confirmation.recorded` event's record is kept for the state's [`Retention`] (default 7
//! years); [`serve`] purges expired confirmation records once at start and then every 24 h.
//!
//! Teller events (`teller.key_registered`, `teller.signed_in`, `teller.key_revoked`) update
//! the teller list in the event's transaction ([`crate::tellers`]); `GET /v1/tellers` serves
//! the list with its version. `face_credential.issued` events are recorded in the event's
//! transaction ([`crate::credentials`]).
//!
//! Trust data ([`crate::trust`]): `GET /v1/list-key` gives the list signing key's public half;
//! `PUT /v1/kiosk-keys` registers the authenticated kiosk's wrap and issuer keys (422 for bad
//! keys, 409 for an issuer key id held otherwise); `GET /v1/trust-list`, `GET /v1/revocations`
//! and `GET /v1/template-keys` answer a [`madoguchi_wire::SignedList`] signed by the list key
//! (the template keys wrapped for the kiosk's registered wrap key; 409 `kiosk_keys_missing`
//! before it registered one).
//!
//! Binding codes ([`crate::binding`]): `POST /v1/binding-codes` (kiosk token) issues a one-time
//! code on a face proof: 201 `{code, expires_at_ms, customer_ref}`, 422 `unknown_proof`,
//! `revoked`, `expired_credential` or `not_verified` when the proof does not hold (and
//! `invalid_binding_request` for a body that breaks the schema), 429 `too_many_codes` with
//! `Retry-After` (until the customer's oldest live code expires). `POST
//! /v1/binding-codes/redeem` takes a [`Service`] token (403 `not_a_service` for a kiosk's):
//! 200 `{customer_ref, kiosk_id, session_id, proof_kind, issued_at_ms}` once, then 409
//! `already_redeemed`; 410 `expired`; 404 `unknown_code` for anything not issued here. A
//! service's token is no kiosk token (401 at every kiosk endpoint).
//!
//! Duplicate-face checks ([`crate::duplicates`]): `POST /v1/duplicate-checks` (kiosk token)
//! `{session_id, identity_session_id, template}` stores the enrollment's template (a repeat
//! replaces it) and searches the state's [`DuplicateIndex`] for the face under another person:
//! 200 `{check_id, flagged, matches, best_score, threshold}`; 404 `unknown_proof` (no
//! confirmation record of that identity session from this kiosk), 409 `not_verified`, 422
//! `invalid_duplicate_check` (schema, session ids, a template that is not 1 to 1024 bytes of
//! unpadded base64url or is all zero). [`serve`] and [`Embedded`] build the index from the
//! stored templates before answering; the threshold is [`Limits::duplicate_threshold`].
//!
//! What it does NOT do: refuse an event whose evidence does not verify or whose confirmation
//! record, teller or credential payload is malformed (it is stored and flagged), serve
//! confirmation records (they are read with the admin CLI only), rate-limit per kiosk (only
//! binding codes per customer), or log bodies, tokens, binding codes, keys or teller names.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, FromRequestParts, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header, request::Parts};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::binding::{Proof, Refusal};
pub use crate::confirmation::Retention;
use crate::duplicates::{CheckRefusal, DuplicateIndex};
use crate::master_key::MasterKey;
use crate::store::{IngestStatus, NewEvent, Store};
use crate::{CentralError, now_ms};
use madoguchi_wire::{KioskKeys, ListPublicKey, SignedList};

/// Default request body limit: 4 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 4 * 1024 * 1024;
/// Default maximum number of events in one batch.
pub const DEFAULT_MAX_BATCH: usize = 1000;
/// Largest `created_at_ms` accepted (2^53 − 1, as in the OpenAPI document).
pub const MAX_TIMESTAMP_MS: i64 = 9_007_199_254_740_991;
/// Longest event kind, in characters.
pub const MAX_KIND_CHARS: usize = 100;

/// The verdict of an [`EvidenceVerifier`] on one event, stored beside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// The event carries no evidence signature (or no verifier is configured).
    NotChecked,
    /// The JPKI signature verified, with a certificate chaining to a trusted signing root
    /// valid on the statement's date.
    Verified,
    /// The certificate chains to a trusted root but the signature does not cover the
    /// statement (tampered statement, or signed by another key).
    BadSignature,
    /// No trusted JPKI signing root issued the signing certificate.
    UntrustedChain,
    /// The signing certificate or its root is not valid on the statement's date.
    Expired,
    /// Signature evidence that cannot be read (not the documented JSON, unknown format, bad
    /// hex or DER, content missing).
    Malformed,
}

impl Verification {
    /// Every verdict, in a fixed order.
    pub const ALL: [Verification; 6] = [
        Verification::NotChecked,
        Verification::Verified,
        Verification::BadSignature,
        Verification::UntrustedChain,
        Verification::Expired,
        Verification::Malformed,
    ];

    /// The stable text stored in the database and shown by `stats`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verification::NotChecked => "not_checked",
            Verification::Verified => "verified",
            Verification::BadSignature => "bad_signature",
            Verification::UntrustedChain => "untrusted_chain",
            Verification::Expired => "expired",
            Verification::Malformed => "malformed",
        }
    }
}

/// The seam for checking evidence signatures as events arrive; the backend's implementation is
/// [`crate::evidence::JpkiVerifier`]. Events are stored whatever the verdict.
pub trait EvidenceVerifier: Send + Sync {
    /// Checks what it can in one event.
    fn verify(&self, kind: &str, payload: &RawValue) -> Verification;
}

/// A verifier that checks nothing and says so (`not_checked` for every event).
#[derive(Debug, Clone, Copy, Default)]
pub struct NotChecked;

impl EvidenceVerifier for NotChecked {
    fn verify(&self, _kind: &str, _payload: &RawValue) -> Verification {
        Verification::NotChecked
    }
}

/// Request limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request body in bytes (larger: 413).
    pub max_body_bytes: usize,
    /// Most events in one batch (more: 413).
    pub max_batch: usize,
    /// The cosine at or above which a duplicate-face check flags another person's template
    /// (default [`crate::duplicates::DEFAULT_DUPLICATE_THRESHOLD`], in `[-1, 1]`).
    pub duplicate_threshold: f32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            max_batch: DEFAULT_MAX_BATCH,
            duplicate_threshold: crate::duplicates::DEFAULT_DUPLICATE_THRESHOLD,
        }
    }
}

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    store: Store,
    verifier: Arc<dyn EvidenceVerifier>,
    limits: Limits,
    retention: Retention,
    duplicates: Arc<DuplicateIndex>,
}

impl AppState {
    /// State over `store` with the default limits and no evidence verification
    /// ([`NotChecked`]); see [`AppState::with_verifier`].
    pub fn new(store: Store) -> AppState {
        AppState {
            store,
            verifier: Arc::new(NotChecked),
            limits: Limits::default(),
            retention: Retention::default(),
            duplicates: Arc::new(DuplicateIndex::new()),
        }
    }

    /// Builds the duplicate-face index from the stored templates, unless it was built (the
    /// first check would build it otherwise); returns how many templates it holds.
    pub async fn load_face_index(&self) -> Result<usize, CentralError> {
        self.duplicates.load(&self.store).await
    }

    /// Replaces the retention of confirmation records (default 2557 days).
    pub fn with_retention(mut self, retention: Retention) -> AppState {
        self.retention = retention;
        self
    }

    /// Replaces the limits.
    pub fn with_limits(mut self, limits: Limits) -> AppState {
        self.limits = limits;
        self
    }

    /// Replaces the evidence verifier.
    pub fn with_verifier(mut self, v: Arc<dyn EvidenceVerifier>) -> AppState {
        self.verifier = v;
        self
    }
}

/// An API error: a status and a JSON `{code, message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
    /// `Retry-After` seconds (429; a 503 always says 5).
    retry_after_s: Option<u64>,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after_s: None,
        }
    }

    /// A binding-code refusal with its status (see [`crate::binding`]).
    fn refused(r: Refusal) -> ApiError {
        let status = match r {
            Refusal::UnknownProof
            | Refusal::Revoked
            | Refusal::ExpiredCredential
            | Refusal::NotVerified => StatusCode::UNPROCESSABLE_ENTITY,
            Refusal::TooManyCodes { .. } => StatusCode::TOO_MANY_REQUESTS,
            Refusal::AlreadyRedeemed => StatusCode::CONFLICT,
            Refusal::Expired => StatusCode::GONE,
            Refusal::UnknownCode => StatusCode::NOT_FOUND,
        };
        let mut e = ApiError::new(status, r.code(), r.message());
        if let Refusal::TooManyCodes { retry_after_ms } = r {
            let secs = u64::try_from(retry_after_ms).unwrap_or(1).div_ceil(1000);
            e.retry_after_s = Some(secs.max(1));
        }
        e
    }
}

impl From<CentralError> for ApiError {
    fn from(e: CentralError) -> ApiError {
        if let CentralError::Conflict { code, message } = e {
            return ApiError::new(StatusCode::CONFLICT, code, message);
        }
        // Never the details: they could name tables or values.
        tracing::error!(error = %e, "storage error");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "storage_unavailable",
            "storage unavailable, retry later",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(json!({"code": self.code, "message": self.message})),
        )
            .into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        } else if let Some(secs) = self.retry_after_s {
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        r
    }
}

/// The SHA-256 of the request's bearer token (`Authorization: Bearer <token>`), if any.
fn bearer_digest(parts: &Parts) -> Option<String> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())?;
    let token = value
        .strip_prefix("Bearer ")
        .map(str::trim)
        .filter(|t| !t.is_empty())?;
    Some(crate::token_digest(token))
}

/// The authenticated kiosk (from `Authorization: Bearer <token>`). A service's token is no
/// kiosk token (401).
#[derive(Debug, Clone)]
pub struct Kiosk(pub String);

impl FromRequestParts<AppState> for Kiosk {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Kiosk, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown kiosk token",
            )
        };
        let digest = bearer_digest(parts).ok_or_else(unauthorized)?;
        match state.store.kiosk_for_token(&digest).await? {
            Some(id) => Ok(Kiosk(id)),
            None => Err(unauthorized()),
        }
    }
}

/// The authenticated service of the bank that redeems binding codes (from `Authorization:
/// Bearer <token>`): 401 for no or an unknown token, 403 `not_a_service` for a kiosk's token.
#[derive(Debug, Clone)]
pub struct Service(pub String);

impl FromRequestParts<AppState> for Service {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Service, ApiError> {
        let unauthorized = || {
            ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or unknown service token",
            )
        };
        let digest = bearer_digest(parts).ok_or_else(unauthorized)?;
        if let Some(id) = state.store.service_for_token(&digest).await? {
            return Ok(Service(id));
        }
        if state.store.kiosk_for_token(&digest).await?.is_some() {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_a_service",
                "a kiosk token cannot redeem binding codes: use the service's own token",
            ));
        }
        Err(unauthorized())
    }
}

/// The routes of the sync API over `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.limits.max_body_bytes;
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/time", get(time))
        .route("/v1/openapi.yaml", get(openapi))
        .route("/v1/events/batch", post(ingest))
        .route("/v1/list-key", get(list_key))
        .route("/v1/kiosk-keys", put(kiosk_keys))
        .route("/v1/trust-list", get(trust_list))
        .route("/v1/revocations", get(revocations))
        .route("/v1/thresholds", get(thresholds))
        .route("/v1/template-keys", get(template_keys))
        .route("/v1/tellers", get(tellers))
        .route("/v1/binding-codes", post(issue_binding_code))
        .route("/v1/binding-codes/redeem", post(redeem_binding_code))
        .route("/v1/duplicate-checks", post(duplicate_check))
        .layer(DefaultBodyLimit::max(limit))
        .with_state(state)
}

async fn health() -> Json<Value> {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")}))
}

async fn time() -> Json<Value> {
    Json(json!({"server_time_ms": now_ms()}))
}

async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/yaml")],
        crate::OPENAPI_YAML,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BatchRequest<'a> {
    #[serde(borrow)]
    events: Vec<WireEvent<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct WireEvent<'a> {
    event_id: String,
    kind: String,
    created_at_ms: i64,
    #[serde(borrow)]
    payload: &'a RawValue,
}

fn is_uuid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

fn unprocessable(msg: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_batch", msg)
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// The body of a JSON request: 413 when too large, 400 when unreadable, 415 when not JSON.
fn json_body(headers: &HeaderMap, body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    let body = body.map_err(|e| {
        let status = e.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(status, "too_large", "request body too large")
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "bad_body",
                "could not read the request body",
            )
        }
    })?;
    if !is_json(headers) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "not_json",
            "content type must be application/json",
        ));
    }
    Ok(body)
}

/// A JSON parse error: 422 `code` for JSON of the wrong shape, 400 for malformed JSON.
fn parse_error(e: &serde_json::Error, code: &'static str, what: &str) -> ApiError {
    match e.classify() {
        serde_json::error::Category::Data => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            code,
            format!("{what} does not match the schema: {e}"),
        ),
        _ => ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {e}"),
        ),
    }
}

async fn ingest(
    State(state): State<AppState>,
    Kiosk(kiosk): Kiosk,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, body)?;
    let batch: BatchRequest<'_> =
        serde_json::from_slice(&body).map_err(|e| parse_error(&e, "invalid_batch", "batch"))?;
    if batch.events.is_empty() {
        return Err(unprocessable("a batch holds at least one event"));
    }
    if batch.events.len() > state.limits.max_batch {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_many_events",
            format!("at most {} events per batch", state.limits.max_batch),
        ));
    }
    let mut events = Vec::with_capacity(batch.events.len());
    for (i, e) in batch.events.iter().enumerate() {
        if !is_uuid(&e.event_id) {
            return Err(unprocessable(format!("events[{i}].event_id is not a UUID")));
        }
        let kind_len = e.kind.chars().count();
        if kind_len == 0 || kind_len > MAX_KIND_CHARS {
            return Err(unprocessable(format!(
                "events[{i}].kind must have 1 to {MAX_KIND_CHARS} characters"
            )));
        }
        if !(0..=MAX_TIMESTAMP_MS).contains(&e.created_at_ms) {
            return Err(unprocessable(format!(
                "events[{i}].created_at_ms is out of range"
            )));
        }
        let verification = state.verifier.verify(&e.kind, e.payload);
        events.push(NewEvent {
            // Lower case: one event id, one spelling.
            event_id: e.event_id.to_ascii_lowercase(),
            kind: e.kind.clone(),
            payload: e.payload.get().to_owned(),
            created_at_ms: e.created_at_ms,
            verification: verification.as_str().to_owned(),
        });
    }
    let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
    let statuses = state
        .store
        .ingest_with_retention(&kiosk, events, now_ms(), state.retention)
        .await?;
    let count = |s| statuses.iter().filter(|x| **x == s).count();
    let (stored, duplicates, conflicts) = (
        count(IngestStatus::Stored),
        count(IngestStatus::Duplicate),
        count(IngestStatus::Conflict),
    );
    tracing::debug!(kiosk = %kiosk, stored, duplicates, conflicts, "batch ingested");
    if conflicts > 0 {
        tracing::warn!(kiosk = %kiosk, conflicts, "event ids re-sent with different content");
    }
    let results: Vec<Value> = ids
        .iter()
        .zip(&statuses)
        .map(|(id, s)| json!({"event_id": id, "status": s}))
        .collect();
    Ok(Json(json!({
        "results": results,
        "stored": stored,
        "duplicates": duplicates,
        "conflicts": conflicts,
    })))
}

async fn list_key(State(state): State<AppState>, _k: Kiosk) -> Json<Value> {
    let key = state.store.list_public_key();
    Json(json!({"key_id": key.key_id(), "public_key": key.to_base64()}))
}

async fn kiosk_keys(
    State(state): State<AppState>,
    Kiosk(kiosk): Kiosk,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = json_body(&headers, body)?;
    let keys: KioskKeys = serde_json::from_slice(&body)
        .map_err(|e| parse_error(&e, "invalid_kiosk_keys", "kiosk keys"))?;
    let invalid =
        |m: String| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_kiosk_keys", m);
    crate::trust::check_kiosk_keys(&keys).map_err(invalid)?;
    let r = state
        .store
        .register_kiosk_keys(&kiosk, &keys)
        .await
        .map_err(|e| match e {
            CentralError::Invalid(m) => invalid(m),
            other => other.into(),
        })?;
    Ok(Json(json!({"trust_list_version": r.trust_list_version})))
}

async fn trust_list(
    State(state): State<AppState>,
    _k: Kiosk,
) -> Result<Json<SignedList>, ApiError> {
    let list = state.store.trust_list(now_ms()).await?;
    Ok(Json(state.store.sign(&list)?))
}

async fn revocations(
    State(state): State<AppState>,
    _k: Kiosk,
) -> Result<Json<SignedList>, ApiError> {
    let list = state.store.revocation_list(now_ms()).await?;
    Ok(Json(state.store.sign(&list)?))
}

async fn thresholds(State(state): State<AppState>, _k: Kiosk) -> Result<Json<Value>, ApiError> {
    let doc = state.store.thresholds().await?;
    let version = state.store.version("thresholds").await?;
    Ok(Json(json!({"version": version, "thresholds": doc})))
}

async fn template_keys(
    State(state): State<AppState>,
    Kiosk(kiosk): Kiosk,
) -> Result<Json<SignedList>, ApiError> {
    match state.store.template_key_list(&kiosk, now_ms()).await? {
        Some(list) => Ok(Json(state.store.sign(&list)?)),
        None => Err(ApiError::new(
            StatusCode::CONFLICT,
            "kiosk_keys_missing",
            "this kiosk has registered no keys: PUT /v1/kiosk-keys first",
        )),
    }
}

async fn tellers(State(state): State<AppState>, _k: Kiosk) -> Result<Json<Value>, ApiError> {
    let list = state.store.tellers_list().await?;
    let tellers: Vec<Value> = list
        .tellers
        .iter()
        .map(|t| {
            let credentials: Vec<Value> = t
                .credentials
                .iter()
                .map(|c| {
                    // Stored only as a JSON object (checked on ingest).
                    let credential: Value =
                        serde_json::from_str(&c.credential).unwrap_or_else(|_| json!({}));
                    json!({"credential_id": c.credential_id, "revoked": c.revoked_at_ms.is_some(),
                           "sign_count": c.sign_count, "credential": credential})
                })
                .collect();
            json!({"id": t.id, "display_name": t.display_name, "role": t.role.as_str(),
                   "enabled": t.enabled, "credentials": credentials})
        })
        .collect();
    Ok(Json(json!({"version": list.version, "tellers": tellers})))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct IssueRequest {
    session_id: String,
    proof: Proof,
}

async fn issue_binding_code(
    State(state): State<AppState>,
    Kiosk(kiosk): Kiosk,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let body = json_body(&headers, body)?;
    let invalid = |m: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_binding_request",
            m,
        )
    };
    let req: IssueRequest = serde_json::from_slice(&body)
        .map_err(|e| parse_error(&e, "invalid_binding_request", "binding code request"))?;
    crate::binding::check_session_id("session_id", &req.session_id).map_err(invalid)?;
    req.proof.validate().map_err(invalid)?;
    let issued = state
        .store
        .issue_binding_code(&kiosk, &req.session_id, &req.proof, now_ms())
        .await
        .map_err(|e| match e {
            CentralError::Invalid(m) => invalid(m),
            other => other.into(),
        })?
        .map_err(ApiError::refused)?;
    Ok((
        StatusCode::CREATED,
        Json(json!({
            "code": issued.code.as_str(),
            "expires_at_ms": issued.expires_at_ms,
            "customer_ref": issued.customer_ref,
        })),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RedeemRequest {
    code: String,
}

async fn redeem_binding_code(
    State(state): State<AppState>,
    Service(service): Service,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::binding::Redeemed>, ApiError> {
    let body = json_body(&headers, body)?;
    // Never the parse error's text: it could quote the code.
    let req: RedeemRequest = serde_json::from_slice(&body).map_err(|e| {
        let mut err = parse_error(&e, "invalid_redeem_request", "redeem request");
        err.message = match err.status {
            StatusCode::BAD_REQUEST => "malformed JSON".into(),
            _ => "the redeem request must be {\"code\": string}".into(),
        };
        err
    })?;
    let code = zeroize::Zeroizing::new(req.code);
    let redeemed = state
        .store
        .redeem_binding_code(&service, &code, now_ms())
        .await?
        .map_err(ApiError::refused)?;
    Ok(Json(redeemed))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DuplicateCheckRequest {
    session_id: String,
    identity_session_id: String,
    template: String,
}

async fn duplicate_check(
    State(state): State<AppState>,
    Kiosk(kiosk): Kiosk,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<crate::duplicates::DuplicateCheck>, ApiError> {
    let body = zeroize::Zeroizing::new(json_body(&headers, body)?.to_vec());
    let invalid = |m: String| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_duplicate_check",
            m,
        )
    };
    // Never the parse error's text: it could quote template values.
    let req: DuplicateCheckRequest = serde_json::from_slice(&body).map_err(|e| {
        let mut err = parse_error(&e, "invalid_duplicate_check", "duplicate check");
        err.message = match err.status {
            StatusCode::BAD_REQUEST => "malformed JSON".into(),
            _ => "the duplicate check must be {\"session_id\": string, \
                  \"identity_session_id\": string, \"template\": string}"
                .into(),
        };
        err
    })?;
    let DuplicateCheckRequest {
        session_id,
        identity_session_id,
        template,
    } = req;
    let template =
        crate::duplicates::decode_template(&zeroize::Zeroizing::new(template)).map_err(invalid)?;
    crate::binding::check_session_id("session_id", &session_id).map_err(invalid)?;
    crate::binding::check_session_id("identity_session_id", &identity_session_id)
        .map_err(invalid)?;
    let checked = state
        .duplicates
        .check(
            &state.store,
            crate::duplicates::Enrollment {
                kiosk_id: &kiosk,
                session_id: &session_id,
                identity_session_id: &identity_session_id,
                template: &template,
            },
            state.limits.duplicate_threshold,
            now_ms(),
        )
        .await
        .map_err(|e| match e {
            CentralError::Invalid(m) => invalid(m),
            other => other.into(),
        })?
        .map_err(|r| {
            let status = match r {
                CheckRefusal::UnknownProof => StatusCode::NOT_FOUND,
                _ => StatusCode::CONFLICT,
            };
            ApiError::new(status, r.code(), r.message())
        })?;
    Ok(Json(checked))
}

/// How often the server purges expired confirmation records.
pub const CONFIRMATION_PURGE_INTERVAL: std::time::Duration =
    std::time::Duration::from_secs(24 * 60 * 60);

/// Purges expired confirmation records now and then every [`CONFIRMATION_PURGE_INTERVAL`]
/// (logging counts only); runs until aborted.
async fn purge_confirmations_periodically(store: Store) {
    let mut every = tokio::time::interval(CONFIRMATION_PURGE_INTERVAL);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        match store.purge_expired_confirmations(now_ms()).await {
            Ok(0) => tracing::debug!("no confirmation record past its retention period"),
            Ok(n) => tracing::info!(purged = n, "confirmation records past retention purged"),
            Err(e) => tracing::warn!(error = %e, "confirmation purge failed; retried in 24 h"),
        }
    }
}

/// Serves the API on `listener` until `shutdown` completes, after building the
/// duplicate-face index (unless built), purging expired confirmation records at start and
/// every 24 h meanwhile.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), CentralError> {
    state.load_face_index().await?;
    let purger = tokio::spawn(purge_confirmations_periodically(state.store.clone()));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
        .map_err(|source| CentralError::Io {
            context: "serving HTTP".into(),
            source,
        });
    purger.abort();
    served
}

/// A central backend running on its own runtime in the background: the kiosk demo's
/// embedded instance, and the tests' server. Stops when dropped.
pub struct Embedded {
    runtime: Option<tokio::runtime::Runtime>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    addr: SocketAddr,
    store: Store,
}

impl std::fmt::Debug for Embedded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedded")
            .field("addr", &self.addr)
            .finish()
    }
}

/// Opens the store at `database` with `master` and binds `listen` (the serve command and
/// [`Embedded`]).
pub(crate) async fn open_and_bind(
    database: &str,
    master: MasterKey,
    listen: SocketAddr,
) -> Result<(Store, tokio::net::TcpListener), CentralError> {
    let store = Store::open(database, master).await?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| CentralError::Io {
            context: format!("binding {listen}"),
            source,
        })?;
    Ok((store, listener))
}

impl Embedded {
    /// Opens `database` with the master key `master` (see [`Store::open`]) and serves it on
    /// `listen` (port 0: any free one), verifying evidence signatures against the J-LIS
    /// production roots only.
    pub fn start(
        database: &str,
        master: MasterKey,
        listen: SocketAddr,
        limits: Limits,
    ) -> Result<Embedded, CentralError> {
        let roots = crate::evidence::JpkiRoots::production()?;
        Self::start_with_verifier(
            database,
            master,
            listen,
            limits,
            Arc::new(crate::evidence::JpkiVerifier::new(roots)),
        )
    }

    /// As [`Embedded::start`], with this evidence verifier (e.g. a
    /// [`crate::evidence::JpkiVerifier`] that also trusts the TEST roots, in simulation).
    pub fn start_with_verifier(
        database: &str,
        master: MasterKey,
        listen: SocketAddr,
        limits: Limits,
        verifier: Arc<dyn EvidenceVerifier>,
    ) -> Result<Embedded, CentralError> {
        Self::start_with_options(
            database,
            master,
            listen,
            limits,
            verifier,
            Retention::default(),
        )
    }

    /// As [`Embedded::start_with_verifier`], keeping confirmation records for `retention`
    /// (default 2557 days elsewhere).
    pub fn start_with_options(
        database: &str,
        master: MasterKey,
        listen: SocketAddr,
        limits: Limits,
        verifier: Arc<dyn EvidenceVerifier>,
        retention: Retention,
    ) -> Result<Embedded, CentralError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("central")
            .enable_all()
            .build()
            .map_err(|source| CentralError::Io {
                context: "starting the runtime".into(),
                source,
            })?;
        let (store, listener) = runtime.block_on(open_and_bind(database, master, listen))?;
        let addr = listener.local_addr().map_err(|source| CentralError::Io {
            context: "local address".into(),
            source,
        })?;
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let state = AppState::new(store.clone())
            .with_limits(limits)
            .with_verifier(verifier)
            .with_retention(retention);
        runtime.block_on(state.load_face_index())?;
        runtime.spawn(async move {
            let stop = async move {
                let _ = rx.await;
            };
            if let Err(e) = serve(listener, state, stop).await {
                tracing::error!(error = %e, "embedded central stopped");
            }
        });
        Ok(Embedded {
            runtime: Some(runtime),
            shutdown: Some(tx),
            addr,
            store,
        })
    }

    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://ADDR`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The public half of its list signing key (what a kiosk pins).
    pub fn list_public_key(&self) -> ListPublicKey {
        self.store.list_public_key()
    }

    /// Runs `f` with the store on the server's runtime (admin actions, audits in tests).
    pub fn with_store<T, F, Fut>(&self, f: F) -> Result<T, CentralError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = Result<T, CentralError>>,
    {
        match &self.runtime {
            Some(rt) => rt.block_on(f(self.store.clone())),
            None => Err(CentralError::Invalid("stopped".into())),
        }
    }
}

impl Drop for Embedded {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_timeout(std::time::Duration::from_secs(5));
        }
    }
}
