//! The filesystem's own accounting: the bytes and inodes one run's layers hold, counted
//! against its limits. Memory is what the run itself holds, not what it shares: file blocks it
//! wrote (each by its allocated capacity, at most 64 KiB), a fixed cost for every inode it
//! created ([`INODE_COST`], plus a symlink's target) and for every hard link it added
//! ([`LINK_COST`]). Image and host contents it reads or leaves untouched cost nothing; freeing
//! what it created gives the memory back.

#![forbid(unsafe_code)]

use super::{Errno, Result};
use std::sync::atomic::{AtomicU64, Ordering};

/// What one inode created by a run counts against the memory limit, beyond its file data:
/// the node, its slot in the inode table and its first directory entry (a name of up to
/// 255 bytes included). A symlink also counts its target's length.
pub const INODE_COST: u64 = 1024;

/// What a hard link added by a run counts against the memory limit (one directory entry).
pub const LINK_COST: u64 = 512;

/// What a run's filesystem layers hold, as counted against its limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// Bytes held (file blocks written, per-inode and per-link costs).
    pub memory: u64,
    /// Inodes held.
    pub inodes: u64,
}

/// The memory and inode accounts of one run, shared by every filesystem of its namespace
/// (see `Vfs::set_limits`). Counters only move by what the run itself allocates and frees.
#[derive(Debug)]
pub struct Budget {
    max_memory: u64,
    max_inodes: u64,
    memory: AtomicU64,
    inodes: AtomicU64,
}

impl Budget {
    /// A budget of `max_memory` bytes and `max_inodes` inodes, nothing used yet.
    pub fn new(max_memory: u64, max_inodes: u64) -> Self {
        Budget {
            max_memory,
            max_inodes,
            memory: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
        }
    }

    /// The most bytes it allows.
    pub fn max_memory(&self) -> u64 {
        self.max_memory
    }

    /// The most inodes it allows.
    pub fn max_inodes(&self) -> u64 {
        self.max_inodes
    }

    /// What is held now.
    pub fn usage(&self) -> Usage {
        Usage {
            memory: self.memory.load(Ordering::Relaxed),
            inodes: self.inodes.load(Ordering::Relaxed),
        }
    }

