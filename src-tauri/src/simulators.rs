//! The simulated devices the kiosk runs on with `--simulate`: the virtual My Number card,
//! served to the real `pcscd` through the vpcd driver (so the kiosk reads it through exactly
//! the PC/SC path a real reader takes), and the synthetic person in front of the simulated
//! camera. The simulator panel of the teller console drives them: choose the card profile,
//! insert and remove the card (also in the middle of a read), choose who stands in front of
//! the camera (any face image, a live person or a held-up photo), unplug the camera, and the
//! customer's phone, which holds the face credential last issued at this kiosk and shows it to
//! the camera when a QR is scanned (or is emptied).
//!
//! What it does not do: start `pcscd` (the system service, or `installer/run-simulated.sh`,
//! does), or give the kiosk any shortcut around PC/SC.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use madoguchi_config::Config;
use madoguchi_face::challenge_eval::Presenter;
use madoguchi_virtual_card::{Profile, VirtualCard, profile, profiles, vpcd};
use serde_json::{Value, json};

use crate::ports::credential::SimPhone;
use crate::ports::face::{CameraSetup, PresenterChoice};

/// Why a simulator could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such virtual card profile.
    #[error("unknown virtual card profile {0:?} (see `madoguchi-virtual-card profiles`)")]
    UnknownProfile(String),
    /// No such face image.
    #[error("unknown face {0:?}")]
    UnknownFace(String),
    /// The virtual card failed to start.
    #[error("virtual card: {0}")]
    Card(#[from] madoguchi_virtual_card::Error),
}

impl SimError {
    /// Stable code.
    pub fn code(&self) -> &'static str {
        match self {
            SimError::UnknownProfile(_) => "sim.unknown_profile",
            SimError::UnknownFace(_) => "sim.unknown_face",
            SimError::Card(_) => "sim.card",
        }
    }
}

struct CardSlot {
    profile: Profile,
    server: Option<vpcd::Server>,
    inserted: bool,
}

/// The running simulators; dropping them takes the virtual card out.
pub struct Simulators {
    card: Mutex<CardSlot>,
    state_dir: PathBuf,
    vpcd: std::net::SocketAddr,
    faces: Vec<(String, PathBuf)>,
    presenter: Arc<Mutex<PresenterChoice>>,
    plugged: Arc<AtomicBool>,
    clip: Option<PathBuf>,
    phone: SimPhone,
}

impl std::fmt::Debug for Simulators {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulators")
            .field("vpcd", &self.vpcd)
            .finish_non_exhaustive()
    }
}

