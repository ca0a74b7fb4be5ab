//! Loading a tar or tar.gz image as a read-only in-memory filesystem.
//!
//! The tar stream ends up in one buffer: the memory-mapped file for an uncompressed tar on
//! disk, the caller's `Bytes`, or a buffer the gzip stream is decompressed into once, in one
//! streaming pass (gzip is recognised by its magic bytes `1f 8b`, never by the file name).
//! Every regular file's contents are then a slice of that buffer (`Bytes`, zero-copy); the
//! buffer lives as long as any file still shares it. Per member the filesystem keeps only
//! its inode, its directory entry and that slice.
//!
//! # Hostile archives
//!
//! Nothing is ever written outside the image root, and each member is either normalised or
//! rejected with [`ImageError::Entry`] naming it:
//!
//! | case | decision |
//! |---|---|
//! | absolute name (`/etc/passwd`) | leading `/` stripped (Docker exports have them) |
//! | `./` prefixes, `//`, `.` components, trailing `/` | removed |
//! | `..` component anywhere | rejected: [`EntryProblem::DotDot`] |
//! | `/`, `.`, `./` | name the image root: a directory member sets the root's mode and times; any other type is [`EntryProblem::RootNotDirectory`] |
//! | empty name | [`EntryProblem::EmptyName`] |
//! | NUL inside a name (pax or GNU long name) | [`EntryProblem::Nul`] |
//! | name not UTF-8 | [`EntryProblem::NotUtf8`] (the error shows the name lossily) |
//! | component over 255 bytes | [`EntryProblem::ComponentTooLong`] |
//! | name over `Limits::max_path_len` | [`EntryProblem::NameTooLong`] |
//! | parent is a symlink loaded earlier (`link -> /etc`, then `link/passwd`) | rejected: [`EntryProblem::ThroughSymlink`]; links are never followed while loading (GNU tar refuses the same, through its delayed-link placeholders) |
//! | parent is a regular file | [`EntryProblem::ParentNotDirectory`] |
//! | missing parent directories | created implicitly, mode `0o755`, all times 0 (so loading is deterministic) |
//! | duplicate name | the last member wins, as with `tar -x`: a non-directory replaces whatever non-directory was there (other hard links to the old inode keep it); a directory over a directory only updates mode and times (entries stay); a directory over a non-directory replaces it |
//! | non-directory over a directory | replaces it if it is empty; over a non-empty directory (or one holding OCI whiteout markers) it is rejected: [`EntryProblem::ReplacesNonEmptyDir`] (GNU tar fails too) |
//! | hard link whose target has `..` / is malformed | [`EntryProblem::BadLinkTarget`] |
//! | hard link to a name not loaded yet, outside the image, or reachable only through a symlink | [`EntryProblem::LinkTargetMissing`] (absolute targets are read relative to the image root, like names) |
//! | hard link to a directory (or to the root) | [`EntryProblem::LinkToDirectory`] |
//! | hard link to its own name | no-op |
//! | symlink target | kept verbatim (absolute or with `..`: it is only ever interpreted by the sandbox's confined resolver); empty, NUL, non-UTF-8 or over the length limit: [`EntryProblem::BadSymlinkTarget`] |
//! | character/block devices, FIFOs | skipped, counted in [`LoadStats::devices`] (names still checked) |
//! | volume labels, unknown member types, global pax headers | skipped, counted in [`LoadStats::ignored`] |
//! | GNU sparse / pax sparse / multi-volume members | [`EntryProblem::Unsupported`] |
//! | header checksum wrong | [`EntryProblem::BadChecksum`] |
//! | declared size beyond the data | [`EntryProblem::Truncated`]; a partial header block: [`EntryProblem::TruncatedHeader`] |
//! | archive without the zero-block end marker | accepted; [`LoadStats::end_marker`] tells |
//! | pax size/path/linkpath/mtime disagreeing with the header | pax wins (the pax size decides where the next header is) |
//! | pax header over `Limits::max_pax_len`, GNU long name over `max_path_len` | [`EntryProblem::ExtensionTooLarge`] before anything is parsed |
//! | decompressed size over `Limits::max_image_bytes` (gzip bomb) | [`ImageError::TooLarge`], decompression stops at the limit |
//! | more headers than `Limits::max_entries` | [`ImageError::TooManyEntries`] |
//! | more inodes (members and implicit directories) than `Limits::max_inodes`: deep paths of new directories in every member | [`EntryProblem::TooManyInodes`] |
//! | zstd / xz / bzip2 data | [`ImageError::UnsupportedCompression`] |
//! | times before 1970 | clamped to 0 |
//!
//! With [`LoadOptions::oci_whiteouts`], `.wh.NAME` members become whiteouts of `NAME` in their
//! directory and `.wh..wh..opq` marks the directory opaque; they are returned in
//! [`Image::whiteouts`] / [`Image::opaque_dirs`] and never appear as files. A `.wh.` name used
//! as a directory on the way, or a whiteout of `.`, `..`, nothing or another `.wh.` name, is
//! [`EntryProblem::BadWhiteout`].

