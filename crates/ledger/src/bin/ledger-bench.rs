//! Benchmark: record-write rate into the ledger (events/s), with a reference run in the same
//! process: plain SQLite inserts of a same-sized row, one transaction each, same pragmas (WAL,
//! `synchronous=FULL`), so the ratio shows what the audit chain, sealing and the outbox cost
//! on top of SQLite's own commit.
//!
//! Usage: `cargo run --release -p madoguchi-ledger --bin ledger-bench -- [N] [DIR]`
//! (N events per case, default 2000; DIR for the scratch database, default the temp dir).
//! Not a test: prints figures only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use madoguchi_ledger::{
    DataKey, Decision, Durability, EvidenceKind, Ledger, LedgerError, NewOutcome, OpenOptions,
    Procedure, TellerRole,
};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let n: usize = match args.next().map(|a| a.parse()) {
        None => 2000,
        Some(Ok(n)) if n > 0 => n,
        Some(_) => {
            eprintln!("usage: ledger-bench [N>0] [DIR]");
            return ExitCode::from(2);
        }
    };
    let base = args
        .next()
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    let dir = base.join(format!("ledger-bench-{}", std::process::id()));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        eprintln!("ledger-bench: {}: {e}", dir.display());
        return ExitCode::from(2);
    }
    let r = run(n, &dir);
    let _ = std::fs::remove_dir_all(&dir);
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ledger-bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn rate(n: usize, t: Instant) -> f64 {
    n as f64 / t.elapsed().as_secs_f64()
}

fn reference(n: usize, db: &Path, sync: &str) -> Result<f64, LedgerError> {
    let mut c = rusqlite::Connection::open(db)?;
    c.pragma_update(None, "journal_mode", "WAL")?;
    c.pragma_update(None, "synchronous", sync)?;
    c.execute_batch("CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB, c INTEGER)")?;
    let blob = vec![7u8; 300];
    let t = Instant::now();
    for i in 0..n {
        let tx = c.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO t (a, b, c) VALUES (?1, ?2, ?3)",
            rusqlite::params![format!("row-{i}"), blob, i as i64],
        )?;
        tx.commit()?;
    }
    Ok(rate(n, t))
}

fn run(n: usize, dir: &Path) -> Result<(), LedgerError> {
    println!(
        "ledger-bench: N={n} events per case, WAL, dir={}",
        dir.display()
    );
    for (durability, sync) in [(Durability::Full, "FULL"), (Durability::Normal, "NORMAL")] {
        case(n, dir, durability, sync)?;
    }
    Ok(())
}

fn case(n: usize, dir: &Path, durability: Durability, sync: &str) -> Result<(), LedgerError> {
    let reference = reference(n, &dir.join(format!("reference-{sync}.sqlite")), sync)?;
    let opts = OpenOptions { durability };
    let l = Ledger::open_with(
        &dir.join(format!("ledger-{sync}.sqlite")),
        DataKey::generate()?,
        opts,
    )?;
    l.register_teller("t-bench", TellerRole::Teller)?;

    let t = Instant::now();
    for i in 0..n {
        l.append_event(
            "bench.event",
            &serde_json::json!({ "i": i, "pad": "x".repeat(200) }),
        )?;
    }
    let generic = rate(n, t);

    let batch: Vec<(&str, serde_json::Value)> = (0..100)
        .map(|i| {
            (
                "bench.event",
                serde_json::json!({ "i": i, "pad": "x".repeat(200) }),
            )
        })
        .collect();
    let t = Instant::now();
    let mut written = 0;
    while written < n {
        written += l.append_events(&batch)?.len();
    }
    let batched = rate(written, t);

    let session = l.start_session(Procedure::IdentityVerification, "t-bench")?;
    let scores = BTreeMap::from([
        ("face_similarity".to_owned(), 0.87),
        ("liveness".to_owned(), 0.99),
        ("quality".to_owned(), 0.7),
    ]);
    let reasons = vec!["face.match".to_owned()];
    let t = Instant::now();
    for _ in 0..n {
        l.record_outcome(&NewOutcome {
            session_id: &session.id,
            teller_id: "t-bench",
            decision: Decision::Accepted,
            scores: &scores,
            reasons: &reasons,
        })?;
    }
    let outcomes = rate(n, t);

    let face: Vec<u8> = (0..20 * 1024u32).map(|i| (i * 13 % 251) as u8).collect();
    let m = n.min(1000);
    let t = Instant::now();
    for _ in 0..m {
        l.store_evidence(&session.id, EvidenceKind::FaceImage, &face)?;
    }
    let evidence = rate(m, t);

    let backlog = l.outbox_backlog()? as usize;
    let t = Instant::now();
    loop {
        let batch = l.outbox_peek(500)?;
        if batch.is_empty() {
            break;
        }
        let seqs: Vec<i64> = batch.iter().map(|e| e.seq).collect();
        l.outbox_ack(&seqs)?;
    }
    let drain = rate(backlog, t);

    let t = Instant::now();
    let audit = l.verify_audit()?;
    let verify = rate(audit.entries as usize, t);

    println!("synchronous={sync}");
    println!("  reference: plain SQLite insert, 1 tx each    {reference:>10.0} rows/s");
    println!(
        "  append_event (audit + sealed outbox)         {generic:>10.0} events/s ({:.2}x reference)",
        generic / reference
    );
    println!(
        "  append_events, 100 per tx                    {batched:>10.0} events/s ({:.2}x reference)",
        batched / reference
    );
    println!(
        "  record_outcome (record + audit + outbox)     {outcomes:>10.0} events/s ({:.2}x reference)",
        outcomes / reference
    );
    println!(
        "  store_evidence, 20 KiB face image (M={m:<5})  {evidence:>10.0} events/s ({:.2}x reference)",
        evidence / reference
    );
    println!("  outbox drain, peek(500) + ack, {backlog:>6} events {drain:>8.0} events/s");
    println!(
        "  verify_audit, {:>6} entries                 {verify:>10.0} entries/s (intact: {})",
        audit.entries,
        audit.is_intact()
    );
    Ok(())
}
