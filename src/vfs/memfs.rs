//! One in-memory filesystem: a slab of inodes addressed by inode number, and every operation
//! WASI needs expressed on (directory inode, entry name). Paths are the resolver's business;
//! a filesystem only carries the policy the resolver applies to its absolute symlinks.
//! Invariants: directories form a tree (no directory hard links), every directory's `parent`
//! names the directory holding its entry, `nlink` counts entries (plus `.` and
//! subdirectories' `..` for directories), and an inode is freed only when it has no entry and
//! no open handle. Open handles and mount points are state of this filesystem's users, not of
//! its nodes: they live beside the shared node table, so that opening a file or mounting on a
//! directory of a fork does not copy (unshare) its node.

#![forbid(unsafe_code)]

use super::budget::{Budget, INODE_COST, LINK_COST};
use super::clock::Clock;
use super::data::FileData;
use super::dir::{FastHash, Ino};
use super::error::{Errno, Result};
use super::lazy::{LazyDir, LazyState, Listed};
use super::node::{DirNode, FileType, Node, NodeKind, SetTime, Stat};
use super::resolve::AbsoluteSymlinks;
use super::table::NodeTable;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The root directory's inode number in every filesystem.
pub const ROOT_INO: Ino = 1;

/// Longest file size a write or `set_size` may produce (like a 64-bit `off_t`).
pub const MAX_FILE_SIZE: u64 = i64::MAX as u64;

/// Most hard links to one inode.
pub const MAX_LINKS: u64 = 65_000;

/// One `readdir` result: the cookie of the next entry, the name, the inode, its type.
pub type DirEntry = (u64, Arc<str>, Ino, FileType);

/// Cloning a `MemFs` is O(1) and shares every node and all file data with the original
/// (see `table`): that is how a prepared filesystem is forked for another run.
#[derive(Debug, Clone)]
pub struct MemFs {
    nodes: NodeTable,
    free: Vec<Ino>,
    /// Open handles per inode, for inodes that have any.
    open: HashMap<Ino, u32, FastHash>,
    /// Directories a filesystem is mounted on.
    mounted: HashSet<Ino, FastHash>,
    dev: u64,
    readonly: bool,
    /// What resolution does with absolute symlink targets held here.
    absolute_symlinks: AbsoluteSymlinks,
    clock: Arc<dyn Clock>,
    /// The run's memory and inode accounts (see `crate::limits`), shared with the other
    /// filesystems of its namespace; `None`: nothing is counted.
    budget: Option<Arc<Budget>>,
    /// What was charged to `budget` per inode beyond file data: the inode itself if it was
    /// created under the budget, hard links added to it.
    charged: HashMap<Ino, Charged, FastHash>,
    /// Inodes loaded from a lazy directory (see `lazy`) under a link key, by that key: the
    /// other names with the key load as links to them.
    linked: HashMap<(u64, u64), Ino, FastHash>,
    /// For each of those: its key, and how many of the names its link count includes have
    /// not been loaded yet (a later name with the key takes one instead of adding a link).
    unseen: HashMap<Ino, ((u64, u64), u64), FastHash>,
}

#[derive(Clone, Copy, Debug, Default)]
struct Charged {
    /// Bytes charged for the inode itself (0: it existed before the budget).
    inode: u64,
    /// Hard links added under the budget and not removed since.
    links: u32,
}

impl MemFs {
    /// An empty filesystem (just a root directory) with device id `dev`, refusing absolute
    /// symlink targets (see `with_absolute_symlinks`).
    pub fn new(dev: u64, clock: Arc<dyn Clock>) -> Self {
        let now = clock.now_ns();
        let root = Node::new(NodeKind::Dir(DirNode::new(ROOT_INO)), 0o755, now);
        let mut nodes = NodeTable::default();
        nodes.push(None); // inode 0 is never used
        nodes.push(Some(root));
        MemFs {
            nodes,
            free: Vec::new(),
            open: HashMap::default(),
            mounted: HashSet::default(),
            dev,
            readonly: false,
            absolute_symlinks: AbsoluteSymlinks::Refuse,
            clock,
            budget: None,
            charged: HashMap::default(),
            linked: HashMap::default(),
            unseen: HashMap::default(),
        }
    }

    /// Counts from now on what this filesystem allocates and frees against `budget`
    /// (`None`: nothing is counted). What it holds already is not counted.
    pub fn set_budget(&mut self, budget: Option<Arc<Budget>>) {
        self.budget = budget;
        self.charged.clear();
    }

    /// The run's memory and inode budget, if limits are set.
    pub fn budget(&self) -> Option<&Arc<Budget>> {
        self.budget.as_ref()
    }

