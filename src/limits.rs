//! Resource limits of one run: memory held by the in-memory filesystem layers and their
//! number of inodes (`ENOSPC` beyond either), open file descriptors (`EMFILE`), wall-clock
//! time and instruction fuel (the run ends). Each has a default; `strata run` takes a flag
//! for each, the library a setting on `WasiEnvBuilder` and `SandboxBuilder`.
//!
//! Memory is what the run itself holds, not what it shares: file blocks it wrote (each block
//! counted by its allocated capacity, at most 64 KiB), a fixed cost for every inode it
//! created ([`INODE_COST`], plus a symlink's target) and for every hard link it added
//! ([`LINK_COST`]). Image and host-directory contents it reads or leaves untouched cost
//! nothing; freeing what it created gives the memory back. The inode limit likewise counts
//! the inodes the run created and still holds.

use crate::vfs::{Errno, Result};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// What one inode created by a run counts against the memory limit, beyond its file data:
/// the node, its slot in the inode table and its first directory entry (a name of up to
/// 255 bytes included). A symlink also counts its target's length.
pub const INODE_COST: u64 = 1024;

/// What a hard link added by a run counts against the memory limit (one directory entry).
pub const LINK_COST: u64 = 512;

/// The limits of one run. `Default` gives the defaults below.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResourceLimits {
    /// Bytes the run may hold in the in-memory filesystem layers (see the module
    /// documentation for what counts); beyond it writes, truncations, `fd_allocate`s and
    /// creations fail with `ENOSPC`. Default 4 GiB.
    pub max_memory: u64,
    /// Inodes the run may create and hold (files, directories, symlinks); beyond it
    /// creations fail with `ENOSPC`. Default 1,000,000.
    pub max_inodes: u64,
    /// Open file descriptors, stdio and preopens included (like `RLIMIT_NOFILE`); beyond it
    /// opening fails with `EMFILE`. Default 1024.
    pub max_fds: u32,
    /// Wall-clock time the guest may run; then it is stopped (`Error::Timeout`, exit status
    /// 124 in the CLI). Default: none.
    pub timeout: Option<Duration>,
    /// Units of fuel the guest may burn, one per WebAssembly instruction executed (wasmer's
    /// metering middleware; deterministic); then it is stopped (`Error::OutOfFuel`, exit
    /// status 152 in the CLI). Default: none (the module is compiled without metering).
    pub fuel: Option<u64>,
}

impl ResourceLimits {
    pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;
    pub const DEFAULT_MAX_INODES: u64 = 1_000_000;
    pub const DEFAULT_MAX_FDS: u32 = 1024;

    pub const DEFAULT: ResourceLimits = ResourceLimits {
        max_memory: Self::DEFAULT_MAX_MEMORY,
        max_inodes: Self::DEFAULT_MAX_INODES,
        max_fds: Self::DEFAULT_MAX_FDS,
        timeout: None,
        fuel: None,
    };
}

impl Default for ResourceLimits {
    fn default() -> Self {
        ResourceLimits::DEFAULT
    }
}

/// What a run's filesystem layers hold, as counted against its limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub memory: u64,
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
    pub fn new(max_memory: u64, max_inodes: u64) -> Self {
        Budget {
            max_memory,
            max_inodes,
            memory: AtomicU64::new(0),
            inodes: AtomicU64::new(0),
        }
    }

    pub fn max_memory(&self) -> u64 {
        self.max_memory
    }

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

/// Parses a byte count: digits with an optional binary suffix `K`, `M`, `G` or `T`
/// (case-insensitive, optionally followed by `B` or `iB`): `4096`, `512K`, `1.5G`, `2GiB`.
pub fn parse_size(s: &str) -> std::result::Result<u64, String> {
    let bad = || format!("{s:?} is not a size (expected e.g. 4096, 512K, 64M, 4G)");
    let t = s.trim();
    let lower = t.to_ascii_lowercase();
    let (body, binary) = if let Some(b) = lower.strip_suffix("ib") {
        (b, true)
    } else {
        (lower.strip_suffix('b').unwrap_or(&lower), false)
    };
    let cut = &body[..body.len().saturating_sub(1)];
    let (num, shift) = match body.as_bytes().last() {
        Some(b'k') => (cut, 10),
        Some(b'm') => (cut, 20),
        Some(b'g') => (cut, 30),
        Some(b't') => (cut, 40),
        _ if binary => return Err(bad()),
        _ => (body, 0),
    };
    if num.is_empty() || !num.chars().all(|c| c.is_ascii_digit() || c == '.') {
        return Err(bad());
    }
    if let Ok(n) = num.parse::<u64>() {
        return n.checked_mul(1u64 << shift).ok_or_else(bad);
    }
    let f: f64 = num.parse().map_err(|_| bad())?;
    let v = f * (1u64 << shift) as f64;
    if !v.is_finite() || v >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(v as u64)
}

