//! The backend port: the calls to the bank's backend that a procedure waits for: the passkey
//! binding code of a re-binding (`POST /v1/binding-codes`) and the duplicate-face check of an
//! enrollment (`POST /v1/duplicate-checks`: the enrolled face's int8 template, which the
//! backend keeps sealed at rest and searches 1:N against the other identities' templates).
//!
//! Each request runs on a short-lived thread of its own, so the procedure runner never waits
//! on the network: it first delivers the ledger's pending records (the same idempotent drain
//! the sync thread runs, so the backend holds the identity verification's record or the
//! credential's issue the proof names), then asks for the code, renders it as a QR PNG and
//! posts the answer back to the runner as [`Input::Backend`]. Failures become stable codes
//! (`binding.unreachable`, `binding.revoked`, …) — the backend's refusal codes mapped one to
//! one, anything unexpected as `binding.failed`.
//!
//! What it does not do: retry (the teller asks again), keep or log the code or the template (it travels
//! zeroizing to the customer display and is dropped with the step), or work without a
//! backend (no link configured → `binding.unreachable` at once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use madoguchi_flow::Input;
use madoguchi_flow::messages as m;
use madoguchi_flow::ports::{
    BackendEvent, BackendFault, BackendPort, BindingCode, BindingProof, BindingRequest,
    DuplicateAnswer, DuplicateRequest, Private, PrivateBytes,
};
use madoguchi_ledger::Ledger;
use madoguchi_sync::{Client, DrainOptions, SyncError};
use serde::Deserialize;
use zeroize::Zeroizing;

/// How long the records delivery before a request may take.
const DELIVER_FOR: Duration = Duration::from_secs(10);
/// QR module size in the PNG (pixels).
const MODULE_PX: u32 = 8;

/// Where the answers go (the runner's inbox).
pub type Answer = Arc<dyn Fn(Input) + Send + Sync>;

/// The backend port over the kiosk's sync client.
pub struct BackendLink {
    client: Option<Arc<Client>>,
    ledger: Arc<Ledger>,
    answer: Answer,
}

impl std::fmt::Debug for BackendLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackendLink")
            .field("linked", &self.client.is_some())
            .finish_non_exhaustive()
    }
}

impl BackendLink {
    /// The port; `client` is `None` when no backend is configured.
    pub fn new(client: Option<Arc<Client>>, ledger: Arc<Ledger>, answer: Answer) -> Self {
        BackendLink {
            client,
            ledger,
            answer,
        }
    }
}

#[derive(Deserialize)]
struct Issued {
    code: Zeroizing<String>,
    expires_at_ms: i64,
}

/// The request body the backend takes.
fn body(request: &BindingRequest) -> serde_json::Value {
    let proof = match &request.proof {
        BindingProof::Credential { credential_id } => {
            serde_json::json!({"kind": "credential", "credential_id": credential_id})
        }
        BindingProof::Identity {
            identity_session_id,
        } => serde_json::json!({"kind": "identity", "identity_session_id": identity_session_id}),
    };
    serde_json::json!({"session_id": request.session_id, "proof": proof})
}

/// The flow's code for a failed call.
fn fault(e: &SyncError) -> BackendFault {
    BackendFault(match e {
        SyncError::Unreachable(_) => m::R_BINDING_UNREACHABLE,
        SyncError::GaveUp { last, .. } => return fault(last),
        SyncError::Status { code, .. } => match code.as_str() {
            "unknown_proof" => m::R_BINDING_UNKNOWN_PROOF,
            "revoked" => m::R_BINDING_REVOKED,
            "expired_credential" => m::R_BINDING_EXPIRED,
            "not_verified" => m::R_BINDING_NOT_VERIFIED,
            "too_many_codes" => m::R_BINDING_TOO_MANY,
            _ if matches!(e, SyncError::Status { status: 503, .. }) => m::R_BINDING_UNREACHABLE,
            _ => m::R_BINDING_FAILED,
        },
        _ => m::R_BINDING_FAILED,
    })
}

/// Delivers the ledger's pending records (the backend must hold the proof or the identity).
fn deliver(client: &Client, ledger: &Ledger) -> Result<(), BackendFault> {
    let opts = DrainOptions {
        deadline: Some(Instant::now() + DELIVER_FOR),
        max_attempts: Some(2),
        ..DrainOptions::default()
    };
    match madoguchi_sync::drain::drain(ledger, client, &opts, &mut |d| std::thread::sleep(d)) {
        Ok(_) => Ok(()),
        Err(e) => {
            tracing::warn!(
                code = e.code(),
                "records not delivered before a backend call"
            );
            Err(fault(&e))
        }
    }
}

#[derive(Deserialize)]
struct Checked {
    flagged: bool,
    matches: u32,
    best_score: Option<f32>,
}

/// Delivers the pending records, sends the template, reads the answer.
fn duplicate(
    client: &Client,
    ledger: &Ledger,
    request: &DuplicateRequest,
) -> Result<DuplicateAnswer, BackendFault> {
    let failed = BackendFault(m::R_BINDING_FAILED);
    let template = madoguchi_faceqr::template::Template::from_bytes(request.template.0.expose())
        .ok_or(failed)?;
    let values: Zeroizing<Vec<u8>> =
        Zeroizing::new(template.values().iter().map(|v| *v as u8).collect());
    deliver(client, ledger)?;
    let body = Zeroizing::new(
        serde_json::to_vec(&serde_json::json!({
            "session_id": request.session_id,
            "identity_session_id": request.identity_session_id,
            "template": base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&*values),
        }))
        .map_err(|_| failed)?,
    );
    let answer = client
        .post_json("/v1/duplicate-checks", body.to_vec())
        .map_err(|e| fault(&e))?;
    let c: Checked = serde_json::from_slice(&answer).map_err(|_| {
        tracing::warn!("the backend's duplicate check answer did not parse");
        failed
    })?;
    Ok(DuplicateAnswer {
        flagged: c.flagged,
        matches: c.matches,
        best_score: c.best_score,
    })
}

