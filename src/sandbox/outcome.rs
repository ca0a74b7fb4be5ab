//! What a run produced: how it ended, what it printed (when captured), what an invoked export
//! returned, and the filesystem it left, readable in place or exported as tar.

use crate::image::{ExportOptions, export_vfs, write_diff};
use crate::runtime::Error;
use crate::vfs::{Errno, MemFs, NodeId, Vfs};
use std::time::Duration;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    /// `_start` (or the invoked export) returned (0), or the guest called `proc_exit(code)`.
    Exited(u32),
    /// The guest trapped (out-of-bounds access, `unreachable`, stack overflow, ...).
    Trapped(String),
    /// The guest ran past its timeout and was stopped.
    TimedOut(Duration),
    /// The guest burnt all of its fuel and was stopped.
    OutOfFuel(u64),
}

/// A value returned by an invoked export.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// A 32-bit integer.
    I32(i32),
    /// A 64-bit integer.
    I64(i64),
    /// A 32-bit float.
    F32(f32),
    /// A 64-bit float.
    F64(f64),
    /// A value of another type (vector, reference), as wasmer formats it.
    Other(String),
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::I32(v) => write!(f, "{v}"),
            Value::I64(v) => write!(f, "{v}"),
            Value::F32(v) => write!(f, "{v}"),
            Value::F64(v) => write!(f, "{v}"),
            Value::Other(v) => f.write_str(v),
        }
    }
}

/// What a run produced.
pub struct Outcome {
    /// How the run ended.
    pub status: Status,
    /// What the guest wrote to stdout, if it was captured (else empty).
    pub stdout: Vec<u8>,
    /// What the guest wrote to stderr, if it was captured (else empty).
    pub stderr: Vec<u8>,
    /// What the invoked export returned (empty for `_start`).
    pub results: Vec<Value>,
    /// The filesystem the run left behind.
    pub fs: Vfs,
    /// Guest path and root of every filesystem of the namespace, the root first.
    pub(super) mounts: Vec<(String, NodeId)>,
    /// The filesystems as the run found them (O(1) clones), in `mounts` order.
    pub(super) bases: Vec<MemFs>,
}

impl Outcome {
    /// The guest's exit code, if it exited (returned or called `proc_exit`).
    pub fn exit_code(&self) -> Option<u32> {
        match self.status {
            Status::Exited(code) => Some(code),
            _ => None,
        }
    }

    /// A fork of the filesystem the run left, for reading: lazy directories (host trees) it
    /// did not list are read into the fork, leaving `fs` as the run left it.
    fn reader(&self) -> Vfs {
        self.fs.clone()
    }

    /// Contents of the file at the absolute guest path `path`.
    pub fn read(&self, path: &str) -> Result<Vec<u8>, Error> {
        let err = |errno| Error::guest_path(path, errno);
        let mut fs = self.reader();
        let root = fs.root();
        let id = fs
            .lookup_loading(root, path.trim_start_matches('/').as_bytes(), true)
            .map_err(err)?;
        fs.fs(id)
            .and_then(|f| f.file(id.ino)?.load())
            .map_err(err)?;
        let size = fs.stat_node(id).map_err(err)?.size;
        let mut buf = vec![0u8; usize::try_from(size).map_err(|_| err(Errno::Fbig))?];
        let n = fs.read(id, 0, &mut buf).map_err(err)?;
        buf.truncate(n);
        Ok(buf)
    }

    /// Names in the directory at `path`, in readdir order (without `.` and `..`).
    pub fn list(&self, path: &str) -> Result<Vec<String>, Error> {
        let err = |errno| Error::guest_path(path, errno);
        let mut fs = self.reader();
        let root = fs.root();
        let rel = path.trim_matches('/');
        let dir = if rel.is_empty() {
            root
        } else {
            fs.lookup_loading(root, rel.as_bytes(), true).map_err(err)?
        };
        fs.load_dir(dir).map_err(err)?;
        Ok(fs
            .readdir(dir, 2)
            .map_err(err)?
            .into_iter()
            .map(|(_, n, _, _)| n.to_string())
            .collect())
    }

    /// Writes what the run changed as a reproducible tar layer with OCI whiteouts for what it
    /// deleted; stacking it over the starting image gives the final tree.
    pub fn write_diff<W: std::io::Write>(&self, out: W) -> Result<W, Error> {
        write_diff(&self.fs, &self.mounts, &self.bases, out).map_err(|e| Error::Host(e.to_string()))
    }

    /// Writes the whole final filesystem as a reproducible tar (sorted, owners normalised).
    pub fn write_fs<W: std::io::Write>(&self, out: W) -> Result<W, Error> {
        export_vfs(&self.fs, self.fs.root(), out, &ExportOptions::default())
            .map_err(|e| Error::Host(e.to_string()))
    }

    /// `write_diff` into memory.
    pub fn diff_tar(&self) -> Result<Vec<u8>, Error> {
        self.write_diff(Vec::new())
    }

    /// `write_fs` into memory.
    pub fn export_tar(&self) -> Result<Vec<u8>, Error> {
        self.write_fs(Vec::new())
    }
}
