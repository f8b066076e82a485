//! The in-memory index for the duplicate-face check (issue 12 §C, first step): every enrolled
//! face template held as one flat int8 matrix, searched exactly (1:N) for the same face under
//! another identity.
//!
//! What it does:
//! - Holds the face-QR credential's int8 templates (`value[i] ≈ q[i] as f32 * scale`, 128-d in
//!   practice) row-major in one contiguous `Vec<i8>`, with each row's norm (f32), its
//!   enrollment id and its identity reference (interned: one copy per identity).
//! - [`FaceIndex::search`]: exact cosine search over every row. For int8 vectors the cosine is
//!   `dot_i32(a, b) / (|a|·|b|)` (the scales cancel), so the scan is an i32 dot product written
//!   for the compiler to vectorise (chunks of 16, no `unsafe`), in parallel over row blocks with
//!   rayon once the index is large. The rows of the identity being enrolled are skipped; hits
//!   at or above the threshold come back best first (score descending, then enrollment id),
//!   at most `top_k` of them. Exact search has perfect recall: no approximate index.
//! - [`FaceIndex::memory_bytes`]: what the index holds (matrix, norms, ids, hash tables).
//! - Zeroes the template values it lets go of: on drop, on [`FaceIndex::remove`] and when the
//!   matrix grows (it is copied into a new allocation and the old one zeroed, never left to
//!   `Vec`'s reallocation).
//!
//! What it does NOT do:
//! - Store templates, or speak HTTP: [`crate::duplicates`] keeps them sealed at rest, builds
//!   the server's index from them at start and serves the check (`POST /v1/duplicate-checks`).
//! - Decide what a duplicate means: the caller picks the threshold and flags the enrollment.
//! - Depend on `madoguchi-faceqr` (that would link the face/tract stack into the backend): it
//!   takes plain `&[i8]` values; the template's scale is not needed for the cosine.
//! - Print template values or norms: `Debug` shows only sizes, a [`Hit`]'s `Debug` hides the
//!   identity reference, and errors carry no ids or values.

use std::collections::HashMap;
use std::sync::Arc;

use rayon::prelude::*;
use zeroize::Zeroize;

/// Longest template accepted (values), as in the face-QR format.
pub const MAX_DIM: usize = 1024;

/// From this many rows on, a search runs in parallel over row blocks.
const PARALLEL_MIN_ROWS: usize = 32 * 1024;

/// Rows per parallel block (2 MiB of matrix at 128-d).
const BLOCK_ROWS: usize = 16 * 1024;

/// Rows the matrix first makes room for when it has to grow.
const MIN_GROW_ROWS: usize = 1024;

/// Why the index refused an operation. It carries no ids and no template values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaceIndexError {
    /// The index dimension must be `1..=MAX_DIM`.
    #[error("template dimension must be 1..={MAX_DIM}")]
    BadDimension,
    /// A template or query of another dimension than the index's.
    #[error("template has {got} values, the index holds {expected}")]
    DimensionMismatch {
        /// The index's dimension.
        expected: usize,
        /// The template's length.
        got: usize,
    },
    /// An all-zero template has no direction: no cosine can be computed.
    #[error("all-zero template")]
    ZeroVector,
    /// An empty enrollment id or identity reference.
    #[error("empty enrollment id or identity reference")]
    EmptyId,
    /// The enrollment id is already in the index.
    #[error("enrollment already indexed")]
    DuplicateEnrollment,
    /// A NaN threshold.
    #[error("threshold is not a number")]
    BadThreshold,
    /// More rows than the index can address (`u32::MAX`).
    #[error("index full")]
    Full,
}

/// One search result: an enrolled template whose cosine with the query reached the threshold.
#[derive(Clone, PartialEq)]
pub struct Hit {
    /// The enrollment the template belongs to.
    pub enrollment_id: String,
    /// The identity that enrollment was made for.
    pub identity_ref: String,
    /// Cosine similarity with the query, in `[-1, 1]`.
    pub score: f32,
}

impl std::fmt::Debug for Hit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hit")
            .field("enrollment_id", &self.enrollment_id)
            .field(
                "identity_ref",
                &format_args!("<redacted {} bytes>", self.identity_ref.len()),
            )
            .field("score", &self.score)
            .finish()
    }
}

/// An identity's slot: its reference and how many rows it has.
struct Identity {
    name: Arc<str>,
    rows: u32,
}