use super::error::{EntryProblem, ImageError};
use super::load_limits::Limits;
use super::tarparse::{Kind, Member, Walked, Walker, normalize};
use crate::vfs::dir::Ino;
use crate::vfs::memfs::ROOT_INO;
use crate::vfs::node::NodeKind;
use crate::vfs::{AbsoluteSymlinks, Clock, Errno, FileData, MemFs, SetTime, SystemClock};
use bytes::Bytes;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// How to load an image.
#[derive(Clone, Debug)]
pub struct LoadOptions {
    /// Size and count limits against hostile archives (default `Limits::DEFAULT`).
    pub limits: Limits,
    /// Interpret OCI layer whiteouts (`.wh.NAME`, `.wh..wh..opq`) instead of loading them as
    /// files.
    pub oci_whiteouts: bool,
    /// Memory-map an uncompressed tar file (`load_path`); otherwise it is read into memory.
    /// A mapped file must not be truncated or modified while the image is in use.
    pub mmap: bool,
    /// Walk the tar headers on a second thread while the tree is built (for tars of 4 MiB
    /// or more, when the machine has more than one CPU).
    pub parallel: bool,
    /// The clock the filesystem uses after loading (it is read-only, so this only matters if
    /// the caller makes it writable). Times while loading come from the archive, so loading
    /// is deterministic: the clock is never read during it.
    pub clock: Arc<dyn Clock>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            limits: Limits::default(),
            oci_whiteouts: false,
            mmap: true,
            parallel: true,
            clock: Arc::new(SystemClock),
        }
    }
}

impl LoadOptions {
    /// Defaults, with OCI whiteouts interpreted.
    pub fn oci() -> Self {
        LoadOptions {
            oci_whiteouts: true,
            ..Default::default()
        }
    }
}

/// Counts from one load.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadStats {
    /// The input was gzip-compressed.
    pub gzip: bool,
    /// Size of the tar stream (decompressed).
    pub tar_bytes: u64,
    /// Tar headers read, extension headers included.
    pub headers: u64,
    /// Regular-file members.
    pub files: u64,
    /// Directory members (including repeats of the same directory).
    pub dirs: u64,
    /// Directories created because a member needed them.
    pub implicit_dirs: u64,
    /// Symlink members.
    pub symlinks: u64,
    /// Hard-link members.
    pub hard_links: u64,
    /// Character and block devices and FIFOs, skipped.
    pub devices: u64,
    /// Volume labels, unknown member types and global pax headers, skipped.
    pub ignored: u64,
    /// OCI whiteouts (`.wh.NAME`) read.
    pub whiteouts: u64,
    /// OCI opaque markers (`.wh..wh..opq`) read.
    pub opaque: u64,
    /// Members that replaced an earlier member of the same name.
    pub replaced: u64,
    /// Bytes of regular-file contents (shared with the buffer, not copied).
    pub file_bytes: u64,
    /// The archive ended with its zero-block end marker.
    pub end_marker: bool,
}

