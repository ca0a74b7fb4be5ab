//! Importing a host directory tree into the in-memory filesystem, lazily: importing opens the
//! host directory and nothing more; each directory's entries are listed (names and types, one
//! `getdents` pass) the first time the guest looks something up in it or lists it; each
//! entry's attributes (`lstat`, and `readlink` for a symlink) are read the first time the
//! guest resolves it or lists its directory; each file's contents the first time it is
//! opened. A lookup in a directory of 10⁵ entries costs one listing and one `lstat`, not 10⁵.
//! The host is never written.
//!
//! Every host access goes through the root directory opened at import, beneath it and without
//! following any symlink (`openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, else one
//! `O_NOFOLLOW` step per component); an entry's attributes and contents are then read by its
//! one-component name relative to its directory so opened, never following a symlink (the
//! tree keeps the `O_PATH` descriptors of the last 8 directories used, so that settling the
//! entries of one directory costs one `lstat` each). Host symlinks become virtual symlinks with the same target text, interpreted
//! inside the sandbox only, so they can never reach a host path. A host entry replaced by a
//! symlink after import is treated as gone.
//!
//! What the guest sees is each directory's names as they were when the run first needed them,
//! and each entry as it was when first resolved or listed: names added on the host after the
//! listing are not seen; an entry removed (or replaced by one of another type) between the
//! listing and its first use is gone (`ENOENT`, and left out of later listings); once read, an
//! entry does not change. Listings and entries, once read, are shared by every later run of
//! the sandbox (and by its forks), so all its runs see one snapshot of each; a directory that
//! failed is tried again by the next run. Entries whose host name (or symlink target) is not
//! UTF-8 are left out: WASI names are UTF-8, the guest could not name them. Devices, FIFOs and sockets are left
//! out too (they would be host effects). A directory that cannot be read when first needed
//! fails that use and every later one in the run: `ENOENT` if it is gone (or is no longer a
//! directory), `EACCES` if reading it is not permitted, `EIO` otherwise; a file whose
//! contents cannot be read fails its open with `EIO`.
//!
//! Host hard links keep their identity: the names of one host inode (same `st_dev` and
//! `st_ino`) are one in-memory file, so the guest sees one inode number and a write through
//! one name is seen through the others, in whatever order they are resolved or listed (a
//! name's identity is read before the guest is shown its inode number: listing a directory
//! reads its entries' attributes, as `ls -l` would). Its
//! link count is the host's `st_nlink` when it was first read (names outside the imported
//! tree count too, as they do through a bind mount), adjusted by what the guest links and
//! unlinks; it does not change as the guest reads more directories.
//!
//! Modes, link counts, access and modification times are the host's as of the first read, so
//! they are as reproducible as the host tree is; the status change time of every entry is the
//! time of the import, by the filesystem's clock (virtual in a deterministic sandbox). Inode
//! numbers are given in the order the run reads directories (entries of one directory in
//! byte order of their names; a further name of a file already read takes that file's
//! number), so a deterministic guest gets the same numbers on every run.

#![forbid(unsafe_code)]

use super::error::quoted_path;
use crate::vfs::data::DataSource;
use crate::vfs::lazy::{Attrs, DirSource, Entry, EntryKind, EntryProbe, Hint, LazyDir};
use crate::vfs::{Errno, FileData, NodeId, Vfs};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::collections::VecDeque;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Why importing a host directory failed; each names the host path concerned.
#[derive(Debug, thiserror::Error)]
pub enum HostImportError {
    /// Opening the host directory failed (or it is not a directory).
    #[error("{}: {source}", quoted_path(.path))]
    Io {
        /// The host path.
        path: PathBuf,
        /// What the host said.
        source: std::io::Error,
    },
    /// A host name is not UTF-8, which WASI paths must be (`import_tree` only).
    #[error("{}: name is not UTF-8", quoted_path(.path))]
    NonUtf8 {
        /// The host path.
        path: PathBuf,
    },
    /// The in-memory filesystem refused the entry (e.g. a name merged into `/` that the
    /// image there has already).
    #[error("{}: {errno}", quoted_path(.path))]
    Vfs {
        /// The host path.
        path: PathBuf,
        /// The filesystem's error.
        errno: Errno,
    },
}