    /// The device id `stat` reports for this filesystem.
    pub fn dev(&self) -> u64 {
        self.dev
    }

    /// The root directory's inode.
    pub fn root(&self) -> Ino {
        ROOT_INO
    }

    /// Whether every write fails with `EROFS`.
    pub fn is_readonly(&self) -> bool {
        self.readonly
    }

    /// What resolution does with absolute symlink targets held here.
    pub fn absolute_symlinks(&self) -> AbsoluteSymlinks {
        self.absolute_symlinks
    }

    /// Makes every later modification fail with `EROFS`.
    pub fn set_readonly(&mut self, readonly: bool) {
        self.readonly = readonly;
    }

    /// Takes timestamps from `clock` from now on (a fork for a deterministic run).
    pub fn set_clock(&mut self, clock: Arc<dyn Clock>) {
        self.clock = clock;
    }

    /// The current time of its clock, ns since the Unix epoch.
    pub fn now(&self) -> u64 {
        self.clock.now_ns()
    }

    /// Number of live inodes.
    pub fn inode_count(&self) -> usize {
        self.nodes.len() - 1 - self.free.len()
    }

    /// The node `ino` (`EBADF` if there is none).
    pub fn node(&self, ino: Ino) -> Result<&Node> {
        self.nodes.get(ino).ok_or(Errno::Badf)
    }

    fn node_mut(&mut self, ino: Ino) -> Result<&mut Node> {
        self.nodes.get_mut(ino).ok_or(Errno::Badf)
    }

    fn writable(&self) -> Result<()> {
        if self.readonly {
            Err(Errno::Rofs)
        } else {
            Ok(())
        }
    }

