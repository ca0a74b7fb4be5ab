//! Importing a host directory tree into the in-memory filesystem: its structure and sizes at
//! start, each file's contents only when the guest first opens it; the host is never written. Host symlinks become virtual symlinks with the same target text,
//! so they are interpreted inside the sandbox only and can never reach a host path.

use crate::vfs::data::DataSource;
use crate::vfs::{Errno, FileData, NodeId, SetTime, Vfs};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum HostImportError {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: name is not UTF-8")]
    NonUtf8 { path: PathBuf },
    #[error("{path}: {errno}")]
    Vfs { path: PathBuf, errno: Errno },
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
    use std::os::unix::fs::MetadataExt;
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

/// Copies the tree under `host` into the directory `at` of `vfs`. Absolute host symlinks
/// resolve (from the namespace root) only if the filesystem holding `at` was made with
/// `AbsoluteSymlinks::InRoot`; otherwise following them is `EPERM`.
pub fn import_dir(vfs: &mut Vfs, at: NodeId, host: &Path) -> Result<(), HostImportError> {
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
            import_dir(vfs, dir, &path)?;
            let meta = entry.metadata().map_err(io(&path))?;
            keep_meta(vfs, dir, &meta).map_err(vfs_err)?;
        } else if ft.is_file() {
            // Only the size is read now; the contents when the guest first opens the file.
            let meta = entry.metadata().map_err(io(&path))?;
            let data = FileData::lazy(meta.len(), Box::new(HostFile(path.clone())));
            let fs = vfs.fs_mut(at).map_err(vfs_err)?;
            let ino = fs
                .create_file_with(at.ino, &name, data, 0o644)
                .map_err(vfs_err)?;
            keep_meta(vfs, NodeId { fs: at.fs, ino }, &meta).map_err(vfs_err)?;
        }
        // Devices, FIFOs and sockets are skipped: they would be host effects.
    }
    Ok(())
}
