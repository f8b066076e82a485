//! The procedure runner: one thread ("procedures") that owns the counter and its ports (the
//! card session, the face service, the ledger sink, the screens), takes inputs from a channel
//! — teller and customer commands, card insert/remove from the reader watcher, face events —
//! feeds them to the [`Counter`] one at a time and ticks it every 250 ms so that every step's
//! deadline is kept. Commands wait for the counter's answer (taken or refused).
//!
//! The reader watcher ([`spawn_card_watcher`]) is a second thread that turns PC/SC
//! status changes of the configured reader into card inputs.
//!
//! What it does not do: hold product logic (the flow does) or block the UI thread (commands
//! wait on a channel, with a time limit).

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crossbeam_channel::{Receiver, Sender, bounded, unbounded};
use madoguchi_flow::ports::{
    BackendPort, CardPort, Clock, Coin, CredentialPort, FacePort, Millis, Ports, RecordSink,
};
use madoguchi_flow::{Counter, Input, Refusal, Screens, Settings};

use crate::ports::card::ReaderChoice;

/// How often the counter is ticked.
pub const TICK: Duration = Duration::from_millis(250);

/// A message for the runner.
pub enum RunnerMsg {
    /// An input, with where to send the counter's answer.
    Input(Input, Option<Sender<Result<(), Refusal>>>),
    /// Run a closure on the counter (read-only questions, e.g. for tests and the headless
    /// runner).
    Inspect(Box<dyn FnOnce(&Counter) + Send>),
}

/// The runner's inbox.
#[derive(Clone)]
pub struct RunnerHandle {
    tx: Sender<RunnerMsg>,
}

impl std::fmt::Debug for RunnerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunnerHandle").finish_non_exhaustive()
    }
}

impl RunnerHandle {
    /// Sends an input and waits for the counter's answer (a card read can take seconds).
    pub fn send(&self, input: Input) -> Result<(), Refusal> {
        let (tx, rx) = bounded(1);
        self.tx
            .send(RunnerMsg::Input(input, Some(tx)))
            .map_err(|_| Refusal("runner.stopped"))?;
        rx.recv_timeout(Duration::from_secs(30))
            .map_err(|_| Refusal("runner.busy"))?
    }

    /// Sends an input without waiting (device events).
    pub fn post(&self, input: Input) {
        let _ = self.tx.send(RunnerMsg::Input(input, None));
    }

    /// Runs `f` on the counter and returns its answer.
    pub fn inspect<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Counter) -> T + Send + 'static,
    ) -> Option<T> {
        let (tx, rx) = bounded(1);
        self.tx
            .send(RunnerMsg::Inspect(Box::new(move |c| {
                let _ = tx.send(f(c));
            })))
            .ok()?;
        rx.recv_timeout(Duration::from_secs(30)).ok()
    }
}

/// The system clock.
#[derive(Debug)]
pub struct SystemClock {
    start: Instant,
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Clock for SystemClock {
    fn now_ms(&self) -> Millis {
        self.start.elapsed().as_millis() as Millis
    }
    fn unix_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
    }
}

/// The operating system's random numbers.
#[derive(Debug, Default)]
pub struct OsCoin;

impl Coin for OsCoin {
    fn flip(&mut self) -> bool {
        let mut b = [0u8; 1];
        if getrandom::fill(&mut b).is_err() {
            // No entropy source: fall back on the clock's low bits (never a fixed answer).
            return SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .is_ok_and(|d| d.subsec_nanos() & 1 == 1);
        }
        b[0] & 1 == 1
    }
}

/// The ports the runner owns.
pub struct RunnerPorts {
    /// The card reader.
    pub card: Box<dyn CardPort + Send>,
    /// The face service.
    pub face: Box<dyn FacePort + Send>,
    /// The face credential.
    pub credentials: Box<dyn CredentialPort + Send>,
    /// The bank's backend.
    pub backend: Box<dyn BackendPort + Send>,
    /// The ledger.
    pub records: Box<dyn RecordSink + Send>,
    /// The windows (or the headless runner's output).
    pub screens: Box<dyn Screens + Send>,
}

impl RunnerPorts {
    /// The ports as the counter takes them, for one input.
    fn borrow<'a>(&'a mut self, clock: &'a dyn Clock, coin: &'a mut dyn Coin) -> Ports<'a> {
        Ports {
            card: self.card.as_mut(),
            face: self.face.as_mut(),
            credentials: self.credentials.as_mut(),
            backend: self.backend.as_mut(),
            records: self.records.as_mut(),
            screens: self.screens.as_mut(),
            clock,
            coin,
        }
    }
}

/// A channel for the runner's inbox, made before the runner so that the face service and the
/// card watcher can be given its sender.
pub fn inbox() -> (RunnerHandle, Receiver<RunnerMsg>) {
    let (tx, rx) = unbounded();
    (RunnerHandle { tx }, rx)
}

/// Starts the runner thread on `rx`.
pub fn spawn_runner(
    settings: Settings,
    mut ports: RunnerPorts,
    rx: Receiver<RunnerMsg>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("procedures".into())
        .spawn(move || {
            let clock = SystemClock::default();
            let mut coin = OsCoin;
            let mut counter = Counter::new(settings);
            let mut next_tick = Instant::now() + TICK;
            counter.republish(&mut ports.borrow(&clock, &mut coin));
            loop {
                let wait = next_tick.saturating_duration_since(Instant::now());
                let msg = match rx.recv_timeout(wait) {
                    Ok(m) => Some(m),
                    Err(crossbeam_channel::RecvTimeoutError::Timeout) => None,
                    Err(crossbeam_channel::RecvTimeoutError::Disconnected) => break,
                };
                let mut p = ports.borrow(&clock, &mut coin);
                match msg {
                    Some(RunnerMsg::Input(input, reply)) => {
                        let r = counter.handle(input, &mut p);
                        if let Some(reply) = reply {
                            let _ = reply.send(r);
                        }
                    }
                    Some(RunnerMsg::Inspect(f)) => f(&counter),
                    None => {}
                }
                if Instant::now() >= next_tick {
                    let _ = counter.handle(Input::Tick, &mut p);
                    next_tick = Instant::now() + TICK;
                }
            }
            // The app is closing: nothing personal outlives it.
            ports.face.stop();
            ports.card.release();
        })
}

/// Watches the configured reader and posts card inserts and removals to the runner.
pub fn spawn_card_watcher(
    reader: ReaderChoice,
    runner: RunnerHandle,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("card-watcher".into())
        .spawn(move || {
            loop {
                let mut watcher = match madoguchi_card::ReaderWatcher::new() {
                    Ok(w) => w,
                    Err(_) => {
                        std::thread::sleep(Duration::from_secs(2));
                        continue;
                    }
                };
                loop {
                    match watcher.wait(Duration::from_millis(500)) {
                        Ok(events) => {
                            for e in events {
                                match e {
                                    madoguchi_card::ReaderEvent::CardInserted(name)
                                        if name.contains(&reader.0) =>
                                    {
                                        runner.post(Input::CardInserted)
                                    }
                                    madoguchi_card::ReaderEvent::CardRemoved(name)
                                    | madoguchi_card::ReaderEvent::ReaderRemoved(name)
                                        if name.contains(&reader.0) =>
                                    {
                                        runner.post(Input::CardRemoved)
                                    }
                                    _ => {}
                                }
                            }
                        }
                        Err(_) => {
                            // pcscd went away: start over when it is back.
                            std::thread::sleep(Duration::from_secs(1));
                            break;
                        }
                    }
                }
            }
        })
}
