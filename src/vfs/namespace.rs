//! The namespace a sandbox sees: filesystems, one the root and the others mounted on
//! directories, and every path operation. Each resolves its path with the confined resolver
//! (giving it this namespace as a `resolve::Lookup`), then acts on (directory, name) in the
//! filesystem holding it; renames and links never cross filesystems (`EXDEV`). Where WASI
//! leaves an error open, the checks are Linux's, in Linux's order (tests/vfs_props.rs
//! compares them with the kernel).

#![forbid(unsafe_code)]

use super::budget::Budget;
use super::clock::{Clock, SystemClock};
use super::data::FileData;
use super::error::{Errno, Result};
use super::memfs::{DirEntry, MemFs};
use super::node::{Node, NodeId, NodeKind, SetTime, Stat};
use super::resolve::{self, AbsoluteSymlinks, Follow, Lookup, Resolved, Stop, check_path};
use std::collections::HashMap;
use std::sync::Arc;

/// How `Vfs::open` treats the path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Create the file if missing.
    pub create: bool,
    /// With `create`, fail with `EEXIST` if it exists.
    pub exclusive: bool,
    /// Truncate a regular file to 0 bytes.
    pub truncate: bool,
    /// Fail with `ENOTDIR` unless it is a directory.
    pub directory: bool,
    /// Follow a symlink in the last component.
    pub follow: bool,
}

/// A namespace: a root filesystem and the filesystems mounted in it, with the confined
/// resolver every path goes through. Cloning it is O(1) (copy-on-write forks).
#[derive(Debug, Clone)]
pub struct Vfs {
    fss: Vec<MemFs>,
    /// Mount point (a directory in some filesystem) → root of the filesystem mounted there.
    mounts: HashMap<NodeId, NodeId>,
    clock: Arc<dyn Clock>,
    /// The run's memory and inode accounts, shared by every filesystem here (`set_limits`).
    budget: Option<Arc<Budget>>,
}

impl Default for Vfs {
    fn default() -> Self {
        Vfs::new(Arc::new(SystemClock))
    }
}

