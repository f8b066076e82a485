//! The teller's desk: who is signed in at the counter, with which FIDO2 key, and the kiosk
//! lock that goes with it.
//!
//! A teller signs in with a security key that verifies them (its PIN or fingerprint); the
//! kiosk checks the assertion itself with the `tellers` crate's [`SignInVerifier`] against the
//! credentials cached in the ledger (so sign-in works with the network down) and records it
//! there (`teller.signed_in`, the key's counter moving forward). While someone is signed in,
//! every procedure is started for them and its records carry them; an override needs a second
//! key: a supervisor's, verified the same way ([`Desk::approve`]). A supervisor registers a new
//! key for a teller at the counter ([`Desk::register`]); the registration goes to the ledger
//! and from there to the backend. A session ends on sign-out, after the configured idle time
//! with no procedure running, and when the key is unplugged (a simulated key in the simulator;
//! a USB key: no FIDO key attached any more, polled every few seconds).
//!
//! The kiosk is locked (fullscreen, no close) unless a technician is signed in
//! ([`DeskView::unlocked`]); `kiosk.rs` applies it to the windows.
//!
//! In simulation the keys are software keys ([`SoftKey`]) kept in `<data_dir>/sim-keys/`,
//! made on the first start for a few fake tellers ([`seed_simulation`]); the console lets the
//! teller pick one and type its PIN. What it does not do: hold or log a key PIN beyond the one
//! call that uses it (it arrives in a zeroizing string and goes to the key), or decide what a
//! procedure records (the flow does).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use madoguchi_flow::ports::TellerRef;
use madoguchi_ledger::{CachedTeller, Ledger, TellerRole};
use madoguchi_tellers::{
    AuthError, KeyAuthenticator, KeyUi, Now, Role, RpConfig, SignIn, SignInVerifier, SoftKey,
    StoredCredential, TellerAccount, TellerId, TellerKeys,
};
use serde::Serialize;
use serde_json::json;
use zeroize::Zeroizing;

use crate::dto::UiError;
use crate::screens::{Hub, Side};

/// The simulated keys' PIN (shown in the simulator's key picker: it is not a secret).
pub const SIM_KEY_PIN: &str = "2580";

/// Where simulated keys live in the data directory.
pub const SIM_KEYS_DIR: &str = "sim-keys";

/// A fake teller of the simulation: id, name, role, and whether a key is made for them.
struct SimTeller {
    id: &'static str,
    name: &'static str,
    role: TellerRole,
    with_key: bool,
}

const SIM_TELLERS: &[SimTeller] = &[
    SimTeller {
        id: "s-suzuki",
        name: "鈴木 健一",
        role: TellerRole::Supervisor,
        with_key: true,
    },
    SimTeller {
        id: "t-sato",
        name: "佐藤 美咲",
        role: TellerRole::Teller,
        with_key: true,
    },
    SimTeller {
        id: "e-tanaka",
        name: "田中 亮",
        role: TellerRole::Technician,
        with_key: true,
    },
    SimTeller {
        id: "t-ito",
        name: "伊藤 由美",
        role: TellerRole::Teller,
        with_key: false,
    },
];

/// A key nobody registered (the simulator offers it to show a refusal).
const SIM_STRANGER: &str = "stranger";

/// Which key the teller uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyChoice {
    /// A simulated key by its file stem in `sim-keys/`.
    Sim(String),
    /// A new simulated key (registration only).
    NewSim,
    /// The USB security key.
    Usb,
}

impl KeyChoice {
    /// Parses the UI's `"sim:NAME"`, `"sim:new"` or `"usb"`.
    pub fn parse(s: &str) -> Result<KeyChoice, UiError> {
        match s {
            "usb" => Ok(KeyChoice::Usb),
            "sim:new" => Ok(KeyChoice::NewSim),
            _ => match s.strip_prefix("sim:") {
                Some(n)
                    if !n.is_empty()
                        && n.len() <= 64
                        && n.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') =>
                {
                    Ok(KeyChoice::Sim(n.to_owned()))
                }
                _ => Err(UiError {
                    code: "request.invalid",
                    message: "key must be usb, sim:new or sim:NAME".into(),
                }),
            },
        }
    }
}

/// The signed-in teller as both the console and the records see them.
struct Session {
    sign_in: SignIn,
    last_activity: Instant,
    key: KeyChoice,
}

impl Session {
    /// A technician is signed in: kiosk mode is off.
    fn unlocks(&self) -> bool {
        self.sign_in.role().can_leave_kiosk()
    }
}

struct Inner {
    verifier: SignInVerifier,
    session: Option<Session>,
    /// Simulated keys that are "plugged in" (all unless unplugged in the simulator).
    unplugged: Vec<String>,
}

/// The desk. One per kiosk, shared by the commands and the idle watcher.
pub struct Desk {
    ledger: Arc<Ledger>,
    hub: Hub,
    current: CurrentTeller,
    sim_keys: Option<PathBuf>,
    idle: Duration,
    sign_out_on_key_removal: bool,
    inner: Mutex<Inner>,
    on_lock: Mutex<Option<LockHook>>,
    /// A key operation is running (the presence poll keeps off the HID devices meanwhile).
    key_busy: std::sync::atomic::AtomicBool,
    /// Counts the attached USB keys (made on first use).
    #[cfg(all(feature = "usb-keys", not(windows)))]
    usb_probe: std::sync::OnceLock<Option<madoguchi_tellers::UsbKey>>,
}

