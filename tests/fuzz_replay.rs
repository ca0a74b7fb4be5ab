//! Replays every seed corpus file and every past crash of the fuzz targets (`fuzz/corpus/*/`,
//! `fuzz/regressions/*/`) through the targets' own logic, on stable, in plain `cargo test`.
//! The target modules are the fuzz crate's files, included as they are (they only use
//! `strata`, `std`, `arbitrary`, `bytes`, `flate2` and `tar`); see `fuzz/README.md`.

#![allow(dead_code)]

#[path = "../fuzz/src/common.rs"]
mod common;
#[path = "../fuzz/src/overlay.rs"]
mod overlay;
#[path = "../fuzz/src/resolve_path.rs"]
mod resolve_path;
#[path = "../fuzz/src/syscalls.rs"]
mod syscalls;
#[path = "../fuzz/src/tar_image.rs"]
mod tar_image;

use std::path::{Path, PathBuf};

/// Files of `fuzz/{corpus,regressions}/<target>/`, and of `$STRATA_FUZZ_EXTRA/<target>/` if
/// that is set (e.g. a campaign's working corpus), sorted (hidden files skipped).
fn inputs(target: &str) -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut dirs = vec![root.join("corpus"), root.join("regressions")];
    dirs.extend(std::env::var_os("STRATA_FUZZ_EXTRA").map(PathBuf::from));
    let mut files = Vec::new();
    for set in dirs {
        let Ok(dir) = std::fs::read_dir(set.join(target)) else {
            continue;
        };
        for entry in dir {
            let path = entry.expect("listing a fuzz input directory").path();
            let hidden = path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with('.'));
            if path.is_file() && !hidden {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn replay(target: &str, run: fn(&[u8])) {
    let files = inputs(target);
    assert!(!files.is_empty(), "no corpus for fuzz target {target}");
    let mut failed = Vec::new();
    for path in &files {
        let data = std::fs::read(path).expect("reading a fuzz input");
        if std::panic::catch_unwind(|| run(&data)).is_err() {
            failed.push(path.display().to_string());
        }
    }
    assert!(
        failed.is_empty(),
        "{target}: {} of {} inputs fail: {failed:#?}",
        failed.len(),
        files.len()
    );
}

#[test]
fn resolve_path() {
    replay("resolve_path", resolve_path::run);
}

#[test]
fn tar_image() {
    replay("tar_image", tar_image::run);
}

#[test]
fn syscalls() {
    replay("syscalls", syscalls::run);
}

#[test]
fn overlay() {
    replay("overlay", overlay::run);
}

// The differential invariants of the structured targets as properties, so that every
// `cargo test` tries fresh inputs as well as the committed ones: proptest's random bytes go
// through the same `arbitrary` decoding a campaign's inputs do. A failure is kept in
// `tests/fuzz_replay.proptest-regressions` and replayed first from then on.
proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 1024,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn overlay_agrees_with_a_flat_filesystem(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..4096)) {
        overlay::run(&data);
    }

    #[test]
    fn resolution_agrees_with_the_reference_resolver(data in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..2048)) {
        resolve_path::run(&data);
    }
}

// Typed regression tests: each committed regression file is raw bytes whose meaning is the
// `arbitrary` decoding of the target's input type at the time it was found. When that type
// changes, the same bytes decode to another input and the file silently stops testing the
// bug, so each is also written out here as the input it stood for.

mod typed {
    use super::common::PathArg;
    use super::syscalls::{Fd, Input, Limits, Op, PathIn, Ptr};
    use strata::wasi::rights;

    fn path(p: &str) -> PathIn {
        PathIn::Spec(PathArg::Raw(p.as_bytes().to_vec()))
    }

    fn open(dir: u32, p: &str, oflags: u8, rights: Option<u64>) -> Op {
        Op::Open {
            fd: Fd::Raw(dir),
            follow: true,
            path: path(p),
            oflags,
            rights,
            inheriting: rights,
            fdflags: 0,
            out: Ptr::Out(0),
        }
    }

    const CREAT: u8 = 1;
    const TRUNC: u8 = 8;

    /// `regressions/syscalls/path-open-creates-then-emfile`: with the fd table full,
    /// `path_open` with `O_CREAT` (or `O_TRUNC`) created (truncated) the file, then failed
    /// with `EMFILE`; invariant 4 (a failing call changes nothing) caught it.
    #[test]
    fn path_open_creates_then_emfile() {
        let writable = Some(rights::FD_READ | rights::FD_WRITE);
        let features = super::syscalls::check(&Input {
            // Stdio and three preopens take six fds; the seventh is the last.
            limits: Some(Limits {
                memory_kib: u16::MAX,
                inodes: u8::MAX,
                fds: 7,
            }),
            ops: vec![
                // Fd 4 is /scratch: a file with contents, held open (the table is now full).
                open(4, "kept", CREAT, writable),
                Op::Poke(0x100, b"contents".to_vec()),
                // Nothing can be opened now: neither created nor truncated on the way.
                open(4, "new", CREAT, writable),
                open(4, "kept", TRUNC, writable),
                open(4, "kept", CREAT | TRUNC, writable),
            ],
        });
        assert_eq!(
            features,
            [
                "Open:Ok(())",
                "Poke:Ok(())",
                "Open:Err(Mfile)",
                "Open:Err(Mfile)",
                "Open:Err(Mfile)",
            ]
        );
    }

    /// Rights dropped with `fd_fdstat_set_rights` stay dropped: asking for them again is
    /// `ENOTCAPABLE`, and the target's rights invariant (never more than the fd held) holds.
    #[test]
    fn dropped_rights_are_not_regained() {
        let all = Some(u64::MAX);
        let file = rights::FD_READ | rights::FD_WRITE | rights::FD_SEEK;
        let features = super::syscalls::check(&Input {
            limits: None,
            ops: vec![
                open(4, "f", CREAT, all),
                // Fd 6: drop FD_WRITE, then ask for it back.
                Op::SetRights(Fd::Raw(6), file & !rights::FD_WRITE, 0),
                Op::SetRights(Fd::Raw(6), file, 0),
                // The preopen itself: drop PATH_CREATE_FILE, then ask for it back.
                Op::SetRights(Fd::Raw(4), rights::PATH_OPEN, rights::FD_READ),
                Op::SetRights(
                    Fd::Raw(4),
                    rights::PATH_OPEN | rights::PATH_CREATE_FILE,
                    rights::FD_READ,
                ),
            ],
        });
        assert_eq!(
            features,
            [
                "Open:Ok(())",
                "SetRights:Ok(())",
                "SetRights:Err(Notcapable)",
                "SetRights:Ok(())",
                "SetRights:Err(Notcapable)",
            ]
        );
    }
}
