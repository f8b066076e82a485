//! [`SoftKey`]: a software CTAP2 security key for simulation and tests.
//!
//! It wraps the `SoftToken` of `webauthn-authenticator-rs` (P-256 credentials, a signature
//! counter, packed attestation by a per-key CA) and adds what a real FIDO2 key does around it:
//! a PIN with 8 tries that blocks, user verification only after the PIN, exclusion of a
//! credential it already holds, and "no credential" for a ceremony that allows none of its
//! credentials. [`UvBehaviour::PresenceOnly`] makes it a key that only reports a touch, to test
//! that the verifier refuses that.
//!
//! A soft key can live in a file (`*.softkey`, JSON, mode 0600, replaced atomically after
//! every operation) so that a simulated teller key keeps its credentials and its counter over
//! a kiosk restart; copying the file clones the key, which the verifier detects by the
//! counter. The file holds private keys in the clear and the PIN only as a salted SHA-256: it
//! is a simulator, never a credential store. The verifier refuses soft keys unless
//! `allow_soft_keys` (simulation) is set.
//!
//! Not emulated: resident (discoverable) credentials, extensions (credProtect …), fingerprint
//! enrolment, CTAP's PIN protocol on the wire.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use webauthn_authenticator_rs::WebauthnAuthenticator as _;
use webauthn_authenticator_rs::softtoken::SoftToken;
use webauthn_rs_proto::UserVerificationPolicy;
use zeroize::Zeroizing;

use crate::authenticator::{KeyAuthenticator, KeyKind, KeyUi};
use crate::credential::CredentialId;
use crate::error::AuthError;
use crate::verifier::{RegistrationRequest, RegistrationResponse, SignInRequest, SignInResponse};

/// PIN tries of a fresh key (as CTAP2 keys).
pub const PIN_TRIES: u8 = 8;
/// The file name extension of a soft key file.
pub const FILE_EXTENSION: &str = "softkey";
const FORMAT: &str = "madoguchi-soft-key";
const VERSION: u32 = 1;

/// How a soft key verifies its user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UvBehaviour {
    /// Asks for its PIN whenever user verification is wanted, then reports it (UV flag).
    Pin,
    /// Never verifies the user: only reports the touch (UP flag), like a key without a PIN.
    PresenceOnly,
}

/// The file form.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SoftKeyFile {
    format: String,
    version: u32,
    label: String,
    pin_salt: String,
    pin_sha256: String,
    pin_tries_left: u8,
    uv: UvBehaviour,
    credentials: Vec<CredentialId>,
    /// The SoftToken's own CBOR serialisation, base64.
    token: String,
}

/// A software security key. See the module docs.
pub struct SoftKey {
    label: String,
    pin_salt: [u8; 16],
    pin_sha256: [u8; 32],
    pin_tries_left: u8,
    uv: UvBehaviour,
    credentials: Vec<CredentialId>,
    token: SoftToken,
    path: Option<PathBuf>,
}

impl std::fmt::Debug for SoftKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftKey")
            .field("label", &self.label)
            .field("path", &self.path)
            .field("credentials", &self.credentials.len())
            .field("pin_tries_left", &self.pin_tries_left)
            .field("uv", &self.uv)
            .finish_non_exhaustive()
    }
}

fn pin_hash(salt: &[u8; 16], pin: &str) -> [u8; 32] {
    Sha256::new()
        .chain_update(salt)
        .chain_update(pin.as_bytes())
        .finalize()
        .into()
}

fn check_pin_rules(pin: &str) -> Result<(), AuthError> {
    // CTAP2: at least 4 code points, at most 63 bytes, no NUL.
    if pin.chars().count() < 4 || pin.len() > 63 || pin.contains('\0') {
        return Err(AuthError::Invalid(
            "PIN: 4 characters to 63 bytes, no NUL".into(),
        ));
    }
    Ok(())
}

impl SoftKey {
    /// A new key in memory, with its PIN.
    pub fn new(label: &str, pin: &str) -> Result<Self, AuthError> {
        check_pin_rules(pin)?;
        let (token, _ca) = SoftToken::new(true).map_err(|e| AuthError::from_device(&e))?;
        let mut pin_salt = [0u8; 16];
        getrandom::fill(&mut pin_salt).map_err(|e| AuthError::Device(format!("random: {e}")))?;
        Ok(SoftKey {
            label: label.to_owned(),
            pin_sha256: pin_hash(&pin_salt, pin),
            pin_salt,
            pin_tries_left: PIN_TRIES,
            uv: UvBehaviour::Pin,
            credentials: Vec::new(),
            token,
            path: None,
        })
    }

