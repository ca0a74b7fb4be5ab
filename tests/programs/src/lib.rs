//! Shared helpers of the WASI test programs: a tiny reporter (`ok CASE`, `FAIL CASE: expected X
//! got Y`, `all ok`) and thin wrappers over the raw `wasi_snapshot_preview1` imports that take
//! byte-string paths (so NUL and non-UTF-8 bytes can be passed) and return the raw errno.

use std::fmt::{Debug, Display};
use std::io::Write;

pub use wasi::wasi_snapshot_preview1 as raw;

pub type Fd = u32;
/// A raw WASI result: the value or the errno.
pub type R<T> = Result<T, Errno>;

// ---------------------------------------------------------------------------------------------
// errno numbers (wasi_snapshot_preview1 and wasi_unstable share them)

pub const SUCCESS: Errno = Errno(0);
pub const E2BIG: Errno = Errno(1);
pub const ACCES: Errno = Errno(2);
pub const BADF: Errno = Errno(8);
pub const EXIST: Errno = Errno(20);
pub const FAULT: Errno = Errno(21);
pub const ILSEQ: Errno = Errno(25);
pub const INVAL: Errno = Errno(28);
pub const ISDIR: Errno = Errno(31);
pub const LOOP: Errno = Errno(32);
pub const NAMETOOLONG: Errno = Errno(37);
pub const NOENT: Errno = Errno(44);
pub const NOMEM: Errno = Errno(48);
pub const NOSYS: Errno = Errno(52);
pub const NOTDIR: Errno = Errno(54);
pub const NOTEMPTY: Errno = Errno(55);
pub const NOTSOCK: Errno = Errno(57);
pub const NOTSUP: Errno = Errno(58);
pub const PERM: Errno = Errno(63);
pub const SPIPE: Errno = Errno(70);
pub const XDEV: Errno = Errno(75);
pub const NOTCAPABLE: Errno = Errno(76);

const ERRNO_NAMES: [&str; 77] = [
    "SUCCESS", "2BIG", "ACCES", "ADDRINUSE", "ADDRNOTAVAIL", "AFNOSUPPORT", "AGAIN", "ALREADY",
    "BADF", "BADMSG", "BUSY", "CANCELED", "CHILD", "CONNABORTED", "CONNREFUSED", "CONNRESET",
    "DEADLK", "DESTADDRREQ", "DOM", "DQUOT", "EXIST", "FAULT", "FBIG", "HOSTUNREACH", "IDRM",
    "ILSEQ", "INPROGRESS", "INTR", "INVAL", "IO", "ISCONN", "ISDIR", "LOOP", "MFILE", "MLINK",
    "MSGSIZE", "MULTIHOP", "NAMETOOLONG", "NETDOWN", "NETRESET", "NETUNREACH", "NFILE", "NOBUFS",
    "NODEV", "NOENT", "NOEXEC", "NOLCK", "NOLINK", "NOMEM", "NOMSG", "NOPROTOOPT", "NOSPC",
    "NOSYS", "NOTCONN", "NOTDIR", "NOTEMPTY", "NOTRECOVERABLE", "NOTSOCK", "NOTSUP", "NOTTY",
    "NXIO", "OVERFLOW", "OWNERDEAD", "PERM", "PIPE", "PROTO", "PROTONOSUPPORT", "PROTOTYPE",
    "RANGE", "ROFS", "SPIPE", "SRCH", "STALE", "TIMEDOUT", "TXTBSY", "XDEV", "NOTCAPABLE",
];

/// A WASI errno; formats as its name (`NOENT`), or `errno 123` outside the table.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub u16);

impl Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match ERRNO_NAMES.get(self.0 as usize) {
            Some(n) => f.write_str(n),
            None => write!(f, "errno {}", self.0),
        }
    }
}

impl Debug for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Display::fmt(self, f)
    }
}

/// Formats a result as `Ok(VALUE)` or `Err(NAME)`.
pub fn show<T: Debug>(r: &R<T>) -> String {
    format!("{r:?}")
}