/// The imported tree: its root directory, opened once. Everything else is opened beneath it.
#[derive(Debug)]
struct Tree {
    root: OwnedFd,
    /// The status change time of every entry: when the tree was imported, by the clock of
    /// the filesystem it went into (so virtual in a deterministic sandbox). The host's own
    /// would put wall-clock times into deterministic runs; a time taken when a directory is
    /// read would depend on which run read it first.
    ctim: u64,
    /// `O_PATH` descriptors of the directories whose entries were read last, most recent
    /// first (at most `RECENT_DIRS`): settling the entries of one directory, one after the
    /// other, costs one `lstat` each rather than a walk from the root each. Keyed by path,
    /// not by `Place`, which holds the tree.
    recent: Mutex<VecDeque<(PathBuf, Arc<OwnedFd>)>>,
}

const RECENT_DIRS: usize = 8;

impl Tree {
    fn new(root: OwnedFd, ctim: u64) -> Self {
        Tree {
            root,
            ctim,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_DIRS)),
        }
    }

    /// An `O_PATH` descriptor of the directory `rel`, opened as `open` does.
    fn dir_fd(&self, rel: &Path) -> rustix::io::Result<Arc<OwnedFd>> {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(i) = recent.iter().position(|(p, _)| p == rel) {
            let hit = recent.remove(i).expect("found above");
            let fd = hit.1.clone();
            recent.push_front(hit);
            return Ok(fd);
        }
        let fd = Arc::new(self.open(rel, OFlags::PATH | OFlags::DIRECTORY)?);
        if recent.len() == RECENT_DIRS {
            recent.pop_back();
        }
        recent.push_front((rel.to_path_buf(), fd.clone()));
        Ok(fd)
    }

    /// Opens `rel` (components relative to the root; empty: the root) with `flags`, beneath
    /// the root and following no symlink.
    fn open(&self, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let flags = flags | OFlags::CLOEXEC | OFlags::NOFOLLOW;
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let resolve =
            ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS | ResolveFlags::NO_MAGICLINKS;
        match rustix::fs::openat2(&self.root, rel, flags, Mode::empty(), resolve) {
            // Kernels before 5.6 (or filters that hide openat2): one component at a time.
            Err(rustix::io::Errno::NOSYS) => self.open_by_steps(rel, flags),
            r => r,
        }
    }

    fn open_by_steps(&self, rel: &Path, flags: OFlags) -> rustix::io::Result<OwnedFd> {
        let step = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let names: Vec<_> = rel.iter().collect();
        let mut cur: Option<OwnedFd> = None;
        for (i, name) in names.iter().enumerate() {
            if *name == ".." {
                return Err(rustix::io::Errno::XDEV);
            }
            let f = if i + 1 == names.len() { flags } else { step };
            let at = cur.as_ref().map_or(self.root.as_fd(), |c| c.as_fd());
            cur = Some(rustix::fs::openat(at, *name, f, Mode::empty())?);
        }
        cur.map_or_else(
            || rustix::fs::openat(&self.root, ".", flags, Mode::empty()),
            Ok,
        )
    }
}

/// The errno a guest gets for a host failure (see the module doc).
fn errno_of(e: rustix::io::Errno) -> Errno {
    use rustix::io::Errno as E;
    match e {
        E::NOENT | E::NOTDIR | E::LOOP | E::XDEV => Errno::Noent,
        E::ACCESS | E::PERM => Errno::Acces,
        E::NOMEM => Errno::Nomem,
        _ => Errno::Io,
    }
}

/// A directory of the tree, by its path from the root: what its entries refer to.
#[derive(Debug)]
struct Place {
    tree: Arc<Tree>,
    rel: PathBuf,
}

impl Place {
    fn child(&self, name: &str) -> Arc<Place> {
        Arc::new(Place {
            tree: self.tree.clone(),
            rel: self.rel.join(name),
        })
    }
}

/// A host directory of the tree, read when the guest first needs it.
#[derive(Debug)]
struct HostDir {
    place: Arc<Place>,
}

impl DirSource for HostDir {
    fn list(&self) -> Result<Vec<Entry>, Errno> {
        self.read().map_err(errno_of)
    }
}

/// Nanoseconds since the epoch of a host time (0 before the epoch).
fn ns(secs: i64, nsec: u64) -> u64 {
    u64::try_from(secs).unwrap_or(0) * 1_000_000_000 + nsec
}

