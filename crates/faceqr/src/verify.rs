//! Offline verification of a credential, in a fixed order: prefix and version, signature
//! against the cached trust list, expiry, revocation list, model compatibility, then (and only
//! then) decryption of the template, then the live 1:1 match through a [`LiveMatcher`].
//! Every rejection carries a [`Reason`] with a stable code and Japanese and English messages.
//!
//! It does not compute faces or liveness (the face crate does, behind [`LiveMatcher`]; see
//! [`crate::live`]), read
//! images (see [`crate::read`]), or touch the network.

use ed25519_dalek::Signature;
use serde::Serialize;

use crate::format::{self, Claims, DecryptFail, ParseFail};
use crate::keys::{TemplateKeyring, TrustList};
use crate::template::{ModelRef, Template};

/// Display language of a rejection message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lang {
    /// 日本語.
    Ja,
    /// English.
    En,
}

/// Why a credential was rejected.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Reason {
    /// Not a credential of a format version this kiosk reads, or malformed.
    Unreadable,
    /// The issuer key id is not on the trust list.
    UnknownIssuer,
    /// The signature does not verify (the credential was altered or forged).
    BadSignature,
    /// Past its expiry.
    Expired,
    /// Issued in the future (beyond the allowed clock skew).
    NotYetValid,
    /// The credential or its issuer key is revoked.
    Revoked,
    /// Made by a face model this kiosk does not run.
    ModelMismatch,
    /// The template is encrypted with a key this kiosk does not hold, or does not decrypt.
    TemplateKeyUnknown,
    /// The live face could not be captured with enough quality.
    FaceQuality,
    /// The live face does not match the template.
    FaceMismatch,
    /// The liveness check failed.
    LivenessFailed,
}

impl Reason {
    /// Every reason, for exhaustive message tests and UI tables.
    pub const ALL: [Reason; 11] = [
        Reason::Unreadable,
        Reason::UnknownIssuer,
        Reason::BadSignature,
        Reason::Expired,
        Reason::NotYetValid,
        Reason::Revoked,
        Reason::ModelMismatch,
        Reason::TemplateKeyUnknown,
        Reason::FaceQuality,
        Reason::FaceMismatch,
        Reason::LivenessFailed,
    ];

    /// Stable code for the UI and the ledger (`faceqr.<reason>`).
    pub fn code(self) -> &'static str {
        match self {
            Reason::Unreadable => "faceqr.unreadable",
            Reason::UnknownIssuer => "faceqr.unknown_issuer",
            Reason::BadSignature => "faceqr.bad_signature",
            Reason::Expired => "faceqr.expired",
            Reason::NotYetValid => "faceqr.not_yet_valid",
            Reason::Revoked => "faceqr.revoked",
            Reason::ModelMismatch => "faceqr.model_mismatch",
            Reason::TemplateKeyUnknown => "faceqr.template_key_unknown",
            Reason::FaceQuality => "faceqr.face_quality",
            Reason::FaceMismatch => "faceqr.face_mismatch",
            Reason::LivenessFailed => "faceqr.liveness_failed",
        }
    }

    /// Message for the teller, in the given language.
    pub fn message(self, lang: Lang) -> &'static str {
        match (self, lang) {
            (Reason::Unreadable, Lang::Ja) => {
                "QRコードを読み取れません。対応していない形式か、破損しています。"
            }
            (Reason::Unreadable, Lang::En) => {
                "The QR code cannot be read: unsupported format or damaged."
            }
            (Reason::UnknownIssuer, Lang::Ja) => "発行元が信頼リストにありません。",
            (Reason::UnknownIssuer, Lang::En) => "The issuer is not on the trust list.",
            (Reason::BadSignature, Lang::Ja) => {
                "署名が正しくありません。改ざんされた可能性があります。"
            }
            (Reason::BadSignature, Lang::En) => {
                "The signature is invalid; the credential may have been altered."
            }
            (Reason::Expired, Lang::Ja) => "有効期限が切れています。",
            (Reason::Expired, Lang::En) => "The credential has expired.",
            (Reason::NotYetValid, Lang::Ja) => "発行日時が未来です。端末の時刻を確認してください。",
            (Reason::NotYetValid, Lang::En) => {
                "The credential is issued in the future; check the kiosk clock."
            }
            (Reason::Revoked, Lang::Ja) => "この顔認証QRは失効しています。",
            (Reason::Revoked, Lang::En) => "The credential has been revoked.",
            (Reason::ModelMismatch, Lang::Ja) => {
                "顔認識モデルが異なるため照合できません。再登録が必要です。"
            }
            (Reason::ModelMismatch, Lang::En) => {
                "Made with a different face model; re-enrolment is needed."
            }
            (Reason::TemplateKeyUnknown, Lang::Ja) => {
                "顔情報を復号できません。鍵が配信されていない可能性があります。"
            }
            (Reason::TemplateKeyUnknown, Lang::En) => {
                "The face template cannot be decrypted; the key may not be distributed yet."
            }
            (Reason::FaceQuality, Lang::Ja) => "お顔を十分に撮影できませんでした。",
            (Reason::FaceQuality, Lang::En) => "The live face could not be captured well enough.",
            (Reason::FaceMismatch, Lang::Ja) => "お顔がQRの登録情報と一致しません。",
            (Reason::FaceMismatch, Lang::En) => "The face does not match the credential.",
            (Reason::LivenessFailed, Lang::Ja) => "生体確認に失敗しました。",
            (Reason::LivenessFailed, Lang::En) => "The liveness check failed.",
        }
    }
}

