//! Copy-on-write images of a module's initialised linear memory. The first instance of a
//! module is initialised by wasmer as usual (its data segments copied in); before any guest
//! code runs, its memory is saved into a sealed memfd. Later instances map that file
//! privately over their fresh memory (the tunables in `memory_budget` do, during
//! `Instance::new`), so their data-segment copies are skipped and a page is copied only when
//! the guest first writes it. Invariant: an image is only used for instances of the module it
//! was taken from, and only for modules whose initial memory does not depend on the instance:
//! one memory, defined (not imported) and not shared, no start function, no imported globals
//! (a data segment's offset may read one). Linux only; elsewhere nothing is imaged.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use wasmer::{Instance, Module, Store};

/// Initial memories larger than this are not imaged (saving one reads all of it).
#[cfg(target_os = "linux")]
const MAX_IMAGE: usize = 1 << 30;

/// The initialised memory of one module, shared copy-on-write by its later instances: keep
/// one beside each module and pass it to `WasiFunctionEnv::instantiate_imaged` (cloning is
/// cheap; clones share the image). Empty until the second instantiation fills it: a module
/// instantiated once (a one-shot command) never pays for saving one.
#[derive(Clone, Default, Debug)]
pub struct MemoryImage(Arc<Slot>);

#[derive(Default, Debug)]
struct Slot {
    image: OnceLock<Option<Arc<ImageFile>>>,
    /// Instantiations that could not use an image yet.
    plain: AtomicU32,
}

impl MemoryImage {
    /// An empty slot for one module's image.
    pub fn new() -> Self {
        Self::default()
    }

    /// The image, once the first instantiation has made one.
    pub(crate) fn file(&self) -> Option<Arc<ImageFile>> {
        self.0.image.get().cloned().flatten()
    }

    /// After an instantiation of `module` made without the image (no guest code run yet):
    /// from the second on, saves `instance`'s memory as the image, or leaves the slot
    /// without one if the module does not qualify.
    pub(crate) fn record(&self, store: &mut Store, module: &Module, instance: &Instance) {
        if self.0.image.get().is_some() || self.0.plain.fetch_add(1, Ordering::Relaxed) == 0 {
            return;
        }
        let file = qualifies(module)
            .then(|| instance.exports.get_memory("memory").ok())
            .flatten()
            .and_then(|memory| {
                let view = memory.view(store);
                // SAFETY: the instance was created just now and no guest code has run (the
                // module has no start function); this thread holds the store, so nothing
                // else reads, writes or grows the memory while the slice lives.
                let bytes = unsafe { view.data_unchecked() };
                ImageFile::save(bytes).ok()
            });
        let _ = self.0.image.set(file.map(Arc::new));
    }
}

/// Whether `module`'s initial memory is the same for every instance (see the module doc).
fn qualifies(module: &Module) -> bool {
    // wasmer's public API does not say whether a module has a start function or global
    // imports; its (hidden, pinned-version) module info does.
    let info = module.info();
    info.start_function.is_none()
        && info.num_imported_globals == 0
        && info.num_imported_memories == 0
        && info.memories.len() == 1
        && info.memories.values().all(|m| !m.shared)
}

/// A sealed memfd holding one initialised memory.
#[derive(Debug)]
pub(crate) struct ImageFile {
    #[cfg(target_os = "linux")]
    file: std::fs::File,
    len: usize,
}

impl ImageFile {
    /// Bytes of memory the image covers (the module's initial memory).
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    #[cfg(not(target_os = "linux"))]
    fn save(_bytes: &[u8]) -> std::io::Result<ImageFile> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }

    /// A memfd holding `bytes` (its zero pages left as holes), sealed against any change,
    /// and checked to map as the instances will map it.
    #[cfg(target_os = "linux")]
    fn save(bytes: &[u8]) -> std::io::Result<ImageFile> {
        use std::os::fd::{AsRawFd, FromRawFd};
        use std::os::unix::fs::FileExt;
        const PAGE: usize = 4096;
        if bytes.is_empty() || bytes.len() > MAX_IMAGE || !bytes.len().is_multiple_of(PAGE) {
            return Err(std::io::Error::from(std::io::ErrorKind::Unsupported));
        }
        let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
        // SAFETY: the name is a NUL-terminated string; the call has no other preconditions.
        let fd = unsafe { libc::memfd_create(c"strata-memory-image".as_ptr(), flags) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` was just created and is owned by nothing else.
        let file = unsafe { std::fs::File::from_raw_fd(fd) };
        file.set_len(bytes.len() as u64)?;
        // Runs of non-zero pages, each written once.
        let mut at = 0;
        while at < bytes.len() {
            let zero = |p: usize| bytes[p..p + PAGE].iter().all(|&b| b == 0);
            if zero(at) {
                at += PAGE;
                continue;
            }
            let start = at;
            while at < bytes.len() && !zero(at) {
                at += PAGE;
            }
            file.write_all_at(&bytes[start..at], start as u64)?;
        }
        let seals =
            libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
        // SAFETY: fcntl on a descriptor this function owns.
        if unsafe { libc::fcntl(file.as_raw_fd(), libc::F_ADD_SEALS, seals) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let image = ImageFile {
            file,
            len: bytes.len(),
        };
        // A kernel that refuses writable private mappings of a sealed file refuses here,
        // not in the middle of an instantiation.
        let probe = image.map(std::ptr::null_mut(), 0)?;
        // SAFETY: `probe` is the mapping of `len` bytes just made, used by nothing.
        unsafe { libc::munmap(probe, image.len) };
        Ok(image)
    }

    /// Maps the image privately, readable and writable, at `at` (`MAP_FIXED` flags given)
    /// or wherever the kernel chooses (`at` null, `fixed` 0).
    #[cfg(target_os = "linux")]
    fn map(&self, at: *mut libc::c_void, fixed: libc::c_int) -> std::io::Result<*mut libc::c_void> {
        use std::os::fd::AsRawFd;
        // SAFETY: a private mapping of a file this image owns; with `MAP_FIXED` the caller
        // guarantees the range is its own to replace (see `map_over`).
        let p = unsafe {
            libc::mmap(
                at,
                self.len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | fixed,
                self.file.as_raw_fd(),
                0,
            )
        };
        match p {
            libc::MAP_FAILED => Err(std::io::Error::last_os_error()),
            p => Ok(p),
        }
    }

    /// Replaces the `len()` bytes at `base` with a private copy-on-write mapping of the image.
    ///
    /// # Safety
    /// `[base, base + len())` must be readable and writable memory of a linear memory that
    /// was just created (all zeros, nothing referring into it), page-aligned, and owned by the
    /// caller, who unmaps it with the rest of the memory.
    #[cfg(target_os = "linux")]
    pub(crate) unsafe fn map_over(&self, base: *mut u8) -> std::io::Result<()> {
        let fixed = libc::MAP_FIXED;
        self.map(base.cast(), fixed).map(|_| ())
    }

    #[cfg(not(target_os = "linux"))]
    pub(crate) unsafe fn map_over(&self, _base: *mut u8) -> std::io::Result<()> {
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}
