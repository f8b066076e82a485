//! Verification of the kiosk's JPKI evidence signatures ("JPKI+容貌") as events arrive.
//!
//! Wire format (documented in `openapi.yaml`, produced by the kiosk): an `evidence.stored`
//! event whose payload has `"kind": "signature"` carries, in `content_b64` (standard base64),
//! the JSON of the card crate's `Evidence`:
//!
//! ```json
//! { "statement": { "format": "madoguchi-evidence/1", "face_image_sha256": "<hex>",
//!                  "card_face_sha256": ["<hex>", "<hex>", "<hex>"], "kiosk_id": "…",
//!                  "session_id": "…", "time_unix": 1700000000 },
//!   "signature": "<hex: RSA PKCS#1 v1.5 over SHA-256 of the canonical statement>",
//!   "sign_certificate": "<hex: the card's 署名用証明書, DER>" }
//! ```
//!
//! The signed bytes are the statement re-encoded canonically: compact JSON, the six fields in
//! the order above (what the kiosk signs). The check: the signing certificate chains to a JPKI
//! *signing* root of the configured [`JpkiRoots`] (name narrows, the root's signature decides),
//! leaf and root are valid on the statement's date, and the signature covers the statement.
//!
//! Roots are data: the J-LIS production signing roots (the DER files `myna-card` carries,
//! which the card crate's tests pin against its own copies) always; the TEST roots of a
//! simulation hierarchy only when the operator names their directory (`--test-jpki-roots DIR`,
//! the same `anchors.json` layout as the kiosk's `--test-anchors`).
//!
//! Why here and not through `madoguchi-card`: that crate links `pcsc` (libpcsclite), which a
//! server has no use for; the check needs only X.509 and RSA, which `myna-card` provides
//! without its `pcsc` feature. The two implementations share nothing but the wire format, and a
//! test signs with the virtual card through the card crate and verifies here.
//!
//! What it does NOT do: check revocation of the signing certificate (J-LIS OCSP/CRL through a
//! platform operator), compare the statement with the other evidence of the session (face image
//! hash, card-face hashes), or reject events: every event is stored, the verdict beside it.

use std::path::Path;

use base64::Engine as _;
use myna_card::certificate::roots::{self, Hierarchy, Purpose};
use myna_card::{Certificate, Date};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use sha2::Digest as _;

use crate::CentralError;
use crate::server::{EvidenceVerifier, Verification};

/// The statement format this backend knows.
pub const EVIDENCE_FORMAT: &str = "madoguchi-evidence/1";

/// What the kiosk signed (hashes and ids only). Field order is the canonical order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceStatement {
    /// Format tag, [`EVIDENCE_FORMAT`].
    pub format: String,
    /// SHA-256 (hex) of the captured face image.
    pub face_image_sha256: String,
    /// SHA-256 (hex) of the three signed groups of the card face.
    pub card_face_sha256: [String; 3],
    /// The kiosk's id.
    pub kiosk_id: String,
    /// The procedure session's id.
    pub session_id: String,
    /// When, Unix seconds (UTC).
    pub time_unix: i64,
}

/// A signed statement with its certificate (personal data: `Debug` shows neither).
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignatureEvidence {
    /// What was signed.
    pub statement: EvidenceStatement,
    /// The signature, hex.
    pub signature: String,
    /// The signing certificate, DER, hex.
    pub sign_certificate: String,
}

impl std::fmt::Debug for SignatureEvidence {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SignatureEvidence")
            .field("statement", &self.statement)
            .finish_non_exhaustive()
    }
}

/// The JPKI signing roots the backend trusts.
#[derive(Clone)]
pub struct JpkiRoots {
    roots: Vec<Certificate>,
    test: bool,
}

impl std::fmt::Debug for JpkiRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JpkiRoots")
            .field("roots", &self.roots.len())
            .field("test", &self.test)
            .finish()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    hierarchy: String,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
    jpki_roots: Vec<RootEntry>,
    #[serde(default)]
    #[allow(dead_code)]
    cv_ca_keys: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RootEntry {
    file: String,
    purpose: String,
    sha256: String,
}

