//! The simulated devices the kiosk runs on with `--simulate`: today the virtual My Number card,
//! served to the real `pcscd` through the vpcd driver, so the kiosk reads it through exactly
//! the PC/SC path a real reader takes. The recorded camera arrives with the face work.
//!
//! What it does not do: start `pcscd` (the system service, or `installer/run-simulated.sh`,
//! does), or give the kiosk any shortcut around PC/SC.

use madoguchi_config::Config;
use madoguchi_virtual_card::{VirtualCard, profile, vpcd};

/// The running simulators; dropping it takes the virtual card out.
#[derive(Debug, Default)]
pub struct Simulators {
    /// Held for its lifetime: dropping it removes the card from the reader.
    _card: Option<vpcd::Server>,
}

/// Why a simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No such virtual card profile.
    #[error("unknown virtual card profile {0:?} (see `madoguchi-virtual-card profiles`)")]
    UnknownProfile(String),
    /// The virtual card failed to start.
    #[error("virtual card: {0}")]
    Card(#[from] madoguchi_virtual_card::Error),
}

impl Simulators {
    /// Starts the simulators `config` asks for (nothing unless `devices.simulate`).
    pub fn start(config: &Config) -> Result<Simulators, SimError> {
        if !config.devices.simulate {
            return Ok(Simulators::default());
        }
        let name = &config.devices.virtual_card_profile;
        let p = profile(name).ok_or_else(|| SimError::UnknownProfile(name.clone()))?;
        let state = config.data_dir().join("virtual-card");
        std::fs::create_dir_all(&state).map_err(|e| {
            madoguchi_virtual_card::Error::Harness(format!("{}: {e}", state.display()))
        })?;
        let card = VirtualCard::new(&p, Some(&state))?;
        let addr = config.devices.vpcd.socket_addr();
        tracing::info!(profile = %name, vpcd = %addr, "virtual card inserted into the vpcd reader");
        Ok(Simulators {
            _card: Some(vpcd::Server::start(card, addr, true)),
        })
    }
}
