//! Fault injection: chosen calls fail on purpose, deterministically, so a test can prove a
//! guest handles a full disk, a failing read or a refused open.
//!
//! A [`Fault`] names an operation (`open`, `read`, `write`), a pattern over guest paths,
//! which of the matching calls fail, and how. Faults are written
//! `OP:PATTERN:WHEN:EFFECT` ([`Fault::parse`], the CLI's `--fault`):
//!
//! - `OP`: `open` (`path_open`), `read` (`fd_read`, `fd_pread`) or `write` (`fd_write`,
//!   `fd_pwrite`).
//! - `PATTERN`: matched against the whole guest path of the file: the preopened directory's
//!   name joined with the path(s) the guest opened it by, lexically normalised (`.`, `..` and
//!   repeated `/` removed; symlinks are not followed), e.g. `/data/out.log`. `*` matches any
//!   run of characters, `/` included; `?` any one character. The stdio streams are named
//!   `<stdin>`, `<stdout>` and `<stderr>` and are matched only by exactly that name, so `*`
//!   never takes away the guest's own error messages.
//! - `WHEN`: `N` (the Nth matching call fails, counting from 1), `N+` (the Nth and every later
//!   one, as a full disk stays full) or `0` (every matching call).
//! - `EFFECT`: an errno by its POSIX name (`ENOSPC`, `EIO`, `EACCES`, ...; any case) or
//!   number, which the call returns without any effect; or, for reads and writes only,
//!   `short=N`: the call moves at most N bytes (`short=0`: a read sees end of file).
//!
//! Every fault counts the calls it matches (operation and path) on its own, whether or not
//! it or another fault fires, so the Nth call is the same on every run of the same program.
//! Calls that fail before moving data (a bad fd, missing rights, a bad pointer) are not
//! counted. When several faults fire on one call, the first one given applies.

#![forbid(unsafe_code)]

use super::ctx::WasiCtx;
use super::fdtable::{FdKind, Stdio};
use crate::vfs::{Errno, Result};
use std::fmt;

/// The operation a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultOp {
    /// `path_open`.
    Open,
    /// `fd_read` and `fd_pread`.
    Read,
    /// `fd_write` and `fd_pwrite`.
    Write,
}

impl FaultOp {
    /// `open`, `read` or `write`, as fault specs spell it.
    pub const fn name(self) -> &'static str {
        match self {
            FaultOp::Open => "open",
            FaultOp::Read => "read",
            FaultOp::Write => "write",
        }
    }
}

/// What happens to a call a fault fires on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultEffect {
    /// The call fails with this errno and has no effect.
    Errno(Errno),
    /// A read or write moves at most this many bytes (ignored on opens).
    Short(u32),
}

/// Which of the calls a fault matches fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Every one (`0`).
    Every,
    /// Only the Nth, counting from 1 (`N`).
    Nth(u64),
    /// The Nth and every later one (`N+`).
    From(u64),
}

impl Trigger {
    /// Whether the `n`th matching call (from 1) fails.
    pub fn fires(self, n: u64) -> bool {
        match self {
            Trigger::Every => true,
            Trigger::Nth(k) => n == k,
            Trigger::From(k) => n >= k,
        }
    }
}

/// A wildcard pattern over guest paths: `*` matches any run of characters (`/` included),
/// `?` any one character, everything else itself.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pattern(String);

impl Pattern {
    /// A pattern from its text (`*` and `?` wildcards).
    pub fn new(pattern: impl Into<String>) -> Self {
        Pattern(pattern.into())
    }

    /// The pattern's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether the whole of `text` matches.
    pub fn matches(&self, text: &str) -> bool {
        let p: Vec<char> = self.0.chars().collect();
        let t: Vec<char> = text.chars().collect();
        // Greedy with one backtrack point: the last `*` and where its match ends.
        let (mut i, mut j) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while j < t.len() {
            if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
                i += 1;
                j += 1;
            } else if i < p.len() && p[i] == '*' {
                star = Some((i, j));
                i += 1;
            } else if let Some((si, sj)) = star {
                i = si + 1;
                j = sj + 1;
                star = Some((si, sj + 1));
            } else {
                return false;
            }
        }
        p[i..].iter().all(|&c| c == '*')
    }

    /// Whether the call's target matches: a path by the wildcards, a stdio stream only by
    /// its exact name.
    pub fn matches_target(&self, target: Target<'_>) -> bool {
        match target {
            Target::Path(p) => self.matches(p),
            Target::Stdio(s) => self.0 == stdio_name(s),
        }
    }
}