/// Delivers the pending records, asks for the code, renders it.
fn request(
    client: &Client,
    ledger: &Ledger,
    request: &BindingRequest,
) -> Result<BindingCode, BackendFault> {
    deliver(client, ledger)?;
    let body = serde_json::to_vec(&body(request)).map_err(|_| BackendFault(m::R_BINDING_FAILED))?;
    let answer = client
        .post_json("/v1/binding-codes", body)
        .map_err(|e| fault(&e))?;
    let issued: Issued = serde_json::from_slice(&answer).map_err(|_| {
        tracing::warn!("the backend's binding code answer did not parse");
        BackendFault(m::R_BINDING_FAILED)
    })?;
    let png = madoguchi_faceqr::render::symbol(&issued.code)
        .and_then(|code| madoguchi_faceqr::render::to_png(&code, MODULE_PX))
        .map_err(|_| BackendFault(m::R_BINDING_FAILED))?;
    Ok(BindingCode {
        code: Private::new(issued.code.as_str()),
        qr_png: PrivateBytes::new(png),
        expires_at_ms: issued.expires_at_ms,
    })
}

impl BackendLink {
    /// Runs `call` on a thread of its own and posts its answer; without a backend, or when no
    /// thread can start, answers with `refused(unreachable)` / `refused(failed)` at once.
    fn spawn(
        &self,
        what: &'static str,
        call: impl FnOnce(&Client, &Ledger) -> Input + Send + 'static,
        refused: impl Fn(BackendFault) -> Input,
    ) {
        let Some(client) = self.client.clone() else {
            (self.answer)(refused(BackendFault(m::R_BINDING_UNREACHABLE)));
            return;
        };
        let (ledger, answer) = (self.ledger.clone(), self.answer.clone());
        let spawned = std::thread::Builder::new()
            .name(what.into())
            .spawn(move || answer(call(&client, &ledger)));
        if spawned.is_err() {
            tracing::error!(what, "could not start the backend call");
            (self.answer)(refused(BackendFault(m::R_BINDING_FAILED)));
        }
    }
}

impl BackendPort for BackendLink {
    fn request_binding_code(&mut self, req: BindingRequest) {
        let session_id = req.session_id.clone();
        self.spawn(
            "binding-code",
            move |client, ledger| {
                let result = request(client, ledger, &req);
                match &result {
                    Ok(_) => tracing::info!("binding code issued by the backend"),
                    Err(f) => tracing::info!(code = f.0, "no binding code"),
                }
                Input::Backend(BackendEvent::BindingCode {
                    session_id: req.session_id,
                    result,
                })
            },
            move |f| {
                Input::Backend(BackendEvent::BindingCode {
                    session_id: session_id.clone(),
                    result: Err(f),
                })
            },
        );
    }

    fn check_duplicate(&mut self, req: DuplicateRequest) {
        let session_id = req.session_id.clone();
        self.spawn(
            "duplicate-check",
            move |client, ledger| {
                let result = duplicate(client, ledger, &req);
                match &result {
                    Ok(a) => tracing::info!(flagged = a.flagged, "duplicate-face check answered"),
                    Err(f) => tracing::info!(code = f.0, "no duplicate-face check"),
                }
                Input::Backend(BackendEvent::Duplicate {
                    session_id: req.session_id,
                    result,
                })
            },
            move |f| {
                Input::Backend(BackendEvent::Duplicate {
                    session_id: session_id.clone(),
                    result: Err(f),
                })
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_names_the_proof_as_the_backend_takes_it() {
        let b = body(&BindingRequest {
            session_id: "s-2".into(),
            proof: BindingProof::Identity {
                identity_session_id: "s-1".into(),
            },
        });
        assert_eq!(
            b,
            serde_json::json!({"session_id": "s-2", "proof": {"kind": "identity", "identity_session_id": "s-1"}})
        );
        let b = body(&BindingRequest {
            session_id: "s-3".into(),
            proof: BindingProof::Credential {
                credential_id: "00aa".into(),
            },
        });
        assert_eq!(b["proof"]["kind"], "credential");
        assert_eq!(b["proof"]["credential_id"], "00aa");
    }

    #[test]
    fn backend_refusals_map_to_their_codes_and_the_rest_to_failed() {
        let status = |s: u16, c: &str| SyncError::Status {
            status: s,
            code: c.into(),
            retry_after: None,
        };
        assert_eq!(fault(&status(409, "revoked")).0, m::R_BINDING_REVOKED);
        assert_eq!(
            fault(&status(404, "unknown_proof")).0,
            m::R_BINDING_UNKNOWN_PROOF
        );
        assert_eq!(
            fault(&status(429, "too_many_codes")).0,
            m::R_BINDING_TOO_MANY
        );
        assert_eq!(fault(&status(500, "internal")).0, m::R_BINDING_FAILED);
        assert_eq!(fault(&status(503, "")).0, m::R_BINDING_UNREACHABLE);
        assert_eq!(
            fault(&SyncError::Unreachable("refused".into())).0,
            m::R_BINDING_UNREACHABLE
        );
        assert_eq!(
            fault(&SyncError::GaveUp {
                attempts: 2,
                last: Box::new(SyncError::Unreachable("x".into()))
            })
            .0,
            m::R_BINDING_UNREACHABLE
        );
    }
}
