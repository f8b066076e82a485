//! Trust anchors: the JPKI X.509 roots and the card-verifiable (CV) CA keys that sign the
//! 券面 applications' certificates, as data with a manifest (`anchors.json`).
//!
//! The production set (J-LIS, `trust/production/`) is compiled into the binary so that nothing
//! beside it can replace an anchor; [`TrustAnchors::production`] never contains a test anchor.
//! Test anchors (the virtual card's test hierarchy) exist only in simulation mode and are loaded
//! with [`TrustAnchors::simulation_from_dir`] or built with [`TrustAnchors::simulation`]. The
//! card's own CA certificates (JPKI EF 0002/000B) are never anchors: they come from the card
//! being checked. This module does not check revocation (that needs the J-LIS service).
//!
//! `anchors.json` (files it names sit beside it, each checked against its SHA-256):
//!
//! ```json
//! { "hierarchy": "test",
//!   "source": "where the anchors come from",
//!   "jpki_roots": [ { "file": "root-auth.der", "purpose": "auth", "sha256": "<hex>" },
//!                   { "file": "root-sign.der", "purpose": "sign", "sha256": "<hex>" } ],
//!   "cv_ca_keys": [ { "name": "6990023", "key_id": "<16 bytes hex>",
//!                     "exponent": "010001", "modulus": "<hex>" } ] }
//! ```

use std::path::Path;

use myna_card::data::KeyId;
use myna_card::{Certificate, Date, RsaPublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CardError, Result};

/// Which hierarchy the anchors belong to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Hierarchy {
    /// J-LIS production: real cardholders.
    Production,
    /// A test hierarchy: simulation only.
    Test,
}

