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
//! 4. the gzipped archive loads exactly as the plain one (same tree or same error);
//! 5. an independent reader agrees: where the `tar` crate's own iteration (its pax, GNU long
//!    name and number parsing, not strata's) reads the whole archive and strata loads it
//!    without OCI whiteouts, the tree is the one its members describe under the documented
//!    rules (`compare_with_reader`): paths, types, contents, link targets, modes, mtimes,
//!    hard links. (Invariant 3 compares strata with itself; this one cannot be fooled by a
//!    misparse both sides share.)

use crate::common::{ALL, canonical, check_memfs, valid_name};
use bytes::Bytes;
use std::io::Write;
use std::sync::Arc;
use strata::image::{ExportOptions, Image, Limits, LoadOptions, export_memfs, load_bytes};
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::{Errno, FileType, SteppingClock};

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
        if !oci
            && !compressed(tar)
            && let Some(members) = tar_crate_members(tar)
            && let Err(e) = compare_with_reader(image, &members)
        {
            panic!("strata and the tar crate disagree: {e}");
        }
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

// ---------------------------------------------------------------------------------------------
// Invariant 5: an independent reader as the oracle

/// One member as another tar reader sees it (the `tar` crate's iteration here; Python's
/// `tarfile` in `tests/tar_oracles.rs`), extension headers applied.
#[derive(Clone, Debug)]
pub struct OracleMember {
    /// The header's type flag.
    pub flag: u8,
    /// The name, after pax `path` / GNU long name / ustar prefix.
    pub name: Vec<u8>,
    /// Link target (pax `linkpath` / GNU long link / header field).
    pub link: Vec<u8>,
    pub mode: u32,
    /// Modification time in whole seconds (pax `mtime` if there is one); before 1970 is 0.
    pub mtime: u64,
    pub data: Vec<u8>,
}

/// The members as the `tar` crate's `Archive::entries` reads them, or `None` if it does not
/// read the whole archive (an error anywhere, or what it cannot express).
pub fn tar_crate_members(data: &[u8]) -> Option<Vec<OracleMember>> {
    use std::io::Read;
    // The tar crate applies pax and GNU extension headers only when their header has a
    // ustar or GNU magic; strata, GNU tar and Python's tarfile apply them whatever the magic
    // says. Such archives are not the tar crate's to judge (`tests/tar_oracles.rs` gives
    // them to Python).
    for e in tar::Archive::new(data).entries().ok()?.raw(true) {
        let e = e.ok()?;
        let h = e.header();
        // A base-256 time of 2^64 s or more: the tar crate keeps its low 64 bits (strata
        // saturates, GNU tar refuses it as out of range).
        let mtime = &h.as_bytes()[136..148];
        if mtime[0] & 0x80 != 0
            && mtime[..4]
                .iter()
                .enumerate()
                .any(|(i, &b)| b & if i == 0 { 0x7f } else { 0xff } != 0)
        {
            return None;
        }
        let extension = matches!(h.entry_type().as_byte(), b'x' | b'X' | b'g' | b'L' | b'K');
        if extension && h.as_ustar().is_none() && h.as_gnu().is_none() {
            return None;
        }
    }
    let mut archive = tar::Archive::new(data);
    let mut out = Vec::new();
    for entry in archive.entries().ok()? {
        let mut e = entry.ok()?;
        let flag = e.header().entry_type().as_byte();
        let name = e.path_bytes().into_owned();
        let link = e
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        let mode = e.header().mode().ok()? & 0o7777;
        let mut mtime = e.header().mtime().ok()?;
        if let Some(exts) = e.pax_extensions().ok()? {
            for ext in exts {
                let ext = ext.ok()?;
                if ext.key_bytes() == b"mtime" {
                    mtime = pax_seconds(ext.value_bytes())?;
                }
            }
        }
        let mut contents = Vec::new();
        e.read_to_end(&mut contents).ok()?;
        out.push(OracleMember {
            flag,
            name,
            link,
            mode,
            mtime,
            data: contents,
        });
    }
    Some(out)
}