/// The exact 1:N index over int8 face templates of one fixed dimension.
pub struct FaceIndex {
    dim: usize,
    /// Row-major `len × dim` matrix.
    data: Vec<i8>,
    /// Euclidean norm of each row (of its int8 values).
    norms: Vec<f32>,
    /// Identity slot of each row.
    row_identity: Vec<u32>,
    /// Enrollment id of each row (shared with `by_enrollment`).
    row_enrollment: Vec<Arc<str>>,
    by_enrollment: HashMap<Arc<str>, u32>,
    /// Identity slots (`None` once the identity has no rows left; reused via `free_slots`).
    identities: Vec<Option<Identity>>,
    by_identity: HashMap<Arc<str>, u32>,
    free_slots: Vec<u32>,
    /// Bytes of the id strings on the heap (with `Arc`'s two counters).
    string_bytes: usize,
}

impl std::fmt::Debug for FaceIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaceIndex")
            .field("dim", &self.dim)
            .field("templates", &self.len())
            .field("identities", &self.by_identity.len())
            .field("memory_bytes", &self.memory_bytes())
            .finish_non_exhaustive()
    }
}

impl Drop for FaceIndex {
    fn drop(&mut self) {
        self.data.zeroize();
        self.norms.zeroize();
    }
}

/// Heap bytes of an `Arc<str>` holding `s`.
fn arc_str_bytes(s: &str) -> usize {
    2 * std::mem::size_of::<usize>() + s.len()
}

/// Estimated bytes of a std `HashMap` (hashbrown) of `capacity` entries of type `(K, V)`:
/// the buckets (a power of two, at most 7/8 full) and one control byte per bucket.
fn table_bytes<K, V>(capacity: usize) -> usize {
    if capacity == 0 {
        return 0;
    }
    let buckets = if capacity < 8 {
        (capacity + 1).next_power_of_two()
    } else {
        (capacity * 8 / 7).next_power_of_two()
    };
    buckets * (std::mem::size_of::<(K, V)>() + 1) + 16
}

/// `sum(a[i] * b[i])` in i32, shaped for auto-vectorisation: 16 independent lanes.
/// No overflow: each lane adds at most `MAX_DIM / 16` products of magnitude ≤ 2^14.
#[inline(always)]
fn dot_i32(a: &[i8], b: &[i8]) -> i32 {
    let mut acc = [0i32; 16];
    let (a16, a_rest) = a.as_chunks::<16>();
    let (b16, b_rest) = b.as_chunks::<16>();
    for (x, y) in a16.iter().zip(b16) {
        for j in 0..16 {
            acc[j] += i32::from(x[j]) * i32::from(y[j]);
        }
    }
    let mut sum: i32 = acc.iter().sum();
    for (&x, &y) in a_rest.iter().zip(b_rest) {
        sum += i32::from(x) * i32::from(y);
    }
    sum
}

/// Euclidean norm of an int8 vector (0 for the zero vector).
fn norm(v: &[i8]) -> f32 {
    let sq = i64::from(dot_i32(v, v));
    (sq as f64).sqrt() as f32
}

/// A candidate during a scan, ordered best first: higher score, then smaller enrollment id.
#[derive(Clone, Copy)]
struct Ranked<'a> {
    score: f32,
    id: &'a str,
    row: u32,
}

impl PartialEq for Ranked<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other).is_eq()
    }
}
impl Eq for Ranked<'_> {}
impl PartialOrd for Ranked<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Ranked<'_> {
    /// `Less` is better, so a max-heap keeps the worst kept candidate on top.
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.id.cmp(other.id))
    }
}

/// The best `k` candidates seen so far.
struct TopK<'a> {
    k: usize,
    heap: std::collections::BinaryHeap<Ranked<'a>>,
}

impl<'a> TopK<'a> {
    fn new(k: usize) -> Self {
        Self {
            k,
            heap: std::collections::BinaryHeap::with_capacity(k.min(64)),
        }
    }

    fn offer(&mut self, c: Ranked<'a>) {
        if self.heap.len() < self.k {
            self.heap.push(c);
        } else if self.heap.peek().is_some_and(|worst| c < *worst) {
            self.heap.pop();
            self.heap.push(c);
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for c in other.heap {
            self.offer(c);
        }
        self
    }
}

impl FaceIndex {
    /// An empty index for templates of `dim` values (`1..=MAX_DIM`).
    pub fn new(dim: usize) -> Result<Self, FaceIndexError> {
        Self::with_capacity(dim, 0)
    }

    /// An empty index with room for `rows` templates before it has to grow.
    pub fn with_capacity(dim: usize, rows: usize) -> Result<Self, FaceIndexError> {
        if dim == 0 || dim > MAX_DIM {
            return Err(FaceIndexError::BadDimension);
        }
        let mut index = Self {
            dim,
            data: Vec::new(),
            norms: Vec::new(),
            row_identity: Vec::new(),
            row_enrollment: Vec::new(),
            by_enrollment: HashMap::new(),
            identities: Vec::new(),
            by_identity: HashMap::new(),
            free_slots: Vec::new(),
            string_bytes: 0,
        };
        index.reserve(rows);
        Ok(index)
    }

