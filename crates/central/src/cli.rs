//! The command line of `madoguchi-central`: `serve` and the admin commands (register a kiosk,
//! print the list signing key for provisioning kiosks, revoke a face credential or a kiosk's
//! issuer key, rotate the template key, set thresholds, stats — with the events counted per
//! evidence verdict, the confirmation records held, purged and malformed, and the face
//! credentials recorded —, purge expired confirmation records, list confirmation records for
//! the bank's auditors, manage teller accounts and their keys: `teller-add`,
//! `teller-disable`, `teller-enable`, `teller-revoke-key`, `tellers`; register a service of
//! the bank that redeems binding codes, `service-add`, and list the binding codes' metadata,
//! `binding-codes`, and the duplicate-face flags for teller review, `duplicates`). Admin commands print one JSON object on stdout (`confirmations` prints
//! one line per record); errors go to stderr with a non-zero exit.
//!
//! The master key file (`--key-file`, env `MADOGUCHI_CENTRAL_KEY_FILE`, see
//! [`crate::master_key`]) seals the secrets in the database: `serve` creates it (0600, random)
//! when it does not exist; every other command opening the database refuses to run without
//! it.
//!
//! What it does NOT do: print tokens, binding codes or key material (a kiosk's or service's
//! token is only ever written to the 0600 file named by `--token-file`, the master key only
//! to its key file; binding codes are not stored, `binding-codes` lists their metadata), or
//! print a confirmation record's personal data unless asked with `confirmations --json`, or
//! print teller credential bodies (`tellers` lists ids, counters and revocation only).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine as _;
use clap::{Parser, Subcommand};
use serde_json::json;
use zeroize::Zeroizing;

use crate::CentralError;
use crate::confirmation::{MAX_RETENTION_DAYS, Retention};
use crate::evidence::{JpkiRoots, JpkiVerifier};
use crate::master_key::MasterKey;
use crate::server::{AppState, Limits};
use crate::store::Store;
use crate::tellers::Role;

