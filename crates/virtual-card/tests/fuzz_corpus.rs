//! Replays the fuzz corpus (`fuzz/corpus/apdu/`, seeds plus whatever a fuzzing run saved)
//! through the fuzz target's checks as an ordinary test, so the target is exercised on every
//! test run even where cargo-fuzz (nightly, libFuzzer) is not available. Also runs a fixed
//! number of pseudo-random inputs (deterministic seed) through the same checks.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use madoguchi_virtual_card::{VirtualCard, fuzzing, profile};
use rand_chacha::ChaCha8Rng;
use rand_chacha::rand_core::{RngCore, SeedableRng};

fn pristine() -> VirtualCard {
    VirtualCard::new(&profile("hopper").unwrap(), None).unwrap()
}

#[test]
fn corpus_inputs_pass_the_fuzz_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/apdu");
    let card = pristine();
    let mut files = 0;
    let mut apdus = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let data = std::fs::read(entry.unwrap().path()).unwrap();
        apdus += fuzzing::run_input(&card, &data);
        files += 1;
    }
    assert!(files >= 7, "seed corpus missing in {}", dir.display());
    assert!(
        apdus >= 40,
        "seeds should carry real sessions, got {apdus} APDUs"
    );
    // A corpus grown by a fuzzing run elsewhere (MADOGUCHI_FUZZ_CORPUS=DIR) is replayed too.
    if let Some(extra) = std::env::var_os("MADOGUCHI_FUZZ_CORPUS") {
        let mut n = 0;
        for entry in std::fs::read_dir(extra).unwrap() {
            fuzzing::run_input(&card, &std::fs::read(entry.unwrap().path()).unwrap());
            n += 1;
        }
        eprintln!("replayed {n} extra corpus inputs");
    }
}

#[test]
fn random_and_mutated_inputs_pass_the_fuzz_checks() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus/apdu");
    let seeds: Vec<Vec<u8>> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| std::fs::read(e.unwrap().path()).unwrap())
        .collect();
    let card = pristine();
    let mut rng = ChaCha8Rng::seed_from_u64(0x6d61646f);
    for i in 0..3000 {
        let mut input = seeds[i % seeds.len()].clone();
        // Flip, insert or truncate a few bytes.
        for _ in 0..(rng.next_u32() % 4 + 1) {
            let pos = (rng.next_u32() as usize) % (input.len() + 1);
            match rng.next_u32() % 3 {
                0 if pos < input.len() => input[pos] ^= 1 << (rng.next_u32() % 8),
                1 => input.insert(pos, rng.next_u32() as u8),
                _ => input.truncate(pos),
            }
        }
        fuzzing::run_input(&card, &input);
    }
}
