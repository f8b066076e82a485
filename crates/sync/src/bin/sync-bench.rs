//! `sync-bench` (run it in release): throughput and the full-size stress runs.
//!
//! ```text
//! cargo run --release -p madoguchi-sync --bin sync-bench -- drain [--events 50000] [--batch 500]
//! cargo run --release -p madoguchi-sync --bin sync-bench -- crash [--kills 200] [--batch 5]
//! cargo run --release -p madoguchi-sync --bin sync-bench -- outage [--events 100000] [--batch 500]
//! ```
//! Prints one JSON object per run. The test suite runs small versions of `crash` and
//! `outage` (see `tests/stress.rs`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use madoguchi_sync::stress;

#[derive(Debug, Parser)]
struct Args {
    #[command(subcommand)]
    run: Run,
}

#[derive(Debug, Subcommand)]
enum Run {
    /// Record rate, drain rate to the loopback backend, and a direct-POST reference.
    Drain {
        #[arg(long, default_value_t = 50_000)]
        events: u64,
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
    /// SIGKILL the record+drain worker at random points, then audit the delivery.
    Crash {
        #[arg(long, default_value_t = 200)]
        kills: u32,
        #[arg(long, default_value_t = 5)]
        batch: usize,
    },
    /// Backend down while events accumulate, then up: drain all, peak RSS.
    Outage {
        #[arg(long, default_value_t = 100_000)]
        events: u64,
        #[arg(long, default_value_t = 500)]
        batch: usize,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let worker = match std::env::current_exe() {
        Ok(p) => p.with_file_name("sync-worker"),
        Err(e) => {
            eprintln!("sync-bench: {e}");
            return ExitCode::FAILURE;
        }
    };
    let out = match args.run {
        Run::Drain { events, batch } => {
            stress::drain_bench(events, batch).map(|r| serde_json::to_value(r).unwrap_or_default())
        }
        Run::Crash { kills, batch } => stress::crash_run(&worker, kills, batch).map(|r| {
            println!(
                "lost={} duplicated={} recorded={} stored={} kills={}",
                r.delivery.lost,
                r.delivery.duplicated,
                r.delivery.recorded,
                r.delivery.stored,
                r.kills
            );
            serde_json::to_value(r).unwrap_or_default()
        }),
        Run::Outage { events, batch } => stress::outage_run(&worker, events, batch).map(|r| {
            println!(
                "drained={} of {} peak_rss_kib={} baseline_rss_kib={}",
                r.delivery.stored, r.delivery.recorded, r.peak_rss_kib, r.baseline_rss_kib
            );
            serde_json::to_value(r).unwrap_or_default()
        }),
    };
    match out {
        Ok(v) => {
            println!("{v}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sync-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
