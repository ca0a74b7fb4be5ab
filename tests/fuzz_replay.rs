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
// `cargo test` tries fresh inputs as well as the committed ones. Inputs are built element by
// element: proptest chooses how many entries and operations there are (up to the targets'
// caps) and each element is decoded by `arbitrary` from bytes of its own, as a campaign's
// elements are. (Uniform random bytes through `arbitrary` would not do: its collections end
// on a coin flip, so most inputs would hold one or two operations.) Directories are often
// made inside the one made last, so trees go deep; paths have many components. A failure is
// kept in `tests/fuzz_replay.proptest-regressions` and replayed first from then on.
mod deep {
    use super::common::{Part, PathArg};
    use super::{overlay, resolve_path};
    use arbitrary::{Arbitrary, Unstructured};
    use proptest::prelude::*;

    /// One `T` from its own bytes (missing bytes read as zeros, as `arbitrary` does).
    pub fn one<T: for<'a> Arbitrary<'a>>(bytes: &[u8]) -> T {
        T::arbitrary(&mut Unstructured::new(bytes)).expect("decoding one element")
    }

    /// `n` chunks of bytes, one per element.
    pub fn chunks(n: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Vec<u8>>> {
        prop::collection::vec(prop::collection::vec(any::<u8>(), 2..24), n)
    }

    /// A path of up to 24 components (or, rarely, raw bytes).
    pub fn path() -> impl Strategy<Value = PathArg> {
        prop_oneof![
            9 => (any::<bool>(), chunks(0..24), any::<u8>()).prop_map(|(absolute, parts, trailing)| {
                PathArg::Parts {
                    absolute,
                    parts: parts.iter().map(|c| one::<Part>(c)).collect(),
                    trailing,
                }
            }),
            1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(PathArg::Raw),
        ]
    }

    /// Entries of a tree; `deep` says which ones go into the directory made last, `is_dir`
    /// which are directories.
    pub fn nest<E>(
        entries: &mut [E],
        deep: &[bool],
        is_dir: impl Fn(&E) -> bool,
        parent: impl Fn(&mut E) -> &mut u8,
    ) {
        let mut dirs = 0usize;
        for (e, &d) in entries.iter_mut().zip(deep) {
            if d && dirs > 0 && dirs < 256 {
                *parent(e) = dirs as u8;
            }
            if is_dir(e) {
                dirs += 1;
            }
        }
    }

    pub fn overlay_input() -> impl Strategy<Value = overlay::Input> {
        (
            chunks(0..32),
            prop::collection::vec(prop::bool::weighted(0.6), 32),
            prop::option::of(chunks(0..32)),
            chunks(16..64),
        )
            .prop_map(|(lower, deep, upper, ops)| {
                let mut lower: Vec<overlay::Entry> = lower.iter().map(|c| one(c)).collect();
                nest(
                    &mut lower,
                    &deep,
                    |e| matches!(e.kind, overlay::Kind::Dir),
                    |e| &mut e.parent,
                );
                overlay::Input {
                    lower,
                    upper: upper.map(|u| u.iter().map(|c| one(c)).collect()),
                    ops: ops.iter().map(|c| one(c)).collect(),
                }
            })
    }

    pub fn syscalls_input() -> impl Strategy<Value = super::syscalls::Input> {
        (prop::option::weighted(0.2, chunks(3..4)), chunks(16..64)).prop_map(|(limits, ops)| {
            super::syscalls::Input {
                limits: limits.map(|c| one(&c[0])),
                ops: ops.iter().map(|c| one(c)).collect(),
            }
        })
    }

    pub fn resolve_input() -> impl Strategy<Value = resolve_path::Input> {
        (
            (any::<bool>(), any::<bool>(), chunks(0..48)),
            prop::collection::vec(prop::bool::weighted(0.6), 48),
            prop::option::of((any::<u8>(), any::<bool>(), chunks(0..16))),
            (any::<u8>(), 0..3u8, path()),
        )
            .prop_map(
                |((root_image, fork, entries), deep, mount, (base, follow, path))| {
                    let is_dir =
                        |e: &resolve_path::Entry| matches!(e.kind, resolve_path::EntryKind::Dir);
                    let mut entries: Vec<resolve_path::Entry> =
                        entries.iter().map(|c| one(c)).collect();
                    nest(&mut entries, &deep, is_dir, |e| &mut e.parent);
                    resolve_path::Input {
                        root_image,
                        fork,
                        entries,
                        mount: mount.map(|(at, image, entries)| resolve_path::Mount {
                            at,
                            image,
                            entries: entries.iter().map(|c| one(c)).collect(),
                        }),
                        base,
                        follow: [
                            resolve_path::FollowArg::Yes,
                            resolve_path::FollowArg::No,
                            resolve_path::FollowArg::Entry,
                        ][follow as usize],
                        path,
                    }
                },
            )
    }
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 1024,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn overlay_agrees_with_a_flat_filesystem(input in deep::overlay_input()) {
        overlay::check(&input);
    }

    #[test]
    fn resolution_agrees_with_the_reference_resolver(input in deep::resolve_input()) {
        resolve_path::check(&input);
    }
}

proptest::proptest! {
    // Each case checks every node outside the preopens after every call: fewer cases.
    #![proptest_config(proptest::prelude::ProptestConfig {
        cases: 256,
        ..proptest::prelude::ProptestConfig::default()
    })]

    #[test]
    fn syscalls_stay_confined_and_consistent(input in deep::syscalls_input()) {
        syscalls::check(&input);
    }
}

/// The generators reach what they are for: most inputs hold many operations, and trees
/// nest deep (measured on the decoded inputs, as the targets see them).
#[test]
fn generated_inputs_are_long_and_deep() {
    use proptest::strategy::{Strategy, ValueTree};
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let (mut long, mut deep_trees) = (0, 0);
    for _ in 0..200 {
        let o = deep::overlay_input()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        long += usize::from(o.ops.len() >= 16);
        let r = deep::resolve_input()
            .new_tree(&mut runner)
            .unwrap()
            .current();
        // Depth: the longest chain of entries each inside the previous one.
        let mut depth = vec![0usize];
        let mut max = 0;
        for e in &r.entries {
            let d = depth[e.parent as usize % depth.len()] + 1;
            if matches!(e.kind, resolve_path::EntryKind::Dir) {
                depth.push(d);
            }
            max = max.max(d);
        }
        deep_trees += usize::from(max >= 6);
    }
    assert_eq!(long, 200, "every overlay input has 16 operations or more");
    assert!(
        deep_trees >= 100,
        "{deep_trees} of 200 trees are 6 or more levels deep"
    );
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
