//! Bounds on what loading an image may cost, so that a hostile archive fails with an error
//! instead of exhausting memory or time.

#![forbid(unsafe_code)]

/// Limits applied while loading a tar image. The defaults suit large real images (a full
/// distribution root is far below every one of them); override fields for stricter callers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Limits {
    /// Largest tar stream, in bytes: the decompressed size for gzip (the gzip-bomb limit), the
    /// file or buffer size otherwise. Default 8 GiB.
    pub max_image_bytes: u64,
    /// Most tar headers (every entry, counting pax and GNU extension headers). Default 1,000,000.
    pub max_entries: u64,
    /// Most inodes in the loaded tree: files, directories and symlinks from members plus the
    /// parent directories created implicitly (a member with a deep path of new directories
    /// creates many). Bounds memory. Default 1,000,000.
    pub max_inodes: u64,
    /// Longest entry name or link target in bytes, after pax / GNU long-name extension.
    /// Also caps the size of a GNU long-name (`L`/`K`) header. Default 4096 (Linux `PATH_MAX`).
    pub max_path_len: usize,
    /// Largest pax extended header (`x`, `g`) data, in bytes. Default 1 MiB.
    pub max_pax_len: u64,
}

impl Limits {
    /// The limits `LoadOptions::default()` uses.
    pub const DEFAULT: Limits = Limits {
        max_image_bytes: 8 << 30,
        max_entries: 1_000_000,
        max_inodes: 1_000_000,
        max_path_len: 4096,
        max_pax_len: 1 << 20,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}

/// Longest single name component (Linux `NAME_MAX`); not configurable, the filesystem's own.
pub const MAX_COMPONENT: usize = 255;