/// A loaded image: a frozen, read-only filesystem, plus OCI whiteouts when asked for. Its
/// absolute symlinks resolve from the namespace root (`AbsoluteSymlinks::InRoot`): root
/// filesystems are full of them (`/usr/bin/python3 -> /usr/bin/python3.12`).
#[derive(Debug)]
pub struct Image {
    /// The tree, frozen: mount it or stack it; every run writes into a fork.
    pub fs: MemFs,
    /// `(directory, name)`: `name` is whited out in that directory (sorted).
    pub whiteouts: Vec<(Ino, String)>,
    /// Directories marked opaque (sorted).
    pub opaque_dirs: Vec<Ino>,
    /// What the load counted.
    pub stats: LoadStats,
}

/// Loads the tar or tar.gz file at `path`. An uncompressed tar in a regular file is
/// memory-mapped (see [`LoadOptions::mmap`]) and its file contents are slices of the mapping;
/// a compressed one is mapped while it is decompressed. Pipes and devices are read as streams.
pub fn load_path(path: impl AsRef<Path>, opts: &LoadOptions) -> Result<Image, ImageError> {
    let path = path.as_ref();
    let io_err = |source| ImageError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let meta = file.metadata().map_err(io_err)?;
    if !opts.mmap || !meta.is_file() {
        // Pipes and devices (`/dev/stdin`, `<(zcat …)`) cannot be mapped: read them, bounded.
        return load_reader(file, opts).map_err(|e| match e {
            ImageError::Io { source, .. } => io_err(source),
            other => other,
        });
    }
    let len = meta.len();
    if len == 0 {
        return load_bytes(Bytes::new(), opts);
    }
    let mut magic = [0u8; 10];
    let head = &mut magic[..len.min(10) as usize];
    file.read_exact_at(head, 0).map_err(io_err)?;
    if let Format::Gzip = detect(head)? {
        // Streamed through a small buffer rather than mapped: the compressed pages then stay
        // in the page cache instead of adding to this process's peak memory beside the
        // decompressed tar.
        let mut out = Vec::new();
        if len >= 18 {
            let mut tail = [0u8; 4];
            file.read_exact_at(&mut tail, len - 4).map_err(io_err)?;
            reserve_hint(&mut out, tail, &opts.limits);
        }
        let reader = BufReader::with_capacity(256 * 1024, &file);
        gunzip(reader, &mut out, opts.limits.max_image_bytes)?;
        return build(Bytes::from(trimmed(out)), true, opts);
    }
    // SAFETY: the mapping is read-only; the caller is told (LoadOptions::mmap) that the file
    // must not change while the image is in use.
    let map = unsafe { memmap2::Mmap::map(&file) }.map_err(io_err)?;
    check_size(len, &opts.limits)?;
    build(Bytes::from_owner(map), false, opts)
}

/// Loads a tar or tar.gz image held in memory; an uncompressed tar's file contents are slices
/// of `data`.
pub fn load_bytes(data: Bytes, opts: &LoadOptions) -> Result<Image, ImageError> {
    match detect(&data)? {
        Format::Gzip => {
            let tar = gunzip_slice(&data, &opts.limits)?;
            drop(data);
            build(Bytes::from(tar), true, opts)
        }
        Format::Tar => {
            check_size(data.len() as u64, &opts.limits)?;
            build(data, false, opts)
        }
    }
}

/// Loads a tar or tar.gz image from a stream, read to its end once (into one buffer).
pub fn load_reader<R: Read>(mut reader: R, opts: &LoadOptions) -> Result<Image, ImageError> {
    let io_err = |source| ImageError::Io {
        path: "<reader>".into(),
        source,
    };
    // Enough of the start to recognise the format, however the reader splits its data.
    let mut head = Vec::with_capacity(MAGIC_LEN);
    (&mut reader)
        .take(MAGIC_LEN as u64)
        .read_to_end(&mut head)
        .map_err(io_err)?;
    let format = detect(&head)?;
    let rest = io::Cursor::new(head).chain(reader);
    let limit = opts.limits.max_image_bytes;
    let mut out = Vec::new();
    match format {
        Format::Gzip => {
            gunzip(BufReader::with_capacity(256 * 1024, rest), &mut out, limit)?;
            build(Bytes::from(out), true, opts)
        }
        Format::Tar => {
            rest.take(limit.saturating_add(1))
                .read_to_end(&mut out)
                .map_err(io_err)?;
            check_size(out.len() as u64, &opts.limits)?;
            build(Bytes::from(out), false, opts)
        }
    }
}

