//! The state one guest's WASI calls act on: its filesystem namespace, fd table, arguments,
//! environment, stdio, clocks and randomness. The syscall families (one module each) are
//! methods on `WasiCtx`; none of them touches the host filesystem.

use super::faults::FaultPlan;
use super::fdtable::{FdEntry, FdKind, FdTable, Stdio};
use super::rights;
use crate::vfs::{Errno, NodeId, Result, Vfs};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Where the guest's stdin comes from.
pub enum Input {
    /// The host process's stdin.
    Inherit,
    /// Fixed bytes, then end of file.
    Bytes {
        /// The bytes.
        data: Vec<u8>,
        /// How many the guest has read.
        pos: usize,
    },
    /// Immediately at end of file.
    Null,
    /// A host file, read from its current position as the guest reads.
    File(std::fs::File),
}

/// A shared buffer that captures a guest stream; clone it to read what was written.
#[derive(Clone, Debug, Default)]
pub struct Capture(Arc<Mutex<Vec<u8>>>);

impl Capture {
    /// Everything captured so far (a copy).
    pub fn contents(&self) -> Vec<u8> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }

    /// Everything captured so far, moved out (the buffer is left empty): no copy, so handing
    /// a run's output over never holds it twice.
    pub fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .map(|mut v| std::mem::take(&mut *v))
            .unwrap_or_default()
    }

    fn append(&self, data: &[u8]) {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(data);
        }
    }
}

/// Where a guest's stdout or stderr goes.
#[derive(Clone, Debug)]
pub enum Output {
    /// The host process's own stream.
    Inherit,
    /// Into a shared buffer.
    Capture(Capture),
    /// Nowhere.
    Null,
    /// A host file opened for writing, written through as the guest writes.
    File(Arc<std::fs::File>),
}

/// What a stdio stream is, as `fd_fdstat_get` and `fd_filestat_get` tell the guest on fds
/// 0–2. wasi-libc's `isatty` (and so Rust's `IsTerminal`, CPython's interactive mode, line
/// buffering) takes a `CHARACTER_DEVICE` whose rights lack `FD_SEEK` and `FD_TELL` for a
/// terminal; stdio never has those rights, so only `Terminal` reads as one. Decided when the
/// run is set up (the runtime's builder looks at the host's streams); the syscall layer only
/// reports it. The answers are wasmtime's (`wasmtime-wasi` preview1: a terminal is
/// `CHARACTER_DEVICE`, any other stream `UNKNOWN`), except that a regular file says so.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum StdioKind {
    /// A terminal: `CHARACTER_DEVICE`.
    Terminal,
    /// A regular file (`< file`, `> file`, `--stdin FILE`): `REGULAR_FILE`. Still not
    /// seekable through stdio (`fd_seek` gives `ESPIPE`), and its filestat size is 0.
    RegularFile,
    /// Anything else: a pipe, a socket, a device that is not a terminal (`/dev/null`), bytes
    /// or capture of the embedder's, nowhere, and every inherited stream of a deterministic
    /// run: `UNKNOWN`.
    #[default]
    Unknown,
}

impl StdioKind {
    /// The WASI filetype the guest is told.
    pub fn filetype(self) -> u8 {
        match self {
            StdioKind::Terminal => super::abi::filetype::CHARACTER_DEVICE,
            StdioKind::RegularFile => super::abi::filetype::REGULAR_FILE,
            StdioKind::Unknown => super::abi::filetype::UNKNOWN,
        }
    }
}

/// Clocks and randomness a guest observes; deterministic runs substitute their own.
pub trait Environment: Send {
    /// Wall-clock time, ns since the Unix epoch.
    fn realtime_ns(&mut self) -> u64;
    /// Monotonic time, ns since an arbitrary start.
    fn monotonic_ns(&mut self) -> u64;
    /// CPU time of the process (and thread), ns.
    fn cputime_ns(&mut self) -> u64;
    /// Fills `buf` with random bytes (`random_get`).
    fn fill_random(&mut self, buf: &mut [u8]) -> Result<()>;
    /// Waits `ns` (poll_oneoff with clock subscriptions).
    fn sleep_ns(&mut self, ns: u64);
    /// True once the run's time is up (its timeout): long waits stop early. Default: never.
    fn expired(&self) -> bool {
        false
    }
    /// Whether `sleep_ns` really waits (the host's clocks) rather than moving virtual clocks
    /// on (a deterministic run): a runtime with several guest threads waits outside the
    /// context in the first case. Default: yes.
    fn waits_for_real(&self) -> bool {
        true
    }
}

