//! The WASI call trace, read like `strace`: one line per call, its arguments decoded from
//! guest memory before the call and its result after it.
//!
//! ```text
//! path_open(3, "home/user/hello.txt", lookup=SYMLINK_FOLLOW, oflags=0, rights=FD_READ|FD_SEEK, inheriting=0, fdflags=0) = 4
//! fd_read(4, iovs=1 total=4096) = 12
//! fd_filestat_get(4) = {filetype=REGULAR_FILE, size=12, nlink=1}
//! path_open(3, "nope", lookup=SYMLINK_FOLLOW, oflags=0, rights=FD_READ, inheriting=0, fdflags=0) = -1 ENOENT (No such file or directory)
//! ```
//!
//! The format: the call's WASI name; its arguments, the fd and path first and unnamed, the
//! rest `name=value`; guest pointers are never shown, what they point to is (paths and strings
//! quoted and escaped like Rust's `{:?}`, bytes that are not UTF-8 as `\xNN`, cut after 4 KiB
//! with `...`), flags, rights, clocks, whence and advice by name, iovec arrays as their count
//! and byte total, `poll_oneoff` subscriptions as a list. Rights with more than half the bits
//! set are shown as what is missing: `ALL&~(FD_WRITE|...)`. After ` = ` comes the result:
//! `-1 ENAME (description)` for an error, else what the call handed back through its
//! out-pointers: a new fd, a byte count, an offset, a time, `{filetype, size, nlink}` of a
//! filestat, bytes and entries of a readdir, a prestat's name, the strings of `args_get`, or
//! `0` for calls that return nothing. Memory that cannot be read shows as `<EFAULT>`.
//! `proc_exit(N) = ?` ends a run that exits. With timing, ` <SECONDS>` follows (the time the
//! call took, to the nanosecond).
//!
//! Tracing never changes what the guest sees: decoding only reads guest memory, arguments
//! before the call and results after, and the call's errno is returned unchanged (a bad
//! pointer shows as `<EFAULT>` and the call still fails as it would untraced). A binding calls
//! [`traced`] only when a trace is installed and its [`TraceFilter`] selects the call, so an
//! untraced call pays nothing.

#![forbid(unsafe_code)]

use super::abi::{self, Abi, SubscriptionKind, Whence};
use super::ctx::WasiCtx;
use super::fdtable::FdKind;
use super::memory::{GuestMemory, MAX_IOVS};
use crate::vfs::{Errno, Result};
use std::fmt::{self, Write as _};
use std::time::{Duration, Instant};

/// Every call the trace knows, in a fixed order: a [`CallId`] is an index into it.
pub const CALLS: [&str; 46] = [
    "args_get",
    "args_sizes_get",
    "environ_get",
    "environ_sizes_get",
    "clock_res_get",
    "clock_time_get",
    "fd_advise",
    "fd_allocate",
    "fd_close",
    "fd_datasync",
    "fd_fdstat_get",
    "fd_fdstat_set_flags",
    "fd_fdstat_set_rights",
    "fd_filestat_get",
    "fd_filestat_set_size",
    "fd_filestat_set_times",
    "fd_pread",
    "fd_prestat_get",
    "fd_prestat_dir_name",
    "fd_pwrite",
    "fd_read",
    "fd_readdir",
    "fd_renumber",
    "fd_seek",
    "fd_sync",
    "fd_tell",
    "fd_write",
    "path_create_directory",
    "path_filestat_get",
    "path_filestat_set_times",
    "path_link",
    "path_open",
    "path_readlink",
    "path_remove_directory",
    "path_rename",
    "path_symlink",
    "path_unlink_file",
    "poll_oneoff",
    "proc_exit",
    "proc_raise",
    "sched_yield",
    "random_get",
    "sock_accept",
    "sock_recv",
    "sock_send",
    "sock_shutdown",
];

/// A WASI call by its place in [`CALLS`]; bindings look it up once, not per call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallId(u8);

impl CallId {
    /// The id of the call named `name`, `None` if the trace does not know it.
    pub fn of(name: &str) -> Option<CallId> {
        CALLS
            .iter()
            .position(|c| *c == name)
            .map(|i| CallId(i as u8))
    }

    /// The call's WASI name.
    pub fn name(self) -> &'static str {
        CALLS[self.0 as usize]
    }

    fn bit(self) -> u64 {
        1 << self.0
    }
}

/// Which calls are traced: every call by default.
///
/// Written as a comma-separated list (`--trace-filter`) of call names (`path_open`) and
/// families: a family is the part of a name before its first `_` (`args`, `clock`, `environ`,
/// `fd`, `path`, `poll`, `proc`, `random`, `sched`, `sock`); `fs` is `fd` and `path` together,
/// `all` every call. An item starting with `!` removes calls. A list of removals only starts
/// from every call, any other from none; items apply in order. E.g. `fs`,
/// `path_open,fd_read`, `!clock,!poll`, `fs,!fd_write`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceFilter {
    bits: u64,
}

impl Default for TraceFilter {
    fn default() -> Self {
        TraceFilter::ALL
    }
}

impl TraceFilter {
    /// Every call.
    pub const ALL: TraceFilter = TraceFilter {
        bits: (1 << CALLS.len()) - 1,
    };