impl HostDir {
    /// The directory's entries by name and type, as one listing gives them (`getdents`);
    /// each entry's attributes are read when first needed (`HostEntry`). Only an entry whose
    /// type the host filesystem does not report is `lstat`ed now.
    fn read(&self) -> rustix::io::Result<Vec<Entry>> {
        let fd = self
            .place
            .tree
            .open(&self.place.rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut dir = rustix::fs::Dir::new(fd)?;
        let mut listed = Vec::new();
        while let Some(e) = dir.read() {
            let e = e?;
            let name = e.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            // Not UTF-8: the guest could not name it (see the module doc).
            if let Ok(name) = std::str::from_utf8(name) {
                listed.push((Arc::<str>::from(name), e.file_type()));
            }
        }
        let at = dir.fd()?;
        let mut entries = Vec::with_capacity(listed.len());
        for (name, ft) in listed {
            let hint = match ft {
                FileType::RegularFile => Hint::File,
                FileType::Symlink => Hint::Symlink,
                FileType::Directory => Hint::Dir(LazyDir::new(Box::new(HostDir {
                    place: self.place.child(&name),
                }))),
                FileType::Unknown => {
                    entries.extend(lookup(at, &self.place, name)?);
                    continue;
                }
                // Devices, FIFOs, sockets: left out (see the module doc).
                _ => continue,
            };
            let probe = HostEntry {
                dir: self.place.clone(),
                name: name.clone(),
            };
            entries.push(Entry {
                name,
                kind: EntryKind::Later {
                    hint,
                    probe: Box::new(probe),
                },
                attrs: Attrs::default(),
                link_key: None,
            });
        }
        Ok(entries)
    }
}

/// One entry of the tree, read when the guest first resolves it or lists its directory.
#[derive(Debug)]
struct HostEntry {
    dir: Arc<Place>,
    name: Arc<str>,
}

impl EntryProbe for HostEntry {
    fn probe(&self) -> Result<Entry, Errno> {
        // Its directory opened beneath the root through no symlink, then the entry itself
        // (one component, a symlink not followed).
        let dir = self.dir.tree.dir_fd(&self.dir.rel).map_err(errno_of)?;
        lookup(dir.as_fd(), &self.dir, self.name.clone())
            .map_err(errno_of)?
            .ok_or(Errno::Noent)
    }
}

/// The entry `name` of the directory `at` (which is `dir`), read without following a
/// symlink; `None` if it is gone or is of a kind the tree leaves out.
fn lookup(
    at: rustix::fd::BorrowedFd<'_>,
    dir: &Arc<Place>,
    name: Arc<str>,
) -> rustix::io::Result<Option<Entry>> {
    let st = match rustix::fs::statat(at, &*name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => st,
        Err(rustix::io::Errno::NOENT) => return Ok(None),
        Err(e) => return Err(e),
    };
    let link = name.clone();
    describe(dir, name, &st, || {
        rustix::fs::readlinkat(at, &*link, Vec::new())
    })
}

/// The entry `name` at `rel` whose `lstat` is `st` (`target` reads a symlink's target);
/// `None` for what the tree leaves out (see the module doc) or what is gone.
// `struct stat`'s field types differ between architectures: widened explicitly.
#[allow(clippy::useless_conversion)]
fn describe(
    dir: &Arc<Place>,
    name: Arc<str>,
    st: &rustix::fs::Stat,
    target: impl FnOnce() -> rustix::io::Result<std::ffi::CString>,
) -> rustix::io::Result<Option<Entry>> {
    let kind = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            let len = u64::try_from(st.st_size).unwrap_or(0);
            let source = HostFile {
                dir: dir.clone(),
                name: name.clone(),
            };
            EntryKind::File(FileData::lazy(len, Box::new(source)))
        }
        FileType::Directory => EntryKind::Dir(LazyDir::new(Box::new(HostDir {
            place: dir.child(&name),
        }))),
        FileType::Symlink => {
            let target = match target() {
                Ok(t) => t,
                Err(rustix::io::Errno::NOENT | rustix::io::Errno::INVAL) => return Ok(None),
                Err(e) => return Err(e),
            };
            match target.into_string() {
                Ok(t) => EntryKind::Symlink(Arc::from(t)),
                Err(_) => return Ok(None),
            }
        }
        _ => return Ok(None),
    };
    let nlink = u64::from(st.st_nlink);
    let link_key = (matches!(kind, EntryKind::File(_)) && nlink > 1)
        .then_some((u64::from(st.st_dev), u64::from(st.st_ino)));
    let attrs = Attrs {
        mode: st.st_mode & 0o7777,
        nlink,
        atim: ns(st.st_atime, u64::from(st.st_atime_nsec)),
        mtim: ns(st.st_mtime, u64::from(st.st_mtime_nsec)),
        ctim: dir.tree.ctim,
    };
    Ok(Some(Entry {
        name,
        kind,
        attrs,
        link_key,
    }))
}

