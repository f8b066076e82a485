//! Decode benchmark on the synthetic phone-screen robustness set (fixed seed): decode rate
//! and time per frame of rqrr alone, rxing alone and our `QrReader` pipeline, and of
//! zxing-cpp (PyPI `zxing-cpp`, in a venv this bench creates under the target directory) on
//! the same images in the same run. `FACEQR_BENCH_N` sets the number of images (default 200).
//!
//! It measures; it asserts nothing about the rates (the report is the result).

#![allow(clippy::print_stdout)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use madoguchi_faceqr::read::{QrReader, ReaderConfig, decode_rqrr, decode_rxing};
use madoguchi_faceqr::synth;

const SEED: u64 = 0x00FA_CE0A_2026;

struct Tally {
    name: &'static str,
    ok: Vec<bool>,
    times: Vec<Duration>,
}

impl Tally {
    fn new(name: &'static str) -> Self {
        Self {
            name,
            ok: vec![],
            times: vec![],
        }
    }
    fn report(&self, baseline: Option<&Tally>) {
        let n = self.ok.len().max(1);
        let ok = self.ok.iter().filter(|b| **b).count();
        let mut t: Vec<f64> = self
            .times
            .iter()
            .map(|d| d.as_secs_f64() * 1000.0)
            .collect();
        t.sort_by(f64::total_cmp);
        let mean = t.iter().sum::<f64>() / t.len().max(1) as f64;
        let p95 = t
            .get((t.len() * 95 / 100).min(t.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0);
        let ratio = baseline
            .map(|b| {
                let bok = b.ok.iter().filter(|x| **x).count().max(1);
                format!("  rate vs zxing-cpp {:.2}", ok as f64 / bok as f64)
            })
            .unwrap_or_default();
        println!(
            "{:<16} {:>4}/{:<4} {:>5.1}%   mean {:>7.1} ms/frame   p95 {:>7.1} ms{ratio}",
            self.name,
            ok,
            n,
            100.0 * ok as f64 / n as f64,
            mean,
            p95
        );
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

fn venv_python(dir: &Path) -> Result<PathBuf, String> {
    let venv = dir.join("venv");
    let py = venv.join("bin/python");
    let ready = Command::new(&py)
        .args(["-c", "import zxingcpp, PIL, numpy"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ready {
        return Ok(py);
    }
    println!(
        "creating {} with zxing-cpp, pillow, numpy ...",
        venv.display()
    );
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .map_err(|e| format!("python3: {e}"))?;
    if !st.success() {
        return Err("python3 -m venv failed: install the Debian package python3-venv".into());
    }
    let st = Command::new(venv.join("bin/pip"))
        .args(["install", "-q", "zxing-cpp", "pillow", "numpy"])
        .status()
        .map_err(|e| format!("pip: {e}"))?;
    if !st.success() {
        return Err("pip install zxing-cpp pillow numpy failed (needs PyPI)".into());
    }
    Ok(py)
}

fn main() {
    let n: usize = std::env::var("FACEQR_BENCH_N")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let dir = target_dir().join("faceqr-bench");
    let set_dir = dir.join("set");
    if let Err(e) = std::fs::create_dir_all(&set_dir) {
        eprintln!("cannot create {}: {e}", set_dir.display());
        std::process::exit(2);
    }
    let t0 = Instant::now();
    let set = match synth::robustness_set(SEED, n) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("generating the set failed: {e}");
            std::process::exit(2);
        }
    };
    let mut listing = String::new();
    for s in &set {
        let path = set_dir.join(format!("{:04}.png", s.index));
        if let Err(e) = s.image.save(&path) {
            eprintln!("{}: {e}", path.display());
            std::process::exit(2);
        }
        listing.push_str(&format!("{}\t{}\t{}\n", s.index, path.display(), s.text));
    }
    println!(
        "generated {n} phone-screen photos (seed {SEED:#x}) in {:.1} s under {}",
        t0.elapsed().as_secs_f64(),
        set_dir.display()
    );

    let mut rqrr = Tally::new("rqrr 0.9");
    let mut rxing = Tally::new("rxing 0.8");
    let mut ours = Tally::new("faceqr QrReader");
    // The kiosk's QR scan reads live frames with a 30 ms budget (src-tauri ports/face.rs).
    let mut kiosk = Tally::new("QrReader @30ms");
    let mut kiosk_vga = Tally::new("  640x480 only");
    let mut stages: std::collections::BTreeMap<&'static str, usize> = Default::default();
    for s in &set {
        let t = Instant::now();
        let r = decode_rqrr(&s.image);
        rqrr.times.push(t.elapsed());
        rqrr.ok.push(r.as_deref() == Some(s.text.as_str()));

        let t = Instant::now();
        let r = decode_rxing(&s.image);
        rxing.times.push(t.elapsed());
        rxing
            .ok
            .push(r.map(|x| x.0).as_deref() == Some(s.text.as_str()));

        // A fresh reader per image: these are unrelated photos, so no tracking benefit.
        let mut reader = QrReader::new(ReaderConfig {
            budget: Duration::from_millis(250),
        });
        let t = Instant::now();
        let r = reader.read(&s.image);
        ours.times.push(t.elapsed());
        let ok = r.as_ref().map(|x| x.text.as_str()) == Some(s.text.as_str());
        if let (true, Some(r)) = (ok, &r) {
            *stages.entry(r.stage).or_default() += 1;
        }
        ours.ok.push(ok);

        let mut reader = QrReader::new(ReaderConfig {
            budget: Duration::from_millis(30),
        });
        let t = Instant::now();
        let r = reader.read(&s.image);
        let took = t.elapsed();
        let ok = r.as_ref().map(|x| x.text.as_str()) == Some(s.text.as_str());
        kiosk.times.push(took);
        kiosk.ok.push(ok);
        if s.image.dimensions() == (640, 480) {
            kiosk_vga.times.push(took);
            kiosk_vga.ok.push(ok);
        }
    }

    let mut zx = Tally::new("zxing-cpp");
    let zx_ok = match venv_python(&dir) {
        Ok(py) => {
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/zxing_decode.py");
            let child = Command::new(py)
                .arg(script)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn();
            match child {
                Ok(mut c) => {
                    if let Some(mut stdin) = c.stdin.take() {
                        let _ = stdin.write_all(listing.as_bytes());
                    }
                    match c.wait_with_output() {
                        Ok(out) => {
                            for line in String::from_utf8_lossy(&out.stdout).lines() {
                                let f: Vec<&str> = line.split('\t').collect();
                                if f.len() == 3 {
                                    zx.ok.push(f[1] == "1");
                                    zx.times.push(Duration::from_secs_f64(
                                        f[2].parse::<f64>().unwrap_or(0.0) / 1000.0,
                                    ));
                                }
                            }
                            zx.ok.len() == n
                        }
                        Err(e) => {
                            eprintln!("zxing-cpp run failed: {e}");
                            false
                        }
                    }
                }
                Err(e) => {
                    eprintln!("zxing-cpp run failed: {e}");
                    false
                }
            }
        }
        Err(e) => {
            eprintln!("reference reader unavailable: {e}");
            false
        }
    };

    println!("\ndecode rate and time per frame on the same {n} images:");
    let base = zx_ok.then_some(&zx);
    if zx_ok {
        zx.report(None);
    } else {
        println!("zxing-cpp        NOT RUN (see error above)");
    }
    rqrr.report(base);
    rxing.report(base);
    ours.report(base);
    kiosk.report(base);
    kiosk_vga.report(None);
    println!("faceqr stages that succeeded: {stages:?}");

    // Breakdown by pixels per module and by QR version, ours vs zxing-cpp.
    println!("\nby pixels/module:   ours  zxing-cpp  (n)");
    for (lo, hi) in [
        (1.0f32, 2.5f32),
        (2.5, 3.0),
        (3.0, 4.0),
        (4.0, 5.0),
        (5.0, 6.5),
    ] {
        let idx: Vec<usize> = set
            .iter()
            .filter(|s| s.px_per_module >= lo && s.px_per_module < hi)
            .map(|s| s.index)
            .collect();
        let o = idx.iter().filter(|&&i| ours.ok[i]).count();
        let z = if zx_ok {
            idx.iter().filter(|&&i| zx.ok[i]).count().to_string()
        } else {
            "-".into()
        };
        println!("  {lo:.1}–{hi:.1}        {o:>4}  {z:>9}  ({})", idx.len());
    }
    println!("by QR version:      ours  zxing-cpp  (n)");
    for (lo, hi) in [(16i16, 17i16), (18, 21), (22, 25)] {
        let idx: Vec<usize> = set
            .iter()
            .filter(|s| s.version >= lo && s.version <= hi)
            .map(|s| s.index)
            .collect();
        let o = idx.iter().filter(|&&i| ours.ok[i]).count();
        let z = if zx_ok {
            idx.iter().filter(|&&i| zx.ok[i]).count().to_string()
        } else {
            "-".into()
        };
        println!("  v{lo}–{hi}            {o:>4}  {z:>9}  ({})", idx.len());
    }
    println!(
        "\nimages our reader missed (index, version, px/module, blur passes, glare, moiré, noise, levels, zxing-cpp):"
    );
    for s in set.iter().filter(|s| !ours.ok[s.index]) {
        let z = if zx_ok {
            if zx.ok[s.index] { "read" } else { "missed" }
        } else {
            "-"
        };
        println!(
            "  {:>4}  v{:<2}  {:>4.2}  {}  {:>5.0}  {:>4.2}  {:>4.1}  {:>3.0}/{:<3.0}  {z}",
            s.index,
            s.version,
            s.px_per_module,
            s.scene.blur_passes,
            s.scene.glare,
            s.scene.moire,
            s.scene.noise,
            s.scene.levels.0,
            s.scene.levels.1
        );
    }
    if !zx_ok {
        std::process::exit(1);
    }
}
