//! strata's tar loader against readers that share none of its code: Python's `tarfile`
//! (every committed tar: the preset images and the `tar_image` fuzz corpus) and GNU tar
//! (extracting the preset images, and the trees it extracts against their source trees).
//! The fuzz target's own invariants compare strata with itself (load, export, load again);
//! a misparse both sides share cannot fool these.
//!
//! Python 3 and GNU tar are required (`.ci/run` installs them where missing): without them
//! these tests fail rather than pass without checking anything.

#![allow(dead_code)]

#[path = "../fuzz/src/common.rs"]
mod common;
#[path = "../fuzz/src/tar_image.rs"]
mod tar_image;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use strata::image::{Image, LoadOptions, load_bytes};
use strata::vfs::memfs::ROOT_INO;
use strata::vfs::node::NodeKind;
use strata::vfs::{FileType, MemFs};
use tar_image::{OracleMember, compare_with_reader};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(p)
}

/// Lists a plain tar with Python's `tarfile`: one line per member, tab-separated: type flag,
/// mode, mtime (whole seconds, before 1970 as 0), then name, link name and contents in hex.
const LIST_PY: &str = r#"
import math, os, sys, tarfile
with tarfile.open(sys.argv[1], mode="r:") as t:
    for m in t:
        data = t.extractfile(m).read() if m.isreg() else b""
        mtime = max(0, min(math.floor(m.mtime), 2**64 - 1))
        print("\t".join([m.type.hex(), str(m.mode & 0o7777), str(mtime),
                         os.fsencode(m.name).hex(), os.fsencode(m.linkname).hex(), data.hex()]))
"#;