/// A host file of the tree, read on first access (never written).
#[derive(Debug)]
struct HostFile {
    dir: Arc<Place>,
    name: Arc<str>,
}

impl DataSource for HostFile {
    fn load(&self) -> std::io::Result<bytes::Bytes> {
        // As `HostEntry::probe`: the directory beneath the root, then one component.
        let dir = self.dir.tree.dir_fd(&self.dir.rel)?;
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&*dir, &*self.name, flags, Mode::empty())?;
        let mut out = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut out)?;
        Ok(bytes::Bytes::from(out))
    }
}

/// Makes the directory `at` of `vfs` show the host tree under `host`, read lazily (see the
/// module doc): this opens `host` and reads nothing else, unless `at` has entries of its own
/// (a tree merged into an image's root), when `host`'s own entries are read now so that a
/// name both have is refused here. Absolute host symlinks resolve (from the namespace root)
/// only if the filesystem holding `at` was made with `AbsoluteSymlinks::InRoot`; otherwise
/// following them is `EPERM`.
pub fn import_dir(vfs: &mut Vfs, at: NodeId, host: &Path) -> Result<(), HostImportError> {
    let root = rustix::fs::open(
        host,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .map_err(|e| HostImportError::Io {
        path: host.to_path_buf(),
        source: e.into(),
    })?;
    let vfs_err = |path: PathBuf| move |errno| HostImportError::Vfs { path, errno };
    let fs = vfs.fs_mut(at).map_err(vfs_err(host.into()))?;
    let ctim = fs.now();
    let source = LazyDir::new(Box::new(HostDir {
        place: Arc::new(Place {
            tree: Arc::new(Tree::new(root, ctim)),
            rel: PathBuf::new(),
        }),
    }));
    // A tree merged before: its entries are read first, so this one's merge with them.
    fs.load_dir(at.ino).map_err(vfs_err(host.into()))?;
    let merge = !fs
        .dir(at.ino)
        .map_err(vfs_err(host.into()))?
        .entries
        .is_empty();
    fs.set_lazy(at.ino, source.clone())
        .map_err(vfs_err(host.into()))?;
    if merge {
        fs.load_dir(at.ino).map_err(|errno| {
            // Name the first entry both have, if that is what failed.
            let taken = source.listing().ok().and_then(|l| {
                l.iter()
                    .find(|e| {
                        fs.dir(at.ino)
                            .is_ok_and(|d| d.entries.get(&e.name).is_some())
                    })
                    .map(|e| host.join(&*e.name))
            });
            vfs_err(taken.unwrap_or_else(|| host.into()))(errno)
        })?;
    }
    Ok(())
}

/// `import_dir`, then every directory of the tree read now, for a caller that needs the whole
/// tree (building an image): a host name or symlink target that is not UTF-8 is an error
/// naming it rather than left out, and so is a directory that cannot be read.
pub fn import_tree(vfs: &mut Vfs, at: NodeId, host: &Path) -> Result<(), HostImportError> {
    check_names(host)?;
    import_dir(vfs, at, host)?;
    vfs.load_all(at).map_err(|errno| HostImportError::Vfs {
        path: host.to_path_buf(),
        errno,
    })
}

/// Fails on the first name (or symlink target) under `dir` that is not UTF-8.
fn check_names(dir: &Path) -> Result<(), HostImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HostImportError::Io { path, source }
    };
    for entry in std::fs::read_dir(dir).map_err(io(dir))? {
        let path = entry.map_err(io(dir))?.path();
        let bad = || HostImportError::NonUtf8 { path: path.clone() };
        path.file_name().and_then(|n| n.to_str()).ok_or_else(bad)?;
        let ft = std::fs::symlink_metadata(&path)
            .map_err(io(&path))?
            .file_type();
        if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path))?;
            target.to_str().ok_or_else(bad)?;
        } else if ft.is_dir() {
            check_names(&path)?;
        }
    }
    Ok(())
}
