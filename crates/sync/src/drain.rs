//! Draining the outbox to the backend.
//!
//! One batch: peek up to `batch_size` oldest events (and at most `max_batch_bytes` of them),
//! POST them to `/v1/events/batch` with their event ids, and acknowledge in the outbox exactly
//! the events the backend listed in its answer (stored, duplicate or conflict). Nothing is
//! acknowledged before the answer: a crash, kill or power cut anywhere re-sends the batch,
//! which the backend recognises by event id. Memory is one batch, whatever the backlog.
//!
//! Failures back off exponentially with jitter (each wait drawn uniformly between half and
//! all of `base · 2^attempt`, capped at `max`), and never wait less than a `Retry-After` the
//! backend sent with 429 or 503. A 413 halves the batch. Nothing is ever dropped: an event the
//! backend keeps refusing stays at the head of the outbox and the error is reported.
//!
//! What it does NOT do: decide when to run (the CLI or the kiosk's sync thread does), or
//! reorder events (the backend sees them in outbox order).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use madoguchi_ledger::{Ledger, OutboxEvent, SyncState};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::{Client, SyncError, now_ms};

/// The batch endpoint.
pub const BATCH_PATH: &str = "/v1/events/batch";

/// What sync needs from the outbox (the ledger implements it; [`MemoryOutbox`] is for tests).
pub trait Outbox {
    /// Up to `limit` unacknowledged events, oldest first.
    fn peek(&self, limit: usize) -> Result<Vec<OutboxEvent>, SyncError>;
    /// Marks events delivered (idempotent).
    fn ack(&self, seqs: &[i64]) -> Result<(), SyncError>;
    /// Number of unacknowledged events.
    fn backlog(&self) -> Result<u64, SyncError>;
    /// The stored sync state (last success, last attempt, last error).
    fn state(&self) -> Result<SyncState, SyncError>;
    /// Replaces the stored sync state.
    fn set_state(&self, state: &SyncState) -> Result<(), SyncError>;
}

impl Outbox for Ledger {
    fn peek(&self, limit: usize) -> Result<Vec<OutboxEvent>, SyncError> {
        Ok(self.outbox_peek(limit)?)
    }
    fn ack(&self, seqs: &[i64]) -> Result<(), SyncError> {
        Ok(self.outbox_ack(seqs)?)
    }
    fn backlog(&self) -> Result<u64, SyncError> {
        Ok(self.outbox_backlog()?)
    }
    fn state(&self) -> Result<SyncState, SyncError> {
        Ok(self.sync_state()?)
    }
    fn set_state(&self, state: &SyncState) -> Result<(), SyncError> {
        Ok(self.set_sync_state(state)?)
    }
}

/// An outbox in memory (tests and examples).
#[derive(Debug, Default)]
pub struct MemoryOutbox {
    inner: Mutex<(VecDeque<OutboxEvent>, SyncState, i64)>,
}

/// A random UUID v4 as text (lower case).
pub fn new_event_id() -> Result<String, SyncError> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| SyncError::Config(format!("random source: {e}")))?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

impl MemoryOutbox {
    /// An empty outbox.
    pub fn new() -> MemoryOutbox {
        MemoryOutbox::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, (VecDeque<OutboxEvent>, SyncState, i64)> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event with a fresh event id.
    pub fn push(&self, kind: &str, payload: &serde_json::Value) -> Result<OutboxEvent, SyncError> {
        let payload = serde_json::to_vec(payload)
            .map_err(|e| SyncError::Protocol(format!("payload: {e}")))?;
        self.push_raw(kind, payload)
    }

    /// Appends an event whose payload bytes are taken as they are (even if not JSON).
    pub fn push_raw(&self, kind: &str, payload: Vec<u8>) -> Result<OutboxEvent, SyncError> {
        let event_id = new_event_id()?;
        let mut g = self.lock();
        g.2 += 1;
        let e = OutboxEvent {
            seq: g.2,
            event_id,
            kind: kind.to_owned(),
            payload,
            created_at_ms: now_ms(),
        };
        g.0.push_back(e.clone());
        Ok(e)
    }
}

impl Outbox for MemoryOutbox {
    fn peek(&self, limit: usize) -> Result<Vec<OutboxEvent>, SyncError> {
        Ok(self.lock().0.iter().take(limit).cloned().collect())
    }
    fn ack(&self, seqs: &[i64]) -> Result<(), SyncError> {
        let seqs: std::collections::HashSet<i64> = seqs.iter().copied().collect();
        self.lock().0.retain(|e| !seqs.contains(&e.seq));
        Ok(())
    }
    fn backlog(&self) -> Result<u64, SyncError> {
        Ok(self.lock().0.len() as u64)
    }
    fn state(&self) -> Result<SyncState, SyncError> {
        Ok(self.lock().1.clone())
    }
    fn set_state(&self, state: &SyncState) -> Result<(), SyncError> {
        self.lock().1 = state.clone();
        Ok(())
    }
}

/// Exponential backoff with jitter.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    max: Duration,
    attempt: u32,
}

