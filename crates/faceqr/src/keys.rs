//! Keys and lists the verifier trusts: the issuer signing key (enrolling kiosk), the template
//! keys (every kiosk of the bank), the trust list of issuer public keys and the revocation list.
//! The kiosk builds them from the backend's signed lists cached in its ledger
//! ([`TrustList::from_wire`], [`TemplateKeyring::from_keys`]); the JSON file loaders serve the
//! `madoguchi qr` command line and the tests.
//!
//! Secrets (`IssuerKey`, `TemplateKeyring`) are zeroed on drop and their `Debug` shows only key
//! ids. Nothing here fetches anything from the network or decides policy beyond "is this key
//! trusted" and "is this credential revoked".

use std::collections::{HashMap, HashSet};
use std::path::Path;

use aes_gcm::aead::{OsRng, rand_core::RngCore};
use ed25519_dalek::{SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// Length of issuer key ids and credential ids produced by this crate (bytes).
pub const ID_LEN: usize = 8;
/// Length of template key ids produced by this crate (a few keys per bank; bytes).
pub const TEMPLATE_KID_LEN: usize = 4;

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::BadFile {
        path: path.display().to_string(),
        what: what.into(),
    }
}

fn read(path: &Path) -> Result<Zeroizing<String>> {
    std::fs::read_to_string(path)
        .map(Zeroizing::new)
        .map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
}

fn parse_json<T: serde::de::DeserializeOwned>(path: &Path, text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| {
        bad(
            path,
            format!("malformed (line {} column {})", e.line(), e.column()),
        )
    })
}

fn write_private(path: &Path, text: &str) -> Result<()> {
    let io = |source| Error::Io {
        path: path.display().to_string(),
        source,
    };
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)
            .map_err(io)?;
        f.write_all(text.as_bytes()).map_err(io)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text).map_err(io)
    }
}

fn hex_bytes<const N: usize>(path: &Path, field: &str, s: &str) -> Result<Zeroizing<[u8; N]>> {
    let mut out = Zeroizing::new([0u8; N]);
    hex::decode_to_slice(s.trim(), out.as_mut_slice())
        .map_err(|_| bad(path, format!("`{field}` must be {N} bytes of hex")))?;
    Ok(out)
}

fn hex_id(path: &Path, field: &str, s: &str) -> Result<Vec<u8>> {
    let v = hex::decode(s.trim()).map_err(|_| bad(path, format!("`{field}` must be hex")))?;
    if v.is_empty() || v.len() > 32 {
        return Err(bad(path, format!("`{field}` must be 1..=32 bytes")));
    }
    Ok(v)
}

/// Random bytes from the operating system.
pub(crate) fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    OsRng.try_fill_bytes(&mut b).map_err(|_| Error::Rng)?;
    Ok(b)
}

/// The issuer's Ed25519 signing key with its key id (`kid`), held by an enrolling kiosk.
pub struct IssuerKey {
    kid: Vec<u8>,
    key: SigningKey,
}

impl std::fmt::Debug for IssuerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "IssuerKey {{ kid: {}, key: <redacted> }}",
            hex::encode(&self.kid)
        )
    }
}

#[derive(Serialize, Deserialize)]
struct IssuerKeyFile {
    kid: String,
    secret_key: String,
}

impl IssuerKey {
    /// A fresh random key with a random key id.
    pub fn generate() -> Result<Self> {
        let seed = Zeroizing::new(random::<32>()?);
        Ok(Self {
            kid: random::<ID_LEN>()?.to_vec(),
            key: SigningKey::from_bytes(&seed),
        })
    }

    /// From a key id and the 32-byte Ed25519 secret.
    pub fn from_secret(kid: Vec<u8>, secret: &[u8; 32]) -> Self {
        Self {
            kid,
            key: SigningKey::from_bytes(secret),
        }
    }

    /// The key id.
    pub fn kid(&self) -> &[u8] {
        &self.kid
    }