/// Whole seconds of a pax time (`123`, `123.45`, `-5.5`); negative is 0.
fn pax_seconds(v: &[u8]) -> Option<u64> {
    let s = std::str::from_utf8(v).ok()?;
    let whole = s.split('.').next()?;
    if let Some(neg) = whole.strip_prefix('-') {
        neg.parse::<u64>().ok()?;
        return Some(0);
    }
    whole.parse().ok()
}

/// A node of the oracle's model: what `tar -x` would leave, as its readme tells.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelNode {
    kind: FileType,
    mode: u32,
    mtime: u64,
    data: Vec<u8>,
    /// Identity: hard links share it.
    id: usize,
}

/// The tree `members` describe, applied in order as `strata::image`'s documented rules say
/// (and `tar -x` does): names normalised (`/`, `.` and empty components dropped), missing
/// parents implicit (0755, time 0), the last member wins (a directory over a directory only
/// updates mode and time), hard links share the node their target names at that point,
/// devices, FIFOs, labels and unknown types skipped. `Err` says why the members cannot form
/// a tree (which strata must then have refused too).
fn model(
    members: &[OracleMember],
) -> Result<std::collections::BTreeMap<Vec<String>, ModelNode>, String> {
    use std::collections::BTreeMap;
    let norm = |name: &[u8]| -> Result<Vec<String>, String> {
        let s = std::str::from_utf8(name).map_err(|_| format!("not UTF-8: {name:?}"))?;
        let parts: Vec<String> = s
            .split('/')
            .filter(|c| !c.is_empty() && *c != ".")
            .map(str::to_string)
            .collect();
        if parts.iter().any(|c| c == "..") {
            return Err(format!("`..` in {s:?}"));
        }
        Ok(parts)
    };
    let mut tree: BTreeMap<Vec<String>, ModelNode> = BTreeMap::new();
    let mut next_id = 1;
    tree.insert(
        Vec::new(),
        ModelNode {
            kind: FileType::Directory,
            mode: 0o755,
            mtime: 0,
            data: Vec::new(),
            id: 0,
        },
    );
    for m in members {
        let kind = match m.flag {
            b'0' | 0 | b'7' if m.name.ends_with(b"/") => FileType::Directory,
            b'0' | 0 | b'7' => FileType::RegularFile,
            b'1' => FileType::Unknown, // a hard link, resolved below
            b'2' => FileType::SymbolicLink,
            b'5' | b'D' => FileType::Directory,
            b'S' | b'M' => return Err("sparse or multi-volume member".into()),
            _ => continue, // devices, FIFOs, labels, global headers, unknown types
        };
        let path = norm(&m.name)?;
        if path.is_empty() {
            if kind != FileType::Directory {
                return Err("the root is not a directory".into());
            }
            let root = tree.get_mut(&path).expect("the root");
            root.mode = m.mode;
            root.mtime = m.mtime;
            continue;
        }
        for i in 1..path.len() {
            let parent = path[..i].to_vec();
            match tree.get(&parent) {
                Some(n) if n.kind == FileType::Directory => {}
                Some(_) => return Err(format!("parent {parent:?} is not a directory")),
                None => {
                    tree.insert(
                        parent,
                        ModelNode {
                            kind: FileType::Directory,
                            mode: 0o755,
                            mtime: 0,
                            data: Vec::new(),
                            id: next_id,
                        },
                    );
                    next_id += 1;
                }
            }
        }
        let node = match kind {
            FileType::Unknown => {
                let target = norm(&m.link)?;
                if target == path {
                    continue; // a hard link to its own name
                }
                match tree.get(&target) {
                    Some(n) if n.kind != FileType::Directory => n.clone(),
                    Some(_) => return Err("hard link to a directory".into()),
                    None => return Err(format!("hard link to missing {target:?}")),
                }
            }
            FileType::Directory => {
                if let Some(old) = tree.get_mut(&path)
                    && old.kind == FileType::Directory
                {
                    old.mode = m.mode;
                    old.mtime = m.mtime;
                    continue;
                }
                ModelNode {
                    kind,
                    mode: m.mode,
                    mtime: m.mtime,
                    data: Vec::new(),
                    id: next_id,
                }
            }
            _ => ModelNode {
                kind,
                // Symlinks are 0777, as on Linux, whatever the header says.
                mode: if kind == FileType::SymbolicLink {
                    0o777
                } else {
                    m.mode
                },
                mtime: m.mtime,
                data: if kind == FileType::SymbolicLink {
                    m.link.clone()
                } else {
                    m.data.clone()
                },
                id: next_id,
            },
        };
        next_id += 1;
        if let Some(old) = tree.get(&path)
            && old.kind == FileType::Directory
            && tree
                .range(path.clone()..)
                .nth(1)
                .is_some_and(|(p, _)| p.starts_with(&path))
        {
            return Err(format!("{path:?} replaces a non-empty directory"));
        }
        // A replaced directory has no entries left (checked above); a hard link's node keeps
        // its identity, so later links to either name agree.
        tree.insert(path, node);
    }
    Ok(tree)
}

