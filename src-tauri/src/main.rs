//! `madoguchi`: the kiosk app and its command line in one binary.
//!
//! With no subcommand it opens the kiosk (teller console + customer display, Tauri). The
//! subcommands need no display: `config check`, `card`, `face`, `qr`, `ledger`, `sync`, and
//! `procedure identity` (the identity verification of the kiosk, run headless). This crate is glue: product logic lives in the library crates under `crates/`.

#![cfg_attr(not(test), windows_subsystem = "windows")]

mod assets;
mod backend;
mod cli;
mod commands;
mod counter;
mod desk;
mod dto;
mod kiosk;
mod ports;
mod procedure_cli;
mod runner;
mod screens;
mod simulators;
mod status;

fn main() -> std::process::ExitCode {
    cli::main()
}
