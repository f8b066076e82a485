//! The card side of the `vsmartcard-vpcd` protocol: connects to vpcd (the pcscd driver) over
//! TCP and answers its frames with a [`VirtualCard`], from a thread.
//!
//! Wire protocol (`platform.md`): each frame is a 2-byte big-endian length then the payload. A
//! 1-byte payload is a control code — 0 power off, 1 power on, 2 reset, 4 get ATR (only 4 is
//! answered, with the framed ATR). A longer payload is a command APDU, answered with the framed
//! response APDU. Being connected is being inserted: [`Server::remove`] closes the connection
//! (pcscd sees the card leave) and powers the card off; [`Server::insert`] connects again.
//!
//! It logs connection events and APDU counts, never APDU bytes. It does not start pcscd (see
//! `harness`).

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::VirtualCard;

/// The default vpcd address (first reader, `Virtual PCD 00 00`).
pub const DEFAULT_ADDR: &str = "127.0.0.1:35963";

#[derive(Debug, Default)]
struct Ctl {
    inserted: bool,
    stop: bool,
    /// Remove when `answered` reaches this.
    remove_after: Option<u64>,
    /// APDUs answered over vpcd since the server started.
    answered: u64,
    /// Whether a TCP connection to vpcd is up.
    connected: bool,
    /// Frames received since the last insertion (pcscd talks to a card it has seen).
    frames_since_insert: u64,
    /// Last connection error, for diagnostics.
    last_error: Option<String>,
}

struct Shared {
    card: Mutex<VirtualCard>,
    ctl: Mutex<Ctl>,
    cv: Condvar,
}

impl Shared {
    fn ctl(&self) -> MutexGuard<'_, Ctl> {
        self.ctl.lock().unwrap_or_else(PoisonError::into_inner)
    }
    fn card(&self) -> MutexGuard<'_, VirtualCard> {
        self.card.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A virtual card served to vpcd from a background thread. Dropping it stops the thread and
/// removes the card.
pub struct Server {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
    addr: SocketAddr,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server").field("addr", &self.addr).finish()
    }
}

impl Server {
    /// Starts serving `card` to vpcd at `addr`; with `inserted`, connects right away.
    pub fn start(card: VirtualCard, addr: SocketAddr, inserted: bool) -> Self {
        let shared = Arc::new(Shared {
            card: Mutex::new(card),
            ctl: Mutex::new(Ctl {
                inserted,
                ..Ctl::default()
            }),
            cv: Condvar::new(),
        });
        let thread_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("vpcd-card".into())
            .spawn(move || run(&thread_shared, addr))
            .ok();
        Server {
            shared,
            thread,
            addr,
        }
    }

    /// Inserts the card (connects to vpcd).
    pub fn insert(&self) {
        let mut ctl = self.shared.ctl();
        ctl.inserted = true;
        ctl.remove_after = None;
        ctl.frames_since_insert = 0;
        self.shared.cv.notify_all();
    }

    /// Removes the card (closes the connection; the card loses power).
    pub fn remove(&self) {
        let mut ctl = self.shared.ctl();
        ctl.inserted = false;
        self.shared.cv.notify_all();
    }

    /// Removes the card right after it has answered `n` more APDUs.
    pub fn remove_after(&self, n: u64) {
        let mut ctl = self.shared.ctl();
        if n == 0 {
            ctl.inserted = false;
        } else {
            ctl.remove_after = Some(ctl.answered + n);
        }
        self.shared.cv.notify_all();
    }

    /// APDUs answered over vpcd so far.
    pub fn answered(&self) -> u64 {
        self.shared.ctl().answered
    }

    /// Whether the card is inserted (wanted) and connected to vpcd.
    pub fn is_connected(&self) -> bool {
        let ctl = self.shared.ctl();
        ctl.inserted && ctl.connected
    }