/// What a call acts on, as faults see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// A file or directory by its guest path.
    Path(&'a str),
    /// A stdio stream (`<stdin>`, `<stdout>`, `<stderr>` in patterns).
    Stdio(Stdio),
}

/// The name a stdio stream goes by in patterns: `<stdin>`, `<stdout>`, `<stderr>`.
pub const fn stdio_name(s: Stdio) -> &'static str {
    match s {
        Stdio::Stdin => "<stdin>",
        Stdio::Stdout => "<stdout>",
        Stdio::Stderr => "<stderr>",
    }
}

/// One injected fault; see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fault {
    /// Which calls: opens, reads or writes.
    pub op: FaultOp,
    /// On which guest paths.
    pub pattern: Pattern,
    /// Which of the matching calls fail.
    pub when: Trigger,
    /// How they fail.
    pub effect: FaultEffect,
}

impl Fault {
    /// A fault from its parts (`Fault::parse` reads the command-line form).
    pub fn new(
        op: FaultOp,
        pattern: impl Into<String>,
        when: Trigger,
        effect: FaultEffect,
    ) -> Self {
        Fault {
            op,
            pattern: Pattern::new(pattern),
            when,
            effect,
        }
    }

    /// Parses `OP:PATTERN:WHEN:EFFECT`, e.g. `write:/data/*.log:3:ENOSPC`,
    /// `read:*:0:short=1`, `open:/etc/passwd:1+:EACCES`. The pattern may itself contain `:`.
    pub fn parse(spec: &str) -> std::result::Result<Fault, String> {
        let shape = || "expected OP:PATTERN:N:EFFECT, e.g. write:/data/*.log:3:ENOSPC".to_string();
        let (op, rest) = spec.split_once(':').ok_or_else(shape)?;
        let (rest, effect) = rest.rsplit_once(':').ok_or_else(shape)?;
        let (pattern, when) = rest.rsplit_once(':').ok_or_else(shape)?;
        let op = match op.to_ascii_lowercase().as_str() {
            "open" => FaultOp::Open,
            "read" => FaultOp::Read,
            "write" => FaultOp::Write,
            _ => {
                return Err(format!(
                    "unknown operation {op:?} (expected open, read or write)"
                ));
            }
        };
        if pattern.is_empty() {
            return Err("empty path pattern (use * for every path)".to_string());
        }
        let count = |n: &str| {
            n.parse::<u64>().map_err(|_| {
                format!("{when:?} is not a call number (expected N, N+ or 0 for every call)")
            })
        };
        let when = match when.strip_suffix('+') {
            Some(n) => match count(n)? {
                0 | 1 => Trigger::Every,
                n => Trigger::From(n),
            },
            None => match count(when)? {
                0 => Trigger::Every,
                n => Trigger::Nth(n),
            },
        };
        let effect = if let Some(n) = effect.strip_prefix("short=") {
            if op == FaultOp::Open {
                return Err("short=N applies to reads and writes, not opens".to_string());
            }
            FaultEffect::Short(
                n.parse()
                    .map_err(|_| format!("{n:?} is not a byte count in short=N"))?,
            )
        } else {
            let errno = match effect.parse::<u16>() {
                Ok(code) => Errno::from_code(code),
                Err(_) => Errno::from_name(&effect.to_ascii_uppercase()),
            };
            FaultEffect::Errno(errno.ok_or_else(|| {
                format!("{effect:?} is not a WASI errno name (ENOSPC, EIO, ...) or short=N")
            })?)
        };
        Ok(Fault {
            op,
            pattern: Pattern::new(pattern),
            when,
            effect,
        })
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Fault, String> {
        Fault::parse(s)
    }
}

/// The spec `Fault::parse` reads back.
impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:", self.op.name(), self.pattern.as_str())?;
        match self.when {
            Trigger::Every => f.write_str("0")?,
            Trigger::Nth(n) => write!(f, "{n}")?,
            Trigger::From(n) => write!(f, "{n}+")?,
        }
        match self.effect {
            FaultEffect::Errno(e) => write!(f, ":{}", e.name()),
            FaultEffect::Short(n) => write!(f, ":short={n}"),
        }
    }
}

