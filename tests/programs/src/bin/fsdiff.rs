//! `fsdiff SEED OPS DIR`: a seeded pseudo-random sequence of OPS filesystem operations inside
//! the directory DIR, one normalised line per operation (the operation, its arguments, its
//! result or error name), for the differential test `tests/fs_differential.rs`: the same source
//! is built natively and for wasm32-wasip1, run on a host directory and on strata (and on
//! wasmtime), and the outputs must be equal line for line, except for the documented
//! differences listed there.
//!
//! Std only and self-contained (it does not use the crate's library), so it also builds for
//! the host with a plain `rustc`. What std does not offer on both targets (open flags, link
//! counts, positional I/O, calls relative to an open directory) goes through a small `sys`
//! module per target: the raw `wasi_snapshot_preview1` calls on WASI, std's unix extensions
//! (and /proc/self/fd/N for `*at` calls) natively.
//!
//! Output: no inode numbers, times or host paths; sizes, file types, link counts, file contents
//! and symlink targets are printed. Errors are printed by name (`NOENT`): Linux errnos and WASI
//! errnos are mapped to the same names. Names come from a small pool so that operations collide
//! often. Before an operation touches a path, the program walks it itself (lstat and readlink of
//! each component, physically, as the kernel would) and skips the operation with `skip escape`
//! when resolving it would leave DIR (or, for calls relative to a handle, its directory):
//! natively that would reach the host outside the test directory, while a WASI runtime refuses
//! it (that refusal is tested by `escape.wasm`).
//!
//! A full listing of DIR (`tree`) is printed every 25 operations and at the end.

use std::fs::{self, File};
use std::io::{self, Read, Seek, SeekFrom, Write};

// ---------------------------------------------------------------------------------------------
// PRNG: splitmix64, identical on every target

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len() as u64) as usize]
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

// ---------------------------------------------------------------------------------------------
// names

/// Paths relative to DIR. `tests/fs_differential.rs` builds its populated tree from the same
/// names.
#[rustfmt::skip]
const NAMES: &[&str] = &[
    "a", "b", "c", "d", "l", "d/a", "d/e", "d/l", "d/e/a", "d/e/f", "x", "n", "d/e/n",
];

/// Symlink targets: relative only (WASI guests cannot make absolute ones), dangling, to
/// directories, through `..`, to themselves, with trailing slashes.
#[rustfmt::skip]
const TARGETS: &[&str] = &[
    "a", "b", "d", "d/e", "e", "f", "l", ".", "..", "../a", "../d", "../l", "../d/e/a", "a/", "d/",
    "d/../a", "nowhere", "nowhere/x", "e/a", "./a", "x",
];

