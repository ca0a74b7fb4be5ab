//! Strata runs WebAssembly programs compiled for WASI on wasmer inside a fully virtual,
//! in-memory filesystem. Layers, top to bottom: the CLI and the sandbox builder
//! (`runtime`), the syscall layer (`wasi`), the filesystem (`vfs`); `image` loads trees.

pub mod image;
#[cfg(feature = "runtime")]
pub mod runtime;
#[cfg(feature = "runtime")]
pub mod sandbox;
pub mod vfs;
pub mod wasi;
