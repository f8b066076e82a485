//! Tests of the duplicate-face index (`madoguchi_central::faceindex`) on synthetic int8
//! templates: planted near-duplicates are found, the enrolling identity is excluded, threshold
//! and `top_k` hold, results agree with a naive f32 cosine, bad input is refused, removal
//! works, and `Debug` shows no values. No real face data, no storage, no HTTP.

use madoguchi_central::faceindex::{FaceIndex, FaceIndexError, Hit};

const DIM: usize = 128;

/// SplitMix64: a seeded generator, enough for synthetic templates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn template(&mut self) -> Vec<i8> {
        (0..DIM)
            .map(|_| ((self.next() % 255) as i32 - 127) as i8)
            .collect()
    }

    /// `t` with each value moved by up to ±`amount`.
    fn noisy(&mut self, t: &[i8], amount: i32) -> Vec<i8> {
        t.iter()
            .map(|&v| {
                let d = (self.next() % (2 * amount as u64 + 1)) as i32 - amount;
                (i32::from(v) + d).clamp(-127, 127) as i8
            })
            .collect()
    }
}

fn enrollment(i: usize) -> String {
    format!("enr-{i:06}")
}

/// Identity of the `i`-th random template: two enrollments per identity.
fn identity(i: usize) -> String {
    format!("idn-{:06}", i / 2)
}

/// An index of `n` random templates, and the templates.
fn random_index(n: usize, seed: u64) -> (FaceIndex, Vec<Vec<i8>>, Rng) {
    let mut rng = Rng(seed);
    let mut index = FaceIndex::new(DIM).expect("index");
    let mut all = Vec::with_capacity(n);
    for i in 0..n {
        let t = rng.template();
        index
            .insert(&enrollment(i), &identity(i), &t)
            .expect("insert");
        all.push(t);
    }
    (index, all, rng)
}

fn cosine_f32(a: &[i8], b: &[i8]) -> f32 {
    let (mut dot, mut na, mut nb) = (0f32, 0f32, 0f32);
    for (&x, &y) in a.iter().zip(b) {
        let (x, y) = (f32::from(x), f32::from(y));
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    dot / (na.sqrt() * nb.sqrt())
}

#[test]
fn planted_near_duplicate_under_another_identity_is_found() {
    let (mut index, all, mut rng) = random_index(5_000, 1);
    // The same face enrolled earlier by a different identity (a little noise: another capture).
    let planted = rng.noisy(&all[1234], 6);
    index
        .insert("enr-planted", "idn-fraud", &planted)
        .expect("insert");
    let query = rng.noisy(&all[1234], 6);
    let hits = index.search(&query, "idn-new", 0.8, 5).expect("search");
    let ids: Vec<&str> = hits.iter().map(|h| h.enrollment_id.as_str()).collect();
    assert!(ids.contains(&"enr-planted"), "{hits:?}");
    assert!(ids.contains(&enrollment(1234).as_str()), "{hits:?}");
    assert!(hits.iter().all(|h| h.score >= 0.8), "{hits:?}");
    assert_eq!(
        hits.len(),
        2,
        "only the planted pair is that close: {hits:?}"
    );
    let planted_hit = hits
        .iter()
        .find(|h| h.enrollment_id == "enr-planted")
        .expect("planted");
    assert_eq!(planted_hit.identity_ref, "idn-fraud");
    assert!(planted_hit.score > 0.95, "{}", planted_hit.score);
}

#[test]
fn the_enrolling_identitys_own_templates_are_excluded() {
    let (mut index, all, mut rng) = random_index(1_000, 2);
    // The customer re-enrolls: their own earlier template must not flag them.
    let again = rng.noisy(&all[10], 4);
    index
        .insert("enr-again", &identity(10), &again)
        .expect("insert");
    let hits = index
        .search(&again, &identity(10), 0.5, 10)
        .expect("search");
    assert!(hits.is_empty(), "{hits:?}");
    // The same search for another identity sees both.
    let hits = index.search(&again, "idn-other", 0.5, 10).expect("search");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert!(hits.iter().all(|h| h.identity_ref == identity(10)));
    // An identity the index does not know excludes nothing.
    assert_eq!(
        index
            .search(&again, "idn-unknown", 0.5, 10)
            .expect("search"),
        hits
    );
}

#[test]
fn below_threshold_hits_are_not_returned() {
    let (index, all, _) = random_index(2_000, 3);
    let query = &all[7];
    for threshold in [0.1f32, 0.2, 0.3, 0.99] {
        let hits = index
            .search(query, "idn-x", threshold, 10_000)
            .expect("search");
        let expected = all
            .iter()
            .filter(|t| cosine_f32(query, t) >= threshold + 1e-4)
            .count();
        assert!(hits.iter().all(|h| h.score >= threshold), "{threshold}");
        assert!(
            hits.len() >= expected,
            "{threshold}: {} < {expected}",
            hits.len()
        );
        let loose = all
            .iter()
            .filter(|t| cosine_f32(query, t) >= threshold - 1e-4)
            .count();
        assert!(hits.len() <= loose, "{threshold}");
    }
    // Random 128-d templates are far from each other: nothing but itself reaches 0.99.
    let hits = index.search(query, "idn-x", 0.99, 10).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].enrollment_id, enrollment(7));
    assert!((hits[0].score - 1.0).abs() < 1e-6);
}