    /// Parses a filter list (see the type's documentation); the error names the item.
    pub fn parse(spec: &str) -> std::result::Result<TraceFilter, String> {
        let items: Vec<&str> = spec.split(',').map(str::trim).collect();
        let mut bits = match items.iter().all(|i| i.starts_with('!')) {
            true => TraceFilter::ALL.bits,
            false => 0,
        };
        for item in items {
            let (remove, name) = match item.strip_prefix('!') {
                Some(name) => (true, name),
                None => (false, item),
            };
            let set = calls_named(name).ok_or_else(|| match name {
                "" => format!("{spec:?}: empty item (expected e.g. fs or path_open,fd_read)"),
                _ => format!(
                    "{name:?} is neither a WASI call nor a family (all, fs, args, clock, \
                     environ, fd, path, poll, proc, random, sched, sock)"
                ),
            })?;
            match remove {
                true => bits &= !set,
                false => bits |= set,
            }
        }
        Ok(TraceFilter { bits })
    }

    /// Whether `call` is traced.
    pub fn allows(&self, call: CallId) -> bool {
        self.bits & call.bit() != 0
    }
}

impl std::str::FromStr for TraceFilter {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, Self::Err> {
        TraceFilter::parse(s)
    }
}

/// The calls `name` stands for, as a bit set: a call, a family, `fs` or `all`.
fn calls_named(name: &str) -> Option<u64> {
    let family = |f: &str| {
        CALLS
            .iter()
            .enumerate()
            .filter(|(_, c)| c.split('_').next() == Some(f))
            .fold(0u64, |bits, (i, _)| bits | 1 << i)
    };
    let bits = match name {
        "all" => TraceFilter::ALL.bits,
        "fs" => family("fd") | family("path"),
        _ => match CallId::of(name) {
            Some(id) => id.bit(),
            None => family(name),
        },
    };
    (bits != 0).then_some(bits)
}

/// One call as the binding received it: which call, through which namespace, and its raw
/// arguments in order (each widened to `u64`; an `i64` as its bits).
#[derive(Clone, Copy, Debug)]
pub struct Call<'a> {
    /// The call.
    pub id: CallId,
    /// The namespace it came through (layouts and whence numbers differ).
    pub abi: Abi,
    /// Its arguments, as the import's signature lists them.
    pub args: &'a [u64],
}

impl Call<'_> {
    fn arg(&self, i: usize) -> u64 {
        self.args.get(i).copied().unwrap_or(0)
    }

    fn u32(&self, i: usize) -> u32 {
        self.arg(i) as u32
    }
}

/// One traced call: what a trace hook receives. `Display` gives the line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceEvent {
    /// The call's WASI name.
    pub call: &'static str,
    /// The decoded arguments, comma-separated.
    pub args: String,
    /// The decoded result: `-1 ENAME (description)`, a value, or `?` for `proc_exit`.
    pub result: String,
    /// The error the call returned, `None` on success.
    pub errno: Option<Errno>,
    /// How long the call took, when timing was asked for.
    pub elapsed: Option<Duration>,
    /// The guest thread that made the call: 0 for the main thread, else the id
    /// `thread-spawn` gave it (wasi-threads programs).
    pub thread: u32,
}

impl TraceEvent {
    /// The event of `proc_exit(code)`, which never returns.
    pub fn exit(code: u32) -> TraceEvent {
        TraceEvent {
            call: "proc_exit",
            args: code.to_string(),
            result: "?".into(),
            errno: None,
            elapsed: None,
            thread: 0,
        }
    }
}

impl fmt::Display for TraceEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.thread != 0 {
            write!(f, "[thread {}] ", self.thread)?;
        }
        write!(f, "{}({}) = {}", self.call, self.args, self.result)?;
        if let Some(t) = self.elapsed {
            write!(f, " <{}.{:09}>", t.as_secs(), t.subsec_nanos())?;
        }
        Ok(())
    }
}

/// Runs `f` (the call itself) between decoding its arguments and its result; returns the
/// call's result unchanged, and the event. `time` measures the call (not the decoding).
pub fn traced<M: GuestMemory + ?Sized>(
    ctx: &mut WasiCtx,
    mem: &mut M,
    call: &Call<'_>,
    time: bool,
    f: impl FnOnce(&mut WasiCtx, &mut M) -> Result<()>,
) -> (Result<()>, TraceEvent) {
    let args = describe_args(&*mem, call);
    let start = time.then(Instant::now);
    let result = f(ctx, mem);
    let elapsed = start.map(|s| s.elapsed());
    let shown = describe_result(&*mem, ctx, call, result);
    let event = TraceEvent {
        call: call.id.name(),
        args,
        result: shown,
        errno: result.err(),
        elapsed,
        thread: 0,
    };
    (result, event)
}

const EFAULT: &str = "<EFAULT>";

/// Longest string shown; the rest is `...`.
const MAX_SHOWN: usize = 4096;

/// Characters of one list of strings (`args_get`, `environ_get`) after which the rest are
/// only counted: with `MAX_SHOWN` per string, no trace line passes [`MAX_LINE`].
const MAX_STRINGS_SHOWN: usize = 4 * MAX_SHOWN;

/// Longest trace line, whatever the guest passes (paths of `MAX_PATH` bytes that are not
/// UTF-8, `MAX_SHOWN` bytes of each shown; subscriptions and strings counted past a few): the
/// trace holds one line at a time, so this is all it ever holds of the guest's.
pub const MAX_LINE: usize = 64 * 1024;

/// Subscriptions and events listed for one `poll_oneoff`; the rest are counted.
const MAX_LISTED: usize = 8;