    /// Adds `n` to `counter` unless that would pass `max`.
    fn take(counter: &AtomicU64, n: u64, max: u64) -> Result<()> {
        if n == 0 {
            return Ok(());
        }
        counter
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                used.checked_add(n).filter(|&total| total <= max)
            })
            .map(|_| ())
            .map_err(|_| Errno::Nospc)
    }

    fn give(counter: &AtomicU64, n: u64) {
        if n > 0 {
            // Saturating: what existed before the limits were set may be freed too.
            let _ = counter.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                Some(used.saturating_sub(n))
            });
        }
    }

    /// Counts `memory` more bytes and `inodes` more inodes, or fails with `ENOSPC` (counting
    /// nothing) if either would pass its limit.
    pub fn charge(&self, memory: u64, inodes: u64) -> Result<()> {
        Self::take(&self.inodes, inodes, self.max_inodes)?;
        Self::take(&self.memory, memory, self.max_memory).inspect_err(|_| {
            Self::give(&self.inodes, inodes);
        })
    }

    /// `ENOSPC` unless `memory` more bytes would fit (counts nothing).
    pub fn check(&self, memory: u64) -> Result<()> {
        let used = self.memory.load(Ordering::Relaxed);
        match used.checked_add(memory) {
            Some(total) if total <= self.max_memory => Ok(()),
            _ => Err(Errno::Nospc),
        }
    }

    /// Counts `memory` more bytes whatever the limit (what was allocated anyway).
    pub fn add(&self, memory: u64) {
        if memory > 0 {
            self.memory.fetch_add(memory, Ordering::Relaxed);
        }
    }

    /// Gives back what `charge` counted.
    pub fn refund(&self, memory: u64, inodes: u64) {
        Self::give(&self.memory, memory);
        Self::give(&self.inodes, inodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_charges_and_refunds() {
        let b = Budget::new(100, 2);
        b.charge(60, 1).unwrap();
        assert_eq!(b.charge(41, 0), Err(Errno::Nospc));
        assert_eq!(b.charge(10, 2), Err(Errno::Nospc), "inodes");
        assert_eq!(
            b.usage(),
            Usage {
                memory: 60,
                inodes: 1
            },
            "nothing counted on failure"
        );
        assert_eq!(b.check(40), Ok(()));
        assert_eq!(b.check(41), Err(Errno::Nospc));
        b.charge(40, 1).unwrap();
        b.refund(200, 5);
        assert_eq!(b.usage(), Usage::default(), "refunds saturate");
    }

    mod vfs {
        use super::super::*;
        use crate::vfs::data::BLOCK;
        use crate::vfs::{FileData, NodeId, OpenOptions, Vfs};

        fn create(vfs: &mut Vfs, name: &str) -> crate::vfs::Result<NodeId> {
            let root = vfs.root();
            let id = vfs.open(
                root,
                name.as_bytes(),
                OpenOptions {
                    create: true,
                    ..Default::default()
                },
            )?;
            vfs.release(id);
            Ok(id)
        }

        #[test]
        fn writes_end_with_enospc_and_unlink_gives_back() {
            let mut vfs = Vfs::default();
            let budget = vfs.set_limits(1 << 20, 100);
            let f = create(&mut vfs, "big").unwrap();
            let chunk = vec![7u8; 10_000];
            let mut written = 0u64;
            let err = loop {
                match vfs.write(f, None, &chunk) {
                    Ok(_) => written += chunk.len() as u64,
                    Err(e) => break e,
                }
            };
            assert_eq!(err, Errno::Nospc);
            let used = budget.usage().memory;
            assert!(used <= 1 << 20, "{used}");
            assert!(used + BLOCK > 1 << 20, "stopped early: {used}");
            assert!(written + 2 * BLOCK > 1 << 20, "stopped early: {written}");
            assert_eq!(
                vfs.stat_node(f).unwrap().size,
                written,
                "a failed write writes nothing"
            );
            // Truncation gives back the blocks it drops, unlink the rest.
            vfs.set_size(f, BLOCK).unwrap();
            assert_eq!(budget.usage().memory, INODE_COST + BLOCK);
            vfs.unlink(vfs.root(), b"big").unwrap();
            assert_eq!(budget.usage(), Usage::default());
        }

        #[test]
        fn inode_limit_covers_files_dirs_and_symlinks() {
            let mut vfs = Vfs::default();
            let budget = vfs.set_limits(1 << 30, 3);
            let root = vfs.root();
            create(&mut vfs, "a").unwrap();
            vfs.mkdir(root, b"d").unwrap();
            vfs.symlink(b"a", root, b"s").unwrap();
            assert_eq!(create(&mut vfs, "b"), Err(Errno::Nospc));
            assert_eq!(vfs.mkdir(root, b"e"), Err(Errno::Nospc));
            assert_eq!(vfs.symlink(b"a", root, b"t"), Err(Errno::Nospc));
            assert_eq!(budget.usage().inodes, 3);
            assert_eq!(
                budget.usage().memory,
                3 * INODE_COST + 1,
                "a symlink counts its target"
            );
            vfs.rmdir(root, b"d").unwrap();
            create(&mut vfs, "b").unwrap();
            // Hard links cost memory, not inodes, and are given back.
            vfs.link(root, b"a", false, root, b"a2").unwrap();
            assert_eq!(budget.usage().memory, 3 * INODE_COST + 1 + LINK_COST);
            vfs.unlink(root, b"a").unwrap();
            assert_eq!(budget.usage().memory, 3 * INODE_COST + 1);
            vfs.unlink(root, b"a2").unwrap();
            assert_eq!(budget.usage().inodes, 2);
        }

        #[test]
        fn shared_image_bytes_do_not_count() {
            let mut vfs = Vfs::default();
            let root = vfs.root();
            let image = bytes::Bytes::from(vec![1u8; 8 << 20]);
            let f = vfs
                .write_file(root, "etc/image", FileData::from_bytes(image))
                .unwrap();
            let budget = vfs.set_limits(1 << 20, 10);
            let mut buf = vec![0u8; 1 << 20];
            assert_eq!(vfs.read(f, 0, &mut buf).unwrap(), 1 << 20);
            assert_eq!(budget.usage(), Usage::default(), "reading is free");
            vfs.write(f, Some(3 * BLOCK + 5), b"x").unwrap();
            assert_eq!(budget.usage().memory, BLOCK, "one block copied");
            // Files the run did not create give back their written blocks, not an inode.
            vfs.unlink(root, b"etc/image").unwrap();
            assert_eq!(budget.usage(), Usage::default());
            vfs.unlink(root, b"etc").unwrap_err();
            vfs.rmdir(root, b"etc").unwrap();
            assert_eq!(budget.usage(), Usage::default());
        }

        #[test]
        fn sparse_files_and_allocate() {
            let mut vfs = Vfs::default();
            let budget = vfs.set_limits(1 << 20, 10);
            let f = create(&mut vfs, "sparse").unwrap();
            vfs.set_size(f, 1 << 40).unwrap();
            assert_eq!(budget.usage().memory, INODE_COST, "holes hold nothing");
            assert_eq!(vfs.allocate(f, 0, 2 << 20), Err(Errno::Nospc));
            vfs.allocate(f, 0, 512 << 10).unwrap();
            assert_eq!(budget.usage().memory, INODE_COST);
            // Small files hold little more than their size.
            let g = create(&mut vfs, "small").unwrap();
            vfs.write(g, None, b"hello").unwrap();
            vfs.write(g, None, b" world").unwrap();
            assert!(
                budget.usage().memory < 2 * INODE_COST + 256,
                "{:?}",
                budget.usage()
            );
        }

        #[test]
        fn mounts_share_the_budget_and_forks_leave_it() {
            let mut vfs = Vfs::default();
            let budget = vfs.set_limits(3 * BLOCK, 10);
            let root = vfs.root();
            let at = vfs.mkdir(root, b"mnt").unwrap();
            vfs.mount(at, crate::vfs::MemFs::new(0, vfs.clock().clone()))
                .unwrap();
            let a = create(&mut vfs, "a").unwrap();
            vfs.write(a, None, &vec![0u8; BLOCK as usize]).unwrap();
            let b = vfs
                .open(
                    root,
                    b"mnt/b",
                    OpenOptions {
                        create: true,
                        ..Default::default()
                    },
                )
                .unwrap();
            assert_eq!(
                vfs.write(b, None, &vec![0u8; 2 * BLOCK as usize]),
                Err(Errno::Nospc)
            );
            vfs.write(b, None, &vec![0u8; BLOCK as usize]).unwrap();
            assert_eq!(budget.usage().inodes, 3);
            let fork = vfs.fs(root).unwrap().fork();
            assert!(fork.budget().is_none());
        }
    }
}
