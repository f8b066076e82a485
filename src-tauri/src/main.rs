//! `madoguchi`: the kiosk app and its command line in one binary.
//!
//! With no subcommand it opens the kiosk (teller console + customer display, Tauri). The
//! subcommands need no display: `config check`, and later `card`, `face`, `qr`, `sync`,
//! `diag`. This crate is glue: product logic lives in the library crates under `crates/`.

#![cfg_attr(not(test), windows_subsystem = "windows")]

mod assets;
mod backend;
mod cli;
mod dto;
mod kiosk;
mod simulators;
mod status;

fn main() -> std::process::ExitCode {
    cli::main()
}