fn image_files(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out: Vec<(String, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .filter_map(|p| Some((p.file_stem()?.to_str()?.to_owned(), p)))
        .collect();
    out.sort();
    out
}

impl Simulators {
    /// Starts the simulators `config` asks for (`None` unless `devices.simulate`) with the
    /// configured card profile inserted, or `card` when given (a profile file).
    pub fn start(config: &Config, card: Option<Profile>) -> Result<Option<Simulators>, SimError> {
        if !config.devices.simulate {
            return Ok(None);
        }
        let name = &config.devices.virtual_card_profile;
        let p = match card {
            Some(p) => p,
            None => profile(name).ok_or_else(|| SimError::UnknownProfile(name.clone()))?,
        };
        let state_dir = config.data_dir().join("virtual-card");
        std::fs::create_dir_all(&state_dir).map_err(|e| {
            madoguchi_virtual_card::Error::Harness(format!("{}: {e}", state_dir.display()))
        })?;
        let mut faces = Vec::new();
        if let Some(c) = crate::assets::find(crate::status::SIM_CUSTOMER) {
            faces.push(("customer".to_owned(), c));
        }
        if let Some(dir) = &config.devices.sim_faces_dir {
            faces.extend(image_files(dir));
        }
        let first = faces
            .first()
            .map(|f| f.1.clone())
            .unwrap_or_else(|| PathBuf::from(crate::status::SIM_CUSTOMER));
        let sims = Simulators {
            card: Mutex::new(CardSlot {
                profile: p.clone(),
                server: None,
                inserted: false,
            }),
            state_dir,
            vpcd: config.devices.vpcd.socket_addr(),
            faces,
            presenter: Arc::new(Mutex::new(PresenterChoice {
                photo: first,
                kind: Presenter::Customer,
            })),
            plugged: Arc::new(AtomicBool::new(true)),
            clip: config.devices.camera_clip.clone(),
            phone: Arc::new(Mutex::new(None)),
        };
        sims.insert(&p, None)?;
        Ok(Some(sims))
    }

    /// The simulated camera for the face service.
    pub fn camera(&self) -> CameraSetup {
        CameraSetup::Simulated {
            presenter: self.presenter.clone(),
            plugged: self.plugged.clone(),
            clip: self.clip.clone(),
            phone: self.phone.clone(),
        }
    }

    /// Empties the simulated phone (a customer without a credential).
    pub fn clear_phone(&self) {
        if let Ok(mut p) = self.phone.lock() {
            *p = None;
        }
    }

    /// Puts `text` on the simulated phone's screen (a credential from elsewhere, an old one,
    /// a forged one): the camera shows it as a QR when one is scanned.
    pub fn show_on_phone(&self, text: String) {
        if let Ok(mut p) = self.phone.lock() {
            *p = Some(zeroize::Zeroizing::new(text));
        }
    }

    /// Puts `p`'s card on the reader (taking off another card first); with `remove_after`,
    /// the card leaves the reader right after answering that many more APDUs (a customer who
    /// picks the card up in the middle of a read).
    pub fn insert(&self, p: &Profile, remove_after: Option<u64>) -> Result<(), SimError> {
        let mut slot = self
            .card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let same = slot.profile.name == p.name && slot.server.is_some();
        if !same {
            if let Some(s) = slot.server.take() {
                s.stop();
            }
            let card = VirtualCard::new(p, Some(&self.state_dir))?;
            slot.server = Some(vpcd::Server::start(card, self.vpcd, false));
            slot.profile = p.clone();
        }
        if let Some(s) = &slot.server {
            s.insert();
            if let Some(n) = remove_after {
                s.remove_after(n);
            }
        }
        slot.inserted = true;
        tracing::info!(profile = %p.name, vpcd = %self.vpcd, "virtual card inserted into the vpcd reader");
        Ok(())
    }

    /// Inserts the named profile's card.
    pub fn insert_named(&self, name: &str, remove_after: Option<u64>) -> Result<(), SimError> {
        let current = self.card_profile();
        let p = if current.name == name {
            current
        } else {
            profile(name).ok_or_else(|| SimError::UnknownProfile(name.to_owned()))?
        };
        self.insert(&p, remove_after)
    }

    /// Takes the card off the reader.
    pub fn remove(&self) {
        let mut slot = self
            .card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(s) = &slot.server {
            s.remove();
        }
        slot.inserted = false;
        tracing::info!("virtual card removed from the vpcd reader");
    }

    /// The profile of the card in the slot.
    pub fn card_profile(&self) -> Profile {
        self.card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .profile
            .clone()
    }

    /// Who stands in front of the camera.
    pub fn set_presenter(&self, face: &str, kind: Presenter) -> Result<(), SimError> {
        let photo = self
            .faces
            .iter()
            .find(|(n, _)| n == face)
            .map(|(_, p)| p.clone())
            .ok_or_else(|| SimError::UnknownFace(face.to_owned()))?;
        if let Ok(mut p) = self.presenter.lock() {
            *p = PresenterChoice { photo, kind };
        }
        Ok(())
    }

    /// Plugs the simulated camera in or out.
    pub fn set_camera(&self, plugged: bool) {
        self.plugged.store(plugged, Ordering::SeqCst);
        tracing::info!(plugged, "simulated camera");
    }

    /// The simulator panel's state (`sim-state`).
    pub fn state(&self) -> Value {
        let slot = self
            .card
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let presenter = self.presenter.lock().ok().map(|p| p.clone());
        let face = presenter
            .as_ref()
            .and_then(|p| self.faces.iter().find(|(_, f)| *f == p.photo))
            .map_or("customer", |(n, _)| n.as_str());
        json!({
            "profiles": profiles().iter().map(|p| json!({
                "name": p.name, "summary": p.summary, "variant": p.variant,
            })).collect::<Vec<_>>(),
            "card": { "inserted": slot.inserted, "profile": slot.profile.name },
            "faces": self.faces.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>(),
            "presenter": {
                "face": face,
                "kind": match presenter.map(|p| p.kind) {
                    Some(Presenter::HeldPhoto) => "held_photo",
                    _ => "customer",
                },
            },
            "camera": { "plugged": self.plugged.load(Ordering::SeqCst) },
            "phone": { "credential": self.phone.lock().is_ok_and(|p| p.is_some()) },
        })
    }
}

impl Drop for Simulators {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.card.lock()
            && let Some(s) = slot.server.take()
        {
            s.stop();
        }
    }
}