/// A raw call's return value as a result.
pub fn errno_result(e: i32) -> R<()> {
    if e == 0 { Ok(()) } else { Err(Errno(e as u16)) }
}

// ---------------------------------------------------------------------------------------------
// reporter

fn out(line: &str) {
    let mut o = std::io::stdout().lock();
    let _ = o.write_all(line.as_bytes());
    let _ = o.write_all(b"\n");
    let _ = o.flush();
}

pub fn ok(case: &str) {
    out(&format!("ok {case}"));
}

static FAILED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn keep_going() -> bool {
    std::env::var_os("KEEP_GOING").is_some_and(|v| v == "1")
}

/// `WASI_STRICT=1` in the environment: require the specified (strata) behaviour in the few places
/// where wasmtime implements less of the spec (see README.md); otherwise accept either.
pub fn strict() -> bool {
    std::env::var_os("WASI_STRICT").is_some_and(|v| v == "1")
}

/// A case that is only checked with `WASI_STRICT=1` (wasmtime traps or lacks the feature, see
/// README.md); without it the case is skipped but still prints `ok CASE` so that the output is the
/// same on every runtime.
pub fn strict_only(case: &str, check: impl FnOnce(&str)) {
    if strict() {
        check(case)
    } else {
        not_checked(case)
    }
}

/// Prints `ok CASE` for a case this runtime is not asked to pass (without `WASI_STRICT=1`),
/// and says so on stderr (`strata-tests: not checked: CASE`), so that a peer's run can tell
/// which cases it really ran (tools/validate_wasmtime.py reports them).
pub fn not_checked(case: &str) {
    ok(case);
    eprintln!("strata-tests: not checked: {case}");
}

/// Says on stderr that `case` passed with wasmtime's documented alternative behaviour, not
/// the specified one (`strata-tests: alternative: CASE`; never under `WASI_STRICT=1`).
pub fn note_alternative(case: &str) {
    eprintln!("strata-tests: alternative: {case}");
}

/// Prints `FAIL CASE: expected X got Y` and exits 1 (with `KEEP_GOING=1` in the environment:
/// records the failure and returns, so that one run shows every failing case).
pub fn soft_fail(case: &str, expected: impl Display, got: impl Display) {
    out(&format!("FAIL {case}: expected {expected} got {got}"));
    if !keep_going() {
        std::process::exit(1)
    }
    FAILED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
}

/// Prints `FAIL CASE: expected X got Y` and exits 1.
pub fn fail(case: &str, expected: impl Display, got: impl Display) -> ! {
    out(&format!("FAIL {case}: expected {expected} got {got}"));
    std::process::exit(1)
}

/// Number of failures recorded under `KEEP_GOING=1`.
pub fn failures() -> usize {
    FAILED.load(std::sync::atomic::Ordering::Relaxed)
}

/// Prints `all ok` and exits 0 (exits 1 instead if failures were recorded under `KEEP_GOING=1`).
pub fn all_ok() -> ! {
    if FAILED.load(std::sync::atomic::Ordering::Relaxed) != 0 {
        std::process::exit(1)
    }
    out("all ok");
    std::process::exit(0)
}

/// The call must fail with `errno`.
pub fn expect_err<T: Debug>(case: &str, r: R<T>, errno: Errno) {
    match r {
        Err(e) if e == errno => ok(case),
        other => soft_fail(case, format!("Err({errno})"), show(&other)),
    }
}

/// The call must fail with one of `errnos` (used only where runtimes legitimately differ).
pub fn expect_err_in<T: Debug>(case: &str, r: R<T>, errnos: &[Errno]) {
    match r {
        Err(e) if errnos.contains(&e) => ok(case),
        other => {
            let names: Vec<String> = errnos.iter().map(|e| e.to_string()).collect();
            soft_fail(case, format!("Err({})", names.join("|")), show(&other))
        }
    }
}

