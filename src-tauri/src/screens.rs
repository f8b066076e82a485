//! How the procedure's steps reach the windows: each window subscribes once with a Tauri IPC
//! channel (`procedure_subscribe`), and the [`Hub`] sends the teller console's messages only
//! over the teller's channel and the customer display's only over the customer's. (Tauri
//! events are not used for these: a page listening to "any" target would receive every
//! event, and the teller's view carries the chip data.)
//!
//! Messages are JSON objects with a `kind`: `view` (a step), `read-progress`,
//! `face-progress`, `preview-frame`, `sim-state`, `desk` (who is signed in; the customer's
//! only says whether the counter is open). The latest view and desk message of each side are
//! kept so that a window that opens or reloads sees the current step at once.
//!
//! [`WindowScreens`] is the flow's [`Screens`] port over the hub; the headless runner has its
//! own (JSON lines on stdout). What this module does not do: decide what a step shows (the
//! flow does) or translate anything (the web side does).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use madoguchi_flow::Screens;
use madoguchi_flow::ports::{FaceProgress, ReadProgress, TellerRef};
use madoguchi_flow::view::View;
use serde_json::{Value, json};

/// Which side of the counter a window is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The teller console.
    Teller,
    /// The customer display.
    Customer,
}

impl Side {
    /// The side of a webview label (`teller`, `customer`), if it is one.
    pub fn of_label(label: &str) -> Option<Side> {
        match label {
            "teller" => Some(Side::Teller),
            "customer" => Some(Side::Customer),
            _ => None,
        }
    }
}

/// Something that delivers a message to one subscribed window; `false` when it is gone.
pub type Deliver = Box<dyn Fn(&Value) -> bool + Send>;

#[derive(Default)]
struct Inner {
    subscribers: HashMap<Side, Vec<Deliver>>,
    latest: HashMap<Side, Value>,
    /// Other kept messages (`desk`), by side and kind: a window that subscribes gets them.
    kept: HashMap<(Side, &'static str), Value>,
    seq: u64,
}

/// The windows' subscriptions and the latest view of each side.
#[derive(Clone, Default)]
pub struct Hub {
    inner: Arc<Mutex<Inner>>,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub").finish_non_exhaustive()
    }
}

impl Hub {
    /// A new subscription of `side`; it gets the latest view at once.
    pub fn subscribe(&self, side: Side, deliver: Deliver) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for ((s, _), m) in &inner.kept {
            if *s == side {
                deliver(m);
            }
        }
        if let Some(v) = inner.latest.get(&side) {
            deliver(v);
        }
        inner.subscribers.entry(side).or_default().push(deliver);
    }

    /// Sends `message` to `side` and keeps it as that side's latest of `kind`.
    pub fn set_latest(&self, side: Side, kind: &'static str, message: Value) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        if let Some(subs) = inner.subscribers.get_mut(&side) {
            subs.retain(|d| d(&message));
        }
        inner.kept.insert((side, kind), message);
    }

    /// Sends `message` to every window of `side` (dropping the ones that are gone).
    pub fn send(&self, side: Side, message: &Value) {
        if let Ok(mut inner) = self.inner.lock()
            && let Some(subs) = inner.subscribers.get_mut(&side)
        {
            subs.retain(|d| d(message));
        }
    }

    /// Sends to both sides.
    pub fn send_both(&self, message: &Value) {
        self.send(Side::Teller, message);
        self.send(Side::Customer, message);
    }

    /// The latest view of `side`.
    pub fn latest(&self, side: Side) -> Option<Value> {
        self.inner.lock().ok()?.latest.get(&side).cloned()
    }

    fn publish_view(&self, teller: Value, customer: Value) {
        let Ok(mut inner) = self.inner.lock() else {
            return;
        };
        for (side, view) in [(Side::Teller, teller), (Side::Customer, customer)] {
            let message = json!({ "kind": "view", "view": view });
            if let Some(subs) = inner.subscribers.get_mut(&side) {
                subs.retain(|d| d(&message));
            }
            inner.latest.insert(side, message);
        }
    }

    fn next_seq(&self) -> u64 {
        self.inner.lock().map_or(0, |mut i| {
            i.seq += 1;
            i.seq
        })
    }
}

/// The flow's screens port over the hub.
#[derive(Debug, Clone)]
pub struct WindowScreens {
    hub: Hub,
    teller: Arc<Mutex<Option<TellerRef>>>,
}

impl WindowScreens {
    /// Over `hub`, showing whoever `teller` holds as the one at the counter.
    pub fn new(hub: Hub, teller: Arc<Mutex<Option<TellerRef>>>) -> Self {
        WindowScreens { hub, teller }
    }
}

impl Screens for WindowScreens {
    fn show(&mut self, view: &View<'_>) {
        let seq = self.hub.next_seq();
        let at_counter = self
            .teller
            .lock()
            .map(|t| t.clone())
            .unwrap_or_else(|p| p.into_inner().clone());
        let teller = crate::dto::teller_view(seq, view, at_counter.as_ref());
        let customer =
            crate::dto::customer_view(seq, view.step.as_str(), view.remaining_ms, &view.customer);
        self.hub.publish_view(teller, customer);
    }

    fn read_progress(&mut self, p: ReadProgress) {
        self.hub.send_both(&json!({
            "kind": "read-progress", "file": p.file, "fraction": p.fraction,
        }));
    }

    fn face_progress(&mut self, p: &FaceProgress) {
        self.hub.send_both(&json!({
            "kind": "face-progress",
            "challenge": p.challenge,
            "guidance": p.guidance,
            "progress": p.progress,
            "faces": p.faces,
            "quality": p.quality,
            "box": p.face_box,
        }));
    }
}
