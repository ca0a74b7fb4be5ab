//! The bytes of a block that a file owns: a heap buffer while the block is small (a small
//! file's first block grows in steps), a whole slot from `slots` once it takes its full size.
//! Behaves as a `Vec<u8>` whose capacity never exceeds `BLOCK`; bytes past `len` are never
//! read (a reused slot holds its previous owner's bytes there).

use super::data::BLOCK;
use super::slots::{Slot, populate};
use bytes::Bytes;

pub(super) enum BlockBuf {
    Heap(Vec<u8>),
    Slot { slot: Slot, len: usize },
}

impl BlockBuf {
    pub fn new() -> Self {
        BlockBuf::Heap(Vec::new())
    }

    /// An empty buffer of exactly `cap` bytes (a slot when that is a whole block).
    pub fn with_capacity(cap: usize) -> Self {
        if cap == BLOCK as usize {
            if let Some(slot) = Slot::new() {
                return BlockBuf::Slot { slot, len: 0 };
            }
            let mut v = Vec::with_capacity(cap);
            populate(v.as_mut_ptr(), cap);
            return BlockBuf::Heap(v);
        }
        BlockBuf::Heap(Vec::with_capacity(cap))
    }

    pub fn from_slice(bytes: &[u8]) -> Self {
        let mut b = BlockBuf::with_capacity(bytes.len());
        b.extend_from_slice(bytes);
        b
    }

    pub fn len(&self) -> usize {
        match self {
            BlockBuf::Heap(v) => v.len(),
            BlockBuf::Slot { len, .. } => *len,
        }
    }

    pub fn capacity(&self) -> usize {
        match self {
            BlockBuf::Heap(v) => v.capacity(),
            BlockBuf::Slot { .. } => BLOCK as usize,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        match self {
            BlockBuf::Heap(v) => v,
            BlockBuf::Slot { slot, len } => &slot.as_slice()[..*len],
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        match self {
            BlockBuf::Heap(v) => v,
            BlockBuf::Slot { slot, len } => &mut slot.as_mut_slice()[..*len],
        }
    }

    /// Makes the capacity exactly `cap` (more than now, at most `BLOCK`), keeping the bytes.
    pub fn grow_to(&mut self, cap: usize) {
        debug_assert!(cap > self.capacity() && cap <= BLOCK as usize);
        if cap == BLOCK as usize {
            let mut whole = BlockBuf::with_capacity(cap);
            whole.extend_from_slice(self.as_slice());
            *self = whole;
        } else if let BlockBuf::Heap(v) = self {
            v.reserve_exact(cap - v.len());
        }
    }

    /// Extends with zeros to `new_len` (at least the length now, within the capacity).
    pub fn zero_extend(&mut self, new_len: usize) {
        match self {
            BlockBuf::Heap(v) => v.resize(new_len, 0),
            BlockBuf::Slot { slot, len } => {
                slot.as_mut_slice()[*len..new_len].fill(0);
                *len = new_len;
            }
        }
    }

    /// Appends `bytes`, which must fit in the capacity.
    pub fn extend_from_slice(&mut self, bytes: &[u8]) {
        match self {
            BlockBuf::Heap(v) => v.extend_from_slice(bytes),
            BlockBuf::Slot { slot, len } => {
                slot.as_mut_slice()[*len..*len + bytes.len()].copy_from_slice(bytes);
                *len += bytes.len();
            }
        }
    }

    pub fn truncate(&mut self, new_len: usize) {
        match self {
            BlockBuf::Heap(v) => v.truncate(new_len),
            BlockBuf::Slot { len, .. } => *len = (*len).min(new_len),
        }
    }

    /// The bytes as a shareable buffer, without copying them.
    pub fn into_bytes(self) -> Bytes {
        match self {
            BlockBuf::Heap(v) => Bytes::from(v),
            BlockBuf::Slot { slot, len } => Bytes::from_owner(Frozen { slot, len }),
        }
    }
}

/// A slot turned into an immutable buffer (`Bytes` owns it and frees it with its last clone).
struct Frozen {
    slot: Slot,
    len: usize,
}

impl AsRef<[u8]> for Frozen {
    fn as_ref(&self) -> &[u8] {
        &self.slot.as_slice()[..self.len]
    }
}

impl Clone for BlockBuf {
    /// A copy holding just the bytes (like `Vec::clone`, its capacity is its length).
    fn clone(&self) -> Self {
        BlockBuf::from_slice(self.as_slice())
    }
}

impl std::fmt::Debug for BlockBuf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlockBuf")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .field("slot", &matches!(self, BlockBuf::Slot { .. }))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_grows_from_the_heap_into_a_slot_keeping_its_bytes() {
        let mut b = BlockBuf::new();
        b.grow_to(16);
        b.extend_from_slice(b"0123456789");
        assert!(matches!(b, BlockBuf::Heap(_)));
        b.grow_to(BLOCK as usize);
        assert!(matches!(b, BlockBuf::Slot { .. }), "{b:?}");
        assert_eq!(b.as_slice(), b"0123456789");
        assert_eq!(b.capacity(), BLOCK as usize);
        b.zero_extend(20);
        b.extend_from_slice(b"xy");
        assert_eq!(b.as_slice(), b"0123456789\0\0\0\0\0\0\0\0\0\0xy");
        b.truncate(3);
        b.zero_extend(5);
        assert_eq!(b.as_slice(), b"012\0\0");
        let copy = b.clone();
        assert_eq!(copy.as_slice(), b"012\0\0");
        assert_eq!(copy.capacity(), 5);
        assert_eq!(&b.into_bytes()[..], b"012\0\0");
    }

    #[test]
    fn a_reused_slot_shows_none_of_its_previous_bytes() {
        for _ in 0..100 {
            let mut b = BlockBuf::with_capacity(BLOCK as usize);
            assert_eq!(b.len(), 0);
            b.zero_extend(BLOCK as usize);
            assert!(b.as_slice().iter().all(|&x| x == 0));
            b.as_mut_slice().fill(0xEE);
        }
        let whole = BlockBuf::from_slice(&[5u8; BLOCK as usize]);
        let frozen = whole.into_bytes();
        assert_eq!(frozen.len(), BLOCK as usize);
        assert!(frozen.iter().all(|&x| x == 5));
    }
}