/// The call must fail with `spec` (the errno strata gives, per the spec or POSIX); wasmtime gives
/// `wasmtime` instead, which is accepted unless `WASI_STRICT=1` (see README.md).
pub fn expect_err_wt<T: Debug>(case: &str, r: R<T>, spec: Errno, wasmtime: Errno) {
    if strict() {
        expect_err(case, r, spec)
    } else {
        if matches!(&r, Err(e) if *e == wasmtime && wasmtime != spec) {
            note_alternative(case);
        }
        expect_err_in(case, r, &[spec, wasmtime])
    }
}

/// The result must be `spec` (POSIX / strata); wasmtime gives `wasmtime` instead, which is
/// accepted unless `WASI_STRICT=1` (see README.md).
pub fn expect_wt<T: Debug + PartialEq>(case: &str, r: R<T>, spec: R<T>, wasmtime: R<T>) {
    if r == spec || (!strict() && r == wasmtime) {
        if r != spec {
            note_alternative(case);
        }
        ok(case)
    } else if strict() {
        soft_fail(case, show(&spec), show(&r))
    } else {
        soft_fail(case, format!("{}|{}", show(&spec), show(&wasmtime)), show(&r))
    }
}

/// The call must succeed; returns its value. Prints nothing on success (see `expect_ok_case`).
pub fn must<T: Debug>(case: &str, r: R<T>) -> T {
    match r {
        Ok(v) => v,
        Err(e) => fail(case, "Ok", format!("Err({e})")),
    }
}

/// The call must succeed; prints `ok CASE`.
pub fn expect_ok<T: Debug>(case: &str, r: R<T>) -> T {
    let v = must(case, r);
    ok(case);
    v
}

/// Silent equality check (fails the program on mismatch).
pub fn check_eq<T: PartialEq + Debug>(case: &str, got: T, expected: T) {
    if got != expected {
        fail(case, format!("{expected:?}"), format!("{got:?}"));
    }
}

/// Equality check that prints `ok CASE`.
pub fn expect_eq<T: PartialEq + Debug>(case: &str, got: T, expected: T) {
    if got != expected {
        soft_fail(case, format!("{expected:?}"), format!("{got:?}"));
    } else {
        ok(case);
    }
}

/// Condition check that prints `ok CASE`; `what` describes the expectation on failure.
pub fn expect_true(case: &str, cond: bool, what: &str, got: impl Debug) {
    if !cond {
        soft_fail(case, what, format!("{got:?}"));
    } else {
        ok(case);
    }
}

// ---------------------------------------------------------------------------------------------
// constants

pub const PREOPEN: Fd = 3;

pub const WHENCE_SET: u8 = 0;
pub const WHENCE_CUR: u8 = 1;
pub const WHENCE_END: u8 = 2;

pub const FT_UNKNOWN: u8 = 0;
pub const FT_CHAR: u8 = 2;
pub const FT_DIR: u8 = 3;
pub const FT_FILE: u8 = 4;
pub const FT_SYMLINK: u8 = 7;

pub const O_CREAT: u16 = 1;
pub const O_DIRECTORY: u16 = 2;
pub const O_EXCL: u16 = 4;
pub const O_TRUNC: u16 = 8;

pub const FDFLAGS_APPEND: u16 = 1;
pub const FDFLAGS_NONBLOCK: u16 = 4;

pub const FOLLOW: u32 = 1;
pub const NOFOLLOW: u32 = 0;

pub const FST_ATIM: u16 = 1;
pub const FST_ATIM_NOW: u16 = 2;
pub const FST_MTIM: u16 = 4;
pub const FST_MTIM_NOW: u16 = 8;

