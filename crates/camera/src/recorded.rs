//! A recorded clip: a folder of frames (`*.png`, `*.jpg`, `*.jpeg`, played in file-name
//! order) with optional timing, looping at the end.
//!
//! Timing: a `timing.txt` in the folder with one number per frame, the milliseconds since the
//! clip's start (increasing); without it frames are spaced by the nominal frame rate. When
//! *paced*, `next_frame` sleeps until a frame is due (the kiosk simulation); unpaced, frames
//! come as fast as they decode (tests, evaluation).
//!
//! It does not record: clips are made by tools outside the kiosk.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::{CameraError, Frame, FrameSource, SourceInfo, SourceKind};

/// A looping folder of frames.
pub struct RecordedSource {
    files: Vec<PathBuf>,
    /// Offset of each frame from the clip's start.
    times: Vec<Duration>,
    /// Length of one loop (last frame time + one frame interval).
    loop_len: Duration,
    next: usize,
    loops: u64,
    seq: u64,
    paced: bool,
    started: Option<Instant>,
    name: String,
    size: (u32, u32),
    fps: f32,
}

impl RecordedSource {
    /// Opens the folder. `fps` is used when there is no `timing.txt`.
    pub fn open(dir: &Path, fps: f32, paced: bool) -> Result<Self, CameraError> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(CameraError::BadSource(format!(
                "frame rate {fps} is not > 0"
            )));
        }
        let io = |e| CameraError::Io {
            path: dir.display().to_string(),
            source: e,
        };
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io)?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.extension().and_then(|e| e.to_str()).is_some_and(|e| {
                    matches!(e.to_ascii_lowercase().as_str(), "png" | "jpg" | "jpeg")
                })
            })
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(CameraError::BadSource(format!(
                "{}: no .png/.jpg frames",
                dir.display()
            )));
        }
        let interval = Duration::from_secs_f32(1.0 / fps);
        let timing = dir.join("timing.txt");
        let times: Vec<Duration> = if timing.exists() {
            let text = std::fs::read_to_string(&timing).map_err(|e| CameraError::Io {
                path: timing.display().to_string(),
                source: e,
            })?;
            parse_timing(&text, files.len())?
        } else {
            (0..files.len()).map(|i| interval * i as u32).collect()
        };
        let loop_len = times.last().copied().unwrap_or_default() + interval;
        let first = decode(&files[0])?;
        Ok(Self {
            size: first.dimensions(),
            files,
            times,
            loop_len,
            next: 0,
            loops: 0,
            seq: 0,
            paced,
            started: None,
            name: dir
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned()),
            fps,
        })
    }

    /// Number of frames in one loop.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Always false: an empty folder does not open.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

fn parse_timing(text: &str, n: usize) -> Result<Vec<Duration>, CameraError> {
    let mut out = Vec::with_capacity(n);
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .enumerate()
    {
        let ms: f64 = line.parse().map_err(|_| {
            CameraError::BadSource(format!(
                "timing.txt line {}: `{line}` is not a number",
                i + 1
            ))
        })?;
        if !(ms.is_finite() && ms >= 0.0) {
            return Err(CameraError::BadSource(format!(
                "timing.txt line {}: negative time",
                i + 1
            )));
        }
        let d = Duration::from_secs_f64(ms / 1000.0);
        if out.last().is_some_and(|p| *p > d) {
            return Err(CameraError::BadSource(format!(
                "timing.txt line {}: times must not decrease",
                i + 1
            )));
        }
        out.push(d);
    }
    if out.len() != n {
        return Err(CameraError::BadSource(format!(
            "timing.txt has {} times for {n} frames",
            out.len()
        )));
    }
    Ok(out)
}

fn decode(path: &Path) -> Result<image::RgbImage, CameraError> {
    let img =
        image::open(path).map_err(|e| CameraError::Decode(format!("{}: {e}", path.display())))?;
    Ok(img.to_rgb8())
}