/// Bytes `detect` looks at.
const MAGIC_LEN: usize = 10;

enum Format {
    Tar,
    Gzip,
}

/// Recognises the input by its first bytes. None of these magics can start an acceptable tar:
/// each would make the first member's name invalid UTF-8 (bzip2's is checked in full).
fn detect(head: &[u8]) -> Result<Format, ImageError> {
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Format::Gzip)
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Err(ImageError::UnsupportedCompression("zstd"))
    } else if head.starts_with(b"\xfd7zXZ\0") {
        Err(ImageError::UnsupportedCompression("xz"))
    } else if head.len() >= 10
        && head.starts_with(b"BZh")
        && (b'1'..=b'9').contains(&head[3])
        && &head[4..10] == b"1AY&SY"
    {
        Err(ImageError::UnsupportedCompression("bzip2"))
    } else {
        Ok(Format::Tar)
    }
}

fn check_size(len: u64, limits: &Limits) -> Result<(), ImageError> {
    if len > limits.max_image_bytes {
        Err(ImageError::TooLarge {
            limit: limits.max_image_bytes,
        })
    } else {
        Ok(())
    }
}

/// Decompresses a whole gzip file held in memory, sizing the buffer from the trailer's
/// length field (a hint only: it is the last member's size modulo 4 GiB, and may lie).
fn gunzip_slice(data: &[u8], limits: &Limits) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    if data.len() >= 18 {
        let tail: [u8; 4] = data[data.len() - 4..].try_into().expect("4 bytes");
        reserve_hint(&mut out, tail, limits);
    }
    gunzip(data, &mut out, limits.max_image_bytes)?;
    Ok(trimmed(out))
}

/// Reserves what a gzip trailer's size field announces, within the image size limit.
/// Untouched capacity costs address space only; a failure is no error.
fn reserve_hint(out: &mut Vec<u8>, trailer_size: [u8; 4], limits: &Limits) {
    let hint = u64::from(u32::from_le_bytes(trailer_size)).min(limits.max_image_bytes);
    let _ = out.try_reserve_exact(hint as usize);
}

/// Gives back a wrong hint's unused capacity (over 1 MiB of it).
fn trimmed(mut out: Vec<u8>) -> Vec<u8> {
    if out.capacity() - out.len() > 1 << 20 {
        out.shrink_to_fit();
    }
    out
}

/// Decompresses every gzip member of `input` into `out`, stopping with `TooLarge` as soon as
/// more than `limit` bytes come out. Zero bytes after the last member (tape padding) are
/// allowed; anything else there is an error.
fn gunzip<R: BufRead>(mut input: R, out: &mut Vec<u8>, limit: u64) -> Result<(), ImageError> {
    loop {
        let room = (limit + 1).saturating_sub(out.len() as u64);
        flate2::bufread::GzDecoder::new(&mut input)
            .take(room)
            .read_to_end(out)
            .map_err(ImageError::Gzip)?;
        if out.len() as u64 > limit {
            return Err(ImageError::TooLarge { limit });
        }
        // Another member, padding, or the end.
        loop {
            let rest = input.fill_buf().map_err(ImageError::Gzip)?;
            if rest.is_empty() {
                return Ok(());
            }
            if rest[0] == 0x1f {
                break;
            }
            if rest.iter().any(|&b| b != 0) {
                return Err(ImageError::Gzip(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "trailing data after the gzip stream",
                )));
            }
            let n = rest.len();
            input.consume(n);
        }
    }
}

/// Times the filesystem stamps while loading come from here: pinned to the archive's value
/// for the member at hand, then handed over to the caller's clock.
#[derive(Debug)]
struct ImageClock {
    pinned: AtomicU64,
    inner: Arc<dyn Clock>,
}

const UNPINNED: u64 = u64::MAX;

