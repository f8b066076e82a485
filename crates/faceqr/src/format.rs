//! The credential payload: CWT claims (CBOR) signed as a COSE_Sign1 with Ed25519, the
//! template inside as a COSE_Encrypt0 with AES-256-GCM, Base45 text behind the prefix
//! `MQ1:` (see `FORMAT.md`). This module encodes (issue) and parses; it does not decide
//! whether a credential is acceptable — [`crate::verify`] does, in the documented order.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use ciborium::Value;
use coset::cwt::{ClaimsSet, ClaimsSetBuilder, Timestamp};
use coset::{
    CborSerializable, CoseEncrypt0, CoseEncrypt0Builder, CoseSign1, CoseSign1Builder,
    HeaderBuilder, TaggedCborSerializable, iana,
};
use ed25519_dalek::Signer;
use serde::Serialize;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::keys::{ID_LEN, IssuerKey, TemplateKeyring, random};
use crate::template::{ModelRef, Template};

/// Text prefix of every credential; the digit is the format version.
pub const PREFIX: &str = "MQ1:";
/// The format version carried in the claims (first element of the private claim -65537).
pub const FORMAT_VERSION: u64 = 1;

/// The one private-use CWT claim (RFC 8392: keys below -65536 are private use) holding
/// `[format version, model id, template version, COSE_Encrypt0 bytes]`. One array instead of
/// four claims saves 15 bytes: the difference between QR version 16 and 15.
pub(crate) const CLAIM_FACE: i64 = -65537;

/// Longest pseudonymous subject reference (bytes); longer ones would push the symbol to
/// version 16.
pub const MAX_SUBJECT: usize = 16;

/// What to issue a credential for.
#[derive(Debug)]
pub struct IssueRequest<'a> {
    /// The enrolled template.
    pub template: &'a Template,
    /// The model that produced it.
    pub model: ModelRef,
    /// Issue time, Unix seconds.
    pub issued_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Optional pseudonymous customer reference (never a name or My Number).
    pub subject: Option<String>,
}

/// An issued credential: the QR text and its id (for the ledger and revocation).
#[derive(Clone, Debug)]
pub struct Issued {
    /// `MQ1:` + Base45; alphanumeric-mode QR content.
    pub text: String,
    /// The credential id (CWT `cti`).
    pub credential_id: Vec<u8>,
}

/// The signed public claims of a credential (no template).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Claims {
    /// Credential id, hex.
    pub credential_id: String,
    /// Issuer key id, hex (from the protected header).
    pub issuer_kid: String,
    /// Issued at, Unix seconds.
    pub issued_at: i64,
    /// Expiry, Unix seconds.
    pub expires_at: i64,
    /// Model and template version.
    pub model: ModelRef,
    /// Optional pseudonymous customer reference.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// Template key id, hex (from the encrypted part's protected header).
    pub template_kid: String,
}

fn enc(e: impl std::fmt::Display) -> Error {
    Error::Encode(e.to_string())
}

/// Issues a credential: encrypts the template for the kiosks, signs the claims with the
/// issuer key, Base45-encodes behind [`PREFIX`].
pub fn issue(req: &IssueRequest<'_>, issuer: &IssuerKey, keys: &TemplateKeyring) -> Result<Issued> {
    if req.expires_at <= req.issued_at {
        return Err(Error::Encode("expiry must be after issue time".into()));
    }
    if req
        .subject
        .as_ref()
        .is_some_and(|s| s.is_empty() || s.len() > MAX_SUBJECT)
    {
        return Err(Error::Encode(format!(
            "subject reference must be 1..={MAX_SUBJECT} bytes"
        )));
    }
    let cti = random::<ID_LEN>()?.to_vec();
    let (tkid, tkey) = keys
        .current()
        .ok_or_else(|| Error::Encode("template keyring has no current key".into()))?;
    let iv = random::<12>()?;
    let pt = req.template.to_bytes();
    let cipher = Aes256Gcm::new_from_slice(tkey).map_err(enc)?;
    let encrypted = CoseEncrypt0Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::A256GCM)
                .key_id(tkid.to_vec())
                .build(),
        )
        .unprotected(HeaderBuilder::new().iv(iv.to_vec()).build())
        .try_create_ciphertext(&pt, &cti, |msg, aad| {
            cipher
                .encrypt(Nonce::from_slice(&iv), Payload { msg, aad })
                .map_err(|_| Error::Encode("AES-GCM".into()))
        })?
        .build()
        .to_vec()
        .map_err(enc)?;

    let mut claims = ClaimsSetBuilder::new()
        .cwt_id(cti.clone())
        .issued_at(Timestamp::WholeSeconds(req.issued_at))
        .expiration_time(Timestamp::WholeSeconds(req.expires_at))
        .private_claim(
            CLAIM_FACE,
            Value::Array(vec![
                Value::Integer(FORMAT_VERSION.into()),
                Value::Text(req.model.model_id.clone()),
                Value::Integer(req.model.template_version.into()),
                Value::Bytes(encrypted),
            ]),
        );
    if let Some(s) = &req.subject {
        claims = claims.subject(s.clone());
    }
    let payload = claims.build().to_vec().map_err(enc)?;
    Ok(Issued {
        text: sign_raw_claims(payload, issuer)?,
        credential_id: cti,
    })
}

/// Why a text could not be parsed into a signed structure (all map to "unreadable" except
/// where [`crate::verify`] says otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ParseFail {
    Prefix,
    Base45,
    Cose,
    Header,
}