/// A rejection: the reason and a short technical detail (English, no personal data).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Rejection {
    /// The reason.
    pub reason: Reason,
    /// Technical detail for the log (e.g. which structural check failed).
    pub detail: &'static str,
}

impl Rejection {
    fn new(reason: Reason, detail: &'static str) -> Self {
        Self { reason, detail }
    }
}

/// What the verifier accepts.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Current time, Unix seconds.
    pub now: i64,
    /// Allowed clock skew for `issued_at`, seconds.
    pub clock_skew: i64,
    /// The model this kiosk runs: the credential's model must be the same.
    pub model: ModelRef,
}

/// A credential whose signature, validity, revocation and model checks passed, with the
/// decrypted template.
#[derive(Debug)]
pub struct Verified {
    /// The public claims.
    pub claims: Claims,
    /// The decrypted template (redacted `Debug`, zeroed on drop).
    pub template: Template,
}

/// Verifies the checks that need no face: everything up to and including decryption.
pub fn verify_credential(
    text: &str,
    trust: &TrustList,
    keys: &TemplateKeyring,
    policy: &Policy,
) -> Result<Verified, Rejection> {
    let claims = verify_signed(text, trust, policy)?;
    let template = match format::decrypt_template(&claims.encrypted, &claims.cti, keys) {
        Ok(t) => t,
        Err(DecryptFail::UnknownKey) => {
            return Err(Rejection::new(
                Reason::TemplateKeyUnknown,
                "template key id not held",
            ));
        }
        Err(DecryptFail::Failed) => {
            return Err(Rejection::new(
                Reason::TemplateKeyUnknown,
                "template does not decrypt",
            ));
        }
    };
    Ok(Verified {
        claims: claims.claims,
        template,
    })
}

/// Verifies the signed claims without decrypting the template (for `qr verify` without keys
/// and for showing claims). Order: prefix, signature, expiry, revocation, model.
pub fn verify_claims(text: &str, trust: &TrustList, policy: &Policy) -> Result<Claims, Rejection> {
    verify_signed(text, trust, policy).map(|c| c.claims)
}

