//! `madoguchi-virtual-card`: serve a virtual My Number card to pcscd through vpcd, or list the
//! profiles as JSON. The commands live in `madoguchi_virtual_card::cli`.

use std::process::ExitCode;

use clap::Parser;
use madoguchi_virtual_card::cli::{Cmd, run};

#[derive(Parser)]
#[command(name = "madoguchi-virtual-card", version, about)]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

fn main() -> ExitCode {
    // Connection events (insert/remove, APDU counts; never APDU bytes) on stderr; RUST_LOG
    // overrides the level.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    run(Cli::parse().cmd)
}