/// The host's clocks and randomness.
#[derive(Debug)]
pub struct HostEnvironment {
    start: Instant,
}

impl Default for HostEnvironment {
    fn default() -> Self {
        HostEnvironment {
            start: Instant::now(),
        }
    }
}

impl Environment for HostEnvironment {
    fn realtime_ns(&mut self) -> u64 {
        crate::vfs::Clock::now_ns(&crate::vfs::SystemClock)
    }

    fn monotonic_ns(&mut self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    fn cputime_ns(&mut self) -> u64 {
        cpu_time_ns().unwrap_or_else(|| self.monotonic_ns())
    }

    fn fill_random(&mut self, buf: &mut [u8]) -> Result<()> {
        getrandom::fill(buf).map_err(|_| Errno::Io)
    }

    fn sleep_ns(&mut self, ns: u64) {
        std::thread::sleep(std::time::Duration::from_nanos(ns));
    }
}

#[cfg(unix)]
fn cpu_time_ns() -> Option<u64> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec through a valid pointer.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    (rc == 0).then(|| ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64)
}

#[cfg(not(unix))]
fn cpu_time_ns() -> Option<u64> {
    None
}

/// Everything one guest's WASI calls act on; the syscalls are its methods, one module per
/// family (`fd`, `path`, `poll`, `proc`, `sock`).
pub struct WasiCtx {
    /// The filesystem namespace.
    pub vfs: Vfs,
    /// The open fds.
    pub fds: FdTable,
    /// `argv`, `argv[0]` first.
    pub args: Vec<Vec<u8>>,
    /// `KEY=VALUE` strings.
    pub env: Vec<Vec<u8>>,
    /// Where stdin comes from.
    pub stdin: Input,
    /// Where stdout goes.
    pub stdout: Output,
    /// Where stderr goes.
    pub stderr: Output,
    /// What stdin, stdout and stderr are, in that order (default: all `Unknown`; the
    /// runtime's builder sets them from what it was given).
    pub stdio_kinds: [StdioKind; 3],
    /// Clocks and randomness (the host's, or deterministic ones).
    pub environment: Box<dyn Environment>,
    /// Faults to inject into the guest's calls (default: none).
    pub faults: FaultPlan,
}

impl WasiCtx {
    /// A context over `vfs` with stdio at fds 0–2 (inherited) and no preopens yet.
    pub fn new(vfs: Vfs) -> Self {
        let mut fds = FdTable::default();
        for (stdio, read) in [
            (Stdio::Stdin, true),
            (Stdio::Stdout, false),
            (Stdio::Stderr, false),
        ] {
            let base = if read {
                rights::FD_READ | rights::POLL_FD_READWRITE | rights::FD_FILESTAT_GET
            } else {
                rights::FD_WRITE | rights::POLL_FD_READWRITE | rights::FD_FILESTAT_GET
            } | rights::FD_FDSTAT_SET_FLAGS;
            fds.insert(FdEntry {
                kind: FdKind::Stdio(stdio),
                rights_base: base,
                rights_inheriting: 0,
                flags: 0,
                read,
                write: !read,
                path: None,
            })
            .expect("an empty table has room for three fds");
        }
        WasiCtx {
            vfs,
            fds,
            args: Vec::new(),
            env: Vec::new(),
            stdin: Input::Inherit,
            stdout: Output::Inherit,
            stderr: Output::Inherit,
            stdio_kinds: [StdioKind::Unknown; 3],
            environment: Box::new(HostEnvironment::default()),
            faults: FaultPlan::default(),
        }
    }

    /// Preopens the directory `dir` under the guest-visible `name`; returns its fd.
    pub fn preopen(&mut self, dir: NodeId, name: &str) -> Result<u32> {
        if !self.vfs.node(dir)?.is_dir() {
            return Err(Errno::Notdir);
        }
        self.vfs.retain(dir)?;
        self.fds.insert(FdEntry {
            kind: FdKind::Dir {
                node: dir,
                preopen: Some(name.to_string()),
            },
            rights_base: rights::DIR_BASE,
            rights_inheriting: rights::DIR_INHERITING,
            flags: 0,
            read: true,
            write: false,
            path: Some(name.to_string()),
        })
    }

