//! The command line of `madoguchi-virtual-card`: `serve` a card to pcscd through vpcd (a
//! compiled-in `--profile NAME` or a `--profile-file PERSON.toml`), list the `profiles` (with
//! their public test PINs) as JSON, or `check-profile PERSON.toml`: load a profile file and
//! print its profile as `profiles --json` prints one (for technicians writing such files).
//!
//! `serve` reads simple commands on standard input while it runs: `remove`, `insert`,
//! `remove-after N`, `status`, `quit` (at end of input it keeps serving until killed, unless
//! `MADOGUCHI_VC_EXIT_ON_EOF=1`). It prints test PINs only in `profiles` (public test data of
//! fake cards) and never logs APDU data.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Subcommand;

use crate::{Profile, VirtualCard, profile, profile_from_file, profiles, vpcd};

/// The subcommands (also usable from another binary's clap tree).
#[derive(Debug, Subcommand)]
pub enum Cmd {
    /// Serve a card to vpcd (pcscd must be running with the vsmartcard-vpcd driver).
    #[allow(missing_docs)]
    Serve {
        /// Profile name (see `profiles`).
        #[arg(
            long,
            required_unless_present = "profile_file",
            conflicts_with = "profile_file"
        )]
        profile: Option<String>,
        /// A profile file describing any fake person (see
        /// `crates/virtual-card/examples/person.toml`); its keys, certificates and images are
        /// made when it is loaded.
        #[arg(long, value_name = "PERSON.toml")]
        profile_file: Option<PathBuf>,
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
    /// Load a profile file and print its profile (identity, test credentials) as JSON.
    #[allow(missing_docs)]
    CheckProfile {
        /// The profile file.
        #[arg(value_name = "PERSON.toml")]
        file: PathBuf,
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
        Cmd::CheckProfile { file } => match load_file(&file) {
            Ok(p) => match serde_json::to_string_pretty(&p) {
                Ok(s) => {
                    println!("{s}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("madoguchi-virtual-card: {e}");
                    ExitCode::FAILURE
                }
            },
            Err(code) => code,
        },
        Cmd::Serve {
            profile: name,
            profile_file,
            vpcd: addr,
            state,
        } => {
            let p = match (name, profile_file) {
                (_, Some(file)) => load_file(&file),
                (Some(name), None) => profile(&name).ok_or_else(|| {
                    eprintln!("madoguchi-virtual-card: no profile named `{name}` (see `profiles`)");
                    ExitCode::from(2)
                }),
                (None, None) => {
                    eprintln!("madoguchi-virtual-card: give --profile NAME or --profile-file FILE");
                    Err(ExitCode::from(2))
                }
            };
            match p {
                Ok(p) => serve(&p, addr, state),
                Err(code) => code,
            }
        }
    }
}

/// Loads a profile file, printing the error (which names the key, never its value).
fn load_file(file: &Path) -> Result<Profile, ExitCode> {
    profile_from_file(file).map_err(|e| {
        eprintln!("madoguchi-virtual-card: {e}");
        ExitCode::from(2)
    })
}

fn serve(p: &Profile, addr: SocketAddr, state: Option<PathBuf>) -> ExitCode {
    let name = &p.name;
    let card = match VirtualCard::new(p, state.as_deref()) {
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