/// `bytes` quoted and escaped as Rust's `{:?}` does for a string, bytes that are not UTF-8 as
/// `\xNN`; longer than `MAX_SHOWN`, cut with `...` after the closing quote.
fn quote(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(MAX_SHOWN)];
    let mut s = String::with_capacity(shown.len() + 2);
    s.push('"');
    for chunk in shown.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\'' => s.push(c),
                _ => {
                    let _ = write!(s, "{}", c.escape_debug());
                }
            }
        }
        for b in chunk.invalid() {
            let _ = write!(s, "\\x{b:02x}");
        }
    }
    s.push('"');
    if shown.len() < bytes.len() {
        s.push_str("...");
    }
    s
}

/// The string argument at `ptr`, `len` bytes.
fn string<M: GuestMemory + ?Sized>(mem: &M, ptr: u32, len: u32) -> String {
    match mem.slice(ptr, len) {
        Ok(b) => quote(b),
        Err(_) => EFAULT.into(),
    }
}

/// `iovs=COUNT total=BYTES` of an iovec array; `<EFAULT>` for an array, or a buffer, that
/// does not lie in memory.
fn iovs<M: GuestMemory + ?Sized>(mem: &M, ptr: u32, count: u32) -> String {
    match mem.read_iovecs(ptr, count) {
        Ok(v) => {
            let total: u64 = v.iter().map(|&(_, len)| u64::from(len)).sum();
            match v.iter().all(|&(p, len)| mem.slice(p, len).is_ok()) {
                true => format!("iovs={count} total={total}"),
                false => format!("iovs={count} total={EFAULT}"),
            }
        }
        Err(Errno::Inval) => format!("iovs={count} (more than {MAX_IOVS})"),
        Err(_) => format!("iovs={EFAULT}"),
    }
}

/// Bit flags by name (`names[i]` is bit `i`), joined with `|`; `0` for none; bits without a
/// name in hex.
fn flags(v: u64, names: &[&str]) -> String {
    if v == 0 {
        return "0".into();
    }
    let mut parts: Vec<String> = names
        .iter()
        .enumerate()
        .filter(|(i, _)| v & (1 << i) != 0)
        .map(|(_, n)| n.to_string())
        .collect();
    let unknown = v & !((1u64 << names.len()) - 1);
    if unknown != 0 {
        parts.push(format!("{unknown:#x}"));
    }
    parts.join("|")
}

const RIGHTS: [&str; 30] = [
    "FD_DATASYNC",
    "FD_READ",
    "FD_SEEK",
    "FD_FDSTAT_SET_FLAGS",
    "FD_SYNC",
    "FD_TELL",
    "FD_WRITE",
    "FD_ADVISE",
    "FD_ALLOCATE",
    "PATH_CREATE_DIRECTORY",
    "PATH_CREATE_FILE",
    "PATH_LINK_SOURCE",
    "PATH_LINK_TARGET",
    "PATH_OPEN",
    "FD_READDIR",
    "PATH_READLINK",
    "PATH_RENAME_SOURCE",
    "PATH_RENAME_TARGET",
    "PATH_FILESTAT_GET",
    "PATH_FILESTAT_SET_SIZE",
    "PATH_FILESTAT_SET_TIMES",
    "FD_FILESTAT_GET",
    "FD_FILESTAT_SET_SIZE",
    "FD_FILESTAT_SET_TIMES",
    "PATH_SYMLINK",
    "PATH_REMOVE_DIRECTORY",
    "PATH_UNLINK_FILE",
    "POLL_FD_READWRITE",
    "SOCK_SHUTDOWN",
    "SOCK_ACCEPT",
];

/// A rights set: by name, or, with more than half of them, `ALL` less what is missing.
fn rights(v: u64) -> String {
    let all = (1u64 << RIGHTS.len()) - 1;
    let known = v & all;
    if known.count_ones() as usize * 2 <= RIGHTS.len() {
        return flags(v, &RIGHTS);
    }
    let mut s = match known == all {
        true => "ALL".to_string(),
        false => format!("ALL&~({})", flags(all & !known, &RIGHTS)),
    };
    if v & !all != 0 {
        let _ = write!(s, "|{:#x}", v & !all);
    }
    s
}

const OFLAGS: [&str; 4] = ["CREAT", "DIRECTORY", "EXCL", "TRUNC"];
const FDFLAGS: [&str; 5] = ["APPEND", "DSYNC", "NONBLOCK", "RSYNC", "SYNC"];
const LOOKUPFLAGS: [&str; 1] = ["SYMLINK_FOLLOW"];
const FSTFLAGS: [&str; 4] = ["ATIM", "ATIM_NOW", "MTIM", "MTIM_NOW"];
const RIFLAGS: [&str; 2] = ["RECV_PEEK", "RECV_WAITALL"];
const SDFLAGS: [&str; 2] = ["RD", "WR"];

/// A name from a table of numbered names, or the number.
fn named(v: u64, names: &[&str]) -> String {
    match names.get(v as usize) {
        Some(n) => n.to_string(),
        None => v.to_string(),
    }
}

const CLOCKS: [&str; 4] = [
    "REALTIME",
    "MONOTONIC",
    "PROCESS_CPUTIME_ID",
    "THREAD_CPUTIME_ID",
];
const ADVICE: [&str; 6] = [
    "NORMAL",
    "SEQUENTIAL",
    "RANDOM",
    "WILLNEED",
    "DONTNEED",
    "NOREUSE",
];
const FILETYPES: [&str; 8] = [
    "UNKNOWN",
    "BLOCK_DEVICE",
    "CHARACTER_DEVICE",
    "DIRECTORY",
    "REGULAR_FILE",
    "SOCKET_DGRAM",
    "SOCKET_STREAM",
    "SYMBOLIC_LINK",
];
const SIGNALS: [&str; 31] = [
    "0",
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGPOLL",
    "SIGPWR",
    "SIGSYS",
];
const EVENTTYPES: [&str; 3] = ["clock", "fd_read", "fd_write"];

