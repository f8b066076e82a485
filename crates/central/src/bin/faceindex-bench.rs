//! `faceindex-bench` (run it in release): the 1:N duplicate-face search benchmark of issue 12 §C
//! on synthetic templates.
//!
//! ```text
//! cargo run --release -p madoguchi-central --bin faceindex-bench -- \
//!     [--sizes 100000,1000000,10000000] [--queries 50] [--reference-max 1000000]
//! ```
//! For each size it builds a [`FaceIndex`] of random 128-d int8 templates (seeded SplitMix64,
//! two enrollments per identity), plants near-duplicates (a noisy copy of an enrolled template
//! under another identity), runs the queries (some near-duplicates of a planted face, the rest
//! fresh random faces, each excluding its own new identity) and prints the build time,
//! `memory_bytes`, the process RSS after building, search p50/p95, and how many planted
//! duplicates were found. Up to `--reference-max` templates it also runs the same search
//! naively in f32 over an f32 copy (plain and 8-lane accumulation) and prints the int8/f32
//! ratio.
//!
//! It does NOT use real faces, read or write any database, or start the server: random
//! isotropic templates have the same scan cost as real ones (exact search reads every row
//! whatever the data), but not their score distribution. It prints no template values.

use std::time::{Duration, Instant};

use clap::Parser;
use madoguchi_central::faceindex::{FaceIndex, Hit};
use rayon::prelude::*;

const DIM: usize = 128;

#[derive(Debug, Parser)]
struct Args {
    /// Index sizes (templates), comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "100000,1000000,10000000")]
    sizes: Vec<usize>,
    /// Timed queries per size (after 2 warm-up queries).
    #[arg(long, default_value_t = 50)]
    queries: usize,
    /// Near-duplicates planted per size.
    #[arg(long, default_value_t = 5)]
    planted: usize,
    /// Cosine threshold for a duplicate.
    #[arg(long, default_value_t = 0.6)]
    threshold: f32,
    /// Hits returned at most.
    #[arg(long, default_value_t = 10)]
    top_k: usize,
    /// Run the f32 reference for sizes up to this.
    #[arg(long, default_value_t = 1_000_000)]
    reference_max: usize,
    /// RNG seed.
    #[arg(long, default_value_t = 12)]
    seed: u64,
}

/// SplitMix64.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A random template, values in -127..=127 like quantised embeddings.
    fn fill(&mut self, t: &mut [i8]) {
        for chunk in t.chunks_mut(8) {
            let bytes = self.next().to_le_bytes();
            for (v, b) in chunk.iter_mut().zip(bytes) {
                *v = (b as i8).max(-127);
            }
        }
    }

    /// `t` with each value moved by up to ±`amount` (another capture of the same face).
    fn noisy(&mut self, t: &[i8], amount: i32) -> Vec<i8> {
        t.iter()
            .map(|&v| {
                let d = (self.next() % (2 * amount as u64 + 1)) as i32 - amount;
                (i32::from(v) + d).clamp(-127, 127) as i8
            })
            .collect()
    }
}

fn enrollment_id(i: usize) -> String {
    format!("enr-{i:032x}")
}

fn identity_ref(i: usize) -> String {
    format!("idn-{:032x}", i / 2)
}

/// The f32 copy for the reference search.
struct F32Copy {
    data: Vec<f32>,
    norms: Vec<f32>,
}

impl F32Copy {
    fn push(&mut self, t: &[i8]) {
        let start = self.data.len();
        self.data.extend(t.iter().map(|&v| f32::from(v)));
        let row = &self.data[start..];
        self.norms
            .push(row.iter().map(|x| x * x).sum::<f32>().sqrt());
    }

    /// The same search as the index, in f32: `lanes` false = a plain iterator sum (what one
    /// writes first; the compiler may not reorder f32 adds, so it stays scalar), true = 8
    /// independent accumulators (vectorised).
    fn search(&self, q: &[i8], threshold: f32, top_k: usize, lanes: bool) -> Vec<(f32, usize)> {
        let q: Vec<f32> = q.iter().map(|&v| f32::from(v)).collect();
        let qn = q.iter().map(|x| x * x).sum::<f32>().sqrt();
        let rows = 16 * 1024;
        let mut hits: Vec<(f32, usize)> = self
            .data
            .par_chunks(rows * DIM)
            .enumerate()
            .flat_map_iter(|(b, block)| {
                let q = &q;
                block
                    .chunks_exact(DIM)
                    .enumerate()
                    .filter_map(move |(i, row)| {
                        let r = b * rows + i;
                        let dot = if lanes {
                            dot_f32_lanes(q, row)
                        } else {
                            dot_f32(q, row)
                        };
                        let score = dot / (qn * self.norms[r]);
                        (score >= threshold).then_some((score, r))
                    })
            })
            .collect();
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
        hits.truncate(top_k);
        hits
    }
}

fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

fn dot_f32_lanes(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    for (x, y) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        for j in 0..8 {
            acc[j] += x[j] * y[j];
        }
    }
    acc.iter().sum()
}

/// `VmRSS` of this process, MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

fn mib(bytes: usize) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

/// p50, p95 and max in ms.
fn percentiles(times: &mut [Duration]) -> (f64, f64, f64) {
    times.sort();
    let at = |p: f64| {
        let i = ((times.len() as f64 - 1.0) * p).round() as usize;
        times[i].as_secs_f64() * 1e3
    };
    (at(0.5), at(0.95), at(1.0))
}

/// One query: the template, the identity it enrolls, and the planted pair it should find.
struct Query {
    template: Vec<i8>,
    identity: String,
    expect: Option<(String, String)>,
}

fn run_size(args: &Args, n: usize) -> Result<(), String> {
    let mut rng = Rng(args.seed ^ (n as u64).wrapping_mul(0x9E37_79B9));
    let reference = n <= args.reference_max;
    println!("== {n} templates ({DIM}-d int8) ==");

    let t0 = Instant::now();
    let mut index = FaceIndex::with_capacity(DIM, n + args.planted).map_err(|e| e.to_string())?;
    let mut copy = reference.then(|| F32Copy {
        data: Vec::with_capacity((n + args.planted) * DIM),
        norms: Vec::with_capacity(n + args.planted),
    });
    let mut t = vec![0i8; DIM];
    let planted_rows: Vec<usize> = (0..args.planted).map(|_| rng.next() as usize % n).collect();
    let mut planted_sources = Vec::new();
    for i in 0..n {
        rng.fill(&mut t);
        if t.iter().all(|&v| v == 0) {
            t[0] = 1;
        }
        index
            .insert(&enrollment_id(i), &identity_ref(i), &t)
            .map_err(|e| e.to_string())?;
        if let Some(c) = copy.as_mut() {
            c.push(&t);
        }
        if planted_rows.contains(&i) {
            planted_sources.push((i, t.clone()));
        }
    }
    // The planted duplicates: the same face enrolled again under another identity.
    for (j, (_, source)) in planted_sources.iter().enumerate() {
        let dup = rng.noisy(source, 8);
        index
            .insert(
                &format!("enr-planted-{j}"),
                &format!("idn-planted-{j}"),
                &dup,
            )
            .map_err(|e| e.to_string())?;
        if let Some(c) = copy.as_mut() {
            c.push(&dup);
        }
    }
    let build = t0.elapsed();
    let bytes = index.memory_bytes();
    println!(
        "build: {:.2} s ({} templates, {} identities, incl. generating them{})",
        build.as_secs_f64(),
        index.len(),
        index.identities(),
        if reference { " and the f32 copy" } else { "" }
    );
    println!(
        "memory_bytes: {bytes} ({:.1} MiB; matrix {:.1} MiB; {:.0} B/template)",
        mib(bytes),
        mib(index.len() * DIM),
        bytes as f64 / index.len() as f64
    );
    println!(
        "RSS after build: {:.1} MiB{}",
        rss_mib(),
        if reference {
            format!(
                " (incl. the f32 copy, {:.1} MiB)",
                mib(copy
                    .as_ref()
                    .map_or(0, |c| c.data.len() * 4 + c.norms.len() * 4))
            )
        } else {
            String::new()
        }
    );

    // Queries: every fifth one another capture of a planted face, the rest fresh faces.
    let queries: Vec<Query> = (0..args.queries + 2)
        .map(|q| {
            let identity = format!("idn-query-{q}");
            if q % 5 == 0 && !planted_sources.is_empty() {
                let j = (q / 5) % planted_sources.len();
                let (row, source) = &planted_sources[j];
                Query {
                    template: rng.noisy(source, 8),
                    identity,
                    expect: Some((format!("enr-planted-{j}"), enrollment_id(*row))),
                }
            } else {
                let mut template = vec![0i8; DIM];
                rng.fill(&mut template);
                Query {
                    template,
                    identity,
                    expect: None,
                }
            }
        })
        .collect();

    let mut times = Vec::with_capacity(args.queries);
    let (mut planted_found, mut planted_asked, mut stray_hits) = (0, 0, 0);
    let mut results: Vec<Vec<Hit>> = Vec::with_capacity(queries.len());
    for (q, query) in queries.iter().enumerate() {
        let t = Instant::now();
        let hits = index
            .search(&query.template, &query.identity, args.threshold, args.top_k)
            .map_err(|e| e.to_string())?;
        let elapsed = t.elapsed();
        if q >= 2 {
            times.push(elapsed);
            match &query.expect {
                Some((planted, original)) => {
                    planted_asked += 1;
                    let ids: Vec<&str> = hits.iter().map(|h| h.enrollment_id.as_str()).collect();
                    if ids.contains(&planted.as_str()) && ids.contains(&original.as_str()) {
                        planted_found += 1;
                    }
                    stray_hits += hits.len().saturating_sub(2);
                }
                None => stray_hits += hits.len(),
            }
        }
        results.push(hits);
    }
    let (p50, p95, max) = percentiles(&mut times);
    let scanned = index.len() as f64 * DIM as f64 / (1 << 30) as f64;
    println!(
        "int8 search ({} queries, {} threads, threshold {}, top {}): p50 {p50:.2} ms, p95 {p95:.2} ms, max {max:.2} ms ({:.1} GiB/s at p50)",
        times.len(),
        rayon::current_num_threads(),
        args.threshold,
        args.top_k,
        scanned / (p50 / 1e3)
    );
    println!(
        "planted duplicates found: {planted_found}/{planted_asked} (both the planted copy and its original); other hits at or above the threshold: {stray_hits}"
    );

    if let Some(copy) = copy {
        for (lanes, name) in [(false, "f32 naive (iterator sum)"), (true, "f32 8-lane")] {
            let mut times = Vec::with_capacity(args.queries);
            let mut agree = 0;
            for (q, query) in queries.iter().enumerate() {
                let t = Instant::now();
                let hits = copy.search(&query.template, args.threshold, args.top_k, lanes);
                let elapsed = t.elapsed();
                if q >= 2 {
                    times.push(elapsed);
                }
                // Same ids? (Each query's identity is new: nothing to exclude here.)
                let ids: Vec<String> = hits
                    .iter()
                    .map(|&(_, r)| {
                        if r < n {
                            enrollment_id(r)
                        } else {
                            format!("enr-planted-{}", r - n)
                        }
                    })
                    .collect();
                let got: Vec<&str> = results[q]
                    .iter()
                    .map(|h| h.enrollment_id.as_str())
                    .collect();
                if ids.iter().map(String::as_str).eq(got.iter().copied()) {
                    agree += 1;
                }
            }
            let (f50, f95, fmax) = percentiles(&mut times);
            println!(
                "{name}: p50 {f50:.2} ms, p95 {f95:.2} ms, max {fmax:.2} ms; int8/f32 p50 ratio {:.2} (int8 {:.1}× faster); same hits as int8 for {agree}/{} queries",
                p50 / f50,
                f50 / p50,
                queries.len()
            );
        }
    }
    let t = Instant::now();
    drop(index);
    println!(
        "drop (zeroes the matrix): {:.0} ms",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!();
    Ok(())
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    println!(
        "faceindex-bench: {cpu}, {} rayon threads, sizes {:?}, {} queries per size, seed {}",
        rayon::current_num_threads(),
        args.sizes,
        args.queries,
        args.seed
    );
    let start = Instant::now();
    for &n in &args.sizes {
        if n == 0 {
            continue;
        }
        if let Err(e) = run_size(&args, n) {
            eprintln!("faceindex-bench: {e}");
            return std::process::ExitCode::FAILURE;
        }
    }
    println!("total: {:.1} s", start.elapsed().as_secs_f64());
    std::process::ExitCode::SUCCESS
}