impl ImageClock {
    fn pin(&self, t: u64) {
        self.pinned.store(t.min(UNPINNED - 1), Ordering::Relaxed);
    }
}

impl Clock for ImageClock {
    fn now_ns(&self) -> u64 {
        match self.pinned.load(Ordering::Relaxed) {
            UNPINNED => self.inner.now_ns(),
            t => t,
        }
    }
}

/// Indexes the tar stream in `buf` into a new filesystem.
fn build(buf: Bytes, gzip: bool, opts: &LoadOptions) -> Result<Image, ImageError> {
    let clock = Arc::new(ImageClock {
        pinned: AtomicU64::new(0),
        inner: opts.clock.clone(),
    });
    let mut tree = Tree {
        fs: MemFs::new(0, clock.clone()).with_absolute_symlinks(AbsoluteSymlinks::InRoot),
        clock,
        oci: opts.oci_whiteouts,
        limits: opts.limits,
        dir_times: HashMap::new(),
        marked: HashSet::new(),
        whiteouts: BTreeSet::new(),
        opaque: BTreeSet::new(),
        stats: LoadStats {
            gzip,
            tar_bytes: buf.len() as u64,
            ..Default::default()
        },
        cache: ParentCache::default(),
        inodes: 0,
    };
    tree.dir_times.insert(ROOT_INO, Times::default());
    let parallel = opts.parallel
        && buf.len() >= PIPELINE_MIN_BYTES
        && std::thread::available_parallelism().is_ok_and(|n| n.get() > 1);
    let walked = if parallel {
        walk_pipelined(&buf, opts.limits, &mut tree)?
    } else {
        let mut walker = Walker::new(&buf, opts.limits);
        while let Some(m) = walker.next_member()? {
            tree.apply_member(&m, &buf)?;
        }
        walker.summary()
    };
    tree.stats.headers = walked.headers;
    tree.stats.ignored += walked.ignored;
    tree.stats.end_marker = walked.end_marker;
    tree.finish()
}

/// Below this tar size, members are walked and added on one thread.
const PIPELINE_MIN_BYTES: usize = 4 << 20;
/// Members handed from the walking thread to the building thread at a time.
const BATCH: usize = 256;

/// Walks the headers on a second thread (touching each header page is a good part of the
/// work: cache misses and page faults) while this thread adds the members to the tree.
fn walk_pipelined(buf: &Bytes, limits: Limits, tree: &mut Tree) -> Result<Walked, ImageError> {
    use std::sync::mpsc::sync_channel;
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel::<Vec<Result<Member<'_>, ImageError>>>(8);
        let data: &[u8] = buf;
        let walker = scope.spawn(move || {
            let mut walker = Walker::new(data, limits);
            loop {
                let mut batch = Vec::with_capacity(BATCH);
                let mut done = false;
                while batch.len() < BATCH {
                    match walker.next_member() {
                        Ok(Some(m)) => batch.push(Ok(m)),
                        Ok(None) => {
                            done = true;
                            break;
                        }
                        Err(e) => {
                            batch.push(Err(e));
                            done = true;
                            break;
                        }
                    }
                }
                // A closed channel means the builder failed: stop walking.
                if tx.send(batch).is_err() || done {
                    return walker.summary();
                }
            }
        });
        for batch in rx.iter() {
            for m in batch {
                tree.apply_member(&m?, buf)?;
            }
        }
        Ok(walker.join().expect("the tar walker does not panic"))
    })
}

#[derive(Clone, Copy, Debug, Default)]
struct Times {
    atime: u64,
    mtime: u64,
    ctime: u64,
}

/// What a link member points at, checked before anything is changed.
struct Target<'b> {
    link: Option<Ino>,
    symlink: Option<&'b str>,
}

/// The last parent path resolved, with the inode of every directory on the way.
#[derive(Default)]
struct ParentCache {
    path: String,
    /// `(end, ino)`: `path[..end]` is the directory `ino`; ends increase.
    chain: Vec<(usize, Ino)>,
}

impl ParentCache {
    fn clear(&mut self) {
        self.path.clear();
        self.chain.clear();
    }
}