pub const R_FD_DATASYNC: u64 = 1 << 0;
pub const R_FD_READ: u64 = 1 << 1;
pub const R_FD_SEEK: u64 = 1 << 2;
pub const R_FD_FDSTAT_SET_FLAGS: u64 = 1 << 3;
pub const R_FD_SYNC: u64 = 1 << 4;
pub const R_FD_TELL: u64 = 1 << 5;
pub const R_FD_WRITE: u64 = 1 << 6;
pub const R_FD_ADVISE: u64 = 1 << 7;
pub const R_FD_ALLOCATE: u64 = 1 << 8;
pub const R_PATH_CREATE_DIRECTORY: u64 = 1 << 9;
pub const R_PATH_CREATE_FILE: u64 = 1 << 10;
pub const R_PATH_OPEN: u64 = 1 << 13;
pub const R_FD_READDIR: u64 = 1 << 14;
pub const R_FD_FILESTAT_GET: u64 = 1 << 21;
pub const R_FD_FILESTAT_SET_SIZE: u64 = 1 << 22;
/// Every right defined by preview1 (bits 0..=29).
pub const R_ALL: u64 = (1 << 30) - 1;
/// The rights that ask for a writable open (wasmtime maps any of them to write mode, which fails
/// with EISDIR on a directory).
pub const R_WRITE_MODE: u64 = R_FD_DATASYNC | R_FD_WRITE | R_FD_ALLOCATE | R_FD_FILESTAT_SET_SIZE;
/// Every right except the write-mode ones: what a directory is opened with.
pub const R_DIR: u64 = R_ALL & !R_WRITE_MODE;

// ---------------------------------------------------------------------------------------------
// raw call wrappers

#[inline]
fn p<T: ?Sized>(x: *const T) -> i32 {
    x as *const u8 as usize as i32
}