    /// The directory `ino` (`ENOTDIR` if it is something else).
    pub fn dir(&self, ino: Ino) -> Result<&DirNode> {
        match &self.node(ino)?.kind {
            NodeKind::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    fn dir_mut(&mut self, ino: Ino) -> Result<&mut DirNode> {
        match &mut self.node_mut(ino)?.kind {
            NodeKind::Dir(d) => Ok(d),
            _ => Err(Errno::Notdir),
        }
    }

    /// The attributes of `ino`.
    pub fn stat(&self, ino: Ino) -> Result<Stat> {
        let n = self.node(ino)?;
        Ok(Stat {
            dev: self.dev,
            ino,
            filetype: n.file_type(),
            nlink: n.nlink,
            size: n.size(),
            mode: n.mode,
            atim: n.atim,
            mtim: n.mtim,
            ctim: n.ctim,
        })
    }

    /// The directory `ino` with its entries: `EAGAIN` if they have not been read from their
    /// source yet (`load_dir`), the source's errno if reading them failed.
    pub fn loaded_dir(&self, ino: Ino) -> Result<&DirNode> {
        let d = self.dir(ino)?;
        match &d.lazy {
            Some(l) if l.needs_load()? => Err(Errno::Again),
            _ => Ok(d),
        }
    }

    /// The entry `name` of the directory `dir`, `None` if absent (`EAGAIN` if `dir` has
    /// not been loaded, see `loaded_dir`).
    pub fn lookup(&self, dir: Ino, name: &str) -> Result<Option<Ino>> {
        Ok(self.loaded_dir(dir)?.entries.get(name))
    }

    fn alloc(&mut self, node: Node) -> Ino {
        match self.free.pop() {
            Some(ino) => {
                self.nodes.set(ino, Some(node));
                ino
            }
            None => self.nodes.push(Some(node)),
        }
    }

    fn alloc_shared(&mut self, node: Arc<Node>) -> Ino {
        match self.free.pop() {
            Some(ino) => {
                self.nodes.set_shared(ino, node);
                ino
            }
            None => self.nodes.push_shared(node),
        }
    }

    /// Makes the directory `ino` take its entries from `source` when first needed (its own
    /// entries stay; `load_dir` adds the source's). `EBUSY` if it has a source whose
    /// entries it has not read yet.
    pub fn set_lazy(&mut self, ino: Ino, source: Arc<LazyDir>) -> Result<()> {
        let d = self.dir_mut(ino)?;
        if d.is_unloaded() {
            return Err(Errno::Busy);
        }
        d.lazy = Some(Box::new(LazyState {
            source,
            loaded: false,
            failed: None,
            settled: false,
        }));
        Ok(())
    }

    /// Reads the entries of the lazy directory `ino` from its source, unless it has been.
    /// They are part of the filesystem's base: not charged to the budget, not stamped with
    /// the clock (their times are the source's), allowed on a read-only filesystem. The
    /// source's error fails this and every later use of the directory in this filesystem;
    /// so does `EEXIST` if a name is taken (a source given to a directory with entries of
    /// its own). So once this returns, the directory is loaded or failed, never still to load.
    pub fn load_dir(&mut self, ino: Ino) -> Result<()> {
        let d = self.dir(ino)?;
        let Some(lazy) = &d.lazy else { return Ok(()) };
        if !lazy.needs_load()? {
            return Ok(());
        }
        let listing = lazy.source.listing().and_then(|l| {
            match l.iter().any(|l| d.entries.get(&l.name).is_some()) {
                true => Err(Errno::Exist),
                false => Ok(l),
            }
        });
        let listing = match listing {
            Ok(l) => l,
            Err(e) => {
                if let Some(l) = &mut self.dir_mut(ino)?.lazy {
                    l.failed = Some(e);
                }
                return Err(e);
            }
        };
        // A directory of its own counts `.` and its entry; one merged into keeps its count.
        let base_links = if d.entries.is_empty() {
            2
        } else {
            self.node(ino)?.nlink
        };
        let mut subdirs = 0;
        let mut children = Vec::with_capacity(listing.len());
        for l in listing.iter() {
            let child = match self.link_loaded(l) {
                Some(child) => child,
                None => self.place(ino, l),
            };
            subdirs += u64::from(l.node.is_dir());
            children.push((l.name.clone(), child));
        }
        let node = self.node_mut(ino)?;
        node.nlink = base_links + subdirs;
        let NodeKind::Dir(d) = &mut node.kind else {
            return Err(Errno::Notdir);
        };
        for (name, child) in children {
            d.entries.insert(name, child);
        }
        if let Some(l) = &mut d.lazy {
            l.loaded = true;
        }
        Ok(())
    }

    /// The inode another name with `l`'s link key became, if one is loaded and can take a
    /// name: that name is counted in its link count already, or is added to it.
    fn link_loaded(&mut self, l: &Listed) -> Option<Ino> {
        let key = l.link_key?;
        let &ino = self.linked.get(&key)?;
        let (_, unseen) = self.unseen.get_mut(&ino)?;
        if *unseen > 0 {
            *unseen -= 1;
            return Some(ino);
        }
        // More names than the source counted (it changed meanwhile): one link more.
        let n = self.nodes.get_mut(ino)?;
        if n.is_dir() || n.nlink == 0 || n.nlink >= MAX_LINKS {
            return None;
        }
        n.nlink += 1;
        Some(ino)
    }

    /// Puts the listed entry `l` of the directory `parent` in a new inode: files and
    /// symlinks share the listing's node; a directory gets a node of its own (its parent).
    fn place(&mut self, parent: Ino, l: &Listed) -> Ino {
        if let NodeKind::Dir(_) = &l.node.kind {
            let mut node = (*l.node).clone();
            if let NodeKind::Dir(d) = &mut node.kind {
                d.parent = parent;
            }
            return self.alloc(node);
        }
        let ino = self.alloc_shared(l.node.clone());
        if let Some(key) = l.link_key {
            self.linked.insert(key, ino);
            self.unseen
                .insert(ino, (key, l.node.nlink.saturating_sub(1)));
        }
        ino
    }

    /// True if `ino` is still the very node `l` was listed as, or settled as (loaded, not
    /// changed since).
    pub(crate) fn is_listed(&self, ino: Ino, l: &Listed) -> bool {
        self.nodes.is_shared(ino, &l.node)
            || l.node
                .pending
                .as_ref()
                .is_some_and(|p| self.nodes.get_shared(ino).is_some_and(|n| p.settled_as(n)))
    }

    /// Reads the attributes of `ino`, the entry `name` of `dir`, if it is a placeholder (see
    /// `lazy`): a file or symlink becomes the node its source describes, or the inode another
    /// name of the same source inode became (hard links keep their identity); a directory
    /// takes its attributes. An entry gone from the source (or no longer of its listed type)
    /// is removed, as if never listed. Like `load_dir`, part of the filesystem's base: not
    /// charged, not stamped, allowed on a read-only filesystem. The resolver and readdir
    /// call this before they report a node, so a placeholder is never seen.
    pub fn settle(&mut self, dir: Ino, ino: Ino) -> Result<()> {
        let node = self.node(ino)?;
        let Some(pending) = node.pending.clone() else {
            return Ok(());
        };
        let was = node.file_type();
        let name = pending.name.clone();
        let l = match pending.settled(was) {
            Ok(l) => l,
            Err(_) => {
                // Gone since it was listed: so it is gone for this run.
                let d = self.dir_mut(dir)?;
                d.entries.remove(&name);
                if was == FileType::Directory {
                    let p = self.node_mut(dir)?;
                    p.nlink = p.nlink.saturating_sub(1);
                }
                self.drop_placeholder(ino);
                return Ok(());
            }
        };
        if let NodeKind::Dir(_) = &l.node.kind {
            let loaded = !self.dir(ino)?.is_unloaded();
            let n = self.node_mut(ino)?;
            (n.mode, n.atim, n.mtim, n.ctim) = (l.node.mode, l.node.atim, l.node.mtim, l.node.ctim);
            if !loaded {
                n.nlink = l.node.nlink;
            }
            n.pending = None;
            return Ok(());
        }
        if let Some(other) = self.link_loaded(l) {
            self.dir_mut(dir)?.entries.replace(&name, other);
            self.drop_placeholder(ino);
            return Ok(());
        }
        self.nodes.set_shared(ino, l.node.clone());
        if let Some(key) = l.link_key {
            self.linked.insert(key, ino);
            self.unseen
                .insert(ino, (key, l.node.nlink.saturating_sub(1)));
        }
        Ok(())
    }

    /// Frees the slot of a placeholder no entry names any more (never opened: the resolver
    /// settles a placeholder before anything can open it).
    fn drop_placeholder(&mut self, ino: Ino) {
        self.nodes.set(ino, None);
        self.free.push(ino);
    }

    /// Settles every entry of the loaded directory `dir` (see `settle`), once: readdir
    /// reports inode numbers, which a placeholder of a hard link would get wrong.
    pub fn settle_dir(&mut self, dir: Ino) -> Result<()> {
        let d = self.loaded_dir(dir)?;
        if d.lazy.as_ref().is_none_or(|l| l.settled) {
            return Ok(());
        }
        let pending: Vec<Ino> = d
            .entries
            .iter()
            .map(|(_, ino)| ino)
            .filter(|&ino| self.node(ino).is_ok_and(|n| n.pending.is_some()))
            .collect();
        for ino in pending {
            self.settle(dir, ino)?;
        }
        if let Some(l) = &mut self.dir_mut(dir)?.lazy {
            l.settled = true;
        }
        Ok(())
    }

    /// Frees `ino` if nothing refers to it any more (no entry, no open handle).
    fn maybe_free(&mut self, ino: Ino) {
        if let Ok(n) = self.node(ino)
            && !self.open.contains_key(&ino)
            && (n.nlink == 0 || (n.is_dir() && n.nlink <= 1))
        {
            if let Some(budget) = &self.budget {
                let data = match &n.kind {
                    NodeKind::File(f) => f.owned_capacity(),
                    _ => 0,
                };
                let c = self.charged.remove(&ino).unwrap_or_default();
                let links = u64::from(c.links) * LINK_COST;
                budget.refund(data + c.inode + links, u64::from(c.inode > 0));
            }
            if let Some((key, _)) = self.unseen.remove(&ino) {
                self.linked.remove(&key);
            }
            self.nodes.set(ino, None);
            self.free.push(ino);
        }
    }

    /// Checks that `name` can be added to `dir` and returns the time to stamp on it.
    fn prepare_insert(&self, dir: Ino, name: &str) -> Result<u64> {
        self.writable()?;
        let d = self.loaded_dir(dir)?;
        if d.removed {
            return Err(Errno::Noent);
        }
        if d.entries.get(name).is_some() {
            return Err(Errno::Exist);
        }
        Ok(self.now())
    }

    /// `ENOENT` if the directory `dir` was removed (it is only still open): nothing can be
    /// looked up or made in it.
    pub fn check_not_removed(&self, dir: Ino) -> Result<()> {
        if self.dir(dir)?.removed {
            return Err(Errno::Noent);
        }
        Ok(())
    }

    /// The checks that creating `name` in `dir` makes first (`EROFS`, `ENOENT` in a removed
    /// directory, `EEXIST`), for callers that must report them before checks of their own.
    pub fn check_insert(&self, dir: Ino, name: &str) -> Result<()> {
        self.prepare_insert(dir, name).map(|_| ())
    }

    fn touch_dir(&mut self, dir: Ino, now: u64) {
        if let Ok(n) = self.node_mut(dir) {
            n.mtim = now;
            n.ctim = now;
        }
    }

    fn insert_new(&mut self, dir: Ino, name: &str, kind: NodeKind, mode: u32) -> Result<Ino> {
        let now = self.prepare_insert(dir, name)?;
        let is_dir = matches!(kind, NodeKind::Dir(_));
        let inode_cost = match &kind {
            NodeKind::Symlink(t) => INODE_COST + t.len() as u64,
            _ => INODE_COST,
        };
        if let Some(budget) = &self.budget {
            let data = match &kind {
                NodeKind::File(f) => f.owned_capacity(),
                _ => 0,
            };
            budget.charge(inode_cost + data, 1)?;
        }
        let ino = self.alloc(Node::new(kind, mode, now));
        if self.budget.is_some() {
            self.charged.insert(
                ino,
                Charged {
                    inode: inode_cost,
                    links: 0,
                },
            );
        }
        self.dir_mut(dir)?.entries.insert(Arc::from(name), ino);
        if is_dir {
            self.node_mut(dir)?.nlink += 1;
        }
        self.touch_dir(dir, now);
        Ok(ino)
    }

    /// Creates an empty regular file; `EEXIST` if the name is taken.
    pub fn create_file(&mut self, dir: Ino, name: &str, mode: u32) -> Result<Ino> {
        self.insert_new(dir, name, NodeKind::File(FileData::default()), mode)
    }

    /// Creates a regular file holding `data` (shared, not copied).
    pub fn create_file_with(
        &mut self,
        dir: Ino,
        name: &str,
        data: FileData,
        mode: u32,
    ) -> Result<Ino> {
        self.insert_new(dir, name, NodeKind::File(data), mode)
    }

    /// Creates the directory `name` in `dir` with permission bits `mode`; its inode.
    pub fn mkdir(&mut self, dir: Ino, name: &str, mode: u32) -> Result<Ino> {
        let kind = NodeKind::Dir(DirNode::new(dir));
        self.insert_new(dir, name, kind, mode)
    }

    /// Creates the symlink `name` in `dir` pointing at `target`; its inode.
    pub fn symlink(&mut self, dir: Ino, name: &str, target: &str) -> Result<Ino> {
        self.insert_new(dir, name, NodeKind::Symlink(Arc::from(target)), 0o777)
    }

    /// Adds another name for the non-directory `target`.
    pub fn link(&mut self, dir: Ino, name: &str, target: Ino) -> Result<()> {
        let now = self.prepare_insert(dir, name)?;
        let t = self.node(target)?;
        if t.is_dir() {
            return Err(Errno::Perm);
        }
        if t.nlink == 0 {
            // An open but unlinked file cannot be given a name again.
            return Err(Errno::Noent);
        }
        if t.nlink >= MAX_LINKS {
            return Err(Errno::Mlink);
        }
        if let Some(budget) = &self.budget {
            budget.charge(LINK_COST, 0)?;
            self.charged.entry(target).or_default().links += 1;
        }
        let t = self.node_mut(target)?;
        t.nlink += 1;
        t.ctim = now;
        self.dir_mut(dir)?.entries.insert(Arc::from(name), target);
        self.touch_dir(dir, now);
        Ok(())
    }

    /// The target of the symlink `ino` (`EINVAL` if it is not one).
    pub fn readlink(&self, ino: Ino) -> Result<Arc<str>> {
        match &self.node(ino)?.kind {
            NodeKind::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::Inval),
        }
    }

    /// Removes a non-directory entry.
    pub fn unlink(&mut self, dir: Ino, name: &str) -> Result<()> {
        self.writable()?;
        let ino = self.lookup(dir, name)?.ok_or(Errno::Noent)?;
        if self.node(ino)?.is_dir() {
            return Err(Errno::Isdir);
        }
        let now = self.now();
        self.dir_mut(dir)?.entries.remove(name);
        self.drop_link(ino, now);
        self.touch_dir(dir, now);
        Ok(())
    }

    fn drop_link(&mut self, ino: Ino, now: u64) {
        if let Some(budget) = &self.budget
            && let Some(c) = self.charged.get_mut(&ino)
            && c.links > 0
        {
            // Names are interchangeable: removing any name of an inode that gained links
            // under the budget gives one link back.
            c.links -= 1;
            budget.refund(LINK_COST, 0);
        }
        if let Ok(n) = self.node_mut(ino) {
            n.nlink = n.nlink.saturating_sub(1);
            n.ctim = now;
        }
        self.maybe_free(ino);
    }

    /// Removes an empty directory entry (`EBUSY` for a mount point, checked first as Linux).
    pub fn rmdir(&mut self, dir: Ino, name: &str) -> Result<()> {
        self.writable()?;
        let ino = self.lookup(dir, name)?.ok_or(Errno::Noent)?;
        let n = self.node(ino)?;
        match &n.kind {
            NodeKind::Dir(_) if self.mounted.contains(&ino) => return Err(Errno::Busy),
            // Not loaded: its source's entries are not known to be none.
            NodeKind::Dir(d) if !d.entries.is_empty() || d.is_unloaded() => {
                return Err(Errno::Notempty);
            }
            NodeKind::Dir(_) => {}
            _ => return Err(Errno::Notdir),
        }
        let now = self.now();
        self.dir_mut(dir)?.entries.remove(name);
        self.node_mut(dir)?.nlink -= 1;
        self.touch_dir(dir, now);
        self.detach_dir(ino);
        Ok(())
    }

    fn detach_dir(&mut self, ino: Ino) {
        if let Ok(n) = self.node_mut(ino) {
            n.nlink = 0;
            if let NodeKind::Dir(d) = &mut n.kind {
                d.removed = true;
            }
        }
        self.maybe_free(ino);
    }

    /// Is `ino` the directory `ancestor` or somewhere beneath it?
    fn is_within(&self, mut ino: Ino, ancestor: Ino) -> bool {
        loop {
            if ino == ancestor {
                return true;
            }
            match self.dir(ino) {
                Ok(d) if d.parent != ino => ino = d.parent,
                _ => return false,
            }
        }
    }

    /// POSIX rename within this filesystem, checking in Linux's order: a directory moved
    /// into its own subtree (`EINVAL`), a target that is an ancestor of the source
    /// (`ENOTEMPTY`), the same inode (nothing to do), the types (`ENOTDIR`, `EISDIR`), mount
    /// points (`EBUSY`), then a non-empty target directory (`ENOTEMPTY`).
    pub fn rename(&mut self, from_dir: Ino, from: &str, to_dir: Ino, to: &str) -> Result<()> {
        self.writable()?;
        let src = self.lookup(from_dir, from)?.ok_or(Errno::Noent)?;
        let dst = self.lookup(to_dir, to)?;
        if self.dir(to_dir)?.removed {
            return Err(Errno::Noent);
        }
        let src_is_dir = self.node(src)?.is_dir();
        if src_is_dir && self.is_within(to_dir, src) {
            return Err(Errno::Inval);
        }
        if let Some(dst) = dst {
            if dst != src && self.is_within(from_dir, dst) {
                return Err(Errno::Notempty);
            }
            if dst == src {
                // The same entry, or two hard links to one file: POSIX says do nothing.
                return Ok(());
            }
            match (src_is_dir, self.node(dst)?.is_dir()) {
                (true, false) => return Err(Errno::Notdir),
                (false, true) => return Err(Errno::Isdir),
                _ => {}
            }
        }
        if self.mounted.contains(&src) || dst.is_some_and(|d| self.mounted.contains(&d)) {
            return Err(Errno::Busy);
        }
        let dst_node = dst.map(|d| self.node(d)).transpose()?;
        if let Some(NodeKind::Dir(d)) = dst_node.map(|n| &n.kind)
            && (!d.entries.is_empty() || d.is_unloaded())
        {
            return Err(Errno::Notempty);
        }
        let now = self.now();
        self.dir_mut(from_dir)?.entries.remove(from);
        match dst {
            Some(dst) => {
                self.dir_mut(to_dir)?.entries.replace(to, src);
                if src_is_dir {
                    // The replaced directory's `..` no longer counts toward to_dir.
                    self.node_mut(to_dir)?.nlink -= 1;
                    self.detach_dir(dst);
                } else {
                    self.drop_link(dst, now);
                }
            }
            None => self.dir_mut(to_dir)?.entries.insert(Arc::from(to), src),
        }
        if src_is_dir && from_dir != to_dir {
            self.node_mut(from_dir)?.nlink -= 1;
            self.node_mut(to_dir)?.nlink += 1;
            self.dir_mut(src)?.parent = to_dir;
        }
        self.node_mut(src)?.ctim = now;
        self.touch_dir(from_dir, now);
        self.touch_dir(to_dir, now);
        Ok(())
    }

    /// The contents of the regular file `ino`.
    pub fn file(&self, ino: Ino) -> Result<&FileData> {
        match &self.node(ino)?.kind {
            NodeKind::File(f) => Ok(f),
            NodeKind::Dir(_) => Err(Errno::Isdir),
            NodeKind::Symlink(_) => Err(Errno::Inval),
        }
    }

    fn file_mut(&mut self, ino: Ino) -> Result<&mut FileData> {
        self.writable()?;
        match &mut self.node_mut(ino)?.kind {
            NodeKind::File(f) => Ok(f),
            NodeKind::Dir(_) => Err(Errno::Isdir),
            NodeKind::Symlink(_) => Err(Errno::Inval),
        }
    }

    /// Reads at `offset` into `buf`; does not update the access time (like `noatime` mounts,
    /// which keeps reads free of writes and runs reproducible).
    pub fn read(&self, ino: Ino, offset: u64, buf: &mut [u8]) -> Result<usize> {
        Ok(self.file(ino)?.read_at(offset, buf))
    }

    /// The file's contents as one shared buffer, if they still are one (see
    /// `FileData::as_whole`).
    pub fn shared_bytes(&self, ino: Ino) -> Result<Option<bytes::Bytes>> {
        Ok(self.file(ino)?.as_whole().cloned())
    }

    /// Writes at `offset` (or at the end, when `offset` is `None`); returns the offset just past
    /// the written bytes.
    pub fn write(&mut self, ino: Ino, offset: Option<u64>, data: &[u8]) -> Result<u64> {
        let now = self.now();
        let budget = self.budget.clone();
        let f = self.file_mut(ino)?;
        let at = offset.unwrap_or(f.len());
        let end = at.checked_add(data.len() as u64).ok_or(Errno::Fbig)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::Fbig);
        }
        match budget {
            Some(budget) => {
                // Count what the write will allocate before making it; settle any difference
                // (the allocator's, should it give more) after.
                let expected = f.write_growth_bound(at, data.len() as u64);
                budget.charge(expected, 0)?;
                let grown = f.write_at(at, data);
                budget.refund(expected.saturating_sub(grown), 0);
                budget.add(grown.saturating_sub(expected));
            }
            None => {
                f.write_at(at, data);
            }
        }
        if !data.is_empty() {
            let n = self.node_mut(ino)?;
            n.mtim = now;
            n.ctim = now;
        }
        Ok(end)
    }

    /// Truncates or extends (with a hole) the file `ino` to `size` bytes.
    pub fn set_size(&mut self, ino: Ino, size: u64) -> Result<()> {
        if size > MAX_FILE_SIZE {
            return Err(Errno::Fbig);
        }
        let now = self.now();
        let freed = self.file_mut(ino)?.set_len(size);
        if let Some(budget) = &self.budget {
            budget.refund(freed, 0);
        }
        let n = self.node_mut(ino)?;
        n.mtim = now;
        n.ctim = now;
        Ok(())
    }

    /// Ensures the file is at least `offset + len` bytes long (new bytes are zeros).
    pub fn allocate(&mut self, ino: Ino, offset: u64, len: u64) -> Result<()> {
        let end = offset.checked_add(len).ok_or(Errno::Fbig)?;
        if end > MAX_FILE_SIZE {
            return Err(Errno::Fbig);
        }
        let budget = self.budget.clone();
        let f = self.file_mut(ino)?;
        if let Some(budget) = budget {
            // The range stays sparse, but must fit if the guest then writes it.
            budget.check(f.write_growth_bound(offset, len))?;
        }
        if end > f.len() {
            f.set_len(end);
            let now = self.now();
            let n = self.node_mut(ino)?;
            n.mtim = now;
            n.ctim = now;
        }
        Ok(())
    }

    /// Sets the access and modification times; with both `Keep` nothing changes, not even
    /// the status-change time (Linux `utimensat` with `UTIME_OMIT` twice).
    pub fn set_times(&mut self, ino: Ino, atim: SetTime, mtim: SetTime) -> Result<()> {
        if (atim, mtim) == (SetTime::Keep, SetTime::Keep) {
            self.node(ino)?;
            return Ok(());
        }
        self.writable()?;
        let now = self.now();
        let n = self.node_mut(ino)?;
        let pick = |t: SetTime, old: u64| match t {
            SetTime::Keep => old,
            SetTime::Now => now,
            SetTime::At(v) => v,
        };
        n.atim = pick(atim, n.atim);
        n.mtim = pick(mtim, n.mtim);
        n.ctim = now;
        Ok(())
    }

    /// Sets permission bits (images and export use them; WASI has no chmod).
    pub fn set_mode(&mut self, ino: Ino, mode: u32) -> Result<()> {
        self.node_mut(ino)?.mode = mode & 0o7777;
        Ok(())
    }

    /// Registers an open handle so the inode outlives its last name.
    pub fn retain(&mut self, ino: Ino) -> Result<()> {
        self.node(ino)?;
        let n = self.open.entry(ino).or_default();
        *n = n.checked_add(1).ok_or(Errno::Nfile)?;
        Ok(())
    }

    /// Drops an open handle; frees the inode if it has no name left.
    pub fn release(&mut self, ino: Ino) {
        if let Some(n) = self.open.get_mut(&ino) {
            *n -= 1;
            if *n == 0 {
                self.open.remove(&ino);
            }
        }
        self.maybe_free(ino);
    }

    /// Open handles on `ino`.
    pub fn open_count(&self, ino: Ino) -> u32 {
        self.open.get(&ino).copied().unwrap_or(0)
    }

    /// Marks the directory `ino` as having a filesystem mounted on it (or not).
    pub fn set_mounted(&mut self, ino: Ino, mounted: bool) -> Result<()> {
        if !self.node(ino)?.is_dir() {
            return Err(Errno::Notdir);
        }
        if mounted {
            self.mounted.insert(ino);
        } else {
            self.mounted.remove(&ino);
        }
        Ok(())
    }

    /// Whether a filesystem is mounted on the directory `ino`.
    pub fn is_mounted(&self, ino: Ino) -> bool {
        self.mounted.contains(&ino)
    }

    /// `(next cookie, name, inode, type)` for each entry from `cookie` on, `.` and `..` first.
    /// A removed directory lists nothing, not even `.` and `..` (its parent may be gone), as
    /// Linux's `getdents` seen through the C library.
    pub fn readdir(&self, dir: Ino, cookie: u64) -> Result<Vec<DirEntry>> {
        Ok(self.readdir_iter(dir, cookie)?.collect())
    }

    /// As `readdir`, lazily: a caller that stops after a few entries (a small guest buffer)
    /// pays for those few, not for the whole rest of the directory.
    pub fn readdir_iter(
        &self,
        dir: Ino,
        cookie: u64,
    ) -> Result<impl Iterator<Item = DirEntry> + '_> {
        let d = self.loaded_dir(dir)?;
        let live = !d.removed;
        let dot = (live && cookie == 0).then(|| (1, Arc::from("."), dir, FileType::Directory));
        let dotdot =
            (live && cookie <= 1).then(|| (2, Arc::from(".."), d.parent, FileType::Directory));
        let entries = d
            .entries
            .entries_from(cookie)
            .take_while(move |_| live)
            .map(move |(next, name, ino)| {
                let ft = self
                    .node(ino)
                    .map(Node::file_type)
                    .unwrap_or(FileType::Unknown);
                (next, name.clone(), ino, ft)
            });
        Ok(dot.into_iter().chain(dotdot).chain(entries))
    }

    /// Makes every file's data shareable so that cloning this filesystem copies no file data.
    pub fn freeze(&mut self) {
        let owned: Vec<Ino> = self
            .nodes
            .iter()
            .filter(|(_, n)| matches!(&n.kind, NodeKind::File(f) if f.has_owned_blocks()))
            .map(|(ino, _)| ino)
            .collect();
        for ino in owned {
            if let Some(Node {
                kind: NodeKind::File(f),
                ..
            }) = self.nodes.get_mut(ino)
            {
                f.freeze();
            }
        }
    }
}