    /// Waits until pcscd has talked to the inserted card (vpcd sent its first frame, normally
    /// power-on/ATR within about a second of connecting). `false` on timeout.
    pub fn wait_seen(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |ctl| ctl.connected && ctl.frames_since_insert > 0)
    }

    /// Waits until the connection is closed after a removal. `false` on timeout.
    pub fn wait_disconnected(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |ctl| !ctl.connected)
    }

    /// Waits until `done` holds for the control state, or `timeout` passes (`false`).
    fn wait_until(&self, timeout: Duration, done: impl Fn(&Ctl) -> bool) -> bool {
        let deadline = Instant::now() + timeout;
        let mut ctl = self.shared.ctl();
        while !done(&ctl) {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            ctl = self
                .shared
                .cv
                .wait_timeout(ctl, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        true
    }

    /// The last connection error, if connecting to vpcd failed.
    pub fn last_error(&self) -> Option<String> {
        self.shared.ctl().last_error.clone()
    }

    /// Runs `f` on the card (e.g. to read its retry counters).
    pub fn with_card<R>(&self, f: impl FnOnce(&mut VirtualCard) -> R) -> R {
        f(&mut self.shared.card())
    }

    /// Stops serving: removes the card and joins the thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        {
            let mut ctl = self.shared.ctl();
            ctl.stop = true;
            ctl.inserted = false;
            self.shared.cv.notify_all();
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn run(shared: &Shared, addr: SocketAddr) {
    loop {
        // Wait to be inserted.
        {
            let mut ctl = shared.ctl();
            while !ctl.inserted && !ctl.stop {
                ctl = shared
                    .cv
                    .wait_timeout(ctl, Duration::from_millis(200))
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
            }
            if ctl.stop {
                return;
            }
        }
        match TcpStream::connect_timeout(&addr, Duration::from_secs(1)) {
            Ok(stream) => {
                {
                    let mut ctl = shared.ctl();
                    ctl.connected = true;
                    ctl.last_error = None;
                    shared.cv.notify_all();
                }
                tracing::info!(%addr, "virtual card inserted (connected to vpcd)");
                serve(shared, stream);
                shared.card().power_off();
                let mut ctl = shared.ctl();
                ctl.connected = false;
                shared.cv.notify_all();
                tracing::info!(%addr, answered = ctl.answered, "virtual card removed");
            }
            Err(e) => {
                let mut ctl = shared.ctl();
                ctl.last_error = Some(e.to_string());
                drop(ctl);
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

/// Acknowledges what vpcd sent at once. pcscd's vpcd driver writes each command as two
/// segments (length, then the APDU) with Nagle's algorithm on, so the second waits for the
/// ACK of the first — which Linux delays by up to 40 ms: measured, ~47 ms per APDU without
/// this. Quick-ack mode is not sticky, so it is set again after every read.
fn quick_ack(stream: &TcpStream) {
    #[cfg(target_os = "linux")]
    let _ = socket2::SockRef::from(stream).set_tcp_quickack(true);
    #[cfg(not(target_os = "linux"))]
    let _ = stream;
}

/// Serves one connection until removal, stop, or vpcd closing it.
fn serve(shared: &Shared, mut stream: TcpStream) {
    let _ = stream.set_read_timeout(Some(Duration::from_millis(50)));
    let _ = stream.set_nodelay(true);
    quick_ack(&stream);
    let mut buf: Vec<u8> = Vec::with_capacity(512);
    let mut chunk = [0u8; 4096];
    loop {
        {
            let ctl = shared.ctl();
            if ctl.stop || !ctl.inserted {
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
        match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                quick_ack(&stream);
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => continue,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(_) => return,
        }
        while buf.len() >= 2 {
            let len = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
            if buf.len() < 2 + len {
                break;
            }
            let payload: Vec<u8> = buf[2..2 + len].to_vec();
            buf.drain(..2 + len);
            let reply = handle(shared, &payload);
            if let Some(reply) = reply {
                let Ok(n) = u16::try_from(reply.len()) else {
                    return;
                };
                let mut frame = n.to_be_bytes().to_vec();
                frame.extend_from_slice(&reply);
                if stream.write_all(&frame).is_err() {
                    return;
                }
            }
            let mut ctl = shared.ctl();
            ctl.frames_since_insert += 1;
            shared.cv.notify_all();
            if ctl.remove_after.is_some_and(|n| ctl.answered >= n) {
                ctl.inserted = false;
                ctl.remove_after = None;
                drop(ctl);
                let _ = stream.shutdown(std::net::Shutdown::Both);
                return;
            }
        }
    }
}

fn handle(shared: &Shared, payload: &[u8]) -> Option<Vec<u8>> {
    let mut card = shared.card();
    match payload {
        [0] => {
            card.power_off();
            None
        }
        [1] => {
            card.power_on();
            None
        }
        [2] => {
            card.reset();
            None
        }
        [4] => Some(crate::ATR.to_vec()),
        [_] | [] => None,
        apdu => {
            let response = card.transmit(apdu);
            drop(card);
            shared.ctl().answered += 1;
            Some(response)
        }
    }
}
