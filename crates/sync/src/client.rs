//! The HTTP client to the central backend: rustls TLS with the bank's CA (alone or beside the
//! built-in roots), an optional client certificate for mutual TLS, the per-kiosk bearer
//! token, bounded response sizes, and errors that carry the status, the backend's error code
//! and `Retry-After`.
//!
//! What it does NOT do: retry (the drain loop decides), log bodies, or ever put the token in
//! a URL, a log line or an error.

use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use reqwest::header::{CONTENT_TYPE, RETRY_AFTER};
use zeroize::Zeroizing;

use crate::{SyncError, describe};

/// Largest response body read (the trust data can be large; batch answers are small).
pub const MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
/// Longest `Retry-After` honoured (longer ones are capped to this).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// The per-kiosk API token. Zeroized on drop; `Debug` shows nothing of it; no `Display`.
#[derive(Clone)]
pub struct KioskToken(Zeroizing<String>);

impl KioskToken {
    /// Wraps a token.
    pub fn new(token: String) -> KioskToken {
        KioskToken(Zeroizing::new(token))
    }

    /// Reads a token file (surrounding whitespace ignored).
    pub fn from_file(path: &Path) -> Result<KioskToken, SyncError> {
        let text = Zeroizing::new(
            std::fs::read_to_string(path)
                .map_err(|e| SyncError::Config(format!("token file {}: {e}", path.display())))?,
        );
        let t = text.trim();
        if t.is_empty() {
            return Err(SyncError::Config(format!(
                "token file {} is empty",
                path.display()
            )));
        }
        Ok(KioskToken::new(t.to_owned()))
    }

    fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for KioskToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KioskToken(<redacted>)")
    }
}

/// How to reach the backend.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Base URL: `https://…`, or `http://` to a loopback host only.
    pub base_url: String,
    /// The kiosk's token.
    pub token: Option<KioskToken>,
    /// PEM certificates of the bank's CA.
    pub ca_pem: Option<Vec<u8>>,
    /// Trust only `ca_pem`, not the built-in roots.
    pub bank_ca_only: bool,
    /// PEM with the kiosk's client certificate and its private key (mutual TLS).
    pub client_identity_pem: Option<Zeroizing<Vec<u8>>>,
    /// Per-request timeout.
    pub timeout: Duration,
}

impl ClientOptions {
    /// Options for `base_url` with no token, the built-in roots and a 30 s timeout.
    pub fn new(base_url: &str) -> ClientOptions {
        ClientOptions {
            base_url: base_url.to_owned(),
            token: None,
            ca_pem: None,
            bank_ca_only: false,
            client_identity_pem: None,
            timeout: Duration::from_secs(30),
        }
    }
}

/// `true` for a host name or address on this machine's loopback.
fn is_loopback(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    h.eq_ignore_ascii_case("localhost")
        || h.parse::<std::net::IpAddr>().is_ok_and(|a| a.is_loopback())
}

/// The backend client.
pub struct Client {
    http: reqwest::blocking::Client,
    base: String,
    token: Option<KioskToken>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish()
    }
}

impl Client {
    /// Builds the client; checks the URL and the certificates.
    pub fn new(opts: ClientOptions) -> Result<Client, SyncError> {
        let url = reqwest::Url::parse(&opts.base_url)
            .map_err(|e| SyncError::Config(format!("backend url: {e}")))?;
        match (url.scheme(), url.host_str()) {
            ("https", Some(_)) => {}
            ("http", Some(h)) if is_loopback(h) => {}
            _ => {
                return Err(SyncError::Config(
                    "backend url must be https:// (plain http:// only to a loopback host)".into(),
                ));
            }
        }
        let mut b = reqwest::blocking::Client::builder()
            .use_rustls_tls()
            .timeout(opts.timeout)
            .connect_timeout(opts.timeout.min(Duration::from_secs(10)))
            .pool_max_idle_per_host(2)
            .user_agent(concat!("madoguchi-sync/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = &opts.ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| SyncError::Config(format!("bank CA: {e}")))?;
            if certs.is_empty() {
                return Err(SyncError::Config(
                    "bank CA file holds no certificate".into(),
                ));
            }
            for c in certs {
                b = b.add_root_certificate(c);
            }
        }
        if opts.bank_ca_only {
            if opts.ca_pem.is_none() {
                return Err(SyncError::Config(
                    "bank_ca_only needs a bank CA file".into(),
                ));
            }
            b = b.tls_built_in_root_certs(false);
        }
        if let Some(pem) = &opts.client_identity_pem {
            let id = reqwest::Identity::from_pem(pem).map_err(|_| {
                SyncError::Config(
                    "client certificate: not a PEM certificate with its private key".into(),
                )
            })?;
            b = b.identity(id);
        }
        let http = b
            .build()
            .map_err(|e| SyncError::Config(format!("HTTP client: {e}")))?;
        Ok(Client {
            http,
            base: opts.base_url.trim_end_matches('/').to_owned(),
            token: opts.token,
        })
    }

    /// The base URL.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn auth(&self, rb: reqwest::blocking::RequestBuilder) -> reqwest::blocking::RequestBuilder {
        match &self.token {
            Some(t) => rb.bearer_auth(t.expose()),
            None => rb,
        }
    }

