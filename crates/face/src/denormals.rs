//! Subnormal floats flushed to zero while a model runs.
//!
//! Some inputs drive a network's activations into the subnormal range (below 1.2 × 10⁻³⁸),
//! where x86 CPUs fall back to microcode for every operation: measured here, the passive PAD
//! model took 3.3 s on one core for a portrait that takes 0.7–1.1 s with subnormals flushed,
//! to the same depth score. [`FlushDenormals`] sets the FTZ and DAZ bits of the calling
//! thread's MXCSR register for as long as it lives and restores the previous value when
//! dropped; the model thread pools set them once on each of their threads.
//!
//! What it does not do: change anything on other architectures (there it is a no-op), or
//! touch any thread but the caller's. Results differ from IEEE gradual underflow only for
//! values that small, far below anything a face model's outputs resolve.

/// MXCSR bits: flush-to-zero (15) and denormals-are-zero (6).
#[cfg(target_arch = "x86_64")]
const FTZ_DAZ: u32 = 0x8040;

/// While alive, subnormal floats on this thread are flushed to zero (see the module docs).
#[must_use = "the setting lasts as long as the guard"]
pub struct FlushDenormals {
    #[cfg(target_arch = "x86_64")]
    saved: u32,
}

impl FlushDenormals {
    /// Flushes subnormals on the calling thread until the guard is dropped.
    pub fn on_this_thread() -> Self {
        #[cfg(target_arch = "x86_64")]
        {
            let saved = read();
            write(saved | FTZ_DAZ);
            Self { saved }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            Self {}
        }
    }

    /// Flushes subnormals on the calling thread for the rest of its life (model pool threads).
    pub fn for_this_thread() {
        std::mem::forget(Self::on_this_thread());
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        #[cfg(target_arch = "x86_64")]
        write(self.saved);
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, deprecated)]
fn read() -> u32 {
    // SAFETY: reading MXCSR has no side effect; SSE is part of the x86_64 baseline.
    unsafe { std::arch::x86_64::_mm_getcsr() }
}

#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code, deprecated)]
fn write(v: u32) {
    // SAFETY: only the FTZ/DAZ bits are ever changed from a value read on this thread (or
    // restored to it); they alter the results of subnormal arithmetic on this thread only,
    // which no code here relies on. SSE is part of the x86_64 baseline.
    unsafe { std::arch::x86_64::_mm_setcsr(v) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subnormals_flush_inside_the_guard_and_come_back_after() {
        let tiny = std::hint::black_box(f32::MIN_POSITIVE);
        let half = |x: f32| std::hint::black_box(x) / std::hint::black_box(4.0);
        assert!(half(tiny) > 0.0, "gradual underflow outside the guard");
        {
            let _g = FlushDenormals::on_this_thread();
            if cfg!(target_arch = "x86_64") {
                assert_eq!(half(tiny), 0.0, "flushed inside the guard");
            }
        }
        assert!(half(tiny) > 0.0, "restored after the guard");
    }
}
