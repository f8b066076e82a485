//! The confirmation record (確認記録) of an identity verification, as 犯罪収益移転防止法 6条 and
//! 施行規則 20条 ask a bank to keep it (field mapping: `docs/confirmation-record.md`): who
//! verified, when, by which method (IC chip read, and the route), which document, the
//! 本人特定事項 (name, address, birth date — as text, or the chip's own images on the
//! 照合番号B route), the face-match outcome and score, the liveness result, the evidence
//! references and any override with its reason. **Never the My Number** (番号法): the type has
//! no field for it, and the ledger refuses a document that has one.
//!
//! The procedure builds it; the record sink stores it sealed in the ledger, whose outbox
//! carries it to the central backend. This module does not store, send or sign anything.

use base64::Engine as _;
use serde::Serialize;

use crate::ports::{ChipData, FaceResult, Holder, TellerRef};

/// The format tag.
pub const FORMAT: &str = "madoguchi-confirmation/1";

/// One 確認記録.
#[derive(Debug, Clone, Serialize)]
pub struct ConfirmationRecord {
    /// [`FORMAT`].
    pub format: &'static str,
    /// This record's id (a UUID the sink gives).
    pub record_id: String,
    /// The procedure session.
    pub session_id: String,
    /// The kiosk.
    pub kiosk_id: String,
    /// 店番.
    pub branch_code: String,
    /// 確認を行った者.
    pub verified_by: VerifiedBy,
    /// 確認を行った日時 (JST, ISO 8601).
    pub verified_at: String,
    /// The same, UNIX ms.
    pub verified_at_ms: i64,
    /// 確認の方法.
    pub method: Method,
    /// 本人確認書類を特定するに足りる事項 (without the My Number).
    pub document: Document,
    /// 本人特定事項.
    pub subject: Subject,
    /// The face match.
    pub face_match: FaceMatch,
    /// Presentation-attack checks.
    pub liveness: Liveness,
    /// Ids of the evidence stored with the session (chip photo hash, face image, signature).
    pub evidence: Vec<String>,
    /// A teller's override.
    #[serde(rename = "override")]
    pub override_: Option<Override>,
    /// `verified`, `not_verified`, `attack_suspected`.
    pub outcome: &'static str,
}

/// Who verified.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedBy {
    /// The teller id.
    pub teller_id: String,
    /// Signed in with a verified credential.
    pub teller_verified: bool,
}

/// How.
#[derive(Debug, Clone, Serialize)]
pub struct Method {
    /// The IC chip was read and its signatures and chip challenge verified.
    pub chip_read: bool,
    /// `pin` or `code_b`.
    pub route: &'static str,
    /// `my_number_card`.
    pub document_type: &'static str,
    /// A JPKI evidence signature binds the captured face to the card.
    pub signature_evidence: bool,
}

/// Which document.
#[derive(Debug, Clone, Serialize)]
pub struct Document {
    /// The card's expiry (`YYYY-MM-DD`).
    pub expiry: String,
    /// Checks made against the TEST hierarchy (simulation): such a record proves nothing.
    pub test_hierarchy: bool,
}

/// 本人特定事項.
#[derive(Debug, Clone, Serialize)]
pub struct Subject {
    /// 氏名 (PIN route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// 住居 (PIN route).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// 生年月日.
    pub birth_date: String,
    /// 性別.
    pub sex: &'static str,
    /// 氏名 as the chip's image (照合番号B route), PNG base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_image_png_b64: Option<String>,
    /// 住所 as the chip's image (照合番号B route), PNG base64.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address_image_png_b64: Option<String>,
}

/// The face match.
#[derive(Debug, Clone, Serialize)]
pub struct FaceMatch {
    /// `match`, `no_match`, `attack_suspected`, `no_face`.
    pub outcome: &'static str,
    /// Score (the model's metric).
    pub score: Option<f32>,
    /// Threshold.
    pub threshold: Option<f32>,
    /// Model id.
    pub model: &'static str,
    /// `chip` (live face against the chip photo).
    pub condition: &'static str,
}