const DATA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A path to operate on: a name from the pool (top-level names twice as often), sometimes
/// decorated with a trailing slash, `.`/`..` components, doubled slashes or a symlink prefix.
fn path(rng: &mut Rng) -> String {
    let base = if rng.chance(40) {
        *rng.pick(&NAMES[..5])
    } else {
        *rng.pick(NAMES)
    };
    match rng.below(32) {
        0 | 1 => format!("{base}/"),
        2 => format!("./{base}"),
        3 => format!("d/../{base}"),
        4 => format!("{base}/."),
        5 => format!("{base}/.."),
        6 => base.replace('/', "//"),
        7 => ".".to_string(),
        8 => format!("{base}//"),
        9 => format!("d/e/../{base}"),
        10 => format!("l/{base}"),
        _ => base.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------
// errors by name

fn errno_name(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => sys::errno_name(code).map_or_else(|| format!("errno{code}"), str::to_string),
        None => format!("kind:{:?}", e.kind()),
    }
}

fn show<T>(r: &io::Result<T>, ok: impl FnOnce(&T) -> String) -> String {
    match r {
        Ok(v) => ok(v),
        Err(e) => format!("err {}", errno_name(e)),
    }
}

fn unit(r: io::Result<()>) -> String {
    show(&r, |_| "ok".to_string())
}

/// A file's contents: quoted when short, else their FNV-1a hash and their last bytes.
fn contents(b: &[u8]) -> String {
    if b.len() <= 64 {
        return format!("{:?}", bytes(b));
    }
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &c in b {
        h = (h ^ c as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("fnv={h:016x} ...{:?}", bytes(&b[b.len() - 16..]))
}

/// An offset or a size: mostly below `small`, sometimes around the 64 KiB and 128 KiB
/// boundaries (strata keeps file data in 64 KiB blocks).
fn offset(rng: &mut Rng, small: u64) -> u64 {
    match rng.below(20) {
        0..=2 => 65_530 + rng.below(14),
        3 => 131_066 + rng.below(14),
        _ => rng.below(small),
    }
}

/// Bytes as text: printable ASCII as is, NUL (holes) as `_`, anything else as `\xNN`.
fn bytes(b: &[u8]) -> String {
    let mut s = String::new();
    for &c in b {
        match c {
            0 => s.push('_'),
            b'!'..=b'~' => s.push(c as char),
            _ => s.push_str(&format!("\\x{c:02x}")),
        }
    }
    s
}

// ---------------------------------------------------------------------------------------------
// file status, the same on every target

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
    Symlink,
    Other,
}

struct Stat {
    kind: Kind,
    size: u64,
    nlink: u64,
}

impl Stat {
    /// Type, size (not for directories: their sizes are the filesystem's business) and link
    /// count.
    fn show(&self) -> String {
        match self.kind {
            Kind::File => format!("file size={} nlink={}", self.size, self.nlink),
            Kind::Dir => format!("dir nlink={}", self.nlink),
            Kind::Symlink => format!("symlink size={} nlink={}", self.size, self.nlink),
            Kind::Other => format!("other nlink={}", self.nlink),
        }
    }
}

/// Open flags, named as printed.
#[derive(Clone, Copy)]
struct Flags {
    read: bool,
    write: bool,
    append: bool,
    create: bool,
    excl: bool,
    trunc: bool,
    directory: bool,
    nofollow: bool,
}

impl Flags {
    fn random(rng: &mut Rng) -> Flags {
        let (read, write, append) = *rng.pick(&[
            (true, false, false),
            (true, false, false),
            (false, true, false),
            (true, true, false),
            (true, true, false),
            (false, true, true),
            (true, true, true),
        ]);
        Flags {
            read,
            write,
            append,
            create: rng.chance(60),
            excl: rng.chance(15),
            trunc: rng.chance(15),
            directory: rng.chance(12),
            nofollow: rng.chance(12),
        }
        .avoiding_documented()
    }

    /// Without `creat`, `dir` comes without `excl` and `trunc`: WASI runtimes refuse those
    /// combinations (EINVAL, as wasmtime), while Linux ignores `excl` and opens the directory,
    /// so the two would go on with different handles (see tests/fs_differential.rs).
    fn avoiding_documented(mut self) -> Flags {
        if self.directory && !self.create {
            self.excl = false;
            self.trunc = false;
        }
        self
    }

    fn tag(&self) -> String {
        let access = match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            _ => "w",
        };
        if self.append {
            format!("{access}+a")
        } else {
            access.to_string()
        }
    }

    fn show(&self) -> String {
        let mut v = Vec::new();
        let access = match (self.read, self.write) {
            (true, true) => "rw",
            (true, false) => "r",
            _ => "w",
        };
        v.push(access);
        for (on, name) in [
            (self.append, "append"),
            (self.create, "creat"),
            (self.excl, "excl"),
            (self.trunc, "trunc"),
            (self.directory, "dir"),
            (self.nofollow, "nofollow"),
        ] {
            if on {
                v.push(name);
            }
        }
        v.join("|")
    }
}

// ---------------------------------------------------------------------------------------------
// the target-specific calls

#[cfg(target_os = "wasi")]
mod sys {
    //! Raw wasi_snapshot_preview1 calls, relative to the preopen named DIR.
    use super::{Flags, Kind, Stat};
    use std::fs::File;
    use std::io;
    use std::os::fd::FromRawFd;

    #[link(wasm_import_module = "wasi_snapshot_preview1")]
    extern "C" {
        fn fd_prestat_get(fd: u32, buf: *mut u8) -> i32;
        fn fd_prestat_dir_name(fd: u32, path: *mut u8, len: usize) -> i32;
        #[allow(clippy::too_many_arguments)]
        fn path_open(
            fd: u32,
            dirflags: u32,
            path: *const u8,
            path_len: usize,
            oflags: u32,
            rights_base: u64,
            rights_inheriting: u64,
            fdflags: u32,
            opened: *mut u32,
        ) -> i32;
        fn path_filestat_get(
            fd: u32,
            flags: u32,
            path: *const u8,
            path_len: usize,
            buf: *mut u8,
        ) -> i32;
        fn fd_filestat_get(fd: u32, buf: *mut u8) -> i32;
        fn path_readlink(
            fd: u32,
            path: *const u8,
            path_len: usize,
            buf: *mut u8,
            buf_len: usize,
            used: *mut usize,
        ) -> i32;
        fn path_create_directory(fd: u32, path: *const u8, path_len: usize) -> i32;
        fn path_unlink_file(fd: u32, path: *const u8, path_len: usize) -> i32;
        fn path_remove_directory(fd: u32, path: *const u8, path_len: usize) -> i32;
        fn path_rename(
            fd: u32,
            old: *const u8,
            old_len: usize,
            new_fd: u32,
            new: *const u8,
            new_len: usize,
        ) -> i32;
        fn path_link(
            old_fd: u32,
            old_flags: u32,
            old: *const u8,
            old_len: usize,
            new_fd: u32,
            new: *const u8,
            new_len: usize,
        ) -> i32;
        fn fd_pread(fd: u32, iovs: *const u32, n: usize, off: u64, nread: *mut usize) -> i32;
        fn fd_pwrite(fd: u32, iovs: *const u32, n: usize, off: u64, nwritten: *mut usize) -> i32;
    }

    #[rustfmt::skip]
    const ERRNO_NAMES: [&str; 77] = [
        "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN",
        "ALREADY", "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED",
        "CONNRESET", "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG",
        "HOSTUNREACH", "IDRM", "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR",
        "LOOP", "MFILE", "MLINK", "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET",
        "NETUNREACH", "NFILE", "NOBUFS", "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM",
        "NOMSG", "NOPROTOOPT", "NOSPC", "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY",
        "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY", "NXIO", "OVERFLOW", "OWNERDEAD", "PERM",
        "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE", "RANGE", "ROFS", "SPIPE", "SRCH", "STALE",
        "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
    ];

    pub fn errno_name(code: i32) -> Option<&'static str> {
        ERRNO_NAMES.get(usize::try_from(code).ok()?).copied()
    }

    fn check(e: i32) -> io::Result<()> {
        if e == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(e))
        }
    }

    /// A directory paths are resolved from: the preopen named DIR, or an open directory.
    pub struct Base {
        fd: u32,
        prefix: String,
    }

    impl Base {
        pub fn new(dir: &str) -> Base {
            for fd in 3..64 {
                let mut pre = [0u8; 8];
                if unsafe { fd_prestat_get(fd, pre.as_mut_ptr()) } != 0 {
                    break;
                }
                let len = u32::from_le_bytes([pre[4], pre[5], pre[6], pre[7]]) as usize;
                let mut name = vec![0u8; len];
                if unsafe { fd_prestat_dir_name(fd, name.as_mut_ptr(), len) } != 0 {
                    continue;
                }
                if name == dir.as_bytes() {
                    return Base {
                        fd,
                        prefix: dir.to_string(),
                    };
                }
            }
            panic!("fsdiff: {dir} is not a preopened directory");
        }

        /// The open directory `f` (its fd as the base of `*at` calls).
        pub fn of(f: &File) -> Base {
            use std::os::fd::AsRawFd;
            Base {
                fd: f.as_raw_fd() as u32,
                prefix: String::new(),
            }
        }

        /// DIR/rel, for std's calls (the preopen only).
        pub fn full(&self, rel: &str) -> String {
            format!("{}/{rel}", self.prefix)
        }
    }

    pub fn readlink(base: &Base, rel: &str) -> io::Result<String> {
        let mut buf = vec![0u8; 256];
        let mut used = 0usize;
        check(unsafe {
            path_readlink(
                base.fd,
                rel.as_ptr(),
                rel.len(),
                buf.as_mut_ptr(),
                buf.len(),
                &mut used,
            )
        })?;
        buf.truncate(used);
        Ok(String::from_utf8_lossy(&buf).into_owned())
    }

    pub fn mkdir(base: &Base, rel: &str) -> io::Result<()> {
        check(unsafe { path_create_directory(base.fd, rel.as_ptr(), rel.len()) })
    }

    pub fn unlink(base: &Base, rel: &str) -> io::Result<()> {
        check(unsafe { path_unlink_file(base.fd, rel.as_ptr(), rel.len()) })
    }

    pub fn rmdir(base: &Base, rel: &str) -> io::Result<()> {
        check(unsafe { path_remove_directory(base.fd, rel.as_ptr(), rel.len()) })
    }

    pub fn rename(a: &Base, p: &str, b: &Base, q: &str) -> io::Result<()> {
        check(unsafe { path_rename(a.fd, p.as_ptr(), p.len(), b.fd, q.as_ptr(), q.len()) })
    }

    /// `linkat(a, p, b, q, 0)`: a final symlink is linked itself.
    pub fn link(a: &Base, p: &str, b: &Base, q: &str) -> io::Result<()> {
        check(unsafe { path_link(a.fd, 0, p.as_ptr(), p.len(), b.fd, q.as_ptr(), q.len()) })
    }

    /// The 29 rights of wasi_snapshot_preview1 (wasmtime refuses undefined bits).
    const R_ALL: u64 = (1 << 29) - 1;
    const R_DATASYNC: u64 = 1 << 0;
    const R_READ: u64 = 1 << 1;
    const R_WRITE: u64 = 1 << 6;
    const R_ALLOCATE: u64 = 1 << 8;
    const R_READDIR: u64 = 1 << 14;
    const R_FILESTAT_SET_SIZE: u64 = 1 << 22;

    /// `openat(base, rel, flags)`, asking for the rights wasi-libc's `openat` asks for: every
    /// right but those of the access modes not requested, the inheritable ones of the base
    /// (so a directory opened here can open and create beneath itself).
    pub fn open(base: &Base, rel: &str, f: Flags) -> io::Result<File> {
        let mut rights =
            R_ALL & !(R_DATASYNC | R_READ | R_WRITE | R_ALLOCATE | R_READDIR | R_FILESTAT_SET_SIZE);
        if f.read {
            rights |= R_READ | R_READDIR;
        }
        if f.write || f.append {
            rights |= R_WRITE | R_DATASYNC | R_ALLOCATE | R_FILESTAT_SET_SIZE;
        }
        let mut oflags = 0;
        if f.create {
            oflags |= 1;
        }
        if f.directory {
            oflags |= 2;
        }
        if f.excl {
            oflags |= 4;
        }
        if f.trunc {
            oflags |= 8;
        }
        let dirflags = if f.nofollow { 0 } else { 1 };
        let fdflags = if f.append { 1 } else { 0 };
        let mut fd = 0u32;
        check(unsafe {
            path_open(
                base.fd,
                dirflags,
                rel.as_ptr(),
                rel.len(),
                oflags,
                rights,
                R_ALL,
                fdflags,
                &mut fd,
            )
        })?;
        Ok(unsafe { File::from_raw_fd(fd as i32) })
    }

    fn stat_of(buf: &[u8; 64]) -> Stat {
        let u64_at = |o: usize| u64::from_le_bytes(buf[o..o + 8].try_into().unwrap());
        let kind = match buf[16] {
            3 => Kind::Dir,
            4 => Kind::File,
            7 => Kind::Symlink,
            _ => Kind::Other,
        };
        Stat {
            kind,
            nlink: u64_at(24),
            size: u64_at(32),
        }
    }

    /// `stat` (`follow`) or `lstat` of DIR/rel.
    pub fn stat(base: &Base, rel: &str, follow: bool) -> io::Result<Stat> {
        let mut buf = [0u8; 64];
        check(unsafe {
            path_filestat_get(
                base.fd,
                follow as u32,
                rel.as_ptr(),
                rel.len(),
                buf.as_mut_ptr(),
            )
        })?;
        Ok(stat_of(&buf))
    }

    pub fn fstat(f: &File) -> io::Result<Stat> {
        use std::os::fd::AsRawFd;
        let mut buf = [0u8; 64];
        check(unsafe { fd_filestat_get(f.as_raw_fd() as u32, buf.as_mut_ptr()) })?;
        Ok(stat_of(&buf))
    }

    pub fn pread(f: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let iov = [buf.as_mut_ptr() as u32, buf.len() as u32];
        let mut n = 0usize;
        check(unsafe { fd_pread(f.as_raw_fd() as u32, iov.as_ptr(), 1, off, &mut n) })?;
        Ok(n)
    }

    pub fn pwrite(f: &File, buf: &[u8], off: u64) -> io::Result<usize> {
        use std::os::fd::AsRawFd;
        let iov = [buf.as_ptr() as u32, buf.len() as u32];
        let mut n = 0usize;
        check(unsafe { fd_pwrite(f.as_raw_fd() as u32, iov.as_ptr(), 1, off, &mut n) })?;
        Ok(n)
    }
}

