//! The file descriptor table: what each guest fd number refers to, with its rights, flags and
//! (for files) the shared cursor. Numbers are allocated lowest-free-first; a closed or never
//! opened number is `EBADF`. Every fd that names a vfs node holds one `retain` on it, given
//! back on close, so unlinked-but-open files stay readable.

#![forbid(unsafe_code)]

use crate::vfs::{Errno, NodeId, Result};

/// The stdio streams, fds 0–2 unless closed or renumbered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdio {
    /// Fd 0 at start.
    Stdin,
    /// Fd 1 at start.
    Stdout,
    /// Fd 2 at start.
    Stderr,
}

impl Stdio {
    /// 0, 1, 2: the stream's number before any renumbering.
    pub fn index(self) -> usize {
        match self {
            Stdio::Stdin => 0,
            Stdio::Stdout => 1,
            Stdio::Stderr => 2,
        }
    }
}

/// What an fd refers to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FdKind {
    /// A stdio stream.
    Stdio(Stdio),
    /// A regular file (or a symlink-free special node) and its cursor.
    File {
        /// The file.
        node: NodeId,
        /// The cursor.
        pos: u64,
    },
    /// A directory; `preopen` holds the name the guest sees from `fd_prestat_dir_name`.
    Dir {
        /// The directory.
        node: NodeId,
        /// A preopen's guest-visible name.
        preopen: Option<String>,
    },
}

/// One open fd: what it refers to, its rights, flags and open mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FdEntry {
    /// What it refers to.
    pub kind: FdKind,
    /// Rights of the fd itself.
    pub rights_base: u64,
    /// Rights fds opened through it may have.
    pub rights_inheriting: u64,
    /// WASI `fdflags` (append, dsync, nonblock, rsync, sync).
    pub flags: u16,
    /// Opened for reading / writing (fixed at open, like a POSIX open mode): an fd opened
    /// without write access gets `EBADF` from `fd_write` whatever its rights say.
    pub read: bool,
    /// Opened for writing.
    pub write: bool,
    /// The guest path of a file or directory (a preopen's name, joined with the paths the
    /// guest opened through it, lexically normalised), for fault patterns; `None` for stdio.
    pub path: Option<String>,
}

impl FdEntry {
    /// `ENOTCAPABLE` unless the fd holds every right in `needed`.
    pub fn require(&self, needed: u64) -> Result<()> {
        if self.rights_base & needed == needed {
            Ok(())
        } else {
            Err(Errno::Notcapable)
        }
    }

    /// The node it refers to (`None` for stdio).
    pub fn node(&self) -> Option<NodeId> {
        match self.kind {
            FdKind::File { node, .. } | FdKind::Dir { node, .. } => Some(node),
            FdKind::Stdio(_) => None,
        }
    }
}

/// Most fds open at once (like `RLIMIT_NOFILE`): beyond it `EMFILE`. A table may be given a
/// lower limit (`set_max`); runs get `ResourceLimits::max_fds`.
pub const MAX_FDS: usize = 1 << 16;

/// A guest's fds: numbers to entries.
#[derive(Clone, Debug, Default)]
pub struct FdTable {
    slots: Vec<Option<FdEntry>>,
    /// Fd numbers stay below this (`None`: `MAX_FDS`).
    max: Option<usize>,
}

impl FdTable {
    /// Limits fd numbers to `0..max` (at most `MAX_FDS`): with every number below it open,
    /// opening another fails with `EMFILE`. Fds already open stay open.
    pub fn set_max(&mut self, max: usize) {
        self.max = Some(max.min(MAX_FDS));
    }

    /// The limit on fd numbers (see `set_max`).
    pub fn max(&self) -> usize {
        self.max.unwrap_or(MAX_FDS)
    }

    /// The entry of `fd` (`EBADF` if it is not open).
    pub fn get(&self, fd: u32) -> Result<&FdEntry> {
        self.slots
            .get(fd as usize)
            .and_then(Option::as_ref)
            .ok_or(Errno::Badf)
    }

