//! File contents: an immutable `Bytes` (an image slice, shared zero-copy) until the first
//! write, then a sparse map of 64 KiB blocks, each either still shared with the original
//! buffer or privately owned. Invariants: no block extends past `len`; bytes inside `len`
//! that no block covers read as zeros; a write copies at most the blocks it touches.

use super::error::Errno;
use bytes::Bytes;
use std::collections::BTreeMap;
use std::sync::{Arc, OnceLock};

/// Where the contents of a not-yet-read file come from (a host file, say). Loaded at most
/// once, on first access, and shared by every fork holding the file.
pub trait DataSource: Send + Sync + std::fmt::Debug {
    /// Reads the whole contents (called at most once per file).
    fn load(&self) -> std::io::Result<Bytes>;
}

/// A file whose contents are read from its source on first access; its size is known without
/// reading (and stays what was declared: the loaded bytes are cut or zero-padded to it).
#[derive(Debug)]
pub struct LazyFile {
    len: u64,
    source: Box<dyn DataSource>,
    loaded: OnceLock<Option<Bytes>>,
}

impl LazyFile {
    fn bytes(&self) -> Option<&Bytes> {
        self.loaded
            .get_or_init(|| {
                let b = self.source.load().ok()?;
                let len = usize::try_from(self.len).ok()?;
                Some(match b.len().cmp(&len) {
                    std::cmp::Ordering::Equal => b,
                    std::cmp::Ordering::Greater => b.slice(..len),
                    std::cmp::Ordering::Less => {
                        let mut v = b.to_vec();
                        v.resize(len, 0);
                        Bytes::from(v)
                    }
                })
            })
            .as_ref()
    }
}

/// Block granularity of copy-on-write and of sparse storage.
pub const BLOCK: u64 = 64 * 1024;

/// Smallest allocation for a newly owned block (it then doubles up to `BLOCK`).
const MIN_BLOCK_ALLOC: usize = 64;

/// The capacity block `idx`'s buffer gets to hold `end` bytes when it has `cap` now. A
/// file's first block grows geometrically, so that a small file holds little more than its
/// size; later blocks (a large file) get a whole block at once, so that sequential small
/// writes do not reallocate.
fn capacity_for(idx: u64, cap: usize, end: usize) -> usize {
    if cap >= end {
        cap
    } else if idx == 0 {
        end.max(cap * 2).max(MIN_BLOCK_ALLOC).min(BLOCK as usize)
    } else {
        BLOCK as usize
    }
}

/// Maps the untouched pages of a freshly reserved block in one system call instead of one
/// page fault per 4 KiB as the copy first touches them: for a sequential writer those faults
/// dominate the cost of a write, and the kernel's tmpfs takes none.
/// Best effort: where `MADV_POPULATE_WRITE` is missing (Linux < 5.14) it stops trying.
#[cfg(target_os = "linux")]
fn prefault_spare(buf: &mut Vec<u8>) {
    use std::sync::atomic::{AtomicBool, Ordering};
    static UNAVAILABLE: AtomicBool = AtomicBool::new(false);
    if UNAVAILABLE.load(Ordering::Relaxed) {
        return;
    }
    // SAFETY: sysconf has no preconditions.
    let page = match unsafe { libc::sysconf(libc::_SC_PAGESIZE) } {
        p if p > 0 => p as usize,
        _ => return,
    };
    let spare = buf.spare_capacity_mut();
    let start = spare.as_mut_ptr() as usize;
    let (lo, hi) = (
        start.next_multiple_of(page),
        (start + spare.len()) & !(page - 1),
    );
    if hi <= lo {
        return;
    }
    // SAFETY: [lo, hi) lies within this Vec's own allocation, past its initialised length;
    // MADV_POPULATE_WRITE only maps those pages and never changes memory contents.
    let r = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE) };
    if r != 0 {
        UNAVAILABLE.store(true, Ordering::Relaxed);
    }
}

#[cfg(not(target_os = "linux"))]
fn prefault_spare(_buf: &mut Vec<u8>) {}

#[derive(Clone, Debug)]
enum Block {
    Shared(Bytes),
    Owned(Vec<u8>),
}

impl Block {
    fn as_slice(&self) -> &[u8] {
        match self {
            Block::Shared(b) => b,
            Block::Owned(v) => v,
        }
    }

