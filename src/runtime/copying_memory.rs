//! Guest memory for a call on a shared linear memory, which other guest threads may read and
//! write while the call runs: nothing borrows the memory itself. Every range the syscall
//! reads is copied out (through wasmer's view, safe under concurrent writes) into an arena
//! that lives for the call; a writable range is copied out, handed over, and written back at
//! the next access or when the call ends. So the syscall layer sees each range as it was when
//! it first looked (a path cannot change between its check and its use), and a racing guest
//! can only race with itself. A call's input buffers (`fd_write`'s iovecs) can be copied
//! before the call takes the context lock (`prefetch`), so the lock covers one copy, not two.

#![forbid(unsafe_code)]

use crate::vfs::{Errno, Result};
use crate::wasi::memory::GuestMemory;
use std::cell::RefCell;
use wasmer::MemoryView;

/// A call's view of a shared memory (see the module doc).
pub(crate) struct CopyingMemory<'v> {
    view: MemoryView<'v>,
    size: u64,
    /// Copies handed out by `slice`, alive until the call ends.
    arena: bumpalo::Bump,
    /// The range last handed out by `slice_mut`, not yet written back.
    pending: RefCell<Option<(u32, Vec<u8>)>>,
    /// Ranges copied ahead of the call (`prefetch`), dropped when the call writes over them.
    prefetched: Vec<(u32, Box<[u8]>)>,
}

impl<'v> CopyingMemory<'v> {
    pub(crate) fn new(view: MemoryView<'v>) -> Self {
        let size = view.data_size();
        CopyingMemory {
            view,
            size,
            arena: bumpalo::Bump::new(),
            pending: RefCell::new(None),
            prefetched: Vec::new(),
        }
    }

    /// Copies `[ptr, ptr + len)` now, for the call to read later without copying; a range
    /// outside memory is left for the call to refuse.
    pub(crate) fn prefetch(&mut self, ptr: u32, len: u32) {
        if self.check(ptr, len).is_err() {
            return;
        }
        let mut copy = vec![0u8; len as usize].into_boxed_slice();
        if self.view.read(u64::from(ptr), &mut copy).is_ok() {
            self.prefetched.push((ptr, copy));
        }
    }

    /// The prefetched copy holding `[ptr, ptr + len)`, if any.
    fn prefetched(&self, ptr: u32, len: u32) -> Option<&[u8]> {
        let (start, end) = (u64::from(ptr), u64::from(ptr) + u64::from(len));
        self.prefetched.iter().find_map(|(p, copy)| {
            let p = u64::from(*p);
            let within = start >= p && end <= p + copy.len() as u64;
            within.then(|| &copy[(start - p) as usize..(end - p) as usize])
        })
    }

    /// Forgets prefetched copies that a write to `[ptr, ptr + len)` makes stale.
    fn invalidate(&mut self, ptr: u32, len: u32) {
        let (start, end) = (u64::from(ptr), u64::from(ptr) + u64::from(len));
        self.prefetched
            .retain(|(p, copy)| end <= u64::from(*p) || start >= u64::from(*p) + copy.len() as u64);
    }

    /// Writes back the range `slice_mut` handed out, so later reads see it.
    fn flush(&self) {
        if let Some((ptr, bytes)) = self.pending.borrow_mut().take() {
            // In bounds: checked when it was handed out, and a memory never shrinks.
            let _ = self.view.write(u64::from(ptr), &bytes);
        }
    }
}

impl Drop for CopyingMemory<'_> {
    fn drop(&mut self) {
        self.flush();
    }
}

impl GuestMemory for CopyingMemory<'_> {
    fn check(&self, ptr: u32, len: u32) -> Result<()> {
        match u64::from(ptr) + u64::from(len) <= self.size {
            true => Ok(()),
            false => Err(Errno::Fault),
        }
    }

    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        self.check(ptr, len)?;
        self.flush();
        if let Some(copy) = self.prefetched(ptr, len) {
            return Ok(copy);
        }
        let copy = self.arena.alloc_slice_fill_copy(len as usize, 0u8);
        self.view
            .read(u64::from(ptr), copy)
            .map_err(|_| Errno::Fault)?;
        Ok(copy)
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        self.check(ptr, len)?;
        self.flush();
        self.invalidate(ptr, len);
        // Copied out first: a syscall may fill only part of the range (a short read), and the
        // rest must come back as it was.
        let mut bytes = vec![0u8; len as usize];
        self.view
            .read(u64::from(ptr), &mut bytes)
            .map_err(|_| Errno::Fault)?;
        let pending = self.pending.get_mut().insert((ptr, bytes));
        Ok(&mut pending.1)
    }

    fn write(&mut self, ptr: u32, data: &[u8]) -> Result<()> {
        let len = u32::try_from(data.len()).map_err(|_| Errno::Fault)?;
        self.check(ptr, len)?;
        self.flush();
        self.invalidate(ptr, len);
        self.view
            .write(u64::from(ptr), data)
            .map_err(|_| Errno::Fault)
    }
}
