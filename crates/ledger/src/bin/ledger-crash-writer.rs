//! Test helper for the power-cut test: records procedures into a ledger as fast as it can
//! (one thread) while another thread drains the outbox (peek + ack), printing
//! `committed N` after each committed procedure, until it is killed.
//!
//! Usage: `ledger-crash-writer DB KEY_FILE`. Not part of the product: the crash test
//! (`tests/crash.rs`) starts it and kills it with SIGKILL at arbitrary points.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use madoguchi_ledger::{
    DataKey, Decision, EvidenceKind, Ledger, LedgerError, NewOutcome, Procedure, SessionEnd,
    TellerRole,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let [_, db, key_file] = args.as_slice() else {
        eprintln!("usage: ledger-crash-writer DB KEY_FILE");
        return ExitCode::from(2);
    };
    match run(PathBuf::from(db), PathBuf::from(key_file)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-crash-writer: {e}");
            ExitCode::from(1)
        }
    }
}

fn run(db: PathBuf, key_file: PathBuf) -> Result<(), LedgerError> {
    let key = DataKey::load(&key_file)?;
    let ledger = Arc::new(Ledger::open(&db, key)?);
    match ledger.register_teller("t-crash", TellerRole::Teller) {
        Ok(_) | Err(LedgerError::InvalidInput(_)) => {}
        Err(e) => return Err(e),
    }
    let drainer = {
        let l = Arc::clone(&ledger);
        std::thread::spawn(move || -> Result<(), LedgerError> {
            loop {
                let batch = l.outbox_peek(7)?;
                let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
                l.outbox_ack(&seqs)?;
                std::thread::yield_now();
            }
        })
    };
    let face: Vec<u8> = (0..2048u32).map(|i| (i * 7 % 256) as u8).collect();
    let scores = BTreeMap::from([("face_similarity".to_owned(), 0.9)]);
    let reasons = vec!["face.match".to_owned()];
    let mut out = std::io::stdout().lock();
    for n in 1u64.. {
        if drainer.is_finished() {
            return Err(LedgerError::InvalidInput("drainer thread stopped".into()));
        }
        let s = ledger.start_session(Procedure::IdentityVerification, "t-crash")?;
        ledger.store_evidence(&s.id, EvidenceKind::FaceImage, &face)?;
        ledger.record_outcome(&NewOutcome {
            session_id: &s.id,
            teller_id: "t-crash",
            decision: Decision::Accepted,
            scores: &scores,
            reasons: &reasons,
        })?;
        ledger.end_session(&s.id, SessionEnd::Completed)?;
        // A closed pipe means the test is gone: stop quietly.
        if writeln!(out, "committed {n}")
            .and_then(|()| out.flush())
            .is_err()
        {
            return Ok(());
        }
    }
    Ok(())
}
