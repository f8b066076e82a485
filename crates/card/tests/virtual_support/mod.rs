//! Glue between the virtual card (`madoguchi-virtual-card`, written independently from the
//! protocol notes) and this crate's tests: a [`CardLink`] over its in-process transport, and
//! the simulation trust anchors built from its TEST roots and CV CA keys (in memory and as an
//! `anchors.json` directory, as the CLI loads them).
#![allow(dead_code, clippy::unwrap_used)]

use madoguchi_card::{CardLink, RootPurpose, TrustAnchors};
use madoguchi_virtual_card::transport::InProcess;
use madoguchi_virtual_card::{VirtualCard, profile};
use rsa::traits::PublicKeyParts;
use sha2::{Digest, Sha256};

/// The virtual card in process, as a kiosk link (exclusive; unpower = power off).
pub struct VirtualLink(pub InProcess);

impl VirtualLink {
    pub fn new(name: &str) -> Self {
        let p = profile(name).unwrap();
        VirtualLink(InProcess::new(VirtualCard::new(&p, None).unwrap()))
    }
}

impl myna_card::Transmit for VirtualLink {
    fn transmit(&mut self, command: &[u8]) -> myna_card::Result<Vec<u8>> {
        if !self.0.is_present() {
            return Err(myna_card::Error::Pcsc(pcsc::Error::RemovedCard));
        }
        match self.0.transmit(command) {
            Err(_) if !self.0.is_present() => Err(myna_card::Error::Pcsc(pcsc::Error::RemovedCard)),
            other => other,
        }
    }
}

impl CardLink for VirtualLink {
    fn is_exclusive(&self) -> bool {
        true
    }
    fn unpower(&mut self) -> madoguchi_card::Result<()> {
        self.0.card().power_off();
        Ok(())
    }
}

/// The virtual card's TEST anchors.
pub fn anchors() -> TrustAnchors {
    let (auth, sign) = madoguchi_virtual_card::test_jpki_roots().unwrap();
    let cv: Vec<_> = madoguchi_virtual_card::test_cv_ca_keys()
        .unwrap()
        .into_iter()
        .map(|(id, k)| {
            (
                madoguchi_virtual_card::files::key_id(id),
                k.e().to_bytes_be(),
                k.n().to_bytes_be(),
            )
        })
        .collect();
    TrustAnchors::simulation(
        &[
            (RootPurpose::Auth, auth.to_vec()),
            (RootPurpose::Sign, sign.to_vec()),
        ],
        &cv,
    )
    .unwrap()
}

/// The same anchors written as a directory with `anchors.json` (what `--test-anchors` loads).
pub fn anchors_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let (auth, sign) = madoguchi_virtual_card::test_jpki_roots().unwrap();
    std::fs::write(dir.path().join("root-auth.der"), auth).unwrap();
    std::fs::write(dir.path().join("root-sign.der"), sign).unwrap();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let cv: Vec<_> = madoguchi_virtual_card::test_cv_ca_keys()
        .unwrap()
        .into_iter()
        .map(|(id, k)| {
            serde_json::json!({
                "name": id,
                "key_id": hex(&madoguchi_virtual_card::files::key_id(id)),
                "exponent": hex(&k.e().to_bytes_be()),
                "modulus": hex(&k.n().to_bytes_be()),
            })
        })
        .collect();
    let manifest = serde_json::json!({
        "hierarchy": "test",
        "source": "madoguchi-virtual-card TEST hierarchy",
        "jpki_roots": [
            {"file": "root-auth.der", "purpose": "auth", "sha256": hex(&Sha256::digest(auth))},
            {"file": "root-sign.der", "purpose": "sign", "sha256": hex(&Sha256::digest(sign))},
        ],
        "cv_ca_keys": cv,
    });
    std::fs::write(dir.path().join("anchors.json"), manifest.to_string()).unwrap();
    dir
}