    /// A new key kept in `path` (which must not exist yet).
    pub fn create(path: impl AsRef<Path>, label: &str, pin: &str) -> Result<Self, AuthError> {
        let path = path.as_ref();
        if path.exists() {
            return Err(file_error(
                path,
                "already exists; refusing to overwrite a key",
            ));
        }
        let mut key = SoftKey::new(label, pin)?;
        key.path = Some(path.to_owned());
        key.save()?;
        Ok(key)
    }

    /// Loads a key from its file; it saves itself there after every operation.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AuthError> {
        let path = path.as_ref();
        let text = fs::read_to_string(path).map_err(|e| file_error(path, &e.to_string()))?;
        let file: SoftKeyFile =
            serde_json::from_str(&text).map_err(|e| file_error(path, &e.to_string()))?;
        if file.format != FORMAT || file.version != VERSION {
            return Err(file_error(
                path,
                "not a madoguchi soft key file of version 1",
            ));
        }
        let salt = hex::decode(&file.pin_salt)
            .ok()
            .and_then(|v| <[u8; 16]>::try_from(v).ok());
        let hash = hex::decode(&file.pin_sha256)
            .ok()
            .and_then(|v| <[u8; 32]>::try_from(v).ok());
        let (Some(pin_salt), Some(pin_sha256)) = (salt, hash) else {
            return Err(file_error(path, "bad PIN record"));
        };
        let cbor = Zeroizing::new(
            STANDARD
                .decode(&file.token)
                .map_err(|_| file_error(path, "token is not base64"))?,
        );
        let token =
            SoftToken::from_cbor(&cbor).map_err(|_| file_error(path, "token does not parse"))?;
        Ok(SoftKey {
            label: file.label,
            pin_salt,
            pin_sha256,
            pin_tries_left: file.pin_tries_left.min(PIN_TRIES),
            uv: file.uv,
            credentials: file.credentials,
            token,
            path: Some(path.to_owned()),
        })
    }

    /// The soft key files (`*.softkey`) in `dir` and their labels, sorted by file name, for the
    /// simulation console's key picker. Unreadable files are left out.
    pub fn list(dir: impl AsRef<Path>) -> Result<Vec<(PathBuf, String)>, AuthError> {
        let dir = dir.as_ref();
        let entries = fs::read_dir(dir).map_err(|e| file_error(dir, &e.to_string()))?;
        let mut keys: Vec<(PathBuf, String)> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == FILE_EXTENSION))
            .filter_map(|p| match SoftKey::open(&p) {
                Ok(key) => Some((p, key.label)),
                Err(e) => {
                    tracing::warn!(path = %p.display(), code = e.code(), "soft key file skipped");
                    None
                }
            })
            .collect();
        keys.sort();
        Ok(keys)
    }

    /// Writes the key to its file (nothing for an in-memory key): a temporary file beside it,
    /// mode 0600, then renamed over it.
    pub fn save(&self) -> Result<(), AuthError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let cbor = Zeroizing::new(
            self.token
                .to_cbor()
                .map_err(|e| AuthError::from_device(&e))?,
        );
        let file = SoftKeyFile {
            format: FORMAT.into(),
            version: VERSION,
            label: self.label.clone(),
            pin_salt: hex::encode(self.pin_salt),
            pin_sha256: hex::encode(self.pin_sha256),
            pin_tries_left: self.pin_tries_left,
            uv: self.uv,
            credentials: self.credentials.clone(),
            token: STANDARD.encode(cbor.as_slice()),
        };
        let text = Zeroizing::new(
            serde_json::to_string_pretty(&file).map_err(|e| file_error(path, &e.to_string()))?,
        );
        let mut tmp_name = path.as_os_str().to_owned();
        tmp_name.push(".tmp");
        let tmp = PathBuf::from(tmp_name);
        let write = || -> std::io::Result<()> {
            let mut options = fs::OpenOptions::new();
            options.write(true).create(true).truncate(true);
            #[cfg(unix)]
            {
                use std::os::unix::fs::OpenOptionsExt as _;
                options.mode(0o600);
            }
            let mut f = options.open(&tmp)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            fs::rename(&tmp, path)
        };
        write().map_err(|e| {
            let _ = fs::remove_file(&tmp);
            file_error(path, &e.to_string())
        })
    }

    /// The key's file, if it has one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The label (what the simulation console shows).
    pub fn label(&self) -> &str {
        &self.label
    }

    /// How it verifies its user.
    pub fn uv_behaviour(&self) -> UvBehaviour {
        self.uv
    }

    /// Changes how it verifies its user (saved).
    pub fn set_uv_behaviour(&mut self, uv: UvBehaviour) -> Result<(), AuthError> {
        self.uv = uv;
        self.save()
    }

    /// PIN tries left; 0 is blocked.
    pub fn pin_tries_left(&self) -> u8 {
        self.pin_tries_left
    }

    /// The credentials the key holds.
    pub fn credential_ids(&self) -> &[CredentialId] {
        &self.credentials
    }

    /// The policy handed to the soft token for what the relying party asked: a PIN key
    /// verifies the user (asking for the PIN) unless verification is discouraged; a
    /// presence-only key never does. SoftToken sets the UV flag exactly when the policy is
    /// `Required`.
    fn user_verification(
        &mut self,
        asked: &UserVerificationPolicy,
        ui: &dyn KeyUi,
    ) -> Result<UserVerificationPolicy, AuthError> {
        Ok(match (self.uv, asked) {
            (UvBehaviour::PresenceOnly, _)
            | (UvBehaviour::Pin, UserVerificationPolicy::Discouraged_DO_NOT_USE) => {
                UserVerificationPolicy::Discouraged_DO_NOT_USE
            }
            (UvBehaviour::Pin, _) => {
                self.verify_user(ui)?;
                UserVerificationPolicy::Required
            }
        })
    }

    /// Asks for the PIN and checks it, counting tries (saved).
    fn verify_user(&mut self, ui: &dyn KeyUi) -> Result<(), AuthError> {
        if self.pin_tries_left == 0 {
            return Err(AuthError::PinBlocked);
        }
        let pin = ui.request_pin().ok_or(AuthError::Cancelled)?;
        if pin_hash(&self.pin_salt, &pin) == self.pin_sha256 {
            if self.pin_tries_left != PIN_TRIES {
                self.pin_tries_left = PIN_TRIES;
                self.save()?;
            }
            return Ok(());
        }
        self.pin_tries_left -= 1;
        self.save()?;
        if self.pin_tries_left == 0 {
            Err(AuthError::PinBlocked)
        } else {
            Err(AuthError::PinWrong {
                tries_left: Some(self.pin_tries_left),
            })
        }
    }
}