    /// What the stream `which` is (see `StdioKind`).
    pub fn stdio_kind(&self, which: Stdio) -> StdioKind {
        self.stdio_kinds[which.index()]
    }

    pub(crate) fn read_stdin(&mut self, buf: &mut [u8]) -> Result<usize> {
        match &mut self.stdin {
            Input::Inherit => std::io::stdin().read(buf).map_err(|_| Errno::Io),
            Input::Bytes { data, pos } => {
                let n = (data.len() - *pos).min(buf.len());
                buf[..n].copy_from_slice(&data[*pos..*pos + n]);
                *pos += n;
                Ok(n)
            }
            Input::Null => Ok(0),
            Input::File(f) => f.read(buf).map_err(|_| Errno::Io),
        }
    }

    /// Whether a read from stdin would not block.
    pub(crate) fn stdin_ready(&self) -> bool {
        match &self.stdin {
            Input::Inherit => host_stdin_ready(),
            Input::Bytes { .. } | Input::Null | Input::File(_) => true,
        }
    }

    pub(crate) fn write_stdio(&mut self, which: Stdio, data: &[u8]) -> Result<()> {
        let out = match which {
            Stdio::Stdout => &self.stdout,
            Stdio::Stderr => &self.stderr,
            Stdio::Stdin => return Err(Errno::Badf),
        };
        match out {
            Output::Inherit if which == Stdio::Stdout => {
                let mut o = std::io::stdout().lock();
                o.write_all(data)
                    .and_then(|_| o.flush())
                    .map_err(|_| Errno::Io)
            }
            Output::Inherit => std::io::stderr().write_all(data).map_err(|_| Errno::Io),
            Output::Capture(c) => {
                // Captured output is held by the host: it counts against the run's memory
                // budget, and past it writes fail as on a full disk.
                if let Some(budget) = self.vfs.budget() {
                    budget.charge(data.len() as u64, 0)?;
                }
                c.append(data);
                Ok(())
            }
            Output::Null => Ok(()),
            Output::File(f) => (&**f).write_all(data).map_err(|_| Errno::Io),
        }
    }
}

impl WasiCtx {
    /// Closes every fd and hands back the filesystem (files unlinked while open are freed).
    pub fn into_vfs(mut self) -> Vfs {
        self.close_all();
        std::mem::take(&mut self.vfs)
    }

    fn close_all(&mut self) {
        let nodes: Vec<NodeId> = self.fds.iter().filter_map(|(_, e)| e.node()).collect();
        self.fds = FdTable::default();
        for n in nodes {
            self.vfs.release(n);
        }
    }
}

impl Drop for WasiCtx {
    fn drop(&mut self) {
        self.close_all();
    }
}

