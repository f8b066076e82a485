//! The `madoguchi-central` binary: parses the command line and runs [`madoguchi_central::cli`].
//! It holds no logic of its own.

use clap::Parser;

fn main() -> std::process::ExitCode {
    madoguchi_central::cli::run(madoguchi_central::cli::Cli::parse())
}
