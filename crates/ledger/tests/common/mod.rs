//! Helpers shared by the ledger's integration tests.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::Path;

use madoguchi_ledger::{DataKey, Decision, Ledger, NewOutcome, Procedure, TellerRole};

pub fn key() -> DataKey {
    DataKey::from_bytes([0x42; 32])
}

/// Registers `teller` (if new), starts a session and records an accepted outcome.
/// Returns (session id, outcome id).
pub fn one_procedure(l: &Ledger, teller: &str) -> (String, String) {
    match l.register_teller(teller, TellerRole::Teller) {
        Ok(_) | Err(madoguchi_ledger::LedgerError::InvalidInput(_)) => {}
        Err(e) => panic!("register teller: {e}"),
    }
    let s = l
        .start_session(Procedure::IdentityVerification, teller)
        .expect("session");
    let mut scores = BTreeMap::new();
    scores.insert("face_similarity".to_owned(), 0.87);
    scores.insert("liveness".to_owned(), 0.99);
    let reasons = vec!["face.match".to_owned()];
    let o = l
        .record_outcome(&NewOutcome {
            session_id: &s.id,
            teller_id: teller,
            decision: Decision::Accepted,
            scores: &scores,
            reasons: &reasons,
        })
        .expect("outcome");
    (s.id, o.id)
}

/// Does `hay` contain `needle` anywhere (a raw scan of a database file)?
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The bytes of the database file at `p` and of its write-ahead log, if any.
pub fn files(p: &Path) -> Vec<u8> {
    let mut all = std::fs::read(p).expect("db");
    let mut wal = p.as_os_str().to_owned();
    wal.push("-wal");
    if let Ok(w) = std::fs::read(&wal) {
        all.extend(w);
    }
    all
}
