//! A source read on a thread of its own, at the camera's pace: [`Pumped`]. Whoever reads it
//! gets the newest frame (older ones are dropped, as a real camera drops frames a slow reader
//! does not take), and an optional tap gets every frame — so a preview can run at the camera's
//! frame rate while a slower analysis takes what it can, and neither waits for the other.
//!
//! What it does not do: keep frames (one slot, overwritten), or look at them.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::Sender;

use crate::{CameraError, Frame, FrameSource, SourceInfo};

struct Slot {
    latest: Mutex<Option<Result<Frame, CameraError>>>,
    ready: Condvar,
    stop: AtomicBool,
}

/// A [`FrameSource`] pumped by its own thread ("camera-pump").
pub struct Pumped {
    slot: Arc<Slot>,
    info: SourceInfo,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Pumped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pumped").field("info", &self.info).finish()
    }
}

impl Pumped {
    /// Starts pumping `inner`; every frame is also offered to `tap` (never waiting for it).
    pub fn new(
        mut inner: Box<dyn FrameSource>,
        tap: Option<Sender<Frame>>,
    ) -> std::io::Result<Self> {
        let info = inner.info();
        let slot = Arc::new(Slot {
            latest: Mutex::new(None),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
        });
        let s = slot.clone();
        let thread = std::thread::Builder::new()
            .name("camera-pump".into())
            .spawn(move || {
                while !s.stop.load(Ordering::SeqCst) {
                    let r = inner.next_frame();
                    if let (Ok(f), Some(tap)) = (&r, &tap) {
                        let _ = tap.try_send(f.clone());
                    }
                    let failed = r.is_err();
                    *s.latest.lock().unwrap_or_else(PoisonError::into_inner) = Some(r);
                    s.ready.notify_all();
                    if failed {
                        // A failing camera is not polled in a tight loop.
                        std::thread::sleep(Duration::from_millis(50));
                    }
                }
            })?;
        Ok(Pumped {
            slot,
            info,
            thread: Some(thread),
        })
    }
}

impl FrameSource for Pumped {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let mut latest = self
            .slot
            .latest
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(r) = latest.take() {
                return r;
            }
            latest = self
                .slot
                .ready
                .wait(latest)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    fn info(&self) -> SourceInfo {
        self.info.clone()
    }
}

impl Drop for Pumped {
    fn drop(&mut self) {
        self.slot.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic::SyntheticSource;

    fn photo() -> image::RgbImage {
        image::RgbImage::from_fn(64, 80, |x, y| {
            image::Rgb([(x * 3) as u8, (y * 3) as u8, 90])
        })
    }

    #[test]
    fn a_slow_reader_gets_the_newest_frame_and_the_tap_gets_every_frame() {
        // 50 frames/s, paced: in 400 ms about 20 frames come.
        let src = SyntheticSource::new(photo(), None, 64, 48, 50.0, true).expect("source");
        let (tap, frames) = crossbeam_channel::unbounded();
        let mut p = Pumped::new(Box::new(src), Some(tap)).expect("pump");
        let first = p.next_frame().expect("frame");
        std::thread::sleep(Duration::from_millis(400));
        let later = p.next_frame().expect("frame");
        drop(p);
        // The slow reader skipped the frames it did not take…
        assert!(later.seq >= first.seq + 10, "{} → {}", first.seq, later.seq);
        // …and the tap saw them all, in order.
        let seqs: Vec<u64> = frames.try_iter().map(|f| f.seq).collect();
        assert!(seqs.len() as u64 >= later.seq, "{seqs:?}");
        assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    }
}
