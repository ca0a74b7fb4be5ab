//! A hostile guest: `hostile.wasm ATTACK [ARG]` tries to make the host hold more than its
//! limits allow, one way per ATTACK, and reports how it was stopped. Run by tests/hostile.rs
//! (through the library and the CLI) under a 128 MiB memory budget; not part of the
//! `ok CASE` protocol of the other programs, nor validated against wasmtime.
//!
//! Unless it traps or is stopped, an attack ends with `proc_exit(ERRNO)`, the WASI errno that
//! stopped it (0 if none did), after one line on stdout saying what it did (except the
//! stdout/stderr floods, whose stream is the attack). Reports are formatted on the stack and
//! written with a raw `fd_write`: once the budget is full the guest's allocator may not grow.
//!
//! | ATTACK | what it does | how it should end |
//! |---|---|---|
//! | `noop` | nothing | 0 |
//! | `grow` | `memory.grow` 1 MiB at a time, touching a byte per 4 KiB, until refused | 0 (grow returned -1) |
//! | `stdout [BYTES]` | writes 1 MiB at a time to fd 1 until an error, or BYTES written | ENOSPC (captured) / 0 |
//! | `stderr [BYTES]` | the same on fd 2 | ENOSPC (captured) / 0 |
//! | `file` | writes 1 MiB at a time to `/flood` until an error | ENOSPC |
//! | `inodes` | creates directories `/i/N` until an error | ENOSPC |
//! | `fds` | opens `/fdfile` again and again, never closing | EMFILE |
//! | `recurse` | recurses without end | trap (call stack exhausted) |
//! | `loop` | loops without end | timeout / out of fuel |
//! | `iovecs` | `fd_write` with 2^20 iovecs, then 1024 iovecs of 8 MiB each (8 GiB) | EINVAL, EINVAL |
//! | `poll` | `poll_oneoff` with 2^28 subscriptions, then 65537 real ones, then 65536 | EFAULT, EINVAL, ok |
//! | `args` | reads its arguments and environment | 0 |
//! | `trap-write` | writes 1 MiB to `/partial` and to stdout 5 times, then traps | trap (unreachable) |

use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::atomic::{AtomicU32, Ordering};
use wasi::wasi_snapshot_preview1 as raw;

const MIB: usize = 1 << 20;

/// Formats into a stack buffer (no allocation), then writes it to stdout with one raw call.
struct Line {
    buf: [u8; 512],
    len: usize,
}