    /// Bytes allocated for the block if this file owns it (0 while shared).
    fn owned_capacity(&self) -> u64 {
        match self {
            Block::Owned(v) => v.capacity() as u64,
            Block::Shared(_) => 0,
        }
    }

    /// The block as a writable buffer, copying it out of a shared buffer the first time.
    fn make_mut(&mut self) -> &mut Vec<u8> {
        if let Block::Shared(b) = self {
            *self = Block::Owned(b.to_vec());
        }
        match self {
            Block::Owned(v) => v,
            Block::Shared(_) => unreachable!("converted above"),
        }
    }
}

#[derive(Clone, Debug)]
enum Repr {
    /// Untouched since it was created from a buffer: reads are slices of it.
    Whole(Bytes),
    /// Written to at least once.
    Blocks {
        len: u64,
        blocks: BTreeMap<u64, Block>,
    },
    /// Not read yet (see `LazyFile`); becomes `Whole` on the first write.
    Lazy(Arc<LazyFile>),
}

/// The contents of a regular file.
#[derive(Clone, Debug)]
pub struct FileData {
    repr: Repr,
}

impl Default for FileData {
    fn default() -> Self {
        FileData::from_bytes(Bytes::new())
    }
}

impl FileData {
    /// Contents that share `bytes` (e.g. a slice of a memory-mapped image) without copying.
    pub fn from_bytes(bytes: Bytes) -> Self {
        FileData {
            repr: Repr::Whole(bytes),
        }
    }

    /// Contents of `len` bytes read from `source` when first needed.
    pub fn lazy(len: u64, source: Box<dyn DataSource>) -> Self {
        FileData {
            repr: Repr::Lazy(Arc::new(LazyFile {
                len,
                source,
                loaded: OnceLock::new(),
            })),
        }
    }

    /// Reads lazy contents now if they have not been: `EIO` if the source fails. Opening a
    /// file calls this, so a failing source is reported there, never as a short read.
    pub fn load(&self) -> Result<(), Errno> {
        match &self.repr {
            Repr::Lazy(l) => l.bytes().map(|_| ()).ok_or(Errno::Io),
            _ => Ok(()),
        }
    }

    /// True while the contents have not been read from their source.
    pub fn is_unloaded(&self) -> bool {
        matches!(&self.repr, Repr::Lazy(l) if l.loaded.get().is_none())
    }

    /// Turns lazy contents into a buffer before a change (empty if the source failed, which
    /// `load` has reported at open).
    fn materialize(&mut self) {
        if let Repr::Lazy(l) = &self.repr {
            let b = l.bytes().cloned().unwrap_or_default();
            self.repr = Repr::Whole(b);
        }
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        match &self.repr {
            Repr::Whole(b) => b.len() as u64,
            Repr::Blocks { len, .. } => *len,
            Repr::Lazy(l) => l.len,
        }
    }

    /// Whether the file is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes actually held in blocks owned by this file (not shared with an image).
    pub fn owned_bytes(&self) -> u64 {
        match &self.repr {
            Repr::Whole(_) | Repr::Lazy(_) => 0,
            Repr::Blocks { blocks, .. } => blocks
                .values()
                .map(|b| match b {
                    Block::Owned(v) => v.len() as u64,
                    Block::Shared(_) => 0,
                })
                .sum(),
        }
    }

    /// Bytes allocated for the blocks this file owns: what it holds beyond shared buffers
    /// (the resource limits count this).
    pub fn owned_capacity(&self) -> u64 {
        match &self.repr {
            Repr::Whole(_) | Repr::Lazy(_) => 0,
            Repr::Blocks { blocks, .. } => blocks.values().map(Block::owned_capacity).sum(),
        }
    }

