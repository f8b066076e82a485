//! `madoguchi sync …`: the sync link from the command line.
//!
//! - `sync status` prints one JSON object: outbox backlog, last success / attempt / error
//!   code, cached trust data versions; with `--probe`, also the backend's health and the
//!   clock skew.
//! - `sync run --once` drains the outbox and pulls the trust data once (giving up after a few
//!   failed attempts, exit 1); `sync run` keeps doing so, waiting with backoff while the
//!   backend is away, until it is killed (or `--max-runtime-secs` passes).
//!
//! Settings come from arguments or the environment (the ledger's `MADOGUCHI_LEDGER_DB`,
//! `MADOGUCHI_LEDGER_KEY_FILE`; the configuration's `MADOGUCHI__BACKEND__URL`,
//! `MADOGUCHI__BACKEND__TOKEN_FILE`, `MADOGUCHI__BACKEND__CA_FILE`). Exit codes: 0 done,
//! 1 sync failed, 2 could not start (bad settings, ledger). Errors go to stderr as
//! `{"error": {"code", "message"}}`; no token, payload or personal data is printed.
//!
//! What it does NOT do: read the madoguchi configuration file itself (the app passes its
//! values), or start a backend.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use madoguchi_ledger::{CacheKind, DataKey, Ledger};
use serde_json::json;
use zeroize::Zeroizing;

use crate::drain::{DrainOptions, drain};
use crate::pull::{TrustOptions, measure_skew, pull_all};
use crate::{Client, ClientOptions, KioskToken, SyncError};

/// Where the ledger and the backend are.
#[derive(Debug, Clone, clap::Args)]
pub struct SyncArgs {
    /// Ledger database and key file.
    #[command(flatten)]
    pub ledger: madoguchi_ledger::cli::LedgerPaths,
    /// Backend base URL (https://…, or http:// to loopback).
    #[arg(long, env = "MADOGUCHI__BACKEND__URL")]
    pub backend_url: Option<String>,
    /// File holding the per-kiosk token.
    #[arg(long, env = "MADOGUCHI__BACKEND__TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// PEM file with the bank's CA certificates.
    #[arg(long, env = "MADOGUCHI__BACKEND__CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Trust only the bank's CA, not the built-in roots.
    #[arg(long)]
    pub bank_ca_only: bool,
    /// PEM file with the kiosk's client certificate and key (mutual TLS).
    #[arg(long)]
    pub client_identity: Option<PathBuf>,
    /// Most events per batch.
    #[arg(long, default_value_t = 500)]
    pub batch_size: usize,
    /// This kiosk's id (template keys are wrapped for it).
    #[arg(long, env = "MADOGUCHI__KIOSK__ID")]
    pub kiosk_id: Option<String>,
    /// The backend's list public key (base64url), as provisioned; without it the key the
    /// backend serves at the first contact is pinned.
    #[arg(long, env = "MADOGUCHI__BACKEND__LIST_PUBLIC_KEY")]
    pub list_public_key: Option<String>,
}

/// Sync subcommands.
#[derive(Debug, Clone, clap::Subcommand)]
#[non_exhaustive]
pub enum SyncCommand {
    /// Backlog, last success, cached versions (JSON); `--probe` also asks the backend.
    Status {
        /// Where things are.
        #[command(flatten)]
        args: SyncArgs,
        /// Also check the backend's health and the clock skew.
        #[arg(long)]
        probe: bool,
    },
    /// Drain the outbox and pull trust data.
    Run {
        /// Where things are.
        #[command(flatten)]
        args: SyncArgs,
        /// Drain and pull once, then exit.
        #[arg(long)]
        once: bool,
        /// Seconds between trust-data pulls when running continuously.
        #[arg(long, default_value_t = 300)]
        pull_interval_secs: u64,
        /// Stop after this many seconds (continuous mode).
        #[arg(long)]
        max_runtime_secs: Option<u64>,
    },
}