#[cfg(unix)]
mod sys {
    //! std's unix extensions on the host.
    use super::{Flags, Kind, Stat};
    use std::fs::{File, Metadata, OpenOptions};
    use std::io;
    use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};

    const O_CREAT: i32 = 0o100;
    const O_EXCL: i32 = 0o200;
    const O_TRUNC: i32 = 0o1000;
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    const O_DIRECTORY: i32 = 0o40000;
    #[cfg(any(target_arch = "aarch64", target_arch = "arm"))]
    const O_NOFOLLOW: i32 = 0o100000;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
    const O_DIRECTORY: i32 = 0o200000;
    #[cfg(not(any(target_arch = "aarch64", target_arch = "arm")))]
    const O_NOFOLLOW: i32 = 0o400000;

    /// Linux errno numbers by name (the names WASI gives the same errors).
    #[rustfmt::skip]
    const ERRNOS: &[(i32, &str)] = &[
        (1, "PERM"), (2, "NOENT"), (5, "IO"), (6, "NXIO"), (7, "2BIG"), (9, "BADF"),
        (11, "AGAIN"), (12, "NOMEM"), (13, "ACCES"), (14, "FAULT"), (16, "BUSY"), (17, "EXIST"),
        (18, "XDEV"), (20, "NOTDIR"), (21, "ISDIR"), (22, "INVAL"), (24, "MFILE"), (26, "TXTBSY"),
        (27, "FBIG"), (28, "NOSPC"), (29, "SPIPE"), (30, "ROFS"), (31, "MLINK"),
        (36, "NAMETOOLONG"), (38, "NOSYS"), (39, "NOTEMPTY"), (40, "LOOP"), (75, "OVERFLOW"),
        (84, "ILSEQ"), (95, "NOTSUP"),
    ];

    pub fn errno_name(code: i32) -> Option<&'static str> {
        ERRNOS.iter().find(|(c, _)| *c == code).map(|(_, n)| *n)
    }

    pub struct Base {
        dir: String,
    }

    impl Base {
        pub fn new(dir: &str) -> Base {
            Base {
                dir: dir.to_string(),
            }
        }

        /// The open directory `f`, through its /proc/self/fd link (as `*at` calls would).
        pub fn of(f: &File) -> Base {
            use std::os::fd::AsRawFd;
            Base {
                dir: format!("/proc/self/fd/{}", f.as_raw_fd()),
            }
        }

        pub fn full(&self, rel: &str) -> String {
            format!("{}/{rel}", self.dir)
        }
    }

    pub fn readlink(base: &Base, rel: &str) -> io::Result<String> {
        Ok(std::fs::read_link(base.full(rel))?
            .to_string_lossy()
            .into_owned())
    }

    pub fn mkdir(base: &Base, rel: &str) -> io::Result<()> {
        std::fs::create_dir(base.full(rel))
    }

    pub fn unlink(base: &Base, rel: &str) -> io::Result<()> {
        std::fs::remove_file(base.full(rel))
    }

    pub fn rmdir(base: &Base, rel: &str) -> io::Result<()> {
        std::fs::remove_dir(base.full(rel))
    }

    pub fn rename(a: &Base, p: &str, b: &Base, q: &str) -> io::Result<()> {
        std::fs::rename(a.full(p), b.full(q))
    }

    /// std's hard_link is `linkat(.., 0)`: a final symlink is linked itself.
    pub fn link(a: &Base, p: &str, b: &Base, q: &str) -> io::Result<()> {
        std::fs::hard_link(a.full(p), b.full(q))
    }

    pub fn open(base: &Base, rel: &str, f: Flags) -> io::Result<File> {
        let mut custom = 0;
        for (on, flag) in [
            (f.create, O_CREAT),
            (f.excl, O_EXCL),
            (f.trunc, O_TRUNC),
            (f.directory, O_DIRECTORY),
            (f.nofollow, O_NOFOLLOW),
        ] {
            if on {
                custom |= flag;
            }
        }
        // The flags go in as custom flags so std's own checks (create needs write, ...) do
        // not stand between the program and open(2), as they do not on WASI.
        OpenOptions::new()
            .read(f.read)
            .write(f.write)
            .append(f.append)
            .custom_flags(custom)
            .open(base.full(rel))
    }

    fn stat_of(m: &Metadata) -> Stat {
        let t = m.file_type();
        let kind = if t.is_symlink() {
            Kind::Symlink
        } else if t.is_dir() {
            Kind::Dir
        } else if t.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        Stat {
            kind,
            size: m.len(),
            nlink: m.nlink(),
        }
    }

    pub fn stat(base: &Base, rel: &str, follow: bool) -> io::Result<Stat> {
        let p = base.full(rel);
        let m = if follow {
            std::fs::metadata(p)
        } else {
            std::fs::symlink_metadata(p)
        }?;
        Ok(stat_of(&m))
    }

    pub fn fstat(f: &File) -> io::Result<Stat> {
        Ok(stat_of(&f.metadata()?))
    }

    pub fn pread(f: &File, buf: &mut [u8], off: u64) -> io::Result<usize> {
        f.read_at(buf, off)
    }

    pub fn pwrite(f: &File, buf: &[u8], off: u64) -> io::Result<usize> {
        f.write_at(buf, off)
    }
}

