//! Test harness: a private `pcscd` with the vpcd driver on loopback, and a virtual card served
//! to it, for integration tests of any crate (`madoguchi-virtual-card` as a dev-dependency).
//!
//! ```no_run
//! use madoguchi_virtual_card::{VirtualCard, harness::Pcscd, profile};
//! let mut pcscd = Pcscd::start()?;                 // pcscd -f on a private reader.conf.d
//! let card = VirtualCard::new(&profile("hopper").unwrap(), None)?;
//! let server = pcscd.insert(card)?;                // connected and seen by pcscd
//! // … talk PC/SC to the reader named pcscd.reader() …
//! server.remove_after(5);                          // card leaves after 5 more APDUs
//! # Ok::<(), madoguchi_virtual_card::Error>(())
//! ```
//!
//! What it does, and the timings to expect on a 2-core test machine:
//! - [`Pcscd::start`] first takes a machine-wide lock (`$TMPDIR/madoguchi-pcscd.lock`, a
//!   directory with the owner's PID; a dead owner's lock is taken over), waiting up to 10 min
//!   for another test process (another crate's tests, another checkout) to finish; then waits
//!   up to 10 min more for a pcscd started by another harness (an older one without the
//!   lock) to go. It refuses at once to run beside
//!   a pcscd it did not start (only one pcscd can own `/run/pcscd`; on a systemd host stop
//!   `pcscd.socket` and `pcscd.service` first), and
//!   fails with a message naming the Debian packages when `pcscd` or the vpcd driver is
//!   missing. It writes a reader.conf.d with one vpcd reader on TCP port 35963 (override with
//!   `MADOGUCHI_VPCD_PORT`), starts `pcscd -f -c DIR` (never `-a`: APDUs carry PINs), and
//!   waits until the port is listening (read from `/proc/net/tcp`, without connecting, because
//!   a connection *is* a card): typically 0.1–0.5 s, at most 10 s.
//! - The reader appears in PC/SC as **`Virtual PCD 00 00`** ([`Pcscd::reader`]).
//! - vpcd listens on all interfaces (its driver offers no bind address); the card connects to
//!   127.0.0.1 only.
//! - [`Pcscd::insert`] serves a [`VirtualCard`] from a thread ([`crate::vpcd::Server`]) and waits
//!   until pcscd has powered it (first vpcd frame): usually within 0.5–1 s, at most 10 s.
//!   Removal ([`crate::vpcd::Server::remove`], `remove_after(n)`) closes the connection; PC/SC
//!   reports the card absent within about 1 s. Until pcscd's presence poll notices, the APDU
//!   right after a removal comes back from vpcd as **0 bytes (no status word)** or fails with
//!   `SCARD_F_COMM_ERROR`/`pcsc::Error::NotTransacted`; after that, `SCARD_W_REMOVED_CARD`.
//!   Reader code must treat all three as "card removed".
//! - Dropping [`Pcscd`] stops the card, then stops pcscd by its PID (SIGTERM, then SIGKILL after
//!   3 s) and waits for it; pcscd removes `/run/pcscd` itself in 1–2 s.
//!
//! Tests that use it must run one at a time: put them in the nextest test group `pcscd`
//! (`.config/nextest.toml`). It does not talk PC/SC itself (that is the caller's business).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::vpcd::Server;
use crate::{Error, VirtualCard};

/// The reader name vpcd's first slot gets in PC/SC.
pub const READER_NAME: &str = "Virtual PCD 00 00";

/// Where Debian puts the vpcd driver.
const VPCD_DRIVER: &str = "/usr/lib/pcsc/drivers/serial/libifdvpcd.so";

/// A running private pcscd. Stopped on drop.
#[derive(Debug)]
pub struct Pcscd {
    child: Child,
    port: u16,
    dir: PathBuf,
    card: Option<Server>,
    // Declared last: released after pcscd has stopped (Drop of Pcscd runs first).
    _lock: Lock,
}

/// The machine-wide harness lock: a directory created atomically, holding the owner's PID.
/// A lock whose owner no longer runs is taken over.
#[derive(Debug)]
struct Lock {
    path: PathBuf,
}