impl std::fmt::Write for Line {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let n = s.len().min(self.buf.len() - 1 - self.len);
        self.buf[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

fn say(args: std::fmt::Arguments<'_>) {
    let mut l = Line {
        buf: [0; 512],
        len: 0,
    };
    let _ = l.write_fmt(args);
    l.buf[l.len] = b'\n';
    let _ = write_raw(1, &[(l.buf.as_ptr() as u32, l.len as u32 + 1)]);
}

macro_rules! say {
    ($($t:tt)*) => { say(format_args!($($t)*)) };
}

/// `fd_write` with iovecs given as (address, length) pairs; the byte count or the errno.
fn write_raw(fd: u32, iovs: &[(u32, u32)]) -> Result<u32, u16> {
    write_iovs(fd, iovs.as_ptr() as u32, iovs.len() as u32)
}

/// `fd_write` of `count` iovecs at `iovs`, whatever they are.
fn write_iovs(fd: u32, iovs: u32, count: u32) -> Result<u32, u16> {
    let mut n = 0u32;
    let e = unsafe { raw::fd_write(fd as i32, iovs as i32, count as i32, &mut n as *mut u32 as i32) };
    if e == 0 { Ok(n) } else { Err(e as u16) }
}

fn exit(code: u32) -> ! {
    unsafe { raw::proc_exit(code as i32) }
}

fn errno_of(e: &std::io::Error) -> u32 {
    e.raw_os_error().unwrap_or(1000) as u32
}

/// `memory.grow` by 16 pages at a time, a byte written in every 4 KiB it got, until refused.
fn grow() -> ! {
    let mut got = 0usize;
    loop {
        let old = core::arch::wasm32::memory_grow(0, 16);
        if old == usize::MAX {
            break;
        }
        // A byte in every host page (4 KiB), so that the host really holds all of it.
        for at in (old * 65536..(old + 16) * 65536).step_by(4096) {
            unsafe { core::ptr::write_volatile(at as *mut u8, 1) };
        }
        got += 16;
    }
    let total = core::arch::wasm32::memory_size(0) * 65536;
    say!("grow: memory.grow refused after {} MiB more; memory is {} MiB", got / 16, total / MIB);
    exit(0)
}

/// Writes 1 MiB at a time to `fd` until a write fails (exits with its errno) or `limit` bytes
/// went out (exits 0).
fn flood(fd: u32, limit: u64) -> ! {
    let chunk = vec![b'x'; MIB];
    let iov = [(chunk.as_ptr() as u32, MIB as u32)];
    let mut sent = 0u64;
    while sent < limit {
        match write_raw(fd, &iov) {
            Ok(n) => sent += u64::from(n),
            Err(e) => exit(e.into()),
        }
    }
    exit(0)
}

fn file_flood() -> ! {
    use std::io::Write;
    let chunk = vec![b'f'; MIB];
    let mut f = std::fs::File::create("/flood").unwrap_or_else(|e| exit(errno_of(&e)));
    let mut n = 0usize;
    loop {
        if let Err(e) = f.write_all(&chunk) {
            say!("file: {n} MiB written, then errno {}", errno_of(&e));
            exit(errno_of(&e))
        }
        n += 1;
    }
}

fn inode_flood() -> ! {
    let mut name = String::with_capacity(32);
    std::fs::create_dir("/i").unwrap_or_else(|e| exit(errno_of(&e)));
    let mut n = 0u32;
    loop {
        name.clear();
        let _ = write!(name, "/i/{n}");
        if let Err(e) = std::fs::create_dir(&name) {
            say!("inodes: {n} directories created, then errno {}", errno_of(&e));
            exit(errno_of(&e))
        }
        n += 1;
    }
}

fn fd_flood() -> ! {
    std::fs::write("/fdfile", b"x").unwrap_or_else(|e| exit(errno_of(&e)));
    let mut n = 0u32;
    loop {
        match std::fs::File::open("/fdfile") {
            Ok(f) => std::mem::forget(f),
            Err(e) => {
                say!("fds: {n} opened, then errno {}", errno_of(&e));
                exit(errno_of(&e))
            }
        }
        n += 1;
    }
}

/// Never reached: only there so that the recursion has an end the compiler cannot see past.
static BOTTOM: AtomicU32 = AtomicU32::new(u32::MAX);

#[inline(never)]
fn deep(n: u32) -> u32 {
    if n == BOTTOM.load(Ordering::Relaxed) {
        return n;
    }
    // Not a tail call, nor one the optimizer can turn into a loop.
    deep(n + 1).wrapping_mul(31).wrapping_add(n)
}

static SPIN: AtomicU32 = AtomicU32::new(0);

fn spin() -> ! {
    loop {
        SPIN.fetch_add(1, Ordering::Relaxed);
    }
}

/// Giant iovec arrays: a count past any bound, and lengths adding up past what a call can
/// report; then the most iovecs a call may pass, to a file, which work.
fn iovecs() -> ! {
    let byte = [b'v'];
    let many: Vec<(u32, u32)> = vec![(byte.as_ptr() as u32, 1); 1 << 20];
    let a = write_iovs(1, many.as_ptr() as u32, many.len() as u32);
    drop(many);
    let big = vec![0u8; 8 * MIB];
    let huge: Vec<(u32, u32)> = vec![(big.as_ptr() as u32, big.len() as u32); 1024];
    let b = write_raw(1, &huge);
    let kib = vec![b'k'; 1024];
    let most: Vec<(u32, u32)> = vec![(kib.as_ptr() as u32, 1024); 1024];
    let f = std::fs::File::create("/iov").unwrap_or_else(|e| exit(errno_of(&e)));
    let fd = raw_fd(&f);
    let c = write_raw(fd, &most);
    say!("iovecs: 2^20 iovecs -> {a:?}; 1024 x 8 MiB -> {b:?}; 1024 x 1 KiB -> {c:?}");
    match (a, b, c) {
        (Err(28), Err(28), Ok(n)) if n == MIB as u32 => exit(28),
        _ => exit(1),
    }
}

fn raw_fd(f: &std::fs::File) -> u32 {
    use std::os::fd::AsRawFd;
    f.as_raw_fd() as u32
}

/// `poll_oneoff(subs, events, n)`: the number of events or the errno.
fn poll_raw(subs: u32, events: u32, n: u32) -> Result<u32, u16> {
    let mut got = 0u32;
    let e = unsafe { raw::poll_oneoff(subs as i32, events as i32, n as i32, &mut got as *mut u32 as i32) };
    if e == 0 { Ok(got) } else { Err(e as u16) }
}

/// A relative monotonic clock subscription of 0 ns.
fn clock_sub(userdata: u64) -> [u8; 48] {
    let mut s = [0u8; 48];
    s[0..8].copy_from_slice(&userdata.to_le_bytes());
    s[16..20].copy_from_slice(&1u32.to_le_bytes());
    s
}

/// Giant `poll_oneoff`: a count whose arrays cannot be in memory, one just past the bound with
/// the arrays really there, and the bound itself.
fn poll() -> ! {
    let subs: Vec<[u8; 48]> = (0..65537u64).map(clock_sub).collect();
    let mut events = vec![[0u8; 32]; 65537];
    let ev = events.as_mut_ptr() as u32;
    let a = poll_raw(subs.as_ptr() as u32, ev, 1 << 28);
    let b = poll_raw(subs.as_ptr() as u32, ev, 65537);
    let c = poll_raw(subs.as_ptr() as u32, ev, 65536);
    say!("poll: 2^28 subscriptions -> {a:?}; 65537 -> {b:?}; 65536 -> {c:?}");
    match (a, b, c) {
        (Err(21), Err(28), Ok(65536)) => exit(28),
        _ => exit(1),
    }
}

fn read_args() -> ! {
    let (mut n, mut bytes) = (0usize, 0usize);
    for a in std::env::args_os() {
        n += 1;
        bytes += a.len() + 1;
    }
    let (mut m, mut env_bytes) = (0usize, 0usize);
    for (k, v) in std::env::vars_os() {
        m += 1;
        env_bytes += k.len() + v.len() + 2;
    }
    say!("args: {n} arguments ({bytes} bytes), {m} variables ({env_bytes} bytes)");
    exit(0)
}

/// Writes 1 MiB to `/partial` and to stdout, five times, then traps.
fn trap_write() -> ! {
    use std::io::Write;
    let chunk = vec![b't'; MIB];
    let mut f = std::fs::File::create("/partial").unwrap_or_else(|e| exit(errno_of(&e)));
    for _ in 0..5 {
        f.write_all(&chunk).unwrap_or_else(|e| exit(errno_of(&e)));
        write_raw(1, &[(chunk.as_ptr() as u32, MIB as u32)]).unwrap_or_else(|e| exit(e.into()));
    }
    core::arch::wasm32::unreachable()
}

fn main() {
    // Only the first two arguments, and the others' copies freed at once: the `args` attack's
    // are as big as the budget allows.
    let (attack, limit) = {
        let mut args = std::env::args().skip(1);
        (args.next(), args.next())
    };
    let limit = limit.and_then(|s| s.parse().ok()).unwrap_or(u64::MAX);
    match attack.as_deref() {
        Some("noop") => {
            say!("noop");
            exit(0)
        }
        Some("grow") => grow(),
        Some("stdout") => flood(1, limit),
        Some("stderr") => flood(2, limit),
        Some("file") => file_flood(),
        Some("inodes") => inode_flood(),
        Some("fds") => fd_flood(),
        Some("recurse") => {
            let r = deep(black_box(0));
            say!("recurse: returned {r}");
            exit(0)
        }
        Some("loop") => spin(),
        Some("iovecs") => iovecs(),
        Some("poll") => poll(),
        Some("args") => read_args(),
        Some("trap-write") => trap_write(),
        other => {
            say!("hostile: unknown attack {other:?}");
            exit(2)
        }
    }
}