/// `madoguchi-central`: the reference central backend of madoguchi.
#[derive(Debug, Parser)]
#[command(name = "madoguchi-central", version, about)]
pub struct Cli {
    /// The database: `postgres://…` for PostgreSQL, else a SQLite file path (`sqlite://PATH`
    /// also works; `:memory:` for a throwaway one).
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "madoguchi-central.sqlite",
        global = true,
        hide_env_values = true,
        visible_alias = "db"
    )]
    pub database_url: String,
    /// The master key file (64 hex digits, mode 0600) sealing the keys in the database.
    /// `serve` creates it when it does not exist; the other commands need it.
    #[arg(
        long,
        env = "MADOGUCHI_CENTRAL_KEY_FILE",
        default_value = "madoguchi-central.key",
        global = true,
        value_name = "PATH"
    )]
    pub key_file: PathBuf,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the sync API.
    Serve {
        /// Address to listen on, e.g. 127.0.0.1:8443.
        #[arg(long)]
        listen: SocketAddr,
        /// Largest request body in bytes.
        #[arg(long, default_value_t = crate::server::DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
        /// Most events in one batch.
        #[arg(long, default_value_t = crate::server::DEFAULT_MAX_BATCH)]
        max_batch: usize,
        /// Simulation and tests only: also trust the TEST JPKI signing roots of this directory
        /// (`anchors.json` with `"hierarchy": "test"`, as the kiosk's `--test-anchors`).
        /// Without it only the J-LIS production roots verify evidence signatures.
        #[arg(long, value_name = "DIR")]
        test_jpki_roots: Option<PathBuf>,
        /// Days a confirmation record (確認記録) is kept, counted from its verification
        /// (default 2557 = 7 years). Applies to records as they arrive.
        #[arg(long, value_name = "N", default_value_t = crate::confirmation::DEFAULT_RETENTION_DAYS,
              value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_RETENTION_DAYS)))]
        confirmation_retention_days: u32,
        /// The cosine at or above which a duplicate-face check flags another person's
        /// template (default 0.48: the face-credential model's match threshold, SFace's in
        /// `assets/thresholds.toml`).
        #[arg(long, env = "MADOGUCHI_CENTRAL_DUPLICATE_THRESHOLD", value_name = "COSINE",
              default_value_t = crate::duplicates::DEFAULT_DUPLICATE_THRESHOLD,
              value_parser = parse_cosine)]
        duplicate_threshold: f32,
    },
    /// Register a kiosk. Its token is read from `--token-file`, or generated into it (0600)
    /// when the file does not exist.
    KioskAdd {
        /// Kiosk id (as in the kiosk's `kiosk.id`).
        #[arg(long)]
        id: String,
        /// The token file.
        #[arg(long)]
        token_file: PathBuf,
    },
    /// Register a service of the bank that redeems binding codes (the passkey registration
    /// service). Its token is read from `--token-file`, or generated into it (0600) when the
    /// file does not exist; a kiosk's token is refused.
    ServiceAdd {
        /// Service id (1 to 64 characters of A-Z a-z 0-9 - _ . : @).
        id: String,
        /// The token file.
        #[arg(long)]
        token_file: PathBuf,
    },
    /// List the binding codes' metadata as JSON, newest first (who issued each, on which
    /// proof, when it expires, who redeemed it; the codes themselves are not stored).
    BindingCodes {
        /// At most this many codes.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// List the duplicate-face flags as JSON, newest first (the enrollments whose face was
    /// found under another person: kiosk, session, counts and best score; no template, no
    /// person).
    Duplicates {
        /// At most this many flags.
        #[arg(long, default_value_t = 1000)]
        limit: u32,
    },
    /// Revoke a face credential (`--credential-id`) or a kiosk's issuer key (`--issuer-kid`:
    /// every credential it signed is then rejected).
    #[command(group(clap::ArgGroup::new("what").required(true).args(["credential_id", "issuer_kid"])))]
    Revoke {
        /// The credential id (lowercase hex).
        #[arg(long, value_name = "HEX")]
        credential_id: Option<String>,
        /// The issuer key id (lowercase hex), as on the trust list.
        #[arg(long, value_name = "HEX")]
        issuer_kid: Option<String>,
        /// Why the credential is revoked (no personal data; kept at the backend, not
        /// published). Default: "revoked by operator".
        #[arg(long, conflicts_with = "issuer_kid")]
        reason: Option<String>,
    },
    /// Make a new template key; the previous active one is retired (served on while
    /// credentials under it have not expired).
    RotateKeys,
    /// Print the list signing key's public half as JSON (`key_id`, `public_key`): what the
    /// kiosks pin to check the lists.
    ListKey,
    /// Replace the thresholds document with a JSON object from a file.
    SetThresholds {
        /// JSON file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Print counts (events, events per evidence verdict, confirmation records, face
    /// credentials, keys, kiosks with keys, revocations) as JSON.
    Stats,
    /// Purge the confirmation records past their retention period now (the server also does
    /// at start and every 24 h); prints how many went.
    PurgeConfirmations,
    /// List the stored confirmation records, one line each in record-id order: ids and dates
    /// as tab-separated text, or with `--json` one JSON object per line with the whole record
    /// (personal data: for the bank's auditors).
    Confirmations {
        /// One JSON object per line, with the record itself under `record`.
        #[arg(long)]
        json: bool,
        /// Start after this record id.
        #[arg(long, default_value = "")]
        after: String,
        /// At most this many records (default: all).
        #[arg(long)]
        limit: Option<u64>,
    },
    /// Create a teller account (enabled); kiosks receive it at their next sync.
    TellerAdd {
        /// Teller id (1 to 128 characters of A-Z a-z 0-9 - _ . : @).
        id: String,
        /// `teller`, `supervisor` or `technician`.
        #[arg(long)]
        role: Role,
        /// The name shown at the kiosk's sign-in screen.
        #[arg(long)]
        name: String,
    },
    /// Disable a teller: kiosks refuse their sign-in after their next sync.
    TellerDisable {
        /// Teller id.
        id: String,
    },
    /// Enable a disabled teller again.
    TellerEnable {
        /// Teller id.
        id: String,
    },
    /// Revoke a teller's FIDO2 key: kiosks stop offering it after their next sync.
    TellerRevokeKey {
        /// The credential id (base64url).
        credential_id: String,
    },
    /// List the teller accounts with their keys (ids, counters, revocation; no key bodies).
    Tellers,
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> ExitCode {
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("madoguchi-central: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run_async(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("madoguchi-central: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print(v: serde_json::Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
}

/// The database and the master key file that opens it.
struct Target {
    database_url: String,
    key_file: PathBuf,
}

async fn run_async(cli: Cli) -> Result<(), CentralError> {
    let Cli {
        database_url,
        key_file,
        command,
    } = cli;
    let target = Target {
        database_url,
        key_file,
    };
    let cli = &target;
    match command {
        Command::Serve {
            listen,
            max_body_bytes,
            max_batch,
            test_jpki_roots,
            confirmation_retention_days,
            duplicate_threshold,
        } => {
            let _ = tracing_subscriber::fmt()
                .with_writer(std::io::stderr)
                .with_env_filter(
                    tracing_subscriber::EnvFilter::try_from_default_env()
                        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
                )
                .try_init();
            let roots = match &test_jpki_roots {
                Some(dir) => JpkiRoots::with_test_dir(dir)?,
                None => JpkiRoots::production()?,
            };
            if roots.has_test_roots() {
                tracing::warn!(
                    roots = roots.len(),
                    "TEST JPKI roots trusted: simulation only"
                );
            }
            let (master, created) = MasterKey::load_or_create(&cli.key_file)?;
            if created {
                tracing::warn!(
                    key_file = %cli.key_file.display(),
                    master_key_id = %master.id(),
                    "master key file created: back it up, the database's keys open only with it"
                );
            }
            let (store, listener) =
                crate::server::open_and_bind(&cli.database_url, master, listen).await?;
            let addr = listener.local_addr().map_err(|source| CentralError::Io {
                context: "local address".into(),
                source,
            })?;
            tracing::info!(
                %addr,
                store = ?store,
                confirmation_retention_days,
                duplicate_threshold,
                "madoguchi-central listening"
            );
            let state = AppState::new(store)
                .with_limits(Limits {
                    max_body_bytes,
                    max_batch,
                    duplicate_threshold,
                })
                .with_verifier(std::sync::Arc::new(JpkiVerifier::new(roots)))
                .with_retention(Retention {
                    confirmation_days: confirmation_retention_days,
                });
            crate::server::serve(listener, state, shutdown_signal()).await
        }
        Command::KioskAdd { id, token_file } => {
            if id.trim().is_empty() || id.len() > 64 {
                return Err(CentralError::Invalid(
                    "kiosk id must have 1 to 64 characters".into(),
                ));
            }
            let (token, created) = read_or_create_token(&token_file)?;
            let store = open_store(cli).await?;
            store.add_kiosk(&id, &crate::token_digest(&token)).await?;
            print(json!({"kiosk_id": id, "token_file": token_file, "token_created": created}));
            Ok(())
        }
        Command::ServiceAdd { id, token_file } => {
            let (token, created) = read_or_create_token(&token_file)?;
            let store = open_store(cli).await?;
            store.add_service(&id, &crate::token_digest(&token)).await?;
            print(json!({"service_id": id, "token_file": token_file, "token_created": created}));
            Ok(())
        }
        Command::BindingCodes { limit } => {
            let store = open_store(cli).await?;
            let now = crate::now_ms();
            let codes: Vec<serde_json::Value> = store
                .binding_codes(limit)
                .await?
                .into_iter()
                .map(|c| {
                    let status = c.status(now);
                    let mut v = json!(c);
                    v["status"] = json!(status);
                    v
                })
                .collect();
            print(json!({"as_of_ms": now, "binding_codes": codes}));
            Ok(())
        }
        Command::Duplicates { limit } => {
            let store = open_store(cli).await?;
            let flags = store.duplicate_flags(limit).await?;
            print(json!({"as_of_ms": crate::now_ms(), "duplicate_flags": flags}));
            Ok(())
        }
        Command::Revoke {
            credential_id,
            issuer_kid,
            reason,
        } => revoke(cli, credential_id, issuer_kid, reason).await,
        Command::RotateKeys => {
            let store = open_store(cli).await?;
            let kid = store.rotate_template_key().await?;
            print(json!({"template_kid": kid}));
            Ok(())
        }
        Command::ListKey => {
            let key = open_store(cli).await?.list_public_key();
            print(json!({"key_id": key.key_id(), "public_key": key.to_base64()}));
            Ok(())
        }
        Command::SetThresholds { file } => {
            let text = std::fs::read_to_string(&file).map_err(|source| CentralError::Io {
                context: format!("reading {}", file.display()),
                source,
            })?;
            let doc: serde_json::Value = serde_json::from_str(&text)
                .map_err(|e| CentralError::Invalid(format!("{}: not JSON: {e}", file.display())))?;
            let store = open_store(cli).await?;
            store.set_thresholds(&doc).await?;
            print(json!({"thresholds_version": store.version("thresholds").await?}));
            Ok(())
        }
        Command::Stats => {
            let store = open_store(cli).await?;
            print(json!({
                "events": store.event_count().await?,
                "verification": store.verification_counts().await?,
                "confirmations": store.confirmation_counts().await?,
                "face_credentials": store.credential_counts().await?,
                "issuer_keys": store.trust_list(crate::now_ms()).await?.issuers.len(),
                "template_keys": store.template_keys().await?.len(),
                "kiosks_with_keys": store.kiosk_keys_count().await?,
                "revocations": store.revocations().await?.len(),
            }));
            Ok(())
        }
        Command::PurgeConfirmations => {
            let store = open_store(cli).await?;
            let now = crate::now_ms();
            let purged = store.purge_expired_confirmations(now).await?;
            print(json!({"confirmations_purged": purged, "as_of_ms": now}));
            Ok(())
        }
        Command::Confirmations { json, after, limit } => {
            let store = open_store(cli).await?;
            list_confirmations(&store, json, after, limit).await
        }
        Command::TellerAdd { id, role, name } => {
            let store = open_store(cli).await?;
            store.add_teller(&id, role, &name).await?;
            print(json!({
                "teller_id": id, "role": role.as_str(), "enabled": true,
                "tellers_version": store.version(crate::tellers::RESOURCE).await?,
            }));
            Ok(())
        }
        Command::TellerDisable { id } => set_enabled(cli, &id, false).await,
        Command::TellerEnable { id } => set_enabled(cli, &id, true).await,
        Command::TellerRevokeKey { credential_id } => {
            let store = open_store(cli).await?;
            let changed = store.revoke_teller_credential(&credential_id).await?;
            print(json!({
                "credential_id": credential_id, "revoked": true, "changed": changed,
                "tellers_version": store.version(crate::tellers::RESOURCE).await?,
            }));
            Ok(())
        }
        Command::Tellers => {
            let store = open_store(cli).await?;
            let list = store.tellers_list().await?;
            let tellers: Vec<serde_json::Value> = list
                .tellers
                .iter()
                .map(|t| {
                    let keys: Vec<serde_json::Value> = t
                        .credentials
                        .iter()
                        .map(|c| {
                            json!({
                                "credential_id": c.credential_id, "sign_count": c.sign_count,
                                "registered_by": c.registered_by,
                                "registered_at_ms": c.registered_at_ms, "kiosk_id": c.kiosk_id,
                                "revoked": c.revoked_at_ms.is_some(),
                                "revoked_at_ms": c.revoked_at_ms,
                            })
                        })
                        .collect();
                    json!({
                        "id": t.id, "display_name": t.display_name, "role": t.role.as_str(),
                        "enabled": t.enabled, "updated_at_ms": t.updated_at_ms,
                        "credentials": keys,
                    })
                })
                .collect();
            print(json!({"version": list.version, "tellers": tellers}));
            Ok(())
        }
    }
}

/// A cosine threshold: a number in `[-1, 1]`.
fn parse_cosine(s: &str) -> Result<f32, String> {
    let t: f32 = s.trim().parse().map_err(|e| format!("not a number: {e}"))?;
    if t.is_finite() && (-1.0..=1.0).contains(&t) {
        Ok(t)
    } else {
        Err("a cosine threshold is in [-1, 1]".into())
    }
}

/// Opens the database with the master key of `--key-file` (which must exist).
async fn open_store(cli: &Target) -> Result<Store, CentralError> {
    Store::open(&cli.database_url, MasterKey::load(&cli.key_file)?).await
}

/// `revoke --credential-id` / `revoke --issuer-kid` (clap makes it exactly one).
async fn revoke(
    cli: &Target,
    credential_id: Option<String>,
    issuer_kid: Option<String>,
    reason: Option<String>,
) -> Result<(), CentralError> {
    let check = |field, id: &str| {
        madoguchi_wire::parse_id("revoke", field, id)
            .map(|_| ())
            .map_err(|e| CentralError::Invalid(e.to_string()))
    };
    match (credential_id, issuer_kid) {
        (Some(id), None) => {
            check("--credential-id", &id)?;
            let store = open_store(cli).await?;
            let reason = reason.unwrap_or_else(|| "revoked by operator".to_owned());
            let changed = store.revoke(&id, &reason).await?;
            print(json!({
                "revoked": id, "changed": changed,
                "revocations_version": store.version(crate::trust::REVOCATIONS).await?,
            }));
            Ok(())
        }
        (None, Some(kid)) => {
            check("--issuer-kid", &kid)?;
            let store = open_store(cli).await?;
            let changed = store.revoke_issuer(&kid).await?;
            print(json!({
                "revoked_issuer_kid": kid, "changed": changed,
                "trust_list_version": store.version(crate::trust::TRUST_LIST).await?,
            }));
            Ok(())
        }
        _ => Err(CentralError::Invalid(
            "give exactly one of --credential-id and --issuer-kid".into(),
        )),
    }
}

/// `teller-enable` / `teller-disable`.
async fn set_enabled(cli: &Target, id: &str, enabled: bool) -> Result<(), CentralError> {
    let store = open_store(cli).await?;
    let changed = store.set_teller_enabled(id, enabled).await?;
    print(json!({
        "teller_id": id, "enabled": enabled, "changed": changed,
        "tellers_version": store.version(crate::tellers::RESOURCE).await?,
    }));
    Ok(())
}

/// Prints the confirmation records after `after`, a page at a time (bounded memory).
async fn list_confirmations(
    store: &Store,
    json: bool,
    mut after: String,
    limit: Option<u64>,
) -> Result<(), CentralError> {
    const PAGE: u32 = 500;
    let mut left = limit.unwrap_or(u64::MAX);
    let mut out = std::io::stdout().lock();
    let io = |source| CentralError::Io {
        context: "writing to stdout".into(),
        source,
    };
    while left > 0 {
        let page = u32::try_from(left.min(u64::from(PAGE))).unwrap_or(PAGE);
        let records = store.confirmation_records(page, &after).await?;
        for r in &records {
            if json {
                let record: serde_json::Value =
                    serde_json::from_str(&r.payload).unwrap_or(serde_json::Value::Null);
                let line = json!({
                    "record_id": r.record_id, "event_id": r.event_id, "kiosk_id": r.kiosk_id,
                    "session_id": r.session_id, "verified_at_ms": r.verified_at_ms,
                    "received_at_ms": r.received_at_ms, "retain_until_ms": r.retain_until_ms,
                    "record": record,
                });
                writeln!(out, "{line}").map_err(io)?;
            } else {
                writeln!(
                    out,
                    "{}\t{}\t{}\t{}\t{}",
                    r.record_id, r.kiosk_id, r.session_id, r.verified_at_ms, r.retain_until_ms
                )
                .map_err(io)?;
            }
        }
        left = left.saturating_sub(records.len() as u64);
        match records.last() {
            Some(last) if records.len() == page as usize => after = last.record_id.clone(),
            _ => break,
        }
    }
    Ok(())
}

/// Reads a kiosk's or service's token from `path`, or generates one into it (mode 0600) when
/// missing.
/// Returns the token and whether it was created.
pub fn read_or_create_token(path: &Path) -> Result<(Zeroizing<String>, bool), CentralError> {
    match std::fs::read_to_string(path) {
        Ok(s) => {
            let t = Zeroizing::new(s.trim().to_owned());
            drop(Zeroizing::new(s));
            if t.len() < 16 {
                return Err(CentralError::Invalid(format!(
                    "{}: a token has at least 16 characters",
                    path.display()
                )));
            }
            Ok((t, false))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes = Zeroizing::new(crate::random_bytes::<32>()?);
            let token =
                Zeroizing::new(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*bytes));
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                opts.mode(0o600);
            }
            let io = |source| CentralError::Io {
                context: format!("writing {}", path.display()),
                source,
            };
            let mut f = opts.open(path).map_err(io)?;
            f.write_all(token.as_bytes()).map_err(io)?;
            f.write_all(b"\n").map_err(io)?;
            Ok((token, true))
        }
        Err(source) => Err(CentralError::Io {
            context: format!("reading {}", path.display()),
            source,
        }),
    }
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
