//! Memory for whole file blocks: `BLOCK`-sized slots carved from 2 MiB regions that the
//! kernel is asked to back with transparent huge pages, so that a large file's memory is
//! mapped and zeroed 512 pages per fault instead of one (the per-page work of the kernel was
//! most of a sequential write's cost). Invariants: a slot belongs to one `Slot` at a time; a
//! free slot is reused before a new region is mapped, so the regions never outnumber the peak
//! of slots in use divided by `PER_REGION`, rounded up; a region is unmapped when its last
//! slot is freed.

use super::data::BLOCK;
use std::collections::{BTreeSet, HashMap};
use std::ptr::NonNull;
use std::sync::Mutex;

/// Size and alignment of a region: one huge page on x86-64 and aarch64 (4 KiB base pages).
const REGION: usize = 2 << 20;
const PER_REGION: usize = REGION / BLOCK as usize;
const ALL_FREE: u32 = u32::MAX;
const _: () = assert!(PER_REGION == 32, "the free mask is a u32");

/// One `BLOCK`-sized piece of a region, exclusively owned; its bytes start as whatever the
/// previous owner left (callers track how much they wrote, like a `Vec`'s length).
#[derive(Debug)]
pub struct Slot {
    ptr: NonNull<u8>,
}

// SAFETY: a slot is exclusively owned memory, like a `Box<[u8]>`; the pool is behind a mutex.
unsafe impl Send for Slot {}
// SAFETY: shared access only reads through `&self`.
unsafe impl Sync for Slot {}

