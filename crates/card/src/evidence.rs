//! Evidence signing ("JPKI+容貌"): the customer's JPKI signing key signs a statement that binds
//! the face image captured at the counter to the card that was read, the kiosk, the session
//! and the time; and [`verify_evidence`], the check the backend runs.
//!
//! The statement holds hashes and identifiers only (no name, address, My Number or pixels), is
//! encoded canonically as JSON with a fixed field order ([`EvidenceStatement::canonical_bytes`]),
//! hashed with SHA-256 and signed on the card as a PKCS#1 v1.5 `sha256WithRSAEncryption`
//! signature (`80 2A 00 9A` with the DigestInfo, key 001A). The signing password goes through
//! the PIN policy like every PIN. The verifier chains the signing certificate to a JPKI signing
//! root of the given [`TrustAnchors`] (the test root in simulation, the J-LIS roots in
//! production) on the statement's date, then checks the signature. Revocation (J-LIS OCSP/CRL
//! through a platform operator) is not checked here.
//!
//! The JSON of an [`Evidence`] is also the wire format: the kiosk stores it in the ledger as
//! `signature` evidence, it travels base64 in the `evidence.stored` event, and the central
//! backend (`madoguchi-central`, module `evidence`) verifies it independently of this crate.

use std::fmt;

use myna_card::ap::jpki;
use myna_card::ap::jpki::SignatureScheme;
use myna_card::{Certificate, Date};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{CardError, Result, from_myna};
use crate::link::CardLink;
use crate::progress::{Progress, Step};
use crate::secret::{PinKind, SignPassword};
use crate::session::{App, CardSession, Exclusive};
use crate::trust::{RootPurpose, TrustAnchors};

/// What is signed. Hashes are lower-case hex SHA-256.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvidenceStatement {
    /// Format tag, `madoguchi-evidence/1`.
    pub format: String,
    /// SHA-256 of the face image captured by the kiosk camera (as stored by the kiosk).
    pub face_image_sha256: String,
    /// SHA-256 of the three signed groups of the card face, as in
    /// [`crate::CardFaceSummary::signed_group_hashes`].
    pub card_face_sha256: [String; 3],
    /// The kiosk's id.
    pub kiosk_id: String,
    /// The procedure session's id.
    pub session_id: String,
    /// When, as Unix seconds (UTC).
    pub time_unix: i64,
}

/// The format tag of [`EvidenceStatement`].
pub const EVIDENCE_FORMAT: &str = "madoguchi-evidence/1";

impl EvidenceStatement {
    /// A statement for these inputs.
    pub fn new(
        face_image_sha256: [u8; 32],
        card_face_hashes: [[u8; 32]; 3],
        kiosk_id: &str,
        session_id: &str,
        time_unix: i64,
    ) -> Self {
        EvidenceStatement {
            format: EVIDENCE_FORMAT.to_owned(),
            face_image_sha256: hex::encode(face_image_sha256),
            card_face_sha256: card_face_hashes.map(hex::encode),
            kiosk_id: kiosk_id.to_owned(),
            session_id: session_id.to_owned(),
            time_unix,
        }
    }

    /// The exact bytes that are hashed and signed (compact JSON, fields in declaration order).
    pub fn canonical_bytes(&self) -> Result<Vec<u8>> {
        serde_json::to_vec(self).map_err(|_| CardError::EvidenceInvalid("statement encoding"))
    }

    /// SHA-256 of [`Self::canonical_bytes`].
    pub fn digest(&self) -> Result<[u8; 32]> {
        Ok(Sha256::digest(self.canonical_bytes()?).into())
    }
}

/// A signed statement with the signing certificate (which holds the 4 attributes: personal
/// data; `Debug` shows neither it nor the signature).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// What was signed.
    pub statement: EvidenceStatement,
    /// RSA PKCS#1 v1.5 signature over SHA-256 of the canonical statement, hex.
    pub signature: String,
    /// The card's signing certificate, DER, hex.
    pub sign_certificate: String,
}

impl fmt::Debug for Evidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Evidence")
            .field("statement", &self.statement)
            .finish_non_exhaustive()
    }
}