fn python() -> String {
    std::env::var("STRATA_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// The members Python's `tarfile` reads from `tar`, or `None` if it refuses the archive.
fn python_members(tar: &[u8]) -> Option<Vec<OracleMember>> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.tar");
    std::fs::write(&path, tar).unwrap();
    let out = Command::new(python())
        .args(["-c", LIST_PY])
        .arg(&path)
        .output()
        .unwrap_or_else(|e| {
            panic!("python3 is needed by this test (apt-get install python3): {e}")
        });
    if !out.status.success() {
        return None;
    }
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let text = String::from_utf8(out.stdout).unwrap();
    Some(
        text.lines()
            .map(|l| {
                let f: Vec<&str> = l.split('\t').collect();
                let flag = hex(f[0]);
                OracleMember {
                    flag: flag.first().copied().unwrap_or(0),
                    mode: f[1].parse().unwrap(),
                    mtime: f[2].parse().unwrap(),
                    name: hex(f[3]),
                    link: hex(f[4]),
                    data: hex(f[5]),
                }
            })
            .collect(),
    )
}

fn load(tar: &[u8]) -> Result<Image, strata::image::ImageError> {
    load_bytes(tar.to_vec().into(), &LoadOptions::default())
}

/// Every committed tar: the preset images and the fuzz corpus's plain tars loaded without
/// OCI whiteouts (the corpus files start with an options byte).
fn committed_tars() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(repo("fs-images")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "tar") {
            out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
        }
    }
    for set in ["corpus", "regressions"] {
        let Ok(dir) = std::fs::read_dir(repo(&format!("fuzz/{set}/tar_image"))) else {
            continue;
        };
        for e in dir {
            let p = e.unwrap().path();
            let data = std::fs::read(&p).unwrap();
            if let Some((&flags, tar)) = data.split_first()
                && flags & 1 == 0
                && !tar.starts_with(&[0x1f, 0x8b])
            {
                out.push((p.display().to_string(), tar.to_vec()));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn python_tarfile_reads_what_strata_loads() {
    let (mut compared, mut preset, mut refused) = (0, 0, Vec::new());
    for (name, tar) in committed_tars() {
        let Ok(image) = load(&tar) else { continue };
        let Some(members) = python_members(&tar) else {
            // Python refuses some hostile archives strata accepts; those are the tar
            // crate's to judge (fuzz invariant 5).
            refused.push(name);
            continue;
        };
        if let Err(e) = compare_with_reader(&image, &members) {
            panic!("{name}: strata and Python's tarfile disagree: {e}");
        }
        compared += 1;
        preset += usize::from(name.contains("fs-images"));
    }
    eprintln!(
        "{compared} archives compared with Python's tarfile; it refused {}: {refused:?}",
        refused.len()
    );
    assert!(preset >= 2, "the preset images are compared");
    assert!(compared >= 30, "only {compared} archives compared");
}

/// GNU tar's view of an extracted tree: path -> (kind, mode, mtime, contents or target,
/// hard-link group).
type HostTree = BTreeMap<String, (FileType, u32, i64, Vec<u8>, Option<u64>)>;

fn walk_host(dir: &Path, prefix: &str, out: &mut HostTree) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let md = std::fs::symlink_metadata(e.path()).unwrap();
        let path = format!("{prefix}/{}", e.file_name().to_str().unwrap());
        let (kind, data) = if md.is_dir() {
            (FileType::Directory, Vec::new())
        } else if md.file_type().is_symlink() {
            let t = std::fs::read_link(e.path()).unwrap();
            (
                FileType::SymbolicLink,
                t.to_str().unwrap().as_bytes().to_vec(),
            )
        } else {
            (FileType::RegularFile, std::fs::read(e.path()).unwrap())
        };
        let group = (kind == FileType::RegularFile && md.nlink() > 1).then_some(md.ino());
        let mode = if kind == FileType::SymbolicLink {
            0o777
        } else {
            md.permissions().mode() & 0o7777
        };
        out.insert(path.clone(), (kind, mode, md.mtime(), data, group));
        if kind == FileType::Directory {
            walk_host(&e.path(), &path, out);
        }
    }
}

/// The same view of strata's tree; hard-link groups numbered by inode.
fn walk_strata(fs: &MemFs, dir: u64, prefix: &str, out: &mut HostTree) {
    let d = fs.dir(dir).unwrap();
    for (name, ino) in d.entries.iter() {
        let path = format!("{prefix}/{name}");
        let node = fs.node(ino).unwrap();
        let st = fs.stat(ino).unwrap();
        let (kind, data) = match &node.kind {
            NodeKind::Dir(_) => (FileType::Directory, Vec::new()),
            NodeKind::Symlink(t) => (FileType::SymbolicLink, t.as_bytes().to_vec()),
            NodeKind::File(f) => {
                let mut v = vec![0; f.len() as usize];
                f.read_at(0, &mut v);
                (FileType::RegularFile, v)
            }
        };
        let group = (kind == FileType::RegularFile && st.nlink > 1).then_some(ino);
        let mtime = (st.mtim / 1_000_000_000) as i64;
        out.insert(path.clone(), (kind, st.mode & 0o7777, mtime, data, group));
        if kind == FileType::Directory {
            walk_strata(fs, ino, &path, out);
        }
    }
}

/// Hard-link groups replaced by the first path of each group, so two trees compare.
fn canonical_groups(t: HostTree) -> BTreeMap<String, (FileType, u32, i64, Vec<u8>, String)> {
    let mut first: BTreeMap<u64, String> = BTreeMap::new();
    t.into_iter()
        .map(|(p, (k, m, t, d, g))| {
            let g = g.map_or(String::new(), |g| {
                first.entry(g).or_insert(p.clone()).clone()
            });
            (p, (k, m, t, d, g))
        })
        .collect()
}

fn gnu_tar_extract(tar: &Path, into: &Path) {
    let out = Command::new("tar")
        .arg("--version")
        .output()
        .expect("GNU tar is needed by this test (apt-get install tar)");
    assert!(String::from_utf8_lossy(&out.stdout).contains("GNU tar"));
    let st = Command::new("tar")
        .args(["--no-same-owner", "--delay-directory-restore", "-xpf"])
        .arg(tar)
        .arg("-C")
        .arg(into)
        .status()
        .unwrap();
    assert!(st.success(), "tar -xf {}", tar.display());
}

/// The preset images: what GNU tar extracts is the tree strata loads (paths, types,
/// contents, targets, modes, mtimes, hard links), and it is the source tree under the
/// documented build rules (same files, directories and symlinks; directories and
/// executables 0755, other files 0644; every mtime 0).
#[test]
fn preset_images_agree_with_gnu_tar_and_their_sources() {
    let mut checked = 0;
    for e in std::fs::read_dir(repo("fs-images")).unwrap() {
        let tar = e.unwrap().path();
        if tar.extension().is_none_or(|x| x != "tar") {
            continue;
        }
        let dir = tempfile::tempdir().unwrap();
        gnu_tar_extract(&tar, dir.path());
        let mut gnu = HostTree::new();
        walk_host(dir.path(), "", &mut gnu);
        let image = strata::image::load_path(&tar, &LoadOptions::default()).unwrap();
        let mut ours = HostTree::new();
        walk_strata(&image.fs, ROOT_INO, "", &mut ours);
        let gnu = canonical_groups(gnu);
        assert_eq!(
            canonical_groups(ours),
            gnu,
            "{}: strata vs GNU tar",
            tar.display()
        );

        let source = tar.with_extension("");
        let mut src = HostTree::new();
        walk_host(&source, "", &mut src);
        let rules: BTreeMap<_, _> = canonical_groups(src)
            .into_iter()
            .map(|(p, (k, m, _, d, g))| {
                let mode = match k {
                    FileType::Directory => 0o755,
                    FileType::SymbolicLink => 0o777,
                    _ if m & 0o111 != 0 => 0o755,
                    _ => 0o644,
                };
                (p, (k, mode, 0, d, g))
            })
            .collect();
        assert_eq!(
            gnu,
            rules,
            "{}: the image is not its source tree",
            tar.display()
        );
        checked += 1;
    }
    assert!(checked >= 2, "expected the base and demo images");
}
