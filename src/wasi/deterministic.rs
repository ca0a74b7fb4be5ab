//! A deterministic `Environment`: virtual clocks that start at a fixed instant and advance a
//! fixed step per reading (and by exactly the requested time when the guest sleeps), and
//! random bytes from a ChaCha generator seeded by the caller. Two runs with the same seed and
//! the same inputs observe the same times and the same random bytes.

#![forbid(unsafe_code)]

use super::ctx::Environment;
use crate::vfs::Result;
use rand_chacha::ChaCha12Rng;
use rand_core::{RngCore, SeedableRng};

/// 2000-01-01T00:00:00Z: where the realtime clock of a deterministic run starts.
pub const REALTIME_START_NS: u64 = 946_684_800 * 1_000_000_000;
/// How far the virtual clocks advance on each reading (1 µs), so time never stands still.
pub const STEP_NS: u64 = 1_000;

/// Clocks and randomness of a deterministic run: virtual clocks advancing a fixed step per
/// reading, random bytes from a seeded ChaCha generator.
#[derive(Debug)]
pub struct DeterministicEnvironment {
    elapsed_ns: u64,
    rng: ChaCha12Rng,
}

impl DeterministicEnvironment {
    /// The environment of a run seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        DeterministicEnvironment {
            elapsed_ns: 0,
            rng: ChaCha12Rng::seed_from_u64(seed),
        }
    }

    fn tick(&mut self) -> u64 {
        self.elapsed_ns = self.elapsed_ns.saturating_add(STEP_NS);
        self.elapsed_ns
    }
}

impl Environment for DeterministicEnvironment {
    fn realtime_ns(&mut self) -> u64 {
        REALTIME_START_NS.saturating_add(self.tick())
    }

    fn monotonic_ns(&mut self) -> u64 {
        self.tick()
    }

    fn cputime_ns(&mut self) -> u64 {
        self.tick()
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> Result<()> {
        self.rng.fill_bytes(buf);
        Ok(())
    }

    fn sleep_ns(&mut self, ns: u64) {
        // No real wait: the virtual clocks jump.
        self.elapsed_ns = self.elapsed_ns.saturating_add(ns);
    }

    fn waits_for_real(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_observations() {
        let (mut a, mut b) = (
            DeterministicEnvironment::new(7),
            DeterministicEnvironment::new(7),
        );
        let mut ra = [0u8; 32];
        let mut rb = [0u8; 32];
        a.fill_random(&mut ra).unwrap();
        b.fill_random(&mut rb).unwrap();
        assert_eq!(ra, rb);
        assert_eq!(a.realtime_ns(), REALTIME_START_NS + STEP_NS);
        a.sleep_ns(5_000_000);
        assert_eq!(a.monotonic_ns(), 2 * STEP_NS + 5_000_000);
        let mut rc = [0u8; 32];
        DeterministicEnvironment::new(8)
            .fill_random(&mut rc)
            .unwrap();
        assert_ne!(ra, rc, "another seed, other bytes");
    }
}
