//! The `madoguchi qr …` subcommands: `decode`, `issue`, `verify`, `keygen`. Keys and lists
//! come from files named by arguments (or `MADOGUCHI_FACEQR_*` environment variables) until
//! the ledger holds them. Output: decoded text (decode), JSON (issue, verify, keygen); errors
//! on stderr. `verify --live FACE` runs the whole chain including the gated face match.
//! It never prints a template or a secret key.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

use crate::format::{IssueRequest, issue};
use crate::keys::{IssuerKey, TemplateKeyring, TrustList};
use crate::live::FaceMatcher;
use crate::read::read_file;
use crate::render;
use crate::template::{ModelRef, Template, TemplateFile};
use crate::verify::{Lang, Policy, Rejection, verify_claims, verify_credential, verify_with_face};
use madoguchi_face::enroll::LivenessGate;

/// `madoguchi qr` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum QrCommand {
    /// Decode QR codes in images; prints the text of each, one per line (errors on stderr).
    Decode {
        /// Image files (PNG, JPEG).
        #[arg(required = true)]
        images: Vec<PathBuf>,
    },
    /// Issue a face credential from a template file and render it to PNG or SVG.
    Issue {
        /// Template JSON: {"model_id", "template_version", "embedding": [...]}.
        #[arg(long)]
        template: PathBuf,
        /// Output image; `.svg` writes SVG, anything else PNG.
        #[arg(long)]
        out: PathBuf,
        /// Issuer signing key JSON ({"kid", "secret_key"}).
        #[arg(long, env = "MADOGUCHI_FACEQR_ISSUER_KEY")]
        issuer_key: PathBuf,
        /// Template keys JSON ({"current", "keys": [{"kid", "key"}]}).
        #[arg(long, env = "MADOGUCHI_FACEQR_TEMPLATE_KEYS")]
        template_keys: PathBuf,
        /// Days of validity.
        #[arg(long, default_value_t = 365)]
        valid_days: u32,
        /// Optional pseudonymous customer reference (at most 16 bytes; never a name).
        #[arg(long)]
        subject: Option<String>,
        /// Pixels per module in the image.
        #[arg(long, default_value_t = 8)]
        module_px: u32,
        /// Also write the credential text to this file.
        #[arg(long)]
        text_out: Option<PathBuf>,
    },
    /// Verify the credential in an image offline; prints JSON {valid, reason, claims}.
    Verify {
        /// Image file with the QR code.
        image: PathBuf,
        /// Trust list JSON (issuer keys, revoked credentials).
        #[arg(long, env = "MADOGUCHI_FACEQR_TRUST")]
        trust: PathBuf,
        /// Template keys JSON; when given the template is decrypted too (never printed).
        #[arg(long, env = "MADOGUCHI_FACEQR_TEMPLATE_KEYS")]
        template_keys: Option<PathBuf>,
        /// Model id this kiosk runs (without --live; with --live it comes from the model
        /// manifest).
        #[arg(long, required_unless_present = "live", conflicts_with = "live")]
        model: Option<String>,
        /// Template version this kiosk's model produces (without --live).
        #[arg(long, required_unless_present = "live", conflicts_with = "live")]
        template_version: Option<u32>,
        /// Verification time, Unix seconds (default: now).
        #[arg(long)]
        now: Option<i64>,
        /// Live face image: after the credential checks, match it (SFace) against the
        /// decrypted template with the enrollment gates (quality, passive liveness).
        /// Needs --template-keys.
        #[arg(long, requires = "template_keys")]
        live: Option<PathBuf>,
        /// With --live: skip the passive liveness gate (development only; enrollment must
        /// have skipped it too).
        #[arg(long, requires = "live")]
        no_pad: bool,
        /// With --live: models folder and thresholds file.
        #[command(flatten)]
        models: madoguchi_face::cli::ModelArgs,
    },
    /// Create an issuer key, a template keyring and a trust list naming the issuer (for
    /// development and tests; production keys come from the backend).
    Keygen {
        /// Directory to write issuer-key.json, template-keys.json and trust.json into.
        #[arg(long)]
        dir: PathBuf,
    },
}