struct Tree {
    fs: MemFs,
    clock: Arc<ImageClock>,
    oci: bool,
    limits: Limits,
    /// Every directory's final times, applied at the end (adding entries touches them).
    dir_times: HashMap<Ino, Times>,
    /// Directories holding whiteout markers: not empty, though they have no entries.
    marked: HashSet<Ino>,
    whiteouts: BTreeSet<(Ino, String)>,
    opaque: BTreeSet<Ino>,
    stats: LoadStats,
    /// The directories on the way to the last parent resolved.
    cache: ParentCache,
    /// Inodes created so far (members and implicit directories), against `max_inodes`.
    inodes: u64,
}

fn fs_err(e: Errno) -> EntryProblem {
    EntryProblem::Fs(e)
}

impl Tree {
    fn apply_member(&mut self, m: &Member<'_>, buf: &Bytes) -> Result<(), ImageError> {
        self.apply(m, buf)
            .map_err(|problem| ImageError::entry_error(&m.name, m.offset, problem))
    }

    fn apply(&mut self, m: &Member<'_>, buf: &Bytes) -> Result<(), EntryProblem> {
        if m.kind == Kind::Other {
            // Volume labels (whose "name" is free text) and unknown types: not materialised.
            return Ok(());
        }
        let (path, name_at) = match &m.path {
            Ok((p, at)) => (&**p, *at),
            Err(e) => return Err(e.clone()),
        };
        if m.kind == Kind::Device {
            self.stats.devices += 1;
            return Ok(());
        }
        let times = Times {
            atime: m.atime.unwrap_or(m.mtime),
            mtime: m.mtime,
            ctime: m.ctime.unwrap_or(m.mtime),
        };
        self.clock.pin(times.ctime);
        if path.is_empty() {
            if m.kind != Kind::Dir {
                return Err(EntryProblem::RootNotDirectory);
            }
            self.stats.dirs += 1;
            self.fs.set_mode(ROOT_INO, m.mode).map_err(fs_err)?;
            self.dir_times.insert(ROOT_INO, times);
            return Ok(());
        }
        let (parent_path, name) = (&path[..name_at.saturating_sub(1)], &path[name_at..]);
        if self.oci {
            if parent_path.split('/').any(|c| c.starts_with(".wh.")) {
                return Err(EntryProblem::BadWhiteout);
            }
            if let Some(target) = name.strip_prefix(".wh.") {
                let parent = self.parent_dir(parent_path)?;
                if target == ".wh..opq" {
                    self.opaque.insert(parent);
                    self.stats.opaque += 1;
                } else if target.is_empty()
                    || target == "."
                    || target == ".."
                    || target.starts_with(".wh.")
                {
                    return Err(EntryProblem::BadWhiteout);
                } else {
                    self.whiteouts.insert((parent, target.to_string()));
                    self.stats.whiteouts += 1;
                }
                self.marked.insert(parent);
                return Ok(());
            }
        }
        // A hard link's target is found before anything is replaced (it may be that entry).
        let link_target = match (m.kind, m.link) {
            (Kind::HardLink, Some(target)) => Some(self.hard_link_target(target)?),
            (Kind::HardLink, None) => {
                return Err(EntryProblem::BadLinkTarget {
                    target: String::new(),
                    problem: Box::new(EntryProblem::EmptyName),
                });
            }
            _ => None,
        };
        let symlink_target = match (m.kind, m.link) {
            (Kind::Symlink, target) => Some(self.symlink_target(target.unwrap_or(b""))?),
            _ => None,
        };
        let parent = self.parent_dir(parent_path)?;
        let target = Target {
            link: link_target,
            symlink: symlink_target,
        };
        // The name is usually new: create first, handle a duplicate only when there is one.
        let old = match self.create(parent, name, m, buf, &target, times) {
            Err(EntryProblem::Fs(Errno::Exist)) => self
                .fs
                .lookup(parent, name)
                .map_err(fs_err)?
                .ok_or(EntryProblem::Fs(Errno::Exist))?,
            other => return other,
        };
        let old_is_dir = self.fs.node(old).map_err(fs_err)?.is_dir();
        if m.kind == Kind::Dir && old_is_dir {
            // Same directory again: new mode and times, entries kept.
            self.stats.dirs += 1;
            self.fs.set_mode(old, m.mode).map_err(fs_err)?;
            self.dir_times.insert(old, times);
            return Ok(());
        }
        if link_target == Some(old) {
            // A hard link to the name it replaces (or to another name of the same inode).
            self.stats.hard_links += 1;
            return Ok(());
        }
        self.remove(parent, name, old, old_is_dir)?;
        self.create(parent, name, m, buf, &target, times)
    }