impl FrameSource for RecordedSource {
    fn next_frame(&mut self) -> Result<Frame, CameraError> {
        let i = self.next;
        let timestamp = self.loop_len * self.loops as u32 + self.times[i];
        if self.paced {
            crate::wait_until_due(&mut self.started, timestamp);
        }
        let image = decode(&self.files[i])?;
        self.next += 1;
        if self.next == self.files.len() {
            self.next = 0;
            self.loops += 1;
        }
        let seq = self.seq;
        self.seq += 1;
        Ok(Frame {
            image,
            timestamp,
            seq,
        })
    }

    fn info(&self) -> SourceInfo {
        SourceInfo {
            kind: SourceKind::Recorded,
            name: self.name.clone(),
            width: self.size.0,
            height: self.size.1,
            fps: self.fps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(n: usize, timing: Option<&str>) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        for i in 0..n {
            let img = image::RgbImage::from_pixel(8, 6, image::Rgb([i as u8 * 40, 0, 0]));
            img.save(dir.path().join(format!("f{i:03}.png")))
                .expect("save");
        }
        if let Some(t) = timing {
            std::fs::write(dir.path().join("timing.txt"), t).expect("write timing");
        }
        dir
    }

    #[test]
    fn plays_in_order_and_loops_with_timing() {
        let dir = clip(3, Some("0\n100\n250\n"));
        let mut src = RecordedSource::open(dir.path(), 10.0, false).expect("open");
        assert_eq!(src.len(), 3);
        assert_eq!((src.info().width, src.info().height), (8, 6));
        let frames: Vec<Frame> = (0..5).map(|_| src.next_frame().expect("frame")).collect();
        let reds: Vec<u8> = frames.iter().map(|f| f.image.get_pixel(0, 0)[0]).collect();
        assert_eq!(reds, vec![0, 40, 80, 0, 40]);
        let ms: Vec<u128> = frames.iter().map(|f| f.timestamp.as_millis()).collect();
        // loop length = 250 + 100 (one interval at 10 fps)
        assert_eq!(ms, vec![0, 100, 250, 350, 450]);
        assert_eq!(frames[4].seq, 4);
    }

    #[test]
    fn without_timing_uses_fps() {
        let dir = clip(2, None);
        let mut src = RecordedSource::open(dir.path(), 20.0, false).expect("open");
        let t: Vec<u128> = (0..3)
            .map(|_| src.next_frame().expect("frame").timestamp.as_millis())
            .collect();
        assert_eq!(t, vec![0, 50, 100]);
    }

    #[test]
    fn paced_playback_waits_for_frames() {
        let dir = clip(2, Some("0\n60\n"));
        let mut src = RecordedSource::open(dir.path(), 10.0, true).expect("open");
        let start = Instant::now();
        src.next_frame().expect("f0");
        src.next_frame().expect("f1");
        assert!(start.elapsed() >= Duration::from_millis(55));
    }

    #[test]
    fn bad_folders_are_clear_errors() {
        let empty = tempfile::tempdir().expect("tempdir");
        let e = RecordedSource::open(empty.path(), 10.0, false)
            .err()
            .expect("empty");
        assert!(e.to_string().contains("no .png/.jpg"), "{e}");
        let dir = clip(2, Some("0\n"));
        let e = RecordedSource::open(dir.path(), 10.0, false)
            .err()
            .expect("count");
        assert!(e.to_string().contains("1 times for 2 frames"), "{e}");
        let dir = clip(2, Some("10\n5\n"));
        let e = RecordedSource::open(dir.path(), 10.0, false)
            .err()
            .expect("order");
        assert!(e.to_string().contains("must not decrease"), "{e}");
        let dir = clip(1, Some("abc\n"));
        assert!(RecordedSource::open(dir.path(), 10.0, false).is_err());
        assert!(RecordedSource::open(dir.path(), 0.0, false).is_err());
        let missing = empty.path().join("nope");
        assert!(matches!(
            RecordedSource::open(&missing, 10.0, false),
            Err(CameraError::Io { .. })
        ));
    }
}
