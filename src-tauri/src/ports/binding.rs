//! The backend port: the calls to the bank's backend that a procedure waits for. Today one:
//! the passkey binding code of a re-binding (`POST /v1/binding-codes`).
//!
//! Each request runs on a short-lived thread of its own, so the procedure runner never waits
//! on the network: it first delivers the ledger's pending records (the same idempotent drain
//! the sync thread runs, so the backend holds the identity verification's record or the
//! credential's issue the proof names), then asks for the code, renders it as a QR PNG and
//! posts the answer back to the runner as [`Input::Backend`]. Failures become stable codes
//! (`binding.unreachable`, `binding.revoked`, …) — the backend's refusal codes mapped one to
//! one, anything unexpected as `binding.failed`.
//!
//! What it does not do: retry (the teller asks again), keep or log the code (it travels
//! zeroizing to the customer display and is dropped with the step), or work without a
//! backend (no link configured → `binding.unreachable` at once).

use std::sync::Arc;
use std::time::{Duration, Instant};

use madoguchi_flow::Input;
use madoguchi_flow::messages as m;
use madoguchi_flow::ports::{
    BackendEvent, BackendFault, BackendPort, BindingCode, BindingProof, BindingRequest, Private,
    PrivateBytes,
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

/// Delivers the pending records, asks for the code, renders it.
fn request(
    client: &Client,
    ledger: &Ledger,
    request: &BindingRequest,
) -> Result<BindingCode, BackendFault> {
    let opts = DrainOptions {
        deadline: Some(Instant::now() + DELIVER_FOR),
        max_attempts: Some(2),
        ..DrainOptions::default()
    };
    let delivered =
        madoguchi_sync::drain::drain(ledger, client, &opts, &mut |d| std::thread::sleep(d));
    if let Err(e) = &delivered {
        tracing::warn!(
            code = e.code(),
            "records not delivered before the binding code"
        );
        return Err(fault(e));
    }
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

impl BackendPort for BackendLink {
    fn request_binding_code(&mut self, req: BindingRequest) {
        let answer = self.answer.clone();
        let session_id = req.session_id.clone();
        let Some(client) = self.client.clone() else {
            answer(Input::Backend(BackendEvent::BindingCode {
                session_id,
                result: Err(BackendFault(m::R_BINDING_UNREACHABLE)),
            }));
            return;
        };
        let ledger = self.ledger.clone();
        let spawned = std::thread::Builder::new()
            .name("binding-code".into())
            .spawn(move || {
                let result = request(&client, &ledger, &req);
                match &result {
                    Ok(_) => tracing::info!("binding code issued by the backend"),
                    Err(f) => tracing::info!(code = f.0, "no binding code"),
                }
                answer(Input::Backend(BackendEvent::BindingCode {
                    session_id: req.session_id,
                    result,
                }));
            });
        if spawned.is_err() {
            tracing::error!("could not start the binding code request");
            (self.answer)(Input::Backend(BackendEvent::BindingCode {
                session_id,
                result: Err(BackendFault(m::R_BINDING_FAILED)),
            }));
        }
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