impl Lock {
    fn acquire(timeout: Duration) -> Result<Self, Error> {
        let path = std::env::temp_dir().join("madoguchi-pcscd.lock");
        let me = std::process::id();
        let deadline = Instant::now() + timeout;
        loop {
            match std::fs::create_dir(&path) {
                Ok(()) => {
                    std::fs::write(path.join("pid"), me.to_string())
                        .map_err(|e| Error::Harness(format!("writing the lock: {e}")))?;
                    return Ok(Lock { path });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let owner = std::fs::read_to_string(path.join("pid"))
                        .ok()
                        .and_then(|s| s.trim().parse::<u32>().ok());
                    match owner {
                        Some(pid) if pid == me => {
                            return Err(Error::Harness(
                                "this process already runs a harness pcscd; only one pcscd can \
                                 run per machine"
                                    .into(),
                            ));
                        }
                        Some(pid) if Path::new(&format!("/proc/{pid}")).exists() => {}
                        // Owner gone (or the lock is half-written for too long): take it over.
                        _ => {
                            std::thread::sleep(Duration::from_millis(100));
                            let again = std::fs::read_to_string(path.join("pid")).ok();
                            if again.as_deref().and_then(|s| s.trim().parse::<u32>().ok()) == owner
                            {
                                let _ = std::fs::remove_dir_all(&path);
                            }
                            continue;
                        }
                    }
                    if Instant::now() > deadline {
                        return Err(Error::Harness(format!(
                            "another test process holds {} for more than {} s",
                            path.display(),
                            timeout.as_secs()
                        )));
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(e) => {
                    return Err(Error::Harness(format!("creating {}: {e}", path.display())));
                }
            }
        }
    }
}

impl Drop for Lock {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

fn cmdline(pid: u32) -> String {
    let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    String::from_utf8_lossy(&cmd)
        .replace('\0', " ")
        .trim()
        .to_owned()
}

/// Waits for pcscds started by other harness processes to stop; fails at once for a pcscd that
/// is not a harness's (a system one).
fn wait_for_other_harnesses(timeout: Duration) -> Result<(), Error> {
    let deadline = Instant::now() + timeout;
    loop {
        let others = running_pcscd();
        if others.is_empty() {
            return Ok(());
        }
        let described: Vec<String> = others
            .iter()
            .map(|pid| format!("pid {pid}: {}", cmdline(*pid)))
            .collect();
        let all_harness = others
            .iter()
            .all(|pid| cmdline(*pid).contains("/madoguchi-pcscd-"));
        if !all_harness || Instant::now() > deadline {
            return Err(Error::Harness(format!(
                "another pcscd is running ({}); only one can run per machine. Stop it \
                 (systemd: `systemctl stop pcscd.socket pcscd.service`; a leftover of a killed \
                 test run shows `-c /tmp/madoguchi-pcscd-…`)",
                described.join("; ")
            )));
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// PIDs of running processes named `pcscd`.
pub fn running_pcscd() -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        if let Ok(comm) = std::fs::read_to_string(e.path().join("comm"))
            && comm.trim() == "pcscd"
        {
            // A zombie is not running.
            let state = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            let zombie = state
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'));
            if !zombie {
                out.push(pid);
            }
        }
    }
    out
}

fn find_pcscd() -> Option<PathBuf> {
    ["/usr/sbin/pcscd", "/usr/bin/pcscd", "/sbin/pcscd"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Whether something listens on TCP `port` (IPv4 or IPv6, any address), from /proc.
pub fn port_listening(port: u16) -> bool {
    let needle = format!(":{port:04X}");
    ["/proc/net/tcp", "/proc/net/tcp6"].iter().any(|f| {
        std::fs::read_to_string(f).is_ok_and(|text| {
            text.lines().skip(1).any(|line| {
                let cols: Vec<&str> = line.split_whitespace().collect();
                cols.len() > 3 && cols[1].ends_with(&needle) && cols[3] == "0A"
            })
        })
    })
}

impl Pcscd {
    /// Starts a private pcscd with one vpcd reader (see the module docs).
    pub fn start() -> Result<Self, Error> {
        let port = std::env::var("MADOGUCHI_VPCD_PORT")
            .ok()
            .and_then(|p| p.parse().ok())
            .unwrap_or(35963);
        Self::start_on(port)
    }

    /// Starts a private pcscd whose vpcd reader listens on `port`.
    pub fn start_on(port: u16) -> Result<Self, Error> {
        let pcscd = find_pcscd().ok_or_else(|| {
            Error::Harness("pcscd not found: install the Debian package `pcscd`".into())
        })?;
        if !Path::new(VPCD_DRIVER).exists() {
            return Err(Error::Harness(format!(
                "{VPCD_DRIVER} not found: install the Debian package `vsmartcard-vpcd`"
            )));
        }
        let lock = Lock::acquire(Duration::from_secs(600))?;
        wait_for_other_harnesses(Duration::from_secs(600))?;
        if Path::new("/run/systemd/system").exists() && Path::new("/run/pcscd/pcscd.comm").exists()
        {
            return Err(Error::Harness(
                "/run/pcscd/pcscd.comm exists on a systemd host: pcscd.socket is probably active; \
                 run `systemctl stop pcscd.socket pcscd.service` before these tests"
                    .into(),
            ));
        }
        if port_listening(port) {
            return Err(Error::Harness(format!(
                "TCP port {port} is already in use (another vpcd?); set MADOGUCHI_VPCD_PORT"
            )));
        }
        let dir =
            std::env::temp_dir().join(format!("madoguchi-pcscd-{}-{}", std::process::id(), port));
        let conf = dir.join("reader.conf.d");
        std::fs::create_dir_all(&conf)
            .map_err(|e| Error::Harness(format!("creating {}: {e}", conf.display())))?;
        std::fs::write(
            conf.join("vpcd"),
            format!(
                "FRIENDLYNAME \"Virtual PCD\"\nDEVICENAME   /dev/null:0x{port:04X}\n\
                 LIBPATH      {VPCD_DRIVER}\nCHANNELID    0x{port:04X}\n"
            ),
        )
        .map_err(|e| Error::Harness(format!("writing reader.conf.d: {e}")))?;
        let log = std::fs::File::create(dir.join("pcscd.log"))
            .map_err(|e| Error::Harness(format!("creating pcscd.log: {e}")))?;
        let log2 = log
            .try_clone()
            .map_err(|e| Error::Harness(format!("pcscd.log: {e}")))?;
        let child = Command::new(&pcscd)
            .arg("-f")
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| Error::Harness(format!("starting {}: {e}", pcscd.display())))?;
        let mut me = Pcscd {
            child,
            port,
            dir,
            card: None,
            _lock: lock,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !port_listening(port) {
            if let Ok(Some(status)) = me.child.try_wait() {
                let log = std::fs::read_to_string(me.dir.join("pcscd.log")).unwrap_or_default();
                return Err(Error::Harness(format!(
                    "pcscd exited ({status}) before vpcd listened: {}",
                    log.lines().rev().take(5).collect::<Vec<_>>().join(" | ")
                )));
            }
            if Instant::now() > deadline {
                return Err(Error::Harness(format!(
                    "vpcd did not listen on port {port} within 10 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(me)
    }

    /// The PC/SC reader name of the vpcd slot: [`READER_NAME`].
    pub fn reader(&self) -> &'static str {
        READER_NAME
    }

    /// pcscd's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The vpcd address the card connects to.
    pub fn vpcd_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    /// Serves `card` to this pcscd and waits until pcscd has powered it (card present). A card
    /// already inserted is removed first.
    pub fn insert(&mut self, card: VirtualCard) -> Result<&Server, Error> {
        if let Some(old) = self.card.take() {
            old.stop();
        }
        let server = Server::start(card, self.vpcd_addr(), true);
        if !server.wait_seen(Duration::from_secs(10)) {
            return Err(Error::Harness(format!(
                "pcscd did not power the virtual card within 10 s ({})",
                server
                    .last_error()
                    .unwrap_or_else(|| "no vpcd frame".into())
            )));
        }
        Ok(self.card.insert(server))
    }

    /// The card being served, if any.
    pub fn card(&self) -> Option<&Server> {
        self.card.as_ref()
    }

    /// Stops serving the card (it is removed).
    pub fn eject(&mut self) {
        if let Some(old) = self.card.take() {
            old.stop();
        }
    }

    /// pcscd's own log so far (info level, no APDUs), for test failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("pcscd.log")).unwrap_or_default()
    }

    fn stop(&mut self) {
        self.eject();
        let pid = self.child.id().to_string();
        let _ = Command::new("kill")
            .args(["-TERM", &pid])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => break,
                Ok(None) if Instant::now() > deadline => {
                    let _ = self.child.kill();
                    let _ = self.child.wait();
                    break;
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(50)),
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Drop for Pcscd {
    fn drop(&mut self) {
        self.stop();
    }
}
