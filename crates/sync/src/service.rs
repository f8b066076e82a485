//! The continuous sync loop for a long-running process (the kiosk's sync thread, or
//! `madoguchi sync run`): drain the outbox, purge the confirmation records the backend has
//! acknowledged, pull trust data and the teller list every `pull_interval` (so a teller
//! disabled at the backend can no longer sign in here within one interval), check the clock,
//! rest `idle`, again, until the stop flag is set or the deadline passes. Exposes
//! [`status`] (backlog and last success) for the UI and diagnostics.
//!
//! What it does NOT do: start threads itself (the caller owns the thread and the stop flag),
//! or skip an event it cannot send (it reports and retries).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use madoguchi_ledger::Ledger;
use serde::Serialize;

use crate::drain::{DrainOptions, Outbox, drain};
use crate::pull::{TrustOptions, measure_skew, pull_all};
use crate::{Client, SyncError};

/// How the loop runs.
#[derive(Debug, Clone)]
pub struct LoopOptions {
    /// Drain settings (its `deadline` and `stop` end the loop too).
    pub drain: DrainOptions,
    /// Time between trust-data pulls (and clock checks).
    pub pull_interval: Duration,
    /// Rest between drains when the outbox is empty.
    pub idle: Duration,
    /// How pulled lists are checked.
    pub trust: TrustOptions,
}

impl Default for LoopOptions {
    fn default() -> Self {
        LoopOptions {
            drain: DrainOptions::default(),
            pull_interval: Duration::from_secs(300),
            idle: Duration::from_secs(2),
            trust: TrustOptions::default(),
        }
    }
}

/// Backlog and last success, for the UI and diagnostics.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyncStatus {
    /// Events not yet acknowledged by the backend.
    pub backlog: u64,
    /// Last accepted batch (Unix ms).
    pub last_success_ms: Option<i64>,
    /// Last attempt (Unix ms).
    pub last_attempt_ms: Option<i64>,
    /// Stable code of the last failure (`None` after a success).
    pub last_error_code: Option<String>,
}

/// The current status of the link, from the outbox.
pub fn status<O: Outbox + ?Sized>(outbox: &O) -> Result<SyncStatus, SyncError> {
    let s = outbox.state()?;
    Ok(SyncStatus {
        backlog: outbox.backlog()?,
        last_success_ms: s.last_success_ms,
        last_attempt_ms: s.last_attempt_ms,
        last_error_code: s.last_error_code,
    })
}

fn stopped(o: &DrainOptions) -> bool {
    o.deadline.is_some_and(|d| Instant::now() >= d)
        || o.stop.as_ref().is_some_and(|s| s.load(Ordering::Relaxed))
}

/// Sleeps `d` in slices, returning early when the loop must stop.
fn rest(o: &DrainOptions, d: Duration) {
    let until = Instant::now() + d;
    while !stopped(o) && Instant::now() < until {
        std::thread::sleep(
            until
                .saturating_duration_since(Instant::now())
                .min(Duration::from_millis(100)),
        );
    }
}

/// Runs until `opts.drain.stop` is set or `opts.drain.deadline` passes.
pub fn run_loop(ledger: &Ledger, client: &Client, opts: &LoopOptions) {
    let d = &opts.drain;
    let mut last_pull: Option<Instant> = None;
    while !stopped(d) {
        if let Err(e) = drain(ledger, client, d, &mut |w| rest(d, w)) {
            // A corrupt payload or a ledger failure: reported, retried later, never skipped.
            tracing::error!(code = e.code(), "sync stopped on an error");
            rest(d, Duration::from_secs(30));
        }
        // A confirmation record the backend has acknowledged leaves the kiosk (it is kept by
        // the backend for the retention period).
        match ledger.purge_acknowledged_confirmations() {
            Ok(0) => {}
            Ok(n) => tracing::info!(purged = n, "acknowledged confirmation records purged"),
            Err(e) => tracing::warn!(code = e.code(), "confirmation purge failed"),
        }
        if last_pull.is_none_or(|t| t.elapsed() >= opts.pull_interval) {
            match pull_all(client, ledger, &opts.trust) {
                Ok(_) => last_pull = Some(Instant::now()),
                Err(e) => tracing::warn!(code = e.code(), "trust data pull failed"),
            }
            if let Ok(s) = measure_skew(client)
                && !s.ok
            {
                tracing::warn!(
                    skew_ms = s.skew_ms,
                    "kiosk clock differs from the backend's"
                );
            }
        }
        rest(d, opts.idle);
    }
}

/// A stop flag for [`run_loop`].
pub fn stop_flag() -> Arc<AtomicBool> {
    Arc::new(AtomicBool::new(false))
}
