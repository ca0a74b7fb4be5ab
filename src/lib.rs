//! Strata runs WebAssembly programs compiled for WASI on wasmer inside a fully virtual,
//! in-memory filesystem. Layers, top to bottom, each using only those below it: the run
//! specification (`sandbox`, which the `strata` CLI translates its flags into), the thin
//! wasmer binding (`runtime`), the syscall layer (`wasi`), the filesystem (`vfs`); `image`
//! brings trees in (tar, tar.gz, host directories) and out (tar).

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
