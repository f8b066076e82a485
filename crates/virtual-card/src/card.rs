//! The APDU engine: one virtual My Number card with its power state, current DF/EF, security
//! status and retry counters, answering command APDUs with the fact sheet's status words.
//!
//! Rules it keeps (see `card-and-metrics-notes.md` §1.3–1.5): SELECT DF by name (`00 A4 04 0C`)
//! and EF by id (`00 A4 02 0C`); READ BINARY with a 15-bit offset or a short EF id, returning
//! up to Le bytes and `6B00` at or past the end; VERIFY with empty data reports `63Cx`
//! without spending a try, a wrong value decrements (`63Cx`, `63C0` when it blocks), a blocked
//! reference answers `6984`; a successful VERIFY lasts until power-off/reset or until another
//! application is selected; `80 2A` signs with PKCS #1 v1.5 or PSS (P1 00–05) with the key
//! named by P2; GET CHALLENGE then `80 2A 00 00` signs with the AP's own (chip) key.
//!
//! CHANGE REFERENCE DATA (`00 24 01 80`) changes a PIN for the life of this object only; the
//! state directory keeps retry counters, never PIN values.
//!
//! It never logs command or response data (PINs travel in them) and never panics on any
//! input. It does not speak any transport (see `vpcd` and `transport`).

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use rand_core::{OsRng, RngCore};
use rsa::pss::BlindedSigningKey;
use rsa::signature::SignatureEncoding;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::apdu::{self, Command, sw};
use crate::files::{self, AID_ISD, Access, App, EfKind, SHA256_PREFIX};
use crate::profile::Profile;

/// The ATR the card presents: a contact My Number card's (fact sheet §1.3), so that OpenSC's
/// JPKI driver, which matches by ATR, binds to it. Readers must not rely on it.
pub const ATR: [u8; 9] = [0x3B, 0xE0, 0x00, 0xFF, 0x81, 0x31, 0xFE, 0x45, 0x14];

/// One virtual card. `clone` gives an independent card in the same state (used by the
/// fuzzer to start every input from a fresh card without rebuilding it).
#[derive(Clone)]
pub struct VirtualCard {
    profile: Profile,
    apps: Vec<App>,
    powered: bool,
    current_app: Option<usize>,
    current_ef: Option<u16>,
    verified: HashSet<(usize, u16)>,
    challenge: Option<Vec<u8>>,
    state_file: Option<PathBuf>,
    apdus: u64,
}

impl std::fmt::Debug for VirtualCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualCard")
            .field("profile", &self.profile.name)
            .field("powered", &self.powered)
            .finish_non_exhaustive()
    }
}

fn respond(mut data: Vec<u8>, status: u16) -> Vec<u8> {
    data.extend_from_slice(&status.to_be_bytes());
    data
}

fn status(status: u16) -> Vec<u8> {
    status.to_be_bytes().to_vec()
}