#[cfg(unix)]
fn host_stdin_ready() -> bool {
    let mut pfd = libc::pollfd {
        fd: 0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: poll reads and writes one pollfd through a valid pointer; timeout 0 never blocks.
    let rc = unsafe { libc::poll(&mut pfd, 1, 0) };
    rc > 0
}

#[cfg(not(unix))]
fn host_stdin_ready() -> bool {
    true
}

/// The run's limits as the guest sees them through the syscall layer.
#[cfg(test)]
mod limit_tests {
    use crate::vfs::Vfs;
    use crate::vfs::budget::INODE_COST;
    use crate::vfs::{Errno, Result};
    use crate::wasi::abi::oflags;
    use crate::wasi::ctx::WasiCtx;
    use crate::wasi::rights;

    fn guest(vfs: Vfs, max_fds: usize) -> (WasiCtx, u32, Vec<u8>) {
        let root = vfs.root();
        let mut ctx = WasiCtx::new(vfs);
        ctx.fds.set_max(max_fds);
        let dir = ctx.preopen(root, "/").unwrap();
        (ctx, dir, vec![0u8; 4096])
    }

    fn open(
        ctx: &mut WasiCtx,
        mem: &mut Vec<u8>,
        dir: u32,
        name: &str,
        oflags: u16,
    ) -> Result<u32> {
        mem[..name.len()].copy_from_slice(name.as_bytes());
        let base = rights::FD_READ | rights::FD_WRITE;
        ctx.path_open(mem, dir, 0, 0, name.len() as u32, oflags, base, 0, 0, 1024)?;
        Ok(u32::from_le_bytes(mem[1024..1028].try_into().unwrap()))
    }

    #[test]
    fn emfile_beyond_max_fds() {
        let (mut ctx, dir, mut mem) = guest(Vfs::default(), 8);
        assert_eq!(dir, 3);
        let mut fds = Vec::new();
        let err = loop {
            match open(&mut ctx, &mut mem, dir, "f", oflags::CREAT) {
                Ok(fd) => fds.push(fd),
                Err(e) => break e,
            }
        };
        assert_eq!(err, Errno::Mfile);
        assert_eq!(fds, [4, 5, 6, 7], "stdio and the preopen count");
        ctx.fd_close(5).unwrap();
        assert_eq!(open(&mut ctx, &mut mem, dir, "f", 0), Ok(5));
        assert_eq!(open(&mut ctx, &mut mem, dir, "f", 0), Err(Errno::Mfile));
    }

    #[test]
    fn iovecs_adding_up_past_u32_are_einval_and_move_nothing() {
        use crate::wasi::ctx::{Capture, Output};
        use crate::wasi::memory::MAX_IOVS;
        // 4 MiB of data at 0, then the iovec array: MAX_IOVS times the whole 4 MiB is 4 GiB,
        // one byte more than a call can report.
        let data = 4u32 << 20;
        let mut mem = vec![0u8; data as usize + MAX_IOVS as usize * 8 + 64];
        let iovs = data;
        for i in 0..MAX_IOVS {
            let at = (iovs + i * 8) as usize;
            mem[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
            mem[at + 4..at + 8].copy_from_slice(&data.to_le_bytes());
        }
        let out = iovs + MAX_IOVS * 8;
        let mut ctx = WasiCtx::new(Vfs::default());
        let capture = Capture::default();
        ctx.stdout = Output::Capture(capture.clone());
        ctx.stdin = crate::wasi::ctx::Input::Bytes {
            data: vec![7; 16],
            pos: 0,
        };
        assert_eq!(
            ctx.fd_write(&mut mem, 1, iovs, MAX_IOVS, out),
            Err(Errno::Inval)
        );
        assert!(capture.contents().is_empty(), "nothing written");
        assert_eq!(
            ctx.fd_read(&mut mem, 0, iovs, MAX_IOVS, out),
            Err(Errno::Inval)
        );
        assert_eq!(mem[0], 0, "nothing read");
        // One iovec fewer adds up to less than 4 GiB: moved (here, nowhere).
        ctx.stdout = Output::Null;
        ctx.fd_write(&mut mem, 1, iovs, MAX_IOVS - 1, out).unwrap();
        let n = u32::from_le_bytes(mem[out as usize..out as usize + 4].try_into().unwrap());
        assert_eq!(u64::from(n), u64::from(MAX_IOVS - 1) * u64::from(data));
    }

    #[test]
    fn enospc_from_creations_and_writes() {
        let mut vfs = Vfs::default();
        let budget = vfs.set_limits(INODE_COST * 2 + 100, 2);
        let (mut ctx, dir, mut mem) = guest(vfs, 64);
        let a = open(&mut ctx, &mut mem, dir, "a", oflags::CREAT).unwrap();
        open(&mut ctx, &mut mem, dir, "b", oflags::CREAT).unwrap();
        assert_eq!(
            open(&mut ctx, &mut mem, dir, "c", oflags::CREAT),
            Err(Errno::Nospc)
        );
        // iovec at 2048 -> 200 bytes at 3000: more than the 100 bytes left.
        mem[2048..2052].copy_from_slice(&3000u32.to_le_bytes());
        mem[2052..2056].copy_from_slice(&200u32.to_le_bytes());
        assert_eq!(ctx.fd_write(&mut mem, a, 2048, 1, 2100), Err(Errno::Nospc));
        mem[2052..2056].copy_from_slice(&64u32.to_le_bytes());
        ctx.fd_write(&mut mem, a, 2048, 1, 2100).unwrap();
        assert_eq!(budget.usage().inodes, 2);
    }
}