// ---------------------------------------------------------------------------------------------
// the run

const SLOTS: usize = 4;

/// An open file: its name in the output is `hN:TAG`, TAG being how it was opened (`r`, `w`,
/// `rw`, with `+a` for append) or `dir` when it is a directory.
struct Handle {
    file: File,
    tag: String,
    append: bool,
}

struct State {
    base: sys::Base,
    handles: [Option<Handle>; SLOTS],
    out: io::BufWriter<io::StdoutLock<'static>>,
}

impl State {
    fn full(&self, rel: &str) -> String {
        self.base.full(rel)
    }

    fn escapes(&self, rel: &str, follow: bool) -> bool {
        escapes(&self.base, rel, follow)
    }

    fn line(&mut self, s: String) {
        writeln!(self.out, "{s}").unwrap();
    }

    fn tree(&mut self) {
        let mut lines = Vec::new();
        self.walk("", &mut lines);
        self.line(format!("tree {} entries", lines.len()));
        for l in lines {
            self.line(format!("  {l}"));
        }
        self.out.flush().unwrap();
    }

    fn walk(&self, rel: &str, lines: &mut Vec<String>) {
        let dir = if rel.is_empty() {
            self.full(".")
        } else {
            self.full(rel)
        };
        let mut names: Vec<String> = match fs::read_dir(&dir) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect(),
            Err(e) => {
                lines.push(format!("{rel}: readdir err {}", errno_name(&e)));
                return;
            }
        };
        names.sort();
        for n in names {
            let p = if rel.is_empty() {
                n
            } else {
                format!("{rel}/{n}")
            };
            let st = sys::stat(&self.base, &p, false);
            let mut l = format!("{p} {}", show(&st, Stat::show));
            match st.as_ref().map(|s| s.kind) {
                Ok(Kind::Symlink) => {
                    l += &format!(
                        " -> {}",
                        show(&fs::read_link(self.full(&p)), |t| t
                            .to_string_lossy()
                            .into_owned())
                    );
                }
                Ok(Kind::File) => {
                    l += &format!(" {}", show(&fs::read(self.full(&p)), |b| contents(b)));
                }
                _ => {}
            }
            lines.push(l);
            if let Ok(Kind::Dir) = st.as_ref().map(|s| s.kind) {
                self.walk(&p, lines);
            }
        }
    }
}