    /// How much `owned_capacity` will grow by writing `len` bytes at `offset` (what
    /// `write_at` returns), computed without writing; cheap for any range (`fd_allocate`).
    pub fn write_growth_bound(&self, offset: u64, len: u64) -> u64 {
        if len == 0 {
            return 0;
        }
        let end = offset.saturating_add(len);
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        // (capacity owned now, capacity of the buffer the write starts from) of a block.
        let state = |idx: u64| -> (u64, usize) {
            match &self.repr {
                Repr::Blocks { blocks, .. } => match blocks.get(&idx) {
                    Some(Block::Owned(v)) => (v.capacity() as u64, v.capacity()),
                    Some(Block::Shared(b)) => (0, b.len()),
                    None => (0, 0),
                },
                // Converted to blocks sharing the buffer, each copied when first written.
                Repr::Whole(_) | Repr::Lazy(_) => (
                    0,
                    self.len().saturating_sub(idx * BLOCK).min(BLOCK) as usize,
                ),
            }
        };
        let grow = |idx: u64, end_within: u64| -> u64 {
            let (owned, start) = state(idx);
            (capacity_for(idx, start, end_within as usize) as u64).saturating_sub(owned)
        };
        let last_end = end - last * BLOCK;
        if first == last {
            return grow(first, last_end);
        }
        // Blocks between the first and the last are written whole.
        let inner = last - first - 1;
        let inner_owned: u64 = match &self.repr {
            Repr::Blocks { blocks, .. } if inner > 0 => blocks
                .range(first + 1..last)
                .map(|(_, b)| b.owned_capacity().min(BLOCK))
                .sum(),
            _ => 0,
        };
        grow(first, BLOCK)
            .saturating_add(inner.saturating_mul(BLOCK) - inner_owned)
            .saturating_add(grow(last, last_end))
    }

    /// Copies bytes from `offset` into `buf`; returns how many (0 at or past the end).
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> usize {
        let len = self.len();
        if offset >= len || buf.is_empty() {
            return 0;
        }
        let n = (len - offset).min(buf.len() as u64) as usize;
        let buf = &mut buf[..n];
        match &self.repr {
            Repr::Whole(b) => buf.copy_from_slice(&b[offset as usize..offset as usize + n]),
            Repr::Lazy(l) => match l.bytes() {
                Some(b) => buf.copy_from_slice(&b[offset as usize..offset as usize + n]),
                None => return 0,
            },
            Repr::Blocks { blocks, .. } => {
                let mut done = 0usize;
                while done < n {
                    let pos = offset + done as u64;
                    let (idx, within) = (pos / BLOCK, (pos % BLOCK) as usize);
                    let want = (n - done).min(BLOCK as usize - within);
                    let out = &mut buf[done..done + want];
                    // A block may end before `within` (cut by a truncation, then the file
                    // extended again): the rest of it is a hole.
                    let src = blocks
                        .get(&idx)
                        .and_then(|b| b.as_slice().get(within..))
                        .unwrap_or(&[]);
                    let have = src.len().min(want);
                    out[..have].copy_from_slice(&src[..have]);
                    out[have..].fill(0);
                    done += want;
                }
            }
        }
        n
    }

    /// A shared view of `[offset, offset+len)` when the contents are still one buffer (zero-copy
    /// readers such as tar export use it); `None` once the file has been written.
    pub fn as_whole(&self) -> Option<&Bytes> {
        match &self.repr {
            Repr::Whole(b) => Some(b),
            Repr::Lazy(l) => l.bytes(),
            Repr::Blocks { .. } => None,
        }
    }

    /// Converts to block form, sharing (not copying) the original buffer's pieces.
    fn blocks_mut(&mut self) -> (&mut u64, &mut BTreeMap<u64, Block>) {
        self.materialize();
        if let Repr::Whole(b) = &self.repr {
            let mut blocks = BTreeMap::new();
            let len = b.len() as u64;
            let mut start = 0u64;
            while start < len {
                let end = (start + BLOCK).min(len);
                blocks.insert(
                    start / BLOCK,
                    Block::Shared(b.slice(start as usize..end as usize)),
                );
                start = end;
            }
            self.repr = Repr::Blocks { len, blocks };
        }
        match &mut self.repr {
            Repr::Blocks { len, blocks } => (len, blocks),
            Repr::Whole(_) | Repr::Lazy(_) => unreachable!("converted above"),
        }
    }