    /// Adds the member as the new entry `name` of `parent` (`EEXIST` if the name is taken).
    fn create(
        &mut self,
        parent: Ino,
        name: &str,
        m: &Member<'_>,
        buf: &Bytes,
        target: &Target<'_>,
        times: Times,
    ) -> Result<(), EntryProblem> {
        if m.kind != Kind::HardLink && self.inodes >= self.limits.max_inodes {
            return Err(EntryProblem::TooManyInodes {
                limit: self.limits.max_inodes,
            });
        }
        // New inodes take their three times from the clock: pinned to the mtime, the usual
        // case needs no second update.
        self.clock.pin(times.mtime);
        let ino = match m.kind {
            Kind::Dir => {
                let ino = self.fs.mkdir(parent, name, m.mode).map_err(fs_err)?;
                self.dir_times.insert(ino, times);
                self.stats.dirs += 1;
                ino
            }
            Kind::File => {
                let data = FileData::from_bytes(buf.slice(m.data.clone()));
                let ino = self
                    .fs
                    .create_file_with(parent, name, data, m.mode)
                    .map_err(fs_err)?;
                self.stats.files += 1;
                self.stats.file_bytes += m.data.len() as u64;
                ino
            }
            Kind::Symlink => {
                let t = target.symlink.expect("checked by apply");
                let ino = self.fs.symlink(parent, name, t).map_err(fs_err)?;
                self.stats.symlinks += 1;
                ino
            }
            Kind::HardLink => {
                // Linking changes the target inode: its ctime becomes this member's.
                self.clock.pin(times.ctime);
                let t = target.link.expect("checked by apply");
                self.fs.link(parent, name, t).map_err(fs_err)?;
                self.stats.hard_links += 1;
                return Ok(());
            }
            Kind::Device | Kind::Other => unreachable!("skipped by apply"),
        };
        self.inodes += 1;
        if m.kind != Kind::Dir && (times.atime != times.mtime || times.ctime != times.mtime) {
            self.clock.pin(times.ctime);
            self.fs
                .set_times(ino, SetTime::At(times.atime), SetTime::At(times.mtime))
                .map_err(fs_err)?;
        }
        Ok(())
    }

    /// Removes the entry `name` (inode `old`) so that a member can take its place.
    fn remove(
        &mut self,
        parent: Ino,
        name: &str,
        old: Ino,
        is_dir: bool,
    ) -> Result<(), EntryProblem> {
        if is_dir {
            let empty = self.fs.dir(old).map_err(fs_err)?.entries.is_empty();
            if !empty || self.marked.contains(&old) {
                return Err(EntryProblem::ReplacesNonEmptyDir);
            }
            self.fs.rmdir(parent, name).map_err(fs_err)?;
            self.dir_times.remove(&old);
            self.cache.clear();
        } else {
            self.fs.unlink(parent, name).map_err(fs_err)?;
        }
        self.stats.replaced += 1;
        Ok(())
    }

