//! Directories whose entries come from elsewhere (a host tree, say) and are read the first
//! time something needs them, as `DataSource` does for file contents. A `LazyDir` lists its
//! source at most once (on success) and keeps the listing as prototype nodes, shared by every
//! fork: each filesystem that loads the directory gives the entries inode numbers of its own
//! (in the order it loads directories) but shares the prototype files and symlinks
//! themselves, so an untouched entry is the very same node in every fork (`MemFs::same_node`).
//! An entry may be listed by name and type only (`EntryKind::Later`): its node is then a
//! placeholder marked `pending`, whose attributes (a file's size and hard-link identity, a
//! symlink's target) are read by its probe when something first resolves it, lists its
//! directory, or exports it (`MemFs::settle`); the probe's answer is shared by every fork.
//! Invariants: a directory still waiting for its entries has none of its own yet; nothing
//! but the resolver, readdir and `MemFs::settle` ever sees a pending node, so its placeholder
//! attributes are never reported.

#![forbid(unsafe_code)]

use super::data::FileData;
use super::dir::Dir;
use super::error::{Errno, Result};
use super::memfs::MAX_LINKS;
use super::node::{DirNode, Node, NodeKind};
use std::sync::{Arc, OnceLock};

/// Where a lazy directory's entries come from.
pub trait DirSource: Send + Sync + std::fmt::Debug {
    /// Every entry of the directory, in any order, names unique. Called when a filesystem
    /// first needs the directory, until one call succeeds. An error is the errno the guest
    /// gets for the directory.
    fn list(&self) -> Result<Vec<Entry>>;
}

/// One entry of a lazy directory.
#[derive(Debug)]
pub struct Entry {
    /// Its name (one component).
    pub name: Arc<str>,
    /// What it is.
    pub kind: EntryKind,
    /// Its attributes.
    pub attrs: Attrs,
    /// Entries with the same key, in this directory or any other of the same tree, are names
    /// of one inode (hard links); `None`: a file of its own.
    pub link_key: Option<(u64, u64)>,
}

/// What an entry is, with its contents.
#[derive(Debug)]
pub enum EntryKind {
    /// A regular file (usually lazy contents).
    File(FileData),
    /// A directory, itself lazy.
    Dir(Arc<LazyDir>),
    /// A symlink and its target.
    Symlink(Arc<str>),
    /// Known by name and type only; `probe` tells the rest when it is first needed (`attrs`
    /// and `link_key` of this entry are not used).
    Later {
        /// What the listing said it is (with a directory's source of entries).
        hint: Hint,
        /// Reads the entry itself; must answer with the same type and not `Later`.
        probe: Box<dyn EntryProbe>,
    },
}

/// The type a listing gives for an entry it does not describe further.
#[derive(Debug)]
pub enum Hint {
    /// A regular file.
    File,
    /// A directory, whose entries come from this source (only its attributes wait).
    Dir(Arc<LazyDir>),
    /// A symlink.
    Symlink,
}

/// Reads one entry of a listing that gave only its name and type.
pub trait EntryProbe: Send + Sync + std::fmt::Debug {
    /// The entry as it is now. `ENOENT` if it is gone; the entry then disappears.
    fn probe(&self) -> Result<Entry>;
}

/// A listed entry whose attributes are still to be read (see the module doc); shared by every
/// fork that placed it, so the source is asked once.
#[derive(Debug)]
pub struct Pending {
    /// The entry's name: a pending node is always at its listed name (renaming or linking it
    /// resolves it, which settles it first).
    pub(crate) name: Arc<str>,
    probe: Box<dyn EntryProbe>,
    settled: OnceLock<Result<Listed>>,
}

impl Pending {
    /// The entry as its probe found it, probed on the first call: `ENOENT` if it is gone or
    /// is no longer of the listed type `was` (what a run sees must not change type under it).
    pub(crate) fn settled(&self, was: super::node::FileType) -> Result<&Listed> {
        self.settled
            .get_or_init(|| {
                let mut e = self.probe.probe()?;
                if matches!(e.kind, EntryKind::Later { .. }) {
                    return Err(Errno::Io);
                }
                e.name = self.name.clone();
                let l = prototype(e);
                if l.node.file_type() != was {
                    return Err(Errno::Noent);
                }
                Ok(l)
            })
            .as_ref()
            .map_err(|&e| e)
    }

    /// True if `node` is the node this entry settled as (so unchanged since).
    pub(crate) fn settled_as(&self, node: &Arc<Node>) -> bool {
        matches!(self.settled.get(), Some(Ok(l)) if Arc::ptr_eq(&l.node, node))
    }
}