    /// Writes `data` at `offset`, extending the file (with zeros in any gap) as needed.
    /// The caller checks that `offset + data.len()` does not overflow its size limit.
    /// Returns how much `owned_capacity` grew (as `write_growth_bound` predicts).
    pub fn write_at(&mut self, offset: u64, data: &[u8]) -> u64 {
        if data.is_empty() {
            return 0;
        }
        let (len, blocks) = self.blocks_mut();
        let mut done = 0usize;
        let mut grown = 0u64;
        while done < data.len() {
            let pos = offset + done as u64;
            let (idx, within) = (pos / BLOCK, (pos % BLOCK) as usize);
            let take = (data.len() - done).min(BLOCK as usize - within);
            let entry = blocks
                .entry(idx)
                .or_insert_with(|| Block::Owned(Vec::new()));
            let before = entry.owned_capacity();
            let block = entry.make_mut();
            let src = &data[done..done + take];
            if block.len() < within + take {
                if block.capacity() < within + take {
                    let want = capacity_for(idx, block.capacity(), within + take);
                    block.reserve_exact(want - block.len());
                    if want == BLOCK as usize {
                        prefault_spare(block);
                    }
                }
                if block.len() <= within {
                    // Appending (after a zero gap, if any): write each byte once, no memset
                    // of what is about to be overwritten.
                    block.resize(within, 0);
                    block.extend_from_slice(src);
                } else {
                    let keep = block.len() - within;
                    block[within..].copy_from_slice(&src[..keep]);
                    block.extend_from_slice(&src[keep..]);
                }
            } else {
                block[within..within + take].copy_from_slice(src);
            }
            grown += (block.capacity() as u64).saturating_sub(before);
            done += take;
        }
        *len = (*len).max(offset + data.len() as u64);
        grown
    }

    /// Truncates or extends (with zeros, sparsely) to exactly `new_len` bytes. Returns how
    /// much `owned_capacity` shrank (blocks dropped past the new end).
    pub fn set_len(&mut self, new_len: u64) -> u64 {
        if new_len == self.len() {
            return 0;
        }
        if new_len == 0 {
            // O_TRUNC of a lazy file needs none of its old contents.
            let freed = self.owned_capacity();
            self.repr = Repr::Whole(Bytes::new());
            return freed;
        }
        self.materialize();
        if let Repr::Whole(b) = &self.repr
            && new_len < b.len() as u64
        {
            self.repr = Repr::Whole(b.slice(..new_len as usize));
            return 0;
        }
        let (len, blocks) = self.blocks_mut();
        let mut freed = 0;
        if new_len < *len {
            let last = new_len / BLOCK;
            let within = (new_len % BLOCK) as usize;
            // Drop whole blocks past the end, then cut the block holding the new end.
            let dropped = blocks.split_off(&(last + if within == 0 { 0 } else { 1 }));
            freed = dropped.values().map(Block::owned_capacity).sum();
            if within > 0
                && let Some(block) = blocks.get_mut(&last)
                && block.as_slice().len() > within
            {
                match block {
                    Block::Shared(b) => *b = b.slice(..within),
                    Block::Owned(v) => v.truncate(within),
                }
            }
        }
        *len = new_len;
        freed
    }

    /// Calls `f` with consecutive pieces covering the whole contents (holes as zero runs).
    pub fn for_each_chunk(&self, mut f: impl FnMut(&[u8])) {
        match &self.repr {
            Repr::Whole(b) => {
                if !b.is_empty() {
                    f(b)
                }
            }
            Repr::Lazy(l) => {
                if let Some(b) = l.bytes().filter(|b| !b.is_empty()) {
                    f(b)
                }
            }
            Repr::Blocks { len, .. } => {
                let mut buf = vec![0u8; BLOCK as usize];
                let mut off = 0;
                while off < *len {
                    let n = self.read_at(off, &mut buf);
                    f(&buf[..n]);
                    off += n as u64;
                }
            }
        }
    }

    /// True if some block is privately owned (a clone would copy it).
    pub fn has_owned_blocks(&self) -> bool {
        matches!(&self.repr, Repr::Blocks { blocks, .. } if blocks.values().any(|b| matches!(b, Block::Owned(_))))
    }

