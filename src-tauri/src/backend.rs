//! The kiosk's link to the central backend, as the app runs it: opens the ledger in the data
//! directory (provisioning its data key on the very first start), starts the sync thread that
//! drains the outbox, and — in simulation with no backend configured — starts the reference
//! backend in-process on loopback so the whole path from ledger to backend runs for real.
//!
//! What it does not do: decide what is recorded (the procedures do, through the ledger), or
//! speak HTTP itself (`madoguchi-sync` does).

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use madoguchi_config::Config;
use madoguchi_ledger::{DataKey, Ledger, TellerRole};
use madoguchi_sync::client::{Client, ClientOptions, KioskToken};
use madoguchi_sync::service::{LoopOptions, run_loop};

/// Where the link's pieces live, and the sync thread.
pub struct Backend {
    /// The ledger the sync thread drains.
    pub ledger: Arc<Ledger>,
    /// The backend base URL in use (configured, or the embedded one's), if any.
    pub url: Option<String>,
    /// Whether `url` is the embedded demo backend.
    pub embedded: bool,
    /// The client the sync thread uses, for the calls a procedure waits for.
    pub client: Option<Arc<Client>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
    // Declared last: dropped after the sync thread stopped.
    _central: Option<madoguchi_central::server::Embedded>,
}

impl std::fmt::Debug for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Backend")
            .field("url", &self.url)
            .field("embedded", &self.embedded)
            .finish_non_exhaustive()
    }
}

