//! A process-wide cache of loaded images, so that loading the same image twice is free: many
//! sandboxes (on many threads) asking for one image share one immutable `Arc<Image>`. Images
//! given as bytes are keyed by the blake3 digest of their content; image files by identity
//! (device, inode, size, modification time), which changes whenever the file does, so
//! hashing a large mapped tar is never needed. The load options that shape the tree
//! (OCI whiteouts, limits) are part of both keys.

#![forbid(unsafe_code)]

use super::error::ImageError;
use super::load::{Image, LoadOptions, load_bytes, load_path};
use super::load_limits::Limits;
use bytes::Bytes;
use dashmap::DashMap;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Arc, LazyLock};

type Shape = (bool, Limits);
/// Device, inode, size, modification time (seconds, nanoseconds).
type FileId = (u64, u64, u64, i64, i64);

/// A process-wide cache of loaded images, by file identity and by content digest, so every
/// sandbox naming the same image shares one `Arc<Image>`.
#[derive(Default)]
pub struct ImageCache {
    by_digest: DashMap<([u8; 32], Shape), Arc<Image>>,
    by_file: DashMap<(FileId, Shape), Arc<Image>>,
}

static GLOBAL: LazyLock<ImageCache> = LazyLock::new(ImageCache::default);

impl ImageCache {
    /// The cache shared by the whole process.
    pub fn global() -> &'static ImageCache {
        &GLOBAL
    }

    /// The image in the file at `path`, loaded once per file version.
    pub fn load_path(
        &self,
        path: impl AsRef<Path>,
        opts: &LoadOptions,
    ) -> Result<Arc<Image>, ImageError> {
        let path = path.as_ref();
        let m = std::fs::metadata(path).map_err(|source| ImageError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let key = (
            (m.dev(), m.ino(), m.size(), m.mtime(), m.mtime_nsec()),
            shape(opts),
        );
        if let Some(img) = self.by_file.get(&key) {
            return Ok(img.clone());
        }
        let img = Arc::new(load_path(path, opts)?);
        Ok(self.by_file.entry(key).or_insert(img).clone())
    }

    /// The image in `data`, loaded once per distinct content.
    pub fn load_bytes(&self, data: Bytes, opts: &LoadOptions) -> Result<Arc<Image>, ImageError> {
        let key = (*blake3::hash(&data).as_bytes(), shape(opts));
        if let Some(img) = self.by_digest.get(&key) {
            return Ok(img.clone());
        }
        let img = Arc::new(load_bytes(data, opts)?);
        Ok(self.by_digest.entry(key).or_insert(img).clone())
    }

    /// Forgets every image (those still in use stay alive with their users).
    pub fn clear(&self) {
        self.by_digest.clear();
        self.by_file.clear();
    }
}

fn shape(opts: &LoadOptions) -> Shape {
    (opts.oci_whiteouts, opts.limits)
}