impl Vfs {
    /// A namespace holding one empty, writable root filesystem.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Vfs::with_root(MemFs::new(1, clock.clone()), clock)
    }

    /// A namespace whose root is `root`, taking timestamps from `clock`.
    pub fn with_root(root: MemFs, clock: Arc<dyn Clock>) -> Self {
        Vfs {
            fss: vec![root],
            mounts: HashMap::new(),
            clock,
            budget: None,
        }
    }

    /// Limits what the namespace's filesystems may hold from now on, together: `max_memory`
    /// bytes and `max_inodes` inodes created (see `crate::limits` for what counts). What
    /// they hold already is the base and is not counted. Operations that would pass a limit
    /// fail with `ENOSPC`. Returns the accounts (`Budget::usage`). Filesystems mounted later
    /// share them.
    pub fn set_limits(&mut self, max_memory: u64, max_inodes: u64) -> Arc<Budget> {
        let budget = Arc::new(Budget::new(max_memory, max_inodes));
        for fs in &mut self.fss {
            fs.set_budget(Some(budget.clone()));
        }
        self.budget = Some(budget.clone());
        budget
    }

    /// The accounts installed by `set_limits`.
    pub fn budget(&self) -> Option<&Arc<Budget>> {
        self.budget.as_ref()
    }

    /// The clock timestamps come from.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// Takes timestamps from `clock` from now on, in every filesystem of the namespace.
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        for fs in &mut self.fss {
            fs.set_clock(clock.clone());
        }
        self.clock = clock;
    }

    /// The root directory of the namespace.
    pub fn root(&self) -> NodeId {
        NodeId {
            fs: 0,
            ino: self.fss[0].root(),
        }
    }

    /// The filesystem holding `id`.
    pub fn fs(&self, id: NodeId) -> Result<&MemFs> {
        self.fss.get(id.fs as usize).ok_or(Errno::Badf)
    }

    /// The filesystem holding `id`, mutably.
    pub fn fs_mut(&mut self, id: NodeId) -> Result<&mut MemFs> {
        self.fss.get_mut(id.fs as usize).ok_or(Errno::Badf)
    }

    /// The node `id`.
    pub fn node(&self, id: NodeId) -> Result<&Node> {
        self.fs(id)?.node(id.ino)
    }

    /// Mounts `fs` on the directory `at`, shadowing what lies below; returns its root.
    pub fn mount(&mut self, at: NodeId, mut fs: MemFs) -> Result<NodeId> {
        if self.mounts.contains_key(&at) {
            return Err(Errno::Busy);
        }
        self.fs_mut(at)?.set_mounted(at.ino, true)?;
        let index = u32::try_from(self.fss.len()).map_err(|_| Errno::Nomem)?;
        // Device ids follow mount order so they are reproducible, and stay unique: every
        // filesystem's root is inode 1, so (dev, ino) only identifies a file if no two
        // filesystems share a device id.
        let used = |dev: u64| self.fss.iter().any(|f| f.dev() == dev);
        if fs.dev() == 0 || used(fs.dev()) {
            let mut dev = u64::from(index) + 1;
            while used(dev) {
                dev += 1;
            }
            fs = fs.with_dev(dev);
        }
        if let Some(budget) = &self.budget {
            fs.set_budget(Some(budget.clone()));
        }
        let root = NodeId {
            fs: index,
            ino: fs.root(),
        };
        self.fss.push(fs);
        self.mounts.insert(at, root);
        Ok(root)
    }

    /// Follows mount points: the root of whatever is mounted on `id`, else `id`. The resolver
    /// calls it for every directory it passes: with nothing mounted it is one emptiness test.
    pub(crate) fn through_mounts(&self, mut id: NodeId) -> NodeId {
        if self.mounts.is_empty() {
            return id;
        }
        while let Ok(fs) = self.fs(id) {
            if !fs.is_mounted(id.ino) {
                break;
            }
            match self.mounts.get(&id) {
                Some(&root) => id = root,
                None => break,
            }
        }
        id
    }

    /// The attributes of the node `id`.
    pub fn stat_node(&self, id: NodeId) -> Result<Stat> {
        self.fs(id)?.stat(id.ino)
    }

    /// What `path` names beneath the directory `base`, by the confined resolver every path
    /// operation here goes through: the result never lies outside `base`'s subtree.
    ///
    /// This and the other `&self` lookups (`lookup`, `stat`, `readlink`, `readdir`) read no
    /// lazy directory (see `lazy`, e.g. a host tree): one whose entries have not been read
    /// yet is `EAGAIN`. Their `_loading` forms, and every `&mut self` operation, read the
    /// directories they need first.
    pub fn resolve(&self, base: NodeId, path: &[u8], follow: Follow) -> Result<Resolved> {
        resolve::beneath(self, base, path, follow, false).map_err(|stop| match stop {
            Stop::Fail(e) => e,
            Stop::Unloaded(_) | Stop::Unsettled(..) => Errno::Again,
        })
    }

    /// `resolve`, reading the lazy directories the walk meets first.
    pub fn resolve_loading(
        &mut self,
        base: NodeId,
        path: &[u8],
        follow: Follow,
    ) -> Result<Resolved> {
        self.walk(base, path, follow, false)
    }

    /// The confined resolver, loading each lazy directory it stops at and walking again.
    /// `load_dir` leaves a directory loaded or failed, so each walk gets further: this ends
    /// after at most one load per directory on the way. A failure is left for the walk to
    /// report where it meets it (so outside `base` it is `EPERM` like any other).
    fn walk(
        &mut self,
        base: NodeId,
        path: &[u8],
        follow: Follow,
        create: bool,
    ) -> Result<Resolved> {
        loop {
            match resolve::beneath(self, base, path, follow, create) {
                Ok(r) => return Ok(r),
                Err(Stop::Fail(e)) => return Err(e),
                Err(Stop::Unloaded(dir)) => {
                    let _failed_in_dir = self.fs_mut(dir)?.load_dir(dir.ino);
                }
                Err(Stop::Unsettled(dir, ino)) => self.fs_mut(dir)?.settle(dir.ino, ino)?,
            }
        }
    }

    /// Reads the entries of `dir` if it is a lazy directory not read yet (see
    /// `MemFs::load_dir`): the source's errno if that fails, now and on every later use.
    pub fn load_dir(&mut self, dir: NodeId) -> Result<()> {
        self.fs_mut(dir)?.load_dir(dir.ino)
    }

    /// Reads the attributes of every entry of the loaded directory `dir` still waiting for
    /// them (see `MemFs::settle_dir`).
    pub fn settle_dir(&mut self, dir: NodeId) -> Result<()> {
        self.fs_mut(dir)?.settle_dir(dir.ino)
    }

    /// Reads every lazy directory beneath `at` (crossing mounts), e.g. before exporting the
    /// whole tree. One that fails is left failed (see `load_dir`) and the others are read;
    /// the first error is returned at the end.
    pub fn load_all(&mut self, at: NodeId) -> Result<()> {
        let mut first_err = None;
        let mut todo = vec![self.through_mounts(at)];
        while let Some(id) = todo.pop() {
            if !self.node(id)?.is_dir() {
                continue;
            }
            if let Err(e) = self.load_dir(id).and_then(|()| self.settle_dir(id)) {
                first_err.get_or_insert(e);
                continue;
            }
            let fs = self.fs(id)?;
            for (_, ino) in fs.dir(id.ino)?.entries.iter() {
                todo.push(self.through_mounts(NodeId { fs: id.fs, ino }));
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Opens (and maybe creates or truncates) what `path` names; the node is retained and
    /// must be given back with `release`.
    ///
    /// As Linux `openat`: with `create`, a path ending in a slash is `EISDIR` and an existing
    /// directory is `EISDIR`; with `create` and `exclusive` a final symlink is never followed
    /// (it exists: `EEXIST`). Without `follow`, a final symlink is `ELOOP`. `directory` with
    /// `create`, `exclusive` or `truncate` is `EINVAL`, as wasmtime.
    pub fn open(&mut self, base: NodeId, path: &[u8], opts: OpenOptions) -> Result<NodeId> {
        if opts.directory && (opts.create || opts.exclusive || opts.truncate) {
            return Err(Errno::Inval);
        }
        let follow = if opts.create && opts.exclusive {
            Follow::Entry
        } else if opts.follow {
            Follow::Yes
        } else {
            Follow::No
        };
        let r = self.walk(base, path, follow, opts.create)?;
        let id = match r.node {
            Some(id) => {
                if opts.create && opts.exclusive {
                    return Err(Errno::Exist);
                }
                let node = self.node(id)?;
                match &node.kind {
                    NodeKind::Symlink(_) => return Err(Errno::Loop),
                    NodeKind::Dir(_) if opts.truncate || opts.create => return Err(Errno::Isdir),
                    NodeKind::File(_) if opts.directory => return Err(Errno::Notdir),
                    // Lazy contents (host files) are read here, so a failure is the open's
                    // EIO rather than a silently short read later.
                    NodeKind::File(data) if !opts.truncate => data.load()?,
                    _ => {}
                }
                if opts.truncate {
                    self.fs_mut(id)?.set_size(id.ino, 0)?;
                }
                id
            }
            None => {
                if !opts.create {
                    return Err(Errno::Noent);
                }
                if r.trailing_slash {
                    return Err(Errno::Isdir);
                }
                let (dir, name) = r.entry.ok_or(Errno::Noent)?;
                let ino = self.fs_mut(dir)?.create_file(dir.ino, &name, 0o644)?;
                NodeId { fs: dir.fs, ino }
            }
        };
        self.fs_mut(id)?.retain(id.ino)?;
        Ok(id)
    }

    /// Takes an extra open handle on a node (e.g. for a preopen).
    pub fn retain(&mut self, id: NodeId) -> Result<()> {
        self.fs_mut(id)?.retain(id.ino)
    }

    /// Gives back a handle from `open` or `retain`.
    pub fn release(&mut self, id: NodeId) {
        if let Ok(fs) = self.fs_mut(id) {
            fs.release(id.ino);
        }
    }

    /// A path naming an entry that must not exist yet: `EEXIST` for any existing entry
    /// (even `file/`), and for paths ending in `.` or `..`.
    fn new_entry(&mut self, base: NodeId, path: &[u8]) -> Result<(Resolved, NodeId, Arc<str>)> {
        let r = self.resolve_loading(base, path, Follow::Entry)?;
        if r.node.is_some() {
            return Err(Errno::Exist);
        }
        let (dir, name) = r.entry.clone().ok_or(Errno::Exist)?;
        Ok((r, dir, name))
    }

    /// Creates the directory `path` beneath `base`; its id.
    pub fn mkdir(&mut self, base: NodeId, path: &[u8]) -> Result<NodeId> {
        let (_, dir, name) = self.new_entry(base, path)?;
        let ino = self.fs_mut(dir)?.mkdir(dir.ino, &name, 0o755)?;
        Ok(NodeId { fs: dir.fs, ino })
    }

    /// Removes the empty directory `path` beneath `base`.
    pub fn rmdir(&mut self, base: NodeId, path: &[u8]) -> Result<()> {
        let r = self.resolve_loading(base, path, Follow::Entry)?;
        let node = r.node.ok_or(Errno::Noent)?;
        let Some((dir, name)) = r.entry else {
            // As Linux: `rmdir(".")` is EINVAL, and `..` can never be empty. With no entry,
            // the path ends in `.` or `..`.
            let last = path.split(|&b| b == b'/').rfind(|c| !c.is_empty());
            return Err(if last == Some(&b".."[..]) {
                Errno::Notempty
            } else {
                Errno::Inval
            });
        };
        if self.node(node)?.is_dir() {
            // Whether it is empty is up to its source.
            self.load_dir(node)?;
        }
        self.fs_mut(dir)?.rmdir(dir.ino, &name)
    }

    /// Removes the non-directory `path` beneath `base` (one link of it).
    pub fn unlink(&mut self, base: NodeId, path: &[u8]) -> Result<()> {
        let r = self.resolve_loading(base, path, Follow::Entry)?;
        let node = r.node.ok_or(Errno::Noent)?;
        let (dir, name) = r.entry.ok_or(Errno::Isdir)?;
        if r.trailing_slash {
            // `unlink("dir/")` is EISDIR; `unlink("file/")` or through a symlink is ENOTDIR.
            return Err(if self.node(node)?.is_dir() {
                Errno::Isdir
            } else {
                Errno::Notdir
            });
        }
        self.fs_mut(dir)?.unlink(dir.ino, &name)
    }

    /// POSIX rename, in Linux's order of checks: both paths are resolved first (so
    /// `rename("missing", "file/x")` is `ENOTDIR`), then `.`/`..` (`EBUSY`), filesystems
    /// (`EXDEV`), `EROFS`, a missing source (`ENOENT`), trailing slashes on a non-directory
    /// (`ENOTDIR`); the rest is `MemFs::rename`.
    pub fn rename(
        &mut self,
        from_base: NodeId,
        from: &[u8],
        to_base: NodeId,
        to: &[u8],
    ) -> Result<()> {
        let fr = self.resolve_loading(from_base, from, Follow::Entry)?;
        let tr = self.resolve_loading(to_base, to, Follow::Entry)?;
        let (from_dir, from_name) = fr.entry.clone().ok_or(Errno::Busy)?;
        let (to_dir, to_name) = tr.entry.clone().ok_or(Errno::Busy)?;
        if from_dir.fs != to_dir.fs {
            return Err(Errno::Xdev);
        }
        if self.fs(from_dir)?.is_readonly() {
            return Err(Errno::Rofs);
        }
        let src = fr.node.ok_or(Errno::Noent)?;
        // As Linux's renameat: the new name is looked up (ENOENT in a directory removed
        // while open) before trailing slashes are held against the source.
        self.fs(to_dir)?.check_not_removed(to_dir.ino)?;
        let src_is_dir = self.node(src)?.is_dir();
        if !src_is_dir && (fr.trailing_slash || tr.trailing_slash) {
            return Err(Errno::Notdir);
        }
        if let Some(dst) = tr.node
            && src_is_dir
            && dst != src
            && self.node(dst)?.is_dir()
        {
            // A directory may only replace an empty one: up to its source.
            self.load_dir(dst)?;
        }
        self.fs_mut(from_dir)?
            .rename(from_dir.ino, &from_name, to_dir.ino, &to_name)
    }

    /// Adds the name `to` for the non-directory `from` names. As Linux: the source is
    /// resolved (a trailing slash follows it even without `follow`), then the new name
    /// (`EEXIST`, `ENOENT` for `new/`), then `EXDEV`, then a directory source is `EPERM`.
    pub fn link(
        &mut self,
        from_base: NodeId,
        from: &[u8],
        follow: bool,
        to_base: NodeId,
        to: &[u8],
    ) -> Result<()> {
        let follow = if follow { Follow::Yes } else { Follow::No };
        let fr = self.resolve_loading(from_base, from, follow)?;
        let src = fr.node.ok_or(Errno::Noent)?;
        let (tr, to_dir, to_name) = self.new_entry(to_base, to)?;
        if tr.trailing_slash {
            return Err(Errno::Noent);
        }
        // As Linux's linkat: the new name is made first (EROFS, ENOENT in a removed
        // directory), then the source is looked at (EXDEV, EPERM for a directory).
        self.fs(to_dir)?.check_insert(to_dir.ino, &to_name)?;
        if src.fs != to_dir.fs {
            return Err(Errno::Xdev);
        }
        if self.node(src)?.is_dir() {
            return Err(Errno::Perm);
        }
        self.fs_mut(to_dir)?.link(to_dir.ino, &to_name, src.ino)
    }

    /// Creates the symlink `path` holding `target`. The target is checked as a path would be
    /// (`check_path`): in particular absolute targets are refused (`EPERM`), so only host-side
    /// code (images, host trees) ever puts one in a filesystem.
    pub fn symlink(&mut self, target: &[u8], base: NodeId, path: &[u8]) -> Result<NodeId> {
        let target = check_path(target)?;
        let (r, dir, name) = self.new_entry(base, path)?;
        if r.trailing_slash {
            return Err(Errno::Noent);
        }
        let ino = self.fs_mut(dir)?.symlink(dir.ino, &name, target)?;
        Ok(NodeId { fs: dir.fs, ino })
    }

    /// The target of the symlink `path` names; `link/` names what the link points to, so it
    /// is `EINVAL` (or a resolution error), as Linux.
    pub fn readlink(&self, base: NodeId, path: &[u8]) -> Result<Arc<str>> {
        let node = self.lookup(base, path, false)?;
        self.fs(node)?.readlink(node.ino)
    }

    /// `readlink`, reading the lazy directories on the way first.
    pub fn readlink_loading(&mut self, base: NodeId, path: &[u8]) -> Result<Arc<str>> {
        let node = self.lookup_loading(base, path, false)?;
        self.fs(node)?.readlink(node.ino)
    }

    /// The node a path names (following a final symlink or not).
    pub fn lookup(&self, base: NodeId, path: &[u8], follow: bool) -> Result<NodeId> {
        let follow = if follow { Follow::Yes } else { Follow::No };
        self.resolve(base, path, follow)?.node.ok_or(Errno::Noent)
    }

    /// `lookup`, reading the lazy directories on the way first.
    pub fn lookup_loading(&mut self, base: NodeId, path: &[u8], follow: bool) -> Result<NodeId> {
        let follow = if follow { Follow::Yes } else { Follow::No };
        self.resolve_loading(base, path, follow)?
            .node
            .ok_or(Errno::Noent)
    }

    /// The attributes of what `path` names beneath `base` (`follow`: through a final symlink).
    pub fn stat(&self, base: NodeId, path: &[u8], follow: bool) -> Result<Stat> {
        let id = self.lookup(base, path, follow)?;
        self.stat_node(id)
    }

    /// `stat`, reading the lazy directories on the way first.
    pub fn stat_loading(&mut self, base: NodeId, path: &[u8], follow: bool) -> Result<Stat> {
        let id = self.lookup_loading(base, path, follow)?;
        self.stat_node(id)
    }

    /// Sets the access and modification times of what `path` names beneath `base`.
    pub fn set_times(
        &mut self,
        base: NodeId,
        path: &[u8],
        follow: bool,
        atim: SetTime,
        mtim: SetTime,
    ) -> Result<()> {
        let id = self.lookup_loading(base, path, follow)?;
        self.set_times_node(id, atim, mtim)
    }

    /// Sets the access and modification times of the node `id`.
    pub fn set_times_node(&mut self, id: NodeId, atim: SetTime, mtim: SetTime) -> Result<()> {
        self.fs_mut(id)?.set_times(id.ino, atim, mtim)
    }

    /// Reads from the file `id` at `offset` into `buf`; bytes read (0 at end of file).
    pub fn read(&self, id: NodeId, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.fs(id)?.read(id.ino, offset, buf)
    }

    /// The contents of the regular file `id` as one shared buffer, if they still are one (an
    /// image's or a loaded host file's, not written since): O(1), no copy.
    pub fn shared_bytes(&self, id: NodeId) -> Result<Option<bytes::Bytes>> {
        self.fs(id)?.shared_bytes(id.ino)
    }

    /// Writes at `offset`, or appends when `None`; returns the offset past the data.
    pub fn write(&mut self, id: NodeId, offset: Option<u64>, data: &[u8]) -> Result<u64> {
        self.fs_mut(id)?.write(id.ino, offset, data)
    }

    /// Truncates or extends the file `id` to `size` bytes.
    pub fn set_size(&mut self, id: NodeId, size: u64) -> Result<()> {
        self.fs_mut(id)?.set_size(id.ino, size)
    }

    /// Extends the file `id` to at least `offset + len` bytes; `ENOSPC` if writing that range
    /// could not fit the budget (the range itself stays a hole).
    pub fn allocate(&mut self, id: NodeId, offset: u64, len: u64) -> Result<()> {
        self.fs_mut(id)?.allocate(id.ino, offset, len)
    }

    /// Directory entries from `cookie` on: `(next cookie, name, inode, type)`.
    pub fn readdir(&self, dir: NodeId, cookie: u64) -> Result<Vec<DirEntry>> {
        self.fs(dir)?.readdir(dir.ino, cookie)
    }

    /// As `readdir`, lazily (see `MemFs::readdir_iter`): `fd_readdir` with a small buffer
    /// should stop early instead of collecting the whole rest of the directory.
    pub fn readdir_iter(
        &self,
        dir: NodeId,
        cookie: u64,
    ) -> Result<impl Iterator<Item = DirEntry> + '_> {
        self.fs(dir)?.readdir_iter(dir.ino, cookie)
    }

    /// Creates a file with the given contents (shared, not copied) at `path`, making parent
    /// directories as needed; for building trees from the host side.
    pub fn write_file(&mut self, base: NodeId, path: &str, data: FileData) -> Result<NodeId> {
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (self.mkdir_all(base, p)?, n),
            None => (base, path),
        };
        let id = self.open(
            parent,
            name.as_bytes(),
            OpenOptions {
                create: true,
                truncate: true,
                ..Default::default()
            },
        )?;
        self.release(id);
        self.fs_mut(id)?.replace_data(id.ino, data)?;
        Ok(id)
    }

    /// Creates every missing directory of `path`; returns the last one.
    pub fn mkdir_all(&mut self, base: NodeId, path: &str) -> Result<NodeId> {
        let mut cur = base;
        for comp in path.split('/').filter(|c| !c.is_empty()) {
            cur = match self.lookup_loading(cur, comp.as_bytes(), true) {
                Ok(id) => id,
                Err(Errno::Noent) => self.mkdir(cur, comp.as_bytes())?,
                Err(e) => return Err(e),
            };
        }
        Ok(cur)
    }
}

/// The namespace as the resolver sees it.
impl Lookup for Vfs {
    #[inline]
    fn root(&self) -> NodeId {
        Vfs::root(self)
    }

    #[inline]
    fn node(&self, id: NodeId) -> Result<&Node> {
        Vfs::node(self, id)
    }

    #[inline]
    fn through_mounts(&self, id: NodeId) -> NodeId {
        Vfs::through_mounts(self, id)
    }

    fn absolute_symlinks(&self, id: NodeId) -> Result<AbsoluteSymlinks> {
        Ok(self.fs(id)?.absolute_symlinks())
    }
}