fn file_error(path: &Path, reason: &str) -> AuthError {
    AuthError::SoftKeyFile {
        path: path.to_owned(),
        reason: reason.to_owned(),
    }
}

impl KeyAuthenticator for SoftKey {
    fn kind(&self) -> KeyKind {
        KeyKind::Soft
    }

    fn register(
        &mut self,
        request: &RegistrationRequest,
        ui: &dyn KeyUi,
    ) -> Result<RegistrationResponse, AuthError> {
        let mut options = request.options.clone();
        let excluded = options.public_key.exclude_credentials.iter().flatten();
        if excluded
            .map(|d| CredentialId::from_bytes(&d.id))
            .any(|id| self.credentials.contains(&id))
        {
            return Err(AuthError::AlreadyRegistered);
        }
        let selection = options
            .public_key
            .authenticator_selection
            .get_or_insert_with(Default::default);
        selection.user_verification = self.user_verification(&selection.user_verification, ui)?;
        ui.request_touch();
        let credential = self
            .token
            .do_registration(request.origin.clone(), options)
            .map_err(|e| AuthError::from_device(&e))?;
        self.credentials
            .push(CredentialId::from_bytes(&credential.raw_id));
        self.save()?;
        Ok(RegistrationResponse {
            ceremony: request.ceremony,
            credential,
        })
    }

    fn authenticate(
        &mut self,
        request: &SignInRequest,
        ui: &dyn KeyUi,
    ) -> Result<SignInResponse, AuthError> {
        let mut options = request.options.clone();
        let ours = options
            .public_key
            .allow_credentials
            .iter()
            .any(|c| self.credentials.contains(&CredentialId::from_bytes(&c.id)));
        if !ours {
            // CTAP2_ERR_NO_CREDENTIALS: a real key blinks and says nothing else.
            return Err(AuthError::UnknownKey);
        }
        options.public_key.user_verification =
            self.user_verification(&options.public_key.user_verification, ui)?;
        ui.request_touch();
        let credential = self
            .token
            .do_authentication(request.origin.clone(), options)
            .map_err(|e| AuthError::from_device(&e))?;
        // The counter moved: persist before handing out the assertion, or a restart would
        // replay an old counter and look like a cloned key.
        self.save()?;
        Ok(SignInResponse {
            ceremony: request.ceremony,
            credential,
        })
    }
}