fn whence(abi: Abi, v: u64) -> String {
    match u8::try_from(v).map(|w| Whence::decode(abi, w)) {
        Ok(Ok(Whence::Set)) => "SET".into(),
        Ok(Ok(Whence::Cur)) => "CUR".into(),
        Ok(Ok(Whence::End)) => "END".into(),
        _ => v.to_string(),
    }
}

/// `poll_oneoff`'s subscriptions: `[clock(MONOTONIC, 1000ns), fd_read(0), ...]`.
fn subscriptions<M: GuestMemory + ?Sized>(mem: &M, abi: Abi, ptr: u32, n: u32) -> String {
    let size = abi::subscription_size(abi) as u32;
    let Some(raw) = n.checked_mul(size).and_then(|len| mem.slice(ptr, len).ok()) else {
        return EFAULT.into();
    };
    let mut items: Vec<String> = raw
        .chunks_exact(size as usize)
        .take(MAX_LISTED)
        .map(|r| match abi::decode_subscription(abi, r) {
            Ok(s) => match s.kind {
                SubscriptionKind::Clock {
                    id, timeout, flags, ..
                } => match flags & abi::subclockflags::ABSTIME != 0 {
                    true => format!("clock({}, abstime={timeout}ns)", named(id.into(), &CLOCKS)),
                    false => format!("clock({}, {timeout}ns)", named(id.into(), &CLOCKS)),
                },
                SubscriptionKind::FdRead(fd) => format!("fd_read({fd})"),
                SubscriptionKind::FdWrite(fd) => format!("fd_write({fd})"),
            },
            Err(_) => format!("type={}", r[8]),
        })
        .collect();
    if n as usize > MAX_LISTED {
        items.push(format!("...{} more", n as usize - MAX_LISTED));
    }
    format!("[{}]", items.join(", "))
}

/// The arguments of `call`, decoded from `mem` before the call.
pub fn describe_args<M: GuestMemory + ?Sized>(mem: &M, call: &Call<'_>) -> String {
    let a = |i| call.arg(i);
    let u = |i| call.u32(i);
    let path = |p, l| string(mem, u(p), u(l));
    let parts: Vec<String> = match call.id.name() {
        "args_get" | "args_sizes_get" | "environ_get" | "environ_sizes_get" | "sched_yield" => {
            vec![]
        }
        "clock_res_get" => vec![named(a(0), &CLOCKS)],
        "clock_time_get" => vec![named(a(0), &CLOCKS), format!("precision={}", a(1))],
        "fd_advise" => vec![
            a(0).to_string(),
            format!("offset={}", a(1)),
            format!("len={}", a(2)),
            format!("advice={}", named(a(3), &ADVICE)),
        ],
        "fd_allocate" => vec![
            a(0).to_string(),
            format!("offset={}", a(1)),
            format!("len={}", a(2)),
        ],
        "fd_close" | "fd_datasync" | "fd_sync" | "fd_fdstat_get" | "fd_filestat_get"
        | "fd_prestat_get" | "fd_tell" => vec![a(0).to_string()],
        "fd_fdstat_set_flags" => vec![a(0).to_string(), format!("flags={}", flags(a(1), &FDFLAGS))],
        "fd_fdstat_set_rights" => vec![
            a(0).to_string(),
            format!("rights={}", rights(a(1))),
            format!("inheriting={}", rights(a(2))),
        ],
        "fd_filestat_set_size" => vec![a(0).to_string(), format!("size={}", a(1))],
        "fd_filestat_set_times" => vec![
            a(0).to_string(),
            format!("atim={}", a(1)),
            format!("mtim={}", a(2)),
            format!("flags={}", flags(a(3), &FSTFLAGS)),
        ],
        "fd_pread" | "fd_pwrite" => vec![
            a(0).to_string(),
            iovs(mem, u(1), u(2)),
            format!("offset={}", a(3)),
        ],
        "fd_read" | "fd_write" => vec![a(0).to_string(), iovs(mem, u(1), u(2))],
        "fd_prestat_dir_name" => vec![a(0).to_string(), format!("len={}", a(2))],
        "fd_readdir" => vec![
            a(0).to_string(),
            format!("buf_len={}", a(2)),
            format!("cookie={}", a(3)),
        ],
        "fd_renumber" => vec![a(0).to_string(), a(1).to_string()],
        "fd_seek" => vec![
            a(0).to_string(),
            format!("offset={}", a(1) as i64),
            format!("whence={}", whence(call.abi, a(2))),
        ],
        "path_create_directory" | "path_remove_directory" | "path_unlink_file" => {
            vec![a(0).to_string(), path(1, 2)]
        }
        "path_filestat_get" => vec![
            a(0).to_string(),
            path(2, 3),
            format!("lookup={}", flags(a(1), &LOOKUPFLAGS)),
        ],
        "path_filestat_set_times" => vec![
            a(0).to_string(),
            path(2, 3),
            format!("lookup={}", flags(a(1), &LOOKUPFLAGS)),
            format!("atim={}", a(4)),
            format!("mtim={}", a(5)),
            format!("flags={}", flags(a(6), &FSTFLAGS)),
        ],
        "path_link" => vec![
            a(0).to_string(),
            path(2, 3),
            format!("lookup={}", flags(a(1), &LOOKUPFLAGS)),
            a(4).to_string(),
            path(5, 6),
        ],
        "path_open" => vec![
            a(0).to_string(),
            path(2, 3),
            format!("lookup={}", flags(a(1), &LOOKUPFLAGS)),
            format!("oflags={}", flags(a(4), &OFLAGS)),
            format!("rights={}", rights(a(5))),
            format!("inheriting={}", rights(a(6))),
            format!("fdflags={}", flags(a(7), &FDFLAGS)),
        ],
        "path_readlink" => vec![a(0).to_string(), path(1, 2), format!("buf_len={}", a(4))],
        "path_rename" => vec![a(0).to_string(), path(1, 2), a(3).to_string(), path(4, 5)],
        "path_symlink" => vec![path(0, 1), a(2).to_string(), path(3, 4)],
        "poll_oneoff" => vec![subscriptions(mem, call.abi, u(0), u(2))],
        "proc_exit" => vec![a(0).to_string()],
        "proc_raise" => vec![named(a(0), &SIGNALS)],
        "random_get" => vec![format!("len={}", a(1))],
        "sock_accept" => vec![a(0).to_string(), format!("flags={}", flags(a(1), &FDFLAGS))],
        "sock_recv" => vec![
            a(0).to_string(),
            iovs(mem, u(1), u(2)),
            format!("flags={}", flags(a(3), &RIFLAGS)),
        ],
        "sock_send" => vec![
            a(0).to_string(),
            iovs(mem, u(1), u(2)),
            format!("flags={}", a(3)),
        ],
        "sock_shutdown" => vec![a(0).to_string(), format!("how={}", flags(a(1), &SDFLAGS))],
        _ => call.args.iter().map(u64::to_string).collect(),
    };
    parts.join(", ")
}