impl VirtualCard {
    /// A new card for `profile`. With `state_dir`, retry counters are loaded from and saved to
    /// `<state_dir>/<profile>.counters.json` so they persist between runs (the directory is
    /// created when missing). The card starts unpowered.
    pub fn new(profile: &Profile, state_dir: Option<&Path>) -> Result<Self, Error> {
        let apps = files::build(profile)?;
        let state_file = match state_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| Error::State {
                    path: dir.to_path_buf(),
                    reason: e.to_string(),
                })?;
                Some(dir.join(format!("{}.counters.json", profile.name)))
            }
            None => None,
        };
        let mut card = VirtualCard {
            profile: profile.clone(),
            apps,
            powered: false,
            current_app: None,
            current_ef: None,
            verified: HashSet::new(),
            challenge: None,
            state_file,
            apdus: 0,
        };
        card.load_counters()?;
        Ok(card)
    }

    /// The profile this card was made from.
    pub fn profile(&self) -> &Profile {
        &self.profile
    }

    /// Powers the card on (cold reset): returns the ATR, clears the security status.
    pub fn power_on(&mut self) -> Vec<u8> {
        self.reset_state();
        self.powered = true;
        ATR.to_vec()
    }

    /// Powers the card off: the security status is lost.
    pub fn power_off(&mut self) {
        self.reset_state();
        self.powered = false;
    }

    /// Resets the card (warm reset): returns the ATR and clears the security status.
    pub fn reset(&mut self) -> Vec<u8> {
        self.power_on()
    }

    /// Whether the card is powered.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    /// Command APDUs answered since creation.
    pub fn apdu_count(&self) -> u64 {
        self.apdus
    }

    /// Tries left on a key reference, e.g. `("jpki", 0x0018)`; `None` if there is no such one.
    pub fn tries_left(&self, app: &str, pin_id: u16) -> Option<u8> {
        self.apps
            .iter()
            .find(|a| a.name == app)?
            .pins
            .iter()
            .find(|p| p.id == pin_id)
            .map(|p| p.remaining)
    }

    fn reset_state(&mut self) {
        self.current_app = None;
        self.current_ef = None;
        self.verified.clear();
        self.challenge = None;
    }

    /// Answers one command APDU: response data followed by SW1 SW2. An unpowered card answers
    /// `6F00` (a transport would not deliver the command at all).
    pub fn transmit(&mut self, command_apdu: &[u8]) -> Vec<u8> {
        self.apdus += 1;
        if !self.powered {
            return status(0x6F00);
        }
        let cmd = match apdu::parse(command_apdu) {
            Ok(c) => c,
            Err(_) => return status(sw::WRONG_LENGTH),
        };
        // Channel bits (b1-b2) and secure messaging bits (b3-b4) of an interindustry CLA.
        if cmd.cla & 0x80 == 0 || cmd.cla == 0x80 {
            if cmd.cla & 0x03 != 0 {
                return status(sw::CHANNEL_NOT_SUPPORTED);
            }
            if cmd.cla & 0x0C != 0 {
                return status(sw::SM_NOT_SUPPORTED);
            }
        }
        if cmd.cla & 0xF0 != 0 && cmd.cla != 0x80 {
            return status(sw::CLA_NOT_SUPPORTED);
        }
        let proprietary = cmd.cla == 0x80;
        match (proprietary, cmd.ins) {
            (false, 0xA4) => self.select(&cmd),
            (false, 0xB0) => self.read_binary(&cmd),
            (false, 0x20) => self.verify(&cmd),
            (false, 0x24) => self.change_reference_data(&cmd),
            (false, 0x84) => self.get_challenge(&cmd),
            (false, 0x88) => self.internal_authenticate(&cmd),
            (false, 0xC0) => status(sw::CONDITIONS_NOT_SATISFIED),
            (true, 0x2A) => self.compute_signature(&cmd),
            (true, 0xAE) => self.set_session_key(),
            (true, 0xA4 | 0xB0 | 0x20 | 0x24 | 0x84 | 0x88 | 0xC0) | (false, 0x2A | 0xAE) => {
                status(sw::CLA_NOT_SUPPORTED)
            }
            _ => status(sw::INS_NOT_SUPPORTED),
        }
    }

    fn app(&self) -> Option<&App> {
        self.current_app.and_then(|i| self.apps.get(i))
    }

    fn select(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.extended {
            return status(sw::WRONG_LENGTH);
        }
        match cmd.p1 {
            0x04 => {
                if !matches!(cmd.p2, 0x0C | 0x00) {
                    return status(sw::WRONG_P1P2);
                }
                if cmd.data.is_empty() || cmd.data.len() > 16 {
                    return status(sw::WRONG_LENGTH);
                }
                if cmd.data == AID_ISD {
                    self.reset_state();
                    return status(sw::OK);
                }
                match self.apps.iter().position(|a| a.aid == cmd.data) {
                    Some(i) => {
                        if self.current_app != Some(i) {
                            // Leaving a DF clears its security status (JICSAP 5.1.3).
                            self.verified.clear();
                        }
                        self.current_app = Some(i);
                        self.current_ef = None;
                        self.challenge = None;
                        status(sw::OK)
                    }
                    None => status(sw::FILE_NOT_FOUND),
                }
            }
            0x02 => {
                if !matches!(cmd.p2, 0x0C | 0x00) {
                    return status(sw::WRONG_P1P2);
                }
                if cmd.data.len() != 2 {
                    return status(sw::WRONG_LENGTH);
                }
                let id = u16::from_be_bytes([cmd.data[0], cmd.data[1]]);
                match self.app() {
                    Some(app) if app.ef(id).is_some() => {
                        self.current_ef = Some(id);
                        status(sw::OK)
                    }
                    _ => status(sw::FILE_NOT_FOUND),
                }
            }
            // Select MF: refused after a reset, ignored once an AP is current (as observed).
            0x00 => {
                if self.current_app.is_some() {
                    status(sw::OK)
                } else {
                    status(sw::WRONG_P1P2)
                }
            }
            _ => status(sw::WRONG_P1P2),
        }
    }

    fn allowed(&self, app: usize, access: &Access) -> bool {
        match access {
            Access::Free => true,
            Access::AnyOf(ids) => ids.iter().any(|id| self.verified.contains(&(app, *id))),
        }
    }

    fn read_binary(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if !cmd.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        let Some(le) = cmd.le else {
            return status(sw::WRONG_LENGTH);
        };
        let Some(app_index) = self.current_app else {
            return status(sw::NO_CURRENT_EF);
        };
        let (id, offset) = if cmd.p1 & 0x80 != 0 {
            if cmd.p1 & 0x60 != 0 {
                return status(sw::WRONG_P1P2);
            }
            let sfi = u16::from(cmd.p1 & 0x1F);
            if sfi == 0 {
                return status(sw::WRONG_P1P2);
            }
            (sfi, usize::from(cmd.p2))
        } else {
            let Some(id) = self.current_ef else {
                return status(sw::NO_CURRENT_EF);
            };
            (id, usize::from(u16::from_be_bytes([cmd.p1, cmd.p2])))
        };
        let app = &self.apps[app_index];
        let Some(ef) = app.ef(id) else {
            return status(sw::FILE_NOT_FOUND);
        };
        let EfKind::Binary { data, read } = &ef.kind else {
            return status(sw::INCOMPATIBLE_FILE);
        };
        if !self.allowed(app_index, read) {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        if offset >= data.len() {
            return status(sw::OFFSET_BEYOND_EOF);
        }
        let end = data.len().min(offset.saturating_add(le));
        let chunk = data[offset..end].to_vec();
        self.current_ef = Some(id);
        respond(chunk, sw::OK)
    }

    /// The key reference a VERIFY/CHANGE names: P2 = 80 (current EF) or 80|SFI.
    fn pin_index(&mut self, p2: u8) -> Result<(usize, usize), u16> {
        let app_index = self.current_app.ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        let id = match p2 {
            0x80 => self.current_ef.ok_or(sw::REFERENCED_DATA_NOT_FOUND)?,
            0x81..=0x9E => u16::from(p2 & 0x1F),
            _ => return Err(sw::WRONG_P1P2),
        };
        let app = &self.apps[app_index];
        match app.ef(id).map(|e| &e.kind) {
            Some(EfKind::Pin(i)) => {
                let i = *i;
                self.current_ef = Some(id);
                Ok((app_index, i))
            }
            _ => Err(sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn verify(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x00 {
            return status(sw::WRONG_P1P2);
        }
        if cmd.le.is_some() {
            return status(sw::WRONG_LENGTH);
        }
        let (a, i) = match self.pin_index(cmd.p2) {
            Ok(x) => x,
            Err(s) => return status(s),
        };
        let pin = &mut self.apps[a].pins[i];
        let pin_id = pin.id;
        if cmd.data.is_empty() {
            // Retry counter query: never spends a try.
            return status(sw::tries_left(pin.remaining));
        }
        if pin.remaining == 0 {
            return status(sw::BLOCKED);
        }
        let ok = !pin.secret.is_empty() && constant_time_eq(&pin.secret, cmd.data);
        if ok {
            pin.remaining = pin.max;
            self.verified.insert((a, pin_id));
            self.save_counters();
            status(sw::OK)
        } else {
            pin.remaining -= 1;
            let left = pin.remaining;
            self.verified.remove(&(a, pin_id));
            self.save_counters();
            status(sw::tries_left(left))
        }
    }

    fn change_reference_data(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x01 {
            return status(sw::WRONG_P1P2);
        }
        if cmd.data.is_empty() || cmd.data.len() > 16 {
            return status(sw::WRONG_LENGTH);
        }
        let (a, i) = match self.pin_index(cmd.p2) {
            Ok(x) => x,
            Err(s) => return status(s),
        };
        let id = self.apps[a].pins[i].id;
        if !self.verified.contains(&(a, id)) {
            return status(sw::SECURITY_NOT_SATISFIED);
        }
        self.apps[a].pins[i].secret = zeroize::Zeroizing::new(cmd.data.to_vec());
        status(sw::OK)
    }

    fn get_challenge(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0 || cmd.p2 != 0 || !cmd.data.is_empty() {
            return status(sw::WRONG_P1P2);
        }
        if cmd.extended {
            return status(sw::CONDITIONS_NOT_SATISFIED);
        }
        let le = match cmd.le {
            Some(n @ 1..=16) => n,
            Some(_) => return status(sw::correct_le(16)),
            None => return status(sw::WRONG_LENGTH),
        };
        let mut challenge = vec![0u8; le];
        OsRng.fill_bytes(&mut challenge);
        self.challenge = Some(challenge.clone());
        respond(challenge, sw::OK)
    }

    /// The private key named by P2 (80 = current EF, 80|SFI, 00 = the AP's own key) if the
    /// security status allows its use.
    fn signing_key(&mut self, p2: u8) -> Result<std::sync::Arc<rsa::RsaPrivateKey>, u16> {
        let a = self.current_app.ok_or(sw::REFERENCED_DATA_NOT_FOUND)?;
        let id = match p2 {
            0x00 => {
                return self.apps[a]
                    .default_key
                    .clone()
                    .ok_or(sw::REFERENCED_DATA_NOT_FOUND);
            }
            0x80 => self.current_ef.ok_or(sw::REFERENCED_DATA_NOT_FOUND)?,
            0x81..=0x9E => u16::from(p2 & 0x1F),
            _ => return Err(sw::WRONG_P1P2),
        };
        match self.apps[a].ef(id).map(|e| &e.kind) {
            Some(EfKind::Key { key, needs }) => {
                if let Some(pin) = needs
                    && !self.verified.contains(&(a, *pin))
                {
                    return Err(sw::SECURITY_NOT_SATISFIED);
                }
                Ok(key.clone())
            }
            Some(_) => Err(sw::INCOMPATIBLE_FILE),
            None => Err(sw::REFERENCED_DATA_NOT_FOUND),
        }
    }

    fn compute_signature(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 > 0x05 {
            return status(sw::WRONG_P1P2);
        }
        if cmd.data.is_empty() {
            return status(sw::WRONG_LENGTH);
        }
        if let Some(le) = cmd.le
            && le < 256
        {
            return status(sw::correct_le(0));
        }
        let key = match self.signing_key(cmd.p2) {
            Ok(k) => k,
            Err(s) => return status(s),
        };
        let data = cmd.data;
        let result = match cmd.p1 {
            0x00 => {
                if data.len() > 245 {
                    return status(sw::CONDITIONS_NOT_SATISFIED);
                }
                files::sign_raw(&key, data)
            }
            0x01 => files::sign_raw(&key, &Sha256::digest(data)),
            0x02 => {
                if data.len() != 32 {
                    return status(sw::WRONG_LENGTH);
                }
                let mut di = SHA256_PREFIX.to_vec();
                di.extend_from_slice(data);
                files::sign_raw(&key, &di)
            }
            0x03 => files::sign_sha256(&key, data),
            0x04 | 0x05 => {
                let digest: Vec<u8> = if cmd.p1 == 0x04 {
                    if data.len() != 32 {
                        return status(sw::WRONG_LENGTH);
                    }
                    data.to_vec()
                } else {
                    Sha256::digest(data).to_vec()
                };
                pss_prehashed(&key, &digest)
            }
            _ => return status(sw::WRONG_P1P2),
        };
        match result {
            Ok(sig) => {
                self.challenge = None;
                respond(sig, sw::OK)
            }
            Err(_) => status(sw::CONDITIONS_NOT_SATISFIED),
        }
    }

    fn internal_authenticate(&mut self, cmd: &Command<'_>) -> Vec<u8> {
        if cmd.p1 != 0x00 {
            return status(sw::WRONG_P1P2);
        }
        if cmd.data.is_empty() || cmd.data.len() > 245 {
            return status(sw::WRONG_LENGTH);
        }
        match self.signing_key(cmd.p2) {
            Ok(key) => match files::sign_raw(&key, cmd.data) {
                Ok(sig) => respond(sig, sw::OK),
                Err(_) => status(sw::CONDITIONS_NOT_SATISFIED),
            },
            Err(s) => status(s),
        }
    }

    fn set_session_key(&mut self) -> Vec<u8> {
        match self.app() {
            Some(app) => status(app.sm_answer),
            None => status(sw::NO_SM_KEY),
        }
    }

    fn counters(&self) -> BTreeMap<String, u8> {
        let mut out = BTreeMap::new();
        for app in &self.apps {
            for pin in &app.pins {
                out.insert(format!("{}/{:04X}", app.name, pin.id), pin.remaining);
            }
        }
        out
    }

    fn load_counters(&mut self) -> Result<(), Error> {
        let Some(path) = &self.state_file else {
            return Ok(());
        };
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(Error::State {
                    path: path.clone(),
                    reason: e.to_string(),
                });
            }
        };
        let saved: BTreeMap<String, u8> =
            serde_json::from_str(&text).map_err(|e| Error::State {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        for app in &mut self.apps {
            for pin in &mut app.pins {
                if let Some(n) = saved.get(&format!("{}/{:04X}", app.name, pin.id)) {
                    pin.remaining = (*n).min(pin.max);
                }
            }
        }
        Ok(())
    }

    fn save_counters(&self) {
        let Some(path) = &self.state_file else {
            return;
        };
        let tmp = path.with_extension("json.tmp");
        let json = match serde_json::to_string_pretty(&self.counters()) {
            Ok(j) => j,
            Err(_) => return,
        };
        let result = std::fs::write(&tmp, json).and_then(|()| std::fs::rename(&tmp, path));
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not save the retry counters");
        }
    }
}

fn pss_prehashed(key: &rsa::RsaPrivateKey, digest: &[u8]) -> Result<Vec<u8>, Error> {
    // RSASSA-PSS with SHA-256 and MGF1-SHA-256, salt length 32, over a given hash.
    use rsa::signature::hazmat::RandomizedPrehashSigner;
    let signer = BlindedSigningKey::<Sha256>::new(key.clone());
    let sig = signer
        .sign_prehash_with_rng(&mut OsRng, digest)
        .map_err(|e| Error::Fixture(format!("PSS: {e}")))?;
    Ok(sig.to_vec())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