impl Backoff {
    /// Waits start near `base` and double up to `max`.
    pub fn new(base: Duration, max: Duration) -> Backoff {
        Backoff {
            base,
            max: max.max(base),
            attempt: 0,
        }
    }

    /// The next wait: uniform in [cap/2, cap], cap = min(max, base · 2^attempt).
    pub fn next_delay(&mut self) -> Duration {
        let factor = 1u32.checked_shl(self.attempt.min(30)).unwrap_or(u32::MAX);
        let cap = self.base.saturating_mul(factor).min(self.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = cap / 2;
        let span = u64::try_from((cap - half).as_micros()).unwrap_or(u64::MAX);
        let r = getrandom::u64().unwrap_or(span / 2);
        half + Duration::from_micros(if span == 0 { 0 } else { r % (span + 1) })
    }

    /// After a success.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// Consecutive failures so far.
    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

/// How to drain.
#[derive(Debug, Clone)]
pub struct DrainOptions {
    /// Most events per batch.
    pub batch_size: usize,
    /// Most payload bytes per batch (at least one event is always sent).
    pub max_batch_bytes: usize,
    /// Give up after this many consecutive failures (`None`: never).
    pub max_attempts: Option<u32>,
    /// First backoff wait.
    pub backoff_base: Duration,
    /// Longest backoff wait.
    pub backoff_max: Duration,
    /// Stop (with what was done so far) when this instant passes.
    pub deadline: Option<Instant>,
    /// Stop (with what was done so far) when this flag is set.
    pub stop: Option<Arc<AtomicBool>>,
}

impl Default for DrainOptions {
    fn default() -> Self {
        DrainOptions {
            batch_size: 500,
            max_batch_bytes: 1024 * 1024,
            max_attempts: None,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            deadline: None,
            stop: None,
        }
    }
}

/// What a drain did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct DrainReport {
    /// Events acknowledged by the backend (and so in the outbox).
    pub sent: u64,
    /// Of those, already stored before (re-sent after a crash or timeout).
    pub duplicates: u64,
    /// Of those, stored before with other content (reported by the backend).
    pub conflicts: u64,
    /// Batches accepted.
    pub batches: u64,
    /// Failed attempts that were retried.
    pub retries: u64,
    /// Events left in the outbox.
    pub backlog: u64,
    /// `true` when the outbox was empty at the end.
    pub complete: bool,
}

#[derive(Serialize)]
struct WireEvent<'a> {
    event_id: &'a str,
    kind: &'a str,
    created_at_ms: i64,
    payload: &'a RawValue,
}

#[derive(Serialize)]
struct WireBatch<'a> {
    events: Vec<WireEvent<'a>>,
}

#[derive(Deserialize)]
struct WireResult {
    event_id: String,
    status: String,
}

#[derive(Deserialize)]
struct WireAnswer {
    results: Vec<WireResult>,
}

/// What one batch did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchAck {
    /// Events acknowledged.
    pub acked: u64,
    /// Of which duplicates.
    pub duplicates: u64,
    /// Of which conflicts.
    pub conflicts: u64,
}

/// Sends `events` as one batch and acknowledges what the backend confirmed.
pub fn send_batch<O: Outbox + ?Sized>(
    outbox: &O,
    client: &Client,
    events: &[OutboxEvent],
) -> Result<BatchAck, SyncError> {
    let mut wire = Vec::with_capacity(events.len());
    for e in events {
        let payload: &RawValue = serde_json::from_slice(&e.payload)
            .map_err(|_| SyncError::CorruptPayload { seq: e.seq })?;
        wire.push(WireEvent {
            event_id: &e.event_id,
            kind: &e.kind,
            created_at_ms: e.created_at_ms,
            payload,
        });
    }
    let body = serde_json::to_vec(&WireBatch { events: wire })
        .map_err(|e| SyncError::Protocol(format!("encoding the batch: {e}")))?;
    let answer = client.post_json(BATCH_PATH, body)?;
    let answer: WireAnswer = serde_json::from_slice(&answer)
        .map_err(|e| SyncError::Protocol(format!("batch answer: {e}")))?;
    let by_id: HashMap<String, i64> = events
        .iter()
        .map(|e| (e.event_id.to_ascii_lowercase(), e.seq))
        .collect();
    let mut acked = Vec::with_capacity(events.len());
    let mut ack = BatchAck::default();
    for r in &answer.results {
        let Some(seq) = by_id.get(&r.event_id.to_ascii_lowercase()) else {
            continue;
        };
        match r.status.as_str() {
            "stored" => {}
            "duplicate" => ack.duplicates += 1,
            "conflict" => {
                ack.conflicts += 1;
                tracing::warn!(event_id = %r.event_id, "backend holds other content under this event id");
            }
            _ => continue,
        }
        if !acked.contains(seq) {
            acked.push(*seq);
        }
    }
    ack.acked = acked.len() as u64;
    outbox.ack(&acked)?;
    if acked.len() < events.len() {
        return Err(SyncError::Protocol(format!(
            "the backend confirmed {} of {} events",
            acked.len(),
            events.len()
        )));
    }
    Ok(ack)
}

