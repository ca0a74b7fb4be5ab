//! Strata runs WebAssembly programs compiled for WASI (`wasm32-wasip1`) on
//! [wasmer](https://wasmer.io) inside a fully virtual, in-memory filesystem. Every file a guest
//! touches lives in strata's own memory (tar images mounted copy-on-write, host directories
//! imported without ever being written), and every path it names is resolved beneath a
//! directory it was given.
//!
//! # A first run
//!
//! Mount the demo image, run `cat` on one of its files with its output captured, and read the
//! filesystem the run left behind:
//!
//! ```
//! use strata::sandbox::{Program, Sandbox, Status};
//!
//! // Compiled once, then cached in memory and on disk (`strata --version` shows where).
//! let cat = Program::from_file("tests/programs/wasm/cat.wasm")?;
//! let sandbox = Sandbox::builder()
//!     .image_file("fs-images/demo.tar", "/")      // the root: mounted, never extracted
//!     .file("/etc/motd", "hello from the host\n")   // one more file in the prepared tree
//!     .args(["/home/user/hello.txt", "/etc/motd"])
//!     .deterministic(1)                            // same inputs, same bytes, every run
//!     .build()?;
//! let outcome = sandbox.run(&cat)?;                // stdout and stderr are captured
//! assert_eq!(outcome.status, Status::Exited(0));
//! let hello = outcome.read("/home/user/hello.txt")?;
//! assert!(hello.starts_with(b"Hello from inside the strata sandbox."));
//! assert_eq!(outcome.stdout, [hello, b"hello from the host\n".to_vec()].concat());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! The `strata run` command line is a translation of its flags into the same builder:
//! `strata run --image fs-images/demo.tar tests/programs/wasm/cat.wasm /home/user/hello.txt`.
//!
//! # Layers
//!
//! Top to bottom, each using only those below it:
//!
//! - [`sandbox`]: the run specification and the one place a run is assembled.
//!   [`SandboxBuilder`](sandbox::SandboxBuilder) takes images, host directories, files,
//!   arguments, stdio, limits, faults, determinism and the call trace; a
//!   [`Sandbox`](sandbox::Sandbox) runs any [`Program`](sandbox::Program) on an O(1) fork of
//!   its prepared filesystem and returns an [`Outcome`](sandbox::Outcome) (status, captured
//!   output, the final filesystem, tar exports). Start here.
//! - [`runtime`]: the thin wasmer binding. [`runtime::WasiEnv::builder`] has the shape of
//!   wasmer-wasi's builder and yields `Imports` for your own `Store`, to embed strata beside
//!   host functions of your own (example in the module); it also holds the resource limits,
//!   the timeout watchdog, fuel metering, the on-disk module cache, and wasi-threads (programs
//!   built for `wasm32-wasip1-threads`: every thread a store of its own over the program's one
//!   shared memory and one WASI context; see the README's "Threads").
//! - [`wasi`]: the syscalls of `wasi_snapshot_preview1` and `wasi_unstable`, written against a
//!   small guest-memory trait ([`wasi::memory::GuestMemory`]), so they run over a byte buffer
//!   in tests and fuzzing; ABI layouts, the fd table, deterministic clocks and randomness,
//!   fault injection, and the decoding of the call trace ([`wasi::trace`]).
//! - [`vfs`]: the filesystem: copy-on-write inode tables (a fork is O(1)), file data shared
//!   zero-copy with images, directories with stable readdir cookies, the confined resolver,
//!   the namespace of mounts, the byte and inode budget, and [`vfs::Errno`], the one error
//!   type, numbered as WASI's.
//! - [`image`]: trees in and out, beside the stack: tar and tar.gz images loaded zero-copy
//!   ([`image::load_path`], memory-mapped; shared through [`image::ImageCache`]), host
//!   directories imported lazily, OCI layers and diffs, reproducible tar export
//!   ([`image::export_vfs`]) and image building ([`image::build_from_dir`]).
//!
//! Without the default `runtime` feature, wasmer, `runtime` and `sandbox` are left out and
//! the rest builds in seconds.
//!
//! # What is guaranteed
//!
//! - **Confinement.** The syscall layer never calls the host filesystem. Every guest path is
//!   resolved beneath the directory fd it is relative to: `..` stops there, absolute symlinks
//!   in images and host trees resolve from the sandbox root and must still end beneath that
//!   directory, and guests cannot create absolute symlinks. Images and host directories are
//!   never modified; writes go to the run's copy-on-write layers. The fuzz targets check this
//!   after every call, and `cargo test` replays their corpora.
//! - **Determinism.** With [`deterministic(seed)`](sandbox::SandboxBuilder::deterministic),
//!   clocks are virtual, random bytes come from a generator seeded with `seed`, and inode
//!   numbers, timestamps and readdir order depend only on the operations performed: two runs
//!   with the same program and inputs print the same bytes, trace the same lines and leave
//!   the same filesystem. Outside it: stdin read from a terminal or pipe, host file metadata,
//!   host functions an embedder adds.
//! - **Limits.** Memory held by the run's files (`ENOSPC` beyond), inodes, open fds
//!   (`EMFILE`), wall-clock time and instruction fuel ([`sandbox::ResourceLimits`]); image
//!   loading has its own limits against hostile archives ([`image::Limits`]). A guest that
//!   traps, times out or runs out of fuel is an outcome, never a crash of the host.
//! - **Observation without interference.** Fault injection changes only the calls it names;
//!   the call trace only reads guest memory, and costs nothing when off.

#![warn(missing_docs)]

pub mod image;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod sandbox;
pub mod vfs;
pub mod wasi;

/// The README's Rust examples run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