impl SyncArgs {
    /// These arguments with what was not given taken from the kiosk's configuration: the
    /// ledger's database and key file, the backend URL and its token and CA files.
    pub fn or_defaults(self, defaults: &SyncDefaults) -> Self {
        SyncArgs {
            ledger: self.ledger.or_defaults(&defaults.db, &defaults.key_file),
            backend_url: self.backend_url.or_else(|| defaults.backend_url.clone()),
            token_file: self.token_file.or_else(|| defaults.token_file.clone()),
            ca_file: self.ca_file.or_else(|| defaults.ca_file.clone()),
            kiosk_id: self.kiosk_id.or_else(|| defaults.kiosk_id.clone()),
            list_public_key: self
                .list_public_key
                .or_else(|| defaults.list_public_key.clone()),
            ..self
        }
    }
}

/// What the kiosk's configuration says, for [`SyncCommand::or_defaults`].
#[derive(Debug, Clone)]
pub struct SyncDefaults {
    /// The ledger database.
    pub db: PathBuf,
    /// The ledger's key file.
    pub key_file: PathBuf,
    /// The backend URL, if one is configured.
    pub backend_url: Option<String>,
    /// The kiosk token file, if configured.
    pub token_file: Option<PathBuf>,
    /// The bank's CA file, if configured.
    pub ca_file: Option<PathBuf>,
    /// The kiosk id.
    pub kiosk_id: Option<String>,
    /// The backend's list public key, if provisioned.
    pub list_public_key: Option<String>,
}

impl SyncCommand {
    /// The command with what it was not given taken from the kiosk's configuration.
    pub fn or_defaults(self, defaults: &SyncDefaults) -> Self {
        match self {
            SyncCommand::Status { args, probe } => SyncCommand::Status {
                args: args.or_defaults(defaults),
                probe,
            },
            SyncCommand::Run {
                args,
                once,
                pull_interval_secs,
                max_runtime_secs,
            } => SyncCommand::Run {
                args: args.or_defaults(defaults),
                once,
                pull_interval_secs,
                max_runtime_secs,
            },
        }
    }
}

fn fail(exit: u8, code: &str, message: &str) -> ExitCode {
    eprintln!("{}", json!({"error": {"code": code, "message": message}}));
    ExitCode::from(exit)
}

/// How pulled lists are checked, from the arguments.
pub fn trust_options(args: &SyncArgs) -> Result<TrustOptions, SyncError> {
    let kiosk_id = args
        .kiosk_id
        .clone()
        .filter(|k| !k.is_empty())
        .ok_or_else(|| SyncError::Config("no kiosk id (--kiosk-id)".into()))?;
    let list_key = args
        .list_public_key
        .as_deref()
        .filter(|k| !k.is_empty())
        .map(madoguchi_wire::ListPublicKey::from_base64)
        .transpose()
        .map_err(|e| SyncError::Config(format!("backend list key: {e}")))?;
    Ok(TrustOptions { kiosk_id, list_key })
}

/// Builds the backend client from the arguments.
pub fn client_from(args: &SyncArgs) -> Result<Client, SyncError> {
    let url = args
        .backend_url
        .as_deref()
        .filter(|u| !u.is_empty())
        .ok_or_else(|| SyncError::Config("no backend url (--backend-url)".into()))?;
    let mut o = ClientOptions::new(url);
    if let Some(t) = &args.token_file {
        o.token = Some(KioskToken::from_file(t)?);
    }
    if let Some(ca) = &args.ca_file {
        o.ca_pem = Some(
            std::fs::read(ca)
                .map_err(|e| SyncError::Config(format!("CA file {}: {e}", ca.display())))?,
        );
    }
    o.bank_ca_only = args.bank_ca_only;
    if let Some(p) = &args.client_identity {
        o.client_identity_pem =
            Some(Zeroizing::new(std::fs::read(p).map_err(|e| {
                SyncError::Config(format!("client identity {}: {e}", p.display()))
            })?));
    }
    Client::new(o)
}