/// Whether resolving `rel` from `base` (following its last component when `follow`, or when it has a
/// trailing slash) would leave `base`, walked physically as the kernel would: `..` goes to
/// the parent of the directory reached, symlinks are expanded in place. A component that is
/// missing or not a directory ends the walk (the call itself will fail there, inside `base`);
/// more than 40 expansions too (ELOOP).
fn escapes(base: &sys::Base, rel: &str, follow: bool) -> bool {
    let mut stack: Vec<String> = Vec::new();
    // Components still to walk, last first; the flag says whether the component is the
    // last one of the whole path (only then does `follow` apply).
    let mut todo: Vec<(String, bool)> = Vec::new();
    let follow = follow || rel.ends_with('/');
    push_components(&mut todo, rel, true);
    let mut expansions = 0;
    while let Some((c, last)) = todo.pop() {
        match c.as_str() {
            "" | "." => continue,
            ".." => {
                if stack.pop().is_none() {
                    return true;
                }
                continue;
            }
            _ => {}
        }
        let here = if stack.is_empty() {
            c.clone()
        } else {
            format!("{}/{c}", stack.join("/"))
        };
        let Ok(m) = sys::stat(base, &here, false) else {
            return false;
        };
        if m.kind == Kind::Symlink {
            if last && !follow {
                return false;
            }
            expansions += 1;
            if expansions > 40 {
                return false;
            }
            let Ok(target) = sys::readlink(base, &here) else {
                return false;
            };
            if target.starts_with('/') {
                return true;
            }
            push_components(&mut todo, &target, last);
        } else if m.kind == Kind::Dir {
            stack.push(c);
        } else {
            return false;
        }
    }
    false
}

