//! Target `tar_image`: arbitrary bytes loaded as a tar image, and the same bytes gzipped.
//!
//! The first byte holds options (bit 0: interpret OCI whiteouts; bit 1: also load the rest
//! gzip-compressed), the rest is the archive. Loading uses tight `Limits`. Invariants:
//!
//! 1. no panic, and memory bounded by the limits (stream size, inodes);
//! 2. a loaded tree is well formed (`check_memfs`: every entry strictly inside the root with
//!    a valid name, every directory's parent consistent, no cycles, link counts right, nothing
//!    unreachable) and read-only; whiteouts name valid entries of live directories;
//! 3. exporting the tree (`export_memfs`) and loading the export gives the same tree
//!    (names, types, contents, link targets, hard links, modes, modification times);
//! 4. the gzipped archive loads exactly as the plain one (same tree or same error).

use crate::common::{ALL, canonical, check_memfs, valid_name};
use bytes::Bytes;
use std::io::Write;
use std::sync::Arc;
use strata::image::{ExportOptions, Image, Limits, LoadOptions, export_memfs, load_bytes};
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::{Errno, SteppingClock};

pub const LIMITS: Limits = Limits {
    max_image_bytes: 1 << 20,
    max_entries: 256,
    max_inodes: 256,
    max_path_len: 1024,
    max_pax_len: 4096,
};

fn options(oci: bool, limits: Limits) -> LoadOptions {
    LoadOptions {
        limits,
        oci_whiteouts: oci,
        mmap: false,
        parallel: false,
        clock: Arc::new(SteppingClock::new(0, 1)),
    }
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("writing to memory");
    e.finish().expect("writing to memory")
}

/// Inputs the loader takes for compressed data (gzip, or refused: zstd, xz, bzip2).
fn compressed(data: &[u8]) -> bool {
    data.starts_with(&[0x1f, 0x8b])
        || data.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || data.starts_with(b"\xfd7zXZ\0")
        || data.starts_with(b"BZh")
}

pub fn run(data: &[u8]) {
    let Some((&flags, tar)) = data.split_first() else {
        return;
    };
    let oci = flags & 1 != 0;
    let opts = options(oci, LIMITS);
    let plain = load_bytes(Bytes::copy_from_slice(tar), &opts);
    if let Ok(image) = &plain {
        check_image(image, oci);
    }
    if flags & 2 != 0 && !compressed(tar) {
        let packed = load_bytes(Bytes::from(gzip(tar)), &opts);
        match (&plain, &packed) {
            (Ok(a), Ok(b)) => {
                assert_eq!(
                    canonical(&a.fs, ROOT_INO, ALL),
                    canonical(&b.fs, ROOT_INO, ALL),
                    "the gzipped archive loads another tree"
                );
                assert_eq!(a.whiteouts, b.whiteouts);
                assert_eq!(a.opaque_dirs, b.opaque_dirs);
                assert!(b.stats.gzip && !a.stats.gzip);
                let same_stats = strata::image::LoadStats {
                    gzip: false,
                    ..b.stats
                };
                assert_eq!(a.stats, same_stats);
            }
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            (a, b) => panic!(
                "plain and gzipped archives disagree: {:?} vs {:?}",
                a.as_ref().map(|_| ()),
                b.as_ref().map(|_| ())
            ),
        }
    }
}

/// What kind of case `data` is (for picking diverse seeds): options, outcome, member kinds.
pub fn features(data: &[u8]) -> Vec<String> {
    run(data);
    let Some((&flags, tar)) = data.split_first() else {
        return Vec::new();
    };
    let opts = options(flags & 1 != 0, LIMITS);
    let mut f = vec![format!("flags={}", flags & 3)];
    match load_bytes(Bytes::copy_from_slice(tar), &opts) {
        Ok(image) => {
            let s = image.stats;
            f.push("ok".to_string());
            for (name, n) in [
                ("gzip", u64::from(s.gzip)),
                ("files", s.files),
                ("dirs", s.dirs),
                ("implicit", s.implicit_dirs),
                ("symlinks", s.symlinks),
                ("hard", s.hard_links),
                ("devices", s.devices),
                ("ignored", s.ignored),
                ("whiteouts", s.whiteouts),
                ("opaque", s.opaque),
                ("replaced", s.replaced),
                ("end", u64::from(s.end_marker)),
            ] {
                if n > 0 {
                    f.push(name.to_string());
                }
            }
        }
        Err(e) => {
            let e = format!("{e:?}");
            // The error's variant and, for entries, the problem's.
            let problem = e.split("problem: ").nth(1).map(|p| {
                p.split(['(', ' ', '{'])
                    .next()
                    .unwrap_or_default()
                    .to_string()
            });
            f.push(format!(
                "{} {}",
                e.split(['(', ' ', '{']).next().unwrap_or_default(),
                problem.unwrap_or_default()
            ));
        }
    }
    f
}

/// Checks a loaded image: invariants 1 to 3.
pub fn check_image(image: &Image, oci: bool) {
    let fs = &image.fs;
    assert!(image.stats.tar_bytes <= LIMITS.max_image_bytes);
    assert!(
        fs.inode_count() as u64 <= LIMITS.max_inodes + 1,
        "{} inodes",
        fs.inode_count()
    );
    if let Err(e) = check_memfs(fs) {
        panic!("loaded tree: {e}");
    }
    assert!(fs.is_readonly());
    assert_eq!(fs.clone().mkdir(ROOT_INO, "new", 0o755), Err(Errno::Rofs));
    let tree = canonical(fs, ROOT_INO, ALL);
    if oci {
        for c in &tree {
            let name = c.path.rsplit('/').next().unwrap_or_default();
            assert!(
                !name.starts_with(".wh."),
                "whiteout marker {:?} kept",
                c.path
            );
        }
    }
    for (dir, name) in &image.whiteouts {
        assert!(fs.dir(*dir).is_ok(), "whiteout in a dead directory {dir}");
        assert!(
            valid_name(name) && !name.starts_with(".wh."),
            "whiteout {name:?}"
        );
    }
    for dir in &image.opaque_dirs {
        assert!(
            fs.dir(*dir).is_ok(),
            "opaque marker in a dead directory {dir}"
        );
    }

    let out = export_memfs(fs, ROOT_INO, Vec::new(), &ExportOptions::default())
        .unwrap_or_else(|e| panic!("exporting a loaded image: {e}"));
    let generous = Limits {
        max_image_bytes: 64 << 20,
        ..Limits::DEFAULT
    };
    let back = load_bytes(Bytes::from(out), &options(false, generous))
        .unwrap_or_else(|e| panic!("loading the export of a loaded image: {e}"));
    assert_eq!(
        tree,
        canonical(&back.fs, ROOT_INO, ALL),
        "the exported tree loads differently"
    );
}
