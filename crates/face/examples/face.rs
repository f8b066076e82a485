//! The `face` subcommands without the app: `cargo run -p madoguchi-face --example face --
//! compare A B` behaves as `madoguchi face compare A B`.

use clap::Parser;

#[derive(Parser)]
struct Args {
    #[command(subcommand)]
    cmd: madoguchi_face::cli::FaceCommand,
}

fn main() -> std::process::ExitCode {
    madoguchi_face::cli::run(Args::parse().cmd)
}