    /// The public half, as it goes on the trust list.
    pub fn trusted_issuer(&self) -> TrustedIssuer {
        TrustedIssuer {
            kid: self.kid.clone(),
            key: self.key.verifying_key(),
            revoked: false,
        }
    }

    pub(crate) fn signing_key(&self) -> &SigningKey {
        &self.key
    }

    /// Loads `{"kid": "<hex>", "secret_key": "<64 hex digits>"}`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        let f: IssuerKeyFile = parse_json(path, &text)?;
        let f = scopeguard_zero(f);
        let kid = hex_id(path, "kid", &f.0.kid)?;
        let secret = hex_bytes::<32>(path, "secret_key", &f.0.secret_key)?;
        Ok(Self::from_secret(kid, &secret))
    }

    /// Writes the key file (mode 0600 on Unix).
    pub fn save(&self, path: &Path) -> Result<()> {
        let secret = Zeroizing::new(hex::encode(self.key.to_bytes()));
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&IssuerKeyFile {
                kid: hex::encode(&self.kid),
                secret_key: secret.to_string(),
            })
            .map_err(|e| Error::Encode(e.to_string()))?,
        );
        write_private(path, &text)
    }
}

/// Zeroes the secret strings of a parsed key file when dropped.
struct ZeroOnDrop<T: KeyFileSecrets>(T);
trait KeyFileSecrets {
    fn wipe(&mut self);
}
impl KeyFileSecrets for IssuerKeyFile {
    fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.secret_key);
    }
}
impl KeyFileSecrets for TemplateKeysFile {
    fn wipe(&mut self) {
        for k in &mut self.keys {
            zeroize::Zeroize::zeroize(&mut k.key);
        }
    }
}
impl<T: KeyFileSecrets> Drop for ZeroOnDrop<T> {
    fn drop(&mut self) {
        self.0.wipe();
    }
}
fn scopeguard_zero<T: KeyFileSecrets>(t: T) -> ZeroOnDrop<T> {
    ZeroOnDrop(t)
}

/// The AES-256-GCM keys that encrypt templates for the bank's kiosks, by key id; `current` is
/// the one used when issuing.
pub struct TemplateKeyring {
    current: Vec<u8>,
    keys: HashMap<Vec<u8>, Zeroizing<[u8; 32]>>,
}

impl std::fmt::Debug for TemplateKeyring {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut kids: Vec<String> = self.keys.keys().map(hex::encode).collect();
        kids.sort();
        write!(
            f,
            "TemplateKeyring {{ current: {}, kids: {kids:?}, keys: <redacted> }}",
            hex::encode(&self.current)
        )
    }
}

#[derive(Serialize, Deserialize)]
struct TemplateKeysFile {
    current: String,
    keys: Vec<TemplateKeyEntry>,
}

#[derive(Serialize, Deserialize)]
struct TemplateKeyEntry {
    kid: String,
    key: String,
}

impl TemplateKeyring {
    /// A keyring with one fresh random key, which is current.
    pub fn generate() -> Result<Self> {
        let kid = random::<TEMPLATE_KID_LEN>()?.to_vec();
        let key = Zeroizing::new(random::<32>()?);
        Ok(Self {
            current: kid.clone(),
            keys: HashMap::from([(kid, key)]),
        })
    }

    /// A keyring from one key id and key, which is current.
    pub fn single(kid: Vec<u8>, key: [u8; 32]) -> Self {
        Self {
            current: kid.clone(),
            keys: HashMap::from([(kid, Zeroizing::new(key))]),
        }
    }

    /// A keyring from open keys (the kiosk's cached template keys), `current` the one to
    /// issue with; `None` if `current` is not among them.
    pub fn from_keys(
        current: Vec<u8>,
        keys: impl IntoIterator<Item = (Vec<u8>, Zeroizing<[u8; 32]>)>,
    ) -> Option<Self> {
        let keys: HashMap<_, _> = keys.into_iter().collect();
        keys.contains_key(&current)
            .then_some(Self { current, keys })
    }

    /// The key id used when issuing.
    pub fn current_kid(&self) -> &[u8] {
        &self.current
    }