fn record_state<O: Outbox + ?Sized>(outbox: &O, error: Option<&SyncError>) {
    let now = now_ms();
    let mut s = outbox.state().unwrap_or_default();
    s.last_attempt_ms = Some(now);
    match error {
        None => {
            s.last_success_ms = Some(now);
            s.last_error_code = None;
        }
        Some(e) => s.last_error_code = Some(e.code().to_owned()),
    }
    if let Err(e) = outbox.set_state(&s) {
        tracing::warn!(error = %e, "could not store the sync state");
    }
}

/// Drains the outbox until it is empty (or the deadline passes, or `max_attempts`
/// consecutive failures). `sleep` is called for every backoff wait (tests pass a recorder).
pub fn drain<O: Outbox + ?Sized>(
    outbox: &O,
    client: &Client,
    opts: &DrainOptions,
    sleep: &mut dyn FnMut(Duration),
) -> Result<DrainReport, SyncError> {
    let mut report = DrainReport::default();
    let mut backoff = Backoff::new(opts.backoff_base, opts.backoff_max);
    let mut batch_size = opts.batch_size.max(1);
    loop {
        if opts.deadline.is_some_and(|d| Instant::now() >= d)
            || opts
                .stop
                .as_ref()
                .is_some_and(|s| s.load(Ordering::Relaxed))
        {
            break;
        }
        let mut events = outbox.peek(batch_size)?;
        if events.is_empty() {
            report.complete = true;
            break;
        }
        let mut bytes = 0usize;
        let keep = events
            .iter()
            .position(|e| {
                bytes += e.payload.len() + e.kind.len() + 128;
                bytes > opts.max_batch_bytes
            })
            .unwrap_or(events.len())
            .max(1);
        events.truncate(keep);
        match send_batch(outbox, client, &events) {
            Ok(a) => {
                report.sent += a.acked;
                report.duplicates += a.duplicates;
                report.conflicts += a.conflicts;
                report.batches += 1;
                backoff.reset();
                record_state(outbox, None);
            }
            Err(e @ (SyncError::CorruptPayload { .. } | SyncError::Ledger(_))) => {
                record_state(outbox, Some(&e));
                return Err(e);
            }
            Err(e) => {
                record_state(outbox, Some(&e));
                if matches!(e, SyncError::Status { status: 413, .. }) && events.len() > 1 {
                    batch_size = (events.len() / 2).max(1);
                    report.retries += 1;
                    continue;
                }
                if opts
                    .max_attempts
                    .is_some_and(|m| backoff.attempts() + 1 >= m)
                {
                    return Err(SyncError::GaveUp {
                        attempts: backoff.attempts() + 1,
                        last: Box::new(e),
                    });
                }
                let mut wait = backoff.next_delay();
                if let Some(ra) = e.retry_after() {
                    wait = wait.max(ra);
                }
                if let Some(d) = opts.deadline {
                    wait = wait.min(d.saturating_duration_since(Instant::now()));
                }
                tracing::info!(
                    code = e.code(),
                    wait_ms = wait.as_millis() as u64,
                    "sync retry"
                );
                report.retries += 1;
                sleep(wait);
            }
        }
    }
    report.backlog = outbox.backlog()?;
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_caps() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));
        let d: Vec<Duration> = (0..8).map(|_| b.next_delay()).collect();
        for (i, x) in d.iter().enumerate() {
            let cap = Duration::from_millis(100 * (1 << i)).min(Duration::from_secs(2));
            assert!(*x >= cap / 2 && *x <= cap, "{i}: {x:?} cap {cap:?}");
        }
        assert_eq!(b.attempts(), 8);
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
        // Jitter: 50 draws at the cap are not all equal.
        let mut b = Backoff::new(Duration::from_secs(1), Duration::from_secs(1));
        let draws: std::collections::HashSet<_> = (0..50).map(|_| b.next_delay()).collect();
        assert!(draws.len() > 1);
    }

    #[test]
    fn event_ids_are_v4_uuids() {
        let a = new_event_id().unwrap();
        assert_eq!(a.len(), 36);
        assert_eq!(&a[14..15], "4");
        assert_ne!(a, new_event_id().unwrap());
    }
}
