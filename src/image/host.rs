//! Importing a host directory tree into the in-memory filesystem (read once at start; the
//! host is never written). Host symlinks become virtual symlinks with the same target text,
//! so they are interpreted inside the sandbox only and can never reach a host path.

use crate::vfs::{Errno, FileData, NodeId, Vfs};
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

/// Copies the tree under `host` into the directory `at` of `vfs`.
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
        } else if ft.is_file() {
            let data = std::fs::read(&path).map_err(io(&path))?;
            let fs = vfs.fs_mut(at).map_err(vfs_err)?;
            fs.create_file_with(at.ino, &name, FileData::from_bytes(data.into()), 0o644)
                .map_err(vfs_err)?;
        }
        // Devices, FIFOs and sockets are skipped: they would be host effects.
    }
    Ok(())
}
