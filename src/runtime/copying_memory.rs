//! Guest memory for a call on a shared linear memory, which other guest threads may read and
//! write while the call runs: nothing borrows the memory itself. Every range the syscall
//! reads is copied out (through wasmer's view, safe under concurrent writes) into an arena
//! that lives for the call; a writable range is copied out, handed over, and written back at
//! the next access or when the call ends. So the syscall layer sees each range as it was when
//! it first looked (a path cannot change between its check and its use), and a racing guest
//! can only race with itself.

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
}

impl<'v> CopyingMemory<'v> {
    pub(crate) fn new(view: MemoryView<'v>) -> Self {
        let size = view.data_size();
        CopyingMemory {
            view,
            size,
            arena: bumpalo::Bump::new(),
            pending: RefCell::new(None),
        }
    }

    fn check(&self, ptr: u32, len: u32) -> Result<()> {
        match u64::from(ptr) + u64::from(len) <= self.size {
            true => Ok(()),
            false => Err(Errno::Fault),
        }
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
    fn slice(&self, ptr: u32, len: u32) -> Result<&[u8]> {
        self.check(ptr, len)?;
        self.flush();
        let copy = self.arena.alloc_slice_fill_copy(len as usize, 0u8);
        self.view
            .read(u64::from(ptr), copy)
            .map_err(|_| Errno::Fault)?;
        Ok(copy)
    }

    fn slice_mut(&mut self, ptr: u32, len: u32) -> Result<&mut [u8]> {
        self.check(ptr, len)?;
        self.flush();
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
        self.view
            .write(u64::from(ptr), data)
            .map_err(|_| Errno::Fault)
    }
}