/// Told whether the kiosk is locked, whenever that may have changed.
pub type LockHook = Box<dyn Fn(bool) + Send + Sync>;

/// The teller the screens show and the procedures start for (`None`: nobody signed in).
pub type CurrentTeller = Arc<Mutex<Option<TellerRef>>>;

/// What the console sees of the desk.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeskView {
    /// The signed-in teller, if any.
    pub signed_in: Option<SignedInView>,
    /// Kiosk mode is off (a technician is signed in).
    pub unlocked: bool,
    /// The keys the teller may pick (simulation: the simulated keys; else the USB key).
    pub keys: Vec<KeyView>,
    /// Idle time before an automatic sign-out, seconds.
    pub idle_seconds: u64,
}

/// The signed-in teller.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignedInView {
    /// Teller id.
    pub id: String,
    /// Name.
    pub name: String,
    /// `teller`, `supervisor`, `technician`.
    pub role: &'static str,
    /// Signed in with a simulated key.
    pub soft_key: bool,
    /// Since (UNIX ms).
    pub since_ms: i64,
}

/// A key the teller may pick.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct KeyView {
    /// `sim:NAME` or `usb`.
    pub id: String,
    /// The key's label.
    pub label: String,
    /// Simulated.
    pub simulated: bool,
    /// Plugged in (simulation: not unplugged in the simulator).
    pub plugged: bool,
}

/// A teller account as the registration screen lists it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TellerEntry {
    /// Teller id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Role.
    pub role: &'static str,
    /// Enabled.
    pub enabled: bool,
    /// Unrevoked keys.
    pub keys: usize,
}

fn auth(e: &AuthError) -> UiError {
    UiError {
        code: e.code(),
        message: e.to_string(),
    }
}

fn signed_out() -> UiError {
    UiError {
        code: "auth.signed_out",
        message: "nobody is signed in at this counter".into(),
    }
}

fn role_of(r: TellerRole) -> Role {
    match r {
        TellerRole::Supervisor => Role::Supervisor,
        TellerRole::Technician => Role::Technician,
        _ => Role::Teller,
    }
}

fn account_of(t: &CachedTeller) -> Option<TellerAccount> {
    Some(TellerAccount {
        id: TellerId::new(t.id.clone()).ok()?,
        display_name: t.display_name.clone().unwrap_or_default(),
        role: role_of(t.role),
        enabled: t.enabled,
    })
}

/// The key PIN for one operation, handed to the key once.
struct OnePin {
    pin: Mutex<Option<Zeroizing<String>>>,
}

impl std::fmt::Debug for OnePin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnePin(..)")
    }
}

impl KeyUi for OnePin {
    fn request_pin(&self) -> Option<Zeroizing<String>> {
        self.pin.lock().ok()?.take()
    }
    fn request_touch(&self) {}
}

impl Desk {
    /// A desk over `ledger`. `sim_keys`: the simulated keys' directory (simulation only).
    pub fn new(
        ledger: Arc<Ledger>,
        hub: Hub,
        current: CurrentTeller,
        sim_keys: Option<PathBuf>,
        idle: Duration,
        sign_out_on_key_removal: bool,
    ) -> Result<Desk, UiError> {
        let verifier = SignInVerifier::new(RpConfig {
            allow_soft_keys: sim_keys.is_some(),
            ..RpConfig::default()
        })
        .map_err(|e| auth(&e))?;
        Ok(Desk {
            ledger,
            hub,
            current,
            sim_keys,
            idle,
            sign_out_on_key_removal,
            inner: Mutex::new(Inner {
                verifier,
                session: None,
                unplugged: Vec::new(),
            }),
            on_lock: Mutex::new(None),
            key_busy: std::sync::atomic::AtomicBool::new(false),
            #[cfg(all(feature = "usb-keys", not(windows)))]
            usb_probe: std::sync::OnceLock::new(),
        })
    }

    /// Calls `hook` with the lock state now and whenever it may change.
    pub fn on_lock(&self, hook: LockHook) {
        hook(!self.unlocked());
        if let Ok(mut h) = self.on_lock.lock() {
            *h = Some(hook);
        }
    }

