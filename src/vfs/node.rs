//! Inodes: what every filesystem object carries (kind, link count, mode, times), the `Stat`
//! snapshot handed to callers, and `NodeId`, which names a node across the filesystems of a
//! namespace. Times are nanoseconds since the Unix epoch.

#![forbid(unsafe_code)]

use super::data::FileData;
use super::dir::{Dir, Ino};
use std::sync::Arc;

/// A node anywhere in a namespace: which filesystem (its index there), which inode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId {
    pub fs: u32,
    pub ino: Ino,
}

/// The type of a filesystem object, numbered as WASI's `filetype`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum FileType {
    Unknown = 0,
    BlockDevice = 1,
    CharacterDevice = 2,
    Directory = 3,
    RegularFile = 4,
    SocketDgram = 5,
    SocketStream = 6,
    SymbolicLink = 7,
}

#[derive(Clone, Debug)]
pub enum NodeKind {
    File(FileData),
    Dir(DirNode),
    Symlink(Arc<str>),
}

/// A directory: its entries and the inode of its parent (itself for the root).
#[derive(Clone, Debug)]
pub struct DirNode {
    pub entries: Dir,
    pub parent: Ino,
    /// Set once the directory has been removed while still open: nothing may be created in it.
    pub removed: bool,
}

#[derive(Clone, Debug)]
pub struct Node {
    pub kind: NodeKind,
    pub nlink: u64,
    /// Permission bits (`0o7777`), kept for images and export; WASI itself has no permissions.
    pub mode: u32,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

impl Node {
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
        }
    }

    pub fn file_type(&self) -> FileType {
        match self.kind {
            NodeKind::File(_) => FileType::RegularFile,
            NodeKind::Dir(_) => FileType::Directory,
            NodeKind::Symlink(_) => FileType::SymbolicLink,
        }
    }

    pub fn is_dir(&self) -> bool {
        matches!(self.kind, NodeKind::Dir(_))
    }

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
    pub dev: u64,
    pub ino: u64,
    pub filetype: FileType,
    pub nlink: u64,
    pub size: u64,
    pub mode: u32,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

/// How to change one timestamp.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetTime {
    Keep,
    Now,
    At(u64),
}
