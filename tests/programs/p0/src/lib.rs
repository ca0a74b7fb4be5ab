//! A `wasi_unstable` (preview0) command. Scratch dir = fd 3 (empty, writable). No args.
//! Checks the ABI points where preview0 differs from preview1: whence numbering (CUR=0, END=1,
//! SET=2), the 56-byte filestat with a u32 nlink at offset 20, and the 56-byte subscription whose
//! clock record starts with an extra u64 identifier.

#![no_std]

use core::fmt::Write;

#[link(wasm_import_module = "wasi_unstable")]
extern "C" {
    fn fd_write(fd: u32, iovs: *const Iov, n: u32, written: *mut u32) -> u16;
    fn fd_read(fd: u32, iovs: *const Iov, n: u32, read: *mut u32) -> u16;
    fn fd_seek(fd: u32, offset: i64, whence: u8, pos: *mut u64) -> u16;
    fn fd_tell(fd: u32, pos: *mut u64) -> u16;
    fn fd_close(fd: u32) -> u16;
    fn fd_filestat_get(fd: u32, buf: *mut u8) -> u16;
    fn fd_fdstat_get(fd: u32, buf: *mut u8) -> u16;
    fn fd_prestat_get(fd: u32, buf: *mut u32) -> u16;
    fn path_open(
        dirfd: u32,
        dirflags: u32,
        path: *const u8,
        path_len: u32,
        oflags: u16,
        base: u64,
        inheriting: u64,
        fdflags: u16,
        fd: *mut u32,
    ) -> u16;
    fn path_filestat_get(fd: u32, flags: u32, path: *const u8, path_len: u32, buf: *mut u8) -> u16;
    fn path_link(fd: u32, flags: u32, old: *const u8, old_len: u32, new_fd: u32, new: *const u8, new_len: u32) -> u16;
    fn poll_oneoff(subs: *const u8, events: *mut u8, n: u32, nevents: *mut u32) -> u16;
    fn clock_time_get(id: u32, precision: u64, time: *mut u64) -> u16;
    fn proc_exit(code: u32) -> !;
}

#[repr(C)]
struct Iov {
    ptr: *const u8,
    len: u32,
}

// preview0 whence
const CUR: u8 = 0;
const END: u8 = 1;
const SET: u8 = 2;
const BADF: u16 = 8;
const RIGHTS: u64 = (1 << 29) - 1;
const WRITE_RIGHTS: u64 = 1 << 0 | 1 << 6 | 1 << 8 | 1 << 22;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    say(b"FAIL panic\n");
    unsafe { proc_exit(1) }
}

fn say(s: &[u8]) {
    let iov = Iov { ptr: s.as_ptr(), len: s.len() as u32 };
    let mut n = 0;
    unsafe { fd_write(1, &iov, 1, &mut n) };
}

/// A small fixed-size formatting buffer (no allocator here).
struct Line {
    buf: [u8; 256],
    len: usize,
}

impl Write for Line {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let b = s.as_bytes();
        let n = b.len().min(self.buf.len() - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&b[..n]);
        self.len += n;
        Ok(())
    }
}

fn ok(case: &str) {
    let mut l = Line { buf: [0; 256], len: 0 };
    let _ = writeln!(l, "ok {case}");
    say(&l.buf[..l.len]);
}

fn check<T: PartialEq + core::fmt::Debug>(case: &str, got: T, expected: T) {
    if got != expected {
        let mut l = Line { buf: [0; 256], len: 0 };
        let _ = writeln!(l, "FAIL {case}: expected {expected:?} got {got:?}");
        say(&l.buf[..l.len]);
        unsafe { proc_exit(1) }
    }
    ok(case);
}

fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]])
}

fn u64_at(b: &[u8], o: usize) -> u64 {
    let mut x = [0u8; 8];
    x.copy_from_slice(&b[o..o + 8]);
    u64::from_le_bytes(x)
}

fn open(path: &[u8], oflags: u16, base: u64) -> (u16, u32) {
    let mut fd = 0;
    let e = unsafe { path_open(3, 1, path.as_ptr(), path.len() as u32, oflags, base, RIGHTS, 0, &mut fd) };
    (e, fd)
}

fn seek(fd: u32, off: i64, whence: u8) -> (u16, u64) {
    let mut pos = 0;
    let e = unsafe { fd_seek(fd, off, whence, &mut pos) };
    (e, pos)
}

/// Returns (errno, the 56 filestat bytes, whether the 8 canary bytes after them are intact).
fn filestat(get: impl FnOnce(*mut u8) -> u16) -> (u16, [u8; 64], bool) {
    let mut b = [0xEEu8; 64];
    let e = get(b.as_mut_ptr());
    let canary = b[56..].iter().all(|&x| x == 0xEE);
    (e, b, canary)
}