#[test]
fn top_k_is_respected() {
    let (index, all, _) = random_index(2_000, 4);
    for k in [0usize, 1, 3, 10, 50] {
        let hits = index.search(&all[0], "idn-x", -1.0, k).expect("search");
        assert_eq!(hits.len(), k);
        assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    }
    let everything = index
        .search(&all[0], "idn-x", -1.0, usize::MAX)
        .expect("search");
    assert_eq!(everything.len(), 2_000);
}

#[test]
fn results_agree_with_a_naive_f32_cosine() {
    let (index, all, mut rng) = random_index(2_000, 5);
    for q in 0..20 {
        let query = if q % 2 == 0 {
            rng.template()
        } else {
            rng.noisy(&all[q * 50], 30)
        };
        let exclude = identity(q * 50);
        let mut reference: Vec<(f32, String)> = all
            .iter()
            .enumerate()
            .filter(|(i, _)| identity(*i) != exclude)
            .map(|(i, t)| (cosine_f32(&query, t), enrollment(i)))
            .collect();
        reference.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
        let hits = index.search(&query, &exclude, -1.0, 10).expect("search");
        let got: Vec<&str> = hits.iter().map(|h| h.enrollment_id.as_str()).collect();
        let want: Vec<&str> = reference[..10].iter().map(|r| r.1.as_str()).collect();
        assert_eq!(got, want, "query {q}");
        for (h, r) in hits.iter().zip(&reference) {
            assert!((h.score - r.0).abs() < 1e-4, "{} vs {}", h.score, r.0);
        }
    }
}

#[test]
fn large_index_searches_in_parallel_blocks_like_a_small_one() {
    // Above the parallel threshold (32 Ki rows), over several blocks: the result must be the
    // same as the single-threaded reference.
    let (index, all, mut rng) = random_index(70_000, 6);
    let query = rng.noisy(&all[65_000], 20);
    let hits = index.search(&query, "idn-x", -1.0, 25).expect("search");
    let mut reference: Vec<(f32, String)> = all
        .iter()
        .enumerate()
        .map(|(i, t)| (cosine_f32(&query, t), enrollment(i)))
        .collect();
    reference.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    let got: Vec<&str> = hits.iter().map(|h| h.enrollment_id.as_str()).collect();
    let want: Vec<&str> = reference[..25].iter().map(|r| r.1.as_str()).collect();
    assert_eq!(got, want);
    assert_eq!(hits[0].enrollment_id, enrollment(65_000));
}