fn verify_signed(
    text: &str,
    trust: &TrustList,
    policy: &Policy,
) -> Result<format::SignedClaims, Rejection> {
    let (sign1, kid) = format::parse_signed(text).map_err(|f| {
        Rejection::new(
            Reason::Unreadable,
            match f {
                ParseFail::Prefix => "prefix or format version not recognised",
                ParseFail::Base45 => "not Base45",
                ParseFail::Cose => "not a COSE_Sign1",
                ParseFail::Header => "unexpected COSE header",
            },
        )
    })?;
    let issuer = trust.issuer(&kid).ok_or(Rejection::new(
        Reason::UnknownIssuer,
        "issuer key id not on the trust list",
    ))?;
    sign1
        .verify_signature(b"", |sig, tbs| {
            let sig = Signature::from_slice(sig).map_err(|_| ())?;
            issuer.key.verify_strict(tbs, &sig).map_err(|_| ())
        })
        .map_err(|()| Rejection::new(Reason::BadSignature, "signature does not verify"))?;
    let payload = sign1.payload.as_deref().unwrap_or_default();
    let signed = format::parse_claims(payload, &kid).ok_or(Rejection::new(
        Reason::Unreadable,
        "signed claims malformed or of another version",
    ))?;
    let c = &signed.claims;
    if c.expires_at <= policy.now {
        return Err(Rejection::new(Reason::Expired, "expiry passed"));
    }
    if c.issued_at > policy.now.saturating_add(policy.clock_skew) {
        return Err(Rejection::new(Reason::NotYetValid, "issued in the future"));
    }
    if issuer.revoked {
        return Err(Rejection::new(Reason::Revoked, "issuer key revoked"));
    }
    if trust.is_revoked(&signed.cti) {
        return Err(Rejection::new(Reason::Revoked, "credential id revoked"));
    }
    if c.model != policy.model {
        return Err(Rejection::new(
            Reason::ModelMismatch,
            "model id or template version differs",
        ));
    }
    Ok(signed)
}

/// Outcome of the live 1:1 match.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MatchOutcome {
    /// Same person, with the similarity score.
    Match {
        /// Similarity (model-specific scale).
        score: f32,
    },
    /// Different person.
    Mismatch {
        /// Similarity (model-specific scale).
        score: f32,
    },
    /// The live face failed the quality gate.
    QualityFailed,
    /// The live face failed the liveness gate.
    LivenessFailed,
}

/// The final step, implemented with the face crate by [`crate::live::FaceMatcher`]: capture
/// the live face with the same quality and liveness gates as enrollment and match it 1:1
/// against the credential's template.
pub trait LiveMatcher {
    /// The model this matcher runs (credentials of other models are rejected before
    /// decryption).
    fn model(&self) -> ModelRef;
    /// Matches the live face against the template.
    fn match_live(&mut self, template: &Template) -> MatchOutcome;
}

/// An accepted credential: claims and the match score.
#[derive(Clone, Debug, Serialize)]
pub struct Accepted {
    /// The public claims.
    pub claims: Claims,
    /// The match score.
    pub score: f32,
}

/// Full verification: [`verify_credential`] with the matcher's model, then the live match.
pub fn verify_with_face(
    text: &str,
    trust: &TrustList,
    keys: &TemplateKeyring,
    now: i64,
    clock_skew: i64,
    matcher: &mut dyn LiveMatcher,
) -> Result<Accepted, Rejection> {
    let policy = Policy {
        now,
        clock_skew,
        model: matcher.model(),
    };
    let v = verify_credential(text, trust, keys, &policy)?;
    match matcher.match_live(&v.template) {
        MatchOutcome::Match { score } => Ok(Accepted {
            claims: v.claims,
            score,
        }),
        MatchOutcome::Mismatch { .. } => Err(Rejection::new(
            Reason::FaceMismatch,
            "live face does not match",
        )),
        MatchOutcome::QualityFailed => Err(Rejection::new(
            Reason::FaceQuality,
            "live face quality gate failed",
        )),
        MatchOutcome::LivenessFailed => Err(Rejection::new(
            Reason::LivenessFailed,
            "liveness gate failed",
        )),
    }
}