#[no_mangle]
pub extern "C" fn _start() {
    let mut pre = [0u32; 2];
    check("fd_prestat_get", (unsafe { fd_prestat_get(3, pre.as_mut_ptr()) }, pre[0] & 0xff), (0, 0));

    let (e, fd) = open(b"p0.txt", 1 | 8, RIGHTS); // CREAT | TRUNC
    check("path_open creat", e, 0);
    let msg = b"hello preview0\n";
    let iov = Iov { ptr: msg.as_ptr(), len: msg.len() as u32 };
    let mut n = 0;
    check("fd_write", (unsafe { fd_write(fd, &iov, 1, &mut n) }, n), (0, 15));

    check("seek SET=2", seek(fd, 6, SET), (0, 6));
    check("seek CUR=0", seek(fd, 2, CUR), (0, 8));
    check("seek END=1", seek(fd, -3, END), (0, 12));
    let mut pos = 0;
    check("fd_tell", (unsafe { fd_tell(fd, &mut pos) }, pos), (0, 12));
    check("seek SET=2 to 0", seek(fd, 0, SET), (0, 0));
    let mut buf = [0u8; 32];
    let iov = Iov { ptr: buf.as_mut_ptr(), len: 32 };
    check("fd_read", (unsafe { fd_read(fd, &iov, 1, &mut n) }, n), (0, 15));
    check("fd_read content", &buf[..15], &msg[..]);

    let mut fdstat = [0u8; 24];
    check("fd_fdstat_get", (unsafe { fd_fdstat_get(fd, fdstat.as_mut_ptr()) }, fdstat[0]), (0, 4));

    let (e, st, canary) = filestat(|b| unsafe { fd_filestat_get(fd, b) });
    check("fd_filestat_get", e, 0);
    check("filestat filetype at 16", st[16], 4);
    check("filestat nlink u32 at 20", u32_at(&st, 20), 1);
    check("filestat size at 24", u64_at(&st, 24), 15);
    check("filestat is 56 bytes", canary, true);

    let e = unsafe { path_link(3, 0, b"p0.txt".as_ptr(), 6, 3, b"p0-link".as_ptr(), 7) };
    check("path_link", e, 0);
    let (e, st, canary) = filestat(|b| unsafe { path_filestat_get(3, 1, b"p0-link".as_ptr(), 7, b) });
    check("path_filestat_get", e, 0);
    check("path_filestat nlink u32 at 20", u32_at(&st, 20), 2);
    check("path_filestat size at 24", u64_at(&st, 24), 15);
    check("path_filestat is 56 bytes", canary, true);
    let (e, dst, canary) = filestat(|b| unsafe { path_filestat_get(3, 1, b".".as_ptr(), 1, b) });
    check("path_filestat dir", (e, dst[16], canary), (0, 3, true));

    // a relative monotonic clock of 5 ms; preview0 subscription: userdata @0, tag @8,
    // identifier @16, clock id @24, timeout @32, precision @40, flags @48; 56 bytes
    let mut sub = [0u8; 56];
    sub[0..8].copy_from_slice(&0x1234_5678u64.to_le_bytes());
    sub[16..24].copy_from_slice(&99u64.to_le_bytes());
    sub[24..28].copy_from_slice(&1u32.to_le_bytes());
    sub[32..40].copy_from_slice(&5_000_000u64.to_le_bytes());
    let mut ev = [0xAAu8; 32];
    let mut t0 = 0;
    let mut t1 = 0;
    unsafe { clock_time_get(1, 1, &mut t0) };
    let e = unsafe { poll_oneoff(sub.as_ptr(), ev.as_mut_ptr(), 1, &mut n) };
    unsafe { clock_time_get(1, 1, &mut t1) };
    check("poll_oneoff clock", (e, n), (0, 1));
    check("poll_oneoff event", (u64_at(&ev, 0), u16::from_le_bytes([ev[8], ev[9]]), ev[10]), (0x1234_5678, 0, 0));
    check("poll_oneoff waited", t1 - t0 >= 5_000_000, true);

    check("fd_close", unsafe { fd_close(fd) }, 0);
    check("fd_close again", unsafe { fd_close(fd) }, BADF);
    let (e, fd) = open(b"p0-link", 0, RIGHTS & !WRITE_RIGHTS);
    check("reopen via link", e, 0);
    check("seek END=1 on reopened", seek(fd, 0, END), (0, 15));
    say(b"all ok\n");
    unsafe { proc_exit(0) }
}