/// What a JPKI root issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RootPurpose {
    /// 利用者証明用 (authentication) certificates.
    Auth,
    /// 署名用 (signing) certificates.
    Sign,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    hierarchy: Hierarchy,
    #[serde(default)]
    #[allow(dead_code)]
    source: String,
    jpki_roots: Vec<RootEntry>,
    cv_ca_keys: Vec<CvKeyEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RootEntry {
    file: String,
    purpose: RootPurpose,
    sha256: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CvKeyEntry {
    #[serde(default)]
    name: String,
    key_id: String,
    exponent: String,
    modulus: String,
}

/// A set of anchors of one hierarchy.
#[derive(Clone)]
pub struct TrustAnchors {
    hierarchy: Hierarchy,
    roots: Vec<(RootPurpose, Certificate)>,
    cv_keys: Vec<(KeyId, RsaPublicKey)>,
}

const PRODUCTION_MANIFEST: &str = include_str!("../trust/production/anchors.json");
const PRODUCTION_FILES: &[(&str, &[u8])] = &[
    (
        "authca01.cer",
        include_bytes!("../trust/production/authca01.cer"),
    ),
    (
        "authca02.cer",
        include_bytes!("../trust/production/authca02.cer"),
    ),
    (
        "authca03.cer",
        include_bytes!("../trust/production/authca03.cer"),
    ),
    (
        "signca01.cer",
        include_bytes!("../trust/production/signca01.cer"),
    ),
    (
        "signca02.cer",
        include_bytes!("../trust/production/signca02.cer"),
    ),
    (
        "signca03.cer",
        include_bytes!("../trust/production/signca03.cer"),
    ),
];

impl TrustAnchors {
    /// The J-LIS production anchors compiled into the binary.
    pub fn production() -> Result<Self> {
        let anchors = Self::from_manifest(PRODUCTION_MANIFEST, |file| {
            PRODUCTION_FILES
                .iter()
                .find(|(name, _)| *name == file)
                .map(|(_, der)| der.to_vec())
                .ok_or_else(|| CardError::TrustAnchors(format!("{file} is not compiled in")))
        })?;
        if anchors.hierarchy != Hierarchy::Production {
            return Err(CardError::TrustAnchors(
                "the compiled-in anchors are not production".into(),
            ));
        }
        Ok(anchors)
    }

    /// Test anchors for simulation, from `dir/anchors.json` and the files it names (each
    /// checked against its SHA-256). Refuses a manifest that says `production`: production
    /// anchors are only the compiled-in ones.
    pub fn simulation_from_dir(dir: &Path) -> Result<Self> {
        let manifest_path = dir.join("anchors.json");
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| CardError::Io {
            path: manifest_path.display().to_string(),
            source,
        })?;
        let anchors = Self::from_manifest(&text, |file| {
            if file.contains('/') || file.contains("..") {
                return Err(CardError::TrustAnchors(format!("bad file name {file:?}")));
            }
            let path = dir.join(file);
            std::fs::read(&path).map_err(|source| CardError::Io {
                path: path.display().to_string(),
                source,
            })
        })?;
        if anchors.hierarchy != Hierarchy::Test {
            return Err(CardError::TrustAnchors(
                "simulation anchors must be marked \"hierarchy\": \"test\"".into(),
            ));
        }
        Ok(anchors)
    }

    /// Test anchors for simulation, built in memory: JPKI root certificates (DER) and CV CA
    /// keys (16-byte key id, RSA exponent and modulus, big-endian).
    pub fn simulation(
        roots: &[(RootPurpose, Vec<u8>)],
        cv_keys: &[([u8; 16], Vec<u8>, Vec<u8>)],
    ) -> Result<Self> {
        let mut anchors = TrustAnchors {
            hierarchy: Hierarchy::Test,
            roots: Vec::new(),
            cv_keys: Vec::new(),
        };
        for (purpose, der) in roots {
            let cert = Certificate::parse(der)
                .map_err(|_| CardError::TrustAnchors("a root is not a DER certificate".into()))?;
            anchors.roots.push((*purpose, cert));
        }
        for (id, e, n) in cv_keys {
            let id = KeyId::parse(id)
                .map_err(|_| CardError::TrustAnchors("a CV key id is malformed".into()))?;
            anchors.cv_keys.push((
                id,
                RsaPublicKey {
                    exponent: e.clone(),
                    modulus: n.clone(),
                },
            ));
        }
        Ok(anchors)
    }

    fn from_manifest(text: &str, mut load: impl FnMut(&str) -> Result<Vec<u8>>) -> Result<Self> {
        let m: Manifest = serde_json::from_str(text)
            .map_err(|e| CardError::TrustAnchors(format!("anchors.json: {e}")))?;
        let mut roots = Vec::new();
        for r in &m.jpki_roots {
            let der = load(&r.file)?;
            let digest = hex::encode(Sha256::digest(&der));
            if !digest.eq_ignore_ascii_case(&r.sha256) {
                return Err(CardError::TrustAnchors(format!(
                    "{} does not match its SHA-256 in the manifest",
                    r.file
                )));
            }
            let cert = Certificate::parse(&der).map_err(|_| {
                CardError::TrustAnchors(format!("{} is not a DER certificate", r.file))
            })?;
            roots.push((r.purpose, cert));
        }
        let mut cv_keys = Vec::new();
        for k in &m.cv_ca_keys {
            let bad = |what: &str| CardError::TrustAnchors(format!("CV key {:?}: {what}", k.name));
            let id = hex::decode(&k.key_id).map_err(|_| bad("key_id is not hex"))?;
            let id = KeyId::parse(&id).map_err(|_| bad("key_id is not a 16-byte key id"))?;
            let exponent = hex::decode(&k.exponent).map_err(|_| bad("exponent is not hex"))?;
            let modulus = hex::decode(&k.modulus).map_err(|_| bad("modulus is not hex"))?;
            cv_keys.push((id, RsaPublicKey { exponent, modulus }));
        }
        Ok(TrustAnchors {
            hierarchy: m.hierarchy,
            roots,
            cv_keys,
        })
    }

    /// The hierarchy.
    pub fn hierarchy(&self) -> Hierarchy {
        self.hierarchy
    }

    /// Number of JPKI roots and of CV CA keys.
    pub fn counts(&self) -> (usize, usize) {
        (self.roots.len(), self.cv_keys.len())
    }

    /// The CV CA key named by `id`, compared on all 16 bytes.
    pub(crate) fn cv_key(&self, id: &KeyId) -> Option<&RsaPublicKey> {
        self.cv_keys
            .iter()
            .find(|(k, _)| k == id)
            .map(|(_, key)| key)
    }

    /// Checks `cert` against the roots for `purpose` on `on`: a root with the issuer's name whose
    /// key verifies the signature, both valid on that date.
    pub(crate) fn verify_certificate(
        &self,
        cert: &Certificate,
        purpose: RootPurpose,
        on: Date,
        what: &'static str,
    ) -> Result<()> {
        let root = self.issuing_root(cert, purpose, what)?;
        if !cert.is_valid_on(on) || !root.is_valid_on(on) {
            return Err(CardError::CertificateExpired { what });
        }
        Ok(())
    }
}