/// The faults of one run and how many calls each has matched so far.
#[derive(Clone, Debug, Default)]
pub struct FaultPlan {
    faults: Vec<Fault>,
    seen: Vec<u64>,
}

impl FaultPlan {
    /// A plan of `faults`, no call counted yet.
    pub fn new(faults: impl IntoIterator<Item = Fault>) -> Self {
        let mut plan = FaultPlan::default();
        for f in faults {
            plan.push(f);
        }
        plan
    }

    /// Adds a fault, counting from now.
    pub fn push(&mut self, fault: Fault) {
        self.faults.push(fault);
        self.seen.push(0);
    }

    /// Whether there is no fault to inject.
    pub fn is_empty(&self) -> bool {
        self.faults.is_empty()
    }

    /// The faults, in the order given.
    pub fn faults(&self) -> &[Fault] {
        &self.faults
    }

    /// Calls each fault has matched so far, in the order of `faults()`.
    pub fn seen(&self) -> &[u64] {
        &self.seen
    }

    /// Counts a call of `op` on `target` against every fault it matches; the effect of the
    /// first one that fires, if any.
    pub fn check(&mut self, op: FaultOp, target: Target<'_>) -> Option<FaultEffect> {
        let mut effect = None;
        for (f, seen) in self.faults.iter().zip(&mut self.seen) {
            if f.op != op || !f.pattern.matches_target(target) {
                continue;
            }
            *seen += 1;
            if effect.is_none() && f.when.fires(*seen) {
                effect = Some(f.effect);
            }
        }
        effect
    }
}