    /// Makes every block shareable (`Bytes`) so that a clone copies no data: used when a
    /// filesystem is frozen to serve as the read-only base of cheap forks.
    pub fn freeze(&mut self) {
        if let Repr::Blocks { blocks, .. } = &mut self.repr {
            for block in blocks.values_mut() {
                if let Block::Owned(v) = block {
                    *block = Block::Shared(Bytes::from(std::mem::take(v)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contents(f: &FileData) -> Vec<u8> {
        let mut v = vec![0xAA; f.len() as usize];
        assert_eq!(f.read_at(0, &mut v), f.len() as usize);
        v
    }

    #[test]
    fn write_read_across_blocks_and_gaps() {
        let mut f = FileData::default();
        f.write_at(BLOCK - 2, b"abcd");
        assert_eq!(f.len(), BLOCK + 2);
        let mut buf = [0xFFu8; 6];
        assert_eq!(f.read_at(BLOCK - 4, &mut buf), 6);
        assert_eq!(&buf, b"\0\0abcd");
        f.write_at(3 * BLOCK + 1, b"z");
        let all = contents(&f);
        assert_eq!(all.len() as u64, 3 * BLOCK + 2);
        assert!(
            all[(BLOCK + 2) as usize..(3 * BLOCK + 1) as usize]
                .iter()
                .all(|&b| b == 0)
        );
        assert_eq!(all[(3 * BLOCK + 1) as usize], b'z');
        assert_eq!(f.read_at(f.len(), &mut buf), 0);
    }

    #[test]
    fn shared_buffer_is_not_modified_by_writes() {
        let image = Bytes::from(vec![7u8; (2 * BLOCK + 10) as usize]);
        let mut f = FileData::from_bytes(image.slice(5..));
        assert_eq!(f.owned_bytes(), 0);
        f.write_at(BLOCK, b"xy");
        assert!(image.iter().all(|&b| b == 7));
        // Only the touched block was copied.
        assert_eq!(f.owned_bytes(), BLOCK);
        let all = contents(&f);
        assert_eq!(&all[BLOCK as usize..BLOCK as usize + 2], b"xy");
        assert_eq!(all[0], 7);
        assert_eq!(all.len() as u64, 2 * BLOCK + 5);
    }

    #[test]
    fn truncate_then_extend_reads_zeros() {
        let mut f = FileData::from_bytes(Bytes::from_static(b"hello world"));
        f.set_len(5);
        assert_eq!(contents(&f), b"hello");
        f.set_len(8);
        assert_eq!(contents(&f), b"hello\0\0\0");
        let mut g = FileData::default();
        g.write_at(0, &vec![1u8; (BLOCK + 100) as usize]);
        g.set_len(BLOCK + 1);
        g.set_len(BLOCK + 50);
        let all = contents(&g);
        assert_eq!(all[BLOCK as usize], 1);
        assert!(all[BLOCK as usize + 1..].iter().all(|&b| b == 0));
        g.set_len(0);
        assert!(g.is_empty());
        g.set_len(1 << 40);
        assert_eq!(g.len(), 1 << 40);
        assert_eq!(g.owned_bytes(), 0);
    }

    #[test]
    fn read_inside_a_hole_past_a_cut_block() {
        let mut f = FileData::default();
        f.write_at(0, &[9u8; 100]);
        f.set_len(10);
        f.set_len(200);
        let mut buf = [1u8; 50];
        assert_eq!(f.read_at(20, &mut buf), 50);
        assert_eq!(buf, [0u8; 50]);
        assert_eq!(&contents(&f)[..12], &[9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 0, 0]);
    }

    #[test]
    fn growth_is_predicted_and_owned_capacity_tracked() {
        // A small xorshift: every mix of block edges, shared starts, holes and truncations.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        for round in 0..200 {
            let mut f = if round % 3 == 0 {
                FileData::default()
            } else {
                FileData::from_bytes(Bytes::from(vec![3u8; next(3 * BLOCK) as usize]))
            };
            let mut held = 0u64;
            for _ in 0..20 {
                if next(4) == 0 {
                    held -= f.set_len(next(4 * BLOCK));
                } else {
                    let at = next(4 * BLOCK);
                    let len = [1, 7, 100, 4096, BLOCK, 2 * BLOCK + 3][next(6) as usize];
                    let predicted = f.write_growth_bound(at, len);
                    let grown = f.write_at(at, &vec![9u8; len as usize]);
                    assert_eq!(grown, predicted, "write of {len} at {at}");
                    held += grown;
                }
                assert_eq!(f.owned_capacity(), held);
            }
        }
        // A small file holds little more than its size.
        let mut small = FileData::default();
        for _ in 0..10 {
            small.write_at(small.len(), b"0123456789");
        }
        assert!(small.owned_capacity() <= 256, "{}", small.owned_capacity());
    }

    #[test]
    fn freeze_keeps_contents() {
        let mut f = FileData::default();
        f.write_at(0, b"frozen");
        f.freeze();
        assert_eq!(f.owned_bytes(), 0);
        assert_eq!(contents(&f.clone()), b"frozen");
    }
}