/// Strips the prefix and Base45, parses the COSE_Sign1 and checks its header shape.
pub(crate) fn parse_signed(text: &str) -> std::result::Result<(CoseSign1, Vec<u8>), ParseFail> {
    let body = text.strip_prefix(PREFIX).ok_or(ParseFail::Prefix)?;
    let bytes = base45::decode(body).map_err(|_| ParseFail::Base45)?;
    parse_cose(&bytes)
}

/// Parses COSE_Sign1 bytes (tag 18) and checks the header shape: EdDSA, a key id, nothing
/// unprotected, a payload present.
pub(crate) fn parse_cose(bytes: &[u8]) -> std::result::Result<(CoseSign1, Vec<u8>), ParseFail> {
    let sign1 = CoseSign1::from_tagged_slice(bytes).map_err(|_| ParseFail::Cose)?;
    let h = &sign1.protected.header;
    let alg_ok = h.alg
        == Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::EdDSA,
        ));
    if !alg_ok || h.key_id.is_empty() || !sign1.unprotected.is_empty() || sign1.payload.is_none() {
        return Err(ParseFail::Header);
    }
    // Only the canonical header encoding this crate writes is accepted.
    let kid = h.key_id.clone();
    Ok((sign1, kid))
}

/// Claims as parsed from a signature-checked payload, with the encrypted template.
pub(crate) struct SignedClaims {
    pub claims: Claims,
    pub cti: Vec<u8>,
    pub encrypted: CoseEncrypt0,
}

fn int(v: &Value) -> Option<u64> {
    match v {
        Value::Integer(i) => u64::try_from(*i).ok(),
        _ => None,
    }
}

fn seconds(t: &Option<Timestamp>) -> Option<i64> {
    match t {
        Some(Timestamp::WholeSeconds(s)) => Some(*s),
        _ => None,
    }
}

/// Parses the claims of a payload whose signature has been checked.
pub(crate) fn parse_claims(payload: &[u8], issuer_kid: &[u8]) -> Option<SignedClaims> {
    let set = ClaimsSet::from_slice(payload).ok()?;
    if set.issuer.is_some() || set.audience.is_some() || set.not_before.is_some() {
        return None;
    }
    let cti = set.cwt_id.clone().filter(|c| !c.is_empty())?;
    let issued_at = seconds(&set.issued_at)?;
    let expires_at = seconds(&set.expiration_time)?;
    let [(coset::RegisteredLabelWithPrivate::PrivateUse(CLAIM_FACE), Value::Array(face))] =
        set.rest.as_slice()
    else {
        return None;
    };
    let [format, Value::Text(model_id), tver, Value::Bytes(tmpl)] = face.as_slice() else {
        return None;
    };
    if int(format)? != FORMAT_VERSION {
        return None;
    }
    let model_id = model_id.clone();
    let tver = int(tver).and_then(|v| u32::try_from(v).ok());
    let encrypted = CoseEncrypt0::from_slice(tmpl).ok()?;
    let eh = &encrypted.protected.header;
    if eh.alg
        != Some(coset::RegisteredLabelWithPrivate::Assigned(
            iana::Algorithm::A256GCM,
        ))
        || eh.key_id.is_empty()
        || encrypted.unprotected.iv.len() != 12
        || encrypted.ciphertext.is_none()
    {
        return None;
    }
    let template_kid = hex::encode(&eh.key_id);
    Some(SignedClaims {
        claims: Claims {
            credential_id: hex::encode(&cti),
            issuer_kid: hex::encode(issuer_kid),
            issued_at,
            expires_at,
            model: ModelRef {
                model_id,
                template_version: tver?,
            },
            subject: set.subject.clone(),
            template_kid,
        },
        cti,
        encrypted,
    })
}

/// Decrypts the template with the keyring; `None` when the key is unknown or decryption fails.
pub(crate) enum DecryptFail {
    UnknownKey,
    Failed,
}

pub(crate) fn decrypt_template(
    encrypted: &CoseEncrypt0,
    cti: &[u8],
    keys: &TemplateKeyring,
) -> std::result::Result<Template, DecryptFail> {
    let key = keys
        .get(&encrypted.protected.header.key_id)
        .ok_or(DecryptFail::UnknownKey)?;
    let cipher = Aes256Gcm::new_from_slice(key).map_err(|_| DecryptFail::Failed)?;
    let iv = encrypted.unprotected.iv.clone();
    let pt = Zeroizing::new(encrypted.decrypt_ciphertext(
        cti,
        || DecryptFail::Failed,
        |ct, aad| {
            cipher
                .decrypt(Nonce::from_slice(&iv), Payload { msg: ct, aad })
                .map_err(|_| DecryptFail::Failed)
        },
    )?);
    Template::from_bytes(&pt).ok_or(DecryptFail::Failed)
}

/// Signs arbitrary claim bytes as a credential, for tests and fuzzing of the claims parser
/// behind the signature check. Issuing goes through [`issue`].
pub fn sign_raw_claims(payload: Vec<u8>, issuer: &IssuerKey) -> Result<String> {
    let signed = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::EdDSA)
                .key_id(issuer.kid().to_vec())
                .build(),
        )
        .payload(payload)
        .create_signature(b"", |tbs| {
            issuer.signing_key().sign(tbs).to_bytes().to_vec()
        })
        .build()
        .to_tagged_vec()
        .map_err(enc)?;
    Ok(format!("{PREFIX}{}", base45::encode(&signed)))
}
