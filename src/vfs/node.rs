//! Inodes: what every filesystem object carries (kind, link count, mode, times), the `Stat`
//! snapshot handed to callers, and `NodeId`, which names a node across the filesystems of a
//! namespace. Times are nanoseconds since the Unix epoch.

#![forbid(unsafe_code)]

use super::data::FileData;
use super::dir::{Dir, Ino};
use super::lazy::{LazyState, Pending};
use std::sync::Arc;

/// A node anywhere in a namespace: which filesystem (its index there), which inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    /// Which filesystem of the namespace (its index).
    pub fs: u32,
    /// Which inode of that filesystem.
    pub ino: Ino,
}

/// The type of a filesystem object, numbered as WASI's `filetype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FileType {
    /// Unknown or unnamed type.
    Unknown = 0,
    /// A block device.
    BlockDevice = 1,
    /// A character device.
    CharacterDevice = 2,
    /// A directory.
    Directory = 3,
    /// A regular file.
    RegularFile = 4,
    /// A datagram socket.
    SocketDgram = 5,
    /// A stream socket.
    SocketStream = 6,
    /// A symbolic link.
    SymbolicLink = 7,
}

/// What a node is, with its contents.
#[derive(Clone, Debug)]
pub enum NodeKind {
    /// A regular file and its data.
    File(FileData),
    /// A directory and its entries.
    Dir(DirNode),
    /// A symbolic link and its target.
    Symlink(Arc<str>),
}

/// A directory: its entries and the inode of its parent (itself for the root).
#[derive(Clone, Debug)]
pub struct DirNode {
    /// Name to inode.
    pub entries: Dir,
    /// The parent directory's inode (`..`).
    pub parent: Ino,
    /// Set once the directory has been removed while still open: nothing may be created in it.
    pub removed: bool,
    /// For a directory whose entries come from a source (see `lazy`): that source, and
    /// whether they have been read. Until `MemFs::load_dir` reads them `entries` is empty.
    /// Boxed: most directories have none, and every node is as large as a directory's.
    pub lazy: Option<Box<LazyState>>,
}

impl DirNode {
    /// True while its entries have not been read from its source.
    #[inline]
    pub fn is_unloaded(&self) -> bool {
        self.lazy.as_ref().is_some_and(|l| !l.loaded)
    }

    /// An empty, loaded directory whose parent is `parent`.
    pub fn new(parent: Ino) -> Self {
        DirNode {
            entries: Dir::default(),
            parent,
            removed: false,
            lazy: None,
        }
    }
}

/// An inode: its kind and contents, link count, permission bits and times.
#[derive(Clone, Debug)]
pub struct Node {
    /// File, directory or symlink, with contents.
    pub kind: NodeKind,
    /// Hard links (a directory: 2 plus its subdirectories).
    pub nlink: u64,
    /// Permission bits (`0o7777`), kept for images and export; WASI itself has no permissions.
    pub mode: u32,
    /// Last access.
    pub atim: u64,
    /// Last modification of the contents.
    pub mtim: u64,
    /// Last change of contents or attributes.
    pub ctim: u64,
    /// Set on a placeholder listed by name and type only: the attributes above are not
    /// known yet (see `lazy`). Only the resolver and readdir meet such a node, and settle it.
    pub pending: Option<Arc<Pending>>,
}

impl Node {
    /// A new node of `kind`, all times `now`, one link (a directory: two).
    pub fn new(kind: NodeKind, mode: u32, now: u64) -> Self {
        let nlink = if matches!(kind, NodeKind::Dir(_)) {
            2
        } else {
            1
        };
        Node {
            kind,
            nlink,
            mode,
            atim: now,
            mtim: now,
            ctim: now,
            pending: None,
        }
    }

    /// What the node really is: itself, or for a placeholder (`pending`) the node its source
    /// describes, read now if it has not been; `None` if that is gone. Of a directory's, only
    /// the attributes apply: its entries are the placeholder's.
    pub fn settled(&self) -> Option<&Node> {
        match &self.pending {
            None => Some(self),
            Some(p) => p.settled(self.file_type()).ok().map(|l| &*l.node),
        }
    }

    /// Its WASI file type.
    pub fn file_type(&self) -> FileType {
        match self.kind {
            NodeKind::File(_) => FileType::RegularFile,
            NodeKind::Dir(_) => FileType::Directory,
            NodeKind::Symlink(_) => FileType::SymbolicLink,
        }
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir(_))
    }

    /// Size in bytes (a directory: its entries; a symlink: its target's length).
    pub fn size(&self) -> u64 {
        match &self.kind {
            NodeKind::File(f) => f.len(),
            NodeKind::Dir(d) => d.entries.len() as u64,
            NodeKind::Symlink(t) => t.len() as u64,
        }
    }
}

/// A snapshot of an inode's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Device id of its filesystem.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Its type.
    pub filetype: FileType,
    /// Hard links.
    pub nlink: u64,
    /// Size in bytes.
    pub size: u64,
    /// Permission bits.
    pub mode: u32,
    /// Last access.
    pub atim: u64,
    /// Last modification of the contents.
    pub mtim: u64,
    /// Last change of contents or attributes.
    pub ctim: u64,
}

/// How to change one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    /// Leave it as it is.
    Keep,
    /// Set it to the clock's now.
    Now,
    /// Set it to this time, ns since the Unix epoch.
    At(u64),
}