/// The guest path of `rel` opened from the directory whose guest path is `dir`, lexically
/// normalised. Absolute if `dir` is.
pub(crate) fn join_guest_path(dir: &str, rel: &[u8]) -> String {
    let rel = String::from_utf8_lossy(rel);
    let mut parts: Vec<&str> = Vec::new();
    for c in dir.split('/').chain(rel.split('/')) {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let joined = parts.join("/");
    match (dir.starts_with('/'), joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// Every hook of the fault plan into the syscall layer: opens (`path_open`), reads and writes
/// (`fd_read`, `fd_pread`, `fd_write`, `fd_pwrite`, stdio included).
impl WasiCtx {
    /// Runs the fault plan for opening `rel` under the directory `dir_fd`: `Err` with an
    /// injected errno, else the guest-visible path the new fd keeps so later reads and writes
    /// can match it (`None` without faults: opens then skip building it).
    pub(crate) fn inject_open(&mut self, dir_fd: u32, rel: &[u8]) -> Result<Option<String>> {
        if self.faults.is_empty() {
            return Ok(None);
        }
        let dir = self.fds.get(dir_fd)?.path.as_deref().unwrap_or("");
        let guest_path = join_guest_path(dir, rel);
        match self.faults.check(FaultOp::Open, Target::Path(&guest_path)) {
            Some(FaultEffect::Errno(e)) => Err(e),
            // Kept only up to `MAX_PATH` bytes: a path grows by each open through a directory
            // fd, and every open fd holds its own. A longer one is matched by this open's
            // pattern, not by later reads and writes.
            _ if guest_path.len() >= crate::vfs::resolve::MAX_PATH => Ok(None),
            _ => Ok(Some(guest_path)),
        }
    }

    /// Runs the fault plan for a read or write on `fd`: `Err` with an injected errno, else
    /// the most bytes the call may move (`usize::MAX`: no limit).
    pub(crate) fn inject(&mut self, op: FaultOp, fd: u32) -> Result<usize> {
        if self.faults.is_empty() {
            return Ok(usize::MAX);
        }
        let e = self.fds.get(fd)?;
        let target = match (&e.kind, &e.path) {
            (FdKind::Stdio(s), _) => Target::Stdio(*s),
            (_, Some(p)) => Target::Path(p),
            (_, None) => return Ok(usize::MAX),
        };
        match self.faults.check(op, target) {
            None => Ok(usize::MAX),
            Some(FaultEffect::Errno(e)) => Err(e),
            Some(FaultEffect::Short(n)) => Ok(n as usize),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vfs::{FileData, Vfs};
    use crate::wasi::abi::{oflags, rights};

    fn f(s: &str) -> Fault {
        Fault::parse(s).unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn parses_and_prints_back() {
        let a = f("write:/data/*.log:3:ENOSPC");
        assert_eq!(
            a,
            Fault::new(
                FaultOp::Write,
                "/data/*.log",
                Trigger::Nth(3),
                FaultEffect::Errno(Errno::Nospc)
            )
        );
        assert_eq!(f("read:*:0:short=1").effect, FaultEffect::Short(1));
        assert_eq!(f("read:*:0:short=1").when, Trigger::Every);
        assert_eq!(
            f("open:/etc/passwd:1:eacces").effect,
            FaultEffect::Errno(Errno::Acces)
        );
        assert_eq!(f("write:*:2+:29").effect, FaultEffect::Errno(Errno::Io));
        assert_eq!(f("write:*:2+:EIO").when, Trigger::From(2));
        assert_eq!(f("write:*:1+:EIO").when, Trigger::Every);
        // The pattern may hold colons: the fields around it are split from the ends.
        assert_eq!(f("READ:/a:b:c:7:EIO").pattern.as_str(), "/a:b:c");
        for s in [
            "write:/data/*.log:3:ENOSPC",
            "read:*:0:short=1",
            "open:/x:4+:EACCES",
        ] {
            assert_eq!(f(s).to_string(), s);
            assert_eq!(f(&f(s).to_string()), f(s));
        }
        for (bad, says) in [
            ("write:/x:3", "expected OP:PATTERN:N:EFFECT"),
            ("nope", "expected OP:PATTERN:N:EFFECT"),
            ("seek:/x:1:EIO", "unknown operation \"seek\""),
            ("write::1:EIO", "empty path pattern"),
            ("write:/x:third:EIO", "\"third\" is not a call number"),
            ("write:/x:-1:EIO", "is not a call number"),
            ("write:/x:1:EWHAT", "\"EWHAT\" is not a WASI errno"),
            ("write:/x:1:0", "is not a WASI errno"),
            ("write:/x:1:short=-2", "is not a byte count"),
            ("open:/x:1:short=2", "not opens"),
        ] {
            let e = Fault::parse(bad).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
            assert_eq!(e.lines().count(), 1);
        }
    }

    #[test]
    fn wildcards() {
        let m = |p: &str, t: &str| Pattern::new(p).matches(t);
        assert!(m("*", "/etc/hostname"));
        assert!(m("*", ""));
        assert!(m("/data/*.log", "/data/out.log"));
        assert!(m("/data/*.log", "/data/sub/dir/x.log"), "* crosses /");
        assert!(!m("/data/*.log", "/data/out.log.1"));
        assert!(!m("/data/*.log", "/data2/out.log"));
        assert!(m("/etc/passw?", "/etc/passwd"));
        assert!(!m("/etc/passw?", "/etc/passw"));
        assert!(m("*a*b*c", "xxaxxbxxbc"));
        assert!(!m("*a*b*c", "xxaxxbxxb"));
        assert!(m("/etc/hostname", "/etc/hostname"));
        assert!(!m("/etc/hostname", "/etc/hostname2"));
        assert!(m("**", "é/ü"));
        let p = Pattern::new("*");
        assert!(
            !p.matches_target(Target::Stdio(Stdio::Stdout)),
            "* spares stdio"
        );
        assert!(Pattern::new("<stdout>").matches_target(Target::Stdio(Stdio::Stdout)));
        assert!(!Pattern::new("<stdout>").matches_target(Target::Stdio(Stdio::Stderr)));
    }

    #[test]
    fn counting_per_fault() {
        let mut plan = FaultPlan::new([
            f("write:/data/*.log:3:ENOSPC"),
            f("write:*:2+:EIO"),
            f("read:*:0:short=1"),
        ]);
        let log = Target::Path("/data/a.log");
        let txt = Target::Path("/data/a.txt");
        let eff = FaultEffect::Errno;
        // Call 1: only the first two match (log); none fires.
        assert_eq!(plan.check(FaultOp::Write, log), None);
        // txt matches only the second, its 2nd call: EIO from then on.
        assert_eq!(plan.check(FaultOp::Write, txt), Some(eff(Errno::Io)));
        // log: 2nd for the first fault, 3rd for the second (fires).
        assert_eq!(plan.check(FaultOp::Write, log), Some(eff(Errno::Io)));
        // log: 3rd for the first fault, which comes first and wins.
        assert_eq!(plan.check(FaultOp::Write, log), Some(eff(Errno::Nospc)));
        assert_eq!(plan.seen(), &[3, 4, 0]);
        assert_eq!(plan.check(FaultOp::Read, log), Some(FaultEffect::Short(1)));
        assert_eq!(plan.check(FaultOp::Open, log), None);
        assert_eq!(plan.seen(), &[3, 4, 1]);
        assert!(FaultPlan::default().is_empty());
    }

    #[test]
    fn guest_paths_join_lexically() {
        assert_eq!(join_guest_path("/", b"etc/hostname"), "/etc/hostname");
        assert_eq!(
            join_guest_path("/data", b"./a//b/../out.log"),
            "/data/a/out.log"
        );
        assert_eq!(join_guest_path("/data/", b"."), "/data");
        assert_eq!(join_guest_path("/", b"../../x"), "/x");
        assert_eq!(join_guest_path(".", b"x/y"), "x/y");
        assert_eq!(join_guest_path(".", b"."), ".");
    }

    /// A context with `/data/in.txt` ("hello") and the root preopened at fd 3; path strings
    /// go at 1024, iovecs at 64, results at 128, data at 256.
    fn guest(faults: &[&str]) -> (WasiCtx, Vec<u8>) {
        let mut vfs = Vfs::default();
        let root = vfs.root();
        let data = vfs.mkdir_all(root, "data").unwrap();
        vfs.write_file(data, "in.txt", FileData::from_bytes("hello".into()))
            .unwrap();
        let mut ctx = WasiCtx::new(vfs);
        assert_eq!(ctx.preopen(root, "/").unwrap(), 3);
        ctx.faults = FaultPlan::new(faults.iter().map(|s| f(s)));
        (ctx, vec![0u8; 4096])
    }

    fn open(ctx: &mut WasiCtx, mem: &mut Vec<u8>, path: &str, create: bool) -> Result<u32> {
        mem[1024..1024 + path.len()].copy_from_slice(path.as_bytes());
        let base = rights::FD_READ | rights::FD_WRITE | rights::FD_SEEK;
        let o = if create { oflags::CREAT } else { 0 };
        ctx.path_open(mem, 3, 0, 1024, path.len() as u32, o, base, 0, 0, 128)?;
        Ok(u32::from_le_bytes(mem[128..132].try_into().unwrap()))
    }

    fn iov(mem: &mut [u8], len: u32) {
        mem[64..68].copy_from_slice(&256u32.to_le_bytes());
        mem[68..72].copy_from_slice(&len.to_le_bytes());
    }

    fn result(mem: &[u8]) -> u32 {
        u32::from_le_bytes(mem[128..132].try_into().unwrap())
    }

    #[test]
    fn syscalls_fail_as_planned() {
        let (mut ctx, mut mem) = guest(&[
            "open:/data/secret:1:EACCES",
            "read:/data/in.txt:2:EIO",
            "read:/data/in.txt:3+:short=2",
            "write:/data/*.log:2:ENOSPC",
            "write:/data/*.log:3:short=1",
        ]);
        assert_eq!(
            open(&mut ctx, &mut mem, "data/secret", true),
            Err(Errno::Acces)
        );
        assert!(
            open(&mut ctx, &mut mem, "data/secret", true).is_ok(),
            "only the 1st"
        );
        let fd = open(&mut ctx, &mut mem, "./data//in.txt", false).unwrap();
        iov(&mut mem, 5);
        ctx.fd_read(&mut mem, fd, 64, 1, 128).unwrap();
        assert_eq!((result(&mem), &mem[256..261]), (5, &b"hello"[..]));
        assert_eq!(ctx.fd_pread(&mut mem, fd, 64, 1, 0, 128), Err(Errno::Io));
        ctx.fd_pread(&mut mem, fd, 64, 1, 0, 128).unwrap();
        assert_eq!(result(&mem), 2, "short from the 3rd read on");
        ctx.fd_pread(&mut mem, fd, 64, 1, 3, 128).unwrap();
        assert_eq!((result(&mem), &mem[256..258]), (2, &b"lo"[..]));

        let log = open(&mut ctx, &mut mem, "data/out.log", true).unwrap();
        mem[256..260].copy_from_slice(b"abcd");
        iov(&mut mem, 4);
        ctx.fd_write(&mut mem, log, 64, 1, 128).unwrap();
        assert_eq!(ctx.fd_write(&mut mem, log, 64, 1, 128), Err(Errno::Nospc));
        ctx.fd_write(&mut mem, log, 64, 1, 128).unwrap();
        assert_eq!(result(&mem), 1, "3rd write short");
        ctx.fd_write(&mut mem, log, 64, 1, 128).unwrap();
        assert_eq!(result(&mem), 4);
        let node = ctx.fds.get(log).unwrap().node().unwrap();
        let mut buf = [0u8; 16];
        let n = ctx.vfs.read(node, 0, &mut buf).unwrap();
        assert_eq!(&buf[..n], b"abcdaabcd", "the failed write left nothing");
        assert_eq!(ctx.faults.seen(), &[2, 4, 4, 4, 4]);
    }

    #[test]
    fn the_paths_fds_keep_are_bounded() {
        // Each open through a directory fd joins its path to the fd's: fds opened one through
        // another would hold ever longer paths. Past MAX_PATH an fd keeps none.
        let (mut ctx, mut mem) = guest(&["open:/nowhere:1:EIO"]);
        let root = ctx.vfs.root();
        let rel = vec!["d"; 1000].join("/");
        ctx.vfs
            .mkdir_all(root, &[rel.as_str(); 3].join("/"))
            .unwrap();
        mem[1024..1024 + rel.len()].copy_from_slice(rel.as_bytes());
        let mut dir = 3;
        let mut kept = Vec::new();
        for _ in 0..3 {
            ctx.path_open(
                &mut mem,
                dir,
                0,
                1024,
                rel.len() as u32,
                oflags::DIRECTORY,
                rights::DIR_BASE,
                rights::DIR_INHERITING,
                0,
                128,
            )
            .unwrap();
            dir = result(&mem);
            kept.push(ctx.fds.get(dir).unwrap().path.as_ref().map(String::len));
        }
        assert_eq!(kept, [Some(2000), Some(4000), None]);
    }

    #[test]
    fn stdio_by_name() {
        let (mut ctx, mut mem) = guest(&["write:<stdout>:1:EPIPE", "write:*:0:EIO"]);
        ctx.stdout = crate::wasi::ctx::Output::Null;
        iov(&mut mem, 3);
        assert_eq!(ctx.fd_write(&mut mem, 1, 64, 1, 128), Err(Errno::Pipe));
        ctx.fd_write(&mut mem, 1, 64, 1, 128).unwrap();
        assert_eq!(result(&mem), 3);
        ctx.stdin = crate::wasi::ctx::Input::Bytes {
            data: b"abc".to_vec(),
            pos: 0,
        };
        ctx.faults = FaultPlan::new([f("read:<stdin>:0:short=1")]);
        ctx.fd_read(&mut mem, 0, 64, 1, 128).unwrap();
        assert_eq!((result(&mem), mem[256]), (1, b'a'));
    }
}