/// What a subcommand printed and its exit code (for tests and embedding).
#[derive(Debug, Default)]
pub struct Outcome {
    /// Exit code: 0 success (verify: valid), 1 rejected or not decoded, 2 bad input.
    pub code: u8,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Outcome {
    fn out(&mut self, line: impl std::fmt::Display) {
        self.stdout.push_str(&format!("{line}\n"));
    }
    fn err(&mut self, line: impl std::fmt::Display) {
        self.stderr.push_str(&format!("{line}\n"));
    }
}

/// Runs a `qr` subcommand, printing its output. Exit codes: 0 success (verify: valid),
/// 1 rejected or not decoded, 2 bad input (files, arguments).
pub fn run(cmd: QrCommand) -> ExitCode {
    let o = execute(cmd);
    print!("{}", o.stdout);
    eprint!("{}", o.stderr);
    ExitCode::from(o.code)
}

/// Runs a `qr` subcommand and returns what it would print.
pub fn execute(cmd: QrCommand) -> Outcome {
    match cmd {
        QrCommand::Decode { images } => decode(&images),
        QrCommand::Issue {
            template,
            out,
            issuer_key,
            template_keys,
            valid_days,
            subject,
            module_px,
            text_out,
        } => report(issue_cmd(
            &template,
            &out,
            &issuer_key,
            &template_keys,
            valid_days,
            subject,
            module_px,
            text_out.as_deref(),
        )),
        QrCommand::Verify {
            image,
            trust,
            template_keys,
            model,
            template_version,
            now,
            live,
            no_pad,
            models,
        } => match (live, model, template_version) {
            (Some(face), _, _) => live_verify_cmd(
                &image,
                &trust,
                template_keys.as_deref(),
                &face,
                !no_pad,
                &models,
                now,
            ),
            (None, Some(model_id), Some(template_version)) => verify_cmd(
                &image,
                &trust,
                template_keys.as_deref(),
                ModelRef {
                    model_id,
                    template_version,
                },
                now,
            ),
            _ => report(Err(
                "--model and --template-version are needed without --live".into(),
            )),
        },
        QrCommand::Keygen { dir } => report(keygen(&dir)),
    }
}

fn report(r: Result<serde_json::Value, String>) -> Outcome {
    let mut o = Outcome::default();
    match r {
        Ok(v) => o.out(v),
        Err(e) => {
            o.err(format!("madoguchi qr: {e}"));
            o.code = 2;
        }
    }
    o
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

fn decode(images: &[PathBuf]) -> Outcome {
    let mut o = Outcome::default();
    for p in images {
        match read_file(p) {
            Ok(text) => o.out(text),
            Err(e) => {
                o.code = 1;
                o.err(format!("madoguchi qr decode: {}: {e}", p.display()));
            }
        }
    }
    o
}

#[allow(clippy::too_many_arguments)]
fn issue_cmd(
    template: &Path,
    out: &Path,
    issuer_key: &Path,
    template_keys: &Path,
    valid_days: u32,
    subject: Option<String>,
    module_px: u32,
    text_out: Option<&Path>,
) -> Result<serde_json::Value, String> {
    let tf = TemplateFile::load(template).map_err(|e| e.to_string())?;
    let t = Template::quantise(&tf.embedding).map_err(|e| e.to_string())?;
    let issuer = IssuerKey::load(issuer_key).map_err(|e| e.to_string())?;
    let keys = TemplateKeyring::load(template_keys).map_err(|e| e.to_string())?;
    let now = now_unix();
    let issued = issue(
        &IssueRequest {
            template: &t,
            model: tf.model.clone(),
            issued_at: now,
            expires_at: now + i64::from(valid_days.max(1)) * 86_400,
            subject,
        },
        &issuer,
        &keys,
    )
    .map_err(|e| e.to_string())?;
    let code = render::symbol(&issued.text).map_err(|e| e.to_string())?;
    render::export(&code, out, module_px).map_err(|e| e.to_string())?;
    if let Some(p) = text_out {
        std::fs::write(p, &issued.text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    Ok(json!({
        "credential_id": hex::encode(&issued.credential_id),
        "qr_version": render::version(&code),
        "chars": issued.text.len(),
        "out": out.display().to_string(),
    }))
}

fn rejection_json(r: &Rejection) -> serde_json::Value {
    json!({
        "valid": false,
        "reason": r.reason,
        "code": r.reason.code(),
        "detail": r.detail,
        "message_ja": r.reason.message(Lang::Ja),
        "message_en": r.reason.message(Lang::En),
    })
}

/// The credential text of the QR code in `image`; when there is none, the finished outcome:
/// an `unreadable` rejection (exit 1), or a bad-input error (exit 2).
fn read_credential(image: &Path) -> Result<String, Outcome> {
    match read_file(image) {
        Ok(t) => Ok(t),
        Err(crate::Error::NoSymbol) => {
            let mut o = Outcome::default();
            let r = Rejection {
                reason: crate::Reason::Unreadable,
                detail: "no QR code decoded from the image",
            };
            o.out(rejection_json(&r));
            o.code = 1;
            Err(o)
        }
        Err(e) => Err(report(Err(e.to_string()))),
    }
}

fn verify_cmd(
    image: &Path,
    trust: &Path,
    template_keys: Option<&Path>,
    model: ModelRef,
    now: Option<i64>,
) -> Outcome {
    let mut o = Outcome::default();
    let trust = match TrustList::load(trust) {
        Ok(t) => t,
        Err(e) => return report(Err(e.to_string())),
    };
    let keys = match template_keys.map(TemplateKeyring::load).transpose() {
        Ok(k) => k,
        Err(e) => return report(Err(e.to_string())),
    };
    let policy = Policy {
        now: now.unwrap_or_else(now_unix),
        clock_skew: 300,
        model,
    };
    let text = match read_credential(image) {
        Ok(t) => t,
        Err(done) => return done,
    };
    let result = match &keys {
        Some(k) => verify_credential(&text, &trust, k, &policy).map(|v| (v.claims, true)),
        None => verify_claims(&text, &trust, &policy).map(|c| (c, false)),
    };
    match result {
        Ok((claims, decrypted)) => {
            o.out(json!({ "valid": true, "template_decrypted": decrypted, "claims": claims }))
        }
        Err(r) => {
            o.out(rejection_json(&r));
            o.code = 1;
        }
    }
    o
}

fn load_engine(
    models: &madoguchi_face::cli::ModelArgs,
    pad: bool,
) -> Result<madoguchi_face::FaceEngine, madoguchi_face::FaceError> {
    madoguchi_face::FaceEngine::load(
        &models
            .models_dir
            .clone()
            .unwrap_or_else(madoguchi_face::models::default_models_dir),
        &models
            .thresholds
            .clone()
            .unwrap_or_else(madoguchi_face::thresholds::default_thresholds_path),
        &madoguchi_face::EngineOptions {
            embedders: vec![madoguchi_face::EmbedderKind::Sface],
            pad,
        },
    )
}

/// `qr verify IMAGE --live FACE`: the whole chain, decode → credential checks → decrypt →
/// gated live match. JSON: valid, reason (with JA/EN messages), claims, live numbers.
fn live_verify_cmd(
    image: &Path,
    trust: &Path,
    template_keys: Option<&Path>,
    face: &Path,
    pad: bool,
    models: &madoguchi_face::cli::ModelArgs,
    now: Option<i64>,
) -> Outcome {
    let mut o = Outcome::default();
    let Some(template_keys) = template_keys else {
        return report(Err("--live needs --template-keys".into()));
    };
    let trust = match TrustList::load(trust) {
        Ok(t) => t,
        Err(e) => return report(Err(e.to_string())),
    };
    let keys = match TemplateKeyring::load(template_keys) {
        Ok(k) => k,
        Err(e) => return report(Err(e.to_string())),
    };
    let engine = match load_engine(models, pad) {
        Ok(e) => e,
        Err(e) => return report(Err(e.to_string())),
    };
    let live_img = match madoguchi_face::jp2::open_any(face) {
        Ok(i) => i,
        Err(e) => return report(Err(e.to_string())),
    };
    let gate = if pad {
        LivenessGate::Passive
    } else {
        LivenessGate::Off
    };
    let mut matcher = match FaceMatcher::new(
        &engine,
        &live_img,
        madoguchi_face::EmbedderKind::Sface,
        gate,
    ) {
        Ok(m) => m,
        Err(e) => return report(Err(e.to_string())),
    };
    let text = match read_credential(image) {
        Ok(t) => t,
        Err(done) => return done,
    };
    let result = verify_with_face(
        &text,
        &trust,
        &keys,
        now.unwrap_or_else(now_unix),
        300,
        &mut matcher,
    );
    if let Some(e) = matcher.take_error() {
        return report(Err(format!("live face: {e}")));
    }
    let live = matcher.report().cloned();
    match result {
        Ok(a) => o.out(json!({
            "valid": true, "claims": a.claims, "score": a.score, "live": live,
        })),
        Err(r) => {
            let mut j = rejection_json(&r);
            j["live"] = json!(live);
            o.out(j);
            o.code = 1;
        }
    }
    o
}

fn keygen(dir: &Path) -> Result<serde_json::Value, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let issuer = IssuerKey::generate().map_err(|e| e.to_string())?;
    let keys = TemplateKeyring::generate().map_err(|e| e.to_string())?;
    let mut trust = TrustList::default();
    trust.add_issuer(issuer.trusted_issuer());
    let (ik, tk, tl) = (
        dir.join("issuer-key.json"),
        dir.join("template-keys.json"),
        dir.join("trust.json"),
    );
    issuer.save(&ik).map_err(|e| e.to_string())?;
    keys.save(&tk).map_err(|e| e.to_string())?;
    trust.save(&tl).map_err(|e| e.to_string())?;
    Ok(json!({
        "issuer_kid": hex::encode(issuer.kid()),
        "template_kid": hex::encode(keys.current_kid()),
        "issuer_key": ik.display().to_string(),
        "template_keys": tk.display().to_string(),
        "trust": tl.display().to_string(),
    }))
}