/// An entry's attributes as its source reports them. Times are ns since the Unix epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Permission bits (`0o7777`).
    pub mode: u32,
    /// Link count: for a file, its names (all of them, also those the tree does not hold);
    /// for a directory, 2 plus its subdirectories (a guess until it is loaded).
    pub nlink: u64,
    /// Last access.
    pub atim: u64,
    /// Last modification.
    pub mtim: u64,
    /// Last status change.
    pub ctim: u64,
}

/// One listed entry, ready to be put into a filesystem.
#[derive(Debug)]
pub(crate) struct Listed {
    pub name: Arc<str>,
    /// The node every fork shares until it changes it (a directory's `parent` is filled in
    /// per filesystem).
    pub node: Arc<Node>,
    pub link_key: Option<(u64, u64)>,
}

/// A directory whose entries are read from its source when first needed.
#[derive(Debug)]
pub struct LazyDir {
    source: Box<dyn DirSource>,
    listing: OnceLock<Arc<[Listed]>>,
}

impl LazyDir {
    /// A directory whose entries `source` lists.
    pub fn new(source: Box<dyn DirSource>) -> Arc<Self> {
        Arc::new(LazyDir {
            source,
            listing: OnceLock::new(),
        })
    }

    /// The entries, sorted by name (so inode numbers and readdir order do not depend on the
    /// source's order); read from the source only the first time it succeeds.
    pub(crate) fn listing(&self) -> Result<Arc<[Listed]>> {
        if let Some(l) = self.listing.get() {
            return Ok(l.clone());
        }
        let mut entries = self.source.list()?;
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        entries.dedup_by(|a, b| a.name == b.name);
        let listed: Arc<[Listed]> = entries.into_iter().map(prototype).collect();
        // Two forks on two threads may list at once; both lists are equally valid, the
        // first stored wins so that every fork shares one set of prototypes.
        Ok(self.listing.get_or_init(|| listed).clone())
    }
}

/// The node an entry becomes (a directory's parent is set when it is put in place).
fn prototype(e: Entry) -> Listed {
    let a = e.attrs;
    let mut pending = None;
    let (kind, nlink) = match e.kind {
        EntryKind::Later { hint, probe } => {
            pending = Some(Arc::new(Pending {
                name: e.name.clone(),
                probe,
                settled: OnceLock::new(),
            }));
            match hint {
                Hint::File => (NodeKind::File(FileData::default()), 1),
                Hint::Symlink => (NodeKind::Symlink(Arc::from("")), 1),
                Hint::Dir(source) => (NodeKind::Dir(lazy_dir_node(source)), 2),
            }
        }
        EntryKind::File(data) => (NodeKind::File(data), a.nlink.clamp(1, MAX_LINKS)),
        EntryKind::Symlink(target) => (NodeKind::Symlink(target), 1),
        EntryKind::Dir(source) => (NodeKind::Dir(lazy_dir_node(source)), a.nlink.max(2)),
    };
    let node = Node {
        kind,
        nlink,
        mode: a.mode & 0o7777,
        atim: a.atim,
        mtim: a.mtim,
        ctim: a.ctim,
        pending,
    };
    Listed {
        name: e.name,
        node: Arc::new(node),
        link_key: e.link_key,
    }
}

/// A directory not read yet, whose entries come from `source` (its parent is set when it is
/// put in place).
fn lazy_dir_node(source: Arc<LazyDir>) -> DirNode {
    DirNode {
        entries: Dir::default(),
        parent: 0,
        removed: false,
        lazy: Some(Box::new(LazyState {
            source,
            loaded: false,
            failed: None,
            settled: false,
        })),
    }
}

/// Where a directory of a filesystem takes its entries from, and whether it has.
#[derive(Clone, Debug)]
pub struct LazyState {
    /// Where they come from (kept once loaded: it tells which listed entry a directory is).
    pub source: Arc<LazyDir>,
    /// Whether the entries are in the directory.
    pub loaded: bool,
    /// Set when reading them failed in this filesystem: every later use of the directory
    /// fails the same way (for the rest of this run; another fork tries again).
    pub failed: Option<Errno>,
    /// Whether every entry's attributes have been read (`MemFs::settle_dir`).
    pub settled: bool,
}

impl LazyState {
    /// `Ok(true)` if the entries still have to be read, the error if reading them failed.
    pub fn needs_load(&self) -> Result<bool> {
        match self.failed {
            Some(e) => Err(e),
            None => Ok(!self.loaded),
        }
    }
}