fn read_u32<M: GuestMemory + ?Sized>(mem: &M, ptr: u32) -> String {
    mem.read_u32(ptr)
        .map_or_else(|_| EFAULT.into(), |v| v.to_string())
}

fn read_u64<M: GuestMemory + ?Sized>(mem: &M, ptr: u32) -> String {
    let mut b = [0u8; 8];
    match mem.read(ptr, &mut b) {
        Ok(()) => u64::from_le_bytes(b).to_string(),
        Err(_) => EFAULT.into(),
    }
}

/// The strings of `args_get` or `environ_get`, each quoted (and cut) as `quote` does, until
/// the list passes `MAX_STRINGS_SHOWN` characters; the rest are counted.
fn strings(list: &[Vec<u8>]) -> String {
    let mut items: Vec<String> = Vec::new();
    let mut shown = 0;
    for s in list {
        if shown >= MAX_STRINGS_SHOWN {
            break;
        }
        let q = quote(s);
        shown += q.len() + 2;
        items.push(q);
    }
    if items.len() < list.len() {
        items.push(format!("...{} more", list.len() - items.len()));
    }
    format!("[{}]", items.join(", "))
}

fn filestat<M: GuestMemory + ?Sized>(mem: &M, abi: Abi, ptr: u32) -> String {
    let st = mem
        .slice(ptr, abi::filestat_size(abi))
        .and_then(|raw| abi::decode_filestat(abi, raw));
    match st {
        Ok(st) => format!(
            "{{filetype={}, size={}, nlink={}}}",
            named(st.filetype.into(), &FILETYPES),
            st.size,
            st.nlink
        ),
        Err(_) => EFAULT.into(),
    }
}

fn fdstat<M: GuestMemory + ?Sized>(mem: &M, ptr: u32) -> String {
    let mut raw = [0u8; 24];
    match mem.read(ptr, &mut raw) {
        Ok(()) => {
            let st = abi::decode_fdstat(&raw);
            format!(
                "{{filetype={}, flags={}, rights={}, inheriting={}}}",
                named(st.filetype.into(), &FILETYPES),
                flags(st.flags.into(), &FDFLAGS),
                rights(st.rights_base),
                rights(st.rights_inheriting)
            )
        }
        Err(_) => EFAULT.into(),
    }
}

/// `fd_readdir`'s result: bytes used, and how many entries they hold.
fn readdir<M: GuestMemory + ?Sized>(mem: &M, buf: u32, bufused: u32) -> String {
    let Ok(used) = mem.read_u32(bufused) else {
        return EFAULT.into();
    };
    let Ok(raw) = mem.slice(buf, used) else {
        return format!("{used} ({EFAULT})");
    };
    let (mut at, mut whole) = (0usize, 0usize);
    while at < raw.len() {
        let namlen = raw.get(at + 16..at + 20).map_or(usize::MAX, |b| {
            u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize
        });
        at = at.saturating_add(24).saturating_add(namlen);
        if at <= raw.len() {
            whole += 1;
        }
    }
    let s = if whole == 1 { "entry" } else { "entries" };
    match at > raw.len() {
        true => format!("{used} ({whole} {s}, the last cut short)"),
        false => format!("{used} ({whole} {s})"),
    }
}

/// `poll_oneoff`'s result: the number of events, and each event's type and outcome.
fn events<M: GuestMemory + ?Sized>(mem: &M, at: u32, nevents: u32) -> String {
    let Ok(n) = mem.read_u32(nevents) else {
        return EFAULT.into();
    };
    let mut items = Vec::new();
    for i in 0..n.min(MAX_LISTED as u32) {
        let mut raw = [0u8; abi::EVENT_SIZE];
        let ptr = at.wrapping_add(i * abi::EVENT_SIZE as u32);
        if mem.read(ptr, &mut raw).is_err() {
            items.push(EFAULT.to_string());
            break;
        }
        let e = abi::decode_event(&raw);
        let mut s = named(e.kind.into(), &EVENTTYPES);
        match Errno::from_code(e.error) {
            Some(err) => {
                let _ = write!(s, " {}", err.name());
            }
            None if e.kind != abi::eventtype::CLOCK => {
                let _ = write!(s, " nbytes={}", e.nbytes);
            }
            None => {}
        }
        items.push(s);
    }
    if n as usize > MAX_LISTED {
        items.push(format!("...{} more", n as usize - MAX_LISTED));
    }
    format!("{n} [{}]", items.join(", "))
}