/// Compares the tree strata loaded (without OCI whiteouts) with what the other reader's
/// `members` describe: the same paths, types, contents and link targets, permission bits,
/// modification times (whole seconds) and hard-link groups.
pub fn compare_with_reader(image: &Image, members: &[OracleMember]) -> Result<(), String> {
    let expected =
        model(members).map_err(|e| format!("strata loaded what the reader cannot: {e}"))?;
    let ours = canonical(&image.fs, ROOT_INO, ALL);
    let theirs: Vec<(String, &ModelNode)> = expected
        .iter()
        .map(|(p, n)| {
            let mut s = ".".to_string();
            for c in p {
                s.push('/');
                s.push_str(c);
            }
            (s, n)
        })
        .collect();
    let our_paths: Vec<&str> = ours.iter().map(|c| c.path.as_str()).collect();
    let their_paths: Vec<&str> = theirs.iter().map(|(p, _)| p.as_str()).collect();
    if our_paths != their_paths {
        return Err(format!(
            "paths differ:\n strata: {our_paths:?}\n reader: {their_paths:?}"
        ));
    }
    let mut first_of_id: std::collections::HashMap<usize, usize> = Default::default();
    for (i, (c, (path, n))) in ours.iter().zip(&theirs).enumerate() {
        let link_of = if n.kind == FileType::Directory {
            None
        } else {
            match first_of_id.get(&n.id) {
                Some(&j) => Some(j),
                None => {
                    first_of_id.insert(n.id, i);
                    None
                }
            }
        };
        let mtime = c.mtime.unwrap_or_default() / 1_000_000_000;
        // strata keeps nanoseconds in a u64: later times saturate (in 2554).
        let their_mtime = n.mtime.min(u64::MAX / 1_000_000_000);
        let data_differs = n.kind != FileType::Directory
            && (c.size != n.data.len() as u64
                || (c.size <= crate::common::CANON_MAX_DATA && c.data != n.data));
        if c.kind != n.kind
            || data_differs
            || c.mode != Some(n.mode)
            || mtime != their_mtime
            || c.link_of != link_of
        {
            return Err(format!(
                "{path}: strata has {:?} mode {:?} mtime {mtime}s link_of {:?} {} bytes, \
                 the reader {:?} mode {:o} mtime {}s link_of {link_of:?} {} bytes",
                c.kind,
                c.mode.map(|m| format!("{m:o}")),
                c.link_of,
                c.size,
                n.kind,
                n.mode,
                n.mtime,
                n.data.len()
            ));
        }
    }
    Ok(())
}