    pub(crate) fn current(&self) -> Option<(&[u8], &[u8; 32])> {
        self.keys
            .get(&self.current)
            .map(|k| (self.current.as_slice(), &**k))
    }

    pub(crate) fn get(&self, kid: &[u8]) -> Option<&[u8; 32]> {
        self.keys.get(kid).map(|k| &**k)
    }

    /// Loads `{"current": "<hex kid>", "keys": [{"kid": "<hex>", "key": "<64 hex digits>"}]}`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        let f: TemplateKeysFile = parse_json(path, &text)?;
        let f = scopeguard_zero(f);
        let mut keys = HashMap::new();
        for e in &f.0.keys {
            let kid = hex_id(path, "keys[].kid", &e.kid)?;
            let key = hex_bytes::<32>(path, "keys[].key", &e.key)?;
            keys.insert(kid, key);
        }
        let current = hex_id(path, "current", &f.0.current)?;
        if !keys.contains_key(&current) {
            return Err(bad(path, "`current` names no key in `keys`"));
        }
        Ok(Self { current, keys })
    }

    /// Writes the keyring file (mode 0600 on Unix).
    pub fn save(&self, path: &Path) -> Result<()> {
        let f = scopeguard_zero(TemplateKeysFile {
            current: hex::encode(&self.current),
            keys: self
                .keys
                .iter()
                .map(|(kid, k)| TemplateKeyEntry {
                    kid: hex::encode(kid),
                    key: hex::encode(**k),
                })
                .collect(),
        });
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&f.0).map_err(|e| Error::Encode(e.to_string()))?,
        );
        write_private(path, &text)
    }
}

/// One issuer public key on the trust list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TrustedIssuer {
    /// Key id as carried in the credential's protected header.
    pub kid: Vec<u8>,
    /// The Ed25519 public key.
    pub key: VerifyingKey,
    /// A revoked issuer key: credentials it signed are rejected as revoked.
    pub revoked: bool,
}

/// The trust list (issuer keys) and the revocation list (credential ids), as distributed by
/// the backend. Public data.
#[derive(Clone, Debug, Default)]
pub struct TrustList {
    issuers: HashMap<Vec<u8>, TrustedIssuer>,
    revoked_credentials: HashSet<Vec<u8>>,
}

#[derive(Serialize, Deserialize)]
struct TrustFile {
    issuers: Vec<TrustFileIssuer>,
    #[serde(default)]
    revoked_credentials: Vec<String>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TrustFileIssuer {
    kid: String,
    public_key: String,
    #[serde(default)]
    revoked: bool,
}

impl TrustList {
    /// Adds (or replaces) an issuer.
    pub fn add_issuer(&mut self, issuer: TrustedIssuer) {
        self.issuers.insert(issuer.kid.clone(), issuer);
    }

    /// Revokes a credential by id.
    pub fn revoke_credential(&mut self, credential_id: &[u8]) {
        self.revoked_credentials.insert(credential_id.to_vec());
    }

    /// The issuer with this key id.
    pub fn issuer(&self, kid: &[u8]) -> Option<&TrustedIssuer> {
        self.issuers.get(kid)
    }

    /// Whether a credential id is on the revocation list.
    pub fn is_revoked(&self, credential_id: &[u8]) -> bool {
        self.revoked_credentials.contains(credential_id)
    }

    /// From the backend's signed lists (already verified): every issuer key (a revoked one
    /// marked revoked, a retired one still trusted for what it signed) and every revoked
    /// credential.
    pub fn from_wire(
        trust: &madoguchi_wire::TrustList,
        revocations: &madoguchi_wire::RevocationList,
    ) -> Result<Self> {
        let wire = |e: madoguchi_wire::WireError| Error::Encode(e.to_string());
        let mut list = Self::default();
        for i in &trust.issuers {
            list.add_issuer(TrustedIssuer {
                kid: i.kid_bytes().map_err(wire)?,
                key: i.verifying_key().map_err(wire)?,
                revoked: i.status == madoguchi_wire::IssuerStatus::Revoked,
            });
        }
        for c in &revocations.credentials {
            let id = madoguchi_wire::parse_id("revocations", "credential_id", &c.credential_id)
                .map_err(wire)?;
            list.revoked_credentials.insert(id);
        }
        Ok(list)
    }