#[inline]
fn res(e: i32) -> R<()> {
    errno_result(e)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Filestat {
    pub dev: u64,
    pub ino: u64,
    pub filetype: u8,
    pub nlink: u64,
    pub size: u64,
    pub atim: u64,
    pub mtim: u64,
    pub ctim: u64,
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

impl Filestat {
    pub fn from_bytes(b: &[u8; 64]) -> Filestat {
        Filestat {
            dev: u64_at(b, 0),
            ino: u64_at(b, 8),
            filetype: b[16],
            nlink: u64_at(b, 24),
            size: u64_at(b, 32),
            atim: u64_at(b, 40),
            mtim: u64_at(b, 48),
            ctim: u64_at(b, 56),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fdstat {
    pub filetype: u8,
    pub flags: u16,
    pub base: u64,
    pub inheriting: u64,
}

pub fn path_open(dir: Fd, lookup: u32, path: &[u8], oflags: u16, base: u64, inh: u64, fdflags: u16) -> R<Fd> {
    let mut fd: u32 = 0;
    let e = unsafe {
        raw::path_open(
            dir as i32,
            lookup as i32,
            p(path.as_ptr()),
            path.len() as i32,
            oflags as i32,
            base as i64,
            inh as i64,
            fdflags as i32,
            p(&mut fd),
        )
    };
    res(e).map(|_| fd)
}

/// Opens `path` under `dir` following symlinks, asking for every right.
pub fn open(dir: Fd, path: &[u8], oflags: u16, fdflags: u16) -> R<Fd> {
    path_open(dir, FOLLOW, path, oflags, R_ALL, R_ALL, fdflags)
}

/// Opens a directory (O_DIRECTORY, every right but the write-mode ones; inheriting: all).
pub fn open_dir(dir: Fd, path: &[u8]) -> R<Fd> {
    path_open(dir, FOLLOW, path, O_DIRECTORY, R_DIR, R_ALL, 0)
}

pub fn fd_close(fd: Fd) -> R<()> {
    res(unsafe { raw::fd_close(fd as i32) })
}

pub fn fd_write(fd: Fd, bufs: &[&[u8]]) -> R<usize> {
    let iov: Vec<[u32; 2]> = bufs.iter().map(|b| [p(b.as_ptr()) as u32, b.len() as u32]).collect();
    let mut n: u32 = 0;
    res(unsafe { raw::fd_write(fd as i32, p(iov.as_ptr()), iov.len() as i32, p(&mut n)) }).map(|_| n as usize)
}

pub fn fd_read(fd: Fd, bufs: &mut [&mut [u8]]) -> R<usize> {
    let iov: Vec<[u32; 2]> = bufs.iter_mut().map(|b| [p(b.as_mut_ptr()) as u32, b.len() as u32]).collect();
    let mut n: u32 = 0;
    res(unsafe { raw::fd_read(fd as i32, p(iov.as_ptr()), iov.len() as i32, p(&mut n)) }).map(|_| n as usize)
}

pub fn fd_pwrite(fd: Fd, bufs: &[&[u8]], off: u64) -> R<usize> {
    let iov: Vec<[u32; 2]> = bufs.iter().map(|b| [p(b.as_ptr()) as u32, b.len() as u32]).collect();
    let mut n: u32 = 0;
    res(unsafe { raw::fd_pwrite(fd as i32, p(iov.as_ptr()), iov.len() as i32, off as i64, p(&mut n)) })
        .map(|_| n as usize)
}

pub fn fd_pread(fd: Fd, bufs: &mut [&mut [u8]], off: u64) -> R<usize> {
    let iov: Vec<[u32; 2]> = bufs.iter_mut().map(|b| [p(b.as_mut_ptr()) as u32, b.len() as u32]).collect();
    let mut n: u32 = 0;
    res(unsafe { raw::fd_pread(fd as i32, p(iov.as_ptr()), iov.len() as i32, off as i64, p(&mut n)) })
        .map(|_| n as usize)
}

pub fn fd_seek(fd: Fd, off: i64, whence: u8) -> R<u64> {
    let mut pos: u64 = 0;
    res(unsafe { raw::fd_seek(fd as i32, off, whence as i32, p(&mut pos)) }).map(|_| pos)
}

pub fn fd_tell(fd: Fd) -> R<u64> {
    let mut pos: u64 = 0;
    res(unsafe { raw::fd_tell(fd as i32, p(&mut pos)) }).map(|_| pos)
}

pub fn fd_fdstat_get(fd: Fd) -> R<Fdstat> {
    let mut b = [0u8; 24];
    res(unsafe { raw::fd_fdstat_get(fd as i32, p(b.as_mut_ptr())) })?;
    Ok(Fdstat {
        filetype: b[0],
        flags: u16::from_le_bytes([b[2], b[3]]),
        base: u64_at(&b, 8),
        inheriting: u64_at(&b, 16),
    })
}

pub fn fd_fdstat_set_flags(fd: Fd, flags: u16) -> R<()> {
    res(unsafe { raw::fd_fdstat_set_flags(fd as i32, flags as i32) })
}

pub fn fd_fdstat_set_rights(fd: Fd, base: u64, inh: u64) -> R<()> {
    res(unsafe { raw::fd_fdstat_set_rights(fd as i32, base as i64, inh as i64) })
}

pub fn fd_filestat_get(fd: Fd) -> R<Filestat> {
    let mut b = [0u8; 64];
    res(unsafe { raw::fd_filestat_get(fd as i32, p(b.as_mut_ptr())) })?;
    Ok(Filestat::from_bytes(&b))
}

pub fn fd_filestat_set_size(fd: Fd, size: u64) -> R<()> {
    res(unsafe { raw::fd_filestat_set_size(fd as i32, size as i64) })
}

pub fn fd_filestat_set_times(fd: Fd, atim: u64, mtim: u64, flags: u16) -> R<()> {
    res(unsafe { raw::fd_filestat_set_times(fd as i32, atim as i64, mtim as i64, flags as i32) })
}

pub fn fd_advise(fd: Fd, off: u64, len: u64, advice: u8) -> R<()> {
    res(unsafe { raw::fd_advise(fd as i32, off as i64, len as i64, advice as i32) })
}

pub fn fd_allocate(fd: Fd, off: u64, len: u64) -> R<()> {
    res(unsafe { raw::fd_allocate(fd as i32, off as i64, len as i64) })
}

pub fn fd_datasync(fd: Fd) -> R<()> {
    res(unsafe { raw::fd_datasync(fd as i32) })
}

pub fn fd_sync(fd: Fd) -> R<()> {
    res(unsafe { raw::fd_sync(fd as i32) })
}

pub fn fd_renumber(from: Fd, to: Fd) -> R<()> {
    res(unsafe { raw::fd_renumber(from as i32, to as i32) })
}

/// `(tag, name length)`.
pub fn fd_prestat_get(fd: Fd) -> R<(u8, u32)> {
    let mut b = [0u32; 2];
    res(unsafe { raw::fd_prestat_get(fd as i32, p(b.as_mut_ptr())) })?;
    Ok(((b[0] & 0xff) as u8, b[1]))
}

pub fn fd_prestat_dir_name(fd: Fd, buf: &mut [u8]) -> R<()> {
    res(unsafe { raw::fd_prestat_dir_name(fd as i32, p(buf.as_mut_ptr()), buf.len() as i32) })
}

pub fn fd_readdir(fd: Fd, buf: &mut [u8], cookie: u64) -> R<usize> {
    let mut n: u32 = 0;
    res(unsafe { raw::fd_readdir(fd as i32, p(buf.as_mut_ptr()), buf.len() as i32, cookie as i64, p(&mut n)) })
        .map(|_| n as usize)
}

pub fn path_create_directory(dir: Fd, path: &[u8]) -> R<()> {
    res(unsafe { raw::path_create_directory(dir as i32, p(path.as_ptr()), path.len() as i32) })
}

pub fn path_remove_directory(dir: Fd, path: &[u8]) -> R<()> {
    res(unsafe { raw::path_remove_directory(dir as i32, p(path.as_ptr()), path.len() as i32) })
}

pub fn path_unlink_file(dir: Fd, path: &[u8]) -> R<()> {
    res(unsafe { raw::path_unlink_file(dir as i32, p(path.as_ptr()), path.len() as i32) })
}

pub fn path_rename(dir: Fd, old: &[u8], new_dir: Fd, new: &[u8]) -> R<()> {
    res(unsafe {
        raw::path_rename(dir as i32, p(old.as_ptr()), old.len() as i32, new_dir as i32, p(new.as_ptr()), new.len() as i32)
    })
}

pub fn path_link(dir: Fd, lookup: u32, old: &[u8], new_dir: Fd, new: &[u8]) -> R<()> {
    res(unsafe {
        raw::path_link(
            dir as i32,
            lookup as i32,
            p(old.as_ptr()),
            old.len() as i32,
            new_dir as i32,
            p(new.as_ptr()),
            new.len() as i32,
        )
    })
}

/// Creates the symlink `new` (under `dir`) with the target text `target`.
pub fn path_symlink(target: &[u8], dir: Fd, new: &[u8]) -> R<()> {
    res(unsafe { raw::path_symlink(p(target.as_ptr()), target.len() as i32, dir as i32, p(new.as_ptr()), new.len() as i32) })
}

pub fn path_readlink(dir: Fd, path: &[u8], buf: &mut [u8]) -> R<usize> {
    let mut n: u32 = 0;
    res(unsafe {
        raw::path_readlink(dir as i32, p(path.as_ptr()), path.len() as i32, p(buf.as_mut_ptr()), buf.len() as i32, p(&mut n))
    })
    .map(|_| n as usize)
}

pub fn path_filestat_get(dir: Fd, lookup: u32, path: &[u8]) -> R<Filestat> {
    let mut b = [0u8; 64];
    res(unsafe { raw::path_filestat_get(dir as i32, lookup as i32, p(path.as_ptr()), path.len() as i32, p(b.as_mut_ptr())) })?;
    Ok(Filestat::from_bytes(&b))
}

pub fn path_filestat_set_times(dir: Fd, lookup: u32, path: &[u8], atim: u64, mtim: u64, flags: u16) -> R<()> {
    res(unsafe {
        raw::path_filestat_set_times(
            dir as i32,
            lookup as i32,
            p(path.as_ptr()),
            path.len() as i32,
            atim as i64,
            mtim as i64,
            flags as i32,
        )
    })
}

pub fn clock_time_get(id: u32, precision: u64) -> R<u64> {
    let mut t: u64 = 0;
    res(unsafe { raw::clock_time_get(id as i32, precision as i64, p(&mut t)) }).map(|_| t)
}

pub fn clock_res_get(id: u32) -> R<u64> {
    let mut t: u64 = 0;
    res(unsafe { raw::clock_res_get(id as i32, p(&mut t)) }).map(|_| t)
}

pub fn monotonic_now() -> u64 {
    must("clock_time_get(MONOTONIC)", clock_time_get(1, 1))
}

// ---------------------------------------------------------------------------------------------
// helpers over the wrappers

/// Creates (or truncates) `path` under `dir` with `data`.
pub fn write_file(dir: Fd, path: &[u8], data: &[u8]) -> R<()> {
    let fd = open(dir, path, O_CREAT | O_TRUNC, 0)?;
    let mut done = 0;
    while done < data.len() {
        done += fd_write(fd, &[&data[done..]])?;
    }
    fd_close(fd)
}

/// Reads the whole file at `path` under `dir`.
pub fn read_file(dir: Fd, path: &[u8]) -> R<Vec<u8>> {
    let fd = open(dir, path, 0, 0)?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = fd_read(fd, &mut [&mut buf])?;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
    }
    fd_close(fd)?;
    Ok(out)
}

/// One parsed directory entry of `fd_readdir`'s output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dirent {
    pub next: u64,
    pub ino: u64,
    pub filetype: u8,
    pub name: Vec<u8>,
}

/// Parses the complete entries in `buf` (a trailing truncated entry is dropped); returns them
/// and whether the last entry was truncated.
pub fn parse_dirents(buf: &[u8]) -> (Vec<Dirent>, bool) {
    let mut out = Vec::new();
    let mut i = 0;
    while i + 24 <= buf.len() {
        let next = u64_at(buf, i);
        let ino = u64_at(buf, i + 8);
        let namlen = u32::from_le_bytes(buf[i + 16..i + 20].try_into().unwrap()) as usize;
        let filetype = buf[i + 20];
        if i + 24 + namlen > buf.len() {
            return (out, true);
        }
        out.push(Dirent { next, ino, filetype, name: buf[i + 24..i + 24 + namlen].to_vec() });
        i += 24 + namlen;
    }
    (out, i < buf.len())
}

/// Lists a directory fd completely (from cookie 0, buffer of `bufsize`); entries in order.
pub fn list_dir(fd: Fd, bufsize: usize) -> R<Vec<Dirent>> {
    let mut all = Vec::new();
    let mut cookie = 0;
    let mut buf = vec![0u8; bufsize];
    loop {
        let n = fd_readdir(fd, &mut buf, cookie)?;
        let (ents, _) = parse_dirents(&buf[..n]);
        if ents.is_empty() {
            if n == bufsize {
                // buffer too small for even one entry
                return Err(INVAL);
            }
            return Ok(all);
        }
        cookie = ents.last().unwrap().next;
        all.extend(ents);
        if n < bufsize {
            return Ok(all);
        }
    }
}

/// Sorted names of a directory (without `.` and `..`).
pub fn names(dir: Fd, path: &[u8]) -> R<Vec<String>> {
    let fd = open_dir(dir, path)?;
    let ents = list_dir(fd, 4096)?;
    fd_close(fd)?;
    let mut v: Vec<String> = ents
        .into_iter()
        .map(|e| String::from_utf8_lossy(&e.name).into_owned())
        .filter(|n| n != "." && n != "..")
        .collect();
    v.sort();
    Ok(v)
}

/// The program's arguments after argv[0], as UTF-8 strings.
pub fn args() -> Vec<String> {
    std::env::args().skip(1).collect()
}

/// Requires that fd 3 is a preopened directory; called first by programs that use the scratch dir.
pub fn require_scratch() {
    match fd_prestat_get(PREOPEN) {
        Ok((0, _)) => {}
        other => fail("setup: fd 3 is a preopened directory", "Ok((0, _))", show(&other)),
    }
}