    /// The directory `path` (normalised, relative to the root), creating missing ones.
    fn parent_dir(&mut self, path: &str) -> Result<Ino, EntryProblem> {
        if path.is_empty() {
            return Ok(ROOT_INO);
        }
        // Resume from the deepest directory this path shares with the previous one: consecutive
        // members usually share most of their parents, and a deep path is then not walked
        // again from the root for every member.
        let cache = &mut self.cache;
        let common = path
            .bytes()
            .zip(cache.path.bytes())
            .take_while(|(a, b)| a == b)
            .count();
        let bytes = path.as_bytes();
        let keep = cache
            .chain
            .iter()
            .take_while(|&&(end, _)| {
                end < common || (end == common && (end == bytes.len() || bytes[end] == b'/'))
            })
            .count();
        cache.chain.truncate(keep);
        let (mut cur, mut start) = match cache.chain.last() {
            Some(&(end, ino)) => (ino, end + 1),
            None => (ROOT_INO, 0),
        };
        cache.path.clear();
        cache.path.push_str(path);
        while start <= path.len() {
            let end = path[start..].find('/').map_or(path.len(), |i| start + i);
            let comp = &path[start..end];
            let next = match self.fs.lookup(cur, comp).map_err(fs_err)? {
                Some(ino) => match &self.fs.node(ino).map_err(fs_err)?.kind {
                    NodeKind::Dir(_) => ino,
                    other => {
                        self.cache.clear();
                        let parent = path[..end].to_string();
                        return Err(match other {
                            NodeKind::Symlink(_) => EntryProblem::ThroughSymlink { parent },
                            _ => EntryProblem::ParentNotDirectory { parent },
                        });
                    }
                },
                None => {
                    self.inodes += 1;
                    if self.inodes > self.limits.max_inodes {
                        self.cache.clear();
                        return Err(EntryProblem::TooManyInodes {
                            limit: self.limits.max_inodes,
                        });
                    }
                    let ino = self.fs.mkdir(cur, comp, 0o755).map_err(fs_err)?;
                    self.dir_times.insert(ino, Times::default());
                    self.stats.implicit_dirs += 1;
                    ino
                }
            };
            self.cache.chain.push((end, next));
            cur = next;
            start = end + 1;
        }
        Ok(cur)
    }

    /// The existing non-directory a hard link names, looked up without following symlinks.
    fn hard_link_target(&self, raw: &[u8]) -> Result<Ino, EntryProblem> {
        let lossy = || String::from_utf8_lossy(raw).into_owned();
        let (path, _) =
            normalize(raw, self.limits.max_path_len).map_err(|p| EntryProblem::BadLinkTarget {
                target: lossy(),
                problem: Box::new(p),
            })?;
        let missing = || EntryProblem::LinkTargetMissing { target: lossy() };
        let mut cur = ROOT_INO;
        if !path.is_empty() {
            for comp in path.split('/') {
                let dir = match self.fs.dir(cur) {
                    Ok(d) => d,
                    Err(_) => return Err(missing()),
                };
                cur = dir.entries.get(comp).ok_or_else(missing)?;
            }
        }
        if self.fs.node(cur).map_err(fs_err)?.is_dir() {
            return Err(EntryProblem::LinkToDirectory { target: lossy() });
        }
        Ok(cur)
    }

    fn symlink_target<'b>(&self, raw: &'b [u8]) -> Result<&'b str, EntryProblem> {
        let bad = |p| EntryProblem::BadSymlinkTarget(Box::new(p));
        if raw.is_empty() {
            return Err(bad(EntryProblem::EmptyName));
        }
        if raw.contains(&0) {
            return Err(bad(EntryProblem::Nul));
        }
        if raw.len() > self.limits.max_path_len {
            return Err(bad(EntryProblem::NameTooLong {
                limit: self.limits.max_path_len,
            }));
        }
        std::str::from_utf8(raw).map_err(|_| bad(EntryProblem::NotUtf8))
    }

    fn finish(mut self) -> Result<Image, ImageError> {
        let internal = |errno| ImageError::entry_error(b"", 0, EntryProblem::Fs(errno));
        for (&ino, &t) in &self.dir_times {
            self.clock.pin(t.ctime);
            self.fs
                .set_times(ino, SetTime::At(t.atime), SetTime::At(t.mtime))
                .map_err(internal)?;
        }
        self.clock.pinned.store(UNPINNED, Ordering::Relaxed);
        self.fs.freeze();
        self.fs.set_readonly(true);
        Ok(Image {
            fs: self.fs,
            whiteouts: self.whiteouts.into_iter().collect(),
            opaque_dirs: self.opaque.into_iter().collect(),
            stats: self.stats,
        })
    }
}