/// Liveness.
#[derive(Debug, Clone, Serialize)]
pub struct Liveness {
    /// The turn asked for.
    pub challenge: Option<&'static str>,
    /// How it ended.
    pub challenge_result: Option<&'static str>,
    /// The passive model's judgement (advisory when a challenge ran).
    pub passive_live: Option<bool>,
}

/// An override.
#[derive(Debug, Clone, Serialize)]
pub struct Override {
    /// `accepted` or `rejected`.
    pub decision: &'static str,
    /// The teller's written reason.
    pub reason: String,
    /// Who.
    pub teller_id: String,
    /// The supervisor whose key approved it.
    pub approved_by: String,
}

/// Where and who, for [`ConfirmationRecord::build`].
#[derive(Debug, Clone)]
pub struct Context<'a> {
    /// Record id.
    pub record_id: String,
    /// Session id.
    pub session_id: &'a str,
    /// Kiosk id.
    pub kiosk_id: &'a str,
    /// 店番.
    pub branch_code: &'a str,
    /// The teller.
    pub teller: &'a TellerRef,
    /// When (UNIX ms).
    pub at_ms: i64,
}

impl ConfirmationRecord {
    /// Builds the record of one verification.
    pub fn build(
        ctx: &Context<'_>,
        chip: &ChipData,
        face: Option<&FaceResult>,
        signature: bool,
        evidence: Vec<String>,
        override_: Option<Override>,
        outcome: &'static str,
    ) -> Self {
        let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
        let (name, address, name_img, address_img) = match &chip.holder {
            Holder::Text { name, address } => (
                Some(name.expose().to_owned()),
                Some(address.expose().to_owned()),
                None,
                None,
            ),
            Holder::Images {
                name_png,
                address_png,
            } => (
                None,
                None,
                Some(b64(name_png.expose())),
                Some(b64(address_png.expose())),
            ),
        };
        ConfirmationRecord {
            format: FORMAT,
            record_id: ctx.record_id.clone(),
            session_id: ctx.session_id.to_owned(),
            kiosk_id: ctx.kiosk_id.to_owned(),
            branch_code: ctx.branch_code.to_owned(),
            verified_by: VerifiedBy {
                teller_id: ctx.teller.id.clone(),
                teller_verified: ctx.teller.verified,
            },
            verified_at: jst_iso8601(ctx.at_ms),
            verified_at_ms: ctx.at_ms,
            method: Method {
                chip_read: true,
                route: chip.route.as_str(),
                document_type: "my_number_card",
                signature_evidence: signature,
            },
            document: Document {
                expiry: chip.card_expiry.clone(),
                test_hierarchy: chip.checks.test_hierarchy,
            },
            subject: Subject {
                name,
                address,
                birth_date: chip.birth_date.expose().to_owned(),
                sex: chip.sex.as_str(),
                name_image_png_b64: name_img,
                address_image_png_b64: address_img,
            },
            face_match: FaceMatch {
                outcome: face.map_or("no_face", |f| f.decision.as_str()),
                score: face.and_then(|f| f.score),
                threshold: face.and_then(|f| f.threshold),
                model: face.map_or("", |f| f.model),
                condition: "chip",
            },
            liveness: Liveness {
                challenge: face.and_then(|f| f.challenge).map(|(t, _)| t.as_str()),
                challenge_result: face.and_then(|f| f.challenge).map(|(_, r)| r.as_str()),
                passive_live: face.and_then(|f| f.passive).map(|(_, _, live)| live),
            },
            evidence,
            override_,
            outcome,
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SS+09:00` for UNIX ms (Japan has no daylight saving time).
pub fn jst_iso8601(unix_ms: i64) -> String {
    let secs = unix_ms.div_euclid(1000) + 9 * 3600;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}+09:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 → (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jst_timestamps() {
        assert_eq!(jst_iso8601(0), "1970-01-01T09:00:00+09:00");
        // 2026-12-01T09:29:24Z
        assert_eq!(jst_iso8601(1_796_117_364_000), "2026-12-01T18:29:24+09:00");
        // Leap day, late evening UTC → next day in Japan.
        assert_eq!(jst_iso8601(1_709_240_400_000), "2024-03-01T06:00:00+09:00");
    }
}