    fn inner(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Kiosk mode is off: a technician is signed in.
    pub fn unlocked(&self) -> bool {
        self.inner().session.as_ref().is_some_and(Session::unlocks)
    }

    /// The signed-in teller for a procedure, or `auth.signed_out`; counts as activity.
    pub fn teller(&self) -> Result<TellerRef, UiError> {
        let mut inner = self.inner();
        let s = inner.session.as_mut().ok_or_else(signed_out)?;
        s.last_activity = Instant::now();
        if !s.sign_in.role().can_serve_customers() {
            return Err(UiError {
                code: "auth.not_permitted",
                message: format!(
                    "role {} does not serve customers",
                    s.sign_in.role().as_str()
                ),
            });
        }
        Ok(TellerRef {
            id: s.sign_in.teller().as_str().to_owned(),
            verified: true,
        })
    }

    /// The console was used (keeps the session from going idle).
    pub fn touch(&self) {
        if let Some(s) = self.inner().session.as_mut() {
            s.last_activity = Instant::now();
        }
    }

    /// What the console shows.
    pub fn view(&self) -> DeskView {
        let inner = self.inner();
        let usb = KeyView {
            id: "usb".into(),
            label: "USB security key".into(),
            simulated: false,
            plugged: true,
        };
        let mut keys = match &self.sim_keys {
            Some(dir) => SoftKey::list(dir)
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(path, label)| {
                    let stem = path.file_stem()?.to_str()?.to_owned();
                    Some(KeyView {
                        plugged: !inner.unplugged.contains(&stem),
                        id: format!("sim:{stem}"),
                        label,
                        simulated: true,
                    })
                })
                .collect(),
            None => Vec::new(),
        };
        // A real key can be used in simulation too, when the build has USB support.
        if self.sim_keys.is_none() || cfg!(any(feature = "usb-keys", windows)) {
            keys.push(usb);
        }
        DeskView {
            signed_in: inner.session.as_ref().map(|s| SignedInView {
                id: s.sign_in.teller().as_str().to_owned(),
                name: s.sign_in.account().display_name.clone(),
                role: s.sign_in.role().as_str(),
                soft_key: s.sign_in.updated_credential().is_soft(),
                since_ms: s.sign_in.at().unix_ms,
            }),
            unlocked: inner.session.as_ref().is_some_and(Session::unlocks),
            keys,
            idle_seconds: self.idle.as_secs(),
        }
    }

    /// Sends the desk state to both screens (the customer's: only whether the counter is
    /// open) and applies the lock.
    pub fn publish(&self) {
        let view = self.view();
        let open = view
            .signed_in
            .as_ref()
            .is_some_and(|s| s.role != "technician");
        let unlocked = view.unlocked;
        {
            let mut cur = self.current.lock().unwrap_or_else(|p| p.into_inner());
            *cur = view.signed_in.as_ref().map(|s| TellerRef {
                id: s.id.clone(),
                verified: true,
            });
        }
        self.hub.set_latest(
            Side::Teller,
            "desk",
            json!({ "kind": "desk", "desk": view }),
        );
        self.hub.set_latest(
            Side::Customer,
            "desk",
            json!({ "kind": "desk", "desk": { "open": open } }),
        );
        if let Ok(h) = self.on_lock.lock()
            && let Some(h) = h.as_ref()
        {
            h(!unlocked);
        }
    }

    /// The enabled tellers with their unrevoked keys, for the verifier.
    fn candidates(&self) -> Result<Vec<TellerKeys>, UiError> {
        let rows = self
            .ledger
            .sign_in_candidates()
            .map_err(|e| UiError::from(&e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(t, creds)| {
                Some(TellerKeys {
                    account: account_of(&t)?,
                    credentials: creds.iter().filter_map(stored).collect(),
                })
            })
            .collect())
    }

