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