/// Why the link could not start.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The ledger could not be opened.
    #[error("ledger: {0}")]
    Ledger(#[from] madoguchi_ledger::LedgerError),
    /// The sync client could not be built (URL, CA, token).
    #[error("sync: {0}")]
    Sync(#[from] madoguchi_sync::SyncError),
    /// The embedded backend could not start.
    #[error("embedded backend: {0}")]
    Central(#[from] madoguchi_central::CentralError),
    /// A thread could not be spawned.
    #[error("thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// The ledger file in the data directory.
pub const LEDGER_FILE: &str = "ledger.sqlite";
/// The ledger's data key file in the data directory (mode 0600).
pub const KEY_FILE: &str = "ledger.key";
/// The embedded demo backend's database in the data directory.
pub const DEMO_CENTRAL_FILE: &str = "central-demo.sqlite";
/// The embedded demo backend's master key file in the data directory (mode 0600, made on the
/// first start).
pub const DEMO_CENTRAL_KEY_FILE: &str = "central-demo.key";

/// Opens the ledger; on the first start (no database, no key) provisions the key. A database
/// without its key is an error, never a silent new key.
pub fn open_ledger(data_dir: &Path) -> Result<Ledger, madoguchi_ledger::LedgerError> {
    let db = data_dir.join(LEDGER_FILE);
    let key_file = data_dir.join(KEY_FILE);
    let key = if !key_file.exists() && !db.exists() {
        tracing::info!("first start: provisioning the ledger data key");
        DataKey::provision(&key_file)?
    } else {
        DataKey::load(&key_file)?
    };
    Ledger::open(&db, key)
}

impl Backend {
    /// Opens the ledger and starts the link `config` asks for.
    pub fn start(config: &Config) -> Result<Backend, BackendError> {
        let data_dir = config.data_dir();
        let ledger = Arc::new(open_ledger(&data_dir)?);
        let mut central = None;
        // The provisioned list key; the embedded demo backend's own in simulation.
        let mut list_key = Some(config.backend.list_public_key.as_str())
            .filter(|k| !k.is_empty())
            .map(madoguchi_wire::ListPublicKey::from_base64)
            .transpose()
            .map_err(|e| {
                madoguchi_sync::SyncError::Config(format!("backend.list_public_key: {e}"))
            })?;
        let (url, token) = if !config.backend.url.is_empty() {
            let token = match (&config.backend.token, &config.backend.token_file) {
                (Some(t), _) => Some(KioskToken::new(t.expose().to_owned())),
                (None, Some(f)) => Some(KioskToken::from_file(f)?),
                (None, None) => None,
            };
            (Some(config.backend.url.as_str().to_owned()), token)
        } else if config.devices.simulate {
            let db = data_dir.join(DEMO_CENTRAL_FILE);
            // The demo backend checks the kiosk's JPKI evidence against the virtual card's
            // TEST signing root (as well as the J-LIS ones), as a bank's backend would check
            // real cards' signatures against J-LIS.
            let test_sign_root = madoguchi_virtual_card::test_anchor_material()
                .map_err(|e| madoguchi_central::CentralError::Invalid(e.to_string()))?
                .sign_root;
            let roots = madoguchi_central::evidence::JpkiRoots::with_test_roots(&[test_sign_root])?;
            let (master, _) = madoguchi_central::master_key::MasterKey::load_or_create(
                &data_dir.join(DEMO_CENTRAL_KEY_FILE),
            )?;
            let embedded = madoguchi_central::server::Embedded::start_with_verifier(
                &db.to_string_lossy(),
                master,
                std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
                madoguchi_central::server::Limits::default(),
                std::sync::Arc::new(madoguchi_central::evidence::JpkiVerifier::new(roots)),
            )?;
            // A fresh random token each start; only its digest is stored by the backend.
            let token = uuid::Uuid::new_v4().to_string();
            let digest = madoguchi_central::token_digest(&token);
            let kiosk = config.kiosk.id.to_string();
            embedded.with_store(|s| async move { s.add_kiosk(&kiosk, &digest).await })?;
            // The simulation's fake tellers are the demo backend's accounts (their keys reach
            // it from the kiosk's ledger, as registrations do).
            embedded.with_store(|s| async move {
                let known: Vec<String> = s
                    .tellers_list()
                    .await?
                    .tellers
                    .into_iter()
                    .map(|t| t.id)
                    .collect();
                for (id, name, role) in crate::desk::sim_tellers() {
                    if known.iter().any(|k| k == id) {
                        continue;
                    }
                    let role = match role {
                        TellerRole::Supervisor => madoguchi_central::tellers::Role::Supervisor,
                        TellerRole::Technician => madoguchi_central::tellers::Role::Technician,
                        _ => madoguchi_central::tellers::Role::Teller,
                    };
                    s.add_teller(id, role, name).await?;
                }
                Ok(())
            })?;
            // The demo issues face credentials: it needs a template key to wrap for the kiosk.
            embedded.with_store(|s| async move {
                if s.template_keys().await?.is_empty() {
                    s.rotate_template_key().await?;
                }
                Ok(())
            })?;
            list_key = Some(embedded.list_public_key());
            let url = embedded.base_url();
            tracing::info!(url = %url, "embedded demo backend started on loopback");
            central = Some(embedded);
            (Some(url), Some(KioskToken::new(token)))
        } else {
            (None, None)
        };
        let stop = Arc::new(AtomicBool::new(false));
        let mut shared = None;
        let thread = match &url {
            Some(u) => {
                let mut opts = ClientOptions::new(u);
                opts.token = token;
                if let Some(ca) = &config.backend.ca_file {
                    opts.ca_pem = Some(std::fs::read(ca)?);
                }
                let client = Arc::new(Client::new(opts)?);
                shared = Some(client.clone());
                let (l, s) = (ledger.clone(), stop.clone());
                let pull_interval = config.backend.pull_interval_seconds.duration();
                let trust = madoguchi_sync::TrustOptions {
                    kiosk_id: config.kiosk.id.to_string(),
                    list_key,
                };
                Some(
                    std::thread::Builder::new()
                        .name("sync".into())
                        .spawn(move || {
                            let mut o = LoopOptions {
                                pull_interval,
                                trust,
                                ..LoopOptions::default()
                            };
                            o.drain.stop = Some(s);
                            run_loop(&l, &client, &o);
                        })?,
                )
            }
            None => None,
        };
        Ok(Backend {
            ledger,
            embedded: central.is_some(),
            client: shared,
            url,
            stop,
            thread,
            _central: central,
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_start_provisions_the_key_and_a_lost_key_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let l = open_ledger(dir.path()).unwrap();
        l.append_event("test.event", &serde_json::json!({"n": 1}))
            .unwrap();
        drop(l);
        // Reopens with the same key.
        assert_eq!(
            open_ledger(dir.path()).unwrap().outbox_backlog().unwrap(),
            1
        );
        // The database without its key: refused, no new key made.
        std::fs::remove_file(dir.path().join(KEY_FILE)).unwrap();
        assert!(open_ledger(dir.path()).is_err());
        assert!(!dir.path().join(KEY_FILE).exists());
    }

    #[test]
    fn simulation_without_a_url_drains_the_ledger_into_the_embedded_backend() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::default();
        config.devices.simulate = true;
        config.storage.data_dir = Some(dir.path().to_path_buf());
        let backend = Backend::start(&config).unwrap();
        assert!(backend.embedded);
        let url = backend.url.clone().unwrap();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        backend
            .ledger
            .append_event("test.event", &serde_json::json!({"n": 7}))
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while backend.ledger.outbox_backlog().unwrap() > 0 {
            assert!(std::time::Instant::now() < deadline, "outbox not drained");
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(matches!(
            madoguchi_sync::probe(&url, std::time::Duration::from_secs(2)),
            madoguchi_sync::BackendProbe::Reachable { .. }
        ));
    }
}