    fn open_key(&self, choice: &KeyChoice) -> Result<Box<dyn OpenedKey>, UiError> {
        match (choice, &self.sim_keys) {
            (KeyChoice::Sim(name), Some(dir)) => {
                if self.inner().unplugged.contains(name) {
                    return Err(auth(&AuthError::NoDevice));
                }
                let path = sim_key_path(dir, name);
                if !path.exists() {
                    return Err(auth(&AuthError::NoDevice));
                }
                Ok(Box::new(SoftKey::open(&path).map_err(|e| auth(&e))?))
            }
            (KeyChoice::NewSim, Some(dir)) => {
                let stem = format!("key-{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
                let path = sim_key_path(dir, &stem);
                let key = SoftKey::create(&path, &format!("key {stem}"), SIM_KEY_PIN)
                    .map_err(|e| auth(&e))?;
                Ok(Box::new(key))
            }
            (KeyChoice::Sim(_) | KeyChoice::NewSim, None) => Err(UiError {
                code: "sim.not_simulation",
                message: "simulated keys exist only in simulation".into(),
            }),
            (KeyChoice::Usb, _) => usb_key(),
        }
    }

    /// Why a soft key's sign-in found nothing: its credential belongs to a disabled teller
    /// or was revoked (the key cannot say; the kiosk knows which credentials a soft key
    /// holds). Real keys just get `auth.unknown_key`.
    fn explain_unknown(&self, choice: &KeyChoice) -> Option<UiError> {
        let (KeyChoice::Sim(name), Some(dir)) = (choice, &self.sim_keys) else {
            return None;
        };
        let key = SoftKey::open(sim_key_path(dir, name)).ok()?;
        for id in key.credential_ids() {
            if let Ok(Some(c)) = self.ledger.teller_credential(id.as_str()) {
                if c.revoked_at_ms.is_some() {
                    return Some(auth(&AuthError::Revoked));
                }
                if self.teller_disabled(&c.teller_id) {
                    return Some(auth(&AuthError::Disabled));
                }
            }
        }
        None
    }

    /// The ledger has `teller` disabled (unknown or unreadable: not disabled).
    fn teller_disabled(&self, teller: &str) -> bool {
        self.ledger
            .tellers()
            .is_ok_and(|all| all.iter().any(|t| t.id == teller && !t.enabled))
    }

    /// One assertion ceremony with `choice` among `tellers`.
    fn assert_with(
        &self,
        choice: &KeyChoice,
        pin: Zeroizing<String>,
        tellers: &[TellerKeys],
    ) -> Result<SignIn, UiError> {
        let _busy = Busy::mark(&self.key_busy);
        let mut key = self.open_key(choice)?;
        let request = self
            .inner()
            .verifier
            .start_sign_in(tellers, Now::system())
            .map_err(|e| auth(&e))?;
        let ui = OnePin {
            pin: Mutex::new(Some(pin)),
        };
        let response = match key.authenticate(&request, &ui) {
            Ok(r) => r,
            Err(e) => {
                self.inner().verifier.cancel(request.ceremony);
                if e == AuthError::UnknownKey
                    && let Some(better) = self.explain_unknown(choice)
                {
                    return Err(better);
                }
                return Err(auth(&e));
            }
        };
        let signed = self
            .inner()
            .verifier
            .finish_sign_in(&response, tellers, Now::system())
            .map_err(|e| auth(&e))?;
        Ok(signed)
    }

    /// Signs a teller in with `choice` (the key verifies them with `pin`). Refused while
    /// someone is signed in (`auth.already_signed_in`).
    pub fn sign_in(&self, choice: KeyChoice, pin: Zeroizing<String>) -> Result<DeskView, UiError> {
        if self.inner().session.is_some() {
            return Err(UiError {
                code: "auth.already_signed_in",
                message: "sign out first".into(),
            });
        }
        let tellers = self.candidates()?;
        let signed = self.assert_with(&choice, pin, &tellers)?;
        record_use(&self.ledger, &signed)?;
        tracing::info!(
            teller = %signed.teller(),
            role = signed.role().as_str(),
            soft_key = signed.updated_credential().is_soft(),
            "teller signed in at the counter"
        );
        self.inner().session = Some(Session {
            sign_in: signed,
            last_activity: Instant::now(),
            key: choice,
        });
        self.publish();
        Ok(self.view())
    }

    /// Ends the session (`why`: `sign_out`, `idle`, `key_removed`).
    pub fn sign_out(&self, why: &'static str) -> bool {
        let ended = self.inner().session.take();
        if let Some(s) = &ended {
            tracing::info!(teller = %s.sign_in.teller(), reason = why, "teller signed out");
        }
        self.publish();
        ended.is_some()
    }

    /// A supervisor's key approves what the signed-in teller does (an override): another
    /// person than the signed-in teller, a supervisor, verified now.
    pub fn approve(&self, choice: KeyChoice, pin: Zeroizing<String>) -> Result<TellerRef, UiError> {
        let me = self.teller()?;
        let everyone = self.candidates()?;
        if !everyone
            .iter()
            .any(|t| t.account.role == Role::Supervisor && t.account.id.as_str() != me.id)
        {
            return Err(UiError {
                code: "auth.no_supervisor",
                message: "no other supervisor has a key registered here".into(),
            });
        }
        // Every registered key may answer, so that a refusal says why: the teller's own key
        // (four eyes), or a key of someone who is not a supervisor. Only an approval is
        // recorded as a use of the key.
        let signed = self.assert_with(&choice, pin, &everyone)?;
        if signed.teller().as_str() == me.id {
            return Err(UiError {
                code: "notice.approver_same",
                message: "the teller who overrides cannot approve it".into(),
            });
        }
        if !signed.role().can_approve_override() {
            return Err(auth(&AuthError::NotPermitted {
                role: signed.role().as_str(),
            }));
        }
        record_use(&self.ledger, &signed)?;
        tracing::info!(
            teller = %me.id,
            approver = %signed.teller(),
            "override approved by a supervisor's key"
        );
        Ok(TellerRef {
            id: signed.teller().as_str().to_owned(),
            verified: true,
        })
    }

    /// The tellers this kiosk knows, for the registration screen (supervisors only).
    pub fn tellers(&self) -> Result<Vec<TellerEntry>, UiError> {
        self.supervisor()?;
        let all = self.ledger.tellers().map_err(|e| UiError::from(&e))?;
        let mut out = Vec::new();
        for t in all {
            if t.id == crate::ports::records::UNVERIFIED_TELLER {
                continue;
            }
            let keys = self
                .ledger
                .teller_credentials(&t.id)
                .map_err(|e| UiError::from(&e))?
                .iter()
                .filter(|c| c.revoked_at_ms.is_none())
                .count();
            out.push(TellerEntry {
                name: t.display_name.clone().unwrap_or_default(),
                role: t.role.as_str(),
                enabled: t.enabled,
                keys,
                id: t.id,
            });
        }
        Ok(out)
    }

    fn supervisor(&self) -> Result<SignIn, UiError> {
        let mut inner = self.inner();
        let s = inner.session.as_mut().ok_or_else(signed_out)?;
        s.last_activity = Instant::now();
        if !s.sign_in.role().can_register_keys() {
            return Err(auth(&AuthError::NotPermitted {
                role: s.sign_in.role().as_str(),
            }));
        }
        Ok(s.sign_in.clone())
    }

    /// The signed-in supervisor registers `choice` (a key the teller holds, verified with
    /// its `pin`) for `teller_id`, named `label`.
    pub fn register(
        &self,
        teller_id: &str,
        label: &str,
        choice: KeyChoice,
        pin: Zeroizing<String>,
    ) -> Result<TellerEntry, UiError> {
        let approver = self.supervisor()?;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > 64 {
            return Err(UiError {
                code: "request.invalid",
                message: "a key label is 1 to 64 characters".into(),
            });
        }
        let teller = self
            .ledger
            .tellers()
            .map_err(|e| UiError::from(&e))?
            .into_iter()
            .find(|t| t.id == teller_id)
            .ok_or_else(|| UiError {
                code: "auth.unknown_teller",
                message: format!("no teller {teller_id} at this kiosk"),
            })?;
        let account = account_of(&teller).ok_or_else(|| UiError {
            code: "auth.unknown_teller",
            message: "bad teller id".into(),
        })?;
        if !account.enabled {
            return Err(auth(&AuthError::Disabled));
        }
        let existing: Vec<StoredCredential> = self
            .ledger
            .teller_credentials(teller_id)
            .map_err(|e| UiError::from(&e))?
            .iter()
            .filter_map(stored)
            .collect();
        let mut key = self.open_key(&choice)?;
        // A new simulated key that ends up holding no registered credential is thrown away,
        // so a refused registration leaves no stray key in the picker.
        let made = match &choice {
            KeyChoice::NewSim => key.path().map(Path::to_path_buf),
            _ => None,
        };
        let result = self.register_with(key.as_mut(), &approver, &account, &existing, label, pin);
        if result.is_err()
            && let Some(path) = made
            && let Err(e) = std::fs::remove_file(&path)
        {
            tracing::warn!(error = %e, "could not remove the unused simulated key");
        }
        result?;
        self.publish();
        tracing::info!(teller = %teller_id, registered_by = %approver.teller(), "key registered at the counter");
        let keys = existing.len() + 1;
        Ok(TellerEntry {
            id: teller.id,
            name: teller.display_name.unwrap_or_default(),
            role: teller.role.as_str(),
            enabled: teller.enabled,
            keys,
        })
    }

    fn register_with(
        &self,
        key: &mut dyn OpenedKey,
        approver: &SignIn,
        account: &TellerAccount,
        existing: &[StoredCredential],
        label: &str,
        pin: Zeroizing<String>,
    ) -> Result<(), UiError> {
        let _busy = Busy::mark(&self.key_busy);
        let request = self
            .inner()
            .verifier
            .start_registration(approver, account, existing, label, Now::system())
            .map_err(|e| auth(&e))?;
        let ui = OnePin {
            pin: Mutex::new(Some(pin)),
        };
        let response = match key.register(&request, &ui) {
            Ok(r) => r,
            Err(e) => {
                self.inner().verifier.cancel(request.ceremony);
                return Err(auth(&e));
            }
        };
        let ledger = &self.ledger;
        let credential = self
            .inner()
            .verifier
            .finish_registration(
                &response,
                |id| {
                    ledger
                        .teller_credential(id.as_str())
                        .ok()
                        .flatten()
                        .is_some()
                },
                Now::system(),
            )
            .map_err(|e| auth(&e))?;
        put_credential(&self.ledger, &credential)
    }

    /// Simulator: plugs a simulated key in or out. Unplugging the signed-in teller's key
    /// signs them out when so configured.
    pub fn sim_plug(&self, name: &str, plugged: bool) -> Result<(), UiError> {
        if self.sim_keys.is_none() {
            return Err(UiError {
                code: "sim.not_simulation",
                message: "simulated keys exist only in simulation".into(),
            });
        }
        let sign_out = {
            let mut inner = self.inner();
            inner.unplugged.retain(|n| n != name);
            if !plugged {
                inner.unplugged.push(name.to_owned());
            }
            !plugged
                && self.sign_out_on_key_removal
                && inner
                    .session
                    .as_ref()
                    .is_some_and(|s| s.key == KeyChoice::Sim(name.to_owned()))
        };
        if sign_out {
            self.sign_out("key_removed");
        } else {
            self.publish();
        }
        Ok(())
    }

    /// Ends a session signed in with a USB key when no key is attached any more (the idle
    /// watcher calls this every few seconds; configured by `sign_out_on_key_removal`).
    /// Returns whether it signed out.
    pub fn check_key_removed(&self) -> bool {
        let usb_session = self
            .inner()
            .session
            .as_ref()
            .is_some_and(|s| s.key == KeyChoice::Usb);
        if !usb_session
            || !self.sign_out_on_key_removal
            || self.key_busy.load(std::sync::atomic::Ordering::SeqCst)
        {
            return false;
        }
        match self.usb_keys_attached() {
            Some(0) => self.sign_out("key_removed"),
            _ => false,
        }
    }

    /// Ends the session of a teller the backend has disabled since they signed in, or whose
    /// key has been revoked (the idle watcher calls this after the pulls have updated the
    /// ledger). Returns whether it signed out.
    pub fn check_still_allowed(&self) -> bool {
        let (teller, credential) = match self.inner().session.as_ref() {
            Some(s) => (
                s.sign_in.teller().as_str().to_owned(),
                s.sign_in.credential_id().as_str().to_owned(),
            ),
            None => return false,
        };
        let disabled = self.teller_disabled(&teller);
        let revoked = self
            .ledger
            .teller_credential(&credential)
            .map(|c| c.is_some_and(|c| c.revoked_at_ms.is_some()))
            .unwrap_or(false);
        match (disabled, revoked) {
            (true, _) => self.sign_out("disabled"),
            (_, true) => self.sign_out("key_revoked"),
            _ => false,
        }
    }

    /// How many USB keys are attached; `None` when it cannot be told (then nobody is
    /// signed out for it).
    #[cfg(all(feature = "usb-keys", not(windows)))]
    fn usb_keys_attached(&self) -> Option<usize> {
        let probe = self.usb_probe.get_or_init(|| {
            madoguchi_tellers::UsbKey::new(Duration::from_secs(1))
                .inspect_err(|e| {
                    tracing::warn!(code = e.code(), "USB key presence cannot be watched")
                })
                .ok()
        });
        match probe.as_ref()?.keys_attached() {
            Ok(n) => Some(n),
            Err(e) => {
                tracing::warn!(code = e.code(), "USB key presence check failed");
                None
            }
        }
    }

    /// Windows' WebAuthn API does not say whether a key is attached: never signed out for it.
    #[cfg(not(all(feature = "usb-keys", not(windows))))]
    fn usb_keys_attached(&self) -> Option<usize> {
        None
    }

    /// Signs out a session idle for longer than the idle time, unless `busy` (a procedure
    /// is running: its own deadlines apply). Returns whether it signed out.
    pub fn check_idle(&self, busy: bool) -> bool {
        let expired = {
            let mut inner = self.inner();
            match inner.session.as_mut() {
                None => false,
                Some(s) if busy => {
                    s.last_activity = Instant::now();
                    false
                }
                Some(s) => s.last_activity.elapsed() >= self.idle,
            }
        };
        expired && self.sign_out("idle")
    }
}

/// Marks a key operation as running until dropped.
struct Busy<'a>(&'a std::sync::atomic::AtomicBool);