    /// GET `path`; the body of a 2xx answer.
    pub fn get(&self, path: &str) -> Result<Vec<u8>, SyncError> {
        let rb = self.auth(self.http.get(format!("{}{path}", self.base)));
        Self::finish(rb.send())
    }

    /// POST a JSON body to `path`; the body of a 2xx answer.
    pub fn post_json(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        let rb = self
            .auth(self.http.post(format!("{}{path}", self.base)))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        Self::finish(rb.send())
    }

    /// PUT a JSON body to `path`; the body of a 2xx answer.
    pub fn put_json(&self, path: &str, body: Vec<u8>) -> Result<Vec<u8>, SyncError> {
        let rb = self
            .auth(self.http.put(format!("{}{path}", self.base)))
            .header(CONTENT_TYPE, "application/json")
            .body(body);
        Self::finish(rb.send())
    }

    fn finish(
        sent: Result<reqwest::blocking::Response, reqwest::Error>,
    ) -> Result<Vec<u8>, SyncError> {
        let resp = sent.map_err(|e| SyncError::Unreachable(describe(&e)))?;
        let status = resp.status();
        let retry_after = resp
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(|s| Duration::from_secs(s).min(MAX_RETRY_AFTER));
        let mut body = Vec::new();
        resp.take(MAX_RESPONSE_BYTES)
            .read_to_end(&mut body)
            .map_err(|e| SyncError::Unreachable(format!("reading the answer: {e}")))?;
        if status.is_success() {
            return Ok(body);
        }
        let code = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("code").and_then(|c| c.as_str()).map(str::to_owned))
            .filter(|c| c.len() <= 64)
            .unwrap_or_else(|| "none".into());
        Err(SyncError::Status {
            status: status.as_u16(),
            code,
            retry_after,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_debug_is_redacted() {
        let t = KioskToken::new("super-secret-token-value".into());
        let shown = format!("{t:?}");
        assert!(!shown.contains("super-secret"), "{shown}");
        let mut o = ClientOptions::new("http://127.0.0.1:1");
        o.token = Some(t);
        let c = Client::new(o).unwrap();
        assert!(!format!("{c:?}").contains("super-secret"));
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8443",
            "http://localhost:1",
            "http://[::1]:9",
            "https://central.bank.example/api",
        ] {
            assert!(Client::new(ClientOptions::new(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1:80",
            "http://central.bank.example",
            "ftp://x",
            "nonsense",
        ] {
            let e = Client::new(ClientOptions::new(bad)).unwrap_err();
            assert_eq!(e.code(), "sync.config", "{bad}");
        }
    }

    #[test]
    fn bad_certificates_are_config_errors() {
        let mut o = ClientOptions::new("https://central.bank.example");
        o.ca_pem = Some(b"not a pem".to_vec());
        assert_eq!(Client::new(o).unwrap_err().code(), "sync.config");
        let mut o = ClientOptions::new("https://central.bank.example");
        o.bank_ca_only = true;
        assert_eq!(Client::new(o).unwrap_err().code(), "sync.config");
        let mut o = ClientOptions::new("https://central.bank.example");
        o.client_identity_pem = Some(Zeroizing::new(b"-----BEGIN NOTHING-----".to_vec()));
        assert_eq!(Client::new(o).unwrap_err().code(), "sync.config");
    }
}