/// The result of `call`, decoded from `mem` (and the context) after the call.
pub fn describe_result<M: GuestMemory + ?Sized>(
    mem: &M,
    ctx: &WasiCtx,
    call: &Call<'_>,
    result: Result<()>,
) -> String {
    if let Err(e) = result {
        return format!("-1 {} ({})", e.name(), e.description());
    }
    let u = |i| call.u32(i);
    match call.id.name() {
        "args_get" => strings(&ctx.args),
        "environ_get" => strings(&ctx.env),
        "args_sizes_get" | "environ_sizes_get" => format!(
            "{{count={}, bytes={}}}",
            read_u32(mem, u(0)),
            read_u32(mem, u(1))
        ),
        "clock_res_get" => read_u64(mem, u(1)),
        "clock_time_get" => read_u64(mem, u(2)),
        "fd_fdstat_get" => fdstat(mem, u(1)),
        "fd_filestat_get" => filestat(mem, call.abi, u(1)),
        "path_filestat_get" => filestat(mem, call.abi, u(4)),
        "fd_read" | "fd_write" | "sock_send" => read_u32(mem, u(3)),
        "fd_pread" | "fd_pwrite" | "sock_recv" => read_u32(mem, u(4)),
        "sock_accept" => read_u32(mem, u(2)),
        "path_open" => read_u32(mem, u(8)),
        "fd_seek" => read_u64(mem, u(3)),
        "fd_tell" => read_u64(mem, u(1)),
        "fd_prestat_get" => {
            let mut raw = [0u8; 8];
            match mem.read(u(1), &mut raw) {
                Ok(()) if raw[0] == 0 => {
                    let len = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
                    format!("{{dir, name_len={len}}}")
                }
                Ok(()) => format!("{{type={}}}", raw[0]),
                Err(_) => EFAULT.into(),
            }
        }
        "fd_prestat_dir_name" => {
            // The call wrote the preopen's name, no more.
            let len = match ctx.fds.get(u(0)).map(|e| &e.kind) {
                Ok(FdKind::Dir {
                    preopen: Some(name),
                    ..
                }) => (name.len() as u32).min(u(2)),
                _ => u(2),
            };
            string(mem, u(1), len)
        }
        "fd_readdir" => readdir(mem, u(1), u(4)),
        "path_readlink" => match mem.read_u32(u(5)) {
            Ok(used) => string(mem, u(3), used),
            Err(_) => EFAULT.into(),
        },
        "poll_oneoff" => events(mem, u(1), u(3)),
        _ => "0".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FileData, Vfs};
    use crate::wasi::abi::{lookupflags, rights as r};

    fn ctx() -> WasiCtx {
        let mut vfs = Vfs::default();
        let root = vfs.root();
        vfs.write_file(
            root,
            "home/user/hello.txt",
            FileData::from_bytes("hello, world".into()),
        )
        .unwrap();
        let mut ctx = WasiCtx::new(vfs);
        ctx.preopen(root, "/").unwrap();
        ctx
    }

    /// Runs `path_open(3, path at 0, ...)` traced; the line and the result.
    fn open_traced(
        ctx: &mut WasiCtx,
        mem: &mut Vec<u8>,
        path_ptr: u32,
        len: u32,
        out: u32,
    ) -> (Result<()>, String) {
        let args = [
            3,
            u64::from(lookupflags::SYMLINK_FOLLOW),
            u64::from(path_ptr),
            u64::from(len),
            0,
            r::FD_READ | r::FD_SEEK,
            0,
            0,
            u64::from(out),
        ];
        let c = Call {
            id: CallId::of("path_open").unwrap(),
            abi: Abi::P1,
            args: &args,
        };
        let (res, ev) = traced(ctx, mem, &c, false, |ctx, mem| {
            ctx.path_open(
                mem,
                3,
                1,
                path_ptr,
                len,
                0,
                r::FD_READ | r::FD_SEEK,
                0,
                0,
                out,
            )
        });
        (res, ev.to_string())
    }

    #[test]
    fn path_open_lines() {
        let mut ctx = ctx();
        let mut mem = vec![0u8; 4096];
        let p = b"home/user/hello.txt";
        mem[..p.len()].copy_from_slice(p);
        let (res, line) = open_traced(&mut ctx, &mut mem, 0, p.len() as u32, 1024);
        assert_eq!(res, Ok(()));
        assert_eq!(
            line,
            "path_open(3, \"home/user/hello.txt\", lookup=SYMLINK_FOLLOW, oflags=0, \
             rights=FD_READ|FD_SEEK, inheriting=0, fdflags=0) = 4"
        );
        mem[..4].copy_from_slice(b"nope");
        let (res, line) = open_traced(&mut ctx, &mut mem, 0, 4, 1024);
        assert_eq!(res, Err(Errno::Noent));
        assert!(
            line.ends_with("\"nope\", lookup=SYMLINK_FOLLOW, oflags=0, rights=FD_READ|FD_SEEK, inheriting=0, fdflags=0) = -1 ENOENT (No such file or directory)"),
            "{line}"
        );
    }

    #[test]
    fn a_bad_pointer_is_efault_traced_or_not() {
        // The same call with a path outside memory, with and without the trace.
        let mut plain = ctx();
        let mut mem = vec![0u8; 4096];
        let untraced = plain.path_open(&mut mem, 3, 1, 4000, 200, 0, r::FD_READ, 0, 0, 1024);
        let before = mem.clone();
        let mut traced_ctx = ctx();
        let (res, line) = open_traced(&mut traced_ctx, &mut mem, 4000, 200, 1024);
        assert_eq!(untraced, Err(Errno::Fault));
        assert_eq!(res, untraced);
        assert_eq!(mem, before, "memory is untouched");
        assert!(line.starts_with("path_open(3, <EFAULT>, "), "{line}");
        assert!(line.ends_with(" = -1 EFAULT (Bad address)"), "{line}");
        // A bad out-pointer: the path still decodes, the call still fails.
        mem[..4].copy_from_slice(b"home");
        let (res, line) = open_traced(&mut traced_ctx, &mut mem, 0, 4, 5000);
        assert_eq!(res, Err(Errno::Fault));
        assert!(line.starts_with("path_open(3, \"home\", "), "{line}");
    }

    #[test]
    fn strings_are_escaped_like_debug() {
        assert_eq!(quote(b"a\"b\\c\n"), r#""a\"b\\c\n""#);
        assert_eq!(quote("it's é".as_bytes()), "\"it's é\"");
        assert_eq!(quote(b"\xff/x\x1b"), r#""\xff/x\u{1b}""#);
        assert_eq!(
            quote(&[b'a'; MAX_SHOWN + 1]),
            format!("\"{}\"...", "a".repeat(MAX_SHOWN))
        );
    }

    #[test]
    fn no_line_passes_max_line() {
        // The widest things a guest can make the trace show: two paths of control bytes (each
        // shown as `\u{N}`) and not UTF-8, in one call; a huge argument list.
        let mut ctx = ctx();
        let path: Vec<u8> = (0..4095u32).map(|i| [0x01, 0xff][i as usize % 2]).collect();
        let mut mem = path.clone();
        mem.resize(8192, 0);
        let args = [3, 0, 4095, 3, 0, 4095];
        let call = Call {
            id: CallId::of("path_rename").unwrap(),
            abi: Abi::P1,
            args: &args,
        };
        let line = describe_args(&mem, &call);
        assert!(line.len() > 2 * 4 * MAX_SHOWN / 2, "{}", line.len());
        assert!(line.len() < MAX_LINE, "{}", line.len());
        ctx.args = vec![path.clone(); 100_000];
        let call = Call {
            id: CallId::of("args_get").unwrap(),
            abi: Abi::P1,
            args: &[0, 0],
        };
        let shown = describe_result(&mem, &ctx, &call, Ok(()));
        assert!(shown.len() < MAX_LINE, "{}", shown.len());
        assert!(shown.ends_with("more]"), "the rest counted");
    }

    #[test]
    fn flags_and_rights_by_name() {
        assert_eq!(flags(0, &OFLAGS), "0");
        assert_eq!(flags(9, &OFLAGS), "CREAT|TRUNC");
        assert_eq!(flags(0x21, &OFLAGS), "CREAT|0x20");
        assert_eq!(rights(r::FD_READ | r::FD_SEEK), "FD_READ|FD_SEEK");
        assert_eq!(rights((1 << 30) - 1), "ALL");
        // What wasi-libc asks for when it opens a file for reading.
        assert_eq!(
            rights(264240830),
            "ALL&~(FD_DATASYNC|FD_WRITE|FD_ALLOCATE|FD_FILESTAT_SET_SIZE|SOCK_SHUTDOWN|SOCK_ACCEPT)"
        );
        assert_eq!(rights(u64::MAX), "ALL|0xffffffffc0000000");
        assert_eq!(whence(Abi::P0, 0), "CUR");
        assert_eq!(whence(Abi::P1, 0), "SET");
        assert_eq!(whence(Abi::P1, 300), "300");
    }

    #[test]
    fn reads_and_iovecs() {
        let mut ctx = ctx();
        let mut mem = vec![0u8; 4096];
        let p = b"home/user/hello.txt";
        mem[..p.len()].copy_from_slice(p);
        open_traced(&mut ctx, &mut mem, 0, p.len() as u32, 1024)
            .0
            .unwrap();
        // Two iovecs at 64: 8 bytes at 200, 100 bytes at 300.
        for (i, v) in [200u32, 8, 300, 100].iter().enumerate() {
            mem[64 + i * 4..68 + i * 4].copy_from_slice(&v.to_le_bytes());
        }
        let args = [4, 64, 2, 128];
        let c = Call {
            id: CallId::of("fd_read").unwrap(),
            abi: Abi::P1,
            args: &args,
        };
        let (_, ev) = traced(&mut ctx, &mut mem, &c, true, |ctx, mem| {
            ctx.fd_read(mem, 4, 64, 2, 128)
        });
        assert_eq!(ev.args, "4, iovs=2 total=108");
        assert_eq!(ev.result, "12");
        assert!(
            ev.to_string()
                .starts_with("fd_read(4, iovs=2 total=108) = 12 <0.")
        );
        // A buffer outside memory.
        mem[68..72].copy_from_slice(&5000u32.to_le_bytes());
        assert_eq!(describe_args(&mem, &c), "4, iovs=2 total=<EFAULT>");
        let c = Call {
            args: &[4, 4090, 2, 128],
            ..c
        };
        assert_eq!(describe_args(&mem, &c), "4, iovs=<EFAULT>");
    }

    #[test]
    fn filestat_readdir_and_poll() {
        let mut ctx = ctx();
        let mut mem = vec![0u8; 4096];
        let p = b"home/user";
        mem[..p.len()].copy_from_slice(p);
        for abi in [Abi::P1, Abi::P0] {
            let args = [3, 1, 0, p.len() as u64, 512];
            let c = Call {
                id: CallId::of("path_filestat_get").unwrap(),
                abi,
                args: &args,
            };
            let (_, ev) = traced(&mut ctx, &mut mem, &c, false, |ctx, mem| {
                ctx.path_filestat_get(mem, abi, 3, 1, 0, p.len() as u32, 512)
            });
            assert_eq!(
                ev.to_string(),
                "path_filestat_get(3, \"home/user\", lookup=SYMLINK_FOLLOW) = {filetype=DIRECTORY, size=1, nlink=2}"
            );
        }
        // Open the directory and list it.
        let args = [3, 1, 0, p.len() as u64, 2, r::FD_READDIR, 0, 0, 1024];
        let c = Call {
            id: CallId::of("path_open").unwrap(),
            abi: Abi::P1,
            args: &args,
        };
        traced(&mut ctx, &mut mem, &c, false, |ctx, mem| {
            ctx.path_open(mem, 3, 1, 0, p.len() as u32, 2, r::FD_READDIR, 0, 0, 1024)
        })
        .0
        .unwrap();
        let c = Call {
            id: CallId::of("fd_readdir").unwrap(),
            abi: Abi::P1,
            args: &[4, 2048, 1024, 0, 100],
        };
        let (_, ev) = traced(&mut ctx, &mut mem, &c, false, |ctx, mem| {
            ctx.fd_readdir(mem, 4, 2048, 1024, 0, 100)
        });
        // ".", ".." and hello.txt: 3 headers of 24 bytes, names of 1 + 2 + 9.
        assert_eq!(
            ev.to_string(),
            "fd_readdir(4, buf_len=1024, cookie=0) = 84 (3 entries)"
        );
        let c = Call {
            args: &[4, 2048, 30, 0, 100],
            ..c
        };
        let (_, ev) = traced(&mut ctx, &mut mem, &c, false, |ctx, mem| {
            ctx.fd_readdir(mem, 4, 2048, 30, 0, 100)
        });
        assert_eq!(ev.result, "30 (1 entry, the last cut short)");

        // poll_oneoff: a relative clock and stdout.
        let mut sub = [0u8; 48];
        sub[8] = abi::eventtype::CLOCK;
        sub[16] = 1;
        sub[24..32].copy_from_slice(&1000u64.to_le_bytes());
        mem[2048..2096].copy_from_slice(&sub);
        let mut sub = [0u8; 48];
        sub[8] = abi::eventtype::FD_WRITE;
        sub[16] = 1;
        mem[2096..2144].copy_from_slice(&sub);
        let c = Call {
            id: CallId::of("poll_oneoff").unwrap(),
            abi: Abi::P1,
            args: &[2048, 3000, 2, 100],
        };
        let (_, ev) = traced(&mut ctx, &mut mem, &c, false, |ctx, mem| {
            ctx.poll_oneoff(mem, Abi::P1, 2048, 3000, 2, 100)
        });
        assert_eq!(
            ev.to_string(),
            "poll_oneoff([clock(MONOTONIC, 1000ns), fd_write(1)]) = 1 [fd_write nbytes=0]"
        );
    }

    #[test]
    fn filters() {
        let id = |n| CallId::of(n).unwrap();
        let f = TraceFilter::parse("fs").unwrap();
        assert!(f.allows(id("path_open")) && f.allows(id("fd_read")));
        assert!(!f.allows(id("clock_time_get")) && !f.allows(id("args_get")));
        let f = TraceFilter::parse("path_open, fd_read").unwrap();
        assert!(f.allows(id("path_open")) && f.allows(id("fd_read")));
        assert!(!f.allows(id("fd_write")));
        let f = TraceFilter::parse("!clock,!poll").unwrap();
        assert!(f.allows(id("fd_write")) && !f.allows(id("clock_time_get")));
        assert!(!f.allows(id("poll_oneoff")));
        let f = TraceFilter::parse("fs,!fd_write").unwrap();
        assert!(f.allows(id("fd_read")) && !f.allows(id("fd_write")));
        assert_eq!(TraceFilter::parse("all").unwrap(), TraceFilter::ALL);
        assert_eq!(
            "proc"
                .parse::<TraceFilter>()
                .map(|f| f.allows(id("proc_exit"))),
            Ok(true)
        );
        for bad in ["", "fs,", "open", "fd_", "!nope"] {
            assert!(TraceFilter::parse(bad).is_err(), "{bad}");
        }
        assert!(TraceFilter::parse("open").unwrap_err().contains("\"open\""));
        for (i, name) in CALLS.iter().enumerate() {
            assert_eq!(CallId::of(name).map(|c| c.0 as usize), Some(i));
        }
    }

    proptest::proptest! {
        /// Decoding reads whatever memory and arguments a guest passes without panicking.
        #[test]
        fn decoding_any_memory_never_panics(
            mem in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..768),
            id in 0..CALLS.len(),
            args in proptest::collection::vec(
                proptest::prop_oneof![0u64..800, proptest::prelude::any::<u64>()],
                0..10,
            ),
            p0: bool,
            failed: bool,
        ) {
            let ctx = ctx();
            let call = Call {
                id: CallId(id as u8),
                abi: if p0 { Abi::P0 } else { Abi::P1 },
                args: &args,
            };
            describe_args(&mem, &call);
            let result = if failed { Err(Errno::Fault) } else { Ok(()) };
            describe_result(&mem, &ctx, &call, result);
        }
    }
}