    /// Makes room for `additional` more templates. The matrix is moved to a new allocation and
    /// the old one zeroed, so no copy of the templates is left in freed memory.
    pub fn reserve(&mut self, additional: usize) {
        let needed = (self.len() + additional).saturating_mul(self.dim);
        if needed > self.data.capacity() {
            let mut data = Vec::with_capacity(needed);
            data.extend_from_slice(&self.data);
            self.data.zeroize();
            self.data = data;
        }
        self.norms.reserve(additional);
        self.row_identity.reserve(additional);
        self.row_enrollment.reserve(additional);
        self.by_enrollment.reserve(additional);
    }

    /// The template dimension.
    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Number of templates held.
    pub fn len(&self) -> usize {
        self.norms.len()
    }

    /// Whether the index holds no template.
    pub fn is_empty(&self) -> bool {
        self.norms.is_empty()
    }

    /// Number of distinct identities with at least one template.
    pub fn identities(&self) -> usize {
        self.by_identity.len()
    }

    /// Whether an enrollment is indexed.
    pub fn contains(&self, enrollment_id: &str) -> bool {
        self.by_enrollment.contains_key(enrollment_id)
    }

    fn check_template(&self, t: &[i8]) -> Result<f32, FaceIndexError> {
        if t.len() != self.dim {
            return Err(FaceIndexError::DimensionMismatch {
                expected: self.dim,
                got: t.len(),
            });
        }
        let n = norm(t);
        if n == 0.0 {
            return Err(FaceIndexError::ZeroVector);
        }
        Ok(n)
    }

    /// Adds an enrollment's template. Refused: another dimension, an all-zero template, an
    /// empty id, an enrollment id already indexed.
    pub fn insert(
        &mut self,
        enrollment_id: &str,
        identity_ref: &str,
        template: &[i8],
    ) -> Result<(), FaceIndexError> {
        let n = self.check_template(template)?;
        if enrollment_id.is_empty() || identity_ref.is_empty() {
            return Err(FaceIndexError::EmptyId);
        }
        if self.by_enrollment.contains_key(enrollment_id) {
            return Err(FaceIndexError::DuplicateEnrollment);
        }
        let row = u32::try_from(self.len()).map_err(|_| FaceIndexError::Full)?;
        if row == u32::MAX {
            return Err(FaceIndexError::Full);
        }
        if self.data.capacity() - self.data.len() < self.dim {
            self.reserve(self.len().max(MIN_GROW_ROWS));
        }
        let slot = self.identity_slot(identity_ref)?;
        let id: Arc<str> = Arc::from(enrollment_id);
        self.string_bytes += arc_str_bytes(enrollment_id);
        self.data.extend_from_slice(template);
        self.norms.push(n);
        self.row_identity.push(slot);
        self.row_enrollment.push(Arc::clone(&id));
        self.by_enrollment.insert(id, row);
        Ok(())
    }

    /// The slot of `identity_ref`, created if new, with one more row counted.
    fn identity_slot(&mut self, identity_ref: &str) -> Result<u32, FaceIndexError> {
        if let Some(&slot) = self.by_identity.get(identity_ref) {
            if let Some(Some(identity)) = self.identities.get_mut(slot as usize) {
                identity.rows += 1;
            }
            return Ok(slot);
        }
        let name: Arc<str> = Arc::from(identity_ref);
        let identity = Some(Identity {
            name: Arc::clone(&name),
            rows: 1,
        });
        let slot = if let Some(slot) = self.free_slots.pop() {
            self.identities[slot as usize] = identity;
            slot
        } else {
            let slot = u32::try_from(self.identities.len()).map_err(|_| FaceIndexError::Full)?;
            self.identities.push(identity);
            slot
        };
        self.string_bytes += arc_str_bytes(identity_ref);
        self.by_identity.insert(name, slot);
        Ok(slot)
    }