/// Pushes the components of `path` onto `todo` so that they pop in order; only the last one
/// keeps `last`.
fn push_components(todo: &mut Vec<(String, bool)>, path: &str, last: bool) {
    let comps: Vec<&str> = path.split('/').collect();
    // A trailing slash leaves an empty last component: the named one before it is the last.
    let last_named = comps.iter().rposition(|c| !c.is_empty()).unwrap_or(0);
    for (i, c) in comps.iter().enumerate().rev() {
        todo.push((c.to_string(), last && i == last_named));
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 4 {
        eprintln!("usage: fsdiff SEED OPS DIR");
        std::process::exit(2);
    }
    let seed: u64 = args[1].parse().expect("SEED is a number");
    let ops: u64 = args[2].parse().expect("OPS is a number");
    let dir = args[3].trim_end_matches('/').to_string();
    let mut st = State {
        base: sys::Base::new(&dir),
        handles: Default::default(),
        out: io::BufWriter::new(io::stdout().lock()),
    };
    let mut rng = Rng(seed);
    st.line(format!("fsdiff seed={seed} ops={ops}"));
    st.tree();
    for i in 0..ops {
        let line = op(&mut st, &mut rng, i);
        st.line(format!("{i} {line}"));
        if i % 25 == 24 {
            st.tree();
        }
    }
    st.handles = Default::default();
    st.tree();
    st.line("end".to_string());
    st.out.flush().unwrap();
}

/// Some bytes to write, different from operation to operation.
fn data(rng: &mut Rng, i: u64) -> Vec<u8> {
    let len = rng.below(9) as usize;
    (0..len)
        .map(|k| DATA[((i as usize) + k) % DATA.len()])
        .collect()
}

/// A handle slot to open into: mostly a free one, when there is one.
/// `NAME P -> RESULT` for an operation on the directory entry `p` itself (symlinks not
/// followed), or `NAME P skip escape` when `p` would leave the directory.
fn entry_op(st: &State, name: &str, p: &str, op: impl FnOnce(String) -> String) -> String {
    if st.escapes(p, false) {
        return format!("{name} {p} skip escape");
    }
    format!("{name} {p} -> {}", op(st.full(p)))
}

/// Opens `p` under `base` into handle slot `h`; the result line (the new file's stat, or the
/// error).
fn open_into(
    handles: &mut [Option<Handle>],
    h: usize,
    base: &sys::Base,
    p: &str,
    f: Flags,
) -> String {
    let r = sys::open(base, p, f);
    let stat = r.as_ref().ok().map(sys::fstat);
    let res = match (&r, &stat) {
        (Err(e), _) => format!("err {}", errno_name(e)),
        (Ok(_), Some(s)) => show(s, Stat::show),
        (Ok(_), None) => unreachable!(),
    };
    if let Ok(file) = r {
        let is_dir = matches!(
            stat,
            Some(Ok(Stat {
                kind: Kind::Dir,
                ..
            }))
        );
        let tag = if is_dir { "dir".to_string() } else { f.tag() };
        handles[h] = Some(Handle {
            file,
            tag,
            append: f.append,
        });
    }
    res
}

fn free_slot(st: &State, rng: &mut Rng) -> usize {
    let free: Vec<usize> = (0..SLOTS).filter(|&h| st.handles[h].is_none()).collect();
    if !free.is_empty() && rng.chance(70) {
        *rng.pick(&free)
    } else {
        rng.below(SLOTS as u64) as usize
    }
}

/// A handle slot: mostly one that is open, when there is one.
fn slot(st: &State, rng: &mut Rng) -> usize {
    let open: Vec<usize> = (0..SLOTS).filter(|&h| st.handles[h].is_some()).collect();
    if !open.is_empty() && rng.chance(85) {
        *rng.pick(&open)
    } else {
        rng.below(SLOTS as u64) as usize
    }
}

/// One random operation; returns its line (without the index).
fn op(st: &mut State, rng: &mut Rng, i: u64) -> String {
    match rng.below(112) {
        0..=13 => {
            let p = path(rng);
            let f = Flags::random(rng);
            let h = free_slot(st, rng);
            let what = format!("open {p} {} h{h}", f.show());
            if st.escapes(&p, !f.nofollow) {
                return format!("{what} skip escape");
            }
            let res = open_into(&mut st.handles, h, &st.base, &p, f);
            format!("{what} -> {res}")
        }
        14..=16 => {
            let h = slot(st, rng);
            match st.handles[h].take() {
                Some(hd) => format!("close h{h}:{} -> ok", hd.tag),
                None => format!("close h{h} -> not open"),
            }
        }
        17..=23 => {
            let h = slot(st, rng);
            let n = rng.below(12) as usize;
            let Some(hd) = st.handles[h].as_mut() else {
                return format!("read h{h} {n} -> not open");
            };
            let mut buf = vec![0u8; n];
            let r = hd.file.read(&mut buf);
            format!(
                "read h{h}:{} {n} -> {}",
                hd.tag,
                show(&r, |k| format!("{k} {:?}", bytes(&buf[..*k])))
            )
        }
        24..=31 => {
            let h = slot(st, rng);
            let d = data(rng, i);
            let Some(hd) = st.handles[h].as_mut() else {
                return format!("write h{h} {:?} -> not open", bytes(&d));
            };
            format!(
                "write h{h}:{} {:?} -> {}",
                hd.tag,
                bytes(&d),
                show(&hd.file.write(&d), |k| k.to_string())
            )
        }
        32..=34 => {
            let h = slot(st, rng);
            let n = rng.below(12) as usize;
            let off = offset(rng, 14);
            let Some(hd) = st.handles[h].as_ref() else {
                return format!("pread h{h} {n}@{off} -> not open");
            };
            let mut buf = vec![0u8; n];
            let r = sys::pread(&hd.file, &mut buf, off);
            format!(
                "pread h{h}:{} {n}@{off} -> {}",
                hd.tag,
                show(&r, |k| format!("{k} {:?}", bytes(&buf[..*k])))
            )
        }
        35..=37 => {
            let h = slot(st, rng);
            let d = data(rng, i);
            let mut off = offset(rng, 14);
            let Some(hd) = st.handles[h].as_ref() else {
                return format!("pwrite h{h} {:?}@{off} -> not open", bytes(&d));
            };
            if hd.append {
                // On an append handle only at the end: Linux appends whatever the offset
                // (pwrite(2), BUGS), POSIX and strata write at the offset.
                off = sys::fstat(&hd.file).map_or(0, |s| s.size);
            }
            let r = sys::pwrite(&hd.file, &d, off);
            format!(
                "pwrite h{h}:{} {:?}@{off} -> {}",
                hd.tag,
                bytes(&d),
                show(&r, |k| k.to_string())
            )
        }
        38..=40 => {
            let h = slot(st, rng);
            let (name, pos) = match rng.below(3) {
                0 => ("set", SeekFrom::Start(offset(rng, 14))),
                1 => ("cur", SeekFrom::Current(rng.below(12) as i64 - 6)),
                _ => ("end", SeekFrom::End(rng.below(12) as i64 - 8)),
            };
            let off = match pos {
                SeekFrom::Start(o) => o as i64,
                SeekFrom::Current(o) | SeekFrom::End(o) => o,
            };
            let Some(hd) = st.handles[h].as_mut() else {
                return format!("seek h{h} {name} {off} -> not open");
            };
            format!(
                "seek h{h}:{} {name} {off} -> {}",
                hd.tag,
                show(&hd.file.seek(pos), |p| p.to_string())
            )
        }
        41..=43 => {
            let h = slot(st, rng);
            let n = offset(rng, 16);
            let Some(hd) = st.handles[h].as_ref() else {
                return format!("set_len h{h} {n} -> not open");
            };
            format!(
                "set_len h{h}:{} {n} -> {}",
                hd.tag,
                unit(hd.file.set_len(n))
            )
        }
        44..=46 => {
            let h = slot(st, rng);
            let Some(hd) = st.handles[h].as_ref() else {
                return format!("fstat h{h} -> not open");
            };
            format!(
                "fstat h{h}:{} -> {}",
                hd.tag,
                show(&sys::fstat(&hd.file), Stat::show)
            )
        }
        47..=52 => {
            let p = path(rng);
            let follow = rng.chance(50);
            let what = format!("{} {p}", if follow { "stat" } else { "lstat" });
            if st.escapes(&p, follow) {
                return format!("{what} skip escape");
            }
            format!(
                "{what} -> {}",
                show(&sys::stat(&st.base, &p, follow), Stat::show)
            )
        }
        53..=56 => {
            let p = path(rng);
            let what = format!("readdir {p}");
            if st.escapes(&p, true) {
                return format!("{what} skip escape");
            }
            let r = fs::read_dir(st.full(&p)).and_then(|rd| {
                let mut v = Vec::new();
                for e in rd {
                    let e = e?;
                    let t = match e.file_type() {
                        Ok(t) if t.is_symlink() => "l",
                        Ok(t) if t.is_dir() => "d",
                        Ok(t) if t.is_file() => "f",
                        Ok(_) => "?",
                        Err(_) => "err",
                    };
                    v.push(format!("{}:{t}", e.file_name().to_string_lossy()));
                }
                v.sort();
                Ok(v)
            });
            format!("{what} -> {}", show(&r, |v| format!("[{}]", v.join(" "))))
        }
        57..=62 => {
            let p = path(rng);
            entry_op(st, "mkdir", &p, |full| unit(fs::create_dir(full)))
        }
        63..=66 => {
            let p = path(rng);
            entry_op(st, "rmdir", &p, |full| unit(fs::remove_dir(full)))
        }
        67..=71 => {
            let p = path(rng);
            entry_op(st, "unlink", &p, |full| unit(fs::remove_file(full)))
        }
        72..=79 => {
            let (a, b) = (path(rng), path(rng));
            let what = format!("rename {a} {b}");
            if st.escapes(&a, false) || st.escapes(&b, false) {
                return format!("{what} skip escape");
            }
            format!("{what} -> {}", unit(fs::rename(st.full(&a), st.full(&b))))
        }
        80..=84 => {
            let (a, b) = (path(rng), path(rng));
            let what = format!("link {a} {b}");
            if st.escapes(&a, false) || st.escapes(&b, false) {
                return format!("{what} skip escape");
            }
            format!(
                "{what} -> {}",
                unit(fs::hard_link(st.full(&a), st.full(&b)))
            )
        }
        85..=91 => {
            let t = *rng.pick(TARGETS);
            let p = path(rng);
            let what = format!("symlink {t} {p}");
            if st.escapes(&p, false) {
                return format!("{what} skip escape");
            }
            #[allow(deprecated)]
            let r = fs::soft_link(t, st.full(&p));
            format!("{what} -> {}", unit(r))
        }
        92..=95 => {
            let p = path(rng);
            entry_op(st, "readlink", &p, |full| {
                show(&fs::read_link(full), |t| t.to_string_lossy().into_owned())
            })
        }
        96..=99 => {
            st.tree();
            "tree".to_string()
        }
        _ => at_op(st, rng),
    }
}

/// `rename` or `link` from a path relative to handle `h` to one relative to DIR or to
/// another handle: `rename@h1:dir d/a @. b` (`@.` is DIR).
fn two_base_op(st: &mut State, rng: &mut Rng, h: usize, name: &str) -> String {
    let p = path(rng);
    let q = path(rng);
    let to = if rng.chance(50) {
        None
    } else {
        Some(dir_slot(st, rng))
    };
    let Some(hd) = st.handles[h].as_ref() else {
        return format!("{name}@h{h} {p} -> not open");
    };
    let a = sys::Base::of(&hd.file);
    let (b, b_name) = match to {
        None => (None, ".".to_string()),
        Some(t) => match st.handles[t].as_ref() {
            Some(td) => (Some(sys::Base::of(&td.file)), format!("h{t}:{}", td.tag)),
            None => return format!("{name}@h{h}:{} {p} @h{t} {q} -> not open", hd.tag),
        },
    };
    let b = b.as_ref().unwrap_or(&st.base);
    let what = format!("{name}@h{h}:{} {p} @{b_name} {q}", hd.tag);
    if escapes(&a, &p, false) || escapes(b, &q, false) {
        return format!("{what} skip escape");
    }
    let r = if name == "rename" {
        sys::rename(&a, &p, b, &q)
    } else {
        sys::link(&a, &p, b, &q)
    };
    format!("{what} -> {}", unit(r))
}

/// A handle slot to use as a base directory: mostly one holding a directory.
fn dir_slot(st: &State, rng: &mut Rng) -> usize {
    let dirs: Vec<usize> = (0..SLOTS)
        .filter(|&h| st.handles[h].as_ref().is_some_and(|hd| hd.tag == "dir"))
        .collect();
    if !dirs.is_empty() && rng.chance(80) {
        *rng.pick(&dirs)
    } else {
        slot(st, rng)
    }
}

/// An operation relative to an open handle (`openat` and friends: `open@h1:dir ...`),
/// natively through /proc/self/fd/N, on WASI with the handle's fd as the base. Paths may not
/// climb above the handle's directory (WASI confines them beneath it): such paths are
/// `skip escape`, as above.
fn at_op(st: &mut State, rng: &mut Rng) -> String {
    let h = dir_slot(st, rng);
    let p = path(rng);
    let which = rng.below(19);
    let (name, follow) = match which {
        0..=3 => ("open", true),
        4..=6 => ("stat", rng.chance(50)),
        7..=9 => ("mkdir", false),
        10..=11 => ("unlink", false),
        12..=13 => ("rmdir", false),
        14..=16 => return two_base_op(st, rng, h, "rename"),
        _ => return two_base_op(st, rng, h, "link"),
    };
    let flags = (name == "open").then(|| Flags::random(rng));
    let to = free_slot(st, rng);
    let Some(hd) = st.handles[h].as_ref() else {
        return format!("{name}@h{h} {p} -> not open");
    };
    let base = sys::Base::of(&hd.file);
    let mut what = format!("{name}@h{h}:{} {p}", hd.tag);
    let follow = flags.map_or(follow, |f| !f.nofollow);
    if let Some(f) = flags {
        what += &format!(" {} h{to}", f.show());
    } else if name == "stat" && !follow {
        what = what.replacen("stat@", "lstat@", 1);
    }
    if escapes(&base, &p, follow) {
        return format!("{what} skip escape");
    }
    let res = match name {
        "open" => {
            let f = flags.unwrap();
            open_into(&mut st.handles, to, &base, &p, f)
        }
        "stat" => show(&sys::stat(&base, &p, follow), Stat::show),
        "mkdir" => unit(sys::mkdir(&base, &p)),
        "rmdir" => unit(sys::rmdir(&base, &p)),
        _ => unit(sys::unlink(&base, &p)),
    };
    format!("{what} -> {res}")
}