impl MemFs {
    /// A writable copy-on-write fork: O(1), shares every node and all file data with `self`
    /// until either side changes them. Freeze the original first so that no owned file
    /// blocks get copied when the fork writes.
    ///
    /// The fork has no open handles (they belong to whoever opened them in the original) and
    /// nothing mounted on it; nodes only handles kept alive (unlinked while open) are
    /// dropped from it.
    pub fn fork(&self) -> MemFs {
        let mut f = self.clone();
        f.readonly = false;
        f.open.clear();
        f.mounted.clear();
        f.set_budget(None);
        let mut orphans: Vec<Ino> = self.open.keys().copied().collect();
        orphans.sort_unstable();
        for ino in orphans {
            f.maybe_free(ino);
        }
        f
    }

    /// True if `ino` is the very same unmodified node in both filesystems (one forked from
    /// the other): for computing what a run changed.
    pub fn same_node(&self, other: &MemFs, ino: Ino) -> bool {
        self.nodes.same_node(&other.nodes, ino)
    }

    /// Live inodes in inode order.
    pub fn nodes(&self) -> impl Iterator<Item = (Ino, &Node)> {
        self.nodes.iter()
    }

    /// The same filesystem, resolving absolute symlink targets as `policy` says. Images from
    /// `image::load` are made `InRoot`; forks keep their original's policy.
    pub fn with_absolute_symlinks(mut self, policy: AbsoluteSymlinks) -> Self {
        self.absolute_symlinks = policy;
        self
    }

    /// The same filesystem under another device id.
    pub fn with_dev(mut self, dev: u64) -> Self {
        self.dev = dev;
        self
    }

    /// Replaces a regular file's contents wholesale (sharing `data`).
    pub fn replace_data(&mut self, ino: Ino, data: FileData) -> Result<()> {
        let budget = self.budget.clone();
        let f = self.file_mut(ino)?;
        if let Some(budget) = budget {
            budget.charge(data.owned_capacity(), 0)?;
            budget.refund(f.owned_capacity(), 0);
        }
        *f = data;
        Ok(())
    }
}