fn open_ledger(args: &SyncArgs) -> Result<Ledger, SyncError> {
    let key = DataKey::load(args.ledger.key_file()?)?;
    Ok(Ledger::open(args.ledger.db()?, key)?)
}

/// Runs a sync subcommand.
pub fn run(cmd: SyncCommand) -> ExitCode {
    match cmd {
        SyncCommand::Status { args, probe } => status(&args, probe),
        SyncCommand::Run {
            args,
            once,
            pull_interval_secs,
            max_runtime_secs,
        } => run_sync(&args, once, pull_interval_secs, max_runtime_secs),
    }
}

fn status(args: &SyncArgs, probe: bool) -> ExitCode {
    let ledger = match open_ledger(args) {
        Ok(l) => l,
        Err(e) => return fail(2, e.code(), &e.to_string()),
    };
    let st = match crate::service::status(&ledger) {
        Ok(s) => s,
        Err(e) => return fail(2, e.code(), &e.to_string()),
    };
    let version = |k| {
        ledger
            .cache_get(k)
            .ok()
            .flatten()
            .map(|e| json!({"version": e.version, "fetched_at_ms": e.fetched_at_ms}))
    };
    let mut out = json!({
        "backlog": st.backlog,
        "last_success_ms": st.last_success_ms,
        "last_attempt_ms": st.last_attempt_ms,
        "last_error_code": st.last_error_code,
        "backend_url": args.backend_url,
        "caches": {
            "trust_list": version(CacheKind::TrustList),
            "revocations": version(CacheKind::Revocations),
            "thresholds": version(CacheKind::Thresholds),
            "template_keys": version(CacheKind::TemplateKeys),
            "list_key": version(CacheKind::ListKey),
        },
    });
    if probe {
        let (health, skew) = match (&args.backend_url, client_from(args)) {
            (Some(url), Ok(c)) => (
                serde_json::to_value(crate::probe(url, Duration::from_secs(5))).ok(),
                match measure_skew(&c) {
                    Ok(s) => serde_json::to_value(s).ok(),
                    Err(e) => Some(json!({"error": e.code()})),
                },
            ),
            (_, Err(e)) => (Some(json!({"error": e.code()})), None),
            (None, _) => (None, None),
        };
        out["backend"] = json!({"health": health, "clock": skew});
    }
    println!("{out}");
    ExitCode::SUCCESS
}

fn run_sync(
    args: &SyncArgs,
    once: bool,
    pull_interval_secs: u64,
    max_runtime_secs: Option<u64>,
) -> ExitCode {
    let ledger = match open_ledger(args) {
        Ok(l) => l,
        Err(e) => return fail(2, e.code(), &e.to_string()),
    };
    let client = match client_from(args) {
        Ok(c) => c,
        Err(e) => return fail(2, e.code(), &e.to_string()),
    };
    let trust = match trust_options(args) {
        Ok(t) => t,
        Err(e) => return fail(2, e.code(), &e.to_string()),
    };
    let deadline = max_runtime_secs.map(|s| Instant::now() + Duration::from_secs(s));
    let mut opts = DrainOptions {
        batch_size: args.batch_size.max(1),
        deadline,
        ..DrainOptions::default()
    };
    if once {
        opts.max_attempts = Some(4);
        opts.backoff_max = Duration::from_secs(10);
        let skew = measure_skew(&client).ok();
        let drained = drain(&ledger, &client, &opts, &mut std::thread::sleep);
        let pulled = pull_all(&client, &ledger, &trust);
        return match (drained, pulled) {
            (Ok(d), Ok(p)) => {
                println!("{}", json!({"drain": d, "pull": p, "clock": skew}));
                ExitCode::SUCCESS
            }
            (Err(e), _) | (_, Err(e)) => fail(1, e.code(), &e.to_string()),
        };
    }
    let lo = crate::service::LoopOptions {
        drain: opts,
        pull_interval: Duration::from_secs(pull_interval_secs),
        trust,
        ..crate::service::LoopOptions::default()
    };
    crate::service::run_loop(&ledger, &client, &lo);
    ExitCode::SUCCESS
}
