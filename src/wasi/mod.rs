//! WASI `wasi_snapshot_preview1` and `wasi_unstable` over the virtual filesystem. The
//! syscalls are methods of `WasiCtx`, one module per family, and work on any
//! `GuestMemory` (a plain byte buffer in tests and fuzzing, wasmer memory at run time).

pub mod abi;
pub mod ctx;
pub mod deterministic;
pub mod faults;
pub mod fd;
pub mod fdtable;
pub mod memory;
pub mod path;
pub mod poll;
pub mod proc;
pub mod sock;
pub mod trace;

pub use abi::rights;