    /// Loads `{"issuers": [{"kid": "<hex>", "public_key": "<64 hex>", "revoked": false}],
    /// "revoked_credentials": ["<hex credential id>"]}`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read(path)?;
        let f: TrustFile = parse_json(path, &text)?;
        let mut list = Self::default();
        for i in &f.issuers {
            let kid = hex_id(path, "issuers[].kid", &i.kid)?;
            let pk = hex_bytes::<32>(path, "issuers[].public_key", &i.public_key)?;
            let key = VerifyingKey::from_bytes(&pk)
                .map_err(|_| bad(path, "`issuers[].public_key` is not an Ed25519 public key"))?;
            list.add_issuer(TrustedIssuer {
                kid,
                key,
                revoked: i.revoked,
            });
        }
        for c in &f.revoked_credentials {
            let id = hex_id(path, "revoked_credentials[]", c)?;
            list.revoked_credentials.insert(id);
        }
        Ok(list)
    }

    /// Writes the trust list file.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut issuers: Vec<TrustFileIssuer> = self
            .issuers
            .values()
            .map(|i| TrustFileIssuer {
                kid: hex::encode(&i.kid),
                public_key: hex::encode(i.key.as_bytes()),
                revoked: i.revoked,
            })
            .collect();
        issuers.sort_by(|a, b| a.kid.cmp(&b.kid));
        let mut revoked_credentials: Vec<String> =
            self.revoked_credentials.iter().map(hex::encode).collect();
        revoked_credentials.sort();
        let text = serde_json::to_string_pretty(&TrustFile {
            issuers,
            revoked_credentials,
        })
        .map_err(|e| Error::Encode(e.to_string()))?;
        std::fs::write(path, text).map_err(|source| Error::Io {
            path: path.display().to_string(),
            source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_roundtrip_and_debug_redacted() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ik = IssuerKey::generate().expect("gen");
        ik.save(&dir.path().join("issuer.json")).expect("save");
        let ik2 = IssuerKey::load(&dir.path().join("issuer.json")).expect("load");
        assert_eq!(ik.key.to_bytes(), ik2.key.to_bytes());
        let secret_hex = hex::encode(ik.key.to_bytes());
        assert!(!format!("{ik:?}").contains(&secret_hex));

        let kr = TemplateKeyring::generate().expect("gen");
        kr.save(&dir.path().join("tk.json")).expect("save");
        let kr2 = TemplateKeyring::load(&dir.path().join("tk.json")).expect("load");
        assert_eq!(kr.current(), kr2.current());
        let (_, key) = kr.current().expect("current");
        assert!(!format!("{kr:?}").contains(&hex::encode(key)));

        let mut tl = TrustList::default();
        tl.add_issuer(ik.trusted_issuer());
        tl.revoke_credential(&[1, 2, 3]);
        tl.save(&dir.path().join("trust.json")).expect("save");
        let tl2 = TrustList::load(&dir.path().join("trust.json")).expect("load");
        assert_eq!(tl2.issuer(ik.kid()), Some(&ik.trusted_issuer()));
        assert!(tl2.is_revoked(&[1, 2, 3]));
        assert!(!tl2.is_revoked(&[1, 2, 4]));
    }

    #[test]
    fn malformed_files_named_without_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("issuer.json");
        std::fs::write(&p, r#"{"kid":"00","secret_key":"deadbeefzz"}"#).expect("write");
        let e = IssuerKey::load(&p).expect_err("must fail").to_string();
        assert!(e.contains("secret_key") && !e.contains("deadbeef"), "{e}");
        let e = TrustList::load(&dir.path().join("missing.json"))
            .expect_err("must fail")
            .to_string();
        assert!(e.contains("missing.json"), "{e}");
    }
}