#[test]
fn bad_input_is_refused() {
    assert_eq!(FaceIndex::new(0).err(), Some(FaceIndexError::BadDimension));
    assert_eq!(
        FaceIndex::new(1025).err(),
        Some(FaceIndexError::BadDimension)
    );
    let mut index = FaceIndex::new(DIM).expect("index");
    let mut rng = Rng(7);
    let t = rng.template();
    assert_eq!(
        index.insert("e1", "i1", &t[..127]),
        Err(FaceIndexError::DimensionMismatch {
            expected: 128,
            got: 127
        })
    );
    assert_eq!(
        index.insert("e1", "i1", &[0i8; DIM]),
        Err(FaceIndexError::ZeroVector)
    );
    assert_eq!(index.insert("", "i1", &t), Err(FaceIndexError::EmptyId));
    assert_eq!(index.insert("e1", "", &t), Err(FaceIndexError::EmptyId));
    index.insert("e1", "i1", &t).expect("insert");
    assert_eq!(
        index.insert("e1", "i2", &rng.template()),
        Err(FaceIndexError::DuplicateEnrollment)
    );
    assert_eq!(index.len(), 1);
    assert_eq!(
        index.search(&t[..64], "i2", 0.5, 1),
        Err(FaceIndexError::DimensionMismatch {
            expected: 128,
            got: 64
        })
    );
    assert_eq!(
        index.search(&[0i8; DIM], "i2", 0.5, 1),
        Err(FaceIndexError::ZeroVector)
    );
    assert_eq!(
        index.search(&t, "i2", f32::NAN, 1),
        Err(FaceIndexError::BadThreshold)
    );
    // Errors name no id.
    let msg = FaceIndexError::DuplicateEnrollment.to_string();
    assert!(!msg.contains("e1"), "{msg}");
}

#[test]
fn remove_works() {
    let (mut index, all, _) = random_index(100, 8);
    let before = index.identities();
    assert!(index.remove(&enrollment(3)));
    assert!(!index.remove(&enrollment(3)), "second remove");
    assert!(!index.remove("never-indexed"));
    assert_eq!(index.len(), 99);
    assert!(!index.contains(&enrollment(3)));
    // Its twin (same identity) still holds the identity.
    assert_eq!(index.identities(), before);
    let hits = index.search(&all[3], "idn-x", 0.99, 5).expect("search");
    assert!(hits.is_empty(), "{hits:?}");
    // The row moved into its place (the last one) is still found under its own id.
    let hits = index.search(&all[99], "idn-x", 0.99, 5).expect("search");
    assert_eq!(hits.len(), 1);
    assert_eq!(hits[0].enrollment_id, enrollment(99));
    assert_eq!(hits[0].identity_ref, identity(99));
    // Removing both of an identity's templates removes the identity.
    assert!(index.remove(&enrollment(2)));
    assert_eq!(index.identities(), before - 1);
    // Remove everything, then the index is usable again and the id can be re-enrolled.
    for i in 0..100 {
        index.remove(&enrollment(i));
    }
    assert!(index.is_empty());
    assert_eq!(index.identities(), 0);
    assert!(
        index
            .search(&all[0], "idn-x", -1.0, 5)
            .expect("search")
            .is_empty()
    );
    index
        .insert(&enrollment(3), "idn-new", &all[3])
        .expect("re-insert");
    let hits = index.search(&all[3], "idn-x", 0.99, 5).expect("search");
    assert_eq!(hits[0].identity_ref, "idn-new");
}

#[test]
fn memory_bytes_counts_the_matrix_norms_and_ids() {
    let (index, _, _) = random_index(10_000, 9);
    let bytes = index.memory_bytes();
    // At least the matrix, the norms, the identity slots and one pointer per enrollment id.
    assert!(bytes >= 10_000 * (DIM + 4 + 4 + 16), "{bytes}");
    // And not wildly more (the matrix grows by doubling): under 4 × the matrix.
    assert!(bytes < 10_000 * DIM * 4, "{bytes}");
    let empty = FaceIndex::new(DIM).expect("index");
    assert!(empty.memory_bytes() < 1024);
}

#[test]
fn debug_shows_no_values_or_identity() {
    let build = |values: &[i8; 4]| {
        let mut index = FaceIndex::new(4).expect("index");
        index
            .insert("enr-1", "customer-4711", values)
            .expect("insert");
        index
    };
    let a = build(&[101, -77, 55, 33]);
    let b = build(&[-3, 9, -100, 64]);
    let d = format!("{a:?}");
    // Only sizes: two indexes of the same shape with other values print the same.
    assert_eq!(d, format!("{b:?}"));
    assert!(!d.contains("customer-4711") && !d.contains('['), "{d}");
    assert!(d.contains("dim: 4") && d.contains("templates: 1"), "{d}");
    let hits: Vec<Hit> = a
        .search(&[101, -77, 55, 33], "someone-else", 0.5, 1)
        .expect("search");
    let d = format!("{hits:?}");
    assert!(!d.contains("customer-4711"), "{d}");
    assert!(d.contains("enr-1") && d.contains("redacted"), "{d}");
}
