//! Importing a host directory tree into the in-memory filesystem: its structure and sizes at
//! start, each file's contents only when the guest first opens it; the host is never written.
//! Host symlinks become virtual symlinks with the same target text, so they are interpreted
//! inside the sandbox only and can never reach a host path.
//!
//! Host hard links keep their identity: all names of one host inode (same `st_dev` and
//! `st_ino`) inside the imported tree become names of one in-memory file, so the guest sees one
//! inode number, a write through one name is seen through the others, and removing or
//! renaming one name leaves the others. Its link count is the number of those names: links
//! to the same host file from outside the imported tree are not counted, because the guest
//! cannot see them (`nlink` is the number of names the guest can reach).

#![forbid(unsafe_code)]

use super::error::quoted_path;
use crate::vfs::data::DataSource;
use crate::vfs::{Errno, FileData, NodeId, SetTime, Vfs};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// Why importing a host directory failed; each names the host path concerned.
#[derive(Debug, thiserror::Error)]
pub enum HostImportError {
    /// Reading the host tree (listing, metadata, a link target) failed.
    #[error("{}: {source}", quoted_path(.path))]
    Io {
        /// The host path.
        path: PathBuf,
        /// What the host said.
        source: std::io::Error,
    },
    /// A host name is not UTF-8, which WASI paths must be.
    #[error("{}: name is not UTF-8", quoted_path(.path))]
    NonUtf8 {
        /// The host path.
        path: PathBuf,
    },
    /// The in-memory filesystem refused the entry (e.g. a limit).
    #[error("{}: {errno}", quoted_path(.path))]
    Vfs {
        /// The host path.
        path: PathBuf,
        /// The filesystem's error.
        errno: Errno,
    },
}

/// A host file read on first access (never written).
#[derive(Debug)]
struct HostFile(PathBuf);

impl DataSource for HostFile {
    fn load(&self) -> std::io::Result<bytes::Bytes> {
        std::fs::read(&self.0).map(bytes::Bytes::from)
    }
}

/// Gives `id` the host entry's permission bits and access/modification times.
fn keep_meta(vfs: &mut Vfs, id: NodeId, meta: &std::fs::Metadata) -> Result<(), Errno> {
    let ns = |s: i64, n: i64| {
        u64::try_from(s).unwrap_or(0) * 1_000_000_000 + u64::try_from(n).unwrap_or(0)
    };
    let fs = vfs.fs_mut(id)?;
    fs.set_mode(id.ino, meta.mode() & 0o7777)?;
    fs.set_times(
        id.ino,
        SetTime::At(ns(meta.atime(), meta.atime_nsec())),
        SetTime::At(ns(meta.mtime(), meta.mtime_nsec())),
    )
}

/// Host inodes with more than one name, by `(st_dev, st_ino)`: the in-memory file their first
/// name (in import order) became.
type Linked = HashMap<(u64, u64), NodeId>;

/// Copies the tree under `host` into the directory `at` of `vfs`. Entries are imported in
/// byte order of their names, depth first, so inode numbers (and which name of a hard-linked
/// file comes first) do not depend on the host's directory order. Absolute host symlinks
/// resolve (from the namespace root) only if the filesystem holding `at` was made with
/// `AbsoluteSymlinks::InRoot`; otherwise following them is `EPERM`.
pub fn import_dir(vfs: &mut Vfs, at: NodeId, host: &Path) -> Result<(), HostImportError> {
    import_tree(vfs, at, host, &mut Linked::new())
}

fn import_tree(
    vfs: &mut Vfs,
    at: NodeId,
    host: &Path,
    linked: &mut Linked,
) -> Result<(), HostImportError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| HostImportError::Io { path, source }
    };
    let meta = std::fs::metadata(host).map_err(io(host))?;
    if !meta.is_dir() {
        return Err(HostImportError::Io {
            path: host.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut entries: Vec<_> = std::fs::read_dir(host)
        .map_err(io(host))?
        .collect::<Result<_, _>>()
        .map_err(io(host))?;
    // Sorted, so inode numbers and readdir order do not depend on the host's order.
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let path = entry.path();
        let name = entry
            .file_name()
            .into_string()
            .map_err(|_| HostImportError::NonUtf8 { path: path.clone() })?;
        let vfs_err = |errno| HostImportError::Vfs {
            path: path.clone(),
            errno,
        };
        let ft = entry.file_type().map_err(io(&path))?;
        if ft.is_symlink() {
            let target = std::fs::read_link(&path).map_err(io(&path))?;
            let target = target
                .into_os_string()
                .into_string()
                .map_err(|_| HostImportError::NonUtf8 { path: path.clone() })?;
            let fs = vfs.fs_mut(at).map_err(vfs_err)?;
            fs.symlink(at.ino, &name, &target).map_err(vfs_err)?;
        } else if ft.is_dir() {
            let dir = vfs.mkdir(at, name.as_bytes()).map_err(vfs_err)?;
            import_tree(vfs, dir, &path, linked)?;
            let meta = entry.metadata().map_err(io(&path))?;
            keep_meta(vfs, dir, &meta).map_err(vfs_err)?;
        } else if ft.is_file() {
            let meta = entry.metadata().map_err(io(&path))?;
            let key = (meta.nlink() > 1).then(|| (meta.dev(), meta.ino()));
            let fs = vfs.fs_mut(at).map_err(vfs_err)?;
            if let Some(first) = key.and_then(|k| linked.get(&k))
                && first.fs == at.fs
            {
                // Another name of a file imported already: a hard link to it, sharing its
                // (still unread) contents. Past `MAX_LINKS` names it becomes a file of its own.
                match fs.link(at.ino, &name, first.ino) {
                    Ok(()) => continue,
                    Err(Errno::Mlink) => {}
                    Err(e) => return Err(vfs_err(e)),
                }
            }
            // Only the size is read now; the contents when the guest first opens the file.
            let data = FileData::lazy(meta.len(), Box::new(HostFile(path.clone())));
            let ino = fs
                .create_file_with(at.ino, &name, data, 0o644)
                .map_err(vfs_err)?;
            let id = NodeId { fs: at.fs, ino };
            keep_meta(vfs, id, &meta).map_err(vfs_err)?;
            if let Some(k) = key {
                linked.insert(k, id);
            }
        }
        // Devices, FIFOs and sockets are skipped: they would be host effects.
    }
    Ok(())
}
