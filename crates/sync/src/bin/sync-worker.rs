//! `sync-worker`: the kiosk side of the crash, outage and benchmark runs
//! ([`madoguchi_sync::stress`]): records events into a ledger file and drains them to a
//! loopback backend. The runs start it and kill it with SIGKILL; it holds no logic of its own.
//! Not shipped to kiosks.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, ValueEnum};
use madoguchi_ledger::{DataKey, Ledger};
use madoguchi_sync::stress::worker;

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Mode {
    /// Record and drain until killed.
    Crash,
    /// Drain until empty.
    Drain,
    /// Record with the backend down, then drain.
    Outage,
}

/// Arguments.
#[derive(Debug, Parser)]
struct Args {
    mode: Mode,
    #[arg(long)]
    db: PathBuf,
    #[arg(long)]
    key_file: PathBuf,
    #[arg(long)]
    url: String,
    #[arg(long)]
    token_file: PathBuf,
    #[arg(long, default_value_t = 20)]
    batch: usize,
    /// Events to record (outage) or most events ever (crash).
    #[arg(long, default_value_t = 100_000)]
    events: u64,
    /// Hard limit on the run, seconds.
    #[arg(long, default_value_t = 600)]
    max_secs: u64,
}

fn main() -> ExitCode {
    let a = Args::parse();
    let result = (|| {
        let ledger = Ledger::open(&a.db, DataKey::load(&a.key_file)?)?;
        let max = Duration::from_secs(a.max_secs);
        let client = worker::client(&a.url, &a.token_file, Duration::from_secs(10))?;
        match a.mode {
            Mode::Crash => worker::crash(&ledger, &client, a.batch, a.events, max),
            Mode::Drain => {
                let r = worker::drain_all(&ledger, &client, a.batch, max)?;
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
                if r.complete {
                    Ok(())
                } else {
                    Err(madoguchi_sync::SyncError::Protocol("not drained".into()))
                }
            }
            Mode::Outage => worker::outage(&ledger, &client, a.batch, a.events, max),
        }
    })();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sync-worker: {e}");
            ExitCode::FAILURE
        }
    }
}