/// Signs `statement` with the card's signing key (署名用秘密鍵) after the signing password
/// (under the PIN policy), reads the signing certificate and checks the signature with it
/// before returning. [`CardError::NoSignCertificate`] for cards without one (under 15).
pub fn sign_evidence<L: CardLink>(
    session: &mut CardSession<L, Exclusive>,
    password: &SignPassword,
    statement: &EvidenceStatement,
    progress: &mut dyn FnMut(Progress),
) -> Result<Evidence> {
    session.select(App::Jpki)?;
    let availability = session.read_physical(
        jpki::ef::CERTIFICATE_AVAILABILITY,
        Step::CertificateAvailability,
        progress,
    )?;
    let availability =
        jpki::CertificateAvailability::parse(&availability).map_err(|_| CardError::Malformed {
            what: "certificate availability",
        })?;
    if !availability.has_sign_certificate() {
        return Err(CardError::NoSignCertificate);
    }
    session.verify(PinKind::SignPassword, &password.to_card()?)?;
    let der = session.read_file(jpki::ef::SIGN_CERTIFICATE, Step::SignCertificate, progress)?;
    let cert = Certificate::parse(&der).map_err(|_| CardError::Malformed {
        what: "signing certificate",
    })?;
    let key = cert.public_key().map_err(|_| CardError::Malformed {
        what: "signing certificate",
    })?;
    let canonical = statement.canonical_bytes()?;
    let digest_info = myna_card::data::sha256_digest_info(&Sha256::digest(&canonical));
    // P1 00: the card pads the DigestInfo given (PKCS#1 v1.5); P2 80|1A names the signing key.
    // Sent directly so the JPKI application is not re-selected after the VERIFY.
    let signature = session
        .card()
        .call_ok(&myna_card::Command::with_data_le(
            0x80,
            myna_card::card::ins::COMPUTE_SIGNATURE,
            SignatureScheme::Verbatim.p1(),
            0x80 | jpki::ef::SIGN_KEY as u8,
            digest_info,
            256,
        ))
        .map_err(|e| from_myna(e, "signing the evidence", None))?;
    key.verify_pkcs1_sha256(&canonical, &signature)
        .map_err(|_| CardError::CloneSuspected {
            reason: "the evidence signature does not verify with the card's certificate",
        })?;
    Ok(Evidence {
        statement: statement.clone(),
        signature: hex::encode(signature),
        sign_certificate: hex::encode(der),
    })
}

/// What a verified evidence record proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEvidence {
    /// SHA-256 of the signing certificate (to look it up, e.g. for revocation).
    pub sign_certificate_sha256: String,
    /// The signing certificate's serial number, hex.
    pub sign_certificate_serial: String,
}

/// The backend's check of an [`Evidence`]: the signing certificate chains to a signing root of
/// `trust` and is valid on the statement's date, and the signature covers the statement.
pub fn verify_evidence(evidence: &Evidence, trust: &TrustAnchors) -> Result<VerifiedEvidence> {
    if evidence.statement.format != EVIDENCE_FORMAT {
        return Err(CardError::EvidenceInvalid("unknown format"));
    }
    let der = hex::decode(&evidence.sign_certificate)
        .map_err(|_| CardError::EvidenceInvalid("the certificate is not hex"))?;
    let signature = hex::decode(&evidence.signature)
        .map_err(|_| CardError::EvidenceInvalid("the signature is not hex"))?;
    let cert = Certificate::parse(&der)
        .map_err(|_| CardError::EvidenceInvalid("the certificate is not DER"))?;
    let on = Date::from_unix_seconds(evidence.statement.time_unix);
    trust.verify_certificate(&cert, RootPurpose::Sign, on, "signing certificate")?;
    let key = cert
        .public_key()
        .map_err(|_| CardError::EvidenceInvalid("the certificate key is not RSA"))?;
    key.verify_pkcs1_sha256(&evidence.statement.canonical_bytes()?, &signature)
        .map_err(|_| CardError::EvidenceInvalid("the signature does not match the statement"))?;
    Ok(VerifiedEvidence {
        sign_certificate_sha256: hex::encode(Sha256::digest(&der)),
        sign_certificate_serial: hex::encode(cert.serial_number()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_bytes_are_stable() {
        let s = EvidenceStatement::new(
            [1; 32],
            [[2; 32], [3; 32], [4; 32]],
            "K-0001",
            "S-1",
            1_700_000_000,
        );
        let a = s.canonical_bytes().unwrap();
        let parsed: EvidenceStatement = serde_json::from_slice(&a).unwrap();
        assert_eq!(parsed.canonical_bytes().unwrap(), a);
        assert!(
            String::from_utf8(a)
                .unwrap()
                .starts_with("{\"format\":\"madoguchi-evidence/1\",\"face_image_sha256\":\"0101")
        );
    }

    #[test]
    fn garbage_evidence_is_rejected_with_a_reason() {
        let trust = TrustAnchors::production().unwrap();
        let s = EvidenceStatement::new([1; 32], [[2; 32]; 3], "K", "S", 0);
        let e = Evidence {
            statement: s,
            signature: "zz".into(),
            sign_certificate: "00".into(),
        };
        assert_eq!(
            verify_evidence(&e, &trust).unwrap_err().code(),
            "evidence.invalid"
        );
    }
}