/// Parses a duration: a number with a unit `ms`, `s`, `m` or `h` (`500ms`, `10s`, `1.5m`);
/// a bare number is seconds.
pub fn parse_duration(s: &str) -> std::result::Result<Duration, String> {
    let bad = || format!("{s:?} is not a duration (expected e.g. 500ms, 10s, 2m, 1h)");
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let secs_per_unit = match unit.trim() {
        "ns" => 1e-9,
        "us" | "µs" => 1e-6,
        "ms" => 1e-3,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return Err(bad()),
    };
    if num.is_empty() {
        return Err(bad());
    }
    let v: f64 = num.parse().map_err(|_| bad())?;
    Duration::try_from_secs_f64(v * secs_per_unit).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("4096"), Ok(4096));
        assert_eq!(parse_size("512K"), Ok(512 << 10));
        assert_eq!(parse_size("64m"), Ok(64 << 20));
        assert_eq!(parse_size("4G"), Ok(4 << 30));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("2GB"), Ok(2 << 30));
        assert_eq!(parse_size("100B"), Ok(100));
        assert_eq!(parse_size("1.5K"), Ok(1536));
        assert_eq!(parse_size("1T"), Ok(1 << 40));
        for bad in [
            "",
            "K",
            "12X",
            "-1",
            "1iB",
            "99999999999999999999T",
            "1..5M",
        ] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        for bad in ["", "s", "10x", "-1s", "1e999s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

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

    /// The limits as the guest sees them through the syscall layer.
    mod wasi {
        use super::super::*;
        use crate::vfs::Vfs;
        use crate::wasi::abi::oflags;
        use crate::wasi::ctx::WasiCtx;
        use crate::wasi::rights;

        fn guest(vfs: Vfs, max_fds: usize) -> (WasiCtx, u32, Vec<u8>) {
            let root = vfs.root();
            let mut ctx = WasiCtx::new(vfs);
            ctx.fds.set_max(max_fds);
            let dir = ctx.preopen(root, "/").unwrap();
            (ctx, dir, vec![0u8; 4096])
        }

        fn open(
            ctx: &mut WasiCtx,
            mem: &mut Vec<u8>,
            dir: u32,
            name: &str,
            oflags: u16,
        ) -> Result<u32> {
            mem[..name.len()].copy_from_slice(name.as_bytes());
            let base = rights::FD_READ | rights::FD_WRITE;
            ctx.path_open(mem, dir, 0, 0, name.len() as u32, oflags, base, 0, 0, 1024)?;
            Ok(u32::from_le_bytes(mem[1024..1028].try_into().unwrap()))
        }

        #[test]
        fn emfile_beyond_max_fds() {
            let (mut ctx, dir, mut mem) = guest(Vfs::default(), 8);
            assert_eq!(dir, 3);
            let mut fds = Vec::new();
            let err = loop {
                match open(&mut ctx, &mut mem, dir, "f", oflags::CREAT) {
                    Ok(fd) => fds.push(fd),
                    Err(e) => break e,
                }
            };
            assert_eq!(err, Errno::Mfile);
            assert_eq!(fds, [4, 5, 6, 7], "stdio and the preopen count");
            ctx.fd_close(5).unwrap();
            assert_eq!(open(&mut ctx, &mut mem, dir, "f", 0), Ok(5));
            assert_eq!(open(&mut ctx, &mut mem, dir, "f", 0), Err(Errno::Mfile));
        }

        #[test]
        fn enospc_from_creations_and_writes() {
            let mut vfs = Vfs::default();
            let budget = vfs.set_limits(INODE_COST * 2 + 100, 2);
            let (mut ctx, dir, mut mem) = guest(vfs, 64);
            let a = open(&mut ctx, &mut mem, dir, "a", oflags::CREAT).unwrap();
            open(&mut ctx, &mut mem, dir, "b", oflags::CREAT).unwrap();
            assert_eq!(
                open(&mut ctx, &mut mem, dir, "c", oflags::CREAT),
                Err(Errno::Nospc)
            );
            // iovec at 2048 -> 200 bytes at 3000: more than the 100 bytes left.
            mem[2048..2052].copy_from_slice(&3000u32.to_le_bytes());
            mem[2052..2056].copy_from_slice(&200u32.to_le_bytes());
            assert_eq!(ctx.fd_write(&mut mem, a, 2048, 1, 2100), Err(Errno::Nospc));
            mem[2052..2056].copy_from_slice(&64u32.to_le_bytes());
            ctx.fd_write(&mut mem, a, 2048, 1, 2100).unwrap();
            assert_eq!(budget.usage().inodes, 2);
        }
    }
}