    /// The entry of `fd`, mutably.
    pub fn get_mut(&mut self, fd: u32) -> Result<&mut FdEntry> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::as_mut)
            .ok_or(Errno::Badf)
    }

    /// The lowest free number (possibly one past the end of `slots`), `EMFILE` if none is
    /// below the limit.
    fn lowest_free(&self) -> Result<usize> {
        let free = (self.slots.iter().position(Option::is_none)).unwrap_or(self.slots.len());
        if free < self.max() {
            Ok(free)
        } else {
            Err(Errno::Mfile)
        }
    }

    /// `EMFILE` unless `insert` would find a free number: checked before an open has any
    /// effect, so that no file is created or truncated for an fd that cannot exist.
    pub fn check_room(&self) -> Result<()> {
        self.lowest_free().map(drop)
    }

    /// Puts `entry` at the lowest free number.
    pub fn insert(&mut self, entry: FdEntry) -> Result<u32> {
        let fd = self.lowest_free()?;
        if fd == self.slots.len() {
            self.slots.push(None);
        }
        self.slots[fd] = Some(entry);
        Ok(fd as u32)
    }

    /// Removes and returns the entry (its node handle is the caller's to release).
    pub fn remove(&mut self, fd: u32) -> Result<FdEntry> {
        self.slots
            .get_mut(fd as usize)
            .and_then(Option::take)
            .ok_or(Errno::Badf)
    }

    /// Moves `from` onto `to`, which must be open; returns the entry `to` held (to release).
    pub fn renumber(&mut self, from: u32, to: u32) -> Result<Option<FdEntry>> {
        self.get(from)?;
        self.get(to)?;
        if from == to {
            return Ok(None);
        }
        let moved = self.remove(from)?;
        let old = self.slots[to as usize].replace(moved);
        Ok(old)
    }

    /// Open fds in number order.
    pub fn iter(&self) -> impl Iterator<Item = (u32, &FdEntry)> {
        self.slots
            .iter()
            .enumerate()
            .filter_map(|(i, e)| e.as_ref().map(|e| (i as u32, e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stdio() -> FdEntry {
        FdEntry {
            kind: FdKind::Stdio(Stdio::Stdout),
            rights_base: 0b11,
            rights_inheriting: 0,
            flags: 0,
            read: false,
            write: true,
            path: None,
        }
    }

    #[test]
    fn lowest_free_and_badf() {
        let mut t = FdTable::default();
        assert_eq!(t.insert(stdio()).unwrap(), 0);
        assert_eq!(t.insert(stdio()).unwrap(), 1);
        assert_eq!(t.insert(stdio()).unwrap(), 2);
        t.remove(1).unwrap();
        assert_eq!(t.remove(1), Err(Errno::Badf));
        assert_eq!(t.insert(stdio()).unwrap(), 1);
        assert_eq!(t.get(1234).err(), Some(Errno::Badf));
        assert_eq!(t.get(u32::MAX).err(), Some(Errno::Badf));
        assert_eq!(t.renumber(0, 7), Err(Errno::Badf));
        assert!(t.renumber(0, 2).unwrap().is_some());
        assert_eq!(t.get(0).err(), Some(Errno::Badf));
        assert_eq!(stdio().require(0b100), Err(Errno::Notcapable));
        assert_eq!(stdio().require(0b01), Ok(()));
    }

    #[test]
    fn emfile_at_the_limit() {
        let mut t = FdTable::default();
        t.set_max(4);
        for fd in 0..4 {
            assert_eq!(t.insert(stdio()), Ok(fd));
        }
        assert_eq!(t.insert(stdio()), Err(Errno::Mfile));
        t.remove(2).unwrap();
        assert_eq!(t.insert(stdio()), Ok(2), "a closed number is free again");
        assert_eq!(t.insert(stdio()), Err(Errno::Mfile));
        t.set_max(2);
        t.remove(3).unwrap();
        assert_eq!(
            t.insert(stdio()),
            Err(Errno::Mfile),
            "numbers stay below the limit"
        );
        assert_eq!(FdTable::default().max(), MAX_FDS);
    }
}
