//! Where filesystem timestamps come from: the host's real-time clock, or a deterministic
//! counter so that two runs stamp files identically.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where file timestamps come from: the host's clock, or a virtual one for deterministic runs.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// Nanoseconds since the Unix epoch.
    fn now_ns(&self) -> u64;
}

/// The host's wall clock.
#[derive(Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ns(&self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0)
    }
}

/// Starts at a fixed instant and advances by a fixed step on every reading.
#[derive(Debug)]
pub struct SteppingClock {
    next: AtomicU64,
    step: u64,
}

impl SteppingClock {
    /// A clock that reads `start_ns` first and `step_ns` more at each later reading.
    pub fn new(start_ns: u64, step_ns: u64) -> Self {
        SteppingClock {
            next: AtomicU64::new(start_ns),
            step: step_ns,
        }
    }
}

impl Clock for SteppingClock {
    fn now_ns(&self) -> u64 {
        self.next.fetch_add(self.step, Ordering::Relaxed)
    }
}
