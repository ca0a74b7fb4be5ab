//! What every integration test shares to stay independent of the machine it runs on and of
//! the tests running beside it: each `strata` process gets a module cache directory of its
//! own (never the user's `~/.cache/strata/modules`, whose history would change what a test
//! sees), and library programs are cached in memory only.
//!
//! Included with `mod common;` by the test files that run the CLI or compile programs.

#![allow(dead_code)]

use std::ops::{Deref, DerefMut};
use std::path::Path;
use std::process::Command;
use strata::sandbox::{CachePolicy, Program, ProgramOptions};

/// A `strata` command whose module cache is a fresh temporary directory, removed when the
/// value is dropped (after the command ran: `strata_cmd().args(..).output()` keeps it alive
/// to the end of the statement). A test that wants one cache across several runs sets
/// `STRATA_CACHE_DIR` itself (a later `.env` wins).
pub struct StrataCmd {
    cmd: Command,
    _cache: tempfile::TempDir,
}

impl Deref for StrataCmd {
    type Target = Command;
    fn deref(&self) -> &Command {
        &self.cmd
    }
}

impl DerefMut for StrataCmd {
    fn deref_mut(&mut self) -> &mut Command {
        &mut self.cmd
    }
}

pub fn strata_cmd() -> StrataCmd {
    let cache = tempfile::Builder::new()
        .prefix("strata-test-cache")
        .tempdir()
        .expect("a temporary cache directory");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_strata"));
    cmd.env("STRATA_CACHE_DIR", cache.path())
        .env_remove("XDG_CACHE_HOME")
        .env_remove("STRATA_CACHE_MAX")
        .env_remove("STRATA_CACHE_COMPRESS");
    StrataCmd { cmd, _cache: cache }
}

/// Options for programs compiled by library tests: cached in this process's memory only.
pub fn memory_only() -> ProgramOptions {
    ProgramOptions {
        cache: CachePolicy::MemoryOnly,
        ..ProgramOptions::default()
    }
}

/// A program compiled from a file, cached in memory only.
pub fn program_file(path: impl AsRef<Path>) -> Program {
    Program::from_file_with(path.as_ref(), &memory_only())
        .unwrap_or_else(|e| panic!("compiling {}: {e}", path.as_ref().display()))
}

/// A program compiled from bytes (binary or text), cached in memory only.
pub fn program_bytes(wasm: impl AsRef<[u8]>) -> Program {
    Program::from_bytes_with(wasm, &memory_only()).expect("compiling a test module")
}
