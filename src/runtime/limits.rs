//! The limits of one run, as the library and the CLI take them: one memory budget for what the
//! guest makes the host hold, inodes (`ENOSPC` beyond), open fds (`EMFILE`), wall-clock time
//! and instruction fuel (the run ends), guest threads. The budget (`crate::vfs::budget::Budget`) is charged
//! by the filesystem, by linear memory and tables (`memory_budget`), by captured output and
//! by the arguments and environment; the fd table enforces the fd limit, the watchdog and the
//! metering middleware the last two.

#![forbid(unsafe_code)]

use std::time::Duration;

/// The limits of one run. `Default` gives the defaults below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Bytes the run may make the host hold, in one budget: its linear memory (a
    /// `memory.grow` past it returns -1), its tables (16 B per element they may hold), output
    /// captured by the library and the in-memory filesystem's blocks, inodes and links (past
    /// it `fd_write`, truncations, `fd_allocate`s and creations fail with `ENOSPC`), and the
    /// arguments and environment (past it the run is refused, `Error::ArgsTooLarge`). Not
    /// counted: strata's own baseline and the compiled code. `--max-memory` in the CLI.
    /// Default 4 GiB.
    pub max_memory: u64,
    /// Inodes the run may create and hold (files, directories, symlinks); beyond it
    /// creations fail with `ENOSPC`. Default 1,000,000.
    pub max_inodes: u64,
    /// Open file descriptors, stdio and preopens included (like `RLIMIT_NOFILE`); beyond it
    /// opening fails with `EMFILE`. Default 1024.
    pub max_fds: u32,
    /// Wall-clock time the guest may run; then it is stopped (`Error::Timeout`, exit status
    /// 124 in the CLI). Default: none.
    pub timeout: Option<Duration>,
    /// Units of fuel the guest may burn, one per WebAssembly instruction executed (wasmer's
    /// metering middleware; deterministic); then it is stopped (`Error::OutOfFuel`, exit
    /// status 152 in the CLI). Default: none (the module is compiled without metering).
    pub fuel: Option<u64>,
    /// Guest threads that may run at once, the main thread included (wasi-threads); a
    /// `thread-spawn` beyond it fails (the guest sees `EAGAIN` from `pthread_create`, an
    /// error from Rust's `thread::spawn`). `--max-threads` in the CLI. Default 64.
    pub max_threads: u32,
}

impl ResourceLimits {
    /// Default `max_memory`: 4 GiB.
    pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;
    /// Default `max_inodes`: one million.
    pub const DEFAULT_MAX_INODES: u64 = 1_000_000;
    /// Default `max_fds`: 1024, as Linux's usual `RLIMIT_NOFILE`.
    pub const DEFAULT_MAX_FDS: u32 = 1024;
    /// Default `max_threads`: 64.
    pub const DEFAULT_MAX_THREADS: u32 = 64;

    /// The defaults above, no timeout, no fuel.
    pub const DEFAULT: ResourceLimits = ResourceLimits {
        max_memory: Self::DEFAULT_MAX_MEMORY,
        max_inodes: Self::DEFAULT_MAX_INODES,
        max_fds: Self::DEFAULT_MAX_FDS,
        timeout: None,
        fuel: None,
        max_threads: Self::DEFAULT_MAX_THREADS,
    };
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits::DEFAULT
    }
}