impl TrustAnchors {
    /// The root for `purpose` that signed `cert` (name narrows, signature decides; all
    /// generations share one name), regardless of dates.
    pub(crate) fn issuing_root(
        &self,
        cert: &Certificate,
        purpose: RootPurpose,
        what: &'static str,
    ) -> Result<&Certificate> {
        let issuer = cert.issuer();
        self.roots
            .iter()
            .filter(|(p, r)| *p == purpose && r.subject() == issuer)
            .map(|(_, r)| r)
            .find(|r| cert.verify_signature(r).is_ok())
            .ok_or(CardError::Untrusted { what })
    }
}

impl std::fmt::Debug for TrustAnchors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrustAnchors")
            .field("hierarchy", &self.hierarchy)
            .field("roots", &self.roots.len())
            .field("cv_keys", &self.cv_keys.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_anchors_load_and_are_production_only() {
        let a = TrustAnchors::production().unwrap();
        assert_eq!(a.hierarchy(), Hierarchy::Production);
        assert_eq!(a.counts(), (6, 3));
        for (id, _) in &a.cv_keys {
            assert!(
                id.number().starts_with('5'),
                "a test key in production: {id}"
            );
        }
    }

    /// The data files are what myna-card (which tracks J-LIS) carries: a drift shows here.
    #[test]
    fn production_anchors_match_myna_card_tables() {
        let a = TrustAnchors::production().unwrap();
        for (id, key) in &a.cv_keys {
            let known = myna_card::ca::find(id).expect("key id known to myna-card");
            assert_eq!(known.modulus, key.modulus.as_slice());
        }
        let myna_prod: Vec<_> = myna_card::certificate::roots::KNOWN
            .iter()
            .filter(|r| r.hierarchy == myna_card::certificate::roots::Hierarchy::Production)
            .map(|r| r.der.to_vec())
            .collect();
        let ours: Vec<_> = a.roots.iter().map(|(_, c)| c.der().to_vec()).collect();
        assert_eq!(myna_prod.len(), ours.len());
        for der in &myna_prod {
            assert!(ours.contains(der));
        }
    }

    #[test]
    fn a_tampered_root_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let der = PRODUCTION_FILES[0].1;
        let mut bad = der.to_vec();
        bad[100] ^= 1;
        std::fs::write(dir.path().join("r.cer"), &bad).unwrap();
        let manifest = serde_json::json!({
            "hierarchy": "test",
            "jpki_roots": [{"file": "r.cer", "purpose": "auth", "sha256": hex::encode(Sha256::digest(der))}],
            "cv_ca_keys": []
        });
        std::fs::write(dir.path().join("anchors.json"), manifest.to_string()).unwrap();
        let err = TrustAnchors::simulation_from_dir(dir.path()).unwrap_err();
        assert!(err.to_string().contains("SHA-256"), "{err}");
    }

    #[test]
    fn a_directory_cannot_claim_to_be_production() {
        let dir = tempfile::tempdir().unwrap();
        let manifest =
            serde_json::json!({"hierarchy": "production", "jpki_roots": [], "cv_ca_keys": []});
        std::fs::write(dir.path().join("anchors.json"), manifest.to_string()).unwrap();
        let err = TrustAnchors::simulation_from_dir(dir.path()).unwrap_err();
        assert_eq!(err.code(), "card.trust_anchors");
    }
}
