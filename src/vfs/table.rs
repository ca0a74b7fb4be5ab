//! The inode table of one filesystem: a persistent two-level vector of `Arc`-shared nodes.
//! Cloning a table (forking a filesystem) is O(1); afterwards the first mutable access to a
//! node copies just that node and the 64-pointer chunk that holds it, never file data (which
//! is shared `Bytes`). Two tables that share a node can tell so by pointer (`same_node`).

#![forbid(unsafe_code)]

use super::dir::Ino;
use super::node::Node;
use std::sync::Arc;

const CHUNK_BITS: u32 = 6;
const CHUNK: usize = 1 << CHUNK_BITS;

type Chunk = Vec<Option<Arc<Node>>>;

/// A filesystem's inodes, indexed by number; cloning shares everything until written.
#[derive(Clone, Debug, Default)]
pub struct NodeTable {
    chunks: Arc<Vec<Arc<Chunk>>>,
    len: usize,
}

fn split(ino: Ino) -> Option<(usize, usize)> {
    let i = usize::try_from(ino).ok()?;
    Some((i >> CHUNK_BITS, i & (CHUNK - 1)))
}

impl NodeTable {
    /// Number of slots (live or free), i.e. one past the highest inode number ever used.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether it holds no node.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn slot(&self, ino: Ino) -> Option<&Arc<Node>> {
        let (c, o) = split(ino)?;
        self.chunks.get(c)?.get(o)?.as_ref()
    }

    /// The node `ino`, if live.
    pub fn get(&self, ino: Ino) -> Option<&Node> {
        self.slot(ino).map(|n| &**n)
    }

    /// The node for writing, copied first if another table shares it.
    pub fn get_mut(&mut self, ino: Ino) -> Option<&mut Node> {
        self.slot(ino)?;
        let (c, o) = split(ino)?;
        let chunk = Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[c]);
        chunk[o].as_mut().map(Arc::make_mut)
    }

    /// Puts `node` in slot `ino` (which must be below `len`) or frees it with `None`.
    pub fn set(&mut self, ino: Ino, node: Option<Node>) {
        let (c, o) = split(ino).expect("inode numbers fit in usize");
        let chunk = Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[c]);
        chunk[o] = node.map(Arc::new);
    }

    /// Puts the shared node `node` in slot `ino` (which must be below `len`): the table
    /// copies it only when it is first written.
    pub fn set_shared(&mut self, ino: Ino, node: Arc<Node>) {
        let (c, o) = split(ino).expect("inode numbers fit in usize");
        let chunk = Arc::make_mut(&mut Arc::make_mut(&mut self.chunks)[c]);
        chunk[o] = Some(node);
    }

    /// The node in slot `ino` as the table holds it.
    pub fn get_shared(&self, ino: Ino) -> Option<&Arc<Node>> {
        self.slot(ino)
    }

    /// True if slot `ino` holds the very node `node` (shared, unmodified).
    pub fn is_shared(&self, ino: Ino, node: &Arc<Node>) -> bool {
        self.slot(ino).is_some_and(|n| Arc::ptr_eq(n, node))
    }

    /// Appends a slot (a node, or `None` to reserve a number) and returns its inode number.
    pub fn push(&mut self, node: Option<Node>) -> Ino {
        self.push_slot(node.map(Arc::new))
    }

    /// `push` of a node that may be shared with other tables.
    pub fn push_shared(&mut self, node: Arc<Node>) -> Ino {
        self.push_slot(Some(node))
    }

    fn push_slot(&mut self, node: Option<Arc<Node>>) -> Ino {
        let ino = self.len as Ino;
        let chunks = Arc::make_mut(&mut self.chunks);
        if self.len.is_multiple_of(CHUNK) {
            chunks.push(Arc::new(Vec::with_capacity(CHUNK)));
        }
        let last = chunks.last_mut().expect("a chunk was just ensured");
        Arc::make_mut(last).push(node);
        self.len += 1;
        ino
    }

    /// Live nodes in inode order.
    pub fn iter(&self) -> impl Iterator<Item = (Ino, &Node)> {
        self.chunks
            .iter()
            .flat_map(|c| c.iter())
            .enumerate()
            .filter_map(|(i, n)| n.as_deref().map(|n| (i as Ino, n)))
    }

    /// Every live node for writing (copying shared ones): for whole-filesystem passes.
    pub fn for_each_mut(&mut self, mut f: impl FnMut(Ino, &mut Node)) {
        let mut ino: Ino = 0;
        for chunk in Arc::make_mut(&mut self.chunks).iter_mut() {
            for slot in Arc::make_mut(chunk).iter_mut() {
                if let Some(n) = slot {
                    f(ino, Arc::make_mut(n));
                }
                ino += 1;
            }
        }
    }

    /// True if both tables hold the very same (unmodified, shared) node at `ino`.
    pub fn same_node(&self, other: &NodeTable, ino: Ino) -> bool {
        match (self.slot(ino), other.slot(ino)) {
            (Some(a), Some(b)) => Arc::ptr_eq(a, b),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::data::FileData;
    use crate::vfs::node::NodeKind;

    fn file(mode: u32) -> Node {
        Node::new(NodeKind::File(FileData::default()), mode, 0)
    }

    #[test]
    fn fork_shares_until_written() {
        let mut a = NodeTable::default();
        for i in 0..200 {
            assert_eq!(a.push(Some(file(i))), i as Ino);
        }
        let mut b = a.clone();
        assert!(a.same_node(&b, 70));
        b.get_mut(70).unwrap().mode = 0o600;
        assert!(!a.same_node(&b, 70));
        assert!(a.same_node(&b, 71), "neighbours stay shared");
        assert_eq!(a.get(70).unwrap().mode, 70, "the original is untouched");
        assert_eq!(b.get(70).unwrap().mode, 0o600);
        b.set(5, None);
        assert!(b.get(5).is_none() && a.get(5).is_some());
        assert_eq!(b.iter().count(), 199);
        assert!(b.get_mut(10_000).is_none());
    }
}
