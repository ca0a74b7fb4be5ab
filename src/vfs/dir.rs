//! Directory entries with stable readdir cookies.
//!
//! Every entry gets a sequence number when it is inserted, never reused in this directory.
//! Readdir walks entries in sequence order, so a saved cookie stays valid while other entries
//! come and go: unchanged entries are never skipped or repeated. Lookup is one hash probe.

#![forbid(unsafe_code)]

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// An inode number, unique within one filesystem.
pub type Ino = u64;

/// The hasher of the vfs's hash maps (names, and inode-keyed side tables), probed on every
/// path step and open: foldhash, randomly seeded, much cheaper than SipHash on short keys.
pub(crate) type FastHash = foldhash::fast::RandomState;

/// A directory's entries: name to inode, in insertion order for readdir.
#[derive(Clone, Debug, Default)]
pub struct Dir {
    by_name: HashMap<Arc<str>, (u64, Ino), FastHash>,
    by_seq: BTreeMap<u64, (Arc<str>, Ino)>,
    next_seq: u64,
}

/// Cookies 0 and 1 stand for `.` and `..`; the entry with sequence `s` sits at cookie `s + 2`.
pub const FIRST_ENTRY_COOKIE: u64 = 2;

impl Dir {
    /// The inode named `name`, if any.
    pub fn get(&self, name: &str) -> Option<Ino> {
        self.by_name.get(name).map(|&(_, ino)| ino)
    }

    /// The entry's own `Arc<str>` name, so callers can keep it without allocating.
    pub fn get_entry(&self, name: &str) -> Option<(Arc<str>, Ino)> {
        self.by_name
            .get_key_value(name)
            .map(|(k, &(_, ino))| (k.clone(), ino))
    }

    /// Number of entries (`.` and `..` not counted).
    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    /// Whether it has no entries.
    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// Adds an entry that must not exist yet.
    pub fn insert(&mut self, name: Arc<str>, ino: Ino) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let old = self.by_name.insert(name.clone(), (seq, ino));
        debug_assert!(old.is_none(), "insert over an existing entry");
        self.by_seq.insert(seq, (name, ino));
    }

    /// Points an existing entry at another inode, keeping its readdir position.
    pub fn replace(&mut self, name: &str, ino: Ino) -> Option<Ino> {
        let (seq, old) = self.by_name.get_mut(name)?;
        let prev = *old;
        *old = ino;
        if let Some(e) = self.by_seq.get_mut(seq) {
            e.1 = ino;
        }
        Some(prev)
    }

    /// Removes `name`; returns its inode if it was there.
    pub fn remove(&mut self, name: &str) -> Option<Ino> {
        let (seq, ino) = self.by_name.remove(name)?;
        self.by_seq.remove(&seq);
        Some(ino)
    }

    /// Entries from `cookie` on (cookie >= FIRST_ENTRY_COOKIE), with the cookie of the next one.
    pub fn entries_from(&self, cookie: u64) -> impl Iterator<Item = (u64, &Arc<str>, Ino)> {
        let start = cookie.saturating_sub(FIRST_ENTRY_COOKIE);
        self.by_seq
            .range(start..)
            .map(|(&seq, (name, ino))| (seq + FIRST_ENTRY_COOKIE + 1, name, *ino))
    }

    /// Entry names and inodes in readdir order.
    pub fn iter(&self) -> impl Iterator<Item = (&Arc<str>, Ino)> {
        self.by_seq.values().map(|(n, i)| (n, *i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_survive_insert_and_remove() {
        let mut d = Dir::default();
        for (i, n) in ["a", "b", "c", "d"].iter().enumerate() {
            d.insert(Arc::from(*n), i as Ino + 10);
        }
        let first_two: Vec<_> = d.entries_from(FIRST_ENTRY_COOKIE).take(2).collect();
        let resume = first_two[1].0;
        d.remove("a");
        d.remove("c");
        d.insert(Arc::from("e"), 99);
        let rest: Vec<_> = d
            .entries_from(resume)
            .map(|(_, n, _)| n.to_string())
            .collect();
        assert_eq!(rest, ["d", "e"]);
        assert_eq!(d.replace("d", 5), Some(13));
        assert_eq!(d.get("d"), Some(5));
        assert_eq!(d.entries_from(resume).next().unwrap().2, 5);
    }
}
