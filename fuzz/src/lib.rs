//! The logic of strata's fuzz targets, one module per target, each with a `run(&[u8])` that
//! panics when an invariant breaks. `fuzz_targets/*.rs` are one-line wrappers for
//! libFuzzer; `tests/fuzz_replay.rs` in the main crate includes these same files (with
//! `#[path]`) to replay every corpus file and past crash under plain `cargo test` on stable.
//! So the modules use nothing but `strata`, `std`, `arbitrary`, `bytes`, `flate2` and `tar`, and
//! refer to each other through `crate::common` only.

pub mod common;
pub mod overlay;
pub mod resolve_path;
pub mod syscalls;
pub mod tar_image;
