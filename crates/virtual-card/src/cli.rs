//! The command line of `madoguchi-virtual-card`: `serve` a card to pcscd through vpcd, or list
//! the `profiles` (with their public test PINs) as JSON.
//!
//! `serve` reads simple commands on standard input while it runs: `remove`, `insert`,
//! `remove-after N`, `status`, `quit` (at end of input it keeps serving until killed, unless
//! `MADOGUCHI_VC_EXIT_ON_EOF=1`). It prints test PINs only in `profiles` (public test data of
//! fake cards) and never logs APDU data.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::{VirtualCard, profile, profiles, vpcd};

/// The subcommands (also usable from another binary's clap tree).
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve a card to vpcd (pcscd must be running with the vsmartcard-vpcd driver).
    #[allow(missing_docs)]
    Serve {
        /// Profile name (see `profiles`).
        #[arg(long)]
        profile: String,
        /// vpcd address.
        #[arg(long, default_value = vpcd::DEFAULT_ADDR)]
        vpcd: SocketAddr,
        /// Directory where retry counters persist between runs.
        #[arg(long)]
        state: Option<PathBuf>,
    },
    /// List the profiles.
    #[allow(missing_docs)]
    Profiles {
        /// Print every profile with identity and test credentials as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs one subcommand; JSON goes to stdout, messages to stderr.
pub fn run(cmd: Cmd) -> ExitCode {
    match cmd {
        Cmd::Profiles { json } => {
            let all = profiles();
            if json {
                match serde_json::to_string_pretty(&all) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("madoguchi-virtual-card: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            } else {
                for p in all {
                    println!("{:<14} {}", p.name, p.summary);
                }
            }
            ExitCode::SUCCESS
        }
        Cmd::Serve {
            profile: name,
            vpcd: addr,
            state,
        } => serve(&name, addr, state),
    }
}

fn serve(name: &str, addr: SocketAddr, state: Option<PathBuf>) -> ExitCode {
    let Some(p) = profile(name) else {
        eprintln!("madoguchi-virtual-card: no profile named `{name}` (see `profiles`)");
        return ExitCode::from(2);
    };
    let card = match VirtualCard::new(&p, state.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("madoguchi-virtual-card: {e}");
            return ExitCode::FAILURE;
        }
    };
    let server = vpcd::Server::start(card, addr, true);
    if server.wait_seen(Duration::from_secs(10)) {
        eprintln!(
            "serving profile `{name}` to vpcd at {addr}; commands: remove, insert, remove-after N, status, quit"
        );
    } else {
        eprintln!(
            "waiting for vpcd at {addr} ({}); is pcscd running with vsmartcard-vpcd?",
            server
                .last_error()
                .unwrap_or_else(|| "no answer yet".into())
        );
    }
    let stdin = std::io::stdin();
    for line in stdin.lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["remove"] => server.remove(),
            ["insert"] => server.insert(),
            ["remove-after", n] => match n.parse() {
                Ok(n) => server.remove_after(n),
                Err(_) => eprintln!("remove-after needs a number"),
            },
            ["status"] => eprintln!(
                "connected: {}, APDUs answered: {}",
                server.is_connected(),
                server.answered()
            ),
            ["quit"] | ["exit"] => {
                server.stop();
                return ExitCode::SUCCESS;
            }
            [] => {}
            _ => eprintln!("unknown command; use remove, insert, remove-after N, status, quit"),
        }
    }
    // End of input: keep serving until killed when stdin is not interactive.
    if !matches!(
        std::env::var("MADOGUCHI_VC_EXIT_ON_EOF").as_deref(),
        Ok("1")
    ) {
        loop {
            std::thread::sleep(Duration::from_secs(3600));
        }
    }
    server.stop();
    ExitCode::SUCCESS
}