impl<'a> Busy<'a> {
    fn mark(flag: &'a std::sync::atomic::AtomicBool) -> Self {
        flag.store(true, std::sync::atomic::Ordering::SeqCst);
        Busy(flag)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A key the desk drives: the authenticator, and the file a simulated key lives in.
trait OpenedKey: KeyAuthenticator {
    /// The soft key's file, if it is one.
    fn path(&self) -> Option<&Path> {
        None
    }
}

impl OpenedKey for SoftKey {
    fn path(&self) -> Option<&Path> {
        SoftKey::path(self)
    }
}

#[cfg(all(feature = "usb-keys", not(windows)))]
impl OpenedKey for madoguchi_tellers::UsbKey {}

#[cfg(windows)]
impl OpenedKey for madoguchi_tellers::WindowsKey {}

/// A simulated key's file in `dir`.
fn sim_key_path(dir: &Path, stem: &str) -> PathBuf {
    dir.join(format!(
        "{stem}.{}",
        madoguchi_tellers::soft::FILE_EXTENSION
    ))
}

/// A cached credential's body as the verifier's credential (`None`: unreadable, skipped).
fn stored(c: &madoguchi_ledger::CachedCredential) -> Option<StoredCredential> {
    serde_json::from_slice(&c.body).ok()
}

/// A credential as the ledger keeps it (JSON).
fn credential_json(c: &StoredCredential) -> Result<Vec<u8>, UiError> {
    serde_json::to_vec(c).map_err(|e| UiError {
        code: "auth.invalid",
        message: format!("credential encoding: {e}"),
    })
}

/// Records a verified key use in the ledger: the counter moves on there.
fn record_use(ledger: &Ledger, signed: &SignIn) -> Result<(), UiError> {
    let body = credential_json(signed.updated_credential())?;
    ledger
        .record_sign_in(signed.credential_id().as_str(), signed.counter(), &body)
        .map(drop)
        .map_err(|e| UiError::from(&e))
}

fn put_credential(ledger: &Ledger, c: &StoredCredential) -> Result<(), UiError> {
    let body = credential_json(c)?;
    ledger
        .put_teller_credential(
            c.teller().as_str(),
            c.id().as_str(),
            &body,
            c.sign_count(),
            c.registered_by().map(TellerId::as_str),
        )
        .map(drop)
        .map_err(|e| UiError::from(&e))
}

/// On Windows the WebAuthn API is the way to a security key (Windows hides FIDO keys from
/// USB HID for non-administrators). Never compiled here: the build machine is Linux.
#[cfg(windows)]
fn usb_key() -> Result<Box<dyn OpenedKey>, UiError> {
    Ok(Box::new(madoguchi_tellers::WindowsKey::new()))
}

#[cfg(all(feature = "usb-keys", not(windows)))]
fn usb_key() -> Result<Box<dyn OpenedKey>, UiError> {
    madoguchi_tellers::UsbKey::new(Duration::from_secs(20))
        .map(|k| Box::new(k) as Box<dyn OpenedKey>)
        .map_err(|e| auth(&e))
}

#[cfg(all(not(feature = "usb-keys"), not(windows)))]
fn usb_key() -> Result<Box<dyn OpenedKey>, UiError> {
    Err(UiError {
        code: "auth.no_device",
        message: "this build has no USB security key support (cargo feature usb-keys)".into(),
    })
}

/// First start in simulation: the fake tellers (as if pulled from the backend) and a
/// simulated key for each that has one, registered the way a supervisor registers keys at the
/// counter — the supervisor's own as the installation's first key — plus one key nobody
/// registered. Does nothing when `dir` already holds keys. Returns whether it made them.
pub fn seed_simulation(ledger: &Ledger, dir: &Path) -> Result<bool, UiError> {
    let io = |e: std::io::Error| UiError {
        code: "io",
        message: format!("{}: {e}", dir.display()),
    };
    if dir.exists() && SoftKey::list(dir).map(|l| !l.is_empty()).unwrap_or(false) {
        return Ok(false);
    }
    std::fs::create_dir_all(dir).map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(io)?;
    }
    for t in SIM_TELLERS {
        ledger
            .upsert_teller_from_backend(t.id, t.role, Some(t.name), true)
            .map_err(|e| UiError::from(&e))?;
    }
    let mut verifier = SignInVerifier::new(RpConfig {
        allow_soft_keys: true,
        ..RpConfig::default()
    })
    .map_err(|e| auth(&e))?;
    let ui = || OnePin {
        pin: Mutex::new(Some(Zeroizing::new(SIM_KEY_PIN.to_owned()))),
    };
    let path = |stem: &str| sim_key_path(dir, stem);
    let account = |t: &SimTeller| -> Result<TellerAccount, UiError> {
        Ok(TellerAccount {
            id: TellerId::new(t.id).map_err(|e| UiError {
                code: "auth.config",
                message: format!("simulation teller {}: {e}", t.id),
            })?,
            display_name: t.name.to_owned(),
            role: role_of(t.role),
            enabled: true,
        })
    };
    let stem_of = |t: &SimTeller| t.id.split('-').nth(1).unwrap_or(t.id).to_owned();
    // The supervisor's key first (an installation's first key), then their sign-in approves
    // the others.
    let sup = &SIM_TELLERS[0];
    let sup_account = account(sup)?;
    let mut sup_key =
        SoftKey::create(path(&stem_of(sup)), sup.name, SIM_KEY_PIN).map_err(|e| auth(&e))?;
    let request = verifier
        .start_first_registration(&sup_account, &[], "simulated key", Now::system())
        .map_err(|e| auth(&e))?;
    let response = sup_key.register(&request, &ui()).map_err(|e| auth(&e))?;
    let sup_cred = verifier
        .finish_registration(&response, |_| false, Now::system())
        .map_err(|e| auth(&e))?;
    put_credential(ledger, &sup_cred)?;
    let sup_keys = [TellerKeys {
        account: sup_account,
        credentials: vec![sup_cred],
    }];
    let request = verifier
        .start_sign_in(&sup_keys, Now::system())
        .map_err(|e| auth(&e))?;
    let response = sup_key
        .authenticate(&request, &ui())
        .map_err(|e| auth(&e))?;
    let approval = verifier
        .finish_sign_in(&response, &sup_keys, Now::system())
        .map_err(|e| auth(&e))?;
    record_use(ledger, &approval)?;
    for t in SIM_TELLERS.iter().skip(1).filter(|t| t.with_key) {
        let mut key =
            SoftKey::create(path(&stem_of(t)), t.name, SIM_KEY_PIN).map_err(|e| auth(&e))?;
        let request = verifier
            .start_registration(&approval, &account(t)?, &[], "simulated key", Now::system())
            .map_err(|e| auth(&e))?;
        let response = key.register(&request, &ui()).map_err(|e| auth(&e))?;
        let cred = verifier
            .finish_registration(&response, |_| false, Now::system())
            .map_err(|e| auth(&e))?;
        put_credential(ledger, &cred)?;
    }
    SoftKey::create(
        path(SIM_STRANGER),
        "未登録のキー (unregistered)",
        SIM_KEY_PIN,
    )
    .map_err(|e| auth(&e))?;
    tracing::info!(
        tellers = SIM_TELLERS.len(),
        "simulation: fake tellers and their simulated keys made"
    );
    Ok(true)
}

/// The simulation's fake tellers, for seeding the embedded backend: (id, name, role).
pub fn sim_tellers() -> impl Iterator<Item = (&'static str, &'static str, TellerRole)> {
    SIM_TELLERS.iter().map(|t| (t.id, t.name, t.role))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_simulation_teller_ids_are_valid() {
        for t in SIM_TELLERS {
            assert!(TellerId::new(t.id).is_ok(), "{}", t.id);
        }
    }

    #[test]
    fn key_choices_parse_strictly() {
        assert_eq!(KeyChoice::parse("usb").ok(), Some(KeyChoice::Usb));
        assert_eq!(KeyChoice::parse("sim:new").ok(), Some(KeyChoice::NewSim));
        assert_eq!(
            KeyChoice::parse("sim:sato").ok(),
            Some(KeyChoice::Sim("sato".into()))
        );
        for bad in ["", "sim:", "sim:../x", "sim:a/b", "nfc", "sim:a b"] {
            assert!(KeyChoice::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn seeded_simulation_keys_sign_in_and_a_stranger_is_refused_no_hardware_key_here() {
        let dir = tempfile::tempdir().expect("tempdir");
        let key = madoguchi_ledger::DataKey::from_bytes([7; 32]);
        let ledger = Arc::new(Ledger::open_in_memory(key).expect("ledger"));
        assert!(seed_simulation(&ledger, &dir.path().join("k")).expect("seed"));
        assert!(!seed_simulation(&ledger, &dir.path().join("k")).expect("again"));
        let desk = Desk::new(
            ledger.clone(),
            Hub::default(),
            CurrentTeller::default(),
            Some(dir.path().join("k")),
            Duration::from_secs(60),
            true,
        )
        .expect("desk");
        let pin = || Zeroizing::new(SIM_KEY_PIN.to_owned());
        let refused = desk
            .sign_in(KeyChoice::Sim(SIM_STRANGER.into()), pin())
            .expect_err("an unregistered key");
        assert_eq!(refused.code, "auth.unknown_key");
        let wrong = desk
            .sign_in(
                KeyChoice::Sim("sato".into()),
                Zeroizing::new("0000".to_owned()),
            )
            .expect_err("a wrong key PIN");
        assert_eq!(wrong.code, "auth.pin_wrong");
        let v = desk
            .sign_in(KeyChoice::Sim("sato".into()), pin())
            .expect("sato");
        assert_eq!(v.signed_in.as_ref().map(|s| s.id.as_str()), Some("t-sato"));
        assert!(!v.unlocked);
        assert_eq!(desk.teller().expect("teller").id, "t-sato");
        // Four eyes: the supervisor approves, sato cannot approve herself.
        let a = desk
            .approve(KeyChoice::Sim("suzuki".into()), pin())
            .expect("supervisor approves");
        assert_eq!(a.id, "s-suzuki");
        let own = desk
            .approve(KeyChoice::Sim("sato".into()), pin())
            .expect_err("her own key");
        assert_eq!(own.code, "notice.approver_same");
        let technician = desk
            .approve(KeyChoice::Sim("tanaka".into()), pin())
            .expect_err("not a supervisor");
        assert_eq!(technician.code, "auth.not_permitted");
        let stranger = desk
            .approve(KeyChoice::Sim(SIM_STRANGER.into()), pin())
            .expect_err("nobody's key");
        assert_eq!(stranger.code, "auth.unknown_key");
        // The USB presence poll leaves a simulated key's session alone; unplugging the
        // simulated key signs out.
        assert!(!desk.check_key_removed());
        desk.sim_plug("sato", false).expect("unplug");
        assert_eq!(
            desk.teller().expect_err("signed out").code,
            "auth.signed_out"
        );
        // Disabled at the backend while signed in: signed out at the next check.
        desk.sim_plug("sato", true).expect("plug back");
        desk.sign_in(KeyChoice::Sim("sato".into()), pin())
            .expect("sato again");
        assert!(!desk.check_still_allowed(), "still allowed");
        ledger
            .upsert_teller_from_backend("t-sato", TellerRole::Teller, Some("佐藤 美咲"), false)
            .expect("disable");
        assert!(desk.check_still_allowed(), "signed out");
        assert_eq!(
            desk.teller().expect_err("signed out").code,
            "auth.signed_out"
        );
        ledger
            .upsert_teller_from_backend("t-sato", TellerRole::Teller, Some("佐藤 美咲"), true)
            .expect("enable again");
        // A technician unlocks the kiosk.
        desk.view();
        desk.sign_in(KeyChoice::Sim("tanaka".into()), pin())
            .expect("technician");
        assert!(desk.unlocked());
        assert_eq!(
            desk.teller().expect_err("no customers").code,
            "auth.not_permitted"
        );
        assert!(desk.sign_out("sign_out"));
        assert!(!desk.unlocked());
        // A supervisor registers a new key for ito, who then signs in with it.
        desk.sign_in(KeyChoice::Sim("suzuki".into()), pin())
            .expect("supervisor");
        let before: Vec<String> = SoftKey::list(dir.path().join("k"))
            .expect("list")
            .into_iter()
            .map(|(p, _)| p.display().to_string())
            .collect();
        let refused = desk
            .register(
                "t-ito",
                "ito's key",
                KeyChoice::NewSim,
                Zeroizing::new("0000".to_owned()),
            )
            .expect_err("a wrong PIN on the new key");
        assert_eq!(refused.code, "auth.pin_wrong");
        assert_eq!(
            SoftKey::list(dir.path().join("k")).expect("list").len(),
            before.len(),
            "a refused registration leaves no new key behind"
        );
        let entry = desk
            .register("t-ito", "ito's key", KeyChoice::NewSim, pin())
            .expect("registered");
        assert_eq!(entry.keys, 1);
        desk.sign_out("sign_out");
        let new_key = SoftKey::list(dir.path().join("k"))
            .expect("list")
            .into_iter()
            .map(|(p, _)| p)
            .find(|p| !before.contains(&p.display().to_string()))
            .expect("a new key file");
        let stem = new_key.file_stem().and_then(|s| s.to_str()).expect("stem");
        let v = desk
            .sign_in(KeyChoice::Sim(stem.to_owned()), pin())
            .expect("ito signs in");
        assert_eq!(v.signed_in.map(|s| s.id), Some("t-ito".to_owned()));
        // Idle: busy keeps the session; idle past the limit ends it.
        assert!(!desk.check_idle(true));
        let short = Desk::new(
            ledger.clone(),
            Hub::default(),
            CurrentTeller::default(),
            Some(dir.path().join("k")),
            Duration::from_millis(0),
            false,
        )
        .expect("desk");
        short
            .sign_in(KeyChoice::Sim("sato".into()), pin())
            .expect("sato");
        assert!(short.check_idle(false));
        assert!(short.teller().is_err());
    }
}
