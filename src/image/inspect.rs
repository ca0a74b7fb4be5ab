//! Reading an image's tree as a listing: every entry by path with its type, mode, size, link
//! target and contents, for `strata image ls/cat/diff` and for tests that compare trees.

#![forbid(unsafe_code)]

use crate::vfs::node::NodeKind;
use crate::vfs::{Errno, MemFs};
use std::collections::BTreeMap;

/// What kind of entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EntryKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
}

/// One entry of an image, as `ls`, `cat` and `diff` look at it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// File, directory or symlink.
    pub kind: EntryKind,
    /// Permission bits.
    pub mode: u32,
    /// Size in bytes (files; 0 otherwise).
    pub size: u64,
    /// A symlink's target.
    pub target: Option<String>,
    /// A regular file's contents.
    pub data: Option<Vec<u8>>,
}

/// Every entry of `fs` by path (no leading slash), sorted. Fails on the first entry that
/// cannot be read instead of leaving it out.
pub fn entries(fs: &MemFs) -> Result<BTreeMap<String, Entry>, (String, Errno)> {
    let mut out = BTreeMap::new();
    let mut todo = vec![(fs.root(), String::new())];
    while let Some((dir, prefix)) = todo.pop() {
        let listing = fs.readdir(dir, 2).map_err(|e| (prefix.clone(), e))?;
        for (_, name, ino, _) in listing {
            let path = if prefix.is_empty() {
                name.to_string()
            } else {
                format!("{prefix}/{name}")
            };
            let node = fs.node(ino).map_err(|e| (path.clone(), e))?;
            let (kind, target, data) = match &node.kind {
                NodeKind::Symlink(t) => (EntryKind::Symlink, Some(t.to_string()), None),
                NodeKind::File(d) => {
                    let len = usize::try_from(d.len()).map_err(|_| (path.clone(), Errno::Fbig))?;
                    let mut v = vec![0u8; len];
                    let n = d.read_at(0, &mut v);
                    v.truncate(n);
                    (EntryKind::File, None, Some(v))
                }
                NodeKind::Dir(_) => {
                    todo.push((ino, path.clone()));
                    (EntryKind::Dir, None, None)
                }
            };
            out.insert(
                path,
                Entry {
                    kind,
                    mode: node.mode,
                    size: node.size(),
                    target,
                    data,
                },
            );
        }
    }
    Ok(out)
}
