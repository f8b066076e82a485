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
    run(Cli::parse().cmd)
}