impl JpkiRoots {
    /// The J-LIS production signing roots only.
    pub fn production() -> Result<JpkiRoots, CentralError> {
        let roots = roots::KNOWN
            .iter()
            .filter(|r| {
                r.hierarchy == Hierarchy::Production && r.purpose == Purpose::DigitalSignature
            })
            .map(|r| {
                r.certificate().map_err(|e| {
                    CentralError::Invalid(format!("a compiled-in J-LIS root does not parse: {e}"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if roots.is_empty() {
            return Err(CentralError::Invalid(
                "no J-LIS signing root compiled in".into(),
            ));
        }
        Ok(JpkiRoots { roots, test: false })
    }

    /// The production roots plus the TEST signing roots of `dir/anchors.json` (simulation and
    /// tests only). The manifest must say `"hierarchy": "test"`; each file is checked against
    /// its SHA-256; only `"purpose": "sign"` roots are used.
    pub fn with_test_dir(dir: &Path) -> Result<JpkiRoots, CentralError> {
        let path = dir.join("anchors.json");
        let text = std::fs::read_to_string(&path).map_err(|source| CentralError::Io {
            context: format!("reading {}", path.display()),
            source,
        })?;
        let m: Manifest = serde_json::from_str(&text)
            .map_err(|e| CentralError::Invalid(format!("{}: {e}", path.display())))?;
        if m.hierarchy != "test" {
            return Err(CentralError::Invalid(format!(
                "{}: test roots must be marked \"hierarchy\": \"test\"",
                path.display()
            )));
        }
        let mut ders = Vec::new();
        for r in m.jpki_roots.iter().filter(|r| r.purpose == "sign") {
            if r.file.contains('/') || r.file.contains('\\') || r.file.contains("..") {
                return Err(CentralError::Invalid(format!(
                    "bad root file name {:?}",
                    r.file
                )));
            }
            let file = dir.join(&r.file);
            let der = std::fs::read(&file).map_err(|source| CentralError::Io {
                context: format!("reading {}", file.display()),
                source,
            })?;
            if !hex::encode(sha2::Sha256::digest(&der)).eq_ignore_ascii_case(&r.sha256) {
                return Err(CentralError::Invalid(format!(
                    "{} does not match its SHA-256 in the manifest",
                    r.file
                )));
            }
            ders.push(der);
        }
        let refs: Vec<&[u8]> = ders.iter().map(Vec::as_slice).collect();
        Self::with_test_roots(&refs)
    }

    /// The production roots plus these TEST signing root certificates (DER) — the kiosk's
    /// embedded backend in simulation, with the virtual card's TEST root.
    pub fn with_test_roots(ders: &[&[u8]]) -> Result<JpkiRoots, CentralError> {
        let mut out = Self::production()?;
        for der in ders {
            let cert = Certificate::parse(der).map_err(|_| {
                CentralError::Invalid("a TEST root is not a DER certificate".into())
            })?;
            out.roots.push(cert);
            out.test = true;
        }
        Ok(out)
    }

    /// Number of signing roots.
    pub fn len(&self) -> usize {
        self.roots.len()
    }

    /// Never: there is always at least one production root.
    pub fn is_empty(&self) -> bool {
        self.roots.is_empty()
    }

    /// Whether TEST roots are trusted (simulation).
    pub fn has_test_roots(&self) -> bool {
        self.test
    }

    /// Checks one signature evidence (the JSON described in the module docs).
    pub fn verify(&self, evidence_json: &[u8]) -> Verification {
        let Ok(ev) = serde_json::from_slice::<SignatureEvidence>(evidence_json) else {
            return Verification::Malformed;
        };
        self.verify_evidence(&ev)
    }

    /// Checks one parsed signature evidence.
    pub fn verify_evidence(&self, ev: &SignatureEvidence) -> Verification {
        if ev.statement.format != EVIDENCE_FORMAT {
            return Verification::Malformed;
        }
        let (Ok(der), Ok(signature)) = (
            hex::decode(&ev.sign_certificate),
            hex::decode(&ev.signature),
        ) else {
            return Verification::Malformed;
        };
        let Ok(cert) = Certificate::parse(&der) else {
            return Verification::Malformed;
        };
        let issuer = cert.issuer();
        let Some(root) = self
            .roots
            .iter()
            .filter(|r| r.subject() == issuer)
            .find(|r| cert.verify_signature(r).is_ok())
        else {
            return Verification::UntrustedChain;
        };
        let on = Date::from_unix_seconds(ev.statement.time_unix);
        if !cert.is_valid_on(on) || !root.is_valid_on(on) {
            return Verification::Expired;
        }
        let Ok(canonical) = serde_json::to_vec(&ev.statement) else {
            return Verification::Malformed;
        };
        match cert
            .public_key()
            .and_then(|k| k.verify_pkcs1_sha256(&canonical, &signature))
        {
            Ok(()) => Verification::Verified,
            Err(_) => Verification::BadSignature,
        }
    }
}

/// The backend's [`EvidenceVerifier`]: checks the JPKI signature of `evidence.stored` events of
/// kind `signature` against its [`JpkiRoots`]; every other event is `not_checked`.
#[derive(Debug, Clone)]
pub struct JpkiVerifier {
    roots: JpkiRoots,
}

impl JpkiVerifier {
    /// A verifier over `roots`.
    pub fn new(roots: JpkiRoots) -> JpkiVerifier {
        JpkiVerifier { roots }
    }
}

#[derive(Deserialize)]
struct EvidencePayload<'a> {
    kind: Option<&'a str>,
    content_b64: Option<String>,
}

impl EvidenceVerifier for JpkiVerifier {
    fn verify(&self, kind: &str, payload: &RawValue) -> Verification {
        if kind != "evidence.stored" {
            return Verification::NotChecked;
        }
        let Ok(p) = serde_json::from_str::<EvidencePayload<'_>>(payload.get()) else {
            return Verification::NotChecked;
        };
        if p.kind != Some("signature") {
            return Verification::NotChecked;
        }
        let Some(b64) = p.content_b64 else {
            // Signature evidence without its content (e.g. purged): nothing to check.
            return Verification::Malformed;
        };
        match base64::engine::general_purpose::STANDARD.decode(b64.as_bytes()) {
            Ok(bytes) => self.roots.verify(&bytes),
            Err(_) => Verification::Malformed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_roots_are_the_three_jlis_signing_roots() {
        let r = JpkiRoots::production().unwrap();
        assert_eq!(r.len(), 3);
        assert!(!r.has_test_roots());
    }

    #[test]
    fn other_events_are_not_checked_and_garbage_is_malformed() {
        let v = JpkiVerifier::new(JpkiRoots::production().unwrap());
        let raw = |s: &str| RawValue::from_string(s.to_owned()).unwrap();
        assert_eq!(
            v.verify("outcome.recorded", &raw("{}")),
            Verification::NotChecked
        );
        assert_eq!(
            v.verify(
                "evidence.stored",
                &raw(r#"{"kind":"face_image","content_b64":"AA=="}"#)
            ),
            Verification::NotChecked
        );
        assert_eq!(
            v.verify(
                "evidence.stored",
                &raw(r#"{"kind":"signature","content_b64":"!!"}"#)
            ),
            Verification::Malformed
        );
        let junk = base64::engine::general_purpose::STANDARD.encode(b"{\"statement\":1}");
        let p = format!(r#"{{"kind":"signature","content_b64":"{junk}"}}"#);
        assert_eq!(
            v.verify("evidence.stored", &raw(&p)),
            Verification::Malformed
        );
        assert_eq!(
            v.verify("evidence.stored", &raw("[1]")),
            Verification::NotChecked
        );
    }

    #[test]
    fn a_test_dir_claiming_production_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("anchors.json"),
            r#"{"hierarchy":"production","jpki_roots":[],"cv_ca_keys":[]}"#,
        )
        .unwrap();
        assert!(JpkiRoots::with_test_dir(dir.path()).is_err());
        assert!(JpkiRoots::with_test_dir(&dir.path().join("missing")).is_err());
    }
}