    /// Removes an enrollment's template; `false` when it was not indexed. The last row moves
    /// into the freed place; the values it leaves behind are zeroed.
    pub fn remove(&mut self, enrollment_id: &str) -> bool {
        let Some(row) = self.by_enrollment.remove(enrollment_id) else {
            return false;
        };
        let row = row as usize;
        let last = self.len() - 1;
        self.string_bytes -= arc_str_bytes(enrollment_id);
        let dim = self.dim;
        if row != last {
            self.data
                .copy_within(last * dim..(last + 1) * dim, row * dim);
            if let Some(moved) = self.by_enrollment.get_mut(&*self.row_enrollment[last]) {
                *moved = row as u32;
            }
        }
        self.data[last * dim..].fill(0);
        self.data.truncate(last * dim);
        self.norms.swap_remove(row);
        self.row_enrollment.swap_remove(row);
        let slot = self.row_identity.swap_remove(row);
        if let Some(entry) = self.identities.get_mut(slot as usize) {
            let gone = entry.as_mut().is_some_and(|identity| {
                identity.rows -= 1;
                identity.rows == 0
            });
            if gone && let Some(identity) = entry.take() {
                self.by_identity.remove(&*identity.name);
                self.string_bytes -= arc_str_bytes(&identity.name);
                self.free_slots.push(slot);
            }
        }
        true
    }

    /// Bytes the index holds: the int8 matrix, the norms, the per-row identity slots and
    /// enrollment ids, the id strings and the two hash tables (estimated from their capacity),
    /// counted at capacity. Allocator overhead is not counted.
    pub fn memory_bytes(&self) -> usize {
        use std::mem::size_of;
        self.data.capacity()
            + self.norms.capacity() * size_of::<f32>()
            + self.row_identity.capacity() * size_of::<u32>()
            + self.row_enrollment.capacity() * size_of::<Arc<str>>()
            + table_bytes::<Arc<str>, u32>(self.by_enrollment.capacity())
            + self.identities.capacity() * size_of::<Option<Identity>>()
            + table_bytes::<Arc<str>, u32>(self.by_identity.capacity())
            + self.free_slots.capacity() * size_of::<u32>()
            + self.string_bytes
    }

    /// Exact search: every template whose cosine with `query` is at least `threshold`, except
    /// those of `exclude_identity` (the identity being enrolled), best first, at most `top_k`.
    /// Refused: a query of another dimension, an all-zero query, a NaN threshold.
    pub fn search(
        &self,
        query: &[i8],
        exclude_identity: &str,
        threshold: f32,
        top_k: usize,
    ) -> Result<Vec<Hit>, FaceIndexError> {
        let q_norm = self.check_template(query)?;
        if threshold.is_nan() {
            return Err(FaceIndexError::BadThreshold);
        }
        if top_k == 0 || self.is_empty() {
            return Ok(Vec::new());
        }
        let excluded = self
            .by_identity
            .get(exclude_identity)
            .copied()
            .unwrap_or(u32::MAX);
        let dim = self.dim;
        let scan = |first_row: usize, block: &[i8]| {
            let mut top = TopK::new(top_k);
            let norms = &self.norms[first_row..first_row + block.len() / dim];
            for (i, (row, &n)) in block.chunks_exact(dim).zip(norms).enumerate() {
                let score = dot_i32(query, row) as f32 / (q_norm * n);
                let r = first_row + i;
                if score >= threshold && self.row_identity[r] != excluded {
                    top.offer(Ranked {
                        score,
                        id: &self.row_enrollment[r],
                        row: r as u32,
                    });
                }
            }
            top
        };
        let top = if self.len() >= PARALLEL_MIN_ROWS {
            self.data
                .par_chunks(BLOCK_ROWS * dim)
                .enumerate()
                .map(|(b, block)| scan(b * BLOCK_ROWS, block))
                .reduce(|| TopK::new(top_k), TopK::merge)
        } else {
            scan(0, &self.data)
        };
        Ok(top
            .heap
            .into_sorted_vec()
            .into_iter()
            .map(|c| Hit {
                enrollment_id: c.id.to_owned(),
                identity_ref: self.identities[self.row_identity[c.row as usize] as usize]
                    .as_ref()
                    .map(|i| i.name.to_string())
                    .unwrap_or_default(),
                score: c.score,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_matches_naive_for_every_length() {
        for len in 0..70usize {
            let a: Vec<i8> = (0..len)
                .map(|i| (i as i32 * 37 % 255 - 127) as i8)
                .collect();
            let b: Vec<i8> = (0..len)
                .map(|i| (i as i32 * 91 % 255 - 127) as i8)
                .collect();
            let naive: i32 = a
                .iter()
                .zip(&b)
                .map(|(&x, &y)| i32::from(x) * i32::from(y))
                .sum();
            assert_eq!(dot_i32(&a, &b), naive, "len {len}");
        }
        let extreme = vec![-128i8; MAX_DIM];
        assert_eq!(dot_i32(&extreme, &extreme), 16384 * MAX_DIM as i32);
    }

    #[test]
    fn table_estimate_is_sane() {
        assert_eq!(table_bytes::<u64, u32>(0), 0);
        assert!(table_bytes::<u64, u32>(1000) >= 1000 * 17);
    }
}
