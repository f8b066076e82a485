//! The kiosk's link to the bank's central backend over HTTPS (reqwest with rustls). The
//! outbox drain (batches, idempotency keys, backoff) and the pulls of trust lists,
//! revocations and thresholds arrive with the ledger-and-sync issue.
//!
//! Today: a reachability probe of the backend's health endpoint ([`probe`]), for the device
//! status and diagnostics.
//!
//! What it must not do: write to the ledger except through its outbox API, send anything
//! that did not go through the outbox, log request bodies, or know about Tauri or the UI.

use std::time::{Duration, Instant};

use serde::Serialize;

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

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        // reqwest's Display can carry the URL; the URL holds no personal data.
        e.to_string()
    }
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