impl Slot {
    /// A free slot, or `None` where regions cannot be mapped (the caller uses the heap).
    pub fn new() -> Option<Slot> {
        let ptr = POOL.lock().unwrap_or_else(|e| e.into_inner()).take()?;
        // Map the slot's pages now in one call rather than one fault per page during the
        // copy that follows (a no-op when a huge page already backs the region).
        populate(ptr.as_ptr(), BLOCK as usize);
        Some(Slot { ptr })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the slot is BLOCK bytes of mapped, readable memory owned by `self`; the
        // bytes are initialised (fresh anonymous pages are zeros, reused ones hold old bytes).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), BLOCK as usize) }
    }

    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`, and `&mut self` makes the access exclusive.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), BLOCK as usize) }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        POOL.lock()
            .unwrap_or_else(|e| e.into_inner())
            .give_back(self.ptr);
    }
}

static POOL: Mutex<Pool> = Mutex::new(Pool::new());

struct Pool {
    /// Free-slot mask of every mapped region, by base address.
    regions: Option<HashMap<usize, u32>>,
    /// Bases of the regions with a free slot, lowest first (fills regions densely).
    with_free: BTreeSet<usize>,
    /// Set after a mapping failed: the heap serves from then on.
    unavailable: bool,
}

impl Pool {
    const fn new() -> Pool {
        Pool {
            regions: None,
            with_free: BTreeSet::new(),
            unavailable: false,
        }
    }

    #[cfg(test)]
    fn mapped(&self) -> usize {
        self.regions.as_ref().map_or(0, HashMap::len)
    }

    fn take(&mut self) -> Option<NonNull<u8>> {
        if self.unavailable {
            return None;
        }
        let regions = self.regions.get_or_insert_with(HashMap::new);
        let base = match self.with_free.first() {
            Some(&base) => base,
            None => match map_region() {
                Some(base) => {
                    regions.insert(base, ALL_FREE);
                    self.with_free.insert(base);
                    base
                }
                None => {
                    self.unavailable = true;
                    return None;
                }
            },
        };
        let mask = regions.get_mut(&base).expect("listed regions are mapped");
        let index = mask.trailing_zeros() as usize;
        *mask &= !(1 << index);
        if *mask == 0 {
            self.with_free.remove(&base);
        }
        NonNull::new((base + index * BLOCK as usize) as *mut u8)
    }

    fn give_back(&mut self, ptr: NonNull<u8>) {
        let addr = ptr.as_ptr() as usize;
        let base = addr & !(REGION - 1);
        let regions = self.regions.as_mut().expect("a slot came from a region");
        let mask = regions.get_mut(&base).expect("a slot came from a region");
        *mask |= 1 << ((addr - base) / BLOCK as usize);
        if *mask == ALL_FREE {
            regions.remove(&base);
            self.with_free.remove(&base);
            unmap(base, REGION);
        } else {
            self.with_free.insert(base);
        }
    }
}

/// Maps a `REGION`-aligned region of `REGION` bytes and asks for huge pages on it.
#[cfg(target_os = "linux")]
fn map_region() -> Option<usize> {
    // SAFETY: an anonymous private mapping at an address of the kernel's choosing touches no
    // existing memory.
    let raw = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            2 * REGION,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if raw == libc::MAP_FAILED {
        return None;
    }
    // Twice the size was mapped so that an aligned region lies inside; the rest goes back.
    let start = raw as usize;
    let base = start.next_multiple_of(REGION);
    if base > start {
        unmap(start, base - start);
    }
    let end = start + 2 * REGION;
    if end > base + REGION {
        unmap(base + REGION, end - (base + REGION));
    }
    // SAFETY: [base, base + REGION) is the mapping made above. Advice only; if the kernel
    // has no huge pages the region works with small ones.
    unsafe { libc::madvise(base as *mut libc::c_void, REGION, libc::MADV_HUGEPAGE) };
    Some(base)
}

#[cfg(target_os = "linux")]
fn unmap(addr: usize, len: usize) {
    // SAFETY: only called on parts of mappings made by `map_region` that no slot uses.
    unsafe { libc::munmap(addr as *mut libc::c_void, len) };
}

/// Maps the pages of `[ptr, ptr + len)` in one system call. Best effort: where
/// `MADV_POPULATE_WRITE` is missing (Linux < 5.14) it stops trying.
#[cfg(target_os = "linux")]
pub(super) fn populate(ptr: *mut u8, len: usize) {
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
    let start = ptr as usize;
    let (lo, hi) = (start.next_multiple_of(page), (start + len) & !(page - 1));
    if hi <= lo {
        return;
    }
    // SAFETY: callers pass memory they own; MADV_POPULATE_WRITE only maps pages and never
    // changes their contents.
    let r = unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE) };
    if r != 0 {
        UNAVAILABLE.store(true, Ordering::Relaxed);
    }
}

#[cfg(not(target_os = "linux"))]
fn map_region() -> Option<usize> {
    None
}

#[cfg(not(target_os = "linux"))]
fn unmap(_addr: usize, _len: usize) {}

#[cfg(not(target_os = "linux"))]
pub(super) fn populate(_ptr: *mut u8, _len: usize) {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_distinct_reused_first_and_their_regions_given_back() {
        // A pool of the test's own: the process-wide one is shared with concurrent tests.
        let mut pool = Pool::new();
        let mut taken: Vec<NonNull<u8>> = (0..3 * PER_REGION)
            .map(|_| pool.take().expect("regions can be mapped here"))
            .collect();
        assert_eq!(pool.mapped(), 3);
        let mut addrs: Vec<usize> = taken.iter().map(|p| p.as_ptr() as usize).collect();
        addrs.sort_unstable();
        addrs.dedup();
        assert_eq!(addrs.len(), taken.len(), "no slot handed out twice");
        assert!(
            addrs.windows(2).all(|w| w[1] - w[0] >= BLOCK as usize),
            "slots overlap"
        );
        // With every region full, a freed slot is reused before a new region is mapped.
        let freed = taken.swap_remove(5);
        pool.give_back(freed);
        assert_eq!(pool.take(), Some(freed));
        assert_eq!(pool.mapped(), 3);
        // The next slot needs a fourth region, which goes back when that slot is freed.
        let lone = pool.take().unwrap();
        assert_eq!(pool.mapped(), 4);
        pool.give_back(lone);
        assert_eq!(pool.mapped(), 3);
        pool.give_back(freed);
        for p in taken {
            pool.give_back(p);
        }
        assert_eq!(pool.mapped(), 0);
        assert!(pool.with_free.is_empty());
    }

    #[test]
    fn a_slot_keeps_what_is_written_to_it() {
        let mut slots: Vec<Slot> = (0..40).map(|_| Slot::new().unwrap()).collect();
        for (i, s) in slots.iter_mut().enumerate() {
            s.as_mut_slice().fill(i as u8);
        }
        for (i, s) in slots.iter().enumerate() {
            assert_eq!(s.as_slice().len(), BLOCK as usize);
            assert!(s.as_slice().iter().all(|&b| b == i as u8), "slot {i}");
        }
    }
}
